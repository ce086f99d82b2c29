// Facies segmentation training with the adversarial semi-supervised scheme of
// Hung et al. 2018 ("Adversarial Learning for Semi-Supervised Semantic
// Segmentation", arXiv 1802.07934), in one dimension (depth).
//
// Segmentation network S (a 1-D U-Net from `model:`), discriminator D (the
// fully convolutional 1-D discriminator from `discriminator.model:`). Per step,
// with a batch of labelled windows (x_l, y_l) and, in `semi` mode, a batch of
// unlabelled windows x_u:
//
//   L_S = CE(S(x_l), y_l)                                          always
//       + lambda_adv      * BCE(D(softmax S(x_l)), 1)              adversarial, semi
//       + lambda_semi_adv * BCE(D(softmax S(x_u)), 1)              semi
//       + lambda_semi     * CE(S(x_u), argmax S(x_u)) on samples
//                           where sigmoid(D(softmax S(x_u))) > T_semi,
//                           from step semi_start on                 semi
//         (train.semi_targets: clean takes the argmax and D's confidence from a
//          clean teacher pass instead; train.semi_confidence: softmax gates by
//          the targets' top class probability instead of D, see HungOptions)
//       + lambda_consistency * r(t) * |softmax S(x_u~) - softmax T(x_u)|^2
//                           (x_u~: x_u with input noise and curve dropout;
//                           T: the clean teacher; r: a ramp from 0 to 1 over
//                           consistency_rampup steps)                     semi
//   L_D = BCE(D(softmax S(x).detached), 0) / 2 + BCE(D(onehot y_l), 1) / 2
//         (x: the labelled and, in semi mode, the unlabelled windows)
//
// D is frozen while L_S flows through it; it has its own optimizer (Adam,
// lr 1e-4, betas 0.9 / 0.99, poly schedule by default). Padding of windows
// cut from short wells and unknown labels are masked out of every term.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "apps/common/metrics.h"
#include "apps/common/trainer.h"
#include "apps/welllog/wells.h"
#include "layers/module.h"
#include "layers/optimizer.h"
#include "layers/weight_average.h"

namespace strata::welllog {

struct HungOptions {
  std::string mode = "supervised";  // supervised | adversarial | semi
  double lambda_adv = 0.01, lambda_semi = 0.1, t_semi = 0.2, lambda_semi_adv = 0.001;
  int64_t semi_start = 0;  // first optimisation step that uses the semi CE term
  // Where the semi CE term's targets and D's confidence come from:
  //   self:  the trained prediction S(x_u) itself (the paper);
  //   clean: a teacher pass without input noise, curve dropout or network
  //          dropout (the weight average when train.ema is set, else S in
  //          eval mode), while S learns from the windows with noise and curve
  //          dropout, so the term asks for predictions consistent under them.
  std::string semi_targets = "self";
  // What decides that a pseudo-label is trusted (above t_semi):
  //   discriminator: D's confidence that the prediction looks like a label map (the paper);
  //   softmax:       the targets' own top class probability (as FixMatch gates its pseudo-labels).
  std::string semi_confidence = "discriminator";
  // Soft consistency (as the mean teacher of Tarvainen and Valpola 2017): the
  // squared distance between S's class probabilities on the unlabelled windows
  // with noise and curve dropout and the clean teacher's on the same windows
  // (the teacher as for semi_targets: clean), summed over classes, averaged
  // over samples, weighted by lambda_consistency x exp(-5 (1 - t)^2) with t the
  // share of consistency_rampup steps done (1 after them).
  double lambda_consistency = 0;
  int64_t consistency_rampup = 0;
  static HungOptions from_config(const Config& train);
};

struct WindowOptions {
  int64_t window = 64, stride = 16;  // training windows
  int64_t batch = 16;
  bool jitter = true;  // shift every window by a random offset < stride each epoch
  double input_noise = 0;  // std of Gaussian noise added to the (normalised) training input
  // Probability that a training window loses each curve that has a missing
  // indicator (data.missing.indicator): the curve is filled as for a well
  // without it and its indicator set, so the network learns to do without.
  double curve_dropout = 0;
  // Depth stretch: each training window covers between 1 / (1 + stretch) and
  // (1 + stretch) times its length of the well (log-uniform), resampled to the
  // window length (curves linearly, labels nearest), as beds of one facies
  // are thicker in one well than in another.
  double stretch = 0;
};

// Builds S and D from the config, owns their optimizers and draws batches.
// Random choices (window order, jitter, unlabelled batches) are functions of
// (seed, epoch, batch), so the Trainer's resume is exact.
class FaciesTrainer {
 public:
  // `root`: the whole run config (model, discriminator, optimizer, train
  // sections). `labelled` must hold labels; the labels of `unlabelled` are
  // never read (prepare() them from wells without codes). `mode`, when not
  // empty, replaces train.mode (cross-validation compares modes).
  // `member`: which member of a train.ensemble this network is (model.init_from starts it from that member).
  FaciesTrainer(const Config& root, const Preprocessing& pre, std::vector<Sample> labelled,
                std::vector<Sample> unlabelled, int64_t epochs, uint64_t seed, const std::string& mode = "",
                int64_t member = 0);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  StepResult step(int64_t epoch, int64_t batch);
  // The labelled windows of (epoch, batch) as step() trains on them, before
  // input noise: x (batch, channels, window), y (batch, window; -100 where
  // unknown or padded), valid (batch, 1, window). Curve dropout is applied.
  void labelled_batch(int64_t epoch, int64_t batch, Tensor& x, Tensor& y, Tensor& valid) const;
  // The model that predicts: the exponential moving average of the weights
  // when train.ema is set, the trained weights otherwise.
  Module& model() { return average_ ? average_->model() : *model_; }
  // The weights the optimizer updates.
  Module& trained_model() { return *model_; }
  // Where the networks train (train.device): batches are built on the host and moved there.
  Device device() const { return device_; }
  const HungOptions& hung() const { return hung_; }
  void save(Checkpoint& ck) const;
  void load(const Checkpoint& ck);

