# ssl-train from the shell: resume equivalence bit for bit (2 epochs ==
# 1 epoch + a continued run), refusal of changed critical settings (the
# SqrtKL variant flags among them) and of
# another dataset, --max-steps, JSON logs, the kNN monitor, clipping
# notices, a non-finite loss (exit 1, checkpoint unchanged), SIGINT (exit
# 130 with a loadable checkpoint), usage errors. Tiny synthetic data.
. "$TOP/tests/lib.sh"
gen="$BIN/tests/test_train"
NET="--width 0.125 --head mlp3 --hidden 32 --dim 16 --threads 2"
TR="--batch 8 -k 8 --lr 0.05 --threads 2 -q"
ok "make a dataset" "$gen" --write-dataset "$T/d.sslt" 24 28 1
ok "make another dataset" "$gen" --write-dataset "$T/e.sslt" 32 28 1
ok "init" ssl-init-bank $NET --batch 8 --seed 1 "$T/d.sslt" -o "$T/0.ckpt"

ok "2 epochs in one run" ssl-train $TR --epochs 2 "$T/0.ckpt" "$T/d.sslt" -o "$T/a.ckpt"
ok "1 epoch" ssl-train $TR --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/b.ckpt"
cp "$T/b.ckpt" "$T/b1.ckpt"
ok "continue to epoch 2 in place" ssl-train --threads 2 -q --epochs 2 --in-place "$T/b.ckpt" "$T/d.sslt"
check "2 epochs == 1 + 1, bit for bit" "$(cmp "$T/a.ckpt" "$T/b.ckpt" >/dev/null 2>&1 && echo same)" = same
ssl-info --json "$T/b.ckpt" >"$T/b.json"
check "continued checkpoint at epoch 2, step 6" "$(grep -c '"epoch":2,"step":6,' "$T/b.json")" -eq 1
check "settings stored with the run" "$(grep -c '"train":{"recipe":"paper","negatives":"k","k_negatives":8' "$T/b.json")" -eq 1
check "critical keys stored" "$(grep -c '"critical":\["recipe"' "$T/b.json")" -eq 1

fails "changed tau refused" 1 "b1.ckpt: --tau: 0.2 in the checkpoint, 0.1 now" \
    ssl-train --tau 0.1 --epochs 2 "$T/b1.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "changed recipe refused" 1 "--recipe: paper in the checkpoint, npid now" \
    ssl-train --recipe npid --epochs 2 "$T/b1.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "changed seed refused" 1 "--seed" ssl-train --seed 5 --epochs 2 "$T/b1.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
check "nothing written when refused" ! -e "$T/x.ckpt"

# SqrtKL variants: recorded with the run, critical on resume, l1/l2 need --kl-keepgrad.
check "the default SqrtKL variant is recorded" \
    "$(grep -c '"alpha":0.5,"kl_keepgrad":0,"kl_reverse":1,"kl_terms":"both",' "$T/b.json")" -eq 1
check "the SqrtKL variant keys are critical" \
    "$(grep -c '"critical":\[[^]]*"kl_keepgrad","kl_reverse","kl_terms"' "$T/b.json")" -eq 1
ok "--kl-keepgrad --kl-terms l2 accepted" ssl-train $TR --epochs 1 --max-steps 2 --kl-keepgrad \
    --kl-terms l2 "$T/0.ckpt" "$T/d.sslt" -o "$T/kl.ckpt"
check "--kl-keepgrad --kl-terms l2 recorded" \
    "$(ssl-info --json "$T/kl.ckpt" | grep -c '"kl_keepgrad":1,"kl_reverse":1,"kl_terms":"l2",')" -eq 1
ok "--kl-forward --kl-keepgrad accepted" ssl-train $TR --epochs 1 --max-steps 2 --kl-forward \
    --kl-keepgrad "$T/0.ckpt" "$T/d.sslt" -o "$T/kf.ckpt"
check "--kl-forward recorded as kl_reverse 0" \
    "$(ssl-info --json "$T/kf.ckpt" | grep -c '"kl_keepgrad":1,"kl_reverse":0,"kl_terms":"both",')" -eq 1
