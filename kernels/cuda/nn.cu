// CUDA kernels of the neural-network ops (geometry in kernels/nn_desc.h).
// Every kernel writes each output element from exactly one thread, and the
// backward passes gather (each input element sums what it contributed to, in
// a fixed order) instead of scattering with atomics: deterministic results.
#include "kernels/activation.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

template <class T>
__global__ void im2col_kernel(ConvGeom g, const T* __restrict__ x, int64_t n0, int64_t nb, T* __restrict__ cols) {
  const int64_t P = g.OH * g.OW, total = nb * g.C * g.R * g.S * P;
  STRATA_GRID_STRIDE(i, total) {
    const int64_t ow = i % g.OW, oh = (i / g.OW) % g.OH, row = i / P;
    const int64_t s = row % g.S, r = (row / g.S) % g.R, c = (row / (g.S * g.R)) % g.C, nl = row / (g.S * g.R * g.C);
    const int64_t ih = oh * g.stride_h - g.pad_h + r * g.dil_h, iw = ow * g.stride_w - g.pad_w + s * g.dil_w;
    cols[i] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x[(((n0 + nl) * g.C + c) * g.H + ih) * g.W + iw] : T(0);
  }
}

// Each input element sums the column entries that read it, kernel offsets in order.
template <class T>
__global__ void col2im_kernel(ConvGeom g, const T* __restrict__ cols, int64_t n0, int64_t nb, T* __restrict__ gx) {
  const int64_t P = g.OH * g.OW, total = nb * g.C * g.H * g.W;
  STRATA_GRID_STRIDE(i, total) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, c = (i / (g.W * g.H)) % g.C, nl = i / (g.W * g.H * g.C);
    T acc = 0;
    for (int64_t r = 0; r < g.R; ++r) {
      const int64_t th = h + g.pad_h - r * g.dil_h;
      if (th < 0 || th % g.stride_h != 0 || th / g.stride_h >= g.OH) continue;
      const int64_t oh = th / g.stride_h;
      for (int64_t s = 0; s < g.S; ++s) {
        const int64_t tw = w + g.pad_w - s * g.dil_w;
        if (tw < 0 || tw % g.stride_w != 0 || tw / g.stride_w >= g.OW) continue;
        acc += cols[((nl * g.C + c) * g.R * g.S + r * g.S + s) * P + oh * g.OW + tw / g.stride_w];
      }
    }
    gx[(n0 * g.C) * g.H * g.W + i] = acc;
  }
}

template <class T>
__global__ void max_pool_kernel(PoolGeom g, const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ idx) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  STRATA_GRID_STRIDE(i, total) {
    const int64_t ow = i % g.OW, oh = (i / g.OW) % g.OH, pc = i / (g.OW * g.OH);
    const T* xp = x + pc * g.H * g.W;
    T best = -INFINITY;
    int64_t arg = -1;
    for (int64_t r = 0; r < g.R; ++r) {
      const int64_t ih = oh * g.stride_h - g.pad_h + r;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t s = 0; s < g.S; ++s) {
        const int64_t iw = ow * g.stride_w - g.pad_w + s;
        if (iw < 0 || iw >= g.W) continue;
        const T v = xp[ih * g.W + iw];
        if (arg < 0 || (!is_nan(best) && (v > best || is_nan(v)))) {
          best = v;
          arg = ih * g.W + iw;
        }
      }
    }
    y[i] = best;
    idx[i] = arg;
  }
}

// Outputs whose window (start o * stride - pad, length k) contains input position p.
__host__ __device__ inline void windows_containing(int64_t p, int64_t k, int64_t stride, int64_t pad, int64_t out,
                                                   int64_t& lo, int64_t& hi) {
  const int64_t a = p + pad - k + 1;  // o * stride >= a
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  hi = (p + pad) / stride;  // o * stride <= p + pad
  if (hi > out - 1) hi = out - 1;
}

template <class T>
__global__ void max_pool_backward_kernel(PoolGeom g, const T* __restrict__ gy, const int64_t* __restrict__ idx,
                                         T* __restrict__ gx) {
  const int64_t total = g.N * g.C * g.H * g.W;
  STRATA_GRID_STRIDE(i, total) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, pc = i / (g.W * g.H);
    int64_t oh0, oh1, ow0, ow1;
    windows_containing(h, g.R, g.stride_h, g.pad_h, g.OH, oh0, oh1);
    windows_containing(w, g.S, g.stride_w, g.pad_w, g.OW, ow0, ow1);
    T acc = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t o = (pc * g.OH + oh) * g.OW + ow;
        if (idx[o] == h * g.W + w) acc += gy[o];
      }
    gx[i] = acc;
  }
}

