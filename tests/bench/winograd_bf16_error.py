#!/usr/bin/python3
"""winograd_bf16_error.py: what bf16 costs each Winograd algorithm in error.

Simulates, in numpy, one 3x3 stride-1 convolution the way the kernels of
lib/nn/ops/conv_winograd.c compute it: the weights transformed (U = G g
G^T) and the input tiles transformed (V = B^T d B) in fp32, then, for
--precision bf16, both rounded to bfloat16 (round to nearest even, as
the kernels' conversion), the products summed over the channels (here in
double: the fp32 sums of VDPBF16PS add far less error than the rounding
of U and V), and the output transform A^T M A. Against a direct
convolution in double it prints the error of each algorithm, as the rms
and the largest absolute error over the output's rms, for:

  direct-bf16   the input and the weights rounded to bf16 (what a bf16
                direct convolution or PyTorch's autocast does)
  F(m) fp32     F(m x m, 3x3) with no rounding of U and V but fp32's
  F(m) bf16     the same with U and V rounded to bf16

for F(2x2) (points 0, +-1: the transforms' entries are 0, +-1, +-1/2),
F(3x3) and F(4x4) with several point sets (Lavin and Gray's 0, +-1, +-2;
0, +-1, +-1/2; 0, +-1, 2, -1/2), at 16, 64 and 256 channels. Inputs are
ReLU'd standard normals (a BN + ReLU's output), weights He-initialised.

Measured 2026-12-07 (numpy 1.24, Debian 12; 64 channels, 12 x 12 outputs,
seed 1): rms / max error over the output's rms
  direct-bf16     2.5e-3 / 8.7e-3
  F(2x2) bf16     3.6e-3 / 1.6e-2      (what --precision bf16 runs)
  F(3x3) bf16     1.2e-2 / 8e-2 to 1e-1   (both point sets)
  F(4x4) bf16     1.4e-2 to 2.2e-2 / 8.4e-2 to 2.3e-1   (the three sets)
  F(4x4) fp32     2e-7 to 3e-7 / 1e-6 to 3.5e-6   (fp32 runs 0, +-1, +-2)
so a bf16 F(4x4) has 4 to 6 times F(2x2)'s rms error (single outputs
off by up to a fifth of the rms), and F(3x3) 3 times: several times the
error of bf16's own rounding (direct-bf16). The same holds at 16 and 256
channels. For that reason the bf16 layers kept F(2x2) until 2026-12-07;
since then their forward and backward-data take F(4x4) on VDPBF16PS
(1.4-1.5x faster layers), after 3 seeds of the demo's recipe trained
with it as well as in fp32 (pipelines/RESULTS.md, bf16f4). Not run by make bench or make check (no speed
figure, no test); run it by hand:

  /usr/bin/python3 tests/bench/winograd_bf16_error.py [--channels 16,64,256]

It needs python3-numpy.
"""
import argparse

import numpy as np


def bf16(a):
    """a rounded to bfloat16 (nearest even), returned as float32."""
    b = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32)


def toom_cook(points, m, r=3):
    """B^T, G, A^T of F(m, r) on the given finite points and infinity:
    A^T and G from the points (Lagrange), B^T solved from the identity
    y_i = sum_k g_k d_(i+k) for all i < m, k < r."""
    n = m + r - 1
    assert len(points) == n - 1
    at = np.zeros((m, n))
    g = np.zeros((n, r))
    for j, p in enumerate(points):
        at[:, j] = [p ** i for i in range(m)]
        f = np.prod([p - q for q in points if q != p])
        g[j] = [p ** k / f for k in range(r)]
    at[m - 1, n - 1] = 1
    g[n - 1, r - 1] = 1
    rows, rhs = [], []
    for i in range(m):
        for k in range(r):
            for l in range(n):
                row = np.zeros((n, n))
                row[:, l] = at[i, :] * g[:, k]
                rows.append(row.ravel())
                rhs.append(1.0 if l == i + k else 0.0)
    bt = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0].reshape(n, n)
    return bt, g, at


def winograd(x, w, bt, g, at, rnd):
    """Valid 3x3 correlation of x [C, H, W] with w [OC, C, 3, 3] by
    F(m x m, 3x3); H - 2 and W - 2 multiples of m."""
    m, a = at.shape[0], bt.shape[0]
    _, h, wd = x.shape
    u = np.einsum('ij,ocjk,lk->ocil', g, w, g).astype(np.float32)
    if rnd:
        u = bf16(u)
    out = np.zeros((w.shape[0], h - 2, wd - 2))
    for ti in range(0, h - 2, m):
        for tj in range(0, wd - 2, m):
            v = np.einsum('ij,cjk,lk->cil', bt, x[:, ti:ti + a, tj:tj + a], bt).astype(np.float32)
            if rnd:
                v = bf16(v)
            mm = np.einsum('ocil,cil->oil', u.astype(np.float64), v.astype(np.float64))
            out[:, ti:ti + m, tj:tj + m] = np.einsum('ij,ojk,lk->oil', at, mm, at)
    return out


def direct(x, w, rnd):
    if rnd:
        x, w = bf16(x), bf16(w)
    x, w = x.astype(np.float64), w.astype(np.float64)
    _, h, wd = x.shape
    out = np.zeros((w.shape[0], h - 2, wd - 2))
    for a in range(3):
        for b in range(3):
            out += np.einsum('oc,chw->ohw', w[:, :, a, b], x[:, a:a + h - 2, b:b + wd - 2])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--channels', default='16,64,256')
    ap.add_argument('--seed', type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    algos = [('F(2x2) points 0 +-1', 2, [0, 1, -1]),
             ('F(3x3) points 0 +-1 2', 3, [0, 1, -1, 2]),
             ('F(3x3) points 0 +-1 1/2', 3, [0, 1, -1, 0.5]),
             ('F(4x4) points 0 +-1 +-2', 4, [0, 1, -1, 2, -2]),
             ('F(4x4) points 0 +-1 +-1/2', 4, [0, 1, -1, 0.5, -0.5]),
             ('F(4x4) points 0 +-1 2 -1/2', 4, [0, 1, -1, 2, -0.5])]
    print('rms / max |error| over the output rms, 12 x 12 outputs')
    for c in (int(v) for v in args.channels.split(',')):
        x = np.maximum(rng.standard_normal((c, 14, 14)), 0).astype(np.float32)
        w = (rng.standard_normal((c, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(np.float32)
        ref = direct(x, w, False)
        scale = np.sqrt((ref ** 2).mean())

        def line(name, y):
            e = y - ref
            print('  %-34s %.1e / %.1e' % (name, np.sqrt((e ** 2).mean()) / scale,
                                           np.abs(e).max() / scale))
        print('%d channels' % c)
        line('direct-bf16', direct(x, w, True))
        for name, m, pts in algos:
            bt, g, at = toom_cook(pts, m)
            line(name + ' fp32', winograd(x, w, bt, g, at, False))
            line(name + ' bf16', winograd(x, w, bt, g, at, True))


if __name__ == '__main__':
    main()
