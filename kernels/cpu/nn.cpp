#include "kernels/cpu/nn.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "kernels/activation.h"

namespace strata::cpu {
namespace {

// Output columns [lo, hi) whose input column ow * stride_w + off_w lies inside x.
std::pair<int64_t, int64_t> columns_inside(const ConvGeom& g, int64_t off_w) {
  const int64_t lo = std::min(off_w >= 0 ? 0 : (-off_w + g.stride_w - 1) / g.stride_w, g.OW);
  const int64_t hi = g.W - off_w <= 0 ? 0 : (g.W - off_w + g.stride_w - 1) / g.stride_w;
  return {lo, std::clamp(hi, lo, g.OW)};
}

}  // namespace

template <class T>
void im2col(const ConvGeom& g, const T* x, int64_t n0, int64_t nb, T* cols) {
  const int64_t P = g.P(), planes = nb * g.C;
  parallel_for(planes, planes * g.R * g.S * P > 32768, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc) {
      const int64_t nl = pc / g.C, c = pc % g.C;
      const T* xp = x + ((n0 + nl) * g.C + c) * g.H * g.W;
      for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
          T* row = cols + ((nl * g.C + c) * g.R * g.S + r * g.S + s) * P;
          const int64_t off_w = s * g.dil_w - g.pad_w;
          const auto [ow_lo, ow_hi] = columns_inside(g, off_w);
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            T* out = row + oh * g.OW;
            const int64_t ih = oh * g.stride_h - g.pad_h + r * g.dil_h;
            if (ih < 0 || ih >= g.H) {
              std::fill_n(out, g.OW, T(0));
              continue;
            }
            const T* in = xp + ih * g.W + off_w;
            std::fill_n(out, ow_lo, T(0));
            if (g.stride_w == 1) {
              std::memcpy(out + ow_lo, in + ow_lo, sizeof(T) * (ow_hi - ow_lo));
            } else {
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow) out[ow] = in[ow * g.stride_w];
            }
            std::fill(out + ow_hi, out + g.OW, T(0));
          }
        }
    }
  });
}

template <class T>
void col2im(const ConvGeom& g, const T* cols, int64_t n0, int64_t nb, T* gx) {
  const int64_t P = g.P(), planes = nb * g.C;
  parallel_for(planes, planes * g.R * g.S * P > 32768, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc) {
      const int64_t nl = pc / g.C, c = pc % g.C;
      T* gp = gx + ((n0 + nl) * g.C + c) * g.H * g.W;
      std::fill_n(gp, g.H * g.W, T(0));
      for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
          const T* row = cols + ((nl * g.C + c) * g.R * g.S + r * g.S + s) * P;
          const int64_t off_w = s * g.dil_w - g.pad_w;
          const auto [ow_lo, ow_hi] = columns_inside(g, off_w);
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const int64_t ih = oh * g.stride_h - g.pad_h + r * g.dil_h;
            if (ih < 0 || ih >= g.H) continue;
            T* out = gp + ih * g.W + off_w;
            const T* in = row + oh * g.OW;
            if (g.stride_w == 1) {
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow) out[ow] += in[ow];
            } else {
              for (int64_t ow = ow_lo; ow < ow_hi; ++ow) out[ow * g.stride_w] += in[ow];
            }
          }
        }
    }
  });
}

namespace {
template <class T>
bool nan(T v) {
  return v != v;
}
}  // namespace

template <class T>
void max_pool2d_reference(const PoolGeom& g, const T* x, T* y, int64_t* indices) {
  const int64_t planes = g.N * g.C;
  parallel_for(planes, planes * g.OH * g.OW * g.R * g.S > 32768, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc) {
      const T* xp = x + pc * g.H * g.W;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t arg = -1;
          const int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
          for (int64_t r = 0; r < g.R; ++r) {
            const int64_t ih = h0 + r;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t s = 0; s < g.S; ++s) {
              const int64_t iw = w0 + s;
              if (iw < 0 || iw >= g.W) continue;
              const T v = xp[ih * g.W + iw];
              if (arg < 0 || (!nan(best) && (v > best || nan(v)))) {
                best = v;
                arg = ih * g.W + iw;
              }
            }
          }
          y[(pc * g.OH + oh) * g.OW + ow] = best;
          indices[(pc * g.OH + oh) * g.OW + ow] = arg;
        }
    }
  });
}

