// Gradient checks (GUIDE section 4) of every neural-network op, in double
// precision, each in several configurations: stride 2, padding, dilation 2,
// groups and depthwise, odd spatial sizes, batch 1, non-square kernels.
#include <gtest/gtest.h>

#include "engine/gradcheck.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"

using namespace strata;

namespace {

Tensor input(const Shape& s, uint64_t seed, double lo = -1, double hi = 1, bool grad = true) {
  Generator g(seed);
  Tensor x = Tensor::rand(s, DType::f64, &g, lo, hi);
  if (grad) x.requires_grad_();
  return x;
}

void check(const std::string& what, const GradCheckFn& f, const std::vector<Tensor>& inputs) {
  const GradCheckResult r = gradcheck(f, inputs);
  EXPECT_TRUE(r.ok) << what << ": " << r.message;
  EXPECT_GT(r.checked, 0) << what;
}

}  // namespace

TEST(NnGradcheck, Conv2d) {
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions o;
  };
  const std::vector<Case> cases = {
      {"3x3 pad 1", {2, 3, 7, 6}, {4, 3, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1, false}},
      {"stride 2 odd size", {1, 2, 9, 7}, {3, 2, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 1, false}},
      {"dilation 2", {2, 2, 8, 8}, {2, 2, 3, 3}, {{1, 1}, {2, 2}, {2, 2}, 1, false}},
      {"groups 2", {2, 4, 5, 6}, {6, 2, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 2, false}},
      {"depthwise", {2, 3, 6, 5}, {3, 1, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 3, false}},
      {"non-square kernel, stride (2,1)", {1, 2, 7, 9}, {3, 2, 2, 5}, {{2, 1}, {0, 2}, {1, 1}, 1, false}},
      {"same, even kernel", {2, 2, 6, 5}, {2, 2, 4, 2}, {{1, 1}, {0, 0}, {1, 1}, 1, true}},
      {"1x1 pointwise", {2, 5, 4, 3}, {3, 5, 1, 1}, {}},
  };
  for (const Case& c : cases) {
    const int64_t K = c.w[0];
    check(std::string("conv2d ") + c.name,
          [o = c.o](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], o); },
          {input(c.x, 1), input(c.w, 2), input({K}, 3)});
  }
  check("conv2d without bias", [](const std::vector<Tensor>& v) { return conv2d(v[0], v[1]); },
        {input({1, 2, 5, 5}, 4), input({2, 2, 3, 3}, 5)});
}

TEST(NnGradcheck, Conv1d) {
  check("conv1d k3 pad 1", [](auto& v) { return conv1d(v[0], v[1], v[2], {1, 1, 1, 1, false}); },
        {input({2, 3, 11}, 6), input({4, 3, 3}, 7), input({4}, 8)});
  check("conv1d stride 2 dilation 2", [](auto& v) { return conv1d(v[0], v[1], v[2], {2, 2, 2, 1, false}); },
        {input({1, 2, 13}, 9), input({3, 2, 3}, 10), input({3}, 11)});
  check("conv1d depthwise same", [](auto& v) { return conv1d(v[0], v[1], v[2], {1, 0, 1, 4, true}); },
        {input({2, 4, 9}, 12), input({4, 1, 5}, 13), input({4}, 14)});
}

