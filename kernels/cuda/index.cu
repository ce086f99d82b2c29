// Indexing kernels on contiguous (outer, D, inner) layouts. The accumulating
// ones (index_add, scatter_add) give each thread one (outer, inner) column and
// add its rows in order: no atomics, so sums are deterministic even when
// indices repeat.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

template <class T>
__global__ void index_select_kernel(const T* __restrict__ x, int64_t outer, int64_t D, int64_t inner,
                                    const int64_t* __restrict__ idx, int64_t L, T* __restrict__ out) {
  STRATA_GRID_STRIDE(p, outer * L * inner) {
    const int64_t i = p % inner, l = (p / inner) % L, o = p / (inner * L);
    out[p] = x[(o * D + idx[l]) * inner + i];
  }
}

template <class T>
__global__ void index_add_kernel(T* __restrict__ acc, int64_t outer, int64_t D, int64_t inner,
                                 const int64_t* __restrict__ idx, int64_t L, const T* __restrict__ src) {
  STRATA_GRID_STRIDE(p, outer * inner) {
    const int64_t o = p / inner, i = p % inner;
    for (int64_t l = 0; l < L; ++l) acc[(o * D + idx[l]) * inner + i] += src[(o * L + l) * inner + i];
  }
}

template <class T>
__global__ void gather_kernel(const T* __restrict__ x, int64_t outer, int64_t Dx, int64_t inner,
                              const int64_t* __restrict__ index, int64_t Di, T* __restrict__ out) {
  STRATA_GRID_STRIDE(p, outer * Di * inner) {
    const int64_t i = p % inner, o = p / (inner * Di);
    out[p] = x[(o * Dx + index[p]) * inner + i];
  }
}

template <class T>
__global__ void scatter_add_kernel(T* __restrict__ acc, int64_t outer, int64_t Dx, int64_t inner,
                                   const int64_t* __restrict__ index, int64_t Di, const T* __restrict__ src) {
  STRATA_GRID_STRIDE(p, outer * inner) {
    const int64_t o = p / inner, i = p % inner;
    for (int64_t d = 0; d < Di; ++d) {
      const int64_t q = (o * Di + d) * inner + i;
      acc[(o * Dx + index[q]) * inner + i] += src[q];
    }
  }
}

template <class T>
__global__ void one_hot_kernel(const int64_t* __restrict__ idx, int64_t n, int64_t C, T* __restrict__ out) {
  STRATA_GRID_STRIDE(p, n * C) out[p] = idx[p / C] == p % C ? T(1) : T(0);
}

}  // namespace

template <class T>
cudaError_t index_select(const T* x, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L, T* out) {
  if (outer * L * inner > 0)
    launch(index_select_kernel<T>, grid_for(outer * L * inner), kThreads, 0, nullptr, x, outer, D, inner, idx, L, out);
  return cudaGetLastError();
}

template <class T>
cudaError_t index_add(T* acc, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L, const T* src) {
  if (outer * L * inner > 0)
    launch(index_add_kernel<T>, grid_for(outer * inner), kThreads, 0, nullptr, acc, outer, D, inner, idx, L, src);
  return cudaGetLastError();
}

template <class T>
cudaError_t gather(const T* x, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di, T* out) {
  if (outer * Di * inner > 0)
    launch(gather_kernel<T>, grid_for(outer * Di * inner), kThreads, 0, nullptr, x, outer, Dx, inner, index, Di, out);
  return cudaGetLastError();
}

template <class T>
cudaError_t scatter_add(T* acc, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di,
                        const T* src) {
  if (outer * Di * inner > 0)
    launch(scatter_add_kernel<T>, grid_for(outer * inner), kThreads, 0, nullptr, acc, outer, Dx, inner, index, Di,
           src);
  return cudaGetLastError();
}

template <class T>
cudaError_t one_hot(const int64_t* idx, int64_t n, int64_t C, T* out) {
  if (n * C > 0) launch(one_hot_kernel<T>, grid_for(n * C), kThreads, 0, nullptr, idx, n, C, out);
  return cudaGetLastError();
}

#define STRATA_CUDA_INDEX(T)                                                                                  \
  template cudaError_t index_select<T>(const T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, T*);     \
  template cudaError_t index_add<T>(T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, const T*);        \
  template cudaError_t gather<T>(const T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, T*);           \
  template cudaError_t scatter_add<T>(T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, const T*);      \
  template cudaError_t one_hot<T>(const int64_t*, int64_t, int64_t, T*);
STRATA_CUDA_INDEX(float)
STRATA_CUDA_INDEX(double)
STRATA_CUDA_INDEX(int32_t)
STRATA_CUDA_INDEX(int64_t)
STRATA_CUDA_INDEX(uint8_t)

}  // namespace strata::cuda
