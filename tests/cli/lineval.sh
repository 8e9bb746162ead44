# ssl-lineval: accuracies against the plain double-precision training of
# tests/test_lineval.c (its --gen mode writes the feature streams and the
# expected values), repeatability, --save, -v, bad inputs and flags.
. "$TOP/tests/lib.sh"

G="$T/gen"
mkdir -p "$G"
if ! "$BIN/tests/test_lineval" --gen "$G"; then
    fail "lineval fixtures" "test_lineval --gen failed"
    done_tests
fi
R="--epochs 8 --batch 32 --wd 1e-3 --momentum 0.9 --seed 5"
field() { sed -n -E "s/.*\"$1\":([^,}]+).*/\\1/p" "$2"; }
# within one test item (1/200) of the expected value: float vs double training
near() { echo "$1 $2" | awk '{ exit !(($1 - $2)^2 <= (1 / 200 + 1e-9)^2) }'; }

for norm in none l2; do
    lr=$(awk -v n=$norm '$1 == n {print $2}' "$G/expected")
    ok "lineval $norm: --json runs" ssl-lineval -q --json $R --lr "$lr" --normalize $norm "$G/train.sslt" "$G/test.sslt"
    cp "$T/.out" "$T/$norm.json"
    check "lineval $norm: one JSON line, nothing on stderr" "$(wc -l <"$T/$norm.json")$(wc -c <"$T/.err")" = 10
    want=$(awk -v n=$norm '$1 == n {print $3}' "$G/expected")
    got=$(field top1 "$T/$norm.json")
    if near "$got" "$want"; then pass "lineval $norm: test top1 $got matches the plain implementation"
    else fail "lineval $norm: test top1 matches the plain implementation" "$got vs $want"; fi
    want=$(awk -v n=$norm '$1 == n {print $4}' "$G/expected")
    got=$(field train_top1 "$T/$norm.json")
    if near "$got" "$want"; then pass "lineval $norm: train top1 $got matches the plain implementation"
    else fail "lineval $norm: train top1 matches the plain implementation" "$got vs $want"; fi
    check "lineval $norm: top5 is a fraction" "$(field top5 "$T/$norm.json" | awk '{print ($1 >= 0 && $1 <= 1)}')" = 1
done

# Same seed and threads: the same output; other seed: runs too.
ssl-lineval -q --json $R --lr 3 "$G/train.sslt" "$G/test.sslt" >"$T/r1" 2>/dev/null
ssl-lineval -q --json $R --lr 3 "$G/train.sslt" "$G/test.sslt" >"$T/r2" 2>/dev/null
check "lineval: repeatable" "$(cat "$T/r1")" = "$(cat "$T/r2")"
check "lineval: --lr 3 with default l2 equals the l2 run" "$(field top1 "$T/r1")" = "$(field top1 "$T/l2.json")"
ssl-lineval -q --json $R --lr 3 --threads 1 - "$G/test.sslt" <"$G/train.sslt" >"$T/r3" 2>/dev/null
check "lineval: training features from stdin, 1 thread" "$(field top1 "$T/r3")" = "$(field top1 "$T/r1")"
ok "lineval: standardize runs" ssl-lineval -q --json $R --lr 0.1 --normalize standardize "$G/train.sslt" "$G/test.sslt"

# Text output, -v per-epoch lines.
ok "lineval: text output" ssl-lineval -q $R --lr 3 "$G/train.sslt" "$G/test.sslt"
check "lineval: text has train_top1, top1, top5" "$(awk '{print $1}' "$T/.out" | tr '\n' ' ')" = "train_top1 top1 top5 "
ok "lineval -v" ssl-lineval -v $R --lr 3 "$G/train.sslt" "$G/test.sslt"
check "lineval -v: one stderr line per epoch and a summary" "$(grep -c '^ssl-lineval: epoch [0-9]*/8 ' "$T/.err") $(wc -l <"$T/.err")" = "8 9"

# --csv: a header and one row with the figures of --json and the options.
ok "lineval --csv" ssl-lineval -q --csv $R --lr 3 "$G/train.sslt" "$G/test.sslt"
cp "$T/.out" "$T/csv"
check "lineval --csv: header" "$(head -1 "$T/csv")" = "labels_per_class,draws,top1,top1_std,top5,top5_std,n_train,n_test,epochs,lr,wd,batch,normalize,seed"
check "lineval --csv: one row of 14 fields" "$(sed 1d "$T/csv" | awk -F, '{print NF}' | tr '\n' ' ')" = "14 "
check "lineval --csv: top1 and top5 as --json gives them" "$(sed 1d "$T/csv" | cut -d, -f3,5)" = "$(field top1 "$T/r1"),$(field top5 "$T/r1")"
check "lineval --csv: the rest of the row" "$(sed 1d "$T/csv" | cut -d, -f1,2,4,6-)" = "all,1,0,0,300,200,8,3,0.001,32,l2,5"
fails "lineval: --csv with --json" 2 "^ssl-lineval: .*--csv.*--json" ssl-lineval --csv --json "$G/train.sslt" "$G/test.sslt"

