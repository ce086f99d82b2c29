#include "apps/common/loader.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "engine/distributed.h"
#include "engine/error.h"
#include "layers/data_parallel.h"

namespace strata {

Loader::Loader(OrderFn order, MakeFn make, int64_t batch_size, uint64_t seed, int64_t workers, int64_t prefetch)
    : order_(std::move(order)), make_(std::move(make)), batch_(batch_size), seed_(seed), workers_(workers),
      prefetch_(std::max<int64_t>(prefetch, 1)) {
  STRATA_CHECK(batch_size > 0, "loader: batch size must be > 0, got ", batch_size);
  STRATA_CHECK(workers >= 0, "loader: workers must be >= 0, got ", workers);
}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wanted_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  stopping_ = false;
}

void Loader::restart(int64_t epoch, int64_t first_batch) {
  stop_workers();
  epoch_ = epoch;
  epoch_order_ = order_(epoch);
  // This rank's positions of every batch of the epoch, batch after batch (all of them on one process).
  const int64_t count = int64_t(epoch_order_.size());
  STRATA_CHECK(count > 0, "loader: epoch ", epoch, " has no samples");
  const int64_t steps = dist::global_steps(count, batch_);
  positions_.clear();
  starts_.assign(1, 0);
  shares_.clear();
  for (int64_t b = 0; b < steps; ++b) {
    const dist::Span span = dist::shard(b, batch_, count);
    for (int64_t p = span.begin; p < span.end; ++p) positions_.push_back(p);
    starts_.push_back(int64_t(positions_.size()));
    shares_.push_back({span.size(), span.global_size()});
  }
  STRATA_CHECK(first_batch < steps, "loader: batch ", first_batch, " is past the end of epoch ", epoch, " (", count,
               " samples, ", steps, " batches)");
  done_.clear();
  next_position_ = consumed_ = starts_[size_t(first_batch)];
  error_ = nullptr;
  for (int64_t i = 0; i < workers_; ++i) threads_.emplace_back([this] { work(); });
}

void Loader::work() {
  for (;;) {
    int64_t k, p, index, epoch;  // k: index into positions_; p: position in the epoch
    {
      std::unique_lock<std::mutex> lock(mu_);
      wanted_.wait(lock, [&] {
        return stopping_ || (next_position_ < int64_t(positions_.size()) &&
                             next_position_ < consumed_ + prefetch_ * batch_);
      });
      if (stopping_) return;
      k = next_position_++;
      p = positions_[size_t(k)];
      index = epoch_order_[size_t(p)];
      epoch = epoch_;
    }
    Sample s;
    std::exception_ptr err;
    try {
      std::mt19937_64 rng = sample_rng(seed_, uint64_t(epoch), uint64_t(p));
      s = make_(index, rng);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (err && !error_) error_ = err;
      done_[k] = std::move(s);
    }
    ready_.notify_all();
  }
}

std::vector<Sample> Loader::batch(int64_t epoch, int64_t b) {
  if (epoch != epoch_ || b != expected_batch_) restart(epoch, b);
  STRATA_CHECK(b >= 0 && b + 1 < int64_t(starts_.size()), "loader: batch ", b, " is past the end of epoch ", epoch,
               " (", epoch_order_.size(), " samples, ", starts_.size() - 1, " batches)");
  expected_batch_ = b + 1;
  set_step_samples(shares_[size_t(b)].first, shares_[size_t(b)].second);
  const int64_t first = starts_[size_t(b)], last = starts_[size_t(b) + 1];
  std::vector<Sample> out;
  if (workers_ == 0) {
    for (int64_t k = first; k < last; ++k) {
      const int64_t p = positions_[size_t(k)];
      std::mt19937_64 rng = sample_rng(seed_, uint64_t(epoch), uint64_t(p));
      out.push_back(make_(epoch_order_[size_t(p)], rng));
    }
    return out;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  for (int64_t k = first; k < last; ++k) {
    ready_.wait(lock, [&] { return done_.count(k) > 0 || error_ != nullptr; });
    if (error_) std::rethrow_exception(error_);
    out.push_back(std::move(done_[k]));
    done_.erase(k);
  }
  consumed_ = last;
  lock.unlock();
  wanted_.notify_all();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::vector<int64_t> shuffled_epoch(uint64_t seed, int64_t epoch, int64_t n, int64_t count) {
  STRATA_CHECK(n > 0, "shuffled_epoch: no samples to draw from");
  std::vector<int64_t> order;
  std::mt19937_64 rng = sample_rng(seed, uint64_t(epoch), ~uint64_t(0));
  while (int64_t(order.size()) < count) {
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), int64_t(0));
    std::shuffle(perm.begin(), perm.end(), rng);
    order.insert(order.end(), perm.begin(), perm.end());
  }
  order.resize(size_t(count));
  return order;
}

}  // namespace strata
