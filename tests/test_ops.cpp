// Forward results of the CPU ops against plain loops, and independence of the
// thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"

using namespace strata;

namespace {
Tensor randn(const Shape& s, uint64_t seed, DType t = DType::f32) {
  Generator g(seed);
  return Tensor::randn(s, t, &g);
}
void expect_near(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * std::max(1.0f, std::abs(b[i]))) << "at " << i;
}
}  // namespace

TEST(Ops, ElementwiseBroadcasting) {
  Tensor a = randn({3, 1, 5}, 1), b = randn({4, 1}, 2);
  Tensor y = a * b + a;  // (3, 4, 5)
  ASSERT_EQ(y.shape(), (Shape{3, 4, 5}));
  auto av = a.to_vector<float>(), bv = b.to_vector<float>(), yv = y.to_vector<float>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 5; ++k) EXPECT_FLOAT_EQ(yv[(i * 4 + j) * 5 + k], av[i * 5 + k] * bv[j] + av[i * 5 + k]);
}

TEST(Ops, UnaryAndScalarOps) {
  Tensor x = Tensor::from_vector<float>({-2, -0.5, 0, 0.5, 3}, {5});
  EXPECT_EQ(abs(x).to_vector<float>(), (std::vector<float>{2, 0.5, 0, 0.5, 3}));
  EXPECT_EQ(clamp(x, -1, 1).to_vector<float>(), (std::vector<float>{-1, -0.5, 0, 0.5, 1}));
  EXPECT_EQ(sign(x).to_vector<float>(), (std::vector<float>{-1, -1, 0, 1, 1}));
  EXPECT_EQ(neg(x).to_vector<float>()[0], 2.0f);
  EXPECT_FLOAT_EQ(exp(x).to_vector<float>()[4], std::exp(3.0f));
  EXPECT_FLOAT_EQ(log(add(x, 3.0)).to_vector<float>()[0], std::log(1.0f));
  EXPECT_FLOAT_EQ(sqrt(abs(x)).to_vector<float>()[4], std::sqrt(3.0f));
  EXPECT_FLOAT_EQ(pow(x, 3.0).to_vector<float>()[0], -8.0f);
  EXPECT_FLOAT_EQ(pow(abs(x), Tensor::full({5}, 0.5)).to_vector<float>()[4], std::sqrt(3.0f));
  EXPECT_FLOAT_EQ(div(1.0, add(x, 3.0)).to_vector<float>()[0], 1.0f);
  EXPECT_FLOAT_EQ(sub(1.0, x).to_vector<float>()[0], 3.0f);
  EXPECT_EQ(maximum(x, Tensor::scalar(0)).to_vector<float>(), (std::vector<float>{0, 0, 0, 0.5, 3}));
  EXPECT_EQ(minimum(x, Tensor::scalar(0)).to_vector<float>(), (std::vector<float>{-2, -0.5, 0, 0, 0}));
  const float nan = std::nanf("");
  EXPECT_TRUE(std::isnan(maximum(Tensor::scalar(nan), Tensor::scalar(1)).item<float>()));
  EXPECT_TRUE(std::isnan(clamp(Tensor::scalar(nan), 0, 1).item<float>()));
  Tensor i = Tensor::from_vector<int64_t>({5, -3}, {2});
  EXPECT_EQ((i * Tensor::from_vector<int64_t>({2, 2}, {2})).to_vector<int64_t>(), (std::vector<int64_t>{10, -6}));
  EXPECT_EQ(abs(i).to_vector<int64_t>(), (std::vector<int64_t>{5, 3}));
}