fails "changed --kl-keepgrad refused" 1 "b1.ckpt: --kl-keepgrad: 0 in the checkpoint, 1 now" \
    ssl-train --kl-keepgrad --epochs 2 "$T/b1.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "changed direction refused" 1 "b1.ckpt: --kl-forward \(kl_reverse\): 1 in the checkpoint, 0 now" \
    ssl-train --kl-forward --epochs 2 "$T/b1.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "--kl-terms l1 without --kl-keepgrad" 2 "^ssl-train: --kl-terms: l1 needs --kl-keepgrad" \
    ssl-train -q --kl-terms l1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "--kl-terms l2 with --kl-forward" 2 "--kl-terms: l2 needs --kl-keepgrad and not --kl-forward" \
    ssl-train -q --kl-keepgrad --kl-forward --kl-terms l2 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "bad --kl-terms" 2 "--kl-terms: 'l3'" ssl-train --kl-terms l3 "$T/0.ckpt" "$T/d.sslt"
check "nothing written by the refused SqrtKL runs" ! -e "$T/x.ckpt"
fails "another dataset refused" 1 "e.sslt: 32 images .* built from 24 images" \
    ssl-train $TR "$T/0.ckpt" "$T/e.sslt" -o "$T/x.ckpt"
fails "a dataset is not a checkpoint" 1 "d.sslt: not a checkpoint" \
    ssl-train $TR "$T/d.sslt" "$T/d.sslt" -o "$T/x.ckpt"
fails "missing operand" 2 "CKPT and DATA" ssl-train "$T/0.ckpt"
fails "stdin twice" 2 "both be stdin" ssl-train - -
fails "stdin checkpoint needs -o" 2 "give -o" ssl-train - "$T/d.sslt"
fails "stdin checkpoint cannot be --in-place" 2 "--in-place: CKPT is stdin: give -o FILE" \
    ssl-train --in-place - "$T/d.sslt"
fails "the output must be named" 2 "^ssl-train: give -o FILE for the trained checkpoint, or --in-place to write over CKPT" \
    ssl-train $TR --epochs 1 "$T/b1.ckpt" "$T/d.sslt"
fails "-o and --in-place exclude each other" 2 "-o and --in-place exclude each other" \
    ssl-train $TR --in-place "$T/b1.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
check "nothing written without -o" "$(cmp "$T/b1.ckpt" "$T/b.ckpt" >/dev/null 2>&1 || echo differs)" = differs

# --epochs: at least 1; a checkpoint already there trains nothing and says
# so; a changed cosine schedule on resume gets a notice.
fails "--epochs 0 refused" 2 "^ssl-train: --epochs: 0 is out of range \[1, " \
    ssl-train $TR --epochs 0 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
cp "$T/a.ckpt" "$T/a0.ckpt"
fails "nothing to do: a notice" 0 "^ssl-train: notice: nothing to do: .*a.ckpt is at epoch 2 \(step 6\) and --epochs is 1; nothing written$" \
    ssl-train --threads 2 --epochs 1 "$T/a.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
check "nothing to do: nothing written" ! -e "$T/x.ckpt"
fails "nothing to do at the end: a notice" 0 "nothing to do: .*a.ckpt is at epoch 2 \(step 6\) and --epochs is 2" \
    ssl-train --threads 2 --epochs 2 --in-place "$T/a.ckpt" "$T/d.sslt"
check "nothing to do: the checkpoint untouched" "$(cmp "$T/a.ckpt" "$T/a0.ckpt" >/dev/null 2>&1 && echo same)" = same
ssl-train --threads 2 --epochs 4 "$T/a.ckpt" "$T/d.sslt" -o "$T/a4.ckpt" 2>"$T/a4.err"
check "more epochs on resume: the cosine notice" "$(grep -c '^ssl-train: notice: --epochs 4 on a run planned for 2 (now at epoch 2): the cosine schedule is recomputed for 4 epochs, so epoch 3 runs at lr 0.025 and the run differs from one planned for 4 epochs from the start$' "$T/a4.err")" -eq 1
check "more epochs on resume: trained on to epoch 4" "$(ssl-info --json "$T/a4.ckpt" | grep -c '"epoch":4,"step":12,')" -eq 1
ssl-train $TR --epochs 1 --schedule step --milestones 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/st.ckpt"
check "more epochs of a step schedule (milestones in epochs): no notice" \
    "$(ssl-train --threads 2 --epochs 2 "$T/st.ckpt" "$T/d.sslt" -o "$T/x.ckpt" 2>&1 | grep -c 'notice')" -eq 0