namespace {

// Windows of 1 or 2 rows x 2 columns at a stride equal to the window, all inside the plane: the U-Nets' 2 x 2
// pooling and the 1-D U-Net's pairs. No bounds checks, and the candidates taken in the reference's order (row by
// row), so the same maximum and index as max_pool2d_reference.
bool pairs_inside(const PoolGeom& g) {
  return g.S == 2 && g.stride_w == 2 && g.R == g.stride_h && (g.R == 1 || g.R == 2) && g.pad_h == 0 &&
         g.pad_w == 0 && g.R * g.OH <= g.H && 2 * g.OW <= g.W;
}

// Candidate v at offset `at` (from the window's first sample) replaces the best so far when the best is not NaN
// and v is larger or NaN: the first maximum wins, and so does the first NaN.
template <class T>
inline void consider(T v, int64_t at, T& best, int64_t& arg) {
  const bool take = !nan(best) && (v > best || nan(v));
  best = take ? v : best;
  arg = take ? at : arg;
}

// One row of outputs, the scalar way (double, and the columns past the last whole vector).
template <class T>
void pool_pairs_row(const T* r0, const T* r1, int64_t ow0, int64_t OW, int64_t W, T* yr, int64_t* ir, int64_t row0) {
  for (int64_t ow = ow0; ow < OW; ++ow) {
    T best = r0[2 * ow];
    int64_t arg = 0;
    consider(r0[2 * ow + 1], 1, best, arg);
    if (r1) {
      consider(r1[2 * ow], W, best, arg);
      consider(r1[2 * ow + 1], W + 1, best, arg);
    }
    yr[ow] = best;
    ir[ow] = row0 + 2 * ow + arg;
  }
}

// The float row: kLanes outputs at a time, the even and odd columns split with shuffles, the rule above as
// lane masks; the winner's position is kept as its candidate number (0-3) and made an index at the end.
void pool_pairs_row(const float* r0, const float* r1, int64_t, int64_t OW, int64_t W, float* yr, int64_t* ir,
                    int64_t row0) {
  using simd::kLanes;
  using simd::vf;
  using vi = int32_t __attribute__((vector_size(kLanes * sizeof(int32_t))));
  using vl = int64_t __attribute__((vector_size(kLanes * sizeof(int64_t))));
  vl lane2;  // 0, 2, 4, ...: the first column of each lane's window
  for (int i = 0; i < kLanes; ++i) lane2[i] = 2 * i;
  const auto take = [](vf v, vf best) { return (best == best) & ((v > best) | (v != v)); };
  int64_t ow = 0;
  for (; ow + kLanes <= OW; ow += kLanes) {
    const vf a0 = simd::load(r0 + 2 * ow), a1 = simd::load(r0 + 2 * ow + kLanes);
    vf best = simd::even_lanes(a0, a1);
    vi which = {};
    const auto step = [&](vf v, int32_t k) {
      const vi t = take(v, best);
      best = t ? v : best;
      which = t ? vi{} + k : which;
    };
    step(simd::odd_lanes(a0, a1), 1);
    if (r1) {
      const vf b0 = simd::load(r1 + 2 * ow), b1 = simd::load(r1 + 2 * ow + kLanes);
      step(simd::even_lanes(b0, b1), 2);
      step(simd::odd_lanes(b0, b1), 3);
    }
    simd::store(yr + ow, best);
    const vl col = __builtin_convertvector(which & 1, vl), row = __builtin_convertvector(which >> 1, vl);
    const vl index = (row0 + 2 * ow) + lane2 + col + row * W;
    std::memcpy(ir + ow, &index, sizeof index);
  }
  pool_pairs_row<float>(r0, r1, ow, OW, W, yr, ir, row0);
}

template <class T>
void max_pool_pairs(const PoolGeom& g, const T* x, T* y, int64_t* indices) {
  const int64_t planes = g.N * g.C;
  parallel_for(planes, planes * g.OH * g.OW > 8192, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc)
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const T* r0 = x + (pc * g.H + g.R * oh) * g.W;
        const int64_t out = (pc * g.OH + oh) * g.OW;
        pool_pairs_row(r0, g.R == 2 ? r0 + g.W : nullptr, 0, g.OW, g.W, y + out, indices + out, g.R * oh * g.W);
      }
  });
}
}  // namespace

