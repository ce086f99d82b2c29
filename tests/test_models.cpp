// Models against PyTorch (tests/reference/make_model_reference.py ->
// model_reference.safetensors): the reference U-Nets output for output and
// gradient for gradient with the same weights, the first 10 training losses
// under SGD / Adam / AdamW with a poly schedule, torchvision's parameter names
// and shapes for the VGG16 and MobileNetV2 encoders, and MobileNetV2 features.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/autograd.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/safetensors.h"
#include "layers/optimizer.h"
#include "layers/registry.h"
#include "models/autoencoder.h"
#include "models/discriminator.h"
#include "models/encoder_unet.h"
#include "models/unet.h"

using namespace strata;

namespace {

const Safetensors& reference() {
  static const Safetensors ref = load_safetensors(STRATA_SOURCE_DIR "/tests/reference/model_reference.safetensors");
  return ref;
}

// The reference script's fill(): tensor k of the sorted state_dict, element i.
void fill(Module& m) {
  NoGradGuard no_grad;
  int k = 0;
  for (auto& [name, t] : m.state_dict()) {
    std::vector<double> v(size_t(t.numel()));
    const double per_row = t.dim() >= 2 ? double(t.numel()) / double(t.size(0)) : 1;
    for (size_t i = 0; i < v.size(); ++i) {
      const double s = std::sin(0.37 * double(i) + 1.1 * k);
      if (name.size() >= 11 && name.compare(name.size() - 11, 11, "running_var") == 0) v[i] = 0.5 + 0.25 * (1 + s);
      else if (t.dim() >= 2) v[i] = s / std::sqrt(per_row);
      else v[i] = 0.1 * s;
    }
    t.copy_(Tensor::from_vector(v, t.shape()));
    ++k;
  }
}

// max |a - b| / (atol + rtol |b|) <= 1
void expect_close(const Tensor& a, const Tensor& b, double atol, double rtol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const auto x = a.to(DType::f64).to_vector<double>(), y = b.to(DType::f64).to_vector<double>();
  double worst = 0, worst_diff = 0;
  size_t at = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double r = std::abs(x[i] - y[i]) / (atol + rtol * std::abs(y[i]));
    if (r > worst) worst = r, worst_diff = std::abs(x[i] - y[i]), at = i;
  }
  EXPECT_LE(worst, 1.0) << what << ": element " << at << " differs by " << worst_diff << " (strata " << x[at]
                        << ", torch " << y[at] << ")";
}

void check_unet(const std::string& name, UNetOptions o) {
  const Safetensors& ref = reference();
  UNet net(o);
  EXPECT_EQ(std::to_string(net.parameter_count()), ref.metadata.at(name + ".parameters"));
  fill(net);
  const Tensor x = ref.at(name + ".x").to(DType::f32);
  net.eval();
  {
    NoGradGuard no_grad;
    expect_close(net(x), ref.at(name + ".y_eval"), 1e-4, 1e-3, name + " eval output");
  }
  net.train();
  const Tensor y = net(x);
  expect_close(y, ref.at(name + ".y_train"), 1e-4, 1e-3, name + " train output");
  sum(y * ref.at(name + ".g").to(DType::f32)).backward();
  const auto params = net.state_dict();
  for (const char* p : {"down.0.conv1.weight", "head.weight"})
    expect_close(params.at(p).grad(), ref.at(name + ".grad." + p), 1e-3, 2e-3, name + " gradient of " + p);
  expect_close(params.at("bottleneck.bn2.running_mean"), ref.at(name + ".running_mean.bottleneck.bn2"), 1e-5, 1e-4,
               name + " running mean");
  expect_close(params.at("bottleneck.bn2.running_var"), ref.at(name + ".running_var.bottleneck.bn2"), 1e-5, 1e-4,
               name + " running var");
}

