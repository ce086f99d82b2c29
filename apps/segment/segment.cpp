#include "apps/segment/segment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "apps/common/output_plan.h"
#include "apps/common/plot.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"

namespace fs = std::filesystem;

namespace strata::segment {

TaskSpec TaskSpec::from_config(const Config& cfg) {
  TaskSpec t;
  t.channels = cfg.section("data").get_int("channels", 3, Bounds::between(1, 3));
  STRATA_CHECK(t.channels != 2, cfg.origin(), ": data.channels: 1 (grey) or 3 (RGB), not 2");
  const Config model = cfg.section("model");
  const int64_t outputs = model.get_int("classes", 1, Bounds::at_least(1));
  const int64_t in = model.get_int("in_channels", 3, Bounds::at_least(1));
  STRATA_CHECK(in == t.channels, cfg.origin(), ": model.in_channels is ", in, " but data.channels is ", t.channels,
               "; make them equal");
  t.binary = outputs == 1;
  t.classes = t.binary ? 2 : outputs;
  t.threshold = cfg.section("inference").get_double("threshold", 0.5, Bounds{0, 1, true});
  std::vector<std::string> fallback;
  for (int64_t c = 0; c < t.classes; ++c) fallback.push_back(t.binary ? (c ? "object" : "background") : "class" + std::to_string(c));
  t.class_names = cfg.get_string_list("class_names", fallback);
  STRATA_CHECK(int64_t(t.class_names.size()) == t.classes, cfg.origin(), ": class_names has ", t.class_names.size(),
               " names for ", t.classes, " classes (model.classes: 1 means two classes, background and object)");
  std::vector<std::string> hex;
  for (int64_t c = 0; c < t.classes; ++c) hex.push_back(hex_colour(class_colour(c)));
  hex = cfg.get_string_list("palette", hex);
  STRATA_CHECK(int64_t(hex.size()) == t.classes, cfg.origin(), ": palette has ", hex.size(), " colours for ",
               t.classes, " classes");
  for (const std::string& h : hex) {
    const std::optional<Rgb> rgb = parse_hex_colour(h);
    STRATA_CHECK(rgb.has_value(), cfg.origin(), ": palette: '", h,
                 "' is not a colour; write #RRGGBB (hexadecimal, e.g. '#808080', quoted in YAML)");
    t.palette.push_back(*rgb);
  }
  return t;
}

void mark_section_known(const Config& cfg, const std::string& key) {
  if (!cfg.has(key)) return;
  cfg.mark_known(key);
  if (cfg.is_scalar(key) || cfg.is_list(key)) return;
  const Config sub = cfg.section(key);
  for (const std::string& k : sub.keys()) mark_section_known(sub, k);
}

// ---------------------------------------------------------------------------
// data

void SegmentData::read_common(const Config& data) {
  tf_ = TransformOptions::from_config(data, task_.channels);
  class_mix_ = data.section("augment").get_double("class_mix", 0.0, Bounds::between(0, 1));
  mask_ = MaskSpec::from_config(data.section("mask"), task_.classes, task_.palette);
  cache_on_ = data.get_bool("cache", true);
}

namespace {

std::vector<ImagePair> pairs_of(const Config& data, const std::string& images_key, const std::string& masks_key,
                                const std::string& list_key) {
  if (data.has(list_key)) {
    data.mark_known(images_key);
    data.mark_known(masks_key);
    if (!data.is_list(list_key)) return pairs_from_list(data.require_string(list_key));
    // Several list files (SegNet's train.txt and val.txt for a final model): their pairs in order, each image once.
    const std::vector<std::string> files = data.get_string_list(list_key, {});
    STRATA_CHECK(!files.empty(), data.origin(), ": data.", list_key, " is an empty list; give one list file or several");
    std::vector<ImagePair> all;
    std::map<std::string, std::string> listed_in;  // canonical image path -> its list file
    for (const std::string& file : files)
      for (ImagePair& p : pairs_from_list(file)) {
        const auto [it, fresh] = listed_in.emplace(canonical_key(p.image), file);
        STRATA_CHECK(fresh, data.origin(), ": data.", list_key, ": ", p.image, " is in both ", it->second, " and ",
                     file, "; a duplicate would be drawn twice as often");
        all.push_back(std::move(p));
      }
    return all;
  }
  if (data.has(images_key) || data.has(masks_key))
    return pairs_from_folders(data.require_string(images_key), data.require_string(masks_key));
  data.mark_known(list_key);
  return {};
}

}  // namespace

SegmentData::SegmentData(const Config& data, const TaskSpec& task) : task_(task) {
  read_common(data);
  std::vector<ImagePair> all = pairs_of(data, "images", "masks", "train_list");
  STRATA_CHECK(!all.empty(), data.origin(), ": no training data: set data.images and data.masks (folders paired by ",
               "file stem) or data.train_list (SegNet-style list file)");
  val_ = pairs_of(data, "val_images", "val_masks", "val_list");
  const double fraction = data.get_double("val_fraction", val_.empty() ? 0.3 : 0.0, Bounds{0, 0.95});
  const uint64_t seed = uint64_t(data.get_int("split_seed", 1, Bounds::at_least(0)));
  STRATA_CHECK(val_.empty() || fraction == 0, data.origin(), ": data.val_fraction and an explicit validation set ",
               "(val_images / val_list) exclude each other");
  if (val_.empty() && fraction > 0) {
    auto [tr, va] = split_by_fraction(all, fraction, seed);
    train_ = std::move(tr);
    val_ = std::move(va);
  } else {
    train_ = std::move(all);
  }
  STRATA_CHECK(!train_.empty(), data.origin(), ": the split left no training images");
  // An image on both sides scores the model on what it trained on: said, as the scores are then not held out.
  std::set<std::string> trained;
  for (const ImagePair& p : train_) trained.insert(canonical_key(p.image));
  size_t shared = 0;
  std::string first;
  for (const ImagePair& p : val_)
    if (trained.count(canonical_key(p.image)) && !shared++) first = p.image;
  if (shared)
    std::fprintf(stderr, "strata-segment: warning: %zu of %zu validation images are training images too (%s%s); "
                 "validation scores are not held out\n", shared, val_.size(), first.c_str(), shared > 1 ? ", ..." : "");
}

SegmentData::SegmentData(const Config& data, const TaskSpec& task, const std::string& eval_data) : task_(task) {
  read_common(data);
  std::error_code ec;
  if (fs::is_directory(eval_data, ec)) {
    for (const auto& [im, ma] : {std::pair{"images", "masks"}, std::pair{"image", "label"}})
      if (fs::is_directory(fs::path(eval_data) / im) && fs::is_directory(fs::path(eval_data) / ma)) {
        val_ = pairs_from_folders((fs::path(eval_data) / im).string(), (fs::path(eval_data) / ma).string());
        return;
      }
    // SegNet's layout: X/ beside Xannot/ (test/ + testannot/, val/ + valannot/); exactly one such pair.
    std::vector<std::string> annotated;
    for (const auto& e : fs::directory_iterator(eval_data, ec)) {
      const std::string name = e.path().filename().string();
      if (e.is_directory() && fs::is_directory(fs::path(eval_data) / (name + "annot"))) annotated.push_back(name);
    }
    std::sort(annotated.begin(), annotated.end());
    STRATA_CHECK(annotated.size() < 2, eval_data, ": holds several labelled sets (", annotated.front(), "/ and ",
                 annotated[1], "/ with their *annot/ folders); give the one to score, e.g. ", eval_data, "/",
                 annotated.front(), ".txt or a folder with only images/ and masks/");
    if (annotated.size() == 1) {
      const fs::path root(eval_data);
      val_ = pairs_from_folders((root / annotated[0]).string(), (root / (annotated[0] + "annot")).string());
      return;
    }
    STRATA_FAIL(eval_data, ": a labelled folder needs images/ and masks/ subfolders (or image/ and label/, or ",
                "SegNet's X/ and Xannot/); or give a SegNet-style list file");
  }
  val_ = pairs_from_list(eval_data);
}

Sample SegmentData::decoded(const ImagePair& p) const {
  if (cache_on_) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    const auto it = cache_.find(p.image);
    if (it != cache_.end()) return *it->second;
  }
  Sample s;
  s.image = read_image(p.image, task_.channels);
  if (!p.mask.empty()) s.mask = mask_.read(p.mask, s.image.height, s.image.width);
  if (cache_on_) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    cache_.emplace(p.image, std::make_shared<const Sample>(s));
  }
  return s;
}

