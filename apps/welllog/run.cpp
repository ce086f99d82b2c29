#include "apps/welllog/run.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>

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

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}
double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

Columns columns_of(const Config& data) {
  Columns c;
  c.well = data.get_string("well_column", c.well);
  c.depth = data.get_string("depth_column", c.depth);
  c.label = data.get_string("label_column", c.label);
  c.bad_values = data.get_choice("bad_values", c.bad_values, {"error", "missing"});
  return c;
}

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return ext;
}

bool looks_like_las(const std::string& path) {
  if (lower_extension(path) == ".las") return true;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    const size_t p = line.find_first_not_of(" \t\r\xEF\xBB\xBF");
    if (p == std::string::npos || line[p] == '#') continue;
    return line[p] == '~';
  }
  return false;
}

std::string require_file(const Config& c, const std::string& key, const std::string& path) {
  STRATA_CHECK(fs::exists(path), c.key_path(key), ": no file '", path, "' (give the path relative to where you run ",
               "the app, or override it: ", c.key_path(key), "=PATH)");
  return path;
}

// Wells the preprocessing can use; the others are reported and left out.
std::vector<Well> usable_wells(const Preprocessing& pre, std::vector<Well> wells) {
  std::vector<Well> out;
  for (Well& w : wells) {
    std::string why;
    if (pre.usable(w, &why))
      out.push_back(std::move(w));
    else
      std::fprintf(stderr, "strata-welllog: leaving out %s (data.missing.curve: drop_well)\n", why.c_str());
  }
  return out;
}

// A trained model (or ensemble: members whose class probabilities are averaged) ready to predict.
struct Loaded {
  Config cfg;
  Preprocessing pre;
  std::vector<ModulePtr> members;
  int64_t window = 256, stride = 64;
  bool resample = true;  // inference.resample: wells at another sample spacing are predicted at the training one
  std::vector<Module*> ensemble() const {
    std::vector<Module*> e;
    for (const ModulePtr& m : members) e.push_back(m.get());
    return e;
  }
};

// Checkpoint keys of an ensemble: member j's model under ensemble.<j>., the count in welllog.ensemble.
std::string member_prefix(int64_t j) { return "ensemble." + std::to_string(j) + "."; }

void read_inference(const Config& cfg, int64_t& window, int64_t& stride, bool* resample = nullptr) {
  const Config inf = cfg.section("inference");
  window = inf.get_int("window", 256, Bounds::at_least(0));
  stride = inf.get_int("stride", 64, Bounds::at_least(1));
  const bool r = inf.get_bool("resample", true);
  if (resample) *resample = r;
}

// A loaded model's inference settings from its config (with the command's
// overrides): windows, resampling, and data.depth_unit where it names one
// (a checkpoint trained without it gets its unit this way).
void read_inference(Loaded& l) {
  read_inference(l.cfg, l.window, l.stride, &l.resample);
  const std::string unit = depth_unit_from_config(l.cfg.section("data"));
  if (!unit.empty()) l.pre.depth_unit = unit;
}

Loaded load_model(const std::string& checkpoint) {
  const Checkpoint ck = Checkpoint::load(checkpoint);
  STRATA_CHECK(ck.has("welllog.config"), checkpoint, ": not a strata-welllog checkpoint (no welllog.config)");
  Loaded l{Config::parse(ck.get("welllog.config"), checkpoint + " [welllog.config]"), load_preprocessing(ck), {}};
  const int64_t members = ck.has("welllog.ensemble") ? ck.get_int("welllog.ensemble") : 0;
  STRATA_CHECK(members >= 0 && members <= 32, checkpoint, ": welllog.ensemble is ", members, ", expected 1..32");
  for (int64_t j = 0; j < std::max<int64_t>(members, 1); ++j) {
    l.members.push_back(build_module(l.cfg.section("model")));
    // An ensemble's member j: ensemble.<j>. in a checkpoint, model.<j>. in a weights-only export.
    const auto holds = [&](const std::string& p) {
      const auto it = ck.tensors.lower_bound(p);
      return it != ck.tensors.end() && it->first.rfind(p, 0) == 0;
    };
    const std::string member = holds(member_prefix(j)) ? member_prefix(j) : "model." + std::to_string(j) + ".";
    ck.restore_module(members == 0 ? "model." : member, *l.members.back());
    l.members.back()->eval();
  }
  read_inference(l);
  return l;
}

void write_metrics(const std::string& path, const ConfusionMatrix& m, const Preprocessing& pre,
                   const std::vector<std::vector<int64_t>>& adjacent) {
  std::ofstream f(path);
  f << "metric,value\n";
  f << "samples," << m.total() << "\n";
  f << "accuracy," << m.accuracy() << "\n";
  f << "f1_micro," << m.f1_micro() << "\n";
  f << "f1_macro," << m.f1_macro() << "\n";
  f << "f1_weighted," << m.f1_weighted() << "\n";
  if (!adjacent.empty()) f << "adjacent_accuracy," << m.adjacent_accuracy(adjacent) << "\n";
  for (int64_t c = 0; c < pre.classes(); ++c) f << "f1_" << pre.class_names[size_t(c)] << "," << m.f1(c) << "\n";
}

std::string metrics_line(const ConfusionMatrix& m, const std::vector<std::vector<int64_t>>& adjacent) {
  std::string s = "accuracy " + fmt("%.4f", m.accuracy()) + ", F1 micro " + fmt("%.4f", m.f1_micro()) +
                  ", macro " + fmt("%.4f", m.f1_macro()) + ", weighted " + fmt("%.4f", m.f1_weighted());
  if (!adjacent.empty()) s += ", adjacent accuracy " + fmt("%.4f", m.adjacent_accuracy(adjacent));
  return s + " (" + std::to_string(m.total()) + " samples)";
}

std::string safe_name(std::string s) {
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '_';
  return s;
}

// One well through the loaded model: its prepared sample, the class
// probabilities (classes x length) and the predicted class of every sample.
struct WellPrediction {
  Sample sample;
  std::vector<float> probs;
  std::vector<int64_t> classes;
};

