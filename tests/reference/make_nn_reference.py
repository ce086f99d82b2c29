#!/usr/bin/env python3
"""PyTorch reference values for the neural-network ops.

Writes nn_reference.safetensors next to this script: for every case the
inputs, the upstream gradient, PyTorch's output and its gradients, in float64.
tests/test_nn_ops.cpp runs the same ops in strata and compares.
Run with Debian's python3-torch (scripts/install_deps.sh --torch):
    /usr/bin/python3 tests/reference/make_nn_reference.py
"""
import os

import torch
import torch.nn.functional as F

from safetensors_io import save

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
out = {}


def rand(*shape, lo=-1.0, hi=1.0):
    return torch.rand(*shape) * (hi - lo) + lo


def case(name, fn, inputs, grad_of=None):
    """Stores inputs, output, a random upstream gradient and input gradients."""
    leaves = {k: v.clone().requires_grad_(v.is_floating_point() and (grad_of is None or k in grad_of))
              for k, v in inputs.items()}
    y = fn(**leaves)
    gy = torch.randn(y.shape) if y.dim() > 0 else torch.tensor(1.0)
    y.backward(gy)
    for k, v in inputs.items():
        out[f"{name}.{k}"] = v
        if leaves[k].grad is not None:
            out[f"{name}.g{k}"] = leaves[k].grad
    out[f"{name}.y"] = y.detach()
    out[f"{name}.gy"] = gy


# ---- convolutions ---------------------------------------------------------
case("conv2d_basic", lambda x, w, b: F.conv2d(x, w, b, padding=1),
     dict(x=rand(2, 3, 7, 6), w=rand(4, 3, 3, 3), b=rand(4)))
case("conv2d_s2_d2_g2", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=2, dilation=2, groups=2),
     dict(x=rand(2, 4, 9, 8), w=rand(6, 2, 3, 3), b=rand(6)))
case("conv2d_depthwise_nonsquare", lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), groups=3),
     dict(x=rand(1, 3, 7, 9), w=rand(3, 1, 2, 5), b=rand(3)))
case("conv2d_same_even", lambda x, w, b: F.conv2d(x, w, b, padding="same"),
     dict(x=rand(2, 2, 6, 5), w=rand(2, 2, 4, 2), b=rand(2)))
case("conv1d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2),
     dict(x=rand(2, 3, 11), w=rand(4, 3, 3), b=rand(4)))
case("conv_transpose2d", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2),
     dict(x=rand(2, 3, 3, 4), w=rand(3, 2, 2, 2), b=rand(2)))
case("conv_transpose2d_complex",
     lambda x, w, b: F.conv_transpose2d(x, w, b, stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2),
     dict(x=rand(1, 4, 4, 3), w=rand(4, 2, 3, 4), b=rand(4)))
case("conv_transpose1d", lambda x, w, b: F.conv_transpose1d(x, w, b, stride=3, padding=1, output_padding=2),
     dict(x=rand(2, 3, 5), w=rand(3, 2, 3), b=rand(2)))

# ---- pooling ----------------------------------------------------------------
case("max_pool2d", lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), dict(x=rand(2, 3, 7, 8)))
case("max_pool1d", lambda x: F.max_pool1d(x, 3, stride=2, padding=1), dict(x=rand(2, 3, 11)))
case("avg_pool2d_exclude", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
     dict(x=rand(1, 2, 7, 6)))
case("avg_pool2d_ceil", lambda x: F.avg_pool2d(x, (3, 2), stride=2, padding=1, ceil_mode=True),
     dict(x=rand(1, 2, 8, 5)))
case("avg_pool1d", lambda x: F.avg_pool1d(x, 2), dict(x=rand(2, 3, 9)))

# ---- upsampling -------------------------------------------------------------
case("up_nearest_x2", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), dict(x=rand(2, 2, 3, 4)))
case("up_nearest_size", lambda x: F.interpolate(x, size=(7, 5), mode="nearest"), dict(x=rand(1, 2, 3, 4)))
case("up_bilinear_x2", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
     dict(x=rand(2, 2, 3, 4)))
case("up_bilinear_align", lambda x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True),
     dict(x=rand(1, 2, 4, 3)))
case("up_bilinear_down", lambda x: F.interpolate(x, size=(3, 2), mode="bilinear", align_corners=False),
     dict(x=rand(1, 1, 7, 5)))
case("up_linear_1d", lambda x: F.interpolate(x, scale_factor=3, mode="linear", align_corners=False),
     dict(x=rand(2, 3, 5)))

