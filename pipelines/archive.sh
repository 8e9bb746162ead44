#!/bin/sh
# archive.sh OUT DEST [RUN...]: keep the results of finished runs without
# their checkpoints, features and streams, so that a summary can be drawn
# from them on another machine or after OUT is gone (summary.sh DIR RUN...
# reads archived runs as it reads live ones).
#
# RUN...: run directories under OUT (default: every run directory under OUT
# whose kNN and linear results exist). Each is checked as summary.sh checks
# it (results newer than their settings) and copied to DEST/<its path under
# OUT>: its flags files, the epoch lines of train.jsonl, the results tables
# (*.csv), the wall times (*.time) and the file "archived" (when, from
# where). Its data
# directory gets its dataset and prep flags; train.sslt and test.sslt
# become relative links to where the streams were. A run already archived
# with the same settings is left alone; one archived with other settings is
# replaced. Prints one line per run.
prog=archive.sh
. "$(dirname "$0")/results.sh"
[ $# -ge 2 ] || { echo "usage: archive.sh OUT DEST [RUN...]" >&2; exit 2; }
out=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
mkdir -p "$2" || exit 1
dest=$(cd "$2" && pwd) || exit 1
shift 2
[ "$dest" = "$out" ] && die "DEST is OUT"
if [ $# -eq 0 ]; then
    set -- $(find "$out" -name trained.linear.csv | sed 's,/trained.linear.csv$,,' | sort)
    [ $# -gt 0 ] || die "$out: no finished run"
fi

# rel PATH: PATH (absolute, under OUT) relative to OUT.
rel() {
    case "$1" in "$out"/*) printf '%s\n' "${1#"$out"/}" ;; *) die "$1: not under $out" ;; esac
}
# up PATH: as many ../ as PATH (relative) has components.
up() { printf '%s\n' "$1" | sed 's,[^/][^/]*,..,g'; }

for R in "$@"; do
    R=$(cd "$R" 2>/dev/null && pwd) || die "$R: no such run (missing)"
    [ -f "$R/trained.knn.csv" ] && [ -f "$R/trained.linear.csv" ] || { echo "$prog: $R: not finished, skipped"; continue; }
    finished "$R"
    [ -L "$R/train.sslt" ] || die "$R: train.sslt is not a link into a data directory"
    D=$(cd "$(dirname "$(readlink -f "$R/train.sslt")")" && pwd) || die "$R: its data directory is gone"
    r=$(rel "$R"); d=$(rel "$D")
    A=$dest/$r
    same=1
    if [ -f "$A/archived" ]; then
        for f in "$R"/*.flags; do cmp -s "$f" "$A/${f##*/}" || same=0; done
        [ "$same" = 1 ] && { echo "$prog: $r: already archived"; continue; }
    fi
    # The run's own files only: a run directory may hold others (the demo's
    # holds its data directory). "archived" is written last.
    mkdir -p "$A" || exit 1
    find "$A" -maxdepth 1 \( -type f -o -type l \) -exec rm -f {} + || exit 1
    for f in "$R"/*.flags "$R"/*.csv "$R"/*.time; do
        [ -f "$f" ] && { cp -p "$f" "$A/" || exit 1; }
    done
    [ -f "$R/train.jsonl" ] && grep '"event":"epoch"' "$R/train.jsonl" > "$A/train.jsonl"
    ln -s "$(up "$r")/$d/train.sslt" "$A/train.sslt" &&
    ln -s "$(up "$r")/$d/test.sslt" "$A/test.sslt" || exit 1
    mkdir -p "$dest/$d" || exit 1
    for f in "$D"/dataset "$D"/*.flags "$D"/*.time; do
        [ -f "$f" ] && { cp -p "$f" "$dest/$d/" || exit 1; }
    done
    printf 'archived %s from %s; its results were newer than their settings\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$R" > "$A/archived" || exit 1
    echo "$prog: $r: archived"
done