// Copies the kernel-3 U-Net `small` into the kernel-5 U-Net `wide`: tensors of the same shape as they are, each
// convolution weight zeroed and its three taps placed by place_taps(name, zeroed weight, small weight).
void copy_into_kernel5(UNet& small, UNet& wide,
                       const std::function<void(const std::string&, Tensor&, const Tensor&)>& place_taps) {
  NoGradGuard no_grad;
  auto from = small.state_dict();
  for (auto& [name, t] : wide.state_dict()) {
    const Tensor& src = from.at(name);
    if (t.shape() == src.shape()) {
      t.copy_(src);
      continue;
    }
    ASSERT_EQ(t.dim(), 3) << name;
    ASSERT_EQ(t.size(2), 5) << name;
    t.copy_(Tensor::zeros(t.shape()));
    place_taps(name, t, src);
  }
}

// a and b in eval mode give the same output for one seeded random input of `shape`.
void expect_same_outputs(UNet& a, UNet& b, const Shape& shape, const std::string& what) {
  a.eval();
  b.eval();
  NoGradGuard no_grad;
  manual_seed(5);
  const Tensor x = Tensor::randn(shape);
  expect_close(a(x), b(x), 1e-5, 1e-4, what);
}

}  // namespace

TEST(UNet, ReferenceParameterCounts) {
  EXPECT_EQ(UNet(UNetOptions{2, 1, 1, 16, 4}).parameter_count(), 1943761);
  EXPECT_EQ(UNet(UNetOptions{1, 1, 5, 16, 4}).parameter_count(), 680117);
}

// model.kernel: a kernel-5 U-Net whose outer taps are zero computes exactly what
// the kernel-3 U-Net with the inner taps computes.
TEST(UNet, WiderKernelWithZeroOuterTapsEqualsKernel3) {
  UNetOptions o3{1, 2, 3, 4, 2};
  UNetOptions o5 = o3;
  o5.kernel = 5;
  UNet n3(o3), n5(o5);
  // Every ConvBlock weight gains two taps per (in, out) pair: down 2->4, 4->8, bottleneck 8->16, dec 8->4, 16->8
  // (the skip doubles the input), each block's second conv out->out.
  const int64_t pairs = (2 * 4 + 4 * 4) + (4 * 8 + 8 * 8) + (8 * 16 + 16 * 16) + (8 * 4 + 4 * 4) + (16 * 8 + 8 * 8);
  EXPECT_EQ(n5.parameter_count() - n3.parameter_count(), 2 * pairs);
  fill(n3);
  copy_into_kernel5(n3, n5, [](const std::string&, Tensor& t, const Tensor& src) { t.slice(2, 1, 4).copy_(src); });
  expect_same_outputs(n5, n3, {2, 2, 37}, "kernel 5 with zero outer taps");
  EXPECT_THROW(UNet(UNetOptions{1, 1, 2, 4, 2, 0, true, "transposed", 4}), Error);
  EXPECT_EQ(n5.describe(), "1-D, base 4, depth 2, kernel 5, 2->3");
  EXPECT_EQ(n3.describe(), "1-D, base 4, depth 2, 2->3");
}

// model.dilations: a kernel-3 U-Net whose second convolutions are dilated by 2 computes what the kernel-5 U-Net
// computes with the first convolutions' taps in the middle (zero outer taps) and the second ones' on every other
// tap (zeros between).
TEST(UNet, DilatedSecondConvolutionsEqualSpreadKernel5Taps) {
  UNetOptions od{1, 2, 3, 4, 2};
  od.dilations = {1, 2};
  UNetOptions o5{1, 2, 3, 4, 2};
  o5.kernel = 5;
  UNet nd(od), n5(o5);
  fill(nd);
  copy_into_kernel5(nd, n5, [](const std::string& name, Tensor& t, const Tensor& src) {
    if (name.find("conv2") == std::string::npos) {
      t.slice(2, 1, 4).copy_(src);  // the undilated first convolutions: the middle taps
      return;
    }
    for (int64_t j = 0; j < 3; ++j) t.slice(2, 2 * j, 2 * j + 1).copy_(src.slice(2, j, j + 1));
  });
  expect_same_outputs(nd, n5, {2, 2, 45}, "dilation 2 against spread kernel-5 taps");
  EXPECT_EQ(nd.describe(), "1-D, base 4, depth 2, dilations 1/2, 2->3");
  UNetOptions bad = od;
  bad.dilations = {0, 1};
  EXPECT_THROW(UNet{bad}, Error);
  const Config c = Config::parse("{type: unet1d, dilations: [1, 2, 4]}");
  try {
    build_module(c);
    ADD_FAILURE() << "three dilations accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("got [1, 2, 4]"), std::string::npos) << e.what();
  }
}