TEST(NnGradcheck, ConvTranspose) {
  check("conv_transpose2d 2x2 stride 2", [](auto& v) { return conv_transpose2d(v[0], v[1], v[2], {{2, 2}}); },
        {input({2, 3, 3, 4}, 15), input({3, 2, 2, 2}, 16), input({2}, 17)});
  ConvTranspose2dOptions o;
  o.stride = {2, 3};
  o.padding = {1, 0};
  o.output_padding = {1, 2};
  o.dilation = {1, 1};
  check("conv_transpose2d padding, output_padding, non-square",
        [o](auto& v) { return conv_transpose2d(v[0], v[1], v[2], o); },
        {input({1, 2, 4, 3}, 18), input({2, 3, 3, 4}, 19), input({3}, 20)});
  ConvTranspose2dOptions og;
  og.stride = {2, 2};
  og.padding = {1, 1};
  og.dilation = {2, 2};
  og.groups = 2;
  check("conv_transpose2d groups dilation", [og](auto& v) { return conv_transpose2d(v[0], v[1], v[2], og); },
        {input({2, 4, 3, 3}, 21), input({4, 1, 3, 3}, 22), input({2}, 23)});
  check("conv_transpose1d stride 2", [](auto& v) { return conv_transpose1d(v[0], v[1], v[2], {2, 0, 0, 1, 1}); },
        {input({2, 3, 5}, 24), input({3, 2, 2}, 25), input({2}, 26)});
  check("conv_transpose1d padding output_padding", [](auto& v) {
    return conv_transpose1d(v[0], v[1], Tensor(), {3, 1, 2, 1, 1});
  }, {input({1, 2, 4}, 27), input({2, 3, 3}, 28)});
}

TEST(NnGradcheck, Pooling) {
  // Random inputs have no ties, so max pooling is differentiable at them.
  check("max_pool2d 2x2", [](auto& v) { return max_pool2d(v[0]); }, {input({2, 3, 6, 7}, 29)});
  check("max_pool2d 3x3 stride 2 pad 1 ceil", [](auto& v) {
    return max_pool2d(v[0], {{3, 3}, {2, 2}, {1, 1}, true, true});
  }, {input({1, 2, 7, 8}, 30)});
  check("max_pool2d non-square overlapping", [](auto& v) { return max_pool2d(v[0], {{2, 3}, {1, 2}, {0, 1}}); },
        {input({2, 1, 5, 7}, 31)});
  check("avg_pool2d 2x2", [](auto& v) { return avg_pool2d(v[0]); }, {input({2, 3, 6, 7}, 32)});
  check("avg_pool2d pad, exclude pad", [](auto& v) { return avg_pool2d(v[0], {{3, 3}, {2, 2}, {1, 1}, false, false}); },
        {input({1, 2, 7, 6}, 33)});
  check("avg_pool2d pad, include pad, ceil", [](auto& v) {
    return avg_pool2d(v[0], {{3, 2}, {2, 2}, {1, 1}, true, true});
  }, {input({1, 2, 8, 5}, 34)});
  check("max_pool1d", [](auto& v) { return max_pool1d(v[0], {3, 2, 1}); }, {input({2, 3, 11}, 35)});
  check("avg_pool1d", [](auto& v) { return avg_pool1d(v[0]); }, {input({2, 3, 9}, 36)});
  check("global_avg_pool 2-D", [](auto& v) { return global_avg_pool(v[0]); }, {input({2, 3, 5, 4}, 37)});
  check("global_avg_pool 1-D", [](auto& v) { return global_avg_pool(v[0]); }, {input({2, 3, 7}, 38)});
}

TEST(NnGradcheck, Upsampling) {
  for (const UpsampleMode mode : {UpsampleMode::nearest, UpsampleMode::linear}) {
    const std::string m = mode == UpsampleMode::nearest ? "nearest" : "linear";
    check("upsample2d x2 " + m, [mode](auto& v) { return upsample2d(v[0], {{0, 0}, {2, 2}, mode, false}); },
          {input({2, 2, 3, 4}, 39)});
    check("upsample2d to size " + m, [mode](auto& v) { return upsample2d(v[0], {{7, 5}, {0, 0}, mode, false}); },
          {input({1, 2, 3, 4}, 40)});
    check("upsample1d x3 " + m, [mode](auto& v) { return upsample1d(v[0], {0, 3.0, mode, false}); },
          {input({2, 3, 5}, 41)});
  }
  check("upsample2d bilinear align_corners", [](auto& v) {
    return upsample2d(v[0], {{7, 9}, {0, 0}, UpsampleMode::linear, true});
  }, {input({1, 2, 4, 3}, 42)});
  check("upsample2d downsample bilinear", [](auto& v) {
    return upsample2d(v[0], {{3, 2}, {0, 0}, UpsampleMode::linear, false});
  }, {input({1, 1, 7, 5}, 43)});
  check("upsample2d by 0.75 and back to the size of another tensor", [](auto& v) {
    const Tensor down = upsample2d(v[0], {{0, 0}, {0.75, 0.75}, UpsampleMode::linear, false});
    return upsample2d(down, {{0, 0}, {0, 0}, UpsampleMode::linear, false, v[0]});
  }, {input({1, 2, 7, 6}, 44)});
}

