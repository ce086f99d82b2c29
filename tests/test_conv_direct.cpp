// The CPU's direct convolution (kernels/cpu/conv_direct.h) against the
// im2col + GEMM path in float64: forward, backward-data and backward-weight on
// shapes that exercise every register-tile edge (widths that are not a multiple
// of 16 or 48, channel counts that are not a multiple of 8, one input channel,
// padding 0 / 1 / 2, non-square and 1-D kernels), and identical results for
// one and two threads.
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <string>

#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "kernels/cpu/conv_direct.h"

using namespace strata;

namespace {

struct Case {
  int64_t N, C, H, W, K, R, S, pad_h, pad_w;
};

std::string describe(const Case& c) {
  return "N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " " + std::to_string(c.H) + "x" +
         std::to_string(c.W) + " K" + std::to_string(c.K) + " " + std::to_string(c.R) + "x" + std::to_string(c.S) +
         " pad " + std::to_string(c.pad_h) + "," + std::to_string(c.pad_w);
}

void PrintTo(const Case& c, std::ostream* os) { *os << describe(c); }

struct Result {
  Tensor y, gx, gw;
};

// y = conv2d(x, w) and the gradients of sum(y * up), in dtype t.
Result run(const Case& c, DType t, uint64_t seed) {
  Generator gen(seed);
  Tensor x = Tensor::randn({c.N, c.C, c.H, c.W}, DType::f64, &gen).to(t).requires_grad_();
  Tensor w = Tensor::randn({c.K, c.C, c.R, c.S}, DType::f64, &gen).to(t).requires_grad_();
  Conv2dOptions o;
  o.padding = {c.pad_h, c.pad_w};
  Tensor y = conv2d(x, w, Tensor(), o);
  const Tensor up = Tensor::randn(y.shape(), DType::f64, &gen).to(t);
  sum(mul(y, up)).backward();
  return {y.detach(), x.grad(), w.grad()};
}

// |got - want| <= tol * (1 + max |want|): float32 sums of up to C * R * S terms.
void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const auto g = got.to(DType::f64).to_vector<double>(), w = want.to_vector<double>();
  double scale = 0;
  for (double v : w) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], tol * (1 + scale)) << what << " at " << i;
}

ConvGeom geometry(const Case& c) {
  ConvGeom g;
  g.N = c.N, g.C = c.C, g.H = c.H, g.W = c.W, g.K = c.K, g.R = c.R, g.S = c.S;
  g.pad_h = c.pad_h, g.pad_w = c.pad_w;
  g.OH = c.H + 2 * c.pad_h - c.R + 1, g.OW = c.W + 2 * c.pad_w - c.S + 1;
  return g;
}

class ConvDirect : public ::testing::TestWithParam<Case> {
 protected:
  void TearDown() override { cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic); }
};

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
  const int threads = num_threads();
  set_num_threads(1);
  const Result one = run(c, DType::f32, 3);
  set_num_threads(2);
  const Result two = run(c, DType::f32, 3);
  set_num_threads(threads);
  EXPECT_EQ(one.y.to_vector<float>(), two.y.to_vector<float>());
  EXPECT_EQ(one.gx.to_vector<float>(), two.gx.to_vector<float>());
  EXPECT_EQ(one.gw.to_vector<float>(), two.gw.to_vector<float>());
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvDirect,
    ::testing::Values(Case{2, 3, 20, 50, 16, 3, 3, 1, 1},    // 50 columns: a 48-column tile and a 2-column tail
                      Case{1, 1, 33, 64, 16, 3, 3, 1, 1},    // one input channel (the U-Net stem)
                      Case{2, 8, 9, 17, 5, 3, 3, 0, 0},      // no padding, 5 output channels (part of a tile)
                      Case{1, 16, 12, 96, 24, 3, 3, 2, 2},   // padding 2 = R - 1: the widest backward-data
                      Case{2, 4, 7, 40, 9, 1, 3, 0, 1},      // 1-D kernel: the conv1d path of backward-weight
                      Case{1, 6, 11, 37, 10, 2, 5, 1, 2},    // non-square kernel (backward-weight by GEMM)
                      Case{3, 12, 1, 200, 16, 1, 3, 0, 1},   // conv1d (H = 1), k = 3
                      Case{1, 32, 16, 16, 64, 3, 3, 1, 1}),  // one vector per row
    [](const ::testing::TestParamInfo<Case>& info) { return "case" + std::to_string(info.index); });

TEST(ConvDirectSelection, AutomaticKeepsGemmWhereItIsFaster) {
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic);
  ConvGeom wide = geometry({4, 16, 256, 256, 16, 3, 3, 1, 1});
  EXPECT_TRUE(cpu::conv_direct_selected(wide, ConvPass::forward));
  EXPECT_TRUE(cpu::conv_direct_selected(wide, ConvPass::backward_weight));
  ConvGeom pointwise = geometry({4, 16, 256, 256, 16, 1, 1, 0, 0});
  EXPECT_FALSE(cpu::conv_direct_selected(pointwise, ConvPass::forward));
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