# Few labels: the classifier trained on class-balanced subsets, mean +- std
# over the draws. The fixture's smallest class is class 6 (g), 42 rows.
ok "lineval --labels-per-class --csv" ssl-lineval -q --csv $R --lr 3 --labels-per-class 1,10 --draws 3 "$G/train.sslt" "$G/test.sslt"
cp "$T/.out" "$T/fl"
check "lineval few labels --csv: header and 2 rows" "$(head -1 "$T/fl")$(sed 1d "$T/fl" | wc -l)" = "$(head -1 "$T/csv")2"
check "lineval few labels --csv: labels_per_class, draws, n_train, n_test; the options" \
    "$(sed 1d "$T/fl" | cut -d, -f1,2,7- | tr '\n' ' ')" = "1,3,7,200,8,3,0.001,32,l2,5 10,3,70,200,8,3,0.001,32,l2,5 "
check "lineval few labels --csv: means and std are fractions, some std > 0" \
    "$(sed 1d "$T/fl" | awk -F, '$3 >= 0 && $3 <= 1 && $4 >= 0 && $4 < 1 && $5 >= 0 && $5 <= 1 { n++; if ($4 > 0.001) s++ } END { print n, (s > 0) }')" = "2 1"
ssl-lineval -q --csv $R --lr 3 --labels-per-class 1,10 --draws 3 "$G/train.sslt" "$G/test.sslt" >"$T/fl2" 2>/dev/null
check "lineval few labels: the same seed gives the same bytes" "$(cksum <"$T/fl")" = "$(cksum <"$T/fl2")"
ssl-lineval -q --csv $R --lr 3 --labels-per-class 1,10 --draws 3 --seed 6 "$G/train.sslt" "$G/test.sslt" >"$T/fl3" 2>/dev/null
check "lineval few labels: another seed, other figures" "$(sed 1d "$T/fl" | cut -d, -f3-6)" != "$(sed 1d "$T/fl3" | cut -d, -f3-6)"
ok "lineval few labels: --json" ssl-lineval -q --json $R --lr 3 --labels-per-class 10 --draws 2 "$G/train.sslt" "$G/test.sslt"
check "lineval few labels --json: the new keys and one result" \
    "$(grep -c '"n_train":70,.*"seed":5,"labels_per_class":10,"draws":2,"top1_std":.*"results":\[{"labels_per_class":10,"draws":2,"n_train":70,"top1":[^}]*}\]}$' "$T/.out")" -eq 1
check "lineval --json, full set: labels_per_class all" "$(grep -c '"labels_per_class":"all","draws":1,"top1_std":0,"top5_std":0,"train_top1_std":0}$' "$T/r1")" -eq 1
ok "lineval few labels: text" ssl-lineval -q $R --lr 3 --labels-per-class 5 --draws 2 "$G/train.sslt" "$G/test.sslt"
check "lineval few labels: text shows mean +- std" "$(sed -n 2p "$T/.out" | awk '{print $1, $2, $4, $7, $10}')" = "5 2 ± ± ±"
ok "lineval few labels: N = the smallest class" ssl-lineval -q --csv $R --labels-per-class 42 --draws 1 "$G/train.sslt" "$G/test.sslt"
check "lineval few labels: one draw has std 0" "$(sed -n 2p "$T/.out" | cut -d, -f2,4,6,7)" = "1,0,0,294"
fails "lineval few labels: more than the smallest class" 1 \
    "^ssl-lineval: .*train.sslt: --labels-per-class 43: class 6 \(g\) has only 42 training images$" \
    ssl-lineval --labels-per-class 43 "$G/train.sslt" "$G/test.sslt"
fails "lineval few labels: N = 0" 2 "^ssl-lineval: --labels-per-class: 0 is out of range" \
    ssl-lineval --labels-per-class 0 "$G/train.sslt" "$G/test.sslt"
fails "lineval few labels: --draws 0" 2 "^ssl-lineval: --draws: 0 is out of range" \
    ssl-lineval --labels-per-class 1 --draws 0 "$G/train.sslt" "$G/test.sslt"
fails "lineval: --draws without --labels-per-class" 2 "^ssl-lineval: --draws needs --labels-per-class" \
    ssl-lineval --draws 2 "$G/train.sslt" "$G/test.sslt"
