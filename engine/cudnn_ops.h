// The cuDNN engines for pooling, batch norm, softmax and activations (nvcc
// build with cuDNN), behind the same contracts as the native CUDA kernels.
// Each family has its engine setting, like convolutions (engine/cudnn_conv.h):
//   STRATA_POOL_ENGINE, STRATA_BATCHNORM_ENGINE, STRATA_SOFTMAX_ENGINE,
//   STRATA_ACTIVATION_ENGINE = native | cudnn | auto.
// `auto` is native for these four families: unlike convolutions they are
// memory-bound single passes, and which engine is faster has not been measured
// on a GPU yet (docs/benchmarks.md). A case cuDNN cannot do returns false after
// one log line per kind of case, and the caller runs the native kernel:
//   pooling      ceil_mode windows cuDNN does not produce;
//   batch norm   evaluation mode (a native elementwise pass);
//   softmax      the backward pass (native, from the saved output);
//   activations  leaky ReLU and softplus (no cuDNN mode), and the backward of
//                ELU / SiLU when only the output was kept.
#pragma once

#include <cstdint>

#include "engine/cudnn_conv.h"
#include "engine/dtype.h"
#include "kernels/nn_desc.h"

namespace strata::cuda {

enum class CudnnOp { pooling, batch_norm, softmax, activation };

void set_op_engine(CudnnOp op, ConvEngine engine);  // throws for cudnn in a build without it
ConvEngine op_engine(CudnnOp op);
bool use_cudnn_for(CudnnOp op);  // cuDNN present and the family's engine is cudnn

// Pooling (max: deterministic, NaN propagating). Backward needs x and y.
bool cudnn_pool_forward(DType t, const PoolGeom& g, bool max, const void* x, void* y);
bool cudnn_pool_backward(DType t, const PoolGeom& g, bool max, const void* x, const void* y, const void* gy,
                         void* gx);

// Batch norm in training mode over C of (outer, C, inner); the contract of the
// backend's batch_norm_forward / batch_norm_backward (mean, biased var, invstd).
bool cudnn_batch_norm_forward(DType t, const void* x, int64_t outer, int64_t C, int64_t inner, double eps,
                              const void* weight, const void* bias, void* mean, void* var, void* invstd, void* y);
bool cudnn_batch_norm_backward(DType t, const void* x, const void* gy, int64_t outer, int64_t C, int64_t inner,
                               double eps, const void* mean, const void* invstd, const void* weight, void* gx,
                               void* gweight, void* gbias);

// Softmax / log-softmax over D of a contiguous (outer, D, inner).
bool cudnn_softmax_forward(DType t, const void* x, void* y, int64_t outer, int64_t D, int64_t inner, bool log);

// Activations over n contiguous elements. The backward pass gets x == y when
// the caller kept only the output (ReLU, ReLU6, sigmoid, tanh).
bool cudnn_activation_forward(DType t, Activation a, ActParams p, const void* x, void* y, int64_t n);
bool cudnn_activation_backward(DType t, Activation a, ActParams p, const void* x, const void* y, const void* gy,
                               void* gx, int64_t n);

}  // namespace strata::cuda
