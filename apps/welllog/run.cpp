#include "apps/welllog/run.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include "apps/common/driver.h"
#include "apps/common/export.h"
#include "apps/common/output_plan.h"
#include "apps/common/plot.h"
#include "apps/common/trainer.h"
#include "apps/welllog/curve_map.h"
#include "apps/welllog/facies.h"
#include "apps/welllog/las.h"
#include "apps/welllog/text.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/layers.h"
#include "layers/registry.h"

namespace fs = std::filesystem;

namespace strata::welllog {

namespace {

// A data.curve_map override for a well that has none of the model's curves, built from what it has: a model curve
// NAME_log10 from the well's NAME (ILD_log10: log10(ILD)), else the first model curve from a placeholder.
std::string curve_map_example(const std::vector<std::string>& curves, const Well& w) {
  std::vector<std::string> entries;
  for (const std::string& c : curves)
    if (const std::string e = log10_entry(c, w); !e.empty()) entries.push_back(e);
  if (entries.empty()) {
    std::string placeholder = "YOUR_" + curves.front();
    for (char& ch : placeholder) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    entries.push_back(curves.front() + ": " + placeholder);
  }
  return "'data.curve_map={" + join(entries, ", ") + "}'";
}

// Every well but data.val_wells (training), and those (validation).
std::pair<std::vector<Well>, std::vector<Well>> split_validation_wells(const Config& data,
                                                                       const std::vector<Well>& wells) {
  const std::vector<std::string> val_names = data.get_string_list("val_wells", {});
  for (const std::string& n : val_names)
    STRATA_CHECK(std::any_of(wells.begin(), wells.end(), [&](const Well& w) { return w.name == n; }),
                 data.key_path("val_wells"), ": no well named '", n, "'");
  std::vector<Well> tr, val;
  for (const Well& w : wells)
    (std::find(val_names.begin(), val_names.end(), w.name) != val_names.end() ? val : tr).push_back(w);
  return {tr, val};
}

// One model of the final run (the model, or one member of an ensemble) trained into `dir` by the shared Trainer:
// per-epoch scores on the validation wells, checkpoints with the preprocessing fitted on the training wells.
struct Member {
  const Config& cfg;
  const std::vector<Well>& train_wells;
  const WellSplit& split;
  const std::vector<Well>& val_wells;
  const std::vector<std::vector<int64_t>>& adjacent;
  TrainerOptions options;
  int64_t window, stride;  // inference.window / stride of the validation scores
};

// A model of the final run as the driver's fit() trains it: FaciesTrainer's step (the network, and the
// discriminator in the adversarial modes); checkpoints also carry the preprocessing and the config.
class MemberLearner : public Learner {
 public:
  MemberLearner(FaciesTrainer& trainer, const Preprocessing& pre, std::string config_text)
      : trainer_(trainer), pre_(pre), config_text_(std::move(config_text)) {}
  StepResult step(int64_t epoch, int64_t batch) override { return trainer_.step(epoch, batch); }
  void save(Checkpoint& ck) const override {
    trainer_.save(ck);
    save_preprocessing(ck, pre_);
    ck.set("welllog.config", config_text_);
  }
  void load(const Checkpoint& ck) override { trainer_.load(ck); }

