// strata-anomaly: threshold rules on hand-made score lists, the report's
// rates and interval, average precision, the IDX reader on good, gzip,
// truncated and foreign files, and the app end to end on a tiny image-folder
// set (train, eval, predict on a file and on a folder).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/anomaly/anomaly.h"
#include "apps/common/idx.h"
#include "engine/autograd.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "layers/optimizer.h"
#include "tests/anomaly_set.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::anomaly;
using strata::test::error_of;

namespace {

// normal 1 2 3 4, anomalous 3.5 5 6 (label 1)
const std::vector<double> kScores{1, 2, 3, 4, 3.5, 5, 6};
const std::vector<int64_t> kLabels{0, 0, 0, 0, 1, 1, 1};

ThresholdPolicy rule(const std::string& name, double quantile_or_target) {
  ThresholdPolicy p;
  p.rule = name;
  (name == "tpr1_quantile" ? p.quantile : p.target) = quantile_or_target;
  return p;
}

}  // namespace

// The latent Gaussian's covariance: the Ledoit-Wolf shrinkage against scikit-learn 1.x's LedoitWolf on the same
// rows (x[i][a] = sin(1.3 i + 0.7 a) + 0.1 a cos(0.37 i (a + 1))), with few and many rows per dimension.
TEST(AnomalyScore, LatentCovarianceShrinksAsScikitLearnsLedoitWolf) {
  const auto rows = [](int64_t n, int64_t d) {
    std::vector<double> x(size_t(n * d));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t a = 0; a < d; ++a)
        x[size_t(i * d + a)] = std::sin(1.3 * double(i) + 0.7 * double(a)) +
                               0.1 * double(a) * std::cos(0.37 * double(i) * double(a + 1));
    return x;
  };
  struct Case {
    int64_t n, d;
    double shrinkage;
    std::vector<double> first;  // the covariance's first six values, row-major
  };
  const std::vector<Case> cases = {
      {8, 5, 0.2538489060728456,
       {0.47153614057831816, 0.24391046084743997, 0.07183528043779314, -0.22645068923586262, -0.3586963007077654,
        0.24391046084743997}},
      {3, 5, 0.28860110680114553,
       {0.2738489088861469, 0.021899337931513198, -0.08566141347794289, -0.16837417576219582, -0.19546025065643918,
        0.021899337931513198}},
      {200, 4, 0.011429896589922864,
       {0.4993818816520187, 0.37879929191478906, 0.0857714366657796, -0.2526933809436657, 0.37879929191478906,
        0.506678027062476}}};
  for (const Case& c : cases) {
    const ShrunkCovariance s = shrunk_covariance(rows(c.n, c.d), c.n, c.d);
    const std::vector<double>& cov = s.cov;
    EXPECT_NEAR(s.shrinkage, c.shrinkage, 1e-12) << c.n << " x " << c.d;
    for (size_t k = 0; k < c.first.size(); ++k) EXPECT_NEAR(cov[k], c.first[k], 1e-12) << c.n << " x " << c.d << " " << k;
    for (int64_t a = 0; a < c.d; ++a)
      for (int64_t b = 0; b < c.d; ++b) EXPECT_EQ(cov[size_t(a * c.d + b)], cov[size_t(b * c.d + a)]);
  }
}

TEST(Thresholds, RateCurveCallsScoresAboveTheThresholdAnomalous) {
  const auto c = rate_curve(kScores, kLabels);
  ASSERT_EQ(c.size(), 7u);
  EXPECT_DOUBLE_EQ(c[0].threshold, 1);
  EXPECT_DOUBLE_EQ(c[0].tpr, 1);
  EXPECT_DOUBLE_EQ(c[0].tnr, 0.25);
  EXPECT_DOUBLE_EQ(c[3].threshold, 3.5);  // 5 and 6 above it; 1..3 at or below
  EXPECT_DOUBLE_EQ(c[3].tpr, 2.0 / 3);
  EXPECT_DOUBLE_EQ(c[3].tnr, 0.75);
  EXPECT_DOUBLE_EQ(c.back().tpr, 0);
  EXPECT_DOUBLE_EQ(c.back().tnr, 1);
}

