// The kernel interface one device type implements. Ops in engine/ops_*.cpp are
// written once against it; the CPU backend forwards to kernels/cpu, the CUDA
// backend to kernels/cuda (or cuDNN / cuBLAS). Pointers are already offset to
// the first element; descriptors give shapes and element strides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "kernels/nn_desc.h"
#include "kernels/op_kinds.h"
#include "kernels/optimizer.h"
#include "kernels/tensor_desc.h"

namespace strata {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Allocator& allocator() = 0;
  // Copies between this device's memory and host memory (nbytes, contiguous).
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes) = 0;

  // Elementwise: all descriptors have the output's shape.
  virtual void unary(DType t, UnaryOp op, UnaryParams p, const void* x, const TensorDesc& xd, void* y,
                     const TensorDesc& yd) = 0;
  virtual void binary(DType t, BinaryOp op, const void* a, const TensorDesc& ad, const void* b,
                      const TensorDesc& bd, void* y, const TensorDesc& yd) = 0;
  virtual void compare(DType t, CompareOp op, const void* a, const TensorDesc& ad, const void* b,
                       const TensorDesc& bd, uint8_t* y, const TensorDesc& yd) = 0;
  virtual void where(DType t, const uint8_t* c, const TensorDesc& cd, const void* a, const TensorDesc& ad,
                     const void* b, const TensorDesc& bd, void* y, const TensorDesc& yd) = 0;
  virtual void copy(DType src_t, const void* x, const TensorDesc& xd, DType dst_t, void* y,
                    const TensorDesc& yd) = 0;
  virtual void fill(DType t, double value, void* y, const TensorDesc& yd) = 0;

  // Reductions: x viewed as (kept..., reduced...), out contiguous over kept.
  virtual void reduce(DType t, ReduceOp op, const void* x, const TensorDesc& xd, int kept_ndim, void* out) = 0;
  virtual void arg_reduce(DType t, ArgReduceOp op, const void* x, const TensorDesc& xd, int kept_ndim,
                          int64_t* out) = 0;

  // Row-major batched GEMM (see kernels/cpu/gemm.h for the convention).
  virtual void gemm_batched(DType t, int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                            const void* A, int64_t lda, int64_t stride_a, const void* B, int64_t ldb,
                            int64_t stride_b, void* C, int64_t ldc, int64_t stride_c) = 0;

  // Contiguous (outer, D, inner) layouts around the indexed / normalised axis.
  virtual void softmax(DType t, const void* x, void* y, int64_t outer, int64_t D, int64_t inner, bool log) = 0;
  virtual void index_select(DType t, const void* x, int64_t outer, int64_t D, int64_t inner, const int64_t* idx,
                            int64_t L, void* out) = 0;
  virtual void index_add(DType t, void* acc, int64_t outer, int64_t D, int64_t inner, const int64_t* idx,
                         int64_t L, const void* src) = 0;
  virtual void gather(DType t, const void* x, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index,
                      int64_t Di, void* out) = 0;
  virtual void scatter_add(DType t, void* acc, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index,
                           int64_t Di, const void* src) = 0;
  virtual void one_hot(DType t, const int64_t* idx, int64_t n, int64_t C, void* out) = 0;

  virtual void random_uniform(DType t, void* y, int64_t n, uint64_t seed, uint64_t offset, double lo,
                              double hi) = 0;
  virtual void random_normal(DType t, void* y, int64_t n, uint64_t seed, uint64_t offset, double mean,
                             double std) = 0;

  // ---- neural-network kernels (kernels/nn_desc.h; floating dtypes, contiguous NCHW)
  // Column matrices (nb, C*R*S, OH*OW) of samples [n0, n0+nb), and their adjoint
  // (col2im overwrites those samples of gx). The engine runs the GEMMs around them.
  virtual void im2col(DType t, const ConvGeom& g, const void* x, int64_t n0, int64_t nb, void* cols) = 0;
  virtual void col2im(DType t, const ConvGeom& g, const void* cols, int64_t n0, int64_t nb, void* gx) = 0;
  // One pass of a convolution without column matrices, where the backend has a
  // direct kernel for it. conv_direct_workspace gives the elements of dtype t
  // of workspace the pass needs, or -1 when the backend has no direct kernel
  // for it (the engine then uses im2col + GEMM). conv_direct runs it: forward
  // (a = x, b = w, out = y), backward_data (a = gy, b = w, out = gx),
  // backward_weight (a = x, b = gy, out = gw). `filters` names w while it stays
  // as it is (kernels/nn_desc.h), so the kernel may keep what it derives from it.
  virtual int64_t conv_direct_workspace(DType, ConvPass, const ConvGeom&) { return -1; }
  virtual void conv_direct(DType t, ConvPass, const ConvGeom&, const void*, const void*, void*, void*,
                           const FilterKey& /*filters*/) {
    throw Error("conv_direct: this backend has no direct convolution for " + std::string(dtype_name(t)));
  }
  virtual void max_pool2d(DType t, const PoolGeom& g, const void* x, void* y, int64_t* indices) = 0;
  virtual void max_pool2d_backward(DType t, const PoolGeom& g, const void* gy, const int64_t* indices, void* gx) = 0;
  virtual void avg_pool2d(DType t, const PoolGeom& g, const void* x, void* y) = 0;
  virtual void avg_pool2d_backward(DType t, const PoolGeom& g, const void* gy, void* gx) = 0;
  virtual void upsample2d(DType t, const UpsampleGeom& g, const void* x, void* y) = 0;
  virtual void upsample2d_backward(DType t, const UpsampleGeom& g, const void* gy, void* gx) = 0;
  // Fused batch normalisation (kernels/cpu/nn.h for the contract), where the
  // backend has it; false, touching nothing, otherwise (the engine then
  // composes it from elementwise ops and reductions).
  virtual bool batch_norm_forward(DType, const void*, int64_t, int64_t, int64_t, bool, double, const void*,
                                  const void*, void*, void*, void*, void*) {
    return false;
  }
  virtual bool batch_norm_backward(DType, const void*, const void*, int64_t, int64_t, int64_t, bool, double,
                                   const void*, const void*, const void*, void*, void*, void*) {
    return false;
  }
  // The same followed by a ReLU or ReLU6 (`act`), with the per-channel scale
  // and shift it used (kernels/cpu/nn.h: scale_shift), where the backend has
  // it; false, touching nothing, otherwise (the engine then applies the
  // activation to batch_norm).
  virtual bool batch_norm_relu_forward(DType, const void*, int64_t, int64_t, int64_t, bool, double, const void*,
                                       const void*, void*, void*, void*, void*, void* /*scale_shift*/,
                                       Activation /*act*/) {
    return false;
  }
  virtual bool batch_norm_relu_backward(DType, const void*, const void*, int64_t, int64_t, int64_t, bool,
                                        const void*, const void*, const void*, const void* /*scale_shift*/,
                                        Activation /*act*/, void*, void*, void*) {
    return false;
  }
  // Losses fused with their softmax / sigmoid (kernels/cpu/loss.h for the
  // contract), where the backend has them; false, touching nothing, otherwise
  // (the engine then composes them from log_softmax, gather and elementwise ops).
  virtual bool cross_entropy_forward(DType, const void*, const int64_t*, const void*, int64_t, int64_t, int64_t,
                                     int64_t, void*, void*, void*) {
    return false;
  }
  virtual bool cross_entropy_backward(DType, const void*, const int64_t*, const void*, int64_t, int64_t, int64_t,
                                      int64_t, const void*, const void*, void*) {
    return false;
  }
  virtual bool bce_with_logits_forward(DType, const void*, const void*, const void*, const void*, int64_t, void*) {
    return false;
  }
  virtual bool bce_with_logits_backward(DType, const void*, const void*, const void*, const void*, const void*,
                                        int64_t, void*) {
    return false;
  }
  virtual void activation(DType t, Activation a, ActParams p, const void* x, void* y, int64_t n) = 0;
  virtual void activation_backward(DType t, Activation a, ActParams p, const void* x, const void* y, const void* gy,
                                   void* gx, int64_t n) = 0;

  // ---- fused optimizer updates over n contiguous elements (kernels/optimizer.h)
  virtual void adam_update(DType t, const AdamParams& a, void* param, const void* grad, void* m, void* v,
                           int64_t n) = 0;
  // buf may be null when momentum is 0.
  virtual void sgd_update(DType t, const SgdParams& s, void* param, const void* grad, void* buf, int64_t n) = 0;
};

// The backend of a device; throws a clear error for a device this build or
// machine does not have.
Backend& backend_for(Device device);

// True when backend_for(device) finds a backend (the CPU always; cuda:0 with a usable GPU in a CUDA build, or with
// STRATA_TEST_HOST_AS_CUDA set).
bool backend_available(Device device);

// True while this thread records device work into a CUDA graph (engine/cuda_graph.h): nothing runs then, so
// values cannot be read on the host. Set by the graph's capture.
bool capturing_graph();
void set_capturing_graph(bool on);

// The CPU backend (always present).
Backend& cpu_backend();

// Installs the backend serving every device of `type` (nullptr removes it).
// The CUDA backend registers itself here when a device is usable; tests use it
// to stand a host-memory backend in for a second device.
void register_backend(DeviceType type, Backend* backend);

}  // namespace strata
