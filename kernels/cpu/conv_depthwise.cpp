#include "kernels/cpu/conv_depthwise.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace strata::cpu {
namespace {

// Output columns ow whose input column ow * stride - pad + s lies in [0, W).
struct ColumnRange {
  int64_t lo, hi;
};
ColumnRange valid_columns(const ConvGeom& g, int64_t s) {
  const int64_t off = s - g.pad_w;  // iw = ow * stride + off
  int64_t lo = off >= 0 ? 0 : (-off + g.stride_w - 1) / g.stride_w;
  int64_t hi = (g.W - 1 - off) >= 0 ? (g.W - 1 - off) / g.stride_w + 1 : 0;
  return {std::min(lo, g.OW), std::clamp<int64_t>(hi, 0, g.OW)};
}

}  // namespace

bool conv_depthwise_applies(const ConvGeom& g) {
  return g.groups > 1 && g.groups == g.C && g.groups == g.K && g.dil_h == 1 && g.dil_w == 1;
}

namespace {

// Calls tap(oh, ih, r, s, columns, off) for every output row oh, kernel row r whose input row ih is
// inside the plane, and kernel column s with its valid output columns and input column offset
// (iw = ow * stride_w + off): the one loop nest all three passes share, in one fixed order.
template <class Tap>
void for_each_tap(const ConvGeom& g, Tap tap) {
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t r = 0; r < g.R; ++r) {
      const int64_t ih = oh * g.stride_h - g.pad_h + r;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t s = 0; s < g.S; ++s) tap(oh, ih, r, s, valid_columns(g, s), s - g.pad_w);
    }
}

}  // namespace

void conv_depthwise_forward(const ConvGeom& g, const float* x, const float* w, float* y) {
  const int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (planes * out_plane * g.R * g.S > 32768)
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x + p * in_plane;
    const float* wc = w + (p % g.C) * g.R * g.S;
    float* yp = y + p * out_plane;
    std::fill(yp, yp + out_plane, 0.f);
    for_each_tap(g, [&](int64_t oh, int64_t ih, int64_t r, int64_t s, ColumnRange cr, int64_t off) {
      const float wv = wc[r * g.S + s];
      float* yrow = yp + oh * g.OW;
      const float* xrow = xp + ih * g.W;
      if (g.stride_w == 1) {
        for (int64_t ow = cr.lo; ow < cr.hi; ++ow) yrow[ow] += wv * xrow[ow + off];
      } else {
        for (int64_t ow = cr.lo; ow < cr.hi; ++ow) yrow[ow] += wv * xrow[ow * g.stride_w + off];
      }
    });
  }
}

void conv_depthwise_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx) {
  const int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (planes * out_plane * g.R * g.S > 32768)
  for (int64_t p = 0; p < planes; ++p) {
    const float* gyp = gy + p * out_plane;
    const float* wc = w + (p % g.C) * g.R * g.S;
    float* gxp = gx + p * in_plane;
    std::fill(gxp, gxp + in_plane, 0.f);
    for_each_tap(g, [&](int64_t oh, int64_t ih, int64_t r, int64_t s, ColumnRange cr, int64_t off) {
      const float wv = wc[r * g.S + s];
      const float* grow = gyp + oh * g.OW;
      float* xrow = gxp + ih * g.W;
      if (g.stride_w == 1) {
        for (int64_t ow = cr.lo; ow < cr.hi; ++ow) xrow[ow + off] += wv * grow[ow];
      } else {
        for (int64_t ow = cr.lo; ow < cr.hi; ++ow) xrow[ow * g.stride_w + off] += wv * grow[ow];
      }
    });
  }
}

void conv_depthwise_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW, taps = g.R * g.S;
#pragma omp parallel for schedule(static) if (g.N * g.C * out_plane * taps > 32768)
  for (int64_t c = 0; c < g.C; ++c) {
    std::vector<float> a(static_cast<size_t>(taps), 0.f);
    for (int64_t n = 0; n < g.N; ++n) {
      const float* xp = x + (n * g.C + c) * in_plane;
      const float* gyp = gy + (n * g.C + c) * out_plane;
      for_each_tap(g, [&](int64_t oh, int64_t ih, int64_t r, int64_t s, ColumnRange cr, int64_t off) {
        const float* grow = gyp + oh * g.OW;
        const float* xrow = xp + ih * g.W;
        // Eight partial sums in a fixed order: the loop vectorises and the result is reproducible.
        float lane[8] = {};
        int64_t ow = cr.lo;
        if (g.stride_w == 1) {
          for (; ow + 8 <= cr.hi; ow += 8)
            for (int k = 0; k < 8; ++k) lane[k] += grow[ow + k] * xrow[ow + k + off];
          for (; ow < cr.hi; ++ow) lane[0] += grow[ow] * xrow[ow + off];
        } else {
          for (; ow < cr.hi; ++ow) lane[ow & 7] += grow[ow] * xrow[ow * g.stride_w + off];
        }
        a[size_t(r * g.S + s)] += ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
      });
    }
    std::copy(a.begin(), a.end(), gw + c * taps);
  }
}

}  // namespace strata::cpu
