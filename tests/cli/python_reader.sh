# examples/sslt.py, the Python reader, on streams written by the C library
# (test_sslt --write-sample): dtypes, shapes, values, metadata, pipes, and
# damage raising SsltError; and its writer: datasets made from numpy arrays
# (NHWC, NCHW, grey) that ssl-info --check accepts and ssl-knn, ssl-init-bank
# and ssl-train read, features streams, refusals, --npz. Needs
# /usr/bin/python3 with numpy, msgpack and zstandard; prints SKIP otherwise
# (but checks that --help works without them).
. "$TOP/tests/lib.sh"
PY=/usr/bin/python3
if [ -x "$PY" ]; then
    # -S: no site packages, so no numpy: --help must not need it.
    ok "python: sslt.py --help without numpy" "$PY" -S "$TOP/examples/sslt.py" --help
    check "python: --help names --npz" "$(grep -c -- --npz "$T/.out")" -ge 1
fi
if ! [ -x "$PY" ] || ! "$PY" -c 'import numpy, msgpack, zstandard' 2>/dev/null; then
    skip "python reader" "$PY with numpy, msgpack and zstandard not available"
    done_tests
fi
W="$BIN/tests/test_sslt"
if [ ! -x "$W" ]; then fail "python: test_sslt built" "$W missing"; done_tests; fi
"$W" --write-sample "$T/s.sslt" || fail "python: write sample"
cat "$T/s.sslt" "$T/s.sslt" >"$T/cat.sslt"

cat >"$T/check.py" <<'PYEOF'
import io, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/examples")
import sslt
path = sys.argv[2]

def report(ok, name, detail=""):
    print(("PASS: %s" % name) if ok else ("FAIL: %s: %s" % (name, detail)))

def value(dt, i):   # the formulas of sample_value() in tests/test_sslt.c
    i = np.arange(i, dtype=np.int64)
    if dt == "u8": return (i * 7) % 256
    if dt == "i32": return i * 3 - 5
    if dt == "i64": return -(1 << 40) + i
    if dt == "f32": return i * 0.5 - 1
    return i / 4.0 - 0.75

secs = list(sslt.read_stream(path))
report(len(secs) == 2, "python: two sections", len(secs))
ds, t = secs
report(ds["kind"] == "dataset" and t["kind"] == "test", "python: kinds")
want_meta = {"classes": ["zero", "one", "two", "three", "four", "five", "six", "seven",
                         "eight", "nine", "ten", "eleven"],
             "mean": [0.25], "std": [0.5], "source": 'test_sslt "sample"',
             "subset": {"seed": 1, "ok": True}}
report(ds["meta"] == want_meta, "python: meta", ds["meta"])
report(list(ds["meta"]) == list(want_meta), "python: meta key order kept")
report(t["meta"] == {}, "python: empty meta")
im, lab = ds["tensors"]["images"], ds["tensors"]["labels"]
report(im.dtype == np.uint8 and im.shape == (6, 1, 4, 4) and
       np.array_equal(im.reshape(-1), value("u8", 96)), "python: images")
report(lab.dtype == np.int32 and np.array_equal(lab, np.arange(6) % 3), "python: labels")
shapes = {"u8": (6, 2, 3), "i32": (6,), "i64": (3, 2), "f32": (5, 4), "f64": (7,),
          "scalar": (), "empty": (0, 4), "zero_width": (3, 0)}
dts = {"u8": "u8", "i32": "i32", "i64": "i64", "f32": "f32", "f64": "f64",
       "scalar": "f64", "empty": "f32", "zero_width": "u8"}
np_dt = {"u8": np.uint8, "i32": np.int32, "i64": np.int64, "f32": np.float32, "f64": np.float64}
report(list(t["tensors"]) == list(shapes), "python: tensor order", list(t["tensors"]))
for name, a in t["tensors"].items():
    want = value(dts[name], int(np.prod(shapes[name]))).astype(np_dt[dts[name]]).reshape(shapes[name])
    report(a.dtype == np_dt[dts[name]] and a.shape == shapes[name] and np.array_equal(a, want),
           "python: tensor %s (dtype, shape, values)" % name, "%s %s %s" % (a.dtype, a.shape, a))

# A file object that is not seekable (a pipe).
p = subprocess.Popen(["cat", sys.argv[3]], stdout=subprocess.PIPE)
n = sum(1 for _ in sslt.read_stream(p.stdout))
p.wait()
report(n == 4, "python: concatenation through a pipe", n)

