// The CUDA backend: forwards each Backend operation to its kernel in
// kernels/cuda and checks the launch; matmul goes to the native SGEMM or to
// cuBLAS (nvcc build only) as set by the GEMM engine.
#include "engine/cuda_backend.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>

#include "engine/cuda_device.h"
#include "engine/cudnn_conv.h"
#include "engine/cudnn_ops.h"
#include "engine/profile.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/stream.h"

#if !defined(STRATA_CUDA_EMU)
#include <cublas_v2.h>
#endif

namespace strata::cuda {
namespace {

template <class T> const T* in(const void* p) { return static_cast<const T*>(p); }
template <class T> T* out(void* p) { return static_cast<T*>(p); }

#if !defined(STRATA_CUDA_EMU)
const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}
#define STRATA_CUBLAS_CHECK(call)                                                                        \
  do {                                                                                                   \
    const cublasStatus_t strata_cublas_status_ = (call);                                                 \
    STRATA_CHECK(strata_cublas_status_ == CUBLAS_STATUS_SUCCESS, "cuBLAS error ",                        \
                 cublas_status_name(strata_cublas_status_), " in ", #call, " at ", __FILE__, ":", __LINE__); \
  } while (0)

struct BlasWorkspace {
  void* ptr;
  size_t nbytes;
};
std::map<cudaStream_t, BlasWorkspace>& blas_workspaces() {
  static std::map<cudaStream_t, BlasWorkspace> w;
  return w;
}
// Set when a workspace comes or goes: the next call binds again even on the same stream value (a destroyed
// graph's stream may come back as a new graph's).
bool g_blas_rebind = false;

// The handle, bound to this thread's current stream (a CUDA graph's while one is captured).
cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    STRATA_CUBLAS_CHECK(cublasCreate(&h));
    // Pure FP32: no TF32 tensor-core shortcut, so results compare with the CPU.
    STRATA_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    return h;
  }();
  static cudaStream_t bound = nullptr;
  const cudaStream_t s = current_stream();
  if (s != bound || g_blas_rebind) {
    STRATA_CUBLAS_CHECK(cublasSetStream(handle, s));  // also resets the workspace to cuBLAS's own
    const auto w = blas_workspaces().find(s);
    if (w != blas_workspaces().end()) STRATA_CUBLAS_CHECK(cublasSetWorkspace(handle, w->second.ptr, w->second.nbytes));
    bound = s;
    g_blas_rebind = false;
  }
  return handle;
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
// Elements a strided batch of matrices spans: the last matrix's last row ends the span.
int64_t span(int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

template <class T>
void cublas_gemm(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
                 int64_t sa, const T* B, int64_t ldb, int64_t sb, T* C, int64_t ldc, int64_t sc) {
  const T one = 1, zero = 0;
  const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  if constexpr (std::is_same_v<T, float>) {
    if (precision() == Precision::bf16) {  // bfloat16 copies of A and B, float accumulation and result
      const int64_t na = span(batch, sa, ta ? K : M, ta ? M : K, lda), nb = span(batch, sb, tb ? N : K, tb ? K : N, ldb);
      const DeviceScratch a16(size_t(na) * 2), b16(size_t(nb) * 2);
      STRATA_CUDA_CHECK(f32_to_bf16(A, static_cast<uint16_t*>(a16.get()), na));
      STRATA_CUDA_CHECK(f32_to_bf16(B, static_cast<uint16_t*>(b16.get()), nb));
      STRATA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          cublas_handle(), opb, opa, int(N), int(M), int(K), &one, b16.get(), CUDA_R_16BF, int(ldb), sb, a16.get(),
          CUDA_R_16BF, int(lda), sa, &zero, C, CUDA_R_32F, int(ldc), sc, int(batch), CUBLAS_COMPUTE_32F,
          CUBLAS_GEMM_DEFAULT));
      return;
    }
    STRATA_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle(), opb, opa, int(N), int(M), int(K), &one, B, int(ldb),
                                                  sb, A, int(lda), sa, &zero, C, int(ldc), sc, int(batch)));
  } else {
    STRATA_CUBLAS_CHECK(cublasDgemmStridedBatched(cublas_handle(), opb, opa, int(N), int(M), int(K), &one, B, int(ldb),
                                                  sb, A, int(lda), sa, &zero, C, int(ldc), sc, int(batch)));
  }
}
#endif

