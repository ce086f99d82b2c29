// How far each CPU convolution kernel and the GEMM are from the machine's limit: the fused multiply-add peak
// of the threads, measured by a register-only loop, against the GFLOP/s each kernel reaches on U-Net shapes.
// A convolution's flops are counted as a direct convolution does them (2 N K C/groups R S OH OW per pass), and
// as executed: Winograd F(4, 3) multiplies in the transform domain, 36 products per 16 outputs of a 3 x 3
// filter in 2-D (1/4 of the direct count), 6 per 4 outputs in 1-D (1/2); transforms are not counted.
//   build/bin/bench_efficiency [--repeats N]        one JSON object per line
// benchmarks/cpu_table.sh's companion: docs/benchmarks.md ("Efficiency").
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "benchmarks/median.h"
#include "engine/autograd.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "kernels/cpu/conv_direct.h"

using namespace strata;

namespace {

// Independent chains of vector fused multiply-adds per thread, each chain kept in a register (AVX-512: 16
// chains of 16 floats; AVX2: 16 chains of 8): enough chains to hide the FMA latency on two ports. Returns
// GFLOP/s over all threads (2 flops per lane per FMA).
double fma_peak_gflops(int threads) {
#if defined(__AVX512F__)
  using V = __m512;
  const auto fma = [](V x, V y, V z) { return _mm512_fmadd_ps(x, y, z); };
  const auto splat = [](float v) { return _mm512_set1_ps(v); };
#elif defined(__AVX2__) && defined(__FMA__)
  using V = __m256;
  const auto fma = [](V x, V y, V z) { return _mm256_fmadd_ps(x, y, z); };
  const auto splat = [](float v) { return _mm256_set1_ps(v); };
#else
  return 0;  // no vector FMA to measure
#endif
  constexpr int kLanes = int(sizeof(V) / sizeof(float));
  const auto lanes_sum = [](V v) {
    float f[kLanes];
    std::memcpy(f, &v, sizeof f);
    float t = 0;
    for (float x : f) t += x;
    return t;
  };
  constexpr int kChains = 16;
  constexpr int64_t kSteps = 20'000'000;  // FMAs per chain
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    float sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      const V a = splat(0.999999f), b = splat(1e-7f);
      const float t = float(omp_get_thread_num());
      // Sixteen named chains (an array would be stored back to memory every step).
      V c0 = splat(t), c1 = splat(t + 1), c2 = splat(t + 2), c3 = splat(t + 3), c4 = splat(t + 4), c5 = splat(t + 5),
        c6 = splat(t + 6), c7 = splat(t + 7), c8 = splat(t + 8), c9 = splat(t + 9), c10 = splat(t + 10),
        c11 = splat(t + 11), c12 = splat(t + 12), c13 = splat(t + 13), c14 = splat(t + 14), c15 = splat(t + 15);
      for (int64_t i = 0; i < kSteps; ++i) {
        c0 = fma(c0, a, b), c1 = fma(c1, a, b), c2 = fma(c2, a, b), c3 = fma(c3, a, b);
        c4 = fma(c4, a, b), c5 = fma(c5, a, b), c6 = fma(c6, a, b), c7 = fma(c7, a, b);
        c8 = fma(c8, a, b), c9 = fma(c9, a, b), c10 = fma(c10, a, b), c11 = fma(c11, a, b);
        c12 = fma(c12, a, b), c13 = fma(c13, a, b), c14 = fma(c14, a, b), c15 = fma(c15, a, b);
        // The chains stay in registers and the compiler cannot fold the loop.
        asm volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7));
        asm volatile("" : "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11), "+v"(c12), "+v"(c13), "+v"(c14), "+v"(c15));
      }
      const V acc[kChains] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15};
      for (int c = 0; c < kChains; ++c) sink += lanes_sum(acc[c]);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink == 12345.f) std::printf("%g\n", double(sink));  // keeps the result live
    best = std::max(best, double(threads) * double(kSteps) * kChains * kLanes * 2 / s / 1e9);
  }
  return best;
}

struct ConvCase {
  std::string kernel;  // what the table calls it
  cpu::ConvAlgorithm algorithm;
  int dims;  // 1 or 2
  int64_t n, c, k, size, r, stride = 1, groups = 1;
};

