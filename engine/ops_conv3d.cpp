// Volume ops, x (N, C, D, H, W), composed of the 2-D ones: a 3-D convolution is one 2-D convolution over the
// depth slices, each slice carrying its kernel-depth neighbours as extra channels (the depth taps become input
// channels of the 2-D kernel, so the work is one GEMM of C x T x R x S per output voxel, as an im2col 3-D
// convolution does). Composition keeps every backend, autograd and export without kernels of their own.
#include <sstream>
#include <string>

#include "engine/nn_ops.h"
#include "engine/op_util.h"
#include "engine/ops.h"

namespace strata {

using namespace detail;

namespace {

std::string triple_str(const std::array<int64_t, 3>& a) {
  std::ostringstream os;
  os << '(' << a[0] << ", " << a[1] << ", " << a[2] << ')';
  return os.str();
}

void check_volume(const char* op, const Tensor& x) {
  check_floating(op, x);
  STRATA_CHECK(x.dim() == 5, op, ": input must be 5-D (N, C, D, H, W), got shape ", shape_str(x.shape()));
}

// (N, C, D, H, W) <-> (N, D, C, H, W): depth next to the batch, so the slices are a batch of 2-D images.
Tensor depth_major(const Tensor& x) { return contiguous(permute(x, {0, 2, 1, 3, 4})); }
Tensor channel_major(const Tensor& x) { return contiguous(permute(x, {0, 2, 1, 3, 4})); }

}  // namespace

Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv3dOptions& o) {
  const char* op = "conv3d";
  check_volume(op, x);
  check_same_device(op, x, weight);
  check_same_dtype(op, x, weight);
  STRATA_CHECK(weight.dim() == 5, op, ": weight must be 5-D (K, C, T, R, S), got shape ", shape_str(weight.shape()));
  for (int i = 0; i < 3; ++i) {
    STRATA_CHECK(o.stride[size_t(i)] >= 1 && o.dilation[size_t(i)] >= 1 && o.padding[size_t(i)] >= 0, op,
                 ": stride ", triple_str(o.stride), " and dilation ", triple_str(o.dilation), " must be >= 1, padding ",
                 triple_str(o.padding), " >= 0");
  }
  const int64_t N = x.size(0), C = x.size(1), D = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t K = weight.size(0), T = weight.size(2);
  STRATA_CHECK(weight.size(1) == C, op, ": weight ", shape_str(weight.shape()), " expects ", weight.size(1),
               " input channels, input ", shape_str(x.shape()), " has ", C);
  STRATA_CHECK(!bias.defined() || (bias.dim() == 1 && bias.numel() == K), op, ": bias ",
               bias.defined() ? shape_str(bias.shape()) : "", " does not match the ", K, " output channels");
  if (o.same)
    STRATA_CHECK(o.stride == (std::array<int64_t, 3>{1, 1, 1}), op, ": padding 'same' needs stride 1, got ",
                 triple_str(o.stride));
  // Depth padding: 'same' puts the odd extra slice of an even kernel at the end, as conv2d does its row.
  const int64_t span = o.dilation[0] * (T - 1) + 1;
  const int64_t front = o.same ? (span - 1) / 2 : o.padding[0];
  const int64_t back = o.same ? span - 1 - front : o.padding[0];
  STRATA_CHECK(D + front + back >= span, op, ": input ", shape_str(x.shape()), " padded by ", triple_str(o.padding),
               " is shallower than the dilated kernel depth ", span);
  const int64_t OD = (D + front + back - span) / o.stride[0] + 1;

  Tensor slices = depth_major(x);  // (N, D, C, H, W)
  if (front > 0 || back > 0) {
    std::vector<Tensor> parts;
    if (front > 0) parts.push_back(Tensor::zeros({N, front, C, H, W}, x.dtype(), x.device()));
    parts.push_back(slices);
    if (back > 0) parts.push_back(Tensor::zeros({N, back, C, H, W}, x.dtype(), x.device()));
    slices = cat(parts, 1);
  }
  // Output slice d reads input slices d * stride + t * dilation, t = 0 .. T - 1: those T slices side by side as
  // channels, in the order of the weight's (T, C) once permuted.
  std::vector<Tensor> taps;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t first = t * o.dilation[0];
    taps.push_back(slice(slices, 1, first, first + (OD - 1) * o.stride[0] + 1, o.stride[0]));
  }
  const Tensor stacked = (T == 1 ? contiguous(taps[0]) : cat(taps, 2)).reshape({N * OD, T * C, H, W});
  const Tensor w2 = contiguous(permute(weight, {0, 2, 1, 3, 4})).reshape({K, T * C, weight.size(3), weight.size(4)});
  Conv2dOptions o2;
  o2.stride = {o.stride[1], o.stride[2]};
  o2.padding = {o.padding[1], o.padding[2]};
  o2.dilation = {o.dilation[1], o.dilation[2]};
  o2.same = o.same;
  const Tensor y2 = conv2d(stacked, w2, bias, o2);  // (N * OD, K, OH, OW)
  return channel_major(y2.reshape({N, OD, K, y2.size(2), y2.size(3)}));
}

