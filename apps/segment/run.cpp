#include "apps/segment/run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>

#include "apps/common/driver.h"
#include "apps/common/export.h"
#include "apps/common/loader.h"
#include "apps/common/output_plan.h"
#include "apps/common/plot.h"
#include "apps/common/trainer.h"
#include "apps/segment/segment.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/checkpoint.h"
#include "layers/optimizer.h"
#include "layers/registry.h"

namespace fs = std::filesystem;

namespace strata::segment {
namespace {

// Settings of a run that are not the data's, the model's or the optimizer's.
struct RunOptions {
  int64_t batch = 8, workers = 2, prefetch = 2, samples_per_epoch = 0, panels_every = 5, panel_images = 3;
  std::vector<int64_t> panel_epochs;  // epochs (1-based) that also get panels
  InferenceOptions inference;
  uint64_t seed = 1;
  static RunOptions from_config(const Config& cfg, int64_t train_size) {
    RunOptions o;
    const Config train = cfg.section("train"), data = cfg.section("data");
    o.batch = train.get_int("batch", 8, Bounds::at_least(1));
    o.seed = uint64_t(train.get_int("seed", 1, Bounds::at_least(0)));
    o.panels_every = train.get_int("panels_every", 5, Bounds::at_least(0));
    o.panel_images = train.get_int("panel_images", 3, Bounds::between(0, kMaxPanelRows));
    o.panel_epochs = train.get_int_list("panel_epochs", {});
    o.workers = data.get_int("workers", 2, Bounds::between(0, 64));
    o.prefetch = data.get_int("prefetch", 2, Bounds::between(1, 64));
    o.samples_per_epoch = data.get_int("samples_per_epoch", train_size, Bounds::at_least(1));
    o.inference = InferenceOptions::from_config(cfg.section("inference"));
    return o;
  }
};

// A trained model with everything predict needs, from a checkpoint alone.
struct Loaded {
  Config cfg;
  TaskSpec task;
  ModulePtr model;
};

Loaded load_model(const std::string& path, const std::vector<std::string>& overrides) {
  // The encoder's starting weights are in the checkpoint (model.encoder_weights, the file they came from, is
  // read at the start of training only).
  TrainedModel t = load_trained(path, "strata-segment", "segment.config", overrides);
  const TaskSpec task = TaskSpec::from_config(t.cfg);
  return Loaded{std::move(t.cfg), task, std::move(t.model)};
}

// Validation metrics of `model` on `pairs`, and the confusion matrix.
std::map<std::string, double> evaluate(Module& model, const SegmentData& data, const TaskSpec& task,
                                       const LossOptions& loss, const std::vector<ImagePair>& pairs, const InferenceOptions& inf,
                                       ConfusionMatrix* out = nullptr) {
  ConfusionMatrix cm(task.classes);
  double loss_sum = 0;
  int64_t pixels = 0;
  const dist::Span mine = dist::split(int64_t(pairs.size()));  // data-parallel ranks: a share each, counts summed
  for (int64_t i = mine.begin; i < mine.end; ++i) {
    const ImagePair& p = pairs[size_t(i)];
    const Scored s = score_image(model, data, task, loss, p, inf);
    std::vector<int64_t> truth(s.raw.mask.data.begin(), s.raw.mask.data.end()),
        pred(s.predicted.data.begin(), s.predicted.data.end());
    cm.add(truth, pred, kIgnoreLabel);
    loss_sum += s.loss * double(s.pixels);
    pixels += s.pixels;
  }
  cm.sum_over_ranks();
  double sums[2] = {loss_sum, double(pixels)};
  dist::allreduce_sum(sums, 2);
  std::map<std::string, double> m;
  m["val_loss"] = sums[0] / std::max(sums[1], 1.0);
  m["val_accuracy"] = cm.accuracy();
  m["val_miou"] = cm.mean_iou();
  if (!task.binary) m["val_class_accuracy"] = cm.recall_macro();
  for (int64_t c = 0; c < task.classes; ++c) m["val_iou_" + task.class_names[size_t(c)]] = cm.iou(c);
  if (task.binary) {
    m["val_precision"] = cm.precision(1);
    m["val_recall"] = cm.recall(1);
    m["val_f1"] = cm.f1(1);
  }
  if (out) *out = cm;
  return m;
}

void write_metrics_csv(const std::string& path, const std::map<std::string, double>& m, int64_t images) {
  write_file_atomic(path, [&](std::ostream& f) {
    f << "metric,value\nimages," << images << "\n";
    for (const auto& [k, v] : m) f << k.substr(k.rfind("val_", 0) == 0 ? 4 : 0) << "," << v << "\n";
  });
}

std::string summary_line(const std::map<std::string, double>& m, const TaskSpec& task) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "pixel accuracy %.4f, mean IoU %.4f, loss %.4f", m.at("val_accuracy"),
                m.at("val_miou"), m.at("val_loss"));
  std::string s = buf;
  if (m.count("val_class_accuracy")) s += ", class-average accuracy " + std::to_string(m.at("val_class_accuracy")).substr(0, 6);
  for (const std::string& name : task.class_names)  // in class order
    if (m.count("val_iou_" + name)) s += ", IoU " + name + " " + std::to_string(m.at("val_iou_" + name)).substr(0, 6);
  return s;
}

