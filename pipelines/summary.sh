#!/bin/sh
# summary.sh DIR RUN...: the table of an experiment over its run directories
# RUN = .../CONFIG-sSEED, from what ssl-knn / ssl-lineval --csv wrote
# (RUN/trained.knn.csv, RUN/trained.linear.csv) and the flags files the
# pipeline recorded (see common.mk). Writes
#   DIR/runs.csv     one line per run and result: config, seed, metric,
#                    top-1/top-5, the flags of every step, wall times, commit
#   DIR/summary.csv  one line per config and result: mean and sample std
#                    over the seeds, and the flags with the seed left out
#   DIR/summary.md   the table, mean ± std (n seeds) per result column
#   DIR/curves.csv   the monitor's kNN top-1 per config and epoch, mean and
#                    std over the seeds
#   DIR/backbone-curves.csv  the same for the backbone's kNN, from the runs
#                    that logged it (ssl-train --monitor-backbone)
#   DIR/knn-curves.png  kNN top-1 of the bank monitor per epoch, one line
#                    per run (colour: config, dash: seed), from RUN/train.jsonl
# It stops, naming the run, when a run is missing or failed, when its
# results are older than its settings, and when the runs are mixed: another
# dataset, test set or evaluation flags than the first run, or (same
# config) other data, init or training flags than the config's first seed.
prog=summary.sh
. "$(dirname "$0")/results.sh"
[ $# -ge 2 ] || { echo "usage: summary.sh DIR RUN..." >&2; exit 2; }
dir=$1; shift
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
ref=
for R in "$@"; do
    run=${R##*/}
    seed=${run##*-s}; config=${run%-s*}
    case $seed in ''|*[!0-9]*) die "$R: the run's name does not end in -s<seed>" ;; esac
    finished "$R"
    [ -L "$R/train.sslt" ] || die "$R: train.sslt is not a link into a data directory"
    L=$(readlink "$R/train.sslt"); case $L in /*) ;; *) L=$R/$L ;; esac
    D=$(dirname "$L")
    # flags runs in $(...): a missing file must stop the summary here.
    for f in "$D/dataset" "$D/prep-test.flags" "$D/prep-train.flags" "$R/init.flags" "$R/train.flags" \
             "$R/knn.flags" "$R/lineval.flags" "$R/extract.flags"; do
        [ -f "$f" ] || die "$R: no $f (the run or its data directory is incomplete)"
    done
    ds=$(flags "$D/dataset"); ptest=$(flags "$D/prep-test.flags"); ptrain=$(flags "$D/prep-train.flags")
    init=$(flags "$R/init.flags"); train=$(flags "$R/train.flags")
    knn=$(flags "$R/knn.flags"); lin=$(flags "$R/lineval.flags"); ext=$(flags "$R/extract.flags")
    # One table, one dataset, test set and evaluation.
    if [ -z "$ref" ]; then
        ref=$R; rds=$ds; rptest=$ptest; rknn=$knn; rlin=$lin; rext=$ext
    else
        [ "$ds" = "$rds" ] || die "$R: dataset $ds, but $ref has $rds (mixed datasets in one table)"
        [ "$ptest" = "$rptest" ] || die "$R: test set '$ptest', but $ref has '$rptest' (mixed test sets)"
        [ "$knn" = "$rknn" ] || die "$R: kNN flags '$knn', but $ref has '$rknn' (mixed settings)"
        [ "$lin" = "$rlin" ] || die "$R: linear flags '$lin', but $ref has '$rlin' (mixed settings)"
        [ "$ext" = "$rext" ] || die "$R: extract flags '$ext', but $ref has '$rext' (mixed settings)"
    fi
    # The seeds of one config differ in their seed only.
    key="$(noseed "$ptrain")|$(noseed "$init")|$(noseed "$train")"
    kf="$tmp/config.$config"
    if [ -f "$kf" ]; then
        read -r first < "$kf.run"
        [ "$key" = "$(cat "$kf")" ] || die "$R: data, init or training flags differ from $first's beyond the seed (mixed settings)"
    else
        printf '%s\n' "$key" > "$kf"; printf '%s\n' "$R" > "$kf.run"
        echo "$config" >> "$tmp/configs"
    fi
    ts=$(secs "$R/trained.ckpt"); is=$(secs "$R/init.ckpt")
    c=$(commit "$R/trained.ckpt")
    for e in knn linear; do
        f="$R/trained.$e.csv"
        es=$(secs "$f" "$R/trained.train.feat" "$R/trained.test.feat")
        rows "$f" "$e" > "$tmp/rows" || exit 1
        while IFS='	' read -r m k s lpc d t1 t1s t5 t5s ntr nte; do
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                "$config" "$seed" "$R" "$m" "$k" "$s" "$lpc" "$t1" "$t5" "$ntr" "$nte" "$is" "$ts" "$es" \
                "$ds" "$ptrain" "$(noseed "$init")" "$(noseed "$train")" "$knn" "$lin" "$c"
        done < "$tmp/rows"
    done
done > "$tmp/runs.tsv" || exit 1

# runs.csv: one line per run and result.
{
    echo "config,seed,run,metric,k,sigma,labels_per_class,top1,top5,n_train,n_test,init_s,train_s,eval_s,dataset,prep_flags,init_flags,train_flags,knn_flags,lineval_flags,commit"
    while IFS='	' read -r a b c d e f g h i j k l m n o p q r s t u; do
        printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$a" "$b" "$(csvq "$c")" "$d" "$e" "$f" "$g" \
            "$h" "$i" "$j" "$k" "$l" "$m" "$n" "$(csvq "$o")" "$(csvq "$p")" "$(csvq "$q")" "$(csvq "$r")" "$(csvq "$s")" "$(csvq "$t")" "$u"
    done < "$tmp/runs.tsv"
} > "$dir/runs.csv.tmp" && mv "$dir/runs.csv.tmp" "$dir/runs.csv"

# Mean and sample std over the seeds of each (config, result), in the
# order of the configs and of the results.
awk -F'\t' '
    { key = $1 SUBSEP $4 SUBSEP $5 SUBSEP $6 SUBSEP $7
      if (!(key in n)) { order[++nk] = key; cfg[key] = $1; met[key] = $4; kk[key] = $5; ss[key] = $6; lp[key] = $7
                         prep[key] = $16; init[key] = $17; train[key] = $18; evf[key] = ($4 == "knn" ? $19 : $20) }
      n[key]++; s1[key] += $8; q1[key] += $8 * $8; s5[key] += $9; q5[key] += $9 * $9; tt[key] += $13
      seeds[key] = seeds[key] (seeds[key] == "" ? "" : " ") $2
      if (index(" " commits[key] " ", " " $21 " ") == 0) commits[key] = commits[key] (commits[key] == "" ? "" : " ") $21 }
    function sd(s, q, n,   v) { if (n < 2) return 0; v = (q - s * s / n) / (n - 1); return v > 0 ? sqrt(v) : 0 }
    END { for (i = 1; i <= nk; i++) { k = order[i]
            printf "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%.6f\t%.6f\t%.6f\t%.6f\t%.1f\t%s\t%s\t%s\t%s\t%s\n", cfg[k], met[k], kk[k], ss[k], lp[k],
                n[k], seeds[k], s1[k] / n[k], sd(s1[k], q1[k], n[k]), s5[k] / n[k], sd(s5[k], q5[k], n[k]), tt[k] / n[k],
                prep[k], init[k], train[k], evf[k], commits[k] } }' "$tmp/runs.tsv" > "$tmp/summary.tsv" || exit 1
{
    echo "config,metric,k,sigma,labels_per_class,n_seeds,seeds,top1_mean,top1_std,top5_mean,top5_std,train_s_mean,dataset,prep_flags,init_flags,train_flags,eval_flags,commit"
    while IFS='	' read -r a b c d e f g h i j k l m n o p q; do
        printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j" "$k" "$l" \
            "$(csvq "$rds")" "$(csvq "$m")" "$(csvq "$n")" "$(csvq "$o")" "$(csvq "$p")" "$q"
    done < "$tmp/summary.tsv"
} > "$dir/summary.csv.tmp" || exit 1

# summary.md: one row per config, one column per result.
{
    echo "Dataset: $rds (test: \`ssl-prep $rptest\`). kNN: \`$rknn\`; linear: \`$rlin\`. Top-1, mean ± sample std over the seeds."
    echo
    awk -F'\t' '
        function lab(m, k, s, l,   t) { t = m == "knn" ? "kNN k=" k " sigma=" s : "linear"; return l == "all" ? t " top-1" : t ", " l "/class" }
        { c = lab($2, $3, $4, $5); if (!(c in seen)) { seen[c] = 1; cols[++nc] = c }
          if (!($1 in rs)) { rs[$1] = 1; rows[++nr] = $1; sd[$1] = $7; tr[$1] = $12; fl[$1] = $15 "; " $14; cm[$1] = $17 }
          v[$1, c] = $6 > 1 ? sprintf("%.4f ± %.4f", $8, $9) : sprintf("%.4f", $8) }
        END { printf "| run | seeds |"; for (i = 1; i <= nc; i++) printf " %s |", cols[i]; print " training (s, mean) |"
              printf "|---|---|"; for (i = 1; i <= nc; i++) printf "---|"; print "---|"
              for (j = 1; j <= nr; j++) { r = rows[j]; printf "| %s | %s |", r, sd[r]
                  for (i = 1; i <= nc; i++) printf " %s |", ((r, cols[i]) in v) ? v[r, cols[i]] : "-"
                  printf " %.1f |\n", tr[r] }
              print ""
              for (j = 1; j <= nr; j++) { r = rows[j]
                  printf "- %s: `ssl-train %s`, init `%s`; commit %s\n", r, substr(fl[r], 1, index(fl[r], "; ") - 1), substr(fl[r], index(fl[r], "; ") + 2), cm[r] } }' "$tmp/summary.tsv"
} > "$dir/summary.md.tmp" || exit 1

# Curves: one line per run, a colour per config and a dash type per seed.
plot=
ci=0
while read -r config; do
    ci=$((ci + 1)); di=0
    for R in "$@"; do
        run=${R##*/}; [ "${run%-s*}" = "$config" ] || continue
        di=$((di + 1))
        grep '"event":"epoch"' "$R/train.jsonl" 2>/dev/null |
            sed -n 's/.*"epoch":\([0-9]*\),.*"knn_top1":\([0-9][0-9.eE+-]*\).*/\1 \2/p' > "$R/knn-curve.dat"
        [ -s "$R/knn-curve.dat" ] || continue
        plot="$plot${plot:+, }'$R/knn-curve.dat' using 1:2 with linespoints lc $ci dt $di title '$run'"
    done
done < "$tmp/configs"
# curves.csv: the monitor's kNN top-1 per config and epoch, mean and sample
# std over the seeds that reached that epoch; backbone-curves.csv the same
# for the backbone's kNN of the runs that logged it (--monitor-backbone).
curves() { # DAT-NAME CSV
    name=$1; out=$2; shift 2
    for R in "$@"; do
        run=${R##*/}
        [ -s "$R/$name" ] && sed "s/^/${run%-s*} /" "$R/$name"
    done | awk '{ k = $1 " " $2; if (!(k in n)) o[++m] = k; n[k]++; s[k] += $3; q[k] += $3 * $3 }
        END { print "config,epoch,n_seeds,knn_top1_mean,knn_top1_std"
              for (i = 1; i <= m; i++) { k = o[i]; split(k, a, " "); v = n[k] > 1 ? (q[k] - s[k] * s[k] / n[k]) / (n[k] - 1) : 0
                  printf "%s,%s,%d,%.6f,%.6f\n", a[1], a[2], n[k], s[k] / n[k], (v > 0 ? sqrt(v) : 0) } }' \
        > "$out.tmp" || die "$out: awk failed"
    mv "$out.tmp" "$out"
}
curves knn-curve.dat "$dir/curves.csv" "$@"
bb=
for R in "$@"; do
    grep '"event":"epoch"' "$R/train.jsonl" 2>/dev/null |
        sed -n 's/.*"epoch":\([0-9]*\),.*"knn_backbone_top1":\([0-9][0-9.eE+-]*\).*/\1 \2/p' > "$R/backbone-curve.dat"
    [ -s "$R/backbone-curve.dat" ] && bb=1
done
rm -f "$dir/backbone-curves.csv"
[ -n "$bb" ] && curves backbone-curve.dat "$dir/backbone-curves.csv" "$@"
if [ -n "$plot" ] && command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "set terminal pngcairo size 900,560 noenhanced; set output '$dir/knn-curves.png.tmp'; \
        set xlabel 'epoch'; set ylabel 'kNN top-1 (bank monitor)'; set key bottom right; set grid; \
        plot $plot" 2>/dev/null ||
    gnuplot -e "set terminal png size 900,560 noenhanced; set output '$dir/knn-curves.png.tmp'; \
        set xlabel 'epoch'; set ylabel 'kNN top-1 (bank monitor)'; set key bottom right; set grid; \
        plot $plot" || die "$dir/knn-curves.png: gnuplot failed"
    mv "$dir/knn-curves.png.tmp" "$dir/knn-curves.png"
fi
mv "$dir/summary.md.tmp" "$dir/summary.md"
mv "$dir/summary.csv.tmp" "$dir/summary.csv"
cat "$dir/summary.md"
echo "summary: $dir/summary.csv"
