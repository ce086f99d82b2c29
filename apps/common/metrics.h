// Classification and segmentation metrics over integer labels.
//
// A ConfusionMatrix counts (truth, prediction) pairs of K classes; everything
// else derives from it: accuracy, per-class IoU and F1, precision / recall / F1
// averaged micro / macro / weighted, and for two classes the true-positive and
// true-negative rates. Classes absent from both truth and prediction are left
// out of macro averages (as scikit-learn does with labels=present classes).
// roc_auc() ranks scores (ties get the average rank, Mann-Whitney U).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace strata {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes);
  // Adds n pairs; a truth equal to ignore_index is skipped; values outside
  // [0, classes) are errors naming the value.
  void add(const int64_t* truth, const int64_t* predicted, int64_t n, int64_t ignore_index = -100);
  void add(const std::vector<int64_t>& truth, const std::vector<int64_t>& predicted, int64_t ignore_index = -100);
  void merge(const ConfusionMatrix& other);
  // Data-parallel evaluation: each rank counts its part of the data, then the
  // counts are summed over the ranks (no-op on one process), so every metric
  // equals the one-process evaluation's.
  void sum_over_ranks();

  int64_t classes() const { return k_; }
  int64_t count(int64_t truth, int64_t predicted) const { return m_[size_t(truth * k_ + predicted)]; }
  int64_t total() const;
  int64_t true_count(int64_t c) const;       // row sum: samples whose truth is c
  int64_t predicted_count(int64_t c) const;  // column sum: samples predicted as c

  double accuracy() const;
  double precision(int64_t c) const;
  double recall(int64_t c) const;
  double f1(int64_t c) const;
  double iou(int64_t c) const;
  double mean_iou() const;  // over classes present in truth or prediction
  double f1_macro() const;
  double f1_weighted() const;  // weighted by each class's true count
  double f1_micro() const;     // equals accuracy for single-label data
  double precision_macro() const;
  double recall_macro() const;
  // Two-class rates with class 1 positive.
  double tpr() const;
  double tnr() const;
  // Accuracy that also accepts a prediction within `adjacent[truth]` (the SEG
  // 2016 facies contest's "adjacent facies" score).
  double adjacent_accuracy(const std::vector<std::vector<int64_t>>& adjacent) const;
  // Rows = truth, columns = prediction, with labels; cells separated by `sep`
  // (a tab for reading, ',' for a CSV file).
  std::string str(const std::vector<std::string>& labels = {}, char sep = '\t') const;

 private:
  int64_t k_;
  std::vector<int64_t> m_;
};

// Area under the ROC curve of `scores` for binary `labels` (1 positive);
// NaN when one class is missing.
double roc_auc(const std::vector<double>& scores, const std::vector<int64_t>& labels);

}  // namespace strata
