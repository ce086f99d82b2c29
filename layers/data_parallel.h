// Gradient averaging for data-parallel training (docs/distributed.md).
//
// Every rank runs the same model on its own part of the global batch; after
// backward the gradients are averaged over the ranks, so every rank takes the
// same optimizer step and the replicas stay identical. Optimizer::step() and
// clip_grad_norm() call allreduce_gradients() themselves, so a training loop
// written for one process needs no change. In a group of one it does nothing.
//
// The gradients go in buckets of about `bucket_bytes` (25 MB, DDP's default),
// in reverse parameter order (the order backward produces them), each one
// flattened into one buffer and summed with dist::allreduce_sum (rank order,
// deterministic), then divided by the world size. When the ranks hold unequal
// shares of the step's samples (the short last batch of an epoch), each
// rank's gradient is first scaled by its share x world size, so the result is
// the gradient of the mean loss over the global batch. A parameter that has a
// gradient on some ranks only gets zeros on the others.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace strata {

class Module;

// Averages the gradients of `params` over the ranks, once per step: parameters
// already averaged since the last optimizer step are skipped.
void allreduce_gradients(const std::vector<Tensor>& params, int64_t bucket_bytes = 25 << 20);

// Forgets which gradients were averaged (Optimizer::step and zero_grad call it).
void gradients_consumed(const std::vector<Tensor>& params);

// This rank's `local` of the step's `global` samples (the loaders report it
// with each batch; default: equal shares).
void set_step_samples(int64_t local, int64_t global);

// While one lives, gradients are not averaged (allreduce_gradients does
// nothing): DDP's no_sync(), for micro-batches whose gradients accumulate
// before the one that is averaged, or for computing on one rank alone.
class NoGradientSync {
 public:
  NoGradientSync();
  ~NoGradientSync();
  NoGradientSync(const NoGradientSync&) = delete;
  NoGradientSync& operator=(const NoGradientSync&) = delete;

 private:
  bool previous_;
};

// ---- batch norm over the global batch (model.sync_batchnorm: true) ------------

// Differentiable sum of x over the ranks (its backward sums the gradients over
// the ranks); x itself on one process.
Tensor allreduce_sum(const Tensor& x);

// Training-mode batch norm with the statistics of the global batch: each
// rank's per-channel sum, sum of squares and count are summed over the ranks
// (one allreduce of 2C + 1 values per layer forward, one in its backward);
// the running statistics are updated from the global ones (unbiased
// variance), identically on every rank. Equal to batch_norm on the
// concatenated global batch up to float rounding (SyncBatchNorm).
Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double momentum, double eps);

// Marks every BatchNorm of `model` to use sync_batch_norm in training when
// running on several ranks (PyTorch's convert_sync_batchnorm); returns how
// many. build_module() calls it for `sync_batchnorm: true` in a model config.
int64_t convert_sync_batchnorm(Module& model);

// Seconds spent averaging gradients since start (benchmarks, the trainer's log).
double gradient_sync_seconds();

}  // namespace strata
