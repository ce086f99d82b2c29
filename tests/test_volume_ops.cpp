// Volume ops (engine/ops_conv3d.cpp) and the layers and U-Net built on them: each op against a direct loop over
// its definition, in float64, its gradients against central differences, and a 3-D U-Net that trains.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include "engine/gradcheck.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/layers.h"
#include "layers/optimizer.h"
#include "layers/registry.h"
#include "models/unet.h"

using namespace strata;

namespace {

using Dims = std::array<int64_t, 3>;

// The index of (n, c, d, h, w) in a contiguous (N, C, D, H, W) tensor.
struct Vol {
  Shape s;
  int64_t at(int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) const {
    return (((n * s[1] + c) * s[2] + d) * s[3] + h) * s[4] + w;
  }
};

// conv3d by its definition: zero padding (front, back) per axis.
std::vector<double> conv3d_loops(const Tensor& x, const Tensor& w, const Tensor& b, Dims stride, Dims dil,
                                 Dims front, Dims back, Shape* out_shape) {
  const Vol X{x.shape()}, Wt{w.shape()};
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  const std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>{};
  Shape o{x.size(0), w.size(0), 0, 0, 0};
  for (int i = 0; i < 3; ++i)
    o[size_t(2 + i)] = (x.size(2 + i) + front[size_t(i)] + back[size_t(i)] - dil[size_t(i)] * (w.size(2 + i) - 1) - 1) /
                           stride[size_t(i)] + 1;
  const Vol Y{o};
  std::vector<double> y(size_t(o[0] * o[1] * o[2] * o[3] * o[4]), 0.0);
  for (int64_t n = 0; n < o[0]; ++n)
    for (int64_t k = 0; k < o[1]; ++k)
      for (int64_t d = 0; d < o[2]; ++d)
        for (int64_t h = 0; h < o[3]; ++h)
          for (int64_t v = 0; v < o[4]; ++v) {
            double acc = bv.empty() ? 0.0 : bv[size_t(k)];
            for (int64_t c = 0; c < x.size(1); ++c)
              for (int64_t t = 0; t < w.size(2); ++t)
                for (int64_t r = 0; r < w.size(3); ++r)
                  for (int64_t q = 0; q < w.size(4); ++q) {
                    const int64_t id = d * stride[0] + t * dil[0] - front[0];
                    const int64_t ih = h * stride[1] + r * dil[1] - front[1];
                    const int64_t iw = v * stride[2] + q * dil[2] - front[2];
                    if (id < 0 || ih < 0 || iw < 0 || id >= x.size(2) || ih >= x.size(3) || iw >= x.size(4)) continue;
                    acc += xv[size_t(X.at(n, c, id, ih, iw))] * wv[size_t(Wt.at(k, c, t, r, q))];
                  }
            y[size_t(Y.at(n, k, d, h, v))] = acc;
          }
  *out_shape = o;
  return y;
}

void expect_near_all(const Tensor& got, const Shape& shape, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.shape(), shape);
  const std::vector<double> g = got.to_vector<double>();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], want[i], tol) << "element " << i;
}