const char* kernel_name(cpu::ConvKernel k) {
  switch (k) {
    case cpu::ConvKernel::gemm: return "gemm";
    case cpu::ConvKernel::direct: return "direct";
    case cpu::ConvKernel::winograd: return "winograd";
    case cpu::ConvKernel::depthwise: return "depthwise";
    case cpu::ConvKernel::patch: return "patch";
    case cpu::ConvKernel::pointwise: return "pointwise";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 7;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
  const int threads = num_threads();
  const double peak = fma_peak_gflops(threads);
  std::printf("{\"case\": \"fma_peak\", \"threads\": %d, \"gflops\": %.1f}\n", threads, peak);

  using A = cpu::ConvAlgorithm;
  const std::vector<ConvCase> cases = {
      {"direct 3x3", A::direct, 2, 4, 64, 64, 64, 3},
      {"direct 3x3", A::direct, 2, 4, 128, 128, 32, 3},
      {"winograd F(4x4,3x3)", A::winograd, 2, 4, 64, 64, 64, 3},
      {"winograd F(4x4,3x3)", A::winograd, 2, 4, 128, 128, 32, 3},
      {"im2col + gemm 3x3", A::gemm, 2, 4, 64, 64, 64, 3},
      {"im2col + gemm 3x3", A::gemm, 2, 4, 128, 128, 32, 3},
      {"direct 1-D k5", A::direct, 1, 16, 64, 64, 256, 5},
      {"direct 1-D k5", A::direct, 1, 16, 256, 256, 64, 5},
      {"winograd 1-D F(4,3)", A::winograd, 1, 16, 64, 64, 256, 3},
      {"winograd 1-D F(4,3)", A::winograd, 1, 16, 256, 256, 64, 3},
      {"depthwise 3x3", A::automatic, 2, 8, 144, 144, 56, 3, 1, 144},
      {"depthwise 3x3", A::automatic, 2, 8, 384, 384, 14, 3, 1, 384},
      {"patch 2x2 stride 2", A::automatic, 2, 4, 64, 128, 64, 2, 2},
      {"pointwise 1x1", A::automatic, 2, 8, 16, 96, 96, 1},
      {"pointwise 1x1", A::automatic, 2, 8, 96, 576, 12, 1},
      {"pointwise 1x1", A::automatic, 2, 8, 960, 160, 6, 1},
      {"gemm 1x1", A::gemm, 2, 8, 96, 576, 12, 1},
  };
  Generator g(7);
  for (const ConvCase& cc : cases) {
    cpu::set_conv_algorithm(cc.algorithm);
    const int64_t pad = cc.stride == 1 ? cc.r / 2 : 0;
    const Shape xs = cc.dims == 2 ? Shape{cc.n, cc.c, cc.size, cc.size} : Shape{cc.n, cc.c, cc.size};
    const Shape ws = cc.dims == 2 ? Shape{cc.k, cc.c / cc.groups, cc.r, cc.r} : Shape{cc.k, cc.c / cc.groups, cc.r};
    Tensor x = Tensor::randn(xs, DType::f32, &g), w = Tensor::randn(ws, DType::f32, &g, 0, 0.05);
    x.requires_grad_();
    w.requires_grad_();
    const auto run = [&] {
      return cc.dims == 2 ? conv2d(x, w, Tensor(), {{cc.stride, cc.stride}, {pad, pad}, {1, 1}, cc.groups})
                          : conv1d(x, w, Tensor(), {cc.stride, pad, 1, cc.groups});
    };
    ConvGeom geom;
    geom.N = cc.n, geom.C = cc.c, geom.K = cc.k, geom.groups = cc.groups;
    geom.H = cc.dims == 2 ? cc.size : 1, geom.W = cc.size;
    geom.R = cc.dims == 2 ? cc.r : 1, geom.S = cc.r;
    geom.stride_h = cc.dims == 2 ? cc.stride : 1, geom.stride_w = cc.stride;
    geom.pad_h = cc.dims == 2 ? pad : 0, geom.pad_w = pad;
    geom.OH = (geom.H + 2 * geom.pad_h - geom.R) / geom.stride_h + 1;
    geom.OW = (geom.W + 2 * geom.pad_w - geom.S) / geom.stride_w + 1;
    const double direct_flops = 2.0 * double(geom.N * geom.K * geom.Cg() * geom.R * geom.S * geom.OH * geom.OW);
    // Executed flops of a pass: a Winograd pass multiplies 1/4 (2-D) or 1/2 (1-D) of the direct products.
    const auto executed = [&](ConvPass pass) {
      if (cpu::conv_kernel(geom, pass) != cpu::ConvKernel::winograd) return direct_flops;
      return direct_flops * (cc.dims == 2 ? 36.0 / (16.0 * 9.0) : 6.0 / (4.0 * 3.0));
    };
    Tensor y;
    const double fwd = median_ms(
        [&] {
          NoGradGuard no_grad;
          y = run();
        },
        repeats);
    const Tensor gy = Tensor::randn(y.shape(), DType::f32, &g);
    const double all = median_ms(
        [&] {
          x.zero_grad();
          w.zero_grad();
          run().backward(gy);
        },
        repeats);
    const cpu::ConvKernel fk = cpu::conv_kernel(geom, ConvPass::forward);
    const cpu::ConvKernel dk = cpu::conv_kernel(geom, ConvPass::backward_data);
    const cpu::ConvKernel wk = cpu::conv_kernel(geom, ConvPass::backward_weight);
    const double exec_fwd = executed(ConvPass::forward);
    const double exec_all = exec_fwd + executed(ConvPass::backward_data) + executed(ConvPass::backward_weight);
    std::printf("{\"case\": \"%s\", \"shape\": \"N%lld C%lld K%lld %s%lld k%lld\", \"kernels\": \"%s/%s/%s\", "
                "\"fwd_ms\": %.3f, \"fwd_gflops\": %.1f, \"fwd_exec_gflops\": %.1f, \"fwd_bwd_ms\": %.3f, "
                "\"fwd_bwd_gflops\": %.1f, \"fwd_bwd_exec_gflops\": %.1f}\n",
                cc.kernel.c_str(), static_cast<long long>(cc.n), static_cast<long long>(cc.c),
                static_cast<long long>(cc.k), cc.dims == 2 ? "HxW " : "L ", static_cast<long long>(cc.size),
                static_cast<long long>(cc.r), kernel_name(fk), kernel_name(dk), kernel_name(wk), fwd,
                direct_flops / fwd / 1e6, exec_fwd / fwd / 1e6, all, 3 * direct_flops / all / 1e6,
                exec_all / all / 1e6);
  }
  cpu::set_conv_algorithm(A::automatic);
  for (int64_t n : {256, 512, 1024}) {
    const Tensor a = Tensor::randn({n, n}, DType::f32, &g), b = Tensor::randn({n, n}, DType::f32, &g);
    Tensor c;
    const double ms = median_ms([&] { c = matmul(a, b); }, repeats);
    std::printf("{\"case\": \"gemm\", \"shape\": \"%lld^3\", \"ms\": %.3f, \"gflops\": %.1f}\n",
                static_cast<long long>(n), ms, 2.0 * double(n) * double(n) * double(n) / ms / 1e6);
  }
  return 0;
}