data = open(path, "rb").read()
boundary = None
bad = []
for cut in range(0, len(data), 3):
    try:
        got = list(sslt.read_stream(io.BytesIO(data[:cut])))
        if len(got) != 1 or boundary is not None:
            bad.append(cut)
        boundary = cut
    except sslt.SsltError as e:
        if "record" not in str(e) and cut:
            bad.append(cut)
report(not bad, "python: truncations raise (but the section boundary)", bad[:5])
bad = []
for pos in range(0, len(data), 7):
    d = bytearray(data)
    d[pos] ^= 0x5A
    try:
        got = list(sslt.read_stream(io.BytesIO(bytes(d))))
        same = len(got) == 2 and all(
            np.array_equal(a, b) for s, o in zip(got, secs) for a, b in
            zip(s["tensors"].values(), o["tensors"].values())) and got[0]["meta"] == secs[0]["meta"]
        if not same:
            bad.append(pos)
    except sslt.SsltError:
        pass
report(not bad, "python: flipped bytes raise (or change nothing)", bad[:5])
for blob, want in ((b"", "empty stream"), (b"hello", "not a tensor stream"),
                   (data + b"x", "trailing garbage")):
    try:
        list(sslt.read_stream(io.BytesIO(blob)))
        report(False, "python: error '%s'" % want, "no error")
    except sslt.SsltError as e:
        report(want in str(e), "python: error '%s'" % want, e)
PYEOF
"$PY" "$T/check.py" "$TOP" "$T/s.sslt" "$T/cat.sslt" >"$T/py.out" 2>"$T/py.err"
rc=$?
cat "$T/py.out"
check "python: checker exits 0" "$rc" -eq 0
check "python: checker quiet on stderr" ! -s "$T/py.err"
[ -s "$T/py.err" ] && head -5 "$T/py.err"

ok "python: CLI summary" "$PY" "$TOP/examples/sslt.py" "$T/s.sslt"
check "python: CLI lists sections" "$(grep -c -E '^section [12]: kind' "$T/.out")" -eq 2
ok "python: CLI on stdin" sh -c "'$PY' '$TOP/examples/sslt.py' - <'$T/cat.sslt'"
check "python: CLI stdin has 4 sections" "$(grep -c '^-: 4 sections' "$T/.out")" -eq 1
head -c 300 "$T/s.sslt" >"$T/cut.sslt"
fails "python: CLI on a truncated file" 1 "^sslt.py: $T/cut.sslt: record [0-9]+: truncated" "$PY" "$TOP/examples/sslt.py" "$T/cut.sslt"
fails "python: CLI without numpy says what is missing" 1 "^sslt.py: No module named .*python3-numpy" \
    "$PY" -S "$TOP/examples/sslt.py" "$T/s.sslt"

# Writing: datasets from numpy arrays.
cat >"$T/write.py" <<'PYEOF'
import os, sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/examples")
import sslt
T = sys.argv[2]

def report(ok, name, detail=""):
    print(("PASS: %s" % name) if ok else ("FAIL: %s: %s" % (name, detail)))

rng = np.random.default_rng(3)
# Three classes of 40 images, 16x16 RGB, NHWC: class k brightens channel k.
y = np.repeat(np.arange(3), 40)
x = rng.integers(0, 100, (120, 16, 16, 3)).astype(np.uint8)
for k in range(3):
    x[y == k, :, :, k] += 120
sslt.save_dataset(T + "/nhwc.sslt", x, y, classes=["red", "green", "blue"])
d = sslt.load(T + "/nhwc.sslt")
im, lab, meta = d["tensors"]["images"], d["tensors"]["labels"], d["meta"]
report(d["kind"] == "dataset" and im.shape == (120, 3, 16, 16) and im.dtype == np.uint8,
       "write: NHWC stored as u8 [N, C, H, W]", im.shape)
report(np.array_equal(im, x.transpose(0, 3, 1, 2)) and np.array_equal(lab, y) and lab.dtype == np.int32,
       "write: pixels and labels round trip")
m = x.reshape(-1, 3).astype(np.float64) / 255
report(meta["classes"] == ["red", "green", "blue"] and
       np.allclose(meta["mean"], m.mean(0), rtol=0, atol=1e-12) and
       np.allclose(meta["std"], m.std(0), rtol=0, atol=1e-12),
       "write: classes, per-channel mean and population std", meta)
# The same images given as NCHW, and as grey [N, H, W] without labels.
sslt.save_dataset(T + "/nchw.sslt", x.transpose(0, 3, 1, 2).copy(), y, classes=["red", "green", "blue"])
report(open(T + "/nchw.sslt", "rb").read() == open(T + "/nhwc.sslt", "rb").read(),
       "write: NCHW input gives the same bytes as NHWC")
