#include "layers/layers.h"

#include <cmath>

#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/data_parallel.h"
#include "layers/registry.h"

namespace strata {
namespace {

// PyTorch's default for conv and linear weights and biases: U(-b, b), b = 1 / sqrt(fan_in).
Tensor uniform_init(const Shape& shape, int64_t fan_in, Generator* gen) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
  return Tensor::rand(shape, DType::f32, gen ? gen : &default_generator(), -bound, bound);
}

void check_channels(const char* layer, int64_t in, int64_t out, int64_t groups) {
  STRATA_CHECK(in > 0 && out > 0, layer, ": channels must be positive, got ", in, " -> ", out);
  STRATA_CHECK(groups > 0 && in % groups == 0 && out % groups == 0, layer, ": groups ", groups,
               " must divide both ", in, " input and ", out, " output channels");
}


std::string conv_text(int64_t in, int64_t out, const std::string& kernel, const std::string& stride,
                      const std::string& pad, int64_t groups) {
  return str_cat(in, "->", out, ", k", kernel, ", s", stride, ", p", pad, groups > 1 ? str_cat(", g", groups) : "");
}

std::string pair_text(std::array<int64_t, 2> p) { return p[0] == p[1] ? std::to_string(p[0]) : str_cat(p[0], "x", p[1]); }

}  // namespace

// ---- convolutions -------------------------------------------------------------
Conv1d::Conv1d(int64_t in, int64_t out, int64_t kernel, Conv1dOptions o, bool has_bias, Generator* gen)
    : Module("conv1d"), options(o) {
  check_channels("conv1d", in, out, o.groups);
  const int64_t fan_in = in / o.groups * kernel;
  weight = register_parameter("weight", uniform_init({out, in / o.groups, kernel}, fan_in, gen));
  if (has_bias) bias = register_parameter("bias", uniform_init({out}, fan_in, gen));
}
Tensor Conv1d::forward(const Tensor& x) { return conv1d(x, weight, bias, options); }
std::string Conv1d::describe() const {
  return conv_text(weight.size(1) * options.groups, weight.size(0), std::to_string(weight.size(2)),
                   std::to_string(options.stride), options.same ? "same" : std::to_string(options.padding),
                   options.groups);
}

Conv2d::Conv2d(int64_t in, int64_t out, std::array<int64_t, 2> k, Conv2dOptions o, bool has_bias, Generator* gen)
    : Module("conv2d"), options(o) {
  check_channels("conv2d", in, out, o.groups);
  const int64_t fan_in = in / o.groups * k[0] * k[1];
  weight = register_parameter("weight", uniform_init({out, in / o.groups, k[0], k[1]}, fan_in, gen));
  if (has_bias) bias = register_parameter("bias", uniform_init({out}, fan_in, gen));
}
Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options); }
std::string Conv2d::describe() const {
  return conv_text(weight.size(1) * options.groups, weight.size(0), pair_text({weight.size(2), weight.size(3)}),
                   pair_text(options.stride), options.same ? "same" : pair_text(options.padding), options.groups);
}

// PyTorch computes the transposed convolutions' fan-in from weight dim 1:
// out_channels / groups * kernel size.
ConvTranspose1d::ConvTranspose1d(int64_t in, int64_t out, int64_t kernel, ConvTranspose1dOptions o, bool has_bias,
                                 Generator* gen)
    : Module("conv_transpose1d"), options(o) {
  check_channels("conv_transpose1d", in, out, o.groups);
  const int64_t fan_in = out / o.groups * kernel;
  weight = register_parameter("weight", uniform_init({in, out / o.groups, kernel}, fan_in, gen));
  if (has_bias) bias = register_parameter("bias", uniform_init({out}, fan_in, gen));
}
Tensor ConvTranspose1d::forward(const Tensor& x) { return conv_transpose1d(x, weight, bias, options); }
std::string ConvTranspose1d::describe() const {
  return conv_text(weight.size(0), weight.size(1) * options.groups, std::to_string(weight.size(2)),
                   std::to_string(options.stride), std::to_string(options.padding), options.groups);
}

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, std::array<int64_t, 2> k, ConvTranspose2dOptions o,
                                 bool has_bias, Generator* gen)
    : Module("conv_transpose2d"), options(o) {
  check_channels("conv_transpose2d", in, out, o.groups);
  const int64_t fan_in = out / o.groups * k[0] * k[1];
  weight = register_parameter("weight", uniform_init({in, out / o.groups, k[0], k[1]}, fan_in, gen));
  if (has_bias) bias = register_parameter("bias", uniform_init({out}, fan_in, gen));
}
Tensor ConvTranspose2d::forward(const Tensor& x) { return conv_transpose2d(x, weight, bias, options); }
std::string ConvTranspose2d::describe() const {
  return conv_text(weight.size(0), weight.size(1) * options.groups, pair_text({weight.size(2), weight.size(3)}),
                   pair_text(options.stride), pair_text(options.padding), options.groups);
}

