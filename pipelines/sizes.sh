#!/bin/sh
# sizes.sh DIR RUN...: the model-size table: one row per configuration of
# the runs (RUN = .../CONFIG-sSEED), its network (RUN/network.csv, from
# network.sh: the same for every seed of a config, else it stops) beside
# its top-1 from DIR/summary.csv (summary.sh): the first kNN result and the
# linear one, on all labels. Writes DIR/sizes.csv
#   config,arch,width,params,backbone_params,gflop,n_seeds,knn,knn_top1_mean,knn_top1_std,linear_top1_mean,linear_top1_std
# and DIR/sizes.md. Where DIR/speeds.csv exists (speeds.sh: each
# network's training step measured in one sitting), both gain its img/s
# (step_img_s, "-" for a network it lacks). Stops, naming the run, when a
# network.csv is missing.
prog=sizes.sh
. "$(dirname "$0")/results.sh"
[ $# -ge 2 ] || { echo "usage: sizes.sh DIR RUN..." >&2; exit 2; }
dir=$1; shift
[ -s "$dir/summary.csv" ] || die "$dir/summary.csv: missing (run summary.sh first)"
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
for R in "$@"; do
    run=${R##*/}; config=${run%-s*}
    [ -s "$R/network.csv" ] || die "$R: no network.csv (network.sh of its init.ckpt)"
    sed -n 2p "$R/network.csv" | sed "s/^/$config,/"
done > "$tmp" || exit 1
awk -F, -v tmpf="$tmp" -v prog="$prog" '
    BEGIN { while ((getline l < tmpf) > 0) { split(l, a, ","); c = a[1]; r = substr(l, length(c) + 2)
              if (c in net && net[c] != r) { print prog ": " c ": seeds of one config with other networks" > "/dev/stderr"; bad = 1; exit 1 }
              if (!(c in net)) order[++n] = c; net[c] = r } }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { c = $col["config"]; if (!(c in net) || $col["labels_per_class"] != "all") next
      if ($col["metric"] == "knn" && !(c in knn)) { knn[c] = $col["top1_mean"] "," $col["top1_std"]; kl[c] = "k=" $col["k"] " sigma=" $col["sigma"]; ns[c] = $col["n_seeds"] }
      if ($col["metric"] == "linear" && !(c in lin)) lin[c] = $col["top1_mean"] "," $col["top1_std"] }
    END { if (bad) exit 1
          print "config,arch,width,params,backbone_params,gflop,n_seeds,knn,knn_top1_mean,knn_top1_std,linear_top1_mean,linear_top1_std"
          for (i = 1; i <= n; i++) { c = order[i]
              printf "%s,%s,%s,%s,%s,%s\n", c, net[c], ns[c], kl[c], (c in knn ? knn[c] : ","), (c in lin ? lin[c] : ",") } }' \
    "$dir/summary.csv" > "$dir/sizes.csv.tmp" || die "$dir/summary.csv: not a summary of these runs"
sp=
if [ -e "$dir/speeds.csv" ]; then
    sp=$dir/speeds.csv
    [ "$(sed -n 1p "$sp" | cut -d, -f1-3)" = "arch,width,img_s" ] ||
        die "$sp: not a speeds.sh table (arch,width,img_s,...)"
    awk -F, -v spf="$sp" 'BEGIN { while ((getline l < spf) > 0) { split(l, a, ","); v[a[1] "," a[2] + 0] = a[3] } }
        NR == 1 { print $0 ",step_img_s"; next }
        { k = $2 "," $3 + 0; print $0 "," (k in v ? v[k] : "") }' "$dir/sizes.csv.tmp" > "$dir/sizes.csv.sp" &&
        mv "$dir/sizes.csv.sp" "$dir/sizes.csv.tmp" || exit 1
fi
awk -F, -v sp="$sp" 'NR == 1 { next }
    function pm(m, s, n) { return m == "" ? "-" : n > 1 ? sprintf("%.4f ± %.4f", m, s) : sprintf("%.4f", m) }
    { rows[++n] = sprintf("| %s | %s | %s | %.3fM | %.3fM | %.4g |%s %s | %s | %s |", $1, $2, $3, $4 / 1e6, $5 / 1e6, $6,
                          sp == "" ? "" : " " ($13 == "" ? "-" : $13) " |", $7, pm($9, $10, $7), pm($11, $12, $7)); k = $8 }
    END { print "| config | arch | width | params | backbone | GFLOP/image |" (sp == "" ? "" : " step img/s |") \
                " seeds | kNN " k " top-1 | linear top-1 |"
          print "|---|---|---|---|---|---|" (sp == "" ? "" : "---|") "---|---|---|"
          for (i = 1; i <= n; i++) print rows[i] }' "$dir/sizes.csv.tmp" > "$dir/sizes.md.tmp" || exit 1
mv "$dir/sizes.md.tmp" "$dir/sizes.md"
mv "$dir/sizes.csv.tmp" "$dir/sizes.csv"
cat "$dir/sizes.md"
