#include "apps/faults/run.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <map>

#include "apps/common/datasets.h"
#include "apps/common/driver.h"
#include "apps/common/export.h"
#include "apps/common/loader.h"
#include "apps/common/npy.h"
#include "apps/common/output_plan.h"
#include "apps/common/plot.h"
#include "apps/common/trainer.h"
#include "apps/faults/faults.h"
#include "apps/faults/sections.h"
#include "apps/faults/segy.h"
#include "apps/faults/synth.h"
#include "engine/autograd.h"
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

namespace strata::faults {
namespace {

constexpr const char* kApp = "strata-faults";
// The sections a cube is predicted on when --direction is not given.
constexpr const char* kDefaultDirection = "all";

// segy.inline_byte / segy.crossline_byte: where the trace headers of the SEG-Y files a command reads (data.match,
// eval --data / --labels, predict) hold the inline and crossline numbers.
SegyOptions segy_options(const Config& cfg) {
  const Config s = cfg.section("segy");
  SegyOptions o;
  o.inline_byte = int(s.get_int("inline_byte", o.inline_byte, Bounds::between(1, 237)));
  o.crossline_byte = int(s.get_int("crossline_byte", o.crossline_byte, Bounds::between(1, 237)));
  return o;
}

// The generator's options: data.synthetic, narrowed by data.match (a SEG-Y survey) when given. The matched
// ranges are written back into the config with data.matched: true, so config.yaml and the checkpoint hold
// what was generated and eval regenerates it without the survey.
SynthOptions synth_options(Config& cfg, bool verbose) {
  Config data = cfg.section("data");
  const std::string match = data.get_string("match", "");
  const bool matched = data.get_bool("matched", false);
  const SegyOptions segy = segy_options(cfg);
  SynthOptions o = SynthOptions::from_config(data.section("synthetic"));
  if (match.empty() || matched) return o;
  const SegyVolume survey(match, segy);
  const std::string what = o.match(survey);
  if (verbose) std::fprintf(stderr, "%s: matching %s\n%s", kApp, survey.describe().c_str(), what.c_str());
  Config synthetic = data.section("synthetic");
  for (const auto& [key, r] : {std::pair{"period", o.period}, std::pair{"snr", o.snr}, std::pair{"gain", o.gain}})
    synthetic.set(key, std::vector<double>{r.lo, r.hi});
  data.set("matched", true);
  return o;
}

// One row of a report's panels: seismic | labels | fault probability.
std::vector<Panel> report_row(const std::vector<float>& x, const std::vector<uint8_t>& label, const std::vector<float>& p,
                              int64_t height, int64_t width, const std::string& title) {
  const std::vector<float> truth(label.begin(), label.end());
  return {seismic_panel(x, height, width, title),
          overlay_panel(x, truth, height, width, "faults (labels)", OverlayKind::labels),
          overlay_panel(x, p, height, width, "fault probability")};
}

// report.csv (exact and within the tolerance), pr.png and panels.png of scored sections, into `dir`.
void write_report(const std::string& dir, const std::string& name, const FaultScores& scores, size_t sections,
                  const std::vector<std::vector<Panel>>& rows) {
  const int64_t tolerance = scores.tolerance();
  write_file_atomic((fs::path(dir) / "report.csv").string(), [&](std::ostream& f) {
    f.precision(6);
    f << "set,tolerance,ap,auroc,best_f1,threshold,precision,recall,iou,sections,fault_pixels,pixels\n";
    // One row exact, one within the tolerance (ROC AUC left empty there: a tolerance defines no false-positive rate).
    const auto row = [&](int64_t tol, const FaultScores::Summary& x, bool with_auroc) {
      f << name << "," << tol << "," << x.ap << ",";
      if (with_auroc) f << x.auroc;
      f << "," << x.best_f1 << "," << x.threshold << "," << x.precision << "," << x.recall << "," << x.iou << ","
        << sections << "," << scores.positives() << "," << scores.pixels() << "\n";
    };
    row(0, scores.strict(), true);
    row(tolerance, scores.tolerant(), false);
  });
  pr_plot((fs::path(dir) / "pr.png").string(), name + ": precision-recall of fault pixels", scores);
  if (!rows.empty()) image_panels((fs::path(dir) / "panels.png").string(), rows, 256);
}

// The tile options for one section: its time scale from `period` (PeriodMatch::scale of its dominant period).
TileOptions matched_tiles(const TileOptions& tiles, const PeriodMatch& period, const std::vector<float>& section,
                          int64_t height, int64_t width) {
  TileOptions t = tiles;
  if (period.reference > 0) t.time_scale = period.scale(section_period(section, height, width));
  return t;
}

// How many sections were resampled in time, on stderr (nothing when none was).
void report_resampled(int64_t resampled, int64_t sections, const PeriodMatch& period) {
  if (resampled == 0) return;
  std::fprintf(stderr,
               "%s: %lld of %lld sections predicted resampled in time: their dominant period is longer than the "
               "training sections' %.1f samples (inference.match_period)\n",
               kApp, static_cast<long long>(resampled), static_cast<long long>(sections), period.reference);
}

// Scores a set; writes report.csv, pr.png and panels.png (the first `panels` sections) into `dir`.
FaultScores report_set(const std::string& dir, const std::string& name, Module& net, const SectionSet& set,
                       const TileOptions& tiles, const PeriodMatch& period, int64_t tolerance, int64_t panels) {
  create_directories_checked(dir);
  FaultScores scores(tolerance);
  std::vector<std::vector<Panel>> rows;
  int64_t resampled = 0;
  for (size_t i = 0; i < set.sections.size(); ++i) {
    const SynthSection& s = set.sections[i];
    const TileOptions t = matched_tiles(tiles, period, s.seismic, s.height, s.width);
    resampled += t.time_scale < 1;
    const std::vector<float> p = predict_section(net, s.seismic, s.height, s.width, t);
    scores.add(p, s.label, s.height, s.width);
    if (int64_t(i) < panels) rows.push_back(report_row(s.seismic, s.label, p, s.height, s.width, set.names[i]));
  }
  report_resampled(resampled, int64_t(set.sections.size()), period);
  write_report(dir, name, scores, set.sections.size(), rows);
  return scores;
}

// Whether the model is a 3-D network (model.type unet3d): trained on cubes, predicting a cube at once.
bool volume_model(const Config& cfg) { return cfg.section("model").get_string("type", "") == "unet3d"; }

// Cubes of the generator `o`, `inlines` x o.width x o.height, cube i drawn from sample_rng(seed, 0, i).
std::vector<SynthCube> synthetic_cubes(const SynthOptions& o, uint64_t seed, int64_t count) {
  std::vector<SynthCube> cubes;
  for (int64_t i = 0; i < count; ++i) {
    std::mt19937_64 rng = sample_rng(seed, 0, uint64_t(i));
    cubes.push_back(generate_cube(o, o.width, rng));
  }
  return cubes;
}

// Inline k of a cube (inline-major, traces contiguous) as a section, samples x crosslines (time down).
template <class T>
std::vector<T> cube_inline(const std::vector<T>& cube, int64_t k, int64_t crosslines, int64_t samples) {
  std::vector<T> out(size_t(crosslines * samples));
  for (int64_t j = 0; j < crosslines; ++j)
    for (int64_t z = 0; z < samples; ++z)
      out[size_t(z * crosslines + j)] = cube[size_t((k * crosslines + j) * samples + z)];
  return out;
}

// A 3-D model's prediction of each cube scored on its inlines (the tolerance within each inline, as a survey's
// eval); report.csv, pr.png and panels.png (the middle inline of the first `panels` cubes) into `dir` unless
// it is empty. With `loss`, the mean loss of the cubes' probabilities is added to it.
FaultScores score_cubes(const std::string& dir, const std::string& name, Module& net,
                        const std::vector<SynthCube>& cubes, const TileOptions& tiles, int64_t tolerance,
                        int64_t panels, const LossOptions* loss_options = nullptr, double* loss = nullptr) {
  FaultScores scores(tolerance);
  std::vector<std::vector<Panel>> rows;
  for (size_t c = 0; c < cubes.size(); ++c) {
    const SynthCube& cube = cubes[c];
    const std::vector<float> p = predict_cube(net, cube.seismic, cube.inlines, cube.width, cube.height, tiles);
    if (loss) *loss += fault_loss_of_probabilities(p, cube.label, *loss_options);
    for (int64_t k = 0; k < cube.inlines; ++k) {
      const std::vector<float> pk = cube_inline(p, k, cube.width, cube.height);
      const std::vector<uint8_t> lk = cube_inline(cube.label, k, cube.width, cube.height);
      scores.add(pk, lk, cube.height, cube.width);
      if (int64_t(c) < panels && k == cube.inlines / 2)
        rows.push_back(report_row(cube_inline(cube.seismic, k, cube.width, cube.height), lk, pk, cube.height,
                                  cube.width, str_cat("cube ", c, ", inline ", k)));
    }
  }
  if (!dir.empty()) {
    create_directories_checked(dir);
    write_report(dir, name, scores, cubes.size(), rows);
  }
  return scores;
}

// The training sections' reference period (PeriodMatch): the kPeriodPercentile-th percentile of the dominant
// periods of 256 sections drawn as training draws them (a fixed seed: the same every run), to 0.01 samples.
double training_period(const TrainingSections& train) {
  constexpr int64_t kSections = 256;
  std::mt19937_64 rng(20261129);
  std::vector<double> periods;
  for (int64_t i = 0; i < kSections; ++i) {
    const SynthSection s = train.draw(rng);
    periods.push_back(section_period(s.seismic, s.height, s.width));
  }
  std::sort(periods.begin(), periods.end());
  const double at = kPeriodPercentile / 100 * double(kSections - 1);
  const size_t lo = size_t(at), hi = std::min(lo + 1, periods.size() - 1);
  // To a hundredth of a sample, as the checkpoint entry writes it (so train's test scores are eval's).
  return std::round(100 * (periods[lo] + (at - double(lo)) * (periods[hi] - periods[lo]))) / 100;
}

// The checkpoint entry that holds it.
constexpr const char* kPeriodEntry = "faults.period";

// A progress line on stderr, redrawn at most every half second and at the end.
void progress(const char* what, int64_t done, int64_t total, int64_t traces, double seconds) {
  static double last = -1;
  if (done != total && seconds - last < 0.5) return;
  last = seconds;
  std::fprintf(stderr, "\r%s: %s %lld/%lld, %.0f traces/s   ", kApp, what, static_cast<long long>(done),
               static_cast<long long>(total), seconds > 0 ? double(traces) / seconds : 0.0);
  if (done == total) std::fprintf(stderr, "\n");
}

bool is_segy(const std::string& path) { return has_ext(path, ".sgy") || has_ext(path, ".segy"); }

std::vector<int64_t> parse_indices(const std::string& list, int64_t count, const std::string& flag) {
  std::vector<int64_t> out;
  if (list.empty()) {
    for (int64_t i : {int64_t(0), count / 2, count - 1})
      if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
    return out;
  }
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    char* tail = nullptr;
    const long long v = std::strtoll(item.c_str(), &tail, 10);
    STRATA_USAGE_CHECK(!item.empty() && tail && *tail == '\0', flag, " '", list, "': '", item, "' is not a section index");
    STRATA_CHECK(v >= 0 && v < count, flag, ": section ", v, " of ", count);
    out.push_back(v);
    start = end + 1;
  }
  return out;
}

// A flag's whole number from 1 to `most`.
int64_t parse_count(const std::string& v, const char* flag, int64_t most) {
  char* tail = nullptr;
  const long long n = std::strtoll(v.c_str(), &tail, 10);
  STRATA_USAGE_CHECK(!v.empty() && *tail == '\0' && n >= 1 && n <= most, flag, " '", v, "': want a whole number from 1 to ",
                     most);
  return n;
}

}  // namespace

