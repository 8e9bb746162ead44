#!/bin/sh
# regress.sh: the bad-input table of tests/README, run row by row.
#
# Each row of the table (between BEGIN/END BAD-INPUT TABLE) is a
# "$ command" line and a "! STATUS MESSAGE" line. R/ stands for
# tests/fixtures/regress/ and T/ for a fresh empty directory. The command
# must exit with STATUS, print exactly one line on stderr equal to MESSAGE
# ("..." in MESSAGE matches any text) and leave T/ empty: no output file,
# not even a temporary one. Rows whose tool is not built are skipped.
# Fuzzer crash inputs (R/crash-*) are rows of the same table.
. "$TOP/tests/lib.sh"
RD="$TOP/tests/fixtures/regress"
README="$TOP/tests/README"
set -f
rows=0
cmd=
# Lines of the table only; the "while read" runs in this shell (no pipe).
sed -n '/^BEGIN BAD-INPUT TABLE$/,/^END BAD-INPUT TABLE$/p' "$README" >"$T/table"
while IFS= read -r line; do
    case "$line" in
    "  \$ "*)
        cmd=${line#"  \$ "} ;;
    "  ! "*)
        rest=${line#"  ! "}
        status=${rest%% *}
        msg=${rest#* }
        [ -n "$cmd" ] || { fail "table" "a '!' line without a command: $line"; continue; }
        rows=$((rows + 1))
        out="$T/row$rows"
        mkdir "$out"
        c=$(printf '%s\n' "$cmd" | sed "s# R/# $RD/#g; s# T/# $out/#g")
        m=$(printf '%s\n' "$msg" | sed "s# R/# $RD/#g")
        # The message as an anchored ERE: escape everything, then "..." -> ".*".
        pat=$(printf '%s\n' "$m" | sed 's#[][\.*^$(){}?+|]#\\&#g; s#\\\.\\\.\\\.#.*#g')
        tool=${cmd%% *}
        name="row $rows: $cmd"
        if ! command -v "$tool" >/dev/null 2>&1; then
            skip "$name" "$tool not built"
        else
            # shellcheck disable=SC2086
            fails "$name" "$status" "^$pat\$" $c
            left=$(ls -A "$out")
            [ -z "$left" ] || fail "$name: leaves no file" "left $left"
        fi
        cmd= ;;
    esac
done <"$T/table"
check "bad-input table has rows" "$rows" -ge 20
# Every fixture in R/ is used by some row or by test_regress.c (no dead files).
for f in "$RD"/*; do
    b=${f##*/}
    case "$b" in gen.py|good.sslt|idx-labels|idx-images) continue ;; esac
    if ! grep -q "R/$b" "$README" && ! grep -q "$b" "$TOP/tests/test_regress.c" 2>/dev/null; then
        fail "fixture $b is used" "no row of tests/README names it"
    fi
done
done_tests