check "... and it trains on" "$(ssl-info --json "$T/x.ckpt" | grep -c '"epoch":2,"step":6,')" -eq 1

# The recipe's lr belongs to its batch: scaled linearly, with a notice,
# and recorded; an explicit --lr is taken as given.
ssl-train --batch 8 -k 8 --threads 2 --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/lr.ckpt" 2>"$T/lr.err"
check "default lr: scaled to the batch, a notice" "$(grep -c '^ssl-train: notice: --lr 0.015625: the paper recipe.s 1 at batch 512, scaled linearly to batch 8 (give --lr to set it)$' "$T/lr.err")" -eq 1
check "default lr: the scaled lr recorded" "$(ssl-info --json "$T/lr.ckpt" | grep -c '"batch":8,"lr":0.015625,')" -eq 1
ssl-train --recipe npid --batch 8 --threads 2 --epochs 1 --max-steps 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/lrn.ckpt" 2>"$T/lrn.err"
check "default lr, npid: 0.03 x 8 / 128" "$(grep -c 'notice: --lr 0.001875: the npid recipe.s 0.03 at batch 128, scaled linearly to batch 8' "$T/lrn.err")" -eq 1
check "an explicit --lr: no notice about it" "$(ssl-train $TR --epochs 1 --max-steps 1 -v "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt" 2>&1 | grep -c 'notice: --lr')" -eq 0
check "an explicit --lr: recorded as given" "$(ssl-info --json "$T/x.ckpt" | grep -c '"batch":8,"lr":0.05,')" -eq 1
rm -f "$T/x.ckpt"

# --keep-every N: the checkpoint of every N-th epoch kept beside OUT,
# the same bits as a run stopped there.
ok "--keep-every 2" ssl-train $TR --epochs 3 --keep-every 2 "$T/0.ckpt" "$T/d.sslt" -o "$T/k.ckpt"
check "--keep-every 2: k.e0002.ckpt kept, no other" "$(ls "$T" | grep -c '^k\.')" -eq 2
ok "a run stopped at epoch 2" ssl-train $TR --epochs 3 --max-steps 6 "$T/0.ckpt" "$T/d.sslt" -o "$T/k6.ckpt"
check "--keep-every: the kept copy = the checkpoint at epoch 2" "$(cmp "$T/k.e0002.ckpt" "$T/k6.ckpt" >/dev/null 2>&1 && echo same)" = same
ok "--keep-every on resume, without an extension" ssl-train $TR --epochs 4 --keep-every 1 "$T/k.ckpt" "$T/d.sslt" -o "$T/kk"
check "--keep-every on resume: only the epochs of this run" "$(ls "$T" | grep '^kk' | tr '\n' ' ')" = "kk kk.e0004 "
fails "--keep-every 0 refused" 2 "^ssl-train: --keep-every: 0 is out of range" \
    ssl-train $TR --keep-every 0 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "bad negatives" 2 "--negatives: 'some'" ssl-train --negatives some "$T/0.ckpt" "$T/d.sslt"
fails "bad lr" 2 "--lr" ssl-train --lr x "$T/0.ckpt" "$T/d.sslt"
ok "checkpoint from stdin" sh -c "ssl-train $TR --epochs 1 --max-steps 1 - '$T/d.sslt' -o '$T/s.ckpt' < '$T/0.ckpt'"

ok "--max-steps with a log and the monitor" ssl-train $TR --epochs 3 --max-steps 4 \
    --log "$T/run.jsonl" --monitor "$T/e.sslt" --monitor-k 5 "$T/0.ckpt" "$T/d.sslt" -o "$T/m.ckpt"
check "stopped at step 4" "$(ssl-info --json "$T/m.ckpt" | grep -c '"epoch":1,"step":4,')" -eq 1
check "one step line per step" "$(grep -c '"event":"step"' "$T/run.jsonl")" -eq 4
check "step lines carry the fields" "$(grep -c '"loss":.*"inst_acc":.*"lr":.*"img_s":.*"step_img_s":.*"eta_s":.*"rss_mib":' "$T/run.jsonl")" -eq 4
ssl-train $TR --epochs 1 --max-steps 1 -v --monitor "$T/e.sslt" "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt" 2>"$T/mk.err"
check "--monitor-k clipped to N with a notice" "$(grep -c '^ssl-train: notice: --monitor-k 200 clipped to the 24 images of .*d.sslt$' "$T/mk.err")" -eq 1
rm -f "$T/x.ckpt"
check "an epoch line with the kNN monitor" "$(grep -c '"event":"epoch","epoch":1,"step":3,.*"knn_top1":0\.[0-9]' "$T/run.jsonl")" -eq 1
check "the epoch line carries mean ce and kl" "$(grep -c '"event":"epoch",.*"loss":[0-9.e+-]*,"ce":[0-9.e+-]*,"kl":[0-9.e+-]*,' "$T/run.jsonl")" -eq 1

