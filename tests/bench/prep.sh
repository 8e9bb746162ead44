#!/bin/sh
# ssl-prep throughput on Fashion-MNIST train (60000 images of 1x28x28):
# images/s and MB/s of raw pixels, and the stream size against the raw
# pixel bytes for a few zstd levels. Reported, never asserted.
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
FM=/usr/share/datasets/fashion-mnist
if [ ! -d "$FM" ]; then echo "prep: skipped ($FM not installed)"; exit 0; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-prep.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
raw=$((60000 * 784))
for level in 1 3 9; do
    t0=$(date +%s.%N)
    "$BIN/ssl-prep" -q --level "$level" "$FM" -o "$tmp/fm.sslt" || exit 1
    t1=$(date +%s.%N)
    size=$(wc -c <"$tmp/fm.sslt")
    awk -v t0="$t0" -v t1="$t1" -v n=60000 -v raw="$raw" -v size="$size" -v l="$level" 'BEGIN {
        s = t1 - t0
        printf "ssl-prep fashion-mnist train, zstd level %d: %.2f s, %.0f images/s, %.1f MB/s raw pixels; stream %.1f MB = %.1f%% of the %.1f MB raw pixels\n",
               l, s, n / s, raw / s / 1e6, size / 1e6, 100 * size / raw, raw / 1e6 }'
done
