# --precision fp32|bf16 of ssl-init-bank, ssl-train and ssl-extract: the
# refusal on a CPU without AVX512-BF16 (SSL_NO_BF16=1 pretends so: one
# line naming the instruction set, exit 2, nothing written), bad values,
# the precision recorded in the checkpoint and critical on resume (a bf16
# run continued with --precision fp32 is refused, and the reverse), the
# default unchanged (no flag = --precision fp32, bit for bit), and where
# the CPU has AVX512-BF16: bf16 runs end to end, give other bits than fp32
# but close features, repeat exactly, and stop on a non-finite loss with
# the checkpoint intact; SSL_NO_AMX and SSL_NO_HUGEPAGES: 0 or 1, else a
# usage error (SSL_NO_HUGEPAGES=1: the same bits). Tiny
# synthetic data.
. "$TOP/tests/lib.sh"
gen="$BIN/tests/test_train"
NET="--width 0.125 --head mlp3 --hidden 32 --dim 16 --threads 2"
TR="--batch 8 -k 8 --lr 0.05 --threads 2 -q"
NOCPU="no AVX512_BF16|lacks the AVX512_BF16 instruction set \(avx512_bf16\); use --precision fp32"
ok "make a dataset" "$gen" --write-dataset "$T/d.sslt" 24 28 1
ok "init" ssl-init-bank $NET --batch 8 --seed 1 "$T/d.sslt" -o "$T/0.ckpt"

# the refusal, as on a CPU without the instructions
fails "init-bank: bf16 refused without AVX512-BF16" 2 "^ssl-init-bank: --precision bf16: .*($NOCPU)" \
    env SSL_NO_BF16=1 ssl-init-bank $NET --precision bf16 "$T/d.sslt" -o "$T/x.ckpt"
fails "train: bf16 refused without AVX512-BF16" 2 "^ssl-train: --precision bf16: .*($NOCPU)" \
    env SSL_NO_BF16=1 ssl-train $TR --epochs 1 --precision bf16 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "extract: bf16 refused without AVX512-BF16" 2 "^ssl-extract: --precision bf16: .*($NOCPU)" \
    env SSL_NO_BF16=1 ssl-extract --precision bf16 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.feat"
check "nothing written when refused" ! -e "$T/x.ckpt" -a ! -e "$T/x.feat"
fails "--precision fp16 is a usage error" 2 "--precision" \
    ssl-train $TR --epochs 1 --precision fp16 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "SSL_NO_BF16=yes is a usage error" 2 "SSL_NO_BF16" \
    env SSL_NO_BF16=yes ssl-extract "$T/0.ckpt" "$T/d.sslt" -o "$T/x.feat"
fails "SSL_NO_AMX=yes is a usage error" 2 "SSL_NO_AMX" \
    env SSL_NO_AMX=yes ssl-extract "$T/0.ckpt" "$T/d.sslt" -o "$T/x.feat"
check "nothing written on a bad SSL_NO_AMX" ! -e "$T/x.feat"
fails "SSL_NO_HUGEPAGES=yes is a usage error" 2 "SSL_NO_HUGEPAGES: 'yes' is not 0 or 1" \
    env SSL_NO_HUGEPAGES=yes ssl-train $TR --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
check "nothing written on a bad SSL_NO_HUGEPAGES" ! -e "$T/x.ckpt"
ok "SSL_NO_BF16=1 leaves fp32 alone" env SSL_NO_BF16=1 ssl-extract "$T/0.ckpt" "$T/d.sslt" -o "$T/n.feat"

# fp32 is the default, bit for bit
ok "train, no flag" ssl-train $TR --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/f.ckpt"
ok "train, --precision fp32" ssl-train $TR --epochs 1 --precision fp32 "$T/0.ckpt" "$T/d.sslt" -o "$T/f2.ckpt"
check "--precision fp32 is the default, bit for bit" "$(cmp "$T/f.ckpt" "$T/f2.ckpt" >/dev/null 2>&1 && echo same)" = same
ok "train, SSL_NO_HUGEPAGES=1" env SSL_NO_HUGEPAGES=1 ssl-train $TR --epochs 1 "$T/0.ckpt" "$T/d.sslt" -o "$T/f3.ckpt"
check "SSL_NO_HUGEPAGES=1: the same bits" "$(cmp "$T/f.ckpt" "$T/f3.ckpt" >/dev/null 2>&1 && echo same)" = same
check "fp32 recorded with the run" "$(ssl-info --json "$T/f.ckpt" | grep -c '"precision":"fp32"')" -ge 1
check "precision is a critical key" "$(ssl-info --json "$T/f.ckpt" | grep -c '"critical":\[[^]]*"precision"')" -eq 1
ok "extract, no flag" ssl-extract "$T/f.ckpt" "$T/d.sslt" -o "$T/f.feat"
ok "extract, --precision fp32" ssl-extract --precision fp32 "$T/f.ckpt" "$T/d.sslt" -o "$T/f2.feat"
check "extract: fp32 is the default" "$(cmp "$T/f.feat" "$T/f2.feat" >/dev/null 2>&1 && echo same)" = same
fails "an fp32 run continued in bf16 is refused" 1 "f.ckpt: --precision: fp32 in the checkpoint, bf16 now" \
    ssl-train $TR --epochs 2 --precision bf16 "$T/f.ckpt" "$T/d.sslt" -o "$T/x.ckpt"

