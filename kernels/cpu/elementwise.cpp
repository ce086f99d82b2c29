#include "kernels/cpu/elementwise.h"

#include "kernels/cpu/strided_loop.h"

namespace strata::cpu {
namespace {

// y = f(x) over one common shape; the all-contiguous case is a plain loop the
// compiler vectorises.
template <class X, class Y, class F>
void map1(F f, const X* x, const TensorDesc& xd, Y* y, const TensorDesc& yd) {
  for_each_run<2>(yd.shape, yd.ndim, {yd.strides, xd.strides}, [&](auto off, auto st, int64_t n) {
    Y* py = y + off[0];
    const X* px = x + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) py[i] = f(px[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) py[i * st[0]] = f(px[i * st[1]]);
    }
  });
}

// y = f(a, b), with fast paths for contiguous operands and for one operand
// broadcast along the run (stride 0).
template <class T, class Y, class F>
void map2(F f, const T* a, const TensorDesc& ad, const T* b, const TensorDesc& bd, Y* y, const TensorDesc& yd) {
  for_each_run<3>(yd.shape, yd.ndim, {yd.strides, ad.strides, bd.strides}, [&](auto off, auto st, int64_t n) {
    Y* py = y + off[0];
    const T* pa = a + off[1];
    const T* pb = b + off[2];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
      const T bv = pb[0];
      for (int64_t i = 0; i < n; ++i) py[i] = f(pa[i], bv);
    } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
      const T av = pa[0];
      for (int64_t i = 0; i < n; ++i) py[i] = f(av, pb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) py[i * st[0]] = f(pa[i * st[1]], pb[i * st[2]]);
    }
  });
}

}  // namespace

template <class T>
void unary(UnaryOp op, UnaryParams p, const T* x, const TensorDesc& xd, T* y, const TensorDesc& yd) {
  visit_unary(op, p, [&](auto f) { map1(f, x, xd, y, yd); });
}

template <class T>
void binary(BinaryOp op, const T* a, const TensorDesc& ad, const T* b, const TensorDesc& bd, T* y,
            const TensorDesc& yd) {
  visit_binary(op, [&](auto f) { map2(f, a, ad, b, bd, y, yd); });
}

template <class T>
void compare(CompareOp op, const T* a, const TensorDesc& ad, const T* b, const TensorDesc& bd, uint8_t* y,
             const TensorDesc& yd) {
  visit_compare(op, [&](auto f) { map2(f, a, ad, b, bd, y, yd); });
}

template <class T>
void where(const uint8_t* c, const TensorDesc& cd, const T* a, const TensorDesc& ad, const T* b,
           const TensorDesc& bd, T* y, const TensorDesc& yd) {
  for_each_run<4>(yd.shape, yd.ndim, {yd.strides, cd.strides, ad.strides, bd.strides},
                  [&](auto off, auto st, int64_t n) {
                    for (int64_t i = 0; i < n; ++i)
                      y[off[0] + i * st[0]] = c[off[1] + i * st[1]] ? a[off[2] + i * st[2]] : b[off[3] + i * st[3]];
                  });
}

template <class Src, class Dst>
void copy(const Src* x, const TensorDesc& xd, Dst* y, const TensorDesc& yd) {
  map1([](Src v) { return static_cast<Dst>(v); }, x, xd, y, yd);
}

template <class T>
void fill(T value, T* y, const TensorDesc& yd) {
  for_each_run<1>(yd.shape, yd.ndim, {yd.strides}, [&](auto off, auto st, int64_t n) {
    T* py = y + off[0];
    for (int64_t i = 0; i < n; ++i) py[i * st[0]] = value;
  });
}

#define STRATA_INSTANTIATE_ARITH(T)                                                                          \
  template void unary<T>(UnaryOp, UnaryParams, const T*, const TensorDesc&, T*, const TensorDesc&);          \
  template void binary<T>(BinaryOp, const T*, const TensorDesc&, const T*, const TensorDesc&, T*,            \
                          const TensorDesc&);                                                                \
  template void compare<T>(CompareOp, const T*, const TensorDesc&, const T*, const TensorDesc&, uint8_t*,    \
                           const TensorDesc&);                                                               \
  template void where<T>(const uint8_t*, const TensorDesc&, const T*, const TensorDesc&, const T*,           \
                         const TensorDesc&, T*, const TensorDesc&);                                          \
  template void fill<T>(T, T*, const TensorDesc&);
STRATA_INSTANTIATE_ARITH(float)
STRATA_INSTANTIATE_ARITH(double)
STRATA_INSTANTIATE_ARITH(int32_t)
STRATA_INSTANTIATE_ARITH(int64_t)
STRATA_INSTANTIATE_ARITH(uint8_t)

#define STRATA_INSTANTIATE_COPY_TO(S)                                      \
  template void copy<S, float>(const S*, const TensorDesc&, float*, const TensorDesc&);     \
  template void copy<S, double>(const S*, const TensorDesc&, double*, const TensorDesc&);   \
  template void copy<S, int32_t>(const S*, const TensorDesc&, int32_t*, const TensorDesc&); \
  template void copy<S, int64_t>(const S*, const TensorDesc&, int64_t*, const TensorDesc&); \
  template void copy<S, uint8_t>(const S*, const TensorDesc&, uint8_t*, const TensorDesc&);
STRATA_INSTANTIATE_COPY_TO(float)
STRATA_INSTANTIATE_COPY_TO(double)
STRATA_INSTANTIATE_COPY_TO(int32_t)
STRATA_INSTANTIATE_COPY_TO(int64_t)
STRATA_INSTANTIATE_COPY_TO(uint8_t)

}  // namespace strata::cpu
