#!/usr/bin/python3
"""ssl_resnet.py: the networks of ssl-tools as PyTorch modules, and a
reader of the safetensors files that ssl-export writes.

The modules have the tensor names of lib/nn/net.h (attribute `backbone`
in torchvision's ResNet naming, `head`), so a checkpoint's tensors load
with load_state_dict(strict=True); tests/gen_net_fixtures.py builds its
PyTorch references from these same classes.

    import ssl_resnet
    model, meta = ssl_resnet.load("model.safetensors")     # eval mode
    x = ssl_resnet.preprocess(images, meta)   # uint8 [N, C, H, W] -> float32
    with torch.no_grad():
        f = model.backbone(x)                 # [N, F], as ssl-extract

Networks (ssl-method(7), NETWORKS): resnet18, resnet34 (BasicBlock),
resnet50 (Bottleneck); stem "cifar" (3x3 stride 1, no max-pool) or
"imagenet" (7x7 stride 2 + 3x3 max-pool); stage s has
max(1, round(64 * 2^s * width)) planes; the backbone ends in a global
average pool. Heads: "none", "linear", "mlp3" (Linear BN ReLU Linear BN
ReLU Linear).

As a program:
    python3 ssl_resnet.py MODEL.safetensors DATA.sslt [-o OUT.npy] [--layer backbone|head]
writes the features of every image of a dataset stream (read with sslt.py,
from the same folder) as a float32 .npy [N, F].
"""
import argparse
import json
import math
import struct
import sys

import torch
import torch.nn as nn


