#include "apps/anomaly/run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "apps/anomaly/anomaly.h"
#include "apps/common/datasets.h"
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
  const std::string shape = str_cat("[", in[0], ", ", in[1], ", ", in[2], "]");
  const Config model = cfg.section("model");
  if (model.has("input_shape"))
    STRATA_CHECK(model.get_int_list("input_shape", {}) == std::vector<int64_t>(in.begin(), in.end()),
                 "model.input_shape ", shape_str(model.get_int_list("input_shape", {})), " differs from the data's ",
                 shape, " (leave it out: the data sets it)");
  else
    cfg.apply_override("model.input_shape=" + shape);
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
  double threshold = 0;
  std::string threshold_rule;
  double level = 0.91;
};

Loaded load_model(const std::string& path, const std::vector<std::string>& overrides) {
  const Checkpoint ck = Checkpoint::load(path);
  STRATA_CHECK(ck.has("anomaly.config"), path, ": not a strata-anomaly checkpoint (no anomaly.config entry)");
  STRATA_CHECK(ck.has("anomaly.threshold"), path,
               ": has no threshold (training was stopped before one was chosen on validation); use the "
               "best.safetensors of a finished run");
  Loaded l{Config::parse(ck.get("anomaly.config"), path + " [anomaly.config]"), nullptr, {}, 0, "", 0.91};
  l.cfg.apply_overrides(overrides);
  l.model = build_autoencoder(l.cfg.section("model"));
  ck.restore_module("model.", *l.model);
  l.model->eval();
  l.score = ScoreOptions::from_config(l.cfg.section("score"));
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
                  const std::vector<double>& s, const ScoreOptions& score, double threshold, double level) {
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
  case_panels((fs::path(dir) / "panels.png").string(), model, set, s, score);
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

// The threshold entries of a checkpoint that predict reads.
void set_threshold(Checkpoint& ck, const ThresholdChoice& choice, const ScoreOptions& score) {
  char t[64];
  std::snprintf(t, sizeof t, "%.17g", choice.threshold);
  ck.set("anomaly.threshold", t);
  ck.set("anomaly.threshold_rule", choice.how);
  ck.set("anomaly.score", score.describe());
}

}  // namespace