Sample SegmentData::sample(const ImagePair& p, std::mt19937_64* rng) const {
  return apply_transforms(decoded(p), tf_, rng);
}

Sample SegmentData::training_sample(int64_t index, std::mt19937_64& rng) const {
  Sample s = sample(train_[size_t(index)], &rng);
  if (class_mix_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < class_mix_) {
    const auto other = size_t(std::uniform_int_distribution<int64_t>(0, int64_t(train_.size()) - 1)(rng));
    const Sample from = sample(train_[other], &rng);
    if (from.image.height == s.image.height && from.image.width == s.image.width) class_mix(s, from, rng);
  }
  return s;
}

void class_mix(Sample& onto, const Sample& from, std::mt19937_64& rng) {
  STRATA_CHECK(onto.image.height == from.image.height && onto.image.width == from.image.width &&
                   onto.image.channels == from.image.channels && onto.labelled() && from.labelled(),
               "class_mix: two labelled samples of one size, got ", onto.image.width, " x ", onto.image.height, " and ",
               from.image.width, " x ", from.image.height);
  std::vector<int32_t> classes;
  for (int32_t v : from.mask.data)
    if (v != kIgnoreLabel && std::find(classes.begin(), classes.end(), v) == classes.end()) classes.push_back(v);
  if (classes.empty()) return;
  std::sort(classes.begin(), classes.end());  // the draw depends on the set, not on the pixel order
  std::shuffle(classes.begin(), classes.end(), rng);
  classes.erase(classes.begin() + std::ptrdiff_t(std::max<size_t>(1, classes.size() / 2)), classes.end());
  const int64_t plane = onto.image.height * onto.image.width;
  for (int64_t i = 0; i < plane; ++i) {
    const int32_t v = from.mask.data[size_t(i)];
    if (std::find(classes.begin(), classes.end(), v) == classes.end()) continue;
    onto.mask.data[size_t(i)] = v;
    for (int64_t c = 0; c < onto.image.channels; ++c)
      onto.image.data[size_t(c * plane + i)] = from.image.data[size_t(c * plane + i)];
  }
}

