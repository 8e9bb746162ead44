#!/bin/sh
# speeds.sh DIR RUN...: the training speed of each network of the runs
# (RUN/network.csv: arch and width; each network once), measured now, one
# after the other on this machine, so that the model-size table's rows
# compare (the runs' own training times, taken beside other jobs, do not).
# Each: ssl-init-bank --arch A --width W with the runs' head (mlp3,
# d 2048, batch 256) on a 5120-image subset of Fashion-MNIST (512 per
# class, seed 1), then tests/bench/bench_step: the library's training step
# with the paper recipe at batch 256 and 4096 negatives, fp32, THREADS
# threads (default 1, as the pipelines' runs), the median of 8 steps after
# 2 warm-up steps. Writes DIR/speeds.csv
#   arch,width,img_s,threads,commit,date,cpu
# which sizes.sh adds as the table's "step img/s" column. Needs the tools
# in PATH, bench_step (BENCH_STEP, default bin/bench/bench_step; make
# bench builds it) and Debian's dataset-fashion-mnist. Run it on a quiet
# machine: speed is what it measures.
prog=speeds.sh
. "$(dirname "$0")/results.sh"
[ $# -ge 2 ] || { echo "usage: speeds.sh DIR RUN..." >&2; exit 2; }
dir=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
bs=${BENCH_STEP:-$top/bin/bench/bench_step}
threads=${THREADS:-1}
fm=/usr/share/datasets/fashion-mnist
[ -x "$bs" ] || die "$bs: not built (make bench)"
[ -d "$fm" ] || die "$fm: missing (Debian's dataset-fashion-mnist)"
case $threads in ''|*[!0-9]*|0) die "THREADS: '$threads' is not a positive number" ;; esac
t=$(mktemp -d "${TMPDIR:-/tmp}/speeds.XXXXXX") || exit 1
trap 'rm -rf "$t"' EXIT
ssl-prep -q --subset 512 --seed 1 "$fm" -o "$t/d.sslt" || die "ssl-prep failed"
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1 | tr -d ',')
seen=
echo "arch,width,img_s,threads,commit,date,cpu" > "$t/speeds.csv"
for R in "$@"; do
    [ -s "$R/network.csv" ] || die "$R: no network.csv (network.sh of its init.ckpt)"
    aw=$(sed -n 2p "$R/network.csv" | cut -d, -f1,2)
    case " $seen " in *" $aw "*) continue ;; esac
    seen="$seen $aw"
    arch=${aw%,*}; width=${aw#*,}
    ssl-init-bank -q --threads "$threads" --arch "$arch" --width "$width" --head mlp3 --dim 2048 \
        --batch 256 --jitter 0 --gray 0 --seed 1 --bank random "$t/d.sslt" -o "$t/i.ckpt" ||
        die "$arch width $width: ssl-init-bank failed"
    out=$("$bs" "$t/i.ckpt" "$t/d.sslt" --batch 256 -k 4096 --threads "$threads" --precision fp32) ||
        die "$arch width $width: bench_step failed"
    v=$(printf '%s\n' "$out" | sed -n 's/^fp32: *\([0-9.]*\) img\/s.*/\1/p')
    [ -n "$v" ] || die "$arch width $width: no img/s in bench_step's output"
    echo "$arch width $width: $v img/s" >&2
    echo "$arch,$width,$v,$threads,$commit,$(date -u +%Y-%m-%dT%H:%MZ),$cpu" >> "$t/speeds.csv"
done
mv "$t/speeds.csv" "$dir/speeds.csv" || exit 1
cat "$dir/speeds.csv"
