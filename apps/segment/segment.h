// strata-segment: the task pieces behind the commands (apps/segment/run.cpp).
//
//   SegmentData   the labelled sets of a config: folders paired by stem or
//                 SegNet list files, a seeded validation split, mask rules,
//                 transforms, an in-memory cache of decoded images
//   SegmentModel  the network and how its logits become labels: one sigmoid
//                 channel for binary tasks (threshold), K softmax channels for
//                 multi-class ones
//   predict_logits  fully convolutional inference of one image of any size
//                 (the model pads to its multiple and crops back; images over
//                 inference.tile pixels a side are tiled with overlap)
//   segment_loss  BCE-with-logits (pos_weight) or weighted cross-entropy, plus
//                 an optional Dice term; ignored pixels count nowhere
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apps/common/datasets.h"
#include "apps/common/metrics.h"
#include "apps/common/plot.h"
#include "apps/common/transforms.h"
#include "config/config.h"
#include "engine/tensor.h"
#include "layers/module.h"

namespace strata::segment {

// How many channels the model sees, its classes and their names.
struct TaskSpec {
  int64_t channels = 3;   // data.channels: 1 (grey) or 3 (RGB)
  int64_t classes = 2;    // model.classes (1 output channel = 2 classes)
  bool binary = true;     // one sigmoid output
  double threshold = 0.5; // binary: probability of class 1 at or above this
  std::vector<std::string> class_names;
  std::vector<Rgb> palette;  // one colour per class (`palette` in the config; default: the plots' palette)
  static TaskSpec from_config(const Config& cfg);
};

// Marks `key` and everything under it as read: the sections of a config that
// another command of the app reads (train ignores `pretrain`, pretrain ignores
// `loss`, `train`, `inference` and `optimizer`).
void mark_section_known(const Config& cfg, const std::string& key);

// ClassMix (Olsson et al. 2021) as an augmentation: the pixels of `from` whose labels are in a random half of the
// classes its labels hold (at least one class; ignored pixels never) replace those of `onto`, image and labels, so
// objects appear on other backgrounds and beside other objects. The two samples must be of one size; nothing
// changes when `from` holds no labelled pixel.
void class_mix(Sample& onto, const Sample& from, std::mt19937_64& rng);

class SegmentData {
 public:
  // data.{images, masks | train_list} for training, validation from
  // data.{val_images, val_masks | val_list} or data.val_fraction (seed data.split_seed).
  SegmentData(const Config& data, const TaskSpec& task);
  // A labelled set given to eval --data: a list file, or a folder with images/ and masks/ (or image/ and label/).
  SegmentData(const Config& data, const TaskSpec& task, const std::string& eval_data);

  const std::vector<ImagePair>& train() const { return train_; }
  const std::vector<ImagePair>& val() const { return val_; }
  const TransformOptions& transforms() const { return tf_; }
  const MaskSpec& mask_spec() const { return mask_; }

  // The decoded (untransformed) image and mask of a pair, from the cache when on.
  Sample decoded(const ImagePair& p) const;
  // Decoded + training transforms (rng) or evaluation transforms (nullptr).
  Sample sample(const ImagePair& p, std::mt19937_64* rng) const;
  // Training sample `index`: sample() of its pair, then with probability data.augment.class_mix the pixels of
  // half the classes of another training sample drawn at random pasted onto it (class_mix below).
  Sample training_sample(int64_t index, std::mt19937_64& rng) const;

 private:
  void read_common(const Config& data);

  TaskSpec task_;
  std::vector<ImagePair> train_, val_;
  TransformOptions tf_;
  double class_mix_ = 0;  // data.augment.class_mix
  MaskSpec mask_;
  bool cache_on_ = false;
  mutable std::mutex cache_mu_;
  mutable std::map<std::string, std::shared_ptr<const Sample>> cache_;
};

// Batched tensors of samples of one size: x (N, C, H, W) f32, labels (N, H, W) i64 with -100 where ignored.
struct Batch {
  Tensor x, labels;
  int64_t pixels = 0;  // labelled pixels
};
Batch collate(const std::vector<Sample>& samples);

struct LossOptions {
  std::string type = "auto";       // auto | bce | cross_entropy | focal
  double pos_weight = 1.0;         // binary: weight of class-1 pixels
  double dice = 0.0;               // weight of the soft Dice term (0: none); K-way: class_mean_dice
  double gamma = 2.0;              // focal: the focusing exponent of (1 - p_t)
  // loss.class_weights: a list (one per class), or none | inverse_frequency |
  // median_frequency, computed from the training labels (resolve_class_weights),
  // or {from: MODE, power: P}: those weights raised to P (0.5 softens them).
  std::string class_weight_mode = "none";
  double class_weight_power = 1.0;
  std::vector<double> class_weights;  // multi-class; empty: none
  static LossOptions from_config(const Config& loss);
  // BCE on one sigmoid channel (bce, or auto on a binary task); otherwise a K-way softmax loss.
  bool uses_bce(const TaskSpec& task) const { return type == "bce" || (type == "auto" && task.binary); }
};
Tensor segment_loss(const Tensor& logits, const Batch& b, const TaskSpec& task, const LossOptions& o);

// segment_loss split for a step that a CUDA graph replays (train.cuda_graph): batch() makes, on the host, every
// tensor the loss reads (x, the targets, the masks, 1 / labelled pixels); operator() computes the loss from those
// tensors once they are on the model's device, with no copy to or from the host. Its constant tensors (class
// weights) are made on the first call, which must run eagerly. Equal to segment_loss up to the order of rounding
// (binary: the mean over the labelled pixels is a product with their inverse count). Focal loss is not supported.
class GraphLoss {
 public:
  GraphLoss(TaskSpec task, LossOptions o) : task_(std::move(task)), o_(std::move(o)) {}
  static bool supports(const LossOptions& o);
  std::vector<Tensor> batch(const Batch& b) const;
  Tensor operator()(Module& model, const std::vector<Tensor>& on_device);

