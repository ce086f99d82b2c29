#include "kernels/cpu/random.h"
#include "kernels/cpu/thread_pool.h"

#include "kernels/philox.h"

namespace strata::cpu {

template <class T>
void random_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  const int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, n > 65536, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) philox::uniform_block(y, n, b, seed, offset, lo, hi);
  });
}

template <class T>
void random_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  const int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, n > 65536, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) philox::normal_block(y, n, b, seed, offset, mean, std);
  });
}

template void random_uniform<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template void random_uniform<double>(double*, int64_t, uint64_t, uint64_t, double, double);
template void random_normal<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template void random_normal<double>(double*, int64_t, uint64_t, uint64_t, double, double);

}  // namespace strata::cpu
