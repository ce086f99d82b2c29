// Every op of the engine core on the CUDA backend against the CPU backend,
// forward and backward, with sizes that are not multiples of any block or tile
// size. In the emulator build (label cuda_emu) the kernels of kernels/cuda run
// on the CPU; in the nvcc build (label gpu) they run on the real device, with
// the cuDNN engines compared against the native kernels, and every case is
// skipped, loudly, on a machine without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "engine/cuda_backend.h"
#include "engine/cuda_device.h"
#include "engine/cudnn_conv.h"
#include "engine/cudnn_ops.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cuda/kernels.h"
#include "tests/require_device.h"

using namespace strata;

namespace {

const Device kGpu = Device::cuda(0);

Tensor randn(const Shape& s, uint64_t seed, DType t = DType::f32) {
  Generator g(seed);
  return Tensor::randn(s, t, &g);
}

std::vector<double> host_values(const Tensor& t) { return t.to(Device::cpu()).to(DType::f64).to_vector<double>(); }

// |a - b| <= tol * max(1, |b|) elementwise, NaN matching NaN. With to_largest, tol * max(1, max |b|): for
// algorithms whose rounding scales with the whole result (FFT and Winograd transforms), not with each element.
void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what,
                  bool to_largest = false) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  const auto g = host_values(got), w = host_values(want);
  double largest = 1;
  if (to_largest)
    for (const double v : w) largest = std::isnan(v) ? largest : std::max(largest, std::abs(v));
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i])) {
      ASSERT_TRUE(std::isnan(g[i])) << what << " at " << i;
      continue;
    }
    ASSERT_NEAR(g[i], w[i], tol * std::max(largest, std::abs(w[i]))) << what << " at " << i;
  }
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on CPU copies and on CUDA copies of `inputs`; compares the outputs,
// then backpropagates the same random output gradient on both devices and
// compares the gradient of every floating input. reference = f64 runs the CPU
// side in double precision (float inputs): for long float sums the CPU's own
// rounding (Winograd's, for example) can exceed the GPU's.
void check(const std::string& name, const Fn& f, const std::vector<Tensor>& inputs, double tol = 2e-6,
           bool to_largest = false, DType reference = DType::f32) {
  SCOPED_TRACE(name);
  std::vector<Tensor> on_cpu, on_gpu;
  for (const Tensor& x : inputs) {
    Tensor c = x.dtype() == DType::f32 ? x.to(reference).detach().clone() : x.clone(), g = x.to(kGpu);
    ASSERT_EQ(g.device(), kGpu);
    if (is_floating(x.dtype())) {
      c.requires_grad_();
      g.requires_grad_();
    }
    on_cpu.push_back(c);
    on_gpu.push_back(g);
  }
  const Tensor y_cpu = f(on_cpu), y_gpu = f(on_gpu);
  ASSERT_EQ(y_gpu.device(), kGpu);
  expect_close(y_gpu, y_cpu.to(y_gpu.dtype()), tol, name + " forward", to_largest);
  if (!y_cpu.requires_grad()) return;
  const Tensor gy = randn(y_gpu.shape(), 99, y_gpu.dtype());
  y_cpu.backward(gy.to(y_cpu.dtype()));
  y_gpu.backward(gy.to(kGpu));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!on_cpu[i].requires_grad()) continue;
    ASSERT_TRUE(on_gpu[i].grad().defined()) << name << " input " << i;
    EXPECT_EQ(on_gpu[i].grad().device(), kGpu);
    expect_close(on_gpu[i].grad(), on_cpu[i].grad().to(on_gpu[i].grad().dtype()), tol,
                 name + " gradient of input " + std::to_string(i), to_largest);
  }
}

Tensor positive(const Shape& s, uint64_t seed) { return add(abs(randn(s, seed)), 0.5); }

// The nvcc build runs this suite on the real device: without one there is nothing to test.
const auto* const kRequireDevice = ::testing::AddGlobalTestEnvironment(new test::RequireCudaDevice("CUDA backend"));

}  // namespace

TEST(CudaBackend, DeviceAndCopies) {
  ASSERT_EQ(cuda::device_count(), 1);
  const Tensor x = randn({3, 7, 5}, 1);
  const Tensor g = x.to(kGpu);
  EXPECT_EQ(g.device(), kGpu);
  EXPECT_EQ(g.to(Device::cpu()).to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(g.to_vector<float>(), x.to_vector<float>());  // straight from the device
  const AllocatorStats stats = backend_for(kGpu).allocator().stats();
  EXPECT_GE(stats.allocated_bytes, int64_t(x.numel() * sizeof(float)));
  try {
    Tensor::zeros({1}, DType::f32, Device::cuda(1));
    FAIL() << "cuda:1 should not exist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:1"), std::string::npos) << e.what();
  }
}

TEST(CudaBackend, BinaryOpsWithBroadcasting) {
  const Tensor a = randn({5, 1, 37}, 1), b = randn({3, 37}, 2), p = positive({5, 3, 37}, 3);
  check("add", [](auto& v) { return add(v[0], v[1]); }, {a, b});
  check("sub", [](auto& v) { return sub(v[0], v[1]); }, {a, b});
  check("mul", [](auto& v) { return mul(v[0], v[1]); }, {a, b});
  check("div", [](auto& v) { return div(v[0], v[1]); }, {a, p});
  check("pow", [](auto& v) { return pow(v[0], v[1]); }, {p, b});
  check("maximum", [](auto& v) { return maximum(v[0], v[1]); }, {a, b});
  check("minimum", [](auto& v) { return minimum(v[0], v[1]); }, {a, b});
  check("scalar ops", [](auto& v) { return div(2.0, add(mul(sub(1.0, v[0]), 3.0), 10.0)); }, {a});
  check("pow scalar", [](auto& v) { return pow(v[0], 2.5); }, {p});
  check("f64 mul", [](auto& v) { return mul(v[0], v[1]); }, {randn({7, 9}, 4, DType::f64), randn({9}, 5, DType::f64)},
        1e-12);
  check("i64 add", [](auto& v) { return add(v[0], v[1]); },
        {Tensor::arange(0, 33, 1, DType::i64).reshape({3, 11}), Tensor::arange(0, 11, 1, DType::i64)}, 0);
}

