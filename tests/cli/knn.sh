# ssl-knn: results against the brute-force double-precision reference of
# tests/test_knn.c (its --gen mode writes the feature streams and the
# expected values), stdin operands, bad inputs, and the raw-pixel
# Fashion-MNIST figures of REFERENCE.md when the data and ssl-prep exist.
. "$TOP/tests/lib.sh"

G="$T/gen"
mkdir -p "$G"
if ! "$BIN/tests/test_knn" --gen "$G"; then
    fail "knn fixtures" "test_knn --gen failed"
    done_tests
fi

# One line per result, "k sigma top1 top5", from the --json object.
results() { tr '{' '\n' | sed -n -E 's/^"k":([0-9]+),"sigma":([^,]+),"top1":([^,]+),"top5":([^,}]+)[,}].*/\1 \2 \3 \4/p'; }
# Both files hold the same (k, sigma) lines with values within 1e-9.
same_results() {
    awk 'NR == FNR { a[$1 " " $2] = $3 " " $4; n++; next }
         { split(a[$1 " " $2], e, " ");
           if (!(($1 " " $2) in a) || ($3 - e[1])^2 > 1e-18 || ($4 - e[2])^2 > 1e-18) bad++; m++ }
         END { exit !(n == m && n > 0 && !bad) }' "$1" "$2"
}

ok "knn --json runs" ssl-knn -q --json -k 1,10,50,500 --sigma 0.1,0.5 "$G/train.sslt" "$G/test.sslt"
cp "$T/.out" "$T/json"
check "knn --json: one line on stdout" "$(wc -l <"$T/json")" -eq 1
check "knn --json: -q leaves stderr empty" ! -s "$T/.err"
results <"$T/json" >"$T/got"
if same_results "$G/expected" "$T/got"; then pass "knn: all 8 (k, sigma) pairs match the reference"
else fail "knn: all 8 (k, sigma) pairs match the reference" "$(paste "$G/expected" "$T/got" | head -8 | tr '\n' ';')"; fi
want=$(head -1 "$G/expected" | awk '{print $3, $4}')
got=$(sed -n -E 's/^\{"top1":([^,]+),"top5":([^,]+),"k":1,.*/\1 \2/p' "$T/json")
check "knn --json: top1/top5 of the first pair at the top level" "$(echo "$want $got" | awk '{print ($1 - $3)^2 + ($2 - $4)^2 < 1e-18}')" = 1
check "knn --json: sizes" "$(grep -c '"n_train":500,"n_test":120,"dim":32,"nclasses":10' "$T/json")" -eq 1

# Test features on stdin (operand omitted, and '-'), 1 vs 2 threads.
ssl-knn -q --json -k 10 --sigma 0.5 "$G/train.sslt" <"$G/test.sslt" >"$T/a" 2>"$T/a.err"
check "knn: test features from stdin (omitted operand)" "$(results <"$T/a")" = "$(grep '^10 0.5 ' "$G/expected")"
ssl-knn -q --json -k 10 --sigma 0.5 --threads 1 - "$G/test.sslt" <"$G/train.sslt" >"$T/b" 2>"$T/b.err"
check "knn: training features from stdin ('-'), 1 thread, same result" "$(results <"$T/b")" = "$(results <"$T/a")"

# Text table and -v per-class lines.
ok "knn: text table" ssl-knn -q -k 50 --sigma 0.1 "$G/train.sslt" "$G/test.sslt"
check "knn: table has a header and one row" "$(wc -l <"$T/.out")" -eq 2
check "knn: table row" "$(awk 'NR == 2 {print $1, $2, $3}' "$T/.out")" = "50 0.1 $(awk '$1 == 50 && $2 == 0.1 {printf "%.4f", $3}' "$G/expected")"
ok "knn -v: per-class table" ssl-knn -v -k 50 "$G/train.sslt" "$G/test.sslt"
check "knn -v: one line per class" "$(grep -c '^[0-9] *c[0-9] ' "$T/.out")" -eq 10
check "knn -v: timing on stderr, one line" "$(wc -l <"$T/.err")" -eq 1
ok "knn -v --json: per_class array" ssl-knn -q -v --json "$G/train.sslt" "$G/test.sslt"
check "knn -v --json: 10 classes" "$(grep -o '"class":' "$T/.out" | wc -l)" -eq 10
ok "knn: test without class list accepted" ssl-knn -q -k 5 "$G/train.sslt" "$G/test_nolist.sslt"
ok "knn: K = N_train accepted" ssl-knn -q -k 500 "$G/train.sslt" "$G/test.sslt"

