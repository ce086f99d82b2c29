// Seeded random numbers. A Generator is a Philox key (the seed) and a counter
// offset; each fill consumes ceil(n / 4) counters, so the same seed gives the
// same numbers on every backend and for any thread count.
#pragma once

#include <cstdint>

namespace strata {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }
  // Reserves the counters for n values and returns the first one.
  uint64_t advance(int64_t n) {
    const uint64_t first = offset_;
    offset_ += uint64_t((n + 3) / 4);
    return first;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The generator used when none is passed (seed 0 until manual_seed).
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace strata
