// Convolution, transposed convolution, pooling and upsampling. The three
// convolution passes (forward, backward-data, backward-weight) are written
// once on the Backend's im2col / col2im / batched GEMM, so they run on any
// device; a backend with a direct kernel for a pass and shape (the CPU's, for
// unit-stride f32 convolutions: kernels/cpu/conv_direct.h) runs it instead.
// Transposed convolution is the same three passes with roles swapped.
// 1-D ops are the 2-D ones with H = 1.
#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <string>

#include "engine/autograd.h"
#include "engine/nn_ops.h"
#include "engine/cudnn_conv.h"
#include "engine/cudnn_ops.h"
#include "engine/op_util.h"

namespace strata {

using namespace detail;

namespace {

// Column matrices are built for a batch chunk at a time, at most this many
// bytes (the chunk size depends on the shape only, so results are reproducible).
constexpr int64_t kColumnBudget = int64_t(64) << 20;

// Names the filters w for the kernels inside InferenceMode, where the weights
// are taken to stay as they are (kernels/nn_desc.h); nothing outside it. Only
// a parameter (a tensor that requires grad: inside the guard nothing else
// does) is named: a filter computed from one on every call (conv3d's
// permuted weights) would never be found again.
FilterKey filter_key(const Tensor& w) {
  if (!inference_mode() || !w.requires_grad()) return {};
  return {w.storage()->id(), w.offset(), w.version()};
}

// Runs pass `pass` of g on the backend's direct kernel when it has one for
// this shape (workspace from the device's caching allocator); false otherwise.
bool ran_direct(Backend& be, DType t, ConvPass pass, const ConvGeom& g, Device device, const void* a, const void* b,
                void* out, const FilterKey& filters = {}) {
  const int64_t ws = be.conv_direct_workspace(t, pass, g);
  if (ws < 0) return false;
  const Tensor workspace = make_tensor({ws}, t, device);
  be.conv_direct(t, pass, g, a, b, out, workspace.raw_data(), filters);
  return true;
}

// True when the cuDNN engine is selected for x's device and ran `call`.
template <class Call>
bool ran_on_cudnn(const Tensor& x, Call&& call) {
  return x.device().is_cuda() && cuda::use_cudnn_for_conv() && call();
}

int64_t chunk_samples(const ConvGeom& g, DType t) {
  if (g.is_pointwise()) return g.N;
  const int64_t per_sample = g.col_rows() * g.P() * int64_t(dtype_size(t));
  return std::clamp<int64_t>(kColumnBudget / std::max<int64_t>(per_sample, 1), 1, std::max<int64_t>(g.N, 1));
}

// Room for the column matrices of nb samples (none for a pointwise convolution).
Tensor column_buffer(const ConvGeom& g, int64_t nb, DType t, Device device) {
  return g.is_pointwise() ? Tensor() : make_tensor({nb, g.col_rows(), g.P()}, t, device);
}

// The column matrices of samples [n0, n0 + nb) of x: x itself for a pointwise
// convolution, else im2col into cols.
const char* columns(Backend& be, const ConvGeom& g, const Tensor& x, int64_t n0, int64_t nb, const Tensor& cols) {
  if (g.is_pointwise())
    return static_cast<const char*>(x.raw_data()) + n0 * g.C * g.P() * int64_t(dtype_size(x.dtype()));
  be.im2col(x.dtype(), g, x.raw_data(), n0, nb, cols.raw_data());
  return static_cast<const char*>(cols.raw_data());
}

// y (N, K, OH, OW) = conv(x, w); x and w contiguous.
Tensor conv_forward(const ConvGeom& g, const Tensor& x, const Tensor& w) {
  Backend& be = backend_for(x.device());
  const DType t = x.dtype();
  const int64_t es = dtype_size(t), P = g.P(), CgRS = g.Cg() * g.R * g.S, Kg = g.Kg();
  Tensor y = make_tensor({g.N, g.K, g.OH, g.OW}, t, x.device());
  if (ran_on_cudnn(x, [&] { return cuda::cudnn_conv_forward(t, g, x.raw_data(), w.raw_data(), y.raw_data()); }))
    return y;
  if (ran_direct(be, t, ConvPass::forward, g, x.device(), x.raw_data(), w.raw_data(), y.raw_data(), filter_key(w)))
    return y;
  const int64_t nb_max = chunk_samples(g, t);
  const Tensor cols = column_buffer(g, nb_max, t, x.device());
  const char* wp = static_cast<const char*>(w.raw_data());
  char* yp = static_cast<char*>(y.raw_data());
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0);
    const char* cp = columns(be, g, x, n0, nb, cols);
    for (int64_t grp = 0; grp < g.groups; ++grp)
      be.gemm_batched(t, nb, false, false, Kg, P, CgRS, wp + grp * Kg * CgRS * es, CgRS, 0,
                      cp + grp * CgRS * P * es, P, g.col_rows() * P, yp + (n0 * g.K + grp * Kg) * P * es, P,
                      g.K * P);
  }
  return y;
}

