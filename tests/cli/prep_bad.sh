# ssl-prep on bad input: each gets one line "ssl-prep: FILE: problem" on
# stderr, exit 1, and no output file (nor temporary) under -o's name.
. "$TOP/tests/lib.sh"
O="$T/out.sslt"
# bad NAME PATTERN ARGS...: fails with exit 1 and leaves nothing behind.
bad() {
    n=$1; pat=$2; shift 2
    fails "$n" 1 "^ssl-prep: $pat" ssl-prep "$@" -o "$O"
    check "$n: no output file" ! -e "$O"
    check "$n: no temporary file" -z "$(ls "$T" | grep '^out\.sslt')"
}
idx_images() { # N ROWS COLS: header of an IDX images file (sizes < 256)
    printf "\\000\\000\\010\\003\\000\\000\\000\\$(printf %o "$1")\\000\\000\\000\\$(printf %o "$2")\\000\\000\\000\\$(printf %o "$3")"
}
idx_labels() { printf "\\000\\000\\010\\001\\000\\000\\000\\$(printf %o "$1")"; }

idx_images 3 2 2 >"$T/ok-images-idx3-ubyte"; printf '012345678901' >>"$T/ok-images-idx3-ubyte"
idx_labels 3 >"$T/ok-labels-idx1-ubyte"; printf '\001\002\003' >>"$T/ok-labels-idx1-ubyte"
ok "bad: the good IDX pair works" ssl-prep "$T/ok-images-idx3-ubyte" "$T/ok-labels-idx1-ubyte" -o "$T/good.sslt"

bad "bad: missing file" ".*/nope: No such file" "$T/nope"
bad "bad: missing second file" ".*/nope-labels: No such file" "$T/ok-images-idx3-ubyte" "$T/nope-labels"
echo "just some text" >"$T/notes.txt"
bad "bad: text file" ".*/notes.txt: unrecognised format" "$T/notes.txt"
: >"$T/empty.bin"
bad "bad: empty file" ".*/empty.bin: empty file" "$T/empty.bin"
"$BIN/tests/test_prep" --mkfolder "$T/folder"
bad "bad: PNG given as IDX" ".*/a.png: not an IDX file" "$T/folder/cat/a.png" "$T/ok-labels-idx1-ubyte"
bad "bad: IDX file alone" ".*ok-images-idx3-ubyte: an IDX images file alone" "$T/ok-images-idx3-ubyte"
bad "bad: two label files" ".*: both inputs are IDX labels files" "$T/ok-labels-idx1-ubyte" "$T/ok-labels-idx1-ubyte"

idx_images 3 2 2 >"$T/short-images-idx3-ubyte"; printf '01234567890' >>"$T/short-images-idx3-ubyte"
bad "bad: truncated IDX" ".*short-images-idx3-ubyte: truncated" "$T/short-images-idx3-ubyte" "$T/ok-labels-idx1-ubyte"
gzip -c "$T/ok-images-idx3-ubyte" | head -c 20 >"$T/cut-images-idx3-ubyte.gz"
bad "bad: truncated gzip" ".*cut-images-idx3-ubyte.gz: .*truncated" "$T/cut-images-idx3-ubyte.gz" "$T/ok-labels-idx1-ubyte"
idx_labels 2 >"$T/two-labels-idx1-ubyte"; printf '\001\002' >>"$T/two-labels-idx1-ubyte"
bad "bad: label/image count mismatch" ".*two-labels-idx1-ubyte: 2 labels for the 3 images" "$T/ok-images-idx3-ubyte" "$T/two-labels-idx1-ubyte"
printf '\000\000\010\003\377\377\377\377\000\000\020\000\000\000\020\000' >"$T/huge-images-idx3-ubyte"
bad "bad: IDX header claims absurd sizes" ".*huge-images-idx3-ubyte: IDX header claims .*(absurd|limit)" "$T/huge-images-idx3-ubyte" "$T/ok-labels-idx1-ubyte"
printf '\000\000\010\003\000\001\000\000\000\000\000\034\000\000\000\034' >"$T/claim-images-idx3-ubyte"
gzip -c "$T/claim-images-idx3-ubyte" >"$T/claim-images-idx3-ubyte.gz"
bad "bad: gzip IDX claiming more than it holds" ".*claim-images-idx3-ubyte.gz: truncated" "$T/claim-images-idx3-ubyte.gz" "$T/ok-labels-idx1-ubyte"
printf '\000\000\014\003\000\000\000\001\000\000\000\001\000\000\000\001\000\000\000\000' >"$T/int-images-idx3-ubyte"
bad "bad: IDX of ints" ".*int-images-idx3-ubyte: IDX data type 0x0c not supported" "$T/int-images-idx3-ubyte" "$T/ok-labels-idx1-ubyte"
printf '\000\000\010\001\000\000\000\003\001\002\014' >"$T/big-labels-idx1-ubyte"
bad "bad: label beyond --classes" ".*: --classes: 2 names, but the data has labels up to 12" --classes a,b "$T/ok-images-idx3-ubyte" "$T/big-labels-idx1-ubyte"

