// The CPU's depthwise convolution (kernels/cpu/conv_depthwise.h) against the
// im2col + GEMM path in float64: forward, backward-data and backward-weight for
// MobileNetV2's shapes (3x3, stride 1 and 2, padding 1) and odd ones (widths
// not a multiple of 8, rows of several vectors, 5x5 and 1x3 kernels, no
// padding, stride 3), plus
// identical bits for one and two threads, and a gradient check in float32
// through the fast path (central differences, step 1e-2).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "engine/gradcheck.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "kernels/cpu/conv_depthwise.h"
#include "kernels/cpu/conv_direct.h"
#include "tests/conv_cases.h"

using namespace strata;

namespace {

struct DwCase {
  int64_t N, C, H, W, R, S, stride, pad;
};

using conv_test::expect_close;
using conv_test::Result;

Result run(const DwCase& c, DType t, uint64_t seed) {
  Generator gen(seed);
  Tensor x = Tensor::randn({c.N, c.C, c.H, c.W}, DType::f64, &gen).to(t).requires_grad_();
  Tensor w = Tensor::randn({c.C, 1, c.R, c.S}, DType::f64, &gen).to(t).requires_grad_();
  Conv2dOptions o;
  o.stride = {c.stride, c.stride};
  o.padding = {c.pad, c.pad};
  o.groups = c.C;
  Tensor y = conv2d(x, w, Tensor(), o);
  const Tensor up = Tensor::randn(y.shape(), DType::f64, &gen).to(t);
  sum(mul(y, up)).backward();
  return {y.detach(), x.grad(), w.grad()};
}

class ConvDepthwise : public ::testing::TestWithParam<DwCase> {};

TEST_P(ConvDepthwise, MatchesGemmInFloat64) {
  const DwCase c = GetParam();
  ConvGeom g;
  g.N = c.N, g.C = g.K = g.groups = c.C, g.H = c.H, g.W = c.W, g.R = c.R, g.S = c.S;
  ASSERT_EQ(cpu::conv_kernel(g, ConvPass::forward), cpu::ConvKernel::depthwise);
  const Result fast = run(c, DType::f32, 5);
  const Result want = run(c, DType::f64, 5);  // float64 runs im2col + GEMM
  expect_close(fast.y, want.y, 1e-5, "forward");
  expect_close(fast.gx, want.gx, 1e-5, "backward-data");
  expect_close(fast.gw, want.gw, 1e-5, "backward-weight");
}

TEST_P(ConvDepthwise, SameBitsForOneAndTwoThreads) {
  const DwCase c = GetParam();
  conv_test::expect_same_bits_for_one_and_two_threads([&] { return run(c, DType::f32, 3); });
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvDepthwise,
                         ::testing::Values(DwCase{2, 32, 28, 28, 3, 3, 1, 1},   // MobileNetV2, stride 1
                                           DwCase{2, 24, 29, 31, 3, 3, 2, 1},   // stride 2, odd sizes
                                           DwCase{1, 5, 13, 19, 5, 5, 1, 2},    // 5x5, width not a multiple of 8
                                           DwCase{3, 7, 9, 11, 3, 3, 1, 0},     // no padding
                                           DwCase{1, 4, 1, 37, 1, 3, 1, 1},     // conv1d (H = 1)
                                           DwCase{2, 6, 17, 23, 3, 3, 3, 1},    // stride 3
                                           DwCase{2, 5, 6, 70, 3, 3, 1, 1},     // rows of several vectors
                                           DwCase{1, 3, 7, 75, 3, 3, 2, 1},     // the same, stride 2
                                           DwCase{1, 2, 5, 66, 5, 5, 2, 2}),    // 5x5, stride 2, even width
                         [](const ::testing::TestParamInfo<DwCase>& info) {
                           return "case" + std::to_string(info.index);
                         });

TEST(ConvDepthwiseGradcheck, Float32ThroughTheFastPath) {
  Generator gen(9);
  const Tensor x = Tensor::randn({2, 3, 7, 9}, DType::f32, &gen).requires_grad_();
  const Tensor w = Tensor::randn({3, 1, 3, 3}, DType::f32, &gen).requires_grad_();
  for (int64_t stride : {1, 2}) {
    Conv2dOptions o;
    o.stride = {stride, stride};
    o.padding = {1, 1};
    o.groups = 3;
    const GradCheckResult r = gradcheck([&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), o); },
                                        {x, w}, GradCheckOptions::for_float());
    EXPECT_TRUE(r.ok) << "stride " << stride << ": " << r.message;
  }
}

}  // namespace
