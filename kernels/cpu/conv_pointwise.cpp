#include "kernels/cpu/conv_pointwise.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace strata::cpu {

bool conv_pointwise_applies(const ConvGeom& g) { return g.groups == 1 && g.is_pointwise(); }

namespace {

using simd::kLanes;
using simd::load;
using simd::splat;
using simd::store;
using simd::vf;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- forward and backward-data: out[n] (M x P) = a (M x D) in[n] (D x P) ----

// The register tile: kRows panel rows x kVecs vectors of positions (AVX-512: 8 x 3 = 24 of 32 registers, the
// 3 loaded vectors and a broadcast beside them; 16 registers: 4 x 3).
constexpr int kRows = simd::kRegisters >= 32 ? 8 : 4;
constexpr int kVecs = 3;
constexpr int64_t kStrip = int64_t(kVecs) * kLanes;

// a (M x D), read through at(m, d), as panels of kRows rows: a(i kRows + r, d) lands at
// [(i D + d) kRows + r], the rows of the last panel from M on zero.
template <class At>
void pack_panels(int64_t M, int64_t D, At at, float* out) {
  parallel_for(ceil_div(M, kRows), M * D >= (int64_t(1) << 15), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t d = 0; d < D; ++d)
        for (int r = 0; r < kRows; ++r) {
          const int64_t m = i * kRows + r;
          out[(i * D + d) * kRows + r] = m < M ? at(m, d) : 0.f;
        }
  });
}

// c (the first `rows` rows, ldc apart, of kVecs vectors) = panel (kRows x D) b (D rows of kVecs vectors, ldb
// apart). Each loaded vector of b feeds kRows multiply-adds.
void product_tile(const float* panel, int64_t D, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t rows) {
  vf acc[kRows][kVecs];
  for (auto& row : acc)
    for (vf& v : row) v = vf{};
  for (int64_t d = 0; d < D; ++d, b += ldb, panel += kRows) {
    vf bv[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) bv[v] = load(b + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const vf a = splat(panel[r]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] += a * bv[v];
    }
  }
  // Constant indices only: a loop bound by `rows` would keep acc in memory throughout.
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) store(c + r * ldc + v * kLanes, acc[r][v]);
  }
}

// The positions [q0, q0 + count) of the axis that runs through the last `rem` positions of every sample's
// plane, sample after sample: its pieces, one per sample touched, as (sample, first position, length,
// place in the strip).
template <class Fn>
void for_each_tail_piece(int64_t q0, int64_t count, int64_t P, int64_t rem, Fn&& fn) {
  for (int64_t q = q0; q < q0 + count;) {
    const int64_t n = q / rem, i = q % rem, len = std::min(rem - i, q0 + count - q);
    fn(n, P - rem + i, len, q - q0);
    q += len;
  }
}

