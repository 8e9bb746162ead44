#!/bin/sh
# Test runner: runs every compiled test program (bin/tests/test_*) and every
# shell test (tests/cli/*.sh). Each prints one line per check, "PASS: name"
# or "FAIL: name"; a program that exits non-zero without printing a FAIL
# line counts as one failure of its own. Ends with "N passed, N failed" and
# exits non-zero on any failure.
#
# Environment: BIN (default bin), TESTS_ONLY (a substring: run only the
# programs/scripts whose name contains it), SSL_TEST_VERBOSE=1 (show output).
BIN=${BIN:-bin}
export BIN
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
pass=0; fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ssl-tests.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
export SSL_TEST_TMP="$tmp"

run_one() { # name, command...
    name=$1; shift
    case "$name" in *"${TESTS_ONLY:-}"*) ;; *) return 0 ;; esac
    start=$(date +%s)
    "$@" >"$tmp/out" 2>&1
    rc=$?
    p=$(grep -c '^PASS: ' "$tmp/out")
    f=$(grep -c '^FAIL: ' "$tmp/out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL: $name exited with status $rc" >>"$tmp/out"
        f=1
    fi
    if [ "$f" -ne 0 ] || [ -n "${SSL_TEST_VERBOSE:-}" ]; then
        cat "$tmp/out"
    else
        grep '^SKIP: ' "$tmp/out"
    fi
    printf '%-40s %3d passed %3d failed  (%ss)\n' "$name" "$p" "$f" "$(( $(date +%s) - start ))"
    pass=$((pass + p)); fail=$((fail + f))
}

for t in "$BIN"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for s in "$TOP"/tests/cli/*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" sh "$s"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