TEST(UNet, NamesFollowPyTorch) {
  const auto sd = UNet(UNetOptions{1, 1, 5, 16, 4}).state_dict();
  for (const char* n : {"down.0.conv1.weight", "down.3.bn2.running_var", "bottleneck.conv2.bias", "up.0.weight",
                        "dec.3.bn1.weight", "head.bias"})
    EXPECT_TRUE(sd.count(n)) << n;
}

TEST(UNet, Matches2DPyTorchReference) { check_unet("unet2d", UNetOptions{2, 1, 1, 16, 4}); }
TEST(UNet, Matches1DPyTorchReference) { check_unet("unet1d", UNetOptions{1, 1, 5, 16, 4}); }

TEST(UNet, AnyInputSizeGivesSameSizeOutput) {
  UNet net(UNetOptions{2, 2, 3, 4, 3});
  NoGradGuard no_grad;
  EXPECT_EQ(net(Tensor::randn({1, 2, 19, 30})).shape(), (Shape{1, 3, 19, 30}));
  UNet net1(UNetOptions{1, 1, 2, 4, 2, 0.1, false, "linear"});
  EXPECT_EQ(net1(Tensor::randn({2, 1, 37})).shape(), (Shape{2, 2, 37}));
  EXPECT_THROW(net(Tensor::randn({1, 3, 16, 16})), Error);
}

// The first 10 losses and the final head weights of PyTorch's training run.
class OptimizerReference : public ::testing::TestWithParam<const char*> {};

TEST_P(OptimizerReference, TenStepsMatchPyTorch) {
  const std::string name = GetParam();
  const Safetensors& ref = reference();
  UNet net(UNetOptions{1, 1, 3, 4, 2});
  fill(net);
  const std::string yaml = name == "sgd"     ? "type: sgd\nlr: 0.05\nmomentum: 0.9\nnesterov: true\nweight_decay: 0.001\n"
                           : name == "adam" ? "type: adam\nlr: 0.01\nbetas: [0.9, 0.99]\nweight_decay: 0.001\n"
                                            : "type: adamw\nlr: 0.01\nweight_decay: 0.05\n";
  const Config cfg = Config::parse(yaml + "schedule: {type: poly, power: 0.9}\n", "test");
  auto opt = make_optimizer(cfg, net.named_parameters(), 10);
  cfg.check_unknown_keys();
  const Tensor x = ref.at("train_" + name + ".x").to(DType::f32);
  const Tensor target = ref.at("train_" + name + ".target");
  const auto losses = ref.at("train_" + name + ".losses").to_vector<double>();
  for (int step = 0; step < 10; ++step) {
    opt->zero_grad();
    const Tensor loss = cross_entropy(net(x), target);
    EXPECT_NEAR(loss.item<float>(), losses[size_t(step)], 2e-5) << name << " step " << step;
    loss.backward();
    opt->step();
  }
  expect_close(net.state_dict().at("head.weight"), ref.at("train_" + name + ".head.weight"), 1e-4, 1e-3,
               name + " head weight after 10 steps");
}

INSTANTIATE_TEST_SUITE_P(Models, OptimizerReference, ::testing::Values("sgd", "adam", "adamw"));

