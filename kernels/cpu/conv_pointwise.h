// Pointwise (1 x 1) convolution on the CPU (f32): stride 1, no padding, one group. MobileNetV2's expand and
// project layers and every 1 x 1 head. Each sample is one matrix product over its positions,
//   y[n] (K x P) = w (K x C) x[n] (C x P),   P = OH OW,
// whose operand rows are already contiguous: nothing is copied but the weight.
//
// Forward and backward-data share one kernel: the weight (or its transpose) is packed into panels of a few
// rows, and a register tile of those rows x 3 vectors of positions accumulates over the inner channels,
// each vector load feeding one multiply-add per panel row. The positions of a sample are one axis, so even
// 5 x 7 planes fill most of the tile. Backward-weight,
//   gw (K x C) = sum over n of gy[n] (K x P) x[n]^T (P x C),
// is a set of dot products along (sample, position): a tile of output-channel rows x input-channel rows
// accumulates lane-wise in registers over a slice of the axis small enough to stay in cache, adds into
// vector sums kept per tile, and the lanes are summed once at the end.
//
// Each output (and each weight-gradient sum, slices in order) is accumulated in one fixed order by one
// thread, so results do not depend on the thread count. Against the engine's GEMM the order differs, so the
// last bits do.
#pragma once

#include <cstdint>

#include "kernels/nn_desc.h"

namespace strata::cpu {

// True for a convolution these kernels run: 1 x 1, stride 1, no padding, one group.
bool conv_pointwise_applies(const ConvGeom& g);

// Floats of workspace a pass needs (the packed weight); the caller provides it, uninitialised.
int64_t conv_pointwise_workspace(const ConvGeom& g, ConvPass pass);

// y (N, K, OH, OW) = conv(x (N, C, H, W), w (K, C, 1, 1)), no bias.
void conv_pointwise_forward(const ConvGeom& g, const float* x, const float* w, float* y, float* workspace);
// gx (N, C, H, W) from gy (N, K, OH, OW) and w.
void conv_pointwise_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx, float* workspace);
// gw (K, C, 1, 1) from x and gy (overwritten).
void conv_pointwise_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace);

}  // namespace strata::cpu
