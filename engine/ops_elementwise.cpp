// Elementwise ops: forward through Backend::unary / binary / compare / where,
// each op's backward rule beside it.
#include "engine/op_util.h"

namespace strata {

using namespace detail;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    STRATA_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                 " cannot be broadcast (dimension ", int64_t(i) - int64_t(n), ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

bool float_only(UnaryOp op) {
  return op == UnaryOp::exp || op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::pow_scalar;
}

Tensor unary_forward(const char* name, UnaryOp op, const Tensor& x, UnaryParams p = {}) {
  if (float_only(op)) check_floating(name, x);
  Tensor y = make_tensor(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).unary(x.dtype(), op, p, x.raw_data(), x.desc(), y.raw_data(), y.desc());
  return y;
}

Tensor binary_forward(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  check_same_device(name, a, b);
  check_same_dtype(name, a, b);
  if (op == BinaryOp::div || op == BinaryOp::pow) check_floating(name, a);
  const Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor y = make_tensor(s, a.dtype(), a.device());
  const Tensor ea = raw_expand(a, s), eb = raw_expand(b, s);
  backend_for(a.device()).binary(a.dtype(), op, ea.raw_data(), ea.desc(), eb.raw_data(), eb.desc(), y.raw_data(),
                                 y.desc());
  return y;
}

Tensor compare_forward(const char* name, CompareOp op, const Tensor& a, const Tensor& b) {
  check_same_device(name, a, b);
  check_same_dtype(name, a, b);
  const Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor y = make_tensor(s, DType::u8, a.device());
  const Tensor ea = raw_expand(a, s), eb = raw_expand(b, s);
  backend_for(a.device()).compare(a.dtype(), op, ea.raw_data(), ea.desc(), eb.raw_data(), eb.desc(),
                                  y.data<uint8_t>(), y.desc());
  if (tracing()) trace_record(name, {a, b}, y);  // not differentiable, but an exported graph may branch on it
  return y;
}

Tensor scalar_like(double v, const Tensor& x) { return Tensor::scalar(v, x.dtype(), x.device()); }

// A 0/1 mask in x's floating dtype.
Tensor as_mask(const Tensor& m, const Tensor& like) { return m.to(like.dtype()); }

}  // namespace