// loss.class_weights: inverse_frequency | median_frequency -> the weights from
// the training labels, printed, and written into the run's config as a list (so
// checkpoints, eval and --resume use these numbers, not a recount).
void resolve_class_weights(Config& cfg, const SegmentData& data, const TaskSpec& task, LossOptions& loss) {
  STRATA_CHECK(!task.binary, cfg.origin(), ": loss.class_weights: ", loss.class_weight_mode,
               " is for multi-class tasks; binary tasks weight the object class with loss.pos_weight");
  const ClassFrequencies f = class_frequencies(data, task.classes);
  loss.class_weights = frequency_weights(f, loss.class_weight_mode);
  for (double& w : loss.class_weights) w = w > 0 ? std::pow(w, loss.class_weight_power) : 0.0;
  const std::string how =
      loss.class_weight_mode + (loss.class_weight_power == 1 ? "" : str_cat(" to the power ", loss.class_weight_power));
  std::fprintf(stderr, "strata-segment: class weights (%s, from %zu training label maps, %lld labelled pixels):\n",
               how.c_str(), data.train().size(), static_cast<long long>(f.total));
  for (int64_t c = 0; c < task.classes; ++c) {
    const double share = double(f.pixels[size_t(c)]) / double(std::max<int64_t>(f.total, 1));
    std::fprintf(stderr, "  %-14s %6.2f%% of pixels  weight %.4f%s\n", task.class_names[size_t(c)].c_str(), 100 * share,
                 loss.class_weights[size_t(c)], f.pixels[size_t(c)] == 0 ? "  (absent from the training labels)" : "");
  }
  cfg.section("loss").set("class_weights", loss.class_weights);
  loss.class_weight_mode = "list";
}

// Image segmentation from image / mask pairs: binary (sigmoid) or multi-class (softmax).
class SegmentTask : public Task {
 public:
  std::string app() const override { return "strata-segment"; }
  std::string config_entry() const override { return "segment.config"; }
  // Without validation images (data.val_fraction: 0, e.g. a final model on every labelled image) the best
  // checkpoint is the epoch of the lowest training loss.
  std::string default_monitor() const override { return data_ && data_->val().empty() ? "train_loss" : "val_miou"; }