Model load_model(const std::string& path, const std::vector<std::string>& overrides) {
  TrainedModel t = load_trained(path, kApp, "faults.config", overrides);
  Model m{std::move(t.cfg), std::move(t.model)};
  m.tiles = TileOptions::from_config(m.cfg.section("inference"));
  m.volume = volume_model(m.cfg);
  if (m.cfg.section("inference").get_bool("match_period", true)) {
    if (t.checkpoint.has(kPeriodEntry)) {
      m.period.reference = std::stod(t.checkpoint.get(kPeriodEntry));
    } else {  // a checkpoint written before the entry: its training sections, from its config as trained
      Config trained = Config::parse(t.checkpoint.get("faults.config"), path + " [faults.config]");
      m.period.reference = training_period(training_sections(synth_options(trained, false), trained.section("data")));
    }
  }
  m.tolerance = m.cfg.section("metrics").get_int("tolerance", 1, Bounds::between(0, 10));
  m.segy = segy_options(m.cfg);
  return m;
}

// Training on generated sections: every step draws new ones (data.sections_per_epoch per epoch); validation and
// test sections come from their own seeds, so every run scores the same sets.
class FaultsTask : public Task {
 public:
  std::string app() const override { return kApp; }
  std::string config_entry() const override { return "faults.config"; }
  std::string default_monitor() const override { return "val_ap"; }

  // The network reads a section as one channel of amplitudes and gives one fault probability per sample: any
  // other model.in_channels or model.classes is named here, before the first step fails on a shape.
  // (Read only where the config gives them: a model type without these keys keeps its config as written.)
  ModulePtr build_model(const Config& model_cfg) const override {
    const auto one = [&](const char* key, const char* why) {
      if (!model_cfg.has(key)) return;
      const int64_t v = model_cfg.get_int(key, 1);
      STRATA_CHECK(v == 1, model_cfg.key_path(key), " is ", v, ": strata-faults ", why, "; set it to 1");
    };
    one("in_channels", "feeds the network one channel, the section's amplitudes");
    one("classes", "trains one output, the fault probability (binary)");
    return Task::build_model(model_cfg);
  }

  TrainingPlan prepare(Config& cfg) override {
    synth_ = synth_options(cfg, true);
    const Config data = cfg.section("data"), train = cfg.section("train");
    train_ = training_sections(synth_, data);
    train_variety_ = data.has("train_synthetic") && train_.share > 0;
    TrainingPlan plan;
    plan.batch = train.get_int("batch", 16, Bounds::at_least(1));
    plan.seed = uint64_t(train.get_int("seed", 1, Bounds::at_least(0)));
    // A 3-D model trains on cubes of data.synthetic.height samples x width x width traces, and is scored on
    // cubes of the plain generator.
    volume_ = volume_model(cfg);
    if (volume_) {
      plan.size = plan.samples_per_epoch = data.get_int("cubes_per_epoch", 64, Bounds::at_least(1));
      n_val_ = data.get_int("val_cubes", 8, Bounds::at_least(1));
      n_test_ = data.get_int("test_cubes", 16, Bounds::at_least(0));
    } else {
      plan.size = plan.samples_per_epoch = data.get_int("sections_per_epoch", 512, Bounds::at_least(1));
      n_val_ = data.get_int("val_sections", 64, Bounds::at_least(1));
      n_test_ = data.get_int("test_sections", 128, Bounds::at_least(0));
    }
    val_seed_ = uint64_t(data.get_int("val_seed", 1001, Bounds::at_least(0)));
    test_seed_ = uint64_t(data.get_int("test_seed", 2002, Bounds::at_least(0)));
    STRATA_CHECK(val_seed_ != plan.seed && test_seed_ != plan.seed && val_seed_ != test_seed_,
                 "data.val_seed, data.test_seed and train.seed must differ (the sets would share sections)");
    plan.workers = data.get_int("workers", 2, Bounds::between(0, 64));
    panels_ = cfg.section("report").get_int("panels", 6, Bounds::between(0, 64));
    tolerance_ = cfg.section("metrics").get_int("tolerance", 1, Bounds::between(0, 10));
    loss_ = LossOptions::from_config(cfg.section("loss"));
    tiles_ = TileOptions::from_config(cfg.section("inference"));
    // Per-epoch validation with one prediction per section, no mirror or shifted view (a quarter of the cost,
    // and the same checkpoint choice whatever inference.tta and inference.shift say); the final validation and
    // test scores, and the stored threshold, use the config's inference.
    quick_tiles_ = tiles_;
    quick_tiles_.tta = false;
    quick_tiles_.shift = {0, 0};
    // The reference period goes into every best checkpoint; the final validation and test use it as predict does.
    reference_period_ = training_period(train_);
    if (cfg.section("inference").get_bool("match_period", true)) period_.reference = reference_period_;
    sections_per_epoch_ = plan.samples_per_epoch;
    batch_ = plan.batch;
    return plan;
  }