// out[n] (M x P) = a (M x D, packed by pack_panels) in[n] (D x P) for n < N, samples stored one after another.
// Whole strips of kStrip positions are read in place: a task is one sample's group of strips against a group
// of panels (the strips' D rows stay in cache while the panels pass). The positions left over at the end of
// each plane (all of them for planes narrower than a strip) are gathered across samples into full strips in
// a scratch, so 5 x 7 planes fill the tile as well as large ones; their results are scattered back.
void product_per_sample(int64_t N, int64_t M, int64_t D, int64_t P, const float* packed, const float* in,
                        float* out) {
  constexpr int64_t kStripsPerTask = 4;
  const int64_t panels = ceil_div(M, kRows), strips = P / kStrip, rem = P % kStrip;
  const int64_t strip_groups = ceil_div(strips, kStripsPerTask), tail_strips = ceil_div(N * rem, kStrip);
  // Few strips: split the panels too, so that every thread gets several tasks.
  const int64_t panel_groups =
      std::clamp<int64_t>(ceil_div(4 * int64_t(pool_threads()), N * strip_groups + tail_strips), 1, panels);
  const int64_t panels_per_group = ceil_div(panels, panel_groups);
  const int64_t whole_tasks = N * strip_groups * panel_groups;
  const int64_t tasks = whole_tasks + tail_strips * panel_groups;
  parallel_chunks(tasks, N * M * D * P >= (int64_t(1) << 16), [&](Chunks& chunks) {
    std::vector<float> strip, result;  // a gathered strip (D x kStrip) and its tile results (kRows x kStrip)
    int64_t t0, t1;
    while (chunks.next(t0, t1))
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t pg = t % panel_groups;
        const int64_t i0 = pg * panels_per_group, i1 = std::min(panels, i0 + panels_per_group);
        if (t < whole_tasks) {
          const int64_t n = t / (strip_groups * panel_groups), sg = (t / panel_groups) % strip_groups;
          const float* b = in + n * D * P;
          float* c = out + n * M * P;
          const int64_t s1 = std::min(strips, (sg + 1) * kStripsPerTask);
          for (int64_t s = sg * kStripsPerTask; s < s1; ++s)
            for (int64_t i = i0; i < i1; ++i)
              product_tile(packed + i * D * kRows, D, b + s * kStrip, P, c + i * kRows * P + s * kStrip, P,
                           std::min<int64_t>(kRows, M - i * kRows));
          continue;
        }
        const int64_t q0 = ((t - whole_tasks) / panel_groups) * kStrip, count = std::min(kStrip, N * rem - q0);
        strip.resize(size_t(D * kStrip));
        if (count < kStrip) std::fill(strip.begin(), strip.end(), 0.f);  // the last strip's padding
        result.resize(size_t(kRows * kStrip));
        for_each_tail_piece(q0, count, P, rem, [&](int64_t n, int64_t p, int64_t len, int64_t at) {
          for (int64_t d = 0; d < D; ++d) simd::copy(strip.data() + d * kStrip + at, in + (n * D + d) * P + p, len);
        });
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t rows = std::min<int64_t>(kRows, M - i * kRows);
          product_tile(packed + i * D * kRows, D, strip.data(), kStrip, result.data(), kStrip, rows);
          for_each_tail_piece(q0, count, P, rem, [&](int64_t n, int64_t p, int64_t len, int64_t at) {
            for (int64_t r = 0; r < rows; ++r)
              simd::copy(out + (n * M + i * kRows + r) * P + p, result.data() + r * kStrip + at, len);
          });
        }
      }
  });
}

// ---- backward-weight: gw (K x C) = sum over n of gy[n] (K x P) x[n]^T ----

// The register tile: kWRows gradient rows x kWCols input rows of lane-wise sums (AVX-512: 4 x 6 = 24
// registers, the 4 gradient vectors and one input vector beside them; 16 registers: 3 x 4).
constexpr int kWRows = simd::kRegisters >= 32 ? 4 : 3;
constexpr int kWCols = simd::kRegisters >= 32 ? 6 : 4;
constexpr int kTileVecs = kWRows * kWCols;
// Positions per slice: a task's rows of one slice stay in cache while its tiles pass over them.
constexpr int64_t kSlice = 512;