# Archives.
(cd "$T" && tar czf folder.tar.gz folder)
size=$(wc -c <"$T/folder.tar.gz")
head -c $((size / 2)) "$T/folder.tar.gz" >"$T/cut.tar.gz"
bad "bad: truncated tar.gz" ".*cut.tar.gz: .*(truncated|corrupt)" "$T/cut.tar.gz"
(cd "$T" && tar cf folder.tar folder)
size=$(wc -c <"$T/folder.tar")
head -c $((size / 3)) "$T/folder.tar" >"$T/cut.tar"
bad "bad: truncated tar" ".*cut.tar: .*(truncated|corrupt)" "$T/cut.tar"
mkdir -p "$T/c/cifar-10-batches-bin"
for b in 1 2 3 4 5; do head -c 6146 /dev/zero >"$T/c/cifar-10-batches-bin/data_batch_$b.bin"; done
head -c 6000 /dev/zero >"$T/c/cifar-10-batches-bin/data_batch_4.bin"
(cd "$T/c" && tar czf ../cifar-cut.tar.gz cifar-10-batches-bin)
bad "bad: truncated CIFAR record" ".*cifar-cut.tar.gz: cifar-10-batches-bin/data_batch_4.bin: truncated record" "$T/cifar-cut.tar.gz"
rm "$T/c/cifar-10-batches-bin/data_batch_4.bin"
(cd "$T/c" && tar czf ../cifar-miss.tar.gz cifar-10-batches-bin)
bad "bad: CIFAR batch missing" ".*cifar-miss.tar.gz: missing member data_batch_4.bin" "$T/cifar-miss.tar.gz"

# Folders.
cp -r "$T/folder" "$T/broken"
printf 'not really a png' >"$T/broken/dog/zz.png"
bad "bad: corrupt image in a folder" ".*broken/dog/zz.png: not a PNG or JPEG" "$T/broken"
cp -r "$T/folder" "$T/cutpng"
head -c 60 "$T/folder/dog/c.png" >"$T/cutpng/dog/c.png"
bad "bad: truncated PNG in a folder" ".*cutpng/dog/c.png: corrupt PNG" "$T/cutpng"
mkdir -p "$T/emptydir/cat"
bad "bad: empty folder" ".*emptydir: no PNG or JPEG images found" "$T/emptydir"
mkdir -p "$T/flat"; cp "$T/folder/cat/a.png" "$T/flat/"
bad "bad: image outside class folders (--labels folders)" ".*flat: a.png: image is not in a class subfolder" --labels folders "$T/flat"
cp -r "$T/folder" "$T/mixed"; cp "$T/folder/cat/a.png" "$T/mixed/"
bad "bad: mixed tree (--labels folders)" ".*mixed: a.png: image is not in a class subfolder" --labels folders "$T/mixed"
cp -r "$T/folder" "$T/cutjpg"
head -c 200 "$T/folder/cat/b.jpg" >"$T/cutjpg/cat/b.jpg"
bad "bad: truncated JPEG in a folder" ".*cutjpg/cat/b.jpg: corrupt JPEG" "$T/cutjpg"
cp -r "$T/folder" "$T/zero"
: >"$T/zero/dog/z.png"
bad "bad: zero-byte image" ".*zero/dog/z.png: empty file" "$T/zero"
mkdir -p "$T/onlytext/a"; echo x >"$T/onlytext/a/notes.txt"
bad "bad: folder of no images" ".*onlytext: no PNG or JPEG images found \(1 other file, e.g. a/notes.txt\)" "$T/onlytext"
(cd "$T/onlytext" && tar cf ../onlytext.tar a)
bad "bad: archive of no images" ".*onlytext.tar: no PNG or JPEG images found \(1 other file, e.g. a/notes.txt\)" "$T/onlytext.tar"
cp -r "$T/folder" "$T/allbad"
for f in "$T"/allbad/*/*; do printf 'junk' >"$f"; done
ssl-prep -q --on-error skip "$T/allbad" -o "$O" 2>"$T/allbad.err"
check "bad: nothing readable under --on-error skip: exit 1" $? -eq 1
check "bad: ... a warning for each image, then the error" \
    "$(grep -c 'warning: .*(skipped)$' "$T/allbad.err"),$(tail -n 1 "$T/allbad.err" | grep -c '^ssl-prep: .*allbad: none of the 5 images could be read$')" = "5,1"
check "bad: ... no output file" ! -e "$O"
fails "bad: --labels folders on IDX files" 2 "^ssl-prep: --labels folders: .*ok-images-idx3-ubyte is a pair of IDX files, not an image folder or archive \(try" \
    ssl-prep --labels folders "$T/ok-images-idx3-ubyte" "$T/ok-labels-idx1-ubyte" -o "$O"

# Output errors.
if [ -w /dev/full ]; then
    fails "bad: write to /dev/full" 1 '^ssl-prep: .*(space|full|write)' ssl-prep "$T/folder" -o /dev/full
fi
fails "bad: output directory missing" 1 '^ssl-prep: .*nodir/x.sslt' ssl-prep "$T/folder" -o "$T/nodir/x.sslt"
done_tests
