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
                   bottleneck_shape_[2]);
  return str_cat(shape_str(o_.input_shape), " -> latent ", o_.latent);
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
  return std::make_shared<Autoencoder>(o);
}
}  // namespace

STRATA_REGISTER_MODULE("autoencoder", [](const Config& c) { return make_autoencoder(c, false, false); });
STRATA_REGISTER_MODULE("conv_autoencoder", [](const Config& c) { return make_autoencoder(c, true, false); });
STRATA_REGISTER_MODULE("vae", [](const Config& c) { return make_autoencoder(c, false, true); });
STRATA_REGISTER_MODULE("conv_vae", [](const Config& c) { return make_autoencoder(c, true, true); });

}  // namespace strata
