// Fused optimizer updates: one thread per parameter element reads the
// gradient and state once and writes parameter and state once (grid-stride,
// kThreads per block). The per-element rule is kernels/optimizer.h.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/optimizer.h"

namespace strata::cuda {
namespace {

template <class T>
__global__ void adam_kernel(AdamCoefficients<T> c, const T* live, T* __restrict__ p, const T* __restrict__ g,
                            T* __restrict__ m, T* __restrict__ v, int64_t n) {
  if (live) {  // a graph's step: this step's rate and bias corrections
    c.lr_bc1 = live[0];
    c.sqrt_bc2 = live[1];
    c.lr_wd = live[2];
  }
  STRATA_GRID_STRIDE(i, n) adam_element(c, p[i], g[i], m[i], v[i]);
}

template <class T>
__global__ void sgd_kernel(SgdParams s, T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf, int64_t n) {
  if (s.device_lr) s.lr = double(*static_cast<const T*>(s.device_lr));
  STRATA_GRID_STRIDE(i, n) {
    T unused = T(0);
    sgd_element(s, p[i], g[i], buf ? buf[i] : unused);
  }
}

}  // namespace

template <class T>
cudaError_t adam_update(const AdamParams& a, T* param, const T* grad, T* m, T* v, int64_t n) {
  if (n > 0) launch(adam_kernel<T>, grid_for(n), kThreads, 0, nullptr, adam_coefficients<T>(a),
                    static_cast<const T*>(a.device_coefficients), param, grad, m, v, n);
  return cudaGetLastError();
}

template <class T>
cudaError_t sgd_update(const SgdParams& s, T* param, const T* grad, T* buf, int64_t n) {
  if (n > 0) launch(sgd_kernel<T>, grid_for(n), kThreads, 0, nullptr, s, param, grad, buf, n);
  return cudaGetLastError();
}

template cudaError_t adam_update<float>(const AdamParams&, float*, const float*, float*, float*, int64_t);
template cudaError_t adam_update<double>(const AdamParams&, double*, const double*, double*, double*, int64_t);
template cudaError_t sgd_update<float>(const SgdParams&, float*, const float*, float*, int64_t);
template cudaError_t sgd_update<double>(const SgdParams&, double*, const double*, double*, int64_t);

}  // namespace strata::cuda