// ---------------------------------------------------------------------------
// batches and loss

Batch collate(const std::vector<Sample>& samples) {
  STRATA_CHECK(!samples.empty(), "collate: no samples");
  const Image& a = samples[0].image;
  const int64_t n = int64_t(samples.size()), plane = a.height * a.width;
  std::vector<float> x(size_t(n * a.channels * plane));
  std::vector<int64_t> y(size_t(n * plane));
  Batch b;
  for (int64_t i = 0; i < n; ++i) {
    const Sample& s = samples[size_t(i)];
    STRATA_CHECK(s.image.height == a.height && s.image.width == a.width && s.image.channels == a.channels,
                 "a training batch needs images of one size, got ", a.width, " x ", a.height, " and ", s.image.width,
                 " x ", s.image.height, ": set data.size or data.augment.crop");
    std::copy(s.image.data.begin(), s.image.data.end(), x.begin() + i * a.channels * plane);
    for (int64_t j = 0; j < plane; ++j) {
      const int32_t v = s.mask.data[size_t(j)];
      y[size_t(i * plane + j)] = v == kIgnoreLabel ? -100 : v;
      b.pixels += v == kIgnoreLabel ? 0 : 1;
    }
  }
  b.x = Tensor::from_vector(x, {n, a.channels, a.height, a.width});
  b.labels = Tensor::from_vector(y, {n, a.height, a.width});
  return b;
}

LossOptions LossOptions::from_config(const Config& loss) {
  LossOptions o;
  o.type = loss.get_choice("type", "auto", {"auto", "bce", "cross_entropy", "focal"});
  o.pos_weight = loss.get_double("pos_weight", 1.0, Bounds::positive());
  o.dice = loss.get_double("dice", 0.0, Bounds::at_least(0));
  o.gamma = loss.get_double("gamma", 2.0, Bounds::between(0, 10));
  if (loss.is_scalar("class_weights")) {
    o.class_weight_mode = loss.get_choice("class_weights", "none", {"none", "inverse_frequency", "median_frequency"});
  } else if (loss.has("class_weights") && !loss.is_list("class_weights")) {
    const Config from = loss.section("class_weights");
    STRATA_CHECK(from.has("from"), from.origin(), ": loss.class_weights as a section needs 'from' (",
                 "inverse_frequency or median_frequency) and takes 'power' (1: as computed, 0.5: their square roots)");
    o.class_weight_mode = from.get_choice("from", "median_frequency", {"inverse_frequency", "median_frequency"});
    o.class_weight_power = from.get_double("power", 1.0, Bounds::between(0, 4));
  } else {
    o.class_weights = loss.get_double_list("class_weights", {});
    for (double w : o.class_weights)
      STRATA_CHECK(std::isfinite(w) && w >= 0, loss.key_path("class_weights"), ": weights must be finite and >= 0, got ", w);
    if (!o.class_weights.empty()) o.class_weight_mode = "list";
  }
  return o;
}