// The sample spacing `w` is predicted at, in its own depth unit: the training
// wells' when inference.resample is on and the well's differs from it by more
// than 1%, else 0 (as it is). When both the model (data.depth_unit) and the
// well (its LAS index unit) name a unit, spacings compare in feet.
double resample_step(const Loaded& l, const Well& w) {
  if (!l.resample || l.pre.depth_step <= 0) return 0;
  const std::string& unit = l.pre.depth_unit;
  const bool convert = !unit.empty() && !w.depth_unit.empty() && w.depth_unit != unit;
  const double target = convert ? l.pre.depth_step * feet_per(unit) / feet_per(w.depth_unit) : l.pre.depth_step;
  const double step = median_depth_step(w);
  if (step <= 0 || std::fabs(step / target - 1) <= 0.01) return 0;
  const std::string in_unit = w.depth_unit.empty() ? "" : " " + w.depth_unit;
  const std::string model_step = fmt("%.6g", l.pre.depth_step) + (unit.empty() ? "" : " " + unit);
  const std::string to = convert ? fmt("%.6g", target) + in_unit + " (the model's " + model_step + ")"
                                 : "the model's " + model_step;
  if (!monotonic_depth(w)) {
    std::printf("well '%s': sample spacing %.6g%s, not %s, but its depths turn back: predicted as sampled\n",
                w.name.c_str(), step, in_unit.c_str(), to.c_str());
    return 0;
  }
  std::printf("well '%s': resampled from a spacing of %.6g%s to %s (inference.resample)\n", w.name.c_str(), step,
              in_unit.c_str(), to.c_str());
  return target;
}

WellPrediction predict_well(const Loaded& l, const Well& w) {
  WellPrediction p{prepare(l.pre, {w})[0], {}, {}};
  const int64_t k = l.pre.classes(), n = p.sample.length;
  const double step = resample_step(l, w);
  if (step == 0) {
    p.probs = predict_probs(l.ensemble(), p.sample, k, l.window, l.stride);
  } else {
    // Predict on the regular grid, then interpolate the probabilities back
    // to the well's own depths.
    const Well grid = resample_well(w, step);
    const Sample g = prepare(l.pre, {grid})[0];
    const std::vector<float> gp = predict_probs(l.ensemble(), g, k, l.window, l.stride);
    const int64_t m = g.length;
    p.probs.assign(size_t(k * n), 0.f);
    for (int64_t i = 0; i < n; ++i) {
      const double t = std::clamp(std::fabs(w.depth[size_t(i)] - grid.depth[0]) / step, 0.0, double(m - 1));
      const int64_t a = std::min(int64_t(t), m - 1), b = std::min(a + 1, m - 1);
      const float f = float(t - double(a));
      for (int64_t c = 0; c < k; ++c)
        p.probs[size_t(c * n + i)] = gp[size_t(c * m + a)] + f * (gp[size_t(c * m + b)] - gp[size_t(c * m + a)]);
    }
  }
  p.classes = argmax_classes(p.probs, k, n);
  return p;
}

// Predicts `wells`, draws <dir>/wells/<well>.png for each and scores their
// labelled samples; with `adjacent_per_well`, prints each labelled well's scores.
ConfusionMatrix plot_and_score(const Loaded& l, const std::vector<Well>& wells, const fs::path& dir,
                               const std::vector<std::vector<int64_t>>* adjacent_per_well = nullptr) {
  fs::create_directories(dir / "wells");
  ConfusionMatrix total(l.pre.classes());
  for (const Well& w : wells) {
    const WellPrediction p = predict_well(l, w);
    ConfusionMatrix m(l.pre.classes());
    m.add(p.sample.y, p.classes, -100);
    total.merge(m);
    if (adjacent_per_well && m.total() > 0)
      std::printf("%-20s %s\n", w.name.c_str(), metrics_line(m, *adjacent_per_well).c_str());
    strip_plot((dir / "wells" / (safe_name(w.name) + ".png")).string(), w, l.pre,
               w.has_labels() ? p.sample.y : std::vector<int64_t>{}, p.classes);
  }
  return total;
}

}  // namespace

// ---------------------------------------------------------------------------
// data

std::vector<Well> load_wells_from_file(const std::string& path, const Config& data, bool read_labels) {
  require_input_file(path, "well data");
  std::vector<Well> wells = looks_like_las(path) ? std::vector<Well>{well_from_las(path)}
                                                : wells_from_table(read_csv(path), columns_of(data), read_labels);
  CurveMap::from_config(data).apply(wells);
  return wells;
}

std::vector<Well> load_wells(const Config& data) {
  const std::string source = data.get_choice("source", "csv", {"csv", "las", "synthetic"});
  const Config syn = data.section("synthetic");
  const CurveMap curve_map = CurveMap::from_config(data);
  std::vector<Well> wells;
  if (source == "synthetic") {
    data.mark_known("path");
    data.mark_known("paths");
    wells = synthetic_gamma_wells(SyntheticOptions::from_config(syn));
  } else if (source == "las") {
    for (const std::string& p : data.get_string_list("paths", {})) wells.push_back(well_from_las(require_file(data, "paths", p)));
    STRATA_CHECK(!wells.empty(), data.key_path("paths"), ": list at least one LAS file");
  } else {
    const std::string path = require_file(data, "path", data.require_string("path"));
    wells = wells_from_table(read_csv(path), columns_of(data), true);
  }
  curve_map.apply(wells);
  return wells;
}

void save_preprocessing(Checkpoint& ck, const Preprocessing& p) {
  ck.set("welllog.curves", join(p.curves, "\n"));
  ck.set("welllog.indicators", join(p.indicators, "\n"));
  ck.set("welllog.per_well", join(p.per_well, "\n"));
  ck.set("welllog.per_well_min_samples", std::to_string(p.per_well_min_samples));
  std::vector<std::string> codes;
  for (int64_t c : p.codes) codes.push_back(std::to_string(c));
  ck.set("welllog.codes", join(codes, "\n"));
  ck.set("welllog.class_names", join(p.class_names, "\n"));
  ck.set("welllog.missing_values", p.missing_values);
  ck.set("welllog.missing_curve", p.missing_curve);
  ck.set("welllog.depth_step", fmt("%.17g", p.depth_step));
  ck.set("welllog.depth_unit", p.depth_unit);
  ck.add_tensor("welllog.mean", Tensor::from_vector(p.mean, {int64_t(p.mean.size())}));
  ck.add_tensor("welllog.std", Tensor::from_vector(p.stddev, {int64_t(p.stddev.size())}));
}

