#include "apps/welllog/trained.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "apps/common/driver.h"
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

namespace {

Checkpoint load_welllog_checkpoint(const std::string& path) {
  Checkpoint ck = Checkpoint::load(path);
  check_app_checkpoint(ck, path, "strata-welllog", "welllog.config");
  return ck;
}

// Networks in a checkpoint: welllog.ensemble members, or 1.
int64_t networks_in(const Checkpoint& ck) {
  const int64_t members = ck.has("welllog.ensemble") ? ck.get_int("welllog.ensemble") : 0;
  STRATA_CHECK(members >= 0 && members <= 32, ck.path, ": welllog.ensemble is ", members, ", expected 1..32");
  return std::max<int64_t>(members, 1);
}

// Member j's weights: model. for a single network; an ensemble's ensemble.<j>. in a checkpoint, model.<j>. in a
// weights-only export.
void restore_network(const Checkpoint& ck, int64_t j, Module& m) {
  if (!ck.has("welllog.ensemble") || ck.get_int("welllog.ensemble") == 0) return ck.restore_module("model.", m);
  const auto it = ck.tensors.lower_bound(member_prefix(j));
  const bool checkpoint_names = it != ck.tensors.end() && it->first.rfind(member_prefix(j), 0) == 0;
  ck.restore_module(checkpoint_names ? member_prefix(j) : "model." + std::to_string(j) + ".", m);
}

}  // namespace

Loaded load_model(const std::string& checkpoint) {
  const Checkpoint ck = load_welllog_checkpoint(checkpoint);
  Loaded l{Config::parse(ck.get("welllog.config"), checkpoint + " [welllog.config]"), load_preprocessing(ck), {}};
  for (int64_t j = 0; j < networks_in(ck); ++j) {
    l.members.push_back(build_module(l.cfg.section("model")));
    restore_network(ck, j, *l.members.back());
    l.members.back()->eval();
  }
  read_inference(l);
  return l;
}

std::string init_from(const Config& root) { return root.section("model").get_string("init_from", ""); }

void init_network(const Config& root, int64_t member, Module& model) {
  const std::string path = init_from(root);
  if (path.empty()) return;
  const Checkpoint ck = load_welllog_checkpoint(path);
  const int64_t networks = networks_in(ck);
  const int64_t members = root.section("train").get_int("ensemble", 1);
  STRATA_CHECK(networks == 1 || members <= networks, root.section("model").key_path("init_from"), ": ", path,
               " is an ensemble of ", networks, " networks and train.ensemble is ", members,
               ": member j starts from its member j, so train at most ", networks, " members");
  restore_network(ck, networks == 1 ? 0 : member, model);
}