// gx (N, C, H, W) = conv^T(gy, w): the gradient of conv_forward with respect to x.
Tensor conv_backward_data(const ConvGeom& g, const Tensor& gy, const Tensor& w) {
  Backend& be = backend_for(gy.device());
  const DType t = gy.dtype();
  const int64_t es = dtype_size(t), P = g.P(), CgRS = g.Cg() * g.R * g.S, Kg = g.Kg();
  Tensor gx = make_tensor({g.N, g.C, g.H, g.W}, t, gy.device());
  if (ran_on_cudnn(gy,
                   [&] { return cuda::cudnn_conv_backward_data(t, g, gy.raw_data(), w.raw_data(), gx.raw_data()); }))
    return gx;
  if (ran_direct(be, t, ConvPass::backward_data, g, gy.device(), gy.raw_data(), w.raw_data(), gx.raw_data(),
                 filter_key(w)))
    return gx;
  const int64_t nb_max = chunk_samples(g, t);
  const Tensor cols = column_buffer(g, nb_max, t, gy.device());
  const char* wp = static_cast<const char*>(w.raw_data());
  const char* gyp = static_cast<const char*>(gy.raw_data());
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0);
    char* cp = g.is_pointwise() ? static_cast<char*>(gx.raw_data()) + n0 * g.C * P * es
                                : static_cast<char*>(cols.raw_data());
    for (int64_t grp = 0; grp < g.groups; ++grp)
      be.gemm_batched(t, nb, true, false, CgRS, P, Kg, wp + grp * Kg * CgRS * es, CgRS, 0,
                      gyp + (n0 * g.K + grp * Kg) * P * es, P, g.K * P, cp + grp * CgRS * P * es, P,
                      g.col_rows() * P);
    if (!g.is_pointwise()) be.col2im(t, g, cols.raw_data(), n0, nb, gx.raw_data());
  }
  return gx;
}