TEST(Thresholds, ReferenceRuleTakesTheQuantileOfThresholdsAtTprOne) {
  // TPR is 1 for thresholds 1, 2, 3 (3.5 is the lowest anomaly); 0.9 quantile: 1 + 0.9 * 2 = 2.8.
  const ThresholdChoice c = choose_threshold(kScores, kLabels, rule("tpr1_quantile", 0.9));
  EXPECT_DOUBLE_EQ(c.threshold, 2.8);
  EXPECT_TRUE(c.warning.empty());
  EXPECT_DOUBLE_EQ(choose_threshold(kScores, kLabels, rule("tpr1_quantile", 1)).threshold, 3);
  EXPECT_DOUBLE_EQ(choose_threshold(kScores, kLabels, rule("tpr1_quantile", 0)).threshold, 1);
}

TEST(Thresholds, ReferenceRuleWithTiesExcludesTheTiedScore) {
  // A normal image ties the lowest anomaly at 0.5: threshold 0.5 would miss that anomaly.
  const ThresholdChoice c = choose_threshold({0.1, 0.2, 0.5, 0.5, 0.6}, {0, 0, 0, 1, 1}, rule("tpr1_quantile", 0.9));
  EXPECT_NEAR(c.threshold, 0.19, 1e-12);  // thresholds 0.1 and 0.2
  EXPECT_TRUE(c.warning.empty());
  const Report r = make_report({0.1, 0.2, 0.5, 0.5, 0.6}, {0, 0, 0, 1, 1}, c.threshold, 0.5);
  EXPECT_DOUBLE_EQ(r.tpr, 1);
}

TEST(Thresholds, ReferenceRuleWhenNoThresholdGivesTprOne) {
  // The lowest score of all is an anomaly: no threshold calls it anomalous. The rule falls back to the
  // thresholds at the highest TPR reached (0.5: thresholds 0.05, 0.1, 0.2, 0.3) and says so.
  const ThresholdChoice c =
      choose_threshold({0.05, 0.1, 0.2, 0.3, 0.6}, {1, 0, 0, 0, 1}, rule("tpr1_quantile", 0.9));
  EXPECT_NEAR(c.threshold, 0.27, 1e-12);
  EXPECT_NE(c.warning.find("no validation threshold reaches TPR 1"), std::string::npos) << c.warning;
}

TEST(Thresholds, YoudenFprAndTprTargets) {
  // J: 0.25, 0.5, 0.75 (threshold 3), 0.42, 0.67, 0.33, 0
  EXPECT_DOUBLE_EQ(choose_threshold(kScores, kLabels, rule("youden", 0)).threshold, 3);
  EXPECT_DOUBLE_EQ(choose_threshold(kScores, kLabels, rule("fpr", 0.25)).threshold, 3);
  EXPECT_DOUBLE_EQ(choose_threshold(kScores, kLabels, rule("fpr", 0)).threshold, 4);
  EXPECT_DOUBLE_EQ(choose_threshold(kScores, kLabels, rule("tpr", 0.9)).threshold, 3);
  EXPECT_DOUBLE_EQ(choose_threshold(kScores, kLabels, rule("tpr", 0.6)).threshold, 4);
  // Youden ties go to the lowest threshold: normal 1 2, anomalous 1.5 3 -> J = 0.5 at 1 and at 2.
  EXPECT_DOUBLE_EQ(choose_threshold({1, 2, 1.5, 3}, {0, 0, 1, 1}, rule("youden", 0)).threshold, 1);
}

TEST(Thresholds, ScoreListsThatCannotChooseAreErrors) {
  EXPECT_NE(error_of([] { choose_threshold({1, 2}, {0, 0}, {}); }).find("needs normal and anomalous images"),
            std::string::npos);
  EXPECT_NE(error_of([] { choose_threshold({1, NAN}, {0, 1}, {}); }).find("non-finite"), std::string::npos);
  EXPECT_NE(error_of([] { choose_threshold({1, 2}, {0, 2}, {}); }).find("label 2"), std::string::npos);
  EXPECT_NE(error_of([] { choose_threshold({1, 2, 3}, {0, 1}, {}); }).find("3 scores for 2 labels"),
            std::string::npos);
}

