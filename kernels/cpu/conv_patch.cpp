#include "kernels/cpu/conv_patch.h"
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/simd.h"

namespace strata::cpu {

namespace {

using simd::kLanes;
using simd::vf;

constexpr int kRows = 6;  // rows of the register tile (output channels, taps or gradient channels)
constexpr int kVecs = 2;  // vectors of the register tile along the row (or along the positions summed)

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// A scratch buffer of each thread, kept between calls (the pool's threads persist); zero-filled to n floats when
// `zero`.
float* scratch(int slot, int64_t n, bool zero) {
  thread_local std::vector<float> buf[2];
  std::vector<float>& b = buf[slot];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  if (zero) std::fill_n(b.begin(), n, 0.0f);
  return b.data();
}

// Weights re-laid as [block of kRows rows][inner][kRows], rows past `rows` zero: one tile row's weights for a
// step of the inner loop are adjacent. at(row, i) gives the weight of row `row` at inner index i.
template <class At>
std::vector<float> pack_rows(int64_t rows, int64_t inner, At at) {
  std::vector<float> p(size_t(round_up(rows, kRows) * inner), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < inner; ++i) p[size_t(((r / kRows) * inner + i) * kRows + r % kRows)] = at(r, i);
  return p;
}

// acc[j][v] = sum over i < n of w[i kRows + j] * src[i stride + v kLanes], for NV vectors.
template <int NV>
inline void tile(const float* w, const float* src, int64_t n, int64_t stride, vf acc[kRows][kVecs]) {
  for (int j = 0; j < kRows; ++j)
    for (int v = 0; v < NV; ++v) acc[j][v] = vf{};
  for (int64_t i = 0; i < n; ++i) {
    vf s[NV];
    for (int v = 0; v < NV; ++v) s[v] = simd::load(src + i * stride + v * kLanes);
    for (int j = 0; j < kRows; ++j) {
      const vf wv = simd::splat(w[i * kRows + j]);
      for (int v = 0; v < NV; ++v) acc[j][v] += wv * s[v];
    }
  }
}

// Runs the tile along a scratch of rows `stride` floats wide (a multiple of kLanes) holding `width` valid
// columns: `emit(out, col, count)` receives the kRows rows' results (out[j]) for columns [col, col + count).
template <class Emit>
void tiles_along_row(const float* w, const float* src, int64_t n, int64_t stride, int64_t width, Emit emit) {
  alignas(64) float out[kRows][kVecs * kLanes];
  vf acc[kRows][kVecs];
  for (int64_t col = 0; col < width; col += kVecs * kLanes) {
    const bool two = width - col > kLanes;
    if (two) tile<2>(w, src + col, n, stride, acc);
    else tile<1>(w, src + col, n, stride, acc);
    for (int j = 0; j < kRows; ++j)
      for (int v = 0; v < (two ? 2 : 1); ++v) simd::store(out[j] + v * kLanes, acc[j][v]);
    emit(out, col, std::min<int64_t>(width - col, kVecs * kLanes));
  }
}

}  // namespace

bool conv_patch_applies(const ConvGeom& g) {
  return g.groups == 1 && g.R * g.S > 1 && g.R == g.stride_h && g.S == g.stride_w && g.pad_h == 0 && g.pad_w == 0 &&
         g.dil_h == 1 && g.dil_w == 1 && g.H == g.OH * g.R && g.W == g.OW * g.S;
}

int64_t conv_patch_workspace(const ConvGeom& g, ConvPass pass) {
  return pass == ConvPass::backward_weight ? g.N * g.K * g.C * g.R * g.S : 0;
}

// Output rows per task: narrow rows are taken several at a time (positions of consecutive rows are adjacent in
// y and gy), so that the register tile's vectors are full.
int64_t rows_per_task(const ConvGeom& g) { return std::clamp<int64_t>((8 * kLanes + g.OW - 1) / g.OW, 1, g.OH); }

void conv_patch_forward(const ConvGeom& g, const float* x, const float* w, float* y) {
  // y[n, k, oh, ow] = sum over taps q = (c, r, s) of w[k, q] x[n, c, oh R + r, ow S + s]: per task (a sample's
  // block of output rows), the rows' taps gathered into xs[q][position], then tiles of 6 output channels x 2
  // vectors of positions.
  const int64_t Q = g.C * g.R * g.S, rows = rows_per_task(g), blocks = (g.OH + rows - 1) / rows;
  const int64_t Wp = round_up(rows * g.OW, kLanes);
  const std::vector<float> wp = pack_rows(g.K, Q, [&](int64_t k, int64_t q) { return w[k * Q + q]; });
  parallel_for(g.N * blocks, true, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t n = task / blocks, oh0 = task % blocks * rows, nr = std::min(rows, g.OH - oh0);
      const int64_t width = nr * g.OW;
      float* xs = scratch(0, Q * Wp, width != Wp);  // the positions past `width` only feed results that are dropped
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t r = 0; r < g.R; ++r)
          for (int64_t i = 0; i < nr; ++i)
            simd::split_row(x + ((n * g.C + c) * g.H + (oh0 + i) * g.R + r) * g.W, g.OW, g.S,
                       xs + (c * g.R + r) * g.S * Wp + i * g.OW, Wp);
      for (int64_t k0 = 0; k0 < g.K; k0 += kRows)
        tiles_along_row(wp.data() + k0 * Q, xs, Q, Wp, width,
                        [&](const float (*out)[kVecs * kLanes], int64_t col, int64_t count) {
          for (int64_t j = 0; j < kRows && k0 + j < g.K; ++j)
            std::copy_n(out[j], count, y + ((n * g.K + k0 + j) * g.OH + oh0) * g.OW + col);
        });
    }
  });
}

