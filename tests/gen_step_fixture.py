#!/usr/bin/python3
"""gen_step_fixture.py: PyTorch reimplementation of one full training step.

Reads DIR/{paper,npid}_in.bin (written by `bin/tests/test_step
--gen-step-input DIR`: weights, momentum buffers, BN statistics, the input
batch, the batch indices, CutMix perm/lam, the bank and the settings) and
writes DIR/{paper,npid}_out.bin: the loss and its parts, the bank after the
write, every parameter, BN buffer and momentum buffer after the SGD step,
and dL/df. ssl-method(7), THE TRAINING STEP, with negatives `all` (columns:
the batch indices in batch order, then every other bank row in index order):

  f = net(x) (BN training mode); z = f / max(|f|, 1e-12); s = z Ws^T
  L = CE(s / tau; lam * y_b + (1 - lam) * y_perm(b)) + lambda * SqrtKL(s)
  grad write: W[sel] <- normalize(Ws + bank_lr * (y - p^tau)^T z)
  npid write: W[idx] <- normalize(m W[idx] + (1 - m) z)
  SGD (torch.optim.SGD, momentum buffers preset): g += wd p; v = mu v + g;
  p -= lr v.

The network is the CIFAR ResNet-18 with PyTorch's module names (those of
lib/nn/net.h), this file's own, or (the "mnv3s" case; an eighth value in
the "net" record) a MobileNet from examples/ssl_resnet.py.
Record format: see tests/train_fixture.h.
Run: /usr/bin/python3 tests/gen_step_fixture.py tests/fixtures/step [CASE...]
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_records(path):
    recs = {}
    order = []
    with open(path, "rb") as f:
        data = f.read()
    o = 0
    while o < len(data):
        (n,) = struct.unpack_from("<I", data, o); o += 4
        name = data[o:o + n].decode(); o += n
        dt, nd = struct.unpack_from("<II", data, o); o += 8
        shape = struct.unpack_from("<%dq" % nd, data, o); o += 8 * nd
        dtype = np.float32 if dt == 0 else np.int64
        cnt = int(np.prod(shape)) if nd else 1
        arr = np.frombuffer(data, dtype=dtype, count=cnt, offset=o).reshape(shape)
        o += cnt * np.dtype(dtype).itemsize
        recs[name] = arr.copy()
        order.append(name)
    return recs, order


def write_records(path, items):
    with open(path, "wb") as f:
        for name, arr in items:
            arr = np.ascontiguousarray(arr)
            dt = 0 if arr.dtype == np.float32 else 1
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<II", dt, arr.ndim))
            f.write(struct.pack("<%dq" % arr.ndim, *arr.shape))
            f.write(arr.tobytes())


class Block(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x if self.downsample is None else self.downsample(x)
        return F.relu(out + sc)


class Backbone(nn.Module):
    def __init__(self, in_ch, width):
        super().__init__()
        planes = [max(1, int(np.floor(64 * 2 ** s * width + 0.5))) for s in range(4)]
        self.conv1 = nn.Conv2d(in_ch, planes[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        inp = planes[0]
        for s in range(4):
            blocks = []
            for b in range(2):
                blocks.append(Block(inp, planes[s], (1 if s == 0 else 2) if b == 0 else 1))
                inp = planes[s]
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.out_dim = inp

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for s in range(4):
            x = getattr(self, "layer%d" % (s + 1))(x)
        return x.mean(dim=(2, 3))


class Model(nn.Module):
    def __init__(self, in_ch, width, head, hidden, dim, arch=0):
        super().__init__()
        if arch:    # a MobileNet: torchvision's, the module of examples/ssl_resnet.py
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__))), "examples"))
            from ssl_resnet import make_backbone
            self.backbone = make_backbone({2: 'mobilenetv2', 3: 'mobilenetv3s'}[arch], 'cifar',
                                          width, in_ch)
            Fd = self.backbone.F
        else:
            self.backbone = Backbone(in_ch, width)
            Fd = self.backbone.out_dim
        if head == "mlp3":
            self.head = nn.Sequential(nn.Linear(Fd, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                      nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                      nn.Linear(hidden, dim))
        else:
            self.head = nn.Linear(Fd, dim)

    def forward(self, x):
        return self.head(self.backbone(x))


def one_case(d, which):
    r, order = read_records(os.path.join(d, which + "_in.bin"))
    net = r["net"].tolist()
    width, in_ch, h, w, hidden, dim, head = net[:7]
    arch = int(net[7]) if len(net) > 7 else 0      # 0 resnet18, 2 mobilenetv2, 3 mobilenetv3s
    tau, lam_kl, alpha, m, bank_lr, lam, lr, wd, mu, grad, cutmix = r["cfg"].tolist()
    model = Model(int(in_ch), width, "mlp3" if head == 2 else "linear", int(hidden), int(dim), arch)
    sd = model.state_dict()
    new = {}
    for k in sd:
        if k.endswith("num_batches_tracked"):
            new[k] = sd[k]
            continue
        assert k in r, "tensor %s not in the C dump" % k
        assert tuple(r[k].shape) == tuple(sd[k].shape), (k, r[k].shape, sd[k].shape)
        new[k] = torch.from_numpy(r[k])
    extra = [k for k in order if k not in sd and not k.startswith("mom.")
             and k not in ("net", "cfg", "x", "idx", "perm", "bank")]
    assert not extra, extra
    model.load_state_dict(new)
    model.train()
    params = dict(model.named_parameters())
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mu, weight_decay=wd)
    for name, p in params.items():
        opt.state[p]["momentum_buffer"] = torch.from_numpy(r["mom." + name]).clone()

    x = torch.from_numpy(r["x"]).permute(0, 3, 1, 2).contiguous()
    idx = torch.from_numpy(r["idx"])
    B = x.shape[0]
    bank = torch.from_numpy(r["bank"])
    N = bank.shape[0]
    perm = torch.from_numpy(r["perm"]) if "perm" in r else None
    if perm is None:
        lam = 1.0
    others = [i for i in range(N) if i not in set(idx.tolist())]
    sel = torch.cat([idx, torch.tensor(others, dtype=torch.long)])
    Ws = bank[sel].clone()

    f = model(x)
    f.retain_grad()
    z = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    s = z @ Ws.t()
    rows = torch.arange(B)
    lpt = F.log_softmax(s / tau, dim=1)
    if perm is not None:
        ce = -(lam * lpt[rows, rows] + (1 - lam) * lpt[rows, perm]).mean()
    else:
        ce = -lpt[rows, rows].mean()
    lp = F.log_softmax(s, dim=1)
    p = lp.exp()
    u = (p ** alpha / (p ** alpha).sum(1, keepdim=True)).detach()
    kl = (p * (lp - u.log())).sum(1).mean()
    loss = ce + lam_kl * kl
    opt.zero_grad()
    loss.backward()

    with torch.no_grad():
        zd = z.detach()
        new_bank = bank.clone()
        if grad:
            y = torch.zeros(B, len(sel))
            y[rows, rows] += lam
            if perm is not None:
                y[rows, perm] += 1 - lam
            ptau = F.softmax(s.detach() / tau, dim=1)
            delta = (y - ptau).t() @ zd
            new_bank[sel] = F.normalize(Ws + bank_lr * delta, dim=1, eps=1e-12)
        else:
            new_bank[idx] = F.normalize(m * bank[idx] + (1 - m) * zd, dim=1, eps=1e-12)
    opt.step()

    out = [("loss", np.array([loss.item()], np.float32)), ("ce", np.array([ce.item()], np.float32)),
           ("kl", np.array([kl.item()], np.float32)), ("bank", new_bank.numpy().astype(np.float32)),
           ("df", f.grad.numpy().astype(np.float32))]
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            out.append((k, v.numpy().astype(np.float32)))
    for name, prm in params.items():
        out.append(("mom." + name, opt.state[prm]["momentum_buffer"].numpy().astype(np.float32)))
    write_records(os.path.join(d, which + "_out.bin"), out)
    print("%s: loss %.6f ce %.6f kl %.6f" % (which, loss.item(), ce.item(), kl.item()))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/step"
    torch.set_num_threads(1)
    for which in sys.argv[2:] or ("paper", "npid", "mnv3s"):
        one_case(d, which)


if __name__ == "__main__":
    main()
