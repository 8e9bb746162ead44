#!/bin/sh
# make bench: runs every tests/bench/*.sh in name order. Each prints its own
# figures (and PyTorch's from the same run where python3-torch is present).
# Speed is reported, never asserted.
TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
export TOP BIN
echo "ssl-tools bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for s in "$TOP"/tests/bench/*.sh; do
    [ -f "$s" ] || continue
    echo
    echo "== $(basename "$s" .sh)"
    sh "$s" || echo "(bench $(basename "$s") exited with status $?)"
done
