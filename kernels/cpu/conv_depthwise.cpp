#include "kernels/cpu/conv_depthwise.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace strata::cpu {

bool conv_depthwise_applies(const ConvGeom& g) {
  return g.groups > 1 && g.groups == g.C && g.groups == g.K && g.dil_h == 1 && g.dil_w == 1;
}

namespace {

using simd::kLanes;
using simd::load;
using simd::load_n;
using simd::splat;
using simd::store;
using simd::store_n;
using simd::vf;

// One (sample, channel) plane of the input, zero-padded and split by stride phase: padded row
// ph = ih + pad_h and column pw = iw + pad_w land in phase (ph % sh, pw % sw) at row ph / sh,
// column pw / sw, each phase a Hq x Wq plane (plus one row of slack). Tap (r, s) of output
// (oh, ow) then reads phase (r % sh, s % sw) at (oh + r / sh, ow + s / sw): with the output kept
// Wq wide (its columns from OW on are junk), every tap is one constant offset,
//   out[i] = sum over taps of w * phase[i + (r / sh) * Wq + s / sw],  i in [0, OH * Wq),
// with no bounds checks and a long inner loop even for 7 x 7 planes.
struct PhaseLayout {
  int64_t sh, sw, Hq, Wq, phase_size;

  explicit PhaseLayout(const ConvGeom& g) : sh(g.stride_h), sw(g.stride_w) {
    const int64_t Hp = std::max(g.H + g.pad_h, (g.OH - 1) * sh + g.R);
    const int64_t Wp = std::max(g.W + g.pad_w, (g.OW - 1) * sw + g.S);
    Hq = (Hp + sh - 1) / sh;
    Wq = (Wp + sw - 1) / sw;
    phase_size = (Hq + 1) * Wq;
  }
  int64_t size() const { return sh * sw * phase_size; }
  int64_t tap_offset(int64_t r, int64_t s) const {
    return ((r % sh) * sw + s % sw) * phase_size + (r / sh) * Wq + s / sw;
  }
  // Position of input sample (ih, iw) in the buffer.
  int64_t at(const ConvGeom& g, int64_t ih, int64_t iw) const {
    const int64_t ph = ih + g.pad_h, pw = iw + g.pad_w;
    return ((ph % sh) * sw + pw % sw) * phase_size + (ph / sh) * Wq + pw / sw;
  }
};

// Moves one input plane into the phase buffer (scatter_input) or back (gather_input). Only the positions of
// input samples are touched, and they are the same for every plane: a buffer zeroed once keeps its padding zero
// across planes. At stride 2 a row's two phases are split or joined at once: in every row the places of columns
// 0 and 1 lie the same distance apart (`pair`), whatever the padding.
int64_t pair(const ConvGeom& g, const PhaseLayout& L) { return L.at(g, 0, 1) - L.at(g, 0, 0); }

void scatter_input(const ConvGeom& g, const PhaseLayout& L, const float* x, float* buf) {
  for (int64_t ih = 0; ih < g.H; ++ih) {
    const float* xr = x + ih * g.W;
    if (L.sw == 1) {
      simd::copy(buf + L.at(g, ih, 0), xr, g.W);
    } else if (L.sw == 2) {
      float* first = buf + L.at(g, ih, 0);
      simd::split_row(xr, g.W / 2, 2, first, pair(g, L));
      if (g.W % 2) first[g.W / 2] = xr[g.W - 1];
    } else {
      for (int64_t b = 0; b < L.sw && b < g.W; ++b) {  // input columns b, b + sw, ... share a phase
        float* dst = buf + L.at(g, ih, b);
        for (int64_t iw = b, j = 0; iw < g.W; iw += L.sw, ++j) dst[j] = xr[iw];
      }
    }
  }
}

void gather_input(const ConvGeom& g, const PhaseLayout& L, const float* buf, float* x) {
  for (int64_t ih = 0; ih < g.H; ++ih) {
    float* xr = x + ih * g.W;
    if (L.sw == 1) {
      simd::copy(xr, buf + L.at(g, ih, 0), g.W);
    } else if (L.sw == 2) {
      const float* first = buf + L.at(g, ih, 0);
      simd::join_row(first, pair(g, L), g.W / 2, 2, xr);
      if (g.W % 2) xr[g.W - 1] = first[g.W / 2];
    } else {
      for (int64_t b = 0; b < L.sw && b < g.W; ++b) {
        const float* src = buf + L.at(g, ih, b);
        for (int64_t iw = b, j = 0; iw < g.W; iw += L.sw, ++j) xr[iw] = src[j];
      }
    }
  }
}

// An output-shaped plane (OH x OW) to and from rows `stride` wide, starting at `first`. Widening writes only
// the OW valid columns of each row, so positions a caller zeroed once stay zero across planes.
void widen_rows(const ConvGeom& g, const float* plane, int64_t stride, float* first) {
  for (int64_t oh = 0; oh < g.OH; ++oh) simd::copy(first + oh * stride, plane + oh * g.OW, g.OW);
}
void narrow_rows(const ConvGeom& g, const float* first, int64_t stride, float* plane) {
  for (int64_t oh = 0; oh < g.OH; ++oh) simd::copy(plane + oh * g.OW, first + oh * stride, g.OW);
}

// out[i] = sum over t of w[t] * src[i + off[t]], i in [0, n): two vectors of outputs at a time, every tap
// added in registers, so each output is written once (9 loads and 9 FMAs per vector for a 3 x 3 filter,
// where a pass over the plane per tap loads and stores the sums nine times). Taps are added in the order given.
void sum_taps(const float* src, const int64_t* off, const float* w, int64_t taps, float* out, int64_t n) {
  constexpr int64_t V = kLanes;
  int64_t i = 0;
  for (; i + 2 * V <= n; i += 2 * V) {
    vf w0 = splat(w[0]);
    vf a0 = w0 * load(src + off[0] + i), a1 = w0 * load(src + off[0] + i + V);
    for (int64_t t = 1; t < taps; ++t) {
      const vf wt = splat(w[t]);
      a0 += wt * load(src + off[t] + i);
      a1 += wt * load(src + off[t] + i + V);
    }
    store(out + i, a0);
    store(out + i + V, a1);
  }
  for (; i < n; i += V) {
    const int64_t m = std::min(V, n - i);
    vf a = splat(w[0]) * load_n(src + off[0] + i, m);
    for (int64_t t = 1; t < taps; ++t) a += splat(w[t]) * load_n(src + off[t] + i, m);
    store_n(out + i, a, m);
  }
}

// acc[t] += gq[i] * src[i + off[t]] lane by lane over i in [0, n) of each of `rows` rows (gq and src stepping
// by their strides), for T taps at once: gq is loaded once for all of them. The lanes are summed (in a fixed
// order) by the caller, so results do not depend on threads.
template <int T>
void dot_taps(const float* gq, int64_t gq_stride, const float* src, int64_t src_stride, const int64_t* off,
              int64_t rows, int64_t n, float* acc) {
  vf a[T];
  for (int t = 0; t < T; ++t) a[t] = load(acc + t * kLanes);
  for (int64_t row = 0; row < rows; ++row, gq += gq_stride, src += src_stride) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      const vf gv = load(gq + i);
      for (int t = 0; t < T; ++t) a[t] += gv * load(src + off[t] + i);
    }
    if (i < n) {
      const vf gv = load_n(gq + i, n - i);  // zero lanes past the end
      for (int t = 0; t < T; ++t) a[t] += gv * load_n(src + off[t] + i, n - i);
    }
  }
  for (int t = 0; t < T; ++t) store(acc + t * kLanes, a[t]);
}