  void start(const std::string& out, const Module& model, Device device) override {
    std::fprintf(stderr, "%s: generator %s\n%s: %s, %lld %s per epoch, batch %lld, %s -> %s\n", kApp,
                 synth_.describe().c_str(), kApp, model.type().c_str(), static_cast<long long>(sections_per_epoch_),
                 volume_ ? str_cat("cubes of ", synth_.height, " x ", synth_.width, " x ", synth_.width).c_str()
                         : "sections",
                 static_cast<long long>(batch_), device_label(device).c_str(), out.c_str());
    if (train_variety_)
      std::fprintf(stderr, "%s: training generator (data.train_synthetic, %g of the %s) %s\n", kApp, train_.share,
                   volume_ ? "cubes" : "sections", train_.varied.describe().c_str());
    else if (train_.varied.faults.lo != synth_.faults.lo || train_.varied.faults.hi != synth_.faults.hi)
      std::fprintf(stderr, "%s: training sections have %s faults (data.train_faults); validation and test %s\n",
                   kApp, train_.varied.faults.str().c_str(), synth_.faults.str().c_str());
    if (volume_) val_cubes_ = synthetic_cubes(synth_, val_seed_, n_val_);
    else val_ = synthetic_set(synth_, val_seed_, n_val_);
  }

  // Sections are generated, not drawn from a set: the epoch's order is simply 0 .. sections_per_epoch - 1.
  std::vector<int64_t> epoch_order(int64_t, const TrainingPlan& plan) const override {
    std::vector<int64_t> order(static_cast<size_t>(plan.samples_per_epoch));
    for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
    return order;
  }

  Sample sample(int64_t, std::mt19937_64& rng) const override {
    if (volume_) {  // a cube, inline-major with traces contiguous: (inlines, crosslines x samples) as an image
      SynthCube c = train_.draw_cube(synth_.width, rng);
      const int64_t traces_x_samples = c.width * c.height;
      Sample out{Image{1, c.inlines, traces_x_samples, std::move(c.seismic)}, LabelMap{c.inlines, traces_x_samples, {}}};
      out.mask.data.assign(c.label.begin(), c.label.end());
      return out;
    }
    SynthSection s = train_.draw(rng);  // the sample's own rng: the same sections on every run
    Sample out{Image{1, s.height, s.width, std::move(s.seismic)}, LabelMap{s.height, s.width, {}}};
    out.mask.data.assign(s.label.begin(), s.label.end());
    return out;
  }

  Tensor loss(Module& model, std::vector<Sample> batch, Device device) override {
    const auto [x, y] = host_batch(batch);
    return fault_loss(model(x.to(device)), y.to(device), loss_);
  }

  bool graph_ready(std::string*) const override { return true; }

  std::vector<Tensor> graph_batch(std::vector<Sample> batch) override {
    auto [x, y] = host_batch(batch);
    return fault_graph_batch(std::move(x), std::move(y), loss_);
  }

  Tensor graph_loss(Module& model, const std::vector<Tensor>& on_device) override {
    return fault_graph_loss(model(on_device[0]), on_device, loss_, graph_pos_weight_);
  }

  // The exact scores and those within metrics.tolerance samples, of sections or (a 3-D model) cubes.
  std::map<std::string, double> validate(Module& model, int64_t, const std::string&) override {
    FaultScores scores(tolerance_);
    double loss_sum = 0;
    int64_t samples = 0;
    if (volume_) {
      scores = score_cubes("", "validation", model, val_cubes_, quick_tiles_, tolerance_, 0, &loss_, &loss_sum);
      samples = int64_t(val_cubes_.size());
    } else {
      const dist::Span mine = dist::split(int64_t(val_.sections.size()));  // data-parallel: a share each
      for (int64_t i = mine.begin; i < mine.end; ++i) {
        const SynthSection& s = val_.sections[size_t(i)];
        const std::vector<float> p = predict_section(model, s.seismic, s.height, s.width, quick_tiles_);
        scores.add(p, s.label, s.height, s.width);
        loss_sum += fault_loss_of_probabilities(p, s.label, loss_);
      }
      scores.sum_over_ranks();
      dist::allreduce_sum(&loss_sum, 1);
      samples = int64_t(val_.sections.size());
    }
    const FaultScores::Summary st = scores.strict(), tl = scores.tolerant();
    return {{"val_loss", loss_sum / double(samples)},
            {"val_ap", st.ap},
            {"val_auroc", st.auroc},
            {"val_f1", st.best_f1},
            {"val_iou", st.iou},
            {"val_ap_tol", tl.ap},
            {"val_f1_tol", tl.best_f1}};
  }

  // Every best checkpoint carries the training sections' reference period (inference.match_period).
  void decorate_best(Checkpoint& ck) override { ck.set(kPeriodEntry, str_cat(reference_period_)); }

  // The threshold of the best F1 on validation goes into the best checkpoint; then the held-out test set.
  void finish(const std::string& out, Module& best, Checkpoint& best_ck) override {
    const FaultScores v = report_held_out((fs::path(out) / "val").string(), "validation", best, false);
    best_ck.set("faults.threshold", str_cat(v.strict().threshold));
    std::fprintf(stderr, "%s: validation: %s\n", kApp, summary_line(v).c_str());
    if (n_test_ > 0) {
      const FaultScores t = report_held_out((fs::path(out) / "test").string(), "test", best, true);
      std::printf("test (%lld held-out synthetic %s): %s\n", static_cast<long long>(n_test_),
                  volume_ ? "cubes" : "sections", summary_line(t).c_str());
    }
    std::printf("wrote %s/{best.safetensors, metrics.csv, loss.png, val/, test/}\n", out.c_str());
  }

 private:
  // The validation set, or the test set drawn from its seed, scored with the config's inference and reported
  // into `dir`: sections, or cubes for a 3-D model.
  FaultScores report_held_out(const std::string& dir, const std::string& name, Module& net, bool test) const {
    if (volume_) {
      const std::vector<SynthCube> drawn =
          test ? synthetic_cubes(synth_, test_seed_, n_test_) : std::vector<SynthCube>{};
      return score_cubes(dir, name, net, test ? drawn : val_cubes_, tiles_, tolerance_, panels_);
    }
    const SectionSet drawn = test ? synthetic_set(synth_, test_seed_, n_test_) : SectionSet{};
    return report_set(dir, name, net, test ? drawn : val_, tiles_, period_, tolerance_, panels_);
  }

