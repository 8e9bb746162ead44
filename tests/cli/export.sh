# ssl-export: a small trained checkpoint as safetensors; the file's
# structure checked from the shell (header length, JSON entries, sizes,
# metadata), stdout and stdin, the same bytes twice, --check on good and
# lying files, bad input; then, with python3-torch, the file loaded into
# examples/ssl_resnet.py (strict) reproduces ssl-extract's features to 1e-4,
# for ResNets and MobileNets.
. "$TOP/tests/lib.sh"
gen="$BIN/tests/test_train"
NET="--width 0.125 --head mlp3 --hidden 32 --dim 16 --threads 2"
ok "make a dataset" "$gen" --write-dataset "$T/d.sslt" 128 28 1
ok "make a 3-channel dataset" "$gen" --write-dataset "$T/rgb.sslt" 64 32 3
ok "init" ssl-init-bank -q $NET --batch 32 --seed 1 "$T/d.sslt" -o "$T/c.ckpt"
# A gentle lr: these tiny synthetic sets drive the BN running statistics
# far from the batches' at the paper's lr 1, and eval features to ~1e4.
ok "train 2 epochs" ssl-train -q --epochs 2 --batch 32 -k 32 --lr 0.01 --threads 2 \
    "$T/c.ckpt" "$T/d.sslt" -o "$T/t.ckpt"
ok "init resnet50, imagenet stem, linear head, rgb" ssl-init-bank -q --arch resnet50 --stem imagenet \
    --width 0.125 --head linear --dim 16 --batch 16 --seed 2 --threads 2 "$T/rgb.sslt" -o "$T/r.ckpt"
# The MobileNets: V2 trained a little (grey), V3-small with torchvision's
# strides and the mlp3 head (rgb).
ok "init mobilenetv2" ssl-init-bank -q --arch mobilenetv2 --width 0.25 --head linear --dim 16 \
    --batch 32 --seed 3 --threads 2 "$T/d.sslt" -o "$T/v2c.ckpt"
ok "train mobilenetv2 1 epoch" ssl-train -q --epochs 1 --batch 32 -k 32 --lr 0.01 --threads 2 \
    "$T/v2c.ckpt" "$T/d.sslt" -o "$T/v2.ckpt"
ok "init mobilenetv3s, imagenet stem, mlp3 head, rgb" ssl-init-bank -q --arch mobilenetv3s \
    --stem imagenet --width 0.5 --head mlp3 --hidden 32 --dim 16 --batch 16 --seed 4 --threads 2 \
    "$T/rgb.sslt" -o "$T/v3.ckpt"
ok "export mobilenetv2" ssl-export "$T/v2.ckpt" -o "$T/v2.safetensors"
ok "export mobilenetv3s --head" ssl-export --head "$T/v3.ckpt" -o "$T/v3.safetensors"
ok "--check the MobileNets' files" ssl-export --check "$T/v2.safetensors" "$T/v3.safetensors"

ok "export" ssl-export "$T/t.ckpt" -o "$T/m.safetensors"
ok "export --check" ssl-export --check -v "$T/m.safetensors"
check "--check -v says ok" "$(grep -c 'm.safetensors: ok, 1[0-9][0-9] tensors' "$T/.err")" -eq 1

# The structure, without Python: N (u64 LE), N bytes of JSON, the data.
hlen() { od -An -tu8 -N8 "$1" | tr -d ' '; }
N=$(hlen "$T/m.safetensors")
dd if="$T/m.safetensors" bs=1 skip=8 count="$N" 2>/dev/null >"$T/h.json"
check "header length: 8 + N is a multiple of 8" "$(( (8 + N) % 8 ))" -eq 0
check "header starts with {" "$(head -c 1 "$T/h.json")" = "{"
check "conv1: F32 [8, 1, 3, 3] at [0, 288]" \
    "$(grep -c '"backbone.conv1.weight":{"dtype":"F32","shape":\[8,1,3,3\],"data_offsets":\[0,288\]}' "$T/h.json")" -eq 1
check "BN counter: I64 scalar after running_var" \
    "$(grep -c '"backbone.bn1.running_var":{[^}]*},"backbone.bn1.num_batches_tracked":{"dtype":"I64","shape":\[\]' "$T/h.json")" -eq 1
check "no head without --head" "$(grep -c '"head\.' "$T/h.json")" -eq 0
check "no bank, no momentum" "$(grep -c '"bank":{\|"bank_labels":{\|"opt\.momentum\.' "$T/h.json")" -eq 0
check "metadata: architecture" \
    "$(grep -c '"arch":"resnet18","stem":"cifar","width":"0.125","in_channels":"1","in_height":"28","in_width":"28","features":"64","head":"none"' "$T/h.json")" -eq 1