def planes_of(width):
    """Channels of the four stages: max(1, round(64 * 2^s * width)), with
    the width rounded to float32 first, as the C library stores it."""
    w = struct.unpack("<f", struct.pack("<f", float(width)))[0]
    return [max(1, int(math.floor(64 * (1 << s) * w + 0.5))) for s in range(4)]


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, p, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, p, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(p)
        self.conv2 = nn.Conv2d(p, p, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(p)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != p:
            self.downsample = nn.Sequential(nn.Conv2d(cin, p, 1, stride, bias=False),
                                            nn.BatchNorm2d(p))

    def forward(self, x):
        o = self.relu(self.bn1(self.conv1(x)))
        o = self.bn2(self.conv2(o))
        s = x if self.downsample is None else self.downsample(x)
        return self.relu(o + s)


class Bottle(nn.Module):
    expansion = 4

    def __init__(self, cin, p, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, p, 1, 1, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(p)
        self.conv2 = nn.Conv2d(p, p, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(p)
        self.conv3 = nn.Conv2d(p, 4 * p, 1, 1, 0, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * p)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != 4 * p:
            self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * p, 1, stride, bias=False),
                                            nn.BatchNorm2d(4 * p))

    def forward(self, x):
        o = self.relu(self.bn1(self.conv1(x)))
        o = self.relu(self.bn2(self.conv2(o)))
        o = self.bn3(self.conv3(o))
        s = x if self.downsample is None else self.downsample(x)
        return self.relu(o + s)


class Backbone(nn.Module):
    """ResNet backbone: NCHW float input, [N, F] pooled features out."""

    def __init__(self, arch, stem, width, in_ch):
        super().__init__()
        if arch not in ("resnet18", "resnet34", "resnet50") or stem not in ("cifar", "imagenet"):
            raise ValueError("unknown arch %r or stem %r" % (arch, stem))
        block = Bottle if arch == 'resnet50' else Basic
        depth = [2, 2, 2, 2] if arch == 'resnet18' else [3, 4, 6, 3]
        P = planes_of(width)
        self.imagenet = stem == 'imagenet'
        if self.imagenet:
            self.conv1 = nn.Conv2d(in_ch, P[0], 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_ch, P[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(P[0])
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = P[0]
        for s in range(4):
            layers = []
            for i in range(depth[s]):
                layers.append(block(cin, P[s], 2 if (s > 0 and i == 0) else 1))
                cin = P[s] * block.expansion
            setattr(self, 'layer%d' % (s + 1), nn.Sequential(*layers))
        self.F = cin

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if self.imagenet:
            x = self.maxpool(x)
        for s in range(4):
            x = getattr(self, 'layer%d' % (s + 1))(x)
        return x.mean(dim=(2, 3))


class Net(nn.Module):
    """Backbone and head; forward returns the head's output and keeps the
    backbone's in self.feat."""

    def __init__(self, arch, stem, width, in_ch, head="none", hidden=0, dim=0):
        super().__init__()
        self.backbone = Backbone(arch, stem, width, in_ch)
        F = self.backbone.F
        if head == 'linear':
            self.head = nn.Linear(F, dim)
        elif head == 'mlp3':
            self.head = nn.Sequential(nn.Linear(F, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                      nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden),
                                      nn.ReLU(), nn.Linear(hidden, dim))
        elif head == 'none':
            self.head = nn.Identity()
        else:
            raise ValueError("unknown head %r" % head)

    def forward(self, x):
        self.feat = self.backbone(x)
        return self.head(self.feat)


_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16,
           "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
           "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path):
    """({name: tensor}, {metadata}) of a safetensors file: an 8-byte
    little-endian header length N, N bytes of JSON, then the data."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(f.read())
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        flat = torch.frombuffer(data, dtype=_DTYPES[t["dtype"]], count=math.prod(t["shape"]),
                                offset=begin) if end > begin else torch.empty(0, dtype=_DTYPES[t["dtype"]])
        tensors[name] = flat.reshape(t["shape"]).clone()
    return tensors, meta


def load(path):
    """The network of an ssl-export file, in eval mode, and its metadata
    (strings, as written; mean and std are JSON lists)."""
    tensors, meta = read_safetensors(path)
    head = meta.get("head", "none")
    model = Net(meta["arch"], meta["stem"], float(meta["width"]), int(meta["in_channels"]),
                head, int(meta.get("hidden", 0)), int(meta.get("dim", 0)))
    model.load_state_dict(tensors, strict=True)
    return model.eval(), meta


def preprocess(images, meta):
    """uint8 images [N, C, H, W] (numpy or torch) -> the float32 input the
    network was trained on: (pixel / 255 - mean[c]) / std[c]."""
    x = torch.as_tensor(images)
    c = x.shape[1]
    mean = torch.tensor(json.loads(meta["mean"]), dtype=torch.float32).reshape(1, c, 1, 1)
    std = torch.tensor(json.loads(meta["std"]), dtype=torch.float32).reshape(1, c, 1, 1)
    return (x.to(torch.float32) / 255.0 - mean) / std


def features(model, meta, images, layer="backbone", batch=256):
    """Features of uint8 images [N, C, H, W] as a float32 tensor [N, F]:
    the pooled backbone output (layer "backbone") or the head's."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = preprocess(images[i:i + batch], meta)
            out.append(model.backbone(x) if layer == "backbone" else model(x))
    return torch.cat(out) if out else torch.empty(0, int(meta["features"]))


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit status 2, as the ssl-* tools."""

    def error(self, message):
        print("%s: %s (try '%s --help')" % (self.prog, message, self.prog), file=sys.stderr)
        sys.exit(2)


def main(argv):
    import os
    ap = _Parser(prog="ssl_resnet.py", description=(
        "Features of a dataset stream's images from an ssl-export file, in PyTorch."))
    ap.add_argument("model", help="safetensors file written by ssl-export")
    ap.add_argument("data", help="dataset stream (ssl-prep)")
    ap.add_argument("-o", "--output", default="features.npy", help="output .npy (features.npy)")
    ap.add_argument("--layer", choices=("backbone", "head"), default="backbone")
    a = ap.parse_args(argv[1:])
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import numpy as np
    import sslt
    model, meta = load(a.model)
    if a.layer == "head" and meta.get("head", "none") == "none":
        print("ssl_resnet.py: %s: no head (export with ssl-export --head)" % a.model, file=sys.stderr)
        return 1
    images = sslt.load(a.data)["tensors"]["images"]
    f = features(model, meta, torch.from_numpy(images), a.layer)
    np.save(a.output, f.numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
