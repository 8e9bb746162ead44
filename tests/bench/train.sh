#!/bin/sh
# train.sh: training throughput of the full step (augmentation + network +
# bank) in img/s, one epoch per recipe, ResNet-18 at width 0.25 on 28x28
# grey images (REFERENCE.md section 2's setting, 1540 images):
#   paper: mlp3 head d 2048, batch 256, k 4096, grad write, SqrtKL, CutMix
#   npid:  linear head d 128, batch 128, all negatives, npid write
# plus the bank-init pass and ssl-extract, and the paper step again with
# --precision bf16 where the CPU has AVX512-BF16. Data: a Fashion-MNIST subset
# when /usr/share/datasets/fashion-mnist exists, else synthetic images.
# Figures come from ssl-train's JSON log (epoch line: step_img_s over the
# training steps, aug_share = augmentation / (augmentation + network +
# bank)).
# No FLOPs are counted here: step.sh runs the demo-shaped step (k not
# clipped, 5120 images) with its FLOPs and fraction of the FMA peak.
# PyTorch reference (REFERENCE.md, same machine type): about 265 img/s for
# the authors' code (paper), 350 (our PyTorch, npid write) and 200-230
# (grad write). Speed is reported, never asserted.
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$TOP/bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
PATH="$BIN:$PATH"
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-train.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
THREADS=${THREADS:-$(nproc)}
FM=/usr/share/datasets/fashion-mnist
if [ -d "$FM" ] && ssl-prep -q --subset 154 --seed 1 "$FM" -o "$T/d.sslt" 2>/dev/null; then
    src="Fashion-MNIST subset"
elif [ -x "$BIN/tests/test_train" ] && "$BIN/tests/test_train" --write-dataset "$T/d.sslt" 1540 28 1; then
    src="synthetic"
else
    echo "train: no data (build the tests: make tests)"
    exit 1
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (figures scale down with other load)"
echo "data: $src, $(ssl-info --json "$T/d.sslt" | grep -o '"shape":\[[0-9,]*\]' | head -1), threads $THREADS"
field() { grep '"event":"epoch"' "$2" | tail -1 | sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }
for r in paper npid; do
    if [ $r = paper ]; then
        init="--head mlp3 --dim 2048"; tr="--batch 256 -k 4096 --lr 0.5"
    else
        init="--head linear --dim 128"; tr="--batch 128"
    fi
    t0=$(date +%s.%N)
    ssl-init-bank -q --recipe $r --width 0.25 $init --seed 1 --threads "$THREADS" "$T/d.sslt" -o "$T/$r.ckpt" || exit 1
    t1=$(date +%s.%N)
    ssl-train -q --recipe $r $tr --epochs 1 --threads "$THREADS" --log "$T/$r.jsonl" "$T/$r.ckpt" "$T/d.sslt" -o "$T/$r.trained.ckpt" || exit 1
    pass=""
    [ $r = paper ] && pass=$(awk "BEGIN { printf \"; bank-init pass (forward) %.1f img/s\", 1540 / ($t1 - $t0) }")
    printf '%-6s train step (augment + net + bank): %6.1f img/s, augmentation %.2f%% of the step, peak RSS %.0f MiB%s\n' \
        $r "$(field step_img_s "$T/$r.jsonl")" \
        "$(awk "BEGIN { print 100 * $(field aug_share "$T/$r.jsonl") }")" \
        "$(field rss_mib "$T/$r.jsonl")" "$pass"
done
# the paper step in bf16 where the CPU has AVX512-BF16, beside fp32 above
if grep -q avx512_bf16 /proc/cpuinfo; then
    ssl-train -q --recipe paper --batch 256 -k 4096 --lr 0.5 --epochs 1 --precision bf16 \
        --threads "$THREADS" --log "$T/paper16.jsonl" "$T/paper.ckpt" "$T/d.sslt" -o "$T/p16.ckpt" || exit 1
    a=$(field step_img_s "$T/paper.jsonl"); b=$(field step_img_s "$T/paper16.jsonl")
    printf 'paper  train step in bf16 (--precision bf16): %6.1f img/s; bf16/fp32 %.2f (one run each, not alternating)\n' \
        "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')"
fi
t0=$(date +%s.%N)
ssl-extract -q --threads "$THREADS" "$T/paper.ckpt" "$T/d.sslt" -o "$T/f.feat" || exit 1
t1=$(date +%s.%N)
printf 'ssl-extract (backbone, eval mode): %6.1f img/s (including loading the checkpoint)\n' \
    "$(awk "BEGIN { print 1540 / ($t1 - $t0) }")"
