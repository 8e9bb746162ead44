# Every tool: --help and -h (stdout, exit 0), --version and -V, a bad flag
# (exit 2, one line on stderr in one wording), and a man page that groff
# lints clean; strict number parsing and the missing-value message in every
# tool. Every man page lints.
. "$TOP/tests/lib.sh"
for t in "$BIN"/ssl-*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    "$t" --help >"$T/help" 2>"$T/help.err"; rc=$?
    check "$name --help exits 0" "$rc" -eq 0
    check "$name --help prints usage on stdout" "$(grep -c -i usage "$T/help")" -ge 1
    check "$name --help leaves stderr empty" ! -s "$T/help.err"
    v=$("$t" --version 2>/dev/null)
    check "$name --version" "$(echo "$v" | sed -E 's/ \([0-9a-z.-]+\)$//')" = "$name $(cat "$TOP/VERSION")"
    fails "$name bad flag exits 2" 2 "^$name: unknown option '--no-such-flag' \(try '$name --help'\)$" "$t" --no-such-flag
    fails "$name bad short flag" 2 "^$name: unknown option '-Z' \(try '$name --help'\)$" "$t" -Z
    fails "$name: a value given to a switch" 2 "^$name: option '--help' takes no value" "$t" --help=1
    check "$name has a man page" -f "$TOP/man/$name.1"
    # -h and -V are --help and --version.
    "$t" -h >"$T/h" 2>&1
    check "$name -h = --help" "$(cmp "$T/h" "$T/help" >/dev/null 2>&1 && echo same)" = same
    check "$name -V = --version" "$("$t" -V 2>&1)" = "$v"
    check "$name --help names -h and -V" "$(grep -c -- '-h, --help' "$T/help")$(grep -c -- '-V, --version' "$T/help")" = 11
    check "$name(1) names -h and -V" "$(grep -c '^\.BR \\-h ", " \\-\\-help$' "$TOP/man/$name.1")$(grep -c '^\.BR \\-V ", " \\-\\-version$' "$TOP/man/$name.1")" = 11
done

have() { [ -x "$BIN/$1" ]; }
# One wording for a missing value, and strict numbers (decimal only, no
# space, no hexadecimal, finite) in every tool that takes one.
for tf in "ssl-prep --level" "ssl-init-bank --seed" "ssl-train --lr" "ssl-extract --batch" \
          "ssl-knn --draws" "ssl-lineval --lr"; do
    set -- $tf; t=$1; f=$2
    have "$t" || continue
    fails "$t $f: missing value" 2 "^$t: option '$f' needs a value \(try '$t --help'\)$" "$t" "$f"
    for bad in 0x10 " 5" "5 " "+5" 1e999 inf nan "" 5x 1,5; do
        re=$(printf '%s' "$bad" | sed 's/[][+.*^$()|?{}\\]/\\&/g')
        fails "$t $f '$bad' refused" 2 "^$t: $f: ('$re' is not a (non-negative )?decimal (integer|number)|$re is out of range)" \
            "$t" "$f" "$bad" x y
    done
done
fails "ssl-knn -k: missing value" 2 "^ssl-knn: option '-k' needs a value" ssl-knn -k
fails "ssl-knn -qk: missing value, named alone" 2 "^ssl-knn: option '-k' needs a value" ssl-knn -qk
fails "ssl-train -k 0x10" 2 "^ssl-train: --k-negatives: '0x10' is not a decimal integer" ssl-train -k 0x10 a b
fails "ssl-knn --sigma ' .1' in a list" 2 "^ssl-knn: --sigma: ' .1' is not a decimal number" ssl-knn --sigma 0.1,' .1' a
fails "ssl-prep --subset 0x.8" 2 "^ssl-prep: --subset: '0x.8'" ssl-prep --subset 0x.8 a
fails "--seed -1" 2 "^ssl-init-bank: --seed: '-1' is not a non-negative decimal integer" ssl-init-bank --seed -1
for good in 0.5 .5 5. 1e-4 1E+2 -0; do
    fails "ssl-train --lr $good accepted (then the operands are checked)" 2 "^ssl-train: expected CKPT and DATA" ssl-train --lr "$good" a
done
if command -v groff >/dev/null 2>&1; then
    for m in "$TOP"/man/*.[157]; do
        [ -f "$m" ] || continue
        out=$(groff -man -ww -z "$m" 2>&1)
        if [ -z "$out" ]; then pass "man lint $(basename "$m")"; else fail "man lint $(basename "$m")" "$out"; fi
        for s in NAME SYNOPSIS DESCRIPTION; do
            grep -q "^\.SH $s" "$m" || fail "man $(basename "$m") has $s" "missing"
        done
    done
else
    skip "man lint" "groff not installed"
fi
done_tests
