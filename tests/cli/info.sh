# ssl-info: summaries (text and JSON) of good streams, and exit 1 with one
# error line naming the file for every kind of damage. The sample stream
# comes from "test_sslt --write-sample" (2 sections, every dtype).
. "$TOP/tests/lib.sh"
W="$BIN/tests/test_sslt"
if [ ! -x "$W" ]; then fail "info: test_sslt built" "$W missing"; done_tests; fi
"$W" --write-sample "$T/s.sslt" || fail "write sample"

ok "info: good file" ssl-info "$T/s.sslt"
cp "$T/.out" "$T/text"
check "info: file line" "$(grep -c "^$T/s.sslt: 2 sections, 19 records" "$T/text")" -eq 1
check "info: kinds" "$(grep -c -E '^section [12]: kind (dataset|test)' "$T/text")" -eq 2
check "info: tensor line" "$(grep -c -E '^  tensor images +u8 +\[6, 1, 4, 4\] +96 bytes' "$T/text")" -eq 1
check "info: scalar shape" "$(grep -c -E '^  tensor scalar +f64 +\[\] +8 bytes' "$T/text")" -eq 1
check "info: long class list shortened" "$(grep -c '"three", \.\.\., "eleven"\] (12 items)' "$T/text")" -eq 1
check "info: nothing on stderr" ! -s "$T/.err"

ok "info: stdin" sh -c "ssl-info <'$T/s.sslt'"
check "info: stdin is named" "$(grep -c '^<stdin>: 2 sections' "$T/.out")" -eq 1
cat "$T/s.sslt" "$T/s.sslt" >"$T/cat.sslt"
ok "info: cat of two streams" ssl-info "$T/cat.sslt"
check "info: cat has 4 sections" "$(grep -c '^section 4: kind test' "$T/.out")" -eq 1
ok "info: several files" ssl-info "$T/s.sslt" - "$T/cat.sslt" <"$T/s.sslt"
check "info: one summary each" "$(grep -c 'sections, ' "$T/.out")" -eq 3

ok "info: --json" ssl-info --json "$T/s.sslt" "$T/cat.sslt"
cp "$T/.out" "$T/json"
check "info: one JSON line per file" "$(wc -l <"$T/json")" -eq 2
check "info: JSON has full class list" "$(grep -c '"classes":\["zero","one","two","three","four","five","six","seven","eight","nine","ten","eleven"\]' "$T/json")" -eq 2
check "info: JSON tensors" "$(grep -c '{"name":"scalar","dtype":"f64","shape":\[\],"bytes":8}' "$T/json")" -eq 2
if /usr/bin/python3 -c 'import json' 2>/dev/null; then
    ok "info: JSON parses" /usr/bin/python3 -c '
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
assert [len(d["sections"]) for d in docs] == [2, 4]
s = docs[0]["sections"][0]
assert s["kind"] == "dataset" and s["meta"]["mean"] == [0.25] and s["meta"]["subset"] == {"seed": 1, "ok": True}
assert s["tensors"][0] == {"name": "images", "dtype": "u8", "shape": [6, 1, 4, 4], "bytes": 96}
assert docs[0]["records"] == 19 and docs[1]["records"] == 38
' "$T/json"
else
    skip "info: JSON parses" "/usr/bin/python3 not available"
fi

ok "info: --check good" ssl-info --check "$T/s.sslt"
check "info: --check prints nothing" ! -s "$T/.out"
ok "info: --check -v" ssl-info --check -v "$T/s.sslt"
check "info: --check -v says ok" "$(grep -c 'ssl-info: .*s.sslt: ok, 2 sections' "$T/.err")" -eq 1

# Damage: truncations, a flipped byte, garbage, empty, trailing garbage.
size=$(wc -c <"$T/s.sslt")
for cut in 1 10 100 500 $((size - 1)); do
    head -c "$cut" "$T/s.sslt" >"$T/cut.sslt"
    fails "info: --check truncated at $cut" 1 "^ssl-info: $T/cut.sslt: record [0-9]+: truncated" ssl-info --check "$T/cut.sslt"
    fails "info: plain truncated at $cut" 1 "^ssl-info: $T/cut.sslt: record [0-9]+: truncated" ssl-info "$T/cut.sslt"
    check "info: no summary of a truncated file ($cut)" ! -s "$T/.out"
