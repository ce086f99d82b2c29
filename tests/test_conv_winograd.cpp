// The CPU's Winograd convolution F(4x4, 3x3) (kernels/cpu/conv_winograd.h)
// against im2col + GEMM in float64: forward, backward-data and backward-weight
// on shapes with partial output tiles (sizes that are not a multiple of 4),
// padding 0 / 1 / 2, one input channel, one output pixel; identical results
// for one and two threads; the automatic choice on the U-Net shapes; and the
// transformed filters kept inside InferenceMode.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn_ops.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/filter_cache.h"
#include "kernels/cpu/simd.h"
#include "tests/conv_cases.h"

using namespace strata;
using namespace strata::conv_test;

namespace {

// max |got - want| / max |want|.
double relative_error(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  const auto g = got.to(DType::f64).to_vector<double>(), w = want.to_vector<double>();
  double err = 0, scale = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    err = std::max(err, std::abs(g[i] - w[i]));
    scale = std::max(scale, std::abs(w[i]));
  }
  return err / scale;
}

class ConvWinograd : public ConvKernelTest {};

TEST_P(ConvWinograd, MatchesGemmInFloat64) {
  const Case c = GetParam();
  SCOPED_TRACE(describe(c));
  const ConvGeom g = geometry(c);
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::winograd);
  ASSERT_EQ(cpu::conv_kernel(g, ConvPass::forward), cpu::ConvKernel::winograd);
  ASSERT_EQ(cpu::conv_kernel(g, ConvPass::backward_data), cpu::ConvKernel::winograd);
  ASSERT_EQ(cpu::conv_kernel(g, ConvPass::backward_weight), cpu::ConvKernel::winograd);
  const Result got = run(c, DType::f32, 11);
  const Result want = run(c, DType::f64, 11);  // float64 always runs im2col + GEMM
  // F(4x4, 3x3) rounds more than a direct sum: its transforms scale by up to
  // 8 and 1/24. Measured on these cases: at most 1.1e-5 of the largest output
  // (forward, C 64) where f32 im2col + GEMM gives 1.0e-6, i.e. about one
  // decimal digit less, as the literature reports for F(4x4, 3x3); backward-
  // data at most 7.1e-6, backward-weight 4.3e-6. The bound is 3e-5; a wrong
  // transform coefficient gives errors of 1e-3 and more (1/24 -> 1/25 in the
  // filter or filter-gradient transform: 4e-3 to 5e-2).
  EXPECT_LT(relative_error(got.y, want.y), 3e-5) << "forward";
  EXPECT_LT(relative_error(got.gx, want.gx), 3e-5) << "backward-data";
  EXPECT_LT(relative_error(got.gw, want.gw), 3e-5) << "backward-weight";
}

