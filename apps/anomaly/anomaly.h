// Anomaly detection with autoencoders trained on normal images only: data,
// training loss, anomaly scores, threshold rules and the test report of
// strata-anomaly. See docs/anomaly.md.
//
// Labels: 1 = anomalous (the positive class), 0 = normal. An image is called
// anomalous when its score is strictly above the threshold, so the candidate
// thresholds are the distinct scores of a set: each candidate t calls the
// scores > t anomalous.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/image_io.h"
#include "apps/common/transforms.h"
#include "config/config.h"
#include "layers/checkpoint.h"
#include "models/autoencoder.h"

namespace strata::anomaly {

// Images in memory (C, H, W in [0, 1], all one size) with their labels and names.
struct ImageSet {
  std::vector<Image> images;
  std::vector<int64_t> labels;     // 0 normal, 1 anomalous
  std::vector<std::string> names;  // file path, or "fashion-mnist test #123 (class 4)"
  size_t size() const { return images.size(); }
  int64_t count(int64_t label) const;
  void add(Image img, int64_t label, std::string name);
};

// data.source fmnist: Fashion-MNIST one-class (data.root, data.normal_class,
// data.val_fraction, data.split_seed): train = class K of the training images
// not held out; val = the held-out part, every class; test = the official
// test set. data.source folders: data.train (normal images; or its normal/
// subfolder), data.val and data.test (normal/ and anomalous/ subfolders),
// read recursively, resized to data.size. data.limit_{train,val,test} cap a
// set by a seeded sample (0: all), for reduced runs.
class AnomalyData {
 public:
  // input: the model's (C, H, W).
  AnomalyData(const Config& data, const Shape& input);
  // The images of a folder with normal/ and anomalous/ subfolders, read
  // recursively and resized to the model's input (C, H, W) (eval --data).
  static ImageSet labelled_folder(const std::string& folder, const Shape& input);
  // One image file, decoded to C channels and resized to H x W.
  static Image load_image(const std::string& path, const Shape& input);
  // A training sample: the stored image, augmented when rng is given.
  Image sample(const Image& img, std::mt19937_64* rng) const;

  const ImageSet& train() const { return train_; }
  const ImageSet& val() const { return val_; }
  const ImageSet& test() const { return test_; }
  const std::string& source() const { return source_; }
  std::string describe() const;

  // The (C, H, W) a data section gives images, for the model's input_shape:
  // fmnist (1, 28, 28); folders (data.channels, data.size).
  static Shape input_shape(const Config& data);