sslt.save_dataset(T + "/grey.sslt", x[:, :, :, 0])
g = sslt.load(T + "/grey.sslt")
report(g["tensors"]["images"].shape == (120, 1, 16, 16) and g["meta"]["classes"] == ["unlabelled"] and
       not g["tensors"]["labels"].any(), "write: grey [N, H, W] without labels: one class", g["meta"]["classes"])
sslt.save_dataset(T + "/amb.sslt", np.zeros((2, 3, 4, 3), np.uint8), [0, 1], layout="NCHW")
report(sslt.load(T + "/amb.sslt")["tensors"]["images"].shape == (2, 3, 4, 3), "write: layout= settles [N, 3, 4, 3]")
report(sslt.load(T + "/amb.sslt")["meta"]["classes"] == ["0", "1"], "write: default class names")
# Refusals, with nothing left behind.
for name, call, msg in [
        ("ambiguous layout", lambda: sslt.save_dataset(T + "/bad.sslt", np.zeros((2, 3, 4, 3), np.uint8)), "NHWC or NCHW"),
        ("float images", lambda: sslt.save_dataset(T + "/bad.sslt", np.zeros((2, 4, 4), np.float32)), "uint8"),
        ("5 channels", lambda: sslt.save_dataset(T + "/bad.sslt", np.zeros((2, 5, 8, 8), np.uint8), layout="NCHW"), "5 channels"),
        ("label past the classes", lambda: sslt.save_dataset(T + "/bad.sslt", x, y, classes=["a", "b"]), "out of range"),
        ("negative label", lambda: sslt.save_dataset(T + "/bad.sslt", x, -y), "non-negative"),
        ("labels of another length", lambda: sslt.save_dataset(T + "/bad.sslt", x, y[:5]), "120 integers"),
        ("a bool tensor", lambda: sslt.save(T + "/bad.sslt", {"b": np.zeros(3, bool)}, "test"), "dtype bool"),
        ("a metadata object", lambda: sslt.save(T + "/bad.sslt", {"a": np.zeros(3)}, "test", {"f": open}), "cannot be stored")]:
    try:
        call()
        report(False, "write refuses: " + name, "no error")
    except ValueError as e:
        report(msg in str(e) and not os.path.exists(T + "/bad.sslt"), "write refuses: " + name, e)
try:
    sslt.save_dataset(T + "/no/such/dir/x.sslt", x, y)
    report(False, "write: a missing folder raises OSError", "no error")
except OSError:
    report(not os.path.exists(T + "/no"), "write: a missing folder raises OSError")
report(not [f for f in os.listdir(T) if ".tmp." in f], "write: no temporary file left")
# Any kind: a features stream, and every dtype, big-endian input included.
f = (x.reshape(120, -1)[:, :48].astype(np.float32) / 255)
sslt.save(T + "/f.feat", {"features": f, "labels": y.astype(np.int32)}, "features",
          {"classes": ["red", "green", "blue"], "note": np.float64(0.5)})
rt = sslt.load(T + "/f.feat")
report(np.array_equal(rt["tensors"]["features"], f) and rt["meta"]["note"] == 0.5, "write: a features stream")
t = {"u8": np.arange(6, dtype=np.uint8).reshape(2, 3), "i64": np.array([-1, 2**40], ">i8"),
     "f64": np.float64(2.5), "empty": np.zeros((0, 4), np.float32)}
with open(T + "/t.sslt", "wb") as fo:
    sslt.write_stream(fo, [{"kind": "test", "meta": {}, "tensors": t},
                           {"kind": "test", "meta": {"n": 2}, "tensors": {"big": np.arange(3 << 20, dtype=np.float32)}}])
secs = list(sslt.read_stream(T + "/t.sslt"))
ok = len(secs) == 2 and all(np.array_equal(secs[0]["tensors"][k], v) for k, v in t.items())
report(ok and secs[0]["tensors"]["i64"].dtype == np.dtype("<i8") and secs[0]["tensors"]["f64"].shape == () and
       np.array_equal(secs[1]["tensors"]["big"], np.arange(3 << 20, dtype=np.float32)),
       "write: two sections, every dtype, a scalar, an empty and a 12 MiB tensor (chunked)")