template <class T>
__global__ void avg_pool_kernel(PoolGeom g, const T* __restrict__ x, T* __restrict__ y) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  STRATA_GRID_STRIDE(i, total) {
    const int64_t ow = i % g.OW, oh = (i / g.OW) % g.OH, pc = i / (g.OW * g.OH);
    const PoolWindow w = pool_window(g, oh, ow);
    T sum = 0;
    for (int64_t ih = w.h0; ih < w.h1; ++ih)
      for (int64_t iw = w.w0; iw < w.w1; ++iw) sum += x[(pc * g.H + ih) * g.W + iw];
    y[i] = w.count > 0 ? sum / T(w.count) : T(0);
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(PoolGeom g, const T* __restrict__ gy, T* __restrict__ gx) {
  const int64_t total = g.N * g.C * g.H * g.W;
  STRATA_GRID_STRIDE(i, total) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, pc = i / (g.W * g.H);
    int64_t oh0, oh1, ow0, ow1;
    windows_containing(h, g.R, g.stride_h, g.pad_h, g.OH, oh0, oh1);
    windows_containing(w, g.S, g.stride_w, g.pad_w, g.OW, ow0, ow1);
    T acc = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const PoolWindow win = pool_window(g, oh, ow);
        if (win.count > 0) acc += gy[(pc * g.OH + oh) * g.OW + ow] / T(win.count);
      }
    gx[i] = acc;
  }
}

template <class T>
__global__ void upsample_kernel(UpsampleGeom g, const T* __restrict__ x, T* __restrict__ y) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  STRATA_GRID_STRIDE(i, total) {
    const int64_t ow = i % g.OW, oh = (i / g.OW) % g.OH, pc = i / (g.OW * g.OH);
    const T* xp = x + pc * g.H * g.W;
    if (g.mode == UpsampleMode::nearest) {
      y[i] = xp[nearest_source(oh, g.ratio_h, g.H) * g.W + nearest_source(ow, g.ratio_w, g.W)];
    } else {
      const LinearTaps th = linear_source(oh, g.ratio_h, g.H, g.align_corners);
      const LinearTaps tw = linear_source(ow, g.ratio_w, g.W, g.align_corners);
      const T* r0 = xp + th.i0 * g.W;
      const T* r1 = xp + th.i1 * g.W;
      y[i] = T(th.w0) * (T(tw.w0) * r0[tw.i0] + T(tw.w1) * r0[tw.i1]) +
             T(th.w1) * (T(tw.w0) * r1[tw.i0] + T(tw.w1) * r1[tw.i1]);
    }
  }
}

// Output positions along one axis that can read input position p: a range
// around p / ratio wide enough for both modes, to the end for the last input.
__host__ __device__ inline void readers_of(int64_t p, double ratio, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  if (ratio <= 0) {
    lo = 0;
    hi = out - 1;
    return;
  }
  lo = int64_t(double(p - 1) / ratio) - 2;
  hi = p == in - 1 ? out - 1 : int64_t(double(p + 2) / ratio) + 2;
  if (lo < 0) lo = 0;
  if (hi > out - 1) hi = out - 1;
}

// Weight with which output position o (one axis) reads input position p.
__host__ __device__ inline double tap_weight(const UpsampleGeom& g, int64_t o, int64_t p, double ratio, int64_t in) {
  if (g.mode == UpsampleMode::nearest) return nearest_source(o, ratio, in) == p ? 1.0 : 0.0;
  const LinearTaps t = linear_source(o, ratio, in, g.align_corners);
  return (t.i0 == p ? t.w0 : 0.0) + (t.i1 == p ? t.w1 : 0.0);
}

template <class T>
__global__ void upsample_backward_kernel(UpsampleGeom g, const T* __restrict__ gy, T* __restrict__ gx) {
  const int64_t total = g.N * g.C * g.H * g.W;
  STRATA_GRID_STRIDE(i, total) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, pc = i / (g.W * g.H);
    int64_t oh0, oh1, ow0, ow1;
    readers_of(h, g.ratio_h, g.H, g.OH, oh0, oh1);
    readers_of(w, g.ratio_w, g.W, g.OW, ow0, ow1);
    T acc = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      const double wh = tap_weight(g, oh, h, g.ratio_h, g.H);
      if (wh == 0) continue;
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const double ww = tap_weight(g, ow, w, g.ratio_w, g.W);
        if (ww != 0) acc += T(wh * ww) * gy[(pc * g.OH + oh) * g.OW + ow];
      }
    }
    gx[i] = acc;
  }
}

template <class T, class F>
__global__ void activation_kernel(F f, const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  STRATA_GRID_STRIDE(i, n) y[i] = f.fwd(x[i]);
}

template <class T, class F>
__global__ void activation_backward_kernel(F f, const T* __restrict__ x, const T* __restrict__ y,
                                           const T* __restrict__ gy, T* __restrict__ gx, int64_t n) {
  STRATA_GRID_STRIDE(i, n) gx[i] = f.bwd(x[i], y[i], gy[i]);
}

// Host-side switch from the activation enum to its functor.
template <class Launch>
void with_activation(Activation a, ActParams p, Launch&& go) {
  switch (a) {
    case Activation::relu: go(act::Relu{}); break;
    case Activation::leaky_relu: go(act::LeakyRelu{p.alpha}); break;
    case Activation::relu6: go(act::Relu6{}); break;
    case Activation::elu: go(act::Elu{p.alpha}); break;
    case Activation::sigmoid: go(act::Sigmoid{}); break;
    case Activation::tanh: go(act::Tanh{}); break;
    case Activation::softplus: go(act::Softplus{p.alpha, p.threshold}); break;
    case Activation::silu: go(act::Silu{}); break;
  }
}

}  // namespace

