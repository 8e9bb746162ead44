# Learning, in seconds (REFERENCE.md section 3): 60 Fashion-MNIST images
# (ssl-prep --subset 6) trained as one batch at width 0.25, both recipes,
# 25 steps (REFERENCE.md ran 40; 25 keep the suite short): the CE part
# of the loss falls clearly and the instance accuracy rises. Augmentation: crop and flip only, as in REFERENCE.md; the paper
# recipe's lr scaled to the batch (1.0 * 60/512 ~ 0.1, constant), npid's
# 0.03 given as is (not scaled to the batch of 60). kNN
# accuracy is NOT asserted (it need not rise in 25 steps).
# Skips without /usr/share/datasets/fashion-mnist. SSL_LEARN_STEPS
# overrides the step count.
. "$TOP/tests/lib.sh"
FM=/usr/share/datasets/fashion-mnist
STEPS=${SSL_LEARN_STEPS:-25}
if ldd "$BIN/ssl-train" 2>/dev/null | grep -q 'lib[at]san'; then
    # A learning check, not a memory check: 4x slower under ASan; the plain pass runs it.
    skip "learn" "$BIN is a sanitizer build"; done_tests
fi
if [ ! -d "$FM" ]; then
    skip "learn" "$FM not installed (apt-get install dataset-fashion-mnist)"
    done_tests
fi
ok "60 images" ssl-prep -q --subset 6 --seed 1 "$FM" -o "$T/fm60.sslt"

# mean of field F over the step lines [A, B] of a JSON log
mean() { awk -v f="\"$1\":" -v a="$2" -v b="$3" '
    /"event":"step"/ { n++; if (n >= a && n <= b) { i = index($0, f); s += substr($0, i + length(f)) + 0; c++ } }
    END { if (c) printf "%.4f", s / c; else print "nan" }' "$4"; }

learn() { # recipe, extra flags...
    r=$1; shift
    ok "$r: init" ssl-init-bank --recipe "$r" --width 0.25 --seed 1 --threads 2 "$T/fm60.sslt" -o "$T/$r.ckpt"
    ok "$r: $STEPS steps" ssl-train -q --threads 2 --recipe "$r" --epochs "$STEPS" --jitter 0 --gray 0 \
        --log "$T/$r.jsonl" "$@" "$T/$r.ckpt" "$T/fm60.sslt" -o "$T/$r.trained.ckpt"
    ce0=$(mean ce 1 2 "$T/$r.jsonl"); ce1=$(mean ce $((STEPS - 4)) "$STEPS" "$T/$r.jsonl")
    a0=$(mean inst_acc 1 2 "$T/$r.jsonl"); a1=$(mean inst_acc $((STEPS - 4)) "$STEPS" "$T/$r.jsonl")
    echo "# $r: CE $ce0 -> $ce1, instance accuracy $a0 -> $a1 (first 2 / last 5 steps)"
    check "$r: CE falls by a quarter ($ce0 -> $ce1)" "$(awk "BEGIN { print ($ce1 < 0.75 * $ce0) }")" -eq 1
    check "$r: instance accuracy rises by 0.15 ($a0 -> $a1)" "$(awk "BEGIN { print ($a1 > $a0 + 0.15) }")" -eq 1
}
learn paper --lr 0.1 --schedule constant
learn npid --lr 0.03
done_tests