  // x: (N, 1, H, W) standardised amplitudes; y: (N, 1, H, W) 0 / 1 fault labels, on the host. Cubes:
  // (N, 1, inlines, crosslines, samples).
  std::pair<Tensor, Tensor> host_batch(const std::vector<Sample>& batch) const {
    const int64_t n = int64_t(batch.size()), h = batch[0].image.height, w = batch[0].image.width;
    const Shape shape = volume_ ? Shape{n, 1, h, synth_.width, synth_.height} : Shape{n, 1, h, w};
    std::vector<float> x, y;
    x.reserve(size_t(n * h * w));
    y.reserve(size_t(n * h * w));
    for (const Sample& s : batch) {
      x.insert(x.end(), s.image.data.begin(), s.image.data.end());
      for (int32_t v : s.mask.data) y.push_back(float(v));
    }
    return {Tensor::from_vector(x, shape), Tensor::from_vector(y, shape)};
  }

  SynthOptions synth_;
  TrainingSections train_;
  bool train_variety_ = false;  // data.train_synthetic given, for a share of the sections above 0
  SectionSet val_;
  bool volume_ = false;               // a 3-D model: cubes in place of sections
  std::vector<SynthCube> val_cubes_;
  int64_t n_val_ = 0, n_test_ = 0, panels_ = 0, tolerance_ = 1, sections_per_epoch_ = 0, batch_ = 0;
  uint64_t val_seed_ = 0, test_seed_ = 0;
  LossOptions loss_;
  Tensor graph_pos_weight_;  // train.cuda_graph: loss.pos_weight on the device
  TileOptions tiles_, quick_tiles_;
  PeriodMatch period_;
  double reference_period_ = 0;
};

int train_command(const AppArgs& a) {
  FaultsTask task;
  return train_task(task, a);
}

namespace {

// What predict prints about its output: the share of samples above 0.2 and above even odds.
const std::vector<double> kCountLevels{0.2, 0.5};

// --direction: the sections a cube is predicted on.
std::string volume_direction(const AppArgs& a) {
  const std::string direction = a.values.count("--direction") ? a.values.at("--direction") : kDefaultDirection;
  STRATA_USAGE_CHECK(direction == "inline" || direction == "crossline" || direction == "both" || direction == "all",
                     "--direction '", direction, "': want all, both, inline or crossline");
  return direction;
}

// The sections a volume's output comes in: crosslines for "crossline", else inlines.
std::string output_direction(const std::string& direction) { return direction == "crossline" ? "crossline" : "inline"; }

// The directions predicted beside the output's sections and combined with them: "both" the crosslines, "all" the
// crosslines and the grid's two diagonals.
std::vector<std::string> other_directions(const std::string& direction) {
  if (direction == "both") return {"crossline"};
  if (direction == "all") return {"crossline", "diagonal", "antidiagonal"};
  return {};
}

struct VolumeCounts {
  int64_t traces = 0, missing = 0, missing_sections = 0;
};
using SectionSink = std::function<void(int64_t index, const SegyVolume::Section& section,
                                       const std::vector<float>& standardised, const std::vector<float>& prob)>;

// One time scale for a whole volume (PeriodMatch::scale), from the dominant period of up to kPeriodTraces of its
// traces; said on stderr when the volume is resampled. 1 without inference.match_period.
double volume_time_scale(const Model& m, const SegyVolume& in) {
  if (m.period.reference <= 0) return 1;
  TraceSpectrum spectrum(in.samples());
  const int64_t stride = (in.traces() + kPeriodTraces - 1) / kPeriodTraces;
  for (int64_t i = 0; i < in.traces(); i += stride) spectrum.add(in.trace(i).data());
  const double period = spectrum.wavelet_period();
  if (period == 0 && spectrum.centroid_period() > 0)
    std::fprintf(stderr,
                 "%s: %s: the traces' dominant period, %.1f samples, is not a wavelet's (fewer than %.1f cycles in %lld "
                 "samples): predicted at its own time sampling\n",
                 kApp, in.path().c_str(), spectrum.centroid_period(), kMinWaveletCycles,
                 static_cast<long long>(std::min(in.samples(), kSpectrumWindow)));
  const double scale = m.period.scale(period);
  if (scale < 1)
    std::fprintf(stderr,
                 "%s: dominant period %.1f samples, longer than the training %s' %.1f: %s predicted resampled in "
                 "time to %.0f%% of their samples (inference.match_period)\n",
                 kApp, period, m.volume ? "cubes" : "sections", m.period.reference, m.volume ? "the cube" : "sections",
                 100 * scale);
  return scale;
}

// Traces of `samples` samples, each contiguous, resampled in time to `to` samples (resample_time on their
// samples x traces transpose).
std::vector<float> resample_traces(const std::vector<float>& traces, int64_t samples, int64_t to) {
  const int64_t n = int64_t(traces.size()) / samples;
  std::vector<float> section(traces.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t z = 0; z < samples; ++z) section[size_t(z * n + t)] = traces[size_t(t * samples + z)];
  const std::vector<float> r = resample_time(section, samples, n, to);
  std::vector<float> out(size_t(n * to));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t z = 0; z < to; ++z) out[size_t(t * to + z)] = r[size_t(z * n + t)];
  return out;
}

// Warns on stderr where a survey's neighbouring traces (mean correlation `c1`) hardly correlate.
void warn_if_incoherent(const SegyVolume& in, double c1) {
  if (const std::string w = incoherence_warning(in, c1); !w.empty()) std::fprintf(stderr, "%s: %s\n", kApp, w.c_str());
}