GemmEngine initial_engine() {
  const char* env = std::getenv("STRATA_GEMM_ENGINE");
  if (env == nullptr || *env == '\0') return GemmEngine::automatic;
  const GemmEngine e = parse_gemm_engine(env);
  STRATA_CHECK(e != GemmEngine::cublas || cublas_available(),
               "STRATA_GEMM_ENGINE=cublas: this build has no cuBLAS (the emulator build); use native or auto");
  return e;
}

GemmEngine& engine_setting() {
  static GemmEngine e = initial_engine();
  return e;
}

// A graph would replay the captured draw's seed and offset: every replay the same numbers.
void refuse_random_in_capture() {
  STRATA_CHECK(!capturing_graph(), "random numbers drawn on the device (dropout, rand, randn) cannot be captured in a CUDA "
               "graph: each replay would draw the same numbers");
}

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    profile::set_device_wait([] { STRATA_CUDA_CHECK(cudaDeviceSynchronize()); });
  }
  Allocator& allocator() override { return device_allocator(); }
  void copy_to_host(void* dst, const void* src, size_t nbytes) override {
    STRATA_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
  }
  void copy_from_host(void* dst, const void* src, size_t nbytes) override {
    STRATA_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
  }

  void unary(DType t, UnaryOp op, UnaryParams p, const void* x, const TensorDesc& xd, void* y,
             const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "unary",
                        [&] { STRATA_CUDA_CHECK(cuda::unary(op, p, in<scalar_t>(x), xd, out<scalar_t>(y), yd)); });
  }
  void binary(DType t, BinaryOp op, const void* a, const TensorDesc& ad, const void* b, const TensorDesc& bd,
              void* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "binary", [&] {
      STRATA_CUDA_CHECK(cuda::binary(op, in<scalar_t>(a), ad, in<scalar_t>(b), bd, out<scalar_t>(y), yd));
    });
  }
  void compare(DType t, CompareOp op, const void* a, const TensorDesc& ad, const void* b, const TensorDesc& bd,
               uint8_t* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "compare", [&] {
      STRATA_CUDA_CHECK(cuda::compare(op, in<scalar_t>(a), ad, in<scalar_t>(b), bd, y, yd));
    });
  }
  void where(DType t, const uint8_t* c, const TensorDesc& cd, const void* a, const TensorDesc& ad, const void* b,
             const TensorDesc& bd, void* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "where", [&] {
      STRATA_CUDA_CHECK(cuda::where(c, cd, in<scalar_t>(a), ad, in<scalar_t>(b), bd, out<scalar_t>(y), yd));
    });
  }
  void copy(DType src_t, const void* x, const TensorDesc& xd, DType dst_t, void* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(src_t, "copy", [&] {
      using src_scalar = scalar_t;
      STRATA_DISPATCH_ALL(dst_t, "copy",
                          [&] { STRATA_CUDA_CHECK(cuda::copy(in<src_scalar>(x), xd, out<scalar_t>(y), yd)); });
    });
  }
  void fill(DType t, double value, void* y, const TensorDesc& yd) override {
    STRATA_DISPATCH_ALL(t, "fill", [&] { STRATA_CUDA_CHECK(cuda::fill(scalar_t(value), out<scalar_t>(y), yd)); });
  }
  void reduce(DType t, ReduceOp op, const void* x, const TensorDesc& xd, int kept_ndim, void* o) override {
    DeviceScratch ws(reduce_workspace_bytes(xd, kept_ndim));
    STRATA_DISPATCH_ALL(t, "reduce", [&] {
      STRATA_CUDA_CHECK(cuda::reduce(op, in<scalar_t>(x), xd, kept_ndim, out<scalar_t>(o), ws.get()));
    });
  }
  void arg_reduce(DType t, ArgReduceOp op, const void* x, const TensorDesc& xd, int kept_ndim,
                  int64_t* o) override {
    DeviceScratch ws(reduce_workspace_bytes(xd, kept_ndim));
    STRATA_DISPATCH_ALL(t, "arg_reduce", [&] {
      STRATA_CUDA_CHECK(cuda::arg_reduce(op, in<scalar_t>(x), xd, kept_ndim, o, ws.get()));
    });
  }
  void gemm_batched(DType t, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void* A,
                    int64_t lda, int64_t sa, const void* B, int64_t ldb, int64_t sb, void* C, int64_t ldc,
                    int64_t sc) override {
    const GemmEngine e = gemm_engine();
    const bool use_cublas = e == GemmEngine::cublas || (e == GemmEngine::automatic && cublas_available());
    STRATA_DISPATCH_FLOAT(t, "matmul", [&] {
#if !defined(STRATA_CUDA_EMU)
      if (use_cublas && K > 0) {
        cublas_gemm<scalar_t>(batch, ta, tb, M, N, K, in<scalar_t>(A), lda, sa, in<scalar_t>(B), ldb, sb,
                              out<scalar_t>(C), ldc, sc);
        return;
      }
#else
      (void)use_cublas;
#endif
      STRATA_CUDA_CHECK(cuda::gemm_batched<scalar_t>(batch, ta, tb, M, N, K, in<scalar_t>(A), lda, sa,
                                                      in<scalar_t>(B), ldb, sb, out<scalar_t>(C), ldc, sc));
    });
  }
  void softmax(DType t, const void* x, void* y, int64_t outer, int64_t D, int64_t inner, bool log) override {
    if (use_cudnn_for(CudnnOp::softmax) && cudnn_softmax_forward(t, x, y, outer, D, inner, log)) return;
    STRATA_DISPATCH_FLOAT(t, "softmax", [&] {
      STRATA_CUDA_CHECK(cuda::softmax(in<scalar_t>(x), out<scalar_t>(y), outer, D, inner, log));
    });
  }
  void index_select(DType t, const void* x, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L,
                    void* o) override {
    STRATA_DISPATCH_ALL(t, "index_select", [&] {
      STRATA_CUDA_CHECK(cuda::index_select(in<scalar_t>(x), outer, D, inner, idx, L, out<scalar_t>(o)));
    });
  }
  void index_add(DType t, void* acc, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L,
                 const void* src) override {
    STRATA_DISPATCH_ALL(t, "index_add", [&] {
      STRATA_CUDA_CHECK(cuda::index_add(out<scalar_t>(acc), outer, D, inner, idx, L, in<scalar_t>(src)));
    });
  }
  void gather(DType t, const void* x, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di,
              void* o) override {
    STRATA_DISPATCH_ALL(t, "gather", [&] {
      STRATA_CUDA_CHECK(cuda::gather(in<scalar_t>(x), outer, Dx, inner, index, Di, out<scalar_t>(o)));
    });
  }
  void scatter_add(DType t, void* acc, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di,
                   const void* src) override {
    STRATA_DISPATCH_ALL(t, "scatter_add", [&] {
      STRATA_CUDA_CHECK(cuda::scatter_add(out<scalar_t>(acc), outer, Dx, inner, index, Di, in<scalar_t>(src)));
    });
  }
  void one_hot(DType t, const int64_t* idx, int64_t n, int64_t C, void* o) override {
    STRATA_DISPATCH_ALL(t, "one_hot", [&] { STRATA_CUDA_CHECK(cuda::one_hot(idx, n, C, out<scalar_t>(o))); });
  }
  void random_uniform(DType t, void* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi) override {
    refuse_random_in_capture();
    STRATA_DISPATCH_FLOAT(
        t, "rand", [&] { STRATA_CUDA_CHECK(cuda::random_uniform(out<scalar_t>(y), n, seed, offset, lo, hi)); });
  }
  void random_normal(DType t, void* y, int64_t n, uint64_t seed, uint64_t offset, double mean,
                     double std) override {
    refuse_random_in_capture();
    STRATA_DISPATCH_FLOAT(
        t, "randn", [&] { STRATA_CUDA_CHECK(cuda::random_normal(out<scalar_t>(y), n, seed, offset, mean, std)); });
  }

  void im2col(DType t, const ConvGeom& g, const void* x, int64_t n0, int64_t nb, void* cols) override {
    STRATA_DISPATCH_FLOAT(t, "im2col", [&] {
      STRATA_CUDA_CHECK(cuda::im2col(g, in<scalar_t>(x), n0, nb, out<scalar_t>(cols)));
    });
  }
  void col2im(DType t, const ConvGeom& g, const void* cols, int64_t n0, int64_t nb, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "col2im", [&] {
      STRATA_CUDA_CHECK(cuda::col2im(g, in<scalar_t>(cols), n0, nb, out<scalar_t>(gx)));
    });
  }
  // f32 convolutions run as implicit GEMMs (kernels/cuda/conv_igemm.cu) where they serve the shape, or as
  // Winograd F(4x4, 3x3) (conv_winograd.cu) where it serves and STRATA_NATIVE_CONV asks for it; the rest (f64,
  // depthwise, 1x1) through im2col and the GEMM.
  static bool winograd_runs(ConvPass pass, const ConvGeom& g) {
    return cuda::native_conv() == cuda::NativeConv::winograd && cuda::conv_winograd_workspace(pass, g) >= 0;
  }
  int64_t conv_direct_workspace(DType t, ConvPass pass, const ConvGeom& g) override {
    if (t != DType::f32) return -1;
    return winograd_runs(pass, g) ? cuda::conv_winograd_workspace(pass, g) : cuda::conv_igemm_workspace(pass, g);
  }
  void conv_direct(DType t, ConvPass pass, const ConvGeom& g, const void* a, const void* b, void* o,
                   void* workspace, const FilterKey& /*filters: derived again on every call*/) override {
    STRATA_CHECK(t == DType::f32, "conv_direct: the CUDA native convolutions take f32, got ", dtype_name(t));
    const auto run = winograd_runs(pass, g) ? cuda::conv_winograd : cuda::conv_igemm;
    STRATA_CUDA_CHECK(run(pass, g, in<float>(a), in<float>(b), out<float>(o), out<float>(workspace)));
  }
  void max_pool2d(DType t, const PoolGeom& g, const void* x, void* y, int64_t* indices) override {
    STRATA_DISPATCH_FLOAT(t, "max_pool2d", [&] {
      STRATA_CUDA_CHECK(cuda::max_pool2d(g, in<scalar_t>(x), out<scalar_t>(y), indices));
    });
  }
  void max_pool2d_backward(DType t, const PoolGeom& g, const void* gy, const int64_t* indices, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "max_pool2d_backward", [&] {
      STRATA_CUDA_CHECK(cuda::max_pool2d_backward(g, in<scalar_t>(gy), indices, out<scalar_t>(gx)));
    });
  }
  void avg_pool2d(DType t, const PoolGeom& g, const void* x, void* y) override {
    STRATA_DISPATCH_FLOAT(t, "avg_pool2d",
                          [&] { STRATA_CUDA_CHECK(cuda::avg_pool2d(g, in<scalar_t>(x), out<scalar_t>(y))); });
  }
  void avg_pool2d_backward(DType t, const PoolGeom& g, const void* gy, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "avg_pool2d_backward", [&] {
      STRATA_CUDA_CHECK(cuda::avg_pool2d_backward(g, in<scalar_t>(gy), out<scalar_t>(gx)));
    });
  }
  void upsample2d(DType t, const UpsampleGeom& g, const void* x, void* y) override {
    STRATA_DISPATCH_FLOAT(t, "upsample",
                          [&] { STRATA_CUDA_CHECK(cuda::upsample2d(g, in<scalar_t>(x), out<scalar_t>(y))); });
  }
  void upsample2d_backward(DType t, const UpsampleGeom& g, const void* gy, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "upsample_backward", [&] {
      STRATA_CUDA_CHECK(cuda::upsample2d_backward(g, in<scalar_t>(gy), out<scalar_t>(gx)));
    });
  }
  bool batch_norm_forward(DType t, const void* x, int64_t outer, int64_t C, int64_t inner, bool training, double eps,
                          const void* weight, const void* bias, void* mean, void* var, void* invstd,
                          void* y) override {
    if (training && use_cudnn_for(CudnnOp::batch_norm) &&
        cudnn_batch_norm_forward(t, x, outer, C, inner, eps, weight, bias, mean, var, invstd, y))
      return true;
    DeviceScratch ws(batch_norm_workspace_bytes(outer, C, inner));
    STRATA_DISPATCH_FLOAT(t, "batch_norm", [&] {
      STRATA_CUDA_CHECK(cuda::batch_norm_forward(in<scalar_t>(x), outer, C, inner, training, eps,
                                                 in<scalar_t>(weight), in<scalar_t>(bias), out<scalar_t>(mean),
                                                 out<scalar_t>(var), out<scalar_t>(invstd), out<scalar_t>(y),
                                                 ws.get()));
    });
    return true;
  }
  bool batch_norm_backward(DType t, const void* x, const void* gy, int64_t outer, int64_t C, int64_t inner,
                           bool training, double eps, const void* mean, const void* invstd, const void* weight,
                           void* gx, void* gweight, void* gbias) override {
    if (training && use_cudnn_for(CudnnOp::batch_norm) &&
        cudnn_batch_norm_backward(t, x, gy, outer, C, inner, eps, mean, invstd, weight, gx, gweight, gbias))
      return true;
    DeviceScratch ws(batch_norm_workspace_bytes(outer, C, inner));
    STRATA_DISPATCH_FLOAT(t, "batch_norm_backward", [&] {
      STRATA_CUDA_CHECK(cuda::batch_norm_backward(in<scalar_t>(x), in<scalar_t>(gy), outer, C, inner, training,
                                                  in<scalar_t>(mean), in<scalar_t>(invstd), in<scalar_t>(weight),
                                                  out<scalar_t>(gx), out<scalar_t>(gweight), out<scalar_t>(gbias),
                                                  ws.get()));
    });
    return true;
  }
  bool cross_entropy_forward(DType t, const void* x, const int64_t* target, const void* class_weight, int64_t outer,
                             int64_t D, int64_t inner, int64_t ignore_index, void* loss, void* weight,
                             void* lse) override {
    STRATA_DISPATCH_FLOAT(t, "cross_entropy", [&] {
      STRATA_CUDA_CHECK(cuda::cross_entropy_forward(in<scalar_t>(x), target, in<scalar_t>(class_weight), outer, D,
                                                    inner, ignore_index, out<scalar_t>(loss), out<scalar_t>(weight),
                                                    out<scalar_t>(lse)));
    });
    return true;
  }
  bool cross_entropy_backward(DType t, const void* x, const int64_t* target, const void* class_weight, int64_t outer,
                              int64_t D, int64_t inner, int64_t ignore_index, const void* lse, const void* gloss,
                              void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "cross_entropy_backward", [&] {
      STRATA_CUDA_CHECK(cuda::cross_entropy_backward(in<scalar_t>(x), target, in<scalar_t>(class_weight), outer, D,
                                                     inner, ignore_index, in<scalar_t>(lse), in<scalar_t>(gloss),
                                                     out<scalar_t>(gx)));
    });
    return true;
  }
  bool bce_with_logits_forward(DType t, const void* x, const void* target, const void* weight, const void* pos_weight,
                               int64_t n, void* loss) override {
    STRATA_DISPATCH_FLOAT(t, "bce_with_logits", [&] {
      STRATA_CUDA_CHECK(cuda::bce_with_logits_forward(in<scalar_t>(x), in<scalar_t>(target), in<scalar_t>(weight),
                                                      in<scalar_t>(pos_weight), n, out<scalar_t>(loss)));
    });
    return true;
  }
  bool bce_with_logits_backward(DType t, const void* x, const void* target, const void* weight,
                                const void* pos_weight, const void* gloss, int64_t n, void* gx) override {
    STRATA_DISPATCH_FLOAT(t, "bce_with_logits_backward", [&] {
      STRATA_CUDA_CHECK(cuda::bce_with_logits_backward(in<scalar_t>(x), in<scalar_t>(target), in<scalar_t>(weight),
                                                       in<scalar_t>(pos_weight), in<scalar_t>(gloss), n,
                                                       out<scalar_t>(gx)));
    });
    return true;
  }
  void activation(DType t, Activation a, ActParams p, const void* x, void* y, int64_t n) override {
    if (use_cudnn_for(CudnnOp::activation) && cudnn_activation_forward(t, a, p, x, y, n)) return;
    STRATA_DISPATCH_FLOAT(t, "activation", [&] {
      STRATA_CUDA_CHECK(cuda::activation(a, p, in<scalar_t>(x), out<scalar_t>(y), n));
    });
  }
  void activation_backward(DType t, Activation a, ActParams p, const void* x, const void* y, const void* gy,
                           void* gx, int64_t n) override {
    if (use_cudnn_for(CudnnOp::activation) && cudnn_activation_backward(t, a, p, x, y, gy, gx, n)) return;
    STRATA_DISPATCH_FLOAT(t, "activation_backward", [&] {
      STRATA_CUDA_CHECK(cuda::activation_backward(a, p, in<scalar_t>(x), in<scalar_t>(y), in<scalar_t>(gy),
                                                    out<scalar_t>(gx), n));
    });
  }

  void adam_update(DType t, const AdamParams& a, void* param, const void* grad, void* m, void* v,
                   int64_t n) override {
    STRATA_DISPATCH_FLOAT(t, "adam_update", [&] {
      STRATA_CUDA_CHECK(
          cuda::adam_update(a, out<scalar_t>(param), in<scalar_t>(grad), out<scalar_t>(m), out<scalar_t>(v), n));
    });
  }
  void sgd_update(DType t, const SgdParams& s, void* param, const void* grad, void* buf, int64_t n) override {
    STRATA_DISPATCH_FLOAT(t, "sgd_update", [&] {
      STRATA_CUDA_CHECK(cuda::sgd_update(s, out<scalar_t>(param), in<scalar_t>(grad), out<scalar_t>(buf), n));
    });
  }
};

}  // namespace

