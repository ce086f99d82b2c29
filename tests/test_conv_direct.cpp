// The CPU's direct convolution (kernels/cpu/conv_direct.h) against the
// im2col + GEMM path in float64: forward, backward-data and backward-weight on
// shapes that exercise every register-tile edge (widths that are not a multiple
// of 16 or 48, channel counts that are not a multiple of 8, one input channel,
// padding 0 / 1 / 2, non-square and 1-D kernels), and identical results for
// one and two threads.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kernels/cpu/conv_direct.h"
#include "tests/conv_cases.h"

using namespace strata;
using namespace strata::conv_test;

namespace {

class ConvDirect : public ConvKernelTest {};

TEST_P(ConvDirect, MatchesGemmInFloat64) {
  const Case c = GetParam();
  SCOPED_TRACE(describe(c));
  const ConvGeom g = geometry(c);
  ASSERT_TRUE(cpu::conv_direct_applies(g, ConvPass::forward));
  ASSERT_TRUE(cpu::conv_direct_applies(g, ConvPass::backward_data));
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::direct);
  const Result direct = run(c, DType::f32, 7);
  const Result want = run(c, DType::f64, 7);  // float64 always runs im2col + GEMM
  expect_close(direct.y, want.y, 1e-5, "forward");
  expect_close(direct.gx, want.gx, 1e-5, "backward-data");
  expect_close(direct.gw, want.gw, 2e-5, "backward-weight");
}

TEST_P(ConvDirect, SameBitsForOneAndTwoThreads) {
  const Case c = GetParam();
  SCOPED_TRACE(describe(c));
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::direct);
  expect_same_bits_for_one_and_two_threads(c);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvDirect,
    ::testing::Values(Case{2, 3, 20, 50, 16, 3, 3, 1, 1},    // 50 columns: whole tiles and a 2-column tail
                      Case{1, 1, 33, 64, 16, 3, 3, 1, 1},    // one input channel (the U-Net stem)
                      Case{2, 8, 9, 17, 5, 3, 3, 0, 0},      // no padding, 5 output channels (part of a tile)
                      Case{1, 16, 12, 96, 24, 3, 3, 2, 2},   // padding 2 = R - 1: the widest backward-data
                      Case{2, 4, 7, 40, 9, 1, 3, 0, 1},      // 1-D kernel: the conv1d path of backward-weight
                      Case{1, 6, 11, 37, 10, 2, 5, 1, 2},    // non-square kernel (backward-weight by GEMM)
                      Case{3, 12, 1, 200, 16, 1, 3, 0, 1},   // conv1d (H = 1), k = 3
                      Case{2, 16, 1, 70, 13, 1, 5, 0, 2},    // conv1d, k = 5: 4-channel weight blocks, one partial
                      Case{1, 32, 16, 16, 64, 3, 3, 1, 1}),  // one vector per row
    [](const ::testing::TestParamInfo<Case>& info) { return "case" + std::to_string(info.index); });

TEST(ConvDirectSelection, AutomaticKeepsGemmWhereItIsFaster) {
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic);
  ConvGeom wide = geometry({4, 3, 256, 256, 16, 3, 3, 1, 1});  // a first layer (Winograd from 16 channels in)
  EXPECT_TRUE(cpu::conv_direct_selected(wide, ConvPass::forward));
  EXPECT_TRUE(cpu::conv_direct_selected(wide, ConvPass::backward_weight));
  ConvGeom pointwise = geometry({4, 16, 256, 256, 16, 1, 1, 0, 0});
  EXPECT_FALSE(cpu::conv_direct_selected(pointwise, ConvPass::forward));
  ConvGeom conv1d_k5 = geometry({16, 16, 1, 64, 16, 1, 5, 0, 2});  // the well-log U-Net's first level
  EXPECT_TRUE(cpu::conv_direct_selected(conv1d_k5, ConvPass::backward_weight));
  EXPECT_FALSE(cpu::conv_direct_applies(geometry({1, 6, 11, 37, 10, 2, 5, 1, 2}), ConvPass::backward_weight));
  ConvGeom strided = wide;
  strided.stride_h = strided.stride_w = 2;
  EXPECT_FALSE(cpu::conv_direct_applies(strided, ConvPass::forward));
  ConvGeom grouped = wide;
  grouped.groups = 4;
  EXPECT_FALSE(cpu::conv_direct_applies(grouped, ConvPass::forward));
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::gemm);
  EXPECT_FALSE(cpu::conv_direct_selected(wide, ConvPass::forward));
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic);
}

}  // namespace
