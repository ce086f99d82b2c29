// Gradient checks (GUIDE section 4) for every differentiable op of the
// engine core, in double precision, on several shapes each, with
// broadcasting and non-contiguous views; and proof that the checker catches
// a wrong backward rule.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/gradcheck.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace strata;

namespace {

using Inputs = std::vector<Tensor>;

Tensor input(const Shape& s, uint64_t seed, double lo = -2, double hi = 2, DType t = DType::f64) {
  Generator g(seed);
  Tensor x = Tensor::rand(s, t, &g, lo, hi);
  x.requires_grad_();
  return x;
}

// Values in [0.5, 2] with random sign: away from zero, for div / log / sqrt.
Tensor away_from_zero(const Shape& s, uint64_t seed) {
  Generator g(seed);
  Tensor mag = Tensor::rand(s, DType::f64, &g, 0.5, 2);
  Tensor sgn = sign(Tensor::rand(s, DType::f64, &g, -1, 1));
  Tensor x = mul(mag, sgn);
  x.requires_grad_();
  return x;
}

void check(const char* what, const GradCheckFn& f, const Inputs& inputs, GradCheckOptions opt = {}) {
  const GradCheckResult r = gradcheck(f, inputs, opt);
  EXPECT_TRUE(r.ok) << what << ": " << r.message;
  EXPECT_GT(r.checked, 0) << what;
}

}  // namespace

TEST(GradCheck, BinaryOpsWithBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 1, 4}, {2, 4}}, {{}, {5}}, {{2, 3}, {1}}};
  uint64_t seed = 1;
  for (const auto& [sa, sb] : shapes) {
    check("add", [](const Inputs& v) { return add(v[0], v[1]); }, {input(sa, seed), input(sb, seed + 1)});
    check("sub", [](const Inputs& v) { return sub(v[0], v[1]); }, {input(sa, seed), input(sb, seed + 1)});
    check("mul", [](const Inputs& v) { return mul(v[0], v[1]); }, {input(sa, seed), input(sb, seed + 1)});
    check("div", [](const Inputs& v) { return div(v[0], v[1]); }, {input(sa, seed), away_from_zero(sb, seed + 1)});
    check("pow", [](const Inputs& v) { return pow(v[0], v[1]); },
          {input(sa, seed, 0.5, 2), input(sb, seed + 1, -1.5, 1.5)});
    check("maximum", [](const Inputs& v) { return maximum(v[0], v[1]); }, {input(sa, seed), input(sb, seed + 1)});
    check("minimum", [](const Inputs& v) { return minimum(v[0], v[1]); }, {input(sa, seed), input(sb, seed + 1)});
    seed += 10;
  }
  check("scalar ops", [](const Inputs& v) { return div(2.0, add(mul(sub(3.0, v[0]), 0.5), 4.0)); },
        {input({2, 3}, 3)});
  check("pow scalar", [](const Inputs& v) { return pow(v[0], 3.0) + pow(abs(v[0]), 0.5); },
        {away_from_zero({2, 3}, 4)});
  // Only one input requires grad.
  Tensor fixed = input({3}, 5);
  fixed.requires_grad_(false);
  check("mul one-sided", [](const Inputs& v) { return mul(v[0], v[1]); }, {input({2, 3}, 6), fixed});
}

