# ssl-prep on good inputs: a generated image folder and CIFAR-10 tarball,
# and the real Fashion-MNIST when dataset-fashion-mnist is installed.
# Streams are checked with test_prep --count (reads them with sslt_reader).
. "$TOP/tests/lib.sh"
count() { "$BIN/tests/test_prep" --count "$1"; }

ok "prep --help" ssl-prep --help
check "prep --help names --subset" "$(grep -c -- --subset "$T/.out")" -ge 1

# Image folder (PNG + JPEG, grey + colour) -> 5 images, 3x4x4, classes cat, dog.
"$BIN/tests/test_prep" --mkfolder "$T/folder"
ok "prep folder" ssl-prep "$T/folder" -o "$T/f.sslt"
check "prep folder counts" "$(count "$T/f.sslt" | cut -d' ' -f1-4)" = "n=5 shape=3x4x4 classes=2 counts=2,3"
ok "prep folder --channels 1 --size 8x6" ssl-prep --channels 1 --size 8x6 "$T/folder" -o "$T/f1.sslt"
check "prep folder resized shape" "$(count "$T/f1.sslt" | cut -d' ' -f2)" = "shape=1x8x6"
(cd "$T" && tar czf folder.tar.gz folder)
ok "prep folder tar.gz" ssl-prep "$T/folder.tar.gz" -o "$T/ft.sslt"
check "prep tar.gz equals directory" "$(count "$T/ft.sslt")" = "$(count "$T/f.sslt")"
ok "prep --classes" ssl-prep --classes kitten,puppy "$T/folder" -o "$T/fc.sslt"
ssl-prep "$T/folder" | "$BIN/tests/test_prep" --count - >"$T/pipe.txt" 2>&1
check "prep writes stdout into a pipe" "$(cut -d' ' -f1 "$T/pipe.txt")" = "n=5"

# CIFAR-10 tarball with the real record layout.
"$BIN/tests/test_prep" --mkcifar "$T/cifar-10-binary.tar.gz"
ok "prep cifar-10" ssl-prep "$T/cifar-10-binary.tar.gz" -o "$T/c.sslt"
check "prep cifar-10 counts" "$(count "$T/c.sslt" | cut -d' ' -f1-4)" = "n=10 shape=3x32x32 classes=10 counts=1,1,1,1,1,1,1,1,1,1"
ok "prep cifar-10 test" ssl-prep --split test "$T/cifar-10-binary.tar.gz" -o "$T/ct.sslt"
check "prep cifar-10 test counts" "$(count "$T/ct.sslt" | cut -d' ' -f1)" = "n=2"

# Usage errors: exit 2, one line.
fails "prep no input" 2 '^ssl-prep: no input' ssl-prep
fails "prep --subset 0" 2 '^ssl-prep: --subset' ssl-prep --subset 0 "$T/folder"
fails "prep --size 0" 2 '^ssl-prep: --size' ssl-prep --size 0 "$T/folder"
fails "prep --split bogus" 2 '^ssl-prep: --split' ssl-prep --split bogus "$T/folder"
fails "prep --level 30" 2 '^ssl-prep: --level' ssl-prep --level 30 "$T/folder"
fails "prep --channels 2" 2 '^ssl-prep: --channels' ssl-prep --channels 2 "$T/folder"
fails "prep three inputs" 2 '^ssl-prep: 3 inputs' ssl-prep a b c
fails "prep --classes too few" 1 '^ssl-prep: .*folder: --classes: 1 names' ssl-prep --classes one "$T/folder" -o "$T/x.sslt"

# Real Fashion-MNIST.
FM=/usr/share/datasets/fashion-mnist
if [ -d "$FM" ]; then
    ok "prep fashion-mnist train" ssl-prep "$FM" -o "$T/fm.sslt"
    check "prep fashion-mnist train: 60000 1x28x28, 6000 per class" \
        "$(count "$T/fm.sslt" | cut -d' ' -f1-4)" = "n=60000 shape=1x28x28 classes=10 counts=6000,6000,6000,6000,6000,6000,6000,6000,6000,6000"
    check "prep fashion-mnist train mean" "$(count "$T/fm.sslt" | cut -d' ' -f5)" = "mean=0.28604"
    ok "prep fashion-mnist test" ssl-prep --split test "$FM" -o "$T/fmt.sslt"
    check "prep fashion-mnist test: 10000, 1000 per class" \
        "$(count "$T/fmt.sslt" | cut -d' ' -f1-4)" = "n=10000 shape=1x28x28 classes=10 counts=1000,1000,1000,1000,1000,1000,1000,1000,1000,1000"
    ok "prep explicit files" ssl-prep "$FM/t10k-labels-idx1-ubyte.gz" "$FM/t10k-images-idx3-ubyte.gz" -o "$T/fme.sslt"
    check "prep explicit files equal the directory" "$(count "$T/fme.sslt")" = "$(count "$T/fmt.sslt")"
    ok "prep subset 100" ssl-prep --subset 100 --seed 5 --split test "$FM" -o "$T/s1.sslt"
    ok "prep subset 100 again" ssl-prep --subset 100 --seed 5 --split test "$FM" -o "$T/s2.sslt"
    check "prep subset counts" "$(count "$T/s1.sslt" | cut -d' ' -f4)" = "counts=100,100,100,100,100,100,100,100,100,100"
    check "prep subset repeats exactly" "$(cmp "$T/s1.sslt" "$T/s2.sslt" && echo same)" = same
    ok "prep subset other seed" ssl-prep --subset 100 --seed 6 --split test "$FM" -o "$T/s3.sslt"
    check "prep subset other seed differs" "$(cmp -s "$T/s1.sslt" "$T/s3.sslt" || echo differ)" = differ
    ok "prep subset 0.05" ssl-prep --subset 0.05 --split test "$FM" -o "$T/s4.sslt"
    check "prep subset fraction counts" "$(count "$T/s4.sslt" | cut -d' ' -f1)" = "n=500"
else
    skip "prep fashion-mnist" "$FM not installed (dataset-fashion-mnist)"
fi
done_tests
