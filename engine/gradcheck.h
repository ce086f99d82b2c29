// Numerical gradient checking (GUIDE section 4, after Caffe's
// test_gradient_check_util): compares the analytic gradient from backward()
// with central differences, in double precision.
//
// The scalar checked is L = sum(f(inputs) * w) with a fixed random w, so every
// output element contributes with its own weight. For each input element,
//   numeric = (L(x + h) - L(x - h)) / 2h
// and the check passes when |analytic - numeric| <= tol * max(|a|, |n|, 1).
// Kinks (ReLU at 0, abs at 0, ties in max): a point where the one-sided
// slopes (L(x+h) - L(x)) / h and (L(x) - L(x-h)) / h differ by more than
// kink_tol * max(|slopes|, 1) is not differentiable there and is skipped; the
// check fails if more than max_kink_fraction of the points are skipped.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace strata {

struct GradCheckOptions {
  double step = 1e-6;  // 1e-2 for float inputs
  double tol = 1e-5;
  double kink_tol = 1e-3;
  double max_kink_fraction = 0.1;
  uint64_t seed = 1234;

  // Settings for float32 inputs: a larger step, and a kink threshold above
  // the curvature term (about step * f'') of one-sided slopes.
  static GradCheckOptions for_float() {
    GradCheckOptions o;
    o.step = 1e-2;
    o.tol = 1e-2;
    o.kink_tol = 0.2;
    return o;
  }
};

struct GradCheckResult {
  bool ok = true;
  int64_t checked = 0, skipped_kinks = 0;
  double max_error = 0;  // of |a - n| / max(|a|, |n|, 1)
  std::string message;   // the first failure, naming input and element
};

using GradCheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// inputs: leaves (floating point); those with requires_grad are checked.
GradCheckResult gradcheck(const GradCheckFn& f, const std::vector<Tensor>& inputs,
                          const GradCheckOptions& options = {});

}  // namespace strata
