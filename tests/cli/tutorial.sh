# README.md's tutorial, run as written: the sh and python blocks between
# "<!-- tutorial: begin -->" and "<!-- tutorial: end -->", in a fresh folder
# holding photos/ (80 generated 32x32 PNGs in two class folders, test_prep
# --mkpngs). The python block needs python3-torch (SKIP otherwise) and must
# print features that match ssl-extract's within 1e-4.
. "$TOP/tests/lib.sh"
W="$T/work"
mkdir -p "$W"
awk -v dir="$W" '
    /<!-- tutorial: begin -->/ { on = 1; next }
    /<!-- tutorial: end -->/ { on = 0 }
    on && /^```sh$/ { out = dir "/tutorial.sh"; next }
    on && /^```python$/ { out = dir "/tutorial.py"; next }
    /^```$/ { out = ""; next }
    out != "" { print > out }' "$TOP/README.md"
check "README has the tutorial's sh block" -s "$W/tutorial.sh"
check "README has the tutorial's python block" -s "$W/tutorial.py"
check "the sh block runs ssl-prep, ssl-init-bank, ssl-train, ssl-export" \
    "$(grep -c '^ssl-prep \|^ssl-init-bank \|^ssl-train \|^ssl-export ' "$W/tutorial.sh")" -ge 4
ok "generate photos/" "$BIN/tests/test_prep" --mkpngs "$W/photos" 40 32
# The modules of this tree come first; the block appends the installed folder.
PYTHONPATH="$TOP/examples"
export PYTHONPATH
printf 'set -e\n' >"$W/run.sh"
cat "$W/tutorial.sh" >>"$W/run.sh"
printf '\nprintf "%%s" "$PYTHONPATH" >.pythonpath\n' >>"$W/run.sh"
ok "the sh block" sh -c "cd '$W' && sh run.sh"
cp "$T/.err" "$T/sh.err"
check "photos.sslt: 80 images, 3x32x32, 2 classes" \
    "$(ssl-info --json "$W/photos.sslt" | grep -c '"classes":\["discs","stripes"\].*"shape":\[80,3,32,32\]')" -eq 1
check "trained 10 epochs" "$(grep -c 'epoch 10/10 done' "$T/sh.err")" -eq 1
check "model.safetensors checked" "$(grep -c 'model.safetensors: ok' "$T/sh.err")" -eq 1
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch, numpy, msgpack, zstandard' 2>/dev/null; then
    skip "tutorial: the python block" "$PY with torch, numpy, msgpack and zstandard not available (python3-torch)"
    done_tests
fi
ok "the python block" sh -c "cd '$W' && PYTHONPATH=\$(cat .pythonpath) '$PY' tutorial.py"
cat "$T/.out"
check "python: features [80, 64]" "$(grep -c '^torch.Size(\[80, 64\])$' "$T/.out")" -eq 1
d=$(sed -n 's/^max |difference|: //p' "$T/.out")
check "python: features = ssl-extract's within 1e-4 ($d)" "$(awk -v d="$d" 'BEGIN { print (d != "" && d + 0 <= 1e-4) }')" -eq 1
done_tests
