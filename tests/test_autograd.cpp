// Graph semantics: accumulation, retain_graph, no_grad, detach, in-place
// checks, and sabotaged gradients (dlib's impl_test_layer idea): gradients
// pre-filled with a sentinel must be accumulated into, exactly.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace strata;

namespace {
Tensor leaf(const Shape& s, uint64_t seed, DType t = DType::f32) {
  Generator g(seed);
  Tensor x = Tensor::randn(s, t, &g);
  x.requires_grad_();
  return x;
}
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Autograd, SimpleChainAndSharedInput) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {3});
  x.requires_grad_();
  Tensor y = sum(mul(x, x) + mul(x, 3.0));  // dy/dx = 2x + 3
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 7, 9}));
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn()->name(), "sum");
}

TEST(Autograd, LeafGradientsAccumulateAcrossBackwards) {
  Tensor x = leaf({4}, 1, DType::f64);
  sum(mul(x, 2.0)).backward();
  sum(mul(x, 3.0)).backward();
  for (double g : x.grad().to_vector<double>()) EXPECT_EQ(g, 5.0);
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, ExplicitOutputGradient) {
  Tensor x = leaf({2, 3}, 2, DType::f64);
  Tensor y = mul(x, 4.0);
  EXPECT_NE(error_of([&] { y.backward(); }).find("one-element"), std::string::npos);
  y.backward(Tensor::full({2, 3}, 0.5, DType::f64));
  for (double g : x.grad().to_vector<double>()) EXPECT_EQ(g, 2.0);
  EXPECT_NE(error_of([&] { mul(x, 1.0).backward(Tensor::ones({3}, DType::f64)); }).find("does not match"),
            std::string::npos);
}

TEST(Autograd, FreedGraphAndRetainGraph) {
  Tensor x = leaf({3}, 3);
  Tensor y = sum(exp(x));
  y.backward();
  const std::string err = error_of([&] { y.backward(); });
  EXPECT_NE(err.find("second time"), std::string::npos) << err;
  EXPECT_NE(err.find("retain_graph"), std::string::npos) << err;
  x.zero_grad();
  Tensor z = sum(exp(x));
  z.backward(Tensor(), true);
  z.backward();
  const auto once = exp(x).to_vector<float>();
  const auto twice = x.grad().to_vector<float>();
  for (size_t i = 0; i < once.size(); ++i) EXPECT_FLOAT_EQ(twice[i], 2 * once[i]);
}

TEST(Autograd, NoGradAndDetach) {
  Tensor x = leaf({3}, 4);
  {
    NoGradGuard guard;
    Tensor y = mul(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(grad_enabled());
  }
  EXPECT_TRUE(grad_enabled());
  Tensor d = mul(x, 2.0).detach();
  EXPECT_FALSE(d.requires_grad());
  Tensor y = sum(mul(d, x));  // d is a constant
  y.backward();
  EXPECT_EQ(x.grad().to_vector<float>(), d.to_vector<float>());
  EXPECT_NE(error_of([&] { sum(d).backward(); }).find("does not require grad"), std::string::npos);
}

TEST(Autograd, InPlaceGuards) {
  Tensor x = leaf({3}, 5);
  EXPECT_NE(error_of([&] { x.fill_(1); }).find("requires grad"), std::string::npos);
  {
    NoGradGuard guard;
    x.mul_(1.0);  // allowed without grad mode, as in an optimizer step
  }
  Tensor w = Tensor::ones({3});
  Tensor y = sum(mul(x, w));  // saves w for the gradient of x
  w.fill_(2);                 // ...then modifies it
  const std::string err = error_of([&] { y.backward(); });
  EXPECT_NE(err.find("modified by an in-place operation"), std::string::npos) << err;
  EXPECT_NE(err.find("'mul'"), std::string::npos) << err;
}

TEST(Autograd, IntegerPathsCarryNoGradient) {
  Tensor x = leaf({2, 3}, 6, DType::f64);
  Tensor idx = argmax(x, 1, true);  // i64, no history
  EXPECT_FALSE(idx.requires_grad());
  Tensor y = sum(gather(x, 1, idx));
  y.backward();
  double total = 0;
  for (double g : x.grad().to_vector<double>()) total += g;
  EXPECT_EQ(total, 2.0);  // one 1 per row, at the maximum
}

// Gradients arriving at a parameter must be added to what is already there,
// bit for bit: grad = sentinel + fresh gradient.
TEST(Autograd, SabotagedGradientsAreAccumulatedExactly) {
  Tensor w = leaf({4, 3}, 7), b = leaf({3}, 8), x = Tensor::randn({5, 4});
  auto loss = [&] {
    Tensor h = add(matmul(x, w), b);
    return sum(mul(h, h)) + sum(mul(w, w));  // w used twice in the graph
  };
  loss().backward();
  const Tensor fresh_w = w.grad().clone(), fresh_b = b.grad().clone();

  Generator g(99);
  const Tensor sentinel_w = Tensor::randn(w.shape(), DType::f32, &g, 0, 1000);
  const Tensor sentinel_b = Tensor::full(b.shape(), 12345.0);
  w.set_grad(sentinel_w.clone());
  b.set_grad(sentinel_b.clone());
  loss().backward();
  EXPECT_EQ(w.grad().to_vector<float>(), add(sentinel_w, fresh_w).to_vector<float>());
  EXPECT_EQ(b.grad().to_vector<float>(), add(sentinel_b, fresh_b).to_vector<float>());
  EXPECT_NE(w.grad().to_vector<float>(), fresh_w.to_vector<float>());  // the sentinel mattered
}

TEST(Autograd, CustomOpRecord) {
  // A user-defined op: y = 3x with its own backward rule.
  Tensor x = leaf({2}, 9, DType::f64);
  Tensor raw;
  {
    NoGradGuard guard;
    raw = mul(x, 3.0);
  }
  Tensor y = record("triple", raw, {x}, [](const Tensor& g) -> Grads { return {mul(g, 3.0)}; });
  EXPECT_EQ(y.grad_fn()->name(), "triple");
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 3}));
}
