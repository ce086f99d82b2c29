// Shared by the CPU convolution kernel tests (test_conv_direct,
// test_conv_winograd): a 2-D convolution case, running it forward and
// backward in a dtype, and the geometry the kernels' selection functions take.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>
#include <string>

#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/nn_desc.h"

namespace strata::conv_test {

struct Case {
  int64_t N, C, H, W, K, R, S, pad_h, pad_w;
};

inline std::string describe(const Case& c) {
  std::ostringstream os;  // (a chain of std::string + trips GCC 12's -Wrestrict false positive)
  os << "N" << c.N << " C" << c.C << " " << c.H << "x" << c.W << " K" << c.K << " " << c.R << "x" << c.S << " pad "
     << c.pad_h << "," << c.pad_w;
  return os.str();
}

inline void PrintTo(const Case& c, std::ostream* os) { *os << describe(c); }

struct Result {
  Tensor y, gx, gw;
};

// y = conv2d(x, w) and the gradients of sum(y * up), in dtype t (float64
// always runs im2col + GEMM: the reference).
inline Result run(const Case& c, DType t, uint64_t seed) {
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

// |got - want| <= tol * (1 + max |want|): float32 sums against the float64 reference.
inline void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const auto g = got.to(DType::f64).to_vector<double>(), w = want.to_vector<double>();
  double scale = 0;
  for (double v : w) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], tol * (1 + scale)) << what << " at " << i;
}

inline ConvGeom geometry(const Case& c) {
  ConvGeom g;
  g.N = c.N, g.C = c.C, g.H = c.H, g.W = c.W, g.K = c.K, g.R = c.R, g.S = c.S;
  g.pad_h = c.pad_h, g.pad_w = c.pad_w;
  g.OH = c.H + 2 * c.pad_h - c.R + 1, g.OW = c.W + 2 * c.pad_w - c.S + 1;
  return g;
}

// A parameterised test that may change the CPU convolution algorithm: it is
// automatic again after every test.
class ConvKernelTest : public ::testing::TestWithParam<Case> {
 protected:
  void TearDown() override { cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic); }
};

// `run_f32()` (a Result in float32) with one and with two threads: bitwise equal outputs.
template <class RunF32>
void expect_same_bits_for_one_and_two_threads(RunF32 run_f32) {
  const int threads = num_threads();
  set_num_threads(1);
  const Result one = run_f32();
  set_num_threads(2);
  const Result two = run_f32();
  set_num_threads(threads);
  EXPECT_EQ(one.y.to_vector<float>(), two.y.to_vector<float>());
  EXPECT_EQ(one.gx.to_vector<float>(), two.gx.to_vector<float>());
  EXPECT_EQ(one.gw.to_vector<float>(), two.gw.to_vector<float>());
}

// The case in float32 with one and with two threads: bitwise equal outputs.
inline void expect_same_bits_for_one_and_two_threads(const Case& c) {
  expect_same_bits_for_one_and_two_threads([&] { return run(c, DType::f32, 3); });
}

}  // namespace strata::conv_test
