// Autoencoders for anomaly detection: dense or convolutional, plain or
// variational (Kingma & Welling 2014), one class.
//
// Dense:  x (N, C, H, W) -> flatten -> [Linear + ReLU] per hidden width -> latent
//         -> mirrored decoder -> Linear -> output activation -> reshape to x's shape.
// Conv:   per channel width: conv k3 s2 p1 + batch norm + ReLU (each halves H and W);
//         then a dense bottleneck flatten -> Linear -> latent -> Linear -> reshape;
//         then per width in reverse: transposed conv k4 s2 p1 (+ BN + ReLU), the
//         last one to C channels, then the output activation.
//         With bottleneck "none" (no dense layers) the latent is a 2-D map:
//         a 1x1 conv to `latent` channels at (H / 2^L, W / 2^L) and a 1x1 conv back.
// Variational: the encoder emits 2 x latent numbers (mean, log-variance); in
// training z = mean + exp(logvar / 2) * eps with eps ~ N(0, 1) from the
// default generator (checkpointed by the trainer, so resume stays exact), in
// eval z = mean. The KL term is gaussian_kl(mean, logvar).
// Children: encoder (Sequential), to_latent, from_latent (Linear, or Conv2d 1x1), decoder (Sequential).
#pragma once

#include <string>
#include <vector>

#include "layers/layers.h"

namespace strata {

struct AutoencoderOptions {
  bool conv = false;
  bool variational = false;
  Shape input_shape{1, 28, 28};     // (C, H, W) of one sample
  std::vector<int64_t> widths{512, 128};  // hidden features (dense) or channels (conv)
  int64_t latent = 32;
  std::string output = "sigmoid";  // sigmoid | none
  std::string bottleneck = "dense";  // conv only: dense (flatten + Linear) | none (1x1 convs, a 2-D latent map)
};

class Autoencoder : public Module {
 public:
  struct Output {
    // mean / logvar: (N, latent), or (N, latent, h, w) with bottleneck none;
    // logvar undefined unless variational.
    Tensor reconstruction, mean, logvar;
  };
  explicit Autoencoder(const AutoencoderOptions& o);
  Tensor forward(const Tensor& x) override;  // the reconstruction
  Output run(const Tensor& x);               // reconstruction and latent statistics
  Tensor decode(const Tensor& z);            // z (N, latent)
  std::string describe() const override;
  const AutoencoderOptions& options() const { return o_; }

 private:
  AutoencoderOptions o_;
  std::shared_ptr<Sequential> encoder_, decoder_;
  ModulePtr to_latent_, from_latent_;
  Shape bottleneck_shape_;  // (C, h, w) before flattening (conv)
};

}  // namespace strata
