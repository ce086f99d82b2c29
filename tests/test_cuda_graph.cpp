// Training steps captured as CUDA graphs (layers/graphed_step.h): replays give
// the eager steps' weights, losses and batch-norm statistics with each step's
// own learning rate and bias corrections; what a capture cannot hold (a read on
// the host, random numbers, an optimizer without state) fails with a message
// and leaves the engine as it was. Runs on the emulator everywhere and on the
// GPU in the nvcc build.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/cuda_device.h"
#include "engine/cuda_graph.h"
#include "engine/cudnn_conv.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/graphed_step.h"
#include "layers/optimizer.h"
#include "layers/registry.h"
#include "models/unet.h"
#include "tests/require_device.h"

using namespace strata;

namespace {

const auto* const kRequireDevice = ::testing::AddGlobalTestEnvironment(new test::RequireCudaDevice("CUDA graph"));

const Device kCuda = Device::cuda(0);
constexpr int kSteps = 5;

struct TrainRun {
  std::map<std::string, Tensor> weights;  // parameters and batch-norm statistics, on the host
  std::vector<float> losses;
  int64_t optimizer_steps = 0;
};

// A model trained kSteps steps on fixed batches, eagerly or through a GraphedStep: a 2-D U-Net with batch norm,
// with a binary loss or (classes > 1) cross-entropy on class labels; `mobilenet`: configs/segment_camvid.yaml's
// MobileNetV2 U-Net instead.
TrainRun train(const std::string& optimizer_yaml, bool graphed, int64_t classes = 1, bool mobilenet = false) {
  // A timed algorithm choice may split a sum differently from one call to the next (and Adam's normalised step
  // turns that rounding into lr-sized differences).
  cuda::set_deterministic(true);
  manual_seed(3);
  const ModulePtr net =
      mobilenet ? build_module(Config::parse("type: unet_mobilenetv2\ninput_skip: true\nclasses: " +
                                             std::to_string(classes) + "\n"))
                : ModulePtr(std::make_shared<UNet>(UNetOptions{2, 1, classes, 4, 2}));
  net->to(kCuda);
  const Config cfg = Config::parse(optimizer_yaml, "test");
  auto opt = make_optimizer(cfg, net->named_parameters(), kSteps);
  const Shape shape = mobilenet ? Shape{2, 3, 32, 32} : Shape{2, 1, 16, 16};
  const Shape label_shape{shape[0], 1, shape[2], shape[3]};
  Generator data(17);
  std::vector<Tensor> xs, ys;
  for (int i = 0; i < kSteps; ++i) {
    xs.push_back(Tensor::randn(shape, DType::f32, &data));
    ys.push_back(classes == 1 ? to_dtype(gt(Tensor::rand(label_shape, DType::f32, &data), 0.5), DType::f32)
                              : argmax(Tensor::randn({shape[0], classes, shape[2], shape[3]}, DType::f32, &data), 1));
  }
  // The step's tensors keep their storage: each batch is copied into them.
  Tensor x = Tensor::zeros(shape, DType::f32, kCuda), y = Tensor::zeros(ys[0].shape(), ys[0].dtype(), kCuda);
  Tensor loss;
  const std::function<void()> body = [&] {
    opt->zero_grad();
    const Tensor logits = (*net)(x);
    loss = classes == 1 ? bce_with_logits(logits, y) : cross_entropy(logits, y);
    loss.backward();
    opt->step();
  };
  GraphedStep step(*opt, body);
  TrainRun run;
  for (int i = 0; i < kSteps; ++i) {
    {
      NoGradGuard no_grad;
      x.copy_(xs[size_t(i)]);
      y.copy_(ys[size_t(i)]);
    }
    if (graphed) step();
    else body();
    run.losses.push_back(loss.item<float>());
  }
  EXPECT_EQ(step.captured(), graphed);
  body();  // training goes on eagerly after the replays (a batch of another shape, say): with its own step's rate
  run.losses.push_back(loss.item<float>());
  for (const auto& [name, t] : net->state_dict()) run.weights.emplace(name, t.to(Device::cpu()));
  run.optimizer_steps = opt->steps();
  return run;
}

// Eager and replayed steps run the same kernels on the same data in the same order: the results are the same
// bits (on a GPU with deterministic convolution algorithms, which every run of this suite uses).
void expect_same(const TrainRun& eager, const TrainRun& graphed) {
  const double tolerance = 0;
  ASSERT_EQ(graphed.losses.size(), eager.losses.size());
  for (size_t i = 0; i < eager.losses.size(); ++i)
    EXPECT_NEAR(graphed.losses[i], eager.losses[i], tolerance * std::max(1.0f, std::abs(eager.losses[i])))
        << "step " << i;
  EXPECT_EQ(graphed.optimizer_steps, eager.optimizer_steps);
  ASSERT_EQ(graphed.weights.size(), eager.weights.size());
  for (const auto& [name, t] : eager.weights) {
    const Tensor& g = graphed.weights.at(name);
    if (t.dtype() != DType::f32) continue;  // counters
    const auto a = t.to_vector<float>(), b = g.to_vector<float>();
    ASSERT_EQ(a.size(), b.size()) << name;
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(b[i], a[i], tolerance * std::max(1.0f, std::abs(a[i]))) << name << " element " << i;
  }
}

}  // namespace

class GraphedSteps : public ::testing::TestWithParam<const char*> {};

TEST_P(GraphedSteps, ReplaysMatchEagerSteps) {
  const TrainRun eager = train(GetParam(), false);
  const TrainRun graphed = train(GetParam(), true);
  // The steps change the model: a replay that did nothing would leave the loss where it was.
  EXPECT_NE(eager.losses.front(), eager.losses.back());
  expect_same(eager, graphed);
}

