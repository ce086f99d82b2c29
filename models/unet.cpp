#include "models/unet.h"

#include "engine/error.h"
#include "engine/ops.h"
#include "layers/registry.h"

namespace strata {
namespace {

ModulePtr conv_same(int dims, int64_t in, int64_t out, int64_t k, bool bias = true, int64_t dilation = 1) {
  if (dims == 3) {
    Conv3dOptions o;
    o.dilation = {dilation, dilation, dilation};
    o.same = true;
    return std::make_shared<Conv3d>(in, out, std::array<int64_t, 3>{k, k, k}, o, bias);
  }
  if (dims == 1) return std::make_shared<Conv1d>(in, out, k, Conv1dOptions{1, 0, dilation, 1, true}, bias);
  return std::make_shared<Conv2d>(in, out, std::array<int64_t, 2>{k, k},
                                  Conv2dOptions{{1, 1}, {0, 0}, {dilation, dilation}, 1, true}, bias);
}

}  // namespace

ConvBlock::ConvBlock(int dims, int64_t in, int64_t out, bool batchnorm, double dropout, int64_t kernel,
                     std::array<int64_t, 2> dilations)
    : Module("conv_block"), in_(in), out_(out) {
  STRATA_CHECK(kernel >= 1 && kernel % 2 == 1, "conv_block: kernel must be odd and >= 1, got ", kernel);
  STRATA_CHECK(dilations[0] >= 1 && dilations[1] >= 1, "conv_block: dilations must be >= 1, got ", dilations[0], ", ",
               dilations[1]);
  conv1_ = register_module("conv1", conv_same(dims, in, out, kernel, true, dilations[0]));
  // Each batch norm carries the ReLU after it (one fused kernel on the CPU).
  if (batchnorm) {
    bn1_ = register_module("bn1", std::make_shared<BatchNorm>(dims, out));
    bn1_->act = Activation::relu;
  }
  conv2_ = register_module("conv2", conv_same(dims, out, out, kernel, true, dilations[1]));
  if (batchnorm) {
    bn2_ = register_module("bn2", std::make_shared<BatchNorm>(dims, out));
    bn2_->act = Activation::relu;
  }
  if (dropout > 0) drop_ = register_module("drop", std::make_shared<Dropout>(dropout));
}

Tensor ConvBlock::forward(const Tensor& x) {
  Tensor y = (*conv1_)(x);
  y = bn1_ ? (*bn1_)(y) : relu(y);
  y = (*conv2_)(y);
  y = bn2_ ? (*bn2_)(y) : relu(y);
  return drop_ ? (*drop_)(y) : y;
}

std::string ConvBlock::describe() const { return str_cat(in_, "->", out_); }

ModulePtr make_upsampler(int dims, int64_t in, int64_t out, const std::string& how) {
  STRATA_CHECK(dims < 3 || how == "transposed", "unet3d: upsampling must be transposed, got '", how, "'");
  if (how == "transposed") {
    if (dims == 3) return std::make_shared<ConvTranspose3d>(in, out, std::array<int64_t, 3>{2, 2, 2});
    if (dims == 1) return std::make_shared<ConvTranspose1d>(in, out, 2, ConvTranspose1dOptions{2, 0, 0, 1, 1});
    return std::make_shared<ConvTranspose2d>(in, out, std::array<int64_t, 2>{2, 2},
                                             ConvTranspose2dOptions{{2, 2}, {0, 0}, {0, 0}, {1, 1}, 1});
  }
  STRATA_CHECK(how == "nearest" || how == "linear", "unet: upsampling must be transposed, nearest or linear, got '",
               how, "'");
  auto seq = std::make_shared<Sequential>();
  seq->add(std::make_shared<Upsample>(dims, 2.0, how == "nearest" ? UpsampleMode::nearest : UpsampleMode::linear));
  seq->add(conv_same(dims, in, out, 3));
  return seq;
}

UNet::UNet(const UNetOptions& o) : Module(str_cat("unet", o.dims, "d")), o_(o) {
  STRATA_CHECK(o.dims >= 1 && o.dims <= 3, "unet: dims must be 1, 2 or 3, got ", o.dims);
  STRATA_CHECK(o.in_channels > 0 && o.classes > 0 && o.base > 0, "unet: in_channels, classes and base must be > 0");
  STRATA_CHECK(o.depth >= 1 && o.depth <= 8, "unet: depth must be in [1, 8], got ", o.depth);
  auto width = [&](int64_t i) { return o.base << i; };
  down_ = register_module("down", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < o.depth; ++i)
    down_->add(std::make_shared<ConvBlock>(o.dims, i == 0 ? o.in_channels : width(i - 1), width(i), o.batchnorm,
                                           o.dropout, o.kernel, o.dilations));
  pool_ = register_module("pool", std::make_shared<Pool>(Pool::Kind::max, o.dims, std::array<int64_t, 2>{2, 2}));
  bottleneck_ = register_module(
      "bottleneck",
      std::make_shared<ConvBlock>(o.dims, width(o.depth - 1), width(o.depth), o.batchnorm, o.dropout, o.kernel,
                                  o.dilations));
  up_ = register_module("up", std::make_shared<ModuleList>());
  dec_ = register_module("dec", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < o.depth; ++i) {
    up_->add(make_upsampler(o.dims, width(i + 1), width(i), o.upsampling));
    dec_->add(
        std::make_shared<ConvBlock>(o.dims, 2 * width(i), width(i), o.batchnorm, o.dropout, o.kernel, o.dilations));
  }
  head_ = register_module("head", conv_same(o.dims, width(0), o.classes, 1));
}

Tensor UNet::forward(const Tensor& input) {
  STRATA_CHECK(input.dim() == o_.dims + 2 && input.size(1) == o_.in_channels, type(), ": expects (N, ",
               o_.in_channels, o_.dims == 1 ? ", L)" : o_.dims == 2 ? ", H, W)" : ", D, H, W)", " input, got ",
               shape_str(input.shape()));
  Tensor x = pad_to_multiple(input, int64_t(1) << o_.depth);
  std::vector<Tensor> skips;
  for (int64_t i = 0; i < o_.depth; ++i) {
    x = down_->operator[](size_t(i))(x);
    skips.push_back(x);
    x = (*pool_)(x);
  }
  x = (*bottleneck_)(x);
  for (int64_t i = o_.depth - 1; i >= 0; --i) {
    const Tensor up = up_->operator[](size_t(i))(x);
    x = dec_->operator[](size_t(i))(cat({skips[size_t(i)], up}, 1));
  }
  return crop_like((*head_)(x), input);
}

std::string UNet::describe() const {
  const std::string kernel = o_.kernel != 3 ? str_cat(", kernel ", o_.kernel) : "";
  const std::string dilations = o_.dilations != std::array<int64_t, 2>{1, 1}
                                    ? str_cat(", dilations ", o_.dilations[0], "/", o_.dilations[1])
                                    : "";
  return str_cat(o_.dims, "-D, base ", o_.base, ", depth ", o_.depth, kernel, dilations, ", ", o_.in_channels, "->",
                 o_.classes);
}

namespace {

UNetOptions unet_options_from(const Config& c, int dims) {
  UNetOptions o;
  o.dims = dims;
  o.in_channels = c.get_int("in_channels", 1, Bounds::at_least(1));
  o.classes = c.get_int("classes", 1, Bounds::at_least(1));
  o.base = c.get_int("base", 16, Bounds::at_least(1));
  o.depth = c.get_int("depth", 4, Bounds::between(1, 8));
  o.dropout = c.get_double("dropout", 0.0, Bounds::between(0, 0.99));
  o.batchnorm = c.get_bool("batchnorm", true);
  o.upsampling = c.get_choice("upsampling", "transposed", {"transposed", "nearest", "linear"});
  o.kernel = c.get_int("kernel", 3, Bounds::at_least(1));
  STRATA_CHECK(o.kernel % 2 == 1, c.key_path("kernel"), ": must be odd (a 'same' convolution), got ", o.kernel);
  const std::vector<int64_t> d = c.get_int_list("dilations", {1, 1});
  std::string got;
  for (size_t i = 0; i < d.size(); ++i) got += str_cat(i ? ", " : "", d[i]);
  STRATA_CHECK(d.size() == 2 && d[0] >= 1 && d[1] >= 1, c.key_path("dilations"),
               ": two dilations >= 1 (each block's first and second convolution), got [", got, "]");
  o.dilations = {d[0], d[1]};
  return o;
}

}  // namespace

STRATA_REGISTER_MODULE("unet1d", [](const Config& c) -> ModulePtr {
  return std::make_shared<UNet>(unet_options_from(c, 1));
});
STRATA_REGISTER_MODULE("unet2d", [](const Config& c) -> ModulePtr {
  return std::make_shared<UNet>(unet_options_from(c, 2));
});
STRATA_REGISTER_MODULE("unet3d", [](const Config& c) -> ModulePtr {
  return std::make_shared<UNet>(unet_options_from(c, 3));
});

}  // namespace strata