// acc (kTileVecs vectors, by gradient row) += lane-wise products of the gradient rows g[r] and the input rows
// x[j] over `vecs` vectors.
void dot_tile(const float* const* g, const float* const* x, int64_t vecs, float* acc) {
  vf a[kWRows][kWCols];
#pragma GCC unroll 8
  for (int r = 0; r < kWRows; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < kWCols; ++j) a[r][j] = load(acc + (r * kWCols + j) * kLanes);
  for (int64_t i = 0; i < vecs * kLanes; i += kLanes) {
    vf gv[kWRows];
#pragma GCC unroll 8
    for (int r = 0; r < kWRows; ++r) gv[r] = load(g[r] + i);
#pragma GCC unroll 8
    for (int j = 0; j < kWCols; ++j) {
      const vf xv = simd::load_once(x[j] + i);
#pragma GCC unroll 8
      for (int r = 0; r < kWRows; ++r) a[r][j] += gv[r] * xv;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kWRows; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < kWCols; ++j) store(acc + (r * kWCols + j) * kLanes, a[r][j]);
}

// Where the backward-weight pass reads its rows. Planes of whole vectors are read in place, a slice never
// crossing a sample. Other planes (10 x 14, 5 x 7) are first copied channel by channel into rows that run
// through every sample, zero-padded to whole vectors (the pass's workspace), so that a slice spans samples
// and no vector is partly empty.
struct RowSource {
  const float* base;
  int64_t channel_step, sample_step;
  const float* row(int64_t n, int64_t channel, int64_t p) const { return base + n * sample_step + channel * channel_step + p; }
};

struct Slice {
  int64_t n, p0, vecs;
};

bool weight_rows_in_place(const ConvGeom& g) { return (g.OH * g.OW) % kLanes == 0; }

int64_t packed_row(const ConvGeom& g) { return ceil_div(g.N * g.OH * g.OW, kLanes) * kLanes; }

// dst (channels x ld) = the rows of t (N, channels, P) joined sample after sample, zero after N P.
void pack_rows(const float* t, int64_t N, int64_t channels, int64_t P, float* dst, int64_t ld) {
  parallel_for(channels, N * channels * P >= (int64_t(1) << 15), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      for (int64_t n = 0; n < N; ++n) simd::copy(dst + c * ld + n * P, t + (n * channels + c) * P, P);
      std::fill(dst + c * ld + N * P, dst + (c + 1) * ld, 0.f);
    }
  });
}

}  // namespace

int64_t conv_pointwise_workspace(const ConvGeom& g, ConvPass pass) {
  switch (pass) {
    case ConvPass::forward: return ceil_div(g.K, kRows) * kRows * g.C;
    case ConvPass::backward_data: return ceil_div(g.C, kRows) * kRows * g.K;
    case ConvPass::backward_weight: return weight_rows_in_place(g) ? 0 : (g.K + g.C) * packed_row(g);
  }
  return 0;
}

void conv_pointwise_forward(const ConvGeom& g, const float* x, const float* w, float* y, float* workspace) {
  pack_panels(g.K, g.C, [&](int64_t k, int64_t c) { return w[k * g.C + c]; }, workspace);
  product_per_sample(g.N, g.K, g.C, g.OH * g.OW, workspace, x, y);
}

void conv_pointwise_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx, float* workspace) {
  pack_panels(g.C, g.K, [&](int64_t c, int64_t k) { return w[k * g.C + c]; }, workspace);
  product_per_sample(g.N, g.C, g.K, g.OH * g.OW, workspace, gy, gx);
}