# --csv: a header and one row per (k, sigma) pair in the order given, the
# same figures as --json; every field of the fixed columns parses.
CSV_HEAD="k,sigma,labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test"
# Each row: 10 fields; k, sigma, draws, n_* numbers; top1/top5 and their std in [0,1].
csv_rows_ok() {
    awk -F, 'NR == 1 { next }
        { if (NF != 10) bad++
          for (i = 1; i <= 10; i++) if (i != 3 && $i !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) bad++
          if ($3 != "all" && $3 !~ /^[0-9]+$/) bad++
          if ($5 < 0 || $5 > 1 || $7 < 0 || $7 > 1) bad++ }
        END { exit !(NR > 1 && !bad) }' "$1"
}
ok "knn --csv runs" ssl-knn -q --csv -k 1,10,50,500 --sigma 0.1,0.5 "$G/train.sslt" "$G/test.sslt"
cp "$T/.out" "$T/csv"
check "knn --csv: header line" "$(head -1 "$T/csv")" = "$CSV_HEAD"
check "knn --csv: 8 rows" "$(sed 1d "$T/csv" | wc -l)" -eq 8
check "knn --csv: rows in the order given" "$(sed 1d "$T/csv" | cut -d, -f1,2 | tr '\n' ' ')" = "1,0.1 1,0.5 10,0.1 10,0.5 50,0.1 50,0.5 500,0.1 500,0.5 "
if csv_rows_ok "$T/csv"; then pass "knn --csv: every field parses"; else fail "knn --csv: every field parses" "$(head -3 "$T/csv" | tr '\n' ';')"; fi
check "knn --csv: full set: all, 1 draw, std 0, sizes" "$(sed 1d "$T/csv" | cut -d, -f3,4,6,8,9,10 | sort -u)" = "all,1,0,0,500,120"
sed 1d "$T/csv" | awk -F, '{print $1, $2, $5, $7}' >"$T/csv.res"
if same_results "$G/expected" "$T/csv.res"; then pass "knn --csv: figures match the reference"
else fail "knn --csv: figures match the reference" "$(head -3 "$T/csv.res" | tr '\n' ';')"; fi
fails "knn: --csv with --json" 2 "^ssl-knn: .*--csv.*--json" ssl-knn --csv --json "$G/train.sslt" "$G/test.sslt"

# Few labels: class-balanced subsets of N rows per class, mean +- std over
# the draws. The fixture's smallest class is class 4 (c4), 39 rows.
FL="-k 1,10,500 --sigma 0.1,0.5 --labels-per-class 1,10"
ok "knn --labels-per-class --csv" ssl-knn -q --csv $FL --draws 3 "$G/train.sslt" "$G/test.sslt"
cp "$T/.out" "$T/fl"
check "knn few labels --csv: header" "$(head -1 "$T/fl")" = "$CSV_HEAD"
check "knn few labels --csv: 2 x 3 x 2 rows" "$(sed 1d "$T/fl" | wc -l)" -eq 12
if csv_rows_ok "$T/fl"; then pass "knn few labels --csv: every field parses"; else fail "knn few labels --csv: every field parses" "$(head -3 "$T/fl" | tr '\n' ';')"; fi
check "knn few labels --csv: labels_per_class, draws, n_train per row" \
    "$(sed 1d "$T/fl" | cut -d, -f3,4,9,10 | uniq -c | awk '{print $1, $2}' | tr '\n' ' ')" = "6 1,3,10,120 6 10,3,100,120 "
