#include "engine/cudnn_ops.h"

#include <array>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "engine/error.h"

#if defined(STRATA_HAVE_CUDNN)
#include "engine/cuda_device.h"
#include "engine/cudnn_common.h"
#endif

namespace strata::cuda {

namespace {

constexpr std::array<const char*, 4> kEnv{"STRATA_POOL_ENGINE", "STRATA_BATCHNORM_ENGINE", "STRATA_SOFTMAX_ENGINE",
                                          "STRATA_ACTIVATION_ENGINE"};
constexpr std::array<const char*, 4> kFamily{"pooling", "batch norm", "softmax", "activation"};

ConvEngine& setting(CudnnOp op) {
  static std::array<ConvEngine, 4> engines{engine_from_env(kEnv[0]), engine_from_env(kEnv[1]),
                                           engine_from_env(kEnv[2]), engine_from_env(kEnv[3])};
  return engines[size_t(op)];
}

}  // namespace

void set_op_engine(CudnnOp op, ConvEngine engine) {
  check_engine_available(engine, std::string(kFamily[size_t(op)]) + " engine cudnn");
  setting(op) = engine;
}

ConvEngine op_engine(CudnnOp op) { return setting(op); }

bool use_cudnn_for(CudnnOp op) { return cudnn_available() && setting(op) == ConvEngine::cudnn; }

#if !defined(STRATA_HAVE_CUDNN)

bool cudnn_pool_forward(DType, const PoolGeom&, bool, const void*, void*) { return false; }
bool cudnn_pool_backward(DType, const PoolGeom&, bool, const void*, const void*, const void*, void*) { return false; }
bool cudnn_batch_norm_forward(DType, const void*, int64_t, int64_t, int64_t, double, const void*, const void*, void*,
                              void*, void*, void*) {
  return false;
}
bool cudnn_batch_norm_backward(DType, const void*, const void*, int64_t, int64_t, int64_t, double, const void*,
                               const void*, const void*, void*, void*, void*) {
  return false;
}
bool cudnn_softmax_forward(DType, const void*, void*, int64_t, int64_t, int64_t, bool) { return false; }
bool cudnn_activation_forward(DType, Activation, ActParams, const void*, void*, int64_t) { return false; }
bool cudnn_activation_backward(DType, Activation, ActParams, const void*, const void*, const void*, void*, int64_t) {
  return false;
}

#else

namespace {

bool floating(DType t) { return t == DType::f32 || t == DType::f64; }

// One log line per kind of unsupported case.
void log_once(const std::string& what) {
  static std::mutex mutex;
  static std::vector<std::string> said;
  std::lock_guard<std::mutex> lock(mutex);
  for (const std::string& s : said)
    if (s == what) return;
  said.push_back(what);
  std::fprintf(stderr, "strata: cuDNN engine: %s; using the native kernels for it\n", what.c_str());
}

// A device buffer of C values of dtype t; `src` when given, else filled with
// `value` (batch norm without weight or bias). Empty when src is given.
class ChannelValues {
 public:
  ChannelValues(DType t, int64_t C, const void* src, double value)
      : buf_(src ? 0 : static_cast<size_t>(C) * dtype_size(t)), src_(src) {
    if (src) return;
    const size_t n = static_cast<size_t>(C);
    if (t == DType::f64) {
      const std::vector<double> host(n, value);
      STRATA_CUDA_CHECK(cudaMemcpy(buf_.get(), host.data(), n * sizeof(double), cudaMemcpyHostToDevice));
    } else {
      const std::vector<float> host(n, static_cast<float>(value));
      STRATA_CUDA_CHECK(cudaMemcpy(buf_.get(), host.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    }
  }
  const void* get() const { return src_ ? src_ : buf_.get(); }

 private:
  DeviceScratch buf_;
  const void* src_;
};

class PoolDesc {
 public:
  PoolDesc(const PoolGeom& g, bool max) {
    const cudnnPoolingMode_t mode = max ? CUDNN_POOLING_MAX_DETERMINISTIC
                                    : g.count_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                          : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
    STRATA_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&d_));
    STRATA_CUDNN_CHECK(cudnnSetPooling2dDescriptor(d_, mode, CUDNN_PROPAGATE_NAN, int(g.R), int(g.S), int(g.pad_h),
                                                   int(g.pad_w), int(g.stride_h), int(g.stride_w)));
  }
  ~PoolDesc() { cudnnDestroyPoolingDescriptor(d_); }
  PoolDesc(const PoolDesc&) = delete;
  PoolDesc& operator=(const PoolDesc&) = delete;
  cudnnPoolingDescriptor_t get() const { return d_; }

