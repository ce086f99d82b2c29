#include "apps/welllog/cv.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "apps/common/plot.h"
#include "apps/welllog/trained.h"
#include "apps/welllog/text.h"
#include "engine/error.h"
#include "engine/random.h"

namespace fs = std::filesystem;

namespace strata::welllog {

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


namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

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


}  // namespace


// Fits the normalisation on the logs of every training well (labels are not
// used for it) and builds the trainer on the wells of `split`
// (split_training_wells) with the default generator seeded by `init_seed` (the
// members of an ensemble share the split and differ in it).
FoldModel make_trainer(const Config& cfg, Preprocessing pre, const std::vector<Well>& train_wells,
                       const WellSplit& split, const std::string& mode, int64_t epochs, uint64_t init_seed,
                       int64_t member) {
  pre.fit(train_wells);
  adopt_trained_scaling(cfg, pre);  // model.init_from: the network keeps the input scaling it learned
  manual_seed(init_seed);
  FoldModel f{pre, nullptr};
  f.trainer = std::make_unique<FaciesTrainer>(cfg, pre, prepare(pre, split.labelled), prepare(pre, split.unlabelled),
                                              epochs, init_seed, mode, member);
  return f;
}

// The initialisation seed of ensemble member j (member 0: the run's own seed).
uint64_t member_seed(uint64_t seed, int64_t j) { return seed + uint64_t(j) * 1000003u; }

namespace {

FoldModel fit_fold(const Config& cfg, const Preprocessing& pre, const std::vector<Well>& train_wells,
                   const WellSplit& split, const std::string& mode, int64_t epochs, uint64_t seed, int64_t member) {
  FoldModel f = make_trainer(cfg, pre, train_wells, split, mode, epochs, member_seed(seed, member), member);
  for (int64_t e = 0; e < epochs; ++e)
    for (int64_t b = 0; b < f.trainer->steps_per_epoch(); ++b) f.trainer->step(e, b);
  return f;
}

}  // namespace

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
          // data.unlabelled: wells without labels (new wells of the field) join every fold's training set.
          std::vector<Well> extra = o.transductive && mode == "semi" ? te : std::vector<Well>{};
          extra.insert(extra.end(), o.unlabelled.begin(), o.unlabelled.end());
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


}  // namespace strata::welllog