# --monitor-every-epochs 2 over 5 epochs: the monitor after epochs 2, 4 and
# 5 (the last), null after 1 and 3; training itself is unchanged.
ok "--monitor-every-epochs 2" ssl-train $TR --epochs 5 --log "$T/me.jsonl" \
    --monitor "$T/e.sslt" --monitor-k 5 --monitor-every-epochs 2 "$T/0.ckpt" "$T/d.sslt" -o "$T/me.ckpt"
check "--monitor-every-epochs: kNN after epochs 2, 4, 5 only" \
    "$(sed -n 's/.*"event":"epoch","epoch":\([0-9]*\),.*"knn_top1":\([0-9n]\).*/\1\2/p' "$T/me.jsonl" | tr '\n' ' ')" = "1n 20 3n 40 50 "
ok "the same run, monitor every epoch" ssl-train $TR --epochs 5 \
    --monitor "$T/e.sslt" --monitor-k 5 "$T/0.ckpt" "$T/d.sslt" -o "$T/me1.ckpt"
check "--monitor-every-epochs leaves training alone" "$(cmp "$T/me.ckpt" "$T/me1.ckpt" >/dev/null 2>&1 && echo same)" = same
fails "--monitor-every-epochs 0 refused" 2 "^ssl-train: --monitor-every-epochs: 0 is out of range" \
    ssl-train $TR --monitor "$T/e.sslt" --monitor-every-epochs 0 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"

# The backbone monitor: the same top-1 as ssl-extract + ssl-knn of the
# checkpoint after epoch 1 (the monitor runs before the next epoch).
ok "--monitor-backbone" ssl-train $TR --epochs 2 --max-steps 3 --log "$T/bb.jsonl" \
    --monitor "$T/e.sslt" --monitor-k 5 --monitor-backbone "$T/0.ckpt" "$T/d.sslt" -o "$T/bb.ckpt"
ok "extract the training images" ssl-extract -q --threads 2 "$T/bb.ckpt" "$T/d.sslt" -o "$T/bb.tr.feat"
ok "extract the monitor images" ssl-extract -q --threads 2 "$T/bb.ckpt" "$T/e.sslt" -o "$T/bb.te.feat"
knnbb=$(ssl-knn -q --csv -k 5 --sigma 0.1 "$T/bb.tr.feat" "$T/bb.te.feat" | awk -F, 'NR == 2 { print $5 }')
logbb=$(sed -n 's/.*"event":"epoch".*"knn_backbone_top1":\([0-9.e+-]*\),.*/\1/p' "$T/bb.jsonl")
check "backbone monitor = ssl-knn of the extracted features ($logbb, $knnbb)" \
    "$(awk -v a="$logbb" -v b="$knnbb" 'BEGIN { print (a != "" && a + 0 == b + 0) }')" -eq 1
check "no backbone field without the switch" "$(grep -c knn_backbone "$T/run.jsonl")" -eq 0
fails "--monitor-backbone needs --monitor" 2 "needs --monitor" \
    ssl-train $TR --monitor-backbone "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"

ssl-train --batch 100 -k 50 --epochs 1 --threads 2 "$T/0.ckpt" "$T/d.sslt" -o "$T/c.ckpt" 2>"$T/c.err"
check "batch clipped with a notice" "$(grep -c 'notice: --batch 100 clipped to the 24 images' "$T/c.err")" -eq 1
check "k clipped: in-batch negatives" "$(grep -c 'notice: --negatives k: no image outside the batch' "$T/c.err")" -eq 1
ssl-train --batch 8 -k 50 --epochs 1 --threads 2 "$T/0.ckpt" "$T/d.sslt" -o "$T/c.ckpt" 2>"$T/c.err"
check "k clipped to N - batch" "$(grep -c 'notice: --k-negatives 50 clipped to 16' "$T/c.err")" -eq 1