  TrainingPlan prepare(Config& cfg) override {
    task_ = TaskSpec::from_config(cfg);
    data_ = std::make_unique<SegmentData>(cfg.section("data"), task_);
    loss_ = LossOptions::from_config(cfg.section("loss"));
    ro_ = RunOptions::from_config(cfg, int64_t(data_->train().size()));
    mark_section_known(cfg, "pretrain");  // strata-segment pretrain's
    // Every pair before any long work or any file of the run: the sizes from the headers, each mask's labels
    // (a class index out of range, a 0 / 1 mask under a threshold of 127).
    std::map<std::pair<int64_t, int64_t>, std::string> train_sizes;  // (height, width) -> an image of that size
    for (const auto* set : {&data_->train(), &data_->val()})
      for (const ImagePair& p : *set) {
        const ImageInfo im = image_info(p.image), ma = image_info(p.mask);
        STRATA_CHECK(im.width == ma.width && im.height == ma.height, p.mask, ": the mask is ", ma.width, " x ",
                     ma.height, " but its image ", p.image, " is ", im.width, " x ", im.height);
        data_->mask_spec().read(p.mask, im.height, im.width);
        if (set == &data_->train()) train_sizes.emplace(std::pair{im.height, im.width}, p.image);
      }
    check_one_batch_size(train_sizes);
    STRATA_CHECK(loss_.uses_bce(task_) == task_.binary, cfg.origin(), ": loss.type ", loss_.type,
                 " does not fit model.classes ", task_.binary ? 1 : task_.classes,
                 " (bce: model.classes 1; cross_entropy / focal: 2 or more)");
    if (loss_.class_weight_mode != "none" && loss_.class_weight_mode != "list")
      resolve_class_weights(cfg, *data_, task_, loss_);
    return {int64_t(data_->train().size()), ro_.samples_per_epoch, ro_.batch, ro_.seed, ro_.workers, ro_.prefetch};
  }

  // A batch of several images needs them at one size: the crop gives it, or data.size with no random scale, or
  // training images all of one size (a transpose of a non-square size is refused with data.augment).
  void check_one_batch_size(const std::map<std::pair<int64_t, int64_t>, std::string>& sizes) const {
    const TransformOptions& tf = data_->transforms();
    if (ro_.batch == 1 || !tf.crop.empty()) return;
    const std::string needs = str_cat(", and a batch of ", ro_.batch, " needs one: set ");
    STRATA_CHECK(tf.scale[0] == 1 && tf.scale[1] == 1, "data.augment.scale without data.augment.crop gives each ",
                 "training image its own size", needs, "data.augment.crop: [h, w], or train.batch: 1");
    if (tf.size.empty() && sizes.size() > 1) {
      const auto a = sizes.begin(), b = std::next(a);
      STRATA_FAIL("the training images have ", sizes.size(), " sizes (", a->second, " is ", a->first.second, " x ",
                  a->first.first, ", ", b->second, " is ", b->first.second, " x ", b->first.first, ")", needs,
                  "data.size: [h, w] (every image resized), data.augment.crop: [h, w], or train.batch: 1");
    }
  }

  void start(const std::string& out, const Module& model, Device device) override {
    // The images each side of the split, as list files that data.train_list / data.val_list take back.
    for (const auto& [name, set] :
         {std::pair{"train_list.txt", &data_->train()}, std::pair{"val_list.txt", &data_->val()}})
      if (!set->empty() && !write_pair_list((fs::path(out) / name).string(), *set))
        std::fprintf(stderr,
                     "strata-segment: %s not written (a path holds whitespace, which list files cannot carry)\n",
                     name);
    const std::string validation = data_->val().empty() ? "no validation images (best checkpoint by training loss)"
                                                        : std::to_string(data_->val().size()) + " validation image" +
                                                              (data_->val().size() == 1 ? "" : "s");
    std::fprintf(stderr, "strata-segment: %zu training image%s, %s, %s; %lld classes (%s), %s -> %s\n",
                 data_->train().size(), data_->train().size() == 1 ? "" : "s", validation.c_str(),
                 model.describe().c_str(),
                 static_cast<long long>(task_.classes), task_.binary ? "sigmoid" : "softmax",
                 device_label(device).c_str(), out.c_str());
  }

  Sample sample(int64_t index, std::mt19937_64& rng) const override { return data_->training_sample(index, rng); }

  Tensor loss(Module& model, std::vector<Sample> samples, Device device) override {
    Batch batch = collate(std::move(samples));  // x: (N, C, H, W); labels: (N, H, W)
    batch.x = batch.x.to(device), batch.labels = batch.labels.to(device);
    return segment_loss(model(batch.x), batch, task_, loss_);
  }