Preprocessing load_preprocessing(const Checkpoint& ck) {
  Preprocessing p;
  p.curves = split(ck.get("welllog.curves"), '\n');
  p.indicators = split(ck.get("welllog.indicators"), '\n');
  p.per_well = split(ck.get("welllog.per_well"), '\n');
  if (ck.has("welllog.per_well_min_samples"))  // absent in checkpoints written before session 13
    p.per_well_min_samples = ck.get_int("welllog.per_well_min_samples");
  for (const std::string& c : split(ck.get("welllog.codes"), '\n')) {
    char* end = nullptr;
    const long long code = std::strtoll(c.c_str(), &end, 10);
    STRATA_CHECK(!c.empty() && end && *end == '\0', ck.path, ": entry 'welllog.codes' holds '", c,
                 "', not an integer class code");
    p.codes.push_back(code);
  }
  p.class_names = split(ck.get("welllog.class_names"), '\n');
  p.missing_values = ck.get("welllog.missing_values");
  p.missing_curve = ck.get("welllog.missing_curve");
  p.mean = ck.tensor("welllog.mean").to_vector<double>();
  p.stddev = ck.tensor("welllog.std").to_vector<double>();
  if (ck.has("welllog.depth_step")) {  // absent in checkpoints written before session 14: no resampling
    p.depth_step = ck.get_double("welllog.depth_step");
    if (ck.has("welllog.depth_unit")) p.depth_unit = ck.get("welllog.depth_unit");
  }
  const auto consistent = [&](size_t n, size_t want, const char* entry, const char* of) {
    STRATA_CHECK(n == want, ck.path, ": inconsistent preprocessing: entry '", entry, "' has ", n, " values for the ",
                 want, " ", of);
  };
  consistent(p.mean.size(), p.curves.size(), "extra.welllog.mean", "curves of 'welllog.curves'");
  consistent(p.stddev.size(), p.curves.size(), "extra.welllog.std", "curves of 'welllog.curves'");
  consistent(p.class_names.size(), p.codes.size(), "welllog.class_names", "codes of 'welllog.codes'");
  return p;
}

std::vector<size_t> labelled_subset(size_t n, double fraction, uint64_t seed) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t(0));
  if (fraction >= 1.0) return idx;
  std::mt19937_64 rng(seed * 7919 + 17);
  std::shuffle(idx.begin(), idx.end(), rng);
  const size_t k = std::clamp<size_t>(size_t(std::lround(fraction * double(n))), 1, n);
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

WellSplit split_training_wells(const Preprocessing& pre, const std::vector<Well>& train_wells, double fraction,
                               uint64_t seed, const std::vector<Well>& extra_unlabelled) {
  const auto has_class_labels = [&](const Well& w) {
    const std::vector<int64_t> y = pre.targets(w);
    return std::any_of(y.begin(), y.end(), [](int64_t k) { return k >= 0; });
  };
  std::vector<Well> with_labels;
  WellSplit split;
  for (const Well& w : train_wells) (has_class_labels(w) ? with_labels : split.unlabelled).push_back(w);
  STRATA_CHECK(!with_labels.empty(), "strata-welllog: none of the ", train_wells.size(),
               " training wells has a label of data.classes");
  const std::vector<size_t> lab = labelled_subset(with_labels.size(), fraction, seed);
  for (size_t i = 0; i < with_labels.size(); ++i)
    (std::binary_search(lab.begin(), lab.end(), i) ? split.labelled : split.unlabelled).push_back(with_labels[i]);
  split.unlabelled.insert(split.unlabelled.end(), extra_unlabelled.begin(), extra_unlabelled.end());
  for (Well& w : split.unlabelled) w.codes.clear();
  return split;
}

std::vector<int64_t> fold_of_wells(size_t n, int64_t folds, uint64_t seed) {
  STRATA_CHECK(folds >= 2 && size_t(folds) <= n, "cv.folds: ", folds, " folds need between 2 and ", n,
               " wells (folds = number of wells is leave-one-well-out)");
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t(0));
  std::mt19937_64 rng(seed + 1);
  std::shuffle(idx.begin(), idx.end(), rng);
  std::vector<int64_t> fold(n);
  for (size_t i = 0; i < n; ++i) fold[idx[i]] = int64_t(i % size_t(folds));
  return fold;
}

// ---------------------------------------------------------------------------
// plots