// gw (K, C / groups, R, S): the gradient of conv_forward with respect to w.
// Per-sample products are summed over the chunk and chunks added in order.
Tensor conv_backward_weight(const ConvGeom& g, const Tensor& x, const Tensor& gy) {
  Backend& be = backend_for(x.device());
  const DType t = x.dtype();
  const int64_t es = dtype_size(t), P = g.P(), CgRS = g.Cg() * g.R * g.S, Kg = g.Kg();
  Tensor gw_cudnn;
  if (ran_on_cudnn(x, [&] {
        gw_cudnn = make_tensor({g.K, g.Cg(), g.R, g.S}, t, x.device());
        return cuda::cudnn_conv_backward_weight(t, g, x.raw_data(), gy.raw_data(), gw_cudnn.raw_data());
      }))
    return gw_cudnn;
  if (Tensor gw = make_tensor({g.K, g.Cg(), g.R, g.S}, t, x.device());
      ran_direct(be, t, ConvPass::backward_weight, g, x.device(), x.raw_data(), gy.raw_data(), gw.raw_data()))
    return gw;
  const int64_t nb_max = chunk_samples(g, t);
  const Tensor cols = column_buffer(g, nb_max, t, x.device());
  Tensor per_sample = make_tensor({nb_max, g.K, CgRS}, t, x.device());
  Tensor gw;
  const char* gyp = static_cast<const char*>(gy.raw_data());
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0);
    const char* cp = columns(be, g, x, n0, nb, cols);
    char* pp = static_cast<char*>(per_sample.raw_data());
    for (int64_t grp = 0; grp < g.groups; ++grp)
      be.gemm_batched(t, nb, false, true, Kg, CgRS, P, gyp + (n0 * g.K + grp * Kg) * P * es, P, g.K * P,
                      cp + grp * CgRS * P * es, P, g.col_rows() * P, pp + grp * Kg * CgRS * es, CgRS, g.K * CgRS);
    const Tensor part = sum(per_sample.narrow(0, 0, nb), {0});
    gw = gw.defined() ? add(gw, part) : part;
  }
  return gw.reshape({g.K, g.Cg(), g.R, g.S});
}

std::string dims_str(const std::array<int64_t, 2>& a) {
  std::ostringstream os;
  os << '(' << a[0] << ", " << a[1] << ')';
  return os.str();
}

void check_conv_inputs(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias, int64_t dims) {
  check_floating(op, x);
  check_same_device(op, x, w);
  check_same_dtype(op, x, w);
  STRATA_CHECK(x.dim() == dims + 2, op, ": input must be ", dims + 2, "-D (N, C, ", dims == 2 ? "H, W" : "L",
               "), got shape ", shape_str(x.shape()));
  STRATA_CHECK(w.dim() == dims + 2, op, ": weight must be ", dims + 2, "-D, got shape ", shape_str(w.shape()));
  if (bias.defined()) {
    check_same_device(op, x, bias);
    check_same_dtype(op, x, bias);
    STRATA_CHECK(bias.dim() == 1, op, ": bias must be 1-D, got shape ", shape_str(bias.shape()));
  }
}

void check_positive(const char* op, const char* what, const std::array<int64_t, 2>& v, int64_t min) {
  STRATA_CHECK(v[0] >= min && v[1] >= min, op, ": ", what, " must be >= ", min, ", got ", dims_str(v));
}

// y += bias over channels (dim 1), without history.
void add_bias(Tensor& y, const Tensor& bias) {
  Shape s(y.dim(), 1);
  s[1] = bias.numel();
  const Tensor b = raw_expand(bias.contiguous().reshape(s), y.shape());
  backend_for(y.device()).binary(y.dtype(), BinaryOp::add, y.raw_data(), y.desc(), b.raw_data(), b.desc(),
                                 y.raw_data(), y.desc());
}