// Padding to a multiple and cropping back (the U-Nets' way to take any size).
TEST(NnGradcheck, PadToMultipleAndCropLike) {
  check("pad_to_multiple 2-D", [](auto& v) { return pad_to_multiple(v[0], 4); }, {input({2, 2, 5, 7}, 45)});
  check("pad_to_multiple 1-D", [](auto& v) { return pad_to_multiple(v[0], 8); }, {input({2, 3, 9}, 46)});
  check("pad_to_multiple then crop_like", [](auto& v) { return crop_like(mul(pad_to_multiple(v[0], 4), 3.0), v[0]); },
        {input({1, 2, 6, 5}, 47)});
  check("crop_like", [](auto& v) { return crop_like(v[0], v[1]); }, {input({2, 2, 8, 8}, 48), input({2, 2, 5, 7}, 49)});
  const Tensor x = Tensor::randn({2, 3, 5, 7});
  const Tensor p = pad_to_multiple(x, 4);
  EXPECT_EQ(p.shape(), (Shape{2, 3, 8, 8}));
  for (float z : slice(p, 2, 5, 8).contiguous().to_vector<float>()) EXPECT_EQ(z, 0.f);
  for (float z : slice(p, 3, 7, 8).contiguous().to_vector<float>()) EXPECT_EQ(z, 0.f);
  EXPECT_EQ(crop_like(p, x).contiguous().to_vector<float>(), x.to_vector<float>());
  EXPECT_THROW(crop_like(x, p), Error);
}