// Every torchvision feature-extractor tensor exists in our encoder with the
// same name and shape, and nothing else does.
class TorchvisionNames : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchvisionNames, EncoderMatchesTorchvisionStateDict) {
  const std::string arch = GetParam();
  std::shared_ptr<Encoder> enc;
  if (arch == "vgg16") enc = std::make_shared<Vgg16Encoder>(3, false);
  else if (arch == "vgg16_bn") enc = std::make_shared<Vgg16Encoder>(3, true);
  else if (arch == "mobilenet_v2") enc = std::make_shared<MobileNetV2Encoder>(3, 1.0);
  else enc = std::make_shared<MobileNetV2Encoder>(3, 0.5);
  const auto theirs = nlohmann::json::parse(reference().metadata.at("torchvision." + arch));
  const NameMapping mapping = torchvision_mapping();
  std::map<std::string, Shape> expected;
  for (const auto& entry : theirs) {
    const std::string name = mapping.map(entry[0].get<std::string>());
    if (!name.empty()) expected[name] = entry[1].get<Shape>();
  }
  std::map<std::string, Shape> mine;
  for (const auto& [n, t] : enc->state_dict()) mine[n] = t.shape();
  EXPECT_EQ(mine, expected) << arch;
  // And a file with exactly those tensors loads.
  std::map<std::string, Tensor> file;
  for (const auto& entry : theirs) file[entry[0].get<std::string>()] = Tensor::zeros(entry[1].get<Shape>());
  EXPECT_NO_THROW(load_state_dict(*enc, file, arch, mapping));
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionNames,
                         ::testing::Values("vgg16", "vgg16_bn", "mobilenet_v2", "mobilenet_v2_w0.5"));

TEST(EncoderUNet, MobileNetV2FeaturesMatchTorchvision) {
  MobileNetV2Encoder enc(3, 0.5);
  fill(enc);
  enc.eval();
  NoGradGuard no_grad;
  const std::vector<Tensor> stages = enc.stages(reference().at("mobilenet_v2_w0.5.x"));
  ASSERT_EQ(stages.size(), 5u);
  for (size_t j = 0; j < 5; ++j)
    expect_close(stages[j], reference().at("mobilenet_v2_w0.5.stage" + std::to_string(j)), 1e-4, 1e-3,
                 "stage " + std::to_string(j));
}

TEST(EncoderUNet, ShapesFreezingAndLoadErrors) {
  NoGradGuard no_grad;
  EncoderUNetOptions four;
  four.classes = 4;
  EncoderUNet vgg("unet_vgg16", std::make_shared<Vgg16Encoder>(1, true), four);
  EXPECT_EQ(vgg(Tensor::randn({1, 1, 40, 36})).shape(), (Shape{1, 4, 40, 36}));
  EncoderUNetOptions frozen;
  frozen.freeze_encoder = true;
  EncoderUNet mnet("unet_mobilenetv2", std::make_shared<MobileNetV2Encoder>(3, 0.35), frozen);
  EXPECT_EQ(mnet(Tensor::randn({2, 3, 64, 64})).shape(), (Shape{2, 1, 64, 64}));
  EXPECT_LT(mnet.parameter_count(true), mnet.parameter_count());
  EXPECT_EQ(mnet.parameter_count(true), mnet.parameter_count() - mnet.encoder().parameter_count());
  mnet.train();
  EXPECT_FALSE(mnet.encoder().training());  // frozen batch norm keeps its statistics
  // A vgg16 file does not fit the batch-norm variant; the error names what differs.
  std::map<std::string, Tensor> file;
  for (const auto& entry : nlohmann::json::parse(reference().metadata.at("torchvision.vgg16")))
    file[entry[0].get<std::string>()] = Tensor::zeros(entry[1].get<Shape>());
  try {
    load_state_dict(vgg.encoder(), file, "vgg16.safetensors", torchvision_mapping());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("vgg16.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing from the file"), std::string::npos) << msg;
    EXPECT_NE(msg.find("features.1.running_mean"), std::string::npos) << msg;
  }
}