Tensor bias_grad(const Tensor& g) { return sum(g, {0, 2, 3}); }

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& o) {
  const char* op = "conv2d";
  check_conv_inputs(op, x, weight, bias, 2);
  check_positive(op, "stride", o.stride, 1);
  check_positive(op, "dilation", o.dilation, 1);
  check_positive(op, "padding", o.padding, 0);
  ConvGeom g;
  g.N = x.shape()[0], g.C = x.shape()[1], g.H = x.shape()[2], g.W = x.shape()[3];
  g.K = weight.shape()[0], g.R = weight.shape()[2], g.S = weight.shape()[3];
  g.groups = o.groups;
  STRATA_CHECK(o.groups >= 1 && g.C % o.groups == 0 && g.K % o.groups == 0, op, ": groups = ", o.groups,
               " must divide the input channels (", g.C, ") and the output channels (", g.K, ")");
  STRATA_CHECK(weight.shape()[1] * o.groups == g.C, op, ": weight ", shape_str(weight.shape()), " expects ",
               weight.shape()[1] * o.groups, " input channels, input ", shape_str(x.shape()), " has ", g.C);
  STRATA_CHECK(!bias.defined() || bias.numel() == g.K, op, ": bias ", shape_str(bias.shape()),
               " does not match the ", g.K, " output channels of weight ", shape_str(weight.shape()));
  g.stride_h = o.stride[0], g.stride_w = o.stride[1], g.dil_h = o.dilation[0], g.dil_w = o.dilation[1];
  if (o.same) {
    STRATA_CHECK(o.stride[0] == 1 && o.stride[1] == 1, op, ": padding 'same' needs stride 1, got ",
                 dims_str(o.stride));
    g.pad_h = g.dil_h * (g.R - 1) / 2, g.pad_w = g.dil_w * (g.S - 1) / 2;
    g.OH = g.H, g.OW = g.W;
  } else {
    g.pad_h = o.padding[0], g.pad_w = o.padding[1];
    const int64_t eh = g.dil_h * (g.R - 1) + 1, ew = g.dil_w * (g.S - 1) + 1;
    STRATA_CHECK(g.H + 2 * g.pad_h >= eh && g.W + 2 * g.pad_w >= ew, op, ": input ", shape_str(x.shape()),
                 " padded by ", dims_str(o.padding), " is smaller than the dilated kernel (", eh, ", ", ew, ")");
    g.OH = (g.H + 2 * g.pad_h - eh) / g.stride_h + 1;
    g.OW = (g.W + 2 * g.pad_w - ew) / g.stride_w + 1;
  }
  const Tensor xc = x.contiguous(), wc = weight.contiguous();
  Tensor y = conv_forward(g, xc, wc);
  if (bias.defined()) add_bias(y, bias);
  // Only the gradients that are needed are computed (the input of a network needs none).
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  if (tracing())
    trace_attrs("conv2d", {{{"strides", {g.stride_h, g.stride_w}},
                            {"pads", {g.pad_h, g.pad_w, g.pad_h, g.pad_w}},
                            {"dilations", {g.dil_h, g.dil_w}},
                            {"group", {g.groups}}}, {}, {}});
  return record("conv2d", y, {x, weight, bias},
                [g, sx = Saved(xc), sw = Saved(wc), need_x, need_w, need_b](const Tensor& gy) -> Grads {
                  const Tensor gyc = gy.contiguous();
                  return {need_x ? conv_backward_data(g, gyc, sw.get()) : Tensor(),
                          need_w ? conv_backward_weight(g, sx.get(), gyc) : Tensor(),
                          need_b ? bias_grad(gyc) : Tensor()};
                });
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dOptions& o) {
  const char* op = "conv1d";
  STRATA_CHECK(x.dim() == 3, op, ": input must be 3-D (N, C, L), got shape ", shape_str(x.shape()));
  STRATA_CHECK(weight.dim() == 3, op, ": weight must be 3-D (K, C / groups, k), got shape ",
               shape_str(weight.shape()));
  STRATA_CHECK(weight.shape()[1] * o.groups == x.shape()[1], op, ": weight ", shape_str(weight.shape()),
               " expects ", weight.shape()[1] * o.groups, " input channels, input ", shape_str(x.shape()), " has ",
               x.shape()[1]);
  Conv2dOptions o2;
  o2.stride = {1, o.stride};
  o2.padding = {0, o.padding};
  o2.dilation = {1, o.dilation};
  o2.groups = o.groups;
  o2.same = o.same;
  return conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, o2).squeeze(2);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose2dOptions& o) {
  const char* op = "conv_transpose2d";
  check_conv_inputs(op, x, weight, bias, 2);
  check_positive(op, "stride", o.stride, 1);
  check_positive(op, "dilation", o.dilation, 1);
  check_positive(op, "padding", o.padding, 0);
  check_positive(op, "output_padding", o.output_padding, 0);
  STRATA_CHECK(o.output_padding[0] < std::max(o.stride[0], o.dilation[0]) &&
                   o.output_padding[1] < std::max(o.stride[1], o.dilation[1]),
               op, ": output_padding ", dims_str(o.output_padding), " must be smaller than stride ",
               dims_str(o.stride), " or dilation ", dims_str(o.dilation));
  // The convolution whose backward-data this is: its input is our output.
  ConvGeom g;
  g.N = x.shape()[0], g.K = x.shape()[1], g.OH = x.shape()[2], g.OW = x.shape()[3];
  g.groups = o.groups;
  STRATA_CHECK(weight.shape()[0] == g.K, op, ": weight ", shape_str(weight.shape()), " expects ", weight.shape()[0],
               " input channels, input ", shape_str(x.shape()), " has ", g.K);
  STRATA_CHECK(o.groups >= 1 && g.K % o.groups == 0, op, ": groups = ", o.groups, " must divide the input channels (",
               g.K, ")");
  g.C = weight.shape()[1] * o.groups, g.R = weight.shape()[2], g.S = weight.shape()[3];
  STRATA_CHECK(!bias.defined() || bias.numel() == g.C, op, ": bias ", shape_str(bias.shape()),
               " does not match the ", g.C, " output channels of weight ", shape_str(weight.shape()));
  g.stride_h = o.stride[0], g.stride_w = o.stride[1], g.dil_h = o.dilation[0], g.dil_w = o.dilation[1];
  g.pad_h = o.padding[0], g.pad_w = o.padding[1];
  g.H = (g.OH - 1) * g.stride_h - 2 * g.pad_h + g.dil_h * (g.R - 1) + o.output_padding[0] + 1;
  g.W = (g.OW - 1) * g.stride_w - 2 * g.pad_w + g.dil_w * (g.S - 1) + o.output_padding[1] + 1;
  STRATA_CHECK(g.H > 0 && g.W > 0, op, ": input ", shape_str(x.shape()), " with padding ", dims_str(o.padding),
               " gives an empty output (", g.H, ", ", g.W, ")");
  const Tensor xc = x.contiguous(), wc = weight.contiguous();
  Tensor y = conv_backward_data(g, xc, wc);
  if (bias.defined()) add_bias(y, bias);
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  if (tracing())
    trace_attrs("conv_transpose2d", {{{"strides", {g.stride_h, g.stride_w}},
                                      {"pads", {g.pad_h, g.pad_w, g.pad_h, g.pad_w}},
                                      {"dilations", {g.dil_h, g.dil_w}},
                                      {"output_padding", {o.output_padding[0], o.output_padding[1]}},
                                      {"group", {g.groups}}}, {}, {}});
  return record("conv_transpose2d", y, {x, weight, bias},
                [g, sx = Saved(xc), sw = Saved(wc), need_x, need_w, need_b](const Tensor& gy) -> Grads {
                  const Tensor gyc = gy.contiguous();
                  return {need_x ? conv_forward(g, gyc, sw.get()) : Tensor(),
                          need_w ? conv_backward_weight(g, gyc, sx.get()) : Tensor(),
                          need_b ? bias_grad(gyc) : Tensor()};
                });
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose1dOptions& o) {
  const char* op = "conv_transpose1d";
  STRATA_CHECK(x.dim() == 3, op, ": input must be 3-D (N, C, L), got shape ", shape_str(x.shape()));
  STRATA_CHECK(weight.dim() == 3, op, ": weight must be 3-D (C, K / groups, k), got shape ",
               shape_str(weight.shape()));
  ConvTranspose2dOptions o2;
  o2.stride = {1, o.stride};
  o2.padding = {0, o.padding};
  o2.output_padding = {0, o.output_padding};
  o2.dilation = {1, o.dilation};
  o2.groups = o.groups;
  return conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, o2).squeeze(2);
}