TEST(Report, RatesPrecisionF1IntervalAndAveragePrecision) {
  const Report r = make_report(kScores, kLabels, 3, 0.7);
  EXPECT_EQ(r.normal, 4);
  EXPECT_EQ(r.anomalous, 3);
  EXPECT_DOUBLE_EQ(r.tpr, 1);
  EXPECT_DOUBLE_EQ(r.tnr, 0.75);
  EXPECT_DOUBLE_EQ(r.precision, 0.75);
  EXPECT_NEAR(r.f1, 2 * 0.75 / 1.75, 1e-12);
  // Both rates above 0.7 only at threshold 3.
  ASSERT_TRUE(r.has_interval);
  EXPECT_DOUBLE_EQ(r.interval_lo, 3);
  EXPECT_DOUBLE_EQ(r.interval_hi, 3);
  EXPECT_FALSE(make_report(kScores, kLabels, 3, 0.8).has_interval);
  // 11 of 12 normal-anomalous pairs ranked right.
  EXPECT_NEAR(r.auroc, 11.0 / 12, 1e-12);
  // Recall steps of 1/3 at precisions 1, 1, 3/4.
  EXPECT_NEAR(r.ap, (1 + 1 + 0.75) / 3, 1e-12);
  EXPECT_NEAR(average_precision({1, 2, 3}, {0, 1, 1}), 1, 1e-12);
}

