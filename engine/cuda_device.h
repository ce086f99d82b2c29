// CUDA runtime pieces the CUDA backend stands on: checked calls, device
// discovery with a CPU fallback, and the caching device allocator. Built in
// the nvcc build (real runtime) and in the emulator build (kernels/emu).
#pragma once

#include <memory>

#include "engine/allocator.h"
#include "engine/error.h"
#include "kernels/cuda/cuda_compat.h"

namespace strata::cuda {

// Throws strata::Error naming the CUDA error, its message, the call and where it was made.
[[noreturn]] void throw_cuda_error(cudaError_t error, const char* call, const char* file, int line);

// Usable CUDA devices; 0 when there is no driver or no device, after one log
// line on stderr saying so and that the CPU is used.
int device_count();

// The device allocator this thread allocates from: the caching allocator over
// cudaMalloc / cudaFree (cache capped by STRATA_CUDA_CACHE_MB, default 4096;
// statistics and empty_cache as for host memory), or, while this thread
// captures a CUDA graph, that graph's own pool (engine/cuda_graph.h). Memory
// goes back to the allocator it came from.
Allocator& device_allocator();
// The caching allocator itself, whatever this thread is doing.
Allocator& main_device_allocator();

// A caching allocator over cudaMalloc for a CUDA graph's memory: what its
// captured work reads and writes stays reserved for the graph's replays.
std::unique_ptr<Allocator> make_graph_pool();

// Device memory from the caching allocator for the length of a scope (none for 0 bytes).
class DeviceScratch {
 public:
  explicit DeviceScratch(size_t nbytes)
      : n_(nbytes), from_(&device_allocator()), p_(nbytes ? from_->allocate(nbytes) : nullptr) {}
  ~DeviceScratch() {
    if (p_) from_->deallocate(p_, n_);
  }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  void* get() const { return p_; }

 private:
  size_t n_;
  Allocator* from_;
  void* p_;
};

namespace detail {
// Set by engine/cuda_graph.cpp around a capture: this thread's graph pool (nullptr after), and the number of
// captures in progress in the process (cudaFree waits while there are any: it would synchronise the device).
void set_capture_pool(Allocator* pool);
void capture_started();
void capture_ended();
}  // namespace detail

}  // namespace strata::cuda

#define STRATA_CUDA_CHECK(call)                                                         \
  do {                                                                                  \
    const cudaError_t strata_cuda_status_ = (call);                                     \
    if (strata_cuda_status_ != cudaSuccess)                                             \
      ::strata::cuda::throw_cuda_error(strata_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)
