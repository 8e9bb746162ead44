#!/usr/bin/python3
"""gen_net_fixtures.py: PyTorch reference values for tests/test_net.c.

Run with Debian's torch (1.13): /usr/bin/python3 tests/gen_net_fixtures.py [CASE...]
Writes tests/fixtures/net/<case>.txt (index) and <case>.bin (float32 LE).

The networks are the nn.Modules of examples/ssl_resnet.py (the module that
loads ssl-export's files), with the names of lib/nn/net.h (attributes
`backbone` in torchvision's ResNet naming and `head`). Weights are not
saved: every parameter is a function of its name, computed identically in
C (tests/test_net.c, fixture_fill):
    h = FNV-1a-64(name); for element i: x = (h + (i+1) * 0x9E3779B97F4A7C15) mod 2^64,
    x ^= x >> 31; x = x * 0xBF58476D1CE4E5B9 mod 2^64; x ^= x >> 29;
    u = (x >> 40) * 2^-24;  v = 2u - 1 (exact in float32)
    conv/linear weight and bias: v * float32(1/sqrt(fan_in))
    BN weight: 1 + 0.25 v;  BN bias: float32(0.1) * v (float32 arithmetic)
Large tensors are compared on a sample (see sample_idx), small ones fully.

Values are computed in float64 from float32 weights and inputs (PyTorch's
float32 run agrees within 1e-5 for the chosen input seed; see run_case).

Sequence recorded per case (the C test repeats it):
 1. training-mode forward of x; loss = sum(out * R); backward.
    Records: x, R, out, feat (pooled backbone output), grad:<param>,
    buf1:<buffer> (running statistics after this forward).
 2. eval-mode forward of x: eval_out.
 3. SGD(lr, momentum 0.9, weight_decay 5e-4) step with those gradients;
    zero_grad; training forward + backward again; second step.
    Records: sgd:<param> (parameters after two steps), buf2:<buffer>.
    lr is small (1e-4) because the gradients of sum(out * R) through BN are
    large relative to the weights (up to ~900x): with lr >= 1e-3 the second
    step is chaotic (PyTorch's own float32 and float64 runs disagree by
    10%), and the update itself is then below float32 resolution of the
    parameters to 1e-4; so this checks the sequence end to end, while
    test_net.c checks the SGD arithmetic exactly on its own.
"""
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'examples'))
from ssl_resnet import Net  # noqa: E402  (the modules ssl-export's files load into)

M64 = (1 << 64) - 1
SAMPLE = 256           # elements compared per large tensor
FULL_UP_TO = 1024      # tensors this small are compared fully


def fnv1a(name):
    h = 0xcbf29ce484222325
    for b in name.encode():
        h ^= b
        h = (h * 0x100000001b3) & M64
    return h