  // The last step's loss terms (for logging and tests).
  struct Terms {
    double ce = 0, adv = 0, semi_adv = 0, semi = 0, consistency = 0, d = 0;
    int64_t confident = 0;  // unlabelled samples that passed T_semi
  };
  const Terms& last_terms() const { return terms_; }

 private:
  struct Window {
    size_t sample;
    int64_t start;
  };
  // Shifts a window by a random offset of at most stride / 2 (data.jitter).
  Window jittered(const std::vector<Sample>& set, Window wdw, std::mt19937_64& r) const;
  // `drop` / `stretch`: when given, draw the curve dropout / depth stretch of
  // every window.
  void batch_tensors(const std::vector<Sample>& set, const std::vector<Window>& windows, Tensor& x, Tensor& y,
                     Tensor& valid, std::mt19937_64* drop = nullptr, std::mt19937_64* stretch = nullptr) const;
  // Window `start` of `s` read over `scale` times the window length, written
  // to x (channels x window), y and valid (window); samples beyond the well stay
  // as they are (zero, -100, 0).
  void resample_window(const Sample& s, int64_t start, double scale, float* x, int64_t* y, float* valid) const;

  Preprocessing pre_;
  HungOptions hung_;
  WindowOptions win_;
  std::vector<Sample> labelled_, unlabelled_;
  std::vector<Window> windows_l_, windows_u_;

  ModulePtr model_, disc_;
  std::unique_ptr<WeightAverage> average_;  // train.ema > 0: the weight average, else null
  std::unique_ptr<Optimizer> opt_, opt_d_;
  Tensor class_weight_;
  Device device_ = Device::cpu();
  double clip_ = 0;
  uint64_t seed_;
  int64_t steps_per_epoch_ = 1;
  bool fixed_steps_ = false;  // train.steps_per_epoch set: batches cycle through the labelled windows
  Terms terms_;
};

// Class probabilities (classes x length, row-major) of one prepared well.
// window > 0: windows of that length every `stride` samples, each weighted by
// a triangular taper (highest in its middle) and averaged where they overlap;
// window 0 (or a well no longer than the window): the whole well at once.
std::vector<float> predict_probs(Module& model, const Sample& s, int64_t classes, int64_t window, int64_t stride);
std::vector<int64_t> argmax_classes(const std::vector<float>& probs, int64_t classes, int64_t length);

// The mean of predict_probs over the members of an ensemble.
std::vector<float> predict_probs(const std::vector<Module*>& ensemble, const Sample& s, int64_t classes,
                                 int64_t window, int64_t stride);

// Predicts every sample and counts it against the known labels.
ConfusionMatrix evaluate(Module& model, const std::vector<Sample>& samples, int64_t classes, int64_t window,
                         int64_t stride, std::vector<std::vector<int64_t>>* predictions = nullptr);
ConfusionMatrix evaluate(const std::vector<Module*>& ensemble, const std::vector<Sample>& samples, int64_t classes,
                         int64_t window, int64_t stride, std::vector<std::vector<int64_t>>* predictions = nullptr);

// The SEG 2016 contest's adjacent facies (by label code 1..9).
std::vector<std::vector<int64_t>> seg2016_adjacent_codes();
// Adjacency by class index from `data.adjacent` (a map code -> list of codes);
// empty when the config has none.
std::vector<std::vector<int64_t>> adjacent_classes(const Config& data, const Preprocessing& pre);

}  // namespace strata::welllog