 private:
  cudnnPoolingDescriptor_t d_ = nullptr;
};

// cuDNN sizes pooling outputs with floor division: ceil_mode outputs that add a window are not available.
bool pool_supported(DType t, const PoolGeom& g) {
  if (!floating(t)) return false;
  for (int64_t v : {g.N, g.C, g.H, g.W}) if (!fits_int(v)) return false;
  const int64_t oh = (g.H + 2 * g.pad_h - g.R) / g.stride_h + 1, ow = (g.W + 2 * g.pad_w - g.S) / g.stride_w + 1;
  if (oh == g.OH && ow == g.OW) return true;
  log_once("pooling with ceil_mode windows past the floor size");
  return false;
}

class ActivationDesc {
 public:
  ActivationDesc(cudnnActivationMode_t mode, double coef) {
    STRATA_CUDNN_CHECK(cudnnCreateActivationDescriptor(&d_));
    STRATA_CUDNN_CHECK(cudnnSetActivationDescriptor(d_, mode, CUDNN_PROPAGATE_NAN, coef));
    if (mode == CUDNN_ACTIVATION_SWISH) STRATA_CUDNN_CHECK(cudnnSetActivationDescriptorSwishBeta(d_, 1.0));
  }
  ~ActivationDesc() { cudnnDestroyActivationDescriptor(d_); }
  ActivationDesc(const ActivationDesc&) = delete;
  ActivationDesc& operator=(const ActivationDesc&) = delete;
  cudnnActivationDescriptor_t get() const { return d_; }

 private:
  cudnnActivationDescriptor_t d_ = nullptr;
};

// The cuDNN mode of an activation, and its coefficient; false when cuDNN has none.
bool activation_mode(Activation a, ActParams p, cudnnActivationMode_t* mode, double* coef) {
  *coef = 0;
  switch (a) {
    case Activation::relu: *mode = CUDNN_ACTIVATION_RELU; return true;
    case Activation::relu6: *mode = CUDNN_ACTIVATION_CLIPPED_RELU, *coef = 6; return true;
    case Activation::sigmoid: *mode = CUDNN_ACTIVATION_SIGMOID; return true;
    case Activation::tanh: *mode = CUDNN_ACTIVATION_TANH; return true;
    case Activation::elu: *mode = CUDNN_ACTIVATION_ELU, *coef = p.alpha; return true;
    case Activation::silu: *mode = CUDNN_ACTIVATION_SWISH; return true;
    case Activation::leaky_relu: log_once("no cuDNN mode for leaky ReLU"); return false;
    case Activation::softplus: log_once("no cuDNN mode for softplus"); return false;
  }
  return false;
}

}  // namespace

bool cudnn_pool_forward(DType t, const PoolGeom& g, bool max, const void* x, void* y) {
  if (!pool_supported(t, g)) return false;
  const CudnnTensor xd(t, g.N, g.C, g.H, g.W), yd(t, g.N, g.C, g.OH, g.OW);
  const PoolDesc pd(g, max);
  const CudnnScale s;
  STRATA_CUDNN_CHECK(cudnnPoolingForward(cudnn_handle(), pd.get(), s.one(t), xd.get(), x, s.zero(t), yd.get(), y));
  return true;
}

bool cudnn_pool_backward(DType t, const PoolGeom& g, bool max, const void* x, const void* y, const void* gy,
                         void* gx) {
  if (!pool_supported(t, g)) return false;
  const CudnnTensor xd(t, g.N, g.C, g.H, g.W), yd(t, g.N, g.C, g.OH, g.OW);
  const PoolDesc pd(g, max);
  const CudnnScale s;
  STRATA_CUDNN_CHECK(cudnnPoolingBackward(cudnn_handle(), pd.get(), s.one(t), yd.get(), y, yd.get(), gy, xd.get(), x,
                                          s.zero(t), xd.get(), gx));
  return true;
}

// (outer, C, inner) as NCHW (outer, C, inner, 1): spatial batch norm normalises over N, H and W.
bool cudnn_batch_norm_forward(DType t, const void* x, int64_t outer, int64_t C, int64_t inner, double eps,
                              const void* weight, const void* bias, void* mean, void* var, void* invstd, void* y) {
  if (!floating(t) || !fits_int(outer) || !fits_int(C) || !fits_int(inner)) return false;
  if (eps < CUDNN_BN_MIN_EPSILON) {
    log_once("batch norm with eps below CUDNN_BN_MIN_EPSILON");
    return false;
  }
  const CudnnTensor xd(t, outer, C, inner, 1);
  CudnnTensor bnd;
  STRATA_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(bnd.get(), xd.get(), CUDNN_BATCHNORM_SPATIAL));
  const ChannelValues scale(t, C, weight, 1.0), shift(t, C, bias, 0.0);
  const CudnnScale s;
  // Running statistics stay with the engine (unbiased variance, its momentum): none passed here.
  STRATA_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, s.one(t), s.zero(t), xd.get(), x, xd.get(), y, bnd.get(),
      scale.get(), shift.get(), 0.0, nullptr, nullptr, eps, mean, invstd));
  // The biased variance the contract also returns: 1 / invstd^2 - eps, from C values on the host.
  const size_t n = static_cast<size_t>(C);
  if (t == DType::f64) {
    std::vector<double> host(n);
    STRATA_CUDA_CHECK(cudaMemcpy(host.data(), invstd, n * sizeof(double), cudaMemcpyDeviceToHost));
    for (double& v : host) v = 1.0 / (v * v) - eps;
    STRATA_CUDA_CHECK(cudaMemcpy(var, host.data(), n * sizeof(double), cudaMemcpyHostToDevice));
  } else {
    std::vector<float> host(n);
    STRATA_CUDA_CHECK(cudaMemcpy(host.data(), invstd, n * sizeof(float), cudaMemcpyDeviceToHost));
    for (float& v : host) v = static_cast<float>(1.0 / (double(v) * double(v)) - eps);
    STRATA_CUDA_CHECK(cudaMemcpy(var, host.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  }
  return true;
}

bool cudnn_batch_norm_backward(DType t, const void* x, const void* gy, int64_t outer, int64_t C, int64_t inner,
                               double eps, const void* mean, const void* invstd, const void* weight, void* gx,
                               void* gweight, void* gbias) {
  if (!floating(t) || !fits_int(outer) || !fits_int(C) || !fits_int(inner) || eps < CUDNN_BN_MIN_EPSILON) return false;
  const CudnnTensor xd(t, outer, C, inner, 1);
  CudnnTensor bnd;
  STRATA_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(bnd.get(), xd.get(), CUDNN_BATCHNORM_SPATIAL));
  const ChannelValues scale(t, C, weight, 1.0);
  // cuDNN always writes dx: scratch when the caller does not want it.
  const DeviceScratch scratch(gx ? 0 : static_cast<size_t>(outer * C * inner) * dtype_size(t));
  const CudnnScale s;
  STRATA_CUDNN_CHECK(cudnnBatchNormalizationBackward(
      cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, s.one(t), s.zero(t), s.one(t), s.zero(t), xd.get(), x, xd.get(), gy,
      xd.get(), gx ? gx : scratch.get(), bnd.get(), scale.get(), gweight, gbias, eps, mean, invstd));
  return true;
}