# ---- batch norm ---------------------------------------------------------------
for name, shape in [("bn2d", (4, 3, 5, 6)), ("bn1d", (4, 3, 7))]:
    rm, rv = rand(3, lo=-0.5, hi=0.5), rand(3, lo=0.5, hi=2.0)
    rm_t, rv_t = rm.clone(), rv.clone()
    case(name + "_train", lambda x, w, b: F.batch_norm(x, rm_t, rv_t, w, b, training=True, momentum=0.1, eps=1e-5),
         dict(x=rand(*shape), w=rand(3, lo=0.5, hi=1.5), b=rand(3)))
    out[name + "_train.rm"], out[name + "_train.rv"] = rm, rv
    out[name + "_train.rm_after"], out[name + "_train.rv_after"] = rm_t, rv_t
    case(name + "_eval", lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5),
         dict(x=rand(*shape), w=rand(3, lo=0.5, hi=1.5), b=rand(3)))
    out[name + "_eval.rm"], out[name + "_eval.rv"] = rm, rv

# ---- activations --------------------------------------------------------------
acts = {
    "relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.2), "relu6": F.relu6,
    "elu": lambda x: F.elu(x, 0.7), "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "softplus": lambda x: F.softplus(x, beta=2.0, threshold=5.0),
    "softmax": lambda x: F.softmax(x, dim=1), "log_softmax": lambda x: F.log_softmax(x, dim=1),
}
for name, fn in acts.items():
    case("act_" + name, lambda x, fn=fn: fn(x), dict(x=rand(3, 4, 5, lo=-4.0, hi=4.0)))

# ---- losses -----------------------------------------------------------------------
t = rand(3, 2, 4, lo=0.0, hi=1.0)
tb = (t > 0.5).double()
wt = rand(3, 2, 4, lo=0.5, hi=2.0)
pw = rand(2, 1, lo=0.5, hi=3.0)
case("bce", lambda p, t, w: F.binary_cross_entropy(p, t, weight=w), dict(p=rand(3, 2, 4, lo=0.02, hi=0.98), t=t, w=wt),
     grad_of={"p"})
case("bce_logits", lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw),
     dict(x=rand(3, 2, 4, lo=-5.0, hi=5.0), t=tb, w=wt, pw=pw), grad_of={"x"})
case("bce_logits_sum", lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="sum"),
     dict(x=rand(3, 2, 4, lo=-5.0, hi=5.0), t=t), grad_of={"x"})
case("bce_logits_extreme", lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
     dict(x=torch.tensor([-100.0, -30.0, 0.0, 30.0, 100.0, 100.0]), t=torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])),
     grad_of={"x"})
case("ce_2d", lambda x, t: F.cross_entropy(x, t), dict(x=rand(5, 4, lo=-3.0, hi=3.0), t=torch.tensor([0, 3, 1, 2, 3])))
case("ce_3d_weighted", lambda x, t, w: F.cross_entropy(x, t, weight=w),
     dict(x=rand(2, 4, 4, lo=-3.0, hi=3.0), t=torch.tensor([[0, 3, 1, 2], [3, 1, -100, 2]]),
          w=rand(4, lo=0.5, hi=2.0)), grad_of={"x"})
case("ce_4d_ignore_sum", lambda x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=255, reduction="sum"),
     dict(x=rand(2, 4, 2, 3, lo=-3.0, hi=3.0), t=torch.tensor([[[0, 3, 1], [2, 255, 1]], [[0, 2, 3], [3, 1, 0]]]),
          w=rand(4, lo=0.5, hi=2.0)), grad_of={"x"})
case("ce_extreme", lambda x, t: F.cross_entropy(x, t, reduction="none"),
     dict(x=torch.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, 100.0]]), t=torch.tensor([1, 0])))
case("mse", lambda a, b: F.mse_loss(a, b), dict(a=rand(3, 5), b=rand(3, 5)), grad_of={"a"})
case("l1_sum", lambda a, b: F.l1_loss(a, b, reduction="sum"), dict(a=rand(3, 5), b=rand(3, 5)), grad_of={"a"})
case("dice", lambda p, t: (1 - (2 * (p * t).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + t.sum((1, 2, 3)) + 1)).mean(),
     dict(p=rand(2, 1, 4, 5, lo=0.0, hi=1.0), t=(rand(2, 1, 4, 5) > 0).double()), grad_of={"p"})
case("kl", lambda mu, lv: -0.5 * (1 + lv - mu ** 2 - lv.exp()).sum() / mu.shape[0],
     dict(mu=rand(4, 3), lv=rand(4, 3)))


# ---- added later (appended so the random stream of the cases above is unchanged) ----
case("act_silu", lambda x: F.silu(x), dict(x=rand(3, 4, 5, lo=-4.0, hi=4.0)))  # docs/extending.md's worked example

save(out, os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn_reference.safetensors"))
print(f"wrote {len(out)} tensors, torch {torch.__version__}")
