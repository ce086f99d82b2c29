#include "apps/anomaly/run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>

#include "apps/anomaly/anomaly.h"
#include "apps/common/datasets.h"
#include "apps/common/driver.h"
#include "apps/common/export.h"
#include "apps/common/loader.h"
#include "apps/common/metrics.h"
#include "apps/common/output_plan.h"
#include "apps/common/trainer.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/checkpoint.h"
#include "layers/optimizer.h"
#include "layers/registry.h"

namespace fs = std::filesystem;

namespace strata::anomaly {
namespace {

// The model's input shape comes from the data (Fashion-MNIST 1 x 28 x 28, or
// data.channels x data.size); a different model.input_shape is an error.
void set_input_shape(Config& cfg) {
  const Shape in = AnomalyData::input_shape(cfg.section("data"));
  const std::vector<int64_t> shape(in.begin(), in.end());
  Config model = cfg.section("model");
  if (model.has("input_shape"))
    STRATA_CHECK(model.get_int_list("input_shape", {}) == shape, "model.input_shape ",
                 shape_str(model.get_int_list("input_shape", {})), " differs from the data's ", shape_str(shape),
                 " (leave it out: the data sets it)");
  else
    model.set("input_shape", shape);
}

std::shared_ptr<Autoencoder> build_autoencoder(const Config& model_cfg) {
  auto ae = std::dynamic_pointer_cast<Autoencoder>(build_module(model_cfg));
  STRATA_CHECK(ae, "model.type '", model_cfg.get_string("type", ""),
               "' is not an autoencoder (autoencoder, vae, conv_autoencoder, conv_vae)");
  return ae;
}

// A trained model with its score settings and threshold, from a checkpoint alone.
struct Loaded {
  Config cfg;
  std::shared_ptr<Autoencoder> model;
  ScoreOptions score;
  ScoreCalibration calibration;
  double threshold = 0;
  std::string threshold_rule;
  double level = 0.91;
};

Loaded load_model(const std::string& path, const std::vector<std::string>& overrides) {
  TrainedModel t = load_trained(path, "strata-anomaly", "anomaly.config", overrides, build_autoencoder);
  const Checkpoint& ck = t.checkpoint;
  STRATA_CHECK(ck.has("anomaly.threshold"), path,
               ": has no threshold (training was stopped before one was chosen on validation); use the "
               "best.safetensors of a finished run");
  Loaded l{std::move(t.cfg), std::static_pointer_cast<Autoencoder>(t.model), {}, {}, 0, "", 0.91};
  l.score = ScoreOptions::from_config(l.cfg.section("score"));
  if (ck.has("anomaly.score"))
    STRATA_CHECK(ck.get("anomaly.score") == l.score.describe(), path, ": the threshold was chosen for the score '",
                 ck.get("anomaly.score"), "', and score.* overrides make it '", l.score.describe(),
                 "'; leave score.* as trained (or train with the score you want)");
  l.calibration = ScoreCalibration::load(ck, l.score);
  l.threshold = ck.get_double("anomaly.threshold");
  l.threshold_rule = ck.has("anomaly.threshold_rule") ? ck.get("anomaly.threshold_rule") : "";
  STRATA_CHECK(std::isfinite(l.threshold), path, ": the threshold is ", ck.get("anomaly.threshold"),
               ", not a finite number, so no image could be told anomalous; the checkpoint is damaged (retrain, "
               "or take the best.safetensors of another run)");
  l.level = l.cfg.section("report").get_double("level", 0.91, Bounds::between(0, 1));
  return l;
}

// A file name as a CSV field: quoted (inner quotes doubled) only when it holds a comma, quote or newline.
std::string csv_field(const std::string& name) {
  if (name.find_first_of(",\"\n") == std::string::npos) return name;
  std::string q = "\"";
  for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// Report and figures of `set`, scored `s`, into `dir`.
Report report_set(const std::string& dir, const std::string& name, Autoencoder& model, const ImageSet& set,
                  const std::vector<double>& s, double threshold, double level) {
  create_directories_checked(dir);
  const Report r = make_report(s, set.labels, threshold, level);
  write_report_csv((fs::path(dir) / "report.csv").string(), r, name);
  write_file_atomic((fs::path(dir) / "scores.csv").string(), [&](std::ostream& f) {
    f.precision(8);
    f << "file,label,score,anomaly\n";
    for (size_t i = 0; i < s.size(); ++i)
      f << csv_field(set.names[i]) << "," << set.labels[i] << "," << s[i] << "," << (s[i] > threshold ? 1 : 0) << "\n";
  });
  rates_plot((fs::path(dir) / "rates.png").string(), name + ": TPR and TNR against the threshold", s, set.labels,
             threshold);
  roc_plot((fs::path(dir) / "roc.png").string(), name + ": ROC", s, set.labels);
  histogram_plot((fs::path(dir) / "scores.png").string(), name + ": anomaly scores", s, set.labels, threshold);
  case_panels((fs::path(dir) / "panels.png").string(), model, set, s);
  return r;
}

// What each threshold rule picks on validation and gives on `set_name`: rules.csv.
void rules_table(const std::string& path, const std::vector<double>& val_scores, const std::vector<int64_t>& val_labels,
                 const std::vector<double>& scores, const std::vector<int64_t>& labels, const std::string& set_name) {
  struct Rule {
    const char* name;
    ThresholdPolicy policy;
  };
  const Rule rules[] = {{"tpr1_quantile 0.9", {"tpr1_quantile", 0.9, 0}},
                        {"youden", {"youden", 0, 0}},
                        {"fpr 0.05", {"fpr", 0, 0.05}},
                        {"fpr 0.10", {"fpr", 0, 0.10}},
                        {"tpr 0.95", {"tpr", 0, 0.95}}};
  write_file_atomic(path, [&](std::ostream& f) {
    f.precision(8);
    f << "# threshold rules chosen on validation, rates on " << set_name << "\nrule,threshold,tpr,tnr,f1\n";
    for (const Rule& r : rules) {
      const ThresholdChoice c = choose_threshold(val_scores, val_labels, r.policy);
      const Report rep = make_report(scores, labels, c.threshold, 0.91);
      f << r.name << "," << c.threshold << "," << rep.tpr << "," << rep.tnr << "," << rep.f1 << "\n";
    }
  });
}

// The threshold entries of a checkpoint that predict reads, with what the score needs beside the model.
void set_threshold(Checkpoint& ck, const ThresholdChoice& choice, const ScoreOptions& score,
                   const ScoreCalibration& calibration) {
  calibration.save(ck);
  char t[64];
  std::snprintf(t, sizeof t, "%.17g", choice.threshold);
  ck.set("anomaly.threshold", t);
  ck.set("anomaly.threshold_rule", choice.how);
  ck.set("anomaly.score", score.describe());
}

// An autoencoder trained on normal images alone; the threshold on its scores is chosen on validation images
// of both kinds and stored in each best checkpoint.
class AnomalyTask : public Task {
 public:
  std::string app() const override { return "strata-anomaly"; }
  std::string config_entry() const override { return "anomaly.config"; }
  std::string default_monitor() const override { return "val_auroc"; }

  TrainingPlan prepare(Config& cfg) override {
    set_input_shape(cfg);
    const Config train = cfg.section("train"), data = cfg.section("data");
    TrainingPlan plan;
    plan.batch = train.get_int("batch", 64, Bounds::at_least(1));
    plan.seed = uint64_t(train.get_int("seed", 1, Bounds::at_least(0)));
    loss_ = LossOptions::from_config(cfg.section("loss"));
    score_ = ScoreOptions::from_config(cfg.section("score"));
    policy_ = ThresholdPolicy::from_config(cfg.section("threshold"));
    level_ = cfg.section("report").get_double("level", 0.91, Bounds::between(0, 1));
    plan.workers = data.get_int("workers", 0, Bounds::between(0, 64));
    data_ = std::make_unique<AnomalyData>(data, AnomalyData::input_shape(data));
    plan.size = int64_t(data_->train().size());
    // An epoch: samples_per_epoch images (default: the training set once), seeded permutations end to end.
    plan.samples_per_epoch = data.get_int("samples_per_epoch", plan.size, Bounds::at_least(1));
    return plan;
  }

  ModulePtr build_model(const Config& model_cfg) const override { return build_autoencoder(model_cfg); }

  void start(const std::string& out, const Module& model, Device device) override {
    std::fprintf(stderr, "strata-anomaly: %s\nstrata-anomaly: %s %s, score %s, %s -> %s\n", data_->describe().c_str(),
                 model.type().c_str(), model.describe().c_str(), score_.describe().c_str(),
                 device_label(device).c_str(), out.c_str());
  }

  Sample sample(int64_t index, std::mt19937_64& rng) const override {
    const bool augment = data_->source() == "folders";
    return Sample{data_->sample(data_->train().images[size_t(index)], augment ? &rng : nullptr), {}};
  }

  Tensor loss(Module& model, std::vector<Sample> batch, Device device) override {
    std::vector<Image> images;
    for (Sample& s : batch) images.push_back(std::move(s.image));
    const Tensor x = stack_images(images, 0, images.size()).to(device);  // (N, C, H, W)
    return training_loss(static_cast<Autoencoder&>(model), x, loss_);
  }

  std::map<std::string, double> validate(Module& model, int64_t, const std::string&) override {
    const std::vector<int64_t>& labels = data_->val().labels;
    const std::vector<double> s = score_validation(static_cast<Autoencoder&>(model), latest_calibration_, true);
    double normal_sum = 0;
    for (size_t i = 0; i < s.size(); ++i)
      if (labels[i] == 0) normal_sum += s[i];
    latest_val_scores_ = s;
    return {{"val_auroc", roc_auc(s, labels)},
            {"val_ap", average_precision(s, labels)},
            {"val_normal_score", normal_sum / double(data_->val().count(0))}};
  }

  // Each best.safetensors carries the threshold chosen on its own validation scores, so a run stopped early
  // (Ctrl-C) leaves a best model that predicts.
  void decorate_best(Checkpoint& ck) override {
    set_threshold(ck, choose_threshold(latest_val_scores_, data_->val().labels, policy_), score_, latest_calibration_);
  }

  void finish(const std::string& out, Module& best_module, Checkpoint& best_ck) override {
    auto& best = static_cast<Autoencoder&>(best_module);
    ScoreCalibration calibration;
    const std::vector<double> val_scores = score_validation(best, calibration, false);
    const ThresholdChoice choice = choose_threshold(val_scores, data_->val().labels, policy_);
    if (!choice.warning.empty()) std::fprintf(stderr, "strata-anomaly: warning: %s\n", choice.warning.c_str());
    set_threshold(best_ck, choice, score_, calibration);
    std::fprintf(stderr, "strata-anomaly: threshold %.6g: %s\n", choice.threshold, choice.how.c_str());
    const Report val = report_set((fs::path(out) / "val").string(), "validation", best, data_->val(), val_scores,
                                  choice.threshold, level_);
    std::fprintf(stderr, "strata-anomaly: validation: %s", val.str().c_str());
    if (!data_->test().size()) {
      std::fprintf(stderr, "strata-anomaly: no test set (data.test); evaluate later with eval --data FOLDER\n");
      return;
    }
    const std::vector<double> test_scores = score_images(best, data_->test().images, score_, calibration);
    const Report test = report_set((fs::path(out) / "test").string(), "test", best, data_->test(), test_scores,
                                   choice.threshold, level_);
    rules_table((fs::path(out) / "test" / "rules.csv").string(), val_scores, data_->val().labels, test_scores,
                data_->test().labels, "test");
    std::printf("test: %s", test.str().c_str());
    std::printf("wrote %s/{best.safetensors, metrics.csv, loss.png, val/, test/}\n", out.c_str());
  }

 private:
  // The validation scores of `m`, with what its score needs fitted into `c` first: the codes' Gaussian on the
  // training images, then the terms' spread on the validation normal images from the same term values the
  // scores add. With `share`, data-parallel ranks compute a share of the images each and gather the values
  // back into the set's order.
  std::vector<double> score_validation(Autoencoder& m, ScoreCalibration& c, bool share) const {
    const std::vector<Image>& all = data_->val().images;
    const dist::Span mine = share ? dist::split(int64_t(all.size())) : dist::Span{0, int64_t(all.size())};
    c = fit_latent(m, data_->train(), score_);
    std::vector<std::vector<double>> terms =
        term_values(m, {all.begin() + mine.begin, all.begin() + mine.end}, score_, c);
    if (share)
      for (std::vector<double>& t : terms) t = dist::gather_in_order(t);
    fit_term_spread(c, terms, data_->val().labels, score_);
    return combine_terms(terms, score_, c);
  }

  std::unique_ptr<AnomalyData> data_;
  LossOptions loss_;
  ScoreOptions score_;
  ThresholdPolicy policy_;
  double level_ = 0.91;
  std::vector<double> latest_val_scores_;  // of the last validation: the threshold of a best.safetensors
  ScoreCalibration latest_calibration_;    // and what its score needs
};

}  // namespace

int train_command(const AppArgs& a) {
  AnomalyTask task;
  return train_task(task, a);
}

namespace {

// The trained model's commands: scores of labelled images (eval), of any images (predict), the export graph.
class AnomalyModel : public TrainedTask {
 public:
  const Config& load(const std::string& checkpoint, const std::vector<std::string>& overrides) override {
    l_.emplace(load_model(checkpoint, overrides));
    return l_->cfg;
  }