template <class T>
void max_pool2d(const PoolGeom& g, const T* x, T* y, int64_t* indices) {
  if (pairs_inside(g))
    max_pool_pairs(g, x, y, indices);
  else
    max_pool2d_reference(g, x, y, indices);
}

template <class T>
void max_pool2d_backward(const PoolGeom& g, const T* gy, const int64_t* indices, T* gx) {
  const int64_t planes = g.N * g.C, P = g.OH * g.OW;
  parallel_for(planes, planes * g.H * g.W > 32768, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc) {
      T* gp = gx + pc * g.H * g.W;
      std::fill_n(gp, g.H * g.W, T(0));
      for (int64_t p = 0; p < P; ++p) {
        const int64_t i = indices[pc * P + p];
        if (i >= 0) gp[i] += gy[pc * P + p];
      }
    }
  });
}

template <class T>
void avg_pool2d(const PoolGeom& g, const T* x, T* y) {
  const int64_t planes = g.N * g.C;
  parallel_for(planes, planes * g.OH * g.OW * g.R * g.S > 32768, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc) {
      const T* xp = x + pc * g.H * g.W;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const PoolWindow w = pool_window(g, oh, ow);
          T sum = 0;
          for (int64_t ih = w.h0; ih < w.h1; ++ih)
            for (int64_t iw = w.w0; iw < w.w1; ++iw) sum += xp[ih * g.W + iw];
          y[(pc * g.OH + oh) * g.OW + ow] = w.count > 0 ? sum / T(w.count) : T(0);
        }
    }
  });
}

template <class T>
void avg_pool2d_backward(const PoolGeom& g, const T* gy, T* gx) {
  const int64_t planes = g.N * g.C;
  parallel_for(planes, planes * g.H * g.W > 32768, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc) {
      T* gp = gx + pc * g.H * g.W;
      std::fill_n(gp, g.H * g.W, T(0));
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const PoolWindow w = pool_window(g, oh, ow);
          if (w.count == 0) continue;
          const T v = gy[(pc * g.OH + oh) * g.OW + ow] / T(w.count);
          for (int64_t ih = w.h0; ih < w.h1; ++ih)
            for (int64_t iw = w.w0; iw < w.w1; ++iw) gp[ih * g.W + iw] += v;
        }
    }
  });
}

template <class T>
void upsample2d(const UpsampleGeom& g, const T* x, T* y) {
  const int64_t planes = g.N * g.C;
  parallel_for(planes, planes * g.OH * g.OW > 32768, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc) {
      const T* xp = x + pc * g.H * g.W;
      T* yp = y + pc * g.OH * g.OW;
      if (g.mode == UpsampleMode::nearest) {
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const T* row = xp + nearest_source(oh, g.ratio_h, g.H) * g.W;
          for (int64_t ow = 0; ow < g.OW; ++ow) yp[oh * g.OW + ow] = row[nearest_source(ow, g.ratio_w, g.W)];
        }
      } else {
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const LinearTaps th = linear_source(oh, g.ratio_h, g.H, g.align_corners);
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const LinearTaps tw = linear_source(ow, g.ratio_w, g.W, g.align_corners);
            const T* r0 = xp + th.i0 * g.W;
            const T* r1 = xp + th.i1 * g.W;
            yp[oh * g.OW + ow] = T(th.w0) * (T(tw.w0) * r0[tw.i0] + T(tw.w1) * r0[tw.i1]) +
                                 T(th.w1) * (T(tw.w0) * r1[tw.i0] + T(tw.w1) * r1[tw.i1]);
          }
        }
      }
    }
  });
}

