// Host entry points of the hand-written CUDA kernels (kernels/cuda/*.cu), one
// per Backend operation, with the same arguments and semantics as the CPU
// kernels in kernels/cpu. Pointers are device pointers. Every function
// enqueues on the default stream and returns cudaGetLastError() after its
// launches, which the CUDA backend checks. Sizes need not be multiples of any
// block or tile size.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/nn_desc.h"
#include "kernels/op_kinds.h"
#include "kernels/optimizer.h"
#include "kernels/tensor_desc.h"

namespace strata::cuda {

// ---- elementwise (all descriptors have the output's shape) ----------------
template <class T>
cudaError_t unary(UnaryOp op, UnaryParams p, const T* x, TensorDesc xd, T* y, TensorDesc yd);
template <class T>
cudaError_t binary(BinaryOp op, const T* a, TensorDesc ad, const T* b, TensorDesc bd, T* y, TensorDesc yd);
template <class T>
cudaError_t compare(CompareOp op, const T* a, TensorDesc ad, const T* b, TensorDesc bd, uint8_t* y, TensorDesc yd);
template <class T>
cudaError_t where(const uint8_t* c, TensorDesc cd, const T* a, TensorDesc ad, const T* b, TensorDesc bd, T* y,
                  TensorDesc yd);
template <class Src, class Dst>
cudaError_t copy(const Src* x, TensorDesc xd, Dst* y, TensorDesc yd);
template <class T>
cudaError_t fill(T value, T* y, TensorDesc yd);

// ---- reductions: x viewed as (kept..., reduced...), out contiguous over kept
// Deterministic: fixed chunking and fixed-order warp / block trees, so a
// result depends only on the input, never on scheduling.
// Device scratch `reduce` / `arg_reduce` need (bytes); pass at least this much.
size_t reduce_workspace_bytes(const TensorDesc& xd, int kept_ndim);
template <class T>
cudaError_t reduce(ReduceOp op, const T* x, TensorDesc xd, int kept_ndim, T* out, void* workspace);
template <class T>
cudaError_t arg_reduce(ArgReduceOp op, const T* x, TensorDesc xd, int kept_ndim, int64_t* out, void* workspace);

// ---- GEMM: row-major, C = op(A) op(B) (kernels/cpu/gemm.h convention) -----
// The native engine: 128 x 128 shared-memory tiles, 8 x 8 outputs per thread.
template <class T>
cudaError_t gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                         int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T* C, int64_t ldc,
                         int64_t stride_c);

// ---- softmax / log-softmax over D of a contiguous (outer, D, inner) --------
template <class T>
cudaError_t softmax(const T* x, T* y, int64_t outer, int64_t D, int64_t inner, bool log);

// ---- indexing (contiguous (outer, D, inner) layouts; index arrays on device)
template <class T>
cudaError_t index_select(const T* x, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L, T* out);
template <class T>
cudaError_t index_add(T* acc, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L, const T* src);
template <class T>
cudaError_t gather(const T* x, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di, T* out);
template <class T>
cudaError_t scatter_add(T* acc, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di,
                        const T* src);
template <class T>
cudaError_t one_hot(const int64_t* idx, int64_t n, int64_t C, T* out);

// ---- Philox random fills: the same stream as kernels/cpu/random.cpp --------
template <class T>
cudaError_t random_uniform(T* y, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);
template <class T>
cudaError_t random_normal(T* y, int64_t n, uint64_t seed, uint64_t offset, double mean, double std);

// ---- neural-network kernels (kernels/nn_desc.h): deterministic gathers ----
template <class T>
cudaError_t im2col(const ConvGeom& g, const T* x, int64_t n0, int64_t nb, T* cols);
template <class T>
cudaError_t col2im(const ConvGeom& g, const T* cols, int64_t n0, int64_t nb, T* gx);
// ---- bfloat16 conversions (bf16.cu; bfloat16 as uint16_t bit patterns): round to nearest even, and back ----
cudaError_t f32_to_bf16(const float* x, uint16_t* y, int64_t n);
cudaError_t bf16_to_f32(const uint16_t* x, float* y, int64_t n);

