// bfloat16 conversions for mixed precision (engine/cudnn_conv.h, precision bf16): float tensors are rounded to
// bfloat16 (stored as uint16_t bit patterns) for the tensor-core convolutions and matrix products, and their
// bfloat16 results widened back to float.
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

// Round to nearest, ties to even (NaN stays a quiet NaN of the same sign; overflow rounds to infinity).
__device__ __forceinline__ uint16_t to_bf16(float f) {
  const uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

__global__ void f32_to_bf16_kernel(const float* __restrict__ x, uint16_t* __restrict__ y, int64_t n) {
  STRATA_GRID_STRIDE(i, n) { y[i] = to_bf16(x[i]); }
}

__global__ void bf16_to_f32_kernel(const uint16_t* __restrict__ x, float* __restrict__ y, int64_t n) {
  STRATA_GRID_STRIDE(i, n) { y[i] = __uint_as_float(uint32_t(x[i]) << 16); }
}

}  // namespace

cudaError_t f32_to_bf16(const float* x, uint16_t* y, int64_t n) {
  if (n > 0) launch(f32_to_bf16_kernel, grid_for(n), kThreads, 0, nullptr, x, y, n);
  return cudaGetLastError();
}

cudaError_t bf16_to_f32(const uint16_t* x, float* y, int64_t n) {
  if (n > 0) launch(bf16_to_f32_kernel, grid_for(n), kThreads, 0, nullptr, x, y, n);
  return cudaGetLastError();
}

}  // namespace strata::cuda
