#!/bin/sh
# augment.sh: images/s of augment_batch (paper recipe) for 1x28x28, 3x32x32
# and 3x64x64 (with GaussianBlur) on 1 and 2 threads, then, where Debian's
# python3-torchvision is installed, torchvision's tensor transforms doing the
# same view one image at a time (the usual DataLoader worker path) for
# comparison. Run by tests/bench.sh (make bench) with TOP and BIN set.
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-$TOP/bin}
b="$BIN/bench/bench_augment"
if [ ! -x "$b" ]; then
    echo "augment: $b not built (make bench)"
    exit 1
fi
for t in 1 2; do
    "$b" --threads "$t" || exit 1
done
py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c 'import torchvision' 2>/dev/null; then
    "$py" - <<'PY'
import time, torch
import torchvision.transforms as T
torch.set_num_threads(1)
for c, s in [(1, 28), (3, 32), (3, 64)]:
    ops = [T.RandomResizedCrop(s, scale=(0.2, 1.0), antialias=False),
           T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
           T.RandomGrayscale(0.2), T.RandomHorizontalFlip()]
    if s >= 64:
        ops.append(T.RandomApply([T.GaussianBlur(7, (0.1, 2.0))], p=0.5))
    ops.append(T.Normalize([0.5] * c, [0.25] * c))
    tf = T.Compose(ops)
    x = torch.randint(0, 256, (256, c, s, s), dtype=torch.uint8).float() / 255
    tf(x[0])
    t0 = time.perf_counter(); n = 0
    while time.perf_counter() - t0 < 0.5:
        for i in range(64):
            tf(x[i])
        n += 64
    print("torchvision %dx%dx%d per image, 1 thread: %.0f img/s" % (c, s, s, n / (time.perf_counter() - t0)))
PY
else
    echo "torchvision: not installed (python3-torchvision), no comparison"
fi
