// CUDA graphs: the device work of a piece of code recorded once and replayed
// with one launch, so that a step of hundreds of small kernels costs the GPU
// its kernels' time rather than the host's time to issue them.
//
// While a Graph captures, every kernel, cuBLAS and cuDNN call of this thread
// goes to the graph's stream and is recorded, not run; memory allocated then
// comes from the graph's own pool and stays reserved for its replays. The
// captured code must do the same device work with the same tensors on every
// replay: no copies to or from the host, no synchronisation, no random
// numbers drawn on the device, no new convolution shapes (their algorithm
// search times kernels). Run such a step once before capturing it. A failed
// capture throws, naming what the CUDA runtime refused.
#pragma once

#include <functional>
#include <memory>

#include "engine/allocator.h"
#include "kernels/cuda/cuda_compat.h"

namespace strata::cuda {

class Graph {
 public:
  // Captures `body` (run once on the host; nothing runs on the device).
  explicit Graph(const std::function<void()>& body);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Enqueues the captured work; later work on the default stream (every
  // other call of the engine) runs after it.
  void replay();
  // The graph's memory: allocated is what its captured tensors still hold.
  AllocatorStats pool_stats() const;

 private:
  void capture(const std::function<void()>& body);
  void release();  // the stream and the graph; the pool is retired, not freed: tensors made from it outlive us

  std::shared_ptr<Allocator> pool_;
  cudaStream_t stream_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  void* blas_workspace_ = nullptr;
  size_t blas_workspace_bytes_ = 0;
};

}  // namespace strata::cuda