TEST(CudaBackend, UnaryOps) {
  const Tensor x = randn({4, 9, 13}, 6), p = positive({131}, 7);
  check("neg", [](auto& v) { return neg(v[0]); }, {x});
  check("exp", [](auto& v) { return exp(v[0]); }, {x});
  check("log", [](auto& v) { return log(v[0]); }, {p});
  check("sqrt", [](auto& v) { return sqrt(v[0]); }, {p});
  check("abs", [](auto& v) { return abs(v[0]); }, {x});
  check("sign", [](auto& v) { return sign(v[0]); }, {x});
  check("clamp", [](auto& v) { return clamp(v[0], -0.5, 0.7); }, {x});
  check("relu_mask", [](auto& v) { return relu_mask(v[0]); }, {x});
  check("relu composite", [](auto& v) { return mul(v[0], relu_mask(v[0])); }, {x});
  check("on a transposed view", [](auto& v) { return exp(v[0].transpose(0, 2)); }, {x});
  check("i32 abs", [](auto& v) { return abs(v[0]); }, {Tensor::arange(-20, 21, 1, DType::i32)}, 0);
}

TEST(CudaBackend, CompareAndWhere) {
  const Tensor a = randn({6, 17}, 8), b = randn({17}, 9);
  check("eq", [](auto& v) { return eq(v[0], v[0]); }, {a}, 0);
  check("ne", [](auto& v) { return ne(v[0], v[1]); }, {a, b}, 0);
  check("lt", [](auto& v) { return lt(v[0], v[1]); }, {a, b}, 0);
  check("le", [](auto& v) { return le(v[0], 0.1); }, {a}, 0);
  check("gt", [](auto& v) { return gt(v[0], v[1]); }, {a, b}, 0);
  check("ge", [](auto& v) { return ge(v[0], v[1]); }, {a, b}, 0);
  check("where", [](auto& v) { return where(gt(v[0], v[1]), v[0], mul(v[1], 2.0)); }, {a, b});
}

TEST(CudaBackend, Reductions) {
  const Tensor x = randn({7, 33, 5}, 10);
  check("sum all", [](auto& v) { return sum(v[0]); }, {x});
  check("sum dim 1", [](auto& v) { return sum(v[0], {1}); }, {x});
  check("sum dims 0,2 keepdim", [](auto& v) { return sum(v[0], {0, 2}, true); }, {x});
  check("mean dim -1", [](auto& v) { return mean(v[0], {-1}); }, {x});
  check("var dim 1", [](auto& v) { return var(v[0], {1}); }, {x}, 1e-5);
  check("max dim 1", [](auto& v) { return max(v[0], 1); }, {x});
  check("min dim 0 keepdim", [](auto& v) { return min(v[0], 0, true); }, {x});
  check("max all", [](auto& v) { return max(v[0]); }, {x});
  check("min all", [](auto& v) { return min(v[0]); }, {x});
  check("argmax dim 2", [](auto& v) { return argmax(v[0], 2); }, {x}, 0);
  check("argmin dim 1", [](auto& v) { return argmin(v[0], 1); }, {x}, 0);
  check("argmax all", [](auto& v) { return argmax(v[0]); }, {x}, 0);
  // Long reductions take the warp path (<= 4096) and the chunked block path (> 16384, several chunks).
  const Tensor longer = randn({3, 3001}, 11), longest = randn({40003}, 12);
  check("warp sum", [](auto& v) { return sum(v[0], {1}); }, {longer}, 1e-5);
  check("warp max", [](auto& v) { return max(v[0], 1); }, {longer});
  check("chunked sum", [](auto& v) { return sum(v[0]); }, {longest}, 1e-5);
  check("chunked mean", [](auto& v) { return mean(v[0]); }, {longest}, 1e-5);
  check("chunked argmin", [](auto& v) { return argmin(v[0]); }, {longest}, 0);
  check("chunked max", [](auto& v) { return max(v[0]); }, {longest});
  check("i64 sum", [](auto& v) { return sum(v[0], {0}); },
        {Tensor::arange(0, 20001 * 2, 1, DType::i64).reshape({20001, 2})}, 0);
  check("u8 max", [](auto& v) { return max(v[0], 1); },
        {Tensor::arange(0, 250, 1, DType::i32).reshape({10, 25}).to(DType::u8)}, 0);
}

TEST(CudaBackend, ReductionTiesAndNaN) {
  // Ties: the first index, as on the CPU; NaN wins max and min.
  const Tensor t = Tensor::from_vector<float>({1, 3, 3, 0, 3}, {5});
  EXPECT_EQ(argmax(t.to(kGpu)).item<int64_t>(), 1);
  Tensor n = randn({5000}, 13);
  n = where(eq(Tensor::arange(0, 5000, 1, DType::f32), 4321.0), Tensor::scalar(NAN), n);
  EXPECT_TRUE(std::isnan(max(n.to(kGpu)).item<float>()));
  EXPECT_TRUE(std::isnan(min(n.to(kGpu)).item<float>()));
  EXPECT_EQ(argmax(n.to(kGpu)).item<int64_t>(), 4321);
}

TEST(CudaBackend, MatmulNativeEngine) {
  cuda::set_gemm_engine(cuda::GemmEngine::native);
  check("matmul 37x53x29", [](auto& v) { return matmul(v[0], v[1]); }, {randn({37, 53}, 14), randn({53, 29}, 15)},
        1e-5);
  check("matmul two tiles each way", [](auto& v) { return matmul(v[0], v[1]); },
        {randn({130, 19}, 16), randn({19, 131}, 17)}, 1e-5);
  check("matmul transposed operands", [](auto& v) { return matmul(v[0].t(), v[1].t()); },
        {randn({21, 33}, 18), randn({17, 21}, 19)}, 1e-5);
  check("batched broadcast matmul", [](auto& v) { return matmul(v[0], v[1]); },
        {randn({3, 1, 9, 11}, 20), randn({4, 11, 6}, 21)}, 1e-5);
  check("matrix-vector", [](auto& v) { return matmul(v[0], v[1]); }, {randn({23, 300}, 22), randn({300}, 23)}, 1e-5);
  // Rows of a multiple of 4 floats take the 16-byte-load kernel; M, N not multiples of the 128 tile, K of the
  // 8-deep slice, so every edge of the vector loads is crossed. The gradient of A sums 260 products of unit
  // size: two summation orders differ by about sqrt(260) u |terms| ~ 1e-5 (1.6e-5 seen on an H100), so these
  // two cases allow 1e-4; a wrong index or a missed edge is off by O(1).
  check("vector loads 132x68x260", [](auto& v) { return matmul(v[0], v[1]); },
        {randn({132, 68}, 26), randn({68, 260}, 27)}, 1e-4);
  check("vector loads, transposed operands", [](auto& v) { return matmul(v[0].t(), v[1].t()); },
        {randn({68, 132}, 28), randn({260, 68}, 29)}, 1e-4);
  check("vector loads, batched", [](auto& v) { return matmul(v[0], v[1]); },
        {randn({3, 36, 44}, 30), randn({3, 44, 20}, 31)}, 1e-5);
  check("vector loads, K tail inside a row", [](auto& v) { return matmul(slice(v[0], 1, 0, 66), v[1]); },
        {randn({130, 72}, 32), randn({66, 132}, 33)}, 1e-5);
  check("f64 matmul", [](auto& v) { return matmul(v[0], v[1]); },
        {randn({9, 40}, 24, DType::f64), randn({40, 7}, 25, DType::f64)}, 1e-12);
  cuda::set_gemm_engine(cuda::GemmEngine::automatic);
}