TEST(Ops, ComparisonsAndWhere) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3}, {3}), b = Tensor::from_vector<float>({3, 2, 1}, {3});
  EXPECT_EQ(lt(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_EQ(le(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(eq(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 0}));
  EXPECT_EQ(ne(a, 2.0).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(gt(a, 1.5).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ(ge(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ(where(gt(a, b), a, b).to_vector<float>(), (std::vector<float>{3, 2, 3}));
  EXPECT_EQ(where(gt(a, 1.5), a, Tensor::scalar(-1)).to_vector<float>(), (std::vector<float>{-1, 2, 3}));
}

TEST(Ops, Reductions) {
  Tensor x = randn({3, 4, 5}, 3, DType::f64);
  auto v = x.to_vector<double>();
  auto at = [&](int i, int j, int k) { return v[(i * 4 + j) * 5 + k]; };
  Tensor s = sum(x, {0, 2});
  ASSERT_EQ(s.shape(), (Shape{4}));
  Tensor mk = mean(x, {1}, true);
  ASSERT_EQ(mk.shape(), (Shape{3, 1, 5}));
  Tensor vr = var(x, {2});
  Tensor mx = max(x, 1), am = argmax(x, 1);
  for (int j = 0; j < 4; ++j) {
    double ref = 0;
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 5; ++k) ref += at(i, j, k);
    EXPECT_NEAR(s.to_vector<double>()[j], ref, 1e-12);
  }
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 5; ++k) {
      double m = 0, best = -1e300;
      int64_t arg = -1;
      for (int j = 0; j < 4; ++j) {
        m += at(i, j, k) / 4;
        if (at(i, j, k) > best) best = at(i, j, k), arg = j;
      }
      EXPECT_NEAR(mk.to_vector<double>()[i * 5 + k], m, 1e-12);
      EXPECT_EQ(mx.to_vector<double>()[i * 5 + k], best);
      EXPECT_EQ(am.to_vector<int64_t>()[i * 5 + k], arg);
    }
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) {
      double m = 0, ss = 0;
      for (int k = 0; k < 5; ++k) m += at(i, j, k) / 5;
      for (int k = 0; k < 5; ++k) ss += (at(i, j, k) - m) * (at(i, j, k) - m);
      EXPECT_NEAR(vr.to_vector<double>()[i * 4 + j], ss / 4, 1e-12);  // unbiased
    }
  EXPECT_NEAR(var(x, {}, 0).item<double>() * 60, sum(pow(sub(x, mean(x)), 2.0)).item<double>(), 1e-9);
  EXPECT_EQ(argmax(Tensor::from_vector<float>({1, 5, 5, 2}, {4})).item<int64_t>(), 1);  // first of ties
  EXPECT_EQ(min(Tensor::from_vector<float>({1, -5, 5}, {3})).item<float>(), -5.0f);
  EXPECT_EQ(sum(Tensor::full({300}, 1, DType::u8)).item<int64_t>(), 300);  // integer sums widen to i64
  EXPECT_EQ(sum(x.transpose(0, 2), {0}).shape(), (Shape{4, 3}));
}

// Sums over leading dimensions with contiguous kept elements add whole rows
// (kernels/cpu/reduce.cpp, sum_rows); per output they keep the general path's
// order, so a transposed copy (kept elements strided: the general path) gives
// the same bits, across more than one chunk of 32768 reduced elements too.
TEST(Ops, SumsOverLeadingDimsMatchTheGeneralPathBitForBit) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{16, 300}, {40000, 20}, {3, 17}}) {
    const Tensor x = randn({rows, cols}, 9);
    const Tensor strided = x.t().contiguous().t();  // same values, kept dim strided
    for (bool take_mean : {false, true}) {
      const Tensor a = take_mean ? mean(x, {0}) : sum(x, {0});
      const Tensor b = take_mean ? mean(strided, {0}) : sum(strided, {0});
      EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>()) << rows << "x" << cols << (take_mean ? " mean" : " sum");
    }
    // Against a double loop.
    const auto v = x.to_vector<float>();
    const auto got = sum(x, {0}).to_vector<float>();
    for (int64_t j = 0; j < cols; ++j) {
      double ref = 0;
      for (int64_t i = 0; i < rows; ++i) ref += v[size_t(i * cols + j)];
      ASSERT_NEAR(got[size_t(j)], ref, 1e-5 * (1 + std::abs(ref))) << j;
    }
  }
  // Three dims, two of them reduced (the per-sample weight gradients of a conv), and an expanded view.
  const Tensor y = randn({4, 6, 50}, 11, DType::f64);
  const Tensor y_strided = y.permute({1, 2, 0}).contiguous().permute({2, 0, 1});
  EXPECT_EQ(sum(y, {0}).to_vector<double>(), sum(y_strided, {0}).to_vector<double>());
  EXPECT_EQ(sum(Tensor::ones({1, 40}).expand({7, 40}), {0}).to_vector<float>(), std::vector<float>(40, 7.0f));
  EXPECT_EQ(sum(Tensor::full({5, 20}, 3, DType::i32), {0}).to_vector<int64_t>(), std::vector<int64_t>(20, 15));
}

