// Geometry of the neural-network kernels (convolution, pooling, upsampling,
// activations), shared by kernels/cpu and kernels/cuda. 1-D ops run as 2-D
// with H = 1. Tensors are contiguous NCHW.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/op_kinds.h"

namespace strata {

// A 2-D convolution y = conv(x, w): x (N, C, H, W), w (K, C / groups, R, S),
// y (N, K, OH, OW). Transposed convolution is described by the convolution
// whose backward-data it is (x is then its output).
struct ConvGeom {
  int64_t N = 1, C = 1, H = 1, W = 1;
  int64_t K = 1, R = 1, S = 1;
  int64_t OH = 1, OW = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t groups = 1;

  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
  int64_t col_rows() const { return C * R * S; }  // rows of one sample's column matrix, all groups
  int64_t P() const { return OH * OW; }
  // True when the column matrix of a sample is the sample itself (1x1, stride 1, no padding).
  bool is_pointwise() const {
    return R == 1 && S == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

// The three passes of a convolution: y from (x, w); gx from (gy, w); gw from (x, gy).
enum class ConvPass : uint8_t { forward, backward_data, backward_weight };

// Names the weights of a convolution while they stay as they are (the engine gives one inside InferenceMode,
// engine/autograd.h): the storage they live in (a number no other storage of the process ever has), their offset
// there and the storage's version, which every write bumps. A kernel may keep what it derives from weights so
// named (kernels/cpu/filter_cache.h); storage 0 names nothing, and the kernel derives it again.
struct FilterKey {
  uint64_t storage = 0;
  int64_t offset = 0;
  uint64_t version = 0;
};

// Max / average pooling of x (N, C, H, W) to y (N, C, OH, OW); padding is
// -inf for max and zeros for average (counted when count_include_pad).
struct PoolGeom {
  int64_t N = 1, C = 1, H = 1, W = 1, OH = 1, OW = 1;
  int64_t R = 1, S = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool count_include_pad = true;
};

// The window of pooling output (oh, ow) clipped to the input, and the divisor
// of its average (the padded extent with count_include_pad, never past the padded input).
struct PoolWindow {
  int64_t h0, h1, w0, w1, count;
};
STRATA_HD inline PoolWindow pool_window(const PoolGeom& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.stride_h - g.pad_h, ws = ow * g.stride_w - g.pad_w;
  const int64_t he = hs + g.R < g.H + g.pad_h ? hs + g.R : g.H + g.pad_h;
  const int64_t we = ws + g.S < g.W + g.pad_w ? ws + g.S : g.W + g.pad_w;
  PoolWindow w{hs > 0 ? hs : 0, he < g.H ? he : g.H, ws > 0 ? ws : 0, we < g.W ? we : g.W, 0};
  w.count = g.count_include_pad ? (he - hs) * (we - ws) : (w.h1 - w.h0) * (w.w1 - w.w0);
  return w;
}

enum class UpsampleMode : uint8_t { nearest, linear };

// Upsampling (or resizing) x (N, C, H, W) to (N, C, OH, OW). Source
// coordinates follow PyTorch: nearest src = min(floor(dst * ratio), in - 1);
// linear src = (dst + 0.5) * ratio - 0.5 clamped at 0, or dst * ratio with
// align_corners; ratio_h / ratio_w are set by the engine.
struct UpsampleGeom {
  int64_t N = 1, C = 1, H = 1, W = 1, OH = 1, OW = 1;
  UpsampleMode mode = UpsampleMode::nearest;
  bool align_corners = false;
  double ratio_h = 1, ratio_w = 1;
};

// Source index of output position dst for nearest upsampling.
STRATA_HD inline int64_t nearest_source(int64_t dst, double ratio, int64_t in) {
  const int64_t s = int64_t(std::floor(double(dst) * ratio));
  return s < in - 1 ? s : in - 1;
}

// The two source taps of output position dst for linear upsampling.
struct LinearTaps {
  int64_t i0, i1;
  double w0, w1;
};
STRATA_HD inline LinearTaps linear_source(int64_t dst, double ratio, int64_t in, bool align_corners) {
  double src = align_corners ? ratio * double(dst) : ratio * (double(dst) + 0.5) - 0.5;
  if (src < 0) src = 0;
  const int64_t i0 = int64_t(src);
  const int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
  const double w1 = src - double(i0);
  return {i0, i1, 1.0 - w1, w1};
}

enum class Activation : uint8_t { relu, leaky_relu, relu6, elu, sigmoid, tanh, softplus, silu };

// alpha: leaky_relu slope, elu alpha, softplus beta. softplus is linear above
// threshold (20, as PyTorch) in units of beta * x.
struct ActParams {
  double alpha = 0;
  double threshold = 20;
};

}  // namespace strata
