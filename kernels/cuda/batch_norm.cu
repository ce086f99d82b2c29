// Batch normalisation over the channel axis of a contiguous (outer, C, inner)
// tensor, with the contract of the CPU kernels (kernels/cpu/nn.h).
//
// Statistics: Welford's running (count, mean, M2) per thread, merged with
// Chan et al.'s pairwise formula, in two stages so that small channel counts
// still fill the GPU:
//   1. grid (chunks, C): each block reduces one chunk of one channel, threads
//      first, then a shared-memory tree in a fixed order;
//   2. one thread per channel merges its chunks in chunk order and derives the
//      per-channel scale and shift.
// Then one elementwise pass writes y. The backward pass has the same shape
// with plain sums of gy and gy * (x - mean). No atomics: results depend only on
// the input.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

constexpr int kBnThreads = 256;

template <class T>
struct Welford {
  T n, mean, m2;
};

template <class T>
__host__ __device__ inline Welford<T> merge(Welford<T> a, Welford<T> b) {
  if (b.n == T(0)) return a;
  if (a.n == T(0)) return b;
  const T n = a.n + b.n, delta = b.mean - a.mean, fb = b.n / n;
  return {n, a.mean + delta * fb, a.m2 + b.m2 + delta * delta * a.n * fb};
}

// Chunks per channel: about 16 values per thread, at most 256 chunks.
int64_t chunks_for(int64_t count) {
  return std::max<int64_t>(1, std::min<int64_t>(256, count / (int64_t(kBnThreads) * 16)));
}

// Element e of channel c's (outer x inner) values.
__device__ inline int64_t channel_offset(int64_t e, int64_t c, int64_t C, int64_t inner) {
  const int64_t o = e / inner;
  return (o * C + c) * inner + (e - o * inner);
}

// The [begin, end) range of chunk k of `chunks` over `count` values.
__device__ inline void chunk_range(int64_t count, int64_t chunks, int64_t k, int64_t* begin, int64_t* end) {
  const int64_t per = (count + chunks - 1) / chunks;
  *begin = std::min(count, k * per);
  *end = std::min(count, *begin + per);
}

template <class T>
__global__ void bn_stats_partial_kernel(const T* __restrict__ x, int64_t C, int64_t inner, int64_t count,
                                        int64_t chunks, Welford<T>* __restrict__ partial) {
  __shared__ Welford<T> tree[kBnThreads];
  const int64_t c = blockIdx.y, k = blockIdx.x;
  int64_t begin, end;
  chunk_range(count, chunks, k, &begin, &end);
  Welford<T> w{T(0), T(0), T(0)};
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const T v = x[channel_offset(e, c, C, inner)];
    w.n += T(1);
    const T delta = v - w.mean;
    w.mean += delta / w.n;
    w.m2 += delta * (v - w.mean);
  }
  tree[threadIdx.x] = w;
  __syncthreads();
  for (int s = kBnThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) tree[threadIdx.x] = merge(tree[threadIdx.x], tree[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[c * chunks + k] = tree[0];
}

// scale_shift[c] = (a, b) with y = x * a + b.
template <class T>
__global__ void bn_finish_stats_kernel(const Welford<T>* __restrict__ partial, int64_t C, int64_t chunks,
                                       bool training, double eps, const T* __restrict__ weight,
                                       const T* __restrict__ bias, T* mean, T* var, T* __restrict__ invstd,
                                       T* __restrict__ scale_shift) {
  STRATA_GRID_STRIDE(c, C) {
    T mu, v;
    if (training) {
      Welford<T> w = partial[c * chunks];
      for (int64_t k = 1; k < chunks; ++k) w = merge(w, partial[c * chunks + k]);
      mu = w.mean;
      v = w.m2 / w.n;
      mean[c] = mu;
      var[c] = v;
    } else {
      mu = mean[c];
      v = var[c];
    }
    const T is = T(1) / std::sqrt(v + T(eps));
    invstd[c] = is;
    const T a = is * (weight ? weight[c] : T(1));
    scale_shift[2 * c] = a;
    scale_shift[2 * c + 1] = (bias ? bias[c] : T(0)) - mu * a;
  }
}

template <class T>
__global__ void bn_apply_kernel(const T* __restrict__ x, int64_t n, int64_t C, int64_t inner,
                                const T* __restrict__ scale_shift, T* __restrict__ y) {
  STRATA_GRID_STRIDE(i, n) {
    const int64_t c = (i / inner) % C;
    y[i] = x[i] * scale_shift[2 * c] + scale_shift[2 * c + 1];
  }
}

// partial[c * chunks + k] = (sum gy, sum gy * (x - mean)) over chunk k of channel c.
template <class T>
__global__ void bn_backward_partial_kernel(const T* __restrict__ x, const T* __restrict__ gy,
                                           const T* __restrict__ mean, int64_t C, int64_t inner, int64_t count,
                                           int64_t chunks, T* __restrict__ partial) {
  __shared__ T scratch[32];
  const int64_t c = blockIdx.y, k = blockIdx.x;
  int64_t begin, end;
  chunk_range(count, chunks, k, &begin, &end);
  const T mu = mean[c];
  T sg = 0, sgx = 0;
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const int64_t off = channel_offset(e, c, C, inner);
    sg += gy[off];
    sgx += gy[off] * (x[off] - mu);
  }
  sg = block_sum(sg, scratch);
  sgx = block_sum(sgx, scratch);
  if (threadIdx.x == 0) {
    partial[2 * (c * chunks + k)] = sg;
    partial[2 * (c * chunks + k) + 1] = sgx;
  }
}