TEST(CudaBackend, GemmEngineSelection) {
  EXPECT_EQ(cuda::parse_gemm_engine("native"), cuda::GemmEngine::native);
  EXPECT_EQ(cuda::parse_gemm_engine("auto"), cuda::GemmEngine::automatic);
  try {
    cuda::parse_gemm_engine("fast");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("native, cublas or auto"), std::string::npos) << e.what();
  }
#if defined(STRATA_CUDA_EMU)
  EXPECT_FALSE(cuda::cublas_available());  // the emulator build
  EXPECT_THROW(cuda::set_gemm_engine(cuda::GemmEngine::cublas), Error);
#else
  // The nvcc build links cuBLAS: it can be chosen, and it computes what the native kernel does.
  EXPECT_TRUE(cuda::cublas_available());
  cuda::set_gemm_engine(cuda::GemmEngine::cublas);
  EXPECT_EQ(cuda::gemm_engine(), cuda::GemmEngine::cublas);
  check("cuBLAS matmul 130x19x131", [](auto& v) { return matmul(v[0], v[1]); },
        {randn({130, 19}, 16), randn({19, 131}, 17)}, 1e-5);
  cuda::set_gemm_engine(cuda::GemmEngine::automatic);
#endif
  EXPECT_EQ(cuda::gemm_engine(), cuda::GemmEngine::automatic);
}

TEST(CudaBackend, SoftmaxBothKernelShapes) {
  const Tensor chw = randn({2, 5, 7, 3}, 26), rows = mul(randn({3, 301}, 27), 4.0);
  check("softmax channels", [](auto& v) { return softmax(v[0], 1); }, {chw});
  check("log_softmax channels", [](auto& v) { return log_softmax(v[0], 1); }, {chw});
  check("softmax rows", [](auto& v) { return softmax(v[0], -1); }, {rows});
  check("log_softmax rows", [](auto& v) { return log_softmax(v[0], -1); }, {rows}, 1e-5);
  check("softmax short rows", [](auto& v) { return softmax(v[0], -1); }, {chw});
}

TEST(CudaBackend, ShapeAndIndexOps) {
  const Tensor x = randn({5, 7, 3}, 28);
  check("cat", [](auto& v) { return cat({v[0], v[1]}, 1); }, {x, randn({5, 2, 3}, 29)});
  check("stack", [](auto& v) { return stack({v[0], v[1]}, 0); }, {x, randn({5, 7, 3}, 30)});
  check("split", [](auto& v) { return mul(split(v[0], 3, 1)[2], 2.0); }, {x});
  check("views", [](auto& v) { return v[0].permute({2, 0, 1}).slice(2, 1, 7, 2).contiguous(); }, {x});
  check("expand + reshape", [](auto& v) { return v[0].unsqueeze(0).expand({4, 5, 7, 3}).reshape({20, 21}); }, {x});
  const Tensor idx = Tensor::from_vector<int64_t>({6, 0, 6, 2, 6}, {5});  // repeats: accumulating backward
  check("index_select", [](auto& v) { return index_select(v[0], 1, v[1]); }, {x, idx});
  Generator g(31);
  const Tensor gidx = mul(Tensor::rand({5, 9, 3}, DType::f32, &g), 6.99).to(DType::i64);
  check("gather", [](auto& v) { return gather(v[0], 1, v[1]); }, {x, gidx});
  check("one_hot", [](auto& v) { return one_hot(v[0], 7, DType::f32); }, {idx}, 0);
  check("dtype casts", [](auto& v) { return v[0].to(DType::i32).to(DType::f64).to(DType::f32); },
        {mul(x, 10.0)}, 0);
  check("u8 cast", [](auto& v) { return v[0].to(DType::u8); }, {Tensor::arange(0, 200, 1, DType::f32)}, 0);
}

TEST(CudaBackend, SameRandomStreamAsCpu) {
  for (const DType t : {DType::f32, DType::f64}) {
    Generator gc(77), gg(77);
    const Tensor uc = Tensor::rand({1001}, t, &gc), ug = Tensor::rand({1001}, t, &gg, 0, 1, kGpu);
    EXPECT_EQ(host_values(ug), host_values(uc));  // bit for bit
    const Tensor nc = Tensor::randn({1003}, t, &gc), ng = Tensor::randn({1003}, t, &gg, 0, 1, kGpu);
    expect_close(ng, nc, 1e-6, "randn");  // a GPU's double log / sin / cos may differ in the last bits
  }
}

TEST(CudaBackend, ADeviceTrainingStep) {
  // Two-layer network: one SGD step computed on each device ends with the same weights.
  const Tensor x = randn({19, 6}, 40), w1 = mul(randn({6, 11}, 41), 0.5), w2 = mul(randn({11, 3}, 42), 0.5);
  const Tensor labels = Tensor::from_vector<int64_t>({0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2, 0, 1, 2, 2, 1, 0, 1}, {19});
  check("mlp loss",
        [](auto& v) {
          const Tensor h = mul(matmul(v[0], v[1]), relu_mask(matmul(v[0], v[1])));
          const Tensor lp = log_softmax(matmul(h, v[2]), 1);
          return neg(mean(gather(lp, 1, v[3].unsqueeze(1))));
        },
        {x, w1, w2, labels}, 1e-5);
}

// ---- neural-network ops on the emulated device ------------------------------