 private:
  FaciesTrainer& trainer_;
  const Preprocessing& pre_;
  std::string config_text_;
};

TrainSummary train_member(const Member& m, const Preprocessing& pre, const std::string& dir, int64_t member,
                          uint64_t seed, const std::string& resume) {
  FoldModel fm = make_trainer(m.cfg, pre, m.train_wells, m.split, "", m.options.epochs, seed, member);
  const Preprocessing fitted = fm.pre;
  FaciesTrainer& ft = *fm.trainer;
  const std::vector<Sample> val = prepare(fitted, m.val_wells);
  TrainerOptions topt = m.options;
  topt.steps_per_epoch = ft.steps_per_epoch();
  MemberLearner learner(ft, fitted, m.cfg.dump());
  return fit(learner, topt, dir, [&](int64_t) {
    std::map<std::string, double> metrics;
    if (val.empty()) return metrics;
    // Data-parallel ranks score their share of the wells and add up the counts.
    const dist::Span mine = dist::split(int64_t(val.size()));
    ConfusionMatrix cm = evaluate(ft.model(), {val.begin() + mine.begin, val.begin() + mine.end}, fitted.classes(),
                                  m.window, m.stride);
    cm.sum_over_ranks();
    metrics["val_accuracy"] = cm.accuracy();
    metrics["val_f1_micro"] = cm.f1_micro();
    metrics["val_f1_macro"] = cm.f1_macro();
    if (!m.adjacent.empty()) metrics["val_adjacent_accuracy"] = cm.adjacent_accuracy(m.adjacent);
    return metrics;
  }, resume);
}

// The member of a train.ensemble run that `checkpoint` (RUN/member_J/last.safetensors) continues.
int64_t resumed_member(const std::string& checkpoint, int64_t members) {
  const std::string folder = fs::absolute(checkpoint).lexically_normal().parent_path().filename().string();
  const std::string usage = str_cat("--resume with train.ensemble: ", members, " continues one member's run: give ",
                                    "RUN/member_J/last.safetensors, J in 0..", members - 1,
                                    " (the file an interrupted run names)");
  STRATA_CHECK(folder.rfind("member_", 0) == 0 && folder.size() > 7, "--resume ", checkpoint, ": ", usage);
  char* end = nullptr;
  const long long j = std::strtoll(folder.c_str() + 7, &end, 10);
  STRATA_CHECK(*end == '\0' && j >= 0 && j < members, "--resume ", checkpoint, ": ", usage);
  return j;
}

// Strip plots and the fit of the best model on the training and validation wells.
void report_best(const std::string& out, const std::vector<Well>& tr, const std::vector<Well>& val,
                 const std::vector<std::vector<int64_t>>& adjacent) {
  const Loaded best = load_model((fs::path(out) / "best.safetensors").string());
  for (const auto* set : {&tr, &val}) {
    const ConfusionMatrix cm = plot_and_score(best, *set, out);
    if (cm.total() == 0) continue;
    const std::string what = set == &tr ? "train" : "val";
    std::fprintf(stderr, "strata-welllog: best model on %s wells: %s\n", what.c_str(),
                 metrics_line(cm, adjacent).c_str());
    confusion_plot((fs::path(out) / ("confusion_" + what + ".png")).string(), "best model, " + what + " wells", cm,
                   best.pre.class_names);
  }
}

}  // namespace

// Cross-validation experiments (cv.folds) and / or the final model: one network, or train.ensemble members
// trained alike from different initialisations whose probabilities eval and predict average.
int train_command(const AppArgs& a) {
  Config cfg = read_train_config(a);
  const std::string run_dir = train_run_dir(a, fs::path(a.config).stem().string());
  const Config data = cfg.section("data"), train = cfg.section("train");
  const Preprocessing pre = Preprocessing::from_config(data);
  const std::vector<std::vector<int64_t>> adjacent = adjacent_classes(data, pre);
  const std::vector<Well> wells = usable_wells(pre, load_wells(data));
  STRATA_CHECK(wells.size() >= 2, "strata-welllog: need at least 2 usable wells, have ", wells.size());
  const std::vector<Well> unlabelled = usable_wells(pre, load_unlabelled_wells(data, wells));
  const auto [tr, val] = split_validation_wells(data, wells);
  const uint64_t seed = uint64_t(train.get_int("seed", 1, Bounds::at_least(0)));
  const double fraction = train.get_double("labelled_fraction", 1.0, Bounds{0, 1, true});
  // Without validation wells the best epoch is the one of the lowest training loss; 60 epochs unless said.
  const TrainerOptions topt = train_options(cfg, val.empty() ? "train_loss" : "val_f1_micro", 60);
  const std::string mode = train.get_choice("mode", "supervised", {"supervised", "adversarial", "semi"});
  CvOptions cvo = CvOptions::from_config(cfg.section("cv"), mode);
  const int64_t members = cvo.ensemble = train.get_int("ensemble", 1, Bounds::between(1, 32));
  cvo.unlabelled = unlabelled;
  // --resume of an ensemble continues the member whose last.safetensors it names: the members before it are
  // finished, those after it are trained as usual.
  const int64_t resumed = members > 1 && !a.resume.empty() ? resumed_member(a.resume, members) : 0;
  int64_t window, stride;
  read_inference(cfg, window, stride);
  {  // The whole config is checked before any long work: build one trainer.
    Preprocessing probe = pre;
    probe.fit(wells);
    adopt_trained_scaling(cfg, probe);
    FaciesTrainer check(cfg, probe, prepare(probe, {wells[0]}), {}, 1, seed);
  }
  const std::string out = open_run(cfg, run_dir, a);  // rank 0: run_dir; other ranks: a scratch folder
  std::fprintf(stderr, "strata-welllog: %zu wells, %zu samples, curves %s, %lld classes, %s -> %s\n", wells.size(),
               size_t(std::accumulate(wells.begin(), wells.end(), int64_t(0),
                                      [](int64_t s, const Well& w) { return s + w.length(); })),
               join(pre.curves, ", ").c_str(), static_cast<long long>(pre.classes()),
               device_label(train_device(train)).c_str(), out.c_str());
  if (!init_from(cfg).empty())
    std::fprintf(stderr, "strata-welllog: every %s starts from %s (model.init_from), with its input scaling%s\n",
                 members > 1 ? "member" : "network", init_from(cfg).c_str(),
                 cvo.folds > 0 ? "; cross-validation scores fine-tuning only if that model never saw the held-out wells"
                               : "");
  if (!unlabelled.empty()) {
    // Only semi-supervised training learns from unlabelled wells: the final model's mode, and the CV modes.
    const bool used =
        mode == "semi" || (cvo.folds > 0 && std::count(cvo.modes.begin(), cvo.modes.end(), "semi") > 0);
    std::fprintf(stderr, "strata-welllog: %zu unlabelled wells (data.unlabelled)%s\n", unlabelled.size(),
                 used ? "" : ", unused: only train.mode semi learns from them");
  }

  if (cvo.folds > 0) run_cross_validation(cfg, cvo, pre, wells, adjacent, topt.epochs, out);
  if (!cvo.final_model) return 0;
  const WellSplit split = split_training_wells(pre, tr, fraction, seed, unlabelled);  // every member trains on it
  const Member member{cfg, tr, split, val, adjacent, topt, window, stride};
  for (int64_t j = 0; j < members; ++j) {
    // One member: its own run folder when there are several, the run folder itself otherwise.
    const std::string dir = members == 1 ? out : (fs::path(out) / ("member_" + std::to_string(j))).string();
    if (j < resumed) {
      STRATA_CHECK(fs::is_regular_file(fs::path(dir) / "best.safetensors"), dir, ": member ", j,
                   " of the ensemble has no best.safetensors; resume the ensemble in its own run folder, or train it "
                   "again");
      std::fprintf(stderr, "strata-welllog: member %lld: trained before (%s/best.safetensors)\n",
                   static_cast<long long>(j), dir.c_str());
      continue;
    }
    create_directories_checked(dir);
    const TrainSummary s =
        train_member(member, pre, dir, j, member_seed(seed, j), j == resumed ? a.resume : std::string());
    if (s.interrupted) return 130;
    print_train_summary(members == 1 ? "strata-welllog" : "strata-welllog: member " + std::to_string(j), s,
                        topt.monitor);
  }
  if (members > 1) write_ensemble_checkpoint(out, members);
  report_best(out, tr, val, adjacent);
  return 0;
}

// ---------------------------------------------------------------------------
// eval / predict

namespace {

// predict --output F.las: the input LAS (or the one well of a CSV) with
// Predicted and P_<code> curves added.
void write_las_prediction(const AppArgs& a, const Loaded& l, const std::optional<las::LasFile>& las_in,
                          const Table* table, const Well& w, const std::vector<int64_t>& codes,
                          const std::vector<std::vector<double>>& probs) {
  las::LasFile out;
  if (las_in) {
    out = *las_in;
  } else {
    out.well.push_back({"WELL", "", w.name, "WELL"});
    out.curves.push_back({"DEPT", "", "DEPTH", w.depth});
    for (const std::string& column : table->columns) {  // the table's numeric columns, in its order
      const auto it = w.logs.find(column);
      if (it != w.logs.end()) out.curves.push_back({column, "", column, it->second});
    }
  }
  const int64_t k = l.pre.classes();
  // Sample i of the well is row w.rows[i] of the input (a LAS file: row i).
  las::Curve predicted{"Predicted", "", "PREDICTED FACIES CODE (strata-welllog)", {}};
  for (size_t r : w.rows) predicted.values.push_back(codes[r] < 0 ? std::nan("") : double(codes[r]));
  out.curves.push_back(std::move(predicted));
  for (int64_t c = 0; c < k; ++c) {
    las::Curve p{"P_" + std::to_string(l.pre.codes[size_t(c)]), "",
                 "PROBABILITY OF FACIES " + l.pre.class_names[size_t(c)], {}};
    for (size_t r : w.rows) p.values.push_back(probs[r].empty() ? std::nan("") : probs[r][size_t(c)]);
    out.curves.push_back(std::move(p));
  }
  las::write(out, a.output);
}

}  // namespace

namespace {

// The trained model's commands: scores on labelled wells (eval), facies of any wells (predict), the export graph.
class WelllogModel : public TrainedTask {
 public:
  const Config& load(const std::string& checkpoint, const std::vector<std::string>& overrides) override {
    l_.emplace(load_model(checkpoint));
    l_->cfg.apply_overrides(overrides);
    return l_->cfg;
  }

