#include "apps/faults/faults.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "apps/common/plot.h"
#include "apps/faults/segy.h"
#include "apps/faults/synth.h"
#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"

namespace strata::faults {
namespace {

// Probability bins uniform in logit over [-16, 16]: fine near 0 and 1, where a balanced loss puts most samples.
constexpr double kLogitRange = 16;

int64_t bin_of(float p) {
  const double q = std::clamp(double(p), 0.0, 1.0);  // NaN -> 0 below
  const double logit = q > 0 ? std::log(q) - std::log1p(-q) : -kLogitRange;
  const double u = (std::clamp(logit, -kLogitRange, kLogitRange) + kLogitRange) / (2 * kLogitRange);
  return std::clamp<int64_t>(int64_t(u * FaultScores::kBins), 0, FaultScores::kBins - 1);
}

// The lowest probability of bin b: the threshold that admits it.
double bin_threshold(int64_t b) {
  return 1 / (1 + std::exp(-(double(b) / FaultScores::kBins * 2 * kLogitRange - kLogitRange)));
}

// Precision / recall from cumulative counts, thresholds from the top bin down.
FaultScores::Summary summarise(const std::vector<int64_t>& predicted, const std::vector<int64_t>& correct,
                               const std::vector<int64_t>& reached, int64_t truth, const std::vector<int64_t>* negatives,
                               int64_t total_negatives) {
  FaultScores::Summary s;
  if (truth == 0) return s;
  int64_t pred = 0, corr = 0, reach = 0, neg = 0;
  double prev_recall = 0, prev_fpr = 0, prev_tpr = 0;
  for (int64_t b = FaultScores::kBins - 1; b >= 0; --b) {
    pred += predicted[size_t(b)];
    corr += correct[size_t(b)];
    reach += reached[size_t(b)];
    if (pred == 0) continue;
    const double precision = double(corr) / double(pred), recall = double(reach) / double(truth);
    s.ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    s.pr_precision.push_back(precision);
    s.pr_recall.push_back(recall);
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    if (f1 > s.best_f1) {
      s.best_f1 = f1;
      s.threshold = bin_threshold(b);
      s.precision = precision;
      s.recall = recall;
      s.iou = precision > 0 && recall > 0 ? 1 / (1 / precision + 1 / recall - 1) : 0;
    }
    if (negatives && total_negatives > 0) {
      neg += (*negatives)[size_t(b)];
      const double fpr = double(neg) / double(total_negatives), tpr = recall;
      s.auroc += (fpr - prev_fpr) * (tpr + prev_tpr) / 2;
      prev_fpr = fpr;
      prev_tpr = tpr;
    }
  }
  return s;
}

}  // namespace

FaultScores::FaultScores(int64_t tolerance)
    : tol_(tolerance), all_(size_t(kBins)), fault_(size_t(kBins)), near_(size_t(kBins)), reached_(size_t(kBins)) {
  STRATA_CHECK(tolerance >= 0 && tolerance <= 10, "metrics.tolerance ", tolerance, ": want 0 to 10 samples");
}

void FaultScores::add(const std::vector<float>& prob, const std::vector<uint8_t>& label, int64_t height,
                      int64_t width) {
  STRATA_CHECK(int64_t(prob.size()) == height * width && int64_t(label.size()) == height * width,
               "fault scores: ", prob.size(), " probabilities and ", label.size(), " labels for a ", height, " x ",
               width, " section");
  const auto idx = [&](int64_t y, int64_t x) { return size_t(y * width + x); };
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      const float p = prob[idx(y, x)];
      const int64_t b = bin_of(p);
      ++all_[size_t(b)];
      ++n_;
      bool near = false;
      float best = 0;
      for (int64_t dy = -tol_; dy <= tol_; ++dy)
        for (int64_t dx = -tol_; dx <= tol_; ++dx) {
          const int64_t yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
          near = near || label[idx(yy, xx)];
          best = std::max(best, prob[idx(yy, xx)]);
        }
      if (near) ++near_[size_t(b)];
      if (label[idx(y, x)]) {
        ++fault_[size_t(b)];
        ++pos_;
        ++reached_[size_t(bin_of(best))];
      }
    }
}

