// CPU kernels of the neural-network ops (geometry in kernels/nn_desc.h).
// Convolutions are im2col / col2im around the GEMM in kernels/cpu/gemm.h;
// the engine (engine/ops_conv.cpp) drives them. Every kernel is deterministic:
// accumulations run in a fixed order within one (sample, channel) plane and
// planes are independent, so results do not depend on the thread count.
#pragma once

#include <cstdint>

#include "kernels/nn_desc.h"

namespace strata::cpu {

// cols (nb, C * R * S, OH * OW) of samples [n0, n0 + nb) of x (N, C, H, W); zero outside x.
template <class T>
void im2col(const ConvGeom& g, const T* x, int64_t n0, int64_t nb, T* cols);
// The adjoint: gx (samples [n0, n0 + nb)) = sum of cols scattered back (gx is overwritten).
template <class T>
void col2im(const ConvGeom& g, const T* cols, int64_t n0, int64_t nb, T* gx);

// indices: flat h * W + w of each maximum within its plane (first maximum; NaN wins). 2 x 2 windows at
// stride 2 inside the plane take a fast path; max_pool2d_reference is the plain loop for every geometry,
// which the tests compare it with.
template <class T>
void max_pool2d(const PoolGeom& g, const T* x, T* y, int64_t* indices);
template <class T>
void max_pool2d_reference(const PoolGeom& g, const T* x, T* y, int64_t* indices);
template <class T>
void max_pool2d_backward(const PoolGeom& g, const T* gy, const int64_t* indices, T* gx);
template <class T>
void avg_pool2d(const PoolGeom& g, const T* x, T* y);
template <class T>
void avg_pool2d_backward(const PoolGeom& g, const T* gy, T* gx);

template <class T>
void upsample2d(const UpsampleGeom& g, const T* x, T* y);
template <class T>
void upsample2d_backward(const UpsampleGeom& g, const T* gy, T* gx);

// Batch normalisation of x viewed as (outer, C, inner), contiguous. Training:
// the per-channel mean and biased variance of x are written to mean / var;
// otherwise mean / var are read (running statistics). Then invstd =
// 1 / sqrt(var + eps) is written and y = (x - mean) * invstd * weight + bias
// (weight / bias may be null: 1 / 0). Sums run in T over blocks of 256 values,
// the block sums added in double; the variance is the corrected two-pass one.
//
// With scale_shift (2 C values) an activation `act` follows, ReLU or ReLU6
// (kernels/activation.h: the same float expressions as the separate op):
// y = act(x * a + b), and the per-channel a (first C) and b (last C) that y
// was computed with are written there, so the backward can tell exactly which
// outputs the activation cut.
template <class T>
void batch_norm_forward(const T* x, int64_t outer, int64_t C, int64_t inner, bool training, double eps,
                        const T* weight, const T* bias, T* mean, T* var, T* invstd, T* y, T* scale_shift = nullptr,
                        Activation act = Activation::relu);
// The gradients of batch_norm_forward from gy: gx (null: not wanted), gweight
// and gbias (always written, C each). `training` adds the terms through the
// batch statistics. scale_shift and act: the forward's, when it had the
// activation (gy is then zeroed where the activation cut x * a + b before
// anything else).
template <class T>
void batch_norm_backward(const T* x, const T* gy, int64_t outer, int64_t C, int64_t inner, bool training,
                         const T* mean, const T* invstd, const T* weight, T* gx, T* gweight, T* gbias,
                         const T* scale_shift = nullptr, Activation act = Activation::relu);

template <class T>
void activation(Activation a, ActParams p, const T* x, T* y, int64_t n);
template <class T>
void activation_backward(Activation a, ActParams p, const T* x, const T* y, const T* gy, T* gx, int64_t n);

}  // namespace strata::cpu