void strip_plot(const std::string& path, const Well& well, const Preprocessing& p, const std::vector<int64_t>& truth,
                const std::vector<int64_t>& predicted) {
  const int n = int(well.length());
  const int track = 130, gap = 14, facies_w = 46, left = 80, top = 60;
  const int plot_h = std::clamp(2 * n, 300, 1400);
  const int legend_rows = int((p.classes() + 3) / 4);
  const int tracks = int(p.curves.size());
  const int has_truth = truth.empty() ? 0 : 1;
  const int width = std::max(left + tracks * (track + gap) + (1 + has_truth) * (facies_w + gap) + 20, 4 * 150 + left);
  const int height = top + plot_h + 30 + legend_rows * 24 + 10;
  Canvas cv(width, height);
  const Rgb black{0, 0, 0}, grey{200, 200, 200};
  cv.text(left, 8, "well " + well.name, black, 2);
  auto y_of = [&](double i) { return top + i * double(plot_h) / double(std::max(n, 1)); };
  // Depth ticks.
  for (int t = 0; t <= 8; ++t) {
    const int i = std::min(n - 1, t * (n - 1) / 8);
    if (n == 0) break;
    const int y = int(y_of(i));
    cv.line(left - 6, y, left, y, black);
    cv.text(4, y - 4, fmt("%.1f", well.depth[size_t(i)]), black, 1);
  }
  int x = left;
  for (const std::string& name : p.curves) {
    cv.fill_rect(x, top, x + track, top + plot_h, {248, 248, 248});
    cv.text(x + 2, top - 30, name, black, 1);
    const auto it = well.logs.find(name);
    if (it != well.logs.end()) {
      std::vector<double> valid;
      for (double v : it->second)
        if (!std::isnan(v)) valid.push_back(v);
      if (!valid.empty()) {
        std::sort(valid.begin(), valid.end());
        const double lo = valid[valid.size() / 100], hi = valid[valid.size() - 1 - valid.size() / 100];
        const double span = hi > lo ? hi - lo : 1.0;
        cv.text(x + 2, top - 16, fmt("%.3g", lo) + " - " + fmt("%.3g", hi), {90, 90, 90}, 1);
        double px = -1, py = -1;
        for (int i = 0; i < n; ++i) {
          const double v = it->second[size_t(i)];
          if (std::isnan(v)) {
            px = -1;
            continue;
          }
          const double cx = x + std::clamp((v - lo) / span, 0.0, 1.0) * (track - 1), cy = y_of(i + 0.5);
          if (px >= 0) cv.line(px, py, cx, cy, {20, 60, 160});
          px = cx, py = cy;
        }
      } else {
        cv.text(x + 4, top + 10, "no data", {160, 0, 0}, 1);
      }
    } else {
      cv.text(x + 4, top + 10, "absent", {160, 0, 0}, 1);
    }
    x += track + gap;
  }
  auto facies_track = [&](const std::vector<int64_t>& cls, const std::string& title) {
    cv.text(x, top - 30, title, black, 1);
    for (int i = 0; i < n; ++i) {
      const int64_t c = cls[size_t(i)];
      const Rgb col = c >= 0 ? class_colour(c) : grey;
      cv.fill_rect(x, int(y_of(i)), x + facies_w, std::max(int(y_of(i + 1)), int(y_of(i)) + 1), col);
    }
    x += facies_w + gap;
  };
  if (has_truth) facies_track(truth, "truth");
  facies_track(predicted, "predicted");
  // Legend.
  for (int64_t c = 0; c < p.classes(); ++c) {
    const int lx = left + int(c % 4) * 150, ly = top + plot_h + 20 + int(c / 4) * 24;
    cv.fill_rect(lx, ly, lx + 16, ly + 16, class_colour(c));
    cv.text(lx + 22, ly + 2, std::to_string(p.codes[size_t(c)]) + " " + p.class_names[size_t(c)], black, 1);
  }
  cv.save_png(path);
}

// ---------------------------------------------------------------------------
// train