bool cudnn_softmax_forward(DType t, const void* x, void* y, int64_t outer, int64_t D, int64_t inner, bool log) {
  if (!floating(t) || !fits_int(outer) || !fits_int(D) || !fits_int(inner)) return false;
  const CudnnTensor xd(t, outer, D, inner, 1);
  const CudnnScale s;
  STRATA_CUDNN_CHECK(cudnnSoftmaxForward(cudnn_handle(), log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
                                         CUDNN_SOFTMAX_MODE_CHANNEL, s.one(t), xd.get(), x, s.zero(t), xd.get(), y));
  return true;
}

bool cudnn_activation_forward(DType t, Activation a, ActParams p, const void* x, void* y, int64_t n) {
  cudnnActivationMode_t mode;
  double coef;
  if (!floating(t) || !fits_int(n) || !activation_mode(a, p, &mode, &coef)) return false;
  const CudnnTensor d(t, 1, 1, 1, n);
  const ActivationDesc ad(mode, coef);
  const CudnnScale s;
  STRATA_CUDNN_CHECK(cudnnActivationForward(cudnn_handle(), ad.get(), s.one(t), d.get(), x, s.zero(t), d.get(), y));
  return true;
}

bool cudnn_activation_backward(DType t, Activation a, ActParams p, const void* x, const void* y, const void* gy,
                               void* gx, int64_t n) {
  cudnnActivationMode_t mode;
  double coef;
  if (!floating(t) || !fits_int(n) || !activation_mode(a, p, &mode, &coef)) return false;
  // cuDNN reads the derivative off x. Called with y in place of x (the op kept only its output): ELU and SiLU
  // cannot be inverted that way, and clipped ReLU would pass the gradient where y sits at the clip (x >= 6
  // gives y == 6, inside cuDNN's 0 < x <= 6), so those three take the native kernels, which read y.
  if (x == y && (a == Activation::elu || a == Activation::silu || a == Activation::relu6)) {
    log_once("ReLU6 / ELU / SiLU backward from the output alone");
    return false;
  }
  const CudnnTensor d(t, 1, 1, 1, n);
  const ActivationDesc ad(mode, coef);
  const CudnnScale s;
  STRATA_CUDNN_CHECK(cudnnActivationBackward(cudnn_handle(), ad.get(), s.one(t), d.get(), y, d.get(), gy, d.get(), x,
                                             s.zero(t), d.get(), gx));
  return true;
}

#endif

}  // namespace strata::cuda
