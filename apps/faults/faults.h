// strata-faults: the task pieces behind the commands (apps/faults/run.cpp).
//
//   FaultScores      pixel scores of fault probability against fault labels:
//                    PR curve, average precision, ROC AUC, the best F1 and its
//                    threshold, IoU there; strictly and with a tolerance of d
//                    samples (Chebyshev distance) around the true fault
//   fault_loss       class-balanced BCE (positives weighted by the batch's
//                    negative / positive ratio, as FaultSeg), or a fixed
//                    pos_weight; optional Dice
//   ProbabilityCounts  samples of a prediction at or above given probabilities
//   predict_section  fault probability of a section of any size: tiles with
//                    overlap, blended with weights that ramp down towards each
//                    tile's inner edges, so no seam shows
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "apps/common/image_io.h"
#include "apps/common/plot.h"
#include "apps/common/transforms.h"  // standardise: sections to mean 0, standard deviation 1, as the generator's output
#include "apps/faults/segy.h"
#include "config/config.h"
#include "engine/tensor.h"
#include "layers/module.h"

namespace strata::faults {

// Thresholds are binned on `kBins` bins uniform in logit(p) over [-16, 16] (0.008 apart: a step of 0.002 in p
// near 0.5, finer towards 0 and 1).
class FaultScores {
 public:
  static constexpr int64_t kBins = 4000;
  explicit FaultScores(int64_t tolerance = 1);
  // One section: probabilities and 0 / 1 labels, height x width each.
  void add(const std::vector<float>& prob, const std::vector<uint8_t>& label, int64_t height, int64_t width);
  void merge(const FaultScores& o);
  // Data-parallel evaluation: the counts summed over the ranks (no-op on one process).
  void sum_over_ranks();

  struct Summary {
    double ap = 0, auroc = 0, best_f1 = 0, threshold = 0.5, iou = 0, precision = 0, recall = 0;
    std::vector<double> pr_precision, pr_recall;  // the curve, thresholds descending
  };
  Summary strict() const;
  Summary tolerant() const;  // within `tolerance` samples (AUROC not defined: 0)
  int64_t tolerance() const { return tol_; }
  int64_t positives() const { return pos_; }
  int64_t pixels() const { return n_; }

 private:
  int64_t tol_;
  int64_t pos_ = 0, n_ = 0;
  // Per probability bin: pixels, fault pixels, pixels within tol of a fault; true fault pixels whose
  // neighbourhood maximum falls in the bin.
  std::vector<int64_t> all_, fault_, near_, reached_;
};

// One row of scores, and the PR curves (strict and tolerant) as a PNG.
std::string summary_line(const FaultScores& s);
void pr_plot(const std::string& path, const std::string& title, const FaultScores& s);

// How much of a prediction reaches given probabilities: what `predict` prints after a survey or a folder, so
// a user sees at once how much of the data the network calls fault (and two models can be compared on data
// without labels). NaN samples are counted but reach no level.
class ProbabilityCounts {
 public:
  explicit ProbabilityCounts(std::vector<double> levels);  // ascending, each in (0, 1]
  void add(std::span<const float> prob);
  int64_t samples() const { return samples_; }
  int64_t at_least(size_t level) const { return at_least_[level]; }
  float max() const { return max_; }
  // "max 0.73; of 31050 samples, 287 (0.92%) >= 0.2, 13 (0.04%) >= 0.5"
  std::string describe() const;

