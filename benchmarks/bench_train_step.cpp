// One full training step (forward, backward, Adam update) of the reference
// U-Nets on the CPU, for benchmarks/cpu_vs_torch.sh:
//   unet2d: batch (4, 1, 256, 256), 1 output channel, BCE with logits
//   unet1d: batch (16, 1, 1024), 5 classes, cross-entropy
//   unet_mobilenetv2: batch (8, 3, 224, 224), 1 output channel, BCE with logits
//     (the segment_membrane model shape on RGB input)
//   unet_vgg16: batch (4, 3, 224, 224), 1 output channel, BCE with logits
//   faults: the configs/faults_synthetic.yaml U-Net (unet2d, base 16, depth 4)
//     on batch (16, 1, 128, 128), BCE with logits and pos_weight 60 (the
//     class balance of 1-sample fault traces)
//   faults_predict: that U-Net forward only, eval mode, no gradients, on one
//     256 x 512 section (fault probability prediction)
//   faults_volume: the configs/faults_volume.yaml 3-D U-Net (unet3d, base 8,
//     depth 3) on batch (2, 1, 64, 64, 64), BCE with logits and pos_weight 60
// Usage: bench_train_step MODEL [repeats (default 5)] [cpu|cuda] [graph]
// Prints one JSON object: name, strata_ms (median step after 2 warm-ups),
// strata_peak_mb (peak resident set of this process), threads, device,
// strata_min_ms / strata_max_ms (the spread of the timed steps), and the
// first and last steps' losses. On `cuda` (a CUDA build on a GPU) the model, batch
// and target live on the device, each timed step ends with a device
// synchronisation, and device_peak_mb is the device allocator's peak. `graph`
// (cuda only) captures the step as a CUDA graph after one eager step
// (layers/graphed_step.h; prediction: engine/cuda_graph.h) and times its
// replays; graph_pool_mb is the memory the graph holds. With
// STRATA_PROFILE=1 it also prints, on stderr, where the timed steps' time went
// (engine/profile.h: each leaf module's forward, each backward op; on a GPU each
// waits for the device, so the profiled step is slower than the plain one).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/profile.h"
#include "engine/random.h"
#include "layers/graphed_step.h"
#include "layers/optimizer.h"
#include "layers/registry.h"
#include "models/unet.h"
#if defined(STRATA_WITH_CUDA)
#include "engine/cuda_device.h"
#include "engine/cuda_graph.h"
#endif

using namespace strata;

// configs/segment_camvid_scratch.yaml's model.base.
constexpr int64_t kCamvidBase = 16;