TEST(NnGradcheck, BatchNormAndDropout) {
  for (const Shape& s : {Shape{5, 3}, Shape{4, 3, 7}, Shape{2, 3, 4, 5}, Shape{1, 2, 3, 3}}) {
    check("batch_norm train " + shape_str(s), [](auto& v) {
      return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true);
    }, {input(s, 44), input({s[1]}, 45, 0.5, 1.5), input({s[1]}, 46)});
  }
  const Tensor rm = input({3}, 47, -0.5, 0.5, false), rv = input({3}, 48, 0.5, 2, false);
  check("batch_norm eval", [rm, rv](auto& v) { return batch_norm(v[0], rm, rv, v[1], v[2], false); },
        {input({2, 3, 4, 5}, 49), input({3}, 50), input({3}, 51)});
  check("batch_norm no affine", [](auto& v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
        {input({3, 2, 5}, 52)});
  check("batch_norm_relu train", [](auto& v) { return batch_norm_relu(v[0], Tensor(), Tensor(), v[1], v[2], true); },
        {input({2, 3, 4, 5}, 201), input({3}, 202, 0.5, 1.5), input({3}, 203)});
  check("batch_norm_relu eval", [rm, rv](auto& v) { return batch_norm_relu(v[0], rm, rv, v[1], v[2], false); },
        {input({2, 3, 4, 5}, 204), input({3}, 205), input({3}, 206)});
  check("batch_norm_relu no affine",
        [](auto& v) { return batch_norm_relu(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
        {input({3, 2, 5}, 207)});
  // Weights of 3-5 put a good share of the normalised values above 6, where ReLU6 cuts the gradient.
  check("batch_norm_relu6 train",
        [](auto& v) { return batch_norm_relu(v[0], Tensor(), Tensor(), v[1], v[2], true, 0.1, 1e-5, Activation::relu6); },
        {input({2, 3, 4, 5}, 208), input({3}, 209, 3, 5), input({3}, 210)});
  check("batch_norm_relu6 eval",
        [rm, rv](auto& v) { return batch_norm_relu(v[0], rm, rv, v[1], v[2], false, 0.1, 1e-5, Activation::relu6); },
        {input({2, 3, 4, 5}, 211), input({3}, 212, 3, 5), input({3}, 213)});
  check("dropout", [](auto& v) {
    Generator g(7);  // the same mask on every evaluation
    return dropout(v[0], 0.3, true, &g);
  }, {input({4, 9}, 53)});
}

TEST(NnGradcheck, Activations) {
  const Tensor x = input({3, 4, 5}, 54, -3, 3);
  check("relu", [](auto& v) { return relu(v[0]); }, {x});
  check("leaky_relu", [](auto& v) { return leaky_relu(v[0], 0.2); }, {x});
  check("relu6", [](auto& v) { return relu6(mul(v[0], 3.0)); }, {x});
  check("elu", [](auto& v) { return elu(v[0], 0.7); }, {x});
  check("sigmoid", [](auto& v) { return sigmoid(v[0]); }, {x});
  check("tanh", [](auto& v) { return tanh(v[0]); }, {x});
  check("softplus", [](auto& v) { return softplus(v[0], 2.0, 5.0); }, {x});
  check("silu", [](auto& v) { return silu(v[0]); }, {x});
}

TEST(NnGradcheck, Losses) {
  const Tensor p = input({3, 2, 4}, 55, 0.05, 0.95), t = input({3, 2, 4}, 56, 0, 1, false);
  const Tensor w = input({3, 2, 4}, 57, 0.5, 2, false), logits = input({3, 2, 4}, 58, -4, 4);
  const Tensor binary_t = ge(t, 0.5).to(DType::f64), pw = input({2, 1}, 59, 0.5, 3, false);
  for (const Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    const std::string rn = r == Reduction::mean ? " mean" : r == Reduction::sum ? " sum" : " none";
    check("bce" + rn, [&, r](auto& v) { return bce(v[0], t, w, r); }, {p});
    check("bce_with_logits" + rn, [&, r](auto& v) { return bce_with_logits(v[0], binary_t, w, pw, r); }, {logits});
    check("mse" + rn, [&, r](auto& v) { return mse_loss(v[0], v[1], r); }, {logits, input({3, 2, 4}, 60)});
    check("l1" + rn, [&, r](auto& v) { return l1_loss(v[0], v[1], r); }, {logits, input({3, 2, 4}, 61)});
    check("dice" + rn, [&, r](auto& v) { return dice_loss(v[0], binary_t, 1.0, r); }, {p});
    check("gaussian_kl" + rn, [&, r](auto& v) { return gaussian_kl(v[0], v[1], r); },
          {input({4, 3}, 62), input({4, 3}, 63)});
  }
  check("bce_with_logits plain", [&](auto& v) { return bce_with_logits(v[0], t); }, {logits});
  // Cross-entropy on (N, C), (N, C, L) and (N, C, H, W), with class weights and ignore_index.
  const Tensor cw = input({4}, 64, 0.5, 2, false);
  const Tensor t2 = Tensor::from_vector<int64_t>({0, 3, 1, 2, 3}, {5});
  const Tensor t3 = Tensor::from_vector<int64_t>({0, 3, 1, 2, 3, 1, -100, 2}, {2, 4});
  const Tensor t4 = Tensor::from_vector<int64_t>({0, 3, 1, 2, 255, 1, 0, 2, 3, 3, 1, 0}, {2, 2, 3});
  check("cross_entropy (N,C)", [&](auto& v) { return cross_entropy(v[0], t2); }, {input({5, 4}, 65, -3, 3)});
  check("cross_entropy (N,C,L) weighted ignore", [&](auto& v) { return cross_entropy(v[0], t3, cw); },
        {input({2, 4, 4}, 66, -3, 3)});
  check("cross_entropy (N,C,H,W) ignore 255 sum", [&](auto& v) {
    return cross_entropy(v[0], t4, cw, 255, Reduction::sum);
  }, {input({2, 4, 2, 3}, 67, -3, 3)});
  check("cross_entropy none", [&](auto& v) { return cross_entropy(v[0], t3, Tensor(), -100, Reduction::none); },
        {input({2, 4, 4}, 68, -3, 3)});
}