void FaultScores::merge(const FaultScores& o) {
  STRATA_CHECK(o.tol_ == tol_, "fault scores: merging tolerances ", o.tol_, " and ", tol_);
  for (size_t b = 0; b < all_.size(); ++b) {
    all_[b] += o.all_[b];
    fault_[b] += o.fault_[b];
    near_[b] += o.near_[b];
    reached_[b] += o.reached_[b];
  }
  pos_ += o.pos_;
  n_ += o.n_;
}

void FaultScores::sum_over_ranks() {
  for (std::vector<int64_t>* v : {&all_, &fault_, &near_, &reached_}) dist::allreduce_sum(v->data(), int64_t(v->size()));
  int64_t totals[2] = {pos_, n_};
  dist::allreduce_sum(totals, 2);
  pos_ = totals[0];
  n_ = totals[1];
}

FaultScores::Summary FaultScores::strict() const {
  std::vector<int64_t> negatives(all_.size());
  for (size_t b = 0; b < all_.size(); ++b) negatives[b] = all_[b] - fault_[b];
  return summarise(all_, fault_, fault_, pos_, &negatives, n_ - pos_);
}

FaultScores::Summary FaultScores::tolerant() const { return summarise(all_, near_, reached_, pos_, nullptr, 0); }

ProbabilityCounts::ProbabilityCounts(std::vector<double> levels)
    : levels_(std::move(levels)), at_least_(levels_.size(), 0) {
  STRATA_CHECK(std::is_sorted(levels_.begin(), levels_.end()), "ProbabilityCounts: levels must be ascending");
  for (const double l : levels_) STRATA_CHECK(l > 0 && l <= 1, "ProbabilityCounts: level ", l, " is not in (0, 1]");
}

void ProbabilityCounts::add(std::span<const float> prob) {
  samples_ += int64_t(prob.size());
  for (const float p : prob) {
    max_ = std::max(max_, p);  // a NaN compares false and is skipped here and below
    for (size_t i = 0; i < levels_.size() && p >= levels_[i]; ++i) ++at_least_[i];
  }
}

std::string ProbabilityCounts::describe() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "max %.3g; of %lld samples", double(max_), static_cast<long long>(samples_));
  std::string out = buf;
  for (size_t i = 0; i < levels_.size(); ++i) {
    const double share = samples_ > 0 ? 100.0 * double(at_least_[i]) / double(samples_) : 0.0;
    std::snprintf(buf, sizeof buf, ", %lld (%.2f%%) >= %.3g", static_cast<long long>(at_least_[i]), share, levels_[i]);
    out += buf;
  }
  return out;
}

std::string summary_line(const FaultScores& s) {
  const FaultScores::Summary a = s.strict(), b = s.tolerant();
  return str_cat("AP ", a.ap, ", AUROC ", a.auroc, ", best F1 ", a.best_f1, " at ", a.threshold, " (IoU ", a.iou,
                 "); within ", s.tolerance(), " sample", s.tolerance() == 1 ? "" : "s", ": AP ", b.ap, ", best F1 ",
                 b.best_f1, " at ", b.threshold, " (IoU ", b.iou, ")");
}

void pr_plot(const std::string& path, const std::string& title, const FaultScores& s) {
  const FaultScores::Summary a = s.strict(), b = s.tolerant();
  LinePlotOptions unit;
  unit.y_lo = 0, unit.y_hi = 1;
  line_plot(path, title, "recall", "precision",
            {{str_cat("exact (AP ", std::round(a.ap * 1000) / 1000, ")"), a.pr_recall, a.pr_precision},
             {str_cat("within ", s.tolerance(), " (AP ", std::round(b.ap * 1000) / 1000, ")"), b.pr_recall,
              b.pr_precision}},
            unit);
}

LossOptions LossOptions::from_config(const Config& c) {
  LossOptions o;
  const bool fixed_weight = c.has("pos_weight");
  o.balance = c.get_bool("balance", o.balance);
  o.pos_weight = c.get_double("pos_weight", o.pos_weight, Bounds::positive());
  o.max_pos_weight = c.get_double("max_pos_weight", o.max_pos_weight, Bounds::at_least(1));
  o.dice = c.get_double("dice", o.dice, Bounds::at_least(0));
  // A run's resolved config.yaml (what --resume is given) writes the neutral pos_weight 1 beside balance: true.
  STRATA_CHECK(!(o.balance && fixed_weight && o.pos_weight != 1.0),
               "loss.pos_weight is used only with loss.balance: false");
  return o;
}

