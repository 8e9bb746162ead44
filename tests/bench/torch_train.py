#!/usr/bin/python3
"""torch_train.py: an independent PyTorch trainer of ssl-method(7), THE
TRAINING STEP, for comparing ssl-train's learning curves with PyTorch's.

usage: torch_train.py CKPT TRAIN.sslt [options]

Starts from an ssl-tools checkpoint (network weights, BN statistics and
bank, e.g. what ssl-init-bank wrote) and trains on a dataset stream with
the `paper` step: one torchvision view (RandomResizedCrop scale 0.2-1,
horizontal flip; single-channel images, no colour ops), CutMix as the
authors' code (numpy Beta(a, a), max(lam, 1 - lam), box int(W sqrt(1 -
lam)) around a uniform centre, lam recomputed), k negatives drawn
uniformly outside the batch, CE(s / tau) + lambda SqrtKL(s), the `grad`
or `npid` bank write, torch.optim.SGD(momentum 0.9, wd), cosine learning
rate per epoch. It prints per epoch the mean CE part of the loss, the
mean instance accuracy and img/s; with --knn TEST.sslt, the backbone kNN
top-1 at the end (k 200, sigma 0.1, eval-mode features of TRAIN as the
neighbours: the protocol of ssl-extract + ssl-knn).

Measured with it (2026-11-27, the demo's 20000-image subset and init.ckpt
at width 0.25, lr 0.5, k 4096, batch 256, 10 epochs): the CE after
epoch 2 is 7.79-8.04 over five seeds; ssl-train's is 7.99-8.04 over
three. The spread comes mostly from the CutMix draws: fed one run's exact
batches, CutMix parameters and negatives, this script and ssl-train give
the same CE per step. Compare curves over several seeds, not one.

Options: --epochs E (schedule length, 10), --run-epochs R (epochs to run,
E), --batch, --lr, -k, --tau, --lambda, --cutmix A (0: off), --write
grad|npid, --no-aug, --seed, --threads (2), --knn TEST.sslt, --save
FILE.pt, --bf16 (the network's forward and the bank product under
torch.autocast('cpu', dtype=torch.bfloat16), as ssl-train --precision bf16;
the loss, the bank and its write stay fp32). The last line before the kNN gives the seconds of training
(tests/bench/job.sh reads it). Needs python3-torch, python3-torchvision, python3-numpy,
python3-msgpack, python3-zstandard. Run with /usr/bin/python3.
"""
import argparse
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))
sys.path.insert(0, os.path.join(HERE, ".."))
import sslt  # noqa: E402
from gen_step_fixture import Model  # noqa: E402


def load_model(ck, in_ch, width, hidden, dim):
    model = Model(in_ch, width, "mlp3", hidden, dim)
    sd = model.state_dict()
    for k in sd:
        if k in ck:
            sd[k] = torch.from_numpy(np.array(ck[k])).reshape(sd[k].shape)
        elif not k.endswith("num_batches_tracked"):
            sys.exit("torch_train.py: the checkpoint has no tensor %s" % k)
    model.load_state_dict(sd)
    return model


def backbone_features(model, images, mean, std):
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), 500):
            out.append(model.backbone((x[i:i + 500] - mean) / std))
    return F.normalize(torch.cat(out), dim=1)


