#include "models/encoder_unet.h"

#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/safetensors.h"
#include "layers/registry.h"
#include "models/unet.h"

namespace strata {
namespace {

std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, bool bias) {
  const int64_t pad = (k - 1) / 2;
  return std::make_shared<Conv2d>(in, out, std::array<int64_t, 2>{k, k},
                                  Conv2dOptions{{stride, stride}, {pad, pad}, {1, 1}, groups, false}, bias);
}

// torchvision's Conv2dNormActivation: conv (no bias), batch norm, ReLU6 as children 0, 1, 2. Here the ReLU6 (no
// parameters) runs inside the batch norm, child 1 (one fused kernel on the CPU): the parameter names and the
// outputs are torchvision's.
std::shared_ptr<Sequential> conv_bn_relu6(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups) {
  auto bn = std::make_shared<BatchNorm>(2, out);
  bn->act = Activation::relu6;
  auto s = std::make_shared<Sequential>();
  s->add(conv(in, out, k, stride, groups, false)).add(bn);
  return s;
}

// torchvision's InvertedResidual: child `conv` = [expand 1x1 CNA], depthwise 3x3 CNA,
// project 1x1 conv, batch norm; x + conv(x) when stride 1 and in == out.
class InvertedResidual : public Module {
 public:
  InvertedResidual(int64_t in, int64_t out, int64_t stride, int64_t expand)
      : Module("inverted_residual"), residual_(stride == 1 && in == out), in_(in), out_(out) {
    const int64_t hidden = int64_t(std::lround(double(in * expand)));
    auto c = std::make_shared<Sequential>();
    if (expand != 1) c->add(conv_bn_relu6(in, hidden, 1, 1, 1));
    c->add(conv_bn_relu6(hidden, hidden, 3, stride, hidden))
        .add(conv(hidden, out, 1, 1, 1, false))
        .add(std::make_shared<BatchNorm>(2, out));
    conv_ = register_module("conv", c);
  }
  Tensor forward(const Tensor& x) override { return residual_ ? x + (*conv_)(x) : (*conv_)(x); }
  std::string describe() const override { return str_cat(in_, "->", out_, residual_ ? ", residual" : ""); }

 private:
  ModulePtr conv_;
  bool residual_;
  int64_t in_, out_;
};

}  // namespace

int64_t make_divisible(double v, int64_t divisor) {
  int64_t n = std::max<int64_t>(divisor, int64_t(v + double(divisor) / 2) / divisor * divisor);
  if (double(n) < 0.9 * v) n += divisor;
  return n;
}

// ---- VGG16 -------------------------------------------------------------------------
Vgg16Encoder::Vgg16Encoder(int64_t in_channels, bool batchnorm) : Encoder(batchnorm ? "vgg16_bn" : "vgg16") {
  in_channels_ = in_channels;
  features_ = register_module("features", std::make_shared<Sequential>());
  const int64_t plan[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};  // 0: pool
  int64_t in = in_channels;
  for (int64_t c : plan) {
    if (c == 0) {
      features_->add(std::make_shared<Pool>(Pool::Kind::max, 2, std::array<int64_t, 2>{2, 2}));
      continue;
    }
    features_->add(conv(in, c, 3, 1, 1, true));
    if (batchnorm) features_->add(std::make_shared<BatchNorm>(2, c));
    features_->add(std::make_shared<ActivationLayer>(Activation::relu));
    in = c;
  }
}

std::vector<Tensor> Vgg16Encoder::stages(const Tensor& x) {
  std::vector<Tensor> out;
  Tensor y = x;
  for (size_t i = 0; i < features_->size(); ++i) {
    Module& layer = *(*features_)[i];
    if (layer.type() == "max_pool2d") {
      out.push_back(y);
      if (out.size() == 5) break;  // the last pool is not part of the U
    }
    y = layer(y);
  }
  return out;
}