Conv3d::Conv3d(int64_t in, int64_t out, std::array<int64_t, 3> k, Conv3dOptions o, bool has_bias, Generator* gen)
    : Module("conv3d"), options(o) {
  check_channels("conv3d", in, out, 1);
  const int64_t fan_in = in * k[0] * k[1] * k[2];
  weight = register_parameter("weight", uniform_init({out, in, k[0], k[1], k[2]}, fan_in, gen));
  if (has_bias) bias = register_parameter("bias", uniform_init({out}, fan_in, gen));
}
Tensor Conv3d::forward(const Tensor& x) { return conv3d(x, weight, bias, options); }
std::string Conv3d::describe() const {
  const auto triple = [](std::array<int64_t, 3> a) {
    return a[0] == a[1] && a[1] == a[2] ? std::to_string(a[0]) : str_cat(a[0], "x", a[1], "x", a[2]);
  };
  return conv_text(weight.size(1), weight.size(0), triple({weight.size(2), weight.size(3), weight.size(4)}),
                   triple(options.stride), options.same ? "same" : triple(options.padding), 1);
}

ConvTranspose3d::ConvTranspose3d(int64_t in, int64_t out, std::array<int64_t, 3> k, bool has_bias, Generator* gen)
    : Module("conv_transpose3d") {
  check_channels("conv_transpose3d", in, out, 1);
  const int64_t fan_in = out * k[0] * k[1] * k[2];
  weight = register_parameter("weight", uniform_init({in, out, k[0], k[1], k[2]}, fan_in, gen));
  if (has_bias) bias = register_parameter("bias", uniform_init({out}, fan_in, gen));
}
Tensor ConvTranspose3d::forward(const Tensor& x) { return conv_transpose3d_blocks(x, weight, bias); }
std::string ConvTranspose3d::describe() const {
  return str_cat(weight.size(0), "->", weight.size(1), ", k", weight.size(2), "x", weight.size(3), "x", weight.size(4),
                 ", s = k");
}

Linear::Linear(int64_t in, int64_t out, bool has_bias, Generator* gen) : Module("linear") {
  STRATA_CHECK(in > 0 && out > 0, "linear: features must be positive, got ", in, " -> ", out);
  weight = register_parameter("weight", uniform_init({out, in}, in, gen));
  if (has_bias) bias = register_parameter("bias", uniform_init({out}, in, gen));
}
Tensor Linear::forward(const Tensor& x) {
  STRATA_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: weight ", shape_str(weight.shape()),
               " expects ", weight.size(1), " input features, input ", shape_str(x.shape()), " has ",
               x.dim() ? x.size(-1) : 0);
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? y + bias : y;
}
std::string Linear::describe() const { return str_cat(weight.size(1), "->", weight.size(0)); }

BatchNorm::BatchNorm(int dims, int64_t n, double eps_, double momentum_, bool affine)
    : Module(str_cat("batchnorm", dims, "d")), spatial_dims(dims), eps(eps_), momentum(momentum_) {
  STRATA_CHECK(dims >= 1 && dims <= 3, "batchnorm: spatial_dims must be 1, 2 or 3, got ", dims);
  STRATA_CHECK(n > 0, type(), ": num_features must be positive, got ", n);
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({n}));
    bias = register_parameter("bias", Tensor::zeros({n}));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({n}));
  running_var = register_buffer("running_var", Tensor::ones({n}));
}