  void prepare(const std::string& command, const AppArgs& a) override {
    Loaded& l = *l_;
    read_inference(l);
    if (command == "eval") {
      const Config data = l.cfg.section("data");
      wells_ = usable_wells(l.pre, a.data.empty() ? load_wells(data) : load_wells_from_file(a.data, data, true));
      for (Well& w : wells_) flag_outliers(l.pre, w);
      adjacent_ = adjacent_classes(data, l.pre);
    } else if (command == "predict") {
      std::error_code ec;
      if (fs::is_directory(a.input, ec))
        plan_folder(a);
      else
        read_input(a);
    }
  }

  void to(Device device) override {
    for (const ModulePtr& m : l_->members) m->to(device);
  }

  void evaluate(const std::string& out, const AppArgs& a) override {
    const Loaded& l = *l_;
    const ConfusionMatrix total = plot_and_score(l, wells_, out, &adjacent_);
    STRATA_CHECK(total.total() > 0, "eval: none of the ", wells_.size(), " wells has labels in the classes ",
                 "of the checkpoint; use predict for unlabelled wells");
    std::printf("%-20s %s\n", "all wells", metrics_line(total, adjacent_).c_str());
    for (int64_t c = 0; c < l.pre.classes(); ++c)
      std::printf("  F1 %-12s %.4f\n", l.pre.class_names[size_t(c)].c_str(), total.f1(c));
    confusion_plot((fs::path(out) / "confusion.png").string(), "eval: " + fs::path(a.checkpoint).filename().string(),
                   total, l.pre.class_names);
    write_metrics((fs::path(out) / "metrics.csv").string(), total, l.pre, adjacent_);
    std::printf("wrote %s/{metrics.csv, confusion.png, wells/}\n", out.c_str());
  }

