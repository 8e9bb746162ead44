# tests/lib.sh: helpers for the shell tests in tests/cli/*.sh.
# Each check prints "PASS: name" or "FAIL: name: detail"; run.sh counts them.
# Source it with:  . "$TOP/tests/lib.sh"
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
PATH="$BIN:$PATH"; export PATH
T=$(mktemp -d "${SSL_TEST_TMP:-/tmp}/t.XXXXXX")
trap 'rm -rf "$T"' EXIT
t_failed=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+: $2}"; t_failed=1; }
skip() { echo "SKIP: $1: $2"; }

# ok NAME CMD...: the command exits 0. On failure, the last 600 bytes of
# its stderr (where the error is; progress lines come first).
ok() { n=$1; shift; if "$@" >"$T/.out" 2>"$T/.err"; then pass "$n"; else fail "$n" "exit $? from $*: $(tail -c 600 "$T/.err")"; fi; }

# fails NAME STATUS PATTERN CMD...: the command exits with STATUS, prints
# exactly one line on stderr, and that line matches the grep -E PATTERN.
fails() {
    n=$1; want=$2; pat=$3; shift 3
    "$@" >"$T/.out" 2>"$T/.err"; rc=$?
    lines=$(wc -l <"$T/.err")
    if [ "$rc" -ne "$want" ]; then fail "$n" "exit $rc, wanted $want: $(head -c 300 "$T/.err")"
    elif [ "$lines" -ne 1 ]; then fail "$n" "stderr has $lines lines: $(head -c 300 "$T/.err")"
    elif ! grep -Eq -- "$pat" "$T/.err"; then fail "$n" "stderr '$(cat "$T/.err")' does not match '$pat'"
    else pass "$n"; fi
}

# Check a condition: check NAME test-args...
check() { n=$1; shift; if [ "$@" ]; then pass "$n"; else fail "$n" "[ $* ]"; fi; }

done_tests() { exit $t_failed; }
