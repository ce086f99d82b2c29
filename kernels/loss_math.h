// Scalar definitions of the fused losses, shared by the CPU and CUDA kernels
// (kernels/cpu/loss.cpp, kernels/cuda/loss.cu) so that both compute the same
// formulas; the kernels differ only in how they walk the data.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/op_kinds.h"

namespace strata::losses {

// The weight of a cross-entropy position with target t: 0 when ignored, else
// its class weight (1 without class weights).
template <class T>
STRATA_HD T ce_weight(int64_t t, const T* class_weight, int64_t ignore_index) {
  if (t == ignore_index) return T(0);
  return class_weight ? class_weight[t] : T(1);
}

// BCE-with-logits factor of the positive term, 1 + (pos_weight - 1) t (1 without pos_weight).
template <class T>
STRATA_HD T pos_factor(const T* pos_weight, int64_t i, T t) {
  return pos_weight ? T(1) + (pos_weight[i] - T(1)) * t : T(1);
}

// (1 - t) x + lw softplus(-x), softplus(-x) = log(1 + e^-|x|) + max(-x, 0): finite for any x.
template <class T>
STRATA_HD T bce_with_logits(T x, T t, T lw) {
  const T softplus_neg = std::log1p(std::exp(-std::abs(x))) + (x < T(0) ? -x : T(0));
  return (T(1) - t) * x + lw * softplus_neg;
}

// d/dx of bce_with_logits: (1 - t) - lw sigmoid(-x); sigmoid(-x) is 0 or 1 at the extremes, never NaN.
template <class T>
STRATA_HD T bce_with_logits_grad(T x, T t, T lw) {
  return (T(1) - t) - lw / (T(1) + std::exp(x));
}

}  // namespace strata::losses