TEST(Scores, ReconstructionErrorAndNegativeElboPerImage) {
  AutoencoderOptions o;
  o.variational = true;
  o.input_shape = {1, 6, 5};
  o.widths = {16};
  o.latent = 3;
  Autoencoder vae(o);
  std::vector<Image> images;
  for (int i = 0; i < 5; ++i) {  // 5 images, scored in batches of 2 (a partial last batch)
    const Tensor t = Tensor::rand({1, 6, 5});
    images.push_back(Image{1, 6, 5, t.to_vector<float>()});
  }
  ScoreOptions mean_mse, sum_l1, elbo;
  sum_l1.error = "l1";
  sum_l1.reduce = "sum";
  elbo.vae = "elbo";
  std::vector<Image> recon;
  const auto s_mean = score_images(vae, images, mean_mse, {}, 2, &recon);
  const auto s_l1 = score_images(vae, images, sum_l1, {}, 2);
  const auto s_elbo = score_images(vae, images, elbo, {}, 2);
  ASSERT_EQ(s_mean.size(), 5u);
  ASSERT_EQ(recon.size(), 5u);
  NoGradGuard no_grad;
  vae.eval();
  for (size_t i = 0; i < images.size(); ++i) {
    const Tensor x = Tensor::from_vector(images[i].data, {1, 1, 6, 5});
    const Autoencoder::Output out = vae.run(x);
    const double se = mse_loss(out.reconstruction, x, Reduction::sum).item<float>();
    const double ae = l1_loss(out.reconstruction, x, Reduction::sum).item<float>();
    const double kl = gaussian_kl(out.mean, out.logvar, Reduction::sum).item<float>();
    EXPECT_NEAR(s_mean[i], se / 30, 1e-6) << i;
    EXPECT_NEAR(s_l1[i], ae, 1e-5) << i;
    EXPECT_NEAR(s_elbo[i], se + kl, 1e-5) << i;
    // The same reconstruction as the model's, image by image. Not bit for bit: a batch of one goes through
    // Eigen's matrix-vector product and a batch of two through its matrix-matrix product, which round
    // differently in the last bit on some CPUs (AVX-512); a wrong image or order would differ by ~0.1.
    const std::vector<float> want = out.reconstruction.to_vector<float>();
    ASSERT_EQ(recon[i].data.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(recon[i].data[k], want[k], 1e-6) << i << ", " << k;
  }
  const auto one_batch = score_images(vae, images, mean_mse, {}, 256);
  for (size_t i = 0; i < images.size(); ++i) EXPECT_NEAR(one_batch[i], s_mean[i], 1e-7) << "batch size changed image " << i;
}

namespace {

// A 1 x 5 x 5 image with no symmetry: each of the eight rotations / flips gives a different image.
Tensor asymmetric_image() {
  std::vector<float> v(25, 0);
  for (int i : {0, 1, 2, 3, 5, 6, 10}) v[size_t(i)] = 1;  // a mark in one corner, longer along the top
  return Tensor::from_vector(v, {1, 1, 5, 5});
}

// A small dense autoencoder's options: one hidden width, a latent, a transform head of `head` channels (0: none).
AutoencoderOptions dense_options(Shape input, int64_t width, int64_t latent, int64_t head) {
  AutoencoderOptions o;
  o.input_shape = std::move(input);
  o.widths = {width};
  o.latent = latent;
  o.transform_head = head;
  return o;
}

}  // namespace

TEST(TransformHead, EightTransformsAreTheRotationsAndFlips) {
  const Tensor x = asymmetric_image();
  const std::vector<float> v = x.to_vector<float>();
  const auto at = [](const std::vector<float>& img, int y, int c) { return img[size_t(y * 5 + c)]; };
  // t = 1: a quarter turn counter-clockwise, out[y][c] = in[c][4 - y]; t = 4: a left-right flip.
  const std::vector<float> q = Autoencoder::geometric_transform(x, 1).to_vector<float>();
  const std::vector<float> f = Autoencoder::geometric_transform(x, 4).to_vector<float>();
  for (int y = 0; y < 5; ++y)
    for (int c = 0; c < 5; ++c) {
      EXPECT_EQ(at(q, y, c), at(v, c, 4 - y)) << y << ", " << c;
      EXPECT_EQ(at(f, y, c), at(v, y, 4 - c)) << y << ", " << c;
    }
  std::vector<std::vector<float>> seen;
  for (int64_t t = 0; t < Autoencoder::kTransforms; ++t) {
    const std::vector<float> y = Autoencoder::geometric_transform(x, t).to_vector<float>();
    for (const auto& s : seen) EXPECT_NE(s, y) << "transform " << t << " repeats an earlier one";
    seen.push_back(y);
  }
  EXPECT_EQ(seen[0], v);
  // Two quarter turns are t = 2; t = 5 is the flip then a quarter turn.
  EXPECT_EQ(Autoencoder::geometric_transform(Autoencoder::geometric_transform(x, 1), 1).to_vector<float>(), seen[2]);
  EXPECT_EQ(Autoencoder::geometric_transform(Autoencoder::geometric_transform(x, 4), 1).to_vector<float>(), seen[5]);
}

TEST(TransformHead, TrainingBatchesSeeEveryTransformEquallyOften) {
  AutoencoderOptions o = dense_options({1, 8, 8}, 16, 4, 2);
  Autoencoder m(o);
  const Tensor x = Tensor::rand({16, 1, 8, 8});
  for (int64_t per : {1, 2, 4, 8}) {
    const Autoencoder::TransformBatch b = m.transform_batch(x, per);
    EXPECT_EQ(b.logits.shape(), (Shape{16 * per, 8})) << per;
    std::vector<int64_t> count(8, 0);
    for (int64_t t : b.target.to_vector<int64_t>()) ++count[size_t(t)];
    for (int64_t t = 0; t < 8; ++t) EXPECT_EQ(count[size_t(t)], 2 * per) << "per image " << per << ", transform " << t;
  }
  EXPECT_NE(error_of([&] { m.transform_batch(x, 3); }).find("1, 2, 4 or 8"), std::string::npos);
  o.input_shape = {1, 8, 12};
  EXPECT_NE(error_of([&] { Autoencoder bad(o); }).find("needs square inputs"), std::string::npos);
}

// Whatever its weights, the head cannot tell the transforms of an image that all eight leave unchanged apart,
// so such an image scores at least log 8; trained on an asymmetric mark, the head scores the mark far lower.
TEST(TransformHead, LearnsTheOrientationOfNormalImages) {
  AutoencoderOptions o = dense_options({1, 5, 5}, 8, 2, 4);
  Autoencoder m(o);
  std::vector<float> sym(25, 0);
  for (int i : {6, 7, 8, 11, 13, 16, 17, 18}) sym[size_t(i)] = 1;  // a ring: every transform keeps it
  const Tensor ring = Tensor::from_vector(sym, {1, 1, 5, 5});
  m.eval();
  EXPECT_GE(m.transform_nll(ring).item<float>(), std::log(8.0) - 1e-5);
  m.train();
  Adam opt;
  opt.add_group(ParamGroup{"all", m.named_parameters(), 0.01, 0});
  const Tensor batch = cat({asymmetric_image(), asymmetric_image(), asymmetric_image(), asymmetric_image()}, 0);
  for (int step = 0; step < 150; ++step) {
    const Autoencoder::TransformBatch b = m.transform_batch(batch, 8);
    Tensor loss = cross_entropy(b.logits, b.target);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  m.eval();
  NoGradGuard no_grad;
  EXPECT_LT(m.transform_nll(asymmetric_image()).item<float>(), 0.3);
  EXPECT_GE(m.transform_nll(ring).item<float>(), std::log(8.0) - 1e-5);
}

// The latent term is the Mahalanobis distance from the training codes' Gaussian; several terms add after
// standardising on the validation normal images, so there each has mean 0 and standard deviation 1.
TEST(Scores, CombinedTermsAreStandardisedOnValidationNormals) {
  AutoencoderOptions o = dense_options({1, 8, 8}, 16, 3, 2);
  Autoencoder m(o);
  const auto images = [](int n, int64_t label) {
    ImageSet s;
    for (int i = 0; i < n; ++i) s.add(Image{1, 8, 8, Tensor::rand({1, 8, 8}).to_vector<float>()}, label, "");
    return s;
  };
  const ImageSet train = images(40, 0);
  ImageSet val = images(30, 0);
  for (Image& img : images(10, 1).images) val.add(std::move(img), 1, "");
  ScoreOptions so;
  so.terms = {"error", "latent", "transforms"};
  ScoreCalibration c = fit_latent(m, train, so);
  const std::vector<std::vector<double>> raw = term_values(m, val.images, so, c);
  fit_term_spread(c, raw, val.labels, so);
  ASSERT_EQ(c.term_mean.size(), 3u);

  // The latent Gaussian: the mean of the training codes and a whitening L whose L L^T inverts their covariance
  // (with its small ridge, 1e-3 of the mean variance); the term is (z - mean)^T L L^T (z - mean).
  ScoreOptions latent_only;
  latent_only.terms = {"latent"};
  {
    NoGradGuard no_grad;
    m.eval();
    const std::vector<float> codes = m.run(stack_images(train.images, 0, train.size())).mean.to_vector<float>();
    const std::vector<float> mu = c.latent_mean.to_vector<float>(), l = c.latent_whitening.to_vector<float>();
    double mean[3] = {0, 0, 0}, cov[3][3] = {}, trace = 0;
    for (int i = 0; i < 40; ++i)
      for (int a = 0; a < 3; ++a) mean[a] += codes[size_t(i * 3 + a)] / 40;
    for (int a = 0; a < 3; ++a) EXPECT_NEAR(mu[size_t(a)], mean[a], 1e-5);
    // The codes' covariance as fit_latent shrinks it (shrunk_covariance, checked against scikit-learn above), with
    // its small ridge.
    const std::vector<double> shrunk = shrunk_covariance(std::vector<double>(codes.begin(), codes.end()), 40, 3).cov;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) cov[a][b] = shrunk[size_t(a * 3 + b)];
    for (int a = 0; a < 3; ++a) trace += cov[a][a];
    for (int a = 0; a < 3; ++a) cov[a][a] += 1e-3 * trace / 3;
    double p[3][3] = {};  // L L^T
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        for (int k = 0; k < 3; ++k) p[a][b] += double(l[size_t(a * 3 + k)]) * l[size_t(b * 3 + k)];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        double id = 0;  // (L L^T) cov = I
        for (int k = 0; k < 3; ++k) id += p[a][k] * cov[k][b];
        EXPECT_NEAR(id, a == b ? 1 : 0, 1e-3) << a << ", " << b;
      }
    const std::vector<float> z = m.run(stack_images(val.images, 0, 1)).mean.to_vector<float>();
    double q = 0;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) q += (z[size_t(a)] - mean[a]) * p[a][b] * (z[size_t(b)] - mean[b]);
    EXPECT_NEAR(raw[1][0], q, 1e-3 * std::max(1.0, q));
    // The same images as term_values saw, so that the network's sums round alike (a batch of another size may
    // block them differently).
    EXPECT_NEAR(score_images(m, val.images, latent_only, c)[0], raw[1][0], 1e-6 * std::max(1.0, q));
  }
  // Standardised on the normals of validation: mean 0 and sd 1 per term, the score their sum.
  const std::vector<double> score = score_images(m, val.images, so, c);
  for (size_t j = 0; j < 3; ++j) {
    double mean = 0, ss = 0;
    std::vector<double> z;
    for (size_t i = 0; i < 30; ++i) z.push_back(((j < 2 ? std::log(raw[j][i] + 1e-12) : raw[j][i]) - c.term_mean[j]) / c.term_sd[j]);
    for (double v : z) mean += v / 30;
    for (double v : z) ss += (v - mean) * (v - mean);
    EXPECT_NEAR(mean, 0, 1e-6) << so.terms[j];
    EXPECT_NEAR(std::sqrt(ss / 29), 1, 1e-6) << so.terms[j];
  }
  for (size_t i = 0; i < val.size(); ++i) {
    double sum = 0;
    for (size_t j = 0; j < 3; ++j) sum += ((j < 2 ? std::log(raw[j][i] + 1e-12) : raw[j][i]) - c.term_mean[j]) / c.term_sd[j];
    EXPECT_NEAR(score[i], sum, 1e-9) << i;
  }
  // The graph's score (as exported) is the same sum in float32 strata ops: within the rounding of each term's
  // float value (a few units of 2^-24 of its size) magnified by 1 / sd. An untrained head leaves the transform
  // term nearly constant, so its sd is small and magnifies most.
  {
    NoGradGuard no_grad;
    const Tensor x = stack_images(val.images, 0, val.size());
    const std::vector<float> g = anomaly_scores(m, m.run(x), x, so, c).to_vector<float>();
    for (size_t i = 0; i < val.size(); ++i) {
      double tol = 1e-6;
      for (size_t j = 0; j < 3; ++j) {
        const double v = j < 2 ? std::log(raw[j][i] + 1e-12) : raw[j][i];
        tol += 8 * std::ldexp(std::max(1.0, std::fabs(v)), -24) / c.term_sd[j];
      }
      EXPECT_NEAR(g[i], score[i], tol) << i;
    }
  }
  // Saved and loaded with the checkpoint; a checkpoint without them names what is missing.
  Checkpoint ck;
  c.save(ck);
  const ScoreCalibration back = ScoreCalibration::load(ck, so);
  ASSERT_EQ(back.term_mean.size(), 3u);
  EXPECT_EQ(back.term_mean, c.term_mean);  // every digit: a loaded model scores as in training
  EXPECT_EQ(back.term_sd, c.term_sd);
  EXPECT_EQ(back.latent_whitening.to_vector<float>(), c.latent_whitening.to_vector<float>());
  EXPECT_NE(error_of([&] { ScoreCalibration::load(Checkpoint{}, so); }).find("anomaly.latent_mean"), std::string::npos);
}

