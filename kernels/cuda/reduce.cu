// Deterministic reductions. x is viewed as (kept..., reduced...); each output
// reduces its reduced elements in an order fixed by the shape alone:
//   - at most kThreadMax elements: one thread walks them in order;
//   - at most kWarpMax: one warp, lanes striding, then a fixed butterfly;
//   - more: fixed chunks of kChunk elements, one block per (output, chunk)
//     with warp + block trees, then the chunk partials added in chunk order.
// Floating sums accumulate in double, integer sums in int64 (as on the CPU).
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

constexpr int64_t kThreadMax = 16;
constexpr int64_t kWarpMax = 4096;
constexpr int64_t kChunk = 16384;

template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

struct Geometry {
  TensorDesc kept;  // shape and strides of the kept dimensions
  TensorDesc red;   // the reduced dimensions, coalesced
  int64_t kept_numel = 1, red_numel = 1, chunks = 1;
};

Geometry make_geometry(const TensorDesc& xd, int kept_ndim) {
  Geometry g;
  g.kept.ndim = kept_ndim;
  for (int d = 0; d < kept_ndim; ++d) {
    g.kept.shape[d] = xd.shape[d];
    g.kept.strides[d] = xd.strides[d];
    g.kept_numel *= xd.shape[d];
  }
  g.red.ndim = xd.ndim - kept_ndim;
  for (int d = kept_ndim; d < xd.ndim; ++d) {
    g.red.shape[d - kept_ndim] = xd.shape[d];
    g.red.strides[d - kept_ndim] = xd.strides[d];
    g.red_numel *= xd.shape[d];
  }
  if (g.red_numel > 0) coalesce(&g.red, 1);
  if (g.red_numel > kWarpMax) g.chunks = (g.red_numel + kChunk - 1) / kChunk;
  return g;
}

template <class T, class A>
__host__ __device__ inline T finish_sum(A total, int64_t count, bool mean) {
  if (!mean) return T(total);
  if (count) return T(double(total) / double(count));
  if constexpr (std::is_floating_point_v<T>) return T(NAN);  // mean of nothing
  else return T(0);
}

// ---- sums ------------------------------------------------------------------

template <class T>
__global__ void sum_thread_kernel(const T* __restrict__ x, TensorDesc kd, TensorDesc rd, int64_t kept_numel,
                                  int64_t red_numel, bool mean, T* __restrict__ out) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < kept_numel; k += step) {
    const T* base = x + offset_of(k, kd);
    acc_t<T> total = 0;
    for (int64_t j = 0; j < red_numel; ++j) total += acc_t<T>(base[offset_of(j, rd)]);
    out[k] = finish_sum<T>(total, red_numel, mean);
  }
}

template <class T>
__global__ void sum_warp_kernel(const T* __restrict__ x, TensorDesc kd, TensorDesc rd, int64_t kept_numel,
                                int64_t red_numel, bool mean, T* __restrict__ out) {
  const int lane = int(threadIdx.x) % 32;
  const int64_t warps_per_grid = int64_t(gridDim.x) * (blockDim.x / 32);
  // Every lane of a warp runs the same iterations, so the shuffles see full warps.
  for (int64_t k = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; k < kept_numel; k += warps_per_grid) {
    const T* base = x + offset_of(k, kd);
    acc_t<T> total = 0;
    for (int64_t j = lane; j < red_numel; j += 32) total += acc_t<T>(base[offset_of(j, rd)]);
    total = warp_sum(total);
    if (lane == 0) out[k] = finish_sum<T>(total, red_numel, mean);
  }
}

// One block per (output, chunk): partial sums, or the output when chunks == 1.
template <class T>
__global__ void sum_chunk_kernel(const T* __restrict__ x, TensorDesc kd, TensorDesc rd, int64_t kept_numel,
                                 int64_t red_numel, int64_t chunks, bool mean, acc_t<T>* __restrict__ partial,
                                 T* __restrict__ out) {
  __shared__ acc_t<T> scratch[32];
  for (int64_t task = blockIdx.x; task < kept_numel * chunks; task += gridDim.x) {
    const int64_t k = task / chunks, c = task % chunks;
    const T* base = x + offset_of(k, kd);
    const int64_t end = c * kChunk + kChunk < red_numel ? c * kChunk + kChunk : red_numel;
    acc_t<T> total = 0;
    for (int64_t j = c * kChunk + threadIdx.x; j < end; j += blockDim.x) total += acc_t<T>(base[offset_of(j, rd)]);
    total = block_sum(total, scratch);
    if (threadIdx.x == 0) {
      if (chunks == 1) out[k] = finish_sum<T>(total, red_numel, mean);
      else partial[task] = total;
    }
  }
}

