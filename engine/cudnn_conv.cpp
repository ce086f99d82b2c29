#include "engine/cudnn_conv.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "engine/error.h"

#if defined(STRATA_HAVE_CUDNN)
#include "engine/cuda_device.h"
#include "engine/cudnn_common.h"
#include "kernels/cuda/kernels.h"
#endif

namespace strata::cuda {

namespace {

ConvEngine& engine_setting() {
  static ConvEngine e = engine_from_env("STRATA_CONV_ENGINE");
  return e;
}

AlgoChoice& algo_setting() {
  static AlgoChoice c = [] {
    const char* env = std::getenv("STRATA_CUDNN_ALGO");
    return env == nullptr || *env == '\0' ? AlgoChoice::search : parse_algo_choice(env);
  }();
  return c;
}

Precision& precision_setting() {
  static Precision p = [] {
    const char* env = std::getenv("STRATA_PRECISION");
    return env == nullptr || *env == '\0' ? Precision::fp32 : parse_precision(env);
  }();
  return p;
}

NativeConv& native_setting() {
  static NativeConv k = [] {
    const char* env = std::getenv("STRATA_NATIVE_CONV");
    return env == nullptr || *env == '\0' ? NativeConv::implicit_gemm : parse_native_conv(env);
  }();
  return k;
}

bool& deterministic_setting() {
  static bool on = [] {
    const char* env = std::getenv("STRATA_DETERMINISTIC");
    if (env == nullptr) return false;
    const std::string v = env;
    if (v.empty() || v == "0" || v == "false") return false;
    STRATA_CHECK(v == "1" || v == "true", "STRATA_DETERMINISTIC='", v, "': expected 1 or 0 (true or false)");
    return true;
  }();
  return on;
}

}  // namespace

ConvEngine parse_conv_engine(std::string_view name) {
  if (name == "native") return ConvEngine::native;
  if (name == "cudnn") return ConvEngine::cudnn;
  if (name == "auto") return ConvEngine::automatic;
  STRATA_FAIL("unknown convolution engine '", std::string(name), "': expected native, cudnn or auto");
}

void check_engine_available(ConvEngine engine, std::string_view setting) {
  STRATA_CHECK(engine != ConvEngine::cudnn || cudnn_available(), std::string(setting),
               ": this build has no cuDNN (a CPU-only or emulator build, or cuDNN not found); use native or auto");
}

ConvEngine engine_from_env(const char* variable) {
  const char* env = std::getenv(variable);
  if (env == nullptr || *env == '\0') return ConvEngine::automatic;
  const ConvEngine e = parse_conv_engine(env);
  check_engine_available(e, std::string(variable) + "=cudnn");
  return e;
}

void set_conv_engine(ConvEngine engine) {
  check_engine_available(engine, "convolution engine cudnn");
  engine_setting() = engine;
}

ConvEngine conv_engine() { return engine_setting(); }

bool use_cudnn_for_conv() { return cudnn_available() && conv_engine() != ConvEngine::native; }

NativeConv parse_native_conv(std::string_view name) {
  if (name == "igemm") return NativeConv::implicit_gemm;
  if (name == "winograd") return NativeConv::winograd;
  STRATA_FAIL("unknown native convolution kernel '", std::string(name), "': expected igemm or winograd");
}

void set_native_conv(NativeConv kernel) { native_setting() = kernel; }
NativeConv native_conv() { return native_setting(); }

AlgoChoice parse_algo_choice(std::string_view name) {
  if (name == "search") return AlgoChoice::search;
  if (name == "heuristic") return AlgoChoice::heuristic;
  STRATA_FAIL("unknown cuDNN algorithm choice '", std::string(name), "': expected search or heuristic");
}

void set_algo_choice(AlgoChoice choice) { algo_setting() = choice; }
AlgoChoice algo_choice() { return algo_setting(); }

Precision parse_precision(std::string_view name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  STRATA_FAIL("unknown precision '", std::string(name), "': expected fp32 or bf16");
}

void set_precision(Precision p) { precision_setting() = p; }
Precision precision() { return precision_setting(); }

void set_deterministic(bool on) { deterministic_setting() = on; }
bool deterministic() { return deterministic_setting(); }

#if !defined(STRATA_HAVE_CUDNN)

bool cudnn_available() { return false; }
bool cudnn_conv_forward(DType, const ConvGeom&, const void*, const void*, void*) { return false; }
bool cudnn_conv_backward_data(DType, const ConvGeom&, const void*, const void*, void*) { return false; }
bool cudnn_conv_backward_weight(DType, const ConvGeom&, const void*, const void*, void*) { return false; }

#else

bool cudnn_available() { return true; }

namespace {

constexpr size_t kWorkspaceCap = size_t(1) << 30;  // algorithms needing more are skipped

cudnnHandle_t handle() { return cudnn_handle(); }

// One workspace shared by every call, grown on demand from the caching allocator; a CUDA graph's capture has
// one of its own from the graph's pool (the replays use it while the other calls may grow theirs).
void* workspace(size_t bytes) {
  struct Workspace {
    void* ptr = nullptr;
    size_t size = 0;
  };
  static std::map<Allocator*, Workspace> by_allocator;
  Allocator& from = device_allocator();
  Workspace& w = by_allocator[&from];
  if (bytes > w.size) {
    if (w.ptr) from.deallocate(w.ptr, w.size);
    w.ptr = from.allocate(bytes);
    w.size = bytes;
  }
  return w.ptr;
}

// Descriptors of one convolution; cuDNN pads symmetrically, so a geometry whose
// output size needs asymmetric padding (PyTorch's 'same' with an even kernel) is unsupported.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool ok = false;