// The activations by kind: ActivationLayer's, and the one a batch norm carries.
namespace {
const char* activation_name(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::leaky_relu: return "leaky_relu";
    case Activation::relu6: return "relu6";
    case Activation::elu: return "elu";
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
    case Activation::softplus: return "softplus";
    case Activation::silu: return "silu";
  }
  return "?";
}
// The activation `kind` of x; param: slope (leaky_relu), alpha (elu), beta (softplus).
Tensor apply_activation(Activation kind, double param, const Tensor& x) {
  switch (kind) {
    case Activation::relu: return relu(x);
    case Activation::leaky_relu: return leaky_relu(x, param);
    case Activation::relu6: return relu6(x);
    case Activation::elu: return elu(x, param);
    case Activation::sigmoid: return sigmoid(x);
    case Activation::tanh: return tanh(x);
    case Activation::softplus: return softplus(x, param);
    case Activation::silu: return silu(x);
  }
  STRATA_FAIL("activation: unknown kind");
}
}  // namespace

Tensor BatchNorm::forward(const Tensor& x) {
  // batchnorm1d also takes (N, C) feature vectors, as PyTorch's BatchNorm1d does.
  STRATA_CHECK(x.dim() == spatial_dims + 2 || (spatial_dims == 1 && x.dim() == 2), type(), ": expects ",
               spatial_dims == 1   ? "(N, C) or (N, C, L)"
               : spatial_dims == 2 ? "(N, C, H, W)"
                                   : "(N, C, D, H, W)",
               " input, got ", shape_str(x.shape()));
  // A volume's statistics are those of its (N, C, D H, W) view: the same per-channel sums.
  if (spatial_dims == 3) {
    const Shape s = x.shape();
    return forward_planes(x.reshape({s[0], s[1], s[2] * s[3], s[4]})).reshape(s);
  }
  return forward_planes(x);
}
Tensor BatchNorm::forward_planes(const Tensor& x) {
  if (sync && training() && dist::active()) {
    const Tensor y = sync_batch_norm(x, running_mean, running_var, weight, bias, momentum, eps);
    return act ? apply_activation(*act, 0, y) : y;
  }
  if (act) return batch_norm_relu(x, running_mean, running_var, weight, bias, training(), momentum, eps, *act);
  return batch_norm(x, running_mean, running_var, weight, bias, training(), momentum, eps);
}
std::string BatchNorm::describe() const {
  const std::string n = std::to_string(running_mean.size(0));
  return act ? n + " + " + activation_name(*act) : n;
}

// ---- activations ----------------------------------------------------------------
ActivationLayer::ActivationLayer(Activation k, double p) : Module(activation_name(k)), kind(k), param(p) {}
Tensor ActivationLayer::forward(const Tensor& x) { return apply_activation(kind, param, x); }
std::string ActivationLayer::describe() const {
  return kind == Activation::leaky_relu || kind == Activation::elu || kind == Activation::softplus
             ? str_cat(param)
             : "";
}

Softmax::Softmax(bool log_, int64_t dim_) : Module(log_ ? "log_softmax" : "softmax"), log(log_), dim(dim_) {}
Tensor Softmax::forward(const Tensor& x) { return log ? log_softmax(x, dim) : softmax(x, dim); }

// ---- pooling and resampling --------------------------------------------------------
Pool::Pool(Kind k, int dims, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
           std::array<int64_t, 2> padding, bool ceil_mode)
    : Module(str_cat(k == Kind::max ? "max_pool" : "avg_pool", dims, "d")), kind(k), spatial_dims(dims) {
  STRATA_CHECK(dims >= 1 && dims <= 3, type(), ": spatial_dims must be 1, 2 or 3");
  STRATA_CHECK(dims < 3 || (k == Kind::max && padding == std::array<int64_t, 2>{0, 0} && !ceil_mode &&
                            (stride == std::array<int64_t, 2>{0, 0} || stride == kernel) && kernel[0] == kernel[1]),
               type(), ": volumes are max-pooled over cubic windows of stride = kernel without padding");
  options.kernel = kernel;
  options.stride = stride;
  options.padding = padding;
  options.ceil_mode = ceil_mode;
}
Tensor Pool::forward(const Tensor& x) {
  if (spatial_dims == 3) return max_pool3d(x, {options.kernel[0], options.kernel[0], options.kernel[0]});
  if (spatial_dims == 2) return kind == Kind::max ? max_pool2d(x, options) : avg_pool2d(x, options);
  Pool1dOptions o;
  o.kernel = options.kernel[1];
  o.stride = options.stride[1];
  o.padding = options.padding[1];
  o.ceil_mode = options.ceil_mode;
  return kind == Kind::max ? max_pool1d(x, o) : avg_pool1d(x, o);
}
std::string Pool::describe() const {
  const auto& o = options;
  return spatial_dims == 2 ? str_cat("k", pair_text(o.kernel), ", s", pair_text(o.stride[0] ? o.stride : o.kernel))
                           : str_cat("k", o.kernel[1], ", s", o.stride[1] ? o.stride[1] : o.kernel[1]);
}