def hash_uniform(name, n):
    h = np.uint64(fnv1a(name))
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over='ignore'):
        x = h + i * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(31)
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    u = (x >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    return np.float32(2) * u - np.float32(1)


def sample_idx(numel):
    if numel <= FULL_UP_TO:
        return list(range(numel))
    step = numel // SAMPLE
    return [(j * numel) // SAMPLE + (j * 7919) % step for j in range(SAMPLE)]


def set_weights(net):
    mods = dict(net.named_modules())
    with torch.no_grad():
        for name, p in net.named_parameters():
            mod = mods[name.rsplit('.', 1)[0]]
            v = hash_uniform(name, p.numel())
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                if name.endswith('.weight'):
                    val = np.float32(1) + np.float32(0.25) * v
                else:
                    val = np.float32(0.1) * v
            else:
                fan_in = mod.weight[0].numel()
                val = v * np.float32(1.0 / math.sqrt(fan_in))
            p.copy_(torch.from_numpy(val.astype(np.float32)).reshape(p.shape))


def zero_by_bn(name):
    """The bias of a Linear followed by BatchNorm: its gradient is zero in
    exact arithmetic (BN removes any constant), so it is noise in float32."""
    return name in ('head.0.bias', 'head.3.bias')


def simulate(cfg, B, lr, seed, dtype):
    torch.manual_seed(seed)
    net = Net(cfg['arch'], cfg['stem'], cfg['width'], cfg['in_ch'], cfg['head'],
              cfg['hidden'], cfg['dim'])
    set_weights(net)
    x = torch.randn(B, cfg['in_h'], cfg['in_w'], cfg['in_ch'])     # NHWC, float32
    net = net.to(dtype)
    recs = []
    margin = [float('inf')]

    def relu_margin(mod, inp):
        margin[0] = min(margin[0], inp[0].detach().abs().min().item())

    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_pre_hook(relu_margin)

    def rec(key, t):
        recs.append((key, t.detach().double().numpy().ravel().copy()))

    def rec_sampled(key, t):
        flat = t.detach().double().numpy().ravel().copy()
        recs.append((key, flat[sample_idx(flat.size)]))

    xin = x.permute(0, 3, 1, 2).contiguous().to(dtype)
    net.train()
    out = net(xin)
    R = torch.randn(out.shape)
    (out * R.to(dtype)).sum().backward()
    rec('x', x)
    rec('R', R)
    rec('out', out)
    rec('feat', net.feat)
    for name, p in net.named_parameters():
        rec_sampled('grad:' + name, p.grad)
    for name, b in net.named_buffers():
        if 'running' in name:
            rec('buf1:' + name, b)
    net.eval()
    with torch.no_grad():
        rec('eval_out', net(xin))
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    opt.step()
    opt.zero_grad()
    (net(xin) * R.to(dtype)).sum().backward()
    opt.step()
    for name, p in net.named_parameters():
        rec_sampled('sgd:' + name, p)
    for name, b in net.named_buffers():
        if 'running' in name:
            rec('buf2:' + name, b)
    return recs, margin[0]


def disagreement(r32, r64):
    """Per record: max|f32 - f64| / max|f64| (PyTorch's own float32 error)."""
    errs = {}
    for (k, a), (_, b) in zip(r32, r64):
        den = np.abs(b).max()
        errs[k] = float(np.abs(a - b).max() / den if den > 0 else np.abs(a - b).max())
    return errs


def worst_disagreement(errs):
    return max(e for k, e in errs.items()
               if not (k.startswith(('grad:', 'sgd:')) and zero_by_bn(k.split(':', 1)[1])))


def run_case(out_dir, case, cfg, B, lr, seed, sgd=True, tries=40):
    """Records are computed in float64 (the stored values are float64
    results rounded to float32). The input seed is the first from `seed` on
    for which PyTorch's own float32 run agrees with float64 within 2e-5 on
    every record and no ReLU input is within 2e-5 of 0 (float32 rounding in
    another implementation must not flip a ReLU mask or a max-pool choice),
    else the best of `tries` seeds. Each record
    carries PyTorch's float32 error (third column of the index): test_net.c
    allows max(1e-4, 10 x that error)."""
    if len(sys.argv) > 1 and case not in sys.argv[1:]:
        return
    best = None
    for s in range(seed, seed + tries):
        r64, margin = simulate(cfg, B, lr, s, torch.float64)
        r32, _ = simulate(cfg, B, lr, s, torch.float32)
        if not sgd:   # forward/backward only
            r64 = [r for r in r64 if not r[0].startswith(('sgd:', 'buf2:'))]
            r32 = [r for r in r32 if not r[0].startswith(('sgd:', 'buf2:'))]
        errs = disagreement(r32, r64)
        w = worst_disagreement(errs)
        if best is None or (w, -margin) < (best[0], -best[4]):
            best = (w, s, r64, errs, margin)
        if w < 2e-5 and margin > 2e-5:
            break
        print('%s: seed %d: float32 vs float64 %.2e, smallest |ReLU input| %.2e'
              % (case, s, w, margin), file=sys.stderr)
    w, s, recs, errs, margin = best
    with open(os.path.join(out_dir, case + '.txt'), 'w') as f:
        f.write('# %s: generated by tests/gen_net_fixtures.py (torch %s), input seed %d, '
                'torch float32 vs float64 %.2e, smallest |ReLU input| %.2e; '
                'columns: key count torch_f32_error\n' % (case, torch.__version__, s, w, margin))
        f.write('config %s %s %g %d %d %d %s %d %d batch %d lr %g\n' % (
            cfg['arch'], cfg['stem'], cfg['width'], cfg['in_ch'], cfg['in_h'], cfg['in_w'],
            cfg['head'], cfg['hidden'], cfg['dim'], B, lr))
        for key, a in recs:
            f.write('%s %d %.3g\n' % (key, a.size, errs[key]))
    with open(os.path.join(out_dir, case + '.bin'), 'wb') as f:
        for key, a in recs:
            f.write(a.astype('<f4').tobytes())


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(top, 'tests', 'fixtures', 'net')
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    run_case(out_dir, 'r18_cifar_mlp3', dict(arch='resnet18', stem='cifar', width=0.25, in_ch=3,
             in_h=32, in_w=32, head='mlp3', hidden=64, dim=32), 4, 1e-4, 1)
    # ResNet-50 at 32x32 with the ImageNet stem ends at 1x1 with a batch of
    # 4: BN over 4 values is so ill-conditioned that PyTorch's float32 and
    # float64 disagree by 30%. The bottleneck and the stem are checked apart.
    run_case(out_dir, 'r50_cifar_linear', dict(arch='resnet50', stem='cifar', width=0.25,
             in_ch=1, in_h=32, in_w=32, head='linear', hidden=0, dim=16), 4, 1e-4, 2, sgd=False, tries=12)
    run_case(out_dir, 'r18_imagenet_linear', dict(arch='resnet18', stem='imagenet', width=0.25,
             in_ch=1, in_h=64, in_w=64, head='linear', hidden=0, dim=16), 4, 1e-4, 2)
    run_case(out_dir, 'r34_cifar_none', dict(arch='resnet34', stem='cifar', width=0.125, in_ch=2,
             in_h=28, in_w=30, head='none', hidden=0, dim=0), 2, 1e-4, 3, sgd=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
