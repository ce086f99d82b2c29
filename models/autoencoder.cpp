#include "models/autoencoder.h"

#include "engine/error.h"
#include "engine/ops.h"
#include "layers/registry.h"

namespace strata {

Autoencoder::Autoencoder(const AutoencoderOptions& o)
    : Module(str_cat(o.conv ? "conv_" : "", o.variational ? "vae" : "autoencoder")), o_(o) {
  STRATA_CHECK(o.input_shape.size() == 3, type(), ": input_shape must be (C, H, W), got ", shape_str(o.input_shape));
  STRATA_CHECK(!o.widths.empty() && o.latent > 0, type(), ": needs at least one width and latent > 0");
  STRATA_CHECK(o.output == "sigmoid" || o.output == "none", type(), ": output must be sigmoid or none");
  STRATA_CHECK(o.bottleneck == "dense" || (o.conv && o.bottleneck == "none"), type(),
               ": bottleneck must be dense, or none for a convolutional autoencoder; got '", o.bottleneck, "'");
  const bool dense_code = o.bottleneck == "dense";
  const int64_t C = o.input_shape[0], H = o.input_shape[1], W = o.input_shape[2];
  const int64_t code = o.variational ? 2 * o.latent : o.latent;
  encoder_ = register_module("encoder", std::make_shared<Sequential>());
  decoder_ = std::make_shared<Sequential>();
  int64_t flat = 0;
  if (!o.conv) {
    encoder_->add(std::make_shared<Flatten>());
    int64_t in = C * H * W;
    for (int64_t w : o.widths) {
      encoder_->add(std::make_shared<Linear>(in, w)).add(std::make_shared<ActivationLayer>(Activation::relu));
      in = w;
    }
    flat = in;
    for (size_t i = o.widths.size(); i-- > 1;)
      decoder_->add(std::make_shared<Linear>(o.widths[i], o.widths[i - 1]))
          .add(std::make_shared<ActivationLayer>(Activation::relu));
    decoder_->add(std::make_shared<Linear>(o.widths[0], C * H * W));
    decoder_->add(std::make_shared<Reshape>(o.input_shape));
    bottleneck_shape_ = {flat};
  } else {
    const int64_t f = int64_t(1) << o.widths.size();
    STRATA_CHECK(H % f == 0 && W % f == 0, type(), ": input ", H, "x", W, " must be divisible by ", f, " (",
                 o.widths.size(), " stride-2 levels)");
    int64_t in = C;
    for (int64_t w : o.widths) {
      encoder_->add(std::make_shared<Conv2d>(in, w, std::array<int64_t, 2>{3, 3},
                                             Conv2dOptions{{2, 2}, {1, 1}, {1, 1}, 1, false}))
          .add(std::make_shared<BatchNorm>(2, w))
          .add(std::make_shared<ActivationLayer>(Activation::relu));
      in = w;
    }
    bottleneck_shape_ = {o.widths.back(), H / f, W / f};
    flat = o.widths.back() * (H / f) * (W / f);
    if (dense_code) {
      encoder_->add(std::make_shared<Flatten>());
      decoder_->add(std::make_shared<Reshape>(bottleneck_shape_));
    }
    for (size_t i = o.widths.size(); i-- > 0;) {
      const int64_t out = i == 0 ? C : o.widths[i - 1];
      decoder_->add(std::make_shared<ConvTranspose2d>(o.widths[i], out, std::array<int64_t, 2>{4, 4},
                                                      ConvTranspose2dOptions{{2, 2}, {1, 1}, {0, 0}, {1, 1}, 1}));
      if (i > 0)
        decoder_->add(std::make_shared<BatchNorm>(2, out)).add(std::make_shared<ActivationLayer>(Activation::relu));
    }
  }
  if (o.output == "sigmoid") decoder_->add(std::make_shared<ActivationLayer>(Activation::sigmoid));
  if (dense_code) {
    to_latent_ = register_module("to_latent", std::make_shared<Linear>(flat, code));
    from_latent_ = register_module("from_latent", std::make_shared<Linear>(o.latent, flat));
  } else {
    const int64_t w = o.widths.back();
    to_latent_ = register_module("to_latent", std::make_shared<Conv2d>(w, code, std::array<int64_t, 2>{1, 1}));
    from_latent_ = register_module("from_latent", std::make_shared<Conv2d>(o.latent, w, std::array<int64_t, 2>{1, 1}));
  }
  register_module("decoder", decoder_);
  if (o.transform_head > 0) {
    STRATA_CHECK(H == W, type(), ": the transform head turns images by quarter turns, so it needs square inputs; got ",
                 H, " x ", W, " (set data.size square, or transform_head: 0)");
    const int64_t w = o.transform_head;
    head_ = register_module("transform_head", std::make_shared<Sequential>());
    int64_t in = C;
    for (auto [out, stride] : {std::pair<int64_t, int64_t>{w, 1}, {2 * w, 2}, {2 * w, 1}, {4 * w, 2}, {4 * w, 1}}) {
      head_->add(std::make_shared<Conv2d>(in, out, std::array<int64_t, 2>{3, 3},
                                          Conv2dOptions{{stride, stride}, {1, 1}, {1, 1}, 1, false}))
          .add(std::make_shared<BatchNorm>(2, out))
          .add(std::make_shared<ActivationLayer>(Activation::relu));
      in = out;
    }
    head_->add(std::make_shared<GlobalAvgPool>(true)).add(std::make_shared<Linear>(in, kTransforms));
  }
}

Tensor Autoencoder::geometric_transform(const Tensor& x, int64_t t) {
  STRATA_CHECK(t >= 0 && t < kTransforms, "geometric_transform: t must be in [0, 8), got ", t);
  Tensor y = t >= 4 ? flip(x, 3) : x;
  for (int64_t q = 0; q < t % 4; ++q) y = flip(transpose(y, 2, 3), 2);  // a quarter turn counter-clockwise
  return y;
}

Autoencoder::TransformBatch Autoencoder::transform_batch(const Tensor& x, int64_t per_image) {
  STRATA_CHECK(head_, type(), " has no transform head (model.transform_head)");
  STRATA_CHECK(per_image == 1 || per_image == 2 || per_image == 4 || per_image == 8,
               "transforms per image must be 1, 2, 4 or 8, got ", per_image);
  const int64_t n = x.size(0);
  std::vector<Tensor> parts;
  std::vector<int64_t> target;
  for (int64_t s = 0; s < kTransforms; ++s) {
    const int64_t begin = n * s / kTransforms, end = n * (s + 1) / kTransforms;
    if (begin == end) continue;
    const Tensor slice = x.slice(0, begin, end);
    for (int64_t j = 0; j < per_image; ++j) {
      const int64_t t = (s + j * (kTransforms / per_image)) % kTransforms;
      parts.push_back(geometric_transform(slice, t));
      target.insert(target.end(), size_t(end - begin), t);
    }
  }
  return {(*head_)(cat(parts, 0)), Tensor::from_vector(target, {int64_t(target.size())}).to(x.device())};
}

Tensor Autoencoder::transform_nll(const Tensor& x) {
  STRATA_CHECK(head_, type(), " has no transform head (model.transform_head)");
  Tensor total;
  for (int64_t t = 0; t < kTransforms; ++t) {
    const Tensor nll = neg(log_softmax((*head_)(geometric_transform(x, t)), 1).slice(1, t, t + 1));
    total = t == 0 ? nll : total + nll;
  }
  return total.reshape({x.size(0)}) * (1.0 / double(kTransforms));
}

Autoencoder::Output Autoencoder::run(const Tensor& x) {
  const Shape expect{x.dim() ? x.size(0) : 0, o_.input_shape[0], o_.input_shape[1], o_.input_shape[2]};
  STRATA_CHECK(x.shape() == expect, type(), ": expects (N, ", o_.input_shape[0], ", ", o_.input_shape[1], ", ",
               o_.input_shape[2], ") input, got ", shape_str(x.shape()));
  const Tensor code = (*to_latent_)((*encoder_)(x));
  Output out;
  Tensor z;
  if (o_.variational) {
    out.mean = code.slice(1, 0, o_.latent);
    out.logvar = code.slice(1, o_.latent, 2 * o_.latent);
    z = out.mean;
    if (training()) {
      const Tensor eps = Tensor::randn(out.mean.shape(), out.mean.dtype(), nullptr, 0, 1, out.mean.device());
      z = out.mean + exp(out.logvar * 0.5) * eps;
    }
  } else {
    out.mean = z = code;
  }
  out.reconstruction = decode(z);
  return out;
}

Tensor Autoencoder::decode(const Tensor& z) { return (*decoder_)(relu((*from_latent_)(z))); }

Tensor Autoencoder::forward(const Tensor& x) { return run(x).reconstruction; }

std::string Autoencoder::describe() const {
  if (o_.bottleneck == "none")
    return str_cat(shape_str(o_.input_shape), " -> latent map ", o_.latent, " x ", bottleneck_shape_[1], " x ",
                   bottleneck_shape_[2], head_ ? str_cat(", transform head ", o_.transform_head) : "");
  return str_cat(shape_str(o_.input_shape), " -> latent ", o_.latent,
                 head_ ? str_cat(", transform head ", o_.transform_head) : "");
}

namespace {
ModulePtr make_autoencoder(const Config& c, bool conv, bool variational) {
  AutoencoderOptions o;
  o.conv = conv;
  o.variational = variational;
  o.input_shape = c.get_int_list("input_shape", {1, 28, 28});
  o.widths = c.get_int_list("widths", conv ? std::vector<int64_t>{32, 64, 128} : std::vector<int64_t>{512, 128});
  o.latent = c.get_int("latent", 32, Bounds::at_least(1));
  o.output = c.get_choice("output", "sigmoid", {"sigmoid", "none"});
  if (conv) o.bottleneck = c.get_choice("bottleneck", "dense", {"dense", "none"});
  o.transform_head = c.get_int("transform_head", 0, Bounds::at_least(0));
  return std::make_shared<Autoencoder>(o);
}
}  // namespace

STRATA_REGISTER_MODULE("autoencoder", [](const Config& c) { return make_autoencoder(c, false, false); });
STRATA_REGISTER_MODULE("conv_autoencoder", [](const Config& c) { return make_autoencoder(c, true, false); });
STRATA_REGISTER_MODULE("vae", [](const Config& c) { return make_autoencoder(c, false, true); });
STRATA_REGISTER_MODULE("conv_vae", [](const Config& c) { return make_autoencoder(c, true, true); });

}  // namespace strata