// Each engine the build has: the native kernels to the element; cuDNN's searched algorithms, transforms (FFT,
// Winograd) among them, relative to the largest element.
TEST(CudaBackendNn, Convolutions) {
  std::vector<cuda::ConvEngine> engines{cuda::ConvEngine::native};
  if (cuda::cudnn_available()) engines.push_back(cuda::ConvEngine::automatic);
  for (const cuda::ConvEngine engine : engines) {
    cuda::set_conv_engine(engine);
    const bool to_largest = engine != cuda::ConvEngine::native;
    SCOPED_TRACE(to_largest ? "engine auto (cuDNN, searched)" : "engine native");
    const auto conv_check = [&](const std::string& name, const Fn& f, const std::vector<Tensor>& inputs) {
      check(name, f, inputs, 1e-5, to_largest);
    };
    conv_check("conv2d 3x3 pad 1", [](auto& v) { return conv2d(v[0], v[1], v[2], {{1, 1}, {1, 1}}); },
               {randn({2, 3, 9, 7}, 50), randn({5, 3, 3, 3}, 51), randn({5}, 52)});
    conv_check("conv2d stride 2 dilation 2 groups 2",
               [](auto& v) { return conv2d(v[0], v[1], v[2], {{2, 2}, {2, 2}, {2, 2}, 2}); },
               {randn({2, 4, 11, 10}, 53), randn({6, 2, 3, 3}, 54), randn({6}, 55)});
    conv_check("conv2d depthwise non-square", [](auto& v) { return conv2d(v[0], v[1], v[2], {{2, 1}, {1, 2}, {1, 1}, 3}); },
               {randn({1, 3, 7, 9}, 56), randn({3, 1, 2, 5}, 57), randn({3}, 58)});
    conv_check("conv2d 1x1", [](auto& v) { return conv2d(v[0], v[1], v[2]); },
               {randn({2, 5, 6, 7}, 59), randn({3, 5, 1, 1}, 60), randn({3}, 61)});
    conv_check("conv1d same", [](auto& v) { return conv1d(v[0], v[1], v[2], {1, 0, 1, 1, true}); },
               {randn({3, 2, 37}, 62), randn({4, 2, 5}, 63), randn({4}, 64)});
    conv_check("conv_transpose2d", [](auto& v) { return conv_transpose2d(v[0], v[1], v[2], {{2, 3}, {1, 0}, {1, 2}, {1, 1}, 2}); },
               {randn({1, 4, 5, 3}, 65), randn({4, 2, 3, 4}, 66), randn({4}, 67)});
    conv_check("conv_transpose1d", [](auto& v) { return conv_transpose1d(v[0], v[1], v[2], {2}); },
               {randn({2, 3, 13}, 68), randn({3, 2, 2}, 69), randn({2}, 70)});
  }
  cuda::set_conv_engine(cuda::ConvEngine::automatic);
}

// The implicit-GEMM kernels (kernels/cuda/conv_igemm.cu) in each tile height (32, 64, 128 output rows), with
// tiles cut by the edges, strides that leave input rows no output reads, a backward-weight sum long enough to
// be split into chunks (2 x 48 x 48 positions) and a deep layer whose every pass splits its sum. Inputs are
// scaled so that the gradients, sums of 300 to 4,608 products, stay near 1.
TEST(CudaBackendNn, ImplicitGemmConvolutions) {
  cuda::set_conv_engine(cuda::ConvEngine::native);  // on a GPU the default would choose per shape
  const auto against_f64 = [](const std::string& name, const Fn& f, const std::vector<Tensor>& inputs) {
    check(name, f, inputs, 1e-5, false, DType::f64);
  };
  ConvGeom g;
  g.N = 2, g.C = 5, g.H = g.W = 48, g.K = 70, g.R = g.S = 3, g.OH = g.OW = 48, g.pad_h = g.pad_w = 1;
  EXPECT_EQ(cuda::conv_igemm_workspace(ConvPass::forward, g), 0);
  EXPECT_GT(cuda::conv_igemm_workspace(ConvPass::backward_weight, g), 70 * 5 * 9);  // chunks' partial sums
  g.C = g.groups = g.K = 5;
  EXPECT_EQ(cuda::conv_igemm_workspace(ConvPass::forward, g), -1);  // depthwise keeps the GEMM path
  against_f64("conv2d 3x3 K70 (128-row tiles), split weight sum",
              [](auto& v) { return conv2d(v[0], v[1], v[2], {{1, 1}, {1, 1}}); },
              {mul(randn({2, 5, 48, 48}, 160), 0.05), mul(randn({70, 5, 3, 3}, 161), 0.1), randn({70}, 162)});
  against_f64("conv2d 5x3 stride 2 K40 (64-row tiles)", [](auto& v) { return conv2d(v[0], v[1], v[2], {{2, 2}, {2, 1}}); },
              {randn({3, 36, 13, 11}, 163), mul(randn({40, 36, 5, 3}, 164), 0.2), randn({40}, 165)});
  against_f64("conv2d stride 3 dilation 2 groups 2 (32-row tiles)",
              [](auto& v) { return conv2d(v[0], v[1], v[2], {{3, 3}, {2, 2}, {2, 2}, 2}); },
              {randn({2, 8, 17, 19}, 166), randn({12, 4, 3, 3}, 167), randn({12}, 168)});
  ConvGeom deep;  // few output tiles: every pass splits its sum
  deep.N = 8, deep.C = deep.K = 64, deep.H = deep.W = deep.OH = deep.OW = 8, deep.R = deep.S = 3, deep.pad_h = deep.pad_w = 1;
  for (const ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weight})
    EXPECT_GT(cuda::conv_igemm_workspace(pass, deep), 0) << int(pass);
  against_f64("conv2d 3x3 64 channels 8 x 8 (split sums in all passes)",
              [](auto& v) { return conv2d(v[0], v[1], v[2], {{1, 1}, {1, 1}}); },
              {mul(randn({8, 64, 8, 8}, 172), 0.1), mul(randn({64, 64, 3, 3}, 173), 0.05), randn({64}, 174)});
  against_f64("conv1d k5 64 channels", [](auto& v) { return conv1d(v[0], v[1], v[2], {1, 2}); },
              {mul(randn({2, 64, 150}, 169), 0.1), mul(randn({64, 64, 5}, 170), 0.1), randn({64}, 171)});
  cuda::set_conv_engine(cuda::ConvEngine::automatic);
}