// coef[c] = (k1, k2, k3) with gx = k1 gy + k2 (x - mean) + k3.
template <class T>
__global__ void bn_backward_finish_kernel(const T* __restrict__ partial, int64_t C, int64_t chunks, int64_t count,
                                          bool training, const T* __restrict__ invstd, const T* __restrict__ weight,
                                          T* __restrict__ gweight, T* __restrict__ gbias, T* __restrict__ coef) {
  STRATA_GRID_STRIDE(c, C) {
    T sg = 0, sgx = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      sg += partial[2 * (c * chunks + k)];
      sgx += partial[2 * (c * chunks + k) + 1];
    }
    const T is = invstd[c], w = weight ? weight[c] : T(1);
    gbias[c] = sg;
    gweight[c] = sgx * is;
    coef[3 * c] = w * is;
    coef[3 * c + 1] = training ? -w * is * is * is * sgx / T(count) : T(0);
    coef[3 * c + 2] = training ? -w * is * sg / T(count) : T(0);
  }
}

template <class T>
__global__ void bn_backward_apply_kernel(const T* __restrict__ x, const T* __restrict__ gy,
                                         const T* __restrict__ mean, int64_t n, int64_t C, int64_t inner,
                                         const T* __restrict__ coef, T* __restrict__ gx) {
  STRATA_GRID_STRIDE(i, n) {
    const int64_t c = (i / inner) % C;
    gx[i] = coef[3 * c] * gy[i] + coef[3 * c + 1] * (x[i] - mean[c]) + coef[3 * c + 2];
  }
}

}  // namespace

size_t batch_norm_workspace_bytes(int64_t outer, int64_t C, int64_t inner) {
  // Welford triples (forward) or sum pairs (backward) per chunk, then 3 values per channel; 8 bytes each.
  return size_t(C) * size_t(3 * chunks_for(outer * inner) + 3) * sizeof(double);
}

template <class T>
cudaError_t batch_norm_forward(const T* x, int64_t outer, int64_t C, int64_t inner, bool training, double eps,
                               const T* weight, const T* bias, T* mean, T* var, T* invstd, T* y, void* workspace) {
  const int64_t count = outer * inner, n = count * C;
  if (C == 0) return cudaGetLastError();
  const int64_t chunks = chunks_for(count);
  auto* partial = static_cast<Welford<T>*>(workspace);
  T* scale_shift = reinterpret_cast<T*>(partial + C * chunks);
  if (training)
    launch(bn_stats_partial_kernel<T>, dim3(unsigned(chunks), unsigned(C)), kBnThreads, 0, nullptr, x, C, inner,
           count, chunks, partial);
  launch(bn_finish_stats_kernel<T>, grid_for(C), kThreads, 0, nullptr, partial, C, chunks, training, eps, weight,
         bias, mean, var, invstd, scale_shift);
  if (n > 0) launch(bn_apply_kernel<T>, grid_for(n), kThreads, 0, nullptr, x, n, C, inner, scale_shift, y);
  return cudaGetLastError();
}

template <class T>
cudaError_t batch_norm_backward(const T* x, const T* gy, int64_t outer, int64_t C, int64_t inner, bool training,
                                const T* mean, const T* invstd, const T* weight, T* gx, T* gweight, T* gbias,
                                void* workspace) {
  const int64_t count = outer * inner, n = count * C;
  if (C == 0) return cudaGetLastError();
  const int64_t chunks = chunks_for(count);
  T* partial = static_cast<T*>(workspace);
  T* coef = partial + 2 * C * chunks;
  launch(bn_backward_partial_kernel<T>, dim3(unsigned(chunks), unsigned(C)), kBnThreads, 0, nullptr, x, gy, mean, C,
         inner, count, chunks, partial);
  launch(bn_backward_finish_kernel<T>, grid_for(C), kThreads, 0, nullptr, partial, C, chunks, count, training,
         invstd, weight, gweight, gbias, coef);
  if (gx && n > 0)
    launch(bn_backward_apply_kernel<T>, grid_for(n), kThreads, 0, nullptr, x, gy, mean, n, C, inner, coef, gx);
  return cudaGetLastError();
}

#define STRATA_CUDA_BN(T)                                                                                        \
  template cudaError_t batch_norm_forward<T>(const T*, int64_t, int64_t, int64_t, bool, double, const T*, const T*, \
                                             T*, T*, T*, T*, void*);                                             \
  template cudaError_t batch_norm_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, bool, const T*,      \
                                              const T*, const T*, T*, T*, T*, void*);
STRATA_CUDA_BN(float)
STRATA_CUDA_BN(double)

}  // namespace strata::cuda
