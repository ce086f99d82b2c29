// Paired transforms: what moves the image moves its mask the same way.
//
// A Sample is an image (C, H, W floats) and, when labelled, its label map
// (H, W; kIgnoreLabel where no label). The pipeline (data.augment and
// data.normalize in YAML) runs, for training:
//   resize (data.size: images bilinear, or area when shrinking; masks nearest,
//   so never a new label value) -> random scale (scale: [lo, hi]) -> random
//   transpose (transpose: a probability; rows and columns swapped, so with the
//   two flips it gives all eight rotations and reflections) -> random crop
//   (crop: [h, w]; padded with 0 / kIgnoreLabel where the image is smaller;
//   class_crop: the probability that the crop is centred, as far as the image
//   allows, on a pixel of a class drawn uniformly from those the label map
//   holds, so that thin and rare classes are seen whole more often) -> flips
//   (hflip, vflip: probabilities) -> elastic deformation
//   (elastic: {alpha, sigma, p}: a random displacement field smoothed by a
//   Gaussian of sigma pixels and scaled to alpha pixels, images bilinear, masks
//   nearest, as Simard et al. 2003 and the U-Net paper) -> brightness / contrast
//   / saturation jitter -> gamma (x^e) -> Gaussian blur -> Gaussian noise (these
//   four on the image only) -> normalisation ((x - mean) / std per channel, or
//   per image: each channel of each image to mean 0 and standard deviation 1);
// and for evaluation only resize and normalisation.
// Random draws come from the Rng a caller makes for (seed, epoch, index), so
// a sample's augmentation does not depend on which worker thread made it.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "apps/common/image_io.h"
#include "config/config.h"

namespace strata {

struct Sample {
  Image image;
  LabelMap mask;  // empty (0 x 0) when unlabelled
  bool labelled() const { return mask.height > 0; }
};

// A random stream for one sample of one epoch: (seed, epoch, index) mixed
// by SplitMix64 into an mt19937_64 seed.
std::mt19937_64 sample_rng(uint64_t seed, uint64_t epoch, uint64_t index);

enum class Interp { bilinear, area, nearest };
Image resize_image(const Image& img, int64_t height, int64_t width, Interp interp);
LabelMap resize_labels(const LabelMap& m, int64_t height, int64_t width);  // nearest
Image hflip(const Image& img);
LabelMap hflip(const LabelMap& m);
Image vflip(const Image& img);
LabelMap vflip(const LabelMap& m);
// Rows become columns: out(c, x, y) = in(c, y, x).
Image transpose(const Image& img);
LabelMap transpose(const LabelMap& m);
// The (height x width) window at (top, left); outside the source: 0 / kIgnoreLabel.
Image crop(const Image& img, int64_t top, int64_t left, int64_t height, int64_t width);
LabelMap crop(const LabelMap& m, int64_t top, int64_t left, int64_t height, int64_t width);
// Elastic deformation of a sample (image bilinear, mask nearest; outside: 0 / kIgnoreLabel).
Sample elastic(const Sample& s, double alpha, double sigma, std::mt19937_64& rng);

struct TransformOptions {
  std::vector<int64_t> size;          // [h, w] resize first; empty: keep
  std::string resize = "auto";        // auto (area when shrinking, else bilinear) | bilinear | area
  std::vector<double> scale{1, 1};    // random scale range
  std::vector<int64_t> crop;          // [h, w] random crop; empty: none
  double class_crop = 0;              // probability of a crop centred on a pixel of a class drawn uniformly
  double hflip = 0, vflip = 0;        // probabilities
  double transpose = 0;               // probability; before the crop, so the crop keeps its [h, w]
  double brightness = 0, contrast = 0;  // jitter: x' = (x - m) * c + m + b, b in +-brightness, c in 1 +- contrast
  double saturation = 0;              // RGB: x' = grey + (x - grey) * s, s in 1 +- saturation
  double elastic_alpha = 0, elastic_sigma = 10, elastic_p = 0.5;  // alpha 0: no elastic deformation
  double gamma = 0;                   // x' = x^e (x in [0, 1]), ln e uniform in +-ln(1 + gamma)
  double blur_p = 0;                  // probability of a Gaussian blur of sigma uniform in blur_sigma
  std::vector<double> blur_sigma{0.5, 1.5};
  double noise = 0;                   // additive Gaussian noise, its std uniform in [0, noise]
  std::vector<double> mean, std;      // per channel; empty: none
  bool per_image = false;             // data.normalize: per_image (then mean / std stay empty)
  // data.size, data.resize, data.augment.{scale, crop, class_crop, hflip, vflip, transpose, elastic,
  // brightness, contrast, saturation, gamma, blur, noise}, data.normalize: {mean, std} or
  // "imagenet", "per_image" or "none".
  static TransformOptions from_config(const Config& data, int64_t channels);
};

// Training: every step of the pipeline; evaluation (rng == nullptr): resize and normalise.
Sample apply_transforms(Sample s, const TransformOptions& o, std::mt19937_64* rng);
// Normalisation alone, in place.
void normalize(Image& img, const std::vector<double>& mean, const std::vector<double>& std);
// Values to mean 0 and standard deviation 1 (all 0 when they are all equal), in place: a seismic
// section, or one channel of an image. NaN and infinite values are missing: the mean and standard
// deviation are those of the finite values, and a missing value becomes 0 (the mean). Returns how many
// were missing, for the caller to report.
size_t standardise(std::span<float> values);
// Each channel of the image standardised on its own (data.normalize: per_image).
void standardise(Image& img);

}  // namespace strata