// ---- pooling --------------------------------------------------------------

namespace {

int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const int64_t span = in + 2 * p - k;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;  // the last window must start inside the input or left padding
  return out;
}

PoolGeom pool_geometry(const char* op, const Tensor& x, const Pool2dOptions& o) {
  check_floating(op, x);
  STRATA_CHECK(x.dim() == 4, op, ": input must be 4-D (N, C, H, W), got shape ", shape_str(x.shape()));
  check_positive(op, "kernel", o.kernel, 1);
  check_positive(op, "padding", o.padding, 0);
  const std::array<int64_t, 2> stride{o.stride[0] ? o.stride[0] : o.kernel[0], o.stride[1] ? o.stride[1] : o.kernel[1]};
  check_positive(op, "stride", stride, 1);
  STRATA_CHECK(2 * o.padding[0] <= o.kernel[0] && 2 * o.padding[1] <= o.kernel[1], op, ": padding ",
               dims_str(o.padding), " must be at most half the kernel ", dims_str(o.kernel));
  PoolGeom g;
  g.N = x.shape()[0], g.C = x.shape()[1], g.H = x.shape()[2], g.W = x.shape()[3];
  g.R = o.kernel[0], g.S = o.kernel[1], g.stride_h = stride[0], g.stride_w = stride[1];
  g.pad_h = o.padding[0], g.pad_w = o.padding[1];
  g.count_include_pad = o.count_include_pad;
  STRATA_CHECK(g.H + 2 * g.pad_h >= g.R && g.W + 2 * g.pad_w >= g.S, op, ": input ", shape_str(x.shape()),
               " is smaller than the kernel ", dims_str(o.kernel));
  g.OH = pooled_size(g.H, g.R, g.stride_h, g.pad_h, o.ceil_mode);
  g.OW = pooled_size(g.W, g.S, g.stride_w, g.pad_w, o.ceil_mode);
  return g;
}

