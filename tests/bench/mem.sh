#!/bin/sh
# mem.sh: the memory bandwidth (a triad) at 1 and 2 threads, and the share
# of it BatchNorm's backward reaches on the demo's first stage (bench_mem.c
# says what each figure counts). On the 2-core AMD machine (2026-12-08)
# the BN backward ran at 60-101 % of the triad's bandwidth on two threads
# (24-35 GB/s): why the BN passes scale little with threads, and why bf16
# activations (not done) are issue 16's next lever.
# Speed is reported, never asserted.
# Environment: BIN (default bin), MEM_BENCH_ROUNDS (default 7).
BIN=${BIN:-bin}
exe="$BIN/bench/bench_mem"
[ -x "$exe" ] || { echo "mem: $exe not built (make bench)"; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$exe" --threads 2 --rounds "${MEM_BENCH_ROUNDS:-7}"