template <class T>
cudaError_t im2col(const ConvGeom& g, const T* x, int64_t n0, int64_t nb, T* cols) {
  const int64_t total = nb * g.C * g.R * g.S * g.OH * g.OW;
  if (total > 0) launch(im2col_kernel<T>, grid_for(total), kThreads, 0, nullptr, g, x, n0, nb, cols);
  return cudaGetLastError();
}

template <class T>
cudaError_t col2im(const ConvGeom& g, const T* cols, int64_t n0, int64_t nb, T* gx) {
  const int64_t total = nb * g.C * g.H * g.W;
  if (total > 0) launch(col2im_kernel<T>, grid_for(total), kThreads, 0, nullptr, g, cols, n0, nb, gx);
  return cudaGetLastError();
}

template <class T>
cudaError_t max_pool2d(const PoolGeom& g, const T* x, T* y, int64_t* indices) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  if (total > 0) launch(max_pool_kernel<T>, grid_for(total), kThreads, 0, nullptr, g, x, y, indices);
  return cudaGetLastError();
}

template <class T>
cudaError_t max_pool2d_backward(const PoolGeom& g, const T* gy, const int64_t* indices, T* gx) {
  const int64_t total = g.N * g.C * g.H * g.W;
  if (total > 0) launch(max_pool_backward_kernel<T>, grid_for(total), kThreads, 0, nullptr, g, gy, indices, gx);
  return cudaGetLastError();
}

template <class T>
cudaError_t avg_pool2d(const PoolGeom& g, const T* x, T* y) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  if (total > 0) launch(avg_pool_kernel<T>, grid_for(total), kThreads, 0, nullptr, g, x, y);
  return cudaGetLastError();
}

template <class T>
cudaError_t avg_pool2d_backward(const PoolGeom& g, const T* gy, T* gx) {
  const int64_t total = g.N * g.C * g.H * g.W;
  if (total > 0) launch(avg_pool_backward_kernel<T>, grid_for(total), kThreads, 0, nullptr, g, gy, gx);
  return cudaGetLastError();
}

template <class T>
cudaError_t upsample2d(const UpsampleGeom& g, const T* x, T* y) {
  const int64_t total = g.N * g.C * g.OH * g.OW;
  if (total > 0) launch(upsample_kernel<T>, grid_for(total), kThreads, 0, nullptr, g, x, y);
  return cudaGetLastError();
}

template <class T>
cudaError_t upsample2d_backward(const UpsampleGeom& g, const T* gy, T* gx) {
  const int64_t total = g.N * g.C * g.H * g.W;
  if (total > 0) launch(upsample_backward_kernel<T>, grid_for(total), kThreads, 0, nullptr, g, gy, gx);
  return cudaGetLastError();
}

template <class T>
cudaError_t activation(Activation a, ActParams p, const T* x, T* y, int64_t n) {
  if (n == 0) return cudaGetLastError();
  with_activation(a, p, [&](auto f) {
    launch(activation_kernel<T, decltype(f)>, grid_for(n), kThreads, 0, nullptr, f, x, y, n);
  });
  return cudaGetLastError();
}

template <class T>
cudaError_t activation_backward(Activation a, ActParams p, const T* x, const T* y, const T* gy, T* gx, int64_t n) {
  if (n == 0) return cudaGetLastError();
  with_activation(a, p, [&](auto f) {
    launch(activation_backward_kernel<T, decltype(f)>, grid_for(n), kThreads, 0, nullptr, f, x, y, gy, gx, n);
  });
  return cudaGetLastError();
}

#define STRATA_CUDA_NN(T)                                                                                  \
  template cudaError_t im2col<T>(const ConvGeom&, const T*, int64_t, int64_t, T*);                         \
  template cudaError_t col2im<T>(const ConvGeom&, const T*, int64_t, int64_t, T*);                         \
  template cudaError_t max_pool2d<T>(const PoolGeom&, const T*, T*, int64_t*);                             \
  template cudaError_t max_pool2d_backward<T>(const PoolGeom&, const T*, const int64_t*, T*);              \
  template cudaError_t avg_pool2d<T>(const PoolGeom&, const T*, T*);                                       \
  template cudaError_t avg_pool2d_backward<T>(const PoolGeom&, const T*, T*);                              \
  template cudaError_t upsample2d<T>(const UpsampleGeom&, const T*, T*);                                   \
  template cudaError_t upsample2d_backward<T>(const UpsampleGeom&, const T*, T*);                          \
  template cudaError_t activation<T>(Activation, ActParams, const T*, T*, int64_t);                        \
  template cudaError_t activation_backward<T>(Activation, ActParams, const T*, const T*, const T*, T*, int64_t);
STRATA_CUDA_NN(float)
STRATA_CUDA_NN(double)

}  // namespace strata::cuda
