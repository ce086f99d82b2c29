// strata-welllog commands: train (cross-validation experiments and / or the
// final model), eval and predict. See docs/welllog.md for the config keys.
#pragma once

#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/metrics.h"
#include "apps/welllog/wells.h"
#include "engine/config.h"
#include "layers/checkpoint.h"

namespace strata::welllog {

// Wells named by the `data:` section: `source: csv` (path, well_column,
// depth_column, label_column), `source: las` (paths: a list of LAS files,
// unlabelled) or `source: synthetic` (the gamma-ray generator).
std::vector<Well> load_wells(const Config& data);
// A CSV table or a LAS file (by extension .las or a first '~' line) given on
// the command line, read with the column names of `data`.
std::vector<Well> load_wells_from_file(const std::string& path, const Config& data, bool read_labels);

// Preprocessing to / from checkpoint metadata and tensors.
void save_preprocessing(Checkpoint& ck, const Preprocessing& p);
Preprocessing load_preprocessing(const Checkpoint& ck);

// Per-well strip plot: every input curve (depth down), the true facies column
// (when known) and the predicted one, with a class legend.
void strip_plot(const std::string& path, const Well& well, const Preprocessing& p,
                const std::vector<int64_t>& truth, const std::vector<int64_t>& predicted);

// Chooses round(fraction * n) of `n` wells (at least 1) as labelled, by `seed`.
std::vector<size_t> labelled_subset(size_t n, double fraction, uint64_t seed);
// The labelled and unlabelled wells of one training run. Training wells that
// carry labels of `pre`'s classes keep them on labelled_subset(count, fraction,
// seed); the others (wells without a single such label, then the wells that
// lose theirs to `fraction`), then `extra_unlabelled` (cv.transductive: the
// held-out wells) form the unlabelled wells, their labels removed. Errors when
// no training well has labels.
struct WellSplit {
  std::vector<Well> labelled, unlabelled;
};
WellSplit split_training_wells(const Preprocessing& pre, const std::vector<Well>& train_wells, double fraction,
                               uint64_t seed, const std::vector<Well>& extra_unlabelled = {});
// Fold of each of `n` wells for k-fold cross-validation (k = n: leave one
// well out), shuffled by `seed`.
std::vector<int64_t> fold_of_wells(size_t n, int64_t folds, uint64_t seed);

int train_command(const AppArgs& a);
int eval_command(const AppArgs& a);
int predict_command(const AppArgs& a);
int export_command(const AppArgs& a);

}  // namespace strata::welllog