template <class T>
void upsample2d_backward(const UpsampleGeom& g, const T* gy, T* gx) {
  const int64_t planes = g.N * g.C;
  parallel_for(planes, planes * g.OH * g.OW > 32768, [&](int64_t pc0, int64_t pc1) {
    for (int64_t pc = pc0; pc < pc1; ++pc) {
      T* gp = gx + pc * g.H * g.W;
      const T* gyp = gy + pc * g.OH * g.OW;
      std::fill_n(gp, g.H * g.W, T(0));
      if (g.mode == UpsampleMode::nearest) {
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          T* row = gp + nearest_source(oh, g.ratio_h, g.H) * g.W;
          for (int64_t ow = 0; ow < g.OW; ++ow) row[nearest_source(ow, g.ratio_w, g.W)] += gyp[oh * g.OW + ow];
        }
      } else {
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const LinearTaps th = linear_source(oh, g.ratio_h, g.H, g.align_corners);
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const LinearTaps tw = linear_source(ow, g.ratio_w, g.W, g.align_corners);
            const T v = gyp[oh * g.OW + ow];
            gp[th.i0 * g.W + tw.i0] += T(th.w0 * tw.w0) * v;
            gp[th.i0 * g.W + tw.i1] += T(th.w0 * tw.w1) * v;
            gp[th.i1 * g.W + tw.i0] += T(th.w1 * tw.w0) * v;
            gp[th.i1 * g.W + tw.i1] += T(th.w1 * tw.w1) * v;
          }
        }
      }
    }
  });
}

namespace {

// The activations batch norm can end in (none, ReLU, ReLU6), as types, so each
// kernel loop below is compiled for one of them.
struct NoActivation {
  template <class T> T fwd(T x) const { return x; }
};
template <class T, class F>
void with_bn_activation(const T* scale_shift, Activation a, F&& f) {
  if (!scale_shift) f(NoActivation{});
  else if (a == Activation::relu6) f(act::Relu6{});
  else f(act::Relu{});
}

constexpr int64_t kStatBlock = 256;

template <class T, class Act>
void batch_norm_forward_with(Act f, const T* x, int64_t outer, int64_t C, int64_t inner, bool training, double eps,
                             const T* weight, const T* bias, T* mean, T* var, T* invstd, T* y, T* scale_shift) {
  const int64_t count = outer * inner;
  parallel_for(C, count * C > 65536, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mu, v;
      if (training) {
        // Sums in T over blocks of kStatBlock values (full-width vectors, no widening per element), the blocks'
        // sums added in double.
        double s = 0;
        for (int64_t o = 0; o < outer; ++o) {
          const T* xp = x + (o * C + c) * inner;
          for (int64_t i0 = 0; i0 < inner; i0 += kStatBlock) {
            const int64_t n = std::min(kStatBlock, inner - i0);
            T bs = 0;
  #pragma omp simd reduction(+ : bs)
            for (int64_t i = 0; i < n; ++i) bs += xp[i0 + i];
            s += double(bs);
          }
        }
        mu = s / double(count);
        // Two passes: no cancellation when |mean| >> std. The second also sums x - m, m the mean rounded to T, to
        // take out the square of that rounding (the corrected two-pass variance).
        const T m = T(mu);
        double q = 0, e = 0;
        for (int64_t o = 0; o < outer; ++o) {
          const T* xp = x + (o * C + c) * inner;
          for (int64_t i0 = 0; i0 < inner; i0 += kStatBlock) {
            const int64_t n = std::min(kStatBlock, inner - i0);
            T bq = 0, be = 0;
  #pragma omp simd reduction(+ : bq, be)
            for (int64_t i = 0; i < n; ++i) {
              const T d = xp[i0 + i] - m;
              bq += d * d;
              be += d;
            }
            q += double(bq), e += double(be);
          }
        }
        v = std::max(q / double(count) - (e / double(count)) * (e / double(count)), 0.0);
        mean[c] = T(mu), var[c] = T(v);
      } else {
        mu = double(mean[c]), v = double(var[c]);
      }
      const double is = 1.0 / std::sqrt(v + eps);
      invstd[c] = T(is);
      const T a = T(is * (weight ? double(weight[c]) : 1.0));
      const T b = T((bias ? double(bias[c]) : 0.0) - mu * double(a));
      for (int64_t o = 0; o < outer; ++o) {
        const T* __restrict xp = x + (o * C + c) * inner;
        T* __restrict yp = y + (o * C + c) * inner;
  #pragma omp simd
        for (int64_t i = 0; i < inner; ++i) yp[i] = f.fwd(xp[i] * a + b);
      }
      if (scale_shift) scale_shift[c] = a, scale_shift[C + c] = b;
    }
  });
}

