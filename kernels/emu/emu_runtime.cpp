#include "kernels/emu/emu_runtime.h"

#include <omp.h>

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace ctx = boost::context;

namespace strata::emu {

thread_local ThreadCoords t_coords;

namespace {

// ---- error state ---------------------------------------------------------

thread_local cudaError_t t_last_error = cudaSuccess;

cudaError_t set_error(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
  return e;
}

// ---- device memory ------------------------------------------------------

std::mutex g_alloc_mutex;
std::map<const char*, size_t> g_allocations;  // base -> size

bool is_device_range(const void* p, size_t nbytes) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto it = g_allocations.upper_bound(static_cast<const char*>(p));
  if (it == g_allocations.begin()) return false;
  --it;
  return static_cast<const char*>(p) + nbytes <= it->first + it->second;
}

// ---- the block scheduler ------------------------------------------------

enum class Wait : uint8_t { runnable, barrier, warp, done };

struct FiberThread {
  ctx::fiber fiber;  // the suspended CUDA thread
  ctx::fiber back;   // inside the thread: the way back to the scheduler
  uint3 tid{};
  Wait wait = Wait::runnable;
  unsigned warp_mask = 0;
  uint64_t warp_ops = 0;  // warp collectives done so far (selects the exchange buffer)
};

struct BlockRun {
  std::vector<FiberThread> threads;
  std::vector<uint64_t> exchange;  // [warp][parity 0/1][lane]
  int current = 0;
  bool deadlock = false;
};

thread_local BlockRun* t_block = nullptr;
thread_local std::vector<char> t_dynamic_shared;

// The emulated threads' stacks, kept by each OS thread for its next blocks: a block of 256 threads would otherwise
// allocate 256 fresh stacks of kStackBytes and give them back to the system when it ends, and every launch's
// first touch of those pages (faults, zeroing, the heap trimmed again) took most of a small kernel's time.
class StackPool {
 public:
  ~StackPool() {
    for (void* p : free_) std::free(p);
  }
  void* take() {
    if (free_.empty()) {
      void* p = std::malloc(kStackBytes);
      if (p == nullptr) throw std::bad_alloc();
      return p;
    }
    void* p = free_.back();
    free_.pop_back();
    return p;
  }
  void give_back(void* p) noexcept {
    try {
      free_.push_back(p);
    } catch (...) {
      std::free(p);
    }
  }

 private:
  std::vector<void*> free_;
};

thread_local StackPool t_stacks;

// A Boost.Context stack allocator over this OS thread's pool (a fiber is made, run and destroyed on one thread).
struct PooledStack {
  ctx::stack_context allocate() {
    ctx::stack_context c;
    c.size = kStackBytes;
    c.sp = static_cast<char*>(t_stacks.take()) + kStackBytes;  // stacks grow down from their end
    return c;
  }
  void deallocate(ctx::stack_context& c) noexcept { t_stacks.give_back(static_cast<char*>(c.sp) - c.size); }
};

void suspend(Wait why) {
  FiberThread& me = t_block->threads[size_t(t_block->current)];
  me.wait = why;
  me.back = std::move(me.back).resume();
}

// Releases the threads whose barrier or warp collective is complete; returns
// false when live threads remain and none can be released (a deadlock).
bool release_waiting(BlockRun& run) {
  const int n = int(run.threads.size());
  int live = 0, at_barrier = 0;
  for (const FiberThread& t : run.threads) {
    live += t.wait != Wait::done;
    at_barrier += t.wait == Wait::barrier;
  }
  if (live == 0) return true;
  if (at_barrier == live) {
    for (FiberThread& t : run.threads)
      if (t.wait == Wait::barrier) t.wait = Wait::runnable;
    return true;
  }
  bool released = false;
  for (int w = 0; w * kWarpSize < n; ++w) {
    const int first = w * kWarpSize, last = std::min(n, first + kWarpSize);
    bool any = false, complete = true;
    for (int i = first; i < last; ++i) {
      const FiberThread& t = run.threads[size_t(i)];
      if (t.wait != Wait::warp) continue;
      any = true;
      for (int j = first; j < last; ++j) {
        const Wait wj = run.threads[size_t(j)].wait;
        if ((t.warp_mask >> (j - first) & 1u) && wj != Wait::warp && wj != Wait::done) complete = false;
      }
    }
    if (any && complete) {
      for (int i = first; i < last; ++i)
        if (run.threads[size_t(i)].wait == Wait::warp) run.threads[size_t(i)].wait = Wait::runnable;
      released = true;
    }
  }
  return released;
}

// Runs one block to completion on this OS thread.
void run_block(uint3 block_idx, dim3 grid, dim3 block, const std::function<void()>& body, BlockRun& run) {
  const int n = int(block.x * block.y * block.z);
  run.threads.clear();
  run.threads.resize(size_t(n));
  run.exchange.assign(size_t((n + kWarpSize - 1) / kWarpSize) * 2 * kWarpSize, 0);
  run.deadlock = false;
  t_block = &run;
  for (int i = 0; i < n; ++i) {
    FiberThread& t = run.threads[size_t(i)];
    t.tid = {unsigned(i) % block.x, unsigned(i) / block.x % block.y, unsigned(i) / (block.x * block.y)};
    t.fiber = ctx::fiber(std::allocator_arg, PooledStack(), [&run, i, &body](ctx::fiber&& back) {
      run.threads[size_t(i)].back = std::move(back);
      body();
      run.threads[size_t(i)].wait = Wait::done;
      return std::move(run.threads[size_t(i)].back);
    });
  }
  t_coords.block_idx = block_idx;
  t_coords.block_dim = block;
  t_coords.grid_dim = grid;
  for (;;) {
    bool ran = false;
    for (int i = 0; i < n; ++i) {
      FiberThread& t = run.threads[size_t(i)];
      if (t.wait != Wait::runnable) continue;
      run.current = i;
      t_coords.thread_idx = t.tid;
      t.fiber = std::move(t.fiber).resume();
      ran = true;
    }
    if (!release_waiting(run)) {
      run.deadlock = true;
      break;
    }
    bool all_done = true;
    for (const FiberThread& t : run.threads) all_done &= t.wait == Wait::done;
    if (all_done || !ran) break;
  }
  run.threads.clear();  // unwinds the stacks of deadlocked threads
  t_block = nullptr;
}

}  // namespace

