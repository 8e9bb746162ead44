#!/bin/sh
# tests/fuzz/mkcorpus.sh: regenerate the committed seed corpora in
# tests/fuzz/corpus/<target>/ from a built tree (BIN, default bin; needs
# ssl-prep, ssl-init-bank, ssl-train, bin/tests/test_prep and test_regress,
# tar, gzip, zip). Seeds are small valid
# inputs; the fuzzer mutates them. Run from anywhere:
#   BIN=bin sh tests/fuzz/mkcorpus.sh
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
C="$TOP/tests/fuzz/corpus"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export TZ=UTC
rm -rf "$C"
mkdir -p "$C/sslt" "$C/dataset" "$C/idx" "$C/cifar" "$C/images" "$C/options" "$C/ckpt" \
    "$C/train_config" "$C/safetensors"

# Images: a tiny class-per-folder tree (4 PNG, 1 JPEG), as tar, tar.gz, zip,
# and single files for the decoders.
"$BIN/tests/test_prep" --mkfolder "$T/f"
touch -d 2020-01-01 "$T/f" "$T/f"/* "$T/f"/*/*
(cd "$T" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$C/images/tree.tar" f)
gzip -9n <"$C/images/tree.tar" >"$C/images/tree.tar.gz"
(cd "$T" && zip -qrX "$C/images/tree.zip" f)
cp "$T/f/dog/c.png" "$C/images/c.png"
cp "$T/f/cat/b.jpg" "$C/images/b.jpg"
# A flat tree and a mixed one with a text file and a truncated PNG.
mkdir -p "$T/flat" "$T/mixed"
cp "$T"/f/*/* "$T/flat/"
cp -r "$T"/f/* "$T/mixed/"
cp "$T/f/cat/a.png" "$T/mixed/top.png"
echo notes >"$T/mixed/cat/notes.txt"
head -c 60 "$T/f/dog/c.png" >"$T/mixed/dog/cut.png"
touch -d 2020-01-01 "$T/flat" "$T/flat"/* "$T/mixed" "$T/mixed"/* "$T/mixed"/*/*
(cd "$T" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$C/images/flat.tar" flat)
(cd "$T" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$C/images/mixed.tar" mixed)

# Tensor streams: datasets written by ssl-prep, and two concatenated.
(cd "$T" && "$BIN/ssl-prep" -q --size 4 --channels 1 f -o "$C/sslt/grey4.sslt")
(cd "$T" && "$BIN/ssl-prep" -q --size 3x2 f -o "$C/sslt/rgb3x2.sslt")
cat "$C/sslt/grey4.sslt" "$C/sslt/rgb3x2.sslt" >"$C/sslt/two.sslt"
(cd "$T" && "$BIN/ssl-prep" -q --size 4 --channels 1 flat -o "$C/sslt/unlabelled.sslt")
# A features stream (ssl-extract of a tiny random network), when built.
if [ -x "$BIN/ssl-extract" ] && [ -x "$BIN/ssl-init-bank" ]; then
    (cd "$T" && "$BIN/ssl-prep" -q --size 8 --channels 1 f -o grey8.sslt &&
     "$BIN/ssl-init-bank" -q --width 0.125 --head linear --dim 8 --bank random --threads 1 \
         --batch 5 grey8.sslt -o c.ckpt &&
     "$BIN/ssl-extract" -q --threads 1 --layer head c.ckpt grey8.sslt -o "$C/sslt/features.sslt" &&
     "$BIN/ssl-prep" -q --size 8 --channels 1 flat -o ugrey8.sslt &&
     "$BIN/ssl-extract" -q --threads 1 --layer head c.ckpt ugrey8.sslt -o "$C/sslt/features-unlabelled.sslt")
fi
cp "$C/sslt/"*.sslt "$C/dataset/"

# IDX: 3 images of 2x2 and 3 labels. Input = split byte + images + labels
# (see fuzz_idx.c): seed() picks the split byte that cuts between the two.
printf '\000\000\010\003\000\000\000\003\000\000\000\002\000\000\000\002\001\002\003\004\005\006\007\010\011\012\013\014' >"$T/img"
printf '\000\000\010\001\000\000\000\003\000\001\011' >"$T/lab"
gzip -9n <"$T/img" >"$T/img.gz"
gzip -9n <"$T/lab" >"$T/lab.gz"
seed() { # out images labels: choose the split byte so the cut falls right
    ni=$(wc -c <"$2"); nl=$(wc -c <"$3")
    b=$(( (ni * 256 + ni + nl - 1) / (ni + nl) ))
    [ "$b" -gt 255 ] && b=255
    printf "\\$(printf %03o "$b")" >"$1"
    cat "$2" "$3" >>"$1"
}
seed "$C/idx/plain" "$T/img" "$T/lab"
seed "$C/idx/gzip" "$T/img.gz" "$T/lab.gz"
seed "$C/idx/mixed" "$T/img.gz" "$T/lab"

# CIFAR: test_prep's CIFAR-10 tarball (10 + 2 records), and a CIFAR-100
# tar with 2 train and 1 test records.
"$BIN/tests/test_prep" --mkcifar "$C/cifar/cifar10.tar.gz"
gzip -dc "$C/cifar/cifar10.tar.gz" >"$C/cifar/cifar10.tar"
mkdir -p "$T/cifar-100-binary"
{ printf '\001\007'; head -c 3072 /dev/zero; printf '\002\011'; head -c 3072 /dev/zero | tr '\000' '\177'; } >"$T/cifar-100-binary/train.bin"
{ printf '\000\000'; head -c 3072 /dev/zero | tr '\000' '\377'; } >"$T/cifar-100-binary/test.bin"
printf 'c0\nc1\nc2\n' >"$T/cifar-100-binary/coarse_label_names.txt"
for i in 0 1 2 3 4 5 6 7 8 9; do echo "fine$i"; done >"$T/cifar-100-binary/fine_label_names.txt"
touch -d 2020-01-01 "$T/cifar-100-binary" "$T/cifar-100-binary"/*
(cd "$T" && tar --sort=name --owner=0 --group=0 --numeric-owner -czf "$C/cifar/cifar100.tar.gz" cifar-100-binary)

# Options: NUL-separated argument vectors for ssl-prep's parser.
opt() { f=$1; shift; : >"$C/options/$f"; for a in "$@"; do printf '%s\000' "$a" >>"$C/options/$f"; done; }
opt basic -o out.sslt --split test --channels 1 in
opt size --size 32x24 --subset 0.25 --seed 7 --level 3 dir
opt classes --classes a,b,c --subset 10 --labels coarse --threads 2 -q x.tar.gz
opt bad --size 0x9 --channels 2 --level 99 --subset 1e-9 a b c
opt lists 1,2,3 1.5,2e3 -0 99999999999999999999 nan inf
opt help --help
opt layout --labels none --on-error skip --size 8 photos.zip
opt folders --labels=folders --on-error=stop dir
opt long --spli=val -v -v --thr 1 a
# Checkpoints: a tiny network (width 1/32: 2 to 16 channels) on the five
# 8x8 images, fresh from ssl-init-bank (head linear, and none) and after one
# epoch of ssl-train (momentum and config.train set). Each under 256 KiB,
# run.sh's -max_len.
if [ -x "$BIN/ssl-init-bank" ] && [ -x "$BIN/ssl-train" ]; then
    (cd "$T" && "$BIN/ssl-prep" -q --size 8 --channels 1 f -o g8.sslt &&
     "$BIN/ssl-init-bank" -q --width 0.03125 --head linear --dim 8 --bank random --threads 1 \
         --batch 5 g8.sslt -o "$C/ckpt/linear.ckpt" &&
     "$BIN/ssl-init-bank" -q --width 0.03125 --head none --bank random --threads 1 \
         --batch 5 g8.sslt -o "$C/ckpt/none.ckpt" &&
     "$BIN/ssl-train" -q --threads 1 --epochs 1 --batch 2 --recipe npid "$C/ckpt/linear.ckpt" \
         g8.sslt -o "$C/ckpt/trained.ckpt")
    # Training configurations: msgpack maps (the stored configuration, its
    # train and net maps, two hand-made ones), from test_regress.
    "$BIN/tests/test_regress" --config-seeds "$C/ckpt/trained.ckpt" "$C/train_config"
    # {"train": [1]}: a train entry that is not a map (crashed apply).
    printf '\201\245train\221\001' >"$C/train_config/train-array"
    # Safetensors: the tiny networks exported (backbone; linear head).
    if [ -x "$BIN/ssl-export" ]; then
        "$BIN/ssl-export" "$C/ckpt/none.ckpt" -o "$C/safetensors/none.safetensors"
        "$BIN/ssl-export" --head "$C/ckpt/trained.ckpt" -o "$C/safetensors/head.safetensors"
    fi
fi
# Safetensors by hand: the header's length (u64 LE), the JSON, the data.
le8() { n=$1; i=0; while [ $i -lt 8 ]; do printf "\\$(printf %03o $((n % 256)))"; n=$((n / 256)); i=$((i + 1)); done; }
st() { { le8 "${#2}"; printf '%s' "$2"; head -c "$3" /dev/zero; } >"$C/safetensors/$1"; }
st dtypes '{"__metadata__":{"k":"v","\u00e9":"\ud83d\ude00"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"c":{"dtype":"BOOL","shape":[0,3],"data_offsets":[16,16]},"d":{"dtype":"F8_E4M3","shape":[3],"data_offsets":[16,19]}}' 19
st reversed '{"b":{"dtype":"U8","shape":[1],"data_offsets":[4,5]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  ' 5
st empty '{}' 0
echo "corpus: $(find "$C" -type f | wc -l) files, $(du -sk "$C" | cut -f1) KiB"