check "knn few labels --csv: k clipped to N x classes" "$(sed 1d "$T/fl" | cut -d, -f1 | tr '\n' ' ')" = "1 1 10 10 10 10 1 1 10 10 100 100 "
check "knn few labels --csv: std over 3 draws is not 0" "$(sed 1d "$T/fl" | awk -F, '$6 > 0.001' | wc -l)" -ge 1
ssl-knn -q --csv $FL --draws 3 "$G/train.sslt" "$G/test.sslt" >"$T/fl2" 2>/dev/null
check "knn few labels: the same seed gives the same bytes" "$(cksum <"$T/fl")" = "$(cksum <"$T/fl2")"
ssl-knn -q --csv $FL --draws 3 --threads 1 - "$G/test.sslt" <"$G/train.sslt" >"$T/fl3" 2>/dev/null
check "knn few labels: 1 thread, training set on stdin, the same bytes" "$(cksum <"$T/fl")" = "$(cksum <"$T/fl3")"
ssl-knn -q --csv $FL --draws 3 --seed 2 "$G/train.sslt" "$G/test.sslt" >"$T/fl4" 2>/dev/null
check "knn few labels: another seed, other figures" "$(cksum <"$T/fl")" != "$(cksum <"$T/fl4")"
# The mean and sample std of 3 draws from the means of 1, 2 and 3 draws
# (draw d of a seed is the same whatever the draw count): d0 = m1,
# d1 = 2 m2 - m1, d2 = 3 m3 - 2 m2.
for d in 1 2 3; do
    ssl-knn -q --csv -k 10 --labels-per-class 10 --draws $d "$G/train.sslt" "$G/test.sslt" 2>/dev/null | sed -n 2p >>"$T/m123"
done
check "knn few labels: mean and sample std over draws" "$(awk -F, '{ m[NR] = $5; s[NR] = $6 }
    END { d0 = m[1]; d1 = 2 * m[2] - m[1]; d2 = 3 * m[3] - 2 * m[2]; mu = (d0 + d1 + d2) / 3
          sd = sqrt(((d0 - mu)^2 + (d1 - mu)^2 + (d2 - mu)^2) / 2)
          print (s[1] == 0 && (mu - m[3])^2 < 1e-18 && (sd - s[3])^2 < 1e-16 && sd > 0.001) }' "$T/m123")" = 1
ok "knn few labels: clipping notice" ssl-knn -k 500 --labels-per-class 1 --draws 1 "$G/train.sslt" "$G/test.sslt"
check "knn few labels: one notice line for the clipped k" "$(grep -c '^ssl-knn: notice: -k 500 clipped to the 10 labelled training rows' "$T/.err")" -eq 1
check "knn few labels: text table shows mean +- std" "$(sed -n 2p "$T/.out" | awk '{print $1, $2, $3, $6, $9}')" = "1 1 10 ± ±"
ok "knn few labels: --json" ssl-knn -q --json -k 10 --labels-per-class 5 "$G/train.sslt" "$G/test.sslt"
check "knn few labels --json: the new keys" "$(grep -c '"n_train":50,"n_test":120,"dim":32,"nclasses":10,"labels_per_class":5,"draws":5,"seed":1,"top1_std":' "$T/.out")" -eq 1
check "knn --json, full set: labels_per_class all" "$(grep -c '"labels_per_class":"all","draws":1,"top1_std":0,"top5_std":0,' "$T/json")" -eq 1
ok "knn few labels: N = the smallest class" ssl-knn -q --csv -k 10 --labels-per-class 39 --draws 2 "$G/train.sslt" "$G/test.sslt"
check "knn few labels: N = the smallest class: n_train" "$(sed -n 2p "$T/.out" | cut -d, -f9)" = 390
fails "knn few labels: more than the smallest class" 1 \
    "^ssl-knn: .*train.sslt: --labels-per-class 40: class 4 \(c4\) has only 39 training images$" \
    ssl-knn --labels-per-class 10,40 "$G/train.sslt" "$G/test.sslt"
