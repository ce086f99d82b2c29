// Softmax and log-softmax over D of a contiguous (outer, D, inner) tensor,
// max-subtracted as on the CPU. Two shapes of work:
//   - inner > 1 (channel axis of N,C,H,W): one thread per (outer, inner)
//     position walks D; neighbouring threads read neighbouring addresses;
//   - inner == 1 (last axis): one block per row, block reductions for the
//     maximum and the sum.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

template <class T>
__global__ void softmax_column_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t D,
                                      int64_t inner, bool log) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < outer * inner; p += step) {
    const int64_t o = p / inner, i = p % inner;
    const T* xo = x + o * D * inner + i;
    T* yo = y + o * D * inner + i;
    T mx = -INFINITY;
    for (int64_t d = 0; d < D; ++d) mx = xo[d * inner] > mx ? xo[d * inner] : mx;
    T sum = 0;
    for (int64_t d = 0; d < D; ++d) {
      const T e = std::exp(xo[d * inner] - mx);
      sum += e;
      if (!log) yo[d * inner] = e;
    }
    if (log) {
      const T lse = mx + std::log(sum);
      for (int64_t d = 0; d < D; ++d) yo[d * inner] = xo[d * inner] - lse;
    } else {
      const T r = T(1) / sum;
      for (int64_t d = 0; d < D; ++d) yo[d * inner] *= r;
    }
  }
}

template <class T>
__global__ void softmax_row_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t D, bool log) {
  __shared__ Best<T> best_scratch[32];
  __shared__ T sum_scratch[32];
  __shared__ T shared_value;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    Best<T> b{T(0), -1};
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) b = better(b, Best<T>{xr[d], d}, true);
    b = block_best(b, best_scratch, true);
    if (threadIdx.x == 0) shared_value = b.value;
    __syncthreads();
    const T mx = shared_value;
    T sum = 0;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      const T e = std::exp(xr[d] - mx);
      sum += e;
      if (!log) yr[d] = e;
    }
    sum = block_sum(sum, sum_scratch);
    __syncthreads();  // every thread has read shared_value
    if (threadIdx.x == 0) shared_value = log ? mx + std::log(sum) : T(1) / sum;
    __syncthreads();
    const T s = shared_value;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) yr[d] = log ? xr[d] - s : yr[d] * s;
    __syncthreads();  // shared_value is rewritten by the next row
  }
}

}  // namespace

template <class T>
cudaError_t softmax(const T* x, T* y, int64_t outer, int64_t D, int64_t inner, bool log) {
  if (outer * D * inner == 0) return cudaGetLastError();
  if (inner == 1 && D >= 64) {
    launch(softmax_row_kernel<T>, grid_for(outer, 1), kThreads, 0, nullptr, x, y, outer, D, log);
  } else {
    launch(softmax_column_kernel<T>, grid_for(outer * inner), kThreads, 0, nullptr, x, y, outer, D, inner, log);
  }
  return cudaGetLastError();
}

template cudaError_t softmax<float>(const float*, float*, int64_t, int64_t, int64_t, bool);
template cudaError_t softmax<double>(const double*, double*, int64_t, int64_t, int64_t, bool);

}  // namespace strata::cuda