done
cp "$T/s.sslt" "$T/flip.sslt"
printf '\377' | dd of="$T/flip.sslt" bs=1 seek=$((size - 40)) conv=notrunc 2>/dev/null
fails "info: --check flipped byte" 1 "^ssl-info: $T/flip.sslt: record [0-9]+: (damaged|.*CRC)" ssl-info --check "$T/flip.sslt"
fails "info: --json flipped byte" 1 "^ssl-info: $T/flip.sslt: record" ssl-info --json "$T/flip.sslt"
check "info: no JSON for a damaged file" ! -s "$T/.out"
printf 'hello world\n' >"$T/garbage"
fails "info: garbage" 1 "^ssl-info: $T/garbage: record 1: not a tensor stream" ssl-info "$T/garbage"
: >"$T/empty"
fails "info: empty" 1 "^ssl-info: $T/empty: empty stream" ssl-info --check "$T/empty"
{ cat "$T/s.sslt"; printf 'xx'; } >"$T/trail.sslt"
fails "info: trailing garbage" 1 "^ssl-info: $T/trail.sslt: record 20: trailing garbage" ssl-info "$T/trail.sslt"
fails "info: missing file" 1 "^ssl-info: $T/nope: No such file" ssl-info "$T/nope"
# A good file after a bad one is still described; the status is 1.
ssl-info "$T/empty" "$T/s.sslt" >"$T/.out" 2>"$T/.err"; rc=$?
check "info: bad then good exits 1" "$rc" -eq 1
check "info: bad then good describes the good one" "$(grep -c 'sections, ' "$T/.out")" -eq 1

fails "info: --json with --check" 2 "^ssl-info: .*exclude" ssl-info --json --check "$T/s.sslt"
fails "info: stdin twice" 2 "^ssl-info: .*stdin" ssl-info - -

# Nested maps: one line per entry under its dotted path, nothing cut;
# tensor columns as wide as the longest name; "1 section".
check "info: a nested map, one line per entry" "$(grep -c -E '^  meta subset\.(seed: 1|ok: true)$' "$T/text")" -eq 2
G="$BIN/tests/test_train"
if [ -x "$G" ] && "$G" --write-dataset "$T/d.sslt" 12 28 1 &&
   ssl-init-bank -q --width 0.0625 --head mlp3 --hidden 8 --dim 4 --threads 2 "$T/d.sslt" -o "$T/c.ckpt"; then
    ok "info: a checkpoint" ssl-info "$T/c.ckpt"
    check "info: the whole configuration, to its last entry" \
        "$(grep -c -E '^  meta config\.(net\.arch: "resnet18"|data\.labels_crc: [0-9]+|init\.bn_stats: "updated by the bank-init pass")$' "$T/.out")" -eq 3
    check "info: no line cut" "$(grep -c '\.\.\.$' "$T/.out")" -eq 0
    check "info: tensor columns aligned (shapes and byte counts)" \
        "$(grep '^  tensor ' "$T/.out" | awk '{ print index($0, "[") " " index($0, " bytes (") }' | sort -u | wc -l)" -eq 1
    check "info: the shape column starts two spaces after the longest name and the dtype" \
        "$(grep '^  tensor ' "$T/.out" | awk '{ l = length($2); if (l > m) m = l; p[NR] = index($0, "[") }
            END { for (i in p) if (p[i] != 9 + m + 2 + 3 + 2 + 1) bad++; print (NR > 100 && !bad) }')" -eq 1
    ok "info: --check -v of one section" ssl-info --check -v "$T/c.ckpt"
    check "info: '1 section'" "$(grep -c 'c.ckpt: ok, 1 section$' "$T/.err")" -eq 1
    check "info: '1 section' in the summary" "$(ssl-info "$T/d.sslt" | grep -c '^.*d.sslt: 1 section, ')" -eq 1
else
    fail "info: a checkpoint to describe" "test_train --write-dataset or ssl-init-bank failed"
fi
# A terminal on stdin is refused (as zstd), not waited on.
if command -v script >/dev/null 2>&1; then
    script -qec "ssl-info" /dev/null </dev/null >"$T/tty.out" 2>&1; rc=$?
    check "info: stdin a terminal: exit 2" "$rc" -eq 2
    check "info: stdin a terminal: says so" "$(grep -c "^ssl-info: stdin is a terminal: give a file or pipe data" "$T/tty.out")" -eq 1
    script -qec "ssl-info - " /dev/null </dev/null >"$T/tty.out" 2>&1; rc=$?
    check "info: '-' a terminal: exit 2" "$rc" -eq 2
    script -qec "ssl-info '$T/s.sslt'" /dev/null </dev/null >"$T/tty.out" 2>&1; rc=$?
    check "info: a file named, stdin a terminal: fine" "$rc" -eq 0
else
    skip "info: stdin a terminal" "no script(1) (bsdutils)"
fi
done_tests
