// CUDA kernel benchmarks, run only where a GPU exists:
//   sgemm       native tiled SGEMM vs cuBLAS (pure FP32), TFLOP/s and % of cuBLAS
//   elementwise add of two tensors vs a device-to-device copy, GB/s and % of copy
//   conv        U-Net 3x3 shapes through the engine, native (implicit GEMM, and
//               Winograd F(4x4, 3x3)) vs cuDNN with searched and with heuristic
//               algorithms (FP32, no TF32): forward, backward-data,
//               backward-filter, TFLOP/s (counted as direct convolution)
//   batch_norm  training-mode forward and backward, native (Welford) vs cuDNN, GB/s
// Backward passes are timed as y.backward(gy) on a kept graph with only the
// input (backward-data) or only the weight (backward-filter) requiring grad;
// each includes the accumulation of the gradient into .grad (one add).
// Timing: CUDA events around each repeat, after warm-up; the L2 cache is
// flushed (a 256 MiB memset) before every repeat so operands come from HBM.
// Prints one JSON object per case; without a GPU prints one line and exits 0.
//   build/bin/bench_cuda [--repeats N] [--size S] [--only sgemm,add,conv,batch_norm]
#include <cublas_v2.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/cuda_device.h"
#include "engine/cudnn_conv.h"
#include "engine/cudnn_ops.h"
#include "engine/nn_ops.h"
#include "engine/random.h"
#include "kernels/cuda/kernels.h"

using namespace strata;

namespace {

struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(size_t n) { STRATA_CUDA_CHECK(cudaMalloc(&p, n)); }
  ~DeviceBuffer() { cudaFree(p); }
  template <class T> T* as() const { return static_cast<T*>(p); }
};