TEST(VolumeOps, Conv3dIsItsDefinition) {
  Generator gen(3);
  const Tensor x = Tensor::randn({2, 3, 5, 6, 7}, DType::f64, &gen);
  struct Case {
    Shape w;
    Dims stride, pad, dil;
  };
  for (const Case& c : {Case{{4, 3, 3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
                        Case{{2, 3, 3, 2, 3}, {2, 1, 2}, {0, 1, 2}, {1, 1, 1}},
                        Case{{3, 3, 2, 3, 1}, {1, 2, 1}, {1, 0, 0}, {2, 1, 1}},
                        Case{{2, 3, 1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}}}) {
    const Tensor w = Tensor::randn(c.w, DType::f64, &gen), b = Tensor::randn({c.w[0]}, DType::f64, &gen);
    Conv3dOptions o;
    o.stride = c.stride, o.padding = c.pad, o.dilation = c.dil;
    Shape shape;
    const std::vector<double> want = conv3d_loops(x, w, b, c.stride, c.dil, c.pad, c.pad, &shape);
    SCOPED_TRACE(shape_str(c.w));
    expect_near_all(conv3d(x, w, b, o), shape, want, 1e-10);
  }
}

TEST(VolumeOps, Conv3dSamePadsAnEvenKernelAtTheEnd) {
  Generator gen(4);
  const Tensor x = Tensor::randn({1, 2, 4, 5, 3}, DType::f64, &gen);
  const Tensor w = Tensor::randn({3, 2, 2, 3, 2}, DType::f64, &gen);
  Conv3dOptions o;
  o.same = true;
  Shape shape;
  // Even kernel depth 2 and width 2: the extra zero slice / column after the input; height 3: one either side.
  const std::vector<double> want = conv3d_loops(x, w, Tensor(), {1, 1, 1}, {1, 1, 1}, {0, 1, 0}, {1, 1, 1}, &shape);
  expect_near_all(conv3d(x, w, Tensor(), o), shape, want, 1e-10);
  EXPECT_EQ(shape, Shape({1, 3, 4, 5, 3}));
}

TEST(VolumeOps, TransposedBlocksSpreadEachVoxel) {
  Generator gen(5);
  const Tensor x = Tensor::randn({2, 3, 2, 3, 2}, DType::f64, &gen);
  const Tensor w = Tensor::randn({3, 4, 2, 2, 3}, DType::f64, &gen), b = Tensor::randn({4}, DType::f64, &gen);
  const Tensor y = conv_transpose3d_blocks(x, w, b);
  ASSERT_EQ(y.shape(), Shape({2, 4, 4, 6, 6}));
  const Vol X{x.shape()}, Wt{w.shape()}, Y{y.shape()};
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>(),
                            yv = y.to_vector<double>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t k = 0; k < 4; ++k)
      for (int64_t d = 0; d < 4; ++d)
        for (int64_t h = 0; h < 6; ++h)
          for (int64_t v = 0; v < 6; ++v) {
            double want = bv[size_t(k)];
            for (int64_t c = 0; c < 3; ++c)
              want += xv[size_t(X.at(n, c, d / 2, h / 2, v / 3))] * wv[size_t(Wt.at(c, k, d % 2, h % 2, v % 3))];
            ASSERT_NEAR(yv[size_t(Y.at(n, k, d, h, v))], want, 1e-10);
          }
}

TEST(VolumeOps, MaxPoolTakesEachWindowsMaximum) {
  Generator gen(6);
  const Tensor x = Tensor::randn({2, 3, 5, 4, 7}, DType::f64, &gen);  // odd depth and width: remainders dropped
  const Tensor y = max_pool3d(x, {2, 2, 2});
  ASSERT_EQ(y.shape(), Shape({2, 3, 2, 2, 3}));
  const Vol X{x.shape()}, Y{y.shape()};
  const std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t d = 0; d < 2; ++d)
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t v = 0; v < 3; ++v) {
            double m = -INFINITY;
            for (int64_t i = 0; i < 8; ++i)
              m = std::max(m, xv[size_t(X.at(n, c, 2 * d + i / 4, 2 * h + i / 2 % 2, 2 * v + i % 2))]);
            ASSERT_EQ(yv[size_t(Y.at(n, c, d, h, v))], m);
          }
}

TEST(VolumeOps, GradientsMatchCentralDifferences) {
  Generator gen(7);
  const Tensor x = Tensor::randn({2, 2, 4, 3, 5}, DType::f64, &gen).requires_grad_();
  const Tensor w = Tensor::randn({3, 2, 3, 2, 3}, DType::f64, &gen).requires_grad_();
  const Tensor b = Tensor::randn({3}, DType::f64, &gen).requires_grad_();
  Conv3dOptions o;
  o.stride = {2, 1, 1}, o.padding = {1, 1, 0}, o.dilation = {1, 1, 2};
  GradCheckResult r =
      gradcheck([&](const std::vector<Tensor>& in) { return conv3d(in[0], in[1], in[2], o); }, {x, w, b});
  EXPECT_TRUE(r.ok) << "conv3d: " << r.message;
  const Tensor wt = Tensor::randn({2, 3, 2, 2, 2}, DType::f64, &gen).requires_grad_();
  r = gradcheck([&](const std::vector<Tensor>& in) { return conv_transpose3d_blocks(in[0], in[1], in[2]); },
                {x, wt, b});
  EXPECT_TRUE(r.ok) << "conv_transpose3d: " << r.message;
  r = gradcheck([&](const std::vector<Tensor>& in) { return max_pool3d(in[0], {2, 3, 2}); }, {x});
  EXPECT_TRUE(r.ok) << "max_pool3d: " << r.message;
}

