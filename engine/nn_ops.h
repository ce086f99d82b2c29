// Differentiable neural-network ops: convolutions, pooling, upsampling,
// batch norm, dropout, activations and losses. Inputs are NCHW (2-D) or NCL
// (1-D, computed as 2-D with H = 1); every op runs on any backend and names
// itself and the offending shapes in its errors.
#pragma once

#include <array>
#include <cstdint>

#include "engine/tensor.h"
#include "kernels/nn_desc.h"

namespace strata {

class Generator;

// ---- convolution --------------------------------------------------------
// `same` pads so the output has the input's size (stride 1 only; for an even
// effective kernel the extra row / column goes at the bottom / right, as PyTorch).
struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
  bool same = false;
};
struct Conv1dOptions {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool same = false;
};
struct ConvTranspose2dOptions {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, output_padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};
struct ConvTranspose1dOptions {
  int64_t stride = 1, padding = 0, output_padding = 0, dilation = 1, groups = 1;
};

// x (N, C, H, W), weight (K, C / groups, R, S), bias (K) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dOptions& o = {});
// x (N, C, L), weight (K, C / groups, k).
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv1dOptions& o = {});
// x (N, C, H, W), weight (C, K / groups, R, S) (PyTorch layout), bias (K).
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const ConvTranspose2dOptions& o = {});
Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const ConvTranspose1dOptions& o = {});

// ---- pooling ------------------------------------------------------------
// stride 0 means stride = kernel. Padding at most half the kernel.
struct Pool2dOptions {
  std::array<int64_t, 2> kernel{2, 2}, stride{0, 0}, padding{0, 0};
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg pooling only
};
struct Pool1dOptions {
  int64_t kernel = 2, stride = 0, padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o = {});
Tensor max_pool1d(const Tensor& x, const Pool1dOptions& o = {});
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& o = {});
Tensor avg_pool1d(const Tensor& x, const Pool1dOptions& o = {});
// Mean over every spatial dimension, keeping them as size 1: (N, C, 1, 1) or (N, C, 1).
Tensor global_avg_pool(const Tensor& x);

// ---- upsampling ---------------------------------------------------------
// One of: size (both > 0), scale (both > 0; the output is floor(size * scale) and source positions follow the
// scale, as PyTorch and ONNX Resize do), or size_like (the last two sizes of that tensor, which an exported graph
// reads at run time). linear = bilinear in 2-D.
struct Upsample2dOptions {
  std::array<int64_t, 2> size{0, 0};
  std::array<double, 2> scale{0, 0};
  UpsampleMode mode = UpsampleMode::nearest;
  bool align_corners = false;
  Tensor size_like{};
};
struct Upsample1dOptions {
  int64_t size = 0;
  double scale = 0;
  UpsampleMode mode = UpsampleMode::nearest;
  bool align_corners = false;
};
Tensor upsample2d(const Tensor& x, const Upsample2dOptions& o);
Tensor upsample1d(const Tensor& x, const Upsample1dOptions& o);

// ---- volumes: x (N, C, D, H, W) ----------------------------------------------
// Composed of the 2-D ops over depth slices (engine/ops_conv3d.cpp), so they run on every backend and are
// differentiated and exported as those ops.
struct Conv3dOptions {
  std::array<int64_t, 3> stride{1, 1, 1}, padding{0, 0, 0}, dilation{1, 1, 1};
  bool same = false;  // stride 1; an even kernel's extra slice / row / column at the end, as conv2d
};
// weight (K, C, T, R, S), bias (K) or undefined; one group.
Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv3dOptions& o = {});
// The transposed convolution whose stride equals its kernel (each input voxel spreads into its own T x R x S
// block: a U-Net's 2x upsampling): weight (C, K, T, R, S) (PyTorch layout), output (N, K, D T, H R, W S).
Tensor conv_transpose3d_blocks(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// Maximum over non-overlapping windows (stride = kernel, no padding); a remainder the kernel does not cover is
// dropped, as PyTorch's floor mode.
Tensor max_pool3d(const Tensor& x, const std::array<int64_t, 3>& kernel);

// ---- normalisation and regularisation ----------------------------------
// x (N, C), (N, C, L) or (N, C, H, W). training: batch statistics, and the
// running ones (if defined) are updated in place with momentum, the variance
// unbiased; eval: running statistics. weight / bias (C) may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm(...)), or relu6(batch_norm(...)) with act = relu6, in one
// kernel where the backend has one (the CPU's): one pass over the activation
// fewer each way, and no second activation kept for the backward. Elsewhere
// it is that composition. Other activations are an error.
Tensor batch_norm_relu(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5,
                       Activation act = Activation::relu);
// Zeroes elements with probability p and scales the rest by 1 / (1 - p) when
// training; identity otherwise. gen: nullptr = the default generator.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

// ---- activations --------------------------------------------------------
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
Tensor relu6(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor silu(const Tensor& x);  // x * sigmoid(x); the worked example of docs/extending.md

// ---- losses -------------------------------------------------------------
// Targets, weights and pos_weight receive no gradient.
enum class Reduction { none, mean, sum };

// Binary cross-entropy of probabilities (log clamped at -100, as PyTorch).
Tensor bce(const Tensor& prob, const Tensor& target, const Tensor& weight = Tensor(),
           Reduction reduction = Reduction::mean);
// From logits, stable for any magnitude. pos_weight broadcasts against the
// class dimension (e.g. (1) or (C, 1, 1)); weight against the input.
Tensor bce_with_logits(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor(),
                       const Tensor& pos_weight = Tensor(), Reduction reduction = Reduction::mean);
// logits (N, C, ...), target integer (N, ...). mean = sum(w * nll) / sum(w) over
// targets != ignore_index (PyTorch's weighted mean).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& class_weight = Tensor(),
                     int64_t ignore_index = -100, Reduction reduction = Reduction::mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// Soft Dice per sample: 1 - (2 sum(p t) + smooth) / (sum p + sum t + smooth)
// over all non-batch dimensions; none gives (N).
Tensor dice_loss(const Tensor& prob, const Tensor& target, double smooth = 1.0,
                 Reduction reduction = Reduction::mean);
// KL(N(mu, exp(logvar)) || N(0, 1)) = -0.5 (1 + logvar - mu^2 - exp(logvar)) per
// element; sum adds all; mean divides that sum by the batch size (dim 0).
Tensor gaussian_kl(const Tensor& mu, const Tensor& logvar, Reduction reduction = Reduction::mean);

}  // namespace strata