namespace {

struct CvOptions {
  int64_t folds = 0;
  std::vector<double> fractions;
  std::vector<std::string> modes;
  std::vector<int64_t> seeds;
  int64_t ensemble = 1;  // train.ensemble: models per fold, from different initialisations, probabilities averaged
  uint64_t split_seed = 0;
  bool final_model = true;
  bool transductive = false;  // semi mode: the held-out wells are unlabelled training wells too
  static CvOptions from_config(const Config& cv, const std::string& mode) {
    CvOptions o;
    o.folds = cv.get_int("folds", 0, Bounds::at_least(0));
    o.fractions = cv.get_double_list("fractions", {1.0});
    o.modes = cv.get_string_list("modes", {mode});
    o.seeds = cv.get_int_list("seeds", {1});
    o.split_seed = uint64_t(cv.get_int("split_seed", 0, Bounds::at_least(0)));
    o.final_model = cv.get_bool("final", true);
    o.transductive = cv.get_bool("transductive", false);
    for (double f : o.fractions) STRATA_CHECK(f > 0 && f <= 1, cv.key_path("fractions"), ": ", f, " is not in (0, 1]");
    for (const std::string& m : o.modes)
      STRATA_CHECK(m == "supervised" || m == "adversarial" || m == "semi", cv.key_path("modes"), ": unknown mode '",
                   m, "' (supervised | adversarial | semi)");
    STRATA_CHECK(!o.seeds.empty() && !o.modes.empty() && !o.fractions.empty(), cv.key_path("seeds"),
                 ": cv.seeds, cv.modes and cv.fractions must not be empty");
    return o;
  }
};

struct Experiment {
  double fraction;
  std::string mode;
  std::vector<double> f1_by_seed, f1_macro_by_seed, adjacent_by_seed, fold_f1, seconds;
  ConfusionMatrix pooled;
};

std::string fraction_label(double f) {
  for (int d : {2, 4, 8, 16})
    if (std::abs(f * d - 1.0) < 1e-9) return "1/" + std::to_string(d);
  return f >= 1.0 ? "all" : fmt("%.3g", f);
}

// Trains one model on `train_wells` (of which `labelled` by index keep their
// labels); returns the trainer (model inside) and the fitted preprocessing.
struct FoldModel {
  Preprocessing pre;
  std::unique_ptr<FaciesTrainer> trainer;
};

// Fits the normalisation on the logs of every training well (labels are not
// used for it) and builds the trainer on the wells of `split`
// (split_training_wells) with the default generator seeded by `init_seed` (the
// members of an ensemble share the split and differ in it).
FoldModel make_trainer(const Config& cfg, Preprocessing pre, const std::vector<Well>& train_wells,
                       const WellSplit& split, const std::string& mode, int64_t epochs, uint64_t init_seed) {
  pre.fit(train_wells);
  manual_seed(init_seed);
  FoldModel f{pre, nullptr};
  f.trainer = std::make_unique<FaciesTrainer>(cfg, pre, prepare(pre, split.labelled), prepare(pre, split.unlabelled),
                                              epochs, init_seed, mode);
  return f;
}

// The initialisation seed of ensemble member j (member 0: the run's own seed).
uint64_t member_seed(uint64_t seed, int64_t j) { return seed + uint64_t(j) * 1000003u; }

FoldModel fit_fold(const Config& cfg, const Preprocessing& pre, const std::vector<Well>& train_wells,
                   const WellSplit& split, const std::string& mode, int64_t epochs, uint64_t seed, int64_t member) {
  FoldModel f = make_trainer(cfg, pre, train_wells, split, mode, epochs, member_seed(seed, member));
  for (int64_t e = 0; e < epochs; ++e)
    for (int64_t b = 0; b < f.trainer->steps_per_epoch(); ++b) f.trainer->step(e, b);
  return f;
}

void run_cross_validation(const Config& cfg, const CvOptions& o, const Preprocessing& pre,
                          const std::vector<Well>& wells, const std::vector<std::vector<int64_t>>& adjacent,
                          int64_t epochs, const std::string& out) {
  const int64_t folds = o.folds;
  const std::vector<double>& fractions = o.fractions;
  const std::vector<std::string>& modes = o.modes;
  const std::vector<int64_t>& seeds = o.seeds;
  const uint64_t split_seed = o.split_seed;
  int64_t window, stride;
  read_inference(cfg, window, stride);
  const std::vector<int64_t> fold = fold_of_wells(wells.size(), folds, split_seed);

  std::ofstream rows(fs::path(out) / "cv_folds.csv");
  rows << "fraction,mode,seed,fold,test_wells,labelled_wells,unlabelled_wells,f1_micro,f1_macro,seconds\n";
  std::ofstream per_well(fs::path(out) / "cv_wells.csv");
  per_well << "fraction,mode,seed,fold,well,samples,f1_micro,adjacent\n";
  std::vector<Experiment> results;
  const auto t_all = Clock::now();
  for (double fraction : fractions)
    for (const std::string& mode : modes) {
      Experiment ex{fraction, mode, {}, {}, {}, {}, {}, ConfusionMatrix(pre.classes())};
      std::map<std::string, std::vector<double>> well_f1;  // F1 micro of each held-out well, one per seed
      for (int64_t seed : seeds) {
        ConfusionMatrix pooled(pre.classes());
        double secs = 0;
        for (int64_t k = 0; k < folds; ++k) {
          std::vector<Well> tr, te;
          std::vector<std::string> test_names;
          for (size_t i = 0; i < wells.size(); ++i) {
            (fold[i] == k ? te : tr).push_back(wells[i]);
            if (fold[i] == k) test_names.push_back(wells[i].name);
          }
          // cv.transductive: in semi mode the held-out wells' logs are unlabelled training data too.
          const std::vector<Well> extra = o.transductive && mode == "semi" ? te : std::vector<Well>{};
          const uint64_t fold_seed = uint64_t(seed) * 1000 + uint64_t(k);
          const WellSplit split = split_training_wells(pre, tr, fraction, fold_seed, extra);
          const auto t0 = Clock::now();
          std::vector<FoldModel> members;
          std::vector<Module*> ensemble;
          for (int64_t j = 0; j < o.ensemble; ++j) {
            members.push_back(fit_fold(cfg, pre, tr, split, mode, epochs, fold_seed, j));
            ensemble.push_back(&members.back().trainer->model());
          }
          const double s = seconds_since(t0);
          secs += s;
          // Scored well by well (cv_wells.csv), then as the fold.
          ConfusionMatrix m(pre.classes());
          const std::vector<Sample> test = prepare(members[0].pre, te);
          for (const Sample& w : test) {
            const ConfusionMatrix mw = evaluate(ensemble, {w}, pre.classes(), window, stride);
            m.merge(mw);
            if (mw.total() == 0) continue;
            per_well << fraction << "," << mode << "," << seed << "," << k << ",\"" << w.name << "\"," << mw.total()
                     << "," << mw.f1_micro() << ","
                     << (adjacent.empty() ? std::string() : fmt("%.6g", mw.adjacent_accuracy(adjacent))) << "\n";
            well_f1[w.name].push_back(mw.f1_micro());
          }
          per_well.flush();
          pooled.merge(m);
          ex.fold_f1.push_back(m.f1_micro());
          rows << fraction << "," << mode << "," << seed << "," << k << ",\"" << join(test_names, ";") << "\","
               << split.labelled.size() << "," << split.unlabelled.size() << "," << m.f1_micro() << ","
               << m.f1_macro() << "," << s << "\n";
          rows.flush();
          std::fprintf(stderr, "[cv] labelled %s, %s, seed %lld, fold %lld/%lld (%s): F1 micro %.4f (%.1f s)\n",
                       fraction_label(fraction).c_str(), mode.c_str(), static_cast<long long>(seed),
                       static_cast<long long>(k + 1), static_cast<long long>(folds), join(test_names, ", ").c_str(),
                       m.f1_micro(), s);
        }
        ex.f1_by_seed.push_back(pooled.f1_micro());
        ex.f1_macro_by_seed.push_back(pooled.f1_macro());
        if (!adjacent.empty()) ex.adjacent_by_seed.push_back(pooled.adjacent_accuracy(adjacent));
        ex.seconds.push_back(secs);
        ex.pooled.merge(pooled);
      }
      const std::string stem = "confusion_" + mode + "_" + safe_name(fraction_label(fraction));
      confusion_plot((fs::path(out) / (stem + ".png")).string(),
                     "CV " + mode + ", labelled wells " + fraction_label(fraction), ex.pooled, pre.class_names);
      // The same counts as numbers: rows truth, columns prediction, summed over seeds.
      std::ofstream(fs::path(out) / (stem + ".csv")) << ex.pooled.str(pre.class_names, ',');
      std::fprintf(stderr, "[cv] labelled %s, %s: F1 micro %.4f +- %.4f over %zu seeds\n",
                   fraction_label(fraction).c_str(), mode.c_str(), mean_of(ex.f1_by_seed), std_of(ex.f1_by_seed),
                   ex.f1_by_seed.size());
      std::string wells_line;
      for (const Well& w : wells)
        if (well_f1.count(w.name))
          wells_line += (wells_line.empty() ? "" : ", ") + w.name + " " + fmt("%.3f", mean_of(well_f1[w.name]));
      std::fprintf(stderr, "[cv] labelled %s, %s, F1 micro per held-out well (mean over seeds): %s\n",
                   fraction_label(fraction).c_str(), mode.c_str(), wells_line.c_str());
      results.push_back(std::move(ex));
    }

  // Summary: CSV and a Markdown table for docs/welllog.md.
  std::ofstream csv(fs::path(out) / "cv_summary.csv");
  csv << "fraction,mode,seeds,f1_micro_mean,f1_micro_std,fold_f1_std,f1_macro_mean,adjacent_mean,seconds_per_model";
  for (const std::string& n : pre.class_names) csv << ",f1_" << n;
  csv << "\n";
  std::ofstream md(fs::path(out) / "cv_summary.md");
  md << "| labelled wells | mode | F1 micro (mean +- std over " << seeds.size()
     << " seeds) | fold spread (std) | F1 macro | adjacent acc. | train s / model |\n|---|---|---|---|---|---|---|\n";
  for (const Experiment& ex : results) {
    const double per_model = mean_of(ex.seconds) / double(folds);
    csv << ex.fraction << "," << ex.mode << "," << ex.f1_by_seed.size() << "," << mean_of(ex.f1_by_seed) << ","
        << std_of(ex.f1_by_seed) << "," << std_of(ex.fold_f1) << "," << mean_of(ex.f1_macro_by_seed) << ","
        << mean_of(ex.adjacent_by_seed) << "," << per_model;
    for (int64_t c = 0; c < pre.classes(); ++c) csv << "," << ex.pooled.f1(c);
    csv << "\n";
    md << "| " << fraction_label(ex.fraction) << " | " << ex.mode << " | " << fmt("%.3f", mean_of(ex.f1_by_seed))
       << " +- " << fmt("%.3f", std_of(ex.f1_by_seed)) << " | " << fmt("%.3f", std_of(ex.fold_f1)) << " | "
       << fmt("%.3f", mean_of(ex.f1_macro_by_seed)) << " | "
       << (adjacent.empty() ? std::string("-") : fmt("%.3f", mean_of(ex.adjacent_by_seed))) << " | "
       << fmt("%.1f", per_model) << " |\n";
  }
  std::fprintf(stderr, "[cv] done in %.1f s: %s/cv_summary.md\n", seconds_since(t_all), out.c_str());
}

}  // namespace

