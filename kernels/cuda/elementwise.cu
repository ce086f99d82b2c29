// Broadcasting elementwise kernels. The engine hands every operand as a view
// of the output's shape (stride 0 on broadcast dimensions); the host side
// coalesces dimensions, and a fully contiguous set takes the direct-index path.
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

template <class T, class F, bool Contig>
__global__ void unary_kernel(const T* __restrict__ x, TensorDesc xd, T* __restrict__ y, TensorDesc yd, int64_t n,
                             F f) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    if constexpr (Contig) y[i] = f(x[i]);
    else y[offset_of(i, yd)] = f(x[offset_of(i, xd)]);
  }
}

template <class T, class R, class F, bool Contig>
__global__ void binary_kernel(const T* __restrict__ a, TensorDesc ad, const T* __restrict__ b, TensorDesc bd,
                              R* __restrict__ y, TensorDesc yd, int64_t n, F f) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    if constexpr (Contig) y[i] = f(a[i], b[i]);
    else y[offset_of(i, yd)] = f(a[offset_of(i, ad)], b[offset_of(i, bd)]);
  }
}

template <class T>
__global__ void where_kernel(const uint8_t* __restrict__ c, TensorDesc cd, const T* __restrict__ a, TensorDesc ad,
                             const T* __restrict__ b, TensorDesc bd, T* __restrict__ y, TensorDesc yd, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    y[offset_of(i, yd)] = c[offset_of(i, cd)] ? a[offset_of(i, ad)] : b[offset_of(i, bd)];
}

template <class Src, class Dst, bool Contig>
__global__ void copy_kernel(const Src* __restrict__ x, TensorDesc xd, Dst* __restrict__ y, TensorDesc yd, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    if constexpr (Contig) y[i] = Dst(x[i]);
    else y[offset_of(i, yd)] = Dst(x[offset_of(i, xd)]);
  }
}

template <class T>
__global__ void fill_kernel(T value, T* __restrict__ y, TensorDesc yd, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) y[offset_of(i, yd)] = value;
}

// Host-side switch from the op enum to its functor (kernels/op_kinds.h).
template <class T, class Launch>
cudaError_t with_unary(UnaryOp op, UnaryParams p, Launch&& go) {
  switch (op) {
    case UnaryOp::neg: return go(ew::Neg{});
    case UnaryOp::abs: return go(ew::Abs{});
    case UnaryOp::sign: return go(ew::Sign{});
    case UnaryOp::clamp: return go(ew::Clamp{p.lo, p.hi});
    case UnaryOp::relu_mask: return go(ew::ReluMask{});
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {  // the engine allows these on floating dtypes only
    switch (op) {
      case UnaryOp::exp: return go(ew::Exp{});
      case UnaryOp::log: return go(ew::Log{});
      case UnaryOp::sqrt: return go(ew::Sqrt{});
      case UnaryOp::pow_scalar: return go(ew::PowScalar{p.lo});
      default: break;
    }
  }
  return cudaErrorInvalidValue;
}

template <class T, class Launch>
cudaError_t with_binary(BinaryOp op, Launch&& go) {
  switch (op) {
    case BinaryOp::add: return go(ew::Add{});
    case BinaryOp::sub: return go(ew::Sub{});
    case BinaryOp::mul: return go(ew::Mul{});
    case BinaryOp::div: return go(ew::Div{});
    case BinaryOp::maximum: return go(ew::Maximum{});
    case BinaryOp::minimum: return go(ew::Minimum{});
    case BinaryOp::pow:
      if constexpr (std::is_floating_point_v<T>) return go(ew::Pow{});
      break;
  }
  return cudaErrorInvalidValue;
}

template <class Launch>
cudaError_t with_compare(CompareOp op, Launch&& go) {
  switch (op) {
    case CompareOp::eq: return go(ew::Eq{});
    case CompareOp::ne: return go(ew::Ne{});
    case CompareOp::lt: return go(ew::Lt{});
    case CompareOp::le: return go(ew::Le{});
    case CompareOp::gt: return go(ew::Gt{});
    case CompareOp::ge: return go(ew::Ge{});
  }
  return cudaErrorInvalidValue;
}

template <class T, class R, class F>
cudaError_t launch_binary(const T* a, TensorDesc ad, const T* b, TensorDesc bd, R* y, TensorDesc yd, F f) {
  const int64_t n = yd.numel();
  if (n == 0) return cudaGetLastError();
  TensorDesc d[3] = {yd, ad, bd};
  coalesce(d, 3);
  const bool contig = is_contiguous_1d(d[0]) && is_contiguous_1d(d[1]) && is_contiguous_1d(d[2]);
  if (contig) launch(binary_kernel<T, R, F, true>, grid_for(n), kThreads, 0, nullptr, a, d[1], b, d[2], y, d[0], n, f);
  else launch(binary_kernel<T, R, F, false>, grid_for(n), kThreads, 0, nullptr, a, d[1], b, d[2], y, d[0], n, f);
  return cudaGetLastError();
}

}  // namespace

