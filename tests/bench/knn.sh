#!/bin/sh
# knn.sh: lib/eval/knn speed (bench_knn) on 10000 queries x 50000 training rows
# x 512 floats, k = 200, and the same computation in PyTorch (NPID's way:
# blocked mm, topk, exp, scatter into class scores) when /usr/bin/python3
# has torch. Prints both times and their ratio. Speed is reported, never
# asserted. Sizes: KNN_BENCH="NTEST NTRAIN DIM" (default "10000 50000 512").
BIN=${BIN:-bin}
sizes=${KNN_BENCH:-10000 50000 512}
threads=${KNN_THREADS:-$(nproc)}
out=$("$BIN/bench/bench_knn" $sizes "$threads") || { echo "bench_knn failed"; exit 1; }
echo "ssl-tools: $out"
c=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) s .*/\1/p')
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    p=$(/usr/bin/python3 - $sizes "$threads" <<'PY'
import sys, time, torch
nte, ntr, dim, thr = map(int, sys.argv[1:5])
torch.set_num_threads(thr)
g = torch.Generator().manual_seed(1)
tr = torch.rand(ntr, dim, generator=g) - 0.5
te = torch.rand(nte, dim, generator=g) - 0.5
ytr = torch.randint(0, 10, (ntr,), generator=g)
yte = torch.randint(0, 10, (nte,), generator=g)
t = time.time()
tr = torch.nn.functional.normalize(tr, dim=1)
te = torch.nn.functional.normalize(te, dim=1)
correct = 0
with torch.no_grad():
    for q0 in range(0, nte, 1024):
        s = te[q0:q0 + 1024] @ tr.t()
        v, i = s.topk(200, dim=1)
        w = (v / 0.1).exp()
        score = torch.zeros(s.shape[0], 10).scatter_add_(1, ytr[i], w)
        correct += (score.argmax(1) == yte[q0:q0 + 1024]).sum().item()
print("%.2f" % (time.time() - t))
PY
)
    echo "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') same work, $threads threads: $p s"
    if [ -n "$c" ] && [ -n "$p" ]; then
        echo "ratio ssl-tools / PyTorch: $(echo "$c $p" | awk '{printf "%.2f", $1 / $2}')"
    fi
else
    echo "PyTorch: not available (/usr/bin/python3 without torch)"
fi