// Adam's bias corrections and a schedule's rate change every step; SGD's momentum and AdamW's decay read the
// rate on the device too.
INSTANTIATE_TEST_SUITE_P(Optimizers, GraphedSteps,
                         ::testing::Values("type: adam\nlr: 0.01\n",
                                           "type: adam\nlr: 0.01\nschedule: {type: poly, power: 0.9}\n",
                                           "type: adamw\nlr: 0.01\nweight_decay: 0.1\n",
                                           "type: sgd\nlr: 0.1\nmomentum: 0.9\n"));

// Cross-entropy on class labels, whose range check reads the labels on the host in the eager step only.
TEST(CudaGraph, TrainsWithClassLabels) {
  const TrainRun eager = train("type: adam\nlr: 0.01\n", false, 3);
  const TrainRun graphed = train("type: adam\nlr: 0.01\n", true, 3);
  EXPECT_NE(eager.losses.front(), eager.losses.back());
  expect_same(eager, graphed);
}

// Depthwise and pointwise convolutions, ReLU6 and an input skip: on a GPU only (the emulator takes minutes).
TEST(CudaGraph, TrainsTheCamVidMobileNetV2UNet) {
#if defined(STRATA_CUDA_EMU)
  GTEST_SKIP() << "SKIPPED: the MobileNetV2 U-Net runs in the GPU build's suite (ten steps take minutes here)";
#endif
  const TrainRun eager = train("type: adam\nlr: 0.001\n", false, 11, true);
  const TrainRun graphed = train("type: adam\nlr: 0.001\n", true, 11, true);
  EXPECT_NE(eager.losses.front(), eager.losses.back());
  expect_same(eager, graphed);
}

TEST(CudaGraph, ReplaysRecordedKernelsOnTheirTensors) {
  Tensor a = Tensor::full({1000}, 1.0, DType::f32, kCuda);
  const Tensor b = Tensor::full({1000}, 0.5, DType::f32, kCuda);
  cuda::Graph graph([&] {
    NoGradGuard no_grad;
    a.add_(b);
  });
  // Capturing ran nothing.
  EXPECT_FLOAT_EQ(a.to(Device::cpu()).to_vector<float>()[999], 1.0f);
  for (int i = 0; i < 3; ++i) graph.replay();
  EXPECT_FLOAT_EQ(a.to(Device::cpu()).to_vector<float>()[999], 2.5f);
  EXPECT_FALSE(capturing_graph());
}

TEST(CudaGraph, AReadOnTheHostFailsTheCaptureAndLeavesTheEngineUsable) {
  const Tensor a = Tensor::full({4}, 2.0, DType::f32, kCuda);
  try {
    cuda::Graph graph([&] { (void)sum(a).item<float>(); });
    FAIL() << "a capture that reads a value on the host was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("CUDA graph capture failed"), std::string::npos) << what;
    EXPECT_NE(what.find("copy to or from the host"), std::string::npos) << what;
  }
  EXPECT_FALSE(capturing_graph());
  EXPECT_FLOAT_EQ(sum(a).item<float>(), 8.0f);  // eager work runs as before
}

TEST(CudaGraph, RandomNumbersAreRefused) {
  Generator gen(1);
  try {
    cuda::Graph graph([&] { (void)Tensor::rand({16}, DType::f32, &gen, 0, 1, kCuda); });
    FAIL() << "a capture that draws random numbers was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA graph capture failed"), std::string::npos) << e.what();
  }
  try {
    cuda::Graph graph([&] {
      Tensor t = Tensor::zeros({16}, DType::f32, kCuda);
      (void)dropout(t, 0.5, true, &gen);
    });
    FAIL() << "a capture with dropout was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("random"), std::string::npos) << e.what();
  }
}

// A step that reads its loss on the host cannot be captured: the error says why, and the optimizer's counters
// and the model are as the eager step left them, so training goes on eagerly.
TEST(CudaGraph, AFailedStepCaptureLeavesTheOptimizerAsItWas) {
  manual_seed(3);
  UNet net(UNetOptions{2, 1, 1, 4, 1});
  net.to(kCuda);
  auto opt = make_optimizer(Config::parse("type: adam\n", "test"), net.named_parameters(), 3);
  const Tensor x = Tensor::randn({2, 1, 8, 8}, DType::f32).to(kCuda);
  const Tensor y = Tensor::zeros({2, 1, 8, 8}, DType::f32, kCuda);
  const std::function<void()> body = [&] {
    opt->zero_grad();
    const Tensor loss = bce_with_logits(net(x), y);
    loss.backward();
    opt->step();
    (void)loss.item<float>();
  };
  GraphedStep step(*opt, body);
  step();  // eager
  const std::vector<float> before = net.named_parameters().front().second.to(Device::cpu()).to_vector<float>();
  EXPECT_THROW(step(), Error);
  EXPECT_FALSE(step.captured());
  EXPECT_EQ(opt->steps(), 1);
  EXPECT_EQ(net.named_parameters().front().second.to(Device::cpu()).to_vector<float>(), before);
  body();  // an eager step as the second
  EXPECT_EQ(opt->steps(), 2);
  EXPECT_EQ(opt->state().at("step." + net.named_parameters().front().first).item<int64_t>(), 2);
}

TEST(CudaGraph, AStepNeedsTheOptimizersStateFirst) {
  UNet net(UNetOptions{2, 1, 1, 4, 1});
  net.to(kCuda);
  auto opt = make_optimizer(Config::parse("type: adam\n", "test"), net.named_parameters(), 1);
  try {
    opt->prepare_graphed_step();
    FAIL() << "a graphed step without optimizer state was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run one step eagerly"), std::string::npos) << e.what();
  }
}
