# ssl-prep on image trees of any layout (flat, mixed, class folders), with
# the notices and warnings it prints, and an unlabelled stream through
# ssl-init-bank, ssl-train and ssl-extract, which take it, and ssl-knn,
# ssl-lineval and ssl-train --monitor, which refuse it.
. "$TOP/tests/lib.sh"
count() { "$BIN/tests/test_prep" --count "$1"; }
"$BIN/tests/test_prep" --mkfolder "$T/f"            # cat/{a.png,b.jpg} dog/{c,d,e}.png
mkdir -p "$T/flat" "$T/mixed"
cp "$T"/f/*/* "$T/flat/"
echo "some notes" >"$T/flat/notes.txt"
echo "hidden" >"$T/flat/.hidden"
cp -r "$T"/f/* "$T/mixed/"
cp "$T/f/cat/a.png" "$T/mixed/top.png"

# Flat: unlabelled, two notices (the other file, the missing labels).
ok "flat folder" ssl-prep "$T/flat" -o "$T/flat.sslt"
check "flat folder: unlabelled stream of 5" "$(count "$T/flat.sslt" | cut -d' ' -f1-4)" = "n=5 shape=3x4x4 classes=none counts=-"
check "flat folder: two notices" "$(wc -l <"$T/.err")" -eq 2
check "flat folder: the other file counted" "$(grep -c 'notice: .*flat: 1 file not named .png, .jpg or .jpeg skipped (e.g. notes.txt)' "$T/.err")" -eq 1
check "flat folder: no labels, said" "$(grep -c 'notice: .*flat: no class subfolders: the stream will have no labels' "$T/.err")" -eq 1
ok "flat folder -q" ssl-prep -q "$T/flat" -o "$T/flatq.sslt"
check "flat folder -q: nothing on stderr" ! -s "$T/.err"
check "flat folder -q: the same stream" "$(cmp "$T/flat.sslt" "$T/flatq.sslt" && echo same)" = same
(cd "$T" && tar czf flat.tar.gz flat)
ok "flat tar.gz" ssl-prep -q "$T/flat.tar.gz" -o "$T/flatt.sslt"
check "flat tar.gz: the images of the folder" "$(count "$T/flatt.sslt")" = "$(count "$T/flat.sslt")"
fails "flat folder --labels folders" 1 '^ssl-prep: .*/flat: a\.png: image is not in a class subfolder$' \
    ssl-prep -q --labels folders "$T/flat" -o "$T/x.sslt"
check "flat folder --labels folders: no output" ! -e "$T/x.sslt"

# Mixed: unlabelled by default, naming an image outside the classes.
ok "mixed tree" ssl-prep "$T/mixed" -o "$T/mixed.sslt"
check "mixed tree: unlabelled stream of 6" "$(count "$T/mixed.sslt" | cut -d' ' -f1,3)" = "n=6 classes=none"
check "mixed tree: the notice names top.png" "$(grep -c 'mixed: top.png is not in a class subfolder (1 of 6 images are not): the stream will have no labels' "$T/.err")" -eq 1
fails "mixed tree --labels folders" 1 '^ssl-prep: .*/mixed: top\.png: image is not in a class subfolder$' \
    ssl-prep --labels folders "$T/mixed" -o "$T/x.sslt"

# Class folders: labelled by default and with --labels folders; none drops them.
ok "class folders --labels folders" ssl-prep --labels folders "$T/f" -o "$T/ff.sslt"
ok "class folders" ssl-prep "$T/f" -o "$T/fd.sslt"
check "class folders: labelled silently" ! -s "$T/.err"
check "class folders: --labels folders is the default here" "$(cmp "$T/ff.sslt" "$T/fd.sslt" && echo same)" = same
ok "class folders --labels none" ssl-prep --labels none "$T/f" -o "$T/fn.sslt"
check "class folders --labels none: unlabelled" "$(count "$T/fn.sslt" | cut -d' ' -f1,3)" = "n=5 classes=none"
fails "--labels bogus" 2 "^ssl-prep: --labels: 'bogus'" ssl-prep --labels bogus "$T/f"
fails "--classes without labels" 1 '^ssl-prep: .*flat: --classes: the data has no labels$' \
    ssl-prep -q --classes a,b "$T/flat" -o "$T/x.sslt"
ok "--subset 3 of unlabelled data" ssl-prep -q --subset 3 "$T/flat" -o "$T/fs.sslt"
check "--subset 3 of unlabelled data: 3 images" "$(count "$T/fs.sslt" | cut -d' ' -f1)" = "n=3"

# Bad images: stop (the default) or skip with a warning even under -q.
cp -r "$T/f" "$T/bad"
head -c 60 "$T/f/dog/c.png" >"$T/bad/dog/c.png"
: >"$T/bad/cat/zero.png"
fails "corrupt image, --on-error stop" 1 '^ssl-prep: .*/bad/cat/zero\.png: empty file$' \
    ssl-prep -q "$T/bad" -o "$T/x.sslt"
