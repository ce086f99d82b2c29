// Data-parallel cost of the U-Net 2D reference step (bench_train_step unet2d:
// U-Net base 16, depth 4, global batch 4 x 1 x 256 x 256, BCE with logits,
// Adam) for benchmarks/data_parallel.sh and docs/distributed.md. Run as one
// process or under mpirun: each of N ranks takes 4 / N images of the global
// batch, so every run does the same work per step.
// Usage: [mpirun -np N] bench_data_parallel [steps (default 6)]
// Rank 0 prints one JSON object: ranks, threads per rank, the median step
// (ms), the median gradient allreduce inside it (ms), the gradient bytes per
// step, and the allreduce alone of that many bytes (median ms, and the
// algorithm bandwidth bytes / time).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "layers/data_parallel.h"
#include "layers/optimizer.h"
#include "models/unet.h"

using namespace strata;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  const int steps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 6;
  const int n = dist::size(), me = dist::rank();
  const int64_t global = 4;
  if (global % n != 0) {
    if (me == 0) std::fprintf(stderr, "bench_data_parallel: the global batch of 4 needs 1, 2 or 4 ranks\n");
    return 2;
  }
  manual_seed(0);
  UNet net(UNetOptions{2, 1, 1, 16, 4});
  Adam adam;
  adam.add_group({"default", net.named_parameters(), 1e-3, 0});
  Generator gen(1);
  const Tensor x_all = Tensor::randn({global, 1, 256, 256}, DType::f32, &gen);
  const Tensor y_all = to_dtype(gt(Tensor::rand({global, 1, 256, 256}, DType::f32, &gen), 0.5), DType::f32);
  const int64_t per = global / n;
  const Tensor x = x_all.narrow(0, me * per, per).contiguous(), y = y_all.narrow(0, me * per, per).contiguous();
  int64_t grad_bytes = 0;
  for (const Tensor& p : net.parameters()) grad_bytes += p.numel() * 4;

  std::vector<double> step_ms, sync_ms;
  for (int i = 0; i < steps + 2; ++i) {
    dist::barrier();  // steps start together, so a step's time includes waiting for the slowest rank
    const double sync0 = gradient_sync_seconds(), t0 = now_ms();
    adam.zero_grad();
    bce_with_logits(net(x), y).backward();
    adam.step();
    dist::barrier();
    const double t1 = now_ms();
    if (i >= 2) {
      step_ms.push_back(t1 - t0);
      sync_ms.push_back(1000 * (gradient_sync_seconds() - sync0));
    }
  }
  // The allreduce alone, on a buffer the size of the gradients.
  std::vector<double> alone;
  std::vector<float> buf(size_t(grad_bytes / 4), 1.f);
  for (int i = 0; i < 7; ++i) {
    dist::barrier();
    const double t0 = now_ms();
    dist::allreduce_sum(buf.data(), int64_t(buf.size()));
    if (i >= 2) alone.push_back(now_ms() - t0);
  }
  if (me == 0) {
    const double a = median(alone);
    std::printf("{\"name\": \"data_parallel_unet2d\", \"ranks\": %d, \"threads_per_rank\": %d, \"global_batch\": %lld, "
                "\"step_ms\": %.1f, \"step_ms_min\": %.1f, \"step_ms_max\": %.1f, \"allreduce_in_step_ms\": %.1f, "
                "\"gradient_mb\": %.2f, \"allreduce_alone_ms\": %.2f, \"allreduce_gb_per_s\": %.2f}\n",
                n, num_threads(), static_cast<long long>(global), median(step_ms),
                *std::min_element(step_ms.begin(), step_ms.end()), *std::max_element(step_ms.begin(), step_ms.end()),
                median(sync_ms), double(grad_bytes) / 1e6, a, n > 1 && a > 0 ? double(grad_bytes) / (a * 1e6) : 0.0);
  }
  return 0;
}
