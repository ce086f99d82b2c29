// Non-overlapping ("patch") convolution on the CPU (f32): kernel == stride,
// no padding, dilation 1, one group, and the input tiled exactly by the kernel
// (H == OH R, W == OW S). Every input sample then belongs to one output
// position and one tap, so no pass has overlapping windows to add up: the
// U-Net's 2 x 2 stride-2 transposed convolution (its upsampler; the
// transposed convolution's forward is this convolution's backward-data), the
// 1-D U-Net's 1 x 2 one, and patchify convolutions.
//
// im2col + GEMM spent most of its time outside the product on these shapes
// (the column matrix built twice in a backward pass, col2im's zero fill and
// scatter-add, a per-sample weight gradient summed afterwards). Here each
// output row is one task: the row's taps are gathered (or its gradient rows
// copied) into a small scratch laid out by tap, and a register tile of 6 rows
// x 2 vectors accumulates over the channels, each vector load feeding 6
// multiply-adds; backward-data writes every gradient sample exactly once.
// Backward-weight gives each sample to one thread (dot products over the
// sample's positions, 6 x 2 weights at a time) and sums the samples in order.
// Every result is accumulated in one fixed order, so results do not depend on
// the thread count.
#pragma once

#include <cstdint>

#include "kernels/nn_desc.h"

namespace strata::cpu {

// True for a convolution these kernels run (see above; 1 x 1 excluded: that is a plain GEMM).
bool conv_patch_applies(const ConvGeom& g);

// Floats of workspace a pass needs (backward-weight: one weight gradient per sample); the caller provides it,
// uninitialised.
int64_t conv_patch_workspace(const ConvGeom& g, ConvPass pass);

// y (N, K, OH, OW) = conv(x (N, C, H, W), w (K, C, R, S)), no bias.
void conv_patch_forward(const ConvGeom& g, const float* x, const float* w, float* y);
// gx (N, C, H, W) from gy (N, K, OH, OW) and w.
void conv_patch_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx);
// gw (K, C, R, S) from x and gy (overwritten).
void conv_patch_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace);

}  // namespace strata::cpu
