// The CPU's pointwise (1 x 1) convolution (kernels/cpu/conv_pointwise.h)
// against the im2col + GEMM path in float64: forward, backward-data and
// backward-weight for MobileNetV2's expand and project shapes and odd ones
// (channel counts off the register tile, planes that end inside a vector,
// planes longer than a backward-weight slice, planes smaller than a vector
// across many samples, a 1-D head), plus identical bits for one and two
// threads and a gradient check in float32 through the fast path.
#include <gtest/gtest.h>

#include <string>

#include "engine/gradcheck.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cpu/conv_direct.h"
#include "tests/conv_cases.h"

using namespace strata;

namespace {

using conv_test::Case;
using conv_test::expect_close;
using conv_test::Result;

class ConvPointwise : public conv_test::ConvKernelTest {};

TEST_P(ConvPointwise, MatchesGemmInFloat64) {
  const Case c = GetParam();
  const ConvGeom g = conv_test::geometry(c);
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weight})
    ASSERT_EQ(cpu::conv_kernel(g, pass), cpu::ConvKernel::pointwise);
  const Result fast = conv_test::run(c, DType::f32, 5);
  const Result want = conv_test::run(c, DType::f64, 5);  // float64 runs im2col + GEMM
  expect_close(fast.y, want.y, 1e-5, "forward");
  expect_close(fast.gx, want.gx, 1e-5, "backward-data");
  expect_close(fast.gw, want.gw, 1e-5, "backward-weight");
}

TEST_P(ConvPointwise, SameBitsForOneAndTwoThreads) { conv_test::expect_same_bits_for_one_and_two_threads(GetParam()); }

// N, C, H, W, K, R, S, pad_h, pad_w
INSTANTIATE_TEST_SUITE_P(Shapes, ConvPointwise,
                         ::testing::Values(Case{2, 16, 20, 28, 96, 1, 1, 0, 0},   // expand
                                           Case{2, 96, 20, 28, 16, 1, 1, 0, 0},   // project
                                           Case{3, 7, 5, 7, 5, 1, 1, 0, 0},       // 35 positions, 7 and 5 channels
                                           Case{2, 13, 25, 27, 11, 1, 1, 0, 0},   // 675 positions: slices of 512
                                           Case{9, 30, 2, 3, 130, 1, 1, 0, 0},    // 6 positions, many samples
                                           Case{1, 200, 4, 12, 9, 1, 1, 0, 0},    // deep input, one panel
                                           Case{2, 40, 1, 50, 33, 1, 1, 0, 0}),   // 1-D
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return "case" + std::to_string(info.index);
                         });

TEST(ConvPointwiseSelection, OnlyUnitStrideUnpaddedSingleGroup) {
  ConvGeom g = conv_test::geometry(Case{1, 8, 6, 6, 8, 1, 1, 0, 0});
  EXPECT_EQ(cpu::conv_kernel(g, ConvPass::forward), cpu::ConvKernel::pointwise);
  ConvGeom strided = g;
  strided.stride_h = strided.stride_w = 2;
  strided.OH = strided.OW = 3;
  EXPECT_NE(cpu::conv_kernel(strided, ConvPass::forward), cpu::ConvKernel::pointwise);
  ConvGeom padded = conv_test::geometry(Case{1, 8, 6, 6, 8, 1, 1, 1, 1});
  EXPECT_NE(cpu::conv_kernel(padded, ConvPass::forward), cpu::ConvKernel::pointwise);
  ConvGeom grouped = g;
  grouped.groups = 2;
  EXPECT_NE(cpu::conv_kernel(grouped, ConvPass::forward), cpu::ConvKernel::pointwise);
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::gemm);
  EXPECT_EQ(cpu::conv_kernel(g, ConvPass::forward), cpu::ConvKernel::gemm);
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic);
}

TEST(ConvPointwiseGradcheck, Float32ThroughTheFastPath) {
  Generator gen(9);
  const Tensor x = Tensor::randn({2, 5, 3, 7}, DType::f32, &gen).requires_grad_();
  const Tensor w = Tensor::randn({6, 5, 1, 1}, DType::f32, &gen).requires_grad_();
  const GradCheckResult r = gradcheck([&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), {}); },
                                      {x, w}, GradCheckOptions::for_float());
  EXPECT_TRUE(r.ok) << r.message;
}

}  // namespace
