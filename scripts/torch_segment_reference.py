#!/usr/bin/env python3
"""The membrane recipe (configs/segment_membrane.yaml) trained in PyTorch: a second implementation of the same
experiment, to tell what the data and the recipe give from what strata gives.

Same split (the list files a strata-segment run writes: RUN/train_list.txt, RUN/val_list.txt), same model
(tests/reference/torch_encoder_unet.py: torchvision's MobileNetV2 `features` with a grey first convolution, the
same decoder, the input as the last skip), same augmentation (320 x 320 crops, flips, brightness / contrast, gamma,
blur, noise, per-image standardisation), BCE with logits, Adam with warm-up and cosine decay, the checkpoint of
lowest training loss scored on the held-out images at full size. What differs: PyTorch's initialisation and its
random streams.

  /usr/bin/python3 scripts/torch_segment_reference.py --split runs/membrane --out runs/torch_membrane

needs Debian's python3-torch, python3-torchvision, python3-numpy and python3-pil. Writes OUT/metrics.csv (one row
per epoch) and OUT/val_metrics.csv (the chosen epoch's held-out scores, as strata-segment's val_metrics.csv)."""
import argparse
import copy
import csv
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from torch_encoder_unet import EncoderUNet  # noqa: E402
from segment_cv import read_pairs  # noqa: E402  (this folder)


def read_list(path):
    pairs = read_pairs(path)
    if not pairs:
        sys.exit(f"{path}: lists no image / mask pairs")
    return pairs


def load(pairs, threshold):
    out = []
    for image, mask in pairs:
        x = np.asarray(Image.open(image).convert("L"), dtype=np.float32) / 255.0
        y = (np.asarray(Image.open(mask).convert("L")) > threshold).astype(np.float32)
        if x.shape != y.shape:
            sys.exit(f"{mask}: the mask is {y.shape} but its image is {x.shape}")
        out.append((x, y))
    return out