check "metadata: mean and std as JSON lists" "$(grep -c '"mean":"\[0\.[0-9]*\]","std":"\[0\.[0-9]*\]"' "$T/h.json")" -eq 1
check "metadata: epoch and step" "$(grep -c '"epoch":"2","step":"8"' "$T/h.json")" -eq 1
# Every backbone tensor of the checkpoint, and one counter per BN.
ssl-info --json "$T/t.ckpt" | grep -o '"name":"backbone\.[^"]*"' | sed 's/"name"://' >"$T/ck.names"
grep -o '"backbone\.[^"]*":{' "$T/h.json" | sed 's/:{$//' >"$T/st.names"
nbn=$(grep -c 'running_var' "$T/ck.names")
check "the checkpoint's backbone tensors, in order" \
    "$(grep -v num_batches_tracked "$T/st.names" | cmp -s - "$T/ck.names" && echo same)" = same
check "one num_batches_tracked per BN ($nbn)" "$(grep -c num_batches_tracked "$T/st.names")" -eq "$nbn"
# Sizes: the last tensor's end offset is the data length, and the file is 8 + N + that.
last=$(grep -o '"data_offsets":\[[0-9]*,[0-9]*\]' "$T/h.json" | tail -1 | sed 's/.*,\([0-9]*\)\]/\1/')
check "file size = 8 + N + data" "$(wc -c <"$T/m.safetensors")" -eq $((8 + N + last))
ckb=$(ssl-info --json "$T/t.ckpt" | grep -o '"name":"backbone\.[^}]*"bytes":[0-9]*' | sed 's/.*"bytes"://' | awk '{s+=$1} END {print s}')
check "data = the checkpoint's backbone bytes + 8 per BN" "$last" -eq $((ckb + 8 * nbn))

ok "export to stdout" sh -c "ssl-export '$T/t.ckpt' >'$T/o.safetensors'"
check "-o - and -o FILE give the same bytes" "$(cmp "$T/o.safetensors" "$T/m.safetensors" && echo same)" = same
ok "checkpoint from stdin" sh -c "ssl-export - <'$T/t.ckpt' -o '$T/i.safetensors'"
check "stdin gives the same bytes" "$(cmp "$T/i.safetensors" "$T/m.safetensors" && echo same)" = same
ok "--head" ssl-export --head "$T/t.ckpt" -o "$T/h.safetensors"
dd if="$T/h.safetensors" bs=1 skip=8 count="$(hlen "$T/h.safetensors")" 2>/dev/null >"$T/hh.json"
check "--head: head.0.weight F32 [32, 64]" "$(grep -c '"head.0.weight":{"dtype":"F32","shape":\[32,64\]' "$T/hh.json")" -eq 1
check "--head: head.4 BN counter" "$(grep -c '"head.4.num_batches_tracked":{"dtype":"I64"' "$T/hh.json")" -eq 1
check "--head: metadata head, dim, hidden" "$(grep -c '"head":"mlp3","dim":"16","hidden":"32"' "$T/hh.json")" -eq 1
ok "export resnet50 --head" ssl-export --head "$T/r.ckpt" -o "$T/r.safetensors"
ok "--check two files and stdin" sh -c "ssl-export --check '$T/m.safetensors' - <'$T/r.safetensors'"

# Bad input: one line, exit 1, nothing left under the output name.
fails "a dataset is not a checkpoint" 1 "^ssl-export: .*d.sslt: not a checkpoint" \
    ssl-export "$T/d.sslt" -o "$T/x.safetensors"
head -c 20000 "$T/t.ckpt" >"$T/cut.ckpt"
fails "a truncated checkpoint" 1 "^ssl-export: .*cut.ckpt: record [0-9]+: truncated" \
    ssl-export "$T/cut.ckpt" -o "$T/x.safetensors"
fails "a missing checkpoint" 1 "^ssl-export: .*nosuch.ckpt: No such file" ssl-export "$T/nosuch.ckpt" -o "$T/x.safetensors"
check "nothing left after failures" ! -e "$T/x.safetensors"
fails "no operand" 2 "^ssl-export: expected one CKPT" ssl-export
fails "two operands" 2 "^ssl-export: expected one CKPT" ssl-export a b
fails "--check without files" 2 "^ssl-export: --check needs" ssl-export --check
fails "--check with -o" 2 "^ssl-export: --check takes no" ssl-export --check -o x a

# --check on files that lie. st FILE JSON DATA_BYTES writes the header's
# length (u64 LE), JSON and that many zero bytes.
le8() { n=$1; i=0; while [ $i -lt 8 ]; do printf "\\$(printf %03o $((n % 256)))"; n=$((n / 256)); i=$((i + 1)); done; }
st() { { le8 "${#2}"; printf '%s' "$2"; head -c "$3" /dev/zero; } >"$T/$1"; }
st ok.st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
ok "--check: a hand-made file" ssl-export --check "$T/ok.st"
st overlap.st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 12
fails "--check: overlapping tensors" 1 "overlap.st: tensors 'a' and 'b' overlap \(data_offsets \[0, 8\] and \[4, 12\]\)$" \
    ssl-export --check "$T/overlap.st"