  // bf16: bfloat16 tensors, float accumulation, tensor cores allowed.
  Descriptors(DType t, const ConvGeom& g, bool bf16) {
    const int64_t oh = (g.H + 2 * g.pad_h - g.dil_h * (g.R - 1) - 1) / g.stride_h + 1;
    const int64_t ow = (g.W + 2 * g.pad_w - g.dil_w * (g.S - 1) - 1) / g.stride_w + 1;
    if (oh != g.OH || ow != g.OW) return;
    const cudnnDataType_t compute = t == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    const cudnnDataType_t dt = bf16 ? CUDNN_DATA_BFLOAT16 : compute;
    STRATA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    STRATA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    STRATA_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    STRATA_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    STRATA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, int(g.N), int(g.C), int(g.H), int(g.W)));
    STRATA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, int(g.N), int(g.K), int(g.OH), int(g.OW)));
    STRATA_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, int(g.K), int(g.Cg()), int(g.R), int(g.S)));
    STRATA_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, int(g.pad_h), int(g.pad_w), int(g.stride_h),
                                                       int(g.stride_w), int(g.dil_h), int(g.dil_w),
                                                       CUDNN_CROSS_CORRELATION, compute));
    STRATA_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, int(g.groups)));
    STRATA_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, bf16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    ok = true;
  }
  ~Descriptors() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

using Key = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
Key key_of(ConvPass p, DType t, const ConvGeom& g) {
  return {int(p), int(t), g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.OH, g.OW, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
          g.dil_h, g.dil_w, g.groups,
          int64_t(precision()) * 8 + int64_t(algo_choice()) * 4 + int64_t(deterministic()) * 2 +
              int64_t(conv_engine() == ConvEngine::automatic)};
}

constexpr int kUnsupported = -1, kNative = -2, kNativeWinograd = -3;

struct Choice {
  int algo = kUnsupported;  // or kNative / kNativeWinograd: that native kernel was faster in the search
  size_t workspace = 0;
  float ms = 0;                                // the search's time of the algorithm
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // the math the algorithm was measured or ranked with
};

std::mutex g_mutex;
std::map<Key, Choice> g_cache;

void log_unsupported(const char* pass, const ConvGeom& g) {
  std::fprintf(stderr,
               "strata: cuDNN has no %s algorithm for conv N%lld C%lld %lldx%lld K%lld %lldx%lld groups %lld; "
               "using the native kernels for this shape\n",
               pass, (long long)g.N, (long long)g.C, (long long)g.H, (long long)g.W, (long long)g.K, (long long)g.R,
               (long long)g.S, (long long)g.groups);
}

// The first algorithm of a list (cuDNN's ranking, or measured times, fastest
// first) that succeeded, fits `cap` and, when asked, is deterministic.
template <class Perf>
Choice pick(const Perf* perf, int n, size_t cap) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= cap &&
        (!deterministic() || perf[i].determinism == CUDNN_DETERMINISTIC))
      return {int(perf[i].algo), perf[i].memory, perf[i].time, perf[i].mathType};
  return {};
}

// The floats of workspace a native kernel needs for the pass, or -1 where it does not serve the shape.
int64_t native_workspace(ConvPass pass, const ConvGeom& g, bool winograd) {
  return winograd ? conv_winograd_workspace(pass, g) : conv_igemm_workspace(pass, g);
}

// Runs a native kernel, the implicit GEMM or Winograd, on a pass's buffers (the shape served).
void run_native(ConvPass pass, const ConvGeom& g, const void* a, const void* b, void* out, bool winograd) {
  float* ws = static_cast<float*>(workspace(size_t(native_workspace(pass, g, winograd)) * sizeof(float)));
  const float *fa = static_cast<const float*>(a), *fb = static_cast<const float*>(b);
  float* fo = static_cast<float*>(out);
  STRATA_CUDA_CHECK(winograd ? conv_winograd(pass, g, fa, fb, fo, ws) : conv_igemm(pass, g, fa, fb, fo, ws));
}