  bool graph_ready(std::string* why_not) const override {
    if (GraphLoss::supports(loss_)) return true;
    if (why_not) *why_not = "loss.type focal reads a sum on the host each step; use cross_entropy or bce";
    return false;
  }

  std::vector<Tensor> graph_batch(std::vector<Sample> samples) override {
    if (!graph_loss_) graph_loss_ = std::make_unique<GraphLoss>(task_, loss_);
    return graph_loss_->batch(collate(std::move(samples)));
  }

  Tensor graph_loss(Module& model, const std::vector<Tensor>& on_device) override {
    return (*graph_loss_)(model, on_device);
  }

  std::map<std::string, double> validate(Module& model, int64_t epoch, const std::string& out) override {
    std::map<std::string, double> m;
    // Per-epoch validation in one view (no flips, one scale); the final scores use inference.tta and scales.
    InferenceOptions quick = ro_.inference;
    quick.tta = InferenceOptions::Flips::none;
    quick.scales = {1.0};
    if (!data_->val().empty()) m = evaluate(model, *data_, task_, loss_, data_->val(), quick);
    const bool chosen =
        std::find(ro_.panel_epochs.begin(), ro_.panel_epochs.end(), epoch + 1) != ro_.panel_epochs.end();
    if (ro_.panel_images > 0 &&
        (chosen || (ro_.panels_every > 0 && ((epoch + 1) % ro_.panels_every == 0 || epoch == 0)))) {
      char name[32];
      std::snprintf(name, sizeof name, "epoch_%03lld.png", static_cast<long long>(epoch + 1));
      const auto& shown = data_->val().empty() ? data_->train() : data_->val();
      write_panels((fs::path(out) / "panels" / name).string(), model, *data_, task_, loss_, shown, ro_.panel_images,
                   ro_.inference);
    }
    return m;
  }

  // The best model on the validation images: metrics, confusion matrix, panels of the first 16.
  void finish(const std::string& out, Module& best, Checkpoint&) override {
    if (data_->val().empty()) return;
    ConfusionMatrix cm(task_.classes);
    const auto m = evaluate(best, *data_, task_, loss_, data_->val(), ro_.inference, &cm);
    write_metrics_csv((fs::path(out) / "val_metrics.csv").string(), m, int64_t(data_->val().size()));
    confusion_plot((fs::path(out) / "confusion_val.png").string(), "best model, validation images", cm,
                   task_.class_names);
    write_panels((fs::path(out) / "panels" / "best.png").string(), best, *data_, task_, loss_, data_->val(),
                 kMaxPanelRows, ro_.inference);
    std::fprintf(stderr, "strata-segment: best model on %zu validation images: %s\n", data_->val().size(),
                 summary_line(m, task_).c_str());
  }

 private:
  TaskSpec task_;
  std::unique_ptr<SegmentData> data_;
  LossOptions loss_;
  std::unique_ptr<GraphLoss> graph_loss_;  // train.cuda_graph
  RunOptions ro_;
};

}  // namespace

int train_command(const AppArgs& a) {
  SegmentTask task;
  return train_task(task, a);
}

namespace {

// The trained model's commands: scores on labelled images (eval), masks of any images (predict), the export graph.
class SegmentModel : public TrainedTask {
 public:
  const Config& load(const std::string& checkpoint, const std::vector<std::string>& overrides) override {
    l_.emplace(load_model(checkpoint, overrides));
    return l_->cfg;
  }