TEST(Ops, LargeReductionsAreAccurate) {
  // 1e7 ones: float accumulation would stall at 2^24; ours accumulates in double.
  EXPECT_EQ(sum(Tensor::ones({10000000})).item<float>(), 1e7f);
  EXPECT_FLOAT_EQ(mean(Tensor::full({4096, 1000}, 0.1)).item<float>(), 0.1f);
}

TEST(Ops, MatmulAgainstLoops) {
  for (auto [M, K, N] : {std::tuple{1, 1, 1}, {3, 5, 2}, {17, 33, 9}, {70, 130, 260}}) {
    Tensor a = randn({M, K}, 4, DType::f64), b = randn({K, N}, 5, DType::f64);
    auto av = a.to_vector<double>(), bv = b.to_vector<double>();
    for (int variant = 0; variant < 3; ++variant) {
      // plain, transposed-view A, transposed-view B: all hit the GEMM without copies
      Tensor c = variant == 0   ? matmul(a, b)
                 : variant == 1 ? matmul(a.t().contiguous().t(), b)
                                : matmul(a, b.t().contiguous().t());
      auto cv = c.to_vector<double>();
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
          double ref = 0;
          for (int k = 0; k < K; ++k) ref += av[i * K + k] * bv[k * N + j];
          ASSERT_NEAR(cv[i * N + j], ref, 1e-10) << M << "x" << K << "x" << N << " variant " << variant;
        }
    }
  }
}

TEST(Ops, MatmulShapes) {
  EXPECT_EQ(matmul(randn({2, 3, 4}, 1), randn({4, 5}, 2)).shape(), (Shape{2, 3, 5}));
  EXPECT_EQ(matmul(randn({2, 1, 3, 4}, 1), randn({5, 4, 2}, 2)).shape(), (Shape{2, 5, 3, 2}));
  EXPECT_EQ(matmul(randn({4}, 1), randn({4, 5}, 2)).shape(), (Shape{5}));
  EXPECT_EQ(matmul(randn({3, 4}, 1), randn({4}, 2)).shape(), (Shape{3}));
  EXPECT_EQ(matmul(randn({4}, 1), randn({4}, 2)).shape(), (Shape{}));
  // batched result equals per-batch products
  Tensor a = randn({3, 4, 6}, 7), b = randn({3, 6, 2}, 8);
  Tensor c = matmul(a, b);
  for (int i = 0; i < 3; ++i)
    expect_near(c.select(0, i).to_vector<float>(), matmul(a.select(0, i), b.select(0, i)).to_vector<float>(), 1e-6f);
}