 private:
  TaskSpec task_;
  LossOptions o_;
  Tensor weights_;
};
// Soft Dice of each class over the whole batch, averaged over the classes its labels hold: a thin or rare class
// counts as much as the sky. prob and onehot are (N, K, H, W), ignored pixels 0 in both.
Tensor class_mean_dice(const Tensor& prob, const Tensor& onehot);

// Pixel counts of each class over the decoded training masks (ignored pixels
// left out), and the images in which each class appears.
struct ClassFrequencies {
  std::vector<int64_t> pixels, image_pixels;  // image_pixels[c]: all labelled pixels of images holding class c
  int64_t total = 0;
};
ClassFrequencies class_frequencies(const SegmentData& data, int64_t classes);
// Weights of a mode from frequencies: inverse_frequency w_c = total / (K n_c)
// (scikit-learn's "balanced"); median_frequency w_c = median(f) / f_c with
// f_c = n_c / image_pixels_c (Eigen & Fergus, as SegNet). A class never seen
// gets weight 0 (it cannot be learned, and must not blow up the loss).
std::vector<double> frequency_weights(const ClassFrequencies& f, const std::string& mode);

// inference.{tile, overlap, tta, scales}: tiles of images larger than `tile`
// pixels a side; `tta` also runs the image's flips and averages the logits
// (each flipped back): `true` the horizontal, vertical and double flips,
// `hflip` the left-right mirror only (scenes with an up and a down); `scales`
// runs the network at each factor of the input's size (bilinear) and averages
// the logits resized back.
//
// inference.resolution: `model` runs at the config's data.size and resizes the
// logits to the image's size (bilinear) before the softmax / threshold; `full`
// runs the network on the image at its own size (normalisation only).
struct InferenceOptions {
  enum class Flips { none, hflip, all };
  int64_t tile = 1024, overlap = 64;
  Flips tta = Flips::none;
  std::vector<double> scales{1.0};
  std::string resolution = "model";
  static InferenceOptions from_config(const Config& inference);
};

// What inference.tta and scales average, in words ("one view", "the image and its left-right mirror at 0.75,
// 1 and 1.25 times its size").
std::string describe_views(const InferenceOptions& o);

// The mean logits over inference.tta's flips at each of inference.scales (each view mapped back, the other
// scales resized back to x's size by upsample2d), `net` giving the logits of one (N, C, H, W) input.
// predict_logits and the exported graph both compute their views with it.
Tensor mean_over_views(const std::function<Tensor(const Tensor&)>& net, const Tensor& x, const InferenceOptions& o);

// Logits (K, H, W) of one transformed image, in eval mode and without gradients.
Image predict_logits(Module& model, const Image& x, const InferenceOptions& o);
// Class probabilities (classes, H, W) from logits (sigmoid -> 2 channels for binary).
Image probabilities(const Image& logits, const TaskSpec& task);
LabelMap labels_of(const Image& probs, const TaskSpec& task);

// The logits (K, H, W) of a decoded image at its own size, by inference.resolution.
Image image_logits(Module& model, const Image& raw, const TransformOptions& tf, const InferenceOptions& inf);

// Scores of one labelled image at its mask's resolution (image_logits).
struct Scored {
  Sample raw;  // the decoded image and its truth mask, as read
  LabelMap predicted;
  Image probs;  // at the mask's size
  double loss = 0;
  int64_t pixels = 0;
};
Scored score_image(Module& model, const SegmentData& data, const TaskSpec& task, const LossOptions& loss,
                   const ImagePair& p, const InferenceOptions& inf);

// Input | truth | prediction rows for `n` pairs spread evenly over `pairs` (at most kMaxPanelRows: a figure of
// every image of a large validation set would be tens of thousands of pixels tall and tell no more).
inline constexpr int64_t kMaxPanelRows = 16;
void write_panels(const std::string& path, Module& model, const SegmentData& data, const TaskSpec& task,
                  const LossOptions& loss, const std::vector<ImagePair>& pairs, int64_t n,
                  const InferenceOptions& inf);

// A label map for display: grey for binary tasks, the class palette otherwise.
Panel label_panel(const LabelMap& m, const TaskSpec& task, const std::string& title);
// The prediction blended over the image (RGB, values in [0, 1]).
Image overlay(const Image& raw, const LabelMap& m, const TaskSpec& task);

}  // namespace strata::segment
