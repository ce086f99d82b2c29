#include "engine/cuda_device.h"

#include <cstdio>
#include <string>

namespace strata::cuda {

void throw_cuda_error(cudaError_t error, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear the sticky copy so later calls start clean
  STRATA_FAIL("CUDA error ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ") in ", call, " at ", file, ":",
              line);
}

int device_count() {
  static const int count = [] {
    int n = 0;
    const cudaError_t status = cudaGetDeviceCount(&n);
    if (status != cudaSuccess || n == 0) {
      cudaGetLastError();
      std::fprintf(stderr, "strata: no usable CUDA device (%s: %s); running on the CPU\n",
                   status == cudaSuccess ? "cudaGetDeviceCount" : cudaGetErrorName(status),
                   status == cudaSuccess ? "0 devices" : cudaGetErrorString(status));
      return 0;
    }
    return n;
  }();
  return count;
}

Allocator& device_allocator() {
  static CachingAllocator allocator(
      RawMemory{"CUDA device",
                [](size_t n) -> void* {
                  void* p = nullptr;
                  if (cudaMalloc(&p, n) != cudaSuccess) {
                    cudaGetLastError();
                    return nullptr;
                  }
                  return p;
                },
                [](void* p) { cudaFree(p); }},
      cache_limit_from_env("STRATA_CUDA_CACHE_MB", 4096));
  return allocator;
}

}  // namespace strata::cuda
