#!/usr/bin/python3
"""torch_reference.py: the paper recipe of ssl-train, written again in PyTorch,
started from the same checkpoint on the same dataset stream, for the fidelity
comparison of issue 15 (pipelines/RESULTS.md, "Fidelity against PyTorch").

  torch_reference.py INIT.ckpt TRAIN.sslt TEST.sslt [--steps N] [--epochs E]
      [--seed S] [--lr LR] [--batch B] [-k K] [--lambda L] [--no-cutmix]
      [--bank-write grad|npid] [--threads T] [--recompute-bn]

Loads the network weights, BatchNorm statistics and memory bank of INIT.ckpt
(made by ssl-init-bank), trains with ssl-method(7)'s step (CutMix, k
negatives, CE at tau + lambda SqrtKL, grad or npid bank write, SGD with
momentum and weight decay on every parameter, cosine over E epochs constant
within an epoch) for N steps, and prints the backbone kNN top-1 (k 200, sigma
0.1, L2-normalised pooled features in evaluation mode, training images as
neighbours) before and after, as ssl-extract + ssl-knn compute it. With
--steps 0 it only evaluates the checkpoint (any ssl-train checkpoint of
the same network), and --recompute-bn adds the kNN after BatchNorm's
running statistics are re-estimated on the un-augmented training images. The draws
(order, crops, flips, CutMix, negatives) are PyTorch's own, so the result is
compared with ssl-train's as a distribution over seeds, not bit for bit.
Augmentation as torchvision's RandomResizedCrop(scale 0.2-1, ratio 3/4-4/3,
bilinear) + RandomHorizontalFlip, which torchvision would do on a uint8
tensor image; no colour jitter or grayscale (the demo's --jitter 0 --gray 0).
Needs /usr/bin/python3 with Debian's python3-torch; reads the streams with
examples/sslt.py.
"""
import argparse
import math
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("init")
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--steps", type=int, default=None, help="steps to run (default: one epoch)")
    ap.add_argument("--epochs", type=int, default=10, help="epochs of the cosine schedule")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("-k", type=int, default=4096)
    ap.add_argument("--tau", type=float, default=0.2)
    ap.add_argument("--lambda", dest="lmbda", type=float, default=20.0)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--no-cutmix", action="store_true")
    ap.add_argument("--bank-write", choices=["grad", "npid"], default="grad")
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--recompute-bn", action="store_true",
                    help="also print the kNN after BatchNorm statistics re-estimated on the "
                         "un-augmented training images (cumulative average)")
    a = ap.parse_args()

    import numpy as np
    import torch
    import torch.nn.functional as F
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "examples"))
    sys.path.insert(0, os.path.join(here, "..", "tests", "bench"))
    import sslt
    # The model loader and the kNN protocol of the benchmark's PyTorch
    # trainer (tests/bench/torch_train.py, which needs torchvision for its
    # crops; this script does its own, so that Debian's python3-torch alone
    # runs it).
    from torch_train import backbone_features, knn_top1, load_model

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = np.random.default_rng(a.seed)

    def one(path):
        secs = list(sslt.read_stream(path))
        return secs[0]

    ck = one(a.init)
    cfg = ck["meta"]["config"]
    net, data = cfg["net"], cfg["data"]
    model = load_model(ck["tensors"], net["in_ch"], net["width"], net["hidden"], net["dim"])
    bank = torch.from_numpy(np.array(ck["tensors"]["bank"], dtype=np.float32))
    mean = torch.tensor(data["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(data["std"], dtype=torch.float32).view(1, -1, 1, 1)

    tr, te = one(a.train), one(a.test)
    xtr = torch.from_numpy(np.array(tr["tensors"]["images"]))
    ytr = torch.from_numpy(np.array(tr["tensors"]["labels"], dtype=np.int64))
    yte = torch.from_numpy(np.array(te["tensors"]["labels"], dtype=np.int64))
    N, C, H, W = xtr.shape

    def prep(u8):  # uint8 or float images in [0, 255]
        return (u8.float() / 255.0 - mean) / std

    ncls = int(max(ytr.max(), yte.max())) + 1

    def knn():
        model.eval()
        return knn_top1(backbone_features(model, np.array(tr["tensors"]["images"]), mean, std), ytr,
                        backbone_features(model, np.array(te["tensors"]["images"]), mean, std), yte,
                        nclasses=ncls)

    def rrc(img):
        # torchvision RandomResizedCrop.get_params, then resize (bilinear).
        area = H * W
        for _ in range(10):
            target = area * gen.uniform(0.2, 1.0)
            ar = math.exp(gen.uniform(math.log(3 / 4), math.log(4 / 3)))
            w = int(round(math.sqrt(target * ar)))
            h = int(round(math.sqrt(target / ar)))
            if 0 < w <= W and 0 < h <= H:
                i = int(gen.integers(0, H - h + 1))
                j = int(gen.integers(0, W - w + 1))
                break
        else:
            h, w, i, j = H, W, 0, 0
        crop = img[:, i:i + h, j:j + w].float().unsqueeze(0)
        out = F.interpolate(crop, size=(H, W), mode="bilinear", align_corners=False,
                            antialias=True)[0]
        if gen.uniform() < 0.5:
            out = out.flip(2)
        return out

    print("before: backbone kNN top-1 %.4f" % knn(), flush=True)
    spe = N // a.batch
    steps = a.steps if a.steps is not None else spe
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=a.wd)
    m = 0.5
    step = 0
    epoch = 0
    while step < steps:
        lr = a.lr * 0.5 * (1 + math.cos(math.pi * epoch / a.epochs))
        for g in opt.param_groups:
            g["lr"] = lr
        order = torch.from_numpy(gen.permutation(N))
        for b in range(spe):
            if step >= steps:
                break
            idx = order[b * a.batch:(b + 1) * a.batch]
            x = prep(torch.stack([rrc(xtr[i]) for i in idx.tolist()]))
            B = x.shape[0]
            perm = torch.arange(B)
            lam = 1.0
            if not a.no_cutmix:
                lam = gen.beta(0.5, 0.5)
                lam = max(lam, 1 - lam)
                perm = torch.from_numpy(gen.permutation(B))
                cut = math.sqrt(1 - lam)
                cw, chh = int(W * cut), int(H * cut)
                cx, cy = int(gen.integers(0, W)), int(gen.integers(0, H))
                x1, x2 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
                y1, y2 = max(cy - chh // 2, 0), min(cy + chh // 2, H)
                x[:, :, y1:y2, x1:x2] = x[perm, :, y1:y2, x1:x2]
                lam = 1 - (x2 - x1) * (y2 - y1) / (W * H)
            # negatives: k rows uniformly without replacement outside the batch
            mask = torch.ones(N, dtype=torch.bool)
            mask[idx] = False
            pool = mask.nonzero().view(-1)
            neg = pool[torch.from_numpy(gen.permutation(pool.numel())[:a.k])]
            sel = torch.cat([idx, neg])
            Ws = bank[sel].clone()
            model.train()
            f = model(x)
            z = F.normalize(f, dim=1)
            s = z @ Ws.T
            y = torch.zeros_like(s)
            y[torch.arange(B), torch.arange(B)] += lam
            y[torch.arange(B), perm] += 1 - lam
            lp = F.log_softmax(s / a.tau, dim=1)
            ce = -(y * lp).sum(1).mean()
            loss = ce
            if a.lmbda:
                lp1 = F.log_softmax(s, dim=1)
                p1 = lp1.exp()
                lu = F.log_softmax(a.alpha * lp1, dim=1).detach()
                kl = (p1 * (lp1 - lu)).sum(1).mean()
                loss = ce + a.lmbda * kl
            opt.zero_grad()
            loss.backward()
            with torch.no_grad():
                zd = z.detach()
                if a.bank_write == "grad":
                    pt = lp.detach().exp()
                    delta = (y - pt).T @ zd
                    bank[sel] = F.normalize(Ws + ((1 - m) / m) * delta, dim=1)
                else:
                    bank[idx] = F.normalize(m * bank[idx] + (1 - m) * zd, dim=1)
            opt.step()
            step += 1
            if step % 20 == 0:
                print("step %d loss %.4f ce %.4f lr %.3f" % (step, loss.item(), ce.item(), lr),
                      flush=True)
        epoch += 1
    print("after %d steps: backbone kNN top-1 %.4f" % (step, knn()), flush=True)
    if a.recompute_bn:
        bns = [m_ for m_ in model.modules() if isinstance(m_, torch.nn.modules.batchnorm._BatchNorm)]
        for m_ in bns:
            m_.reset_running_stats()
            m_.momentum = None
        model.train()
        with torch.no_grad():
            for s0 in range(0, N, a.batch):
                model(prep(xtr[s0:s0 + a.batch]))
        print("after %d steps, BN statistics re-estimated: backbone kNN top-1 %.4f"
              % (step, knn()), flush=True)


if __name__ == "__main__":
    main()
