#!/bin/sh
# timed.sh [-a] FILE CMD...: run CMD; when it succeeds, write
# "SECONDS COMMIT" to FILE: its wall time and the git commit of the tree
# (git describe --always, with -dirty when a tracked file outside
# pipelines/results differs from it: the archive there changes as runs
# finish and does not change the code; or "unknown"). With -a the seconds
# are added to those already in FILE (a resumed training run).
add=0; [ "$1" = -a ] && { add=1; shift; }
f=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
t0=$(date +%s.%N)
"$@" || exit $?
t1=$(date +%s.%N)
prev=0
[ "$add" = 1 ] && [ -f "$f" ] && prev=$(cut -d' ' -f1 "$f")
commit=$(git -C "$top" describe --always 2>/dev/null || echo unknown)
[ "$commit" != unknown ] && ! git -C "$top" diff --quiet HEAD -- . ':(exclude)pipelines/results' 2>/dev/null &&
    commit=$commit-dirty
awk -v a="$t0" -v b="$t1" -v p="$prev" -v c="$commit" \
    'BEGIN { printf "%.2f %s\n", b - a + p, c }' > "$f.tmp" && mv "$f.tmp" "$f"
