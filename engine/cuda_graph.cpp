#include "engine/cuda_graph.h"

#include <mutex>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda_backend.h"
#include "engine/cuda_device.h"
#include "engine/error.h"
#include "kernels/cuda/stream.h"

namespace strata::cuda {
namespace {

// cuBLAS keeps a workspace per stream and may allocate it on first use; a captured call gets one reserved
// beforehand (NVIDIA's guidance for graphs: 32 MiB covers Hopper's kernels).
constexpr size_t kBlasWorkspaceBytes = size_t(32) << 20;

// This thread's capture state, undone in reverse on every way out.
class CaptureScope {
 public:
  CaptureScope(cudaStream_t stream, Allocator* pool) {
    detail::capture_started();
    detail::set_capture_pool(pool);
    set_current_stream(stream);
    set_capturing_graph(true);
  }
  ~CaptureScope() {
    set_capturing_graph(false);
    set_current_stream(nullptr);
    detail::set_capture_pool(nullptr);
    detail::capture_ended();
  }
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;
};

// Pools of destroyed graphs: tensors captured in them may outlive the graph and give their memory back later,
// up to the process's exit (so the list is never destroyed: a pool must not free into a runtime already gone).
std::mutex g_retired_mutex;
std::vector<std::shared_ptr<Allocator>>& retired_pools() {
  static auto* pools = new std::vector<std::shared_ptr<Allocator>>;
  return *pools;
}

std::string refusal(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}

constexpr const char* kRules =
    "a captured step may not copy to or from the host (item(), a CPU tensor moved to the GPU), synchronise, draw "
    "random numbers on the device or meet a convolution shape for the first time: run it once before capturing";

}  // namespace

Graph::Graph(const std::function<void()>& body) : pool_(make_graph_pool()) {
  try {
    capture(body);
  } catch (...) {
    release();  // tensors the failed capture allocated give their memory back to the retired pool
    throw;
  }
}

Graph::~Graph() { release(); }

void Graph::capture(const std::function<void()>& body) {
  STRATA_CHECK(!capturing_graph(), "CUDA graph: this thread is already capturing one");
  // The capture records only work enqueued from here on: what came before must be done.
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  STRATA_CUDA_CHECK(cudaStreamCreate(&stream_));
  if (cublas_available()) {
    blas_workspace_bytes_ = kBlasWorkspaceBytes;
    blas_workspace_ = pool_->allocate(blas_workspace_bytes_);
    set_blas_workspace(stream_, blas_workspace_, blas_workspace_bytes_);
  }
  cudaGraph_t graph = nullptr;
  {
    const CaptureScope scope(stream_, pool_.get());
    STRATA_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
    try {
      body();
    } catch (const std::exception& e) {
      cudaGraph_t partial = nullptr;
      cudaStreamEndCapture(stream_, &partial);
      if (partial) cudaGraphDestroy(partial);
      cudaGetLastError();
      STRATA_FAIL("CUDA graph capture failed: ", e.what(), "; ", kRules);
    }
    const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
    if (ended != cudaSuccess) {
      cudaGetLastError();
      STRATA_FAIL("CUDA graph capture failed: ", refusal(ended), "; ", kRules);
    }
  }
  const cudaError_t made = cudaGraphInstantiate(&exec_, graph, 0);
  cudaGraphDestroy(graph);
  if (made != cudaSuccess) {
    cudaGetLastError();
    STRATA_FAIL("CUDA graph: instantiating the captured work failed: ", refusal(made));
  }
}

void Graph::release() {
  if (stream_) cudaStreamSynchronize(stream_);
  if (exec_) cudaGraphExecDestroy(exec_);
  if (blas_workspace_) {
    set_blas_workspace(stream_, nullptr, 0);
    pool_->deallocate(blas_workspace_, blas_workspace_bytes_);
  }
  if (stream_) cudaStreamDestroy(stream_);
  exec_ = nullptr;
  blas_workspace_ = nullptr;
  stream_ = nullptr;
  pool_->empty_cache();
  const std::lock_guard<std::mutex> lock(g_retired_mutex);
  retired_pools().push_back(std::move(pool_));
}

void Graph::replay() {
  STRATA_CHECK(exec_, "CUDA graph: released");
  STRATA_CHECK(!capturing_graph(), "CUDA graph: a graph cannot be replayed while this thread captures");
  STRATA_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
}

AllocatorStats Graph::pool_stats() const { return pool_ ? pool_->stats() : AllocatorStats{}; }

}  // namespace strata::cuda