GlobalAvgPool::GlobalAvgPool(bool f) : Module("global_avg_pool"), flatten(f) {}
Tensor GlobalAvgPool::forward(const Tensor& x) {
  const Tensor y = global_avg_pool(x);
  return flatten ? y.flatten(1) : y;
}

Upsample::Upsample(int dims, double s, UpsampleMode m, bool ac)
    : Module(str_cat("upsample", dims, "d")), spatial_dims(dims), scale(s), mode(m), align_corners(ac) {
  STRATA_CHECK(dims == 1 || dims == 2, type(), ": spatial_dims must be 1 or 2");
}
std::shared_ptr<Upsample> Upsample::to_size(int dims, std::array<int64_t, 2> size, UpsampleMode m, bool ac) {
  auto u = std::make_shared<Upsample>(dims, 0.0, m, ac);
  u->size = size;
  return u;
}
Tensor Upsample::forward(const Tensor& x) {
  if (spatial_dims == 2) {
    Upsample2dOptions o;
    o.mode = mode;
    o.align_corners = align_corners;
    if (size[0] > 0) o.size = size;
    else o.scale = {scale, scale};
    return upsample2d(x, o);
  }
  Upsample1dOptions o;
  o.mode = mode;
  o.align_corners = align_corners;
  if (size[1] > 0) o.size = size[1];
  else o.scale = scale;
  return upsample1d(x, o);
}
std::string Upsample::describe() const {
  const std::string how = size[1] > 0 ? str_cat("to ", spatial_dims == 2 ? pair_text(size) : std::to_string(size[1]))
                                      : str_cat("x", scale);
  return how + (mode == UpsampleMode::nearest ? ", nearest" : ", linear");
}

// ---- regularisation and shape ---------------------------------------------------------
Dropout::Dropout(double p_, Generator* g) : Module("dropout"), p(p_), gen(g) {
  STRATA_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got ", p);
}
Tensor Dropout::forward(const Tensor& x) { return p > 0 ? dropout(x, p, training(), gen) : x; }
std::string Dropout::describe() const { return str_cat("p=", p); }

Flatten::Flatten(int64_t s, int64_t e) : Module("flatten"), start_dim(s), end_dim(e) {}
Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_dim, end_dim); }

Reshape::Reshape(Shape s) : Module("reshape"), shape(std::move(s)) {}
Tensor Reshape::forward(const Tensor& x) {
  Shape full{x.size(0)};
  full.insert(full.end(), shape.begin(), shape.end());
  return x.reshape(full);
}
std::string Reshape::describe() const { return shape_str(shape); }

Sequential::Sequential(const std::vector<ModulePtr>& layers) : Module("sequential") {
  for (const ModulePtr& l : layers) add(l);
}
Sequential& Sequential::add(ModulePtr layer) {
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
  return *this;
}
Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const ModulePtr& l : layers_) y = (*l)(y);
  return y;
}

ModuleList& ModuleList::add(ModulePtr m) {
  register_module(std::to_string(items_.size()), m);
  items_.push_back(std::move(m));
  return *this;
}
Tensor ModuleList::forward(const Tensor&) {
  STRATA_FAIL("module_list: a list of modules has no forward; its owner calls the items");
}

