// Philox random fills: thread b computes Philox block (offset + b, seed) and
// writes elements 4b..4b+3, exactly the mapping of kernels/cpu/random.cpp, so
// a seed gives the same numbers on both backends (uniform: bit for bit;
// normal: up to the last bits of the device's double log / sin / cos).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"
#include "kernels/philox.h"

namespace strata::cuda {
namespace {

template <class T>
__global__ void uniform_kernel(T* __restrict__ y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  const int64_t blocks = (n + 3) / 4, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += step)
    philox::uniform_block(y, n, b, seed, offset, lo, hi);
}

template <class T>
__global__ void normal_kernel(T* __restrict__ y, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  const int64_t blocks = (n + 3) / 4, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += step)
    philox::normal_block(y, n, b, seed, offset, mean, std);
}

}  // namespace

template <class T>
cudaError_t random_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) {
  if (n > 0) launch(uniform_kernel<T>, grid_for((n + 3) / 4), kThreads, 0, nullptr, y, n, seed, offset, lo, hi);
  return cudaGetLastError();
}

template <class T>
cudaError_t random_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  if (n > 0) launch(normal_kernel<T>, grid_for((n + 3) / 4), kThreads, 0, nullptr, y, n, seed, offset, mean, std);
  return cudaGetLastError();
}

template cudaError_t random_uniform<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template cudaError_t random_uniform<double>(double*, int64_t, uint64_t, uint64_t, double, double);
template cudaError_t random_normal<float>(float*, int64_t, uint64_t, uint64_t, double, double);
template cudaError_t random_normal<double>(double*, int64_t, uint64_t, uint64_t, double, double);

}  // namespace strata::cuda