int train_command(const AppArgs& a) {
  Config cfg = Config::load(a.config);
  cfg.apply_overrides(a.overrides);
  set_input_shape(cfg);
  const std::string run_dir = train_run_dir(a, fs::path(a.config).stem().string());
  const Config train_cfg = cfg.section("train");
  const int64_t batch = train_cfg.get_int("batch", 64, Bounds::at_least(1));
  const uint64_t seed = uint64_t(train_cfg.get_int("seed", 1, Bounds::at_least(0)));
  const LossOptions loss = LossOptions::from_config(cfg.section("loss"));
  const ScoreOptions score = ScoreOptions::from_config(cfg.section("score"));
  const ThresholdPolicy policy = ThresholdPolicy::from_config(cfg.section("threshold"));
  const double level = cfg.section("report").get_double("level", 0.91, Bounds::between(0, 1));
  const int64_t workers = cfg.section("data").get_int("workers", 0, Bounds::between(0, 64));
  TrainerOptions topt = [&] {
    Config t = train_cfg;
    if (!t.has("monitor")) t.apply_override("monitor=val_auroc");
    return TrainerOptions::from_config(t);
  }();
  const Device device = train_device(train_cfg);
  manual_seed(seed);
  const auto model = build_autoencoder(cfg.section("model"));
  model->to(device);
  const AnomalyData data(cfg.section("data"), model->options().input_shape);
  const int64_t n_train = int64_t(data.train().size());
  // An epoch: samples_per_epoch images (default: the training set once), seeded permutations end to end.
  const int64_t per_epoch = cfg.section("data").get_int("samples_per_epoch", n_train, Bounds::at_least(1));
  topt.steps_per_epoch = dist::global_steps(per_epoch, batch);  // global batches (batch per rank)
  auto opt = make_optimizer(cfg.section("optimizer"), model->named_parameters(), topt.epochs * topt.steps_per_epoch);
  // train.ema: validation, checkpoints and predict use the weight average.
  std::shared_ptr<Autoencoder> average_model;  // the average, typed for score_images
  const auto average = WeightAverage::from_config(train_cfg, *model, [&] {
    average_model = build_autoencoder(cfg.section("model"));
    return average_model;
  });
  Autoencoder& scorer = average ? *average_model : *model;
  cfg.check_unknown_keys();
  const std::string out = prepare_run_dir(run_dir, a);  // rank 0: run_dir; other ranks: a scratch folder
  cfg.save((fs::path(out) / "config.yaml").string());
  const std::string config_text = cfg.dump();
  std::fprintf(stderr, "strata-anomaly: %s\nstrata-anomaly: %s %s, score %s, %s -> %s\n", data.describe().c_str(),
               model->type().c_str(), model->describe().c_str(), score.describe().c_str(),
               device_label(device).c_str(), out.c_str());

  std::vector<double> latest_val_scores;  // of the last validation: the threshold of a best.safetensors
  const bool augment = data.source() == "folders";
  Loader loader(
      [&](int64_t epoch) { return shuffled_epoch(seed, epoch, n_train, per_epoch); },
      [&](int64_t index, std::mt19937_64& rng) {
        return Sample{data.sample(data.train().images[size_t(index)], augment ? &rng : nullptr), {}};
      },
      batch, seed, workers, 2);

  Trainer trainer(
      topt, out,
      [&](int64_t epoch, int64_t b) {
        double wait = 0;
        std::vector<Image> images;
        for (Sample& s : loader.batch(epoch, b, &wait)) images.push_back(std::move(s.image));
        const Tensor xt = stack_images(images, 0, images.size()).to(device);
        model->train();
        opt->zero_grad();
        const Tensor l = autoencoder_loss(model->run(xt), xt, loss);
        l.backward();
        opt->step();
        if (average) average->update(opt->steps());
        return StepResult{l.item<float>(), xt.size(0), wait};
      },
      [&](int64_t) {
        // Data-parallel ranks score a share each; the scores are gathered back into the set's order.
        const std::vector<Image>& all = data.val().images;
        const dist::Span mine = dist::split(int64_t(all.size()));
        const std::vector<double> s = dist::gather_in_order(
            score_images(scorer, {all.begin() + mine.begin, all.begin() + mine.end}, score));
        std::map<std::string, double> m;
        m["val_auroc"] = roc_auc(s, data.val().labels);
        m["val_ap"] = average_precision(s, data.val().labels);
        double normal_sum = 0;
        for (size_t i = 0; i < s.size(); ++i)
          if (data.val().labels[i] == 0) normal_sum += s[i];
        m["val_normal_score"] = normal_sum / double(data.val().count(0));
        latest_val_scores = s;
        model->train();
        return m;
      },
      save_model_state(*model, *opt, "anomaly.config", config_text, average.get()),
      load_model_state(*model, *opt, average.get()));
  // Each best.safetensors carries the threshold chosen on its own validation scores, so a run stopped early
  // (Ctrl-C) leaves a best model that predicts.
  trainer.on_best([&](Checkpoint& ck) {
    const ThresholdChoice choice = choose_threshold(latest_val_scores, data.val().labels, policy);
    set_threshold(ck, choice, score);
  });
  if (!a.resume.empty()) trainer.resume(a.resume);
  const TrainSummary sum = trainer.run();
  if (sum.interrupted) return 130;
  print_train_summary("strata-anomaly", sum, topt.monitor);

  // The threshold, on validation scores of the best model, goes into its checkpoint.
  const std::string best_path = (fs::path(out) / "best.safetensors").string();
  Checkpoint ck = Checkpoint::load(best_path);
  ck.restore_module("model.", *model);
  model->eval();
  const std::vector<double> val_scores = score_images(*model, data.val().images, score);
  const ThresholdChoice choice = choose_threshold(val_scores, data.val().labels, policy);
  if (!choice.warning.empty()) std::fprintf(stderr, "strata-anomaly: warning: %s\n", choice.warning.c_str());
  set_threshold(ck, choice, score);
  ck.save(best_path);
  std::fprintf(stderr, "strata-anomaly: threshold %.6g: %s\n", choice.threshold, choice.how.c_str());

  const Report val = report_set((fs::path(out) / "val").string(), "validation", *model, data.val(), val_scores,
                                score, choice.threshold, level);
  std::fprintf(stderr, "strata-anomaly: validation: %s", val.str().c_str());
  if (!data.test().size()) {
    std::fprintf(stderr, "strata-anomaly: no test set (data.test); evaluate later with eval --data FOLDER\n");
    return 0;
  }
  const std::vector<double> test_scores = score_images(*model, data.test().images, score);
  const Report test = report_set((fs::path(out) / "test").string(), "test", *model, data.test(), test_scores, score,
                                 choice.threshold, level);
  rules_table((fs::path(out) / "test" / "rules.csv").string(), val_scores, data.val().labels, test_scores,
              data.test().labels, "test");
  std::printf("test: %s", test.str().c_str());
  std::printf("wrote %s/{best.safetensors, metrics.csv, loss.png, val/, test/}\n", out.c_str());
  return 0;
}