Pool2dOptions as_2d(const Pool1dOptions& o) {
  Pool2dOptions p;
  p.kernel = {1, o.kernel};
  p.stride = {1, o.stride ? o.stride : o.kernel};
  p.padding = {0, o.padding};
  p.ceil_mode = o.ceil_mode;
  p.count_include_pad = o.count_include_pad;
  return p;
}

// An op from x (N, C, H, W) to an output of out_shape: forward(backend, x, y)
// fills y; its backward(backend, gy, gx) fills a gradient of x's shape. Both
// see contiguous tensors.
using SpatialKernel = std::function<void(Backend&, const Tensor& in, Tensor& out)>;
Tensor spatial_op(const char* name, const Tensor& x, const Shape& out_shape, const SpatialKernel& forward,
                  SpatialKernel backward) {
  const Tensor xc = x.contiguous();
  Tensor y = make_tensor(out_shape, x.dtype(), x.device());
  forward(backend_for(x.device()), xc, y);
  return record(name, y, {x}, [xs = x.shape(), backward = std::move(backward)](const Tensor& gy) -> Grads {
    const Tensor gyc = gy.contiguous();
    Tensor gx = make_tensor(xs, gy.dtype(), gy.device());
    backward(backend_for(gy.device()), gyc, gx);
    return {gx};
  });
}

// Pooling on cuDNN: x on a CUDA device, the pooling engine set to cudnn and a
// geometry cuDNN produces; undefined otherwise. cuDNN's backward pass reads x
// and y (not argmax indices), so both are kept.
Tensor cudnn_pool(const char* name, const Tensor& x, const PoolGeom& g, bool max) {
  if (!x.device().is_cuda() || !cuda::use_cudnn_for(cuda::CudnnOp::pooling)) return Tensor();
  const Tensor xc = x.contiguous();
  Tensor y = make_tensor({g.N, g.C, g.OH, g.OW}, x.dtype(), x.device());
  if (!cuda::cudnn_pool_forward(x.dtype(), g, max, xc.raw_data(), y.raw_data())) return Tensor();
  return record(name, y, {x}, [name, g, max, sx = Saved(xc), sy = Saved(y)](const Tensor& gy) -> Grads {
    const Tensor gyc = gy.contiguous();
    const Tensor& xv = sx.get();
    Tensor gx = make_tensor(xv.shape(), gy.dtype(), gy.device());
    STRATA_CHECK(cuda::cudnn_pool_backward(gy.dtype(), g, max, xv.raw_data(), sy.get().raw_data(), gyc.raw_data(),
                                           gx.raw_data()),
                 name, ": cuDNN ran the forward pass but refused the backward pass");
    return {gx};
  });
}