fails "lineval: --save with --labels-per-class" 2 "^ssl-lineval: --save .*--labels-per-class" \
    ssl-lineval --save "$T/x.sslt" --labels-per-class 2 "$G/train.sslt" "$G/test.sslt"

# --save: a classifier stream, written atomically.
ok "lineval --save" ssl-lineval -q $R --lr 3 --save "$T/cls.sslt" "$G/train.sslt" "$G/test.sslt"
check "lineval --save: file written" -s "$T/cls.sslt"
check "lineval --save: no temporary left" "$(ls "$T" | grep -c 'cls.sslt.')" -eq 0
if [ -x "$BIN/ssl-info" ]; then
    ssl-info "$T/cls.sslt" >"$T/info" 2>&1
    check "lineval --save: kind classifier" "$(grep -c 'classifier' "$T/info")" -ge 1
    check "lineval --save: weight [7, 6]" "$(grep -c 'weight.*\[7, 6\]' "$T/info")" -eq 1
else
    skip "lineval --save: contents" "$BIN/ssl-info not built"
fi
fails "lineval --save: unwritable place" 1 "^ssl-lineval: .*no-such-dir" \
    ssl-lineval -q $R --save "$T/no-such-dir/c.sslt" "$G/train.sslt" "$G/test.sslt"
check "lineval --save failure: nothing on stdout" ! -s "$T/.out"

# Bad inputs: one line "ssl-lineval: FILE: problem", exit 1.
fails "lineval: feature dimension mismatch" 1 "^ssl-lineval: .*test_dim.sslt: feature dimension 5 .*6" \
    ssl-lineval "$G/train.sslt" "$G/test_dim.sslt"
fails "lineval: class lists disagree" 1 "^ssl-lineval: .*test_classes.sslt: class 6 is .h." \
    ssl-lineval "$G/train.sslt" "$G/test_classes.sslt"
fails "lineval: checkpoint given as features" 1 "^ssl-lineval: .*checkpoint.sslt: .*checkpoint" \
    ssl-lineval "$G/checkpoint.sslt" "$G/test.sslt"
fails "lineval: infinite feature" 1 "^ssl-lineval: .*test_inf.sslt: row 7 .*not finite" ssl-lineval "$G/train.sslt" "$G/test_inf.sslt"
fails "lineval: zero-row features" 1 "^ssl-lineval: .*empty.sslt: " ssl-lineval "$G/train.sslt" "$G/empty.sslt"
: >"$T/zero"
fails "lineval: empty file" 1 "^ssl-lineval: .*zero: " ssl-lineval "$T/zero" "$G/test.sslt"
fails "lineval: missing file" 1 "^ssl-lineval: .*no-such: " ssl-lineval "$G/train.sslt" "$T/no-such"
fails "lineval: bad --normalize" 2 "^ssl-lineval: .*--normalize" ssl-lineval --normalize l3 a b
fails "lineval: bad --lr" 2 "^ssl-lineval: .*--lr" ssl-lineval --lr -1 a b
fails "lineval: bad --epochs" 2 "^ssl-lineval: .*--epochs" ssl-lineval --epochs 0 a b
fails "lineval: bad --momentum" 2 "^ssl-lineval: .*--momentum" ssl-lineval --momentum 1 a b
fails "lineval: --save -" 2 "^ssl-lineval: .*--save" ssl-lineval --save - a b
fails "lineval: one operand" 2 "^ssl-lineval: " ssl-lineval "$G/train.sslt"
fails "lineval: both operands stdin" 2 "^ssl-lineval: .*standard input" ssl-lineval - -
# --version: "ssl-lineval VERSION (COMMIT)" from a checkout, the same every run.
ok "lineval --version" ssl-lineval --version
cp "$T/.out" "$T/version"
check "lineval --version: one line, the VERSION file" "$(wc -l <"$T/version") $(cut -d' ' -f1,2 "$T/version")" = "1 ssl-lineval $(cat "$TOP/VERSION")"
ssl-lineval --version >"$T/version2" 2>&1
check "lineval --version: the same bytes twice" "$(cksum <"$T/version")" = "$(cksum <"$T/version2")"
if [ -e "$TOP/.git" ] && command -v git >/dev/null 2>&1; then
    c=$(sed -n -E 's/^ssl-lineval [^ ]+ \((.*-g)?([0-9a-f]{4,})(-dirty)?\)$/\2/p' "$T/version")
    check "lineval --version: a commit of this checkout ($(cat "$T/version"))" "$(git -C "$TOP" cat-file -t "${c:-none}" 2>/dev/null)" = commit
else
    skip "lineval --version: commit" "not a git checkout"
fi
done_tests