int eval_command(const AppArgs& a) {
  Loaded l = load_model(a.checkpoint, a.overrides);
  l.model->to(command_device(a));
  const Config data_cfg = l.cfg.section("data");
  std::unique_ptr<AnomalyData> data;
  ImageSet folder;
  if (a.data.empty()) {
    data = std::make_unique<AnomalyData>(data_cfg, l.model->options().input_shape);
    STRATA_CHECK(data->test().size() > 0, "eval: the checkpoint's config has no test set; give --data FOLDER (with "
                                          "normal/ and anomalous/ subfolders)");
  } else {
    // The training data need not exist here: images are only resized to the model's input.
    folder = AnomalyData::labelled_folder(a.data, l.model->options().input_shape);
  }
  const ImageSet& set = data ? data->test() : folder;
  check_overrides_read(l.cfg, a.overrides, "eval");
  const std::string out =
      rank_output_dir(!a.out.empty() ? a.out : (fs::path(a.checkpoint).parent_path() / "eval").string());
  const Report r = report_set(out, "eval", *l.model, set, score_images(*l.model, set.images, l.score), l.score,
                              l.threshold, l.level);
  std::printf("%s", r.str().c_str());
  std::printf("wrote %s/{report.csv, scores.csv, rates.png, roc.png, scores.png, panels.png}\n", out.c_str());
  return 0;
}

int export_command(const AppArgs& a) {
  Loaded l = load_model(a.checkpoint, a.overrides);
  check_overrides_read(l.cfg, a.overrides, "export");
  const Shape in = l.model->options().input_shape;
  AppExport e;
  e.model = l.model.get();
  e.example = Tensor::rand({2, in[0], in[1], in[2]});
  e.graph = [&](const Tensor& x) {
    const Autoencoder::Output out = l.model->run(x);
    return std::vector<Tensor>{out.reconstruction, anomaly_scores(out, x, l.score, l.model->options().variational)};
  };
  e.onnx.input_name = "image";
  e.onnx.input_dims = {"batch", "", "", ""};
  e.onnx.output_names = {"reconstruction", "score"};
  char threshold[64];
  std::snprintf(threshold, sizeof threshold, "%.17g", l.threshold);
  e.onnx.metadata = {{"strata.input", str_cat("images (N, ", in[0], ", ", in[1], ", ", in[2],
                                              "), pixels in [0, 1] after resizing to the model's input")},
                     {"strata.outputs", "reconstruction (N, C, H, W); score (N): anomalous when above the threshold"},
                     {"strata.threshold", threshold},
                     {"strata.threshold_rule", l.threshold_rule},
                     {"strata.score", l.score.describe()},
                     {"strata.model", l.model->type() + " " + l.model->describe()}};
  e.onnx.doc = "strata-anomaly: an autoencoder's reconstruction and anomaly score";
  return run_export(a, "strata-anomaly", e);
}

int predict_command(const AppArgs& a) {
  Loaded l = load_model(a.checkpoint, a.overrides);
  l.model->to(command_device(a));
  const Shape in = l.model->options().input_shape;
  check_overrides_read(l.cfg, a.overrides, "predict");
  const std::vector<std::string> inputs = image_files(a.input, true);
  STRATA_CHECK(!inputs.empty(), a.input, ": holds no image files (PNG, JPEG, BMP, ...)");
  OutputPlan(inputs).add(a.output, "the scores");  // never a CSV over one of the images
  ImageSet set;
  for (const std::string& f : inputs) set.add(AnomalyData::load_image(f, in), 0, f);
  const std::vector<double> s = score_images(*l.model, set.images, l.score);
  int64_t flagged = 0;
  write_file_atomic(a.output, [&](std::ostream& f) {
    f.precision(8);
    f << "file,score,anomaly\n";
    for (size_t i = 0; i < s.size(); ++i) {
      const bool anomalous = s[i] > l.threshold;
      flagged += anomalous;
      f << csv_field(set.names[i]) << "," << s[i] << "," << (anomalous ? 1 : 0) << "\n";
    }
  });
  std::printf("scored %zu image%s: %lld above the threshold %.6g (anomalous); wrote %s\n", s.size(),
              s.size() == 1 ? "" : "s", static_cast<long long>(flagged), l.threshold, a.output.c_str());
  return 0;
}

}  // namespace strata::anomaly
