// Well-wise cross-validation of the well-log model (cv.folds > 0): folds of whole wells, each trained at every
// labelled fraction, mode and seed of cv:, scored on its held-out wells; and the pieces the final model's
// training shares with it (which wells keep labels, the trainer of one fold or member).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/welllog/facies.h"
#include "apps/welllog/wells.h"
#include "config/config.h"

namespace strata::welllog {

struct CvOptions {
  int64_t folds = 0;
  std::vector<double> fractions;
  std::vector<std::string> modes;
  std::vector<int64_t> seeds;
  int64_t ensemble = 1;  // train.ensemble: models per fold, from different initialisations, probabilities averaged
  uint64_t split_seed = 0;
  bool final_model = true;
  bool transductive = false;  // semi mode: the held-out wells are unlabelled training wells too
  std::vector<Well> unlabelled;  // data.unlabelled: wells without labels that every fold trains on (semi mode)
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

// Trains one model on `train_wells` (of which `labelled` by index keep their
// labels); returns the trainer (model inside) and the fitted preprocessing.
struct FoldModel {
  Preprocessing pre;
  std::unique_ptr<FaciesTrainer> trainer;
};

// Fits the normalisation on the logs of every training well (labels are not
// used for it; with model.init_from, the trained model's scaling instead) and
// builds the trainer of ensemble member `member` on the wells of `split`
// (split_training_wells) with the default generator seeded by `init_seed` (the
// members of an ensemble share the split and differ in it).
FoldModel make_trainer(const Config& cfg, Preprocessing pre, const std::vector<Well>& train_wells,
                       const WellSplit& split, const std::string& mode, int64_t epochs, uint64_t init_seed,
                       int64_t member = 0);

// The initialisation seed of ensemble member j (member 0: the run's own seed).
uint64_t member_seed(uint64_t seed, int64_t j);

// Runs every experiment of `o` and writes cv_folds.csv, cv_wells.csv and cv_summary.md into `out`.
void run_cross_validation(const Config& cfg, const CvOptions& o, const Preprocessing& pre,
                          const std::vector<Well>& wells, const std::vector<std::vector<int64_t>>& adjacent,
                          int64_t epochs, const std::string& out);

}  // namespace strata::welllog
