// Scalar definitions of the activations and their derivatives, shared by the
// CPU and CUDA kernels. fwd(x) gives y; bwd(x, y, gy) gives dL/dx from the
// input, the output and dL/dy (each activation reads what it needs).
#pragma once

#include <cmath>

#include "kernels/nn_desc.h"
#include "kernels/op_kinds.h"

namespace strata::act {

struct Relu {
  template <class T> STRATA_HD T fwd(T x) const { return x > T(0) ? x : T(0); }
  template <class T> STRATA_HD T bwd(T x, T, T gy) const { return x > T(0) ? gy : T(0); }
};
struct LeakyRelu {
  double slope;
  template <class T> STRATA_HD T fwd(T x) const { return x > T(0) ? x : T(slope) * x; }
  template <class T> STRATA_HD T bwd(T x, T, T gy) const { return x > T(0) ? gy : T(slope) * gy; }
};
struct Relu6 {
  template <class T> STRATA_HD T fwd(T x) const { return x < T(0) ? T(0) : (x > T(6) ? T(6) : x); }
  template <class T> STRATA_HD T bwd(T x, T, T gy) const { return x > T(0) && x < T(6) ? gy : T(0); }
};
struct Elu {
  double alpha;
  template <class T> STRATA_HD T fwd(T x) const { return x > T(0) ? x : T(alpha) * (std::exp(x) - T(1)); }
  template <class T> STRATA_HD T bwd(T x, T y, T gy) const { return x > T(0) ? gy : gy * (y + T(alpha)); }
};
// Stable for any x: exp of a non-positive number only.
struct Sigmoid {
  template <class T> STRATA_HD T fwd(T x) const {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
  template <class T> STRATA_HD T bwd(T, T y, T gy) const { return gy * y * (T(1) - y); }
};
struct Tanh {
  template <class T> STRATA_HD T fwd(T x) const { return std::tanh(x); }
  template <class T> STRATA_HD T bwd(T, T y, T gy) const { return gy * (T(1) - y * y); }
};
// softplus(x) = log(1 + exp(beta x)) / beta, linear where beta x > threshold.
struct Softplus {
  double beta, threshold;
  template <class T> STRATA_HD T fwd(T x) const {
    const T bx = T(beta) * x;
    if (bx > T(threshold)) return x;
    return (bx > T(0) ? bx + std::log1p(std::exp(-bx)) : std::log1p(std::exp(bx))) / T(beta);
  }
  template <class T> STRATA_HD T bwd(T x, T, T gy) const {
    const T bx = T(beta) * x;
    if (bx > T(threshold)) return gy;
    return gy * Sigmoid{}.fwd(bx);
  }
};

// silu(x) = x sigmoid(x) (also called swish); d/dx = s (1 + x (1 - s)), s = sigmoid(x).
struct Silu {
  template <class T> STRATA_HD T fwd(T x) const { return x * Sigmoid{}.fwd(x); }
  template <class T> STRATA_HD T bwd(T x, T, T gy) const {
    const T s = Sigmoid{}.fwd(x);
    return gy * s * (T(1) + x * (T(1) - s));
  }
};

template <class F>
STRATA_HD inline void visit(Activation a, ActParams p, F&& f) {
  switch (a) {
    case Activation::relu: f(Relu{}); break;
    case Activation::leaky_relu: f(LeakyRelu{p.alpha}); break;
    case Activation::relu6: f(Relu6{}); break;
    case Activation::elu: f(Elu{p.alpha}); break;
    case Activation::sigmoid: f(Sigmoid{}); break;
    case Activation::tanh: f(Tanh{}); break;
    case Activation::softplus: f(Softplus{p.alpha, p.threshold}); break;
    case Activation::silu: f(Silu{}); break;
  }
}

}  // namespace strata::act