void adopt_trained_scaling(const Config& root, Preprocessing& pre) {
  const std::string path = init_from(root);
  if (path.empty()) return;
  const Preprocessing trained = load_preprocessing(load_welllog_checkpoint(path));
  const std::string key = root.section("model").key_path("init_from");
  const auto same = [&](const std::vector<std::string>& mine, const std::vector<std::string>& theirs, const char* what,
                        const char* config_key) {
    STRATA_CHECK(mine == theirs, key, ": ", path, " was trained with ", what, " [", join(theirs, ", "), "], this config's ",
                 config_key, " gives [", join(mine, ", "), "]: a network reads its inputs in the order it learned them");
  };
  same(pre.curves, trained.curves, "the curves", "data.curves");
  same(pre.indicators, trained.indicators, "missing-value channels for", "data.missing.indicator");
  same(pre.per_well, trained.per_well, "each well's own statistics for", "data.normalise_per_well");
  same(to_strings(pre.codes), to_strings(trained.codes), "the classes", "data.classes");
  STRATA_CHECK(pre.per_well_trim == trained.per_well_trim, key, ": ", path, " was trained with data.per_well_trim ",
               trained.per_well_trim, ", this config gives ", pre.per_well_trim,
               ": a network reads its inputs scaled as it learned them");
  pre.mean = trained.mean;
  pre.stddev = trained.stddev;
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
  ck.set("welllog.per_well_trim", fmt("%.17g", p.per_well_trim));
  ck.set("welllog.codes", join(to_strings(p.codes), "\n"));
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
  if (ck.has("welllog.per_well_trim"))  // absent in checkpoints of strata before trimmed per-well statistics
    p.per_well_trim = ck.get_double("welllog.per_well_trim");
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
  const int64_t n = well.length();
  STRATA_CHECK(n > 0, "well ", well.name, ": no samples to plot");
  STRATA_CHECK(int64_t(predicted.size()) == n && (truth.empty() || int64_t(truth.size()) == n), "well ", well.name,
               ": ", n, " samples, ", predicted.size(), " predicted and ", truth.size(), " true facies");
  // Depth down one shared axis; a track per input curve with its scale at the top (1st to 99th percentile, as a
  // log viewer scales a track), then the facies columns and the class legend beside them.
  const double d0 = well.depth.front(), d1 = well.depth.back() > d0 ? well.depth.back() : d0 + 1;
  const Scale depth{d0, d1, false, true};
  const Ticks dt = nice_ticks(d0, d1, 10);
  // The well's own unit (LAS), else the training wells' data.depth_unit (CSV tables do not say).
  const std::string unit = well.depth_unit.empty() ? p.depth_unit : well.depth_unit;
  const std::string depth_label = unit.empty() ? "depth" : "depth (" + unit + ")";
  constexpr double track = 118, gap = 12, top = 86;
  const double facies_w = std::max(44.0, measure_text("predicted", 12, true).w + 6);
  const double plot_h = std::clamp(1.6 * double(n), 420.0, 1000.0);
  const double left = frame_left_margin(dt, true) + 6;
  std::vector<LegendEntry> legend;
  for (int64_t c = 0; c < p.classes(); ++c)
    legend.push_back({str_cat(p.codes[size_t(c)], " ", p.class_names[size_t(c)]), {}, Marker::none, false, class_colour(c)});
  const TextSize legend_box = legend_size(legend);
  const double tracks_w = double(p.curves.size()) * (track + gap) + (truth.empty() ? 1 : 2) * (facies_w + gap);
  Figure f(int(left + tracks_w + 12 + legend_box.w + 12), int(top + std::max(plot_h, legend_box.h) + 24));
  Font title{15};
  title.v = VAlign::top;
  f.text({12, 10}, "well " + well.name, title);
  Font head{12, true};
  head.h = HAlign::center, head.v = VAlign::bottom;
  Font scale{10.5, false, {70, 70, 70}};
  scale.v = VAlign::bottom;

  double x = left;
  bool first = true;
  for (const std::string& name : p.curves) {
    const auto it = well.logs.find(name);
    std::vector<double> valid;
    if (it != well.logs.end())
      for (double v : it->second)
        if (std::isfinite(v)) valid.push_back(v);
    std::sort(valid.begin(), valid.end());
    const double lo = valid.empty() ? 0 : valid[valid.size() / 100];
    const double hi = valid.empty() ? 1 : std::max(valid[valid.size() - 1 - valid.size() / 100], lo + 1e-9);
    const Axes a{{x, top, track, plot_h}, Scale{lo, hi}, depth};
    draw_grid(f, a, {}, dt);
    f.text({x + track / 2, top - 24}, name, head);
    if (valid.empty()) {
      Font note{11, false, {160, 0, 0}};
      note.h = HAlign::center, note.v = VAlign::top;
      f.text({x + track / 2, top + 8}, it == well.logs.end() ? "absent" : "no data", note);
    } else {
      scale.h = HAlign::left;
      f.text({x, top - 6}, fmt("%.3g", lo), scale);
      scale.h = HAlign::right;
      f.text({x + track, top - 6}, fmt("%.3g", hi), scale);
      f.clip(a.area);
      std::vector<Point> run;  // a curve broken where the log has no value
      for (int64_t i = 0; i <= n; ++i) {
        const double v = i < n ? it->second[size_t(i)] : NAN;
        if (std::isfinite(v)) {
          run.push_back({a.px(v), a.py(well.depth[size_t(i)])});
        } else {
          f.polyline(run, Stroke{{25, 70, 160}, 1.1});
          run.clear();
        }
      }
      f.unclip();
    }
    draw_frame(f, a, {}, first ? dt : Ticks{}, "", first ? depth_label : "");
    first = false;
    x += track + gap;
  }
  const auto facies_track = [&](const std::vector<int64_t>& cls, const std::string& name) {
    const Axes a{{x, top, facies_w, plot_h}, Scale{0, 1}, depth};
    // One rectangle per run of a class, from half a sample above its first sample to half below its last.
    const auto edge = [&](int64_t i) {
      return i <= 0 ? d0 : i >= n ? d1 : 0.5 * (well.depth[size_t(i - 1)] + well.depth[size_t(i)]);
    };
    for (int64_t i = 0; i < n;) {
      int64_t j = i + 1;
      while (j < n && cls[size_t(j)] == cls[size_t(i)]) ++j;
      const int64_t c = cls[size_t(i)];
      const double y0 = a.py(edge(i)), y1 = a.py(edge(j));
      f.rect({x, y0, facies_w, y1 - y0}, c >= 0 ? class_colour(c) : Rgb{215, 215, 215});
      i = j;
    }
    draw_frame(f, a, {}, {}, "", "");
    f.text({x + facies_w / 2, top - 24}, name, head);
    x += facies_w + gap;
  };
  if (!truth.empty()) facies_track(truth, "truth");
  facies_track(predicted, "predicted");
  draw_legend(f, {x + 4, top, legend_box.w, legend_box.h}, legend);
  f.save(path);
}

}  // namespace strata::welllog