template <class T>
cudaError_t unary(UnaryOp op, UnaryParams p, const T* x, TensorDesc xd, T* y, TensorDesc yd) {
  return with_unary<T>(op, p, [&](auto f) {
    const int64_t n = yd.numel();
    if (n == 0) return cudaGetLastError();
    TensorDesc d[2] = {yd, xd};
    coalesce(d, 2);
    using F = decltype(f);
    if (is_contiguous_1d(d[0]) && is_contiguous_1d(d[1]))
      launch(unary_kernel<T, F, true>, grid_for(n), kThreads, 0, nullptr, x, d[1], y, d[0], n, f);
    else
      launch(unary_kernel<T, F, false>, grid_for(n), kThreads, 0, nullptr, x, d[1], y, d[0], n, f);
    return cudaGetLastError();
  });
}

template <class T>
cudaError_t binary(BinaryOp op, const T* a, TensorDesc ad, const T* b, TensorDesc bd, T* y, TensorDesc yd) {
  return with_binary<T>(op, [&](auto f) { return launch_binary<T, T>(a, ad, b, bd, y, yd, f); });
}

template <class T>
cudaError_t compare(CompareOp op, const T* a, TensorDesc ad, const T* b, TensorDesc bd, uint8_t* y, TensorDesc yd) {
  return with_compare(op, [&](auto f) { return launch_binary<T, uint8_t>(a, ad, b, bd, y, yd, f); });
}

template <class T>
cudaError_t where(const uint8_t* c, TensorDesc cd, const T* a, TensorDesc ad, const T* b, TensorDesc bd, T* y,
                  TensorDesc yd) {
  const int64_t n = yd.numel();
  if (n == 0) return cudaGetLastError();
  TensorDesc d[4] = {yd, cd, ad, bd};
  coalesce(d, 4);
  launch(where_kernel<T>, grid_for(n), kThreads, 0, nullptr, c, d[1], a, d[2], b, d[3], y, d[0], n);
  return cudaGetLastError();
}

template <class Src, class Dst>
cudaError_t copy(const Src* x, TensorDesc xd, Dst* y, TensorDesc yd) {
  const int64_t n = yd.numel();
  if (n == 0) return cudaGetLastError();
  TensorDesc d[2] = {yd, xd};
  coalesce(d, 2);
  if (is_contiguous_1d(d[0]) && is_contiguous_1d(d[1]))
    launch(copy_kernel<Src, Dst, true>, grid_for(n), kThreads, 0, nullptr, x, d[1], y, d[0], n);
  else
    launch(copy_kernel<Src, Dst, false>, grid_for(n), kThreads, 0, nullptr, x, d[1], y, d[0], n);
  return cudaGetLastError();
}

template <class T>
cudaError_t fill(T value, T* y, TensorDesc yd) {
  const int64_t n = yd.numel();
  if (n == 0) return cudaGetLastError();
  TensorDesc d[1] = {yd};
  coalesce(d, 1);
  launch(fill_kernel<T>, grid_for(n), kThreads, 0, nullptr, value, y, d[0], n);
  return cudaGetLastError();
}

#define STRATA_CUDA_EW(T)                                                                                     \
  template cudaError_t unary<T>(UnaryOp, UnaryParams, const T*, TensorDesc, T*, TensorDesc);                 \
  template cudaError_t binary<T>(BinaryOp, const T*, TensorDesc, const T*, TensorDesc, T*, TensorDesc);      \
  template cudaError_t compare<T>(CompareOp, const T*, TensorDesc, const T*, TensorDesc, uint8_t*, TensorDesc); \
  template cudaError_t where<T>(const uint8_t*, TensorDesc, const T*, TensorDesc, const T*, TensorDesc, T*,  \
                                TensorDesc);                                                                 \
  template cudaError_t fill<T>(T, T*, TensorDesc);                                                           \
  template cudaError_t copy<T, float>(const T*, TensorDesc, float*, TensorDesc);                             \
  template cudaError_t copy<T, double>(const T*, TensorDesc, double*, TensorDesc);                           \
  template cudaError_t copy<T, int32_t>(const T*, TensorDesc, int32_t*, TensorDesc);                         \
  template cudaError_t copy<T, int64_t>(const T*, TensorDesc, int64_t*, TensorDesc);                         \
  template cudaError_t copy<T, uint8_t>(const T*, TensorDesc, uint8_t*, TensorDesc);
STRATA_CUDA_EW(float)
STRATA_CUDA_EW(double)
STRATA_CUDA_EW(int32_t)
STRATA_CUDA_EW(int64_t)
STRATA_CUDA_EW(uint8_t)

}  // namespace strata::cuda
