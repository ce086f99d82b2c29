// Layers and optimizers on the emulated CUDA device against the CPU: a small
// U-Net moved with Module::to trains a few steps with each optimizer (the
// fused update kernels of kernels/cuda/optimizer.cu) and ends with the CPU's
// weights.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/config.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/optimizer.h"
#include "models/unet.h"

using namespace strata;

namespace {

std::map<std::string, Tensor> train(const std::string& optimizer_yaml, Device device) {
  manual_seed(5);
  // No batch norm: a conv bias followed by batch norm has a gradient that is
  // zero up to rounding, and Adam's normalised step turns that rounding noise
  // into lr-sized differences between any two devices.
  UNet net(UNetOptions{1, 1, 3, 4, 2, 0, false});
  net.to(device);
  EXPECT_EQ(net.device(), device);
  const Config cfg = Config::parse(optimizer_yaml, "test");
  auto opt = make_optimizer(cfg, net.named_parameters(), 3);
  Generator data(11);
  for (int step = 0; step < 3; ++step) {
    const Tensor x = Tensor::randn({2, 1, 24}, DType::f32, &data).to(device);
    const Tensor y = argmax(Tensor::randn({2, 3, 24}, DType::f32, &data), 1).to(device);  // class labels
    opt->zero_grad();
    cross_entropy(net(x), y).backward();
    clip_grad_norm(net.parameters(), 5.0);
    opt->step();
  }
  return net.state_dict();
}

}  // namespace

class CudaLayers : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaLayers, TrainingMatchesCpu) {
  const auto cpu = train(GetParam(), Device::cpu());
  const auto gpu = train(GetParam(), Device::cuda(0));
  for (const auto& [name, t] : cpu) {
    ASSERT_EQ(gpu.at(name).device(), Device::cuda(0)) << name;
    const auto a = t.to_vector<float>(), b = gpu.at(name).to(Device::cpu()).to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(b[i], a[i], 2e-5 * std::max(1.0f, std::abs(a[i]))) << name << " element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, CudaLayers,
                         ::testing::Values("type: sgd\nlr: 0.1\nmomentum: 0.9\nnesterov: true\nweight_decay: 0.01\n",
                                           "type: adam\nlr: 0.01\nweight_decay: 0.01\n",
                                           "type: adamw\nlr: 0.01\nschedule: {type: cosine}\n"));