 private:
  ImageSet read_fmnist_split(bool train_file, int64_t normal_class) const;
  std::string source_, root_;
  Shape input_;
  TransformOptions tf_;
  ImageSet train_, val_, test_;
};

// The training objective: reconstruction error summed over an image's pixels
// (mse | l1 | bce) and averaged over the batch, plus kl_weight x KL for a VAE
// (the negative ELBO when kl_weight = 1).
struct LossOptions {
  std::string reconstruction = "mse";
  double kl_weight = 1;
  int64_t transforms_per_image = 2;  // of the eight, for the transform head's cross-entropy (1, 2, 4, 8)
  static LossOptions from_config(const Config& loss);
};
Tensor autoencoder_loss(const Autoencoder::Output& out, const Tensor& x, const LossOptions& o);
// A training batch's loss: autoencoder_loss, plus the transform head's cross-entropy over
// o.transforms_per_image of the eight rotations / flips of every image when the model has one (its weights are its own, so the two parts do not
// compete).
Tensor training_loss(Autoencoder& model, const Tensor& x, const LossOptions& o);

// The anomaly score of an image. Its terms (score.terms, default [error]):
//   error       the reconstruction error (mse | l1) averaged or summed over pixels; for a VAE optionally the
//               negative ELBO (summed error, squared or absolute as `error`, plus the KL of the encoder)
//   latent      the Mahalanobis distance of the image's code from a Gaussian fitted to the training images'
//               codes (squared; dense latents)
//   transforms  the transform head's mean negative log-likelihood of the right rotation / flip
// One term is the score as it is. Several are added after each is standardised: the error and the latent
// distance as logarithms, every term shifted and scaled by its mean and standard deviation over the
// validation set's normal images, so each counts alike. Stored in the checkpoint with the threshold.
struct ScoreOptions {
  std::string error = "mse";            // mse | l1
  std::string reduce = "mean";          // mean | sum
  std::string vae = "reconstruction";   // reconstruction | elbo
  std::vector<std::string> terms{"error"};
  static ScoreOptions from_config(const Config& score);
  std::string describe() const;
  bool combined() const { return terms.size() > 1; }
  bool uses(const std::string& term) const;
};

// What a score needs beyond the model, fitted after training (fit_latent, fit_term_spread): the training codes' Gaussian (for
// the latent term) and each term's mean and standard deviation over the validation normal images (to add
// several terms). Saved in the checkpoint: tensors anomaly.latent_mean and latent_whitening, entries anomaly.term_mean and
// term_sd (all digits).
// The mean and covariance (dim x dim, row-major, 1/n) of n rows of dim values, the covariance shrunk towards
// (trace / dim) I by the Ledoit-Wolf intensity (Ledoit and Wolf 2004, as scikit-learn's LedoitWolf): near 0 with
// many rows per dimension, towards 1 with few, where the sample covariance's small eigenvalues are noise.
struct ShrunkCovariance {
  std::vector<double> mean, cov;
  double shrinkage = 0;
};
ShrunkCovariance shrunk_covariance(const std::vector<double>& rows, int64_t n, int64_t dim);

struct ScoreCalibration {
  Tensor latent_mean;        // (1, latent)
  Tensor latent_whitening;   // (latent, latent): W with W W^T the inverse covariance (shrunk towards its
                             // diagonal), so the distance is |(z - mean) W|^2, a sum of squares
  std::vector<double> term_mean, term_sd;  // per term, in ScoreOptions::terms order (combined scores)
  void save(Checkpoint& ck) const;
  // Reads what `o` needs from `ck`; an error naming the file when an entry is missing.
  static ScoreCalibration load(const Checkpoint& ck, const ScoreOptions& o);
};

// Images [begin, end) as one (N, C, H, W) tensor; all must have one size.
Tensor stack_images(const std::vector<Image>& images, size_t begin, size_t end);

// The per-image terms of a score as strata ops (also what an exported graph computes), x: (N, C, H, W):
// the reconstruction error reduced over each image (summed for elbo), the VAE's KL term, and the score.
Tensor reconstruction_error(const Autoencoder::Output& out, const Tensor& x, const ScoreOptions& o, bool elbo);
Tensor kl_term(const Autoencoder::Output& out);
// Each term of `o.terms` as it is (before standardising), (N) each.
std::vector<Tensor> score_terms(Autoencoder& model, const Autoencoder::Output& out, const Tensor& x,
                                const ScoreOptions& o, const ScoreCalibration& c);
Tensor anomaly_scores(Autoencoder& model, const Autoencoder::Output& out, const Tensor& x, const ScoreOptions& o,
                      const ScoreCalibration& c);

// The terms of `images` in eval mode (batches of `batch`): terms[j][i] is term j of image i; reconstructions
// too when `recon` is given.
std::vector<std::vector<double>> term_values(Autoencoder& model, const std::vector<Image>& images,
                                             const ScoreOptions& o, const ScoreCalibration& c, int64_t batch = 256,
                                             std::vector<Image>* recon = nullptr);
// Scores from term values (combined as ScoreOptions says).
std::vector<double> combine_terms(const std::vector<std::vector<double>>& terms, const ScoreOptions& o,
                                  const ScoreCalibration& c);
// Scores of `images` in eval mode.
std::vector<double> score_images(Autoencoder& model, const std::vector<Image>& images, const ScoreOptions& o,
                                 const ScoreCalibration& c, int64_t batch = 256, std::vector<Image>* recon = nullptr);
// The latent Gaussian of the score's latent term, fitted to `train`'s codes (empty without that term).
ScoreCalibration fit_latent(Autoencoder& model, const ImageSet& train, const ScoreOptions& o);
// Each term's mean and standard deviation over the normal images (label 0) of a set whose term values
// (term_values, with `c`'s latent Gaussian) are `terms`: what a combined score standardises by. Nothing for a
// score of one term.
void fit_term_spread(ScoreCalibration& c, const std::vector<std::vector<double>>& terms,
                     const std::vector<int64_t>& labels, const ScoreOptions& o);

// ---- thresholds --------------------------------------------------------------

struct RatePoint {
  double threshold, tpr, tnr;
};
// One point per distinct score, thresholds ascending. Needs both labels.
std::vector<RatePoint> rate_curve(const std::vector<double>& scores, const std::vector<int64_t>& labels);

// Rules, all on validation scores only:
//   tpr1_quantile  the reference's: the ascending thresholds at which TPR is 1,
//                  their `quantile` (linear interpolation, numpy's default);
//                  where no threshold reaches TPR 1 (an anomaly scores lowest
//                  of all), those at the highest TPR reached, with a warning
//   youden         the highest TPR + TNR - 1 (ties: the lowest threshold)
//   fpr            the lowest threshold whose false-positive rate <= target
//   tpr            the highest threshold whose true-positive rate >= target
struct ThresholdPolicy {
  std::string rule = "tpr1_quantile";
  double quantile = 0.9;
  double target = 0.05;
  static ThresholdPolicy from_config(const Config& threshold);
};
struct ThresholdChoice {
  double threshold = 0;
  std::string how;      // one sentence: the rule and what it found
  std::string warning;  // non-empty when the rule could not hold as stated
};
ThresholdChoice choose_threshold(const std::vector<double>& scores, const std::vector<int64_t>& labels,
                                 const ThresholdPolicy& policy);

// Average precision (scikit-learn's: sum over thresholds of the recall step times precision).
double average_precision(const std::vector<double>& scores, const std::vector<int64_t>& labels);

struct Report {
  int64_t normal = 0, anomalous = 0;
  double threshold = 0, tpr = 0, tnr = 0, precision = 0, f1 = 0, auroc = 0, ap = 0;
  double level = 0.91;  // the interval where TPR and TNR both exceed it
  bool has_interval = false;
  double interval_lo = 0, interval_hi = 0;  // candidate thresholds, inclusive
  std::string str() const;                  // a few lines for the terminal
};
Report make_report(const std::vector<double>& scores, const std::vector<int64_t>& labels, double threshold,
                   double level);
void write_report_csv(const std::string& path, const Report& r, const std::string& set_name);

// ---- figures -----------------------------------------------------------------

// TPR and TNR against the threshold with the chosen one marked; ROC curve;
// score histograms of normal and anomalous images.
void rates_plot(const std::string& path, const std::string& title, const std::vector<double>& scores,
                const std::vector<int64_t>& labels, double threshold);
void roc_plot(const std::string& path, const std::string& title, const std::vector<double>& scores,
              const std::vector<int64_t>& labels);
void histogram_plot(const std::string& path, const std::string& title, const std::vector<double>& scores,
                    const std::vector<int64_t>& labels, double threshold);
// Input | reconstruction | error map for the `per_group` best and worst
// normal and anomalous images.
void case_panels(const std::string& path, Autoencoder& model, const ImageSet& set, const std::vector<double>& scores,
                 int64_t per_group = 3);

}  // namespace strata::anomaly
