#!/usr/bin/env python3
"""The PyTorch side of benchmarks/cpu_vs_torch.sh: the same cases as
bench_nn_cpu.cpp (forward + backward, median of N after 2 warm-ups), one JSON
object per line. Usage: torch_nn.py THREADS REPEATS [FILTER]"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

threads, repeats = int(sys.argv[1]), int(sys.argv[2])
name_filter = sys.argv[3] if len(sys.argv) > 3 else ""
torch.set_num_threads(threads)
torch.manual_seed(0)


def report(name, step):
    """Prints the median time of `step` over `repeats` runs after 2 warm-up runs."""
    step()
    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"name": name, "torch_ms": round(statistics.median(times), 3), "threads": threads}), flush=True)


cases = [(f"conv2d_n4_c{c}_{s}", 2, 4, c, s, 3) for c, s in [(16, 256), (32, 128), (64, 64), (128, 32), (256, 16)]]
cases += [(f"conv1d_n16_c{c}_{s}", 1, 16, c, s, 3)
          for c, s in [(16, 1024), (32, 512), (64, 256), (128, 128), (256, 64)]]
# kernel 5: the well-log U-Net's convolutions (configs/welllog_seg2016.yaml)
cases += [(f"conv1d_k5_n16_c{c}_{s}", 1, 16, c, s, 5) for c, s in [(16, 1024), (64, 256)]]

for name, dims, n, c, size, k in cases:
    if name_filter not in name:
        continue
    shape = (n, c, size, size) if dims == 2 else (n, c, size)
    x = torch.randn(shape, requires_grad=True)
    w = (torch.randn((c, c, k, k) if dims == 2 else (c, c, k)) * 0.1).requires_grad_()
    b = (torch.randn(c) * 0.1).requires_grad_()
    gy = torch.randn(shape)
    conv = F.conv2d if dims == 2 else F.conv1d

    def step():
        x.grad = w.grad = b.grad = None
        conv(x, w, b, padding=k // 2).backward(gy)

    report(name, step)

# The 2-D U-Net's upsamplers: transposed convolution, kernel 2, stride 2, c -> c / 2 channels.
for c, s in [(256, 8), (128, 16), (64, 32), (32, 64)]:
    name = f"convt2d_k2s2_n16_c{c}_{s}"
    if name_filter not in name:
        continue
    x = torch.randn((16, c, s, s), requires_grad=True)
    w = (torch.randn((c, c // 2, 2, 2)) * 0.1).requires_grad_()
    b = (torch.randn(c // 2) * 0.1).requires_grad_()
    gy = torch.randn((16, c // 2, 2 * s, 2 * s))

    def step():
        x.grad = w.grad = b.grad = None
        F.conv_transpose2d(x, w, b, stride=2).backward(gy)

    report(name, step)
