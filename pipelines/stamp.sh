#!/bin/sh
# stamp.sh FILE LINE...: write the LINEs to FILE, one a line, only when that
# changes its content, so that a target depending on FILE reruns exactly
# when its settings change (and an unchanged rerun does nothing).
# The new content goes to a file of this process's own: queue.sh's chains
# run makes side by side that stamp the same shared files (the data
# directory's), and with one shared temporary name a make could compare,
# or move into place, what another was still writing (seen as a rare
# failure of tests/cli/pipelines.sh's two-chain queue).
f=$1; shift
mkdir -p "$(dirname "$f")" || exit 1
t=$f.new.$$
printf '%s\n' "$@" > "$t" || { rm -f "$t"; exit 1; }
if cmp -s "$t" "$f"; then rm -f "$t"; else mv "$t" "$f"; fi