template <class T, class Act>
void batch_norm_backward_with(Act f, const T* x, const T* gy, int64_t outer, int64_t C, int64_t inner,
                              bool training, const T* mean, const T* invstd, const T* weight, T* gx, T* gweight,
                              T* gbias, const T* scale_shift) {
  constexpr bool has_act = !std::is_same_v<Act, NoActivation>;
  const int64_t count = outer * inner;
  parallel_for(C, count * C > 65536, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mu = double(mean[c]), is = double(invstd[c]), w = weight ? double(weight[c]) : 1.0;
      // The activation's gradient: gy where the forward's x * a + b (the same float expression) passed, else 0.
      const T a = has_act ? scale_shift[c] : T(0), b = has_act ? scale_shift[C + c] : T(0);
      // sum gy and sum gy * (x - mean): in T over blocks of kStatBlock values, the blocks' sums added in double.
      double sg = 0, sgx = 0;
      const T m = T(mu);
      for (int64_t o = 0; o < outer; ++o) {
        const T* __restrict xp = x + (o * C + c) * inner;
        const T* __restrict gp = gy + (o * C + c) * inner;
        for (int64_t i0 = 0; i0 < inner; i0 += kStatBlock) {
          const int64_t n = std::min(kStatBlock, inner - i0);
          T bg = 0, bgx = 0;
          if constexpr (has_act) {
            // The masked gradient into a block in L1, then the sums over it (one loop doing both stays scalar
            // with GCC: the select does not vectorise together with the reduction).
            alignas(64) T masked[kStatBlock];
  #pragma omp simd
            for (int64_t i = 0; i < n; ++i) masked[i] = f.bwd(xp[i0 + i] * a + b, T(0), gp[i0 + i]);
  #pragma omp simd reduction(+ : bg, bgx)
            for (int64_t i = 0; i < n; ++i) {
              bg += masked[i];
              bgx += masked[i] * (xp[i0 + i] - m);
            }
          } else {
  #pragma omp simd reduction(+ : bg, bgx)
            for (int64_t i = 0; i < n; ++i) {
              bg += gp[i0 + i];
              bgx += gp[i0 + i] * (xp[i0 + i] - m);
            }
          }
          sg += double(bg), sgx += double(bgx);
        }
      }
      gbias[c] = T(sg);
      gweight[c] = T(sgx * is);
      if (!gx) continue;
      // gx = w * is * (gy - mean(gy) - xhat * mean(gy * xhat)) in training, w * is * gy otherwise.
      const T k1 = T(w * is);
      const T k2 = training ? T(-w * is * is * is * sgx / double(count)) : T(0);
      const T k3 = training ? T(-w * is * sg / double(count)) : T(0);
      for (int64_t o = 0; o < outer; ++o) {
        const T* __restrict xp = x + (o * C + c) * inner;
        const T* __restrict gp = gy + (o * C + c) * inner;
        T* __restrict out = gx + (o * C + c) * inner;
        if constexpr (has_act) {
  #pragma omp simd
          for (int64_t i = 0; i < inner; ++i) out[i] = k1 * f.bwd(xp[i] * a + b, T(0), gp[i]) + k2 * (xp[i] - m) + k3;
        } else {
  #pragma omp simd
          for (int64_t i = 0; i < inner; ++i) out[i] = k1 * gp[i] + k2 * (xp[i] - m) + k3;
        }
      }
    }
  });
}

}  // namespace