GemmEngine parse_gemm_engine(std::string_view name) {
  if (name == "native") return GemmEngine::native;
  if (name == "cublas") return GemmEngine::cublas;
  if (name == "auto") return GemmEngine::automatic;
  STRATA_FAIL("unknown GEMM engine '", std::string(name), "': expected native, cublas or auto");
}

bool cublas_available() {
#if defined(STRATA_CUDA_EMU)
  return false;
#else
  return true;
#endif
}

void set_blas_workspace(cudaStream_t stream, void* workspace, size_t nbytes) {
#if defined(STRATA_CUDA_EMU)
  (void)stream, (void)workspace, (void)nbytes;
#else
  if (workspace) blas_workspaces()[stream] = {workspace, nbytes};
  else blas_workspaces().erase(stream);
  g_blas_rebind = true;
#endif
}

void set_gemm_engine(GemmEngine engine) {
  STRATA_CHECK(engine != GemmEngine::cublas || cublas_available(),
               "GEMM engine cublas: this build has no cuBLAS (the emulator build); use native or auto");
  engine_setting() = engine;
}

GemmEngine gemm_engine() { return engine_setting(); }

Backend* backend_or_null() {
  static CudaBackend* backend = device_count() > 0 ? new CudaBackend : nullptr;
  return backend;
}

}  // namespace strata::cuda
