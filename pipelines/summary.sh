#!/bin/sh
# summary.sh DIR RUN...: one row per run directory DIR/RUN with the kNN and
# linear top-1 of DIR/RUN/trained.*.json and of the starting checkpoint
# DIR/RUN/init.* when present; writes DIR/summary.csv and DIR/summary.md,
# and DIR/knn-curves.png (kNN top-1 of the bank monitor per epoch, from
# DIR/RUN/train.jsonl) when gnuplot is installed.
dir=$1; shift
top1() { [ -f "$1" ] && sed -n 's/.*"top1": *\([0-9.eE+-]*\).*/\1/p' "$1" | head -n 1; }
{
    echo "run,knn_top1,linear_top1"
    for r in "$@"; do
        echo "$r,$(top1 "$dir/$r/trained.knn.json"),$(top1 "$dir/$r/trained.linear.json")"
    done
} > "$dir/summary.csv.tmp" && mv "$dir/summary.csv.tmp" "$dir/summary.csv"
{
    echo "| run | kNN top-1 (k=200, sigma=0.1) | linear top-1 |"
    echo "|---|---|---|"
    for r in "$@"; do
        echo "| $r | $(top1 "$dir/$r/trained.knn.json") | $(top1 "$dir/$r/trained.linear.json") |"
    done
} > "$dir/summary.md"
# Curves: epoch, knn_top1 per run from the training logs.
plot=
for r in "$@"; do
    log="$dir/$r/train.jsonl"
    [ -f "$log" ] || continue
    grep '"event":"epoch"' "$log" |
        sed -n 's/.*"epoch":\([0-9]*\).*"knn_top1":\([0-9.eE+-]*\).*/\1 \2/p' > "$dir/$r/knn-curve.dat"
    [ -s "$dir/$r/knn-curve.dat" ] || continue
    plot="$plot${plot:+, }'$dir/$r/knn-curve.dat' using 1:2 with linespoints title '$r'"
done
if [ -n "$plot" ] && command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "set terminal pngcairo size 800,500 noenhanced; set output '$dir/knn-curves.png'; \
        set xlabel 'epoch'; set ylabel 'kNN top-1 (bank monitor)'; set key bottom right; set grid; \
        plot $plot" 2>/dev/null ||
    gnuplot -e "set terminal png size 800,500 noenhanced; set output '$dir/knn-curves.png'; \
        set xlabel 'epoch'; set ylabel 'kNN top-1 (bank monitor)'; set key bottom right; set grid; \
        plot $plot"
fi
cat "$dir/summary.md"
echo "summary: $dir/summary.csv"