// The Winograd F(4x4, 3x3) kernels (kernels/cuda/conv_winograd.cu) in every pass against float64 on the CPU:
// paddings 0, 1, 2 and unequal ones (backward-data runs padded 2 - p), planes that end inside a tile, more output
// channels than a GEMM tile holds, and a backward-weight sum cut into chunks (4 x 64 x 64 outputs: 1,024 tiles).
TEST(CudaBackendNn, WinogradConvolutions) {
  EXPECT_EQ(cuda::parse_native_conv("winograd"), cuda::NativeConv::winograd);
  EXPECT_EQ(cuda::parse_native_conv("igemm"), cuda::NativeConv::implicit_gemm);
  EXPECT_THROW(cuda::parse_native_conv("fft"), Error);
  cuda::set_conv_engine(cuda::ConvEngine::native);
  cuda::set_native_conv(cuda::NativeConv::winograd);
  // Relative to the largest element, as the CPU's F(4x4, 3x3) is tested (tests/test_conv_winograd.cpp): the
  // transforms scale by up to 8 and 1/24, so the kernels round about a decimal digit more than a direct sum.
  // Measured on these cases: below 5e-6 of the largest element, the chunked weight gradient below 1e-5; a wrong
  // coefficient (1/25 for 1/24 in the filter transform) is off by 5e-4 to 6e-3.
  const auto against_f64 = [](const std::string& name, const Fn& f, const std::vector<Tensor>& inputs) {
    check(name, f, inputs, 3e-5, true, DType::f64);
  };
  ConvGeom g;
  g.N = 2, g.C = 8, g.H = 13, g.W = 11, g.K = 10, g.R = g.S = 3, g.OH = 13, g.OW = 11, g.pad_h = g.pad_w = 1;
  for (const ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weight})
    EXPECT_GT(cuda::conv_winograd_workspace(pass, g), 0) << int(pass);
  const auto not_served = [&](auto change) {
    ConvGeom h = g;
    change(h);
    return cuda::conv_winograd_workspace(ConvPass::forward, h) == -1;
  };
  EXPECT_TRUE(not_served([](ConvGeom& h) { h.stride_h = 2, h.OH = 7; }));
  EXPECT_TRUE(not_served([](ConvGeom& h) { h.dil_w = 2, h.OW = 9; }));
  EXPECT_TRUE(not_served([](ConvGeom& h) { h.groups = 2; }));
  EXPECT_TRUE(not_served([](ConvGeom& h) { h.R = h.S = 5, h.pad_h = h.pad_w = 2; }));
  EXPECT_TRUE(not_served([](ConvGeom& h) { h.pad_h = 3, h.OH = 17; }));
  against_f64("winograd 3x3 pad 1, planes ending inside a tile",
              [](auto& v) { return conv2d(v[0], v[1], v[2], {{1, 1}, {1, 1}}); },
              {mul(randn({2, 8, 13, 11}, 180), 0.3), mul(randn({10, 8, 3, 3}, 181), 0.2), randn({10}, 182)});
  against_f64("winograd 3x3 pad 0", [](auto& v) { return conv2d(v[0], v[1], v[2]); },
              {mul(randn({1, 6, 10, 9}, 183), 0.3), mul(randn({5, 6, 3, 3}, 184), 0.2), randn({5}, 185)});
  against_f64("winograd 3x3 pad 2 and 0", [](auto& v) { return conv2d(v[0], v[1], v[2], {{1, 1}, {2, 0}}); },
              {mul(randn({2, 4, 7, 6}, 186), 0.3), mul(randn({3, 4, 3, 3}, 187), 0.2), randn({3}, 188)});
  against_f64("winograd 3x3 130 output channels", [](auto& v) { return conv2d(v[0], v[1], v[2], {{1, 1}, {1, 1}}); },
              {mul(randn({1, 5, 9, 10}, 189), 0.3), mul(randn({130, 5, 3, 3}, 190), 0.2), randn({130}, 191)});
  ConvGeom chunked = g;
  chunked.N = 4, chunked.H = chunked.W = chunked.OH = chunked.OW = 64, chunked.K = 12;
  EXPECT_GT(cuda::conv_winograd_workspace(ConvPass::backward_weight, chunked),
            cuda::conv_winograd_workspace(ConvPass::forward, chunked));  // the chunks' partial products
  against_f64("winograd 3x3 4 x 64 x 64 (weight sum in chunks)",
              [](auto& v) { return conv2d(v[0], v[1], v[2], {{1, 1}, {1, 1}}); },
              {mul(randn({4, 8, 64, 64}, 192), 0.1), mul(randn({12, 8, 3, 3}, 193), 0.2), randn({12}, 194)});
  cuda::set_native_conv(cuda::NativeConv::implicit_gemm);
  cuda::set_conv_engine(cuda::ConvEngine::automatic);
}

TEST(CudaBackendNn, PoolingAndUpsampling) {
  const Tensor x = randn({2, 3, 11, 9}, 71);
  check("max_pool2d 2x2", [](auto& v) { return max_pool2d(v[0]); }, {x});
  check("max_pool2d 3x3 s2 p1 ceil", [](auto& v) { return max_pool2d(v[0], {{3, 3}, {2, 2}, {1, 1}, true}); }, {x});
  check("avg_pool2d exclude pad", [](auto& v) { return avg_pool2d(v[0], {{3, 2}, {2, 1}, {1, 1}, false, false}); }, {x});
  check("avg_pool2d include pad ceil", [](auto& v) { return avg_pool2d(v[0], {{3, 3}, {2, 2}, {1, 1}, true, true}); },
        {x});
  check("max_pool1d", [](auto& v) { return max_pool1d(v[0], {3, 2, 1}); }, {randn({2, 3, 37}, 72)});
  check("global_avg_pool", [](auto& v) { return global_avg_pool(v[0]); }, {x});
  using M = UpsampleMode;
  check("nearest x2", [](auto& v) { return upsample2d(v[0], {{0, 0}, {2, 2}, M::nearest}); }, {x});
  check("nearest to 17x5", [](auto& v) { return upsample2d(v[0], {{17, 5}, {0, 0}, M::nearest}); }, {x});
  check("bilinear x2", [](auto& v) { return upsample2d(v[0], {{0, 0}, {2, 2}, M::linear}); }, {x});
  check("bilinear align to 23x20", [](auto& v) { return upsample2d(v[0], {{23, 20}, {0, 0}, M::linear, true}); }, {x});
  check("bilinear down to 4x3", [](auto& v) { return upsample2d(v[0], {{4, 3}, {0, 0}, M::linear}); }, {x});
  check("linear 1d x3", [](auto& v) { return upsample1d(v[0], {0, 3.0, M::linear}); }, {randn({2, 3, 13}, 73)});
}

