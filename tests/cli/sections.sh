# Streams of several sections (cat a.sslt b.sslt, ssl-tensor(5)): ssl-info
# describes every section; every tool that reads a dataset, features or a
# checkpoint refuses a second section with one line naming the file and the
# record where it starts, exit 1, and writes nothing; never reads the first
# silently.
. "$TOP/tests/lib.sh"
gen="$BIN/tests/test_train"
NET="--width 0.0625 --head mlp3 --hidden 8 --dim 4 --threads 2"
ok "a dataset" "$gen" --write-dataset "$T/d.sslt" 12 28 1
ok "a checkpoint" ssl-init-bank -q $NET "$T/d.sslt" -o "$T/c.ckpt"
ok "features" ssl-extract -q --threads 2 "$T/c.ckpt" "$T/d.sslt" -o "$T/f.feat"
cat "$T/d.sslt" "$T/d.sslt" >"$T/dd.sslt"
cat "$T/f.feat" "$T/f.feat" >"$T/ff.feat"
cat "$T/c.ckpt" "$T/d.sslt" >"$T/cd.ckpt"
recs=$(ssl-info --json "$T/d.sslt" | sed -n 's/^{"file":"[^"]*","records":\([0-9]*\),.*/\1/p')
fr=$(ssl-info --json "$T/f.feat" | sed -n 's/^{"file":"[^"]*","records":\([0-9]*\),.*/\1/p')
cr=$(ssl-info --json "$T/c.ckpt" | sed -n 's/^{"file":"[^"]*","records":\([0-9]*\),.*/\1/p')
second="a second section \(kind 'dataset'\)"

ok "ssl-info reads both sections" ssl-info "$T/dd.sslt"
check "ssl-info: 2 sections" "$(grep -c '^section [12]: kind dataset' "$T/.out")" -eq 2
fails "ssl-knn: two sections refused" 1 "^ssl-knn: .*dd.sslt: record $((recs + 1)): $second: a dataset stream is one section$" \
    ssl-knn "$T/dd.sslt" "$T/d.sslt"
fails "ssl-knn: two sections of features refused" 1 "^ssl-knn: .*ff.feat: record $((fr + 1)): a second section \(kind 'features'\): a features stream is one section$" \
    ssl-knn "$T/d.sslt" "$T/ff.feat"
fails "ssl-knn: two sections on stdin refused" 1 "^ssl-knn: <stdin>: record $((fr + 1)): a second section" \
    sh -c "cat '$T/f.feat' '$T/f.feat' | ssl-knn '$T/f.feat' -"
fails "ssl-lineval: two sections refused" 1 "^ssl-lineval: .*ff.feat: record $((fr + 1)): a second section" \
    ssl-lineval --epochs 1 "$T/ff.feat" "$T/f.feat"
fails "ssl-init-bank: two sections refused" 1 "^ssl-init-bank: .*dd.sslt: record $((recs + 1)): $second" \
    ssl-init-bank $NET "$T/dd.sslt" -o "$T/x.ckpt"
fails "ssl-train: a dataset of two sections refused" 1 "^ssl-train: .*dd.sslt: record $((recs + 1)): $second" \
    ssl-train -q --threads 2 --lr 0.1 --epochs 1 "$T/c.ckpt" "$T/dd.sslt" -o "$T/x.ckpt"
fails "ssl-train: a checkpoint of two sections refused" 1 "^ssl-train: .*cd.ckpt: record $((cr + 1)): $second: a checkpoint stream is one section$" \
    ssl-train -q --threads 2 --lr 0.1 --epochs 1 "$T/cd.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "ssl-extract: a dataset of two sections refused (after streaming the first)" 1 \
    "^ssl-extract: .*dd.sslt: record $((recs + 1)): $second" ssl-extract --threads 2 "$T/c.ckpt" "$T/dd.sslt" -o "$T/x.feat"
fails "ssl-extract: a checkpoint of two sections refused" 1 "^ssl-extract: .*cd.ckpt: record $((cr + 1)): $second" \
    ssl-extract --threads 2 "$T/cd.ckpt" "$T/d.sslt" -o "$T/x.feat"
check "nothing written by the refused runs" "$(ls "$T" | grep -c '^x\.')" -eq 0
# What follows a section must be a section: garbage after it is damage.
{ cat "$T/f.feat"; printf 'xx'; } >"$T/ft.feat"
fails "ssl-knn: garbage after the section" 1 "^ssl-knn: .*ft.feat: record $((fr + 1)): trailing garbage" \
    ssl-knn "$T/d.sslt" "$T/ft.feat"
done_tests