 private:
  std::vector<double> levels_;
  std::vector<int64_t> at_least_;
  int64_t samples_ = 0;
  float max_ = 0;
};

struct LossOptions {
  bool balance = true;       // pos_weight = negatives / positives of the batch
  double pos_weight = 1.0;   // when balance is off
  double max_pos_weight = 200;
  double dice = 0.0;
  static LossOptions from_config(const Config& loss);
  // The weight of fault pixels for `positives` of `count` labels: negatives / positives capped at max_pos_weight
  // (1 without positives) when balanced, else pos_weight.
  double positive_weight(double positives, double count) const;
};
// logits (N, 1, H, W), labels (N, 1, H, W) of 0 / 1 floats.
Tensor fault_loss(const Tensor& logits, const Tensor& labels, const LossOptions& o);
// fault_loss split for a step that a CUDA graph replays (train.cuda_graph): fault_graph_batch gives the batch's
// tensors on the host (x, labels and, with loss.balance, the batch's positive weight as a one-element tensor);
// fault_graph_loss computes fault_loss's operations from them once they are on the device, with no copy to or
// from the host. `fixed_weight` holds loss.pos_weight on the device, made on the first call (which runs eagerly).
std::vector<Tensor> fault_graph_batch(Tensor x, Tensor labels, const LossOptions& o);
Tensor fault_graph_loss(const Tensor& logits, const std::vector<Tensor>& on_device, const LossOptions& o,
                        Tensor& fixed_weight);
// The same loss of one predicted section's probabilities (predict_section's output) against its 0 / 1 labels,
// probabilities clamped to [1e-6, 1 - 1e-6]: the validation loss of a tiled, blended prediction.
double fault_loss_of_probabilities(const std::vector<float>& prob, const std::vector<uint8_t>& labels,
                                   const LossOptions& o);

// A section read from a survey to the generator's scale (mean 0, standard deviation 1), in place. Missing
// samples, NaN, infinite or OpendTect's undefined value (1e30; any |x| >= 5e29), are left out of the statistics
// and become 0. Returns how many there were.
size_t standardise_section(std::span<float> section);

// A sample's fault probability from its inline and its crossline section: the chance that either marks it,
// 1 - (1 - a)(1 - b). A fault striking along one direction stands out on the other section only; on labelled
// synthetic cubes this rule ranks samples better than the mean or the maximum of the two (docs/faults.md).
inline float either_view(float a, float b) { return 1.f - (1.f - a) * (1.f - b); }

// With the grid's two diagonals as well (--direction all): each crossing pair's chance that neither section
// marks the sample, (1 - p_inline)(1 - p_crossline) and (1 - p_diagonal)(1 - p_antidiagonal), averaged
// geometrically with these weights, and the probability 1 minus that. A diagonal section spaces its traces
// sqrt(2) times as far apart as the training sections (on a square grid), and alone it ranks a cube's samples
// lower than the inlines and crosslines do, so it counts a quarter; on labelled cubes of four looks this ranks
// better than the pair alone, than equal weights and than the chance that any of the four marks the sample
// (docs/faults.md, "Whole cubes").
constexpr float kCrossingPairWeight = 0.75f, kDiagonalPairWeight = 0.25f;

// One section's share of that product: (1 - p)^weight, exactly 1 - p at weight 1 (two directions alone).
inline float unmarked_by(float p, float weight) { return weight == 1.f ? 1.f - p : std::pow(1.f - p, weight); }

// Diagonal sections shorter than this (a survey's corners) are not predicted: too narrow for the network to see a
// fault's context. Where either diagonal through a trace is that short, its inline and crossline decide alone.
constexpr int64_t kMinDiagonalTraces = 8;

// Matching a section's time sampling to the training sections' (inference.match_period, on by default). The
// network learns faults at the wavelet periods it was trained on; on data of longer periods (lower frequencies,
// or finer time sampling) it finds fewer. A section whose dominant period, the centroid period of its traces'
// power spectrum (synth.h, TraceSpectrum), is longer than `reference` is predicted resampled in time by
// reference / period, so its period becomes the reference, and its probabilities resampled back. The reference
// is the training sections' 95th percentile of that period; shorter periods are predicted as they are. On the
// generator's sections of periods 18-30 samples this raises exact AP by 0.06.
struct PeriodMatch {
  double reference = 0;  // samples; 0: off
  // The time scale at which a section of dominant period `period` is predicted: reference / period, at most 1.
  double scale(double period) const { return reference > 0 && period > reference ? reference / period : 1.0; }
};
// The percentile of the training sections' dominant periods that is the reference.
constexpr double kPeriodPercentile = 95;
// A section's or a volume's dominant period is measured on at most this many of its traces, evenly spaced (the
// direct DFT costs the square of the samples a trace).
constexpr int64_t kPeriodTraces = 512;
// The dominant period of a section (height x width, row-major, time down), as PeriodMatch compares it: its traces'
// wavelet period (TraceSpectrum::wavelet_period; 0, so never resampled, when no wavelet period is found).
double section_period(const std::vector<float>& section, int64_t height, int64_t width);
// A section resampled in time to `to_height` samples (width unchanged): each output sample a triangle-weighted
// mean of the input around its position, the triangle as wide as the spacing of the coarser of the two samplings
// (linear interpolation when stretching; no aliasing when shrinking), the borders mirrored.
std::vector<float> resample_time(const std::vector<float>& section, int64_t height, int64_t width, int64_t to_height);

// The neighbour weights a cube's sections are predicted with unless inference.neighbour_weights says otherwise:
// the section and, at half its weight, the section on each side. Random noise differs from trace to trace and
// falls; reflections and faults continue into the next section and stay (docs/faults.md, "How a survey is
// predicted").
inline const std::vector<float> kNeighbourWeights{1.f, 2.f, 1.f};
// ... applied to a cube whose neighbouring traces correlate below this on average: about 5% of the energy differs
// between neighbours. Stacking gains most where the noise differs from trace to trace, and costs up to 0.016 exact
// AP on cubes whose neighbours correlate better (docs/faults.md, "What was tried and not shipped").
constexpr double kStackBelowCorrelation = 0.95;
// ... and whose noise differs from trace to trace at least this much (NeighbourCorrelations::independence): noise
// smoothed across traces is shared by neighbours, so stacking removes little of it and only blurs the faults. 0.4 is
// noise smoothed by a Gaussian of about 0.85 traces, of which a stack keeps 0.87 of the amplitude.
constexpr double kStackMinIndependence = 0.4;

// How a cube's traces agree with the traces one and two grid steps away (segy.h, neighbour_correlation), which
// decides whether its sections are stacked.
struct NeighbourCorrelations {
  double one = 1, two = 1;  // mean correlation of traces one / two grid steps apart
  // With reflections that carry on over a few traces, 1 - one is the share of the energy in noise that neighbours do
  // not share, and 1 - two the share that traces two apart do not: about equal (1) for noise that differs from trace
  // to trace, and well under 1 for noise smoothed across traces (0.35 for a Gaussian of one trace). 1 where
  // nothing differs.
  double independence() const { return two < 1 ? (1 - one) / (1 - two) : 1.0; }
  static NeighbourCorrelations of(const SegyVolume& v) {
    return {neighbour_correlation(v, 1), neighbour_correlation(v, 2)};
  }
};
// What TileOptions decides for a cube: stacked, or alone because its traces correlate well (clean) or because its
// noise is smoothed across traces.
enum class StackDecision { stacked, clean, smoothed_noise };

struct TileOptions {
  int64_t tile = 256, overlap = 32;
  // The section is predicted resampled to this share of its samples in time (PeriodMatch::scale), and the
  // probabilities resampled back; 1: as it is.
  double time_scale = 1;
  // The section is predicted resampled in time to each of these shares of its samples (on top of time_scale;
  // below 1: compressed), the probabilities resampled back and averaged; {1}: as it is.
  std::vector<double> time_views{1.0};
  bool time_views_set() const { return time_views != std::vector<double>{1.0}; }  // anything but {1}
  bool tta = false;  // also predict the section mirrored left-right and average the two probabilities
  // Also predict the section moved this many samples down and right against the network's pooling grid (and,
  // with tta, its mirror too), averaging all; {0, 0}: no such view.
  std::array<int64_t, 2> shift{0, 0};
  // A 3-D model (unet3d) predicts a cube in cubic tiles of this many samples a side, overlapping by
  // volume_overlap (inference.volume_tile, inference.volume_overlap).
  int64_t volume_tile = 96, volume_overlap = 16;
  // A section of a cube is predicted from the weighted mean of itself and its neighbouring sections of the same
  // direction, the weights of the sections at offsets -h .. h across it (inference.neighbour_weights; {1}: the
  // section alone). Used by predict_volume and the OpendTect attribute, not by predict_section.
  std::vector<float> neighbour_weights = kNeighbourWeights;
  // ... when the cube's neighbouring traces correlate below this on average: noise. 1: always; 0: never
  // (inference.stack_below_correlation).
  double stack_below_correlation = kStackBelowCorrelation;
  // ... and that noise differs from trace to trace at least this much (NeighbourCorrelations::independence; 0:
  // whatever the noise; inference.stack_min_independence).
  double stack_min_independence = kStackMinIndependence;
  // Whether a cube whose traces correlate so is stacked, and if not, why.
  StackDecision stack_decision(const NeighbourCorrelations& c) const {
    if (stack_below_correlation >= 1) return StackDecision::stacked;
    if (!(stack_below_correlation > 0 && c.one < stack_below_correlation)) return StackDecision::clean;
    return c.independence() >= stack_min_independence ? StackDecision::stacked : StackDecision::smoothed_noise;
  }
  // The weights a cube whose traces correlate so is stacked with.
  std::vector<float> stack_weights(const NeighbourCorrelations& c) const {
    return stack_decision(c) == StackDecision::stacked ? neighbour_weights : std::vector<float>{1.f};
  }
  // Whether stack_weights needs the correlations measured: stacking is on and not forced either way. Where it does
  // not, stack_weights({}) gives the weights.
  bool stack_measured() const {
    return neighbour_weights.size() > 1 && stack_below_correlation > 0 && stack_below_correlation < 1;
  }
  static TileOptions from_config(const Config& inference);
};
// One trace of a section stacked with its neighbours: out[z] = sum_d w_d x_d[z] / sum_d w_d over the neighbours d
// that are present (a non-null pointer) and defined at z (missing_sample); NaN (a missing sample) where none is.
// `traces` and `weights` run over the offsets -h .. h; each trace holds `samples` values.
void stack_neighbours(const std::vector<const float*>& traces, const std::vector<float>& weights, int64_t samples,
                      float* out);
// The grid step (inline, crossline) from a section of `direction` (segy.h: inline, crossline, diagonal,
// antidiagonal) to the next section across it, perpendicular to its traces' line.
std::array<int64_t, 2> across_step(const std::string& direction);

// The sections of one direction of a cube, each with its samples stacked with the traces beside it across the
// section (stack_neighbours; the trace at grid step d * across_step(direction) weighs weights[h + d]). Reading the
// sections in increasing order reads each of the file's traces once: the sections a later one needs are kept.
// A 2-D line, or weights {1}, reads the section alone.
class StackedSections {
 public:
  StackedSections(const SegyVolume& in, std::string direction, std::vector<float> weights);
  // Section k as SegyVolume::section reads it; `stacked` gets its stacked samples (the same layout; missing
  // samples where no trace of the stack is defined, 0 in columns without a trace).
  SegyVolume::Section read(int64_t k, std::vector<float>& stacked);