  void predict(const AppArgs& a) override {
    if (files_.empty()) return predict_file(a);
    // A folder: each well file in turn, written under its own name into the --output folder.
    SkippedInputs skipped(files_.size());
    for (size_t i = 0; i < files_.size(); ++i) {
      AppArgs one = a;
      one.input = files_[i];
      one.output = outputs_[i];
      skipped.attempt(files_[i], [&] {
        read_input(one);
        predict_file(one);
      });
    }
    std::printf("wrote %zu files to %s (each input's columns + Predicted, P_<code>)\n", skipped.predicted(),
                a.output.c_str());
    skipped.check();
  }

  AppExport export_graph() override {
    const Loaded& l = *l_;
    const Preprocessing& pre = l.pre;
    const int64_t curves = int64_t(pre.curves.size()), multiple = spatial_multiple(l.cfg.section("model"));
    // Per curve: the training mean, 1 / std and outlier limit, and 1 where data.normalise_per_well scales it by the
    // well's own statistics.
    std::vector<float> mean, inv, limit, own;
    for (int64_t c = 0; c < curves; ++c) {
      mean.push_back(float(pre.mean[size_t(c)]));
      inv.push_back(float(1.0 / pre.stddev[size_t(c)]));
      limit.push_back(float(outlier_limit(pre.stddev[size_t(c)])));
      own.push_back(std::count(pre.per_well.begin(), pre.per_well.end(), pre.curves[size_t(c)]) ? 1.f : 0.f);
    }
    // An ensemble's members are children "0", "1", ... as in a PyTorch nn.ModuleList of them.
    ensemble_ = std::make_shared<ModuleList>();
    for (const ModulePtr& member : l.members) ensemble_->add(member);
    AppExport e;
    e.model = l.members.size() > 1 ? static_cast<const Module*>(ensemble_.get()) : l.members[0].get();
    e.example = Tensor::randn({1, curves, 8 * multiple});
    // predict's preparation of a well (Preprocessing::features) as graph ops: NaN are missing values.
    e.graph = [this, curves, mean, inv, limit, own](const Tensor& x) {
      const Loaded& l = *l_;
      const Preprocessing& pre = l.pre;
      const auto per_curve = [&](const std::vector<float>& v) { return Tensor::from_vector(v, {1, curves, 1}); };
      const Tensor one = Tensor::ones({1}), zero = Tensor::zeros({1});
      // Values far from the training data (null sentinels) are missing, as flag_outliers makes them.
      const Tensor logged = where(gt(abs(sub(x, per_curve(mean))), per_curve(limit)),
                                  Tensor::full({1}, std::numeric_limits<double>::quiet_NaN()), x);
      const Tensor missing = is_nan(logged);
      // A well's own (trimmed) statistics where the curve is scaled per well and the well has enough values that
      // vary; else the training ones.
      const Tensor stats = nan_trimmed_stats(logged, pre.per_well_trim);
      const Tensor own_mean = slice(stats, 2, 0, 1), own_sd = slice(stats, 2, 1, 2);
      const Tensor values = sum(where(missing, zero, one), {2}, true);
      const Tensor least = mul(add(mul(own_mean, own_mean), 1.0), kLeastVariance);
      const Tensor varies = gt(sub(mul(own_sd, own_sd), least), 0.0);
      const Tensor enough = ge(values, double(std::max<int64_t>(pre.per_well_min_samples, 2)));
      const Tensor by_well = gt(mul(per_curve(own), where(enough, where(varies, one, zero), zero)), 0.5);
      const Tensor mu = where(by_well, own_mean, per_curve(mean));
      const Tensor scale = where(by_well, div(1.0, own_sd), per_curve(inv));
      const Tensor filled = pre.missing_values == "interpolate" ? fill_gaps(logged) : logged;
      const Tensor scaled = mul(sub(filled, mu), scale);
      Tensor in = where(is_nan(scaled), zero, scaled);  // a curve without values: the training mean
      if (!pre.indicators.empty()) {  // 1 where the curve's value is missing
        std::vector<Tensor> channels{in};
        for (const std::string& name : pre.indicators) {
          const int64_t c = std::find(pre.curves.begin(), pre.curves.end(), name) - pre.curves.begin();
          channels.push_back(where(slice(missing, 1, c, c + 1), one, zero));
        }
        in = cat(channels, 1);
      }
      // Wells longer than inference.window in overlapping windows, blended back as predict does (the members'
      // mean blended once: the blend is linear).
      const int64_t step = std::max<int64_t>(1, l.stride);
      const Tensor batch = l.window > 0 ? sliding_windows(in, l.window, step) : in;
      Tensor probs;
      for (const ModulePtr& member : l.members) {
        const Tensor p = softmax((*member)(batch), 1);
        probs = probs.defined() ? add(probs, p) : p;
      }
      if (l.members.size() > 1) probs = div(probs, double(l.members.size()));
      return std::vector<Tensor>{l.window > 0 ? overlap_add(probs, in, l.window, step) : probs};
    };
    e.onnx.input_name = "curves";
    e.onnx.input_dims = {"batch", "", "samples"};
    e.onnx.output_names = {"probabilities"};
    const std::string codes = join(to_strings(pre.codes), ", ");
    e.onnx.metadata = {
        {"strata.input", str_cat("curves (N, ", curves, ", samples) in the order of strata.curves, as logged, every ",
                                 pre.depth_step, " ", pre.depth_unit.empty() ? "(depth unit)" : pre.depth_unit,
                                 "; any number of samples (the graph pads to the network's multiple of ", multiple,
                                 " and crops back); NaN for missing values, filled as predict fills them")},
        {"strata.curves", join(pre.curves, ", ")},
        {"strata.output", "probabilities (N, classes, samples) of the facies in strata.codes order"},
        {"strata.codes", codes},
        {"strata.class_names", join(pre.class_names, ", ")},
        {"strata.depth_step", str_cat(pre.depth_step)},
        {"strata.depth_unit", pre.depth_unit},
        {"strata.normalise_per_well", join(pre.per_well, ", ")},
        {"strata.per_well_trim", str_cat(pre.per_well_trim)},
        {"strata.per_well_min_samples", str_cat(pre.per_well_min_samples)},
        {"strata.predict", "strata-welllog predict also resamples wells logged at another spacing"},
        {"strata.window", str_cat("wells longer than ", l.window, " samples are predicted in windows every ", l.stride,
                                  " samples, blended (inference.window, inference.stride; 0: the whole well at once)")},
        {"strata.members", std::to_string(l.members.size())}};
    e.onnx.doc = "strata-welllog: facies probabilities of well-log curves";
    return e;
  }

