# README.md's "A pipeline" block: runnable as written after make, with the
# demo's flags. The block is taken from the README, checked against the
# flags of pipelines/fashion-mnist.mk (the demo), then run with sh on a
# tiny subset (3 + 2 images per class, width 0.0625, 1 epoch; the flags
# that only set sizes are rewritten, nothing else).
. "$TOP/tests/lib.sh"
sed -n '/^## A pipeline/,/^## /p' "$TOP/README.md" | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' >"$T/block.sh"
check "readme: the block is there" "$(wc -l <"$T/block.sh")" -ge 10
# Joined continuation lines, one command per line.
sed -e ':a' -e '/\\$/N; s/ *\\\n */ /; ta' "$T/block.sh" >"$T/cmds"
line() { grep "^$1 " "$T/cmds"; }
# The demo's flags, as make -C pipelines fashion-mnist gives them.
flags=$(make -C "$TOP/pipelines" --no-print-directory -s \
    --eval 'readme-flags: ; @printf "%s\n" "$(FM_SUBSET)" "$(FM_NET) --seed $(FM_SEED) --bank forward" "$(FM_TRAIN) --seed $(FM_SEED)" "$(KNN_FLAGS)" "$(LINEVAL_FLAGS)"' readme-flags)
if [ "$(printf '%s\n' "$flags" | wc -l)" -ne 5 ]; then
    fail "readme: the demo's flags from pipelines/" "$flags"
else
    has() { # NAME LINE FLAGS: LINE holds FLAGS as written
        case " $2 " in *" $3 "*) pass "$1" ;; *) fail "$1" "'$2' lacks '$3'" ;; esac; }
    has "readme: prep train = the demo's subset" "$(line 'ssl-prep --split train')" "$(printf '%s\n' "$flags" | sed -n 1p)"
    has "readme: init = the demo's" "$(line ssl-init-bank)" "$(printf '%s\n' "$flags" | sed -n 2p)"
    has "readme: train = the demo's" "$(line ssl-train)" "$(printf '%s\n' "$flags" | sed -n 3p)"
    has "readme: knn = the demo's" "$(line 'ssl-extract trained.ckpt train.sslt')" "ssl-knn $(printf '%s\n' "$flags" | sed -n 4p)"
    has "readme: lineval = the demo's" "$(line ssl-lineval)" "$(printf '%s\n' "$flags" | sed -n 5p)"
fi
check "readme: the PATH step comes first" "$(head -n 1 "$T/cmds" | cut -c1-26)" = 'export PATH=$PWD/bin:$PATH'

FM=/usr/share/datasets/fashion-mnist
if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then
    skip "readme: run the block" "no $FM (Debian's dataset-fashion-mnist: sh tools/deps.sh)"
    done_tests
fi
mkdir "$T/run"
sed -e "s|\$PWD/bin|$BIN|" -e "s|cd \"\$(mktemp -d)\"|cd '$T/run'|" \
    -e 's|--subset 2000 --seed 1|--subset 3 --seed 1|' -e 's|--split test \$FM|--split test --subset 2 --seed 1 $FM|' \
    -e 's|--width 0.25|--width 0.0625|' -e 's|--dim 2048|--dim 32 --hidden 32|' -e 's|--epochs 40|--epochs 1|' \
    -e 's|^ssl-lineval --seed 1|ssl-lineval --seed 1 --epochs 5|' "$T/block.sh" >"$T/tiny.sh"
check "readme: only sizes rewritten (7 lines)" "$(diff "$T/block.sh" "$T/tiny.sh" | grep -c '^>')" -eq 7
(cd "$TOP" && sh -e "$T/tiny.sh") >"$T/run.out" 2>"$T/run.err"; rc=$?
check "readme: the block runs (sh -e)" "$rc" -eq 0
[ "$rc" -eq 0 ] || echo "# $(tail -n 3 "$T/run.err")"
check "readme: a trained checkpoint at epoch 1" "$(ssl-info --json "$T/run/trained.ckpt" | grep -c '"epoch":1,')" -eq 1
check "readme: the kNN table (k clipped to the 30 training images)" "$(grep -cE '^ +30 +0.1 +0\.[0-9]{4}' "$T/run.out")" -eq 1
check "readme: the notice of the clipped k" "$(grep -c '^ssl-knn: notice: -k 200 clipped to the 30 rows of <stdin>' "$T/run.err")" -eq 1
check "readme: the linear figures" "$(grep -c '^top1 ' "$T/run.out")" -eq 1
check "readme: ssl-info's summary" "$(grep -c '^trained.ckpt: 1 section, ' "$T/run.out")" -eq 1
done_tests