double LossOptions::positive_weight(double positives, double count) const {
  if (!balance) return pos_weight;
  return positives > 0 ? std::min((count - positives) / positives, max_pos_weight) : 1.0;
}

namespace {

Tensor weighted_bce_dice(const Tensor& logits, const Tensor& labels, const Tensor& pos_weight, const LossOptions& o) {
  Tensor loss = bce_with_logits(logits, labels, Tensor(), pos_weight, Reduction::mean);
  if (o.dice > 0) loss = add(loss, mul(dice_loss(sigmoid(logits), labels), o.dice));
  return loss;
}

}  // namespace

Tensor fault_loss(const Tensor& logits, const Tensor& labels, const LossOptions& o) {
  // The batch's positives are counted only when the weight depends on them.
  const double pw = o.balance ? o.positive_weight(sum(labels).item<float>(), double(labels.numel())) : o.pos_weight;
  const Tensor pos_weight = pw == 1.0 ? Tensor() : Tensor::full({1}, pw, DType::f32, logits.device());
  return weighted_bce_dice(logits, labels, pos_weight, o);
}

std::vector<Tensor> fault_graph_batch(Tensor x, Tensor labels, const LossOptions& o) {
  if (!o.balance) return {std::move(x), std::move(labels)};
  const double pw = o.positive_weight(sum(labels).item<float>(), double(labels.numel()));  // host tensors
  return {std::move(x), std::move(labels), Tensor::full({1}, pw, DType::f32, Device::cpu())};
}

Tensor fault_graph_loss(const Tensor& logits, const std::vector<Tensor>& t, const LossOptions& o,
                        Tensor& fixed_weight) {
  if (o.balance) return weighted_bce_dice(logits, t[1], t[2], o);
  if (!fixed_weight.defined() && o.pos_weight != 1.0)
    fixed_weight = Tensor::full({1}, o.pos_weight, DType::f32, logits.device());
  return weighted_bce_dice(logits, t[1], fixed_weight, o);
}

double fault_loss_of_probabilities(const std::vector<float>& prob, const std::vector<uint8_t>& labels,
                                   const LossOptions& o) {
  STRATA_CHECK(prob.size() == labels.size() && !prob.empty(), "fault_loss_of_probabilities: ", prob.size(),
               " probabilities for ", labels.size(), " labels");
  const double n = double(labels.size());
  double pos = 0;
  for (const uint8_t y : labels) pos += y;
  const double pw = o.positive_weight(pos, n);
  // Probabilities of a tiled prediction can be exactly 0 or 1: clamped, as a logit of +-13.8 would be.
  double bce = 0;
  for (size_t i = 0; i < prob.size(); ++i) {
    const double q = std::clamp(double(prob[i]), 1e-6, 1 - 1e-6);
    bce -= labels[i] ? pw * std::log(q) : std::log(1 - q);
  }
  double loss = bce / n;
  if (o.dice > 0) {
    const int64_t count = int64_t(prob.size());
    const std::vector<float> y(labels.begin(), labels.end());
    NoGradGuard no_grad;
    loss += o.dice * dice_loss(Tensor::from_vector(prob, {1, count}), Tensor::from_vector(y, {1, count})).item<float>();
  }
  return loss;
}