fails "knn few labels: N = 0" 2 "^ssl-knn: --labels-per-class: 0 is out of range" \
    ssl-knn --labels-per-class 0 "$G/train.sslt" "$G/test.sslt"
fails "knn few labels: --draws 0" 2 "^ssl-knn: --draws: 0 is out of range" \
    ssl-knn --labels-per-class 1 --draws 0 "$G/train.sslt" "$G/test.sslt"
fails "knn: --draws without --labels-per-class" 2 "^ssl-knn: --draws needs --labels-per-class" \
    ssl-knn --draws 3 "$G/train.sslt" "$G/test.sslt"

# A k larger than the training set (500 rows) is clipped to it, with a
# notice for each clipped k of a list; the k column says the k used, and
# the figures are those of k = 500. The default k (200) on fewer rows too.
ok "knn: k larger than the training set" ssl-knn --csv -k 20,501,900 "$G/train.sslt" "$G/test.sslt"
check "knn: k clipped: the k column" "$(sed 1d "$T/.out" | cut -d, -f1 | tr '\n' ' ')" = "20 500 500 "
check "knn: k clipped: one notice per clipped k" \
    "$(grep -c '^ssl-knn: notice: -k \(501\|900\) clipped to the 500 rows of .*train.sslt$' "$T/.err")" -eq 2
check "knn: k clipped: the figures of k = 500" \
    "$(sed -n 3p "$T/.out" | cut -d, -f5)" = "$(ssl-knn -q --csv -k 500 "$G/train.sslt" "$G/test.sslt" | sed -n 2p | cut -d, -f5)"
ok "knn: the default k on 120 training rows" ssl-knn --csv "$G/test.sslt" "$G/train.sslt"
check "knn: the default k clipped to 120" "$(sed -n 2p "$T/.out" | cut -d, -f1)" = 120
check "knn: the default k clipped: a notice" "$(grep -c '^ssl-knn: notice: -k 200 clipped to the 120 rows' "$T/.err")" -eq 1

# Bad inputs: one line "ssl-knn: FILE: problem", exit 1.
fails "knn: feature dimension mismatch" 1 "^ssl-knn: .*test_dim.sslt: feature dimension 31 .*32" \
    ssl-knn "$G/train.sslt" "$G/test_dim.sslt"
fails "knn: class lists disagree" 1 "^ssl-knn: .*test_classes.sslt: class 9 is .X." \
    ssl-knn "$G/train.sslt" "$G/test_classes.sslt"
fails "knn: checkpoint given as features" 1 "^ssl-knn: .*checkpoint.sslt: .*checkpoint" \
    ssl-knn "$G/train.sslt" "$G/checkpoint.sslt"
fails "knn: NaN feature" 1 "^ssl-knn: .*test_nan.sslt: row 5 .*not finite" ssl-knn "$G/train.sslt" "$G/test_nan.sslt"
fails "knn: zero-row features" 1 "^ssl-knn: .*empty.sslt: " ssl-knn "$G/empty.sslt" "$G/test.sslt"
: >"$T/zero"
fails "knn: empty file" 1 "^ssl-knn: .*zero: " ssl-knn "$G/train.sslt" "$T/zero"
fails "knn: empty stdin" 1 "^ssl-knn: <stdin>: " ssl-knn "$G/train.sslt" </dev/null
fails "knn: missing file" 1 "^ssl-knn: .*no-such: " ssl-knn "$G/train.sslt" "$T/no-such"
head -c 3000 "$G/test.sslt" >"$T/trunc"
fails "knn: truncated stream" 1 "^ssl-knn: .*trunc: " ssl-knn "$G/train.sslt" "$T/trunc"
fails "knn: bad -k" 2 "^ssl-knn: .*-k" ssl-knn -k 0 "$G/train.sslt" "$G/test.sslt"
fails "knn: bad --sigma" 2 "^ssl-knn: .*--sigma" ssl-knn --sigma x "$G/train.sslt" "$G/test.sslt"
fails "knn: three operands" 2 "^ssl-knn: " ssl-knn a b c
fails "knn: no operand" 2 "^ssl-knn: " ssl-knn
fails "knn: both operands stdin" 2 "^ssl-knn: .*standard input" ssl-knn - -