namespace {

// (N, K, H, W) one-hot targets of labels (N, H, W) (ignored pixels all 0) and
// the (N, 1, H, W) mask of labelled pixels.
std::pair<Tensor, Tensor> one_hot_and_valid(const Tensor& labels, int64_t k) {
  const std::vector<int64_t> y = labels.to_vector<int64_t>();
  const int64_t n = labels.size(0), plane = labels.size(1) * labels.size(2);
  std::vector<float> oh(size_t(n * k * plane), 0.f), valid(size_t(n * plane), 0.f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < plane; ++j) {
      const int64_t v = y[size_t(i * plane + j)];
      if (v < 0) continue;
      valid[size_t(i * plane + j)] = 1.f;
      oh[size_t((i * k + v) * plane + j)] = 1.f;
    }
  return {Tensor::from_vector(oh, {n, k, labels.size(1), labels.size(2)}),
          Tensor::from_vector(valid, {n, 1, labels.size(1), labels.size(2)})};
}

}  // namespace

Tensor class_mean_dice(const Tensor& prob, const Tensor& onehot) {
  STRATA_CHECK(prob.dim() == 4 && prob.shape() == onehot.shape(), "class_mean_dice: prob and onehot must be the same ",
               "(N, K, H, W), got ", shape_str(prob.shape()), " and ", shape_str(onehot.shape()));
  const Tensor t = onehot.detach();
  const Tensor inter = sum(mul(prob, t), {0, 2, 3}), truth = sum(t, {0, 2, 3});
  const Tensor per_class = sub(1.0, div(add(mul(inter, 2.0), 1.0), add(add(sum(prob, {0, 2, 3}), truth), 1.0)));
  // Only the classes the batch's labels hold: an absent class would only learn to be predicted nowhere. Kept on
  // the model's device (no copy to the host each step); a batch without a labelled pixel gives 0.
  const Tensor present = relu_mask(truth);
  return div(sum(mul(per_class, present)), clamp(sum(present), 1.0, double(prob.size(1))));
}

namespace {

void check_loss_fits(const Tensor& logits, const TaskSpec& task, const LossOptions& o) {
  STRATA_CHECK(o.uses_bce(task) == (logits.size(1) == 1), "loss.type ", o.type, " does not fit a model with ",
               logits.size(1), " output channels (bce: model.classes 1; cross_entropy / focal: 2 or more)");
  STRATA_CHECK(o.class_weight_mode == "none" || o.class_weight_mode == "list", "loss.class_weights: ",
               o.class_weight_mode, " is resolved from the training labels first (resolve the weights before the loss)");
}

// loss.class_weights as a tensor on `device` (undefined: none).
Tensor class_weight_tensor(const TaskSpec& task, const LossOptions& o, Device device) {
  if (o.class_weights.empty()) return Tensor();
  STRATA_CHECK(int64_t(o.class_weights.size()) == task.classes, "loss.class_weights: ", o.class_weights.size(),
               " weights for ", task.classes, " classes");
  return Tensor::from_vector(std::vector<float>(o.class_weights.begin(), o.class_weights.end()), {task.classes})
      .to(device);
}

// Cross-entropy (weighted by w) plus the class-mean Dice term, from tensors on the logits' device.
Tensor softmax_loss(const Tensor& logits, const Tensor& labels, const Tensor& w, const Tensor& onehot,
                    const Tensor& valid, const LossOptions& o) {
  Tensor ce = cross_entropy(logits, labels, w, -100);
  if (o.dice > 0) ce = add(ce, mul(class_mean_dice(mul(softmax(logits, 1), valid), onehot), o.dice));
  return ce;
}

// Dice on the sigmoid of the labelled pixels, added to a BCE already averaged over them.
Tensor with_binary_dice(Tensor bce, const Tensor& logits, const Tensor& target, const Tensor& valid,
                        const LossOptions& o) {
  if (o.dice > 0) bce = add(bce, mul(dice_loss(mul(sigmoid(logits), valid), target), o.dice));
  return bce;
}

}  // namespace