void conv_pointwise_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace) {
  const int64_t K = g.K, C = g.C, P = g.OH * g.OW;
  RowSource gsrc{gy, P, K * P}, xsrc{x, P, C * P};
  std::vector<Slice> slice;
  if (weight_rows_in_place(g)) {
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t p0 = 0; p0 < P; p0 += kSlice) slice.push_back({n, p0, std::min(kSlice, P - p0) / kLanes});
  } else {
    const int64_t ld = packed_row(g);
    pack_rows(gy, g.N, K, P, workspace, ld);
    pack_rows(x, g.N, C, P, workspace + K * ld, ld);
    gsrc = {workspace, ld, 0};
    xsrc = {workspace + K * ld, ld, 0};
    for (int64_t q0 = 0; q0 < ld; q0 += kSlice) slice.push_back({0, q0, std::min(kSlice, ld - q0) / kLanes});
  }
  const int64_t slices = int64_t(slice.size());
  // A task is a range of slices x a group of gradient-row tiles x a group of input-row tiles. The ranges are
  // fixed by the shape (kSlicesPerRange slices each; their sums are added in order afterwards), so results do
  // not depend on the thread count; splitting the axis, not the channels, keeps each row read about once.
  // The channel groups (at most 64 output and 48 input channels) keep a slice's rows and the tiles' sums in
  // the core's cache, and are split further when there are fewer tasks than two per thread.
  constexpr int64_t kSlicesPerRange = 8;
  const int64_t ranges = ceil_div(slices, kSlicesPerRange);
  const int64_t ktiles = ceil_div(K, kWRows), ctiles = ceil_div(C, kWCols);
  const int64_t ct_per = std::min(ctiles, std::max<int64_t>(1, 48 / kWCols));
  const int64_t cgroups = ceil_div(ctiles, ct_per);
  int64_t kgroups = ceil_div(ktiles, std::max<int64_t>(1, 64 / kWRows));
  kgroups = std::min(ktiles, std::max(kgroups, ceil_div(2 * int64_t(pool_threads()), cgroups * ranges)));
  const int64_t kt_per = ceil_div(ktiles, kgroups);
  kgroups = ceil_div(ktiles, kt_per);
  constexpr int64_t kTileFloats = int64_t(kTileVecs) * kLanes;
  // One weight gradient per range, summed in range order at the end (none needed for a single range).
  std::vector<float> partial(ranges > 1 ? size_t(ranges * K * C) : 0);

  parallel_chunks(ranges * kgroups * cgroups, g.N * K * C * P >= (int64_t(1) << 16), [&](Chunks& chunks) {
    std::vector<float> acc(size_t(kt_per * ct_per * kTileFloats));
    int64_t t0, t1;
    while (chunks.next(t0, t1))
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t range = t / (kgroups * cgroups), group = t % (kgroups * cgroups);
        const int64_t kt0 = (group / cgroups) * kt_per, nk = std::min(ktiles, kt0 + kt_per) - kt0;
        const int64_t ct0 = (group % cgroups) * ct_per, nc = std::min(ctiles, ct0 + ct_per) - ct0;
        std::fill(acc.begin(), acc.end(), 0.f);
        const int64_t s1 = std::min(slices, (range + 1) * kSlicesPerRange);
        for (int64_t s = range * kSlicesPerRange; s < s1; ++s) {
          const Slice& sl = slice[size_t(s)];
          for (int64_t kt = 0; kt < nk; ++kt) {
            // Rows past K or C repeat the last channel (computed, never stored).
            const float* grow[kWRows];
            for (int r = 0; r < kWRows; ++r) grow[r] = gsrc.row(sl.n, std::min(K - 1, (kt0 + kt) * kWRows + r), sl.p0);
            for (int64_t ct = 0; ct < nc; ++ct) {
              const float* xrow[kWCols];
              for (int j = 0; j < kWCols; ++j) xrow[j] = xsrc.row(sl.n, std::min(C - 1, (ct0 + ct) * kWCols + j), sl.p0);
              dot_tile(grow, xrow, sl.vecs, acc.data() + (kt * ct_per + ct) * kTileFloats);
            }
          }
        }
        float* out = ranges > 1 ? partial.data() + range * K * C : gw;
        for (int64_t kt = 0; kt < nk; ++kt)
          for (int64_t ct = 0; ct < nc; ++ct) {
            const float* tile = acc.data() + (kt * ct_per + ct) * kTileFloats;
            const int64_t k0 = (kt0 + kt) * kWRows, c0 = (ct0 + ct) * kWCols;
            for (int r = 0; r < kWRows && k0 + r < K; ++r)
              for (int j = 0; j < kWCols && c0 + j < C; ++j)
                out[(k0 + r) * C + c0 + j] = simd::sum_lanes(load(tile + (r * kWCols + j) * kLanes));
          }
      }
  });
  if (ranges == 1) return;
  parallel_for(K, K * C * ranges >= (int64_t(1) << 16), [&](int64_t k0, int64_t k1) {
    for (int64_t i = k0 * C; i < k1 * C; ++i) {
      float s = partial[size_t(i)];
      for (int64_t r = 1; r < ranges; ++r) s += partial[size_t(r * K * C + i)];
      gw[i] = s;
    }
  });
}

}  // namespace strata::cpu