 private:
  // One input file's wells (read_input) predicted and written to a.output with the input's own columns.
  void predict_file(const AppArgs& a) {
    const Loaded& l = *l_;
    const int64_t k = l.pre.classes();
    for (Well& w : wells_) {
      flag_outliers(l.pre, w);
      std::string why;
      STRATA_CHECK(l.pre.usable(w, &why), a.input, ": ", why, "; the model needs curves ", join(l.pre.curves, ", "));
      const auto has_values = [&](const std::string& c) {
        const auto it = w.logs.find(c);
        return it != w.logs.end() && std::any_of(it->second.begin(), it->second.end(), [](double v) { return !std::isnan(v); });
      };
      STRATA_CHECK(std::any_of(l.pre.curves.begin(), l.pre.curves.end(), has_values), a.input, ": well '", w.name,
                   "' has no value in any of the model's curves (", join(l.pre.curves, ", "),
                   "); it has ", [&] {
                     std::vector<std::string> names;
                     for (const auto& kv : w.logs) names.push_back(kv.first);
                     return names.empty() ? std::string("no numeric curve") : join(names, ", ");
                   }(),
                   "; name the model's curves after the file's with data.curve_map (docs/welllog.md), e.g. ",
                   curve_map_example(l.pre.curves, w));
    }
    // Predicted code and probabilities per source row (-1 / empty: a row of no well).
    std::vector<int64_t> codes(rows_.size(), -1);
    std::vector<std::vector<double>> probs(rows_.size());
    for (const Well& w : wells_) {
      const WellPrediction p = predict_well(l, w);
      const int64_t n = p.sample.length;
      for (int64_t i = 0; i < n; ++i) {
        const size_t r = w.rows[size_t(i)];
        codes[r] = l.pre.codes[size_t(p.classes[size_t(i)])];
        probs[r].resize(size_t(k));
        for (int64_t c = 0; c < k; ++c) probs[r][size_t(c)] = p.probs[size_t(c * n + i)];
      }
    }
    if (las_output_) {
      write_las_prediction(a, l, las_in_, table_ ? &*table_ : nullptr, as_read_[0], codes, probs);
    } else {
      write_file_atomic(a.output, [&](std::ostream& f) {
        auto cell = [](const std::string& v) {
          if (v.find_first_of(",\"") == std::string::npos) return v;
          std::string q = "\"";
          for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
          return q + "\"";
        };
        for (size_t j = 0; j < columns_.size(); ++j) f << (j ? "," : "") << cell(columns_[j]);
        f << ",Predicted";
        for (int64_t c : l.pre.codes) f << ",P_" << c;
        f << "\n";
        for (size_t r = 0; r < rows_.size(); ++r) {
          for (size_t j = 0; j < rows_[r].size(); ++j) f << (j ? "," : "") << cell(rows_[r][j]);
          f << ",";
          if (codes[r] >= 0) f << codes[r];
          for (int64_t c = 0; c < k; ++c)
            f << "," << (probs[r].empty() ? std::string() : fmt("%.5f", probs[r][size_t(c)]));
          f << "\n";
        }
      });
    }
    std::printf("wrote %s: %zu rows, %zu %s, Predicted + P_<code> for %lld classes\n", a.output.c_str(),
                rows_.size(), wells_.size(), wells_.size() == 1 ? "well" : "wells", static_cast<long long>(k));
  }

