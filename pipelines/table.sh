#!/bin/sh
# table.sh DIR "EVAL..." ROW...: the demo's table. For each ROW (raw, random,
# init, trained) and EVAL (knn, linear, knn-few, linear-few), the results
# table DIR/ROW.EVAL.csv that ssl-knn / ssl-lineval --csv wrote, with the
# flags in DIR/EVAL.flags (knn, lineval, knn-few, lineval-few). Writes
# DIR/results.csv (one line per row and result: its hyperparameters, wall
# time and commit) and DIR/results.md (one column per (k, sigma), linear,
# and per labels per class; few-label figures are mean ± std over draws).
# DIR/knn-curve.png: the training's kNN monitor per epoch beside raw pixels.
# A missing, failed or stale result stops it with a message naming the file.
prog=table.sh
. "$(dirname "$0")/results.sh"
[ $# -ge 3 ] || { echo "usage: table.sh DIR \"EVAL...\" ROW..." >&2; exit 2; }
dir=$1; evals=$2; shift 2
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
for r in "$@"; do
    for e in $evals; do
        f="$dir/$r.$e.csv"
        case $e in knn*) what=knn; fl=$e ;; *) what=linear; fl=lineval${e#linear} ;; esac
        [ -f "$f" ] || die "$f: missing (the run is missing or failed)"
        [ "$f" -nt "$dir/$fl.flags" ] || die "$f: older than $fl.flags (made with other settings)"
        fx=$(flags "$dir/$fl.flags")
        [ "$r" = raw ] && w=$(secs "$f") || w=$(secs "$f" "$dir/$r.train.feat" "$dir/$r.test.feat")
        c=$(commit "$f")
        rows "$f" "$what" | while IFS='	' read -r m k s lpc d t1 t1s t5 t5s ntr nte; do
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                "$r" "$m" "$k" "$s" "$lpc" "$d" "$t1" "$t1s" "$t5" "$t5s" "$ntr" "$nte" "$fx" "$w" "$c"
        done
        [ $? -eq 0 ] || exit 1
    done
done > "$tmp" || exit 1
{
    echo "features,eval,k,sigma,labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test,flags,wall_s,commit"
    while IFS='	' read -r r m k s lpc d t1 t1s t5 t5s ntr nte fx w c; do
        printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$r" "$m" "$k" "$s" "$lpc" "$d" \
            "$t1" "$t1s" "$t5" "$t5s" "$ntr" "$nte" "$(csvq "$fx")" "$w" "$c"
    done < "$tmp"
} > "$dir/results.csv.tmp" && mv "$dir/results.csv.tmp" "$dir/results.csv"
# The markdown table: one column per (eval, k, sigma, labels per class), in
# the order of the first row; every row must have the same columns.
train_s=$(secs "$dir/trained.ckpt")
{
    awk -F'\t' '
        function lab(m, k, s, l,   t) { t = m == "knn" ? "kNN k=" k " sigma=" s : "linear"
                                        return l == "all" ? t " top-1" : t ", " l "/class" }
        function cell(t, sd, d) { return d > 1 ? sprintf("%.4f ± %.4f", t, sd) : sprintf("%.4f", t) }
        { key = lab($2, $3, $4, $5)
          if ($1 != first && first == "") first = $1
          if ($1 == first) { if (!(key in seen)) { seen[key] = 1; cols[++nc] = key } }
          else if (!(key in seen)) { print "table.sh: " $1 ": column \"" key "\" that " first " has not (mixed settings)" > "/dev/stderr"; exit 1 }
          if (!($1 in rowseen)) { rowseen[$1] = 1; rows[++nr] = $1 }
          v[$1, key] = cell($7, $8, $6); d = $6 > 1 ? $6 : d }
        END { printf "| features |"; for (i = 1; i <= nc; i++) printf " %s |", cols[i]; print ""
              printf "|---|"; for (i = 1; i <= nc; i++) printf "---|"; print ""
              for (j = 1; j <= nr; j++) { printf "| %s |", rows[j]
                  for (i = 1; i <= nc; i++) { if (!((rows[j], cols[i]) in v)) { print "table.sh: " rows[j] ": no \"" cols[i] "\"" > "/dev/stderr"; exit 1 }
                                              printf " %s |", v[rows[j], cols[i]] }
                  print "" }
              if (d) printf "\nFew-label columns: mean ± std over %d class-balanced draws of the labelled images.\n", d }' "$tmp" || exit 1
    echo
    echo "kNN: \`$(flags "$dir/knn.flags")\`; linear: \`$(flags "$dir/lineval.flags")\`."
    [ -f "$dir/train.flags" ] && echo "Training: \`ssl-train $(flags "$dir/train.flags")\`, $train_s s; commit $(commit "$dir/trained.ckpt")."
} > "$dir/results.md.tmp" || exit 1
mv "$dir/results.md.tmp" "$dir/results.md"
# knn-curve.png: the training's kNN monitor per epoch (a kNN of the test set
# against the memory bank, k and sigma of --monitor-k/--monitor-sigma)
# beside raw pixels' first kNN figure.
if [ -s "$dir/train.jsonl" ] && command -v gnuplot >/dev/null 2>&1; then
    grep '"event":"epoch"' "$dir/train.jsonl" |
        sed -n 's/.*"epoch":\([0-9]*\),.*"knn_top1":\([0-9][0-9.eE+-]*\).*/\1 \2/p' > "$dir/knn-curve.dat"
    raw=$(awk -F'\t' '$1 == "raw" && $2 == "knn" && $5 == "all" { print $7; exit }' "$tmp")
    if [ -s "$dir/knn-curve.dat" ]; then
        p="'$dir/knn-curve.dat' using 1:2 with linespoints title 'trained (bank monitor)'"
        [ -n "$raw" ] && p="$p, $raw with lines dt 2 title 'raw pixels (kNN of the table)'"
        for term in "pngcairo size 900,560 noenhanced" "png size 900,560 noenhanced"; do
            gnuplot -e "set terminal $term; set output '$dir/knn-curve.png.tmp'; set xlabel 'epoch'; \
                set ylabel 'kNN top-1'; set key bottom right; set grid; plot $p" 2>/dev/null && break
        done
        [ -s "$dir/knn-curve.png.tmp" ] && mv "$dir/knn-curve.png.tmp" "$dir/knn-curve.png"
    fi
fi
cat "$dir/results.md"
echo "results: $dir/results.csv"
