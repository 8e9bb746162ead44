#!/bin/sh
# mobile.sh: the MobileNets' throughput, ours and (when python3-torch is
# present) PyTorch's in the same run: CIFAR MobileNetV2 and MobileNetV3-small
# at 32x32x3, width 1, 2 threads, training step (forward + backward + SGD)
# and inference, each side's peak RSS, and one per-layer profile of ours
# (bench_net --profile: where the time goes, depthwise layers included).
# Alternating rounds as in net.sh. Environment: BIN, NET_BENCH_ITERS
# (default 3), NET_BENCH_ROUNDS (default 3).
BIN=${BIN:-bin}
ITERS=${NET_BENCH_ITERS:-3}
ROUNDS=${NET_BENCH_ROUNDS:-3}
B="$BIN/bench/bench_net"
[ -x "$B" ] || { echo "mobile.sh: $B not built (make bench)"; exit 1; }
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
field() { awk -v k="$1" '{for (i = 2; i <= NF; i++) if ($i == k) print $(i-1)}'; }
for cfg in "mobilenetv2 128 train" "mobilenetv2 256 infer" "mobilenetv3s 128 train" "mobilenetv3s 256 infer"; do
    set -- $cfg
    ratios=
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        ours=$("$B" --arch "$1" --batch "$2" --mode "$3" --iters "$ITERS" --threads 2)
        echo "$ours"
        if [ "$have_torch" = 1 ]; then
            tl=$(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \
                /usr/bin/python3 "$TOP/tests/bench/torch_resnet.py" 1 "$2" "$3" "$ITERS" "$1")
            t=$(echo "$tl" | awk '{print $3}')
            ratio=$(awk -v a="$(echo "$ours" | field img/s)" -v b="$t" 'BEGIN { printf "%.2f", a / b }')
            ratios="$ratios $ratio"
            echo "    PyTorch $t img/s, peak RSS $(echo "$tl" | awk '{print $5}') MiB; ours/PyTorch $ratio"
        fi
        r=$((r + 1))
    done
    [ "$have_torch" = 1 ] && echo "  $1 $3 B$2: ours/PyTorch per round:$ratios"
done
for a in mobilenetv2 mobilenetv3s; do
    echo "per-layer profile, $a, training, batch 128:"
    "$B" --arch "$a" --batch 128 --mode train --iters "$ITERS" --threads 2 --profile
done