  // predict --input FOLDER: its well files, and the file each is written to (--output FOLDER/<its name>), all
  // checked before the first is predicted.
  void plan_folder(const AppArgs& a) {
    files_ = well_files(a.input);
    std::error_code ec;
    STRATA_CHECK(!fs::exists(a.output, ec) || fs::is_directory(a.output, ec), a.output,
                 ": --input is a folder, so --output names a folder (each well file predicted into it under its own name)");
    OutputPlan plan(files_);
    for (const std::string& f : files_) {
      outputs_.push_back((fs::path(a.output) / fs::path(f).filename()).string());
      plan.add(outputs_.back(), f);
    }
    create_directories_checked(a.output);
  }

  // predict: the input's wells, and its columns and rows to write back with the predictions.
  void read_input(const AppArgs& a) {
    const Loaded& l = *l_;
    const Config data = l.cfg.section("data");
    wells_.clear(), as_read_.clear(), columns_.clear(), rows_.clear();
    las_in_.reset(), table_.reset();
    las_output_ = lower_extension(a.output) == ".las";
    output_target(a.output);  // a directory, FIFO or device at --output is refused before any work
    refuse_output_onto_input(a.output, a.input);

    require_input_file(a.input, "input");
    if (looks_like_las(a.input)) {
      las_in_ = las::read(a.input);
      wells_.push_back(well_from_las(*las_in_));
      for (const las::Curve& c : las_in_->curves) columns_.push_back(c.mnemonic);
      rows_.resize(size_t(las_in_->rows()));
      for (size_t r = 0; r < rows_.size(); ++r)
        for (const las::Curve& c : las_in_->curves)
          rows_[r].push_back(std::isnan(c.values[r]) ? std::string() : fmt("%.10g", c.values[r]));
    } else {
      table_ = read_csv(a.input);
      wells_ = wells_from_table(*table_, columns_of(data), false);
      columns_ = table_->columns;
      rows_ = table_->rows;
    }
    STRATA_CHECK(!las_output_ || wells_.size() == 1, a.output, ": a LAS file holds one well and ", a.input, " has ",
                 wells_.size(), "; write CSV (--output F.csv) or split the wells");
    if (las_output_) as_read_ = wells_;  // LAS output: the curves unmapped
    CurveMap::from_config(data).apply(wells_);
  }

  std::optional<Loaded> l_;
  std::vector<Well> wells_, as_read_;
  std::vector<std::vector<int64_t>> adjacent_;
  bool las_output_ = false;
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
  std::optional<las::LasFile> las_in_;
  std::optional<Table> table_;
  std::vector<std::string> files_, outputs_;  // predict --input FOLDER
  std::shared_ptr<ModuleList> ensemble_;
};

}  // namespace

int eval_command(const AppArgs& a) { return eval_with<WelllogModel>(a); }

int predict_command(const AppArgs& a) {
  STRATA_CHECK(!a.checkpoint.empty() && !a.input.empty() && !a.output.empty(),
               "predict needs --checkpoint FILE --input FILE --output FILE (or --input FOLDER --output FOLDER)");
  return predict_with<WelllogModel>(a);
}

int export_command(const AppArgs& a) { return export_with<WelllogModel>("strata-welllog", a); }

}  // namespace strata::welllog