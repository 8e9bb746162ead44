#!/bin/sh
# dwconv.sh: the depthwise convolutions of CIFAR MobileNetV2 and
# MobileNetV3-small at width 1 (32x32 inputs, batch 128, 2 threads): forward,
# input gradient and weight gradient of each distinct shape in GB/s, beside
# the memory bandwidth (copy and triad on 1 and 2 threads) measured in the
# same process (bench_dwconv.c says what is counted). They are bound by
# memory, so the fraction of the triad is the figure to read; absolute GB/s
# fall with other load on the machine.
# Environment: BIN (default bin), DW_BENCH_ITERS (default 5).
BIN=${BIN:-bin}
ITERS=${DW_BENCH_ITERS:-5}
exe="$BIN/bench/bench_dwconv"
[ -x "$exe" ] || { echo "dwconv: $exe not built (make bench)"; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for a in mobilenetv2 mobilenetv3s; do
    "$exe" --arch "$a" --width 1 --batch 128 --threads 2 --iters "$ITERS" || exit 1
done
