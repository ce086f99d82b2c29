// U-Net (Ronneberger et al. 2015) in 1-D (N, C, L), 2-D (N, C, H, W) and 3-D (N, C, D, H, W).
//
//   down.i    ConvBlock(w_{i-1} -> w_i), then 2x max-pool       i = 0 .. depth-1
//   bottleneck ConvBlock(w_{depth-1} -> w_depth)
//   up.i      2x upsampling w_{i+1} -> w_i: ConvTranspose(k2, s2), or
//             interpolation + conv (k3, same)                    i = depth-1 .. 0
//   dec.i     ConvBlock(2 w_i -> w_i) on cat(skip_i, up_i)
//   head      1x1 conv w_0 -> classes (logits)
// with w_i = base * 2^i and ConvBlock = (conv k3 same + bias, batch norm, ReLU) x 2
// (+ dropout at the end when dropout > 0; `kernel` sets an odd size other than 3
// for the ConvBlocks' convolutions, `dilations` spreads their taps: [1, 2] widens
// every block's view from 2k - 1 to 3k - 2 samples at the same cost). These are the reference settings: with
// base 16 and depth 4 the 2-D net (1 in, 1 out) has 1,943,761 parameters and the
// 1-D net (1 in, 5 classes) 680,117.
//
// Inputs whose length / height / width is not a multiple of 2^depth are
// zero-padded at the end to the next multiple and the output is cropped back,
// so any size works and the output always matches the input's size.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "layers/layers.h"

namespace strata {

// (conv k same, [batch norm], ReLU) x 2, [dropout]; k odd, 3 by default (k x k in
// 2-D). Children conv1, bn1, conv2, bn2, drop.
class ConvBlock : public Module {
 public:
  ConvBlock(int dims, int64_t in_channels, int64_t out_channels, bool batchnorm = true, double dropout = 0,
            int64_t kernel = 3, std::array<int64_t, 2> dilations = {1, 1});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  ModulePtr conv1_, conv2_, drop_;
  std::shared_ptr<BatchNorm> bn1_, bn2_;  // with their ReLU (BatchNorm::relu)
  int64_t in_, out_;
};

struct UNetOptions {
  int dims = 2;               // 1, 2 or 3 (volumes: transposed upsampling only)
  int64_t in_channels = 1;
  int64_t classes = 1;        // output channels (logits)
  int64_t base = 16;          // width of the first level
  int64_t depth = 4;          // number of 2x downsamplings
  double dropout = 0;         // in every ConvBlock
  bool batchnorm = true;
  std::string upsampling = "transposed";  // transposed | nearest | linear (interpolation + conv)
  int64_t kernel = 3;         // odd size of the ConvBlocks' convolutions (a wider view per level)
  std::array<int64_t, 2> dilations = {1, 1};  // of each ConvBlock's first and second convolution
};

// 2x upsampling from `in` to `out` channels, by transposed conv or interpolation + conv.
ModulePtr make_upsampler(int dims, int64_t in_channels, int64_t out_channels, const std::string& how);

class UNet : public Module {
 public:
  explicit UNet(const UNetOptions& o);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  const UNetOptions& options() const { return o_; }

 private:
  UNetOptions o_;
  std::shared_ptr<ModuleList> down_, up_, dec_;
  ModulePtr pool_, bottleneck_, head_;
};

}  // namespace strata