TEST(Scores, TermsConfigNamesWhatIsWrong) {
  const auto terms = [](const std::string& list) {
    return ScoreOptions::from_config(Config::parse("terms: " + list + "\n"));
  };
  EXPECT_EQ(terms("[error]").combined(), false);
  EXPECT_EQ(terms("[error, transforms]").combined(), true);
  EXPECT_NE(error_of([&] { terms("[error, shape]"); }).find("'shape' is not a term"), std::string::npos);
  EXPECT_NE(error_of([&] { terms("[latent, latent]"); }).find("named twice"), std::string::npos);
  EXPECT_NE(error_of([&] { terms("[]"); }).find("at least one term"), std::string::npos);
  Autoencoder plain(dense_options({1, 8, 8}, 16, 3, 0));
  std::vector<Image> one{Image{1, 8, 8, std::vector<float>(64, 0.5f)}};
  EXPECT_NE(error_of([&] { score_images(plain, one, terms("[transforms]"), {}); }).find("model.transform_head"),
            std::string::npos);
}

TEST(Idx, ReadsPlainAndGzipAndNamesWhatIsWrong) {
  const fs::path dir = fs::temp_directory_path() / ("strata_idx_" + std::to_string(getpid()));
  fs::create_directories(dir);
  IdxArray a{{3, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}};
  write_idx((dir / "a.idx").string(), a);
  const IdxArray b = read_idx((dir / "a.idx").string());
  EXPECT_EQ(b.dims, a.dims);
  EXPECT_EQ(b.data, a.data);
  {  // the same bytes gzip-compressed
    std::ifstream in(dir / "a.idx", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    gzFile gz = gzopen((dir / "a.idx.gz").string().c_str(), "wb");
    gzwrite(gz, bytes.data(), unsigned(bytes.size()));
    gzclose(gz);
    EXPECT_EQ(read_idx((dir / "a.idx.gz").string()).data, a.data);
    // A truncated gzip stream.
    std::ifstream gin(dir / "a.idx.gz", std::ios::binary);
    const std::string gzb((std::istreambuf_iterator<char>(gin)), {});
    std::ofstream(dir / "cut.idx.gz", std::ios::binary).write(gzb.data(), std::streamsize(gzb.size() / 2));
    EXPECT_NE(error_of([&] { read_idx((dir / "cut.idx.gz").string()); }).find("cut.idx.gz"), std::string::npos);
  }
  {  // truncated: the header promises 12 bytes, 7 follow
    std::ifstream in(dir / "a.idx", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    bytes.resize(bytes.size() - 5);
    std::ofstream(dir / "short.idx", std::ios::binary) << bytes;
    const std::string e = error_of([&] { read_idx((dir / "short.idx").string()); });
    EXPECT_NE(e.find("short.idx: truncated: the header promises 12 bytes of data (3 x 2 x 2), the file holds 7"),
              std::string::npos)
        << e;
    std::ofstream(dir / "long.idx", std::ios::binary) << bytes << "0123456789";
    EXPECT_NE(error_of([&] { read_idx((dir / "long.idx").string()); }).find("bytes after the data"),
              std::string::npos);
  }
  std::ofstream(dir / "text.idx") << "hello, world";
  EXPECT_NE(error_of([&] { read_idx((dir / "text.idx").string()); }).find("not an IDX file"), std::string::npos);
  std::ofstream(dir / "float.idx", std::ios::binary).write("\0\0\x0d\x01\0\0\0\x01\0\0\0\0", 12);
  EXPECT_NE(error_of([&] { read_idx((dir / "float.idx").string()); }).find("element type 13 is not supported"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_idx((dir / "absent.idx").string()); }).find("absent.idx"), std::string::npos);
  fs::remove_all(dir);
}

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double report_value(const fs::path& csv, const std::string& key) {
  std::istringstream in(read_text(csv));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ",", 0) == 0) return std::stod(line.substr(key.size() + 1));
  return NAN;
}

}  // namespace