# Raw pixels of Fashion-MNIST (REFERENCE.md section 1, numpy float64):
# k=200 sigma=0.1 top-1 0.7885, k=20 sigma=0.07 top-1 0.8459, within 0.0005.
FM=/usr/share/datasets/fashion-mnist
if [ ! -x "$BIN/ssl-prep" ]; then
    skip "knn: Fashion-MNIST raw pixels" "$BIN/ssl-prep not built"
elif [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then
    skip "knn: Fashion-MNIST raw pixels" "$FM not installed"
elif [ -n "${SSL_TEST_SANITIZER:-}" ]; then
    # 60000 x 10000 x 784 products through the instrumented GEMM: over 3
    # minutes under ASan, for a path the small fixtures above already cover.
    skip "knn: Fashion-MNIST raw pixels" "sanitizer build (make asan); the plain run checks them"
elif ssl-prep -q "$FM" -o "$T/fm-train.sslt" 2>"$T/prep.err" &&
     ssl-prep -q --split test "$FM" -o "$T/fm-test.sslt" 2>>"$T/prep.err"; then
    ssl-knn -q --json -k 200,20 --sigma 0.1,0.07 "$T/fm-train.sslt" "$T/fm-test.sslt" >"$T/fm" 2>"$T/fm.err"
    results <"$T/fm" >"$T/fm.res"
    check "knn: Fashion-MNIST k=200 sigma=0.1 top-1 0.7885 +- 0.0005 (got $(awk '$1 == 200 && $2 == 0.1 {print $3}' "$T/fm.res"))" \
        "$(awk '$1 == 200 && $2 == 0.1 {print ($3 - 0.7885)^2 <= 0.0005^2}' "$T/fm.res")" = 1
    check "knn: Fashion-MNIST k=20 sigma=0.07 top-1 0.8459 +- 0.0005 (got $(awk '$1 == 20 && $2 == 0.07 {print $3}' "$T/fm.res"))" \
        "$(awk '$1 == 20 && $2 == 0.07 {print ($3 - 0.8459)^2 <= 0.0005^2}' "$T/fm.res")" = 1
else
    fail "knn: Fashion-MNIST raw pixels" "ssl-prep failed: $(head -c 300 "$T/prep.err")"
fi
# --version: "ssl-knn VERSION (COMMIT)" from a checkout, the same every run.
ok "knn --version" ssl-knn --version
cp "$T/.out" "$T/version"
check "knn --version: one line, the VERSION file" "$(wc -l <"$T/version") $(cut -d' ' -f1,2 "$T/version")" = "1 ssl-knn $(cat "$TOP/VERSION")"
ssl-knn --version >"$T/version2" 2>&1
check "knn --version: the same bytes twice" "$(cksum <"$T/version")" = "$(cksum <"$T/version2")"
if [ -e "$TOP/.git" ] && command -v git >/dev/null 2>&1; then
    c=$(sed -n -E 's/^ssl-knn [^ ]+ \((.*-g)?([0-9a-f]{4,})(-dirty)?\)$/\2/p' "$T/version")
    check "knn --version: a commit of this checkout ($(cat "$T/version"))" "$(git -C "$TOP" cat-file -t "${c:-none}" 2>/dev/null)" = commit
else
    skip "knn --version: commit" "not a git checkout"
fi
done_tests
