#!/bin/sh
# prep_images.sh: ssl-prep on a flat folder of 3000 small images (PNG and
# JPEG, 32x32 RGB with every 10th 48x40 grey; --size 32) against decoding
# the same files alone (bench_decode: read + decode, nothing else), on 1
# and 2 threads: images/s of wall time and per CPU second (user + sys),
# the fair figure on a shared machine. Reported, never asserted.
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$TOP/bin}
b="$BIN/bench/bench_decode"
if [ ! -x "$b" ]; then echo "prep_images: $b not built (make bench)"; exit 1; fi
if [ ! -x /usr/bin/time ]; then echo "prep_images: skipped (/usr/bin/time missing: apt-get install time)"; exit 0; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-prep-images.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=3000
"$b" --make "$tmp/img" "$n" || exit 1
for t in 1 2; do
    "$b" "$tmp/img" --threads "$t" | grep 'read + decode' || exit 1
    /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$BIN/ssl-prep" -q --threads "$t" --size 32 \
        "$tmp/img" -o "$tmp/out.sslt" || exit 1
    read -r wall user sys <"$tmp/time"
    awk -v n="$n" -v t="$t" -v w="$wall" -v u="$user" -v s="$sys" 'BEGIN {
        printf "ssl-prep --size 32 (whole run), threads=%d: %d images in %.2f s (%.2f s CPU), %.0f images/s, %.0f per CPU second\n",
               t, n, w, u + s, n / (w > 0 ? w : 0.01), n / (u + s > 0 ? u + s : 0.01) }'
done
