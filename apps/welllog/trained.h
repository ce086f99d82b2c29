// A trained well-log model from its checkpoint alone (one network, or an ensemble whose class probabilities
// are averaged): the preprocessing it carries, predicting a well (resampled to the training spacing when
// inference.resample says so), scoring it, and its strip plot.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "apps/common/metrics.h"
#include "apps/welllog/facies.h"
#include "apps/welllog/wells.h"
#include "config/config.h"
#include "layers/checkpoint.h"
#include "layers/module.h"

namespace strata::welllog {

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
std::string member_prefix(int64_t j);

// best.safetensors of an ensemble run in `out`: every member's best model (member_J/best.safetensors) under
// ensemble.<J>., the preprocessing and config of member 0 (all members share them).
void write_ensemble_checkpoint(const std::string& out, int64_t members);

// inference.window / stride / resample of a config.
void read_inference(const Config& cfg, int64_t& window, int64_t& stride, bool* resample = nullptr);
// A loaded model's inference settings from its config (with the command's overrides): windows, resampling,
// and data.depth_unit where it names one.
void read_inference(Loaded& l);
// Loads a checkpoint or a weights-only export (ensembles included).
Loaded load_model(const std::string& checkpoint);

// model.init_from: a trained strata-welllog model (a run's best.safetensors, a zoo file) that training starts
// from, to fine-tune it on other wells. "" when the config has none.
std::string init_from(const Config& root);
// The weights of training member `member` from it: an ensemble's member j from its member j, every member from
// a single network. A tensor missing or shaped otherwise in the config's architecture is an error naming it.
void init_network(const Config& root, int64_t member, Module& model);
// Its input scaling (the training means and standard deviations) in place of the one `pre` fitted, after
// checking that it reads the same curves, missing-value channels, per-well curves and classes.
void adopt_trained_scaling(const Config& root, Preprocessing& pre);

// One well through the loaded model: its prepared sample, the class
// probabilities (classes x length) and the predicted class of every sample.
struct WellPrediction {
  Sample sample;
  std::vector<float> probs;
  std::vector<int64_t> classes;
};

WellPrediction predict_well(const Loaded& l, const Well& w);

// Predicts `wells`, draws <dir>/wells/<well>.png for each and scores their
// labelled samples; with `adjacent_per_well`, prints each labelled well's scores.
ConfusionMatrix plot_and_score(const Loaded& l, const std::vector<Well>& wells, const std::filesystem::path& dir,
                               const std::vector<std::vector<int64_t>>* adjacent_per_well = nullptr);

// metrics.csv of a scored set, and the same figures as one line.
void write_metrics(const std::string& path, const ConfusionMatrix& m, const Preprocessing& pre,
                   const std::vector<std::vector<int64_t>>& adjacent);
std::string metrics_line(const ConfusionMatrix& m, const std::vector<std::vector<int64_t>>& adjacent);

// Preprocessing to / from checkpoint metadata and tensors.
void save_preprocessing(Checkpoint& ck, const Preprocessing& p);
Preprocessing load_preprocessing(const Checkpoint& ck);

// Per-well strip plot: every input curve (depth down), the true facies column
// (when known) and the predicted one, with a class legend.
void strip_plot(const std::string& path, const Well& well, const Preprocessing& p,
                const std::vector<int64_t>& truth, const std::vector<int64_t>& predicted);

// A well name as a file name: anything but letters, digits, '-' and '_' becomes '_'.
std::string safe_name(std::string s);

// printf of one number ("%.4f"), for report lines.
std::string fmt(const char* f, double v);

}  // namespace strata::welllog