void syncthreads() { suspend(Wait::barrier); }

int lane_id() {
  return t_block->current % kWarpSize;
}

void warp_exchange(unsigned mask, uint64_t value, uint64_t (&lanes)[kWarpSize]) {
  BlockRun& run = *t_block;
  FiberThread& me = run.threads[size_t(run.current)];
  const int warp = run.current / kWarpSize, lane = run.current % kWarpSize;
  uint64_t* slots = &run.exchange[(size_t(warp) * 2 + (me.warp_ops & 1)) * kWarpSize];
  ++me.warp_ops;
  slots[lane] = value;
  me.warp_mask = mask | (1u << lane);
  suspend(Wait::warp);
  for (int i = 0; i < kWarpSize; ++i) lanes[i] = (mask >> i & 1u) ? slots[i] : 0;
}

void* dynamic_shared_memory() { return t_dynamic_shared.data(); }

namespace {

// Runs a validated launch now.
void run_grid(dim3 grid, dim3 block, size_t dynamic_shared_bytes, const std::function<void()>& body) {
  const int64_t blocks = int64_t(grid.x) * grid.y * grid.z;
  bool deadlock = false;
#pragma omp parallel reduction(|| : deadlock) if (blocks > 1)
  {
    BlockRun run;
    t_dynamic_shared.assign(dynamic_shared_bytes, 0);
#pragma omp for schedule(dynamic)
    for (int64_t b = 0; b < blocks; ++b) {
      const uint3 idx{unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / (int64_t(grid.x) * grid.y))};
      run_block(idx, grid, block, body, run);
      deadlock = deadlock || run.deadlock;
    }
  }
  if (deadlock) set_error(cudaErrorLaunchFailure);
}

}  // namespace

// ---- stream capture --------------------------------------------------------
// One capture at a time: the work enqueued on the capturing stream is recorded
// instead of run, and a graph replays it in order. As on a GPU in relaxed mode,
// work that would order the legacy default stream after the capturing stream
// (a synchronous copy, a launch on stream 0) or wait for it (a synchronisation)
// fails and invalidates the capture; device allocation is allowed, cudaFree is not.

struct Capture {
  cudaStream_t stream = nullptr;  // the capturing stream; nullptr when none
  bool invalidated = false;
  std::vector<std::function<void()>> work;
};
Capture g_capture;

bool capturing(cudaStream_t stream) { return g_capture.stream && stream == g_capture.stream; }

cudaError_t refuse_during_capture(cudaError_t e) {
  g_capture.invalidated = true;
  return set_error(e);
}

void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, cudaStream_t stream, const std::function<void()>& body) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x == 0 ||
      grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (dynamic_shared_bytes > kSharedMemPerBlock) {
    set_error(cudaErrorInvalidValue);
    return;
  }
  if (capturing(stream)) {
    g_capture.work.push_back([=] { run_grid(grid, block, dynamic_shared_bytes, body); });
    return;
  }
  if (g_capture.stream && !stream) {
    refuse_during_capture(cudaErrorStreamCaptureImplicit);
    return;
  }
  run_grid(grid, block, dynamic_shared_bytes, body);
}

}  // namespace strata::emu