int main(int argc, char** argv) {
  const std::string model = argc > 1 ? argv[1] : "";
  const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  const std::string device_name = argc > 3 ? argv[3] : "cpu";
  if (device_name != "cpu" && device_name != "cuda") {
    std::fprintf(stderr, "bench_train_step: device '%s': expected cpu or cuda\n", device_name.c_str());
    return 2;
  }
  const bool graphed = argc > 4 && std::string(argv[4]) == "graph";
  if (argc > 4 && !graphed) {
    std::fprintf(stderr, "bench_train_step: unknown fourth argument '%s': expected graph\n", argv[4]);
    return 2;
  }
  if (graphed && device_name != "cuda") {
    std::fprintf(stderr, "bench_train_step: graph needs the cuda device\n");
    return 2;
  }
  const Device device = device_name == "cuda" ? Device::cuda(0) : Device::cpu();
#if defined(STRATA_WITH_CUDA)
  if (device.is_cuda() && cuda::device_count() == 0) {
    std::fprintf(stderr, "bench_train_step: no CUDA device\n");
    return 2;
  }
  const auto sync = [&] {
    if (device.is_cuda()) STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  };
#else
  if (device.is_cuda()) {
    std::fprintf(stderr, "bench_train_step: this build has no CUDA backend\n");
    return 2;
  }
  const auto sync = [] {};
#endif
  const bool encoder = model == "unet_mobilenetv2" || model == "unet_vgg16";
  const bool volume = model == "faults_volume";
  const bool faults = model == "faults" || model == "faults_predict" || volume;
  // CamVid: the models of configs/segment_camvid_{scratch,vgg16}.yaml (U-Net base 16; VGG16-BN) and
  // configs/segment_camvid.yaml (MobileNetV2 encoder, input skip), 11 classes, their training crops (batch 8 x 3 x
  // 160 x 224) and full-resolution prediction (one 360 x 480 image, padded).
  const bool camvid = model.rfind("camvid_", 0) == 0;
  const bool predict = model == "faults_predict" || (camvid && model.find("_predict") != std::string::npos);
  const bool camvid_vgg = model.rfind("camvid_vgg16", 0) == 0;
  const bool camvid_mnv2 = model.rfind("camvid_mobilenetv2", 0) == 0;  // configs/segment_camvid.yaml
  const std::set<std::string> camvid_models{"camvid_scratch", "camvid_scratch_predict", "camvid_vgg16",
                                            "camvid_vgg16_predict", "camvid_mobilenetv2", "camvid_mobilenetv2_predict"};
  if (model != "unet2d" && model != "unet1d" && !encoder && !faults && !camvid_models.count(model)) {
    std::fprintf(stderr,
                 "usage: bench_train_step unet2d|unet1d|unet_mobilenetv2|unet_vgg16|faults|faults_predict|faults_volume|"
                 "camvid_{scratch,vgg16,mobilenetv2}[_predict] [repeats]\n");
    return 2;
  }
  const bool two_d = model != "unet1d";
  manual_seed(0);
  ModulePtr net = encoder      ? build_module(Config::parse("type: " + model + "\nclasses: 1\n"))
                  : camvid_vgg ? build_module(Config::parse("type: unet_vgg16\nbatchnorm: true\nclasses: 11\n"))
                  : camvid_mnv2 ? build_module(Config::parse("type: unet_mobilenetv2\ninput_skip: true\nclasses: 11\n"))
                  : camvid     ? ModulePtr(std::make_shared<UNet>(UNetOptions{2, 3, 11, kCamvidBase, 4}))
                  : volume     ? ModulePtr(std::make_shared<UNet>(UNetOptions{3, 1, 1, 8, 3}))
                               : ModulePtr(std::make_shared<UNet>(two_d ? UNetOptions{2, 1, 1, 16, 4}
                                                                        : UNetOptions{1, 1, 5, 16, 4}));
  net->to(device);
  Adam adam;
  adam.add_group({"default", net->named_parameters(), 1e-3, 0});
  Generator gen(1);
  // Full resolution 360 x 480 padded to the network's multiple: 16 (U-Net depth 4, VGG16's 4 skips), 32 (MobileNetV2).
  const Shape shape = camvid && predict            ? Shape{1, 3, camvid_mnv2 ? 384 : 368, 480}
                      : camvid                    ? Shape{8, 3, 160, 224}
                      : model == "faults"           ? Shape{16, 1, 128, 128}
                      : volume                    ? Shape{2, 1, 64, 64, 64}
                      : model == "faults_predict" ? Shape{1, 1, 256, 512}
                      : model == "unet_mobilenetv2" ? Shape{8, 3, 224, 224}
                      : model == "unet_vgg16"     ? Shape{4, 3, 224, 224}
                      : two_d                     ? Shape{4, 1, 256, 256}
                                                  : Shape{16, 1, 1024};
  const Tensor x = Tensor::randn(shape, DType::f32, &gen).to(device);
  Shape out_shape = shape;
  out_shape[1] = 1;
  const Tensor target = (camvid  ? argmax(Tensor::randn({shape[0], 11, shape[2], shape[3]}, DType::f32, &gen), 1)
                        : two_d ? to_dtype(gt(Tensor::rand(out_shape, DType::f32, &gen), 0.5), DType::f32)
                                : argmax(Tensor::randn({16, 5, 1024}, DType::f32, &gen), 1)).to(device);
  double first_loss = 0;
  std::vector<double> ms;
  AllocatorStats alloc_before;
  const Tensor pos_weight = Tensor::full({1}, 60.0).to(device);
  if (predict) net->eval();
  // The step's outputs live outside it, so that a graph's replays write them where the capture put them.
  Tensor loss, probabilities;
  const std::function<void()> step = [&] {
    if (predict) {
      NoGradGuard no_grad;
      const Tensor logits = (*net)(x);
      probabilities = (camvid ? softmax(logits, 1) : sigmoid(logits)).contiguous();
      return;
    }
    adam.zero_grad();
    const Tensor logits = (*net)(x);
    loss = faults   ? bce_with_logits(logits, target, Tensor(), pos_weight)
           : camvid ? cross_entropy(logits, target)
           : two_d  ? bce_with_logits(logits, target)
                    : cross_entropy(logits, target);
    loss.backward();
    adam.step();
  };
#if defined(STRATA_WITH_CUDA)
  std::unique_ptr<GraphedStep> graphed_step;
  if (graphed && !predict) graphed_step = std::make_unique<GraphedStep>(adam, step);
  std::unique_ptr<cuda::Graph> predict_graph;
  const auto run_step = [&](int i) {
    if (!graphed) return step();
    if (graphed_step) return (*graphed_step)();
    if (i == 0) return step();  // the convolutions choose their algorithms
    if (!predict_graph) predict_graph = std::make_unique<cuda::Graph>(step);
    predict_graph->replay();
  };
#else
  const auto run_step = [&](int) { step(); };
#endif
  for (int i = 0; i < repeats + 2; ++i) {
    if (i == 2) {  // the profile covers the timed steps, not the warm-ups
      profile::reset();
      alloc_before = cpu_allocator().stats();
    }
    const auto t0 = std::chrono::steady_clock::now();
    run_step(i);
    sync();
    const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= 2) ms.push_back(elapsed);  // the first two are warm-ups (and the graph's capture)
    if (predict && probabilities.numel() != x.numel() / x.size(1) * (camvid ? 11 : 1)) return 1;
    if (!predict && i == 0) first_loss = loss.item<float>();
  }
  const double last_loss = predict ? 0.0 : loss.item<float>();
  if (profile::enabled()) {
    double total = 0;
    for (double v : ms) total += v / 1000;
    std::fprintf(stderr, "%s", profile::report(total).c_str());
    const AllocatorStats a = cpu_allocator().stats();
    std::fprintf(stderr, "host allocator per step: %.1f cache hits, %.1f misses; %.1f MB reserved\n",
                 double(a.cache_hits - alloc_before.cache_hits) / double(repeats),
                 double(a.cache_misses - alloc_before.cache_misses) / double(repeats),
                 double(a.reserved_bytes) / 1048576.0);
  }
  std::sort(ms.begin(), ms.end());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  double device_peak_mb = 0;