// Implicit-GEMM convolution passes of f32 tensors (conv_igemm.cu; a, b, out as Backend::conv_direct names them):
// the floats of workspace a pass needs, or -1 for a shape they do not serve (depthwise, 1x1, over 2^31 elements).
int64_t conv_igemm_workspace(ConvPass pass, const ConvGeom& g);
cudaError_t conv_igemm(ConvPass pass, const ConvGeom& g, const float* a, const float* b, float* out, float* workspace);
// Winograd F(4x4, 3x3) passes of f32 tensors (conv_winograd.cu): 3x3 kernels, stride 1, dilation 1, one group,
// padding 0-2; the floats of workspace a pass needs, or -1 for a shape they do not serve.
int64_t conv_winograd_workspace(ConvPass pass, const ConvGeom& g);
cudaError_t conv_winograd(ConvPass pass, const ConvGeom& g, const float* a, const float* b, float* out,
                          float* workspace);
template <class T>
cudaError_t max_pool2d(const PoolGeom& g, const T* x, T* y, int64_t* indices);
template <class T>
cudaError_t max_pool2d_backward(const PoolGeom& g, const T* gy, const int64_t* indices, T* gx);
template <class T>
cudaError_t avg_pool2d(const PoolGeom& g, const T* x, T* y);
template <class T>
cudaError_t avg_pool2d_backward(const PoolGeom& g, const T* gy, T* gx);
template <class T>
cudaError_t upsample2d(const UpsampleGeom& g, const T* x, T* y);
template <class T>
cudaError_t upsample2d_backward(const UpsampleGeom& g, const T* gy, T* gx);
template <class T>
cudaError_t activation(Activation a, ActParams p, const T* x, T* y, int64_t n);
template <class T>
cudaError_t activation_backward(Activation a, ActParams p, const T* x, const T* y, const T* gy, T* gx, int64_t n);

// ---- batch norm over C of a contiguous (outer, C, inner) tensor (batch_norm.cu;
// the contract of kernels/cpu/nn.h): Welford statistics in two deterministic
// stages. Device scratch both passes need (bytes); pass at least this much.
size_t batch_norm_workspace_bytes(int64_t outer, int64_t C, int64_t inner);
template <class T>
cudaError_t batch_norm_forward(const T* x, int64_t outer, int64_t C, int64_t inner, bool training, double eps,
                               const T* weight, const T* bias, T* mean, T* var, T* invstd, T* y, void* workspace);
template <class T>
cudaError_t batch_norm_backward(const T* x, const T* gy, int64_t outer, int64_t C, int64_t inner, bool training,
                                const T* mean, const T* invstd, const T* weight, T* gx, T* gweight, T* gbias,
                                void* workspace);

// ---- losses fused with softmax / sigmoid (loss.cu; kernels/cpu/loss.h) ----
template <class T>
cudaError_t cross_entropy_forward(const T* x, const int64_t* target, const T* class_weight, int64_t outer,
                                  int64_t D, int64_t inner, int64_t ignore_index, T* loss, T* weight, T* lse);
template <class T>
cudaError_t cross_entropy_backward(const T* x, const int64_t* target, const T* class_weight, int64_t outer,
                                   int64_t D, int64_t inner, int64_t ignore_index, const T* lse, const T* gloss,
                                   T* gx);
template <class T>
cudaError_t bce_with_logits_forward(const T* x, const T* target, const T* weight, const T* pos_weight, int64_t n,
                                    T* loss);
template <class T>
cudaError_t bce_with_logits_backward(const T* x, const T* target, const T* weight, const T* pos_weight,
                                     const T* gloss, int64_t n, T* gx);

// ---- fused optimizer updates (optimizer.cu); buf may be null when momentum is 0
template <class T>
cudaError_t adam_update(const AdamParams& a, T* param, const T* grad, T* m, T* v, int64_t n);
template <class T>
cudaError_t sgd_update(const SgdParams& s, T* param, const T* grad, T* buf, int64_t n);

}  // namespace strata::cuda
