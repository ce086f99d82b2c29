// Helpers shared by the kernels in kernels/cuda: strided addressing, host-side
// dimension coalescing, launch geometry, and deterministic warp / block
// reductions. Included by .cu files only (nvcc or the emulator build).
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/launch.h"
#include "kernels/op_kinds.h"
#include "kernels/tensor_desc.h"

namespace strata::cuda {

constexpr int kThreads = 256;           // block size of the elementwise / reduction kernels
constexpr int64_t kMaxBlocks = 65536;   // grid-stride loops cap the grid here

// for (i = this thread's first index; i < n; i += all threads of the grid)
#define STRATA_GRID_STRIDE(i, n)                                                                       \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, strata_step_ = int64_t(gridDim.x) * blockDim.x; \
       i < (n); i += strata_step_)

// Memory offset (in elements) of flat row-major index `flat` of d's shape.
__host__ __device__ inline int64_t offset_of(int64_t flat, const TensorDesc& d) {
  int64_t off = 0;
  for (int i = d.ndim - 1; i >= 0; --i) {
    const int64_t s = d.shape[i];
    off += (flat % s) * d.strides[i];
    flat /= s;
  }
  return off;
}

// Drops size-1 dimensions and merges neighbours that are contiguous in every
// one of the n descriptors (all have the same shape). Fewer dimensions make
// offset_of cheaper; a fully contiguous set ends with ndim 1 and stride 1.
inline void coalesce(TensorDesc* d, int n) {
  TensorDesc out[8];
  for (int k = 0; k < n; ++k) out[k].ndim = 0;
  for (int i = 0; i < d[0].ndim; ++i) {
    if (d[0].shape[i] == 1) continue;
    const int last = out[0].ndim - 1;
    bool merge = last >= 0;
    for (int k = 0; k < n && merge; ++k)
      merge = out[k].strides[last] == d[k].strides[i] * d[k].shape[i];
    for (int k = 0; k < n; ++k) {
      if (merge) {
        out[k].shape[last] *= d[k].shape[i];
        out[k].strides[last] = d[k].strides[i];
      } else {
        out[k].shape[out[k].ndim] = d[k].shape[i];
        out[k].strides[out[k].ndim] = d[k].strides[i];
        ++out[k].ndim;
      }
    }
  }
  for (int k = 0; k < n; ++k) d[k] = out[k];
}

inline bool is_contiguous_1d(const TensorDesc& d) { return d.ndim == 0 || (d.ndim == 1 && d.strides[0] == 1); }

inline unsigned grid_for(int64_t n, int threads = kThreads) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, kMaxBlocks)));
}

template <class T>
__host__ __device__ inline bool is_nan(T v) {
  return v != v;
}

// Sum over the 32 lanes of a warp, in a fixed butterfly order; every lane gets the total.
template <class A>
__device__ inline A warp_sum(A v) {
  for (int mask = 16; mask > 0; mask /= 2) v += __shfl_xor_sync(0xffffffffu, v, mask);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024): warp sums,
// then the warp totals summed by the first warp. Result valid in thread 0.
// `scratch` holds 32 values; the fixed order makes the result deterministic.
template <class A>
__device__ inline A block_sum(A v, A* scratch) {
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = int(blockDim.x) / 32;
  v = lane < warps ? scratch[lane] : A(0);
  if (warp == 0) v = warp_sum(v);
  return v;
}

// The preferred of two (value, index) candidates for max / min / argmax /
// argmin: NaN beats numbers, then the larger (smaller) value, then the lower
// index; index < 0 marks an empty candidate. The same rule as the CPU kernels.
template <class T>
struct Best {
  T value;
  int64_t index;
};

template <class T>
__host__ __device__ inline Best<T> better(Best<T> a, Best<T> b, bool want_max) {
  if (a.index < 0) return b;
  if (b.index < 0) return a;
  const bool na = is_nan(a.value), nb = is_nan(b.value);
  if (na != nb) return na ? a : b;
  if (na || a.value == b.value) return a.index < b.index ? a : b;
  return (want_max ? a.value > b.value : a.value < b.value) ? a : b;
}

// __shfl_xor_sync for any of our dtypes (CUDA has no 8-bit shuffle: widen to int).
template <class T>
__device__ inline T shfl_xor(T v, int mask) {
  if constexpr (sizeof(T) < 4) {
    return T(__shfl_xor_sync(0xffffffffu, int(v), mask));
  } else {
    return __shfl_xor_sync(0xffffffffu, v, mask);
  }
}

template <class T>
__device__ inline Best<T> warp_best(Best<T> v, bool want_max) {
  for (int mask = 16; mask > 0; mask /= 2) {
    Best<T> o;
    o.value = shfl_xor(v.value, mask);
    o.index = (int64_t)__shfl_xor_sync(0xffffffffu, (long long)v.index, mask);
    v = better(v, o, want_max);
  }
  return v;
}

template <class T>
__device__ inline Best<T> block_best(Best<T> v, Best<T>* scratch, bool want_max) {
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  v = warp_best(v, want_max);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = int(blockDim.x) / 32;
  v = lane < warps ? scratch[lane] : Best<T>{T(0), -1};
  if (warp == 0) v = warp_best(v, want_max);
  return v;
}

}  // namespace strata::cuda
