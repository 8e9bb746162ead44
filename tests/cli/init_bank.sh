# ssl-init-bank: starting checkpoints (forward and random banks), stdin,
# determinism, clipping notices, and bad input (one stderr line, exit 1/2,
# nothing left under the output name). Synthetic data from
# bin/tests/test_train --write-dataset.
. "$TOP/tests/lib.sh"
gen="$BIN/tests/test_train"
NET="--width 0.125 --head mlp3 --hidden 32 --dim 16 --threads 2"
ok "make a dataset" "$gen" --write-dataset "$T/d.sslt" 24 28 1

ok "forward bank" ssl-init-bank $NET --batch 8 --seed 1 "$T/d.sslt" -o "$T/f.ckpt"
ssl-info --json "$T/f.ckpt" >"$T/f.json" 2>&1
check "checkpoint kind" "$(grep -c '"kind":"checkpoint"' "$T/f.json")" -eq 1
check "bank is N x d" "$(grep -c '"name":"bank","dtype":"f32","shape":\[24,16\]' "$T/f.json")" -eq 1
check "bank labels" "$(grep -c '"name":"bank_labels","dtype":"i32","shape":\[24\]' "$T/f.json")" -eq 1
check "momentum stored" "$(grep -c '"name":"opt.momentum.head.6.weight"' "$T/f.json")" -eq 1
check "config records the init" "$(grep -c '"bank":"forward","seed":1,"batch":8' "$T/f.json")" -eq 1
check "config records the data" "$(grep -c '"data":{"n":24,"c":1,"h":28,"w":28' "$T/f.json")" -eq 1
check "config records BN statistics" "$(grep -c '"bn_stats":"updated by the bank-init pass"' "$T/f.json")" -eq 1
check "step 0" "$(grep -c '"epoch":0,"step":0,"seed":1' "$T/f.json")" -eq 1

ok "same seed again" ssl-init-bank $NET --batch 8 --seed 1 "$T/d.sslt" -o "$T/f2.ckpt"
check "same seed, same bytes" "$(cmp "$T/f.ckpt" "$T/f2.ckpt" >/dev/null && echo same)" = same
ok "another seed" ssl-init-bank $NET --batch 8 --seed 2 "$T/d.sslt" -o "$T/f3.ckpt"
check "another seed, other bytes" "$(cmp "$T/f.ckpt" "$T/f3.ckpt" >/dev/null 2>&1 || echo differ)" = differ

ok "random bank from stdin to stdout" sh -c "ssl-init-bank --recipe npid $NET --bank random < '$T/d.sslt' > '$T/r.ckpt'"
ssl-info --json "$T/r.ckpt" >"$T/r.json" 2>&1
check "random bank recorded" "$(grep -c '"recipe":"npid","bank":"random"' "$T/r.json")" -eq 1
check "random bank BN statistics initial" "$(grep -c '"bn_stats":"initial"' "$T/r.json")" -eq 1

ssl-init-bank $NET --batch 100 "$T/d.sslt" -o "$T/c.ckpt" 2>"$T/c.err"
check "batch clipped with a notice" "$(grep -c 'batch 100 clipped to the 24 images' "$T/c.err")" -eq 1
ssl-init-bank -q $NET --batch 100 "$T/d.sslt" -o "$T/c.ckpt" 2>"$T/c.err"
check "-q silences the notice" ! -s "$T/c.err"
ssl-init-bank -v $NET --batch 8 "$T/d.sslt" -o "$T/c.ckpt" 2>"$T/v.err"
check "-v prints the configuration" "$(grep -c 'configuration: {"net":{"arch":"resnet18"' "$T/v.err")" -eq 1

fails "missing data" 1 "nosuch.sslt" ssl-init-bank $NET "$T/nosuch.sslt" -o "$T/x.ckpt"
check "nothing left after failure" ! -e "$T/x.ckpt"
fails "a checkpoint is not a dataset" 1 "f.ckpt" ssl-init-bank $NET "$T/f.ckpt" -o "$T/x.ckpt"
check "nothing left after a bad input" ! -e "$T/x.ckpt"
fails "bad width" 2 "--width" ssl-init-bank --width abc "$T/d.sslt"
fails "bad head" 2 "--head: 'mlp9'" ssl-init-bank --head mlp9 "$T/d.sslt"
fails "bad arch" 2 "--arch" ssl-init-bank --arch vgg "$T/d.sslt"
fails "two operands" 2 "too many operands" ssl-init-bank "$T/d.sslt" "$T/d.sslt"
# --bank-dtype bf16: the bank tensor bf16, the checkpoint smaller by half the
# bank, the same network; trained by ssl-train, which keeps the dtype; the
# float32 bank's bytes as before (no bank_dtype key).
NETB="--width 0.125 --head mlp3 --hidden 32 --dim 512 --threads 2"
ok "f32 bank, d 512" ssl-init-bank $NETB --batch 8 --seed 1 "$T/d.sslt" -o "$T/b32.ckpt"
ok "bf16 bank" ssl-init-bank $NETB --batch 8 --seed 1 --bank-dtype bf16 "$T/d.sslt" -o "$T/b16.ckpt"
ssl-info --json "$T/b16.ckpt" >"$T/b16.json" 2>&1
check "bf16 bank is N x d bf16" "$(grep -c '"name":"bank","dtype":"bf16","shape":\[24,512\]' "$T/b16.json")" -eq 1
check "bf16 bank recorded" "$(grep -c '"bank_dtype":"bf16"' "$T/b16.json")" -eq 1
check "f32 bank: no bank_dtype key" "$(grep -c 'bank_dtype' "$T/f.json")" -eq 0
s32=$(wc -c <"$T/b32.ckpt"); s16=$(wc -c <"$T/b16.ckpt")
check "bf16 bank: the checkpoint smaller by about half the bank (24 x 512 x 2 bytes)" \
    $((s32 - s16)) -gt 20000
ok "bf16 bank: train one epoch" ssl-train -q --threads 2 --epochs 1 --batch 8 -k 8 "$T/b16.ckpt" "$T/d.sslt" -o "$T/b16t.ckpt"
check "bf16 bank: ssl-train keeps the dtype" \
    "$(ssl-info --json "$T/b16t.ckpt" 2>&1 | grep -c '"name":"bank","dtype":"bf16"')" -eq 1
ok "random bf16 bank" ssl-init-bank --recipe npid $NET --bank random --bank-dtype bf16 "$T/d.sslt" -o "$T/r16.ckpt"
fails "bad bank dtype" 2 "--bank-dtype: 'f16'" ssl-init-bank --bank-dtype f16 "$T/d.sslt"
check "nothing left after a bad dtype" ! -e "$T/x.ckpt"
printf 'garbage' >"$T/g.sslt"
fails "garbage input" 1 "g.sslt" ssl-init-bank $NET "$T/g.sslt" -o "$T/x.ckpt"
done_tests