  void prepare(const std::string& command, const AppArgs& a) override {
    const Shape in = l_->model->options().input_shape;
    if (command == "eval" && a.data.empty()) {
      data_ = std::make_unique<AnomalyData>(l_->cfg.section("data"), in);
      STRATA_CHECK(data_->test().size() > 0, "eval: the checkpoint's config has no test set; give --data FOLDER (with "
                                             "normal/ and anomalous/ subfolders)");
    } else if (command == "eval") {
      // The training data need not exist here: images are only resized to the model's input.
      folder_ = AnomalyData::labelled_folder(a.data, in);
    } else if (command == "predict") {
      inputs_ = image_files(a.input, true);
      STRATA_CHECK(!inputs_.empty(), a.input, ": holds no image files (PNG, JPEG, BMP, ...)");
      OutputPlan(inputs_).add(a.output, "the scores");  // never a CSV over one of the images
    }
  }

  void to(Device device) override { l_->model->to(device); }

  void evaluate(const std::string& out, const AppArgs&) override {
    const ImageSet& set = data_ ? data_->test() : folder_;
    const Report r = report_set(out, "eval", *l_->model, set,
                                score_images(*l_->model, set.images, l_->score, l_->calibration), l_->threshold,
                                l_->level);
    std::printf("%s", r.str().c_str());
    std::printf("wrote %s/{report.csv, scores.csv, rates.png, roc.png, scores.png, panels.png}\n", out.c_str());
  }

