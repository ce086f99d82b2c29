// Neural-network ops against PyTorch (tests/reference/nn_reference.safetensors,
// made by make_nn_reference.py), forward and backward in float64; running
// statistics; numerical stability at extreme logits; error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/safetensors.h"

using namespace strata;

namespace {

const Safetensors& reference() {
  static const Safetensors ref = load_safetensors(STRATA_SOURCE_DIR "/tests/reference/nn_reference.safetensors");
  return ref;
}

void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const auto g = got.to(DType::f64).to_vector<double>(), w = want.to(DType::f64).to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], tol * std::max(1.0, std::abs(w[i]))) << what << " at " << i;
}

using Inputs = std::map<std::string, Tensor>;

// Loads case `name`, runs f on its inputs (floating ones require grad),
// backpropagates the stored upstream gradient and compares the output and
// every gradient PyTorch stored.
void check_case(const std::string& name, const std::function<Tensor(Inputs&)>& f, double tol = 1e-10) {
  SCOPED_TRACE(name);
  const Safetensors& ref = reference();
  Inputs in;
  const std::string prefix = name + ".";
  for (const auto& [key, t] : ref.tensors) {
    if (key.rfind(prefix, 0) != 0) continue;
    const std::string field = key.substr(prefix.size());
    if (field == "y" || field == "gy" || field[0] == 'g') continue;
    Tensor x = t.clone();
    if (ref.tensors.count(prefix + "g" + field)) x.requires_grad_();
    in[field] = x;
  }
  ASSERT_FALSE(in.empty()) << "no case " << name << " in the reference file";
  const Tensor y = f(in);
  expect_close(y, ref.at(prefix + "y"), tol, name + " output");
  y.backward(ref.at(prefix + "gy"));
  for (auto& [field, x] : in) {
    if (!x.requires_grad()) continue;
    ASSERT_TRUE(x.grad().defined()) << name << ": no gradient for " << field;
    expect_close(x.grad(), ref.at(prefix + "g" + field), tol, name + " gradient of " + field);
  }
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an error mentioning " << parts[0];
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(NnReference, Convolutions) {
  check_case("conv2d_basic", [](Inputs& v) { return conv2d(v["x"], v["w"], v["b"], {{1, 1}, {1, 1}}); });
  check_case("conv2d_s2_d2_g2",
             [](Inputs& v) { return conv2d(v["x"], v["w"], v["b"], {{2, 2}, {2, 2}, {2, 2}, 2}); });
  check_case("conv2d_depthwise_nonsquare",
             [](Inputs& v) { return conv2d(v["x"], v["w"], v["b"], {{2, 1}, {1, 2}, {1, 1}, 3}); });
  check_case("conv2d_same_even",
             [](Inputs& v) { return conv2d(v["x"], v["w"], v["b"], {{1, 1}, {0, 0}, {1, 1}, 1, true}); });
  check_case("conv1d", [](Inputs& v) { return conv1d(v["x"], v["w"], v["b"], {2, 1, 2}); });
  check_case("conv_transpose2d", [](Inputs& v) { return conv_transpose2d(v["x"], v["w"], v["b"], {{2, 2}}); });
  check_case("conv_transpose2d_complex", [](Inputs& v) {
    return conv_transpose2d(v["x"], v["w"], v["b"], {{2, 3}, {1, 0}, {1, 2}, {1, 1}, 2});
  });
  check_case("conv_transpose1d", [](Inputs& v) { return conv_transpose1d(v["x"], v["w"], v["b"], {3, 1, 2}); });
}

TEST(NnReference, Pooling) {
  check_case("max_pool2d", [](Inputs& v) { return max_pool2d(v["x"], {{3, 3}, {2, 2}, {1, 1}, true}); });
  check_case("max_pool1d", [](Inputs& v) { return max_pool1d(v["x"], {3, 2, 1}); });
  check_case("avg_pool2d_exclude",
             [](Inputs& v) { return avg_pool2d(v["x"], {{3, 3}, {2, 2}, {1, 1}, false, false}); });
  check_case("avg_pool2d_ceil", [](Inputs& v) { return avg_pool2d(v["x"], {{3, 2}, {2, 2}, {1, 1}, true, true}); });
  check_case("avg_pool1d", [](Inputs& v) { return avg_pool1d(v["x"]); });
}

TEST(NnReference, Upsampling) {
  using M = UpsampleMode;
  check_case("up_nearest_x2", [](Inputs& v) { return upsample2d(v["x"], {{0, 0}, {2, 2}, M::nearest}); });
  check_case("up_nearest_size", [](Inputs& v) { return upsample2d(v["x"], {{7, 5}, {0, 0}, M::nearest}); });
  check_case("up_bilinear_x2", [](Inputs& v) { return upsample2d(v["x"], {{0, 0}, {2, 2}, M::linear}); });
  check_case("up_bilinear_align", [](Inputs& v) { return upsample2d(v["x"], {{7, 9}, {0, 0}, M::linear, true}); });
  check_case("up_bilinear_down", [](Inputs& v) { return upsample2d(v["x"], {{3, 2}, {0, 0}, M::linear}); });
  check_case("up_linear_1d", [](Inputs& v) { return upsample1d(v["x"], {0, 3.0, M::linear}); });
}

TEST(NnReference, BatchNorm) {
  for (const std::string bn : {"bn2d", "bn1d"}) {
    const Safetensors& ref = reference();
    Tensor rm = ref.at(bn + "_train.rm").clone(), rv = ref.at(bn + "_train.rv").clone();
    check_case(bn + "_train", [&](Inputs& v) { return batch_norm(v["x"], rm, rv, v["w"], v["b"], true, 0.1, 1e-5); });
    expect_close(rm, ref.at(bn + "_train.rm_after"), 1e-12, bn + " running mean");
    expect_close(rv, ref.at(bn + "_train.rv_after"), 1e-12, bn + " running var (unbiased)");
    const Tensor erm = ref.at(bn + "_eval.rm"), erv = ref.at(bn + "_eval.rv");
    check_case(bn + "_eval", [&](Inputs& v) { return batch_norm(v["x"], erm, erv, v["w"], v["b"], false); });
  }
}

TEST(NnReference, Activations) {
  check_case("act_relu", [](Inputs& v) { return relu(v["x"]); });
  check_case("act_leaky_relu", [](Inputs& v) { return leaky_relu(v["x"], 0.2); });
  check_case("act_relu6", [](Inputs& v) { return relu6(v["x"]); });
  check_case("act_elu", [](Inputs& v) { return elu(v["x"], 0.7); });
  check_case("act_sigmoid", [](Inputs& v) { return sigmoid(v["x"]); });
  check_case("act_tanh", [](Inputs& v) { return tanh(v["x"]); });
  check_case("act_softplus", [](Inputs& v) { return softplus(v["x"], 2.0, 5.0); });
  check_case("act_silu", [](Inputs& v) { return silu(v["x"]); });
  check_case("act_softmax", [](Inputs& v) { return softmax(v["x"], 1); });
  check_case("act_log_softmax", [](Inputs& v) { return log_softmax(v["x"], 1); });
}

TEST(NnReference, Losses) {
  check_case("bce", [](Inputs& v) { return bce(v["p"], v["t"], v["w"]); });
  check_case("bce_logits", [](Inputs& v) { return bce_with_logits(v["x"], v["t"], v["w"], v["pw"]); });
  check_case("bce_logits_sum",
             [](Inputs& v) { return bce_with_logits(v["x"], v["t"], Tensor(), Tensor(), Reduction::sum); });
  check_case("bce_logits_extreme",
             [](Inputs& v) { return bce_with_logits(v["x"], v["t"], Tensor(), Tensor(), Reduction::none); });
  check_case("ce_2d", [](Inputs& v) { return cross_entropy(v["x"], v["t"]); });
  check_case("ce_3d_weighted", [](Inputs& v) { return cross_entropy(v["x"], v["t"], v["w"]); });
  check_case("ce_4d_ignore_sum",
             [](Inputs& v) { return cross_entropy(v["x"], v["t"], v["w"], 255, Reduction::sum); });
  check_case("ce_extreme", [](Inputs& v) { return cross_entropy(v["x"], v["t"], Tensor(), -100, Reduction::none); });
  check_case("mse", [](Inputs& v) { return mse_loss(v["a"], v["b"]); });
  check_case("l1_sum", [](Inputs& v) { return l1_loss(v["a"], v["b"], Reduction::sum); });
  check_case("dice", [](Inputs& v) { return dice_loss(v["p"], v["t"]); });
  check_case("kl", [](Inputs& v) { return gaussian_kl(v["mu"], v["lv"]); });
}

TEST(NnOps, ExtremeLogitsStayFiniteInFloat) {
  Tensor x = Tensor::from_vector<float>({-100, -50, 0, 50, 100, 100}, {6});
  x.requires_grad_();
  const Tensor t = Tensor::from_vector<float>({1, 0, 1, 1, 0, 1}, {6});
  const Tensor loss = bce_with_logits(x, t, Tensor(), Tensor(), Reduction::sum);
  loss.backward();
  EXPECT_NEAR(loss.item<float>(), 100 + std::log1p(std::exp(-50.0)) + std::log(2.0) + 100, 1e-3);
  for (float g : x.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
  Tensor p = Tensor::from_vector<float>({0, 1, 0.5f}, {3});
  p.requires_grad_();
  const Tensor l = bce(p, Tensor::from_vector<float>({1, 0, 1}, {3}), Tensor(), Reduction::none);
  EXPECT_EQ(l.to_vector<float>()[0], 100.0f);  // log clamped at -100
  sum(l).backward();
  for (float g : p.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
  Tensor logits = Tensor::from_vector<float>({100, -100, 0, -100, 100, 100}, {2, 3});
  logits.requires_grad_();
  const Tensor ce = cross_entropy(logits, Tensor::from_vector<int64_t>({1, 0}, {2}));
  ce.backward();
  EXPECT_NEAR(ce.item<float>(), (200 + 200 + std::log(2.0)) / 2, 1e-3);
  for (float g : logits.grad().to_vector<float>()) EXPECT_TRUE(std::isfinite(g));
}

TEST(NnOps, DropoutAndBatchNormModes) {
  const Tensor x = Tensor::ones({1000});
  Generator g(3);
  const Tensor y = dropout(x, 0.25, true, &g);
  const auto v = y.to_vector<float>();
  int zeros = 0;
  for (float e : v) {
    EXPECT_TRUE(e == 0.0f || std::abs(e - 1.0f / 0.75f) < 1e-6);
    zeros += e == 0.0f;
  }
  EXPECT_NEAR(zeros / 1000.0, 0.25, 0.05);
  EXPECT_EQ(dropout(x, 0.25, false).to_vector<float>(), x.to_vector<float>());
  Generator g1(9), g2(9);
  EXPECT_EQ(dropout(x, 0.5, true, &g1).to_vector<float>(), dropout(x, 0.5, true, &g2).to_vector<float>());
  // Eval mode without running statistics is an error; training with one value per channel too.
  expect_error([] { batch_norm(Tensor::ones({2, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false); },
               {"batch_norm", "running_mean"});
  expect_error([] { batch_norm(Tensor::ones({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true); },
               {"batch_norm", "more than one value per channel", "[1, 3]"});
}

// The fused kernel is relu(batch_norm) (relu6(batch_norm) with act = relu6): the same outputs to the bit (one
// float expression per element, clamped as relu / relu6 clamp), the same running statistics, and the same
// gradients (the activation's mask recomputed from the saved scale and shift; only the order of the double sums
// differs), in training and evaluation, with and without affine parameters, in float and double.
TEST(NnOps, BatchNormReluIsReluOfBatchNorm) {
  for (const Activation act : {Activation::relu, Activation::relu6})
    for (const DType t : {DType::f32, DType::f64})
      for (const bool training : {true, false})
        for (const bool affine : {true, false}) {
          const bool six = act == Activation::relu6;
          SCOPED_TRACE(std::string(six ? "relu6 " : "relu ") + (t == DType::f32 ? "f32" : "f64") +
                       (training ? " train" : " eval") + (affine ? " affine" : ""));
          Generator g(11);
          // A shifted mean (a mask not at 0) and, for ReLU6, inputs spread so that a good share reaches 6.
          const double spread = six ? 5.0 : 1.0;
          const Tensor x0 = mul(add(Tensor::randn({4, 3, 37, 29}, t, &g), 0.3), spread);
          const Tensor gy = Tensor::randn({4, 3, 37, 29}, t, &g);
          const Tensor w0 = mul(Tensor::rand({3}, t, &g, 0.5, 1.5), spread), b0 = Tensor::rand({3}, t, &g, -0.5, 0.5);
          const Tensor rm0 = Tensor::randn({3}, t, &g), rv0 = Tensor::rand({3}, t, &g, 0.5, 2);
          struct Run {
            Tensor y, gx, gw, gb, rm, rv;
          };
          const auto run = [&](bool fused) {
            Tensor x = x0.clone(), w = w0.clone(), b = b0.clone();
            x.requires_grad_();
            w.requires_grad_();
            b.requires_grad_();
            Run r{Tensor(), Tensor(), Tensor(), Tensor(), rm0.clone(), rv0.clone()};
            const Tensor wa = affine ? w : Tensor(), ba = affine ? b : Tensor();
            if (fused) {
              r.y = batch_norm_relu(x, r.rm, r.rv, wa, ba, training, 0.1, 1e-5, act);
            } else {
              const Tensor y = batch_norm(x, r.rm, r.rv, wa, ba, training, 0.1, 1e-5);
              r.y = six ? relu6(y) : relu(y);
            }
            r.y.backward(gy);
            r.gx = x.grad();
            if (affine) r.gw = w.grad(), r.gb = b.grad();
            return r;
          };
          const Run fused = run(true), composed = run(false);
          EXPECT_EQ(fused.y.to(DType::f64).to_vector<double>(), composed.y.to(DType::f64).to_vector<double>());
          const auto y = fused.y.to(DType::f64).to_vector<double>();
          const size_t cut = size_t(std::count(y.begin(), y.end(), 0.0));
          EXPECT_GT(cut, y.size() / 5) << "the ReLU must cut a good share for the test to mean anything";
          EXPECT_LT(cut, y.size() * 4 / 5);
          const size_t capped = size_t(std::count(y.begin(), y.end(), 6.0));
          if (six && affine) {
            EXPECT_GT(capped, y.size() / 20) << "ReLU6 must cap a share at 6";
          }
          EXPECT_EQ(fused.rm.to_vector<double>(), composed.rm.to_vector<double>());
          EXPECT_EQ(fused.rv.to_vector<double>(), composed.rv.to_vector<double>());
          const double tol = t == DType::f32 ? 2e-6 : 1e-12;
          expect_close(fused.gx, composed.gx, tol, "gradient of x");
          if (affine) {
            expect_close(fused.gw, composed.gw, tol, "gradient of weight");
            expect_close(fused.gb, composed.gb, tol, "gradient of bias");
          }
        }
  expect_error([] { batch_norm_relu(Tensor::ones({2, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5,
                                    Activation::sigmoid); },
               {"batch_norm_relu", "relu or relu6"});
}

// The training statistics are summed in float within blocks: they must still match a double computation on the
// same float values when the mean is far from zero (|mean| / std = 1e5), with a plane size that leaves a partial
// block, for batch norm alone and fused with ReLU.
TEST(NnOps, BatchNormStatisticsKeepTheirPrecisionFarFromZero) {
  Generator g(5);
  const int64_t N = 8, C = 2, H = 33, W = 47;
  const Tensor noise = Tensor::randn({N, C, H, W}, DType::f32, &g);
  const double centre[2] = {1000.0, -3.0}, spread[2] = {0.01, 2.0};
  const Tensor x = add(mul(noise, Tensor::from_vector<float>({float(spread[0]), float(spread[1])}, {1, 2, 1, 1})),
                       Tensor::from_vector<float>({float(centre[0]), float(centre[1])}, {1, 2, 1, 1}));
  const auto xv = x.to(DType::f64).to_vector<double>();
  for (const bool fused : {false, true}) {
    SCOPED_TRACE(fused ? "batch_norm_relu" : "batch_norm");
    Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
    // momentum 1: the running statistics are this batch's (the variance unbiased).
    if (fused) batch_norm_relu(x, rm, rv, Tensor(), Tensor(), true, 1.0, 1e-5);
    else batch_norm(x, rm, rv, Tensor(), Tensor(), true, 1.0, 1e-5);
    const auto mv = rm.to(DType::f64).to_vector<double>(), vv = rv.to(DType::f64).to_vector<double>();
    for (int64_t c = 0; c < C; ++c) {
      double s = 0, q = 0;
      const int64_t n = N * H * W;
      for (int64_t o = 0; o < N; ++o)
        for (int64_t i = 0; i < H * W; ++i) s += xv[size_t((o * C + c) * H * W + i)];
      const double mu = s / double(n);
      for (int64_t o = 0; o < N; ++o)
        for (int64_t i = 0; i < H * W; ++i) q += std::pow(xv[size_t((o * C + c) * H * W + i)] - mu, 2);
      const double var = q / double(n - 1);
      // 1e-3 std, plus the rounding of the stored float mean (half a unit in the last place is at most
      // |mu| * 2^-24).
      EXPECT_NEAR(mv[size_t(c)], mu, 1e-3 * spread[c] + std::abs(mu) * 0x1p-24) << "mean of channel " << c;
      EXPECT_NEAR(vv[size_t(c)], var, 1e-6 * var) << "variance of channel " << c;
    }
  }
}

TEST(NnOps, ErrorsNameTheOpAndShapes) {
  expect_error([] { conv2d(Tensor::zeros({1, 3, 8, 8}), Tensor::zeros({8, 16, 3, 3})); },
               {"conv2d", "expects 16 input channels", "[1, 3, 8, 8]", "has 3"});
  expect_error([] { conv2d(Tensor::zeros({1, 3, 8}), Tensor::zeros({8, 3, 3, 3})); },
               {"conv2d", "4-D", "[1, 3, 8]"});
  expect_error([] { conv2d(Tensor::zeros({1, 4, 8, 8}), Tensor::zeros({6, 2, 3, 3}), Tensor(), {{1, 1}, {0, 0}, {1, 1}, 3}); },
               {"conv2d", "groups = 3"});
  expect_error([] { conv2d(Tensor::zeros({1, 1, 2, 2}), Tensor::zeros({1, 1, 3, 3})); },
               {"conv2d", "smaller than the dilated kernel"});
  expect_error([] { conv2d(Tensor::zeros({1, 1, 5, 5}), Tensor::zeros({1, 1, 3, 3}), Tensor(), {{2, 2}, {0, 0}, {1, 1}, 1, true}); },
               {"conv2d", "same", "stride 1"});
  expect_error([] { conv1d(Tensor::zeros({2, 5, 10}), Tensor::zeros({4, 3, 3})); },
               {"conv1d", "expects 3 input channels", "has 5"});
  expect_error([] { conv_transpose2d(Tensor::zeros({1, 4, 3, 3}), Tensor::zeros({2, 2, 2, 2})); },
               {"conv_transpose2d", "[2, 2, 2, 2]", "[1, 4, 3, 3]"});
  expect_error([] { max_pool2d(Tensor::zeros({1, 1, 4, 4}), {{2, 2}, {0, 0}, {2, 2}}); },
               {"max_pool2d", "at most half the kernel"});
  expect_error([] { upsample2d(Tensor::zeros({1, 1, 4, 4}), {}); }, {"upsample2d", "size or a scale"});
  expect_error([] { cross_entropy(Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 5}, DType::i64)); },
               {"cross_entropy", "[2, 5]", "[2, 3, 4]"});
  expect_error([] { cross_entropy(Tensor::zeros({2, 3}), Tensor::full({2}, 3, DType::i64)); },
               {"cross_entropy", "index 3", "size 3"});
  expect_error([] { bce(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})); }, {"bce", "[2, 3]", "[3, 2]"});
}