template <class T>
void batch_norm_forward(const T* x, int64_t outer, int64_t C, int64_t inner, bool training, double eps,
                        const T* weight, const T* bias, T* mean, T* var, T* invstd, T* y, T* scale_shift,
                        Activation act) {
  with_bn_activation(scale_shift, act, [&](auto f) {
    batch_norm_forward_with(f, x, outer, C, inner, training, eps, weight, bias, mean, var, invstd, y, scale_shift);
  });
}

template <class T>
void batch_norm_backward(const T* x, const T* gy, int64_t outer, int64_t C, int64_t inner, bool training,
                         const T* mean, const T* invstd, const T* weight, T* gx, T* gweight, T* gbias,
                         const T* scale_shift, Activation act) {
  with_bn_activation(scale_shift, act, [&](auto f) {
    batch_norm_backward_with(f, x, gy, outer, C, inner, training, mean, invstd, weight, gx, gweight, gbias,
                             scale_shift);
  });
}

// The loops run on local restrict pointers: through the lambda's captured
// references GCC vectorises them as gathers and scatters.
template <class T>
void activation(Activation a, ActParams p, const T* x, T* y, int64_t n) {
  act::visit(a, p, [&, x, y, n](auto f) {
    const T* __restrict xs = x;
    T* __restrict ys = y;
    parallel_for(n, n > 65536, [&](int64_t i0, int64_t i1) {
      #pragma omp simd
      for (int64_t i = i0; i < i1; ++i) ys[i] = f.fwd(xs[i]);
    });
  });
}

template <class T>
void activation_backward(Activation a, ActParams p, const T* x, const T* y, const T* gy, T* gx, int64_t n) {
  act::visit(a, p, [&, x, y, gy, gx, n](auto f) {
    const T* xs = x;  // may equal y (the derivative read from y alone)
    const T* ys = y;
    const T* __restrict gys = gy;
    T* __restrict gxs = gx;
    parallel_for(n, n > 65536, [&](int64_t i0, int64_t i1) {
      #pragma omp simd
      for (int64_t i = i0; i < i1; ++i) gxs[i] = f.bwd(xs[i], ys[i], gys[i]);
    });
  });
}

#define STRATA_INSTANTIATE_NN(T)                                                                  \
  template void im2col<T>(const ConvGeom&, const T*, int64_t, int64_t, T*);                       \
  template void col2im<T>(const ConvGeom&, const T*, int64_t, int64_t, T*);                       \
  template void max_pool2d<T>(const PoolGeom&, const T*, T*, int64_t*);                           \
  template void max_pool2d_reference<T>(const PoolGeom&, const T*, T*, int64_t*);                 \
  template void max_pool2d_backward<T>(const PoolGeom&, const T*, const int64_t*, T*);            \
  template void avg_pool2d<T>(const PoolGeom&, const T*, T*);                                     \
  template void avg_pool2d_backward<T>(const PoolGeom&, const T*, T*);                            \
  template void upsample2d<T>(const UpsampleGeom&, const T*, T*);                                 \
  template void upsample2d_backward<T>(const UpsampleGeom&, const T*, T*);                        \
  template void batch_norm_forward<T>(const T*, int64_t, int64_t, int64_t, bool, double, const T*, const T*, T*, T*, \
                                      T*, T*, T*, Activation);                                    \
  template void batch_norm_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, bool, const T*, const T*,     \
                                       const T*, T*, T*, T*, const T*, Activation);               \
  template void activation<T>(Activation, ActParams, const T*, T*, int64_t);                      \
  template void activation_backward<T>(Activation, ActParams, const T*, const T*, const T*, T*, int64_t);
STRATA_INSTANTIATE_NN(float)
STRATA_INSTANTIATE_NN(double)

}  // namespace strata::cpu