Tensor segment_loss(const Tensor& logits, const Batch& b, const TaskSpec& task, const LossOptions& o) {
  check_loss_fits(logits, task, o);
  if (!o.uses_bce(task)) {
    const Tensor w = class_weight_tensor(task, o, logits.device());
    // The one-hot targets only where a term needs them: plain cross-entropy is the hot path of every step.
    Tensor onehot, valid;
    if (o.type == "focal" || o.dice > 0) std::tie(onehot, valid) = one_hot_and_valid(b.labels, task.classes);
    if (onehot.defined()) onehot = onehot.to(logits.device()), valid = valid.to(logits.device());
    if (o.type != "focal") return softmax_loss(logits, b.labels, w, onehot, valid, o);
    // -w_t (1 - p_t)^gamma log p_t, averaged with the weights as cross_entropy is.
    const Tensor log_pt = sum(mul(log_softmax(logits, 1), onehot), {1});
    const Tensor wt = w.defined() ? sum(mul(onehot, w.view({1, task.classes, 1, 1})), {1}) : valid.squeeze(1);
    // (1 - p_t) is kept >= 1e-6: at exactly 0 (ignored pixels, certain ones) the
    // derivative of x^gamma is infinite for gamma < 1, and 0 * inf = NaN.
    const Tensor weighted = o.gamma == 0 ? wt : mul(wt, pow(clamp(sub(1.0, exp(log_pt)), 1e-6, 1.0), o.gamma));
    const double norm = std::max(sum(wt).item<float>(), 1e-12f);
    Tensor ce = div(neg(sum(mul(weighted, log_pt))), norm);
    if (o.dice > 0) ce = add(ce, mul(class_mean_dice(mul(softmax(logits, 1), valid), onehot), o.dice));
    return ce;
  }
  // Binary: labels 0 / 1, -100 ignored (weight 0); mean over the labelled pixels.
  const auto [onehot_host, valid_host] = one_hot_and_valid(b.labels, 2);
  const Tensor valid = valid_host.to(logits.device());
  const Tensor target = onehot_host.narrow(1, 1, 1).contiguous().to(logits.device());
  const Tensor pw = o.pos_weight == 1.0 ? Tensor() : Tensor::full({1}, o.pos_weight, DType::f32, logits.device());
  const Tensor bce =
      div(bce_with_logits(logits, target, valid, pw, Reduction::sum), double(std::max<int64_t>(b.pixels, 1)));
  return with_binary_dice(bce, logits, target, valid, o);
}

bool GraphLoss::supports(const LossOptions& o) { return o.type != "focal"; }

std::vector<Tensor> GraphLoss::batch(const Batch& b) const {
  STRATA_CHECK(supports(o_), "loss.type focal reads a sum on the host each step: a CUDA graph cannot replay it");
  if (!o_.uses_bce(task_)) {
    if (o_.dice == 0) return {b.x, b.labels};
    const auto [onehot, valid] = one_hot_and_valid(b.labels, task_.classes);
    return {b.x, b.labels, onehot, valid};
  }
  const auto [onehot, valid] = one_hot_and_valid(b.labels, 2);
  // 1 / (labelled pixels) as a tensor: the mean over them without reading a count on the host.
  return {b.x, onehot.narrow(1, 1, 1).contiguous(), valid,
          Tensor::full({1}, 1.0 / double(std::max<int64_t>(b.pixels, 1)), DType::f32, Device::cpu())};
}

Tensor GraphLoss::operator()(Module& model, const std::vector<Tensor>& t) {
  const Tensor logits = model(t[0]);
  check_loss_fits(logits, task_, o_);
  // Constant tensors are made on the first call, which runs eagerly, never in a capture.
  if (!o_.uses_bce(task_)) {
    if (!weights_.defined() && !o_.class_weights.empty()) weights_ = class_weight_tensor(task_, o_, logits.device());
    return softmax_loss(logits, t[1], weights_, o_.dice > 0 ? t[2] : Tensor(), o_.dice > 0 ? t[3] : Tensor(), o_);
  }
  if (!weights_.defined() && o_.pos_weight != 1.0)
    weights_ = Tensor::full({1}, o_.pos_weight, DType::f32, logits.device());
  const Tensor bce = mul(bce_with_logits(logits, t[1], t[2], weights_, Reduction::sum), t[3]);
  return with_binary_dice(bce, logits, t[1], t[2], o_);
}

ClassFrequencies class_frequencies(const SegmentData& data, int64_t classes) {
  ClassFrequencies f;
  f.pixels.assign(size_t(classes), 0);
  f.image_pixels.assign(size_t(classes), 0);
  for (const ImagePair& p : data.train()) {
    const Sample s = data.decoded(p);
    std::vector<int64_t> n(size_t(classes), 0);
    int64_t labelled = 0;
    for (int32_t v : s.mask.data)
      if (v != kIgnoreLabel) {
        ++n[size_t(v)];
        ++labelled;
      }
    for (int64_t c = 0; c < classes; ++c) {
      f.pixels[size_t(c)] += n[size_t(c)];
      if (n[size_t(c)] > 0) f.image_pixels[size_t(c)] += labelled;
    }
    f.total += labelled;
  }
  return f;
}