// ---- MobileNetV2 ------------------------------------------------------------------------
MobileNetV2Encoder::MobileNetV2Encoder(int64_t in_channels, double width) : Encoder("mobilenet_v2") {
  STRATA_CHECK(width > 0, "mobilenet_v2: width multiplier must be > 0, got ", width);
  in_channels_ = in_channels;
  features_ = register_module("features", std::make_shared<Sequential>());
  int64_t in = make_divisible(32 * width);
  features_->add(conv_bn_relu6(in_channels, in, 3, 2, 1));
  struct Setting {
    int64_t expand, channels, repeats, stride;
  };
  const Setting settings[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                              {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const Setting& s : settings) {
    const int64_t out = make_divisible(double(s.channels) * width);
    for (int64_t r = 0; r < s.repeats; ++r) {
      features_->add(std::make_shared<InvertedResidual>(in, out, r == 0 ? s.stride : 1, s.expand));
      in = out;
    }
  }
  const int64_t last = make_divisible(1280 * std::max(1.0, width));
  features_->add(conv_bn_relu6(in, last, 1, 1, 1));
  stage_channels_ = {make_divisible(16 * width), make_divisible(24 * width), make_divisible(32 * width),
                     make_divisible(96 * width), last};
}

std::vector<Tensor> MobileNetV2Encoder::stages(const Tensor& x) {
  static constexpr size_t taps[] = {1, 3, 6, 13, 18};  // features whose outputs are the stages
  std::vector<Tensor> out;
  Tensor y = x;
  size_t next = 0;
  for (size_t i = 0; i < features_->size(); ++i) {
    y = (*(*features_)[i])(y);
    if (i == taps[next]) {
      out.push_back(y);
      if (++next == std::size(taps)) break;
    }
  }
  return out;
}

void init_torchvision(Encoder& encoder) {
  NoGradGuard no_grad;
  const NamedTensors params = encoder.named_parameters();
  std::map<std::string, Tensor> by_name(params.begin(), params.end());
  const std::string weight = "weight";
  for (const auto& [name, w] : params) {
    if (w.dim() != 4 || !name.ends_with(weight)) continue;
    const int64_t fan_out = w.size(0) * w.size(2) * w.size(3);
    Tensor target = w;  // a handle on the parameter
    target.copy_(Tensor::randn(w.shape(), w.dtype(), nullptr, 0.0, std::sqrt(2.0 / double(fan_out))).to(w.device()));
    const auto bias = by_name.find(name.substr(0, name.size() - weight.size()) + "bias");
    if (bias != by_name.end()) bias->second.zero_();
  }
}

// ---- the U-Net around an encoder --------------------------------------------------------
EncoderUNet::EncoderUNet(std::string type, std::shared_ptr<Encoder> encoder, const EncoderUNetOptions& o)
    : Module(std::move(type)), encoder_(std::move(encoder)), o_(o) {
  register_module("encoder", encoder_);
  const std::vector<int64_t> ch = encoder_->stage_channels();
  const size_t n_skips = ch.size() - 1;
  const bool extra = encoder_->first_stage_downsampling() > 0;
  const size_t n_up = n_skips + (extra ? 1 : 0);
  std::vector<int64_t> widths = o.decoder_widths;
  if (widths.empty()) {
    for (size_t i = n_skips; i-- > 0;) widths.push_back(ch[i]);
    if (extra) widths.push_back(std::max<int64_t>(ch[0] / 2, 8));
  }
  STRATA_CHECK(widths.size() == n_up, this->type(), ": decoder_widths needs ", n_up, " entries (one per 2x step), got ",
               widths.size());
  up_ = register_module("up", std::make_shared<ModuleList>());
  dec_ = register_module("dec", std::make_shared<ModuleList>());
  int64_t in = ch.back();
  for (size_t j = 0; j < n_up; ++j) {
    const int64_t skip = j < n_skips ? ch[n_skips - 1 - j] : o.input_skip ? encoder_->in_channels() : 0;
    up_->add(make_upsampler(2, in, widths[j], o.upsampling));
    dec_->add(std::make_shared<ConvBlock>(2, widths[j] + skip, widths[j], true, o.dropout));
    in = widths[j];
  }
  head_ = register_module("head", std::make_shared<Conv2d>(in, o.classes, std::array<int64_t, 2>{1, 1}));
  multiple_ = int64_t(1) << (ch.size() - 1 + size_t(encoder_->first_stage_downsampling()));
  STRATA_CHECK(o.encoder_init == "default" || o.encoder_init == "torchvision", this->type(),
               ": encoder_init must be default or torchvision, got '", o.encoder_init, "'");
  if (o.encoder_init == "torchvision") init_torchvision(*encoder_);
  if (o.freeze_encoder) encoder_->requires_grad_(false);
  train(true);
}

void EncoderUNet::train(bool on) {
  Module::train(on);
  if (o_.freeze_encoder) encoder_->train(false);
}

Tensor EncoderUNet::forward(const Tensor& input) {
  STRATA_CHECK(input.dim() == 4 && input.size(1) == encoder_->in_channels(), type(), ": expects (N, ",
               encoder_->in_channels(), ", H, W) input, got ", shape_str(input.shape()));
  const Tensor padded = pad_to_multiple(input, multiple_);
  const std::vector<Tensor> stages = encoder_->stages(padded);
  const size_t n_skips = stages.size() - 1;
  Tensor x = stages.back();
  for (size_t j = 0; j < up_->size(); ++j) {
    x = (*up_)[j](x);
    x = (*dec_)[j](j < n_skips ? cat({stages[n_skips - 1 - j], x}, 1) : o_.input_skip ? cat({padded, x}, 1) : x);
  }
  return crop_like((*head_)(x), input);
}

std::string EncoderUNet::describe() const {
  return str_cat(encoder_->type(), " encoder", o_.freeze_encoder ? " (frozen)" : "", ", ", o_.classes,
                 o_.classes == 1 ? " output channel" : " output channels");
}

NameMapping torchvision_mapping() { return NameMapping{{}, {"classifier.", "*num_batches_tracked"}}; }

void load_torchvision_encoder(EncoderUNet& model, const std::string& path) {
  std::map<std::string, Tensor> tensors = load_safetensors(path).tensors;
  // Grey models from RGB weights: a grey image is the RGB image (g, g, g), whose first convolution is the sum of
  // the three input-channel slices of its weight, so the summed weight gives the RGB network's outputs exactly.
  // Only the input convolution can be [O, 1, k, k] here and [O, 3, k, k] in the file (depthwise ones are 1 in both).
  if (model.encoder().in_channels() == 1)
    for (const auto& [name, ours] : model.encoder().named_parameters()) {
      const auto theirs = tensors.find(name);
      if (theirs == tensors.end() || ours.dim() != 4 || theirs->second.dim() != 4 || ours.size(1) != 1 ||
          theirs->second.size(1) != 3 || ours.size(0) != theirs->second.size(0))
        continue;
      NoGradGuard no_grad;
      theirs->second = sum(theirs->second, {1}, true);
    }
  load_state_dict(model.encoder(), tensors, path, torchvision_mapping());
}

namespace {
EncoderUNetOptions encoder_unet_options(const Config& c) {
  EncoderUNetOptions o;
  o.classes = c.get_int("classes", 1, Bounds::at_least(1));
  o.decoder_widths = c.get_int_list("decoder_widths", {});
  o.upsampling = c.get_choice("upsampling", "transposed", {"transposed", "nearest", "linear"});
  o.freeze_encoder = c.get_bool("freeze_encoder", false);
  o.input_skip = c.get_bool("input_skip", false);
  o.dropout = c.get_double("dropout", 0.0, Bounds::between(0, 0.99));
  o.encoder_init = c.get_choice("encoder_init", "default", {"default", "torchvision"});
  return o;
}

}  // namespace

void load_pretrained_weights(const Config& model_cfg, Module& model) {
  if (!model_cfg.has("encoder_weights")) return;  // nothing recorded in the run's config for a key never given
  const std::string weights = model_cfg.get_string("encoder_weights", "");
  if (weights.empty()) return;
  auto* unet = dynamic_cast<EncoderUNet*>(&model);
  STRATA_CHECK(unet != nullptr, model_cfg.origin(), ": ", model_cfg.key_path("encoder_weights"), ": model.type ",
               model.type(), " has no separate encoder to load (unet_vgg16 and unet_mobilenetv2 have)");
  load_torchvision_encoder(*unet, weights);
}

STRATA_REGISTER_MODULE("unet_vgg16", [](const Config& c) -> ModulePtr {
  const bool bn = c.get_bool("batchnorm", false);
  auto enc = std::make_shared<Vgg16Encoder>(c.get_int("in_channels", 3, Bounds::at_least(1)), bn);
  return std::make_shared<EncoderUNet>("unet_vgg16", enc, encoder_unet_options(c));
});
STRATA_REGISTER_MODULE("unet_mobilenetv2", [](const Config& c) -> ModulePtr {
  auto enc = std::make_shared<MobileNetV2Encoder>(c.get_int("in_channels", 3, Bounds::at_least(1)),
                                                  c.get_double("width", 1.0, Bounds::positive()));
  return std::make_shared<EncoderUNet>("unet_mobilenetv2", enc, encoder_unet_options(c));
});

}  // namespace strata