// ---- registry entries (YAML `type:` -> layer) ------------------------------------------
namespace {

ModulePtr make_conv(const Config& c, int dims, bool transposed) {
  const int64_t in = c.require_int("in_channels", Bounds::at_least(1));
  const int64_t out = c.require_int("out_channels", Bounds::at_least(1));
  const bool bias = c.get_bool("bias", true);
  const int64_t groups = c.get_int("groups", 1, Bounds::at_least(1));
  if (dims == 1) {
    const int64_t k = c.require_int("kernel", Bounds::at_least(1));
    const int64_t stride = c.get_int("stride", 1, Bounds::at_least(1));
    const int64_t dilation = c.get_int("dilation", 1, Bounds::at_least(1));
    if (transposed) {
      ConvTranspose1dOptions o{stride, c.get_int("padding", 0, Bounds::at_least(0)),
                               c.get_int("output_padding", 0, Bounds::at_least(0)), dilation, groups};
      return std::make_shared<ConvTranspose1d>(in, out, k, o, bias);
    }
    Conv1dOptions o{stride, c.get_int("padding", 0, Bounds::at_least(0)), dilation, groups,
                    c.get_bool("same", false)};
    return std::make_shared<Conv1d>(in, out, k, o, bias);
  }
  const auto k = get_pair(c, "kernel", {3, 3});
  const auto stride = get_pair(c, "stride", {1, 1}), dilation = get_pair(c, "dilation", {1, 1});
  const auto padding = get_pair(c, "padding", {0, 0});
  if (transposed) {
    ConvTranspose2dOptions o{stride, padding, get_pair(c, "output_padding", {0, 0}), dilation, groups};
    return std::make_shared<ConvTranspose2d>(in, out, k, o, bias);
  }
  Conv2dOptions o{stride, padding, dilation, groups, c.get_bool("same", false)};
  return std::make_shared<Conv2d>(in, out, k, o, bias);
}

ModulePtr make_conv3d(const Config& c, bool transposed) {
  const int64_t in = c.require_int("in_channels", Bounds::at_least(1));
  const int64_t out = c.require_int("out_channels", Bounds::at_least(1));
  const bool bias = c.get_bool("bias", true);
  if (transposed) {
    const auto k = get_triple(c, "kernel", {2, 2, 2});
    STRATA_CHECK(get_triple(c, "stride", k) == k, c.origin(), ": ", c.key_path("stride"),
                 ": conv_transpose3d spreads each voxel into its own block: stride equals kernel");
    return std::make_shared<ConvTranspose3d>(in, out, k, bias);
  }
  const auto k = get_triple(c, "kernel", {3, 3, 3});
  Conv3dOptions o;
  o.stride = get_triple(c, "stride", {1, 1, 1});
  o.padding = get_triple(c, "padding", {0, 0, 0});
  o.dilation = get_triple(c, "dilation", {1, 1, 1});
  o.same = c.get_bool("same", false);
  return std::make_shared<Conv3d>(in, out, k, o, bias);
}

ModulePtr make_pool(const Config& c, Pool::Kind kind, int dims) {
  const auto kernel = get_pair(c, "kernel", {2, 2});
  const auto stride = get_pair(c, "stride", {0, 0});
  const auto padding = get_pair(c, "padding", {0, 0});
  return std::make_shared<Pool>(kind, dims, kernel, stride, padding, c.get_bool("ceil_mode", false));
}

ModulePtr make_upsample(const Config& c, int dims) {
  const std::string mode = c.get_choice("mode", "nearest", {"nearest", "linear"});
  const UpsampleMode m = mode == "nearest" ? UpsampleMode::nearest : UpsampleMode::linear;
  const bool ac = c.get_bool("align_corners", false);
  if (c.has("size")) return Upsample::to_size(dims, get_pair(c, "size", {0, 0}), m, ac);
  return std::make_shared<Upsample>(dims, c.get_double("scale", 2.0, Bounds::positive()), m, ac);
}

ModulePtr make_batchnorm(const Config& c, int dims) {
  return std::make_shared<BatchNorm>(dims, c.require_int("num_features", Bounds::at_least(1)),
                                     c.get_double("eps", 1e-5, Bounds::positive()),
                                     c.get_double("momentum", 0.1, Bounds::between(0, 1)), c.get_bool("affine", true));
}

ModulePtr make_activation(Activation a, const Config& c, const char* param, double fallback) {
  return std::make_shared<ActivationLayer>(a, param ? c.get_double(param, fallback) : 0.0);
}

}  // namespace

