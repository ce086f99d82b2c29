// Batches made ahead of the training step by worker threads.
//
// The app gives two functions: order(epoch), the dataset indices of one epoch
// in the order they are used (shuffled or not), and make(index, rng), one
// decoded and augmented sample. Sample p of epoch e is made with
// sample_rng(seed, e, p), so batches are identical for any worker count and a
// resumed run draws exactly what the uninterrupted one drew.
//
// batch(e, b) returns batch b of epoch e. In data-parallel training (under
// mpirun) it returns this rank's part of global batch b (dist::shard: each
// rank a disjoint, contiguous piece of batch_size samples; sample p is still
// made with sample_rng(seed, e, p), so N ranks see exactly the samples one
// process sees with batch_size x N), and reports the rank's share to the
// gradient averaging (set_step_samples). Workers run ahead of the consumer by
// up to `prefetch` batches; asking for a batch other than the next one (a
// resume, a new epoch) restarts them there. wait_seconds() is the time batch()
// spent blocked on workers, for the trainer's "data wait" share.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "apps/common/transforms.h"
#include "engine/distributed.h"

namespace strata {

// The sample indices of one epoch: `count` indices from seeded permutations of
// 0..n-1 laid end to end (count > n repeats the set, each pass reshuffled),
// drawn from sample_rng(seed, epoch, ~0).
std::vector<int64_t> shuffled_epoch(uint64_t seed, int64_t epoch, int64_t n, int64_t count);

class Loader {
 public:
  using OrderFn = std::function<std::vector<int64_t>(int64_t epoch)>;
  using MakeFn = std::function<Sample(int64_t index, std::mt19937_64& rng)>;

  // workers 0: samples are made in batch() on the calling thread.
  Loader(OrderFn order, MakeFn make, int64_t batch_size, uint64_t seed, int64_t workers = 2, int64_t prefetch = 2);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Global steps per epoch (dist::global_steps; ceil(epoch_size / batch_size) on one process).
  int64_t batches_per_epoch(int64_t epoch_size) const { return dist::global_steps(epoch_size, batch_); }
  std::vector<Sample> batch(int64_t epoch, int64_t b);
  // The same, and the seconds this call waited for the workers (StepResult::data_wait).
  std::vector<Sample> batch(int64_t epoch, int64_t b, double* waited) {
    const double before = wait_seconds_;
    std::vector<Sample> out = batch(epoch, b);
    *waited = wait_seconds_ - before;
    return out;
  }
  double wait_seconds() const { return wait_seconds_; }

 private:
  void restart(int64_t epoch, int64_t first_batch);
  void stop_workers();
  void work();

  OrderFn order_;
  MakeFn make_;
  int64_t batch_;
  uint64_t seed_;
  int64_t workers_, prefetch_;

  std::mutex mu_;
  std::condition_variable ready_, wanted_;
  std::vector<std::thread> threads_;
  std::vector<int64_t> epoch_order_;
  std::vector<int64_t> positions_;  // this rank's positions in the epoch, batch after batch
  std::vector<int64_t> starts_;     // batch b is positions_[starts_[b] .. starts_[b + 1])
  std::vector<std::pair<int64_t, int64_t>> shares_;  // (this rank's, the global batch's) samples of batch b
  std::map<int64_t, Sample> done_;  // index into positions_ -> sample
  int64_t epoch_ = -1, next_position_ = 0, consumed_ = 0, expected_batch_ = -1;
  bool stopping_ = false;
  std::exception_ptr error_;
  double wait_seconds_ = 0;
};

}  // namespace strata