template <class T>
__global__ void sum_combine_kernel(const acc_t<T>* __restrict__ partial, int64_t kept_numel, int64_t red_numel,
                                   int64_t chunks, bool mean, T* __restrict__ out) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < kept_numel; k += step) {
    acc_t<T> total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[k * chunks + c];
    out[k] = finish_sum<T>(total, red_numel, mean);
  }
}

// ---- max / min / argmax / argmin -----------------------------------------

// Writes the value (Arg = false) or the flat reduced index (Arg = true).
template <class T, bool Arg>
__host__ __device__ inline void emit(Best<T> b, int64_t k, void* out) {
  if constexpr (Arg) static_cast<int64_t*>(out)[k] = b.index;
  else static_cast<T*>(out)[k] = b.value;
}

template <class T, bool Arg>
__global__ void best_thread_kernel(const T* __restrict__ x, TensorDesc kd, TensorDesc rd, int64_t kept_numel,
                                   int64_t red_numel, bool want_max, void* out) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < kept_numel; k += step) {
    const T* base = x + offset_of(k, kd);
    Best<T> b{T(0), -1};
    for (int64_t j = 0; j < red_numel; ++j) b = better(b, Best<T>{base[offset_of(j, rd)], j}, want_max);
    emit<T, Arg>(b, k, out);
  }
}

template <class T, bool Arg>
__global__ void best_warp_kernel(const T* __restrict__ x, TensorDesc kd, TensorDesc rd, int64_t kept_numel,
                                 int64_t red_numel, bool want_max, void* out) {
  const int lane = int(threadIdx.x) % 32;
  const int64_t warps_per_grid = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t k = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; k < kept_numel; k += warps_per_grid) {
    const T* base = x + offset_of(k, kd);
    Best<T> b{T(0), -1};
    for (int64_t j = lane; j < red_numel; j += 32) b = better(b, Best<T>{base[offset_of(j, rd)], j}, want_max);
    b = warp_best(b, want_max);
    if (lane == 0) emit<T, Arg>(b, k, out);
  }
}

template <class T, bool Arg>
__global__ void best_chunk_kernel(const T* __restrict__ x, TensorDesc kd, TensorDesc rd, int64_t kept_numel,
                                  int64_t red_numel, int64_t chunks, bool want_max, Best<T>* __restrict__ partial,
                                  void* out) {
  __shared__ Best<T> scratch[32];
  for (int64_t task = blockIdx.x; task < kept_numel * chunks; task += gridDim.x) {
    const int64_t k = task / chunks, c = task % chunks;
    const T* base = x + offset_of(k, kd);
    const int64_t end = c * kChunk + kChunk < red_numel ? c * kChunk + kChunk : red_numel;
    Best<T> b{T(0), -1};
    for (int64_t j = c * kChunk + threadIdx.x; j < end; j += blockDim.x)
      b = better(b, Best<T>{base[offset_of(j, rd)], j}, want_max);
    b = block_best(b, scratch, want_max);
    if (threadIdx.x == 0) {
      if (chunks == 1) emit<T, Arg>(b, k, out);
      else partial[task] = b;
    }
  }
}

template <class T, bool Arg>
__global__ void best_combine_kernel(const Best<T>* __restrict__ partial, int64_t kept_numel, int64_t chunks,
                                    bool want_max, void* out) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < kept_numel; k += step) {
    Best<T> b{T(0), -1};
    for (int64_t c = 0; c < chunks; ++c) b = better(b, partial[k * chunks + c], want_max);
    emit<T, Arg>(b, k, out);
  }
}

unsigned warp_grid(int64_t outputs) { return grid_for(outputs * 32); }