int train_command(const AppArgs& a) {
  STRATA_CHECK(!a.config.empty(), "train needs --config FILE");
  Config cfg = Config::load(a.config);
  cfg.apply_overrides(a.overrides);
  const std::string run_dir = train_run_dir(a, fs::path(a.config).stem().string());

  const Config data = cfg.section("data");
  Preprocessing pre = Preprocessing::from_config(data);
  const std::vector<std::vector<int64_t>> adjacent = adjacent_classes(data, pre);
  std::vector<Well> wells = usable_wells(pre, load_wells(data));
  STRATA_CHECK(wells.size() >= 2, "strata-welllog: need at least 2 usable wells, have ", wells.size());
  const std::vector<std::string> val_names = data.get_string_list("val_wells", {});
  const Config train = cfg.section("train");
  const int64_t epochs = train.get_int("epochs", 60, Bounds::at_least(1));
  const uint64_t seed = uint64_t(train.get_int("seed", 1, Bounds::at_least(0)));
  const double fraction = train.get_double("labelled_fraction", 1.0, Bounds{0, 1, true});
  if (!train.has("monitor")) {
    Config t = train;
    t.apply_override(val_names.empty() ? "monitor=train_loss" : "monitor=val_f1_micro");
  }
  TrainerOptions topt = TrainerOptions::from_config(train);
  CvOptions cvo = CvOptions::from_config(
      cfg.section("cv"), train.get_choice("mode", "supervised", {"supervised", "adversarial", "semi"}));
  const int64_t members = train.get_int("ensemble", 1, Bounds::between(1, 32));
  cvo.ensemble = members;
  STRATA_CHECK(members == 1 || a.resume.empty(), "--resume continues a single-model run; with train.ensemble: ",
               members, " train the members again (each takes one run of train.epochs)");
  int64_t window, stride;
  read_inference(cfg, window, stride);

  // Validate the whole config before any long work: build one trainer.
  {
    Preprocessing probe = pre;
    probe.fit(wells);
    FaciesTrainer check(cfg, probe, prepare(probe, {wells[0]}), {}, 1, seed);
    cfg.check_unknown_keys();
  }
  const std::string out = prepare_run_dir(run_dir, a);  // rank 0: run_dir; other ranks: a scratch folder
  cfg.save((fs::path(out) / "config.yaml").string());
  std::fprintf(stderr, "strata-welllog: %zu wells, %zu samples, curves %s, %lld classes, %s -> %s\n", wells.size(),
               size_t(std::accumulate(wells.begin(), wells.end(), int64_t(0),
                                      [](int64_t s, const Well& w) { return s + w.length(); })),
               join(pre.curves, ", ").c_str(), static_cast<long long>(pre.classes()),
               device_label(train_device(cfg.section("train"))).c_str(), out.c_str());

  if (cvo.folds > 0) run_cross_validation(cfg, cvo, pre, wells, adjacent, epochs, out);
  if (!cvo.final_model) return 0;

  // The final model: every well but data.val_wells, labelled by `fraction`.
  std::vector<Well> tr, val;
  for (const std::string& n : val_names)
    STRATA_CHECK(std::any_of(wells.begin(), wells.end(), [&](const Well& w) { return w.name == n; }),
                 data.key_path("val_wells"), ": no well named '", n, "'");
  for (const Well& w : wells)
    (std::find(val_names.begin(), val_names.end(), w.name) != val_names.end() ? val : tr).push_back(w);
  const std::string config_text = cfg.dump();
  const WellSplit split = split_training_wells(pre, tr, fraction, seed);  // every member trains on it
  for (int64_t j = 0; j < members; ++j) {
    // One member: its own run folder when there are several, the run folder itself otherwise.
    const std::string dir = members == 1 ? out : (fs::path(out) / ("member_" + std::to_string(j))).string();
    create_directories_checked(dir);
    FoldModel fm = make_trainer(cfg, pre, tr, split, "", epochs, member_seed(seed, j));
    const Preprocessing fitted = fm.pre;
    FaciesTrainer& ft = *fm.trainer;
    const std::vector<Sample> val_samples = prepare(fitted, val);
    topt.steps_per_epoch = ft.steps_per_epoch();
    Trainer trainer(
        topt, dir, [&](int64_t e, int64_t b) { return ft.step(e, b); },
        [&](int64_t) {
          std::map<std::string, double> m;
          if (val_samples.empty()) return m;
          // Data-parallel ranks score their share of the wells and add up the counts.
          const dist::Span mine = dist::split(int64_t(val_samples.size()));
          ConfusionMatrix cm = evaluate(ft.model(), {val_samples.begin() + mine.begin, val_samples.begin() + mine.end},
                                        fitted.classes(), window, stride);
          cm.sum_over_ranks();
          m["val_accuracy"] = cm.accuracy();
          m["val_f1_micro"] = cm.f1_micro();
          m["val_f1_macro"] = cm.f1_macro();
          if (!adjacent.empty()) m["val_adjacent_accuracy"] = cm.adjacent_accuracy(adjacent);
          return m;
        },
        [&](Checkpoint& ck) {
          ft.save(ck);
          save_preprocessing(ck, fitted);
          ck.set("welllog.config", config_text);
        },
        [&](const Checkpoint& ck) { ft.load(ck); });
    if (!a.resume.empty()) trainer.resume(a.resume);
    const TrainSummary s = trainer.run();
    if (s.interrupted) return 130;
    std::fprintf(stderr, "strata-welllog: %s%strained %lld epochs (%lld steps); best %s %.4f at epoch %lld\n",
                 members == 1 ? "" : "member ", members == 1 ? "" : (std::to_string(j) + ": ").c_str(),
                 static_cast<long long>(s.epochs_run), static_cast<long long>(s.steps), topt.monitor.c_str(), s.best,
                 static_cast<long long>(s.best_epoch));
    pre = fitted;
  }
  if (members > 1) {
    // best.safetensors of the run: every member's best model, the preprocessing and config of member 0
    // (all members share them), for eval and predict; the members' folders keep their own for resuming.
    Checkpoint ens;
    for (int64_t j = 0; j < members; ++j) {
      const Checkpoint m =
          Checkpoint::load((fs::path(out) / ("member_" + std::to_string(j)) / "best.safetensors").string());
      if (j == 0) {
        ens.metadata = m.metadata;
        for (const auto& [name, t] : m.tensors)
          if (name.rfind("extra.", 0) == 0) ens.tensors[name] = t;
      }
      for (const auto& [name, t] : m.tensors)
        if (name.rfind("model.", 0) == 0) ens.tensors[member_prefix(j) + name.substr(6)] = t;
    }
    ens.set("welllog.ensemble", std::to_string(members));
    ens.save((fs::path(out) / "best.safetensors").string());
    std::fprintf(stderr, "strata-welllog: ensemble of %lld members -> %s/best.safetensors\n",
                 static_cast<long long>(members), out.c_str());
  }

  // Strip plots and the fit of the best model on training / validation wells.
  const Loaded best = load_model((fs::path(out) / "best.safetensors").string());
  for (const auto* set : {&tr, &val}) {
    const ConfusionMatrix cm = plot_and_score(best, *set, out);
    if (cm.total() == 0) continue;
    const std::string what = set == &tr ? "train" : "val";
    std::fprintf(stderr, "strata-welllog: best model on %s wells: %s\n", what.c_str(),
                 metrics_line(cm, adjacent).c_str());
    confusion_plot((fs::path(out) / ("confusion_" + what + ".png")).string(), "best model, " + what + " wells", cm,
                   pre.class_names);
  }
  return 0;
}

