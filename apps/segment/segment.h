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
#include "engine/config.h"
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
  static TaskSpec from_config(const Config& cfg);
};

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

 private:
  void read_common(const Config& data);

  TaskSpec task_;
  std::vector<ImagePair> train_, val_;
  TransformOptions tf_;
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
  std::string type = "auto";       // auto | bce | cross_entropy
  double pos_weight = 1.0;         // binary: weight of class-1 pixels
  double dice = 0.0;               // weight of the soft Dice term (0: none)
  std::vector<double> class_weights;  // multi-class; empty: none
  static LossOptions from_config(const Config& loss);
};
Tensor segment_loss(const Tensor& logits, const Batch& b, const TaskSpec& task, const LossOptions& o);

// inference.{tile, overlap, tta}: tiles of images larger than `tile` pixels a
// side; with `tta` the logits are the mean over the image and its horizontal,
// vertical and double flips (each flipped back).
struct InferenceOptions {
  int64_t tile = 1024, overlap = 64;
  bool tta = false;
  static InferenceOptions from_config(const Config& inference);
};

// Logits (K, H, W) of one transformed image, in eval mode and without gradients.
Image predict_logits(Module& model, const Image& x, const InferenceOptions& o);
// Class probabilities (classes, H, W) from logits (sigmoid -> 2 channels for binary).
Image probabilities(const Image& logits, const TaskSpec& task);
LabelMap labels_of(const Image& probs, const TaskSpec& task);

// Scores of one labelled image at its mask's resolution: predicts at the
// transformed size and resizes the probabilities back (bilinear).
struct Scored {
  Sample raw;  // the decoded image and its truth mask, as read
  LabelMap predicted;
  Image probs;  // at the mask's size
  double loss = 0;
  int64_t pixels = 0;
};
Scored score_image(Module& model, const SegmentData& data, const TaskSpec& task, const LossOptions& loss,
                   const ImagePair& p, const InferenceOptions& inf);

// Input | truth | prediction rows for the first `n` pairs of `pairs`.
void write_panels(const std::string& path, Module& model, const SegmentData& data, const TaskSpec& task,
                  const LossOptions& loss, const std::vector<ImagePair>& pairs, int64_t n,
                  const InferenceOptions& inf);

// A label map for display: grey for binary tasks, the class palette otherwise.
Panel label_panel(const LabelMap& m, const TaskSpec& task, const std::string& title);
// The prediction blended over the image (RGB, values in [0, 1]).
Image overlay(const Image& raw, const LabelMap& m, const TaskSpec& task);

}  // namespace strata::segment