TileOptions TileOptions::from_config(const Config& c) {
  TileOptions o;
  o.tile = c.get_int("tile", o.tile, Bounds::at_least(32));
  o.overlap = c.get_int("overlap", o.overlap, Bounds::between(0, double(o.tile) / 2));
  o.tta = c.get_bool("tta", o.tta);
  const std::vector<int64_t> shift = c.get_int_list("shift", {0, 0});
  STRATA_CHECK(shift.size() == 2, "inference.shift: expected [samples, traces], got ", shift.size(), " values");
  for (const int64_t v : shift)
    STRATA_CHECK(v >= 0 && v < 64, "inference.shift: ", v, " is out of range: want 0-63 samples or traces");
  o.shift = {shift[0], shift[1]};
  o.volume_tile = c.get_int("volume_tile", o.volume_tile, Bounds::between(16, 512));
  o.volume_overlap = c.get_int("volume_overlap", o.volume_overlap, Bounds::between(0, double(o.volume_tile) / 2));
  o.time_views = c.get_double_list("time_views", o.time_views);
  STRATA_CHECK(!o.time_views.empty(), "inference.time_views: give at least one share (1: the section as it is)");
  for (const double v : o.time_views)
    STRATA_CHECK(v >= 0.25 && v <= 4, "inference.time_views: ", v, " is out of range: want shares of 0.25-4");
  const std::vector<double> w =
      c.get_double_list("neighbour_weights", std::vector<double>(kNeighbourWeights.begin(), kNeighbourWeights.end()));
  STRATA_CHECK(w.size() % 2 == 1 && w.size() <= 9, "inference.neighbour_weights: give an odd number of weights, ",
               "1-9 (the sections at -h .. h across the predicted one; [1]: the section alone), not ", w.size());
  for (const double v : w)
    STRATA_CHECK(v >= 0 && std::isfinite(v), "inference.neighbour_weights: ", v, " is not a weight (0 or more)");
  STRATA_CHECK(w[w.size() / 2] > 0, "inference.neighbour_weights: the centre weight (the section itself) must be ",
               "above 0");
  o.neighbour_weights.assign(w.begin(), w.end());
  o.stack_below_correlation =
      c.get_double("stack_below_correlation", kStackBelowCorrelation, Bounds::between(0, 1));
  o.stack_min_independence = c.get_double("stack_min_independence", kStackMinIndependence, Bounds::between(0, 1));
  return o;
}

void stack_neighbours(const std::vector<const float*>& traces, const std::vector<float>& weights, int64_t samples,
                      float* out) {
  STRATA_CHECK(traces.size() == weights.size(), "stack_neighbours: ", traces.size(), " traces for ", weights.size(),
               " weights");
  for (int64_t z = 0; z < samples; ++z) {
    double sum = 0, weight = 0;
    for (size_t d = 0; d < traces.size(); ++d) {
      if (!traces[d] || weights[d] == 0.f) continue;
      const float v = traces[d][z];
      if (missing_sample(v)) continue;
      sum += double(weights[d]) * v;
      weight += weights[d];
    }
    out[z] = weight > 0 ? float(sum / weight) : std::numeric_limits<float>::quiet_NaN();
  }
}

std::array<int64_t, 2> across_step(const std::string& direction) {
  if (direction == "inline") return {1, 0};  // the next inline
  if (direction == "crossline") return {0, 1};
  if (direction == "diagonal") return {1, -1};  // along (1, 1): across it is (1, -1)
  if (direction == "antidiagonal") return {1, 1};
  STRATA_FAIL("across_step: no direction '", direction, "'");
}

StackedSections::StackedSections(const SegyVolume& in, std::string direction, std::vector<float> weights)
    : in_(in), dir_(std::move(direction)), weights_(std::move(weights)), step_(across_step(dir_)),
      nil_(int64_t(in.inlines().size())), nxl_(int64_t(in.crosslines().size())) {
  STRATA_CHECK(weights_.size() % 2 == 1, "StackedSections: an odd number of weights, not ", weights_.size());
  if (in_.is_line()) weights_ = {1.f};
  // A diagonal's neighbour across it, one step of (1, -1) or (1, 1), lies two sections away.
  reach_ = int64_t(weights_.size() / 2) * (step_[0] != 0 && step_[1] != 0 ? 2 : 1);
}

std::array<int64_t, 2> StackedSections::cell(int64_t k, int64_t t) const {
  if (dir_ == "inline") return {k, t};
  if (dir_ == "crossline") return {t, k};
  if (dir_ == "diagonal") {  // b - a = k - (nil - 1), a from max(0, -(k - (nil - 1)))
    const int64_t c = k - (nil_ - 1), a = t + std::max<int64_t>(0, -c);
    return {a, a + c};
  }
  const int64_t a = t + std::max<int64_t>(0, k - (nxl_ - 1));  // antidiagonal: a + b = k
  return {a, k - a};
}

std::array<int64_t, 2> StackedSections::place(int64_t a, int64_t b) const {
  if (dir_ == "inline") return {a, b};
  if (dir_ == "crossline") return {b, a};
  if (dir_ == "diagonal") {
    const int64_t c = b - a;
    return {c + nil_ - 1, a - std::max<int64_t>(0, -c)};
  }
  const int64_t k = a + b;
  return {k, a - std::max<int64_t>(0, k - (nxl_ - 1))};
}