def standardise(x):
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def gaussian_blur(x, sigma):
    radius = max(1, math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k = torch.tensor(k / k.sum(), dtype=torch.float32)
    t = F.pad(torch.from_numpy(x)[None, None], (radius, radius, radius, radius), mode="replicate")
    t = F.conv2d(t, k.view(1, 1, 1, -1))
    t = F.conv2d(t, k.view(1, 1, -1, 1))
    return t[0, 0].numpy()


def augment(x, y, a, rng):
    ch, cw = a.crop
    top = rng.integers(0, x.shape[0] - ch + 1)
    left = rng.integers(0, x.shape[1] - cw + 1)
    x, y = x[top:top + ch, left:left + cw], y[top:top + ch, left:left + cw]
    if rng.random() < 0.5:
        x, y = x[:, ::-1], y[:, ::-1]
    if rng.random() < 0.5:
        x, y = x[::-1], y[::-1]
    b = (2 * rng.random() - 1) * a.brightness
    c = 1 + (2 * rng.random() - 1) * a.contrast
    m = x.mean()
    x = np.clip((x - m) * c + m + b, 0, 1)
    if a.gamma > 0:
        x = np.clip(x, 0, 1) ** math.exp((2 * rng.random() - 1) * math.log1p(a.gamma))
    if rng.random() < a.blur_p:
        x = gaussian_blur(np.ascontiguousarray(x, dtype=np.float32), 0.5 + rng.random())
    if a.noise > 0:
        x = x + rng.normal(0, a.noise * rng.random(), x.shape)
    return standardise(x.astype(np.float32)), np.ascontiguousarray(y)


def lr_factor(step, total, warmup):
    f = 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    return f * (step + 1) / warmup if step < warmup else f


@torch.no_grad()
def evaluate(model, images):
    model.eval()
    tp = tn = fp = fn = 0
    loss = 0.0
    for x, y in images:
        logits = model(torch.from_numpy(standardise(x))[None, None])[0, 0]
        target = torch.from_numpy(y)
        loss += F.binary_cross_entropy_with_logits(logits, target).item()
        p, t = logits > 0, target > 0.5
        tp += int((p & t).sum()); tn += int((~p & ~t).sum())
        fp += int((p & ~t).sum()); fn += int((~p & t).sum())
    model.train()
    n = tp + tn + fp + fn
    iou_cell, iou_membrane = tp / max(tp + fp + fn, 1), tn / max(tn + fp + fn, 1)
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"accuracy": (tp + tn) / n, "iou_cell": iou_cell, "iou_membrane": iou_membrane,
            "miou": (iou_cell + iou_membrane) / 2, "f1": 2 * precision * recall / max(precision + recall, 1e-12),
            "loss": loss / len(images)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", required=True, help="a strata-segment run folder with train_list.txt and val_list.txt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--samples-per-epoch", type=int, default=160)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, nargs=2, default=[320, 320])
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=16)
    ap.add_argument("--brightness", type=float, default=0.1)
    ap.add_argument("--contrast", type=float, default=0.1)
    ap.add_argument("--gamma", type=float, default=0.5)
    ap.add_argument("--blur-p", type=float, default=0.3)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--threshold", type=int, default=127, help="mask pixels above it are class 1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    train = load(read_list(os.path.join(a.split, "train_list.txt")), a.threshold)
    val = load(read_list(os.path.join(a.split, "val_list.txt")), a.threshold)
    os.makedirs(a.out, exist_ok=True)

    model = EncoderUNet("mobilenet_v2", classes=1, input_skip=True, in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps_per_epoch = a.samples_per_epoch // a.batch
    total = a.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, a.warmup))
    print(f"torch {torch.__version__}: {len(train)} training / {len(val)} held-out images, {total} steps of "
          f"{a.batch} x {a.crop[0]} x {a.crop[1]}, {a.threads} threads", flush=True)
    best, best_loss, best_epoch = None, math.inf, 0
    with open(os.path.join(a.out, "metrics.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "train_loss", "val_accuracy", "val_miou", "val_loss", "seconds"])
        for epoch in range(1, a.epochs + 1):
            t0, total_loss = time.time(), 0.0
            order = np.concatenate([rng.permutation(len(train)) for _ in range(-(-a.samples_per_epoch // len(train)))])
            for s in range(steps_per_epoch):
                batch = [augment(*train[i], a, rng) for i in order[s * a.batch:(s + 1) * a.batch]]
                x = torch.from_numpy(np.stack([b[0] for b in batch]))[:, None]
                y = torch.from_numpy(np.stack([b[1] for b in batch]))[:, None]
                loss = F.binary_cross_entropy_with_logits(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total_loss += loss.item()
            train_loss = total_loss / steps_per_epoch
            m = evaluate(model, val)
            if train_loss < best_loss:
                best, best_loss, best_epoch = copy.deepcopy(model.state_dict()), train_loss, epoch
            seconds = time.time() - t0
            w.writerow([epoch, f"{train_loss:.6f}", f"{m['accuracy']:.6f}", f"{m['miou']:.6f}", f"{m['loss']:.6f}",
                        f"{seconds:.1f}"])
            f.flush()
            print(f"epoch {epoch}/{a.epochs}: train loss {train_loss:.4f}, held-out accuracy {m['accuracy']:.4f}, "
                  f"mean IoU {m['miou']:.4f} ({seconds:.1f} s)", flush=True)
    model.load_state_dict(best)
    m = evaluate(model, val)
    with open(os.path.join(a.out, "val_metrics.csv"), "w") as f:
        f.write("metric,value\n")
        f.write(f"epoch,{best_epoch}\nimages,{len(val)}\n")
        for k in ("accuracy", "f1", "iou_cell", "iou_membrane", "miou", "loss"):
            f.write(f"{k},{m[k]:.6f}\n")
    print(f"epoch {best_epoch} (lowest training loss): held-out accuracy {m['accuracy']:.4f}, IoU cell "
          f"{m['iou_cell']:.4f}, membrane {m['iou_membrane']:.4f}, mean {m['miou']:.4f}, F1 {m['f1']:.4f}")


if __name__ == "__main__":
    main()
