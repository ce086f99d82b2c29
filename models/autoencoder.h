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
// Transform head (transform_head > 0 channels; square inputs): a small CNN beside the autoencoder that is told
// one of the eight rotations and flips of an image (the dihedral group: t = 0..3 quarter turns, t = 4..7 the
// same after a left-right flip) and predicts which one it was (Golan & El-Yaniv 2018, with eight transforms).
// Trained on normal images only, it learns their usual orientation and shape; an unfamiliar image leaves it
// unsure, so the mean negative log-likelihood of the right transform is an anomaly score beside the
// reconstruction error. Blocks: conv 3x3 + BN + ReLU at w, 2w (stride 2), 2w, 4w (stride 2), 4w, global
// average pool, Linear to 8 logits.
// Children: encoder (Sequential), to_latent, from_latent (Linear, or Conv2d 1x1), decoder (Sequential),
// transform_head (Sequential, when present).
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
  int64_t transform_head = 0;        // channels of the transform classifier's first block; 0: none
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

  // ---- the transform head (options().transform_head > 0) ----
  static constexpr int64_t kTransforms = 8;
  // Transform t of x (N, C, H, W), H == W: t % 4 quarter turns, after a left-right flip when t >= 4.
  static Tensor geometric_transform(const Tensor& x, int64_t t);
  // Training: `per_image` of the eight transforms of each image of x (N, C, H, W), the head's logits
  // (per_image x N, 8) and the right transforms; cross_entropy(logits, target) is the head's loss. The batch
  // is cut into eight slices and slice s gets transforms s, s + 8 / per_image, ... (mod 8), so every transform
  // is seen equally often and, as batches are drawn afresh, each image meets them all.
  struct TransformBatch {
    Tensor logits, target;
  };
  TransformBatch transform_batch(const Tensor& x, int64_t per_image = kTransforms);
  // The mean over the eight transforms of -log p(right transform | transformed image), (N). Each transform is
  // its own pass, so the value of an image does not depend on the rest of the batch (in eval mode).
  Tensor transform_nll(const Tensor& x);
  bool has_transform_head() const { return head_ != nullptr; }

 private:
  AutoencoderOptions o_;
  std::shared_ptr<Sequential> encoder_, decoder_;
  ModulePtr to_latent_, from_latent_;
  std::shared_ptr<Sequential> head_;
  Shape bottleneck_shape_;  // (C, h, w) before flattening (conv)
};

}  // namespace strata
