#!/bin/sh
# npid.sh: time one instance-discrimination step (npid_step: logits, loss,
# df, bank write) for the `paper` shape (B=512, d=2048, k=10000, N=50000,
# lambda 20, CutMix, grad write) and the `npid` shape (B=128, d=128, all
# negatives, N=50000, npid write), with 2 threads. When /usr/bin/python3 has
# torch, the same computation runs in PyTorch (2 threads, autograd for df)
# in the same run and the ratio is printed; then the demo shape (B=256,
# k=4096, N=20000) with its bank in float32 and in bf16, alternating.
# Speed is reported, never asserted.
# Environment: BIN (default bin), NPID_BENCH_STEPS (default 5).
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${BIN:-bin}
case "$BIN" in /*) ;; *) BIN="$TOP/$BIN" ;; esac
STEPS=${NPID_BENCH_STEPS:-5}
exe="$BIN/bench/bench_npid"
[ -x "$exe" ] || { echo "npid: $exe not built (make bench)"; exit 1; }
tmp=$(mktemp "${TMPDIR:-/tmp}/npid-bench.XXXXXX") || exit 1
trap 'rm -f "$tmp" "$tmp.py"' EXIT INT TERM
"$exe" paper npid --steps "$STEPS" --threads 2 | tee "$tmp" || exit 1
# The demo's bank step (bench_step's bank part) with the bank in float32
# and in bf16 (ssl-init-bank --bank-dtype bf16), alternating, 3 rounds,
# and each round's bf16-bank / f32-bank time.
for r in 1 2 3; do
    a=$("$exe" demo --steps "$STEPS" --threads 2 --bank-dtype f32) || exit 1
    b=$("$exe" demo --steps "$STEPS" --threads 2 --bank-dtype bf16) || exit 1
    printf '%s\n%s\n' "$a" "$b"
    echo "bank bf16/f32 time, round $r: $(printf '%s\n%s\n' "$a" "$b" |
        sed -n 's/.*: \([0-9.]*\) ms\/step.*/\1/p' | awk 'NR == 1 { f = $1 } NR == 2 { printf "%.2f", $1 / f }')"
done

if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "pytorch: skipped (no torch under /usr/bin/python3)"
    exit 0
fi
cat >"$tmp.py" <<'EOF'
import sys, time
import torch
import torch.nn.functional as F
torch.set_num_threads(2)
steps = int(sys.argv[1])
torch.manual_seed(1)

def run(shape):
    paper = shape == "paper"
    N = 50000
    B, d = (512, 2048) if paper else (128, 128)
    tau, lam_kl, alpha, m, lam = (0.2, 20.0, 0.5, 0.5, 0.7) if paper else (0.1, 0.0, 0.5, 0.5, 1.0)
    bank = F.normalize(torch.rand(N, d) * 2 - 1, dim=1)
    order = torch.randperm(N)
    f0 = torch.randn(B, d)
    perm = torch.randperm(B)
    rows = torch.arange(B)
    times = []
    for s in range(-1, steps):
        idx = order[((s + 1) * B + torch.arange(B)) % N]
        t0 = time.perf_counter()
        f = f0.clone().requires_grad_(True)
        z = F.normalize(f, dim=1)
        if paper:
            # k negatives drawn from [0, N) minus the batch, as in npid_step
            mask = torch.ones(N, dtype=torch.bool)
            mask[idx] = False
            pool = mask.nonzero().squeeze(1)
            neg = pool[torch.randperm(pool.numel())[:10000]]
            sel = torch.cat([idx, neg])
            Ws = bank[sel]
            t1, t2 = rows, perm
        else:
            Ws = bank
            t1, t2 = idx, idx
        s_ = z @ Ws.t()
        lpt = F.log_softmax(s_ / tau, dim=1)
        ce = -(lam * lpt[rows, t1] + (1 - lam) * lpt[rows, t2]).mean()
        loss = ce
        if lam_kl:
            lp = F.log_softmax(s_, dim=1)
            p = lp.exp()
            u = (p ** alpha / (p ** alpha).sum(1, keepdim=True)).detach()
            loss = ce + lam_kl * (p * (lp - u.log())).sum(1).mean()
        loss.backward()
        with torch.no_grad():
            zd = z.detach()
            if paper:
                g = -lpt.detach().exp()
                g[rows, t1] += lam
                g[rows, t2] += 1 - lam
                bank[sel] = F.normalize(Ws + g.t() @ zd, dim=1)
            else:
                bank[idx] = F.normalize(m * bank[idx] + (1 - m) * zd, dim=1)
        t = time.perf_counter() - t0
        if s >= 0:
            times.append(t)
    print("%s %.1f" % (shape, 1e3 * sum(times) / len(times)))

for shape in ("paper", "npid"):
    run(shape)
EOF
/usr/bin/python3 "$tmp.py" "$STEPS" >"$tmp.torch" 2>&1 || { echo "pytorch: failed: $(tail -1 "$tmp.torch")"; rm -f "$tmp.torch"; exit 0; }
while read -r shape ms; do
    c=$(sed -n "s/^$shape: .*: \([0-9.]*\) ms\/step.*/\1/p" "$tmp")
    echo "pytorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') $shape: $ms ms/step; ssl-tools/pytorch time ratio $(awk -v a="$c" -v b="$ms" 'BEGIN { printf "%.2f", a / b }') (below 1: ssl-tools faster)"
done <"$tmp.torch"
rm -f "$tmp.torch"
