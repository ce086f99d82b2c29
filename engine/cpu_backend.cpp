// The CPU backend: forwards the type-erased Backend interface to the
// templated kernels in kernels/cpu.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/backend.h"
#if defined(STRATA_WITH_CUDA)
#include "engine/cuda_backend.h"
#endif
#include "engine/error.h"
#include "engine/profile.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/index.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/conv_depthwise.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/conv_patch.h"
#include "kernels/cpu/conv_pointwise.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/nn.h"
#include "kernels/cpu/optimizer.h"
#include "kernels/cpu/random.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/softmax.h"

namespace strata {
namespace {

template <class T> const T* in(const void* p) { return static_cast<const T*>(p); }
template <class T> T* out(void* p) { return static_cast<T*>(p); }

class CpuBackend final : public Backend {
 public:
  Allocator& allocator() override { return cpu_allocator(); }
  void copy_to_host(void* dst, const void* src, size_t nbytes) override { std::memcpy(dst, src, nbytes); }
  void copy_from_host(void* dst, const void* src, size_t nbytes) override { std::memcpy(dst, src, nbytes); }

  void unary(DType t, UnaryOp op, UnaryParams p, const void* x, const TensorDesc& xd, void* y,
             const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "unary", [&] { cpu::unary(op, p, in<scalar_t>(x), xd, out<scalar_t>(y), yd); });
  }
  void binary(DType t, BinaryOp op, const void* a, const TensorDesc& ad, const void* b, const TensorDesc& bd,
              void* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "binary",
                        [&] { cpu::binary(op, in<scalar_t>(a), ad, in<scalar_t>(b), bd, out<scalar_t>(y), yd); });
  }
  void compare(DType t, CompareOp op, const void* a, const TensorDesc& ad, const void* b, const TensorDesc& bd,
               uint8_t* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "compare", [&] { cpu::compare(op, in<scalar_t>(a), ad, in<scalar_t>(b), bd, y, yd); });
  }
  void where(DType t, const uint8_t* c, const TensorDesc& cd, const void* a, const TensorDesc& ad, const void* b,
             const TensorDesc& bd, void* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(
        t, "where", [&] { cpu::where(c, cd, in<scalar_t>(a), ad, in<scalar_t>(b), bd, out<scalar_t>(y), yd); });
  }
  void copy(DType src_t, const void* x, const TensorDesc& xd, DType dst_t, void* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(src_t, "copy", [&] {
      using src_scalar = scalar_t;
      STRATA_DISPATCH_ALL(dst_t, "copy", [&] { cpu::copy(in<src_scalar>(x), xd, out<scalar_t>(y), yd); });
    });
  }
  void fill(DType t, double value, void* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "fill", [&] { cpu::fill(scalar_t(value), out<scalar_t>(y), yd); });
  }
  void reduce(DType t, ReduceOp op, const void* x, const TensorDesc& xd, int kept_ndim, void* o) override {
    STRATA_DISPATCH_ALL(t, "reduce", [&] { cpu::reduce(op, in<scalar_t>(x), xd, kept_ndim, out<scalar_t>(o)); });
  }
  void arg_reduce(DType t, ArgReduceOp op, const void* x, const TensorDesc& xd, int kept_ndim,
                  int64_t* o) override {
    STRATA_DISPATCH_ALL(t, "arg_reduce", [&] { cpu::arg_reduce(op, in<scalar_t>(x), xd, kept_ndim, o); });
  }
  void gemm_batched(DType t, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void* A,
                    int64_t lda, int64_t sa, const void* B, int64_t ldb, int64_t sb, void* C, int64_t ldc,
                    int64_t sc) override {
    STRATA_DISPATCH_FLOAT(t, "matmul", [&] {
      cpu::gemm_batched<scalar_t>(batch, ta, tb, M, N, K, scalar_t(1), in<scalar_t>(A), lda, sa, in<scalar_t>(B),
                                  ldb, sb, scalar_t(0), out<scalar_t>(C), ldc, sc);
    });
  }
  void softmax(DType t, const void* x, void* y, int64_t outer, int64_t D, int64_t inner, bool log) override {
    STRATA_DISPATCH_FLOAT(t, "softmax",
                          [&] { cpu::softmax(in<scalar_t>(x), out<scalar_t>(y), outer, D, inner, log); });
  }
  void index_select(DType t, const void* x, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L,
                    void* o) override {
    STRATA_DISPATCH_ALL(t, "index_select",
                        [&] { cpu::index_select(in<scalar_t>(x), outer, D, inner, idx, L, out<scalar_t>(o)); });
  }
  void index_add(DType t, void* acc, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L,
                 const void* src) override {
    STRATA_DISPATCH_ALL(t, "index_add",
                        [&] { cpu::index_add(out<scalar_t>(acc), outer, D, inner, idx, L, in<scalar_t>(src)); });
  }
  void gather(DType t, const void* x, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di,
              void* o) override {
    STRATA_DISPATCH_ALL(t, "gather",
                        [&] { cpu::gather(in<scalar_t>(x), outer, Dx, inner, index, Di, out<scalar_t>(o)); });
  }
  void scatter_add(DType t, void* acc, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di,
                   const void* src) override {
    STRATA_DISPATCH_ALL(
        t, "scatter_add", [&] { cpu::scatter_add(out<scalar_t>(acc), outer, Dx, inner, index, Di, in<scalar_t>(src)); });
  }
  void one_hot(DType t, const int64_t* idx, int64_t n, int64_t C, void* o) override {
    STRATA_DISPATCH_ALL(t, "one_hot", [&] { cpu::one_hot(idx, n, C, out<scalar_t>(o)); });
  }
  void random_uniform(DType t, void* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) override {
    STRATA_DISPATCH_FLOAT(t, "rand", [&] { cpu::random_uniform(out<scalar_t>(y), n, seed, offset, lo, hi); });
  }
  void random_normal(DType t, void* y, int64_t n, uint64_t seed, uint64_t offset, double mean,
                     double std) override {
    STRATA_DISPATCH_FLOAT(t, "randn", [&] { cpu::random_normal(out<scalar_t>(y), n, seed, offset, mean, std); });
  }

  void im2col(DType t, const ConvGeom& g, const void* x, int64_t n0, int64_t nb, void* cols) override {
    STRATA_DISPATCH_FLOAT(t, "im2col", [&] { cpu::im2col(g, in<scalar_t>(x), n0, nb, out<scalar_t>(cols)); });
  }
  void col2im(DType t, const ConvGeom& g, const void* cols, int64_t n0, int64_t nb, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "col2im", [&] { cpu::col2im(g, in<scalar_t>(cols), n0, nb, out<scalar_t>(gx)); });
  }
  // The backend's own convolution kernels (f32): direct or Winograd, as
  // cpu::conv_kernel selects; -1 leaves the pass to the engine's im2col + GEMM.
  int64_t conv_direct_workspace(DType t, ConvPass pass, const ConvGeom& g) override {
    if (t != DType::f32) return -1;
    switch (cpu::conv_kernel(g, pass)) {
      case cpu::ConvKernel::direct: return cpu::conv_direct_workspace(g, pass);
      case cpu::ConvKernel::winograd: return cpu::conv_winograd_workspace(g, pass);
      case cpu::ConvKernel::depthwise: return 0;
      case cpu::ConvKernel::patch: return cpu::conv_patch_workspace(g, pass);
      case cpu::ConvKernel::pointwise: return cpu::conv_pointwise_workspace(g, pass);
      case cpu::ConvKernel::gemm: return -1;
    }
    return -1;
  }
  void conv_direct(DType t, ConvPass pass, const ConvGeom& g, const void* a, const void* b, void* o,
                   void* workspace, const FilterKey& filters) override {
    if (!profile::enabled()) return conv_direct_pass(t, pass, g, a, b, o, workspace, filters);
    // STRATA_PROFILE: each pass of each shape, with the kernel that ran it.
    const auto t0 = std::chrono::steady_clock::now();
    conv_direct_pass(t, pass, g, a, b, o, workspace, filters);
    static const char* kPass[] = {"forward", "backward_data", "backward_weight"};
    static const char* kKernel[] = {"gemm", "direct", "winograd", "depthwise", "patch", "pointwise"};
    profile::add(str_cat("conv ", kPass[int(pass)], " ", kKernel[int(cpu::conv_kernel(g, pass))], " ", g.C, "->", g.K,
                         " k", g.R, "x", g.S, " ", g.N, "x", g.H, "x", g.W),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  void conv_direct_pass(DType t, ConvPass pass, const ConvGeom& g, const void* a, const void* b, void* o,
                        void* workspace, const FilterKey& filters) {
    STRATA_CHECK(t == DType::f32, "conv_direct: the CPU's direct convolution takes f32, got ", dtype_name(t));
    const auto* fa = static_cast<const float*>(a);
    const auto* fb = static_cast<const float*>(b);
    auto* fo = static_cast<float*>(o);
    auto* ws = static_cast<float*>(workspace);
    if (cpu::conv_kernel(g, pass) == cpu::ConvKernel::depthwise) {
      if (pass == ConvPass::forward) return cpu::conv_depthwise_forward(g, fa, fb, fo);
      if (pass == ConvPass::backward_data) return cpu::conv_depthwise_backward_data(g, fa, fb, fo);
      return cpu::conv_depthwise_backward_weight(g, fa, fb, fo);
    }
    if (cpu::conv_kernel(g, pass) == cpu::ConvKernel::pointwise) {
      if (pass == ConvPass::forward) return cpu::conv_pointwise_forward(g, fa, fb, fo, ws);
      if (pass == ConvPass::backward_data) return cpu::conv_pointwise_backward_data(g, fa, fb, fo, ws);
      return cpu::conv_pointwise_backward_weight(g, fa, fb, fo, ws);
    }
    if (cpu::conv_kernel(g, pass) == cpu::ConvKernel::patch) {
      if (pass == ConvPass::forward) return cpu::conv_patch_forward(g, fa, fb, fo);
      if (pass == ConvPass::backward_data) return cpu::conv_patch_backward_data(g, fa, fb, fo);
      return cpu::conv_patch_backward_weight(g, fa, fb, fo, ws);
    }
    if (cpu::conv_kernel(g, pass) == cpu::ConvKernel::winograd) {
      if (pass == ConvPass::forward) return cpu::conv_winograd_forward(g, fa, fb, fo, ws, filters);
      if (pass == ConvPass::backward_data) return cpu::conv_winograd_backward_data(g, fa, fb, fo, ws, filters);
      return cpu::conv_winograd_backward_weight(g, fa, fb, fo, ws);
    }
    switch (pass) {
      case ConvPass::forward: cpu::conv_direct_forward(g, fa, fb, fo, ws); break;
      case ConvPass::backward_data: cpu::conv_direct_backward_data(g, fa, fb, fo, ws); break;
      case ConvPass::backward_weight: cpu::conv_direct_backward_weight(g, fa, fb, fo, ws); break;
    }
  }
  bool batch_norm_forward(DType t, const void* x, int64_t outer, int64_t C, int64_t inner, bool training, double eps,
                          const void* weight, const void* bias, void* mean, void* var, void* invstd,
                          void* y) override {
    STRATA_DISPATCH_FLOAT(t, "batch_norm", [&] {
      cpu::batch_norm_forward(in<scalar_t>(x), outer, C, inner, training, eps, in<scalar_t>(weight),
                              in<scalar_t>(bias), out<scalar_t>(mean), out<scalar_t>(var), out<scalar_t>(invstd),
                              out<scalar_t>(y));
    });
    return true;
  }
  bool batch_norm_backward(DType t, const void* x, const void* gy, int64_t outer, int64_t C, int64_t inner,
                           bool training, double /*eps: mean and invstd already hold it*/, const void* mean, const void* invstd, const void* weight, void* gx,
                           void* gweight, void* gbias) override {
    STRATA_DISPATCH_FLOAT(t, "batch_norm_backward", [&] {
      cpu::batch_norm_backward(in<scalar_t>(x), in<scalar_t>(gy), outer, C, inner, training, in<scalar_t>(mean),
                               in<scalar_t>(invstd), in<scalar_t>(weight), out<scalar_t>(gx),
                               out<scalar_t>(gweight), out<scalar_t>(gbias));
    });
    return true;
  }
  bool batch_norm_relu_forward(DType t, const void* x, int64_t outer, int64_t C, int64_t inner, bool training,
                               double eps, const void* weight, const void* bias, void* mean, void* var, void* invstd,
                               void* y, void* scale_shift, Activation act) override {
    STRATA_DISPATCH_FLOAT(t, "batch_norm_relu", [&] {
      cpu::batch_norm_forward(in<scalar_t>(x), outer, C, inner, training, eps, in<scalar_t>(weight),
                              in<scalar_t>(bias), out<scalar_t>(mean), out<scalar_t>(var), out<scalar_t>(invstd),
                              out<scalar_t>(y), out<scalar_t>(scale_shift), act);
    });
    return true;
  }
  bool batch_norm_relu_backward(DType t, const void* x, const void* gy, int64_t outer, int64_t C, int64_t inner,
                                bool training, const void* mean, const void* invstd, const void* weight,
                                const void* scale_shift, Activation act, void* gx, void* gweight,
                                void* gbias) override {
    STRATA_DISPATCH_FLOAT(t, "batch_norm_relu_backward", [&] {
      cpu::batch_norm_backward(in<scalar_t>(x), in<scalar_t>(gy), outer, C, inner, training, in<scalar_t>(mean),
                               in<scalar_t>(invstd), in<scalar_t>(weight), out<scalar_t>(gx),
                               out<scalar_t>(gweight), out<scalar_t>(gbias), in<scalar_t>(scale_shift), act);
    });
    return true;
  }
  bool cross_entropy_forward(DType t, const void* x, const int64_t* target, const void* class_weight, int64_t outer,
                             int64_t D, int64_t inner, int64_t ignore_index, void* loss, void* weight,
                             void* lse) override {
    STRATA_DISPATCH_FLOAT(t, "cross_entropy", [&] {
      cpu::cross_entropy_forward(in<scalar_t>(x), target, in<scalar_t>(class_weight), outer, D, inner, ignore_index,
                                 out<scalar_t>(loss), out<scalar_t>(weight), out<scalar_t>(lse));
    });
    return true;
  }
  bool cross_entropy_backward(DType t, const void* x, const int64_t* target, const void* class_weight, int64_t outer,
                              int64_t D, int64_t inner, int64_t ignore_index, const void* lse, const void* gloss,
                              void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "cross_entropy_backward", [&] {
      cpu::cross_entropy_backward(in<scalar_t>(x), target, in<scalar_t>(class_weight), outer, D, inner,
                                  ignore_index, in<scalar_t>(lse), in<scalar_t>(gloss), out<scalar_t>(gx));
    });
    return true;
  }
  bool bce_with_logits_forward(DType t, const void* x, const void* target, const void* weight, const void* pos_weight,
                               int64_t n, void* loss) override {
    STRATA_DISPATCH_FLOAT(t, "bce_with_logits", [&] {
      cpu::bce_with_logits_forward(in<scalar_t>(x), in<scalar_t>(target), in<scalar_t>(weight),
                                   in<scalar_t>(pos_weight), n, out<scalar_t>(loss));
    });
    return true;
  }
  bool bce_with_logits_backward(DType t, const void* x, const void* target, const void* weight,
                                const void* pos_weight, const void* gloss, int64_t n, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "bce_with_logits_backward", [&] {
      cpu::bce_with_logits_backward(in<scalar_t>(x), in<scalar_t>(target), in<scalar_t>(weight),
                                    in<scalar_t>(pos_weight), in<scalar_t>(gloss), n, out<scalar_t>(gx));
    });
    return true;
  }
  void max_pool2d(DType t, const PoolGeom& g, const void* x, void* y, int64_t* indices) override {
    STRATA_DISPATCH_FLOAT(t, "max_pool2d", [&] { cpu::max_pool2d(g, in<scalar_t>(x), out<scalar_t>(y), indices); });
  }
  void max_pool2d_backward(DType t, const PoolGeom& g, const void* gy, const int64_t* indices, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "max_pool2d_backward",
                          [&] { cpu::max_pool2d_backward(g, in<scalar_t>(gy), indices, out<scalar_t>(gx)); });
  }
  void avg_pool2d(DType t, const PoolGeom& g, const void* x, void* y) override {
    STRATA_DISPATCH_FLOAT(t, "avg_pool2d", [&] { cpu::avg_pool2d(g, in<scalar_t>(x), out<scalar_t>(y)); });
  }
  void avg_pool2d_backward(DType t, const PoolGeom& g, const void* gy, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "avg_pool2d_backward",
                          [&] { cpu::avg_pool2d_backward(g, in<scalar_t>(gy), out<scalar_t>(gx)); });
  }
  void upsample2d(DType t, const UpsampleGeom& g, const void* x, void* y) override {
    STRATA_DISPATCH_FLOAT(t, "upsample", [&] { cpu::upsample2d(g, in<scalar_t>(x), out<scalar_t>(y)); });
  }
  void upsample2d_backward(DType t, const UpsampleGeom& g, const void* gy, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "upsample_backward",
                          [&] { cpu::upsample2d_backward(g, in<scalar_t>(gy), out<scalar_t>(gx)); });
  }
  void activation(DType t, Activation a, ActParams p, const void* x, void* y, int64_t n) override {
    STRATA_DISPATCH_FLOAT(t, "activation", [&] { cpu::activation(a, p, in<scalar_t>(x), out<scalar_t>(y), n); });
  }
  void activation_backward(DType t, Activation a, ActParams p, const void* x, const void* y, const void* gy,
                           void* gx, int64_t n) override {
    STRATA_DISPATCH_FLOAT(t, "activation_backward", [&] {
      cpu::activation_backward(a, p, in<scalar_t>(x), in<scalar_t>(y), in<scalar_t>(gy), out<scalar_t>(gx), n);
    });
  }

  void adam_update(DType t, const AdamParams& a, void* param, const void* grad, void* m, void* v,
                   int64_t n) override {
    STRATA_CHECK(!a.device_coefficients, "adam_update: device coefficients are for a CUDA graph's step");
    STRATA_DISPATCH_FLOAT(t, "adam_update", [&] {
      cpu::adam_update(a, out<scalar_t>(param), in<scalar_t>(grad), out<scalar_t>(m), out<scalar_t>(v), n);
    });
  }
  void sgd_update(DType t, const SgdParams& s, void* param, const void* grad, void* buf, int64_t n) override {
    STRATA_CHECK(!s.device_lr, "sgd_update: a device rate is for a CUDA graph's step");
    STRATA_DISPATCH_FLOAT(t, "sgd_update", [&] {
      cpu::sgd_update(s, out<scalar_t>(param), in<scalar_t>(grad), out<scalar_t>(buf), n);
    });
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

namespace {
Backend* g_cuda_backend = nullptr;
bool g_cuda_resolved = false;  // registered explicitly, or looked up once
}

void register_backend(DeviceType type, Backend* backend) {
  STRATA_CHECK(type == DeviceType::cuda, "register_backend: the CPU backend cannot be replaced");
  g_cuda_backend = backend;
  g_cuda_resolved = true;
}

namespace {

// STRATA_TEST_HOST_AS_CUDA=1: cuda:0 is host memory run by the CPU backend, in any build. A test hook: the apps'
// device plumbing (every tensor of a step on the model's device, results copied back) runs without a GPU and
// must give the CPU's results bit for bit.
bool host_as_cuda() {
  const char* v = std::getenv("STRATA_TEST_HOST_AS_CUDA");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

void resolve_cuda() {
  if (g_cuda_resolved) return;
  g_cuda_resolved = true;
  if (host_as_cuda()) {
    std::fprintf(stderr, "strata: STRATA_TEST_HOST_AS_CUDA is set: cuda:0 is host memory run by the CPU backend "
                         "(a test hook, not a GPU)\n");
    g_cuda_backend = &cpu_backend();
    return;
  }
#if defined(STRATA_WITH_CUDA)
  g_cuda_backend = cuda::backend_or_null();
#endif
}

}  // namespace

bool backend_available(Device device) {
  if (device.is_cpu()) return true;
  resolve_cuda();
  return g_cuda_backend != nullptr && device.index == 0;
}

namespace {
thread_local bool t_capturing_graph = false;
}  // namespace

bool capturing_graph() { return t_capturing_graph; }
void set_capturing_graph(bool on) { t_capturing_graph = on; }

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
  resolve_cuda();
  STRATA_CHECK(g_cuda_backend != nullptr, "device ", device,
               " is not available: no CUDA backend is registered (a build without CUDA, or no usable GPU)");
  STRATA_CHECK(device.index == 0, "device ", device, " is not available: strata uses one GPU, cuda:0");
  return *g_cuda_backend;
}

}  // namespace strata
