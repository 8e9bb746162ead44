# ssl-extract: features streams (backbone and head), stdin, the training
# normalisation, bad input (wrong kind, image shape), and a reader that
# goes away (quiet exit). Tiny synthetic data and network.
. "$TOP/tests/lib.sh"
gen="$BIN/tests/test_train"
NET="--width 0.125 --head mlp3 --hidden 32 --dim 16 --threads 2"
ok "make a dataset" "$gen" --write-dataset "$T/d.sslt" 24 28 1
ok "make a 32x32 dataset" "$gen" --write-dataset "$T/big.sslt" 8 32 1
ok "make a 3-channel dataset" "$gen" --write-dataset "$T/rgb.sslt" 8 28 3
ok "init" ssl-init-bank $NET --batch 8 --seed 1 "$T/d.sslt" -o "$T/c.ckpt"

ok "backbone features" ssl-extract --threads 2 "$T/c.ckpt" "$T/d.sslt" -o "$T/b.feat"
ssl-info --json "$T/b.feat" >"$T/b.json"
check "features kind" "$(grep -c '"kind":"features"' "$T/b.json")" -eq 1
check "backbone: N x 64 (512 x 0.125)" "$(grep -c '"name":"features","dtype":"f32","shape":\[24,64\]' "$T/b.json")" -eq 1
check "labels" "$(grep -c '"name":"labels","dtype":"i32","shape":\[24\]' "$T/b.json")" -eq 1
check "meta: layer, checkpoint, classes, dataset" \
    "$(grep -c '"checkpoint":"[^"]*c.ckpt","layer":"backbone","dataset":{' "$T/b.json")" -eq 1
check "meta: classes first" "$(grep -c '"meta":{"classes":\["c0"' "$T/b.json")" -eq 1
ok "head features" ssl-extract --layer head --threads 2 "$T/c.ckpt" "$T/d.sslt" -o "$T/h.feat"
check "head: N x d" "$(ssl-info --json "$T/h.feat" | grep -c '"shape":\[24,16\]')" -eq 1

ok "from stdin" sh -c "ssl-extract --threads 2 '$T/c.ckpt' < '$T/d.sslt' > '$T/s.feat'"
ok "'-' is stdin" sh -c "ssl-extract --threads 2 '$T/c.ckpt' - < '$T/d.sslt' > '$T/s2.feat'"
check "stdin gives the same stream" "$(cmp "$T/s.feat" "$T/s2.feat" >/dev/null && echo same)" = same
ok "batch 5" ssl-extract --batch 5 --threads 2 "$T/c.ckpt" "$T/d.sslt" -o "$T/b5.feat"
ok "batch 24" ssl-extract --batch 24 --threads 2 "$T/c.ckpt" "$T/d.sslt" -o "$T/b24.feat"
check "the batch size does not change the features" \
    "$(ssl-knn -k 1 --json "$T/b5.feat" "$T/b24.feat" | grep -c '"top1":1')" -eq 1

fails "a dataset is not a checkpoint" 1 "d.sslt: not a checkpoint" ssl-extract "$T/d.sslt" "$T/d.sslt"
fails "image size must match" 1 "big.sslt: images are 1x32x32, the network of .* expects 1x28x28" \
    ssl-extract "$T/c.ckpt" "$T/big.sslt" -o "$T/x.feat"
fails "channels must match" 1 "images are 3x28x28" ssl-extract "$T/c.ckpt" "$T/rgb.sslt" -o "$T/x.feat"
check "nothing left after failure" ! -e "$T/x.feat"
fails "both stdin" 2 "both be stdin" ssl-extract - -
fails "bad layer" 2 "--layer: 'neck'" ssl-extract --layer neck "$T/c.ckpt" "$T/d.sslt"
fails "no operands" 2 "CKPT" ssl-extract
fails "missing checkpoint" 1 "nosuch.ckpt" ssl-extract "$T/nosuch.ckpt" "$T/d.sslt"

# A reader that goes away: SIGPIPE at its default ends the process quietly.
ok "make a larger dataset" "$gen" --write-dataset "$T/l.sslt" 1200 28 1
ok "init on it" ssl-init-bank $NET --bank random --seed 1 "$T/l.sslt" -o "$T/l.ckpt"
( ssl-extract --threads 2 --layer backbone "$T/l.ckpt" "$T/l.sslt" 2>"$T/pipe.err"; echo $? >"$T/pipe.rc" ) | head -c 100 >/dev/null
check "head -c 100: quiet" ! -s "$T/pipe.err"
check "head -c 100: killed by SIGPIPE (141) or exit 1" "$(grep -cE '^(141|1)$' "$T/pipe.rc")" -eq 1
( trap '' PIPE; ssl-extract --threads 2 "$T/l.ckpt" "$T/l.sslt" 2>"$T/pipe2.err"; echo $? >"$T/pipe2.rc" ) | head -c 100 >/dev/null
check "SIGPIPE ignored: quiet" ! -s "$T/pipe2.err"
check "SIGPIPE ignored: exit 1" "$(cat "$T/pipe2.rc")" -eq 1
done_tests
