// Depthwise convolution on the CPU (f32): groups == C == K, one filter of
// R x S taps per channel, any stride and padding, dilation 1 (MobileNetV2's
// 3x3 stride-1 and stride-2 layers). As im2col + GEMM it is 1 x (R S) x P
// products per channel, far below the memory bound. Here each (sample,
// channel) plane is one task: the input plane is copied zero-padded into a
// scratch buffer split by stride phase, so that every tap reads the buffer at
// one constant offset from the output position (the output kept as wide as
// the padded row, its extra columns discarded): no bounds checks, and long
// vectorised loops even for 7 x 7 planes. All taps of a vector of outputs are
// summed in registers, so each output is written once.
//
// Backward-data gathers the same way from the output gradient, zero-padded,
// one stride phase of the input at a time; backward-weight gives each channel
// to one thread, which sums every tap's products over samples in order, one
// pass over the plane for up to nine taps. Every result is accumulated in one
// fixed order, so results do not depend on the thread count.
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
