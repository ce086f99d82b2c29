// The Philox generator: known-answer vectors, seeding, and distributions.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "kernels/philox.h"

using namespace strata;

// Known-answer tests from the Philox4x32-10 reference (Random123 kat_vectors).
TEST(Random, PhiloxKnownAnswers) {
  philox::Block r = philox::philox4x32_10(0, 0, 0, 0, 0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
  r = philox::philox4x32_10(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(r.v[0], 0x408f276du);
  EXPECT_EQ(r.v[1], 0x41c83b0eu);
  EXPECT_EQ(r.v[2], 0xa20bc7c6u);
  EXPECT_EQ(r.v[3], 0x6d5451fdu);
  r = philox::philox4x32_10(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(r.v[0], 0xd16cfe09u);
  EXPECT_EQ(r.v[1], 0x94fdccebu);
  EXPECT_EQ(r.v[2], 0x5001e420u);
  EXPECT_EQ(r.v[3], 0x24126ea1u);
}

TEST(Random, SeedReproducesAndAdvances) {
  Generator g1(42), g2(42);
  Tensor a = Tensor::rand({1000}, DType::f32, &g1), b = Tensor::rand({1000}, DType::f32, &g2);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  Tensor c = Tensor::rand({1000}, DType::f32, &g1);  // the stream moved on
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
  EXPECT_EQ(g1.offset(), 500u);
  Generator g3(43);
  EXPECT_NE(Tensor::rand({1000}, DType::f32, &g3).to_vector<float>(), a.to_vector<float>());
  // A fill split in two equals one fill when the split is on a 4-element counter boundary.
  Generator h1(7), h2(7);
  auto whole = Tensor::randn({8}, DType::f64, &h1).to_vector<double>();
  auto first = Tensor::randn({4}, DType::f64, &h2).to_vector<double>();
  auto second = Tensor::randn({4}, DType::f64, &h2).to_vector<double>();
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(whole, first);
  manual_seed(5);
  auto d1 = Tensor::randn({16}).to_vector<float>();
  manual_seed(5);
  EXPECT_EQ(Tensor::randn({16}).to_vector<float>(), d1);
}

TEST(Random, DistributionsAndThreadIndependence) {
  const int saved = num_threads();
  set_num_threads(1);
  Generator g(1);
  Tensor u1 = Tensor::rand({1 << 20}, DType::f32, &g, -2, 6);
  set_num_threads(2);
  Generator h(1);
  Tensor u2 = Tensor::rand({1 << 20}, DType::f32, &h, -2, 6);
  set_num_threads(saved);
  EXPECT_EQ(u1.to_vector<float>(), u2.to_vector<float>());
  EXPECT_GE(min(u1).item<float>(), -2.0f);
  EXPECT_LT(max(u1).item<float>(), 6.0f);
  EXPECT_NEAR(mean(u1).item<float>(), 2.0f, 0.01f);
  EXPECT_NEAR(var(u1).item<float>(), 64.0f / 12.0f, 0.02f);
  Tensor n = Tensor::randn({1 << 20}, DType::f64, &g, 3, 2);
  EXPECT_NEAR(mean(n).item<double>(), 3.0, 0.01);
  EXPECT_NEAR(std::sqrt(var(n).item<double>()), 2.0, 0.01);
  // tails: about 4.55% of a normal lies beyond 2 sigma
  const double beyond = mean(gt(abs(sub(n, 3.0)), 4.0).to(DType::f64)).item<double>();
  EXPECT_NEAR(beyond, 0.0455, 0.002);
}