if ! grep -q avx512_bf16 /proc/cpuinfo; then
    skip "bf16 runs" "this CPU has no avx512_bf16"
    done_tests
fi
ok "init-bank in bf16" ssl-init-bank $NET --batch 8 --seed 1 --precision bf16 "$T/d.sslt" -o "$T/b0.ckpt"
check "init-bank records bf16" "$(ssl-info --json "$T/b0.ckpt" | grep -c '"precision":"bf16"')" -eq 1
ok "train in bf16, 2 epochs" ssl-train $TR --epochs 2 --precision bf16 "$T/0.ckpt" "$T/d.sslt" -o "$T/b2.ckpt"
ok "train in bf16, 1 epoch" ssl-train $TR --epochs 1 --precision bf16 "$T/0.ckpt" "$T/d.sslt" -o "$T/b.ckpt"
check "bf16 recorded with the run" "$(ssl-info --json "$T/b.ckpt" | grep -c '"train":{[^}]*"precision":"bf16"')" -eq 1
check "bf16 gives other bits than fp32" "$(cmp "$T/b.ckpt" "$T/f.ckpt" >/dev/null 2>&1 || echo differ)" = differ
cp "$T/b.ckpt" "$T/b1.ckpt"
fails "a bf16 run continued with --precision fp32 is refused" 1 \
    "b.ckpt: --precision: bf16 in the checkpoint, fp32 now; a resumed run must keep its critical settings" \
    ssl-train $TR --epochs 2 --precision fp32 "$T/b.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
check "nothing written when refused" ! -e "$T/x.ckpt"
fails "a bf16 run continued where the CPU lacks AVX512-BF16 is refused" 2 "--precision bf16: .*($NOCPU)" \
    env SSL_NO_BF16=1 ssl-train $TR --epochs 2 "$T/b.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
ok "train in bf16 with SSL_NO_AMX=1 (VDPBF16PS only)" env SSL_NO_AMX=1 ssl-train $TR --epochs 1 --precision bf16 "$T/0.ckpt" "$T/d.sslt" -o "$T/bv.ckpt"
ok "a bf16 run continues in bf16 without the flag" ssl-train -q --threads 2 --epochs 2 --in-place "$T/b1.ckpt" "$T/d.sslt"
check "bf16: 2 epochs == 1 + 1, bit for bit" "$(cmp "$T/b2.ckpt" "$T/b1.ckpt" >/dev/null 2>&1 && echo same)" = same

# features in bf16: close to fp32's (the same network), not equal. The
# tolerance, 2^-5 of the largest fp32 feature: each bf16 product errs by at
# most about 2^-7 of its sum |a b| (test_gemm_bf16.c), the head has three
# of them with BatchNorm rescaling between, so the errors add to at most a
# few 2^-7 of the feature scale; 2^-5 leaves room for the convolutions'
# share where they run in bf16 too (test_conv_bf16.c argues the network's).
ok "extract in bf16" ssl-extract --layer head --precision bf16 "$T/f.ckpt" "$T/d.sslt" -o "$T/hb.feat"
ok "extract in fp32" ssl-extract --layer head "$T/f.ckpt" "$T/d.sslt" -o "$T/hf.feat"
check "head features: bf16 differs from fp32" "$(cmp "$T/hb.feat" "$T/hf.feat" >/dev/null 2>&1 || echo differ)" = differ
ok "bf16 head features within 2^-5 of the largest fp32 one" "$gen" --compare-features "$T/hb.feat" "$T/hf.feat" 0.03125

cp "$T/0.ckpt" "$T/n.ckpt"
fails "bf16: a huge lr ends in a non-finite loss or gradient" 1 "is not finite at step [0-9]+.*last good" \
    ssl-train $TR --epochs 3 --lr 1e30 --schedule constant --precision bf16 --in-place "$T/n.ckpt" "$T/d.sslt"
check "bf16: the last good checkpoint stays" "$(cmp "$T/n.ckpt" "$T/0.ckpt" >/dev/null 2>&1 && echo same)" = same
done_tests
