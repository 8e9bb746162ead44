# examples/sslt.py, the Python reader, on streams written by the C library
# (test_sslt --write-sample): dtypes, shapes, values, metadata, pipes, and
# damage raising SsltError. Needs /usr/bin/python3 with numpy, msgpack and
# zstandard; prints SKIP otherwise.
. "$TOP/tests/lib.sh"
PY=/usr/bin/python3
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
done_tests
