#!/usr/bin/env python3
"""The PyTorch side of benchmarks/anomaly_vs_torch.sh: the model of a
configs/anomaly_fmnist_*.yaml built layer for layer as models/autoencoder.cpp
builds it, one epoch over 6000 random 1 x 28 x 28 images, batch 64, Adam, the
same loss (reconstruction summed per image, averaged over the batch, + KL for
the VAE). Median epoch of N after 1 warm-up.
Usage: torch_anomaly_epoch.py CONFIG.yaml THREADS EPOCHS (reads the config with
a minimal parser: only the flow-style `model:` and `loss:` lines are needed)."""
import json
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def flow_map(text, key):
    m = re.search(rf"^{key}:\s*\{{(.*)\}}\s*$", text, re.M)
    out = {}
    for k, v in re.findall(r"(\w+):\s*(\[[^\]]*\]|[^,]+)", m.group(1) if m else ""):
        v = v.strip()
        out[k] = [int(x) for x in v.strip("[]").split(",")] if v.startswith("[") else v
    return out


class Autoencoder(nn.Module):
    def __init__(self, kind, widths, latent, bottleneck="dense", shape=(1, 28, 28)):
        super().__init__()
        conv = kind.startswith("conv")
        self.variational = kind.endswith("vae")
        self.latent = latent
        code = 2 * latent if self.variational else latent
        c, h, w = shape
        enc, dec = [], []
        if not conv:
            enc.append(nn.Flatten())
            n = c * h * w
            for width in widths:
                enc += [nn.Linear(n, width), nn.ReLU()]
                n = width
            flat = n
            for i in range(len(widths) - 1, 0, -1):
                dec += [nn.Linear(widths[i], widths[i - 1]), nn.ReLU()]
            dec += [nn.Linear(widths[0], c * h * w), nn.Unflatten(1, shape)]
        else:
            f = 2 ** len(widths)
            n = c
            for width in widths:
                enc += [nn.Conv2d(n, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                n = width
            bshape = (widths[-1], h // f, w // f)
            flat = widths[-1] * (h // f) * (w // f)
            if bottleneck == "dense":
                enc.append(nn.Flatten())
                dec.append(nn.Unflatten(1, bshape))
            for i in range(len(widths) - 1, -1, -1):
                out = c if i == 0 else widths[i - 1]
                dec.append(nn.ConvTranspose2d(widths[i], out, 4, 2, 1))
                if i > 0:
                    dec += [nn.BatchNorm2d(out), nn.ReLU()]
        dec.append(nn.Sigmoid())
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        if conv and bottleneck == "none":
            self.to_latent, self.from_latent = nn.Conv2d(widths[-1], code, 1), nn.Conv2d(latent, widths[-1], 1)
        else:
            self.to_latent, self.from_latent = nn.Linear(flat, code), nn.Linear(latent, flat)

    def forward(self, x):
        code = self.to_latent(self.encoder(x))
        mean, logvar = code, None
        z = code
        if self.variational:
            mean, logvar = code[:, :self.latent], code[:, self.latent:]
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return self.decoder(F.relu(self.from_latent(z))), mean, logvar


def main():
    path, threads, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    text = open(path).read()
    m, l = flow_map(text, "model"), flow_map(text, "loss")
    model = Autoencoder(m["type"], m["widths"], int(m["latent"]), m.get("bottleneck", "dense"))
    recon = l.get("reconstruction", "mse")
    kl_weight = float(l.get("kl_weight", 1.0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.rand(6000, 1, 28, 28)
    model.train()
    times = []
    for e in range(epochs + 1):
        t0 = time.perf_counter()
        for b in range(0, 6000, 64):
            x = data[b:b + 64]
            opt.zero_grad()
            r, mean, logvar = model(x)
            if recon == "mse":
                loss = F.mse_loss(r, x, reduction="sum") / x.shape[0]
            elif recon == "l1":
                loss = F.l1_loss(r, x, reduction="sum") / x.shape[0]
            else:
                loss = F.binary_cross_entropy(r, x, reduction="sum") / x.shape[0]
            if logvar is not None:
                loss = loss + kl_weight * (-0.5 * torch.sum(1 + logvar - mean * mean - logvar.exp()) / x.shape[0])
            loss.backward()
            opt.step()
        if e >= 1:
            times.append((time.perf_counter() - t0) * 1000)
    name = os.path.splitext(os.path.basename(path))[0]
    print(json.dumps({"name": f"anomaly_epoch_{name}", "torch_ms": round(statistics.median(times), 1),
                      "threads": threads}))


main()
