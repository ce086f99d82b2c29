#include "engine/cuda_device.h"

#include <atomic>
#include <cstdio>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

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

namespace {

std::atomic<int> g_captures{0};
std::mutex g_deferred_mutex;
std::vector<void*> g_deferred;  // freed while a capture was in progress
thread_local Allocator* t_capture_pool = nullptr;

void* device_alloc(size_t n) {
  void* p = nullptr;
  if (cudaMalloc(&p, n) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void device_free(void* p) {
  if (g_captures.load() > 0) {
    const std::lock_guard<std::mutex> lock(g_deferred_mutex);
    g_deferred.push_back(p);
    return;
  }
  cudaFree(p);
}

}  // namespace

Allocator& main_device_allocator() {
  static CachingAllocator allocator(RawMemory{"CUDA device", device_alloc, device_free},
                                    cache_limit_from_env("STRATA_CUDA_CACHE_MB", 4096));
  return allocator;
}

Allocator& device_allocator() { return t_capture_pool ? *t_capture_pool : main_device_allocator(); }

std::unique_ptr<Allocator> make_graph_pool() {
  // Nothing goes back before the graph is destroyed: its replays use every block the capture touched.
  RawMemory raw{"CUDA graph pool", device_alloc, device_free};
  raw.keep_until_emptied = true;
  return std::make_unique<CachingAllocator>(raw, std::numeric_limits<size_t>::max());
}

namespace detail {

void set_capture_pool(Allocator* pool) { t_capture_pool = pool; }

void capture_started() { ++g_captures; }

void capture_ended() {
  if (--g_captures > 0) return;
  std::vector<void*> freed;
  {
    const std::lock_guard<std::mutex> lock(g_deferred_mutex);
    freed.swap(g_deferred);
  }
  for (void* p : freed) cudaFree(p);
}

}  // namespace detail

}  // namespace strata::cuda
