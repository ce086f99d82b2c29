// The fully convolutional discriminator of Hung et al. 2018 ("Adversarial
// Learning for Semi-Supervised Semantic Segmentation", arXiv 1802.07934),
// in 1-D and 2-D: it reads a class-probability map (N, classes, ...) and
// outputs a confidence map (N, 1, ...) of logits at the input's size.
//
//   conv.0 .. conv.4: k4, s2, p1 convolutions classes -> w -> 2w -> 4w -> 8w -> 1
//   (w = 64 in the paper), leaky ReLU 0.2 after all but the last, then the
//   logits are upsampled (bilinear / linear, align_corners false) to the input size.
#pragma once

#include "layers/layers.h"

namespace strata {

class Discriminator : public Module {
 public:
  Discriminator(int dims, int64_t classes, int64_t width = 64, double slope = 0.2);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  int dims_;
  int64_t classes_, width_;
  double slope_;
  std::shared_ptr<ModuleList> conv_;
};

}  // namespace strata