TEST_P(ConvWinograd, SameBitsForOneAndTwoThreads) {
  const Case c = GetParam();
  SCOPED_TRACE(describe(c));
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::winograd);
  expect_same_bits_for_one_and_two_threads(c);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvWinograd,
    ::testing::Values(Case{2, 64, 16, 16, 64, 3, 3, 1, 1},  // whole 4x4 tiles (a U-Net level), blocked
                      Case{1, 80, 9, 10, 72, 3, 3, 1, 1},   // 80 x 72 channels: whole-tensor transforms + GEMMs
                      Case{2, 66, 48, 48, 70, 3, 3, 1, 1},  // whole-tensor, 288 tiles, channels not a multiple of 16
                      Case{2, 32, 40, 40, 32, 3, 3, 1, 1},  // blocked: more blocks than backward-weight's 8 groups
                      Case{1, 8, 6, 70, 8, 3, 3, 1, 1},     // rows of 18 tiles: 16 in vectors, 2 one by one
                      Case{1, 72, 5, 66, 72, 3, 3, 1, 1},   // the same on the whole-tensor path (17 tiles a row)
                      Case{2, 68, 16, 16, 72, 3, 3, 1, 1},  // whole-tensor planes of 16 tiles: one vector each
                      Case{3, 70, 13, 11, 66, 3, 3, 0, 2},  // whole-tensor planes of 4 x 4 partial tiles, padding 2
                      Case{1, 96, 30, 31, 80, 3, 3, 1, 1},  // planes of 8 x 8 tiles (4 vectors), partial tiles
                      Case{10, 48, 18, 18, 64, 3, 3, 1, 1}, // blocked, C != K, the last block shorter
                      Case{1, 3, 13, 18, 5, 3, 3, 1, 1},    // partial tiles in both directions
                      Case{2, 1, 9, 7, 4, 3, 3, 0, 0},      // one input channel, no padding (7x5 output)
                      Case{1, 8, 6, 11, 16, 3, 3, 2, 2},    // padding 2: backward-data with no padding
                      Case{1, 5, 3, 3, 3, 3, 3, 0, 0},      // one output pixel
                      Case{3, 17, 21, 30, 9, 3, 3, 1, 0},   // odd channel counts, 3 samples, padding 1 / 0
                      Case{2, 64, 1, 40, 64, 1, 3, 0, 1},   // conv1d: F(4, 3) on whole tiles, blocked
                      Case{4, 64, 1, 64, 64, 1, 3, 0, 1},   // conv1d, 64 tiles (a multiple of 16)
                      Case{2, 72, 1, 70, 80, 1, 3, 0, 1},   // conv1d, whole-tensor (72 x 80 channels), 18 tiles
                      Case{10, 24, 1, 1030, 40, 1, 3, 0, 1}, // conv1d, blocked: a row a block, 10 blocks > 8 groups
                      Case{3, 5, 1, 13, 7, 1, 3, 0, 0},     // conv1d, partial last tile, no padding
                      Case{1, 8, 1, 9, 16, 1, 3, 0, 2}),    // conv1d, padding 2
    [](const ::testing::TestParamInfo<Case>& info) { return "case" + std::to_string(info.index); });

// The register transpose the Winograd products use: whole kLanes x kLanes blocks, edges, strides wider than the rows.
TEST(Simd, TransposeMatchesTheDefinition) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{16, 16}, {37, 50}, {5, 3}, {32, 48}, {16, 1}, {1, 17}}) {
    const int64_t lds = cols + 3, ldd = rows + 5;
    std::vector<float> src(size_t(rows * lds)), dst(size_t(cols * ldd), -1.0f);
    for (size_t i = 0; i < src.size(); ++i) src[i] = float(i);
    cpu::simd::transpose(src.data(), lds, rows, cols, dst.data(), ldd);
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t i = 0; i < ldd; ++i)
        ASSERT_EQ(dst[size_t(j * ldd + i)], i < rows ? src[size_t(i * lds + j)] : -1.0f)
            << rows << "x" << cols << " at column " << j << ", row " << i;
  }
}

// The lane patterns the transforms, the direct and the pointwise kernels are built from, at the
// lane count this build compiled for (16, 8 or 4: each build tests its own).
TEST(Simd, LanePatternsMatchTheirDefinitions) {
  using cpu::simd::kLanes;
  using cpu::simd::vf;
  std::vector<float> x(4 * kLanes);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  vf parts[4];
  cpu::simd::deinterleave4(x.data(), parts);
  for (int p = 0; p < 4; ++p)
    for (int i = 0; i < kLanes; ++i) ASSERT_EQ(parts[p][i], x[size_t(4 * i + p)]) << "deinterleave4 part " << p;
  std::vector<float> back(4 * kLanes, -1.0f);
  cpu::simd::interleave4(parts, back.data());
  EXPECT_EQ(back, x) << "interleave4 is not the inverse of deinterleave4";

  const vf a = cpu::simd::load(x.data()), b = cpu::simd::load(x.data() + kLanes);
  auto shifted = [&]<int... s>(std::integer_sequence<int, s...>) {
    return std::vector<vf>{cpu::simd::shift_left<s>(a, b)...};
  }(std::make_integer_sequence<int, kLanes + 1>{});
  for (int s = 0; s <= kLanes; ++s)
    for (int i = 0; i < kLanes; ++i) ASSERT_EQ(shifted[size_t(s)][i], float(s + i)) << "shift_left<" << s << ">";

  const vf z = cpu::simd::splat(-0.0f);
  for (int i = 0; i < kLanes; ++i) EXPECT_TRUE(std::signbit(z[i])) << "splat(-0) lane " << i << " lost its sign";

  EXPECT_EQ(cpu::simd::load_once(x.data() + 3)[kLanes - 1], float(kLanes + 2));
  // sum_lanes adds halves pairwise: lanes i and i + h for h = kLanes / 2, ..., 1. Values whose sum depends on
  // the order (1 + 2^-24 rounds to 1 when added to 1 alone, not when first added to another 2^-24) pin it.
  std::vector<float> lanes(size_t(kLanes), std::ldexp(1.0f, -24));
  lanes[0] = 1.0f;
  std::vector<float> want = lanes;
  for (int h = kLanes / 2; h >= 1; h /= 2)
    for (int i = 0; i < h; ++i) want[size_t(i)] += want[size_t(i + h)];
  EXPECT_EQ(cpu::simd::sum_lanes(cpu::simd::load(lanes.data())), want[0]);
  float sequential = 0;
  for (float v : lanes) sequential += v;
  EXPECT_NE(want[0], sequential) << "the test values do not tell the orders apart";
}

