#!/usr/bin/python3
"""ssl_resnet.py: the networks of ssl-tools as PyTorch modules, and a
reader of the safetensors files that ssl-export writes.

The modules have the tensor names of lib/nn/net.h (attribute `backbone`
in torchvision's ResNet and MobileNet naming, `head`), so a checkpoint's tensors load
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
max(1, round(64 * 2^s * width)) planes; mobilenetv2, mobilenetv3s
(MobileNetV3-small): torchvision's, with the stem "cifar" (stride 1 in the
first convolution and the first stride-2 stage) or "imagenet"
(torchvision's strides), see ssl-tools(7), MobileNets; every backbone ends
in a global average pool. Heads: "none", "linear", "mlp3" (Linear BN ReLU Linear BN
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
from functools import partial

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


# ---- MobileNets: torchvision 0.14's definitions (torchvision is not in
# Debian 12; these follow torchvision/models/mobilenetv2.py and
# mobilenetv3.py line for line, module names included), with the input
# channels free, the classifier left out (the head replaces it) and the
# "cifar" stem: stride 1 in the first convolution and in the first
# stride-2 stage (V2: the 24-channel stage; V3-small: block 1).

def make_divisible(v, divisor, min_value=None):
    """torchvision.models._utils._make_divisible"""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_norm_act(cin, cout, k=3, stride=1, groups=1, norm=nn.BatchNorm2d, act=nn.ReLU6):
    """torchvision.ops.misc.Conv2dNormActivation: conv (no bias), norm, act."""
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), norm(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class InvertedResidualV2(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(conv_norm_act(inp, hidden_dim, k=1))
        layers.extend([conv_norm_act(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
                       nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)])
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, stem, width, in_ch):
        super().__init__()
        cifar = stem == 'cifar'
        setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                   [6, 160, 3, 2], [6, 320, 1, 1]]
        if cifar:
            setting[1][3] = 1
        input_channel = make_divisible(32 * width, 8)
        last_channel = make_divisible(1280 * max(1.0, width), 8)
        features = [conv_norm_act(in_ch, input_channel, stride=1 if cifar else 2)]
        for t, c, n, s in setting:
            output_channel = make_divisible(c * width, 8)
            for i in range(n):
                features.append(InvertedResidualV2(input_channel, output_channel,
                                                   s if i == 0 else 1, t))
                input_channel = output_channel
        features.append(conv_norm_act(input_channel, last_channel, k=1))
        self.features = nn.Sequential(*features)
        self.F = last_channel

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


class SqueezeExcitation(nn.Module):
    """torchvision.ops.misc.SqueezeExcitation with MobileNetV3's settings"""
    def __init__(self, input_channels, squeeze_channels):
        super().__init__()
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        s = x.mean(dim=(2, 3), keepdim=True)
        s = self.scale_activation(self.fc2(self.activation(self.fc1(s))))
        return s * x


class InvertedResidualV3(nn.Module):
    def __init__(self, cin, k, exp, cout, use_se, use_hs, stride, norm):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        act = nn.Hardswish if use_hs else nn.ReLU
        layers = []
        if exp != cin:
            layers.append(conv_norm_act(cin, exp, k=1, norm=norm, act=act))
        layers.append(conv_norm_act(exp, exp, k=k, stride=stride, groups=exp, norm=norm, act=act))
        if use_se:
            layers.append(SqueezeExcitation(exp, make_divisible(exp // 4, 8)))
        layers.append(conv_norm_act(exp, cout, k=1, norm=norm, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        r = self.block(x)
        return r + x if self.use_res_connect else r


class MobileNetV3Small(nn.Module):
    def __init__(self, stem, width, in_ch):
        super().__init__()
        cifar = stem == 'cifar'
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        adj = lambda c: make_divisible(c * width, 8)
        # input, kernel, expanded, out, SE, hard-swish, stride
        setting = [(16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2),
                   (24, 3, 88, 24, False, False, 1), (24, 5, 96, 40, True, True, 2),
                   (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
                   (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1),
                   (48, 5, 288, 96, True, True, 2), (96, 5, 576, 96, True, True, 1),
                   (96, 5, 576, 96, True, True, 1)]
        layers = [conv_norm_act(in_ch, adj(16), stride=1 if cifar else 2, norm=norm, act=nn.Hardswish)]
        for i, (cin, k, exp, cout, se, hs, s) in enumerate(setting):
            if cifar and i == 0:
                s = 1
            layers.append(InvertedResidualV3(adj(cin), k, adj(exp), adj(cout), se, hs, s, norm))
        last_in = adj(96)
        layers.append(conv_norm_act(last_in, 6 * last_in, k=1, norm=norm, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.F = 6 * last_in

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


def make_backbone(arch, stem, width, in_ch):
    """The backbone ARCH: NCHW float input, [N, F] pooled features out (F
    its attribute F)."""
    if stem not in ("cifar", "imagenet"):
        raise ValueError("unknown stem %r" % stem)
    # the C library keeps the width as a float32
    width = struct.unpack("<f", struct.pack("<f", float(width)))[0]
    if arch == 'mobilenetv2':
        return MobileNetV2(stem, width, in_ch)
    if arch == 'mobilenetv3s':
        return MobileNetV3Small(stem, width, in_ch)
    return Backbone(arch, stem, width, in_ch)


class Net(nn.Module):
    """Backbone and head; forward returns the head's output and keeps the
    backbone's in self.feat."""

    def __init__(self, arch, stem, width, in_ch, head="none", hidden=0, dim=0):
        super().__init__()
        self.backbone = make_backbone(arch, stem, width, in_ch)
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