void conv_patch_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx) {
  // gx[n, c, oh R + r, ow S + s] = sum over k of w[k, q] gy[n, k, oh, ow], q = (c, r, s): per task (a sample's
  // block of rows of gy), the rows of its K channels copied into gs[k][position], then tiles of 6 taps x 2
  // vectors of positions, each result written to its one place in gx (the S taps of one (c, r) interleaved back
  // into their row).
  const int64_t Q = g.C * g.R * g.S, rows = rows_per_task(g), blocks = (g.OH + rows - 1) / rows;
  const int64_t Wp = round_up(rows * g.OW, kLanes);
  const std::vector<float> wp = pack_rows(Q, g.K, [&](int64_t q, int64_t k) { return w[k * Q + q]; });
  parallel_for(g.N * blocks, true, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t n = task / blocks, oh0 = task % blocks * rows, nr = std::min(rows, g.OH - oh0);
      const int64_t width = nr * g.OW;
      float* gs = scratch(0, g.K * Wp, width != Wp);
      for (int64_t k = 0; k < g.K; ++k) std::copy_n(gy + ((n * g.K + k) * g.OH + oh0) * g.OW, width, gs + k * Wp);
      for (int64_t q0 = 0; q0 < Q; q0 += kRows)
        tiles_along_row(wp.data() + q0 * g.K, gs, g.K, Wp, width,
                        [&](const float (*out)[kVecs * kLanes], int64_t col, int64_t count) {
          // Rows j of the tile are taps q0 + j (the S taps of one (c, r) consecutive); columns are positions,
          // which may run over several rows of the block.
          for (int64_t j = 0; j < kRows && q0 + j < Q;) {
            const int64_t q = q0 + j, c = q / (g.R * g.S), r = q / g.S % g.R, s = q % g.S;
            const bool whole = s == 0 && j + g.S <= kRows;  // all S taps of (c, r) in this tile
            for (int64_t done = 0; done < count;) {
              const int64_t pos = col + done, i = pos / g.OW, ow = pos % g.OW, seg = std::min(count - done, g.OW - ow);
              float* dst = gx + ((n * g.C + c) * g.H + (oh0 + i) * g.R + r) * g.W + ow * g.S;
              if (whole) simd::join_row(out[j] + done, kVecs * kLanes, seg, g.S, dst);
              else
                for (int64_t t = 0; t < seg; ++t) dst[t * g.S + s] = out[j][done + t];
              done += seg;
            }
            j += whole ? g.S : 1;
          }
        });
    }
  });
}

