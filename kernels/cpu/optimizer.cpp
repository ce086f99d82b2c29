#include "kernels/cpu/optimizer.h"

#include "kernels/cpu/thread_pool.h"

namespace strata::cpu {

template <class T>
void adam_update(const AdamParams& a, T* param, const T* grad, T* m, T* v, int64_t n) {
  const AdamCoefficients<T> coefficients = adam_coefficients<T>(a);
  parallel_for(n, n > 65536, [&](int64_t i0, int64_t i1) {
    // A local copy of the constants: stores to the arrays cannot alias it, so the loop vectorises.
    const AdamCoefficients<T> c = coefficients;
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) adam_element(c, param[i], grad[i], m[i], v[i]);
  });
}

template <class T>
void sgd_update(const SgdParams& s, T* param, const T* grad, T* buf, int64_t n) {
  parallel_for(n, n > 65536, [&](int64_t i0, int64_t i1) {
    T unused = T(0);
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) sgd_element(s, param[i], grad[i], buf ? buf[i] : unused);
  });
}

template void adam_update<float>(const AdamParams&, float*, const float*, float*, float*, int64_t);
template void adam_update<double>(const AdamParams&, double*, const double*, double*, double*, int64_t);
template void sgd_update<float>(const SgdParams&, float*, const float*, float*, int64_t);
template void sgd_update<double>(const SgdParams&, double*, const double*, double*, int64_t);

}  // namespace strata::cpu
