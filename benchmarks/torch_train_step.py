#!/usr/bin/env python3
"""The PyTorch side of the train-step rows of benchmarks/cpu_vs_torch.sh: the
identical U-Net (tests/reference/torch_unet.py), batch, loss and Adam as
bench_train_step.cpp; median step of N after 2 warm-ups and the peak resident
set of this process. Usage: torch_train_step.py MODEL THREADS REPEATS [cpu|cuda]
On cuda the model and batch live on the GPU, each timed step ends with
torch.cuda.synchronize(), TF32 is off (strata computes in full FP32) and
cuDNN's autotuner is on (the fastest algorithm PyTorch can pick)."""
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from torch_unet import UNet  # noqa: E402
from torch_encoder_unet import EncoderUNet  # noqa: E402

model_name, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
device = torch.device(sys.argv[4] if len(sys.argv) > 4 else "cpu")
if device.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


torch.set_num_threads(threads)
torch.manual_seed(0)
two_d = model_name != "unet1d"
camvid = model_name.startswith("camvid_")
predict = model_name == "faults_predict" or (camvid and model_name.endswith("_predict"))
CAMVID_BASE = 16  # configs/segment_camvid_scratch.yaml's model.base
if camvid:
    if model_name.startswith("camvid_vgg16"):
        model = EncoderUNet("vgg16_bn", classes=11)
    elif model_name.startswith("camvid_mobilenetv2"):  # configs/segment_camvid.yaml
        model = EncoderUNet("mobilenet_v2", classes=11, input_skip=True)
    else:
        model = UNet(2, 3, 11, base=CAMVID_BASE)
    # full resolution 360 x 480 padded to the network's multiple (MobileNetV2: 32, the others: 16)
    shape = (1, 3, 384 if "mobilenetv2" in model_name else 368, 480) if predict else (8, 3, 160, 224)
elif model_name.startswith("unet_"):
    model = EncoderUNet("mobilenet_v2" if model_name == "unet_mobilenetv2" else "vgg16")
    shape = (8, 3, 224, 224) if model_name == "unet_mobilenetv2" else (4, 3, 224, 224)
elif model_name == "faults_volume":  # configs/faults_volume.yaml
    model = UNet(3, 1, 1, base=8, depth=3)
    shape = (2, 1, 64, 64, 64)
else:
    model = UNet(2, 1, 1) if two_d else UNet(1, 1, 5)
    shape = {"faults": (16, 1, 128, 128), "faults_predict": (1, 1, 256, 512)}.get(model_name, (4, 1, 256, 256))
model = model.to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
if camvid:
    x = torch.randn(*shape)
    target = torch.randint(0, 11, (shape[0], *shape[2:]))
elif two_d:
    x = torch.randn(*shape)
    target = (torch.rand(shape[0], 1, *shape[2:]) > 0.5).float()
else:
    x = torch.randn(16, 1, 1024)
    target = torch.randint(0, 5, (16, 1024))
x, target = x.to(device), target.to(device)


def device_peak():
    if device.type != "cuda":
        return {}
    return {"device_peak_mb": round(torch.cuda.max_memory_allocated() / 1048576, 1)}


times = []
pos_weight = torch.tensor([60.0], device=device)
if predict:
    model.eval()
    with torch.no_grad():
        for i in range(repeats + 2):
            t0 = time.perf_counter()
            p = torch.softmax(model(x), 1) if camvid else torch.sigmoid(model(x))
            sync()
            if i >= 2:
                times.append((time.perf_counter() - t0) * 1000)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": model_name, "torch_ms": round(statistics.median(times), 2),
                      "torch_peak_mb": round(peak_mb, 1), "device": device.type, **device_peak()}))
    sys.exit(0)
for i in range(repeats + 2):
    t0 = time.perf_counter()
    opt.zero_grad()
    logits = model(x)
    if model_name in ("faults", "faults_volume"):
        loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
    elif camvid:
        loss = F.cross_entropy(logits, target)
    elif two_d:
        loss = F.binary_cross_entropy_with_logits(logits, target)
    else:
        loss = F.cross_entropy(logits, target)
    loss.backward()
    opt.step()
    sync()
    if i >= 2:
        times.append((time.perf_counter() - t0) * 1000)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"name": f"train_step_{model_name}", "torch_ms": round(statistics.median(times), 2),
                  "torch_peak_mb": round(peak_mb, 1), "device": device.type, **device_peak()}))
