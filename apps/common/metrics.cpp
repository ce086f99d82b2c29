#include "apps/common/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "engine/distributed.h"
#include "engine/error.h"

namespace strata {

ConfusionMatrix::ConfusionMatrix(int64_t classes) : k_(classes), m_(size_t(classes * classes), 0) {
  STRATA_CHECK(classes > 0, "confusion matrix: classes must be > 0, got ", classes);
}

void ConfusionMatrix::add(const int64_t* truth, const int64_t* predicted, int64_t n, int64_t ignore_index) {
  for (int64_t i = 0; i < n; ++i) {
    if (truth[i] == ignore_index) continue;
    STRATA_CHECK(truth[i] >= 0 && truth[i] < k_, "confusion matrix: true class ", truth[i], " outside [0, ", k_, ")");
    STRATA_CHECK(predicted[i] >= 0 && predicted[i] < k_, "confusion matrix: predicted class ", predicted[i],
                 " outside [0, ", k_, ")");
    ++m_[size_t(truth[i] * k_ + predicted[i])];
  }
}

void ConfusionMatrix::add(const std::vector<int64_t>& truth, const std::vector<int64_t>& predicted,
                          int64_t ignore_index) {
  STRATA_CHECK(truth.size() == predicted.size(), "confusion matrix: ", truth.size(), " labels but ", predicted.size(),
               " predictions");
  add(truth.data(), predicted.data(), int64_t(truth.size()), ignore_index);
}

void ConfusionMatrix::merge(const ConfusionMatrix& o) {
  STRATA_CHECK(o.k_ == k_, "confusion matrix: cannot merge ", o.k_, " classes into ", k_);
  for (size_t i = 0; i < m_.size(); ++i) m_[i] += o.m_[i];
}

void ConfusionMatrix::sum_over_ranks() { dist::allreduce_sum(m_.data(), int64_t(m_.size())); }

int64_t ConfusionMatrix::total() const { return std::accumulate(m_.begin(), m_.end(), int64_t(0)); }

namespace {
double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }
}  // namespace

double ConfusionMatrix::accuracy() const {
  int64_t diag = 0;
  for (int64_t c = 0; c < k_; ++c) diag += count(c, c);
  return ratio(double(diag), double(total()));
}

int64_t ConfusionMatrix::true_count(int64_t c) const {
  int64_t n = 0;
  for (int64_t p = 0; p < k_; ++p) n += count(c, p);
  return n;
}

int64_t ConfusionMatrix::predicted_count(int64_t c) const {
  int64_t n = 0;
  for (int64_t t = 0; t < k_; ++t) n += count(t, c);
  return n;
}

double ConfusionMatrix::precision(int64_t c) const { return ratio(double(count(c, c)), double(predicted_count(c))); }

double ConfusionMatrix::recall(int64_t c) const { return ratio(double(count(c, c)), double(true_count(c))); }

double ConfusionMatrix::f1(int64_t c) const {
  const double p = precision(c), r = recall(c);
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

double ConfusionMatrix::iou(int64_t c) const {
  return ratio(double(count(c, c)), double(true_count(c) + predicted_count(c) - count(c, c)));
}

namespace {
// Mean of f(c) over the classes present in truth or prediction.
template <class F>
double mean_over_present(const ConfusionMatrix& m, F f) {
  double s = 0;
  int64_t n = 0;
  for (int64_t c = 0; c < m.classes(); ++c)
    if (m.true_count(c) + m.predicted_count(c) > 0) s += f(c), ++n;
  return n ? s / double(n) : 0.0;
}
}  // namespace

double ConfusionMatrix::mean_iou() const {
  return mean_over_present(*this, [&](int64_t c) { return iou(c); });
}

double ConfusionMatrix::f1_macro() const {
  return mean_over_present(*this, [&](int64_t c) { return f1(c); });
}

double ConfusionMatrix::precision_macro() const {
  return mean_over_present(*this, [&](int64_t c) { return precision(c); });
}

double ConfusionMatrix::recall_macro() const {
  return mean_over_present(*this, [&](int64_t c) { return recall(c); });
}

double ConfusionMatrix::f1_weighted() const {
  double s = 0;
  int64_t n = 0;
  for (int64_t c = 0; c < k_; ++c) {
    s += f1(c) * double(true_count(c));
    n += true_count(c);
  }
  return ratio(s, double(n));
}

double ConfusionMatrix::f1_micro() const { return accuracy(); }

double ConfusionMatrix::tpr() const {
  STRATA_CHECK(k_ == 2, "tpr: needs two classes, the matrix has ", k_);
  return recall(1);
}

double ConfusionMatrix::tnr() const {
  STRATA_CHECK(k_ == 2, "tnr: needs two classes, the matrix has ", k_);
  return recall(0);
}

double ConfusionMatrix::adjacent_accuracy(const std::vector<std::vector<int64_t>>& adjacent) const {
  STRATA_CHECK(int64_t(adjacent.size()) == k_, "adjacent accuracy: needs one neighbour list per class (", k_,
               "), got ", adjacent.size());
  int64_t ok = 0;
  for (int64_t t = 0; t < k_; ++t)
    for (int64_t p = 0; p < k_; ++p) {
      const auto& near = adjacent[size_t(t)];
      if (p == t || std::find(near.begin(), near.end(), p) != near.end()) ok += count(t, p);
    }
  return ratio(double(ok), double(total()));
}

std::string ConfusionMatrix::str(const std::vector<std::string>& labels, char sep) const {
  auto label = [&](int64_t c) { return c < int64_t(labels.size()) ? labels[size_t(c)] : std::to_string(c); };
  std::ostringstream os;
  os << "truth \\ predicted";
  for (int64_t p = 0; p < k_; ++p) os << sep << label(p);
  os << "\n";
  for (int64_t t = 0; t < k_; ++t) {
    os << label(t);
    for (int64_t p = 0; p < k_; ++p) os << sep << count(t, p);
    os << "\n";
  }
  return os.str();
}

double roc_auc(const std::vector<double>& scores, const std::vector<int64_t>& labels) {
  STRATA_CHECK(scores.size() == labels.size(), "roc_auc: ", scores.size(), " scores but ", labels.size(), " labels");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;
  int64_t pos = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double rank = 0.5 * double(i + 1 + j);  // mean of ranks i+1 .. j
    for (size_t k = i; k < j; ++k)
      if (labels[order[k]] == 1) rank_sum += rank, ++pos;
    i = j;
  }
  const int64_t neg = int64_t(scores.size()) - pos;
  if (pos == 0 || neg == 0) return std::nan("");
  return (rank_sum - double(pos) * double(pos + 1) / 2) / (double(pos) * double(neg));
}

}  // namespace strata