const std::vector<float>& StackedSections::traces_of(int64_t k) {
  auto it = kept_.find(k);
  if (it != kept_.end()) return it->second;
  const SegyVolume::Section s = in_.section(dir_, k);
  std::vector<float> traces(s.data.size());
  for (int64_t t = 0; t < s.width; ++t)
    for (int64_t z = 0; z < s.samples; ++z) {
      // An absent trace reads as missing, so it adds nothing to a stack.
      const float v = s.data[size_t(z * s.width + t)];
      traces[size_t(t * s.samples + z)] = s.trace_index[size_t(t)] < 0 ? std::numeric_limits<float>::quiet_NaN() : v;
    }
  return kept_.emplace(k, std::move(traces)).first->second;
}

SegyVolume::Section StackedSections::read(int64_t k, std::vector<float>& stacked) {
  if (weights_.size() == 1) {
    SegyVolume::Section s = in_.section(dir_, k);
    stacked = s.data;
    return s;
  }
  while (!kept_.empty() && kept_.begin()->first < k - reach_) kept_.erase(kept_.begin());
  SegyVolume::Section s;
  s.samples = in_.samples();
  s.trace_index = in_.section_traces(dir_, k);
  s.width = int64_t(s.trace_index.size());
  s.data.assign(size_t(s.samples * s.width), 0.f);
  stacked.assign(s.data.size(), 0.f);
  const std::vector<float>& own = traces_of(k);
  const int64_t h = int64_t(weights_.size() / 2);
  std::vector<const float*> stack(weights_.size());
  std::vector<float> out(size_t(s.samples));
  for (int64_t t = 0; t < s.width; ++t) {
    if (s.trace_index[size_t(t)] < 0) continue;
    const auto [a, b] = cell(k, t);
    for (int64_t d = -h; d <= h; ++d) {
      const int64_t na = a + d * step_[0], nb = b + d * step_[1];
      const float*& p = stack[size_t(d + h)];
      p = nullptr;
      if (na < 0 || na >= nil_ || nb < 0 || nb >= nxl_ || in_.trace_at(na, nb) < 0) continue;
      const auto [nk, nt] = place(na, nb);
      p = traces_of(nk).data() + nt * s.samples;  // std::map keeps references valid while it grows
    }
    stack_neighbours(stack, weights_, s.samples, out.data());
    for (int64_t z = 0; z < s.samples; ++z) {
      s.data[size_t(z * s.width + t)] = own[size_t(t * s.samples + z)];
      stacked[size_t(z * s.width + t)] = out[size_t(z)];
    }
  }
  return s;
}

namespace {

// Mirror index of i into [0, n) (whole-sample symmetric extension, repeated for any distance).
int64_t mirror(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

}  // namespace

size_t standardise_section(std::span<float> section) {
  for (float& v : section)
    if (missing_sample(v)) v = std::numeric_limits<float>::quiet_NaN();
  return standardise(section);
}

double section_period(const std::vector<float>& section, int64_t height, int64_t width) {
  TraceSpectrum spectrum(height);
  const int64_t stride = (width + kPeriodTraces - 1) / kPeriodTraces;
  for (int64_t t = 0; t < width; t += stride) spectrum.add(section.data() + t, width);
  return spectrum.wavelet_period();
}

std::vector<float> resample_time(const std::vector<float>& section, int64_t height, int64_t width, int64_t to_height) {
  STRATA_CHECK(height >= 1 && to_height >= 1 && int64_t(section.size()) == height * width,
               "resample_time: a section of ", height, " x ", width, " samples (", section.size(), " values) to ",
               to_height);
  const double step = double(height) / double(to_height);  // input samples per output sample
  const double reach = std::max(1.0, step);                  // the triangle's half-width, in input samples
  std::vector<float> out(size_t(to_height * width), 0.f);
  std::vector<double> w;
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < to_height; ++i) {
    const double centre = (double(i) + 0.5) * step - 0.5;  // the output sample's position in input samples
    w.clear();
    rows.clear();
    double total = 0;
    for (int64_t k = int64_t(std::ceil(centre - reach)); k <= int64_t(std::floor(centre + reach)); ++k) {
      const double weight = 1.0 - std::abs(double(k) - centre) / reach;
      if (weight <= 0) continue;
      w.push_back(weight);
      rows.push_back(mirror(k, height));
      total += weight;
    }
    for (int64_t x = 0; x < width; ++x) {
      double v = 0;
      for (size_t j = 0; j < w.size(); ++j) v += w[j] * section[size_t(rows[j] * width + x)];
      out[size_t(i * width + x)] = float(v / total);
    }
  }
  return out;
}

