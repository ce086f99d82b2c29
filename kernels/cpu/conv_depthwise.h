// Depthwise convolution on the CPU (f32): groups == C == K, one filter of
// R x S taps per channel, any stride and padding, dilation 1 (MobileNetV2's
// 3x3 stride-1 and stride-2 layers). As im2col + GEMM it is 1 x (R S) x P
// products per channel, far below the memory bound. Here each (sample,
// channel) plane is one task: the input plane is copied zero-padded into a
// scratch buffer split by stride phase, so that every tap becomes one
// unit-stride multiply-add over the whole output plane (kept as wide as the
// padded row, its extra columns discarded): no bounds checks, and a long
// vectorised loop even for 7 x 7 planes.
//
// Backward-data scatters each tap's contribution into a padded scratch plane
// of its own task and copies the inside out; backward-weight gives each
// channel to one thread, which sums over samples in order. Every result is
// accumulated in one fixed order, so results do not depend on the thread count.
#pragma once

#include "kernels/nn_desc.h"

namespace strata::cpu {

// True for a depthwise convolution this kernel runs (groups == C == K, dilation 1).
bool conv_depthwise_applies(const ConvGeom& g);

// y (N, C, OH, OW) = depthwise(x (N, C, H, W), w (C, 1, R, S)), no bias.
void conv_depthwise_forward(const ConvGeom& g, const float* x, const float* w, float* y);
// gx (N, C, H, W) from gy (N, C, OH, OW) and w.
void conv_depthwise_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx);
// gw (C, 1, R, S) from x and gy (overwritten).
void conv_depthwise_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw);

}  // namespace strata::cpu