// Up to kTapGroup taps per pass over the plane (a 3 x 3 filter in one): 9 accumulators, the gradient and one
// input vector fit the 16 registers of AVX2.
constexpr int64_t kTapGroup = 9;

void dot_tap_group(const float* gq, int64_t gq_stride, const float* src, int64_t src_stride, const int64_t* off,
                   int64_t taps, int64_t rows, int64_t n, float* acc) {
  const auto run = [&]<int T>() { dot_taps<T>(gq, gq_stride, src, src_stride, off, rows, n, acc); };
  switch (taps) {
    case 1: return run.template operator()<1>();
    case 2: return run.template operator()<2>();
    case 3: return run.template operator()<3>();
    case 4: return run.template operator()<4>();
    case 5: return run.template operator()<5>();
    case 6: return run.template operator()<6>();
    case 7: return run.template operator()<7>();
    case 8: return run.template operator()<8>();
    default: return run.template operator()<kTapGroup>();
  }
}

// Rows at least two vectors wide are computed row by row, straight from and to the caller's planes; narrower
// ones as one flat run over the padded width (fuller vectors, for the cost of a copy).
bool wide_rows(int64_t width) { return width >= 2 * kLanes; }

// Each tap's offset in the phase buffer, r-major.
std::vector<int64_t> tap_offsets(const ConvGeom& g, const PhaseLayout& L) {
  std::vector<int64_t> off;
  for (int64_t r = 0; r < g.R; ++r)
    for (int64_t s = 0; s < g.S; ++s) off.push_back(L.tap_offset(r, s));
  return off;
}