// ---- binary --------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  return record("add", binary_forward("add", BinaryOp::add, a, b), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads { return {sum_to(g, sa), sum_to(g, sb)}; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record("sub", binary_forward("sub", BinaryOp::sub, a, b), {a, b},
                [sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads {
                  return {sum_to(g, sa), sum_to(neg(g), sb)};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return record("mul", binary_forward("mul", BinaryOp::mul, a, b), {a, b},
                [sa = Saved(a), sb = Saved(b)](const Tensor& g) -> Grads {
                  const Tensor &x = sa.get(), &y = sb.get();
                  return {sum_to(mul(g, y), x.shape()), sum_to(mul(g, x), y.shape())};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("div", BinaryOp::div, a, b);
  return record("div", out, {a, b}, [sa = a.shape(), sb = Saved(b), so = Saved(out)](const Tensor& g) -> Grads {
    const Tensor &y = sb.get(), &q = so.get();
    const Tensor ga = div(g, y);
    return {sum_to(ga, sa), sum_to(neg(mul(ga, q)), y.shape())};  // d(a/b)/db = -(a/b)/b
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("pow", BinaryOp::pow, a, b);
  return record("pow", out, {a, b}, [sa = Saved(a), sb = Saved(b), so = Saved(out)](const Tensor& g) -> Grads {
    const Tensor &x = sa.get(), &p = sb.get(), &y = so.get();
    const Tensor ga = mul(g, mul(p, pow(x, sub(p, 1.0))));
    const Tensor gb = mul(g, mul(y, log(x)));
    return {sum_to(ga, x.shape()), sum_to(gb, p.shape())};
  });
}

namespace {
// maximum / minimum: the gradient goes to a where `a_wins` (a >= b or a <= b), else to b.
Tensor extremum(const char* name, BinaryOp op, CompareOp a_wins, const Tensor& a, const Tensor& b) {
  return record(name, binary_forward(name, op, a, b), {a, b},
                [name, sa = Saved(a), sb = Saved(b), a_wins](const Tensor& g) -> Grads {
                  const Tensor &x = sa.get(), &y = sb.get();
                  const Tensor take_a = as_mask(compare_forward(name, a_wins, x, y), g);
                  return {sum_to(mul(g, take_a), x.shape()), sum_to(mul(g, sub(1.0, take_a)), y.shape())};
                });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum("maximum", BinaryOp::maximum, CompareOp::ge, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum("minimum", BinaryOp::minimum, CompareOp::le, a, b); }

Tensor add(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor sub(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor sub(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor mul(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor div(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor div(double a, const Tensor& b) { return div(scalar_like(a, b), b); }

Tensor pow(const Tensor& a, double exponent) {
  if (tracing()) trace_attrs("pow", {{}, {{"exponent", {exponent}}}, {}});
  return record("pow", unary_forward("pow", UnaryOp::pow_scalar, a, {exponent, 0}), {a},
                [sa = Saved(a), exponent](const Tensor& g) -> Grads {
                  return {mul(g, mul(pow(sa.get(), exponent - 1), exponent))};
                });
}

// ---- unary -------------------------------------------------------------

Tensor neg(const Tensor& x) {
  return record("neg", unary_forward("neg", UnaryOp::neg, x), {x}, [](const Tensor& g) -> Grads { return {neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor y = unary_forward("exp", UnaryOp::exp, x);
  return record("exp", y, {x}, [sy = Saved(y)](const Tensor& g) -> Grads { return {mul(g, sy.get())}; });
}

Tensor log(const Tensor& x) {
  return record("log", unary_forward("log", UnaryOp::log, x), {x},
                [sx = Saved(x)](const Tensor& g) -> Grads { return {div(g, sx.get())}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_forward("sqrt", UnaryOp::sqrt, x);
  return record("sqrt", y, {x}, [sy = Saved(y)](const Tensor& g) -> Grads { return {div(g, mul(sy.get(), 2.0))}; });
}

Tensor abs(const Tensor& x) {
  return record("abs", unary_forward("abs", UnaryOp::abs, x), {x},
                [sx = Saved(x)](const Tensor& g) -> Grads { return {mul(g, sign(sx.get()))}; });
}

Tensor sign(const Tensor& x) { return unary_forward("sign", UnaryOp::sign, x); }
Tensor relu_mask(const Tensor& x) { return unary_forward("relu_mask", UnaryOp::relu_mask, x); }

Tensor clamp(const Tensor& x, double lo, double hi) {
  STRATA_CHECK(lo <= hi, "clamp: lower bound ", lo, " is above upper bound ", hi);
  if (tracing()) trace_attrs("clamp", {{}, {{"min", {lo}}, {"max", {hi}}}, {}});
  return record("clamp", unary_forward("clamp", UnaryOp::clamp, x, {lo, hi}), {x},
                [sx = Saved(x), lo, hi](const Tensor& g) -> Grads {
                  const Tensor& v = sx.get();
                  return {mul(g, as_mask(mul(ge(v, lo), le(v, hi)), g))};
                });
}

// ---- comparisons and where -----------------------------------------------

Tensor eq(const Tensor& a, const Tensor& b) { return compare_forward("eq", CompareOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare_forward("ne", CompareOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare_forward("lt", CompareOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare_forward("le", CompareOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare_forward("gt", CompareOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare_forward("ge", CompareOp::ge, a, b); }
Tensor eq(const Tensor& a, double b) { return eq(a, scalar_like(b, a)); }
Tensor ne(const Tensor& a, double b) { return ne(a, scalar_like(b, a)); }
Tensor lt(const Tensor& a, double b) { return lt(a, scalar_like(b, a)); }
Tensor le(const Tensor& a, double b) { return le(a, scalar_like(b, a)); }
Tensor gt(const Tensor& a, double b) { return gt(a, scalar_like(b, a)); }
Tensor ge(const Tensor& a, double b) { return ge(a, scalar_like(b, a)); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  STRATA_CHECK(cond.dtype() == DType::u8, "where: condition must be u8 (from a comparison), got ", cond.dtype());
  check_same_device("where", cond, a);
  check_same_device("where", a, b);
  check_same_dtype("where", a, b);
  const Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor y = make_tensor(s, a.dtype(), a.device());
  const Tensor ec = raw_expand(cond, s), ea = raw_expand(a, s), eb = raw_expand(b, s);
  backend_for(a.device()).where(a.dtype(), ec.data<uint8_t>(), ec.desc(), ea.raw_data(), ea.desc(), eb.raw_data(),
                                eb.desc(), y.raw_data(), y.desc());
  if (tracing()) trace_attrs("where", {{}, {}, {cond}});
  return record("where", y, {a, b}, [sc = Saved(cond), sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads {
    const Tensor zero = Tensor::scalar(0, g.dtype(), g.device());
    return {sum_to(where(sc.get(), g, zero), sa), sum_to(where(sc.get(), zero, g), sb)};
  });
}

// ---- operators -----------------------------------------------------------

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }

}  // namespace strata
