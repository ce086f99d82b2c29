#include "kernels/cpu/conv_depthwise.h"
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

// One (sample, channel) plane of the input, zero-padded and split by stride phase: padded row
// ph = ih + pad_h and column pw = iw + pad_w land in phase (ph % sh, pw % sw) at row ph / sh,
// column pw / sw, each phase a Hq x Wq plane (plus one row of slack). Tap (r, s) of output
// (oh, ow) then reads phase (r % sh, s % sw) at (oh + r / sh, ow + s / sw): with the output kept
// Wq wide (its columns from OW on are junk), every tap is one unit-stride pass
//   out[i] += w * phase[i + (r / sh) * Wq + s / sw],  i in [0, OH * Wq),
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

void scatter_input(const ConvGeom& g, const PhaseLayout& L, const float* x, float* buf) {
  std::fill(buf, buf + L.size(), 0.f);
  for (int64_t ih = 0; ih < g.H; ++ih) {
    const float* xr = x + ih * g.W;
    if (L.sw == 1) {
      std::memcpy(buf + L.at(g, ih, 0), xr, size_t(g.W) * sizeof(float));
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
      std::memcpy(xr, buf + L.at(g, ih, 0), size_t(g.W) * sizeof(float));
    } else {
      for (int64_t b = 0; b < L.sw && b < g.W; ++b) {
        const float* src = buf + L.at(g, ih, b);
        for (int64_t iw = b, j = 0; iw < g.W; iw += L.sw, ++j) xr[iw] = src[j];
      }
    }
  }
}

// An output-shaped plane (OH x OW) to and from the Wq-wide rows the taps run over. Widening writes only the
// OW valid columns of each row, so columns a caller zeroed once stay zero across planes.
void widen_rows(const ConvGeom& g, const PhaseLayout& L, const float* plane, float* wide) {
  for (int64_t oh = 0; oh < g.OH; ++oh) std::memcpy(wide + oh * L.Wq, plane + oh * g.OW, size_t(g.OW) * sizeof(float));
}
void narrow_rows(const ConvGeom& g, const PhaseLayout& L, const float* wide, float* plane) {
  for (int64_t oh = 0; oh < g.OH; ++oh) std::memcpy(plane + oh * g.OW, wide + oh * L.Wq, size_t(g.OW) * sizeof(float));
}

// Rows of output per block, so that a block of the Wq-wide output stays in L1 across the taps.
int64_t block_rows(const PhaseLayout& L) { return std::max<int64_t>(1, 2048 / L.Wq); }

// Per-thread scratch, grown once per call.
struct Scratch {
  std::vector<float> phases, out;
  Scratch(const PhaseLayout& L, const ConvGeom& g)
      : phases(size_t(L.size())), out(size_t((g.OH + 1) * L.Wq)) {}
};

float dot_in_order(const float* a, const float* b, int64_t n) {
  // Sixteen partial sums in a fixed order: the loop vectorises and the result is reproducible.
  float lane[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) lane[k] += a[i + k] * b[i + k];
  for (; i < n; ++i) lane[i & 15] += a[i] * b[i];
  for (int k = 0; k < 8; ++k) lane[k] += lane[k + 8];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace

void conv_depthwise_forward(const ConvGeom& g, const float* x, const float* w, float* y) {
  const int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  const PhaseLayout L(g);
  const int64_t rows = block_rows(L);
  parallel_chunks(planes, planes * out_plane * g.R * g.S > 32768, [&](Chunks& chunks) {
    Scratch t(L, g);
    for (int64_t p0, p1; chunks.next(p0, p1);)
      for (int64_t p = p0; p < p1; ++p) {
        scatter_input(g, L, x + p * in_plane, t.phases.data());
        const float* wc = w + (p % g.C) * g.R * g.S;
        float* acc = t.out.data();
        for (int64_t o0 = 0; o0 < g.OH; o0 += rows) {
          const int64_t i0 = o0 * L.Wq, i1 = std::min(g.OH, o0 + rows) * L.Wq;
          for (int64_t r = 0; r < g.R; ++r)
            for (int64_t s = 0; s < g.S; ++s) {
              const float wv = wc[r * g.S + s];
              const float* __restrict src = t.phases.data() + L.tap_offset(r, s);
              float* __restrict a = acc;
              if (r == 0 && s == 0) {
                for (int64_t i = i0; i < i1; ++i) a[i] = wv * src[i];
              } else {
                for (int64_t i = i0; i < i1; ++i) a[i] += wv * src[i];
              }
            }
        }
        narrow_rows(g, L, acc, y + p * out_plane);
      }
  });
}

void conv_depthwise_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx) {
  const int64_t planes = g.N * g.C, in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  const PhaseLayout L(g);
  const int64_t rows = block_rows(L);
  parallel_chunks(planes, planes * out_plane * g.R * g.S > 32768, [&](Chunks& chunks) {
    Scratch t(L, g);
    // The output gradient kept Wq wide; its junk columns stay zero, so their scatter adds nothing.
    std::fill(t.out.begin(), t.out.end(), 0.f);
    for (int64_t p0, p1; chunks.next(p0, p1);)
      for (int64_t p = p0; p < p1; ++p) {
        float* gq = t.out.data();
        widen_rows(g, L, gy + p * out_plane, gq);
        const float* wc = w + (p % g.C) * g.R * g.S;
        float* buf = t.phases.data();
        std::fill(buf, buf + L.size(), 0.f);
        for (int64_t o0 = 0; o0 < g.OH; o0 += rows) {
          const int64_t i0 = o0 * L.Wq, i1 = std::min(g.OH, o0 + rows) * L.Wq;
          for (int64_t r = 0; r < g.R; ++r)
            for (int64_t s = 0; s < g.S; ++s) {
              const float wv = wc[r * g.S + s];
              float* __restrict dst = buf + L.tap_offset(r, s);
              const float* __restrict src = gq;
              for (int64_t i = i0; i < i1; ++i) dst[i] += wv * src[i];
            }
        }
        gather_input(g, L, buf, gx + p * in_plane);
      }
  });
}

void conv_depthwise_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW, taps = g.R * g.S;
  const PhaseLayout L(g);
  parallel_chunks(g.C, g.N * g.C * out_plane * taps > 32768, [&](Chunks& chunks) {
    Scratch t(L, g);
    std::fill(t.out.begin(), t.out.end(), 0.f);  // junk columns of the Wq-wide gradient stay zero
    std::vector<float> a(static_cast<size_t>(taps));
    for (int64_t c0, c1; chunks.next(c0, c1);)
      for (int64_t c = c0; c < c1; ++c) {
        std::fill(a.begin(), a.end(), 0.f);
        for (int64_t n = 0; n < g.N; ++n) {
          scatter_input(g, L, x + (n * g.C + c) * in_plane, t.phases.data());
          float* gq = t.out.data();
          widen_rows(g, L, gy + (n * g.C + c) * out_plane, gq);
          for (int64_t r = 0; r < g.R; ++r)
            for (int64_t s = 0; s < g.S; ++s)
              a[size_t(r * g.S + s)] += dot_in_order(gq, t.phases.data() + L.tap_offset(r, s), g.OH * L.Wq);
        }
        std::copy(a.begin(), a.end(), gw + c * taps);
      }
  });
}

}  // namespace strata::cpu
