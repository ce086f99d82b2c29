#include "apps/common/loader.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "engine/error.h"

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

void Loader::restart(int64_t epoch, int64_t first_position) {
  stop_workers();
  epoch_ = epoch;
  epoch_order_ = order_(epoch);
  done_.clear();
  next_position_ = consumed_ = first_position;
  error_ = nullptr;
  for (int64_t i = 0; i < workers_; ++i) threads_.emplace_back([this] { work(); });
}

void Loader::work() {
  for (;;) {
    int64_t p, index, epoch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wanted_.wait(lock, [&] {
        return stopping_ || (next_position_ < int64_t(epoch_order_.size()) &&
                             next_position_ < consumed_ + prefetch_ * batch_);
      });
      if (stopping_) return;
      p = next_position_++;
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
      done_[p] = std::move(s);
    }
    ready_.notify_all();
  }
}

std::vector<Sample> Loader::batch(int64_t epoch, int64_t b) {
  const int64_t first = b * batch_;
  if (epoch != epoch_ || b != expected_batch_) restart(epoch, first);
  expected_batch_ = b + 1;
  const int64_t last = std::min<int64_t>(first + batch_, int64_t(epoch_order_.size()));
  STRATA_CHECK(first < last, "loader: batch ", b, " is past the end of epoch ", epoch, " (", epoch_order_.size(),
               " samples)");
  std::vector<Sample> out;
  if (workers_ == 0) {
    for (int64_t p = first; p < last; ++p) {
      std::mt19937_64 rng = sample_rng(seed_, uint64_t(epoch), uint64_t(p));
      out.push_back(make_(epoch_order_[size_t(p)], rng));
    }
    return out;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  for (int64_t p = first; p < last; ++p) {
    ready_.wait(lock, [&] { return done_.count(p) > 0 || error_ != nullptr; });
    if (error_) std::rethrow_exception(error_);
    out.push_back(std::move(done_[p]));
    done_.erase(p);
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