std::vector<double> frequency_weights(const ClassFrequencies& f, const std::string& mode) {
  const size_t k = f.pixels.size();
  std::vector<double> w(k, 0.0);
  if (mode == "inverse_frequency") {
    for (size_t c = 0; c < k; ++c)
      if (f.pixels[c] > 0) w[c] = double(f.total) / (double(k) * double(f.pixels[c]));
    return w;
  }
  STRATA_CHECK(mode == "median_frequency", "frequency_weights: unknown mode ", mode);
  std::vector<double> freq, seen;
  for (size_t c = 0; c < k; ++c)
    if (f.pixels[c] > 0) {
      freq.push_back(double(f.pixels[c]) / double(f.image_pixels[c]));
      seen.push_back(freq.back());
    }
  if (seen.empty()) return w;
  std::sort(seen.begin(), seen.end());
  const size_t m = seen.size();
  const double median = m % 2 ? seen[m / 2] : 0.5 * (seen[m / 2 - 1] + seen[m / 2]);
  for (size_t c = 0, i = 0; c < k; ++c)
    if (f.pixels[c] > 0) w[c] = median / freq[i++];
  return w;
}

// ---------------------------------------------------------------------------
// inference

InferenceOptions InferenceOptions::from_config(const Config& inference) {
  InferenceOptions o;
  o.tile = inference.get_int("tile", 1024, Bounds::at_least(32));
  o.overlap = inference.get_int("overlap", 64, Bounds::between(0, double(o.tile - 1)));
  const std::string tta = inference.get_choice("tta", "false", {"false", "true", "hflip"});
  o.tta = tta == "true" ? InferenceOptions::Flips::all
          : tta == "hflip" ? InferenceOptions::Flips::hflip
                           : InferenceOptions::Flips::none;
  o.scales = inference.get_double_list("scales", {1.0});
  const std::string where = str_cat(inference.origin(), ": ", inference.key_path("scales"), ": ");
  STRATA_CHECK(!o.scales.empty(), where, "give at least one factor, e.g. [1]");
  for (double f : o.scales) STRATA_CHECK(f >= 0.25 && f <= 4, where, f, " is outside [0.25, 4]");
  o.resolution = inference.get_choice("resolution", "model", {"model", "full"});
  return o;
}

std::string describe_views(const InferenceOptions& o) {
  using Flips = InferenceOptions::Flips;
  const bool one_scale = o.scales.size() == 1 && o.scales[0] == 1.0;
  if (o.tta == Flips::none && one_scale) return "one view";
  std::string s = o.tta == Flips::all    ? "the mean of the image and its three flips"
                  : o.tta == Flips::hflip ? "the mean of the image and its left-right mirror"
                                          : "the mean of the image";
  if (one_scale) return s;
  s += " at ";
  for (size_t i = 0; i < o.scales.size(); ++i)
    s += str_cat(i == 0 ? "" : i + 1 == o.scales.size() ? " and " : ", ", o.scales[i]);
  return s + " times its size";
}

namespace {

Image predict_tiled(Module& model, const Image& x, int64_t tile, int64_t overlap) {
  const auto run = [&](int64_t top, int64_t left, int64_t h, int64_t w) {
    const Image part = (top == 0 && left == 0 && h == x.height && w == x.width) ? x : crop(x, top, left, h, w);
    const Tensor out = model(Tensor::from_vector(part.data, {1, x.channels, h, w}).to(model.device())).contiguous();
    return Image{out.size(1), h, w, out.to_vector<float>()};
  };
  if (x.height <= tile && x.width <= tile) return run(0, 0, x.height, x.width);
  // Tiles of tile x tile with `overlap` shared pixels; overlapping logits are averaged.
  const int64_t step = std::max<int64_t>(tile - overlap, 1);
  const auto starts = [&](int64_t n) {
    std::vector<int64_t> s;
    if (n <= tile) return std::vector<int64_t>{0};
    for (int64_t p = 0;; p += step) {
      s.push_back(std::min(p, n - tile));
      if (p + tile >= n) break;
    }
    return s;
  };
  Image sum, count;
  for (int64_t top : starts(x.height))
    for (int64_t left : starts(x.width)) {
      const int64_t h = std::min(tile, x.height), w = std::min(tile, x.width);
      const Image part = run(top, left, h, w);
      if (sum.data.empty()) {
        sum = Image{part.channels, x.height, x.width, std::vector<float>(size_t(part.channels * x.height * x.width))};
        count = Image{1, x.height, x.width, std::vector<float>(size_t(x.height * x.width))};
      }
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
          for (int64_t c = 0; c < part.channels; ++c) sum.at(c, top + y, left + xx) += part.at(c, y, xx);
          count.at(0, top + y, left + xx) += 1;
        }
    }
  for (int64_t c = 0; c < sum.channels; ++c)
    for (int64_t y = 0; y < x.height; ++y)
      for (int64_t xx = 0; xx < x.width; ++xx) sum.at(c, y, xx) /= count.at(0, y, xx);
  return sum;
}

}  // namespace