// The attributes of a pooling op for an exporter (ONNX MaxPool / AveragePool names).
TraceAttrs pool_attrs(const PoolGeom& g, const Pool2dOptions& o) {
  return {{{"kernel_shape", {g.R, g.S}},
           {"strides", {g.stride_h, g.stride_w}},
           {"pads", {g.pad_h, g.pad_w, g.pad_h, g.pad_w}},
           {"ceil_mode", {o.ceil_mode ? 1 : 0}},
           {"count_include_pad", {g.count_include_pad ? 1 : 0}}},
          {},
          {}};
}

void check_3d(const char* op, const Tensor& x) {
  STRATA_CHECK(x.dim() == 3, op, ": input must be 3-D (N, C, L), got shape ", shape_str(x.shape()));
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o) {
  const PoolGeom g = pool_geometry("max_pool2d", x, o);
  if (Tensor y = cudnn_pool("max_pool2d", x, g, true); y.defined()) return y;
  const Tensor idx = make_tensor({g.N, g.C, g.OH, g.OW}, DType::i64, x.device());  // argmax, kept for backward
  if (tracing()) trace_attrs("max_pool2d", pool_attrs(g, o));
  return spatial_op(
      "max_pool2d", x, idx.shape(),
      [g, idx](Backend& be, const Tensor& in, Tensor& y) {
        be.max_pool2d(in.dtype(), g, in.raw_data(), y.raw_data(), idx.data<int64_t>());
      },
      [g, idx](Backend& be, const Tensor& gy, Tensor& gx) {
        be.max_pool2d_backward(gy.dtype(), g, gy.raw_data(), idx.data<int64_t>(), gx.raw_data());
      });
}

Tensor max_pool1d(const Tensor& x, const Pool1dOptions& o) {
  check_3d("max_pool1d", x);
  return max_pool2d(x.unsqueeze(2), as_2d(o)).squeeze(2);
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& o) {
  const PoolGeom g = pool_geometry("avg_pool2d", x, o);
  if (Tensor y = cudnn_pool("avg_pool2d", x, g, false); y.defined()) return y;
  if (tracing()) trace_attrs("avg_pool2d", pool_attrs(g, o));
  return spatial_op(
      "avg_pool2d", x, {g.N, g.C, g.OH, g.OW},
      [g](Backend& be, const Tensor& in, Tensor& y) { be.avg_pool2d(in.dtype(), g, in.raw_data(), y.raw_data()); },
      [g](Backend& be, const Tensor& gy, Tensor& gx) {
        be.avg_pool2d_backward(gy.dtype(), g, gy.raw_data(), gx.raw_data());
      });
}

Tensor avg_pool1d(const Tensor& x, const Pool1dOptions& o) {
  check_3d("avg_pool1d", x);
  return avg_pool2d(x.unsqueeze(2), as_2d(o)).squeeze(2);
}

Tensor global_avg_pool(const Tensor& x) {
  STRATA_CHECK(x.dim() >= 3, "global_avg_pool: input must be (N, C, ...) with spatial dimensions, got shape ",
               shape_str(x.shape()));
  std::vector<int64_t> dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return mean(x, dims, true);
}

// ---- upsampling -------------------------------------------------------------