// Median milliseconds of `repeats` timed runs of fn, each after an L2 flush.
double time_ms(const std::function<void()>& fn, int repeats, DeviceBuffer& flush, size_t flush_bytes) {
  for (int i = 0; i < 3; ++i) fn();  // warm-up
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    STRATA_CUDA_CHECK(cudaMemset(flush.p, r & 0xff, flush_bytes));
    STRATA_CUDA_CHECK(cudaEventRecord(start));
    fn();
    STRATA_CUDA_CHECK(cudaEventRecord(stop));
    STRATA_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void fill_random(float* d, size_t n) {
  STRATA_CUDA_CHECK(cuda::random_uniform<float>(d, int64_t(n), 1234, 0, -1, 1));
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 20;
  int64_t size = 4096;
  std::string only = "sgemm,add,conv,batch_norm";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--size") && i + 1 < argc) size = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else {
      std::fprintf(stderr, "bench_cuda: unknown argument '%s'\nusage: bench_cuda [--repeats N] [--size S] "
                           "[--only sgemm,add,conv,batch_norm]\n", argv[i]);
      return 2;
    }
  }
  const auto wanted = [&](const char* group) {
    size_t from = 0;  // is `group` one of the comma-separated names?
    while (from <= only.size()) {
      const size_t end = std::min(only.find(',', from), only.size());
      if (only.compare(from, end - from, group) == 0) return true;
      from = end + 1;
    }
    return false;
  };
  if (cuda::device_count() == 0) {
    std::printf("bench_cuda: no CUDA device; CUDA benchmarks not run\n");
    return 0;
  }
  cudaDeviceProp prop;
  STRATA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::fprintf(stderr, "bench_cuda on %s (%d SMs), median of %d repeats, L2 flushed\n", prop.name,
               prop.multiProcessorCount, repeats);
  const size_t flush_bytes = size_t(256) << 20;
  DeviceBuffer flush(flush_bytes);

  // ---- SGEMM ----------------------------------------------------------------
  for (const int64_t n : {int64_t(1024), int64_t(2048), size}) {
    if (!wanted("sgemm")) break;
    DeviceBuffer a(n * n * 4), b(n * n * 4), c(n * n * 4);
    fill_random(a.as<float>(), n * n);
    fill_random(b.as<float>(), n * n);
    const double native = time_ms(
        [&] {
          STRATA_CUDA_CHECK(cuda::gemm_batched<float>(1, false, false, n, n, n, a.as<float>(), n, 0, b.as<float>(), n,
                                                      0, c.as<float>(), n, 0));
        },
        repeats, flush, flush_bytes);
    cublasHandle_t h;
    cublasCreate(&h);
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);  // FP32, no TF32
    const float one = 1, zero = 0;
    const double cublas = time_ms(
        [&] {
          cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(n), int(n), &one, b.as<float>(), int(n), a.as<float>(),
                      int(n), &zero, c.as<float>(), int(n));
        },
        repeats, flush, flush_bytes);
    cublasDestroy(h);
    const double flop = 2.0 * double(n) * n * n;
    std::printf(
        "{\"name\": \"sgemm_%lld\", \"native_ms\": %.4f, \"cublas_ms\": %.4f, \"native_tflops\": %.2f, "
        "\"cublas_tflops\": %.2f, \"pct_of_cublas\": %.1f}\n",
        (long long)n, native, cublas, flop / native / 1e9, flop / cublas / 1e9, 100.0 * cublas / native);
  }

  // ---- elementwise ------------------------------------------------------------
  for (const int64_t n : {int64_t(1) << 24, int64_t(1) << 26}) {
    if (!wanted("add")) break;
    DeviceBuffer x(n * 4), y(n * 4), z(n * 4);
    fill_random(x.as<float>(), n);
    fill_random(y.as<float>(), n);
    TensorDesc d;
    d.ndim = 1;
    d.shape[0] = n;
    d.strides[0] = 1;
    const double add = time_ms(
        [&] {
          STRATA_CUDA_CHECK(cuda::binary<float>(BinaryOp::add, x.as<float>(), d, y.as<float>(), d, z.as<float>(), d));
        },
        repeats, flush, flush_bytes);
    const double copy = time_ms(
        [&] { STRATA_CUDA_CHECK(cudaMemcpy(z.p, x.p, n * 4, cudaMemcpyDeviceToDevice)); }, repeats, flush, flush_bytes);
    const double add_gbs = 3.0 * n * 4 / add / 1e6, copy_gbs = 2.0 * n * 4 / copy / 1e6;
    std::printf(
        "{\"name\": \"add_f32_%lld\", \"add_ms\": %.4f, \"copy_ms\": %.4f, \"add_gbs\": %.1f, \"copy_gbs\": %.1f, "
        "\"pct_of_copy\": %.1f}\n",
        (long long)n, add, copy, add_gbs, copy_gbs, 100.0 * add_gbs / copy_gbs);
  }
  // ---- conv2d and batch norm through the engine: native vs cuDNN -------------
  const Device gpu = Device::cuda(0);
  Generator gen(7);
  std::vector<std::pair<const char*, cuda::ConvEngine>> engines{{"native", cuda::ConvEngine::native}};
  if (cuda::cudnn_available()) engines.push_back({"cudnn", cuda::ConvEngine::cudnn});
  // Convolutions: cuDNN with its algorithms chosen by a timed search (the default) and by its heuristic ranking.
  std::vector<std::pair<const char*, cuda::ConvEngine>> conv_engines = engines;
  conv_engines.insert(conv_engines.begin() + 1, {"native_winograd", cuda::ConvEngine::native});
  if (cuda::cudnn_available()) conv_engines.push_back({"cudnn_heuristic", cuda::ConvEngine::cudnn});
  struct ConvCase {
    int64_t N, C, HW;
  };
  for (const ConvCase c : {ConvCase{16, 16, 256}, ConvCase{16, 32, 128}, ConvCase{16, 64, 64}, ConvCase{16, 128, 32},
                           ConvCase{16, 256, 16}}) {
    if (!wanted("conv")) break;
    const Tensor x = Tensor::randn({c.N, c.C, c.HW, c.HW}, DType::f32, &gen, 0, 1, gpu);
    const Tensor w = Tensor::randn({c.C, c.C, 3, 3}, DType::f32, &gen, 0, 1, gpu);
    const double flop = 2.0 * double(c.N) * c.C * c.C * 9 * c.HW * c.HW;
    for (const auto& [name, e] : conv_engines) {
      cuda::set_conv_engine(e);
      cuda::set_native_conv(std::string_view(name) == "native_winograd" ? cuda::NativeConv::winograd
                                                                        : cuda::NativeConv::implicit_gemm);
      cuda::set_algo_choice(std::string_view(name) == "cudnn_heuristic" ? cuda::AlgoChoice::heuristic
                                                                         : cuda::AlgoChoice::search);
      const Conv2dOptions o{{1, 1}, {1, 1}};
      double fwd, bwd_data, bwd_filter;
      {
        NoGradGuard no_grad;
        fwd = time_ms([&] { conv2d(x, w, Tensor(), o); }, repeats, flush, flush_bytes);
      }
      {
        Tensor xg = x.detach().requires_grad_();
        const Tensor y = conv2d(xg, w, Tensor(), o);
        const Tensor gy = Tensor::randn(y.shape(), DType::f32, &gen, 0, 1, gpu);
        bwd_data = time_ms([&] { y.backward(gy, true); }, repeats, flush, flush_bytes);
      }
      {
        Tensor wg = w.detach().requires_grad_();
        const Tensor y = conv2d(x, wg, Tensor(), o);
        const Tensor gy = Tensor::randn(y.shape(), DType::f32, &gen, 0, 1, gpu);
        bwd_filter = time_ms([&] { y.backward(gy, true); }, repeats, flush, flush_bytes);
      }
      std::printf(
          "{\"name\": \"conv2d_N%lld_C%lld_%lld\", \"engine\": \"%s\", \"forward_ms\": %.4f, "
          "\"backward_data_ms\": %.4f, \"backward_filter_ms\": %.4f, \"forward_tflops\": %.2f, "
          "\"backward_data_tflops\": %.2f, \"backward_filter_tflops\": %.2f}\n",
          (long long)c.N, (long long)c.C, (long long)c.HW, name, fwd, bwd_data, bwd_filter, flop / fwd / 1e9,
          flop / bwd_data / 1e9, flop / bwd_filter / 1e9);
    }
    cuda::set_conv_engine(cuda::ConvEngine::automatic);
    cuda::set_native_conv(cuda::NativeConv::implicit_gemm);
    cuda::set_algo_choice(cuda::AlgoChoice::search);
  }
  for (const ConvCase c : {ConvCase{16, 16, 256}, ConvCase{16, 64, 64}, ConvCase{16, 256, 16}}) {
    if (!wanted("batch_norm")) break;
    const Tensor x = Tensor::randn({c.N, c.C, c.HW, c.HW}, DType::f32, &gen, 0, 1, gpu);
    const Tensor gamma = Tensor::ones({c.C}, DType::f32, gpu), beta = Tensor::zeros({c.C}, DType::f32, gpu);
    const double bytes = double(x.numel()) * 4;
    for (const auto& [name, e] : engines) {
      cuda::set_op_engine(cuda::CudnnOp::batch_norm, e);
      double fwd;
      {
        NoGradGuard no_grad;
        fwd = time_ms([&] { batch_norm(x, Tensor(), Tensor(), gamma, beta, true); }, repeats, flush, flush_bytes);
      }
      Tensor xg = x.detach().requires_grad_();
      const Tensor y = batch_norm(xg, Tensor(), Tensor(), gamma, beta, true);
      const Tensor gy = Tensor::randn(y.shape(), DType::f32, &gen, 0, 1, gpu);
      const double bwd = time_ms([&] { y.backward(gy, true); }, repeats, flush, flush_bytes);
      // Forward reads x twice (statistics, normalise) and writes y; backward reads x and gy twice, writes gx.
      std::printf(
          "{\"name\": \"batch_norm_N%lld_C%lld_%lld\", \"engine\": \"%s\", \"forward_ms\": %.4f, "
          "\"backward_ms\": %.4f, \"forward_gbs\": %.1f, \"backward_gbs\": %.1f}\n",
          (long long)c.N, (long long)c.C, (long long)c.HW, name, fwd, bwd, 3 * bytes / fwd / 1e6,
          5 * bytes / bwd / 1e6);
    }
    cuda::set_op_engine(cuda::CudnnOp::batch_norm, cuda::ConvEngine::automatic);
  }
  return 0;
}