float sum_lanes(vf v) {
  // Pairwise, in a fixed order.
  for (int h = kLanes / 2; h >= 1; h /= 2)
    for (int k = 0; k < h; ++k) v[k] += v[k + h];
  return v[0];
}

}  // namespace

void conv_depthwise_forward(const ConvGeom& g, const float* x, const float* w, float* y) {
  const int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW, taps = g.R * g.S;
  const PhaseLayout L(g);
  const std::vector<int64_t> off = tap_offsets(g, L);
  parallel_chunks(planes, planes * out_plane * taps > 32768, [&](Chunks& chunks) {
    std::vector<float> phases(size_t(L.size()), 0.f), out(size_t(g.OH * L.Wq));
    for (int64_t p0, p1; chunks.next(p0, p1);)
      for (int64_t p = p0; p < p1; ++p) {
        scatter_input(g, L, x + p * in_plane, phases.data());
        const float* wc = w + (p % g.C) * taps;
        if (wide_rows(g.OW)) {
          for (int64_t oh = 0; oh < g.OH; ++oh)
            sum_taps(phases.data() + oh * L.Wq, off.data(), wc, taps, y + p * out_plane + oh * g.OW, g.OW);
        } else {
          sum_taps(phases.data(), off.data(), wc, taps, out.data(), g.OH * L.Wq);
          narrow_rows(g, out.data(), L.Wq, y + p * out_plane);
        }
      }
  });
}