TEST(ConvWinogradSelection, AppliesToUnitStride3x3Only) {
  const ConvGeom g = geometry({4, 128, 32, 32, 128, 3, 3, 1, 1});
  EXPECT_TRUE(cpu::conv_winograd_applies(g, ConvPass::forward));
  EXPECT_TRUE(cpu::conv_winograd_applies(g, ConvPass::backward_data));
  EXPECT_TRUE(cpu::conv_winograd_applies(g, ConvPass::backward_weight));
  ConvGeom strided = g;
  strided.stride_h = 2;
  EXPECT_FALSE(cpu::conv_winograd_applies(strided, ConvPass::forward));
  ConvGeom dilated = g;
  dilated.dil_w = 2;
  EXPECT_FALSE(cpu::conv_winograd_applies(dilated, ConvPass::forward));
  ConvGeom grouped = g;
  grouped.groups = 2;
  EXPECT_FALSE(cpu::conv_winograd_applies(grouped, ConvPass::forward));
  ConvGeom five = g;
  five.R = five.S = 5;
  EXPECT_FALSE(cpu::conv_winograd_applies(five, ConvPass::forward));
  const ConvGeom line = geometry({4, 64, 1, 256, 64, 1, 3, 0, 1});  // conv1d
  EXPECT_TRUE(cpu::conv_winograd_applies(line, ConvPass::forward));
  EXPECT_TRUE(cpu::conv_winograd_applies(line, ConvPass::backward_data));
  EXPECT_TRUE(cpu::conv_winograd_applies(line, ConvPass::backward_weight));
  const ConvGeom rows_1x3 = geometry({4, 64, 8, 256, 64, 1, 3, 0, 1});  // 1x3 filters on planes of 8 rows
  EXPECT_FALSE(cpu::conv_winograd_applies(rows_1x3, ConvPass::forward));
  ConvGeom wide_pad = g;
  wide_pad.pad_h = 3;
  EXPECT_TRUE(cpu::conv_winograd_applies(wide_pad, ConvPass::forward));
  EXPECT_FALSE(cpu::conv_winograd_applies(wide_pad, ConvPass::backward_data));
  EXPECT_TRUE(cpu::conv_winograd_applies(wide_pad, ConvPass::backward_weight));

  cpu::set_conv_algorithm(cpu::ConvAlgorithm::direct);
  EXPECT_EQ(cpu::conv_kernel(g, ConvPass::forward), cpu::ConvKernel::direct);
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::gemm);
  EXPECT_EQ(cpu::conv_kernel(g, ConvPass::forward), cpu::ConvKernel::gemm);
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::winograd);
  EXPECT_EQ(cpu::conv_kernel(g, ConvPass::backward_weight), cpu::ConvKernel::winograd);
  EXPECT_EQ(cpu::conv_kernel(strided, ConvPass::backward_weight), cpu::ConvKernel::gemm);
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic);
}

