// The CPU max pooling's fast path for 2 x 2 / stride 2 windows and 1-D pairs
// (kernels/cpu/nn.cpp) against the plain loop (max_pool2d_reference): the
// same maxima and the same argmax indices, bit for bit, with ties (the first
// maximum wins), NaNs (a NaN wins), rows of several vectors and a remainder,
// and odd plane sizes whose last row / column no window covers.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/nn.h"

using namespace strata;

namespace {

template <class T>
void expect_fast_path_matches_reference(int64_t N, int64_t C, int64_t H, int64_t W, uint32_t seed,
                                        int64_t rows = 2) {
  PoolGeom g;
  g.N = N;
  g.C = C;
  g.H = H;
  g.W = W;
  g.S = g.stride_w = 2;
  g.R = g.stride_h = rows;
  g.OH = H / rows;
  g.OW = W / 2;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> level(-3, 3);  // few values: many ties
  std::vector<T> x(size_t(N * C * H * W));
  for (T& v : x) v = T(level(rng));
  for (size_t i = 7; i < x.size(); i += 53) x[i] = std::numeric_limits<T>::quiet_NaN();
  for (size_t i = 11; i < x.size(); i += 97) x[i] = -std::numeric_limits<T>::infinity();
  const size_t out = size_t(N * C * g.OH * g.OW);
  std::vector<T> y(out), y_ref(out);
  std::vector<int64_t> idx(out, -7), idx_ref(out, -9);
  cpu::max_pool2d(g, x.data(), y.data(), idx.data());
  cpu::max_pool2d_reference(g, x.data(), y_ref.data(), idx_ref.data());
  size_t nans = 0;
  for (size_t i = 0; i < out; ++i) {
    ASSERT_EQ(idx[i], idx_ref[i]) << "output " << i << " of " << N << "x" << C << "x" << H << "x" << W;
    if (std::isnan(y_ref[i])) {
      ++nans;
      EXPECT_TRUE(std::isnan(y[i])) << i;
    } else {
      EXPECT_EQ(y[i], y_ref[i]) << i;
    }
  }
  EXPECT_GT(nans, 0u);  // the NaN rule was exercised
}

}  // namespace

TEST(MaxPool2x2, FastPathMatchesTheReferenceInFloat) {
  expect_fast_path_matches_reference<float>(2, 3, 16, 16, 1);
  expect_fast_path_matches_reference<float>(3, 5, 13, 9, 2);    // odd: last row and column unused
  expect_fast_path_matches_reference<float>(16, 16, 128, 128, 3);  // the fault U-Net's first pooling
  expect_fast_path_matches_reference<float>(2, 3, 6, 75, 5);       // rows of several vectors, a remainder
}

TEST(MaxPool2x2, OneDimensionalPairsMatchTheReference) {
  expect_fast_path_matches_reference<float>(4, 16, 1, 1024, 6, 1);  // the 1-D U-Net's first pooling
  expect_fast_path_matches_reference<float>(2, 3, 1, 37, 7, 1);     // odd length
  expect_fast_path_matches_reference<double>(2, 3, 1, 41, 8, 1);
}

TEST(MaxPool2x2, FastPathMatchesTheReferenceInDouble) {
  expect_fast_path_matches_reference<double>(2, 4, 11, 30, 4);
}