def knn_top1(train_f, train_y, test_f, test_y, k=200, sigma=0.1, nclasses=10):
    correct = 0
    for i in range(0, len(test_f), 1000):
        v, ix = (test_f[i:i + 1000] @ train_f.t()).topk(k, dim=1)
        votes = torch.zeros(len(v), nclasses).scatter_add_(1, train_y[ix], (v / sigma).exp())
        correct += (votes.argmax(1) == test_y[i:i + 1000]).sum().item()
    return correct / len(test_f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--run-epochs", type=int, default=0)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("-k", type=int, default=4096)
    ap.add_argument("--tau", type=float, default=0.2)
    ap.add_argument("--lambda", dest="lam_kl", type=float, default=20.0)
    ap.add_argument("--m", type=float, default=0.5)
    ap.add_argument("--write", choices=["grad", "npid"], default="grad")
    ap.add_argument("--cutmix", type=float, default=0.5)
    ap.add_argument("--no-aug", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--knn", default="")
    ap.add_argument("--save", default="")
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    import torchvision.transforms as T

    torch.manual_seed(a.seed)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)

    ck = next(sslt.read_stream(a.ckpt))["tensors"]
    ds = next(sslt.read_stream(a.data))
    raw = ds["tensors"]["images"]
    imgs = torch.from_numpy(raw.astype(np.float32) / 255.0)
    mean = torch.tensor(ds["meta"]["mean"]).view(1, -1, 1, 1).float()
    std = torch.tensor(ds["meta"]["std"]).view(1, -1, 1, 1).float()
    N, C, H, W = imgs.shape
    width = ck["backbone.conv1.weight"].shape[0] / 64.0
    hidden, dim = ck["head.0.weight"].shape[0], ck["head.6.weight"].shape[0]
    model = load_model(ck, C, width, hidden, dim)
    bank = torch.from_numpy(np.array(ck["bank"])).clone()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=1e-4)
    rrc = T.RandomResizedCrop((H, W), scale=(0.2, 1.0))
    flip = T.RandomHorizontalFlip()
    B, spe = a.batch, N // a.batch
    tgt = torch.arange(B)
    t_start = time.time()
    for e in range(a.run_epochs or a.epochs):
        lr = a.lr * 0.5 * (1 + math.cos(math.pi * e / a.epochs))
        for g in opt.param_groups:
            g["lr"] = lr
        order = torch.randperm(N)
        ces, accs, t0 = [], [], time.time()
        for s in range(spe):
            idx = order[s * B:(s + 1) * B]
            x = imgs[idx] if a.no_aug else torch.stack([flip(rrc(im)) for im in imgs[idx]])
            x = (x - mean) / std
            lam, perm = 1.0, tgt
            if a.cutmix > 0:
                lam = np.random.beta(a.cutmix, a.cutmix)
                lam = max(lam, 1 - lam)
                perm = torch.randperm(B)
                cw, ch = int(W * math.sqrt(1 - lam)), int(H * math.sqrt(1 - lam))
                cx, cy = np.random.randint(W), np.random.randint(H)
                x1, x2 = np.clip(cx - cw // 2, 0, W), np.clip(cx + cw // 2, 0, W)
                y1, y2 = np.clip(cy - ch // 2, 0, H), np.clip(cy + ch // 2, 0, H)
                x[:, :, y1:y2, x1:x2] = x[perm, :, y1:y2, x1:x2].clone()
                lam = 1 - (x2 - x1) * (y2 - y1) / (W * H)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                f = model(x)
            z = F.normalize(f.float(), dim=1)
            batch = set(idx.tolist())
            neg = [v for v in random.sample(range(N), min(N, a.k + B)) if v not in batch][:a.k]
            sel = torch.cat([idx, torch.tensor(neg, dtype=torch.long)])
            Ws = bank[sel].clone()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                logits = (z @ Ws.t()).float()
            logp = F.log_softmax(logits / a.tau, dim=1)
            ce = -(lam * logp[tgt, tgt] + (1 - lam) * logp[tgt, perm]).mean()
            p = F.softmax(logits, dim=1)
            u = F.normalize(p.pow(0.5), p=1, dim=1).detach()
            kl = (p * (F.log_softmax(logits, dim=1) - torch.log(u))).sum(1).mean()
            opt.zero_grad()
            (ce + a.lam_kl * kl).backward()
            opt.step()
            with torch.no_grad():
                zd = z.detach()
                if a.write == "npid":
                    bank[idx] = F.normalize(a.m * bank[idx] + (1 - a.m) * zd, dim=1)
                else:
                    pt = torch.softmax(logits.detach() / a.tau, dim=1)
                    y = torch.zeros_like(pt)
                    y[tgt, tgt] += lam
                    y[tgt, perm] += 1 - lam
                    bank[sel] = F.normalize(Ws + (1 - a.m) / a.m * ((y - pt).t() @ zd), dim=1)
            ces.append(ce.item())
            accs.append((logits.argmax(1) == tgt).float().mean().item())
        print("epoch %d ce %.4f inst_acc %.4f lr %.4g %.0f img/s" %
              (e + 1, np.mean(ces), np.mean(accs), lr, spe * B / (time.time() - t0)), flush=True)
    print("train seconds %.2f" % (time.time() - t_start), flush=True)
    if a.save:
        torch.save({"model": model.state_dict(), "bank": bank}, a.save)
    if a.knn:
        te = next(sslt.read_stream(a.knn))
        model.eval()
        top1 = knn_top1(backbone_features(model, raw, mean, std),
                        torch.from_numpy(ds["tensors"]["labels"].astype(np.int64)),
                        backbone_features(model, te["tensors"]["images"], mean, std),
                        torch.from_numpy(te["tensors"]["labels"].astype(np.int64)))
        print("backbone kNN top-1 %.4f" % top1)


if __name__ == "__main__":
    main()
