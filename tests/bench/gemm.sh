#!/bin/sh
# gemm.sh: lib/nn/ops/gemm.c against OpenBLAS's cblas_sgemm on the nine
# products of the demo-shaped training step (the mlp3 head's forward,
# weight and input gradients, the bank's logits, dz and grad write; see
# bench_gemm.c), alternating the two in one process, 2 threads (wall
# time), then 1 thread (its CPU time, which leaves out the waits for a core
# on a shared machine). The ratios are the figures to read; absolute
# GFLOP/s scale down with other load. Speed is reported, never asserted.
# Environment: BIN (default bin), GEMM_BENCH_ROUNDS (default 5).
BIN=${BIN:-bin}
ROUNDS=${GEMM_BENCH_ROUNDS:-5}
exe="$BIN/bench/bench_gemm"
[ -x "$exe" ] || { echo "gemm: $exe not built (make bench)"; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
"$exe" --threads 2 --rounds "$ROUNDS" || exit 1
"$exe" --threads 1 --cpu-time --rounds "$ROUNDS" || exit 1
