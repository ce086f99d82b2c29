#include "kernels/cpu/optimizer.h"

namespace strata::cpu {

template <class T>
void adam_update(const AdamParams& a, T* param, const T* grad, T* m, T* v, int64_t n) {
  // firstprivate: each thread's copy of the constants is its own, so stores
  // to the arrays cannot alias them and the loop vectorises.
  const AdamCoefficients<T> c = adam_coefficients<T>(a);
#pragma omp parallel for simd schedule(static) if (n > 65536) firstprivate(c)
  for (int64_t i = 0; i < n; ++i) adam_element(c, param[i], grad[i], m[i], v[i]);
}

template <class T>
void sgd_update(const SgdParams& s, T* param, const T* grad, T* buf, int64_t n) {
  T unused = T(0);
#pragma omp parallel for simd schedule(static) if (n > 65536) firstprivate(unused)
  for (int64_t i = 0; i < n; ++i) sgd_element(s, param[i], grad[i], buf ? buf[i] : unused);
}

template void adam_update<float>(const AdamParams&, float*, const float*, float*, float*, int64_t);
template void adam_update<double>(const AdamParams&, double*, const double*, double*, double*, int64_t);
template void sgd_update<float>(const SgdParams&, float*, const float*, float*, int64_t);
template void sgd_update<double>(const SgdParams&, double*, const double*, double*, int64_t);

}  // namespace strata::cpu