// A 3-D model's fault probability of a SEG-Y cube: the cube read whole, once (absent traces left out of the
// standardisation and set to 0, as missing samples), predicted at once (predict_cube), and handed to `sink` a
// section at a time in output_direction()'s order. The other directions add nothing: the network sees them all.
VolumeCounts predict_cube_volume(Model& m, const SegyVolume& in, const std::string& direction,
                                 const SectionSink& sink) {
  STRATA_CHECK(!in.is_line(), in.path(), ": a 2-D line; a 3-D model (", m.net->type(),
               ") predicts cubes: use a 2-D model (unet2d) for lines");
  warn_if_incoherent(in, neighbour_correlation(in));
  const auto start = std::chrono::steady_clock::now();
  const int64_t inlines = int64_t(in.inlines().size()), crosslines = int64_t(in.crosslines().size());
  const int64_t samples = in.samples();
  std::vector<float> cube(size_t(inlines * crosslines * samples), std::numeric_limits<float>::quiet_NaN());
  std::vector<int64_t> position(size_t(in.traces()), -1);  // trace -> inline * crosslines + crossline
  int64_t absent = 0;
  for (int64_t k = 0; k < inlines; ++k) {
    const SegyVolume::Section s = in.section("inline", k);
    STRATA_CHECK(s.width == crosslines, in.path(), ": inline ", k, " has ", s.width, " traces, the grid ", crosslines);
    for (int64_t j = 0; j < crosslines; ++j) {
      const int64_t trace = s.trace_index[size_t(j)];
      if (trace < 0) {
        ++absent;
        continue;
      }
      position[size_t(trace)] = k * crosslines + j;
      for (int64_t z = 0; z < samples; ++z)
        cube[size_t((k * crosslines + j) * samples + z)] = s.data[size_t(z * crosslines + j)];
    }
  }
  const std::vector<float> raw = cube;  // the samples as read, for the output sections (4 bytes a sample)
  VolumeCounts c;
  c.missing = int64_t(standardise_section(cube)) - absent * samples;
  // At the training data's time sampling (inference.match_period), as a 2-D model predicts a volume.
  std::vector<float> p;
  if (const int64_t h = std::max<int64_t>(2, std::llround(double(samples) * volume_time_scale(m, in))); h != samples)
    p = resample_traces(predict_cube(*m.net, resample_traces(cube, samples, h), inlines, crosslines, h, m.tiles), h,
                        samples);
  else
    p = predict_cube(*m.net, cube, inlines, crosslines, samples, m.tiles);
  const std::string out_dir = output_direction(direction);
  const int64_t n = in.sections(out_dir);
  for (int64_t k = 0; k < n; ++k) {
    SegyVolume::Section s;
    s.samples = samples;
    s.trace_index = in.section_traces(out_dir, k);
    s.width = int64_t(s.trace_index.size());
    s.data.assign(size_t(samples * s.width), 0.f);
    std::vector<float> x(s.data.size(), 0.f), prob(s.data.size(), 0.f);
    bool missing = false;
    for (int64_t t = 0; t < s.width; ++t) {
      const int64_t trace = s.trace_index[size_t(t)];
      if (trace < 0) continue;
      const size_t at = size_t(position[size_t(trace)] * samples);
      for (int64_t z = 0; z < samples; ++z) {
        const size_t i = size_t(z * s.width + t);
        s.data[i] = raw[at + size_t(z)];
        missing = missing || missing_sample(raw[at + size_t(z)]);
        x[i] = cube[at + size_t(z)];
        prob[i] = p[at + size_t(z)];
      }
      ++c.traces;
    }
    c.missing_sections += missing;
    sink(k, s, x, prob);
    progress(out_dir.c_str(), k + 1, n, c.traces,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return c;
}

// The weights a cube's sections are stacked with (TileOptions::stack_weights), from how its traces correlate with
// their neighbours where that decides; said on stderr when it was measured. Warns where neighbouring traces hardly
// correlate at all (warn_if_incoherent).
std::vector<float> cube_stack_weights(const TileOptions& tiles, const SegyVolume& in) {
  if (in.is_line() || !tiles.stack_measured()) {
    warn_if_incoherent(in, neighbour_correlation(in));
    return in.is_line() ? std::vector<float>{1.f} : tiles.stack_weights({});
  }
  const NeighbourCorrelations c = NeighbourCorrelations::of(in);
  warn_if_incoherent(in, c.one);
  const StackDecision decision = tiles.stack_decision(c);
  std::fprintf(stderr, "%s: neighbouring traces correlate %.3f on average ", kApp, c.one);
  if (decision == StackDecision::clean)
    std::fprintf(stderr, "(at least %g): each section predicted alone (inference.stack_below_correlation=1 stacks it)\n",
                 tiles.stack_below_correlation);
  else if (decision == StackDecision::smoothed_noise)
    std::fprintf(stderr,
                 "(under %g), traces two apart %.3f: noise smoothed across traces (independence %.2f, under %g), "
                 "which stacking would not remove; each section predicted alone (inference.stack_min_independence=0 "
                 "stacks it)\n",
                 tiles.stack_below_correlation, c.two, c.independence(), tiles.stack_min_independence);
  else
    std::fprintf(stderr,
                 "(under %g), traces two apart %.3f: noise that differs from trace to trace; each section predicted "
                 "stacked with the sections beside it (inference.neighbour_weights)\n",
                 tiles.stack_below_correlation, c.two);
  return tiles.stack_weights(c);
}

// Fault probability of a SEG-Y volume, a section at a time, handed to `sink` in output_direction()'s order.
// With other directions (other_directions()), those are predicted first, what they say of each sample held in
// memory (4 bytes a sample), and each output section is handed on combined with them: a fault is plain on
// sections across its strike and nearly invisible on sections along it, and faults strike any way. The inlines
// and crosslines combine by either_view(); the diagonals join them with kDiagonalPairWeight where both
// diagonals through a trace are predicted. A 2-D line has one section whatever the direction.
VolumeCounts predict_volume(Model& m, const SegyVolume& in, const std::string& direction, const SectionSink& sink) {
  if (m.volume) return predict_cube_volume(m, in, direction, sink);
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const std::vector<std::string> others = in.is_line() ? std::vector<std::string>{} : other_directions(direction);
  const std::string out_dir = output_direction(direction);
  const std::string what = in.is_line() ? "section"
                           : others.empty() ? out_dir
                                            : str_cat("inline (with ", others.size() == 1 ? "the crosslines" : "3 other directions", ")");
  const auto diagonal = [](const std::string& dir) { return dir == "diagonal" || dir == "antidiagonal"; };
  TileOptions tiles = m.tiles;
  tiles.time_scale = volume_time_scale(m, in);
  const std::vector<float> stack = cube_stack_weights(m.tiles, in);
  VolumeCounts c;
  int64_t done = 0;  // traces predicted, every pass
  // Per trace, whether both diagonals through it are long enough to predict (then it takes all four directions).
  std::vector<uint8_t> four(size_t(in.traces()), 0);
  for (const std::string& dir : others) {
    if (!diagonal(dir)) continue;
    for (int64_t k = 0; k < in.sections(dir); ++k)
      if (const std::vector<int64_t> traces = in.section_traces(dir, k); int64_t(traces.size()) >= kMinDiagonalTraces)
        for (int64_t trace : traces)
          if (trace >= 0) four[size_t(trace)] += 1;
  }
  for (uint8_t& f : four) f = f == 2;
  // The weight of a direction's (1 - p) at a trace: 1 for the inlines and crosslines alone, else the pair's.
  const auto weight = [&](const std::string& dir, int64_t trace) {
    return !four[size_t(trace)] ? 1.f : diagonal(dir) ? kDiagonalPairWeight : kCrossingPairWeight;
  };
  // Section k of a direction: read, standardised (missing samples counted), and predicted from its samples
  // stacked with the sections beside it (inference.neighbour_weights).
  struct Predicted {
    SegyVolume::Section s;
    std::vector<float> x, p;
  };
  std::vector<float> stacked;
  const auto predict = [&](StackedSections& sections, const std::string& dir, int64_t k) {
    Predicted r{sections.read(k, stacked), {}, {}};
    r.x = r.s.data;
    if (const size_t n_missing = standardise_section(r.x); n_missing && dir == out_dir)
      c.missing += int64_t(n_missing), ++c.missing_sections;
    if (diagonal(dir) && r.s.width < kMinDiagonalTraces) return r;  // p empty: not predicted
    if (stack.size() > 1) standardise_section(stacked);  // else it is the section as read: r.x
    r.p = predict_section(*m.net, stack.size() > 1 ? stacked : r.x, r.s.samples, r.s.width, tiles);
    return r;
  };
  std::vector<float> unmarked;  // per sample, the product of the other directions' weighted (1 - p)
  if (!others.empty()) unmarked.assign(size_t(in.traces() * in.samples()), 1.f);
  for (const std::string& dir : others) {
    const int64_t n = in.sections(dir);
    StackedSections sections(in, dir, stack);
    for (int64_t k = 0; k < n; ++k) {
      const Predicted r = predict(sections, dir, k);
      for (int64_t t = 0; t < r.s.width && !r.p.empty(); ++t) {
        const int64_t trace = r.s.trace_index[size_t(t)];
        if (trace < 0) continue;
        const float w = weight(dir, trace);
        if (diagonal(dir) && w == 1.f) continue;  // a corner: its inline and crossline decide
        for (int64_t z = 0; z < r.s.samples; ++z)
          unmarked[size_t(trace * r.s.samples + z)] *= unmarked_by(r.p[size_t(z * r.s.width + t)], w);
        ++done;
      }
      progress(dir.c_str(), k + 1, n, done, seconds());
    }
  }
  const int64_t n = in.sections(out_dir);
  StackedSections sections(in, out_dir, stack);
  for (int64_t k = 0; k < n; ++k) {
    Predicted r = predict(sections, out_dir, k);
    for (int64_t t = 0; t < r.s.width; ++t) {
      const int64_t trace = r.s.trace_index[size_t(t)];
      if (trace < 0) continue;
      if (!others.empty()) {
        const float w = weight(out_dir, trace);
        for (int64_t z = 0; z < r.s.samples; ++z) {
          float& v = r.p[size_t(z * r.s.width + t)];
          v = 1.f - unmarked_by(v, w) * unmarked[size_t(trace * r.s.samples + z)];
        }
      }
      ++c.traces;
      ++done;
    }
    sink(k, r.s, r.x, r.p);
    progress(what.c_str(), k + 1, n, done, seconds());
  }
  return c;
}

// predict of one SEG-Y line or cube into SEG-Y (with --png overlays of chosen sections).
void predict_segy(Model& m, const AppArgs& a) {
  const std::string direction = volume_direction(a);
  const std::string png_dir = a.values.count("--png") ? a.values.at("--png") : "";
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const SegyVolume in(a.input, m.segy);
  std::fprintf(stderr, "%s: %s\n", kApp, in.describe().c_str());
  STRATA_CHECK(is_segy(a.output), a.output, ": the output of a SEG-Y input is a SEG-Y file (.sgy or .segy)");
  const std::string sections_of = output_direction(direction);
  const int64_t n = in.sections(sections_of);
  const std::vector<int64_t> shown =
      png_dir.empty() ? std::vector<int64_t>{}
                      : parse_indices(a.values.count("--sections") ? a.values.at("--sections") : "", n, "--sections");
  if (!png_dir.empty()) create_directories_checked(png_dir);
  SegyWriter out(in, a.output);
  ProbabilityCounts counts(kCountLevels);
  std::vector<Panel> overview_seismic, overview_prob;  // the chosen sections side by side, for one overview PNG
  // At most 12 of them, evenly spaced over the chosen ones (a wider overview would be unreadable).
  std::vector<int64_t> overview;
  for (int64_t j : spread(int64_t(shown.size()), std::min<int64_t>(int64_t(shown.size()), 12)))
    overview.push_back(shown[size_t(j)]);
  const VolumeCounts c = predict_volume(m, in, direction, [&](int64_t k, const SegyVolume::Section& s,
                                                              const std::vector<float>& x, const std::vector<float>& p) {
    std::vector<float> trace(size_t(s.samples));
    for (int64_t t = 0; t < s.width; ++t) {
      if (s.trace_index[size_t(t)] < 0) continue;
      for (int64_t z = 0; z < s.samples; ++z) trace[size_t(z)] = p[size_t(z * s.width + t)];
      out.write(s.trace_index[size_t(t)], trace.data());
      counts.add(trace);
    }
    if (std::find(shown.begin(), shown.end(), k) == shown.end()) return;
    const bool inl = sections_of == "inline";
    const std::string label =
        in.is_line() ? "line" : str_cat(sections_of, " ", (inl ? in.inlines() : in.crosslines())[size_t(k)]);
    // Axes in survey units: the line numbers across, time samples down.
    const std::vector<int32_t>& across = inl ? in.crosslines() : in.inlines();
    PanelAxis traces_axis{"trace"}, time_axis{str_cat("time sample (", in.interval_ms(), " ms)")};
    if (!in.is_line() && across.size() == size_t(s.width) && across.size() > 1)
      traces_axis = {inl ? "crossline" : "inline", double(across[0]), double(across[1] - across[0])};
    const Panel seismic = seismic_panel(x, s.samples, s.width, label, traces_axis, time_axis);
    const Panel prob = overlay_panel(x, p, s.samples, s.width, label + ": fault probability",
                                     OverlayKind::probability, traces_axis, time_axis);
    image_panels((fs::path(png_dir) / str_cat(fs::path(a.input).stem().string(), "_", sections_of, "_", k, ".png")).string(),
                 {{seismic, prob}}, 512);
    if (std::find(overview.begin(), overview.end(), k) != overview.end()) {
      overview_seismic.push_back(seismic);
      overview_prob.push_back(prob);
      overview_prob.back().title = "fault probability";
    }
  });
  out.close();
  warn_missing(a.input, c.missing, c.missing_sections);
  if (overview_seismic.size() > 1)
    image_panels((fs::path(png_dir) / str_cat(fs::path(a.input).stem().string(), "_", sections_of, "_overview.png")).string(),
                 {overview_seismic, overview_prob}, 256);
  std::printf("wrote %s: fault probability of %lld traces (IEEE float, headers of %s) in %.2f s (%.0f traces/s)\n",
              a.output.c_str(), static_cast<long long>(c.traces), a.input.c_str(), seconds(),
              double(c.traces) / std::max(seconds(), 1e-9));
  std::printf("fault probability: %s\n", counts.describe().c_str());
}

// Section files (grey images, .npy arrays): <stem>_prob.png (16-bit) or <stem>_prob.npy (float32, for a .npy
// input, of its shape), and <stem>_overlay.png, in the folder --output. One section file and an --output ending
// in .npy or .png: the probability written there, its overlay beside it (<output stem>_overlay.png).
void predict_section_files(Model& m, const AppArgs& a, const std::vector<std::string>& files, SkippedInputs& skipped) {
  const size_t predicted_before = skipped.predicted();
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const bool to_file = output_names_a_file(a.input, files.size(), a.output, {".npy", ".png"});
  const auto prob_path = [&](const std::string& f) {
    return to_file ? a.output : output_stem(a.output, f, false) + (has_ext(f, ".npy") ? "_prob.npy" : "_prob.png");
  };
  const auto overlay_path = [&](const std::string& f) { return output_stem(a.output, f, to_file) + "_overlay.png"; };
  OutputPlan plan(files);  // every output named first: none over an input, no two inputs onto one name
  for (const std::string& f : files) {
    plan.add(prob_path(f), f);
    plan.add(overlay_path(f), f);
  }
  create_directories_checked(to_file ? fs::path(a.output).parent_path().string() : a.output);
  ProbabilityCounts counts(kCountLevels);
  int64_t traces = 0, resampled = 0;
  for (size_t i = 0; i < files.size(); ++i) skipped.attempt(files[i], [&] {
    SectionFile in = read_section_file(files[i]);
    std::vector<float> x = std::move(in.values);
    const size_t missing = standardise_section(x);
    warn_missing(files[i], int64_t(missing), missing > 0);
    const TileOptions t = matched_tiles(m.tiles, m.period, x, in.height, in.width);
    resampled += t.time_scale < 1;
    const std::vector<float> p = predict_section(*m.net, x, in.height, in.width, t);
    counts.add(p);
    const std::string out = prob_path(files[i]);
    if (has_ext(out, ".npy"))
      write_npy(out, has_ext(files[i], ".npy") ? in.shape : std::vector<int64_t>{in.height, in.width}, p);
    else
      write_png(out, Image{1, in.height, in.width, p}, 16);
    image_panels(overlay_path(files[i]),
                 {{overlay_panel(x, p, in.height, in.width, fs::path(files[i]).filename().string(),
                                 OverlayKind::probability, PanelAxis{"trace"}, PanelAxis{"sample"})}},
                 512);
    traces += in.width;
    progress("section", int64_t(i + 1), int64_t(files.size()), traces, seconds());
  });
  const size_t written = skipped.predicted() - predicted_before;
  report_resampled(resampled, int64_t(written), m.period);
  if (to_file)
    std::printf("wrote %s and %s\n", a.output.c_str(), overlay_path(files[0]).c_str());
  else
    std::printf("wrote %zu fault probability map%s to %s (<stem>_prob.png or .npy, <stem>_overlay.png)\n", written,
                written == 1 ? "" : "s", a.output.c_str());
  std::printf("fault probability: %s\n", counts.describe().c_str());
}

// predict: a SEG-Y line or cube into SEG-Y; a folder's SEG-Y files each into the --output folder under its own
// name; section files (a file, or those of a folder) into probability files and overlays.
void predict_files(Model& m, const AppArgs& a) {
  if (is_segy(a.input)) return predict_segy(m, a);
  std::error_code ec;
  const std::vector<std::string> surveys =
      fs::is_directory(a.input, ec) ? files_in(a.input, is_segy) : std::vector<std::string>{};
  const std::vector<std::string> files = section_files(a.input);
  STRATA_CHECK(!files.empty() || !surveys.empty(), a.input, ": holds no SEG-Y file, images or .npy sections");
  STRATA_CHECK(files.empty() || !m.volume, a.input, ": images and .npy files are sections; a 3-D model (",
               m.net->type(), ") predicts SEG-Y cubes");
  if (!surveys.empty()) {
    STRATA_CHECK(!fs::exists(a.output, ec) || fs::is_directory(a.output, ec), a.output, ": ", a.input,
                 " holds SEG-Y files, so --output names a folder (each predicted into it under its own name)");
    OutputPlan plan(surveys);
    for (const std::string& f : surveys) plan.add((fs::path(a.output) / fs::path(f).filename()).string(), f);
    create_directories_checked(a.output);
  }
  SkippedInputs skipped(surveys.size() + files.size());
  for (const std::string& f : surveys) {
    AppArgs one = a;
    one.input = f;
    one.output = (fs::path(a.output) / fs::path(f).filename()).string();
    skipped.attempt(f, [&] { predict_segy(m, one); });
  }
  if (files.empty()) return skipped.check();
  predict_section_files(m, a, files, skipped);
  skipped.check();
}

// export: predict_section's graph (mirrored borders, the model, optionally its mirror view) with its metadata.
AppExport export_graph_of(Model& m) {
  STRATA_CHECK(!m.volume, "export writes the graph of a 2-D model; a 3-D model (", m.net->type(),
               ") predicts SEG-Y cubes with strata-faults predict");
  const int64_t multiple = spatial_multiple(m.cfg.section("model"));
  AppExport e;
  e.model = m.net.get();
  // An example the border fits in (32 or more each way), its sizes multiples of the U-Net's.
  e.example = Tensor::randn({1, 1, multiple * ((64 + multiple - 1) / multiple), multiple * ((48 + multiple - 1) / multiple)});
  e.graph = [&](const Tensor& x) {
    // As predict_section: the standardised section's borders mirrored outwards by kBorder samples, the model,
    // the section cropped back; with inference.tta, also the left-right mirror, averaged.
    const auto mirror_pad = [](const Tensor& t, int64_t dim, int64_t p) {
      return cat({flip(slice(t, dim, 1, p + 1), dim), t, flip(slice(t, dim, -(p + 1), -1), dim)}, dim);
    };
    const auto crop = [](const Tensor& t, int64_t dim, int64_t p) { return slice(t, dim, p, -p); };
    // Missing samples (NaN, infinite, SEG-Y's undefined 1e30) left out of the standardisation and set to 0.
    const Tensor logged = where(ge(abs(x), double(kUndefinedFrom)), Tensor::full({1}, std::numeric_limits<double>::quiet_NaN()), x);
    const Tensor padded = mirror_pad(mirror_pad(standardise_valid_per_channel(logged), 2, kBorder), 3, kBorder);
    const auto view = [&](const Tensor& in) { return sigmoid((*m.net)(in)); };
    Tensor prob = view(padded);
    if (m.tiles.tta) prob = mul(add(prob, flip(view(flip(padded, 3)), 3)), 0.5);
    return std::vector<Tensor>{crop(crop(prob, 2, kBorder), 3, kBorder)};
  };
  e.onnx.input_name = "section";
  e.onnx.input_dims = {"batch", "", "samples", "traces"};
  e.onnx.output_names = {"fault_probability"};
  const bool time_views = m.tiles.time_views_set();
  e.onnx.metadata = {
      {"strata.input", str_cat("seismic sections (N, 1, samples, traces), amplitudes as recorded (standardised per "
                               "section inside the graph); 33 or more samples and traces (any size: the graph pads to the "
                               "network's multiple of ", multiple, " and crops back); NaN, infinite and undefined (1e30) samples are "
                               "missing, left out of the standardisation and set to 0 as predict does")},
      {"strata.output", "fault_probability (N, 1, samples, traces) in [0, 1]"},
      {"strata.predict", str_cat("equals strata-faults predict with 'inference.shift=[0,0]'",
                                 time_views ? " 'inference.time_views=[1]'" : "", " on sections of 32 to ",
                                 m.tiles.tile - 2 * kBorder, " samples and traces (predict tiles larger ones, mirrors "
                                 "smaller ones further, and adds shifted views with inference.shift",
                                 time_views ? " and views resampled in time with inference.time_views" : "",
                                 "); inference.tta ",
                                 m.tiles.tta ? "on" : "off",
                                 m.period.reference > 0
                                     ? str_cat("; predict resamples a section whose dominant period (the centroid of "
                                               "its traces' power spectrum) exceeds strata.period samples to that "
                                               "period in time, and the probabilities back")
                                     : "",
                                 m.tiles.neighbour_weights.size() > 1 && m.tiles.stack_below_correlation > 0
                                     ? "; of a cube whose neighbouring traces correlate below "
                                       "strata.stack_below_correlation on average (each trace's mean removed) and "
                                       "whose noise differs from trace to trace, (1 - c1) / (1 - c2) at least "
                                       "strata.stack_min_independence for c1 and c2 the mean correlation of traces "
                                       "one and two grid steps apart, predict stacks each section first: every trace "
                                       "the weighted mean of itself and the traces beside it across the section, the "
                                       "weights strata.neighbour_weights from one side to the other"
                                     : "")},
      {"strata.model", m.net->describe()}};
  if (m.period.reference > 0) e.onnx.metadata["strata.period"] = str_cat(m.period.reference);
  if (m.tiles.neighbour_weights.size() > 1 && m.tiles.stack_below_correlation > 0) {
    std::string weights;
    for (const float w : m.tiles.neighbour_weights) weights += str_cat(weights.empty() ? "" : ",", w);
    e.onnx.metadata["strata.neighbour_weights"] = weights;
    e.onnx.metadata["strata.stack_below_correlation"] = str_cat(m.tiles.stack_below_correlation);
    e.onnx.metadata["strata.stack_min_independence"] = str_cat(m.tiles.stack_min_independence);
  }
  e.onnx.doc = "strata-faults: fault probability of seismic sections";
  return e;
}

// The trained model's commands.
class FaultsModel : public TrainedTask {
 public:
  const Config& load(const std::string& checkpoint, const std::vector<std::string>& overrides) override {
    m_.emplace(load_model(checkpoint, overrides));
    return m_->cfg;
  }

  void prepare(const std::string& command, const AppArgs& a) override {
    if (command != "eval") return;
    panels_ = m_->cfg.section("report").get_int("panels", 6, Bounds::between(0, 64));
    if (is_segy(a.data)) {  // a labelled cube: scored as it is predicted
      STRATA_USAGE_CHECK(a.values.count("--labels"), "eval --data ", a.data,
                         ": a SEG-Y volume needs --labels FILE.sgy (1 on faults, 0 elsewhere, the same geometry)");
      direction_ = volume_direction(a);
      volume_.emplace(a.data, m_->segy);
      labels_.emplace(a.values.at("--labels"), m_->segy);
      const SegyVolume &v = *volume_, &l = *labels_;
      STRATA_CHECK(v.inlines() == l.inlines() && v.crosslines() == l.crosslines() && v.samples() == l.samples() &&
                       v.traces() == l.traces(),
                   l.path(), ": labels of another geometry than ", v.path(), " (", l.describe(), " against ",
                   v.describe(), ")");
      name_ = fs::path(a.data).filename().string();
      return;
    }
    STRATA_USAGE_CHECK(!a.values.count("--labels") && !a.values.count("--direction"),
                       "--labels and --direction go with a SEG-Y volume as --data");
    if (a.data.empty()) {  // held-out sections of the checkpoint's own generator
      const SynthOptions synth = synth_options(m_->cfg, false);
      const Config data = m_->cfg.section("data");
      const int64_t n = data.get_int("test_sections", 128, Bounds::at_least(1));
      set_ = synthetic_set(synth, uint64_t(data.get_int("test_seed", 2002, Bounds::at_least(0))), n);
      name_ = "synthetic test";
    } else {
      set_ = folder_set(a.data);
    }
  }

  void to(Device device) override { m_->net->to(device); }

  void evaluate(const std::string& out, const AppArgs&) override {
    if (volume_) return evaluate_volume(out);
    const FaultScores s = report_set(out, name_, *m_->net, set_, m_->tiles, m_->period, m_->tolerance, panels_);
    std::printf("%s (%zu sections): %s\n", name_.c_str(), set_.sections.size(), summary_line(s).c_str());
    std::printf("wrote %s/{report.csv, pr.png, panels.png}\n", out.c_str());
  }

  void predict(const AppArgs& a) override { predict_files(*m_, a); }
  AppExport export_graph() override { return export_graph_of(*m_); }

 private:
  // Every sample of the volume scored against its label (the tolerance within each output section), the
  // panels of up to report.panels sections spread over the volume.
  void evaluate_volume(const std::string& out) {
    create_directories_checked(out);
    const std::string sections_of = output_direction(direction_);
    const int64_t n = volume_->sections(sections_of);
    const std::vector<int64_t> shown = spread(n, std::min(panels_, n));
    FaultScores scores(m_->tolerance);
    std::vector<std::vector<Panel>> rows;
    const VolumeCounts c = predict_volume(*m_, *volume_, direction_, [&](int64_t k, const SegyVolume::Section& s,
                                                                        const std::vector<float>& x,
                                                                        const std::vector<float>& p) {
      const SegyVolume::Section l = labels_->section(sections_of, k);
      std::vector<uint8_t> label(l.data.size());
      for (size_t i = 0; i < label.size(); ++i) label[i] = l.data[i] > 0.5f;
      scores.add(p, label, s.samples, s.width);
      if (std::find(shown.begin(), shown.end(), k) != shown.end())
        rows.push_back(report_row(x, label, p, s.samples, s.width, str_cat(sections_of, " ", k)));
    });
    warn_missing(volume_->path(), c.missing, c.missing_sections);
    write_report(out, name_, scores, size_t(n), rows);
    std::printf("%s (%lld %ss, %s): %s\n", name_.c_str(), static_cast<long long>(n), sections_of.c_str(),
                direction_ == "both"  ? "inline and crossline predictions combined"
                : direction_ == "all" ? "inline, crossline and diagonal predictions combined"
                                      : "predicted on them",
                summary_line(scores).c_str());
    std::printf("wrote %s/{report.csv, pr.png, panels.png}\n", out.c_str());
  }

  std::optional<Model> m_;
  std::optional<SegyVolume> volume_, labels_;
  std::string direction_;
  SectionSet set_;
  std::string name_ = "eval";
  int64_t panels_ = 0;
};

}  // namespace

int eval_command(const AppArgs& a) { return eval_with<FaultsModel>(a); }

int predict_command(const AppArgs& a) { return predict_with<FaultsModel>(a); }

int export_command(const AppArgs& a) { return export_with<FaultsModel>(kApp, a); }

int generate_command(const AppArgs& a) {
  Config cfg = Config::load(a.config);
  cfg.apply_overrides(a.overrides);
  apply_figure_formats(cfg);
  const SynthOptions synth = synth_options(cfg, true);
  const int64_t count = a.values.count("--count") ? parse_count(a.values.at("--count"), "--count", 100000) : 8;
  const uint64_t seed = uint64_t(cfg.section("data").get_int("test_seed", 2002, Bounds::at_least(0)));
  const std::string out = a.output;
  if (a.values.count("--cubes")) {
    STRATA_USAGE_CHECK(!a.values.count("--count"), "--count (sections) and --cubes: one or the other");
    const int64_t cubes = parse_count(a.values.at("--cubes"), "--cubes", 1000);
    create_directories_checked(out);
    for (int64_t i = 0; i < cubes; ++i) {
      // Another stream than the sections' (and than training's): cube i is the same cube on every run.
      std::mt19937_64 rng = sample_rng(seed, 1, uint64_t(i));
      const SynthCube c = generate_cube(synth, synth.width, rng);
      const std::string stem = (fs::path(out) / str_cat("cube_", i)).string();
      const std::string about = str_cat("strata-faults generate: synthetic cube ", i, " of ", a.config);
      write_segy_cube(stem + ".sgy", c.seismic, c.inlines, c.width, c.height, 4.0, {about, "standardised amplitude"});
      write_segy_cube(stem + "_faults.sgy", std::vector<float>(c.label.begin(), c.label.end()), c.inlines, c.width,
                      c.height, 4.0, {about, "fault labels: 1 within half a sample of a fault surface, 0 elsewhere"});
      std::fprintf(stderr, "\r%s: cube %lld/%lld   ", kApp, static_cast<long long>(i + 1), static_cast<long long>(cubes));
    }
    std::fprintf(stderr, "\n");
    std::printf("wrote %lld cubes of %lld samples x %lld x %lld traces to %s/cube_K.sgy (labels cube_K_faults.sgy)\n",
                static_cast<long long>(cubes), static_cast<long long>(synth.height), static_cast<long long>(synth.width),
                static_cast<long long>(synth.width), out.c_str());
    return 0;
  }
  create_directories_checked((fs::path(out) / "images").string());
  create_directories_checked((fs::path(out) / "masks").string());
  std::vector<std::vector<Panel>> rows;
  for (int64_t i = 0; i < count; ++i) {
    std::mt19937_64 rng = sample_rng(seed, 0, uint64_t(i));
    const SynthSection s = generate_section(synth, rng);
    const std::string stem = str_cat("section_", i);
    // Amplitudes clipped at 4 standard deviations into a 16-bit grey PNG; labels 0 / 255.
    Image img{1, s.height, s.width, std::vector<float>(s.seismic.size())};
    for (size_t k = 0; k < s.seismic.size(); ++k) img.data[k] = std::clamp(0.5f + s.seismic[k] / 8.f, 0.f, 1.f);
    write_png((fs::path(out) / "images" / (stem + ".png")).string(), img, 16);
    LabelMap mask{s.height, s.width, std::vector<int32_t>(s.label.size())};
    for (size_t k = 0; k < s.label.size(); ++k) mask.data[k] = s.label[k] ? 255 : 0;
    write_label_png((fs::path(out) / "masks" / (stem + ".png")).string(), mask, 8);
    if (i < 12) {
      std::vector<float> truth(s.label.begin(), s.label.end());
      const std::string title = str_cat(stem, ": ", s.faults, s.faults == 1 ? " fault" : " faults");
      rows.push_back({seismic_panel(s.seismic, s.height, s.width, title),
                      overlay_panel(s.seismic, truth, s.height, s.width, "labels", OverlayKind::labels)});
    }
  }
  image_panels((fs::path(out) / "panels.png").string(), rows, 256);
  std::printf("wrote %lld sections to %s/{images, masks}/ and %s/panels.png\n", static_cast<long long>(count),
              out.c_str(), out.c_str());
  return 0;
}

}  // namespace strata::faults