TEST(VolumeOps, ErrorsNameTheShapes) {
  const Tensor x = Tensor::zeros({1, 2, 3, 4});
  EXPECT_THROW(conv3d(x, Tensor::zeros({1, 2, 1, 1, 1})), Error);
  EXPECT_THROW(conv3d(Tensor::zeros({1, 2, 3, 4, 5}), Tensor::zeros({1, 3, 1, 1, 1})), Error);
  EXPECT_THROW(max_pool3d(Tensor::zeros({1, 1, 1, 4, 4}), {2, 2, 2}), Error);
  try {
    conv3d(Tensor::zeros({1, 2, 3, 4, 5}), Tensor::zeros({1, 3, 1, 1, 1}));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 2, 3, 4, 5]"), std::string::npos) << e.what();
  }
}

TEST(VolumeLayers, BatchNormNormalisesEachChannelOverTheVolume) {
  Generator gen(8);
  BatchNorm bn(3, 2);
  const Tensor x = Tensor::randn({2, 2, 3, 4, 5}, DType::f32, &gen) * 3.0 + 1.0;
  const std::vector<float> y = bn(x).to_vector<float>();
  for (int c = 0; c < 2; ++c) {
    double s = 0, ss = 0;
    int64_t n = 0;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 60; ++j) {
        const double v = y[size_t((i * 2 + c) * 60 + j)];
        s += v, ss += v * v, ++n;
      }
    EXPECT_NEAR(s / double(n), 0.0, 1e-5);
    EXPECT_NEAR(ss / double(n), 1.0, 1e-3);
  }
  EXPECT_THROW(bn(Tensor::zeros({2, 2, 3, 4})), Error);
}

TEST(VolumeLayers, UNet3dKeepsAnyVolumeSizeAndLearns) {
  Config c = Config::parse("type: unet3d\nbase: 4\ndepth: 2\n", "test");
  ModulePtr net = build_module(c);
  EXPECT_EQ(net->type(), "unet3d");
  Generator gen(9);
  // Sizes that are not multiples of 4: padded inside, the output cropped back.
  const Tensor x = Tensor::randn({2, 1, 6, 9, 5}, DType::f32, &gen);
  EXPECT_EQ((*net)(x).shape(), x.shape());
  // A voxel is 1 where the input is above 0.5: three filtered depth slices decide it, so the network must read
  // across depth too. The loss falls well below its start in a few steps.
  const Tensor target = to_dtype(gt(x, 0.5), DType::f32);
  Adam opt;
  opt.add_group(ParamGroup{"all", net->named_parameters(), 0.01, 0});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    Tensor loss = bce_with_logits((*net)(x), target);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.5 * first) << "first " << first << ", last " << last;
  Config bad = Config::parse("type: unet3d\nupsampling: nearest\n", "test");
  EXPECT_THROW(build_module(bad), Error);
}

TEST(VolumeLayers, YamlBuildsAVolumeNetwork) {
  const ModulePtr net = build_module(Config::parse(R"(
type: sequential
layers:
  - {type: conv3d, in_channels: 1, out_channels: 4, kernel: [3, 3, 1], same: true}
  - {type: batchnorm3d, num_features: 4}
  - {type: relu}
  - {type: max_pool3d, kernel: 2}
  - {type: conv3d, in_channels: 4, out_channels: 4, kernel: 3, padding: [1, 0, 1], stride: 1}
  - {type: conv_transpose3d, in_channels: 4, out_channels: 2, kernel: 2}
)", "test"));
  EXPECT_EQ((*net)(Tensor::zeros({1, 1, 6, 8, 4})).shape(), Shape({1, 2, 6, 4, 4}));
  EXPECT_THROW(build_module(Config::parse("{type: conv_transpose3d, in_channels: 1, out_channels: 1, kernel: 2, "
                                          "stride: 1}", "test")),
               Error);
  EXPECT_THROW(build_module(Config::parse("{type: conv3d, in_channels: 1, out_channels: 1, kernel: [3, 3]}", "test")),
               Error);
}

}  // namespace
