# tests/cli/layers.sh: the library's layering rules (lib/README), checked on
# the source tree. A file may include headers of its own folder and of the
# folders its layer lists below; lib/ never includes tools/; a private
# header (*_impl.h) is included only from its own folder; lib/ reads no
# environment, never exits, and declares no BLAS routine by hand.
. "$TOP/tests/lib.sh"
cd "$TOP" || exit 1

# layer: the folders below it that it may include (its own is implied).
allowed() {
    case $1 in
    util) echo "" ;;
    stream) echo "util" ;;
    nn/ops) echo "util" ;;
    nn) echo "util nn/ops" ;;
    data) echo "util" ;;
    ssl) echo "util nn/ops" ;;
    eval) echo "util stream nn/ops nn" ;;
    run) echo "util stream nn/ops nn data ssl eval" ;;
    *) echo "?" ;;
    esac
}

# A violation is "file: includes header" on a line of its own.
: >"$T/bad"
find lib -name '*.[ch]' | sort >"$T/files"
nfiles=$(wc -l <"$T/files")
while read -r f; do
    dir=${f#lib/}; dir=${dir%/*}
    ok_dirs="$dir $(allowed "$dir")"
    case "$ok_dirs" in *"?"*) echo "$f: is in lib/$dir, which is not a known layer" >>"$T/bad"; continue ;; esac
    grep -o '^#include "[^"]*"' "$f" | sed 's/^#include "//; s/"$//' | while read -r h; do
        hdir=${h%/*}
        [ "$hdir" = "$h" ] && { echo "$f: includes \"$h\" without its folder" >>"$T/bad"; continue; }
        [ -f "lib/$h" ] || { echo "$f: includes \"$h\", which is not in lib/" >>"$T/bad"; continue; }
        case "$h" in *_impl.h) [ "$hdir" = "$dir" ] || echo "$f: includes the private \"$h\"" >>"$T/bad"; continue ;; esac
        hit=0
        for d in $ok_dirs; do [ "$hdir" = "$d" ] && hit=1; done
        [ $hit -eq 1 ] || echo "$f: lib/$dir includes \"$h\" from a layer above or beside it" >>"$T/bad"
    done
done <"$T/files"
check "layers: $nfiles files of lib/ checked" "$nfiles" -gt 40
if [ -s "$T/bad" ]; then fail "layers: includes follow the layer order" "$(cat "$T/bad")"
else pass "layers: includes follow the layer order"; fi

# Nobody outside a folder includes its private headers.
grep -rn '#include "[^"]*_impl.h"' tools tests | grep -v '^tests/fuzz/' >"$T/priv" || true
if [ -s "$T/priv" ]; then fail "layers: private headers stay private" "$(cat "$T/priv")"
else pass "layers: private headers stay private"; fi

# The rules that are not about includes.
grep -rn 'getenv\|secure_getenv' lib >"$T/env" || true
if [ -s "$T/env" ]; then fail "layers: lib/ reads no environment" "$(cat "$T/env")"
else pass "layers: lib/ reads no environment"; fi
# (code only: the text of comments, "/* ... */" on one line or lines that
# continue one, is left out)
find lib -name '*.[ch]' | sort | while read -r f; do
    sed 's|/\*.*\*/||g; s|/\*.*||; s|^ *\*.*||' "$f" |
        grep -nE '(^|[^_a-z])(exit|abort|_Exit|printf|puts|perror)\(|(^|[^_a-z<])std(err|out|in)([^_a-z>]|$)' |
        sed "s|^|$f:|"
done >"$T/exit"
if [ -s "$T/exit" ]; then fail "layers: lib/ never exits or prints" "$(cat "$T/exit")"
else pass "layers: lib/ never exits or prints"; fi
grep -rn 'void cblas_\|CblasRowMajor *=' lib tools tests | grep -v '^tests/cli/layers.sh:' >"$T/blas" || true
if [ -s "$T/blas" ]; then fail "layers: BLAS comes from <cblas.h>" "$(cat "$T/blas")"
else pass "layers: BLAS comes from <cblas.h>"; fi

# The checker itself catches a violation: a copy of the tree with one
# upward include must fail (nn/ops knows no network).
mkdir -p "$T/tree/lib/nn/ops" "$T/tree/lib/nn" "$T/tree/tests"
printf '#include "nn/net.h"\n' >"$T/tree/lib/nn/ops/x.c"
: >"$T/tree/lib/nn/net.h"
for i in $(seq 41); do : >"$T/tree/lib/nn/f$i.c"; done
cp "$TOP/tests/lib.sh" "$T/tree/tests/"
if [ -z "${LAYERS_SELFTEST:-}" ]; then
    LAYERS_SELFTEST=1 TOP="$T/tree" sh "$0" >"$T/self.out" 2>&1
    if grep -q '^FAIL: layers: includes follow the layer order' "$T/self.out" &&
       grep -q 'nn/ops/x.c: lib/nn/ops includes "nn/net.h"' "$T/self.out"; then
        pass "layers: an upward include is caught"
    else fail "layers: an upward include is caught" "$(head -c 400 "$T/self.out")"; fi
fi
done_tests