Tensor mean_over_views(const std::function<Tensor(const Tensor&)>& net, const Tensor& x, const InferenceOptions& o) {
  using Flips = InferenceOptions::Flips;
  const auto flips = [&](const Tensor& v) {  // the mean over the flips of one input
    Tensor sum = net(v);
    if (o.tta == Flips::none) return sum;
    sum = add(sum, flip(net(flip(v, 3)), 3));
    if (o.tta == Flips::hflip) return mul(sum, 0.5);
    sum = add(sum, flip(net(flip(v, 2)), 2));
    sum = add(sum, flip(flip(net(flip(flip(v, 3), 2)), 2), 3));
    return mul(sum, 0.25);
  };
  Tensor mean;
  for (const double f : o.scales) {
    Tensor l = f == 1.0 ? flips(x) : flips(upsample2d(x, Upsample2dOptions{.scale = {f, f}, .mode = UpsampleMode::linear}));
    if (f != 1.0) l = upsample2d(l, Upsample2dOptions{.mode = UpsampleMode::linear, .size_like = x});
    mean = mean.defined() ? add(mean, l) : l;
  }
  return o.scales.size() > 1 ? mul(mean, 1.0 / double(o.scales.size())) : mean;
}

Image predict_logits(Module& model, const Image& x, const InferenceOptions& o) {
  NoGradGuard no_grad;
  const auto tiled = [&](const Tensor& v) {
    const Image logits = predict_tiled(model, Image{v.size(1), v.size(2), v.size(3), v.contiguous().to_vector<float>()},
                                       o.tile, o.overlap);
    return Tensor::from_vector(logits.data, {1, logits.channels, logits.height, logits.width});
  };
  const Tensor mean = mean_over_views(tiled, Tensor::from_vector(x.data, {1, x.channels, x.height, x.width}), o);
  return Image{mean.size(1), mean.size(2), mean.size(3), mean.contiguous().to_vector<float>()};
}

Image probabilities(const Image& logits, const TaskSpec& task) {
  const int64_t plane = logits.height * logits.width;
  Image p{task.classes, logits.height, logits.width, std::vector<float>(size_t(task.classes * plane))};
  if (task.binary) {
    for (int64_t i = 0; i < plane; ++i) {
      const float one = 1.f / (1.f + std::exp(-logits.data[size_t(i)]));
      p.data[size_t(i)] = 1.f - one;
      p.data[size_t(plane + i)] = one;
    }
    return p;
  }
  for (int64_t i = 0; i < plane; ++i) {
    float mx = -1e30f;
    for (int64_t c = 0; c < task.classes; ++c) mx = std::max(mx, logits.data[size_t(c * plane + i)]);
    float sum = 0;
    for (int64_t c = 0; c < task.classes; ++c) sum += p.data[size_t(c * plane + i)] = std::exp(logits.data[size_t(c * plane + i)] - mx);
    for (int64_t c = 0; c < task.classes; ++c) p.data[size_t(c * plane + i)] /= sum;
  }
  return p;
}

LabelMap labels_of(const Image& probs, const TaskSpec& task) {
  const int64_t plane = probs.height * probs.width;
  LabelMap m{probs.height, probs.width, std::vector<int32_t>(size_t(plane))};
  for (int64_t i = 0; i < plane; ++i) {
    if (task.binary) {
      m.data[size_t(i)] = probs.data[size_t(plane + i)] >= task.threshold ? 1 : 0;
      continue;
    }
    int32_t best = 0;
    for (int64_t c = 1; c < task.classes; ++c)
      if (probs.data[size_t(c * plane + i)] > probs.data[size_t(best * plane + i)]) best = int32_t(c);
    m.data[size_t(i)] = best;
  }
  return m;
}

namespace {

// The network's input for a decoded image: the evaluation transforms
// (data.size resize and normalisation), or normalisation alone at `full` resolution.
Sample network_input(const Sample& raw, const TransformOptions& tf, const InferenceOptions& inf) {
  if (inf.resolution != "full") return apply_transforms(raw, tf, nullptr);
  TransformOptions own = tf;
  own.size.clear();
  return apply_transforms(raw, own, nullptr);
}

Image to_size(Image logits, int64_t height, int64_t width) {
  if (logits.height == height && logits.width == width) return logits;
  return resize_image(logits, height, width, Interp::bilinear);
}

}  // namespace

Image image_logits(Module& model, const Image& raw, const TransformOptions& tf, const InferenceOptions& inf) {
  const Sample in = network_input(Sample{raw, {}}, tf, inf);
  return to_size(predict_logits(model, in.image, inf), raw.height, raw.width);
}