  void prepare(const std::string& command, const AppArgs& a) override {
    tf_ = TransformOptions::from_config(l_->cfg.section("data"), l_->task.channels);
    inf_ = InferenceOptions::from_config(l_->cfg.section("inference"));
    if (command == "export") return;
    if (command == "eval") {
      const Config data_cfg = l_->cfg.section("data");
      if (a.data.empty())
        data_.emplace(data_cfg, l_->task);
      else
        data_.emplace(data_cfg, l_->task, a.data);
      loss_ = LossOptions::from_config(l_->cfg.section("loss"));
      STRATA_CHECK(!data_->val().empty(), "eval: no labelled images (the config has no validation set; give --data)");
      return;
    }
    inputs_ = image_files(a.input, false);
    STRATA_CHECK(!inputs_.empty(), a.input, ": holds no image files (PNG, JPEG, BMP, ...)");
    std::error_code ec;
    // One image and an --output ending in .png: the mask is written there (NAME_overlay.png, NAME_prob.png
    // beside it); otherwise --output is the folder of <stem>.png masks.
    to_file_ = output_names_a_file(a.input, inputs_.size(), a.output, {".png"});
    STRATA_CHECK(to_file_ || !fs::exists(a.output, ec) || fs::is_directory(a.output, ec), a.output,
                 ": exists and is not a folder; --output names the folder the masks are written to (or, for one "
                 "image, a .png file)");
    // Every output named before the first is written: none over an input, no two inputs onto one name.
    const bool probs_out = a.switches.count("--probabilities") > 0;
    OutputPlan plan(inputs_);
    for (const std::string& path : inputs_) {
      const std::string stem = output_stem(a.output, path, to_file_);
      plan.add(mask_path(a.output, path), path);
      plan.add(stem + "_overlay.png", path);
      if (probs_out) plan.add(stem + "_prob.png", path);
    }
  }

  // An image's mask: OUTPUT/<stem>.png, or the file --output names.
  std::string mask_path(const std::string& output, const std::string& image) const {
    return to_file_ ? output : output_stem(output, image, false) + ".png";
  }

  void to(Device device) override { l_->model->to(device); }

  void evaluate(const std::string& out, const AppArgs& a) override {
    const Loaded& l = *l_;
    const SegmentData& data = *data_;
    ConfusionMatrix cm(l.task.classes);
    const auto m = strata::segment::evaluate(*l.model, data, l.task, loss_, data.val(), inf_, &cm);
    write_metrics_csv((fs::path(out) / "metrics.csv").string(), m, int64_t(data.val().size()));
    confusion_plot((fs::path(out) / "confusion.png").string(), "eval: " + fs::path(a.checkpoint).filename().string(),
                   cm, l.task.class_names);
    write_panels((fs::path(out) / "panels.png").string(), *l.model, data, l.task, loss_, data.val(),
                 std::min<int64_t>(int64_t(data.val().size()), 8), inf_);
    std::printf("%zu images: %s\n", data.val().size(), summary_line(m, l.task).c_str());
    if (l.task.binary)
      std::printf("object class: precision %.4f, recall %.4f, F1 %.4f\n", m.at("val_precision"), m.at("val_recall"),
                  m.at("val_f1"));
    std::printf("wrote %s/{metrics.csv, confusion.png, panels.png}\n", out.c_str());
  }

  void predict(const AppArgs& a) override {
    const Loaded& l = *l_;
    const bool probs_out = a.switches.count("--probabilities") > 0;
    create_directories_checked(to_file_ ? fs::path(a.output).parent_path().string() : a.output);
    SkippedInputs skipped(inputs_.size());
    for (const std::string& path : inputs_) skipped.attempt(path, [&] {
      const Image raw = read_image(path, l.task.channels);
      const Image probs = probabilities(image_logits(*l.model, raw, tf_, inf_), l.task);
      LabelMap labels = labels_of(probs, l.task);
      const std::string stem = output_stem(a.output, path, to_file_), mask = mask_path(a.output, path);
      LabelMap shown = labels;
      if (l.task.binary)
        for (int32_t& v : shown.data) v *= 255;
      write_label_png(mask, shown, l.task.classes > 255 ? 16 : 8);
      write_png(stem + "_overlay.png", overlay(raw, labels, l.task));
      if (probs_out) {
        // Binary: P(object); multi-class: the probability of the predicted class.
        const int64_t plane = raw.height * raw.width;
        Image p{1, raw.height, raw.width, std::vector<float>(size_t(plane))};
        for (int64_t i = 0; i < plane; ++i)
          p.data[size_t(i)] = probs.data[size_t((l.task.binary ? 1 : labels.data[size_t(i)]) * plane + i)];
        write_png(stem + "_prob.png", p, 16);
      }
      std::printf("%s -> %s (%lld x %lld)\n", path.c_str(), mask.c_str(),
                  static_cast<long long>(raw.width), static_cast<long long>(raw.height));
    });
    if (!to_file_)
      std::printf("wrote %zu mask%s to %s\n", skipped.predicted(), skipped.predicted() == 1 ? "" : "s",
                  a.output.c_str());
    skipped.check();
  }