using strata::emu::capturing;
using strata::emu::g_capture;
using strata::emu::is_device_range;
using strata::emu::refuse_during_capture;
using strata::emu::set_error;

// ---- runtime API -----------------------------------------------------------

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
  }
  return "unrecognized error code";
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
  }
  return "cudaErrorUnknown";
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = strata::emu::t_last_error;
  strata::emu::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return strata::emu::t_last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : set_error(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return set_error(cudaErrorInvalidDevice);
  *prop = {};
  std::strncpy(prop->name, "strata CUDA emulator (host CPU)", sizeof(prop->name) - 1);
  prop->totalGlobalMem = size_t(16) << 30;
  prop->sharedMemPerBlock = strata::emu::kSharedMemPerBlock;
  prop->warpSize = strata::emu::kWarpSize;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = omp_get_max_threads();
  prop->major = 0;
  prop->minor = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  return g_capture.stream ? refuse_during_capture(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t nbytes) {
  if (!ptr) return set_error(cudaErrorInvalidValue);
  *ptr = std::aligned_alloc(256, (std::max<size_t>(nbytes, 1) + 255) / 256 * 256);
  if (!*ptr) return set_error(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(strata::emu::g_alloc_mutex);
  strata::emu::g_allocations[static_cast<const char*>(*ptr)] = nbytes;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (g_capture.stream) return refuse_during_capture(cudaErrorStreamCaptureUnsupported);
  {
    std::lock_guard<std::mutex> lock(strata::emu::g_alloc_mutex);
    auto it = strata::emu::g_allocations.find(static_cast<const char*>(ptr));
    if (it == strata::emu::g_allocations.end()) return set_error(cudaErrorInvalidDevicePointer);
    strata::emu::g_allocations.erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t nbytes, cudaMemcpyKind kind) {
  if (g_capture.stream) return refuse_during_capture(cudaErrorStreamCaptureImplicit);
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return set_error(cudaErrorInvalidMemcpyDirection);
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (nbytes > 0 && ((dst_dev && !is_device_range(dst, nbytes)) || (src_dev && !is_device_range(src, nbytes))))
    return set_error(cudaErrorInvalidValue);
  if (nbytes > 0) std::memmove(dst, src, nbytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t nbytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (capturing(stream)) {
    g_capture.work.push_back([=] { cudaMemcpy(dst, src, nbytes, kind); });
    return cudaSuccess;
  }
  return cudaMemcpy(dst, src, nbytes, kind);
}

cudaError_t cudaMemset(void* ptr, int value, size_t nbytes) {
  if (g_capture.stream) return refuse_during_capture(cudaErrorStreamCaptureImplicit);
  if (nbytes > 0 && !is_device_range(ptr, nbytes)) return set_error(cudaErrorInvalidValue);
  std::memset(ptr, value, nbytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t nbytes, cudaStream_t stream) {
  if (capturing(stream)) {
    g_capture.work.push_back([=] { cudaMemset(ptr, value, nbytes); });
    return cudaSuccess;
  }
  return cudaMemset(ptr, value, nbytes);
}

struct CUstream_st {};
struct CUevent_st {
  std::chrono::steady_clock::time_point time;
  bool recorded = false;
};

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  *stream = new CUstream_st;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return g_capture.stream && (!stream || capturing(stream)) ? refuse_during_capture(cudaErrorStreamCaptureUnsupported)
                                                            : cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  if (!event) return set_error(cudaErrorInvalidValue);
  event->time = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) { return event ? cudaSuccess : set_error(cudaErrorInvalidValue); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end || !start->recorded || !end->recorded) return set_error(cudaErrorInvalidValue);
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

struct CUgraph_st {
  std::vector<std::function<void()>> work;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> work;
};

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  if (!stream || g_capture.stream) return set_error(cudaErrorStreamCaptureUnsupported);
  g_capture = {};
  g_capture.stream = stream;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!graph || !capturing(stream)) return set_error(cudaErrorInvalidValue);
  const bool invalidated = g_capture.invalidated;
  *graph = invalidated ? nullptr : new CUgraph_st{std::move(g_capture.work)};
  g_capture = {};
  return invalidated ? set_error(cudaErrorStreamCaptureInvalidated) : cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (!status) return set_error(cudaErrorInvalidValue);
  *status = !capturing(stream)           ? cudaStreamCaptureStatusNone
            : g_capture.invalidated ? cudaStreamCaptureStatusInvalidated
                                    : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!exec || !graph) return set_error(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->work};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (!exec) return set_error(cudaErrorInvalidValue);
  if (g_capture.stream) return refuse_during_capture(cudaErrorStreamCaptureUnsupported);
  (void)stream;
  for (const std::function<void()>& w : exec->work) w();
  return cudaPeekAtLastError();
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
