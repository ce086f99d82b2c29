// Winograd convolution F(4x4, 3x3) on the CPU (f32; 3x3 kernels, stride 1,
// dilation 1, one group), after Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks" (2016). Each 4x4 output tile comes from a
// 6x6 input tile: the input tiles and the 3x3 filters are transformed to 6x6
// (B^T d B, G g G^T), the 36 transform points become 36 independent GEMMs
// (K x C) x (C x tiles), and A^T m A takes every 6x6 product back to 4x4.
// That is 36 multiplies per tile per channel pair instead of 144: 4x fewer
// than a direct or im2col convolution, at the price of the transforms and of
// a larger rounding error (about 1e-6 relative in f32 on unit-scale data).
//
// Forward and backward-data (a correlation of the gradient with the filters
// flipped and transposed) use it, and so does backward-weight, as the
// transpose of the forward pass: the output-gradient tiles are transformed
// to 6x6 (A dy A^T), multiplied point by point with the input tiles' B^T d B
// and summed over tiles by 36 GEMMs (K x tiles) (tiles x C); G^T . G takes
// the sums back to 3x3. conv1d (1x3 filters on planes of one row) runs the
// same passes as F(4, 3): 6 transform points per tile of 4 outputs, 6 GEMMs.
// The results do not depend on the thread count (cpu::gemm is deterministic
// and every transform is one thread's work).
#pragma once

#include <cstdint>

#include "kernels/nn_desc.h"

namespace strata::cpu {

// True when the pass can run as F(4x4, 3x3) (3x3 filters) or F(4, 3) (1x3
// filters, one row, no padding in h: conv1d): stride 1, dilation 1, one group;
// backward-data also needs padding of at most 2.
bool conv_winograd_applies(const ConvGeom& g, ConvPass pass);

// Floats of workspace the pass needs (transformed filters, input and products).
int64_t conv_winograd_workspace(const ConvGeom& g, ConvPass pass);

// y (N, K, OH, OW) = conv(x (N, C, H, W), w (K, C, 3, 3)), no bias. With a
// key naming w, the transformed filters are kept for later calls
// (kernels/cpu/filter_cache.h).
void conv_winograd_forward(const ConvGeom& g, const float* x, const float* w, float* y, float* workspace,
                           const FilterKey& key = {});
// gx (N, C, H, W) from gy (N, K, OH, OW) and w.
void conv_winograd_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx, float* workspace,
                                 const FilterKey& key = {});
// gw (K, C, 3, 3) from x and gy (overwritten).
void conv_winograd_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace);

}  // namespace strata::cpu