  void predict(const AppArgs& a) override {
    ImageSet set;
    SkippedInputs skipped(inputs_.size());
    for (const std::string& f : inputs_)
      skipped.attempt(f, [&] { set.add(AnomalyData::load_image(f, l_->model->options().input_shape), 0, f); });
    STRATA_CHECK(set.size() > 0, a.input, ": none of its ", inputs_.size(), " images could be read");
    const std::vector<double> s = score_images(*l_->model, set.images, l_->score, l_->calibration);
    int64_t flagged = 0;
    write_file_atomic(a.output, [&](std::ostream& f) {
      f.precision(8);
      f << "file,score,anomaly\n";
      for (size_t i = 0; i < s.size(); ++i) {
        const bool anomalous = s[i] > l_->threshold;
        flagged += anomalous;
        f << csv_field(set.names[i]) << "," << s[i] << "," << (anomalous ? 1 : 0) << "\n";
      }
    });
    std::printf("scored %zu image%s: %lld above the threshold %.6g (anomalous); wrote %s\n", s.size(),
                s.size() == 1 ? "" : "s", static_cast<long long>(flagged), l_->threshold, a.output.c_str());
    skipped.check();
  }

  AppExport export_graph() override {
    const Shape in = l_->model->options().input_shape;
    AppExport e;
    e.model = l_->model.get();
    e.example = Tensor::rand({2, in[0], in[1], in[2]});
    e.graph = [this](const Tensor& x) {
      const Autoencoder::Output out = l_->model->run(x);
      return std::vector<Tensor>{out.reconstruction, anomaly_scores(*l_->model, out, x, l_->score, l_->calibration)};
    };
    e.onnx.input_name = "image";
    e.onnx.input_dims = {"batch", "", "", ""};
    e.onnx.output_names = {"reconstruction", "score"};
    char threshold[64];
    std::snprintf(threshold, sizeof threshold, "%.17g", l_->threshold);
    e.onnx.metadata = {{"strata.input", str_cat("images (N, ", in[0], ", ", in[1], ", ", in[2],
                                                "), pixels in [0, 1] after resizing to the model's input")},
                       {"strata.outputs", "reconstruction (N, C, H, W); score (N): anomalous when above the threshold"},
                       {"strata.threshold", threshold},
                       {"strata.threshold_rule", l_->threshold_rule},
                       {"strata.score", l_->score.describe()},
                       {"strata.model", l_->model->type() + " " + l_->model->describe()}};
    e.onnx.doc = "strata-anomaly: an autoencoder's reconstruction and anomaly score";
    return e;
  }

 private:
  std::optional<Loaded> l_;
  std::unique_ptr<AnomalyData> data_;
  ImageSet folder_;
  std::vector<std::string> inputs_;
};

}  // namespace

int eval_command(const AppArgs& a) { return eval_with<AnomalyModel>(a); }

int predict_command(const AppArgs& a) { return predict_with<AnomalyModel>(a); }

int export_command(const AppArgs& a) { return export_with<AnomalyModel>("strata-anomaly", a); }

}  // namespace strata::anomaly