TEST(CudaBackendNn, NormalisationActivationsLosses) {
  const Tensor x = randn({3, 4, 7, 5}, 74);
  check("batch_norm train", [](auto& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
        {x, randn({4}, 75), randn({4}, 76)}, 1e-5);
  check("batch_norm_relu train", [](auto& v) { return batch_norm_relu(v[0], Tensor(), Tensor(), v[1], v[2], true); },
        {x, randn({4}, 75), randn({4}, 76)}, 1e-5);
  check("batch_norm_relu6 train",
        [](auto& v) { return batch_norm_relu(v[0], Tensor(), Tensor(), mul(v[1], 4.0), v[2], true, 0.1, 1e-5,
                                             Activation::relu6); },
        {x, randn({4}, 75), randn({4}, 76)}, 1e-5);
  check("relu", [](auto& v) { return relu(v[0]); }, {x});
  check("leaky_relu", [](auto& v) { return leaky_relu(v[0], 0.2); }, {x});
  check("relu6", [](auto& v) { return relu6(mul(v[0], 4.0)); }, {x});
  check("elu", [](auto& v) { return elu(v[0]); }, {x});
  check("sigmoid", [](auto& v) { return sigmoid(v[0]); }, {x});
  check("tanh", [](auto& v) { return tanh(v[0]); }, {x});
  check("softplus", [](auto& v) { return softplus(v[0], 2.0, 5.0); }, {x});
  check("silu", [](auto& v) { return silu(v[0]); }, {x});
  const Tensor target = ge(randn({3, 4, 7, 5}, 77), 0.0).to(DType::f32);
  check("bce_with_logits pos_weight", [&](auto& v) {
    return bce_with_logits(v[0], target.to(v[0].device()), Tensor(), Tensor::full({4, 1, 1}, 3.0, DType::f32, v[0].device()));
  }, {x});
  Generator g(78);
  const Tensor cls = mul(Tensor::rand({3, 7, 5}, DType::f32, &g), 3.99).to(DType::i64);
  check("cross_entropy (N,C,H,W)", [](auto& v) { return cross_entropy(v[0], v[1]); }, {x, cls});
  check("dice", [&](auto& v) { return dice_loss(sigmoid(v[0]), target.to(v[0].device())); }, {x});
}

// The fused kernels of the CUDA backend (Welford batch norm, losses fused with
// softmax / sigmoid) in the cases their code paths split on.
TEST(CudaBackendNn, FusedBatchNorm) {
  // 2 x 3 x 4500 values per channel: several chunks in the two-stage reduction.
  check("batch_norm 1d multi-chunk", [](auto& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
        {randn({2, 3, 4500}, 80), randn({3}, 81), randn({3}, 82)}, 1e-5);
  // |mean| >> std: a sum-of-squares variance would cancel catastrophically in float.
  check("batch_norm offset mean", [](auto& v) { return batch_norm(add(v[0], 1000.0), Tensor(), Tensor(), v[1], Tensor(), true); },
        {randn({4, 5, 33}, 83), randn({5}, 84)}, 2e-4);
  check("batch_norm (N, C) no affine", [](auto& v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
        {randn({7, 6}, 85)}, 1e-5);
  check("batch_norm eval", [](auto& v) {
    return batch_norm(v[0], Tensor::full({4}, 0.3, DType::f32, v[0].device()), Tensor::full({4}, 2.0, DType::f32, v[0].device()),
                      v[1], v[2], false);
  }, {randn({2, 4, 5, 3}, 86), randn({4}, 87), randn({4}, 88)});
  check("batch_norm f64", [](auto& v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); },
        {randn({3, 2, 9}, 89, DType::f64), randn({2}, 90, DType::f64), randn({2}, 91, DType::f64)}, 1e-12);

  // Running statistics (unbiased variance, momentum) match the CPU's.
  const Tensor x = randn({3, 4, 50}, 92);
  Tensor rm_cpu = Tensor::zeros({4}, DType::f32), rv_cpu = Tensor::ones({4}, DType::f32);
  Tensor rm_gpu = rm_cpu.to(kGpu), rv_gpu = rv_cpu.to(kGpu);
  batch_norm(x, rm_cpu, rv_cpu, Tensor(), Tensor(), true, 0.1);
  batch_norm(x.to(kGpu), rm_gpu, rv_gpu, Tensor(), Tensor(), true, 0.1);
  expect_close(rm_gpu, rm_cpu, 1e-6, "running mean");
  expect_close(rv_gpu, rv_cpu, 1e-6, "running var");
}

TEST(CudaBackendNn, FusedLosses) {
  Generator g(93);
  const Tensor cls = mul(Tensor::rand({5, 11}, DType::f32, &g), 6.99).to(DType::i64);
  const Tensor cw = add(Tensor::rand({7}, DType::f32, &g), 0.5);
  for (auto r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    check("cross_entropy (N,C,L) class weights ignore_index", [&](auto& v) {
      const Tensor t = where(eq(v[1], Tensor::scalar(3, DType::i64, v[1].device())),
                             Tensor::scalar(-100, DType::i64, v[1].device()), v[1]);
      return cross_entropy(v[0], t, cw.to(v[0].device()), -100, r);
    }, {randn({5, 7, 11}, 94), cls});
  }
  check("cross_entropy (N,C)", [](auto& v) { return cross_entropy(v[0], v[1]); },
        {randn({11, 7}, 95), cls.slice(0, 0, 1).reshape({11})});
  check("cross_entropy logits of 100", [](auto& v) { return cross_entropy(mul(v[0], 100.0), v[1]); },
        {randn({5, 7, 11}, 96), cls}, 1e-4);
  const Tensor target = ge(randn({3, 4, 7}, 97), 0.0).to(DType::f32);
  const Tensor weight = add(abs(randn({7}, 99)), 0.1);
  check("bce_with_logits weight and pos_weight", [&](auto& v) {
    return bce_with_logits(v[0], target.to(v[0].device()), weight.to(v[0].device()),
                           Tensor::full({4, 1}, 3.0, DType::f32, v[0].device()), Reduction::none);
  }, {randn({3, 4, 7}, 98)});
  check("bce_with_logits logits of +-100", [&](auto& v) {
    return bce_with_logits(mul(v[0], 100.0), target.to(v[0].device()), Tensor(), Tensor(), Reduction::sum);
  }, {randn({3, 4, 7}, 100)}, 1e-5);
}

TEST(CudaBackendNn, ConvEngineSelection) {
  EXPECT_EQ(cuda::parse_conv_engine("cudnn"), cuda::ConvEngine::cudnn);
  EXPECT_EQ(cuda::parse_conv_engine("auto"), cuda::ConvEngine::automatic);
  EXPECT_THROW(cuda::parse_conv_engine("winograd"), Error);
#if defined(STRATA_CUDA_EMU)
  EXPECT_FALSE(cuda::cudnn_available());  // the emulator build: convolutions use the native kernels
  EXPECT_FALSE(cuda::use_cudnn_for_conv());
  EXPECT_THROW(cuda::set_conv_engine(cuda::ConvEngine::cudnn), Error);
#endif
  cuda::set_conv_engine(cuda::ConvEngine::native);
  EXPECT_EQ(cuda::conv_engine(), cuda::ConvEngine::native);
  cuda::set_conv_engine(cuda::ConvEngine::automatic);
}

// Pooling, batch norm, softmax and activations: engine per family, auto = native.
TEST(CudaBackendNn, OpEngineSelection) {
  using cuda::CudnnOp;
  for (CudnnOp op : {CudnnOp::pooling, CudnnOp::batch_norm, CudnnOp::softmax, CudnnOp::activation}) {
    EXPECT_EQ(cuda::op_engine(op), cuda::ConvEngine::automatic);
    EXPECT_FALSE(cuda::use_cudnn_for(op));
    if (!cuda::cudnn_available()) {
      EXPECT_THROW(cuda::set_op_engine(op, cuda::ConvEngine::cudnn), Error);
    }
    cuda::set_op_engine(op, cuda::ConvEngine::native);
    EXPECT_EQ(cuda::op_engine(op), cuda::ConvEngine::native);
    cuda::set_op_engine(op, cuda::ConvEngine::automatic);
  }
}

namespace {

// f on the device with the family's native kernels, then with cuDNN: outputs
// and input gradients must agree.
void compare_engines(cuda::CudnnOp op, const std::string& name, const Fn& f, const std::vector<Tensor>& inputs,
                     double tol = 1e-5) {
  SCOPED_TRACE(name);
  std::vector<Tensor> outs, grads;
  for (cuda::ConvEngine e : {cuda::ConvEngine::native, cuda::ConvEngine::cudnn}) {
    cuda::set_op_engine(op, e);
    std::vector<Tensor> on_gpu;
    for (const Tensor& x : inputs) on_gpu.push_back(x.to(kGpu).requires_grad_());
    const Tensor y = f(on_gpu);
    y.backward(randn(y.shape(), 99, y.dtype()).to(kGpu));
    outs.push_back(y.detach());
    grads.push_back(on_gpu[0].grad());
  }
  cuda::set_op_engine(op, cuda::ConvEngine::automatic);
  expect_close(outs[1], outs[0], tol, name + " forward");
  expect_close(grads[1], grads[0], tol, name + " gradient");
}

}  // namespace

TEST(CudaBackendNn, CudnnEnginesMatchNative) {
  if (!cuda::cudnn_available())
    GTEST_SKIP() << "SKIPPED: this build has no cuDNN (emulator or CPU build); the cuDNN engines run only in the "
                    "nvcc build on a GPU";
  using cuda::CudnnOp;
  const Tensor x = randn({2, 3, 11, 9}, 101);
  compare_engines(CudnnOp::pooling, "max_pool2d 3x3 s2 p1", [](auto& v) { return max_pool2d(v[0], {{3, 3}, {2, 2}, {1, 1}}); }, {x});
  compare_engines(CudnnOp::pooling, "avg_pool2d exclude pad",
                  [](auto& v) { return avg_pool2d(v[0], {{3, 2}, {2, 1}, {1, 1}, false, false}); }, {x});
  compare_engines(CudnnOp::pooling, "avg_pool2d include pad", [](auto& v) { return avg_pool2d(v[0], {{2, 2}}); }, {x});
  compare_engines(CudnnOp::pooling, "max_pool2d ceil (native fallback)",
                  [](auto& v) { return max_pool2d(v[0], {{2, 2}, {2, 2}, {0, 0}, true}); }, {x});
  compare_engines(CudnnOp::batch_norm, "batch_norm 2d", [](auto& v) {
    return batch_norm(v[0], Tensor(), Tensor(), Tensor::ones({3}, DType::f32, kGpu), Tensor(), true);
  }, {randn({4, 3, 33, 17}, 102)});
  compare_engines(CudnnOp::batch_norm, "batch_norm 1d", [](auto& v) {
    return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
  }, {randn({5, 6, 301}, 103)});
  compare_engines(CudnnOp::softmax, "softmax channels", [](auto& v) { return softmax(v[0], 1); }, {x});
  compare_engines(CudnnOp::softmax, "log_softmax last axis", [](auto& v) { return log_softmax(v[0], -1); }, {x});
  compare_engines(CudnnOp::activation, "relu", [](auto& v) { return relu(v[0]); }, {x});
  compare_engines(CudnnOp::activation, "relu6", [](auto& v) { return relu6(mul(v[0], 4.0)); }, {x});
  compare_engines(CudnnOp::activation, "sigmoid", [](auto& v) { return sigmoid(v[0]); }, {x});
  compare_engines(CudnnOp::activation, "tanh", [](auto& v) { return tanh(v[0]); }, {x});
  compare_engines(CudnnOp::activation, "elu", [](auto& v) { return elu(v[0], 0.7); }, {x});
  compare_engines(CudnnOp::activation, "silu", [](auto& v) { return silu(v[0]); }, {x});
  compare_engines(CudnnOp::activation, "leaky_relu (native fallback)", [](auto& v) { return leaky_relu(v[0], 0.1); }, {x});
}

namespace {

// The output and both gradients of a 3x3 convolution, as float on the CPU: computed on the GPU, or with
// reference = f64 on the CPU in double precision.
std::vector<Tensor> conv_pass_results(const Tensor& x, const Tensor& w, const Tensor& gy,
                                      DType reference = DType::f32) {
  const Device d = reference == DType::f32 ? kGpu : Device::cpu();
  const auto on = [&](const Tensor& t) { return t.to(reference).to(d).detach(); };
  Tensor xg = on(x).requires_grad_(), wg = on(w).requires_grad_();
  const Tensor y = conv2d(xg, wg, Tensor(), {{1, 1}, {1, 1}});
  y.backward(on(gy));
  const auto back = [](const Tensor& t) { return t.to(Device::cpu()).to(DType::f32); };
  return {back(y.detach()), back(xg.grad()), back(wg.grad())};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::equal(a.data<float>(), a.data<float>() + a.numel(), b.data<float>());
}

}  // namespace

// Native kernels: two runs give the same bits (gathers and ordered chunk sums, no atomics).
TEST(CudaBackendNn, NativeConvolutionsAreDeterministic) {
  const Tensor x = randn({2, 16, 40, 40}, 180), w = mul(randn({24, 16, 3, 3}, 181), 0.1),
               gy = randn({2, 24, 40, 40}, 182);
  cuda::set_conv_engine(cuda::ConvEngine::native);
  const auto a = conv_pass_results(x, w, gy), b = conv_pass_results(x, w, gy);
  cuda::set_conv_engine(cuda::ConvEngine::automatic);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_bits(a[i], b[i])) << "result " << i;
}

// cuDNN with a timed search, with its heuristic and restricted to deterministic algorithms: each agrees with an
// f64 CPU reference; deterministic runs repeat bit for bit.
TEST(CudaBackendNn, CudnnAlgorithmSearchAndDeterminism) {
  EXPECT_EQ(cuda::parse_algo_choice("heuristic"), cuda::AlgoChoice::heuristic);
  EXPECT_THROW(cuda::parse_algo_choice("fastest"), Error);
  if (!cuda::cudnn_available())
    GTEST_SKIP() << "SKIPPED: this build has no cuDNN (emulator or CPU build); the cuDNN engines run only in the "
                    "nvcc build on a GPU";
  const Tensor x = randn({8, 32, 64, 64}, 183), w = mul(randn({32, 32, 3, 3}, 184), 0.05),
               gy = mul(randn({8, 32, 64, 64}, 185), 0.02);
  // The reference in f64. The weight gradient sums 32,768 products per element in float: the CPU's errs by 1e-5
  // relative, cuDNN's deterministic algorithm (one long sum) by up to 2.7e-4 on an H100, hence 1e-3; a wrong
  // algorithm, buffer or workspace errs by O(1).
  const std::vector<Tensor> cpu = conv_pass_results(x, w, gy, DType::f64);
  cuda::set_conv_engine(cuda::ConvEngine::cudnn);
  for (const auto choice : {cuda::AlgoChoice::search, cuda::AlgoChoice::heuristic}) {
    cuda::set_algo_choice(choice);
    for (const bool det : {false, true}) {
      cuda::set_deterministic(det);
      const auto a = conv_pass_results(x, w, gy);
      const std::string what = std::string(choice == cuda::AlgoChoice::search ? "search" : "heuristic") +
                               (det ? ", deterministic" : "");
      for (size_t i = 0; i < a.size(); ++i) expect_close(a[i], cpu[i], 1e-3, what + " result " + std::to_string(i));
      if (det) {
        const auto b = conv_pass_results(x, w, gy);
        for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_bits(a[i], b[i])) << what << " result " << i;
      }
    }
  }
  cuda::set_deterministic(false);
  cuda::set_algo_choice(cuda::AlgoChoice::search);
  cuda::set_conv_engine(cuda::ConvEngine::automatic);
}