 private:
  // Grid cell (inline index, crossline index) of column t of section k, and the section and column of a cell.
  std::array<int64_t, 2> cell(int64_t k, int64_t t) const;
  std::array<int64_t, 2> place(int64_t a, int64_t b) const;
  const std::vector<float>& traces_of(int64_t k);  // section k trace-major (width x samples), kept

  const SegyVolume& in_;
  std::string dir_;
  std::vector<float> weights_;
  std::array<int64_t, 2> step_;
  int64_t nil_, nxl_, reach_;  // reach_: how many sections away a neighbour can lie
  std::map<int64_t, std::vector<float>> kept_;
};
// The samples predict_section mirrors outwards at each border of a section of 32 samples or more.
constexpr int64_t kBorder = 16;
// Fault probability (height x width) of a standardised section, in eval mode without gradients; the
// section's borders are mirrored outwards first (at least 16 samples, and to 64 x 64 for small sections);
// with o.tta, the mean of the section's and its left-right mirror's predictions; with o.shift, also those of the
// section moved o.shift samples down and right in its padded frame (4 predictions with both); with o.time_scale
// below 1, all of that on the section resampled in time (resample_time); with several o.time_views, all of that
// once per view, averaged.
std::vector<float> predict_section(Module& model, const std::vector<float>& section, int64_t height, int64_t width,
                                   const TileOptions& o);
// The tiled, blended prediction of predict_section without the mirrored border.
std::vector<float> predict_padded(Module& model, const std::vector<float>& section, int64_t height, int64_t width,
                                  const TileOptions& o);

// The samples predict_cube mirrors outwards at each face of a cube.
constexpr int64_t kVolumeBorder = 8;
// Fault probability of a standardised cube (inlines x crosslines x samples, each trace contiguous) from a 3-D
// network, in eval mode without gradients: the faces mirrored outwards by kVolumeBorder samples, cubic tiles of
// o.volume_tile overlapping by o.volume_overlap, blended with predict_padded's ramps along each axis; with
// o.tta, the mean with the prediction of the cube mirrored along both trace axes.
std::vector<float> predict_cube(Module& model, const std::vector<float>& cube, int64_t inlines, int64_t crosslines,
                                int64_t samples, const TileOptions& o);

// Figures: seismic in grey (symmetric, clipped at the 99th percentile of |amplitude|) with an amplitude colour bar,
// optionally with axes in survey units.
Panel seismic_panel(const std::vector<float>& section, int64_t height, int64_t width, const std::string& title,
                    const PanelAxis& x = {}, const PanelAxis& y = {});
// The seismic with fault labels (0 / 1: drawn where 1) or fault probability over it in a yellow-to-red map with
// its colour bar; a probability map whose maximum is below 0.5 gets a scale to its maximum (the bar says so).
enum class OverlayKind { probability, labels };
Panel overlay_panel(const std::vector<float>& section, const std::vector<float>& prob, int64_t height, int64_t width,
                    const std::string& title, OverlayKind kind = OverlayKind::probability, const PanelAxis& x = {},
                    const PanelAxis& y = {});

}  // namespace strata::faults
