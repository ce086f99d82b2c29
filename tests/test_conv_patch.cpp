// The CPU's non-overlapping convolution (kernels/cpu/conv_patch.h: kernel == stride, no padding) against the
// im2col + GEMM path in float64, through both ops that reach it: conv_transpose2d (the U-Net's 2 x 2 stride-2
// upsampler, whose forward is the kernel's backward-data) and conv2d (a patchify convolution). Forward,
// backward-data and backward-weight for the faults U-Net's shapes and odd ones (channel counts not a multiple
// of the 6-row register tile, widths not a multiple of the vector, 1 x 2 kernels as conv_transpose1d makes,
// 3 x 3 and 2 x 3 patches, one sample); identical bits for one and two threads; a gradient check in float32
// through the fast path.
#include <gtest/gtest.h>

#include <string>

#include "engine/gradcheck.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/conv_patch.h"
#include "tests/conv_cases.h"

using namespace strata;

namespace {

struct PatchCase {
  int64_t N, C, H, W, K, R, S;  // input (N, C, H, W) of the op, its output channels K, kernel = stride (R, S)
  bool transposed;              // conv_transpose2d (upsamples H, W by R, S) or conv2d (downsamples)
};

using conv_test::expect_close;
using conv_test::Result;

Result run(const PatchCase& c, DType t, uint64_t seed) {
  Generator gen(seed);
  Tensor x = Tensor::randn({c.N, c.C, c.H, c.W}, DType::f64, &gen).to(t).requires_grad_();
  // conv_transpose2d's weight is (in, out, R, S); conv2d's (out, in, R, S).
  const Shape ws = c.transposed ? Shape{c.C, c.K, c.R, c.S} : Shape{c.K, c.C, c.R, c.S};
  Tensor w = Tensor::randn(ws, DType::f64, &gen).to(t).requires_grad_();
  Tensor y;
  if (c.transposed) {
    ConvTranspose2dOptions o;
    o.stride = {c.R, c.S};
    y = conv_transpose2d(x, w, Tensor(), o);
  } else {
    Conv2dOptions o;
    o.stride = {c.R, c.S};
    y = conv2d(x, w, Tensor(), o);
  }
  const Tensor up = Tensor::randn(y.shape(), DType::f64, &gen).to(t);
  sum(mul(y, up)).backward();
  return {y.detach(), x.grad(), w.grad()};
}

// The geometry of the convolution the kernel sees (for conv_transpose2d: the one whose backward-data it is).
ConvGeom geometry(const PatchCase& c) {
  ConvGeom g;
  g.N = c.N, g.R = c.R, g.S = c.S, g.stride_h = c.R, g.stride_w = c.S;
  if (c.transposed) g.K = c.C, g.C = c.K, g.OH = c.H, g.OW = c.W, g.H = c.H * c.R, g.W = c.W * c.S;
  else g.C = c.C, g.K = c.K, g.H = c.H, g.W = c.W, g.OH = c.H / c.R, g.OW = c.W / c.S;
  return g;
}

class ConvPatch : public ::testing::TestWithParam<PatchCase> {};

TEST_P(ConvPatch, MatchesGemmInFloat64) {
  const PatchCase c = GetParam();
  const ConvGeom g = geometry(c);
  for (const ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weight})
    ASSERT_EQ(cpu::conv_kernel(g, pass), cpu::ConvKernel::patch);
  const Result fast = run(c, DType::f32, 5);
  const Result want = run(c, DType::f64, 5);  // float64 runs im2col + GEMM
  expect_close(fast.y, want.y, 1e-5, "output");
  expect_close(fast.gx, want.gx, 1e-5, "input gradient");
  expect_close(fast.gw, want.gw, 1e-5, "weight gradient");
}

TEST_P(ConvPatch, SameBitsForOneAndTwoThreads) {
  const PatchCase c = GetParam();
  conv_test::expect_same_bits_for_one_and_two_threads([&] { return run(c, DType::f32, 3); });
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvPatch,
                         ::testing::Values(PatchCase{4, 32, 16, 16, 16, 2, 2, true},    // the faults U-Net's upsampler
                                           PatchCase{2, 256, 8, 8, 128, 2, 2, true},    // its deepest, 8 columns
                                           PatchCase{3, 13, 7, 11, 5, 2, 2, true},      // tails everywhere
                                           PatchCase{2, 9, 1, 37, 7, 1, 2, true},       // conv_transpose1d (H = 1)
                                           PatchCase{1, 4, 5, 19, 11, 3, 3, true},      // 3 x 3 patches, one sample
                                           PatchCase{2, 6, 12, 18, 8, 2, 3, false},     // patchify conv2d, 2 x 3
                                           PatchCase{2, 3, 32, 48, 20, 4, 4, false}),   // 4 x 4, channels 3 -> 20
                         [](const ::testing::TestParamInfo<PatchCase>& info) {
                           return "case" + std::to_string(info.index);
                         });

TEST(ConvPatch, OverlappingOrPaddedConvolutionsAreNotPatches) {
  ConvGeom g;
  g.N = 1, g.C = 4, g.K = 4, g.H = 8, g.W = 8, g.R = 2, g.S = 2, g.stride_h = 2, g.stride_w = 2, g.OH = 4, g.OW = 4;
  EXPECT_TRUE(cpu::conv_patch_applies(g));
  ConvGeom padded = g;
  padded.pad_h = padded.pad_w = 1, padded.OH = padded.OW = 5;
  EXPECT_FALSE(cpu::conv_patch_applies(padded));
  ConvGeom overlapping = g;
  overlapping.R = overlapping.S = 3, overlapping.OH = overlapping.OW = 3;
  EXPECT_FALSE(cpu::conv_patch_applies(overlapping));
  ConvGeom ragged = g;  // 9 x 9 input: its last row and column belong to no patch
  ragged.H = ragged.W = 9;
  EXPECT_FALSE(cpu::conv_patch_applies(ragged));
  ConvGeom pointwise = g;
  pointwise.R = pointwise.S = pointwise.stride_h = pointwise.stride_w = 1, pointwise.OH = pointwise.OW = 8;
  EXPECT_FALSE(cpu::conv_patch_applies(pointwise));
  ConvGeom grouped = g;
  grouped.groups = 2;
  EXPECT_FALSE(cpu::conv_patch_applies(grouped));
}

TEST(ConvPatchGradcheck, Float32ThroughTheFastPath) {
  Generator gen(9);
  const Tensor x = Tensor::randn({2, 7, 3, 5}, DType::f32, &gen).requires_grad_();
  const Tensor w = Tensor::randn({7, 3, 2, 2}, DType::f32, &gen).requires_grad_();
  const Tensor b = Tensor::randn({3}, DType::f32, &gen).requires_grad_();
  ConvTranspose2dOptions o;
  o.stride = {2, 2};
  const GradCheckResult r = gradcheck(
      [&](const std::vector<Tensor>& in) { return conv_transpose2d(in[0], in[1], in[2], o); }, {x, w, b},
      GradCheckOptions::for_float());
  EXPECT_TRUE(r.ok) << r.message;
}

}  // namespace