std::vector<float> predict_section(Module& model, const std::vector<float>& section, int64_t height, int64_t width,
                                   const TileOptions& o) {
  if (o.time_views_set()) {
    TileOptions one = o;
    one.time_views = {1};
    std::vector<float> out(size_t(height * width), 0.0f);
    for (const double v : o.time_views) {
      one.time_scale = o.time_scale * v;
      const std::vector<float> p = predict_section(model, section, height, width, one);
      for (size_t i = 0; i < out.size(); ++i) out[i] += p[i];
    }
    for (float& v : out) v /= float(o.time_views.size());
    return out;
  }
  if (const int64_t h = std::max<int64_t>(2, std::llround(double(height) * o.time_scale)); h != height) {
    TileOptions as_is = o;
    as_is.time_scale = 1;
    return resample_time(predict_section(model, resample_time(section, height, width, h), h, width, as_is), h, width,
                         height);
  }
  // The section's own borders are mirrored outwards by `kBorder` samples (and up to 64 a side in all), so the
  // network sees no artificial edge there (zero padding inside the network looks like a fault to it).
  constexpr int64_t kMinSize = 64;
  const int64_t pad_y = std::max(kBorder, (kMinSize - height + 1) / 2), pad_x = std::max(kBorder, (kMinSize - width + 1) / 2);
  // One view: the section placed `dy`, `dx` samples further down and right in its padded frame (so it meets the
  // network's pooling grid differently), optionally mirrored left-right; returns the prediction of the section.
  const auto view = [&](int64_t dy, int64_t dx, bool mirrored) {
    const int64_t top = pad_y + dy, left = pad_x + dx, ph = height + 2 * pad_y + dy, pw = width + 2 * pad_x + dx;
    std::vector<float> padded(size_t(ph * pw));
    for (int64_t y = 0; y < ph; ++y)
      for (int64_t x = 0; x < pw; ++x) {
        const int64_t xs = mirrored ? pw - 1 - x : x;
        padded[size_t(y * pw + x)] = section[size_t(mirror(y - top, height) * width + mirror(xs - left, width))];
      }
    const std::vector<float> p = predict_padded(model, padded, ph, pw, o);
    std::vector<float> out(size_t(height * width));
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) {
        const int64_t xp = x + left;
        out[size_t(y * width + x)] = p[size_t((y + top) * pw + (mirrored ? pw - 1 - xp : xp))];
      }
    return out;
  };
  std::vector<std::array<int64_t, 2>> shifts{{0, 0}};
  if (o.shift[0] != 0 || o.shift[1] != 0) shifts.push_back(o.shift);
  // A section seen in a mirror is as plausible as the section (faults dip either way): with tta, both.
  const std::vector<bool> mirrors = o.tta ? std::vector<bool>{false, true} : std::vector<bool>{false};
  std::vector<float> out(size_t(height * width), 0.0f);
  for (const auto& [dy, dx] : shifts)
    for (const bool mirrored : mirrors) {
      const std::vector<float> p = view(dy, dx, mirrored);
      for (size_t i = 0; i < out.size(); ++i) out[i] += p[i];
    }
  const float views = float(shifts.size() * mirrors.size());
  for (float& v : out) v /= views;
  return out;
}

namespace {

// Tile origins along an axis of n samples: tiles of `tile` overlapping by at least `overlap`, the last flush with
// the end.
std::vector<int64_t> tile_starts(int64_t n, int64_t tile, int64_t overlap) {
  std::vector<int64_t> s{0};
  if (n <= tile) return s;
  while (s.back() + tile < n) s.push_back(std::min(s.back() + tile - overlap, n - tile));
  return s;
}

// Weight across a tile towards an edge it shares with another tile: ~0 over the outer quarter of the overlap,
// rising linearly to 1 over the next half (as predict_padded).
double tile_ramp(int64_t i, int64_t len, bool first, bool last, int64_t overlap) {
  const double dead = double(overlap) / 4, rise = std::max(double(overlap) / 2, 1.0);
  double w = 1;
  if (!first) w = std::min(w, (double(i) + 1 - dead) / rise);
  if (!last) w = std::min(w, (double(len - i) - dead) / rise);
  return std::max(w, 1e-6);
}

}  // namespace