  AppExport export_graph() override {
    const Loaded& l = *l_;
    const TransformOptions& tf = tf_;
    const int64_t multiple = spatial_multiple(l.cfg.section("model"));
    const int64_t h = tf.size.empty() ? 3 * multiple : tf.size[0], w = tf.size.empty() ? 2 * multiple : tf.size[1];
    AppExport e;
    e.model = l.model.get();
    e.example = Tensor::rand({1, l.task.channels, h, w});
    e.graph = [this](const Tensor& x) {
      const TransformOptions& tf = tf_;
      Tensor in = x;
      if (tf.per_image) {
        in = standardise_per_channel(x);
      } else if (!tf.mean.empty()) {
        std::vector<float> m, inv;
        for (size_t c = 0; c < tf.mean.size(); ++c) m.push_back(float(tf.mean[c])), inv.push_back(float(1.0 / tf.std[c]));
        const int64_t C = int64_t(m.size());
        in = mul(sub(x, Tensor::from_vector(m, {1, C, 1, 1})), Tensor::from_vector(inv, {1, C, 1, 1}));
      }
      // The views of inference.tta and inference.scales, as predict_logits averages them.
      const Tensor logits = mean_over_views([this](const Tensor& v) { return (*l_->model)(v); }, in, inf_);
      return std::vector<Tensor>{l_->task.binary ? sigmoid(logits) : softmax(logits, 1)};
    };
    e.onnx.input_name = "image";
    e.onnx.input_dims = {"batch", "", "height", "width"};
    e.onnx.output_names = {"probability"};
    std::string names, palette;
    for (const std::string& n : l.task.class_names) names += (names.empty() ? "" : ", ") + n;
    for (const Rgb& c : l.task.palette)
      palette += str_cat(palette.empty() ? "" : " ", int(c[0]), ",", int(c[1]), ",", int(c[2]));
    e.onnx.metadata = {
        {"strata.input", str_cat("images (N, ", l.task.channels, ", H, W), pixels in [0, 1]",
                                 tf.size.empty() ? std::string() : str_cat(", resized to ", tf.size[0], " x ", tf.size[1]),
                                 "; any H and W (the graph pads to the network's multiple of ", multiple, " and crops back)")},
        {"strata.output", l.task.binary ? "probability (N, 1, H, W) of class 1; predicted where >= strata.threshold"
                                        : "probability (N, classes, H, W); the predicted class is the argmax"},
        {"strata.class_names", names},
        {"strata.palette", palette},
        {"strata.threshold", str_cat(l.task.threshold)},
        {"strata.predict", str_cat("equals strata-segment predict on images at the model's size (data.size) up to "
                                   "inference.tile (", inf_.tile, ") a side: ", describe_views(inf_))},
        {"strata.normalize", tf.per_image ? "per_image (inside the graph)"
                                          : tf.mean.empty() ? "none" : "mean / std (inside the graph)"},
        {"strata.model", l.model->describe()}};
    e.onnx.doc = "strata-segment: image segmentation";
    return e;
  }

 private:
  std::optional<Loaded> l_;
  std::optional<SegmentData> data_;
  TransformOptions tf_;
  InferenceOptions inf_;
  LossOptions loss_;
  std::vector<std::string> inputs_;
  bool to_file_ = false;  // predict: one image to the --output file
};

}  // namespace

int eval_command(const AppArgs& a) { return eval_with<SegmentModel>(a); }

int predict_command(const AppArgs& a) { return predict_with<SegmentModel>(a); }

int export_command(const AppArgs& a) { return export_with<SegmentModel>("strata-segment", a); }

}  // namespace strata::segment
