#!/usr/bin/python3
"""gen_net_fixtures.py: PyTorch reference values for tests/test_net.c.

Run with Debian's torch (1.13): /usr/bin/python3 tests/gen_net_fixtures.py [CASE...]
Writes tests/fixtures/net/<case>.txt (index) and <case>.bin (float32 LE).

The networks are the nn.Modules of examples/ssl_resnet.py (the module that
loads ssl-export's files), with the names of lib/nn/net.h (attributes
`backbone` in torchvision's ResNet and MobileNet naming, and `head`). Weights are not
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


def zero_grads(r64):
    """The parameters whose gradient is zero in exact arithmetic, so noise in
    float32: the bias of a Linear followed by BatchNorm (head.0, head.3), and
    in the MobileNets the beta of every BatchNorm whose output reaches only
    1x1 convolutions followed by BatchNorm (a projection's, mostly: BN
    removes any constant per channel). Found in the float64 run: a bias
    whose gradient is below 1e-9 of its weight's."""
    rec = dict(r64)
    zeros = set()
    for key, g in r64:
        if key.startswith('grad:') and key.endswith('.bias'):
            w = rec.get(key[:-len('bias')] + 'weight')
            if w is not None and np.abs(g).max() <= 1e-9 * np.abs(w).max():
                zeros.add(key.split(':', 1)[1])
    return zeros


def simulate(cfg, B, lr, seed, dtype):
    torch.manual_seed(seed)
    net = Net(cfg['arch'], cfg['stem'], cfg['width'], cfg['in_ch'], cfg['head'],
              cfg['hidden'], cfg['dim'])
    set_weights(net)
    x = torch.randn(B, cfg['in_h'], cfg['in_w'], cfg['in_ch'])     # NHWC, float32
    net = net.to(dtype)
    recs = []
    margin = [float('inf')]

    def kink_margin(kinks):
        def hook(mod, inp):
            x = inp[0].detach()
            for k in kinks:
                margin[0] = min(margin[0], (x - k).abs().min().item())
        return hook

    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_pre_hook(kink_margin([0]))
        elif isinstance(m, nn.ReLU6):
            m.register_forward_pre_hook(kink_margin([0, 6]))
        elif isinstance(m, (nn.Hardswish, nn.Hardsigmoid)):
            m.register_forward_pre_hook(kink_margin([-3, 3]))

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
            rec_sampled('buf1:' + name, b)
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
            rec_sampled('buf2:' + name, b)
    return recs, margin[0]


def disagreement(r32, r64):
    """Per record: max|f32 - f64| / max|f64| (PyTorch's own float32 error)."""
    errs = {}
    for (k, a), (_, b) in zip(r32, r64):
        den = np.abs(b).max()
        errs[k] = float(np.abs(a - b).max() / den if den > 0 else np.abs(a - b).max())
    return errs


def worst_disagreement(errs, zeros):
    return max(e for k, e in errs.items()
               if not (k.startswith(('grad:', 'sgd:')) and k.split(':', 1)[1] in zeros))


def run_case(out_dir, case, cfg, B, lr, seed, sgd=True, tries=40, by_margin=False):
    """Records are computed in float64 (the stored values are float64
    results rounded to float32). The input seed is the first from `seed` on
    for which PyTorch's own float32 run agrees with float64 within 2e-5 on
    every record and no activation input is within 2e-5 of a kink (ReLU: 0,
    ReLU6: 0 and 6, hard-swish and hard-sigmoid: -3 and 3; float32 rounding in
    another implementation must not flip a mask or a max-pool choice),
    else the best of `tries` seeds: the smallest disagreement, or with
    by_margin the largest distance to a kink among the seeds that disagree
    by less than 1e-4 (the MobileNets: with ~10^6 ReLU6 inputs the smallest
    distance is ~1e-7, within reach of float32 rounding, and one flipped
    mask moves a BN's gradient sums by a percent). Each record
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
        zeros = zero_grads(r64)
        w = worst_disagreement(errs, zeros)
        rank = (lambda w, m: (w >= 1e-4, -m)) if by_margin else (lambda w, m: (w, -m))
        if best is None or rank(w, margin) < rank(best[0], best[4]):
            best = (w, s, r64, errs, margin, zeros)
        if w < 2e-5 and margin > 2e-5:
            break
        print('%s: seed %d: float32 vs float64 %.2e, smallest distance to a kink %.2e'
              % (case, s, w, margin), file=sys.stderr)
    w, s, recs, errs, margin, zeros = best
    with open(os.path.join(out_dir, case + '.txt'), 'w') as f:
        f.write('# %s: generated by tests/gen_net_fixtures.py (torch %s), input seed %d, '
                'torch float32 vs float64 %.2e, smallest distance to a kink %.2e; '
                'columns: key count torch_f32_error [zero: a gradient zero in exact '
                'arithmetic]\n' % (case, torch.__version__, s, w, margin))
        f.write('config %s %s %g %d %d %d %s %d %d batch %d lr %g\n' % (
            cfg['arch'], cfg['stem'], cfg['width'], cfg['in_ch'], cfg['in_h'], cfg['in_w'],
            cfg['head'], cfg['hidden'], cfg['dim'], B, lr))
        for key, a in recs:
            zero = key.startswith('grad:') and key.split(':', 1)[1] in zeros
            f.write('%s %d %.3g%s\n' % (key, a.size, errs[key], ' zero' if zero else ''))
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
    # MobileNets at width 0.25 (most layers at the floor of 8 channels),
    # batches of 2, except with the mlp3 head, whose BatchNorm1d over 2
    # rows makes float32 and float64 disagree by 10%: 4 there. The
    # "imagenet" stems are torchvision's networks unchanged (but for the
    # input channels and the classifier), at 64x64 (V2 ends at 2x2). V2 at
    # torchvision's strides is ill-conditioned in float32 at any small
    # batch tried (PyTorch's own float32 gradients off by 1e-2 .. 3e-1 at
    # 64x64 to 128x128, batches 2 and 4), so that case checks less tightly
    # (its tolerances are recorded per tensor); lr 1e-6 for V2, whose
    # gradients reach 10^4 x the weights.
    run_case(out_dir, 'mnv2_cifar_linear', dict(arch='mobilenetv2', stem='cifar', width=0.25,
             in_ch=3, in_h=32, in_w=32, head='linear', hidden=0, dim=16), 2, 1e-6, 5, tries=80, by_margin=True)
    run_case(out_dir, 'mnv2_imagenet_none', dict(arch='mobilenetv2', stem='imagenet', width=0.25,
             in_ch=1, in_h=64, in_w=64, head='none', hidden=0, dim=0), 4, 1e-6, 5, sgd=False,
             tries=40, by_margin=True)
    run_case(out_dir, 'mnv3s_cifar_mlp3', dict(arch='mobilenetv3s', stem='cifar', width=0.25,
             in_ch=3, in_h=32, in_w=32, head='mlp3', hidden=64, dim=32), 4, 1e-4, 5, tries=40,
             by_margin=True)
    run_case(out_dir, 'mnv3s_imagenet_linear', dict(arch='mobilenetv3s', stem='imagenet',
             width=0.25, in_ch=1, in_h=64, in_w=64, head='linear', hidden=0, dim=16), 2, 1e-4, 5,
             sgd=False, tries=40, by_margin=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