TEST(GradCheck, FlipReversesOneDimension) {
  const Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(flip(x, 1).to_vector<double>(), (std::vector<double>{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(flip(x, 0).to_vector<double>(), (std::vector<double>{4, 5, 6, 1, 2, 3}));
  // A weight that differs per position, so a gradient sent back unflipped would fail.
  const Tensor w = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 4});
  check("flip", [w](const Inputs& v) { return mul(flip(v[0], 2), w); }, {input({3, 2, 4}, 21)});
  check("flip dim 0", [](const Inputs& v) { return flip(v[0], 0); }, {input({3, 2}, 22)});
}

TEST(GradCheck, NonContiguousInputs) {
  check("mul transposed", [](const Inputs& v) { return mul(v[0].t(), v[1]); }, {input({4, 3}, 7), input({3, 4}, 8)});
  check("exp of a strided slice", [](const Inputs& v) { return exp(v[0].slice(1, 0, 5, 2)); }, {input({3, 5}, 9)});
  check("add of expanded", [](const Inputs& v) { return add(v[0].unsqueeze(1).expand({3, 4, 2}), v[1]); },
        {input({3, 2}, 10), input({4, 2}, 11)});
  check("permuted reduce", [](const Inputs& v) { return sum(v[0].permute({2, 0, 1}), {1}); }, {input({2, 3, 4}, 12)});
}

TEST(GradCheck, UnaryOps) {
  for (const Shape& s : {Shape{5}, Shape{2, 3, 4}}) {
    check("neg", [](const Inputs& v) { return neg(v[0]); }, {input(s, 20)});
    check("exp", [](const Inputs& v) { return exp(v[0]); }, {input(s, 21)});
    check("log", [](const Inputs& v) { return log(v[0]); }, {input(s, 22, 0.1, 3)});
    check("sqrt", [](const Inputs& v) { return sqrt(v[0]); }, {input(s, 23, 0.1, 3)});
    check("abs", [](const Inputs& v) { return abs(v[0]); }, {input(s, 24)});
    check("clamp", [](const Inputs& v) { return clamp(v[0], -0.5, 1.0); }, {input(s, 25)});
  }
  check("where", [](const Inputs& v) { return where(gt(v[0], 0.0), v[0], mul(v[1], 2.0)); },
        {input({3, 4}, 26), input({4}, 27)});
}

TEST(GradCheck, Reductions) {
  const Tensor x = input({2, 3, 4}, 30);
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{}, {0}, {1}, {-1}, {0, 2}}) {
    for (bool keepdim : {false, true}) {
      check("sum", [&](const Inputs& v) { return sum(v[0], dims, keepdim); }, {x});
      check("mean", [&](const Inputs& v) { return mean(v[0], dims, keepdim); }, {x});
      check("var", [&](const Inputs& v) { return var(v[0], dims, 1, keepdim); }, {x});
    }
  }
  check("var population", [](const Inputs& v) { return var(v[0], {1}, 0); }, {x});
  for (int64_t d : {0, 1, 2}) {
    check("max", [d](const Inputs& v) { return max(v[0], d); }, {x});
    check("min keepdim", [d](const Inputs& v) { return min(v[0], d, true); }, {x});
  }
  check("max all", [](const Inputs& v) { return max(v[0]); }, {x});
  check("sum_to", [](const Inputs& v) { return sum_to(v[0], {3, 1}); }, {x});
}

TEST(GradCheck, Matmul) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {4, 5}}, {{4}, {4, 2}}, {{3, 4}, {4}}, {{4}, {4}}, {{2, 3, 4}, {4, 5}}, {{2, 1, 3, 4}, {3, 4, 2}}};
  uint64_t seed = 40;
  for (const auto& [sa, sb] : shapes) {
    check("matmul", [](const Inputs& v) { return matmul(v[0], v[1]); }, {input(sa, seed), input(sb, seed + 1)});
    seed += 2;
  }
  check("matmul of transposed views", [](const Inputs& v) { return matmul(v[0].t(), v[1].t()); },
        {input({4, 3}, 50), input({5, 4}, 51)});
}

TEST(GradCheck, SoftmaxAndLogSoftmax) {
  for (int64_t d : {0, 1, -1}) {
    check("softmax", [d](const Inputs& v) { return softmax(v[0], d); }, {input({2, 3, 4}, 60)});
    check("log_softmax", [d](const Inputs& v) { return log_softmax(v[0], d); }, {input({2, 3, 4}, 61)});
  }
  check("softmax of transposed", [](const Inputs& v) { return softmax(v[0].t(), 1); }, {input({5, 3}, 62)});
}

