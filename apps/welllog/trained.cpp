#include "apps/welllog/trained.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "apps/common/plot.h"
#include "apps/welllog/text.h"
#include "engine/error.h"
#include "layers/registry.h"

namespace fs = std::filesystem;

namespace strata::welllog {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Checkpoint keys of an ensemble: member j's model under ensemble.<j>., the count in welllog.ensemble.
std::string member_prefix(int64_t j) { return "ensemble." + std::to_string(j) + "."; }

void read_inference(const Config& cfg, int64_t& window, int64_t& stride, bool* resample) {
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

void write_ensemble_checkpoint(const std::string& out, int64_t members) {
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
                               const std::vector<std::vector<int64_t>>* adjacent_per_well) {
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
  if (ck.has("welllog.per_well_min_samples"))  // absent in checkpoints of strata before per-well minimums
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
  if (ck.has("welllog.depth_step")) {  // absent in checkpoints of strata before resampling: none then
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


}  // namespace strata::welllog
