#!/bin/sh
# stamp.sh FILE LINE...: write the LINEs to FILE, one a line, only when that
# changes its content, so that a target depending on FILE reruns exactly
# when its settings change (and an unchanged rerun does nothing).
f=$1; shift
mkdir -p "$(dirname "$f")" || exit 1
printf '%s\n' "$@" > "$f.new" || exit 1
if cmp -s "$f.new" "$f"; then rm -f "$f.new"; else mv "$f.new" "$f"; fi
