// Losses fused with their softmax / sigmoid (the contract of kernels/cpu/loss.h):
// cross-entropy walks the class axis once per position for the log-sum-exp
// and writes the gradient in one elementwise pass from the saved value;
// BCE-with-logits is elementwise both ways.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/loss_math.h"

namespace strata::cuda {
namespace {

// One thread per (outer, inner) position; neighbouring threads read neighbouring addresses.
template <class T>
__global__ void cross_entropy_forward_kernel(const T* __restrict__ x, const int64_t* __restrict__ target,
                                             const T* __restrict__ class_weight, int64_t positions, int64_t D,
                                             int64_t inner, int64_t ignore_index, T* __restrict__ loss,
                                             T* __restrict__ weight, T* __restrict__ lse) {
  STRATA_GRID_STRIDE(p, positions) {
    const int64_t o = p / inner, i = p - o * inner;
    const T* xp = x + o * D * inner + i;
    T mx = -INFINITY;
    for (int64_t d = 0; d < D; ++d) mx = xp[d * inner] > mx ? xp[d * inner] : mx;
    T sum = 0;
    for (int64_t d = 0; d < D; ++d) sum += std::exp(xp[d * inner] - mx);
    const T l = mx + std::log(sum), w = losses::ce_weight(target[p], class_weight, ignore_index);
    lse[p] = l;
    weight[p] = w;
    loss[p] = w == T(0) ? T(0) : w * (l - xp[target[p] * inner]);
  }
}

template <class T>
__global__ void cross_entropy_backward_kernel(const T* __restrict__ x, const int64_t* __restrict__ target,
                                              const T* __restrict__ class_weight, int64_t n, int64_t D,
                                              int64_t inner, int64_t ignore_index, const T* __restrict__ lse,
                                              const T* __restrict__ gloss, T* __restrict__ gx) {
  STRATA_GRID_STRIDE(e, n) {
    const int64_t i = e % inner, d = (e / inner) % D, o = e / (inner * D), p = o * inner + i;
    const T scale = gloss[p] * losses::ce_weight(target[p], class_weight, ignore_index);
    const T g = scale * std::exp(x[e] - lse[p]);
    gx[e] = target[p] == d ? g - scale : g;
  }
}

template <class T>
__global__ void bce_with_logits_forward_kernel(const T* __restrict__ x, const T* __restrict__ target,
                                               const T* __restrict__ weight, const T* __restrict__ pos_weight,
                                               int64_t n, T* __restrict__ loss) {
  STRATA_GRID_STRIDE(i, n) {
    const T l = losses::bce_with_logits(x[i], target[i], losses::pos_factor(pos_weight, i, target[i]));
    loss[i] = weight ? weight[i] * l : l;
  }
}

template <class T>
__global__ void bce_with_logits_backward_kernel(const T* __restrict__ x, const T* __restrict__ target,
                                                const T* __restrict__ weight, const T* __restrict__ pos_weight,
                                                const T* __restrict__ gloss, int64_t n, T* __restrict__ gx) {
  STRATA_GRID_STRIDE(i, n) {
    const T g = losses::bce_with_logits_grad(x[i], target[i], losses::pos_factor(pos_weight, i, target[i]));
    gx[i] = gloss[i] * (weight ? weight[i] * g : g);
  }
}

}  // namespace

template <class T>
cudaError_t cross_entropy_forward(const T* x, const int64_t* target, const T* class_weight, int64_t outer,
                                  int64_t D, int64_t inner, int64_t ignore_index, T* loss, T* weight, T* lse) {
  const int64_t positions = outer * inner;
  if (positions > 0)
    launch(cross_entropy_forward_kernel<T>, grid_for(positions), kThreads, 0, nullptr, x, target, class_weight,
           positions, D, inner, ignore_index, loss, weight, lse);
  return cudaGetLastError();
}

template <class T>
cudaError_t cross_entropy_backward(const T* x, const int64_t* target, const T* class_weight, int64_t outer,
                                   int64_t D, int64_t inner, int64_t ignore_index, const T* lse, const T* gloss,
                                   T* gx) {
  const int64_t n = outer * D * inner;
  if (n > 0)
    launch(cross_entropy_backward_kernel<T>, grid_for(n), kThreads, 0, nullptr, x, target, class_weight, n, D, inner,
           ignore_index, lse, gloss, gx);
  return cudaGetLastError();
}

template <class T>
cudaError_t bce_with_logits_forward(const T* x, const T* target, const T* weight, const T* pos_weight, int64_t n,
                                    T* loss) {
  if (n > 0)
    launch(bce_with_logits_forward_kernel<T>, grid_for(n), kThreads, 0, nullptr, x, target, weight, pos_weight, n,
           loss);
  return cudaGetLastError();
}

template <class T>
cudaError_t bce_with_logits_backward(const T* x, const T* target, const T* weight, const T* pos_weight,
                                     const T* gloss, int64_t n, T* gx) {
  if (n > 0)
    launch(bce_with_logits_backward_kernel<T>, grid_for(n), kThreads, 0, nullptr, x, target, weight, pos_weight,
           gloss, n, gx);
  return cudaGetLastError();
}

#define STRATA_CUDA_LOSS(T)                                                                                     \
  template cudaError_t cross_entropy_forward<T>(const T*, const int64_t*, const T*, int64_t, int64_t, int64_t,  \
                                                int64_t, T*, T*, T*);                                           \
  template cudaError_t cross_entropy_backward<T>(const T*, const int64_t*, const T*, int64_t, int64_t, int64_t, \
                                                 int64_t, const T*, const T*, T*);                              \
  template cudaError_t bce_with_logits_forward<T>(const T*, const T*, const T*, const T*, int64_t, T*);         \
  template cudaError_t bce_with_logits_backward<T>(const T*, const T*, const T*, const T*, const T*, int64_t, T*);
STRATA_CUDA_LOSS(float)
STRATA_CUDA_LOSS(double)

}  // namespace strata::cuda