namespace {

double source_ratio(int64_t in, int64_t out, double scale, UpsampleMode mode, bool align_corners) {
  if (mode == UpsampleMode::linear && align_corners) return out > 1 ? double(in - 1) / double(out - 1) : 0.0;
  return scale > 0 ? 1.0 / scale : double(in) / double(out);
}

}  // namespace

Tensor upsample2d(const Tensor& x, const Upsample2dOptions& o) {
  const char* op = "upsample2d";
  check_floating(op, x);
  STRATA_CHECK(x.dim() == 4, op, ": input must be 4-D (N, C, H, W), got shape ", shape_str(x.shape()));
  const bool by_like = o.size_like.defined();
  const bool by_size = by_like || (o.size[0] > 0 && o.size[1] > 0), by_scale = o.scale[0] > 0 && o.scale[1] > 0;
  STRATA_CHECK(int(by_like) + int(o.size[0] > 0 && o.size[1] > 0) + int(by_scale) == 1, op,
               ": give one of: a size or a scale factor (both positive), or a tensor whose size to take");
  STRATA_CHECK(!by_like || o.size_like.dim() >= 2, op, ": size_like has shape ", shape_str(o.size_like.shape()));
  const int64_t like_h = by_like ? o.size_like.shape()[size_t(o.size_like.dim() - 2)] : 0;
  const int64_t like_w = by_like ? o.size_like.shape()[size_t(o.size_like.dim() - 1)] : 0;
  STRATA_CHECK(!(o.align_corners && o.mode == UpsampleMode::nearest), op,
               ": align_corners applies to linear mode only");
  UpsampleGeom g;
  g.N = x.shape()[0], g.C = x.shape()[1], g.H = x.shape()[2], g.W = x.shape()[3];
  g.OH = by_like ? like_h : by_size ? o.size[0] : int64_t(std::floor(double(g.H) * o.scale[0]));
  g.OW = by_like ? like_w : by_size ? o.size[1] : int64_t(std::floor(double(g.W) * o.scale[1]));
  STRATA_CHECK(g.OH > 0 && g.OW > 0, op, ": output size (", g.OH, ", ", g.OW, ") is empty");
  g.mode = o.mode;
  g.align_corners = o.align_corners;
  g.ratio_h = source_ratio(g.H, g.OH, by_scale ? o.scale[0] : 0, o.mode, o.align_corners);
  g.ratio_w = source_ratio(g.W, g.OW, by_scale ? o.scale[1] : 0, o.mode, o.align_corners);
  if (tracing())
    trace_attrs("upsample2d", {{{"linear", {o.mode == UpsampleMode::linear ? 1 : 0}},
                                {"align_corners", {o.align_corners ? 1 : 0}},
                                {"sizes", {by_size ? g.OH : 0, by_size ? g.OW : 0}}},
                               {{"scales", {by_scale ? o.scale[0] : 0.0, by_scale ? o.scale[1] : 0.0}}},
                               by_like ? std::vector<Tensor>{o.size_like} : std::vector<Tensor>{}});
  return spatial_op(
      "upsample2d", x, {g.N, g.C, g.OH, g.OW},
      [g](Backend& be, const Tensor& in, Tensor& y) { be.upsample2d(in.dtype(), g, in.raw_data(), y.raw_data()); },
      [g](Backend& be, const Tensor& gy, Tensor& gx) {
        be.upsample2d_backward(gy.dtype(), g, gy.raw_data(), gx.raw_data());
      });
}

Tensor upsample1d(const Tensor& x, const Upsample1dOptions& o) {
  check_3d("upsample1d", x);
  Upsample2dOptions o2;
  if (o.size > 0) o2.size = {1, o.size};
  if (o.scale > 0) o2.scale = {1.0, o.scale};
  o2.mode = o.mode;
  o2.align_corners = o.align_corners;
  return upsample2d(x.unsqueeze(2), o2).squeeze(2);
}

}  // namespace strata