STRATA_REGISTER_MODULE("conv1d", [](const Config& c) { return make_conv(c, 1, false); });
STRATA_REGISTER_MODULE("conv2d", [](const Config& c) { return make_conv(c, 2, false); });
STRATA_REGISTER_MODULE("conv_transpose1d", [](const Config& c) { return make_conv(c, 1, true); });
STRATA_REGISTER_MODULE("conv_transpose2d", [](const Config& c) { return make_conv(c, 2, true); });
STRATA_REGISTER_MODULE("conv3d", [](const Config& c) { return make_conv3d(c, false); });
STRATA_REGISTER_MODULE("conv_transpose3d", [](const Config& c) { return make_conv3d(c, true); });
STRATA_REGISTER_MODULE("linear", [](const Config& c) -> ModulePtr {
  return std::make_shared<Linear>(c.require_int("in_features", Bounds::at_least(1)),
                                  c.require_int("out_features", Bounds::at_least(1)), c.get_bool("bias", true));
});
STRATA_REGISTER_MODULE("batchnorm1d", [](const Config& c) { return make_batchnorm(c, 1); });
STRATA_REGISTER_MODULE("batchnorm2d", [](const Config& c) { return make_batchnorm(c, 2); });
STRATA_REGISTER_MODULE("batchnorm3d", [](const Config& c) { return make_batchnorm(c, 3); });
STRATA_REGISTER_MODULE("relu", [](const Config& c) { return make_activation(Activation::relu, c, nullptr, 0); });
STRATA_REGISTER_MODULE("leaky_relu",
                       [](const Config& c) { return make_activation(Activation::leaky_relu, c, "slope", 0.01); });
STRATA_REGISTER_MODULE("relu6", [](const Config& c) { return make_activation(Activation::relu6, c, nullptr, 0); });
STRATA_REGISTER_MODULE("elu", [](const Config& c) { return make_activation(Activation::elu, c, "alpha", 1.0); });
STRATA_REGISTER_MODULE("sigmoid", [](const Config& c) { return make_activation(Activation::sigmoid, c, nullptr, 0); });
STRATA_REGISTER_MODULE("tanh", [](const Config& c) { return make_activation(Activation::tanh, c, nullptr, 0); });
STRATA_REGISTER_MODULE("softplus",
                       [](const Config& c) { return make_activation(Activation::softplus, c, "beta", 1.0); });
STRATA_REGISTER_MODULE("silu", [](const Config& c) { return make_activation(Activation::silu, c, nullptr, 0); });
STRATA_REGISTER_MODULE("softmax", [](const Config& c) -> ModulePtr {
  return std::make_shared<Softmax>(false, c.get_int("dim", 1));
});
STRATA_REGISTER_MODULE("log_softmax", [](const Config& c) -> ModulePtr {
  return std::make_shared<Softmax>(true, c.get_int("dim", 1));
});
STRATA_REGISTER_MODULE("max_pool1d", [](const Config& c) { return make_pool(c, Pool::Kind::max, 1); });
STRATA_REGISTER_MODULE("max_pool2d", [](const Config& c) { return make_pool(c, Pool::Kind::max, 2); });
STRATA_REGISTER_MODULE("max_pool3d", [](const Config& c) -> ModulePtr {
  const int64_t k = c.get_int("kernel", 2, Bounds::at_least(1));
  return std::make_shared<Pool>(Pool::Kind::max, 3, std::array<int64_t, 2>{k, k});
});
STRATA_REGISTER_MODULE("avg_pool1d", [](const Config& c) { return make_pool(c, Pool::Kind::avg, 1); });
STRATA_REGISTER_MODULE("avg_pool2d", [](const Config& c) { return make_pool(c, Pool::Kind::avg, 2); });
STRATA_REGISTER_MODULE("global_avg_pool", [](const Config& c) -> ModulePtr {
  return std::make_shared<GlobalAvgPool>(c.get_bool("flatten", false));
});
STRATA_REGISTER_MODULE("upsample1d", [](const Config& c) { return make_upsample(c, 1); });
STRATA_REGISTER_MODULE("upsample2d", [](const Config& c) { return make_upsample(c, 2); });
STRATA_REGISTER_MODULE("dropout", [](const Config& c) -> ModulePtr {
  return std::make_shared<Dropout>(c.get_double("p", 0.5, {0, 1, false}));
});
STRATA_REGISTER_MODULE("flatten", [](const Config& c) -> ModulePtr {
  return std::make_shared<Flatten>(c.get_int("start_dim", 1), c.get_int("end_dim", -1));
});
STRATA_REGISTER_MODULE("reshape", [](const Config& c) -> ModulePtr {
  return std::make_shared<Reshape>(c.get_int_list("shape", {}));
});
STRATA_REGISTER_MODULE("identity", [](const Config&) -> ModulePtr { return std::make_shared<Identity>(); });
STRATA_REGISTER_MODULE("sequential", [](const Config& c) -> ModulePtr {
  auto seq = std::make_shared<Sequential>();
  for (const Config& layer : c.section_list("layers")) seq->add(build_module(layer));
  return seq;
});

}  // namespace strata