// ---------------------------------------------------------------------------
// eval / predict

int eval_command(const AppArgs& a) {
  STRATA_CHECK(!a.checkpoint.empty(), "eval needs --checkpoint FILE");
  Loaded l = load_model(a.checkpoint);
  const Device device = command_device(a);
  for (const ModulePtr& m : l.members) m->to(device);
  l.cfg.apply_overrides(a.overrides);
  read_inference(l);
  const Config data = l.cfg.section("data");
  std::vector<Well> wells = a.data.empty() ? load_wells(data) : load_wells_from_file(a.data, data, true);
  wells = usable_wells(l.pre, wells);
  for (Well& w : wells) flag_outliers(l.pre, w);
  const std::vector<std::vector<int64_t>> adjacent = adjacent_classes(data, l.pre);
  check_overrides_read(l.cfg, a.overrides, "eval");
  const std::string out =
      rank_output_dir(!a.out.empty() ? a.out : (fs::path(a.checkpoint).parent_path() / "eval").string());
  create_directories_checked(out);
  const ConfusionMatrix total = plot_and_score(l, wells, out, &adjacent);
  STRATA_CHECK(total.total() > 0, "eval: none of the ", wells.size(), " wells has labels in the classes ",
               "of the checkpoint; use predict for unlabelled wells");
  std::printf("%-20s %s\n", "all wells", metrics_line(total, adjacent).c_str());
  for (int64_t c = 0; c < l.pre.classes(); ++c)
    std::printf("  F1 %-12s %.4f\n", l.pre.class_names[size_t(c)].c_str(), total.f1(c));
  confusion_plot((fs::path(out) / "confusion.png").string(), "eval: " + fs::path(a.checkpoint).filename().string(),
                 total, l.pre.class_names);
  write_metrics((fs::path(out) / "metrics.csv").string(), total, l.pre, adjacent);
  std::printf("wrote %s/{metrics.csv, confusion.png, wells/}\n", out.c_str());
  return 0;
}

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