Tensor conv_transpose3d_blocks(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "conv_transpose3d";
  check_volume(op, x);
  check_same_device(op, x, weight);
  check_same_dtype(op, x, weight);
  STRATA_CHECK(weight.dim() == 5, op, ": weight must be 5-D (C, K, T, R, S), got shape ", shape_str(weight.shape()));
  const int64_t N = x.size(0), C = x.size(1), D = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t K = weight.size(1), T = weight.size(2), R = weight.size(3), S = weight.size(4);
  STRATA_CHECK(weight.size(0) == C, op, ": weight ", shape_str(weight.shape()), " expects ", weight.size(0),
               " input channels, input ", shape_str(x.shape()), " has ", C);
  STRATA_CHECK(!bias.defined() || (bias.dim() == 1 && bias.numel() == K), op, ": bias does not match the ", K,
               " output channels");
  // Each input voxel's block of the output is its channels times the weight: one (voxels x C) @ (C x K T R S)
  // product, its columns then laid out as blocks.
  const Tensor rows = contiguous(permute(x, {0, 2, 3, 4, 1})).reshape({N * D * H * W, C});
  Tensor y = matmul(rows, weight.reshape({C, K * T * R * S}));
  y = contiguous(permute(y.reshape({N, D, H, W, K, T, R, S}), {0, 4, 1, 5, 2, 6, 3, 7}))
          .reshape({N, K, D * T, H * R, W * S});
  return bias.defined() ? add(y, bias.reshape({1, K, 1, 1, 1})) : y;
}

Tensor max_pool3d(const Tensor& x, const std::array<int64_t, 3>& kernel) {
  const char* op = "max_pool3d";
  check_volume(op, x);
  STRATA_CHECK(kernel[0] >= 1 && kernel[1] >= 1 && kernel[2] >= 1, op, ": kernel must be >= 1, got ",
               triple_str(kernel));
  const int64_t N = x.size(0), C = x.size(1), D = x.size(2), H = x.size(3), W = x.size(4);
  STRATA_CHECK(D >= kernel[0] && H >= kernel[1] && W >= kernel[2], op, ": input ", shape_str(x.shape()),
               " is smaller than the kernel ", triple_str(kernel));
  Pool2dOptions o2;
  o2.kernel = {kernel[1], kernel[2]};
  const Tensor plane = max_pool2d(x.reshape({N, C * D, H, W}), o2);  // each slice pooled in H and W
  const int64_t OD = D / kernel[0], OH = plane.size(2), OW = plane.size(3);
  const Tensor grouped = plane.reshape({N, C, D, OH * OW});
  // Then the maximum over each window's kernel[0] slices (a remainder of slices dropped, as floor mode does).
  Tensor y = slice(grouped, 2, 0, OD * kernel[0], kernel[0]);
  for (int64_t t = 1; t < kernel[0]; ++t) y = maximum(y, slice(grouped, 2, t, OD * kernel[0], kernel[0]));
  return contiguous(y).reshape({N, C, OD, OH, OW});
}

}  // namespace strata