ssl-prep -q --on-error skip "$T/bad" -o "$T/bs.sslt" 2>"$T/bs.err"
check "--on-error skip: exit 0" $? -eq 0
check "--on-error skip: 4 images kept" "$(count "$T/bs.sslt" | cut -d' ' -f1,3,4)" = "n=4 classes=2 counts=2,2"
check "--on-error skip: one warning per image and the count, even with -q" "$(wc -l <"$T/bs.err")" -eq 3
check "--on-error skip: the warnings name the files" "$(grep -c -e 'warning: .*/bad/cat/zero.png: empty file (skipped)' -e 'warning: .*/bad/dog/c.png: corrupt PNG' -e 'warning: .*/bad: 2 of 6 images skipped' "$T/bs.err")" -eq 3
fails "--on-error bogus" 2 "^ssl-prep: --on-error: 'bogus'" ssl-prep --on-error bogus "$T/f"

# Sizes: a 1x1 image enlarged, images of several sizes made one.
"$BIN/tests/test_prep" --mkdot "$T/dots/x.png"
cp "$T/f/cat/a.png" "$T/dots/y.png"
fails "1x1 beside 4x4 without --size" 1 '^ssl-prep: .*/dots: y\.png: image is 4x4 but x\.png is 1x1 \(use --size\)$' \
    ssl-prep -q "$T/dots" -o "$T/x.sslt"
ok "1x1 beside 4x4 with --size 6" ssl-prep -q --size 6 "$T/dots" -o "$T/dots.sslt"
check "--size 6: 2 images of 6x6" "$(count "$T/dots.sslt" | cut -d' ' -f1,2)" = "n=2 shape=3x6x6"

# The unlabelled stream through the other tools.
ok "prep unlabelled 8x8 grey" ssl-prep -q --size 8 --channels 1 "$T/flat" -o "$T/u8.sslt"
ok "prep labelled 8x8 grey" ssl-prep -q --size 8 --channels 1 "$T/f" -o "$T/l8.sslt"
ok "init-bank on unlabelled data" ssl-init-bank -q --width 0.03125 --head linear --dim 8 --threads 1 \
    --batch 5 "$T/u8.sslt" -o "$T/u.ckpt"
ssl-info "$T/u.ckpt" >"$T/u.info"
check "its checkpoint has a bank and no bank_labels" "$(grep -c 'tensor bank ' "$T/u.info"),$(grep -c bank_labels "$T/u.info")" = "1,0"
ok "train on unlabelled data" ssl-train -q --threads 1 --epochs 1 --batch 2 "$T/u.ckpt" "$T/u8.sslt" -o "$T/u1.ckpt"
fails "train --monitor with unlabelled training data" 1 '^ssl-train: --monitor: .*/u8.sslt has no labels; the kNN monitor needs a labelled training set$' \
    ssl-train -q --threads 1 --epochs 2 --batch 2 --monitor "$T/l8.sslt" "$T/u1.ckpt" "$T/u8.sslt" -o "$T/u2.ckpt"
check "train --monitor refused: no checkpoint" ! -e "$T/u2.ckpt"
ok "extract from unlabelled data" ssl-extract -q "$T/u1.ckpt" "$T/u8.sslt" -o "$T/uf.sslt"
check "unlabelled features: no labels tensor" "$(ssl-info "$T/uf.sslt" | grep -c 'tensor labels')" -eq 0
fails "knn refuses unlabelled features" 1 '^ssl-knn: .*/uf.sslt: no labels \(an unlabelled stream\); evaluation needs labelled training and test sets$' \
    ssl-knn "$T/uf.sslt" "$T/uf.sslt"
fails "knn refuses an unlabelled test set" 1 '^ssl-knn: .*/u8.sslt: no labels' ssl-knn "$T/l8.sslt" "$T/u8.sslt"
fails "lineval refuses an unlabelled training set" 1 '^ssl-lineval: .*/u8.sslt: no labels \(an unlabelled stream\)' \
    ssl-lineval "$T/u8.sslt" "$T/l8.sslt"
ok "init-bank on labelled data" ssl-init-bank -q --width 0.03125 --head linear --dim 8 --threads 1 \
    --batch 5 "$T/l8.sslt" -o "$T/l.ckpt"
fails "train --monitor with an unlabelled test set" 1 '^ssl-train: --monitor: .*/u8.sslt has no labels; the kNN monitor needs a labelled test set$' \
    ssl-train -q --threads 1 --epochs 1 --batch 2 --monitor "$T/u8.sslt" "$T/l.ckpt" "$T/l8.sslt" -o "$T/l1.ckpt"
fails "a labelled checkpoint with unlabelled data" 1 '^ssl-train: .*/u8.sslt: has no labels, but the checkpoint.s bank was built from a labelled dataset$' \
    ssl-train -q --threads 1 --epochs 1 --batch 2 "$T/l.ckpt" "$T/u8.sslt" -o "$T/l1.ckpt"
done_tests
