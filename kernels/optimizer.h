// Per-element optimizer updates shared by the CPU and CUDA kernels, so the
// fused update is written once. Each function updates one parameter element
// in place together with its state; the formulas are PyTorch's (torch.optim),
// so a strata run and a PyTorch run with the same gradients agree.
#pragma once

#include <cmath>

#include "kernels/op_kinds.h"

namespace strata {

// Adam / AdamW. bias_correction1 = 1 - beta1^t, bias_correction2 = 1 - beta2^t
// for step t (1-based). decoupled (AdamW): p -= lr * wd * p before the step;
// otherwise (Adam) weight decay is L2, added to the gradient.
struct AdamParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double bias_correction1 = 1, bias_correction2 = 1;
  bool decoupled = false;
  // A step replayed from a CUDA graph (layers/graphed_step.h): when set, lr / bias_correction1,
  // sqrt(bias_correction2) and lr * weight_decay are read, in the parameter's type, from these three device
  // values when the update runs, so that each replay uses its own step's rate and bias corrections.
  const void* device_coefficients = nullptr;
};

// SGD with momentum (dampening, Nesterov) and L2 weight decay. first_step:
// the momentum buffer is initialised with the gradient, as PyTorch does.
struct SgdParams {
  double lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, first_step = false;
  // A step replayed from a CUDA graph: when set, the rate is read from this device value (the parameter's type).
  const void* device_lr = nullptr;
};

// The step's constants in the parameter's type, computed once per update
// rather than per element (the per-element rule then vectorises cleanly).
template <class T>
struct AdamCoefficients {
  T lr_bc1, beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_bc2, eps, weight_decay, lr_wd;
  bool decoupled;
};

template <class T>
STRATA_HD inline AdamCoefficients<T> adam_coefficients(const AdamParams& a) {
  return {T(a.lr / a.bias_correction1), T(a.beta1), T(1 - a.beta1), T(a.beta2), T(1 - a.beta2),
          T(std::sqrt(a.bias_correction2)), T(a.eps), T(a.weight_decay), T(a.lr * a.weight_decay), a.decoupled};
}

template <class T>
STRATA_HD inline void adam_element(const AdamCoefficients<T>& c, T& p, T g, T& m, T& v) {
  if (c.decoupled) p -= c.lr_wd * p;
  else g += c.weight_decay * p;
  m = c.beta1 * m + c.one_minus_beta1 * g;
  v = c.beta2 * v + c.one_minus_beta2 * g * g;
  const T denom = std::sqrt(v) / c.sqrt_bc2 + c.eps;
  p -= c.lr_bc1 * m / denom;
}

template <class T>
STRATA_HD inline void sgd_element(const SgdParams& s, T& p, T g, T& buf) {
  g += T(s.weight_decay) * p;
  if (s.momentum != 0) {
    buf = s.first_step ? g : T(s.momentum) * buf + T(1 - s.dampening) * g;
    g = s.nesterov ? g + T(s.momentum) * buf : buf;
  }
  p -= T(s.lr) * g;
}

}  // namespace strata
