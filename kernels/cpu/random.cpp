#include "kernels/cpu/random.h"

#include <type_traits>

#include "kernels/philox.h"

namespace strata::cpu {

template <class T>
void random_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t b = 0; b < blocks; ++b) {
    const philox::Block r = philox::generate(offset + uint64_t(b), seed);
    for (int j = 0; j < 4 && b * 4 + j < n; ++j) {
      double u;
      if constexpr (std::is_same_v<T, float>) u = philox::to_uniform_f32(r.v[j]);
      else u = philox::to_uniform_f64(r.v[j]);
      y[b * 4 + j] = T(lo + (hi - lo) * u);
    }
  }
}

template <class T>
void random_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  const int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t b = 0; b < blocks; ++b) {
    const philox::Block r = philox::generate(offset + uint64_t(b), seed);
    double z[4];
    philox::box_muller(r.v[0], r.v[1], z[0], z[1]);
    philox::box_muller(r.v[2], r.v[3], z[2], z[3]);
    for (int j = 0; j < 4 && b * 4 + j < n; ++j) y[b * 4 + j] = T(mean + std * z[j]);
  }
}

template void random_uniform<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template void random_uniform<double>(double*, int64_t, uint64_t, uint64_t, double, double);
template void random_normal<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template void random_normal<double>(double*, int64_t, uint64_t, uint64_t, double, double);

}  // namespace strata::cpu
