#!/bin/sh
# table.sh DIR ROW...: collect DIR/ROW.knn.json and DIR/ROW.linear.json
# into DIR/results.csv (features,eval,top1) and DIR/results.md.
dir=$1; shift
top1() { sed -n 's/.*"top1": *\([0-9.eE+-]*\).*/\1/p' "$1" | head -n 1; }
{
    echo "features,eval,top1"
    for r in "$@"; do
        echo "$r,knn,$(top1 "$dir/$r.knn.json")"
        echo "$r,linear,$(top1 "$dir/$r.linear.json")"
    done
} > "$dir/results.csv.tmp" && mv "$dir/results.csv.tmp" "$dir/results.csv"
{
    echo "| features | kNN top-1 (k=200, sigma=0.1) | linear top-1 |"
    echo "|---|---|---|"
    for r in "$@"; do
        echo "| $r | $(top1 "$dir/$r.knn.json") | $(top1 "$dir/$r.linear.json") |"
    done
} > "$dir/results.md"
