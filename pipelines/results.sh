# results.sh: shell functions that summary.sh and table.sh source.
# A results table is what ssl-knn --csv / ssl-lineval --csv wrote:
#   ssl-knn:     k,sigma,labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test
#   ssl-lineval: labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test,epochs,...

die() { echo "$prog: $*" >&2; exit 1; }

# rows FILE WHAT: print FILE's rows as tab-separated
#   metric k sigma labels_per_class draws top1 top1_std top5 top5_std n_train n_test
# (WHAT: knn or linear; k and sigma are "-" for linear); die naming FILE
# when it is missing, empty or not such a table.
rows() {
    [ -s "$1" ] || die "$1: missing or empty (the run is missing or failed)"
    awk -F, -v what="$2" -v file="$1" '
        function num(x) { return x ~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/ }
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
                  need = (what == "knn" ? "k sigma " : "") "labels_per_class draws top1 top1_std top5 top5_std n_train n_test"
                  n = split(need, w, " ")
                  for (i = 1; i <= n; i++) if (!(w[i] in col)) { print file ": no column " w[i] > "/dev/stderr"; bad = 1; exit 1 }
                  next }
        { if (!num($col["top1"]) || !num($col["top5"])) { print file ": line " NR ": top1/top5 not numbers" > "/dev/stderr"; bad = 1; exit 1 }
          k = what == "knn" ? $col["k"] : "-"; s = what == "knn" ? $col["sigma"] : "-"
          printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", what, k, s, $col["labels_per_class"], $col["draws"],
                 $col["top1"], $col["top1_std"], $col["top5"], $col["top5_std"], $col["n_train"], $col["n_test"]; n_rows++ }
        END { if (!bad && !n_rows) { print file ": no result rows" > "/dev/stderr"; exit 1 } }' "$1" ||
        die "$1: not a results table of ssl-knn/ssl-lineval --csv"
}

# label METRIC K SIGMA LPC: a column title.
label() {
    case "$1" in
    knn) t="kNN k=$2 sigma=$3" ;;
    *)   t="linear" ;;
    esac
    [ "$4" = all ] || t="$t, $4/class"
    printf '%s' "$t"
}

# secs FILE...: the summed wall seconds of FILE.time for each FILE (0 for none).
secs() {
    for f in "$@"; do [ -f "$f.time" ] && cut -d' ' -f1 "$f.time"; done | awk '{ s += $1 } END { printf "%.1f", s }'
}

# finished R: die unless run directory R is finished and current: its
# checkpoints and results exist and each is newer than its settings. An
# archived run (archive.sh) was checked when it was archived and has no
# checkpoints: it passes when its results are there.
finished() {
    [ -d "$1" ] || die "$1: no such run (missing)"
    if [ -f "$1/archived" ]; then
        for a in trained.knn.csv trained.linear.csv train.flags init.flags; do
            [ -f "$1/$a" ] || die "$1: archived without $a"
        done
        return 0
    fi
    [ -f "$1/trained.ckpt" ] || die "$1: no trained.ckpt (the run is missing or failed)"
    for f in trained.knn.csv:knn.flags trained.linear.csv:lineval.flags trained.ckpt:train.flags \
             trained.ckpt:init.ckpt init.ckpt:init.flags trained.knn.csv:trained.ckpt \
             trained.linear.csv:trained.ckpt; do
        a=${f%%:*}; b=${f#*:}
        [ -f "$1/$a" ] || die "$1: no $a (the run is missing or failed)"
        [ "$1/$a" -nt "$1/$b" ] || die "$1: $a is older than $b (made with other settings: rerun the pipeline)"
    done
}

# commit FILE: the git commit recorded in FILE.time ("unknown" without one).
commit() { { [ -f "$1.time" ] && cut -d' ' -f2 "$1.time"; } || echo unknown; }

# flags FILE: FILE's content on one line.
flags() { [ -f "$1" ] || die "$1: missing (the run is missing or failed)"; tr '\n' ' ' < "$1" | sed 's/  */ /g; s/^ //; s/ $//'; }

# noseed FLAGS: FLAGS without their --seed N.
noseed() { printf '%s\n' "$1" | sed 's/--seed [^ ]*//g; s/  */ /g; s/^ //; s/ $//'; }

# csvq TEXT: TEXT as a CSV field (quoted when it holds a comma or quote).
csvq() { case "$1" in *[,\"]*) printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')" ;; *) printf '%s' "$1" ;; esac; }
