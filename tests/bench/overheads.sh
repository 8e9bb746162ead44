#!/bin/sh
# overheads.sh: what the demo (pipelines/fashion-mnist.mk) spends outside
# its training steps (issue 16, item 5), on the demo's shapes:
#   1. one write and one read of the demo-shaped checkpoint (bench_ckpt:
#      ResNet-18 at width 0.25, mlp3 head d 2048, bank 20000 x 2048), in
#      one process: save; load all (what ssl-train reads); every record
#      verified and the network copied (what reading the network cost
#      before ssl-extract could skip the bank); the network alone (what
#      ssl-extract and ssl-export read now);
#   2. ssl-extract with a demo checkpoint: on 260 images (start-up and the
#      checkpoint's load, nearly all of it) and on the 20000 training images;
#   3. with OVERHEADS_EPOCHS=N (N >= 2; unset or 0: skipped, it takes
#      minutes): N epochs of the demo recipe with the monitor, the
#      checkpoint written every epoch and then with --ckpt-every-epochs N
#      (only the last): wall time, the training steps' time, and the
#      seconds the log gives to the monitor and to checkpoint writes.
# With BASE_BIN=DIR (the tools of another build, e.g. of main) parts 2 and
# 3 also run those tools, alternating with ours, and print ours / base.
# Data: the demo's subset of Fashion-MNIST when /usr/share/datasets/fashion-mnist
# exists, else synthetic images of the same shape. The machine may be
# loaded: read the ratios of runs made back to back. Speed is reported,
# never asserted.
# Environment: BIN (default bin), OVERHEADS_REPS (default 3), OVERHEADS_EPOCHS,
# BASE_BIN, THREADS (default 2).
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$TOP/bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
REPS=${OVERHEADS_REPS:-3}
EPOCHS=${OVERHEADS_EPOCHS:-0}
THREADS=${THREADS:-2}
exe="$BIN/bench/bench_ckpt"
[ -x "$exe" ] || { echo "overheads: $exe not built (make bench)"; exit 1; }
if [ -n "${BASE_BIN:-}" ]; then
    case "$BASE_BIN" in /*) ;; *) BASE_BIN="$(pwd)/$BASE_BIN" ;; esac
    [ -x "$BASE_BIN/ssl-extract" ] || { echo "overheads: BASE_BIN=$BASE_BIN has no ssl-extract"; exit 1; }
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-overheads.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (figures under load scale down; read the ratios)"

echo "-- 1. the demo-shaped checkpoint, one process, $THREADS threads"
"$exe" "$T" --reps "$REPS" --threads "$THREADS" || exit 1

# The demo's data and a checkpoint of its network (a random bank: the
# bank's values do not change what reading and writing it costs).
FM=/usr/share/datasets/fashion-mnist
if [ -d "$FM" ] && "$BIN/ssl-prep" -q --split train --subset 2000 --seed 1 "$FM" -o "$T/train.sslt" 2>/dev/null &&
   "$BIN/ssl-prep" -q --split test "$FM" -o "$T/test.sslt" 2>/dev/null &&
   "$BIN/ssl-prep" -q --split test --subset 26 --seed 1 "$FM" -o "$T/small.sslt" 2>/dev/null; then
    src="the demo's Fashion-MNIST subset (20000 training, 10000 test images)"
elif [ -x "$BIN/tests/test_train" ] && "$BIN/tests/test_train" --write-dataset "$T/train.sslt" 20000 28 1 &&
     "$BIN/tests/test_train" --write-dataset "$T/test.sslt" 10000 28 1 &&
     "$BIN/tests/test_train" --write-dataset "$T/small.sslt" 260 28 1; then
    src="synthetic 28x28 images (20000 training, 10000 test)"
else
    echo "overheads: no data (build the tests: make tests)"
    exit 1
fi
NET="--arch resnet18 --width 0.25 --head mlp3 --dim 2048 --batch 256 --jitter 0 --gray 0"
"$BIN/ssl-init-bank" -q --threads "$THREADS" $NET --seed 1 --bank random "$T/train.sslt" -o "$T/init.ckpt" || exit 1
echo "-- data: $src; checkpoint $(du -m "$T/init.ckpt" | cut -f1) MB"

now() { date +%s.%N; }
# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# time_extract BIN DATA: seconds of one ssl-extract run
time_extract() {
    t0=$(now)
    "$1/ssl-extract" -q --threads "$THREADS" "$T/init.ckpt" "$2" -o "$T/f.feat" || return 1
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

echo "-- 2. ssl-extract with that checkpoint, median of $REPS"
for data in small train; do
    [ $data = small ] && what="260 images (start-up + the checkpoint)" || what="the 20000 training images"
    : >"$T/ours.t"; : >"$T/base.t"
    i=0
    while [ $i -lt "$REPS" ]; do
        time_extract "$BIN" "$T/$data.sslt" >>"$T/ours.t" || exit 1
        [ -n "${BASE_BIN:-}" ] && { time_extract "$BASE_BIN" "$T/$data.sslt" >>"$T/base.t" || exit 1; }
        i=$((i + 1))
    done
    o=$(median <"$T/ours.t")
    if [ -n "${BASE_BIN:-}" ]; then
        b=$(median <"$T/base.t")
        printf '  ssl-extract on %-40s %7.3f s, base %7.3f s: ours / base %.2f (back to back)\n' "$what:" "$o" "$b" \
            "$(awk -v o="$o" -v b="$b" 'BEGIN { print o / b }')"
    else
        printf '  ssl-extract on %-40s %7.3f s\n' "$what:" "$o"
    fi
done

[ "$EPOCHS" -ge 2 ] 2>/dev/null || { echo "-- 3. skipped (OVERHEADS_EPOCHS=N, N >= 2, runs N epochs of the demo recipe twice)"; exit 0; }
echo "-- 3. $EPOCHS epochs of the demo recipe with --monitor (batch 256, k 4096, lr 0.5)"
TRAIN="--recipe paper --batch 256 --lr 0.5 -k 4096 --epochs $EPOCHS --jitter 0 --gray 0 --seed 1"
field() { grep '"event":"epoch"' "$2" | tail -1 | sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"; }
# train BIN NAME FLAGS...: one run; prints wall, step and monitor seconds
train() {
    b=$1; name=$2; shift 2
    rm -f "$T/$name.jsonl"
    t0=$(now)
    "$b/ssl-train" -q --threads "$THREADS" $TRAIN "$@" --monitor "$T/test.sslt" --log "$T/$name.jsonl" \
        "$T/init.ckpt" "$T/train.sslt" -o "$T/$name.ckpt" || return 1
    t1=$(now)
    awk -v a="$t0" -v b="$t1" -v n=$((20000 / 256 * 256 * EPOCHS)) -v ips="$(field step_img_s "$T/$name.jsonl")" \
        -v mon="$(field monitor_s "$T/$name.jsonl")" -v sv="$(field save_s "$T/$name.jsonl")" -v name="$name" \
        'BEGIN { w = b - a; s = n / ips; printf "  %-30s wall %7.1f s, steps %7.1f s, outside the steps %5.1f s (%4.1f%%)", name, w, s, w - s, 100 * (w - s) / s;
                 if (mon != "") printf "; monitor %.1f s, saves before the last epoch %.1f s", mon, sv; printf "\n" }'
}
train "$BIN" "every-epoch" || exit 1
train "$BIN" "ckpt-every-epochs-$EPOCHS" --ckpt-every-epochs "$EPOCHS" || exit 1
if [ -n "${BASE_BIN:-}" ]; then
    train "$BASE_BIN" "base-every-epoch" || exit 1
fi