template <class T, bool Arg>
cudaError_t best(const T* x, const TensorDesc& xd, int kept_ndim, bool want_max, void* out, void* workspace) {
  const Geometry g = make_geometry(xd, kept_ndim);
  if (g.kept_numel == 0) return cudaGetLastError();
  if (g.red_numel <= kThreadMax) {
    launch(best_thread_kernel<T, Arg>, grid_for(g.kept_numel), kThreads, 0, nullptr, x, g.kept, g.red, g.kept_numel,
           g.red_numel, want_max, out);
  } else if (g.red_numel <= kWarpMax) {
    launch(best_warp_kernel<T, Arg>, warp_grid(g.kept_numel), kThreads, 0, nullptr, x, g.kept, g.red, g.kept_numel,
           g.red_numel, want_max, out);
  } else {
    auto* partial = static_cast<Best<T>*>(workspace);
    launch(best_chunk_kernel<T, Arg>, grid_for(g.kept_numel * g.chunks, 1), kThreads, 0, nullptr, x, g.kept, g.red,
           g.kept_numel, g.red_numel, g.chunks, want_max, partial, out);
    if (g.chunks > 1)
      launch(best_combine_kernel<T, Arg>, grid_for(g.kept_numel), kThreads, 0, nullptr, partial, g.kept_numel,
             g.chunks, want_max, out);
  }
  return cudaGetLastError();
}

}  // namespace

size_t reduce_workspace_bytes(const TensorDesc& xd, int kept_ndim) {
  const Geometry g = make_geometry(xd, kept_ndim);
  return g.chunks > 1 ? size_t(g.kept_numel * g.chunks) * 16 : 0;  // 16 >= sizeof(double), sizeof(Best<T>)
}

template <class T>
cudaError_t reduce(ReduceOp op, const T* x, TensorDesc xd, int kept_ndim, T* out, void* workspace) {
  if (op == ReduceOp::max || op == ReduceOp::min)
    return best<T, false>(x, xd, kept_ndim, op == ReduceOp::max, out, workspace);
  const bool mean = op == ReduceOp::mean;
  const Geometry g = make_geometry(xd, kept_ndim);
  if (g.kept_numel == 0) return cudaGetLastError();
  if (g.red_numel <= kThreadMax) {
    launch(sum_thread_kernel<T>, grid_for(g.kept_numel), kThreads, 0, nullptr, x, g.kept, g.red, g.kept_numel,
           g.red_numel, mean, out);
  } else if (g.red_numel <= kWarpMax) {
    launch(sum_warp_kernel<T>, warp_grid(g.kept_numel), kThreads, 0, nullptr, x, g.kept, g.red, g.kept_numel,
           g.red_numel, mean, out);
  } else {
    auto* partial = static_cast<acc_t<T>*>(workspace);
    launch(sum_chunk_kernel<T>, grid_for(g.kept_numel * g.chunks, 1), kThreads, 0, nullptr, x, g.kept, g.red,
           g.kept_numel, g.red_numel, g.chunks, mean, partial, out);
    if (g.chunks > 1)
      launch(sum_combine_kernel<T>, grid_for(g.kept_numel), kThreads, 0, nullptr, partial, g.kept_numel, g.red_numel,
             g.chunks, mean, out);
  }
  return cudaGetLastError();
}

template <class T>
cudaError_t arg_reduce(ArgReduceOp op, const T* x, TensorDesc xd, int kept_ndim, int64_t* out, void* workspace) {
  return best<T, true>(x, xd, kept_ndim, op == ArgReduceOp::argmax, out, workspace);
}

#define STRATA_CUDA_REDUCE(T)                                                              \
  template cudaError_t reduce<T>(ReduceOp, const T*, TensorDesc, int, T*, void*);          \
  template cudaError_t arg_reduce<T>(ArgReduceOp, const T*, TensorDesc, int, int64_t*, void*);
STRATA_CUDA_REDUCE(float)
STRATA_CUDA_REDUCE(double)
STRATA_CUDA_REDUCE(int32_t)
STRATA_CUDA_REDUCE(int64_t)
STRATA_CUDA_REDUCE(uint8_t)

}  // namespace strata::cuda