void conv_patch_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace) {
  // gw[k, q] = sum over positions p = (oh, ow) and samples n of gy[n, k, p] x[n, c, oh R + r, ow S + s]. Each
  // sample's sum goes to its own slice of the workspace (one thread, positions in order); the samples are then
  // added in order. Per step of whole rows of positions, the taps are gathered position-major (xt[p][q], q
  // contiguous) and tiles of 6 output channels x 2 vectors of taps accumulate over the positions, reading gy
  // in place.
  const int64_t Q = g.C * g.R * g.S, P = g.OH * g.OW, Qp = round_up(Q, kLanes);
  // Rows of positions per step: the step's gathered taps (twice: tap-major, then position-major) stay in the L2
  // cache (2 x 32 K floats).
  const int64_t rows = std::clamp<int64_t>((int64_t(1) << 15) / (Qp * g.OW), 1, g.OH);
  const int64_t len = rows * g.OW;
  const std::vector<float> zeros(size_t(len), 0.0f);  // the gradient rows of the channels past K in a tile
  parallel_for(g.N, true, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* part = workspace + n * g.K * Q;
      std::fill_n(part, g.K * Q, 0.0f);
      float* xs = scratch(0, Q * len, false);  // [q][position]
      float* xt = scratch(1, len * Qp, true);  // [position][q]; the taps past Q stay zero
      for (int64_t oh0 = 0; oh0 < g.OH; oh0 += rows) {
        const int64_t nr = std::min(rows, g.OH - oh0), used = nr * g.OW;
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t r = 0; r < g.R; ++r)
            for (int64_t i = 0; i < nr; ++i)
              simd::split_row(x + ((n * g.C + c) * g.H + (oh0 + i) * g.R + r) * g.W, g.OW, g.S,
                         xs + (c * g.R + r) * g.S * len + i * g.OW, len);
        simd::transpose(xs, len, Q, used, xt, Qp);
        for (int64_t k0 = 0; k0 < g.K; k0 += kRows) {
          const float* grow[kRows];
          for (int j = 0; j < kRows; ++j)
            grow[j] = k0 + j < g.K ? gy + (n * g.K + k0 + j) * P + oh0 * g.OW : zeros.data();
          for (int64_t q0 = 0; q0 < Q; q0 += kVecs * kLanes) {
            const bool two = Qp - q0 > kLanes;
            vf acc[kRows][kVecs] = {};
            for (int64_t p = 0; p < used; ++p) {
              const float* xp = xt + p * Qp + q0;
              const vf x0 = simd::load(xp), x1 = two ? simd::load(xp + kLanes) : vf{};
              for (int j = 0; j < kRows; ++j) {
                const vf gv = simd::splat(grow[j][p]);
                acc[j][0] += gv * x0;
                acc[j][1] += gv * x1;
              }
            }
            const int64_t count = std::min<int64_t>(Q - q0, kVecs * kLanes);
            for (int64_t j = 0; j < kRows && k0 + j < g.K; ++j) {
              float* dst = part + (k0 + j) * Q + q0;
              if (count == kVecs * kLanes) {
                simd::store(dst, simd::load(dst) + acc[j][0]);
                simd::store(dst + kLanes, simd::load(dst + kLanes) + acc[j][1]);
              } else {
                alignas(64) float out[kVecs * kLanes];
                simd::store(out, acc[j][0]);
                simd::store(out + kLanes, acc[j][1]);
                for (int64_t i = 0; i < count; ++i) dst[i] += out[i];
              }
            }
          }
        }
      }
    }
  });
  const int64_t KQ = g.K * Q;
  parallel_for(KQ, true, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float s = 0;
      for (int64_t n = 0; n < g.N; ++n) s += workspace[n * KQ + i];
      gw[i] = s;
    }
  });
}

}  // namespace strata::cpu