std::vector<float> predict_padded(Module& model, const std::vector<float>& section, int64_t height, int64_t width,
                                  const TileOptions& o) {
  NoGradGuard no_grad;
  model.eval();
  const auto ramp = [&](int64_t i, int64_t len, bool first, bool last) {
    return tile_ramp(i, len, first, last, o.overlap);
  };
  const std::vector<int64_t> ys = tile_starts(height, o.tile, o.overlap), xs = tile_starts(width, o.tile, o.overlap);
  std::vector<double> acc(size_t(height * width), 0.0), wsum(size_t(height * width), 0.0);
  for (size_t a = 0; a < ys.size(); ++a)
    for (size_t b = 0; b < xs.size(); ++b) {
      const int64_t th = std::min(o.tile, height), tw = std::min(o.tile, width);
      std::vector<float> tile(size_t(th * tw));
      for (int64_t y = 0; y < th; ++y)
        for (int64_t x = 0; x < tw; ++x) tile[size_t(y * tw + x)] = section[size_t((ys[a] + y) * width + xs[b] + x)];
      const std::vector<float> logit =
          model(Tensor::from_vector(tile, {1, 1, th, tw}).to(model.device())).contiguous().to_vector<float>();
      for (int64_t y = 0; y < th; ++y) {
        const double wy = ramp(y, th, a == 0, a + 1 == ys.size());
        for (int64_t x = 0; x < tw; ++x) {
          const double w = wy * ramp(x, tw, b == 0, b + 1 == xs.size());
          const size_t i = size_t((ys[a] + y) * width + xs[b] + x);
          acc[i] += w / (1 + std::exp(-double(logit[size_t(y * tw + x)])));
          wsum[i] += w;
        }
      }
    }
  std::vector<float> out(acc.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(acc[i] / wsum[i]);
  return out;
}

std::vector<float> predict_cube(Module& model, const std::vector<float>& cube, int64_t inlines, int64_t crosslines,
                                int64_t samples, const TileOptions& o) {
  STRATA_CHECK(int64_t(cube.size()) == inlines * crosslines * samples, "predict_cube: ", cube.size(),
               " samples for a cube of ", inlines, " x ", crosslines, " x ", samples);
  NoGradGuard no_grad;
  model.eval();
  const int64_t b = kVolumeBorder;
  const std::array<int64_t, 3> n{inlines + 2 * b, crosslines + 2 * b, samples + 2 * b};
  const auto at = [](const std::array<int64_t, 3>& dims, int64_t i, int64_t j, int64_t k) {
    return size_t((i * dims[1] + j) * dims[2] + k);
  };
  // One view: the cube mirrored outwards at its faces (and along both trace axes when `flipped`), tiled.
  const auto view = [&](bool flipped) {
    std::vector<float> padded(size_t(n[0] * n[1] * n[2]));
    for (int64_t i = 0; i < n[0]; ++i)
      for (int64_t j = 0; j < n[1]; ++j) {
        const int64_t si = mirror(i - b, inlines), sj = mirror(j - b, crosslines);
        const int64_t ti = flipped ? inlines - 1 - si : si, tj = flipped ? crosslines - 1 - sj : sj;
        for (int64_t k = 0; k < n[2]; ++k)
          padded[at(n, i, j, k)] = cube[at({inlines, crosslines, samples}, ti, tj, mirror(k - b, samples))];
      }
    std::array<std::vector<int64_t>, 3> starts;
    std::array<int64_t, 3> t{};
    for (size_t a = 0; a < 3; ++a) {
      t[a] = std::min(o.volume_tile, n[a]);
      starts[a] = tile_starts(n[a], o.volume_tile, o.volume_overlap);
    }
    std::vector<double> acc(padded.size(), 0.0), wsum(padded.size(), 0.0);
    std::vector<float> tile(size_t(t[0] * t[1] * t[2]));
    for (size_t a = 0; a < starts[0].size(); ++a)
      for (size_t c = 0; c < starts[1].size(); ++c)
        for (size_t d = 0; d < starts[2].size(); ++d) {
          const int64_t i0 = starts[0][a], j0 = starts[1][c], k0 = starts[2][d];
          for (int64_t i = 0; i < t[0]; ++i)
            for (int64_t j = 0; j < t[1]; ++j)
              std::copy_n(padded.begin() + std::ptrdiff_t(at(n, i0 + i, j0 + j, k0)), t[2],
                          tile.begin() + std::ptrdiff_t(at(t, i, j, 0)));
          const Tensor x = Tensor::from_vector(tile, {1, 1, t[0], t[1], t[2]}).to(model.device());
          const std::vector<float> logit = model(x).contiguous().to_vector<float>();
          for (int64_t i = 0; i < t[0]; ++i) {
            const double wi = tile_ramp(i, t[0], a == 0, a + 1 == starts[0].size(), o.volume_overlap);
            for (int64_t j = 0; j < t[1]; ++j) {
              const double wj = wi * tile_ramp(j, t[1], c == 0, c + 1 == starts[1].size(), o.volume_overlap);
              for (int64_t k = 0; k < t[2]; ++k) {
                const double w = wj * tile_ramp(k, t[2], d == 0, d + 1 == starts[2].size(), o.volume_overlap);
                const size_t p = at(n, i0 + i, j0 + j, k0 + k);
                acc[p] += w / (1 + std::exp(-double(logit[at(t, i, j, k)])));
                wsum[p] += w;
              }
            }
          }
        }
    std::vector<float> out(size_t(inlines * crosslines * samples));
    for (int64_t i = 0; i < inlines; ++i)
      for (int64_t j = 0; j < crosslines; ++j) {
        const int64_t pi = flipped ? inlines - 1 - i : i, pj = flipped ? crosslines - 1 - j : j;
        for (int64_t k = 0; k < samples; ++k) {
          const size_t p = at(n, pi + b, pj + b, k + b);
          out[at({inlines, crosslines, samples}, i, j, k)] = float(acc[p] / wsum[p]);
        }
      }
    return out;
  };
  std::vector<float> out = view(false);
  if (o.tta) {
    const std::vector<float> m = view(true);
    for (size_t i = 0; i < out.size(); ++i) out[i] = 0.5f * (out[i] + m[i]);
  }
  return out;
}

Panel seismic_panel(const std::vector<float>& section, int64_t height, int64_t width, const std::string& title,
                    const PanelAxis& x, const PanelAxis& y) {
  // Grey, symmetric about zero and clipped at the 99th percentile of |amplitude| (a few spikes would wash out the rest).
  std::vector<float> mag;
  mag.reserve(section.size());
  for (float v : section)
    if (std::isfinite(v)) mag.push_back(std::abs(v));
  float clip = 1e-6f;
  if (!mag.empty()) {
    const size_t k = size_t(double(mag.size() - 1) * 0.99);
    std::nth_element(mag.begin(), mag.begin() + std::ptrdiff_t(k), mag.end());
    clip = std::max(mag[k], clip);
  }
  Panel p{title, height, width, 1, section};
  p.map = Colormap::grey;
  p.lo = -clip, p.hi = clip;
  p.bar = "amplitude (clipped at 99th pct.)";
  p.x = x, p.y = y;
  return p;
}

Panel overlay_panel(const std::vector<float>& section, const std::vector<float>& prob, int64_t height, int64_t width,
                    const std::string& title, OverlayKind kind, const PanelAxis& x, const PanelAxis& y) {
  Panel p = seismic_panel(section, height, width, title, x, y);
  p.overlay = prob;
  p.overlay_map = Colormap::hot;
  p.bar.clear();  // the seismic panel beside it carries the amplitude scale
  if (kind == OverlayKind::labels) {
    p.overlay_floor = 0.5, p.overlay_hi = 1;
    return p;
  }
  // Probabilities: the colour scale runs to 1, or to the section's maximum when that is below 0.5, so a faint map
  // stays visible; the colour bar's label says which.
  float top = 0;
  for (float v : prob)
    if (std::isfinite(v)) top = std::max(top, v);
  p.overlay_hi = probability_scale(top);
  p.overlay_floor = float(0.1 * p.overlay_hi);
  char max_text[32];
  std::snprintf(max_text, sizeof max_text, "%.3g", double(top));
  p.overlay_bar = p.overlay_hi < 1 ? str_cat("fault probability (scale to max ", max_text, ")")
                                   : std::string("fault probability");
  return p;
}

}  // namespace strata::faults
