// The operation kinds kernels take (identical in every backend) and scalar
// definitions of every elementwise operation, shared by the CPU and
// CUDA kernels so both backends compute exactly the same formula.
// Each op is a small functor; STRATA_HD marks it callable on host and device.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define STRATA_HD __host__ __device__
#else
#define STRATA_HD
#endif

namespace strata {

enum class UnaryOp : uint8_t { neg, exp, log, sqrt, abs, sign, clamp, pow_scalar, relu_mask };
enum class BinaryOp : uint8_t { add, sub, mul, div, pow, maximum, minimum };
enum class CompareOp : uint8_t { eq, ne, lt, le, gt, ge };
enum class ReduceOp : uint8_t { sum, mean, max, min };
enum class ArgReduceOp : uint8_t { argmax, argmin };

// Scalar parameters of a unary op: clamp uses (lo, hi), pow_scalar uses lo as the exponent.
struct UnaryParams {
  double lo = 0, hi = 0;
};

namespace ew {

template <class T> STRATA_HD inline T sign_of(T x) {
  if constexpr (std::is_unsigned_v<T>) return T(x != T(0));
  else return T((T(0) < x) - (x < T(0)));
}

struct Neg { template <class T> STRATA_HD T operator()(T x) const { return T(-x); } };
struct Exp { template <class T> STRATA_HD T operator()(T x) const { return std::exp(x); } };
struct Log { template <class T> STRATA_HD T operator()(T x) const { return std::log(x); } };
struct Sqrt { template <class T> STRATA_HD T operator()(T x) const { return std::sqrt(x); } };
struct Abs {
  template <class T> STRATA_HD T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T>) return x;
    else return x < T(0) ? T(-x) : x;
  }
};
struct Sign { template <class T> STRATA_HD T operator()(T x) const { return sign_of(x); } };
// NaN passes through clamp unchanged, as in PyTorch.
struct Clamp {
  double lo, hi;
  template <class T> STRATA_HD T operator()(T x) const {
    return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x);
  }
};
struct PowScalar {
  double p;
  template <class T> STRATA_HD T operator()(T x) const {
    if (p == 2) return x * x;
    if (p == 1) return x;
    return T(std::pow(x, T(p)));
  }
};
// 1 where x > 0, else 0: the derivative of max(x, 0).
struct ReluMask { template <class T> STRATA_HD T operator()(T x) const { return x > T(0) ? T(1) : T(0); } };

struct Add { template <class T> STRATA_HD T operator()(T a, T b) const { return T(a + b); } };
struct Sub { template <class T> STRATA_HD T operator()(T a, T b) const { return T(a - b); } };
struct Mul { template <class T> STRATA_HD T operator()(T a, T b) const { return T(a * b); } };
struct Div { template <class T> STRATA_HD T operator()(T a, T b) const { return T(a / b); } };
struct Pow { template <class T> STRATA_HD T operator()(T a, T b) const { return T(std::pow(a, b)); } };
// maximum / minimum propagate NaN from either side, as in PyTorch.
struct Maximum {
  template <class T> STRATA_HD T operator()(T a, T b) const { return (a != a || a > b) ? a : b; }
};
struct Minimum {
  template <class T> STRATA_HD T operator()(T a, T b) const { return (a != a || a < b) ? a : b; }
};

struct Eq { template <class T> STRATA_HD uint8_t operator()(T a, T b) const { return a == b; } };
struct Ne { template <class T> STRATA_HD uint8_t operator()(T a, T b) const { return a != b; } };
struct Lt { template <class T> STRATA_HD uint8_t operator()(T a, T b) const { return a < b; } };
struct Le { template <class T> STRATA_HD uint8_t operator()(T a, T b) const { return a <= b; } };
struct Gt { template <class T> STRATA_HD uint8_t operator()(T a, T b) const { return a > b; } };
struct Ge { template <class T> STRATA_HD uint8_t operator()(T a, T b) const { return a >= b; } };

}  // namespace ew

// visit_unary(op, params, f) calls f(functor) with the functor of op.
template <class F>
STRATA_HD inline void visit_unary(UnaryOp op, UnaryParams p, F&& f) {
  switch (op) {
    case UnaryOp::neg: f(ew::Neg{}); break;
    case UnaryOp::exp: f(ew::Exp{}); break;
    case UnaryOp::log: f(ew::Log{}); break;
    case UnaryOp::sqrt: f(ew::Sqrt{}); break;
    case UnaryOp::abs: f(ew::Abs{}); break;
    case UnaryOp::sign: f(ew::Sign{}); break;
    case UnaryOp::clamp: f(ew::Clamp{p.lo, p.hi}); break;
    case UnaryOp::pow_scalar: f(ew::PowScalar{p.lo}); break;
    case UnaryOp::relu_mask: f(ew::ReluMask{}); break;
  }
}

template <class F>
STRATA_HD inline void visit_binary(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add: f(ew::Add{}); break;
    case BinaryOp::sub: f(ew::Sub{}); break;
    case BinaryOp::mul: f(ew::Mul{}); break;
    case BinaryOp::div: f(ew::Div{}); break;
    case BinaryOp::pow: f(ew::Pow{}); break;
    case BinaryOp::maximum: f(ew::Maximum{}); break;
    case BinaryOp::minimum: f(ew::Minimum{}); break;
  }
}

template <class F>
STRATA_HD inline void visit_compare(CompareOp op, F&& f) {
  switch (op) {
    case CompareOp::eq: f(ew::Eq{}); break;
    case CompareOp::ne: f(ew::Ne{}); break;
    case CompareOp::lt: f(ew::Lt{}); break;
    case CompareOp::le: f(ew::Le{}); break;
    case CompareOp::gt: f(ew::Gt{}); break;
    case CompareOp::ge: f(ew::Ge{}); break;
  }
}

}  // namespace strata
