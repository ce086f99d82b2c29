#!/usr/bin/env python3
"""PyTorch reference values for the models, optimizers and torchvision names.

Writes model_reference.safetensors next to this script:
  * unet2d / unet1d: the reference U-Nets (base 16, depth 4) defined below with
    strata's parameter names, every parameter filled by the formula in fill()
    (tests/test_models.cpp computes the same numbers, so no weights are stored),
    their outputs on fixed inputs in eval and train mode, and the running
    statistics after the train-mode pass.
  * train_<optimizer>: the first 10 losses of a small 1-D U-Net (base 4,
    depth 2) trained on a fixed batch with cross-entropy by SGD (momentum,
    Nesterov, weight decay), Adam and AdamW with a poly schedule.
  * torchvision vgg16 / vgg16_bn / mobilenet_v2 (and width 0.5) feature
    extractors: every state_dict name and shape (in the metadata, as JSON),
    and mobilenet_v2(width 0.5) features on a fixed input with fill() weights.
Run with Debian's python3-torch and python3-torchvision
(scripts/install_deps.sh --torch):
    /usr/bin/python3 tests/reference/make_model_reference.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F
import torchvision

from safetensors_io import save
from torch_unet import UNet

torch.manual_seed(0)
out = {}
meta = {}


def fill(model):
    """Deterministic parameters and buffers: tensor k (sorted state_dict order), element i."""
    with torch.no_grad():
        items = [(n, t) for n, t in sorted(model.state_dict().items()) if not n.endswith("num_batches_tracked")]
        for k, (name, t) in enumerate(items):
            i = torch.arange(t.numel(), dtype=torch.float64)
            s = torch.sin(0.37 * i + 1.1 * k)
            if name.endswith("running_var"):
                v = 0.5 + 0.25 * (1 + s)
            elif t.dim() >= 2:
                v = s / math.sqrt(t.numel() / t.shape[0])
            else:
                v = 0.1 * s
            t.copy_(v.reshape(t.shape).to(t.dtype))


def unet_case(name, dims, cin, classes, shape):
    model = UNet(dims, cin, classes)
    fill(model)
    meta[f"{name}.parameters"] = str(sum(p.numel() for p in model.parameters()))
    x = torch.randn(*shape)
    out[f"{name}.x"] = x
    model.eval()
    with torch.no_grad():
        out[f"{name}.y_eval"] = model(x)
    model.train()
    y = model(x)
    out[f"{name}.y_train"] = y.detach()
    # Gradient of sum(y * g) w.r.t. the first and last weights.
    g = torch.randn(y.shape)
    (y * g).sum().backward()
    out[f"{name}.g"] = g
    out[f"{name}.grad.down.0.conv1.weight"] = model.down[0].conv1.weight.grad
    out[f"{name}.grad.head.weight"] = model.head.weight.grad
    out[f"{name}.running_mean.bottleneck.bn2"] = model.bottleneck.bn2.running_mean
    out[f"{name}.running_var.bottleneck.bn2"] = model.bottleneck.bn2.running_var


unet_case("unet2d", 2, 1, 1, (1, 1, 32, 48))
unet_case("unet1d", 1, 1, 5, (2, 1, 64))


def train_case(name, make_opt):
    model = UNet(1, 1, 3, base=4, depth=2)
    fill(model)
    x = torch.randn(4, 1, 32)
    target = torch.randint(0, 3, (4, 32))
    out[f"train_{name}.x"] = x
    out[f"train_{name}.target"] = target
    opt = make_opt(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: (1 - step / 10) ** 0.9)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    out[f"train_{name}.losses"] = torch.tensor(losses, dtype=torch.float64)
    out[f"train_{name}.head.weight"] = model.head.weight.detach()


train_case("sgd", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3))
train_case("adam", lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.9, 0.99), weight_decay=1e-3))
train_case("adamw", lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.05))

for arch, make in [("vgg16", lambda: torchvision.models.vgg16()),
                   ("vgg16_bn", lambda: torchvision.models.vgg16_bn()),
                   ("mobilenet_v2", lambda: torchvision.models.mobilenet_v2()),
                   ("mobilenet_v2_w0.5", lambda: torchvision.models.mobilenet_v2(width_mult=0.5))]:
    model = make()
    meta[f"torchvision.{arch}"] = json.dumps([[n, list(t.shape)] for n, t in model.state_dict().items()])

mnet = torchvision.models.mobilenet_v2(width_mult=0.5)
fill(mnet.features)  # the classifier would shift the tensor count k
mnet.eval()
x = torch.randn(1, 3, 64, 64)
taps, y = [], x
with torch.no_grad():
    for i, layer in enumerate(mnet.features):
        y = layer(y)
        if i in (1, 3, 6, 13, 18):
            taps.append(y)
out["mobilenet_v2_w0.5.x"] = x
for j, t in enumerate(taps):
    out[f"mobilenet_v2_w0.5.stage{j}"] = t

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_reference.safetensors")
save(out, path, meta)
print(f"wrote {len(out)} tensors to {path} ({os.path.getsize(path)} bytes), torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}")
