# The MobileNets through the tools: ssl-init-bank --arch mobilenetv2 /
# mobilenetv3s (both stems, a forward bank), ssl-info's parameter count,
# ssl-train with resume bit for bit (2 epochs == 1 + 1), ssl-extract's
# backbone width, and the errors: an unknown --arch lists the known ones,
# a checkpoint whose configuration names another architecture than its
# tensors is refused naming a tensor; where the CPU has AVX512-BF16,
# --precision bf16 reaches the MobileNets' backbone (its 1x1
# convolutions): ssl-train records it and gives other bits than fp32,
# 2 epochs == 1 + 1 in bf16 too, and ssl-extract's backbone features in
# bf16 differ from fp32's (the head plays no part in them) but stay
# close. Tiny synthetic 28x28 data.
. "$TOP/tests/lib.sh"
gen="$BIN/tests/test_train"
HEAD="--head mlp3 --hidden 32 --dim 16 --threads 2"
TR="--batch 8 -k 8 --lr 0.05 --threads 2 -q"
ok "make a dataset" "$gen" --write-dataset "$T/d.sslt" 24 28 1

# arch, width, backbone parameters at 1 input channel (counted by
# gen_net_fixtures.py's torchvision modules), pooled width F
for row in "mobilenetv2 0.25 237968 1280" "mobilenetv3s 0.25 80008 144"; do
    set -- $row
    a=$1; w=$2; nb=$3; F=$4
    ok "$a: forward bank" ssl-init-bank --arch $a --width $w $HEAD --batch 8 --seed 1 "$T/d.sslt" -o "$T/$a.ckpt"
    ok "$a: ssl-info" ssl-info "$T/$a.ckpt"
    check "$a: ssl-info prints the parameters" \
        "$(grep -c "^  network: $a, [0-9]* parameters (backbone $nb), [0-9.e-]* GFLOP per image" "$T/.out")" -eq 1
    ok "$a: ssl-info --json" ssl-info --json "$T/$a.ckpt"
    check "$a: JSON network" "$(grep -c "\"network\":{\"arch\":\"$a\",\"params\":[0-9]*,\"backbone_params\":$nb," "$T/.out")" -eq 1
    ok "$a: 2 epochs" ssl-train $TR --epochs 2 "$T/$a.ckpt" "$T/d.sslt" -o "$T/$a-2.ckpt"
    ok "$a: 1 epoch" ssl-train $TR --epochs 1 "$T/$a.ckpt" "$T/d.sslt" -o "$T/$a-1.ckpt"
    ok "$a: continue to epoch 2" ssl-train --threads 2 -q --epochs 2 --in-place "$T/$a-1.ckpt" "$T/d.sslt"
    check "$a: 2 epochs == 1 + 1, bit for bit" "$(cmp "$T/$a-2.ckpt" "$T/$a-1.ckpt" >/dev/null 2>&1 && echo same)" = same
    ok "$a: backbone features" ssl-extract --threads 2 "$T/$a-2.ckpt" "$T/d.sslt" -o "$T/$a.feat"
    check "$a: N x $F features" "$(ssl-info --json "$T/$a.feat" | grep -c "\"name\":\"features\",\"dtype\":\"f32\",\"shape\":\[24,$F\]")" -eq 1
    ok "$a: kNN on them" ssl-knn -k 5 --threads 2 "$T/$a.feat" "$T/$a.feat"
    ok "$a: torchvision's strides (--stem imagenet)" ssl-init-bank --arch $a --stem imagenet --width $w \
        $HEAD --bank random "$T/d.sslt" -o "$T/$a-in.ckpt"
done

# mobilenetv2's configuration over mobilenetv3s's tensors (written by
# test_train, the metadata being compressed).
fails "unknown arch lists the known ones" 2 \
    "--arch: 'mobilenetv4' is not one of resnet18, resnet34, resnet50, mobilenetv2, mobilenetv3s" \
    ssl-init-bank --arch mobilenetv4 "$T/d.sslt"
ok "a checkpoint whose tensors are another architecture's" "$gen" --write-mismatched-ckpt "$T/d.sslt" "$T/mm.ckpt"
fails "ssl-train refuses it" 1 "mm.ckpt: tensor 'backbone\.features\..*' is missing" \
    ssl-train $TR --epochs 1 "$T/mm.ckpt" "$T/d.sslt" -o "$T/x.ckpt"
fails "ssl-extract refuses it" 1 "mm.ckpt: tensor 'backbone\.features\..*' is missing" \
    ssl-extract "$T/mm.ckpt" "$T/d.sslt" -o "$T/x.feat"
check "nothing written when refused" ! -e "$T/x.ckpt" -a ! -e "$T/x.feat"
if ! grep -q avx512_bf16 /proc/cpuinfo; then
    skip "MobileNets in bf16" "this CPU has no avx512_bf16"
    done_tests
fi
for a in mobilenetv2 mobilenetv3s; do
    ok "$a: train in bf16, 2 epochs" ssl-train $TR --epochs 2 --precision bf16 "$T/$a.ckpt" "$T/d.sslt" -o "$T/$a-b2.ckpt"
    check "$a: bf16 recorded with the run" \
        "$(ssl-info --json "$T/$a-b2.ckpt" | grep -c '"train":{[^}]*"precision":"bf16"')" -eq 1
    check "$a: bf16 training gives other bits than fp32" \
        "$(cmp "$T/$a-b2.ckpt" "$T/$a-2.ckpt" >/dev/null 2>&1 || echo differ)" = differ
    ok "$a: 1 epoch in bf16" ssl-train $TR --epochs 1 --precision bf16 "$T/$a.ckpt" "$T/d.sslt" -o "$T/$a-b1.ckpt"
    ok "$a: continue in bf16 to epoch 2" ssl-train --threads 2 -q --epochs 2 --in-place "$T/$a-b1.ckpt" "$T/d.sslt"
    check "$a: bf16: 2 epochs == 1 + 1, bit for bit" \
        "$(cmp "$T/$a-b2.ckpt" "$T/$a-b1.ckpt" >/dev/null 2>&1 && echo same)" = same
    # the backbone alone (no head): bf16 reaches its convolutions. The
    # tolerance, as in precision.sh: 2^-5 of the largest fp32 feature
    # (test_conv_bf16 measures these networks' evaluation-mode outputs
    # within 0.008 of the largest).
    ok "$a: backbone features in bf16" ssl-extract --threads 2 --precision bf16 "$T/$a-2.ckpt" "$T/d.sslt" -o "$T/$a-b.feat"
    check "$a: bf16 backbone features differ from fp32's" \
        "$(cmp "$T/$a-b.feat" "$T/$a.feat" >/dev/null 2>&1 || echo differ)" = differ
    ok "$a: bf16 backbone features within 2^-5 of the largest fp32 one" \
        "$gen" --compare-features "$T/$a-b.feat" "$T/$a.feat" 0.03125
done
done_tests