// Rounding to bfloat16: nearest, ties to even, overflow to infinity, NaN kept quiet; widening is exact.
TEST(CudaBackendNn, Bfloat16Conversion) {
  const std::vector<uint32_t> bits{0x3F800000u, 0x3F808000u, 0x3F818000u, 0x3F808001u, 0xC0200000u,
                                   0x7F7FFFFFu, 0x7F800000u, 0x7FC00001u, 0x7F800001u, 0x00000001u};
  const std::vector<uint16_t> want{0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC020, 0x7F80, 0x7F80, 0x7FC0, 0x7FC0, 0x0000};
  std::vector<float> values(bits.size());
  std::memcpy(values.data(), bits.data(), bits.size() * sizeof(float));
  const int64_t n = int64_t(values.size());
  const Tensor x = Tensor::from_vector<float>(values, {n}).to(kGpu);
  const Tensor h = Tensor::zeros({2 * n}, DType::u8, kGpu), back = Tensor::zeros({n}, DType::f32, kGpu);
  ASSERT_EQ(cuda::f32_to_bf16(x.data<float>(), reinterpret_cast<uint16_t*>(h.data<uint8_t>()), n), cudaSuccess);
  ASSERT_EQ(cuda::bf16_to_f32(reinterpret_cast<const uint16_t*>(h.data<uint8_t>()), back.data<float>(), n),
            cudaSuccess);
  const std::vector<uint8_t> got = h.to(Device::cpu()).to_vector<uint8_t>();
  const std::vector<float> wide = back.to(Device::cpu()).to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    uint16_t g = 0;
    std::memcpy(&g, got.data() + 2 * i, 2);
    EXPECT_EQ(g, want[size_t(i)]) << "value " << i;
    uint32_t w = 0;
    std::memcpy(&w, &wide[size_t(i)], 4);
    EXPECT_EQ(w, uint32_t(want[size_t(i)]) << 16) << "value " << i;
  }
}