void conv_depthwise_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx) {
  // Gathered, not scattered: input position (q, v) of phase (a, b) (padded row q sh + a, column v sw + b) takes
  // tap (r, s) with r = a, a + sh, ... and s = b, b + sw, ... from output (q - r / sh, v - s / sw). With the
  // output gradient kept Wq wide below Ph = (R - 1) / sh zero rows and right of Pw = (S - 1) / sw zero
  // columns, every tap is one constant offset (Ph - r / sh) Wq + Pw - s / sw: a reach past the output's edge
  // lands on zero padding, a reach past a row's end on the next row's zero columns.
  const int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  const PhaseLayout L(g);
  const int64_t Ph = (g.R - 1) / L.sh, Pw = (g.S - 1) / L.sw;
  struct Phase {
    std::vector<int64_t> off, tap;  // offsets into the padded gradient, filter taps
  };
  std::vector<Phase> phases(size_t(L.sh * L.sw));
  for (int64_t r = 0; r < g.R; ++r)
    for (int64_t s = 0; s < g.S; ++s) {
      Phase& ph = phases[size_t((r % L.sh) * L.sw + s % L.sw)];
      ph.off.push_back((Ph - r / L.sh) * L.Wq + Pw - s / L.sw);
      ph.tap.push_back(r * g.S + s);
    }
  const bool unit_stride = L.sh == 1 && L.sw == 1;
  parallel_chunks(planes, planes * out_plane * g.R * g.S > 32768, [&](Chunks& chunks) {
    std::vector<float> grad(size_t((L.Hq + Ph + 1) * L.Wq), 0.f), buf(size_t(L.size()), 0.f), wt(size_t(g.R * g.S));
    for (int64_t p0, p1; chunks.next(p0, p1);)
      for (int64_t p = p0; p < p1; ++p) {
        widen_rows(g, gy + p * out_plane, L.Wq, grad.data() + Ph * L.Wq + Pw);
        const float* wc = w + (p % g.C) * g.R * g.S;
        if (unit_stride && wide_rows(g.W)) {
          // One phase: input (ih, iw) is position (ih + pad_h, iw + pad_w); each row goes straight to gx.
          const Phase& ph = phases[0];
          for (size_t t = 0; t < ph.tap.size(); ++t) wt[t] = wc[ph.tap[t]];
          for (int64_t ih = 0; ih < g.H; ++ih)
            sum_taps(grad.data() + (ih + g.pad_h) * L.Wq + g.pad_w, ph.off.data(), wt.data(), int64_t(ph.off.size()),
                     gx + p * in_plane + ih * g.W, g.W);
          continue;
        }
        for (size_t k = 0; k < phases.size(); ++k) {
          const Phase& ph = phases[k];
          if (ph.off.empty()) continue;  // stride above the filter: these inputs take nothing (stay zero)
          for (size_t t = 0; t < ph.tap.size(); ++t) wt[t] = wc[ph.tap[t]];
          sum_taps(grad.data(), ph.off.data(), wt.data(), int64_t(ph.off.size()), buf.data() + int64_t(k) * L.phase_size,
                   L.Hq * L.Wq);
        }
        gather_input(g, L, buf.data(), gx + p * in_plane);
      }
  });
}

void conv_depthwise_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW, taps = g.R * g.S;
  const PhaseLayout L(g);
  const std::vector<int64_t> off = tap_offsets(g, L);
  parallel_chunks(g.C, g.N * g.C * out_plane * taps > 32768, [&](Chunks& chunks) {
    // The gradient kept Wq wide: its columns from OW on stay zero, so they add nothing to the sums.
    std::vector<float> phases(size_t(L.size()), 0.f), gq(size_t(g.OH * L.Wq), 0.f);
    std::vector<float> acc(size_t(taps * kLanes));  // kLanes partial sums per tap
    for (int64_t c0, c1; chunks.next(c0, c1);)
      for (int64_t c = c0; c < c1; ++c) {
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t n = 0; n < g.N; ++n) {
          scatter_input(g, L, x + (n * g.C + c) * in_plane, phases.data());
          const float* gyc = gy + (n * g.C + c) * out_plane;
          for (int64_t t = 0; t < taps; t += kTapGroup) {
            const int64_t group = std::min(kTapGroup, taps - t);
            if (wide_rows(g.OW)) {
              dot_tap_group(gyc, g.OW, phases.data(), L.Wq, off.data() + t, group, g.OH, g.OW, acc.data() + t * kLanes);
            } else {
              if (t == 0) widen_rows(g, gyc, L.Wq, gq.data());
              dot_tap_group(gq.data(), 0, phases.data(), 0, off.data() + t, group, 1, g.OH * L.Wq,
                            acc.data() + t * kLanes);
            }
          }
        }
        for (int64_t t = 0; t < taps; ++t) gw[c * taps + t] = sum_lanes(load(acc.data() + t * kLanes));
      }
  });
}

}  // namespace strata::cpu