st range.st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 4
fails "--check: offsets past the data" 1 "range.st: truncated \(the tensors need 8 bytes of data, 4 follow\)$" \
    ssl-export --check "$T/range.st"
st size.st '{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}' 8
fails "--check: wrong dtype size" 1 "size.st: tensor 'a': data_offsets \[0, 8\] hold 8 bytes, F64 \[2\] needs 16$" \
    ssl-export --check "$T/size.st"
st json.st '{"a":' 0
fails "--check: not JSON" 1 "json.st: the header is not JSON: byte 5: unexpected end of text$" ssl-export --check "$T/json.st"
{ le8 4000000000; printf '{}'; } >"$T/absurd.st"
fails "--check: absurd header length" 1 "absurd.st: header length 4000000000 is absurd" ssl-export --check "$T/absurd.st"
fails "--check: a tensor stream" 1 "d.sslt: header length [0-9]+ is absurd|d.sslt: header length [0-9]+ exceeds" \
    ssl-export --check "$T/d.sslt"
cat "$T/m.safetensors" /dev/null >"$T/tail.st"; printf 'x' >>"$T/tail.st"
fails "--check: a byte after the data" 1 "tail.st: trailing bytes" ssl-export --check "$T/tail.st"
ssl-export --check "$T/ok.st" "$T/overlap.st" "$T/ok.st" "$T/size.st" >"$T/two.out" 2>"$T/two.err"
check "--check: one line per bad file, exit 1" "$?:$(wc -l <"$T/two.err")" = "1:2"

# PyTorch: the exported file reproduces ssl-extract.
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch, numpy, msgpack, zstandard' 2>/dev/null; then
    skip "export: features in PyTorch" "$PY with torch, numpy, msgpack and zstandard not available (python3-torch)"
    done_tests
fi
ok "extract backbone" ssl-extract --threads 2 "$T/t.ckpt" "$T/d.sslt" -o "$T/t.feat"
ok "extract resnet50 head" ssl-extract --threads 2 --layer head "$T/r.ckpt" "$T/rgb.sslt" -o "$T/r.feat"
cat >"$T/cmp.py" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv[1] + "/examples")
import numpy as np, torch, ssl_resnet, sslt
torch.set_num_threads(2)
model, meta = ssl_resnet.load(sys.argv[2])          # load_state_dict(strict=True)
tensors, _ = ssl_resnet.read_safetensors(sys.argv[2])
assert set(model.state_dict()) == set(tensors), "the module's keys are the file's"
images = sslt.load(sys.argv[3])["tensors"]["images"]
want = sslt.load(sys.argv[4])["tensors"]["features"]
got = ssl_resnet.features(model, meta, torch.from_numpy(images), sys.argv[5]).numpy()
d = float(np.abs(got - want).max())
print("%s %s max|diff| %.3g, max|feature| %.3g" % (got.shape, want.shape, d, float(np.abs(want).max())))
sys.exit(0 if got.shape == want.shape and d <= 1e-4 else 1)
PYEOF
ok "PyTorch backbone features = ssl-extract's (1e-4)" "$PY" "$T/cmp.py" "$TOP" "$T/m.safetensors" "$T/d.sslt" "$T/t.feat" backbone
cat "$T/.out"
ok "PyTorch resnet50 head features = ssl-extract's (1e-4)" "$PY" "$T/cmp.py" "$TOP" "$T/r.safetensors" "$T/rgb.sslt" "$T/r.feat" head
cat "$T/.out"
ok "extract mobilenetv2 backbone" ssl-extract --threads 2 "$T/v2.ckpt" "$T/d.sslt" -o "$T/v2.feat"
ok "extract mobilenetv3s head" ssl-extract --threads 2 --layer head "$T/v3.ckpt" "$T/rgb.sslt" -o "$T/v3.feat"
ok "PyTorch mobilenetv2 backbone features = ssl-extract's (1e-4)" "$PY" "$T/cmp.py" "$TOP" "$T/v2.safetensors" "$T/d.sslt" "$T/v2.feat" backbone
cat "$T/.out"
ok "PyTorch mobilenetv3s head features = ssl-extract's (1e-4)" "$PY" "$T/cmp.py" "$TOP" "$T/v3.safetensors" "$T/rgb.sslt" "$T/v3.feat" head
cat "$T/.out"
ok "ssl_resnet.py as a program" "$PY" "$TOP/examples/ssl_resnet.py" "$T/m.safetensors" "$T/d.sslt" -o "$T/f.npy"
check "ssl_resnet.py wrote [128, 64]" "$("$PY" -c "import numpy; print(numpy.load('$T/f.npy').shape)")" = "(128, 64)"
done_tests
