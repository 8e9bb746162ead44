# Every tool: --help (stdout, exit 0), --version, a bad flag (exit 2, one
# line on stderr), and a man page that groff lints clean. Every man page lints.
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
    fails "$name bad flag exits 2" 2 "^$name: .*" "$t" --no-such-flag
    check "$name has a man page" -f "$TOP/man/$name.1"
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