PYEOF
"$PY" "$T/write.py" "$TOP" "$T" >"$T/w.out" 2>"$T/w.err"
rc=$?
cat "$T/w.out"
check "python: writer checks exit 0" "$rc" -eq 0
check "python: writer checks quiet on stderr" ! -s "$T/w.err"
[ -s "$T/w.err" ] && head -5 "$T/w.err"
for f in nhwc nchw grey amb; do ok "python: ssl-info --check accepts $f.sslt" ssl-info --check "$T/$f.sslt"; done
ok "python: ssl-info --check accepts t.sslt (two sections)" ssl-info --check "$T/t.sslt"
ok "python: ssl-info --check accepts f.feat" ssl-info --check "$T/f.feat"
check "python: ssl-info sees the dataset" \
    "$(ssl-info --json "$T/nhwc.sslt" | grep -c '"classes":\["red","green","blue"\].*"name":"images","dtype":"u8","shape":\[120,3,16,16\]')" -eq 1
ok "python: a dataset through a pipe" sh -c "'$PY' -c 'import sys; sys.path.insert(0, \"$TOP/examples\"); import sslt, numpy
sslt.save_dataset(\"-\", numpy.zeros((4, 8, 8), numpy.uint8))' | ssl-info --check -"
ok "python: ssl-knn reads the dataset (raw pixels)" ssl-knn -k 5 --json "$T/nhwc.sslt" "$T/nchw.sslt"
check "python: kNN of the coloured classes is perfect" "$(grep -c '"top1":1' "$T/.out")" -eq 1
ok "python: ssl-knn reads the features" ssl-knn -k 5 --json "$T/f.feat" "$T/f.feat"
ok "python: ssl-init-bank reads it" ssl-init-bank -q --width 0.125 --head linear --dim 8 --batch 30 \
    --threads 2 "$T/nhwc.sslt" -o "$T/p.ckpt"
ok "python: ssl-train reads it" ssl-train -q --epochs 1 --batch 30 -k 30 --lr 0.01 --threads 2 \
    "$T/p.ckpt" "$T/nhwc.sslt" -o "$T/p2.ckpt"
ok "python: ssl-extract reads it" ssl-extract --threads 2 "$T/p2.ckpt" "$T/nhwc.sslt" -o "$T/p.feat"
# A bf16 bank (ssl-init-bank --bank-dtype bf16) comes back as float32: the
# f32 bank of the same seed rounded to bf16 (the random bank).
ok "python: a bf16 bank" ssl-init-bank -q --recipe npid --width 0.125 --dim 8 --batch 30 --bank random \
    --bank-dtype bf16 --threads 2 "$T/nhwc.sslt" -o "$T/b16.ckpt"
ok "python: the f32 bank" ssl-init-bank -q --recipe npid --width 0.125 --dim 8 --batch 30 --bank random \
    --threads 2 "$T/nhwc.sslt" -o "$T/b32.ckpt"
check "python: the bf16 bank read as float32, the f32 one rounded" "$("$PY" -c "import sys
sys.path.insert(0, '$TOP/examples'); import sslt, numpy as np
a = sslt.load('$T/b16.ckpt')['tensors']['bank']; b = sslt.load('$T/b32.ckpt')['tensors']['bank']
u = b.view(np.uint32).astype(np.uint64); r = (((u + 0x7fff + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
print(a.dtype, a.shape, bool(np.array_equal(a, r)), bool(np.array_equal(a, b)))")" = "float32 (120, 8) True False"

# --npz from the command line.
ok "python: --npz" "$PY" "$TOP/examples/sslt.py" --npz "$T/n.npz" "$T/nhwc.sslt"
check "python: --npz holds images, labels and metadata" "$("$PY" -c "import json, numpy as np
z = np.load('$T/n.npz'); m = json.loads(z['__meta__'].item())
print(sorted(z.files), z['images'].shape, z['labels'].dtype, m['kind'], m['meta']['classes'][0])")" = \
    "['__meta__', 'images', 'labels'] (120, 3, 16, 16) int32 dataset red"
ok "python: --npz --section 2" sh -c "'$PY' '$TOP/examples/sslt.py' --npz '$T/n2.npz' --section 2 - <'$T/t.sslt'"
check "python: section 2 is the big tensor" "$("$PY" -c "import numpy as np; print(np.load('$T/n2.npz')['big'].shape)")" = "(3145728,)"
fails "python: --npz --section 3 of 2" 1 "^sslt.py: .*no section 3 \(the stream has 2\)" \
    "$PY" "$TOP/examples/sslt.py" --npz "$T/n3.npz" --section 3 "$T/t.sslt"
fails "python: --npz with two files" 2 "--npz takes one FILE" "$PY" "$TOP/examples/sslt.py" --npz "$T/x.npz" a b
done_tests
