#!/bin/sh
# net.sh: network throughput, ours and (when python3-torch is present)
# PyTorch's, measured in the same run: CIFAR ResNet-18 at 32x32x3, 2 threads,
# training step (forward + backward + SGD) and inference, widths 1 and 0.25,
# and the CIFAR MobileNetV2 and MobileNetV3-small at the model-size
# pipeline's widths (1, 0.5, 0.25; pipelines/model-size.mk), with each
# side's peak RSS (PyTorch's includes the interpreter and torch); then one
# per-layer profile of ours for each MobileNet (bench_net --profile: where
# the time goes, the depthwise layers included). PyTorch runs the same
# modules (examples/ssl_resnet.py, torchvision's definitions with the
# CIFAR stem), channels-last, fp32, on the same thread count.
# This shared machine changes speed by tens of percent from one minute to
# the next, so each configuration runs ROUNDS alternating rounds (ours,
# then PyTorch) and prints every round's ratio and their median.
# The four ResNet-18 configurations also run in bf16 where the CPU has
# AVX512-BF16: ours with --precision bf16 and PyTorch under
# torch.autocast('cpu', dtype=torch.bfloat16), each round ours fp32, ours
# bf16, PyTorch fp32, PyTorch bf16, and every ratio (ours-bf16/PyTorch-bf16,
# ours-bf16/ours-fp32, PyTorch-bf16/PyTorch-fp32, ours-fp32/PyTorch-fp32)
# per round and as a median; then bench_net --precision ab, our bf16 and
# fp32 alternating in one process.
# The MobileNet rows run ours in fp32 and PyTorch in fp32 and, where the
# CPU has AVX512-BF16, ours with --precision bf16 (the 1x1 convolutions on
# gemm_bf16) and PyTorch under bf16 autocast too, and print ours against
# PyTorch's best path: the faster of its two in that round (a path PyTorch
# cannot run, as Debian's torch 1.13 cannot take ReLU6's backward in bf16
# for MobileNetV2's training step, prints "n/a" and counts as absent), as
# ours-fp32/PyTorch-best and ours-best/PyTorch-best (ours-best: the faster
# of our two in that round); then bench_net --precision ab for the row,
# our bf16 and fp32 alternating in one process.
# Environment: BIN (default bin), NET_BENCH_ITERS (timed iterations per
# measurement, default 3), NET_BENCH_ROUNDS (default 3), NET_BENCH_ONLY (run
# only the configurations "WIDTH BATCH MODE ARCH" containing this substring,
# e.g. mobilenetv3s or "256 infer"; the profiles only for the MobileNets it
# names), NET_BENCH_THREADS (the thread counts of the MobileNet rows,
# default 2; e.g. "1 2"), NET_BENCH_CPU_TIME=1 (the 1-thread MobileNet rows
# timed in CPU time on both sides, bench_net --cpu-time and
# torch_resnet.py's NET_BENCH_CPU_TIME: leaves out the waits for a core on
# a shared machine).
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-bin}
ITERS=${NET_BENCH_ITERS:-3}
ROUNDS=${NET_BENCH_ROUNDS:-3}
ONLY=${NET_BENCH_ONLY:-}
B="$BIN/bench/bench_net"
[ -x "$B" ] || { echo "net.sh: $B not built (make bench)"; exit 1; }
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
field() { awk -v k="$1" '{for (i = 2; i <= NF; i++) if ($i == k) print $(i-1)}'; }
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
have_bf16=0
grep -q avx512_bf16 /proc/cpuinfo && have_bf16=1
if [ "$have_bf16" = 1 ]; then
  for cfg in "1 128 train" "0.25 256 train" "1 256 infer" "0.25 256 infer"; do
    set -- $cfg
    case "$1 $2 $3 resnet18" in *"$ONLY"*) ;; *) continue ;; esac
    r1=; r2=; r3=; r4=
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        o32=$("$B" --width "$1" --batch "$2" --mode "$3" --iters "$ITERS" --threads 2 | field img/s)
        o16=$("$B" --width "$1" --batch "$2" --mode "$3" --iters "$ITERS" --threads 2 --precision bf16 | field img/s)
        line="  round $r: ours fp32 $o32, ours bf16 $o16 img/s; ours bf16/fp32 $(div "$o16" "$o32")"
        r2="$r2 $(div "$o16" "$o32")"
        if [ "$have_torch" = 1 ]; then
            t32=$(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \
                /usr/bin/python3 "$TOP/tests/bench/torch_resnet.py" "$1" "$2" "$3" "$ITERS" resnet18 fp32 | awk '{print $3}')
            t16=$(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \
                /usr/bin/python3 "$TOP/tests/bench/torch_resnet.py" "$1" "$2" "$3" "$ITERS" resnet18 bf16 | awk '{print $3}')
            r1="$r1 $(div "$o16" "$t16")"; r3="$r3 $(div "$t16" "$t32")"; r4="$r4 $(div "$o32" "$t32")"
            line="$line; PyTorch fp32 $t32, bf16 (autocast) $t16 img/s; ours-bf16/PyTorch-bf16 $(div "$o16" "$t16"), PyTorch bf16/fp32 $(div "$t16" "$t32"), ours-fp32/PyTorch-fp32 $(div "$o32" "$t32")"
        fi
        echo "$line"
        r=$((r + 1))
    done
    echo "  resnet18 w$1 $3 B$2, medians: ours bf16/fp32 $(echo $r2 | med)"
    if [ "$have_torch" = 1 ]; then
        echo "    ours-bf16/PyTorch-bf16 $(echo $r1 | med) (rounds:$r1); PyTorch bf16/fp32 $(echo $r3 | med); ours-fp32/PyTorch-fp32 $(echo $r4 | med)"
    fi
    "$B" --width "$1" --batch "$2" --mode "$3" --iters "$ITERS" --threads 2 --precision ab
  done
