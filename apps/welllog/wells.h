// Wells for facies segmentation: reading (the SEG 2016 facies table, any CSV
// of that shape, LAS files), a synthetic gamma-ray set, and the preparation
// that turns logs into network input:
//   * curve selection (config `data.curves`), class coding (`data.classes`:
//     the label codes in the file, e.g. 1..9, mapped to class indices 0..K-1);
//   * missing values: `interpolate` (linear between the valid samples of the
//     well, nearest at the ends) or `mean` (the training mean); a curve a well
//     does not have at all: `mean` (filled with the training mean, i.e. 0 after
//     normalisation), `drop_well` or `error`; optional 0/1 indicator channels
//     (`<curve>_missing`) that tell the network where values were filled;
//   * per-curve normalisation (mean, standard deviation) fitted on the
//     training wells only and stored in the checkpoint;
//   * fixed-length windows with overlap for training, and full-well inference
//     that stitches overlapping windows (apps/welllog/facies.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apps/welllog/las.h"
#include "config/config.h"

namespace strata::welllog {

// One well as read: depth, named logs (NaN = missing) and, when known, the
// label code of every sample (`has_labels`).
struct Well {
  std::string name;
  std::vector<double> depth;
  std::string depth_unit;  // "ft", "m", or "" when the source does not say (CSV)
  std::map<std::string, std::vector<double>> logs;
  std::vector<int64_t> codes;  // label code per sample (empty when unlabelled)
  std::vector<size_t> rows;    // row of each sample in the source table (CSV pass-through)
  bool has_labels() const { return !codes.empty(); }
  int64_t length() const { return int64_t(depth.size()); }
};

// A CSV table kept as text so `predict` can write every input column back.
struct Table {
  std::string path;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> lines;  // file line of each row (1-based; blank lines skipped)
  // The column of that name, else the one whose name differs in case only; -1 when absent (or two differ so).
  int column(const std::string& name) const;
};

Table read_csv(const std::string& path);

struct Columns {
  std::string well = "Well Name", depth = "Depth", label = "Facies";
  // data.bad_values: a cell that is not a number in a numeric column is an
  // `error` naming file:line and the column, or `missing` (with a warning).
  std::string bad_values = "error";
};

// Groups the table's rows into wells (in order of first appearance). Columns
// other than well / depth / label whose non-empty cells are mostly numbers
// become logs (an empty cell is missing; another non-number follows
// c.bad_values); columns of mostly text are not logs. Labels are read only when
// the label column exists and `read_labels` is true. Each well is put in order
// of increasing depth (sort_by_depth).
std::vector<Well> wells_from_table(const Table& t, const Columns& c, bool read_labels = true);
// One well from a LAS file: curve mnemonics become log names, the first curve
// is the depth; the well name is the WELL item (or the file name). Sorted to
// increasing depth (a negative STEP lists the well bottom-up).
// With `label_curve`, the curve of that mnemonic (any case), when the file has it, holds the label codes (NULL:
// an unlabelled sample) and is not a log.
Well well_from_las(const std::string& path, const std::string& label_curve = "");
Well well_from_las(const las::LasFile& f, const std::string& label_curve = "");  // a file already read

// Puts the samples of `w` in order of increasing depth (stable: repeated
// depths keep their order), carrying logs, codes and source rows along, and
// says so on stderr when the order changed: the model always sees a well top
// down, and predictions go back to the source rows. A depth that is not a
// number is an error naming the well.
void sort_by_depth(Well& w, const std::string& source);

// "ft" or "m" for the depth units LAS files name (FT, F, FEET, M, METER(S),
// METRE(S), any case); "" for anything else.
std::string depth_unit_of(const std::string& unit);
// Feet in one `unit` ("ft" or "m").
double feet_per(const std::string& unit);

// data.depth_unit: "ft", "m", or "" when the config leaves it `unknown`.
std::string depth_unit_from_config(const Config& data);

// Median spacing of consecutive depths over `wells` (absolute; repeated
// depths skipped); 0 when no well has two distinct depths.
double median_depth_step(const std::vector<Well>& wells);
double median_depth_step(const Well& w);
// True when the well's depths never turn back (a depth may repeat, as one
// does in the SEG table's SHRIMPLIN) and its first and last differ.
bool monotonic_depth(const Well& w);
// `w` sampled every `step` depth units from its first depth towards its last
// (needs monotonic_depth): each curve interpolated linearly between the two
// samples around a new depth (missing when either is; a new depth that falls
// on a sample takes its value), label codes and rows from the nearest sample.
Well resample_well(const Well& w, double step);

// Synthetic gamma-ray wells with the five shape classes of gamma-log facies
// work: 0 none (shale background), 1 symmetrical (coarsening then fining
// upward), 2 cylindrical (blocky sand), 3 funnel (coarsening upward: GR
// falls towards the top), 4 bell (fining upward: GR rises towards the top).
// Depth increases with the sample index. Bodies are 8..60 samples thick with
// random amplitude; noise is Gaussian plus a slow random-walk baseline drift.
struct SyntheticOptions {
  int64_t wells = 40, min_length = 400, max_length = 900;
  double noise = 6.0;  // GR units (API), standard deviation of the white noise
  uint64_t seed = 7;
  static SyntheticOptions from_config(const Config& c);
};
std::vector<Well> synthetic_gamma_wells(const SyntheticOptions& o);
const std::vector<std::string>& synthetic_class_names();

// How wells become network input; stored in checkpoints.
struct Preprocessing {
  std::vector<std::string> curves;
  std::vector<std::string> indicators;  // curves that get a `<curve>_missing` channel
  std::vector<std::string> per_well;    // curves standardised by each well's own mean / std
  int64_t per_well_min_samples = 0;     // fewer valid samples: the training mean / std instead
  double per_well_trim = 0;             // fraction of a well's sorted values cut from each end before its mean / std
  std::vector<int64_t> codes;           // label code of class 0..K-1
  std::vector<std::string> class_names;
  std::string missing_values = "interpolate";  // interpolate | mean
  std::string missing_curve = "mean";          // mean | drop_well | error
  std::vector<double> mean, stddev;            // per curve, fitted on training wells
  double depth_step = 0;                       // median sample spacing of the training wells (0: unknown)
  std::string depth_unit;                      // data.depth_unit of the training wells: "ft", "m" or "" (unknown)