TEST(AnomalyApp, TinyFolderSetEndToEnd) {
  const fs::path dir = fs::temp_directory_path() / ("strata_anomaly_e2e_" + std::to_string(getpid()));
  fs::remove_all(dir);
  strata::test::write_anomaly_set(dir / "set");
  std::ofstream(dir / "cfg.yaml") << strata::test::anomaly_set_config(dir / "set");
  const std::string bin = std::string(STRATA_BIN_DIR) + "/strata-anomaly";
  const fs::path run_dir = dir / "run";
  ASSERT_EQ(run(bin + " train --config " + (dir / "cfg.yaml").string() + " --out " + run_dir.string() + " > " +
                (dir / "train.log").string() + " 2>&1"),
            0)
      << read_text(dir / "train.log");
  // A bright square is easy to see in the reconstruction error: the test AUROC is high.
  const double auroc = report_value(run_dir / "test" / "report.csv", "auroc");
  EXPECT_GE(auroc, 0.9) << read_text(run_dir / "test" / "report.csv");
  for (const char* f : {"test/rates.png", "test/roc.png", "test/scores.png", "test/panels.png", "test/rules.csv",
                        "val/report.csv", "loss.png", "metrics.csv"})
    EXPECT_TRUE(fs::is_regular_file(run_dir / f)) << f;

  // eval on the test folder at the stored threshold gives the training report's rates.
  const std::string ckpt = (run_dir / "best.safetensors").string();
  ASSERT_EQ(run(bin + " eval --checkpoint " + ckpt + " --data " + (dir / "set" / "test").string() + " --out " +
                (dir / "eval").string() + " > " + (dir / "eval.log").string() + " 2>&1"),
            0)
      << read_text(dir / "eval.log");
  for (const char* k : {"tpr", "tnr", "auroc", "threshold"})
    EXPECT_NEAR(report_value(dir / "eval" / "report.csv", k), report_value(run_dir / "test" / "report.csv", k), 1e-6)
        << k;

  // The threshold belongs to the trained score: an override that changes the score is an error.
  EXPECT_NE(run(bin + " eval --checkpoint " + ckpt + " --data " + (dir / "set" / "test").string() + " --out " +
                (dir / "eval_l1").string() + " score.error=l1 > " + (dir / "changed.log").string() + " 2>&1"),
            0);
  EXPECT_NE(read_text(dir / "changed.log").find("the threshold was chosen for the score"), std::string::npos)
      << read_text(dir / "changed.log");

  // predict: a folder (recursive) and a single file; anomaly = score above the stored threshold.
  const double threshold = report_value(run_dir / "test" / "report.csv", "threshold");
  ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (dir / "set" / "test").string() +
                " --output " + (dir / "scores.csv").string() + " > " + (dir / "predict.log").string() + " 2>&1"),
            0)
      << read_text(dir / "predict.log");
  std::istringstream rows(read_text(dir / "scores.csv"));
  std::string line;
  std::getline(rows, line);
  EXPECT_EQ(line, "file,score,anomaly");
  int n = 0, flagged_anomalous = 0;
  while (std::getline(rows, line)) {
    ++n;
    const size_t a = line.find(','), b = line.rfind(',');
    const double score = std::stod(line.substr(a + 1, b - a - 1));
    const int anomaly = std::stoi(line.substr(b + 1));
    EXPECT_EQ(anomaly, score > threshold ? 1 : 0) << line;
    if (line.find("/anomalous/") != std::string::npos) flagged_anomalous += anomaly;
  }
  EXPECT_EQ(n, 16);
  EXPECT_GE(flagged_anomalous, 6) << "most squares should be flagged";
  const std::string one = (dir / "set" / "test" / "anomalous" / "0.png").string();
  ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + one + " --output " +
                (dir / "one.csv").string() + " > /dev/null 2>&1"),
            0);
  const std::string text = read_text(dir / "one.csv");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_NE(text.find(one + ","), std::string::npos) << text;
  if (!std::getenv("STRATA_KEEP_TEST_FILES")) fs::remove_all(dir);
}

