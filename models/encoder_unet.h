// U-Nets on pretrained-style encoders: VGG16 (optionally with batch norm) and
// MobileNetV2. The encoders mirror torchvision's `features` modules layer for
// layer, so their parameter names are torchvision's (encoder.features.0.weight
// here is features.0.weight in torchvision's vgg16 state_dict) and pretrained
// weights load with NameMapping torchvision_mapping().
//
// The encoder returns its stage outputs, highest resolution first; the decoder
// climbs back up: up.i (2x upsampling to decoder width i), dec.i (ConvBlock on
// cat(skip_i, up_i)), and a 1x1 head to the class logits. When the encoder's
// first stage is already at half resolution (MobileNetV2), one more up/dec pair
// restores the input size, without a skip or (input_skip) with the input itself.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "layers/checkpoint.h"
#include "layers/layers.h"

namespace strata {

class Encoder : public Module {
 public:
  using Module::Module;
  // Stage outputs, highest resolution first; the last is the bottom of the U.
  virtual std::vector<Tensor> stages(const Tensor& x) = 0;
  virtual std::vector<int64_t> stage_channels() const = 0;
  // log2 of the input size / the first stage's size (0 for VGG, 1 for MobileNetV2).
  virtual int first_stage_downsampling() const = 0;
  int64_t in_channels() const { return in_channels_; }
  Tensor forward(const Tensor& x) override { return stages(x).back(); }

 protected:
  int64_t in_channels_ = 3;
};

// torchvision vgg16 / vgg16_bn `features`: 13 convs (k3, p1) in 5 stages of
// 64, 128, 256, 512, 512 channels, each stage ended by a 2x2 max-pool.
class Vgg16Encoder : public Encoder {
 public:
  Vgg16Encoder(int64_t in_channels = 3, bool batchnorm = false);
  std::vector<Tensor> stages(const Tensor& x) override;
  std::vector<int64_t> stage_channels() const override { return {64, 128, 256, 512, 512}; }
  int first_stage_downsampling() const override { return 0; }

 private:
  std::shared_ptr<Sequential> features_;
};

// torchvision mobilenet_v2 `features` with width multiplier `width`: a stride-2
// stem, 17 inverted residual blocks (expand 1x1, depthwise 3x3, project 1x1,
// ReLU6, residual when shapes allow), and a final 1x1 conv to 1280 channels.
// Stages: features 1 (1/2), 3 (1/4), 6 (1/8), 13 (1/16) and 18 (1/32).
class MobileNetV2Encoder : public Encoder {
 public:
  MobileNetV2Encoder(int64_t in_channels = 3, double width = 1.0);
  std::vector<Tensor> stages(const Tensor& x) override;
  std::vector<int64_t> stage_channels() const override { return stage_channels_; }
  int first_stage_downsampling() const override { return 1; }

 private:
  std::shared_ptr<Sequential> features_;
  std::vector<int64_t> stage_channels_;
};

// torchvision's channel rounding: v to a multiple of 8, never below 90% of v.
int64_t make_divisible(double v, int64_t divisor = 8);

// torchvision's initialisation of its VGG and MobileNetV2 (what `mobilenet_v2(weights=None)` starts from):
// every convolution weight normal with standard deviation sqrt(2 / fan_out), fan_out = output channels x kernel
// area, and zero biases; batch norm as built (weight 1, bias 0). Drawn from the global generator. The layers'
// own default, which the encoders are built with, is PyTorch's layer default U(+-1 / sqrt(fan_in)): for a
// depthwise 3 x 3 convolution on C channels that is a standard deviation of 0.19 against sqrt(2 / 9C) here.
void init_torchvision(Encoder& encoder);

struct EncoderUNetOptions {
  int64_t classes = 1;
  std::vector<int64_t> decoder_widths;  // one per up step, from the bottom up; empty: the encoder's skip widths
  std::string upsampling = "transposed";
  bool freeze_encoder = false;  // no gradients, and batch norm kept in eval mode
  // The last up step of an encoder whose first stage is at half resolution
  // (MobileNetV2) has no skip; with input_skip it gets the input image as one,
  // so full-resolution detail (1-2 pixel structures) reaches the head.
  bool input_skip = false;
  double dropout = 0;
  // The encoder's starting weights when no encoder_weights are loaded: "default" (the layers' own) or
  // "torchvision" (init_torchvision).
  std::string encoder_init = "default";
};

class EncoderUNet : public Module {
 public:
  EncoderUNet(std::string type, std::shared_ptr<Encoder> encoder, const EncoderUNetOptions& o);
  Tensor forward(const Tensor& x) override;
  void train(bool on = true) override;
  std::string describe() const override;
  Encoder& encoder() { return *encoder_; }

 private:
  std::shared_ptr<Encoder> encoder_;
  std::shared_ptr<ModuleList> up_, dec_;
  ModulePtr head_;
  EncoderUNetOptions o_;
  int64_t multiple_;  // inputs are padded to a multiple of this
};

// Maps torchvision vgg16 / vgg16_bn / mobilenet_v2 state_dict names onto an
// Encoder: features.* stay as they are; classifier.* and *num_batches_tracked
// are ignored.
NameMapping torchvision_mapping();
// Loads such a safetensors file into the U-Net's encoder (every encoder tensor
// must be there with its torchvision shape). A grey encoder (in_channels 1)
// takes RGB weights with its first convolution summed over the three colours:
// it then computes what the RGB encoder computes on the image (g, g, g).
void load_torchvision_encoder(EncoderUNet& model, const std::string& path);

// The starting weights a model config names, loaded into a model built from it: `encoder_weights: FILE`
// (torchvision-format safetensors) for the encoder U-Nets; nothing when the key is absent or empty. The
// factories only build; the apps' driver calls this after construction, and only when training starts.
void load_pretrained_weights(const Config& model_cfg, Module& model);

}  // namespace strata
