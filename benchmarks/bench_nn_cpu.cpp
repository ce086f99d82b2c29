// CPU timings of the neural-network ops on the task models' shapes, for
// benchmarks/cpu_vs_torch.sh (which runs the identical PyTorch ops beside it).
// Each case times forward + backward (input, weight and bias gradients):
// median of --repeats runs after 2 warm-up runs. One JSON object per line.
//   build/bin/bench_nn_cpu [--repeats N] [--filter substring]
// With STRATA_PROFILE=1 the time of each kernel pass (all runs, warm-ups included) goes to stderr at the end.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "benchmarks/median.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/profile.h"
#include "engine/random.h"

using namespace strata;

namespace {

Tensor param(const Shape& s, uint64_t seed) {
  Generator g(seed);
  Tensor t = Tensor::randn(s, DType::f32, &g, 0, 0.1);
  t.requires_grad_();
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
  }
  struct Case {
    std::string name;
    int dims;
    int64_t n, c, size, k = 3;
  };
  std::vector<Case> cases;
  for (const auto& [c, s] : std::vector<std::pair<int64_t, int64_t>>{{16, 256}, {32, 128}, {64, 64}, {128, 32}, {256, 16}})
    cases.push_back({"conv2d_n4_c" + std::to_string(c) + "_" + std::to_string(s), 2, 4, c, s});
  for (const auto& [c, s] : std::vector<std::pair<int64_t, int64_t>>{{16, 1024}, {32, 512}, {64, 256}, {128, 128}, {256, 64}})
    cases.push_back({"conv1d_n16_c" + std::to_string(c) + "_" + std::to_string(s), 1, 16, c, s});
  // kernel 5: the well-log U-Net's convolutions (configs/welllog_seg2016.yaml)
  for (const auto& [c, s] : std::vector<std::pair<int64_t, int64_t>>{{16, 1024}, {64, 256}})
    cases.push_back({"conv1d_k5_n16_c" + std::to_string(c) + "_" + std::to_string(s), 1, 16, c, s, 5});

  for (const Case& k : cases) {
    if (!filter.empty() && k.name.find(filter) == std::string::npos) continue;
    Generator g(1);
    const Shape xs = k.dims == 2 ? Shape{k.n, k.c, k.size, k.size} : Shape{k.n, k.c, k.size};
    const Shape ws = k.dims == 2 ? Shape{k.c, k.c, k.k, k.k} : Shape{k.c, k.c, k.k};
    Tensor x = Tensor::randn(xs, DType::f32, &g);
    x.requires_grad_();
    Tensor w = param(ws, 2), b = param({k.c}, 3);
    const Tensor gy = Tensor::randn(xs, DType::f32, &g);
    const double ms = median_ms(
        [&] {
          x.zero_grad(), w.zero_grad(), b.zero_grad();
          const int64_t pad = k.k / 2;
          const Tensor y = k.dims == 2 ? conv2d(x, w, b, {{1, 1}, {pad, pad}}) : conv1d(x, w, b, {1, pad});
          y.backward(gy);
        },
        repeats);
    const double spatial = k.dims == 2 ? double(k.size) * k.size : double(k.size);
    const double flop = 3.0 * 2.0 * double(k.n) * k.c * k.c * (k.dims == 2 ? k.k * k.k : k.k) * spatial;
    std::printf("{\"name\": \"%s\", \"strata_ms\": %.3f, \"strata_gflops\": %.1f, \"threads\": %d}\n", k.name.c_str(),
                ms, flop / ms / 1e6, num_threads());
    std::fflush(stdout);
  }
  // The 2-D U-Net's upsamplers: transposed convolution, kernel 2, stride 2, c -> c / 2 channels
  // (configs/faults_synthetic.yaml's decoder, batch 16 of 128 x 128 sections: input sizes 8 to 64).
  for (const auto& [c, s] : std::vector<std::pair<int64_t, int64_t>>{{256, 8}, {128, 16}, {64, 32}, {32, 64}}) {
    const std::string name = "convt2d_k2s2_n16_c" + std::to_string(c) + "_" + std::to_string(s);
    if (!filter.empty() && name.find(filter) == std::string::npos) continue;
    Generator g(1);
    Tensor x = Tensor::randn({16, c, s, s}, DType::f32, &g);
    x.requires_grad_();
    Tensor w = param({c, c / 2, 2, 2}, 2), b = param({c / 2}, 3);
    const Tensor gy = Tensor::randn({16, c / 2, 2 * s, 2 * s}, DType::f32, &g);
    const double ms = median_ms(
        [&] {
          x.zero_grad(), w.zero_grad(), b.zero_grad();
          conv_transpose2d(x, w, b, {{2, 2}}).backward(gy);
        },
        repeats);
    const double flop = 3.0 * 2.0 * 16.0 * double(c) * double(c / 2) * 4.0 * double(s) * double(s);
    std::printf("{\"name\": \"%s\", \"strata_ms\": %.3f, \"strata_gflops\": %.1f, \"threads\": %d}\n", name.c_str(),
                ms, flop / ms / 1e6, num_threads());
    std::fflush(stdout);
  }
  if (profile::enabled()) std::fprintf(stderr, "%s", profile::report().c_str());
  return 0;
}