cp "$T/0.ckpt" "$T/n.ckpt"
fails "a huge lr ends in a non-finite loss or gradient" 1 "is not finite at step [0-9]+.*last good" \
    ssl-train $TR --epochs 3 --lr 1e30 --schedule constant --in-place "$T/n.ckpt" "$T/d.sslt"
check "the last good checkpoint stays" "$(cmp "$T/n.ckpt" "$T/0.ckpt" >/dev/null 2>&1 && echo same)" = same

ssl-train --batch 8 -k 8 --lr 0.05 --threads 2 -v --epochs 1 --ckpt-every-steps 2 "$T/0.ckpt" "$T/d.sslt" -o "$T/e.ckpt" 2>"$T/e.err"
check "--ckpt-every-steps 2: written at step 2 and at the epoch end" \
    "$(grep -cE 'checkpoint written: .*e.ckpt \(step (2|3)\)' "$T/e.err")" -eq 2

ssl-train --batch 8 -k 8 --lr 0.05 --threads 2 -v --epochs 3 --ckpt-every-epochs 2 "$T/0.ckpt" "$T/d.sslt" -o "$T/ce.ckpt" 2>"$T/ce.err"
check "--ckpt-every-epochs 2: written after epoch 2 (step 6) and the last (step 9) only" \
    "$(grep -E 'checkpoint written: .*ce.ckpt' "$T/ce.err" | sed 's/.*(step \([0-9]*\))/\1/' | tr '\n' ' ')" = "6 9 "
check "--ckpt-every-epochs 2: the checkpoint of writing every epoch" \
    "$(cmp "$T/ce.ckpt" "$T/k.ckpt" >/dev/null 2>&1 && echo same)" = same
fails "--ckpt-every-epochs 0 refused" 2 "^ssl-train: --ckpt-every-epochs: 0 is out of range" \
    ssl-train $TR --ckpt-every-epochs 0 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
check "the epoch line carries the monitor's and the saves' seconds" \
    "$(grep -c '"event":"epoch",.*"monitor_s":[0-9.e+-]*,"save_s":[0-9.e+-]*,' "$T/run.jsonl")" -eq 1

# --deterministic: the thread count goes with the run.
D="--batch 8 -k 8 --lr 0.05 -q --deterministic"
ok "deterministic, 1 thread, 2 epochs" ssl-train $D --threads 1 --epochs 2 "$T/0.ckpt" "$T/d.sslt" -o "$T/da.ckpt"
ok "deterministic, 1 thread, 1 epoch" ssl-train $D --threads 1 --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/db.ckpt"
fails "deterministic resume refuses other threads" 1 "--threads: 1 in the checkpoint's deterministic run, 2 now" \
    ssl-train -q --threads 2 --epochs 2 "$T/db.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
ok "deterministic resume keeps 1 thread" ssl-train -q --epochs 2 --in-place "$T/db.ckpt" "$T/d.sslt"
check "deterministic: 2 == 1 + 1, bit for bit" "$(cmp "$T/da.ckpt" "$T/db.ckpt" >/dev/null 2>&1 && echo same)" = same

# SIGINT: finish the step, write the checkpoint, exit 130.
ssl-train $TR --epochs 100000 --log "$T/sig.jsonl" "$T/0.ckpt" "$T/d.sslt" -o "$T/i.ckpt" 2>"$T/sig.err" &
pid=$!
i=0
while :; do
    n=$(grep -c '"event":"step"' "$T/sig.jsonl" 2>/dev/null)
    [ "${n:-0}" -ge 2 ] || [ $i -ge 600 ] && break
    sleep 0.1; i=$((i + 1))
done
kill -INT $pid
wait $pid
rc=$?
check "SIGINT exits 130" "$rc" -eq 130
check "SIGINT leaves no temporary file" "$(ls "$T" | grep -c 'i\.ckpt.')" -eq 0
ok "the interrupted checkpoint loads and continues" ssl-train --threads 2 -q --max-steps 1 "$T/i.ckpt" "$T/d.sslt" -o "$T/i2.ckpt"
steps=$(grep -c '"event":"step"' "$T/sig.jsonl")
check "the checkpoint holds every finished step" "$(ssl-info --json "$T/i.ckpt" | grep -c "\"step\":$steps,")" -eq 1
done_tests