// A native kernel's time for the pass on the call's buffers (best of three after a warm-up), or a negative value
// where it does not serve the shape or its workspace would pass half the free memory: the implicit GEMM, or
// Winograd. Both join the search when the engine is auto.
float native_ms(ConvPass pass, const ConvGeom& g, const void* a, const void* b, void* out, bool winograd) {
  const int64_t floats = native_workspace(pass, g, winograd);
  if (floats < 0) return -1;
  size_t free_bytes = 0, total = 0;
  STRATA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  if (size_t(floats) * sizeof(float) > free_bytes / 2) return -1;
  const auto go = [&] { run_native(pass, g, a, b, out, winograd); };
  cudaEvent_t start, stop;
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&stop));
  go();
  float best = -1;
  for (int i = 0; i < 3; ++i) {
    STRATA_CUDA_CHECK(cudaEventRecord(start));
    go();
    STRATA_CUDA_CHECK(cudaEventRecord(stop));
    STRATA_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (best < 0 || ms < best) best = ms;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

// The workspace a timed search may use: the most any algorithm cuDNN proposes needs, within the cap and half
// the device memory free now (searching must not take what training needs).
template <class Perf>
size_t search_workspace(const Perf* perf, int n) {
  size_t free_bytes = 0, total = 0;
  STRATA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  const size_t cap = std::min(kWorkspaceCap, free_bytes / 2);
  size_t most = 0;
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= cap) most = std::max(most, perf[i].memory);
  return most;
}

// The buffers of one call: a timed search runs every algorithm on them (writing the output, which the call then
// overwrites).
struct Buffers {
  const void* a;
  const void* b;
  void* out;
};

Choice choose(ConvPass p, DType t, const ConvGeom& g, const Descriptors& d, const Buffers& io) {
  const Key k = key_of(p, t, g);
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    const auto it = g_cache.find(k);
    if (it != g_cache.end()) return it->second;
  }
  // Deterministic runs take cuDNN's ranking: a timed choice could differ from run to run, and so would the sums.
  const bool search = algo_choice() == AlgoChoice::search && !deterministic();
  Choice c;
  int n = 0;
  // cuDNN's ranking first: its workspace needs bound the search's workspace.
  if (p == ConvPass::forward) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    STRATA_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle(), d.x, d.w, d.conv, d.y,
                                                              CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    if (!search) {
      c = pick(perf, n, kWorkspaceCap);
    } else {
      const size_t ws = search_workspace(perf, n);
      STRATA_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle(), d.x, io.a, d.w, io.b, d.conv, d.y, io.out,
                                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf,
                                                                workspace(ws), ws));
      c = pick(perf, n, ws);
    }
  } else if (p == ConvPass::backward_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    STRATA_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle(), d.w, d.y, d.conv, d.x,
                                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
    if (!search) {
      c = pick(perf, n, kWorkspaceCap);
    } else {
      const size_t ws = search_workspace(perf, n);
      STRATA_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
          handle(), d.w, io.b, d.y, io.a, d.conv, d.x, io.out, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf,
          workspace(ws), ws));
      c = pick(perf, n, ws);
    }
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    STRATA_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        handle(), d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
    if (!search) {
      c = pick(perf, n, kWorkspaceCap);
    } else {
      const size_t ws = search_workspace(perf, n);
      STRATA_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
          handle(), d.x, io.a, d.y, io.b, d.conv, d.w, io.out, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf,
          workspace(ws), ws));
      c = pick(perf, n, ws);
    }
  }
  if (search && t == DType::f32 && precision() == Precision::fp32 && conv_engine() == ConvEngine::automatic) {
    const float native = native_ms(p, g, io.a, io.b, io.out, false);
    if (native >= 0 && (c.algo < 0 || native < c.ms)) c = {kNative, 0, native, CUDNN_DEFAULT_MATH};
    const float winograd = native_ms(p, g, io.a, io.b, io.out, true);
    if (winograd >= 0 && (c.algo == kUnsupported || winograd < c.ms))
      c = {kNativeWinograd, 0, winograd, CUDNN_DEFAULT_MATH};
  }
  if (c.algo == kUnsupported)
    log_unsupported(p == ConvPass::forward ? "forward" : p == ConvPass::backward_data ? "backward-data" : "backward-filter", g);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_cache[k] = c;
  return c;
}

using Scale = CudnnScale;