#if defined(STRATA_WITH_CUDA)
  double graph_pool_mb = 0;
  if (device.is_cuda()) device_peak_mb = double(cuda::main_device_allocator().stats().peak_allocated_bytes) / 1048576.0;
  if (graphed)
    graph_pool_mb = double((predict ? predict_graph->pool_stats() : graphed_step->memory()).reserved_bytes) / 1048576.0;
#endif
  std::printf("{\"name\": \"%s%s\", \"strata_ms\": %.2f, \"strata_peak_mb\": %.1f, \"threads\": %d, \"device\": \"%s\"",
              predict ? "" : "train_step_", model.c_str(), ms[ms.size() / 2], double(usage.ru_maxrss) / 1024.0,
              num_threads(), device_name.c_str());
  if (device.is_cuda()) std::printf(", \"device_peak_mb\": %.1f", device_peak_mb);
  if (graphed) std::printf(", \"graph\": true, \"graph_pool_mb\": %.1f", graph_pool_mb);
  std::printf(", \"strata_min_ms\": %.2f, \"strata_max_ms\": %.2f", ms.front(), ms.back());
  if (!predict) std::printf(", \"first_loss\": %.7g, \"last_loss\": %.7g", first_loss, last_loss);
  std::printf("}\n");
  return 0;
}