// The shipped Fashion-MNIST config, reduced (a sample of each set, 2 epochs): the IDX path, the
// one-class split and the report run on the real files; trousers (class 1) are easy to tell apart.
TEST(AnomalyApp, FashionMnistConfigRunsReduced) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "SKIPPED LOUDLY: /usr/share/datasets/fashion-mnist absent (apt-get install dataset-fashion-mnist, "
                    "or scripts/install_deps.sh)";
  const fs::path dir = fs::temp_directory_path() / ("strata_anomaly_fmnist_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string bin = std::string(STRATA_BIN_DIR) + "/strata-anomaly";
  const std::string cfg = std::string(STRATA_SOURCE_DIR) + "/configs/anomaly_fmnist_convae_dense.yaml";
  ASSERT_EQ(run(bin + " train --config " + cfg + " --out " + (dir / "run").string() +
                " data.normal_class=1 data.limit_train=1000 data.limit_val=1000 data.limit_test=2000 train.epochs=2"
                " train.progress=false > " + (dir / "train.log").string() + " 2>&1"),
            0)
      << read_text(dir / "train.log");
  const std::string log = read_text(dir / "train.log");
  EXPECT_NE(log.find("1000 normal training, 1000 validation"), std::string::npos) << log;
  EXPECT_GE(report_value(dir / "run" / "test" / "report.csv", "auroc"), 0.9) << log;
  EXPECT_EQ(report_value(dir / "run" / "test" / "report.csv", "normal") +
                report_value(dir / "run" / "test" / "report.csv", "anomalous"),
            2000);
  if (!std::getenv("STRATA_KEEP_TEST_FILES")) fs::remove_all(dir);
}