// Elements of a pass's operands a, b and result: forward (x, w, y), backward-data (gy, w, gx),
// backward-weight (x, gy, gw).
std::array<int64_t, 3> operand_sizes(ConvPass p, const ConvGeom& g) {
  const int64_t x = g.N * g.C * g.H * g.W, y = g.N * g.K * g.OH * g.OW, w = g.K * g.Cg() * g.R * g.S;
  if (p == ConvPass::forward) return {x, w, y};
  if (p == ConvPass::backward_data) return {y, w, x};
  return {x, y, w};
}

// Runs `go(descriptors, choice, workspace, scale, buffers)` on cuDNN; false where cuDNN does not take the case or
// the search chose the native kernel. In bf16 precision the float operands go through bfloat16 copies.
template <class Run>
bool run(ConvPass p, DType t, const ConvGeom& g, const Buffers& io, Run&& go) {
  if (t != DType::f32 && t != DType::f64) return false;
  const bool bf16 = t == DType::f32 && precision() == Precision::bf16;
  const Descriptors d(t, g, bf16);
  if (!d.ok) {
    static std::once_flag once;
    std::call_once(once, [] {
      std::fprintf(stderr, "strata: cuDNN pads symmetrically; asymmetric 'same' convolutions use the native kernels\n");
    });
    return false;
  }
  if (!bf16) {
    const Choice c = choose(p, t, g, d, io);
    // The native kernel the search chose runs here, whatever STRATA_NATIVE_CONV says for the native engine.
    if (c.algo == kNative || c.algo == kNativeWinograd) {
      run_native(p, g, io.a, io.b, io.out, c.algo == kNativeWinograd);
      return true;
    }
    if (c.algo < 0) return false;  // unsupported: the caller runs the native engine
    go(d, c, workspace(c.workspace), Scale{}, io);  // FMA math: never TF32
    return true;
  }
  const auto [na, nb, nout] = operand_sizes(p, g);
  const DeviceScratch a16(size_t(na) * 2), b16(size_t(nb) * 2), out16(size_t(nout) * 2);
  STRATA_CUDA_CHECK(f32_to_bf16(static_cast<const float*>(io.a), static_cast<uint16_t*>(a16.get()), na));
  STRATA_CUDA_CHECK(f32_to_bf16(static_cast<const float*>(io.b), static_cast<uint16_t*>(b16.get()), nb));
  const Buffers io16{a16.get(), b16.get(), out16.get()};
  const Choice c = choose(p, t, g, d, io16);
  if (c.algo < 0) return false;
  // The math the algorithm was measured with: some run bfloat16 without tensor cores, and the call must match.
  STRATA_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, c.math));
  go(d, c, workspace(c.workspace), Scale{}, io16);
  STRATA_CUDA_CHECK(bf16_to_f32(static_cast<const uint16_t*>(out16.get()), static_cast<float*>(io.out), nout));
  return true;
}

}  // namespace

bool cudnn_conv_forward(DType t, const ConvGeom& g, const void* x, const void* w, void* y) {
  return run(ConvPass::forward, t, g, {x, w, y},
             [&](const Descriptors& d, const Choice& c, void* ws, const Scale& s, const Buffers& io) {
               STRATA_CUDNN_CHECK(cudnnConvolutionForward(handle(), s.one(t), d.x, io.a, d.w, io.b, d.conv,
                                                          cudnnConvolutionFwdAlgo_t(c.algo), ws, c.workspace,
                                                          s.zero(t), d.y, io.out));
             });
}

bool cudnn_conv_backward_data(DType t, const ConvGeom& g, const void* gy, const void* w, void* gx) {
  return run(ConvPass::backward_data, t, g, {gy, w, gx},
             [&](const Descriptors& d, const Choice& c, void* ws, const Scale& s, const Buffers& io) {
               STRATA_CUDNN_CHECK(cudnnConvolutionBackwardData(handle(), s.one(t), d.w, io.b, d.y, io.a, d.conv,
                                                               cudnnConvolutionBwdDataAlgo_t(c.algo), ws,
                                                               c.workspace, s.zero(t), d.x, io.out));
             });
}

bool cudnn_conv_backward_weight(DType t, const ConvGeom& g, const void* x, const void* gy, void* gw) {
  return run(ConvPass::backward_weight, t, g, {x, gy, gw},
             [&](const Descriptors& d, const Choice& c, void* ws, const Scale& s, const Buffers& io) {
               STRATA_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle(), s.one(t), d.x, io.a, d.y, io.b, d.conv,
                                                                 cudnnConvolutionBwdFilterAlgo_t(c.algo), ws,
                                                                 c.workspace, s.zero(t), d.w, io.out));
             });
}

#endif

}  // namespace strata::cuda
