// One training epoch of a strata-anomaly model on 6000 Fashion-MNIST-sized
// images (1 x 28 x 28, uniform noise: the time does not depend on the
// pixels), batch 64, Adam, the app's own loss, for
// benchmarks/anomaly_vs_torch.sh.
// Usage: bench_anomaly_epoch CONFIG.yaml [epochs (default 3)]
// Prints one JSON object: name, strata_ms (median epoch after 1 warm-up), threads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/anomaly/anomaly.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "layers/optimizer.h"
#include "layers/registry.h"

using namespace strata;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_anomaly_epoch CONFIG.yaml [epochs]\n");
    return 2;
  }
  const int epochs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  Config cfg = Config::load(argv[1]);
  cfg.apply_override("model.input_shape=[1, 28, 28]");
  manual_seed(0);
  auto model = std::dynamic_pointer_cast<Autoencoder>(build_module(cfg.section("model")));
  const anomaly::LossOptions loss = anomaly::LossOptions::from_config(cfg.section("loss"));
  Adam adam;
  adam.add_group({"default", model->named_parameters(), 1e-3, 0});
  const int64_t n = 6000, batch = 64;
  Generator gen(1);
  const Tensor data = Tensor::rand({n, 1, 28, 28}, DType::f32, &gen);
  model->train();
  std::vector<double> ms;
  for (int e = 0; e < epochs + 1; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < n; b += batch) {
      const Tensor x = data.slice(0, b, std::min(n, b + batch));
      adam.zero_grad();
      const Tensor l = anomaly::autoencoder_loss(model->run(x), x, loss);
      l.backward();
      adam.step();
    }
    const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (e >= 1) ms.push_back(elapsed);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("{\"name\": \"anomaly_epoch_%s\", \"strata_ms\": %.1f, \"threads\": %d}\n",
              std::filesystem::path(argv[1]).stem().string().c_str(), ms[ms.size() / 2], num_threads());
  return 0;
}
