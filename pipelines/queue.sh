#!/bin/sh
# queue.sh [-j CHAINS] OUT ARCHIVE RUN... [-- MAKE-ARGUMENTS...]: train,
# evaluate and archive a list of pipeline runs, in the order given, in
# CHAINS parallel chains (default 1: run after run), resuming after an
# interruption on this or another machine.
#
# RUN is a run directory relative to OUT (ablation/fashion-mnist/sqrtkl-s1).
# Each is made by `make -C pipelines OUT=OUT MAKE-ARGUMENTS RUN/trained.
# {linear,knn}.csv` (so MAKE-ARGUMENTS must be those of the pipeline that
# defines RUN: SEEDS, ABL_EXTRA, THREADS, ...) and then copied to ARCHIVE
# with archive.sh. A RUN that ARCHIVE already holds is skipped (delete
# ARCHIVE/RUN to run it again); one interrupted in OUT resumes from its
# run.ckpt. Chain c takes runs c, c + CHAINS, ...; each prints one line per
# run. The data directories are made first, one at a time. Exit status: the
# number of runs that failed (at most 125).
prog=queue.sh
here=$(cd "$(dirname "$0")" && pwd)
chains=1
if [ "${1:-}" = -j ]; then chains=$2; shift 2; fi
case $chains in ''|*[!0-9]*|0) echo "$prog: -j: '$chains' is not a positive number" >&2; exit 2 ;; esac
[ $# -ge 3 ] || { echo "usage: queue.sh [-j CHAINS] OUT ARCHIVE RUN... [-- MAKE-ARGUMENTS...]" >&2; exit 2; }
out=$1; arch=$2; shift 2
runs=
while [ $# -gt 0 ] && [ "$1" != -- ]; do runs="$runs $1"; shift; done
[ "${1:-}" = -- ] && shift
[ -n "$runs" ] || { echo "$prog: no RUN given" >&2; exit 2; }
mkdir -p "$out" "$arch" || exit 1

chain() { # index MAKE-ARGUMENTS...
    k=$1; shift
    i=0; failed=0
    for r in $runs; do
        i=$((i + 1))
        [ $(( (i - 1) % chains + 1 )) -eq "$k" ] || continue
        if [ -f "$arch/$r/archived" ]; then echo "$prog: $r: already archived, skipped"; continue; fi
        # A model-size run also keeps its network's size (sizes.sh reads it).
        case $r in model-size/*) extra=$out/$r/network.csv ;; *) extra= ;; esac
        if make -C "$here" OUT="$out" "$@" "$out/$r/trained.linear.csv" "$out/$r/trained.knn.csv" $extra &&
           sh "$here/archive.sh" "$out" "$arch" "$out/$r"; then
            echo "$prog: $r: done $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        else
            echo "$prog: $r: FAILED $(date -u +%Y-%m-%dT%H:%M:%SZ)"; failed=$((failed + 1))
        fi
    done
    return $failed
}
# The data directories and links first, one make at a time: chains that
# share a data directory must not both build it.
for r in $runs; do
    [ -f "$arch/$r/archived" ] && continue
    make -C "$here" OUT="$out" "$@" "$out/$r/train.sslt" "$out/$r/test.sslt" || exit 1
done
c=1; pids=
while [ $c -le "$chains" ]; do chain $c "$@" & pids="$pids $!"; c=$((c + 1)); done
bad=0
for p in $pids; do wait "$p"; bad=$((bad + $?)); done
[ $bad -gt 125 ] && bad=125
exit $bad
