// Direct convolution on the CPU (f32, stride 1, dilation 1, one group): the
// shapes U-Net training spends its time in. No column matrices: an output tile
// of 8 channels x 48 columns of one row stays in vector registers while the
// input channels and the R x S taps stream past, each input vector feeding 8
// fused multiply-adds. Backward-data is the same kernel run on the padded
// gradient with the weights transposed and flipped; backward-weight keeps
// (output channels x R x S) vector sums per input channel and streams the rows.
//
// Every output element (and every weight-gradient sum) is accumulated in one
// fixed order by one thread, so results do not depend on the thread count.
// The engine (engine/ops_conv.cpp) asks the backend first and falls back to
// im2col + GEMM when conv_direct_supported() says no.
#pragma once

#include <cstdint>

#include "kernels/nn_desc.h"

namespace strata::cpu {

// How the CPU backend runs convolutions: `automatic` takes the fastest kernel
// for the shape as measured on the benchmarked U-Net shapes (docs/benchmarks.md),
// `gemm` always uses im2col + GEMM, `direct` uses the direct kernel wherever it
// applies, `winograd` uses F(4x4, 3x3) (kernels/cpu/conv_winograd.h) wherever
// it applies and the direct kernel elsewhere. Read once from
// STRATA_CPU_CONV=auto|gemm|direct|winograd; tests set it.
enum class ConvAlgorithm : uint8_t { automatic, gemm, direct, winograd };
ConvAlgorithm conv_algorithm();
void set_conv_algorithm(ConvAlgorithm a);

// The kernel a pass runs on (the engine's im2col + GEMM is `gemm`).
// Depthwise convolutions (groups == C == K) run kernels/cpu/conv_depthwise.h,
// pointwise ones (1 x 1, stride 1, no padding) kernels/cpu/conv_pointwise.h
// and non-overlapping ones (kernel == stride) kernels/cpu/conv_patch.h under
// every algorithm but `gemm`.
enum class ConvKernel : uint8_t { gemm, direct, winograd, depthwise, patch, pointwise };
ConvKernel conv_kernel(const ConvGeom& g, ConvPass pass);

// True when the direct kernel can run this pass of g (f32 assumed by the caller).
bool conv_direct_applies(const ConvGeom& g, ConvPass pass);
// True when the selected algorithm runs this pass of g directly.
bool conv_direct_selected(const ConvGeom& g, ConvPass pass);

// Floats of workspace a pass needs (the zero-padded copy of its input, with
// room to align it); the caller provides it, uninitialised.
int64_t conv_direct_workspace(const ConvGeom& g, ConvPass pass);

// y (N, K, OH, OW) = conv(x (N, C, H, W), w (K, C, R, S)), no bias.
void conv_direct_forward(const ConvGeom& g, const float* x, const float* w, float* y, float* workspace);
// gx (N, C, H, W) from gy (N, K, OH, OW) and w.
void conv_direct_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx, float* workspace);
// gw (K, C, R, S) from x and gy (overwritten).
void conv_direct_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace);

}  // namespace strata::cpu
