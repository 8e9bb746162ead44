#!/bin/sh
# step.sh: the demo-shaped training step as a fraction of the FMA peak
# (issue 16): ResNet-18 at width 0.25 on 28x28x1 Fashion-MNIST, the paper
# recipe (grad write, SqrtKL, CutMix), mlp3 head with d = hidden = 2048,
# k = 4096 negatives (K' = B + k = 4352 columns), batch 256, as the demo
# (pipelines/RESULTS.md) trains it, on a 5120-image subset (enough rows
# that k is not clipped; else synthetic images) with a random bank.
# bench_step runs the library's own step in process (trainer_step:
# augmentation, CutMix, network forward and backward, loss, bank write,
# SGD) and prints:
#   FLOP per batch (counted by run_step_cost, tested in
#     tests/test_flops.c against a hand count): backbone and head 3x their
#     forward FLOPs (2 x multiply-adds of the convolutions and linear
#     layers; the Winograd layers counted as the direct convolution's
#     multiply-adds, the work they replace), the bank's products 2 B K' d
#     each (logits, dz, the grad write's deltas); BN, activations,
#     pooling, augmentation, softmax and SGD count as time but no FLOPs;
#   the step's img/s and GFLOP/s (median of 8 steps) and its % of the fp32
#     FMA peak measured in the same process (bench_util.h), with the time
#     split (augmentation / network / bank) and their own GFLOP/s;
#   where the CPU has AVX512-BF16: the same in bf16 (--precision bf16),
#     alternating with fp32 in one process (--precision ab), against the
#     fp32 peak and the measured VDPBF16PS peak (AMX, which the bf16
#     products use where the CPU has it, is not measured), and bf16/fp32.
# Target (issue 16): >= 70% of the fp32 peak in fp32. Speed is reported,
# never asserted; on a loaded machine both the step and the peak slow down.
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$TOP/bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
PATH="$BIN:$PATH"
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-step.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
THREADS=${THREADS:-$(nproc)}
FM=/usr/share/datasets/fashion-mnist
if [ -d "$FM" ] && ssl-prep -q --subset 512 --seed 1 "$FM" -o "$T/d.sslt" 2>/dev/null; then
    src="Fashion-MNIST subset"
elif [ -x "$BIN/tests/test_train" ] && "$BIN/tests/test_train" --write-dataset "$T/d.sslt" 5120 28 1; then
    src="synthetic"
else
    echo "step: no data (build the tests: make tests)"
    exit 1
fi
[ -x "$BIN/bench/bench_step" ] || { echo "step: no $BIN/bench/bench_step (make bench builds it)"; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (figures scale down with other load)"
echo "data: $src, 5120 images"
ssl-init-bank -q --recipe paper --width 0.25 --head mlp3 --dim 2048 --hidden 2048 --bank random \
    --seed 1 --threads "$THREADS" "$T/d.sslt" -o "$T/p.ckpt" || exit 1
if grep -q avx512_bf16 /proc/cpuinfo; then prec=ab; else prec=fp32; fi
"$BIN/bench/bench_step" "$T/p.ckpt" "$T/d.sslt" --batch 256 -k 4096 --threads "$THREADS" \
    --precision $prec