TEST(Ops, SoftmaxStableAndNormalised) {
  Tensor x = mul(randn({2, 5, 3}, 9), 100.0);  // logits far beyond exp's range
  for (int64_t d : {0, 1, 2}) {
    Tensor p = softmax(x, d), lp = log_softmax(x, d);
    for (float v : p.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
    for (float v : lp.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
    for (float s : sum(p, {d}).to_vector<float>()) EXPECT_NEAR(s, 1.0f, 1e-5f);
    expect_near(exp(lp).to_vector<float>(), p.to_vector<float>(), 1e-5f);
  }
  Tensor small = Tensor::from_vector<double>({1, 2, 3}, {3});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(softmax(small, 0).to_vector<double>()[2], std::exp(3.0) / z, 1e-15);
}

TEST(Ops, JoinSplitIndex) {
  Tensor a = randn({2, 3}, 1), b = randn({2, 1}, 2);
  Tensor c = cat({a, b}, 1);
  ASSERT_EQ(c.shape(), (Shape{2, 4}));
  EXPECT_EQ(c.select(1, 3).to_vector<float>(), b.reshape({2}).to_vector<float>());
  auto parts = split(c, {3, 1}, 1);
  EXPECT_EQ(parts[0].contiguous().to_vector<float>(), a.to_vector<float>());
  EXPECT_EQ(split(Tensor::zeros({7}), 3, 0).back().shape(), (Shape{1}));
  Tensor s = stack({a, a}, 1);
  EXPECT_EQ(s.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(s.select(1, 1).contiguous().to_vector<float>(), a.to_vector<float>());

  Tensor x = Tensor::arange(0, 12, 1, DType::f32).reshape({3, 4});
  Tensor idx = Tensor::from_vector<int64_t>({3, 0, 1, 1, 2, 2}, {3, 2});
  EXPECT_EQ(gather(x, 1, idx).to_vector<float>(), (std::vector<float>{3, 0, 5, 5, 10, 10}));
  Tensor rows = Tensor::from_vector<int32_t>({2, 0}, {2});
  EXPECT_EQ(index_select(x, 0, rows).to_vector<float>(), (std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3}));
  EXPECT_EQ(index_select(x, 1, rows).to_vector<float>(), (std::vector<float>{2, 0, 6, 4, 10, 8}));
  Tensor oh = one_hot(Tensor::from_vector<int64_t>({2, 0}, {2}), 3, DType::f32);
  EXPECT_EQ(oh.to_vector<float>(), (std::vector<float>{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(one_hot(Tensor::zeros({2, 5}, DType::i64), 4).shape(), (Shape{2, 5, 4}));
}

// Missing values: NaN found, runs filled between their neighbours (the nearest value at either end), and the
// statistics of what is left after trimming each row's non-NaN values.
TEST(Ops, MissingValues) {
  const double nan = std::nan("");
  const Tensor x = Tensor::from_vector(std::vector<double>{nan, 1, nan, nan, 4, nan, nan, nan, nan, nan, nan, nan},
                                       {2, 6});
  EXPECT_EQ(is_nan(x).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1}));
  const std::vector<double> filled = fill_gaps(x).to_vector<double>();
  EXPECT_EQ(std::vector<double>(filled.begin(), filled.begin() + 6), (std::vector<double>{1, 1, 2, 3, 4, 4}));
  EXPECT_TRUE(std::all_of(filled.begin() + 6, filled.end(), [](double v) { return std::isnan(v); }));

  // 10 valid values and a NaN: 0.2 cuts 2 at each end (-50, 0 and 9, 100), leaving 1, 2, 3, 4, 5, 6: mean 3.5.
  const Tensor y = Tensor::from_vector(std::vector<double>{3, 100, 1, nan, -50, 6, 0, 2, 9, 5, 4, nan}, {1, 12});
  const std::vector<double> st = nan_trimmed_stats(y, 0.2).to_vector<double>();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_DOUBLE_EQ(st[0], 3.5);
  EXPECT_DOUBLE_EQ(st[1], std::sqrt(17.5 / 6));
  const std::vector<double> untrimmed = nan_trimmed_stats(y, 0).to_vector<double>();
  EXPECT_DOUBLE_EQ(untrimmed[0], 8.0);  // (3 + 100 + 1 - 50 + 6 + 0 + 2 + 9 + 5 + 4) / 10
  EXPECT_TRUE(std::isnan(nan_trimmed_stats(x.slice(0, 1, 2), 0).to_vector<double>()[0]));  // no value in the row
  // The count cut from each end: n * fraction rounded down, exact at multiples (0.29 * 100 is 28.999... in double).
  EXPECT_EQ(trimmed_count(100, 0.29), 29);
  EXPECT_EQ(trimmed_count(250, 0.05), 12);
  EXPECT_EQ(trimmed_count(49, 0.02), 0);
  EXPECT_EQ(trimmed_count(50, 0.02), 1);
  EXPECT_THROW(nan_trimmed_stats(y, 0.5), Error);
  EXPECT_THROW(fill_gaps(Tensor::zeros({2, 3}, DType::i64)), Error);
}

// Every reduction, GEMM and softmax gives bitwise the same result for any thread count.
TEST(Ops, ResultsIndependentOfThreadCount) {
  const int saved = num_threads();
  Tensor big = randn({3000, 1100}, 11), a = randn({300, 700}, 12), b = randn({700, 1300}, 13);
  auto run = [&] {
    std::vector<std::vector<float>> out;
    out.push_back(sum(big).to_vector<float>());
    out.push_back(sum(big, {0}).to_vector<float>());
    out.push_back(mean(big, {1}).to_vector<float>());
    out.push_back(var(big, {0}).to_vector<float>());
    out.push_back(matmul(a, b).to_vector<float>());
    out.push_back(matmul(a.t().contiguous().t(), b).to_vector<float>());
    out.push_back(softmax(big, 0).to_vector<float>());
    out.push_back(max(big, 1).to_vector<float>());
    return out;
  };
  set_num_threads(1);
  const auto one = run();
  for (int threads : {2, 3, 5}) {
    set_num_threads(threads);
    const auto many = run();
    for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i], many[i]) << "result " << i << ", " << threads << " threads";
  }
  set_num_threads(saved);
}