// model.encoder_init: torchvision draws each convolution weight with standard deviation sqrt(2 / fan_out) and zeroes
// its bias; batch norm stays at 1 / 0. Sample statistics over the larger tensors, so the check fails for the
// layers' default (a depthwise 3 x 3 on 960 channels has 0.19 there against 0.015).
TEST(EncoderUNet, TorchvisionInitialisation) {
  const auto check = [](const Module& m, const char* what) {
    int64_t checked = 0;
    for (const auto& [name, t] : m.named_parameters()) {
      const std::vector<float> v = t.to_vector<float>();
      double sum = 0, sq = 0;
      for (float x : v) sum += x, sq += double(x) * x;
      const double n = double(v.size()), mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
      if (t.dim() == 4) {
        if (v.size() < 2000) continue;
        const double want = std::sqrt(2.0 / double(t.size(0) * t.size(2) * t.size(3)));
        EXPECT_NEAR(sd / want, 1.0, 0.08) << what << " " << name;
        EXPECT_LT(std::abs(mean), 4 * want / std::sqrt(n)) << what << " " << name;
        ++checked;
      } else if (name.find("running") == std::string::npos) {
        const bool bn_weight = name.ends_with("weight");
        for (float x : v) ASSERT_EQ(x, bn_weight ? 1.f : 0.f) << what << " " << name;  // conv biases zeroed too
      }
    }
    EXPECT_GT(checked, 10) << what;
  };
  manual_seed(5);
  MobileNetV2Encoder mnet(1, 1.0);
  init_torchvision(mnet);
  check(mnet, "mobilenet_v2");
  Vgg16Encoder vgg(3, false);  // convolutions with biases
  init_torchvision(vgg);
  check(vgg, "vgg16");
  // Through the config, seeded: the same weights twice, other weights than the default.
  const auto encoder_of = [](const std::string& init) {
    manual_seed(9);
    const Config c = Config::parse("type: unet_mobilenetv2\nin_channels: 1\nwidth: 0.5\nencoder_init: " + init + "\n");
    const ModulePtr m = build_module(c);
    return m->named_parameters().front().second.to_vector<float>();
  };
  EXPECT_EQ(encoder_of("torchvision"), encoder_of("torchvision"));
  EXPECT_NE(encoder_of("torchvision"), encoder_of("default"));
  try {
    encoder_of("kaiming");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder_init"), std::string::npos) << e.what();
  }
}

// RGB weights into a grey encoder: the first convolution summed over the colours, so the grey network on g gives
// the RGB network's stages on (g, g, g). Batch-norm statistics randomised so eval mode is not the identity.
TEST(EncoderUNet, GreyEncoderLoadsRgbWeights) {
  NoGradGuard no_grad;
  manual_seed(11);
  EncoderUNet rgb("unet_mobilenetv2", std::make_shared<MobileNetV2Encoder>(3, 0.35), EncoderUNetOptions{});
  std::map<std::string, Tensor> file;
  for (auto& [name, t] : rgb.encoder().state_dict()) {
    if (name.ends_with("running_var")) t.copy_(Tensor::rand(t.shape(), DType::f32, nullptr, 0.5, 2.0));
    if (name.ends_with("running_mean")) t.copy_(Tensor::randn(t.shape()) * 0.1);
    file[name] = t;
  }
  const std::string path = (std::filesystem::temp_directory_path() / "strata_rgb_encoder.safetensors").string();
  save_safetensors(path, file);
  EncoderUNet grey("unet_mobilenetv2", std::make_shared<MobileNetV2Encoder>(1, 0.35), EncoderUNetOptions{});
  load_torchvision_encoder(grey, path);
  rgb.eval();
  grey.eval();
  const Tensor g = Tensor::randn({2, 1, 48, 40});
  const std::vector<Tensor> want = rgb.encoder().stages(cat({g, g, g}, 1));
  const std::vector<Tensor> got = grey.encoder().stages(g);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const std::vector<float> w = want[i].to_vector<float>(), o = got[i].to_vector<float>();
    ASSERT_EQ(w.size(), o.size());
    double worst = 0, scale = 0;
    for (size_t j = 0; j < w.size(); ++j) worst = std::max(worst, double(std::abs(w[j] - o[j]))), scale = std::max(scale, double(std::abs(w[j])));
    EXPECT_LT(worst, 1e-4 * std::max(scale, 1.0)) << "stage " << i;
    EXPECT_GT(scale, 0.1) << "stage " << i;
  }
  // A 2-channel encoder has no such reading of RGB weights: the shape error stays.
  EncoderUNet two("unet_mobilenetv2", std::make_shared<MobileNetV2Encoder>(2, 0.35), EncoderUNetOptions{});
  EXPECT_THROW(load_torchvision_encoder(two, path), Error);
  std::filesystem::remove(path);
}

