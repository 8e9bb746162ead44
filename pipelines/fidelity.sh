#!/bin/sh
# fidelity.sh CURVES.csv OUT.png: the paper row's backbone kNN per epoch
# (backbone-curves.csv of an ablation summary: mean ± std over seeds) beside
# the two PyTorch curves of REFERENCE.md section 2 (same setup, one run each:
# A = the authors' code, B = a PyTorch implementation of ssl-method(7) with
# the grad write) and the raw pixels' kNN of the same data (0.7523).
prog=fidelity.sh
[ $# -eq 2 ] || { echo "usage: fidelity.sh CURVES.csv OUT.png" >&2; exit 2; }
[ -s "$1" ] || { echo "$prog: $1: missing or empty" >&2; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/ref.dat" <<'REF'
1 0.626 0.617
2 0.630 0.646
3 0.636 NaN
4 0.680 0.671
6 0.688 0.679
8 0.701 0.697
10 0.7025 0.698
REF
awk -F, 'NR > 1 && $1 == "sqrtkl" { print $2, $4, $5 }' "$1" > "$tmp/ours.dat"
[ -s "$tmp/ours.dat" ] || { echo "$prog: $1: no sqrtkl rows" >&2; exit 1; }
gnuplot -e "set terminal pngcairo size 800,500 noenhanced; set output '$2.tmp'; \
    set datafile missing 'NaN'; set xlabel 'epoch'; set ylabel 'backbone kNN top-1 (k 200, sigma 0.1)'; \
    set key bottom right; set grid; set yrange [0.55:0.77]; \
    plot '$tmp/ours.dat' using 1:2:3 with yerrorlines lw 2 title 'ssl-train, paper row (mean ± std over seeds)', \
    '$tmp/ref.dat' using 1:2 with linespoints title 'PyTorch A: the authors code (1 run)', \
    '$tmp/ref.dat' using 1:3 with linespoints title 'PyTorch B: ssl-method(7), grad write (1 run)', \
    0.7523 with lines dt 2 lw 2 title 'raw pixels (0.7523)'" && mv "$2.tmp" "$2"