int export_command(const AppArgs& a) {
  Loaded l = load_model(a.checkpoint);
  l.cfg.apply_overrides(a.overrides);
  read_inference(l);
  check_overrides_read(l.cfg, a.overrides, "export");
  const Preprocessing& pre = l.pre;
  const int64_t curves = int64_t(pre.curves.size()), multiple = spatial_multiple(l.cfg.section("model"));
  // Per curve: the training mean / std, or (data.normalise_per_well) the well's own, chosen by a 0 / 1 mask.
  std::vector<float> mean, inv, own;
  for (int64_t c = 0; c < curves; ++c) {
    mean.push_back(float(pre.mean[size_t(c)]));
    inv.push_back(float(1.0 / pre.stddev[size_t(c)]));
    own.push_back(std::count(pre.per_well.begin(), pre.per_well.end(), pre.curves[size_t(c)]) ? 1.f : 0.f);
  }
  // An ensemble's members are children "0", "1", ... as in a PyTorch nn.ModuleList of them.
  ModuleList ensemble;
  for (const ModulePtr& member : l.members) ensemble.add(member);
  AppExport e;
  e.model = l.members.size() > 1 ? static_cast<const Module*>(&ensemble) : l.members[0].get();
  e.example = Tensor::randn({1, curves, 8 * multiple});
  e.graph = [&](const Tensor& x) {
    const Tensor m = Tensor::from_vector(own, {1, curves, 1});
    const Tensor trained =
        mul(sub(x, Tensor::from_vector(mean, {1, curves, 1})), Tensor::from_vector(inv, {1, curves, 1}));
    Tensor in = add(mul(m, standardise_per_channel(x)), mul(sub(1.0, m), trained));
    if (!pre.indicators.empty())  // no value is missing in the graph's input: every indicator channel is 0
      in = cat({in, mul(slice(x, 1, 0, int64_t(pre.indicators.size())), 0.0)}, 1);
    Tensor probs;
    for (const ModulePtr& member : l.members) {
      const Tensor p = softmax((*member)(in), 1);
      probs = probs.defined() ? add(probs, p) : p;
    }
    return std::vector<Tensor>{l.members.size() > 1 ? div(probs, double(l.members.size())) : probs};
  };
  e.onnx.input_name = "curves";
  e.onnx.input_dims = {"batch", "", "samples"};
  e.onnx.output_names = {"probabilities"};
  std::string codes, names;
  for (int64_t c : pre.codes) codes += (codes.empty() ? "" : ", ") + std::to_string(c);
  e.onnx.metadata = {
      {"strata.input", str_cat("curves (N, ", curves, ", samples) in the order of strata.curves, as logged, every ",
                               pre.depth_step, " ", pre.depth_unit.empty() ? "(depth unit)" : pre.depth_unit,
                               "; samples a multiple of ", multiple, "; no missing values")},
      {"strata.curves", join(pre.curves, ", ")},
      {"strata.output", "probabilities (N, classes, samples) of the facies in strata.codes order"},
      {"strata.codes", codes},
      {"strata.class_names", join(pre.class_names, ", ")},
      {"strata.depth_step", str_cat(pre.depth_step)},
      {"strata.depth_unit", pre.depth_unit},
      {"strata.normalise_per_well", join(pre.per_well, ", ")},
      {"strata.predict", "strata-welllog predict also fills missing values, resamples wells logged at another "
                         "spacing and, for wells longer than inference.window, blends overlapping windows"},
      {"strata.members", std::to_string(l.members.size())}};
  e.onnx.doc = "strata-welllog: facies probabilities of well-log curves";
  return run_export(a, "strata-welllog", e);
}

int predict_command(const AppArgs& a) {
  STRATA_CHECK(!a.checkpoint.empty() && !a.input.empty() && !a.output.empty(),
               "predict needs --checkpoint FILE --input FILE --output FILE");
  Loaded l = load_model(a.checkpoint);
  const Device device = command_device(a);
  for (const ModulePtr& m : l.members) m->to(device);
  l.cfg.apply_overrides(a.overrides);
  read_inference(l);
  const Config data = l.cfg.section("data");
  const int64_t k = l.pre.classes();
  const bool las_output = lower_extension(a.output) == ".las";
  output_target(a.output);  // a directory, FIFO or device at --output is refused before any work
  refuse_output_onto_input(a.output, a.input);

  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<Well> wells;
  std::optional<las::LasFile> las_in;
  std::optional<Table> table;
  require_input_file(a.input, "input");
  if (looks_like_las(a.input)) {
    las_in = las::read(a.input);
    wells.push_back(well_from_las(*las_in));
    for (const las::Curve& c : las_in->curves) columns.push_back(c.mnemonic);
    rows.resize(size_t(las_in->rows()));
    for (size_t r = 0; r < rows.size(); ++r)
      for (const las::Curve& c : las_in->curves)
        rows[r].push_back(std::isnan(c.values[r]) ? std::string() : fmt("%.10g", c.values[r]));
  } else {
    table = read_csv(a.input);
    wells = wells_from_table(*table, columns_of(data), false);
    columns = table->columns;
    rows = table->rows;
  }
  STRATA_CHECK(!las_output || wells.size() == 1, a.output, ": a LAS file holds one well and ", a.input, " has ",
               wells.size(), "; write CSV (--output F.csv) or split the wells");
  const std::vector<Well> as_read = las_output ? wells : std::vector<Well>{};  // LAS output: the curves unmapped
  CurveMap::from_config(data).apply(wells);
  check_overrides_read(l.cfg, a.overrides, "predict");
  for (Well& w : wells) {
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
                 }());
  }
  // Predicted code and probabilities per source row (-1 / empty: a row of no well).
  std::vector<int64_t> codes(rows.size(), -1);
  std::vector<std::vector<double>> probs(rows.size());
  for (const Well& w : wells) {
    const WellPrediction p = predict_well(l, w);
    const int64_t n = p.sample.length;
    for (int64_t i = 0; i < n; ++i) {
      const size_t r = w.rows[size_t(i)];
      codes[r] = l.pre.codes[size_t(p.classes[size_t(i)])];
      probs[r].resize(size_t(k));
      for (int64_t c = 0; c < k; ++c) probs[r][size_t(c)] = p.probs[size_t(c * n + i)];
    }
  }
  if (las_output) {
    write_las_prediction(a, l, las_in, table ? &*table : nullptr, as_read[0], codes, probs);
  } else {
    write_file_atomic(a.output, [&](std::ostream& f) {
      auto cell = [](const std::string& v) {
        if (v.find_first_of(",\"") == std::string::npos) return v;
        std::string q = "\"";
        for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        return q + "\"";
      };
      for (size_t j = 0; j < columns.size(); ++j) f << (j ? "," : "") << cell(columns[j]);
      f << ",Predicted";
      for (int64_t c : l.pre.codes) f << ",P_" << c;
      f << "\n";
      for (size_t r = 0; r < rows.size(); ++r) {
        for (size_t j = 0; j < rows[r].size(); ++j) f << (j ? "," : "") << cell(rows[r][j]);
        f << ",";
        if (codes[r] >= 0) f << codes[r];
        for (int64_t c = 0; c < k; ++c)
          f << "," << (probs[r].empty() ? std::string() : fmt("%.5f", probs[r][size_t(c)]));
        f << "\n";
      }
    });
  }
  std::printf("wrote %s: %zu rows, %zu wells, Predicted + P_<code> for %lld classes\n", a.output.c_str(),
              rows.size(), wells.size(), static_cast<long long>(k));
  return 0;
}

}  // namespace strata::welllog