TEST(ConvWinogradSelection, AutomaticChoiceOnTheUNetLevels) {
  // The benchmarked U-Net levels (docs/benchmarks.md): Winograd in all three
  // passes from 16 channels in 2-D; in 1-D the direct kernel below 32
  // channels. A first layer (3 channels in) stays direct.
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic);
  const struct {
    int64_t c, k, h, w, r;
    cpu::ConvKernel want;
  } levels[] = {{16, 16, 256, 256, 3, cpu::ConvKernel::winograd}, {32, 32, 128, 128, 3, cpu::ConvKernel::winograd},
                {64, 64, 64, 64, 3, cpu::ConvKernel::winograd},   {128, 128, 32, 32, 3, cpu::ConvKernel::winograd},
                {256, 256, 16, 16, 3, cpu::ConvKernel::winograd}, {3, 16, 256, 256, 3, cpu::ConvKernel::direct},
                {16, 16, 1, 1024, 1, cpu::ConvKernel::direct},    {32, 32, 1, 512, 1, cpu::ConvKernel::winograd},
                {64, 64, 1, 256, 1, cpu::ConvKernel::winograd},   {256, 256, 1, 64, 1, cpu::ConvKernel::winograd}};
  for (const auto& l : levels) {
    const ConvGeom g = geometry({4, l.c, l.h, l.w, l.k, l.r, 3, l.r == 1 ? 0 : 1, 1});
    for (ConvPass pass : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_weight})
      EXPECT_EQ(cpu::conv_kernel(g, pass), l.want) << l.c << " -> " << l.k << " channels, " << l.h << "x" << l.w
                                                   << ", pass " << int(pass);
  }
}

}  // namespace

// Inside InferenceMode the transformed filters of a weight are derived once and
// kept (kernels/cpu/filter_cache.h): the same bits as without, a second call
// finds them, a weight written in place is derived again, weights made anew
// where freed ones lay (the caching allocator hands the same memory back) are
// never answered with the old ones, and the last guard releases everything.
TEST(ConvWinogradKeptFilters, KeptWhileTheWeightsStayAsTheyAre) {
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::winograd);
  Conv2dOptions same;
  same.padding = {1, 1};
  const Tensor x = Tensor::randn({2, 16, 12, 13});
  std::vector<std::vector<float>> weights;
  for (int i = 0; i < 3; ++i) weights.push_back(Tensor::randn({24, 16, 3, 3}).to_vector<float>());
  std::vector<std::vector<float>> want;  // outside InferenceMode: derived on every call
  for (const auto& w : weights)
    want.push_back(conv2d(x, Tensor::from_vector(w, {24, 16, 3, 3}), {}, same).to_vector<float>());
  EXPECT_EQ(cpu::filter_cache_stats().entries, 0) << "nothing is kept outside InferenceMode";
  {
    InferenceMode inference;
    Tensor w = Tensor::from_vector(weights[0], {24, 16, 3, 3});
    EXPECT_EQ(conv2d(x, w, {}, same).to_vector<float>(), want[0]);
    EXPECT_EQ(cpu::filter_cache_stats().entries, 0) << "only parameters (tensors that require grad) are kept";
    w.requires_grad_();
    EXPECT_EQ(conv2d(x, w, {}, same).to_vector<float>(), want[0]);
    EXPECT_EQ(cpu::filter_cache_stats().entries, 1);
    EXPECT_EQ(conv2d(x, w, {}, same).to_vector<float>(), want[0]);
    EXPECT_EQ(cpu::filter_cache_stats().hits, 1) << "the second call takes the kept transforms";
    // Doubling the weights doubles every transform and product exactly.
    w.mul_(2.0);
    std::vector<float> doubled = want[0];
    for (float& v : doubled) v *= 2;
    EXPECT_EQ(conv2d(x, w, {}, same).to_vector<float>(), doubled) << "a weight written in place is derived again";
    EXPECT_EQ(cpu::filter_cache_stats().entries, 2);
    {
      InferenceMode nested;  // an inner guard's end releases nothing
    }
    EXPECT_EQ(cpu::filter_cache_stats().entries, 2);
    for (int round = 0; round < 2; ++round)
      for (size_t i = 0; i < weights.size(); ++i) {
        Tensor fresh = Tensor::from_vector(weights[i], {24, 16, 3, 3});
        fresh.requires_grad_();
        EXPECT_EQ(conv2d(x, fresh, {}, same).to_vector<float>(), want[i]) << "weights " << i << ", round " << round;
      }
  }
  EXPECT_EQ(cpu::filter_cache_stats().entries, 0) << "the last guard releases what was kept";
  EXPECT_EQ(cpu::filter_cache_stats().bytes, 0);
  cpu::set_conv_algorithm(cpu::ConvAlgorithm::automatic);
}