TEST(Autoencoders, ShapesAndVariationalOutputs) {
  for (bool conv : {false, true})
    for (bool variational : {false, true}) {
      AutoencoderOptions o;
      o.conv = conv;
      o.variational = variational;
      o.input_shape = {1, 16, 16};
      o.widths = conv ? std::vector<int64_t>{8, 16} : std::vector<int64_t>{64, 32};
      o.latent = 6;
      Autoencoder ae(o);
      const Tensor x = Tensor::rand({3, 1, 16, 16});
      const auto out = ae.run(x);
      EXPECT_EQ(out.reconstruction.shape(), x.shape()) << ae.type();
      EXPECT_EQ(out.mean.shape(), (Shape{3, 6})) << ae.type();
      EXPECT_EQ(out.logvar.defined(), variational) << ae.type();
      const auto r = out.reconstruction.to_vector<float>();
      for (float v : r) ASSERT_TRUE(v > 0 && v < 1) << ae.type();  // sigmoid output
      Tensor loss = mse_loss(out.reconstruction, x);
      if (variational) loss = loss + gaussian_kl(out.mean, out.logvar);
      loss.backward();
      for (const auto& [n, p] : ae.named_parameters()) EXPECT_TRUE(p.grad().defined()) << ae.type() << " " << n;
    }
}

TEST(Autoencoders, ConvWithoutDenseBottleneckHasALatentMap) {
  for (bool variational : {false, true}) {
    AutoencoderOptions o;
    o.conv = true;
    o.variational = variational;
    o.bottleneck = "none";
    o.input_shape = {1, 28, 28};
    o.widths = {8, 16};
    o.latent = 4;
    Autoencoder ae(o);
    for (const auto& [n, p] : ae.named_parameters()) EXPECT_NE(p.dim(), 2) << n << ": no dense layer expected";
    const Tensor x = Tensor::rand({2, 1, 28, 28});
    const auto out = ae.run(x);
    EXPECT_EQ(out.reconstruction.shape(), x.shape());
    EXPECT_EQ(out.mean.shape(), (Shape{2, 4, 7, 7}));
    EXPECT_EQ(out.logvar.defined(), variational);
  }
  AutoencoderOptions dense_only;
  dense_only.bottleneck = "none";  // a dense autoencoder has no latent map
  EXPECT_THROW(Autoencoder{dense_only}, Error);
}

TEST(Discriminator, FullyConvolutionalAtInputSize) {
  Discriminator d1(1, 5), d2(2, 3, 16);
  NoGradGuard no_grad;
  EXPECT_EQ(d1(softmax(Tensor::randn({2, 5, 100}), 1)).shape(), (Shape{2, 1, 100}));
  EXPECT_EQ(d2(Tensor::rand({1, 3, 64, 48})).shape(), (Shape{1, 1, 64, 48}));
  const auto sd = d1.state_dict();
  EXPECT_EQ(sd.at("conv.0.weight").shape(), (Shape{64, 5, 4}));
  EXPECT_EQ(sd.at("conv.4.weight").shape(), (Shape{1, 512, 4}));
  EXPECT_THROW(d1(Tensor::rand({1, 5, 16})), Error);  // too short for five stride-2 convs
}
