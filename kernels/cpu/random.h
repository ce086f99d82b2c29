// CPU random fills on the Philox stream (kernels/philox.h). `offset` is the
// first 128-bit counter used; a fill of n elements uses ceil(n / 4) counters.
//   uniform: y[i] = lo + (hi - lo) * U[0,1)       normal: y[i] = mean + std * N(0,1)
#pragma once

#include <cstdint>

namespace strata::cpu {

template <class T>
void random_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);

template <class T>
void random_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);

}  // namespace strata::cpu