// precision bf16: convolutions (cuDNN) and matrix products (cuBLAS) round their operands to bfloat16 and agree
// with an f64 reference to bfloat16's precision, and differ from the fp32 results (the setting takes effect).
TEST(CudaBackendNn, Bfloat16ConvolutionsAndMatmul) {
  EXPECT_EQ(cuda::parse_precision("bf16"), cuda::Precision::bf16);
  EXPECT_THROW(cuda::parse_precision("fp16"), Error);
  if (!cuda::cudnn_available())
    GTEST_SKIP() << "SKIPPED: this build has no cuDNN or cuBLAS (emulator or CPU build); bf16 runs on them, in the "
                    "nvcc build on a GPU";
  const Tensor x = randn({2, 32, 16, 16}, 190), w = mul(randn({48, 32, 3, 3}, 191), 0.1),
               gy = randn({2, 48, 16, 16}, 192), a = randn({3, 64, 96}, 193), b = randn({96, 80}, 194);
  std::vector<Tensor> ref = conv_pass_results(x, w, gy, DType::f64);
  ref.push_back(matmul(a.to(DType::f64), b.to(DType::f64)).to(DType::f32));
  std::vector<std::vector<Tensor>> runs;
  for (const auto p : {cuda::Precision::fp32, cuda::Precision::bf16}) {
    cuda::set_precision(p);
    auto r = conv_pass_results(x, w, gy);
    r.push_back(matmul(a.to(kGpu), b.to(kGpu)).to(Device::cpu()));
    runs.push_back(r);
  }
  cuda::set_precision(cuda::Precision::fp32);
  for (size_t i = 0; i < ref.size(); ++i) {
    expect_close(runs[1][i], ref[i], 2e-2, "bf16 result " + std::to_string(i), true);
    EXPECT_GT(max(abs(sub(runs[1][i], runs[0][i]))).item<double>(), 1e-4) << "bf16 result " << i << " equals fp32";
  }
}