Scored score_image(Module& model, const SegmentData& data, const TaskSpec& task, const LossOptions& loss,
                   const ImagePair& p, const InferenceOptions& inf) {
  Scored s;
  s.raw = data.decoded(p);
  const Sample& raw = s.raw;
  const Sample in = network_input(raw, data.transforms(), inf);
  const Image logits = predict_logits(model, in.image, inf);
  {  // the loss at the network's resolution
    NoGradGuard no_grad;
    const Batch b = collate({in});
    const Tensor l = segment_loss(Tensor::from_vector(logits.data, {1, logits.channels, logits.height, logits.width}),
                                  b, task, loss);
    s.loss = l.item<float>();
    s.pixels = b.pixels;
  }
  // Logits, not probabilities, are resized to the labels' size: the argmax of
  // interpolated logits keeps class boundaries where the network put them.
  s.probs = probabilities(to_size(logits, raw.image.height, raw.image.width), task);
  s.predicted = labels_of(s.probs, task);
  return s;
}

// ---------------------------------------------------------------------------
// figures

Panel label_panel(const LabelMap& m, const TaskSpec& task, const std::string& title) {
  const int64_t plane = m.height * m.width;
  Panel p{title, m.height, m.width, task.binary ? 1 : 3, std::vector<float>(size_t((task.binary ? 1 : 3) * plane))};
  for (int64_t i = 0; i < plane; ++i) {
    const int32_t v = m.data[size_t(i)];
    if (task.binary) {
      p.pixels[size_t(i)] = v == kIgnoreLabel ? 0.5f : float(v);
      continue;
    }
    const Rgb c = v == kIgnoreLabel ? Rgb{0, 0, 0} : task.palette[size_t(v)];
    for (int k = 0; k < 3; ++k) p.pixels[size_t(i * 3 + k)] = float(c[size_t(k)]) / 255.f;
  }
  return p;
}

Image overlay(const Image& raw, const LabelMap& m, const TaskSpec& task) {
  Image out{3, raw.height, raw.width, std::vector<float>(size_t(3 * raw.height * raw.width))};
  const int64_t plane = raw.height * raw.width;
  for (int64_t i = 0; i < plane; ++i) {
    const int32_t v = m.data[size_t(i)];
    const bool paint = task.binary ? v == 1 : v >= 0;
    const Rgb c = task.binary ? Rgb{255, 40, 40} : task.palette[size_t(std::max(v, 0))];
    for (int64_t k = 0; k < 3; ++k) {
      const float g = raw.data[size_t((raw.channels == 3 ? k : 0) * plane + i)];
      out.data[size_t(k * plane + i)] = paint ? 0.55f * g + 0.45f * float(c[size_t(k)]) / 255.f : g;
    }
  }
  return out;
}

void write_panels(const std::string& path, Module& model, const SegmentData& data, const TaskSpec& task,
                  const LossOptions& loss, const std::vector<ImagePair>& pairs, int64_t n,
                  const InferenceOptions& inf) {
  std::vector<std::vector<Panel>> rows;
  // Rows spread evenly over the list (the same ones every epoch): consecutive frames of a video look alike.
  const int64_t count = std::min({n, kMaxPanelRows, int64_t(pairs.size())});
  bool unscored = false;  // a truth panel shows ignored pixels (black)
  for (int64_t i = 0; i < count; ++i) {
    const ImagePair& p = pairs[size_t(i * int64_t(pairs.size()) / count)];
    const Scored s = score_image(model, data, task, loss, p, inf);
    const Sample& raw = s.raw;
    std::vector<float> hwc(raw.image.data.size());
    const int64_t plane = raw.image.height * raw.image.width, c = raw.image.channels;
    for (int64_t j = 0; j < plane; ++j)
      for (int64_t k = 0; k < c; ++k) hwc[size_t(j * c + k)] = raw.image.data[size_t(k * plane + j)];
    rows.push_back({Panel{fs::path(p.image).filename().string(), raw.image.height, raw.image.width, c, hwc},
                    label_panel(raw.mask, task, "truth"), label_panel(s.predicted, task, "prediction")});
    unscored = unscored || std::find(raw.mask.data.begin(), raw.mask.data.end(), kIgnoreLabel) != raw.mask.data.end();
  }
  std::vector<LegendEntry> classes;  // the colours of a multi-class label map
  if (!task.binary)
    for (size_t c = 0; c < task.palette.size(); ++c)
      classes.push_back({c < task.class_names.size() ? task.class_names[c] : std::to_string(c), {}, Marker::none,
                         false, task.palette[c]});
  if (!task.binary && unscored) classes.push_back({"not scored", {}, Marker::none, false, Rgb{0, 0, 0}});
  if (!rows.empty()) image_panels(path, rows, 256, classes);
}

}  // namespace strata::segment
