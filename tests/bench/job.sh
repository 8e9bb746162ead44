#!/bin/sh
# job.sh: the demo's training job, ours against PyTorch running the same job
# (issue 16, "the whole job"): the demo's 20000-image Fashion-MNIST subset,
# ResNet-18 at width 0.25 with the mlp3 head (d 2048), the paper recipe at
# batch 256 (lr 0.5, k 4096, grad write, SqrtKL, CutMix), crop + flip, from
# one ssl-init-bank checkpoint, JOB_EPOCHS epochs (default 1; the issue's
# figure is 10), THREADS threads (default 2), no monitor:
#   ssl-train, fp32 and (on AVX512-BF16) --precision bf16: wall time of the
#     ssl-train process (start-up, checkpoint load and the last write included);
#   tests/bench/torch_train.py (the same step in PyTorch; torchvision's
#     RandomResizedCrop and flip per image in the training process), fp32
#     and with --bf16 (torch.autocast bf16): the seconds it prints for its
#     training loop, data loading excluded, which flatters PyTorch a little.
# Prints seconds, img/s and ours / PyTorch time (the issue's targets: <= 0.4
# in fp32, <= 0.25 in bf16). PyTorch's figures need /usr/bin/python3 with
# python3-torch, python3-torchvision, python3-numpy, python3-msgpack and
# python3-zstandard; without them only ours are printed. Speed is reported,
# never asserted; run on a quiet machine (JOB_EPOCHS=10 takes ~30 minutes
# on 2 cores, most of it PyTorch's).
# Environment: BIN, THREADS, JOB_EPOCHS, JOB_SUBSET (images per class, 2000).
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$TOP/bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
PATH="$BIN:$PATH"
THREADS=${THREADS:-2}
EPOCHS=${JOB_EPOCHS:-1}
SUBSET=${JOB_SUBSET:-2000}
FM=/usr/share/datasets/fashion-mnist
case "$EPOCHS$SUBSET$THREADS" in ''|*[!0-9]*) echo "job: JOB_EPOCHS, JOB_SUBSET and THREADS must be numbers"; exit 2 ;; esac
if [ ! -d "$FM" ]; then
    echo "job: skipped: no Fashion-MNIST ($FM: Debian's dataset-fashion-mnist)"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-job.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
ssl-prep -q --split train --subset "$SUBSET" --seed 1 "$FM" -o "$T/train.sslt" || exit 1
ssl-init-bank -q --threads "$THREADS" --arch resnet18 --width 0.25 --head mlp3 --dim 2048 \
    --batch 256 --jitter 0 --gray 0 --seed 1 --bank forward "$T/train.sslt" -o "$T/init.ckpt" || exit 1
n=$((SUBSET * 10))
imgs=$((n / 256 * 256 * EPOCHS))
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (figures scale down with other load)"
echo "job: $n images, $EPOCHS epoch(s), $imgs training images, threads $THREADS"

now() { date +%s.%N; }
# ours PRECISION: prints the wall seconds of one ssl-train run
ours() {
    t0=$(now)
    ssl-train -q --threads "$THREADS" --recipe paper --batch 256 --lr 0.5 -k 4096 \
        --epochs "$EPOCHS" --jitter 0 --gray 0 --seed 1 --precision "$1" \
        "$T/init.ckpt" "$T/train.sslt" -o "$T/run.ckpt" >/dev/null 2>"$T/err" ||
        { sed 's/^/job: /' "$T/err" >&2; return 1; }
    t1=$(now)
    rm -f "$T/run.ckpt"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
py=/usr/bin/python3
have_torch=0
if [ -x "$py" ] && "$py" -c 'import torch, torchvision, numpy, msgpack, zstandard' 2>/dev/null; then
    have_torch=1
fi
# torch FLAGS...: prints PyTorch's training seconds
torch() {
    "$py" "$TOP/tests/bench/torch_train.py" "$T/init.ckpt" "$T/train.sslt" --epochs "$EPOCHS" \
        --threads "$THREADS" --seed 1 "$@" >"$T/py.out" 2>&1 ||
        { tail -3 "$T/py.out" | sed 's/^/job: /' >&2; return 1; }
    sed -n 's/^train seconds //p' "$T/py.out"
}
line() { # name seconds
    awk -v n="$1" -v s="$2" -v i="$imgs" 'BEGIN { printf "  %-28s %8.1f s  %7.0f img/s\n", n, s, i / s }'
}
ratio() { # name ours theirs target
    awk -v n="$1" -v a="$2" -v b="$3" -v t="$4" 'BEGIN { printf "  %-28s %8.2f   (target <= %s)\n", n, a / b, t }'
}
have_bf16=0
grep -q avx512_bf16 /proc/cpuinfo && have_bf16=1
o32=$(ours fp32) || exit 1
line "ssl-train fp32" "$o32"
if [ $have_bf16 = 1 ]; then
    o16=$(ours bf16) || exit 1
    line "ssl-train bf16" "$o16"
else
    echo "  ssl-train bf16: this CPU has no AVX512-BF16"
fi
if [ $have_torch = 0 ]; then
    echo "  PyTorch: not run (needs /usr/bin/python3 with python3-torch, -torchvision, -numpy, -msgpack, -zstandard)"
    exit 0
fi
p32=$(torch) || exit 1
line "PyTorch fp32 (torch_train.py)" "$p32"
p16=
if [ $have_bf16 = 1 ]; then
    p16=$(torch --bf16) || exit 1
    line "PyTorch bf16 autocast" "$p16"
fi
echo "ours / PyTorch, time of the same job:"
ratio "fp32 / PyTorch fp32" "$o32" "$p32" 0.4
if [ -n "$p16" ]; then
    best=$(awk -v a="$p32" -v b="$p16" 'BEGIN { print (a < b) ? a : b }')
    ratio "bf16 / PyTorch best" "$o16" "$best" 0.25
    awk -v a="$o16" -v b="$o32" 'BEGIN { printf "  %-28s %8.2f\n", "ours bf16 / ours fp32", a / b }'
fi