  // Reads data.curves / classes / class_names / missing.{values,curve,indicator}
  // / normalise_per_well (curves whose calibration differs between wells, e.g.
  // GR: standardised by the well's own statistics, the training ones as fallback)
  // / per_well_min_samples (a curve with fewer valid samples in a well uses the
  // training statistics: a short well, or a pseudo-well of one facies, says
  // nothing reliable about its tool's calibration) / per_well_trim (each well's
  // statistics without its trimmed_count(n, trim) lowest and highest values:
  // spikes and washouts move them less).
  static Preprocessing from_config(const Config& data);
  int64_t channels() const { return int64_t(curves.size() + indicators.size()); }
  int64_t classes() const { return int64_t(codes.size()); }
  int64_t class_of(int64_t code) const;  // -1 for a code not in `codes`
  // Mean and standard deviation of every curve over the valid samples of
  // `wells`, and their median depth step.
  void fit(const std::vector<Well>& wells);
  // False (with the reason) when the well lacks a curve and the policy drops it;
  // throws under the `error` policy.
  bool usable(const Well& w, std::string* why = nullptr) const;
  // (channels x length) features, normalised and filled, row-major.
  std::vector<float> features(const Well& w) const;
  // Class index per sample; -100 (ignored) for unknown or unlabelled samples.
  std::vector<int64_t> targets(const Well& w) const;
};

// A curve's values farther than this from its training mean are read as missing (null sentinels, flag_outliers).
inline double outlier_limit(double training_sd) { return 100 * std::max(training_sd, 1e-12); }
// A well's own statistics scale a curve only where its variance exceeds kLeastVariance * (1 + mean^2): a constant
// curve says nothing of its tool's calibration.
constexpr double kLeastVariance = 1e-12;

// Values of the model's curves that lie absurdly far from the training data
// (more than 100 training standard deviations from the training mean, e.g. a
// 1e38 null sentinel) become missing, with a warning naming the well, curve,
// count and first depth. Returns how many values were changed.
int64_t flag_outliers(const Preprocessing& p, Well& w);


// Prepared well: what the trainer and the evaluator use.
struct Sample {
  std::string name;
  int64_t length = 0;
  std::vector<float> x;       // channels x length
  std::vector<int64_t> y;     // length; -100 where unknown
};

std::vector<Sample> prepare(const Preprocessing& p, const std::vector<Well>& wells);

}  // namespace strata::welllog