else
  echo "bf16: not measured (this CPU has no avx512_bf16)"
fi
THREADS=${NET_BENCH_THREADS:-2}
CPU_TIME=${NET_BENCH_CPU_TIME:-}
unset NET_BENCH_CPU_TIME
TORCH="/usr/bin/python3 $TOP/tests/bench/torch_resnet.py"
# torch img/s for: width batch mode arch precision threads ("n/a" if it fails)
torch_ips() {
    v=$(NET_BENCH_CPU_TIME=$tct MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 $TORCH "$@" 2>/dev/null | awk '{print $3}')
    echo "${v:-n/a}"
}
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "n/a" || a + 0 >= b + 0) print a; else print b }'; }
for cfg in "1 128 train" "0.25 256 train" "1 256 infer" "0.25 256 infer" \
           "1 128 train mobilenetv2" "0.5 256 train mobilenetv2" "0.25 256 train mobilenetv2" \
           "1 256 infer mobilenetv2" "0.5 256 infer mobilenetv2" "0.25 256 infer mobilenetv2" \
           "1 128 train mobilenetv3s" "0.5 256 train mobilenetv3s" "0.25 256 train mobilenetv3s" \
           "1 256 infer mobilenetv3s" "0.5 256 infer mobilenetv3s" "0.25 256 infer mobilenetv3s"; do
  for th in $THREADS; do
    set -- $cfg
    arch=${4:-resnet18}
    # the ResNet-18 rows ran above, with bf16, where the CPU has it; they
    # run on 2 threads
    [ "$have_bf16" = 1 ] && [ -z "${4:-}" ] && continue
    [ -z "${4:-}" ] && [ "$th" != 2 ] && continue
    case "$1 $2 $3 $arch" in *"$ONLY"*) ;; *) continue ;; esac
    ct=; tct=
    if [ "$CPU_TIME" = 1 ] && [ "$th" = 1 ]; then ct=--cpu-time; tct=1; fi
    ratios=; bratios=; oratios=; pratios=
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        ours=$("$B" --arch "$arch" --width "$1" --batch "$2" --mode "$3" --iters "$ITERS" --threads "$th" $ct)
        echo "$ours (threads $th${ct:+, CPU time})"
        o=$(echo "$ours" | field img/s)
        ob=$o
        if [ "$have_bf16" = 1 ] && [ -n "${4:-}" ]; then
            o16=$("$B" --arch "$arch" --width "$1" --batch "$2" --mode "$3" --iters "$ITERS" --threads "$th" $ct --precision bf16 | field img/s)
            ob=$(best "$o" "$o16")
            pratios="$pratios $(div "$o16" "$o")"
            echo "    ours bf16 $o16 img/s; ours bf16/fp32 $(div "$o16" "$o")"
        fi
        if [ "$have_torch" = 1 ]; then
            tl=$(NET_BENCH_CPU_TIME=$tct MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \
                $TORCH "$1" "$2" "$3" "$ITERS" "$arch" fp32 "$th")
            t=$(echo "$tl" | awk '{print $3}')
            trss=$(echo "$tl" | awk '{print $5}')
            orss=$(echo "$ours" | field MiB)
            ratio=$(div "$o" "$t")
            ratios="$ratios $ratio"
            line="    PyTorch fp32 $t img/s, peak RSS $trss MiB; ours/PyTorch-fp32 $ratio (RSS $(div "$orss" "$trss"))"
            if [ "$have_bf16" = 1 ] && [ -n "${4:-}" ]; then
                t16=$(torch_ips "$1" "$2" "$3" "$ITERS" "$arch" bf16 "$th")
                tb=$(best "$t" "$t16")
                bratios="$bratios $(div "$o" "$tb")"
                oratios="$oratios $(div "$ob" "$tb")"
                line="$line; PyTorch bf16 (autocast) $t16 img/s; ours-fp32/PyTorch-best $(div "$o" "$tb"), ours-best/PyTorch-best $(div "$ob" "$tb")"
            fi
            echo "$line"
        fi
        r=$((r + 1))
    done
    if [ "$have_torch" = 1 ]; then
        echo "  $arch w$1 $3 B$2 threads $th: ours/PyTorch-fp32 per round:$ratios; median $(echo $ratios | med)"
        [ -n "$bratios" ] && echo "  $arch w$1 $3 B$2 threads $th: ours-fp32/PyTorch-best per round:$bratios; median $(echo $bratios | med)"
        [ -n "$oratios" ] && echo "  $arch w$1 $3 B$2 threads $th: ours-best/PyTorch-best per round:$oratios; median $(echo $oratios | med)"
    else
        echo "    PyTorch: not measured (/usr/bin/python3 cannot import torch)"
    fi
    if [ -n "$pratios" ]; then
        echo "  $arch w$1 $3 B$2 threads $th: ours bf16/fp32 per round:$pratios; median $(echo $pratios | med)"
        "$B" --arch "$arch" --width "$1" --batch "$2" --mode "$3" --iters "$ITERS" --threads "$th" $ct --precision ab
    fi
  done
done
for a in mobilenetv2 mobilenetv3s; do
    case "$a" in *"$ONLY"*) ;; *) case "$ONLY" in *"$a"*) ;; *) continue ;; esac ;; esac
    echo "per-layer profile, $a, training, batch 128:"
    "$B" --arch "$a" --batch 128 --mode train --iters "$ITERS" --threads 2 --profile
done