TEST(GradCheck, ShapeOps) {
  const Tensor x = input({2, 3, 4}, 70);
  check("reshape", [](const Inputs& v) { return mul(v[0].reshape({4, -1}), 2.0); }, {x});
  check("view", [](const Inputs& v) { return v[0].view({6, 4}); }, {x});
  check("permute", [](const Inputs& v) { return v[0].permute({1, 2, 0}); }, {x});
  check("transpose", [](const Inputs& v) { return v[0].transpose(0, 2); }, {x});
  check("slice", [](const Inputs& v) { return v[0].slice(2, 1, 4, 2); }, {x});
  check("select", [](const Inputs& v) { return v[0].select(1, -1); }, {x});
  check("expand", [](const Inputs& v) { return v[0].slice(1, 0, 1).expand({2, 5, 4}); }, {x});
  check("squeeze/unsqueeze", [](const Inputs& v) { return v[0].unsqueeze(1).squeeze(1); }, {x});
  check("flatten", [](const Inputs& v) { return v[0].flatten(1); }, {x});
  check("contiguous", [](const Inputs& v) { return v[0].transpose(0, 1).contiguous(); }, {x});
  check("clone", [](const Inputs& v) { return v[0].clone(); }, {x});
  check("to f32 and back", [](const Inputs& v) { return v[0].to(DType::f32).to(DType::f64); }, {x},
        GradCheckOptions::for_float());
}

TEST(GradCheck, JoinSplitIndex) {
  check("cat", [](const Inputs& v) { return cat({v[0], v[1]}, 1); }, {input({2, 3}, 80), input({2, 2}, 81)});
  check("stack", [](const Inputs& v) { return stack({v[0], v[1]}, 0); }, {input({2, 3}, 82), input({2, 3}, 83)});
  check("split", [](const Inputs& v) {
    auto p = split(v[0], 2, 1);  // pieces of 2, 2, 1 weighted differently
    return add(mul(p[0], 3.0), p[1]) + p[2];
  }, {input({3, 5}, 84)});
  const Tensor idx = Tensor::from_vector<int64_t>({2, 0, 0, 1, 1, 1}, {3, 2});
  check("gather", [&](const Inputs& v) { return gather(v[0], 1, idx); }, {input({3, 4}, 85)});
  const Tensor rows = Tensor::from_vector<int32_t>({1, 1, 0, 2}, {4});  // repeats accumulate
  check("index_select", [&](const Inputs& v) { return index_select(v[0], 0, rows); }, {input({3, 2}, 86)});
  check("index_select inner", [&](const Inputs& v) { return index_select(v[0], 1, rows); }, {input({2, 3}, 87)});
}

TEST(GradCheck, FloatPrecisionWithLargerStep) {
  const GradCheckOptions opt = GradCheckOptions::for_float();
  check("f32 chain", [](const Inputs& v) { return log_softmax(matmul(v[0], v[1]), 1); },
        {input({3, 4}, 90, -1, 1, DType::f32), input({4, 5}, 91, -1, 1, DType::f32)}, opt);
}

TEST(GradCheck, CatchesAWrongBackward) {
  // y = x^2 whose rule forgets the factor 2.
  auto bad_square = [](const Inputs& v) {
    Tensor y;
    {
      NoGradGuard guard;
      y = mul(v[0], v[0]);
    }
    return record("bad_square", y, {v[0]}, [x = Saved(v[0])](const Tensor& g) -> Grads { return {mul(g, x.get())}; });
  };
  const GradCheckResult r = gradcheck(bad_square, {input({4, 3}, 100)});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("analytic"), std::string::npos) << r.message;
}

TEST(GradCheck, KinksAreSkippedButNotSilently) {
  // abs at exactly 0 everywhere: every point is a kink, which must fail the check.
  Tensor zeros = Tensor::zeros({6}, DType::f64);
  zeros.requires_grad_();
  const GradCheckResult all_kinks = gradcheck([](const Inputs& v) { return abs(v[0]); }, {zeros});
  EXPECT_FALSE(all_kinks.ok);
  EXPECT_EQ(all_kinks.skipped_kinks, 6);
  // One kink among 20 smooth points is skipped and the rest pass.
  std::vector<double> values(20, 0.7);
  values[3] = 0.0;
  Tensor x = Tensor::from_vector(values, {20});
  x.requires_grad_();
  const GradCheckResult one = gradcheck([](const Inputs& v) { return abs(v[0]); }, {x});
  EXPECT_TRUE(one.ok) << one.message;
  EXPECT_EQ(one.skipped_kinks, 1);
  EXPECT_EQ(one.checked, 19);
}
