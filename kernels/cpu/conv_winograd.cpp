#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/filter_cache.h"
#include "kernels/cpu/simd.h"

namespace strata::cpu {
namespace {

constexpr int64_t kTile = 4;                 // output tile (m)
constexpr int64_t kIn = kTile + 2;           // input tile (m + r - 1)
constexpr int64_t kPoints = kIn * kIn;       // transform points of a 2-D tile: 36 GEMMs
constexpr int kWinogradKernel = 1;           // this kernel's tag in the filter cache

// One correlation y (N, Cout, OH, OW) = x (N, Cin, H, W) (*) f (Cout, Cin, R, 3)
// with zero padding (pad_h, pad_w), as the forward pass and backward-data see it.
// R = 3 tiles both axes (F(4x4, 3x3)); R = 1 (one_d: H = OH = 1, no padding in
// h, as conv1d runs) tiles the row only (F(4, 3)): one row per tile, 6 points.
//
// Two ways to run it (plan_of picks by the memory traffic, blocked_wins). Blocked
// (the transformed filters stay in cache): each thread takes a block of tile rows
// (1-D: of whole rows), transforms its tiles, multiplies and transforms back
// while they are in cache. Larger ones: every transform over the whole tensor,
// then one large GEMM per point (gemm_block, our register-blocked kernel),
// which reads the big filter bank once. (conv1d N16, 1 thread: blocked
// C32 L512 1.9 -> 1.5-1.8 ms, C64 L256 3.0 -> 2.5-2.7 ms; C128 L128 4.4 ->
// 4.9 ms, so the bound is the same in 1-D.)
struct Plan {
  int64_t N, Cin, H, W, Cout, OH, OW, pad_h, pad_w;
  bool one_d;
  bool blocked_ = false;  // plan_of: blocked_wins
  bool blocked() const { return blocked_; }
  int64_t R() const { return one_d ? 1 : 3; }             // filter rows
  int64_t tile_h() const { return one_d ? 1 : kTile; }    // output rows per tile
  int64_t points_h() const { return one_d ? 1 : kIn; }    // transform points along h
  int64_t points() const { return points_h() * kIn; }
  int64_t TH() const { return (OH + tile_h() - 1) / tile_h(); }
  int64_t TW() const { return (OW + kTile - 1) / kTile; }
  int64_t T() const { return N * TH() * TW(); }
  // Row length of the whole-tensor V[e][c][.] and M[e][co][.]: the tiles,
  // padded to whole vectors for gemm_block.
  int64_t Tr() const { return (T() + simd::kLanes - 1) / simd::kLanes * simd::kLanes; }
  int64_t u_floats() const { return points() * Cout * Cin; }
  int64_t v_floats() const { return points() * Cin * Tr(); }
  int64_t m_floats() const { return points() * Cout * Tr(); }
  // The blocked passes keep their tiles in per-thread buffers.
  int64_t workspace() const { return u_floats() + (blocked() ? 0 : v_floats() + m_floats()); }
};

// The geometry of one pass and how it runs (defined below, after the blocking).
Plan plan_of(const ConvGeom& g, ConvPass pass);

// The R x 3 filters as the correlation sees them: filter (co, ci) tap (r, s) is
// w[base + co * s_co + ci * s_ci + r * s_r + s * s_s] (strides may be negative:
// backward-data reads the filters transposed and flipped).
struct Filters {
  const float* w;
  int64_t base, s_co, s_ci, s_r, s_s;
};

// G g along one axis for n filters at once (vectorised over n): u_k = sum_r G[k][r] g_r.
inline void filter_1d(const float* g0, const float* g1, const float* g2, float* const u[kIn], int64_t n) {
#pragma omp simd  // the outputs never overlap the inputs
  for (int64_t i = 0; i < n; ++i) {
    const float a = g0[i], b = g1[i], c = g2[i];
    u[0][i] = a * 0.25f;
    u[1][i] = -(a + b + c) * (1.0f / 6);
    u[2][i] = -(a - b + c) * (1.0f / 6);
    u[3][i] = a * (1.0f / 24) + b * (1.0f / 12) + c * (1.0f / 6);
    u[4][i] = a * (1.0f / 24) - b * (1.0f / 12) + c * (1.0f / 6);
    u[5][i] = c;
  }
}

// U[e][co][ci] = (G f G^T)[e] (R = 3) or (G f)[e] (R = 1) for every filter
// f(co, ci). A block of output channels at a time: gather the block's taps
// (a block of input channels at a time, so that the transposed reads of
// backward-data stay in cache too), then per output channel, vectorised over
// the input channels, transform the columns (r) and the rows (s) straight
// into U.
void transform_filters(const Plan& p, const Filters& f, float* U) {
  constexpr int64_t kBlock = 16;
  const int64_t C = p.Cin, R = p.R(), taps_per = R * 3, blocks = (p.Cout + kBlock - 1) / kBlock;
  parallel_chunks(blocks, true, [&](Chunks& chunks) {
    // taps[b][r][s][ci] for the block's output channels b, cols[s][i][ci]
    std::vector<float> taps(size_t(kBlock * taps_per * C)), cols(size_t(3 * kIn * C));
    for (int64_t blk0, blk1; chunks.next(blk0, blk1);)
      for (int64_t blk = blk0; blk < blk1; ++blk) {
        const int64_t co0 = blk * kBlock, nb = std::min(kBlock, p.Cout - co0);
        // 16 input channels at a time: the lines of `taps` being filled (16 x
        // taps_per of them) and the filter taps being read both stay in L1.
        for (int64_t ci0 = 0; ci0 < C; ci0 += kBlock) {
          const int64_t nc = std::min(kBlock, C - ci0);
          for (int64_t b = 0; b < nb; ++b)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < 3; ++s) {
                const float* w = f.w + f.base + (co0 + b) * f.s_co + ci0 * f.s_ci + r * f.s_r + s * f.s_s;
                float* t = taps.data() + (b * taps_per + r * 3 + s) * C + ci0;
                for (int64_t c = 0; c < nc; ++c) t[c] = w[c * f.s_ci];
              }
        }
        for (int64_t b = 0; b < nb; ++b) {
          const float* tb = taps.data() + b * taps_per * C;
          if (p.one_d) {
            float* u[kIn];
            for (int64_t j = 0; j < kIn; ++j) u[j] = U + (j * p.Cout + co0 + b) * C;
            filter_1d(tb, tb + C, tb + 2 * C, u, C);
            continue;
          }
          for (int64_t s = 0; s < 3; ++s) {
            float* u[kIn];
            for (int64_t i = 0; i < kIn; ++i) u[i] = cols.data() + (s * kIn + i) * C;
            filter_1d(tb + s * C, tb + (3 + s) * C, tb + (6 + s) * C, u, C);
          }
          for (int64_t i = 0; i < kIn; ++i) {
            float* u[kIn];
            for (int64_t j = 0; j < kIn; ++j) u[j] = U + ((i * kIn + j) * p.Cout + co0 + b) * C;
            filter_1d(cols.data() + i * C, cols.data() + (kIn + i) * C, cols.data() + (2 * kIn + i) * C, u, C);
          }
        }
      }
  });
}

// The 1-D transforms, on floats or on vectors of kLanes tiles: `load(i)` gives
// input i, `store(k, v)` takes output k.

// B^T d for d = (d0 .. d5): out[k] = sum_i B^T[k][i] d_i.
template <class Load, class Store>
inline void input_1d(Load d, Store out) {
  const auto d0 = d(0), d1 = d(1), d2 = d(2), d3 = d(3), d4 = d(4), d5 = d(5);
  out(0, 4 * d0 - 5 * d2 + d4);
  out(1, -4 * d1 - 4 * d2 + d3 + d4);
  out(2, 4 * d1 - 4 * d2 - d3 + d4);
  out(3, -2 * d1 - d2 + 2 * d3 + d4);
  out(4, 2 * d1 - d2 - 2 * d3 + d4);
  out(5, 4 * d1 - 5 * d3 + d5);
}

// A^T m for m = (m0 .. m5): out[k] = sum_i A^T[k][i] m_i.
template <class Load, class Store>
inline void output_1d(Load m, Store out) {
  const auto m0 = m(0), m1 = m(1), m2 = m(2), m3 = m(3), m4 = m(4), m5 = m(5);
  const auto a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
  out(0, m0 + a + c);
  out(1, b + 2 * d);
  out(2, a + 4 * c);
  out(3, b + 8 * d + m5);
}

// Scratch of the tile-row transforms, one per thread.
// With `staged`, transform_row writes each row's points to `out` first and
// copies them on as contiguous runs: faster where the destination is a
// whole-tensor buffer far beyond the cache and the rows are 2-D tile rows.
// The blocked passes write straight into their cache-resident block, and so
// do 1-D rows (a whole row of a plane: conv1d N16 C128 L128 / C256 L64, one
// thread, staging cost 0.63-0.68 / 0.48-0.49 of the GEMM's perf samples in
// the transforms against 0.46 / 0.28 without).
struct RowScratch {
  // The vectorised row pass reads up to 2 floats past the last tile's
  // samples; one vector of zeros covers it.
  static constexpr int64_t kPad = simd::kLanes;
  std::vector<float> rows, cols, out;  // rows: 1-D, the zero-padded row; 2-D, a row of zeros
  RowScratch(int64_t E, int64_t TW, bool staged)
      : rows(size_t((TW - 1) * kTile + E + kPad)),
        cols(size_t(kIn * ((TW - 1) * kTile + E) + kPad)),
        out(staged ? size_t(kIn * kIn * TW) : 0) {}
};

// The transform of tile row th of one plane (H, W): tiles start every kTile
// samples from (-pad_h, -pad_w), samples outside the plane are 0, and
// `transform_1d(load, store)` maps E values to kIn (input_1d / gradient_1d).
// Point e of tile tw goes to out[e * point_stride + tw]. The row's E rows are
// copied zero-padded, the transform along the columns runs over the whole row
// (contiguous), then along each tile's row. With one_dim (1-D tiles of E
// samples, H = 1) the column transform is skipped and each tile has kIn points.
template <int64_t E, class OneD>
void transform_row(const float* plane, int64_t H, int64_t W, int64_t pad_h, int64_t pad_w, int64_t th, int64_t TW,
                   bool one_dim, OneD transform_1d, RowScratch& scratch, float* out, int64_t point_stride) {
  const int64_t Wt = (TW - 1) * kTile + E;
  const int64_t Eh = one_dim ? 1 : E, step_h = one_dim ? 1 : kTile, Ph = one_dim ? 1 : kIn, points = Ph * kIn;
  const int64_t w_lo = std::max<int64_t>(0, pad_w), w_hi = std::min(Wt, W + pad_w);  // the plane's columns in a row
  float* col[kIn];
  if (one_dim) {  // the row itself, zero-padded
    float* r = scratch.rows.data();
    col[0] = r;
    std::fill_n(r, w_lo, 0.0f);
    std::fill(r + std::max(w_lo, w_hi), r + Wt, 0.0f);
    if (w_hi > w_lo) std::copy(plane + (w_lo - pad_w), plane + (w_hi - pad_w), r + w_lo);
  } else {
    // The column transform reads the plane's rows where they are (a row above
    // or below the plane reads scratch.rows, which stays zero) and writes 0
    // where every row is padding.
    const float* src[kIn];
    for (int64_t i = 0; i < Eh; ++i) {
      const int64_t h = th * step_h - pad_h + i;
      src[i] = h < 0 || h >= H ? scratch.rows.data() + pad_w : plane + h * W;
    }
    for (int64_t k = 0; k < kIn; ++k) {
      col[k] = scratch.cols.data() + k * Wt;
      std::fill_n(col[k], w_lo, 0.0f);
      std::fill(col[k] + std::max(w_lo, w_hi), col[k] + Wt, 0.0f);
    }
#pragma omp simd
    for (int64_t w = w_lo; w < w_hi; ++w)
      transform_1d([&](int64_t i) { return src[i][w - pad_w]; }, [&](int64_t k, float v) { col[k][w] = v; });
  }
  const bool staged = !scratch.out.empty();
  for (int64_t k = 0; k < Ph; ++k) {
    float* o[kIn];
    for (int64_t l = 0; l < kIn; ++l)
      o[l] = staged ? scratch.out.data() + (k * kIn + l) * TW : out + (k * kIn + l) * point_stride;
    const float* ck = col[k];
    // kLanes tiles at a time: tile tw's samples are ck[4 tw .. 4 tw + E), split
    // into vectors of one sample each by register shuffles (stride-4 reads do
    // not vectorise); the rest one tile at a time.
    int64_t tv = 0;
    for (; tv + simd::kLanes <= TW; tv += simd::kLanes) {
      simd::vf d[8];  // d[j] lane i: sample j of tile tv + i
      simd::deinterleave4(ck + tv * kTile, d);
      if constexpr (E > kTile) simd::deinterleave4(ck + (tv + 1) * kTile, d + 4);
      transform_1d([&](int64_t j) { return d[j]; }, [&](int64_t l, simd::vf v) { simd::store(o[l] + tv, v); });
    }
#pragma omp simd
    for (int64_t tw = tv; tw < TW; ++tw)
      transform_1d([&](int64_t j) { return ck[tw * kTile + j]; }, [&](int64_t l, float v) { o[l][tw] = v; });
  }
  for (int64_t e = 0; e < points && staged; ++e) std::copy_n(scratch.out.data() + e * TW, TW, out + e * point_stride);
}

// Planes of fewer than kLanes tiles a row (the 16x16 and 32x32 levels of a U-Net,
// where the row pass above would run one tile at a time) are transformed all
// at once instead, vectorised over the plane's tiles: their tiles are
// contiguous in the whole-tensor layout, so every point is one run of
// TH x TW floats. Scratch of transform_plane and output_plane, one per thread.
struct PlaneScratch {
  int64_t TP;                  // the plane's tiles
  int64_t ds;                  // row stride of d: TP in whole vectors, and one vector of slack
  static constexpr int64_t kRow = (simd::kLanes + 1) * kTile + 2;  // row stride of `rows`
  std::vector<float> rows;     // the zero-padded plane, rows of kRow (zeros past its width)
  std::vector<float> d;        // the tiles' samples d[i][j][t] (output_plane: the outputs)
  std::vector<float> tmp;      // the column pass of one vector of tiles
  PlaneScratch(int64_t TH, int64_t TW)
      : TP(TH * TW),
        ds((TP + simd::kLanes - 1) / simd::kLanes * simd::kLanes + simd::kLanes),
        rows(size_t((TH * kTile + 2) * kRow), 0.0f),
        d(size_t(kIn * kIn * ds), 0.0f),
        tmp(size_t(kIn * kIn * simd::kLanes)) {}
};

// transform_row for every tile row of a plane at once (2-D, fewer than kLanes
// tiles a row): the tiles' samples are gathered into d[i][j][t], then the
// column and row transforms run on vectors of kLanes tiles. Point e of tile t goes
// to out[e * point_stride + t].
template <int64_t E, class OneD>
void transform_plane(const float* plane, int64_t H, int64_t W, int64_t pad_h, int64_t pad_w, int64_t TH, int64_t TW,
                     OneD transform_1d, PlaneScratch& s, float* out, int64_t point_stride) {
  using simd::kLanes;
  const int64_t Wt = (TW - 1) * kTile + E, ds = s.ds;
  const int64_t w_lo = std::max<int64_t>(0, pad_w), w_hi = std::min(Wt, W + pad_w);  // the plane's columns in a row
  // The whole zero-padded plane first: reading a row back right after its
  // copy would stall on store forwarding (512-bit loads over smaller stores).
  constexpr int64_t kRow = PlaneScratch::kRow;
  const int64_t rows = (TH - 1) * kTile + E;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = s.rows.data() + r * kRow;
    const int64_t h = r - pad_h;
    std::fill_n(row, Wt, 0.0f);
    if (h >= 0 && h < H && w_hi > w_lo)
      std::copy(plane + h * W + (w_lo - pad_w), plane + h * W + (w_hi - pad_w), row + w_lo);
  }
  float* d = s.d.data();
  for (int64_t th = 0; th < TH; ++th)
    for (int64_t i = 0; i < E; ++i) {
      const float* row = s.rows.data() + (th * kTile + i) * kRow;
      // Lane tw of v[j]: sample j of tile tw, by register shuffles. Lanes
      // from TW on spill into the next tile row's places (written after
      // this one) or the slack past the last.
      simd::vf v[8];
      simd::deinterleave4(row, v);
      if constexpr (E > kTile) simd::deinterleave4(row + kTile, v + 4);
      for (int64_t j = 0; j < E; ++j) simd::store(d + (i * E + j) * ds + th * TW, v[j]);
    }
  float* tmp = s.tmp.data();  // tmp[k][j]: point k of column j, kLanes tiles
  for (int64_t t0 = 0; t0 < s.TP; t0 += kLanes) {
    const int64_t n = std::min<int64_t>(kLanes, s.TP - t0);
    for (int64_t j = 0; j < E; ++j)
      transform_1d([&](int64_t i) { return simd::load(d + (i * E + j) * ds + t0); },
                   [&](int64_t k, simd::vf v) { simd::store(tmp + (k * E + j) * kLanes, v); });
    for (int64_t k = 0; k < kIn; ++k)
      transform_1d([&](int64_t j) { return simd::load(tmp + (k * E + j) * kLanes); },
                   [&](int64_t l, simd::vf v) {
                     float* o = out + (k * kIn + l) * point_stride + t0;
                     if (n == kLanes) simd::store(o, v);
                     else simd::store_n(o, v, n);
                   });
  }
}

// Out[e][c][t] = the transform (transform_row) of every tile of the planes
// (N, P, H, W), tile t = (n * TH + th) * TW + tw, in rows of Tr >= N TH TW
// floats (the rest of each row is zeroed).
template <int64_t E, class OneD>
void transform_tiles(const float* planes, int64_t N, int64_t P, int64_t H, int64_t W, int64_t pad_h, int64_t pad_w,
                     int64_t TH, int64_t TW, bool one_dim, OneD transform_1d, float* Out, int64_t Tr) {
  const int64_t T = N * TH * TW, points = one_dim ? kIn : kIn * kIn;
  const bool by_plane = !one_dim && TW < simd::kLanes;
  if (Tr > T)
    for (int64_t r = 0; r < points * P; ++r) std::fill(Out + r * Tr + T, Out + (r + 1) * Tr, 0.0f);
  parallel_chunks(N * P, true, [&](Chunks& chunks) {
    RowScratch scratch(E, TW, !by_plane && !one_dim);
    PlaneScratch plane_scratch(by_plane ? TH : 0, TW);
    for (int64_t nc0, nc1; chunks.next(nc0, nc1);)
      for (int64_t nc = nc0; nc < nc1; ++nc) {
        const int64_t n = nc / P, c = nc % P;
        const float* plane = planes + (n * P + c) * H * W;
        float* out = Out + c * Tr + n * TH * TW;
        if (by_plane) {
          transform_plane<E>(plane, H, W, pad_h, pad_w, TH, TW, transform_1d, plane_scratch, out, P * Tr);
          continue;
        }
        for (int64_t th = 0; th < TH; ++th)
          transform_row<E>(plane, H, W, pad_h, pad_w, th, TW, one_dim, transform_1d, scratch, out + th * TW, P * Tr);
      }
  });
}

// V[e][ci][t] = (B^T d B)[e] for every 6x6 input tile d (zero outside x).
void transform_input(const Plan& p, const float* x, float* V) {
  transform_tiles<kIn>(x, p.N, p.Cin, p.H, p.W, p.pad_h, p.pad_w, p.TH(), p.TW(), p.one_d,
                       [](auto load, auto store) { input_1d(load, store); }, V, p.Tr());
}

// Scratch of output_row, one per thread.
struct OutputScratch {
  std::vector<float> tmp, out;
  explicit OutputScratch(int64_t TW) : tmp(size_t(kTile * kIn * TW)), out(size_t(kTile * kTile * TW)) {}
};

// Output tile row th of one plane (OH, OW) = A^T M A (1-D: A^T m) of its tiles,
// clipped to the plane; point e of tile tw is m[e * es + tw].
void output_row(const Plan& p, const float* m, int64_t es, int64_t th, float* plane, OutputScratch& scratch) {
  const int64_t TW = p.TW(), rows = p.tile_h();
  float* tmp = scratch.tmp.data();
  float* out = scratch.out.data();
  for (int64_t j = 0; j < kIn && !p.one_d; ++j) {  // columns: over i of point (i, j)
    float* o[kTile];
    for (int64_t k = 0; k < kTile; ++k) o[k] = tmp + (k * kIn + j) * TW;
#pragma omp simd
    for (int64_t tw = 0; tw < TW; ++tw)
      output_1d([&](int64_t i) { return m[(i * kIn + j) * es + tw]; }, [&](int64_t k, float v) { o[k][tw] = v; });
  }
  for (int64_t k = 0; k < rows; ++k) {  // rows (1-D: straight from M)
    float* o[kTile];
    for (int64_t l = 0; l < kTile; ++l) o[l] = out + (k * kTile + l) * TW;
    const float* tk = p.one_d ? m : tmp + k * kIn * TW;
    const int64_t sj = p.one_d ? es : TW;
#pragma omp simd
    for (int64_t tw = 0; tw < TW; ++tw)
      output_1d([&](int64_t j) { return tk[j * sj + tw]; }, [&](int64_t l, float v) { o[l][tw] = v; });
  }
  const int64_t h0 = th * rows, hn = std::min(rows, p.OH - h0);
  const int64_t whole = p.OW / kTile;  // tiles that lie inside the plane
  for (int64_t k = 0; k < hn; ++k) {
    float* row = plane + (h0 + k) * p.OW;
    const float* ok = out + k * kTile * TW;
    int64_t tv = 0;
    for (; tv + simd::kLanes <= whole; tv += simd::kLanes) {  // kLanes tiles: interleave their 4 columns
      const simd::vf cols[kTile] = {simd::load(ok + tv), simd::load(ok + TW + tv), simd::load(ok + 2 * TW + tv),
                                    simd::load(ok + 3 * TW + tv)};
      simd::interleave4(cols, row + tv * kTile);
    }
    for (int64_t tw = tv; tw < TW; ++tw) {
      const int64_t w0 = tw * kTile, wn = std::min(kTile, p.OW - w0);
      for (int64_t l = 0; l < wn; ++l) row[w0 + l] = out[(k * kTile + l) * TW + tw];
    }
  }
}

// output_row for every tile row of a plane at once (2-D, fewer than kLanes tiles a
// row): point e of tile t is m[e * es + t]; A^T M A on vectors of kLanes tiles
// into s.d[k][l][t], then scattered into the plane (OH, OW), clipped.
void output_plane(const Plan& p, const float* m, int64_t es, float* plane, PlaneScratch& s) {
  using simd::kLanes;
  const int64_t TH = p.TH(), TW = p.TW(), ds = s.ds;
  float* tmp = s.tmp.data();  // tmp[k][j]: row k of column j, kLanes tiles
  float* out = s.d.data();    // out[k][l][t]
  for (int64_t t0 = 0; t0 < s.TP; t0 += kLanes) {
    const int64_t n = std::min<int64_t>(kLanes, s.TP - t0);
    for (int64_t j = 0; j < kIn; ++j)
      output_1d(
          [&](int64_t i) {
            const float* q = m + (i * kIn + j) * es + t0;
            return n == kLanes ? simd::load(q) : simd::load_n(q, n);
          },
          [&](int64_t k, simd::vf v) { simd::store(tmp + (k * kIn + j) * kLanes, v); });
    for (int64_t k = 0; k < kTile; ++k)
      output_1d([&](int64_t j) { return simd::load(tmp + (k * kIn + j) * kLanes); },
                [&](int64_t l, simd::vf v) { simd::store(out + (k * kTile + l) * ds + t0, v); });
  }
  // Each output row: its tiles' 4 columns interleaved by register shuffles
  // (lanes from TW on belong to other rows and are cut off).
  float buf[kTile * simd::kLanes];
  for (int64_t th = 0; th < TH; ++th)
    for (int64_t k = 0; k < kTile && th * kTile + k < p.OH; ++k) {
      const float* src = out + k * kTile * ds + th * TW;
      const simd::vf cols[kTile] = {simd::load(src), simd::load(src + ds), simd::load(src + 2 * ds),
                                    simd::load(src + 3 * ds)};
      simd::interleave4(cols, buf);
      std::copy_n(buf, p.OW, plane + (th * kTile + k) * p.OW);
    }
}

// y tiles = A^T M A (1-D: A^T m) for every tile of M[e][co][t] (rows of
// p.Tr() floats), clipped to (OH, OW).
void transform_output(const Plan& p, const float* M, float* y) {
  const int64_t TH = p.TH(), TW = p.TW(), T = p.Tr();
  const bool by_plane = !p.one_d && TW < simd::kLanes;
  parallel_chunks(p.N * p.Cout, true, [&](Chunks& chunks) {
    OutputScratch scratch(TW);
    PlaneScratch plane_scratch(by_plane ? TH : 0, TW);
    for (int64_t nc0, nc1; chunks.next(nc0, nc1);)
      for (int64_t nc = nc0; nc < nc1; ++nc) {
        const int64_t n = nc / p.Cout, co = nc % p.Cout;
        const float* m = M + co * T + n * TH * TW;
        float* plane = y + (n * p.Cout + co) * p.OH * p.OW;
        if (by_plane) {
          output_plane(p, m, p.Cout * T, plane, plane_scratch);
          continue;
        }
        for (int64_t th = 0; th < TH; ++th) output_row(p, m + th * TW, p.Cout * T, th, plane, scratch);
      }
  });
}

// A y for y = (y0 .. y3), the transpose of output_1d: out[i] = sum_k A^T[k][i] y_k.
template <class Load, class Store>
inline void gradient_1d(Load y, Store out) {
  const auto y0 = y(0), y1 = y(1), y2 = y(2), y3 = y(3);
  const auto even = y0 + y2, odd = y1 + y3, even4 = y0 + 4 * y2, odd8 = 2 * y1 + 8 * y3;
  out(0, y0);
  out(1, even + odd);
  out(2, even - odd);
  out(3, even4 + odd8);
  out(4, even4 - odd8);
  out(5, y3);
}

// Z[e][co][t] = (A dy A^T)[e] for every 4x4 tile dy of the output gradient
// (zero beyond (OH, OW)): the transpose of transform_output.
void transform_gradient(const Plan& p, const float* gy, float* Z) {
  transform_tiles<kTile>(gy, p.N, p.Cout, p.OH, p.OW, 0, 0, p.TH(), p.TW(), p.one_d,
                         [](auto load, auto store) { gradient_1d(load, store); }, Z, p.Tr());
}

// G^T m along one axis for n sums at once (vectorised over n): g_r = sum_k G[k][r] m_k.
inline void filter_gradient_1d(const float* const m[kIn], float* g0, float* g1, float* g2, int64_t n) {
#pragma omp simd  // the outputs never overlap the inputs
  for (int64_t i = 0; i < n; ++i) {
    const float a = m[1][i] + m[2][i], b = m[3][i] + m[4][i];
    g0[i] = m[0][i] * 0.25f - a * (1.0f / 6) + b * (1.0f / 24);
    g1[i] = (m[2][i] - m[1][i]) * (1.0f / 6) + (m[3][i] - m[4][i]) * (1.0f / 12);
    g2[i] = (b - a) * (1.0f / 6) + m[5][i];
  }
}

// gw[co][ci] = G^T M[co][ci] G (3x3; 1-D: G^T m, 1x3) from M[e][co][ci]: one
// output channel at a time, vectorised over the input channels (rows of M are
// contiguous in ci).
void transform_filter_gradient(const Plan& p, const float* M, float* gw) {
  const int64_t C = p.Cin, es = p.Cout * C, taps_per = p.R() * 3;
  parallel_chunks(p.Cout, true, [&](Chunks& chunks) {
    std::vector<float> rows(size_t(3 * kIn * C)), taps(size_t(9 * C));  // rows[r][j][ci], taps[r][s][ci]
    for (int64_t co0, co1; chunks.next(co0, co1);)
      for (int64_t co = co0; co < co1; ++co) {
        if (p.one_d) {
          const float* m[kIn];
          for (int64_t j = 0; j < kIn; ++j) m[j] = M + j * es + co * C;
          filter_gradient_1d(m, taps.data(), taps.data() + C, taps.data() + 2 * C, C);
        }
        for (int64_t j = 0; j < kIn && !p.one_d; ++j) {  // over i of point (i, j)
          const float* m[kIn];
          for (int64_t i = 0; i < kIn; ++i) m[i] = M + (i * kIn + j) * es + co * C;
          filter_gradient_1d(m, rows.data() + j * C, rows.data() + (kIn + j) * C, rows.data() + (2 * kIn + j) * C, C);
        }
        for (int64_t r = 0; r < 3 && !p.one_d; ++r) {  // over j
          const float* m[kIn];
          for (int64_t j = 0; j < kIn; ++j) m[j] = rows.data() + (r * kIn + j) * C;
          float* t = taps.data() + r * 3 * C;
          filter_gradient_1d(m, t, t + C, t + 2 * C, C);
        }
        float* g = gw + co * C * taps_per;
        for (int64_t ci = 0; ci < C; ++ci)
          for (int64_t rs = 0; rs < taps_per; ++rs) g[ci * taps_per + rs] = taps[size_t(rs * C + ci)];
      }
  });
}

// ---- the blocked correlation: transforms, products and output per block of tiles

using simd::kLanes;
using simd::vf;

// RC x NV vectors of C at (row 0, column 0) = A (RC x K, row stride lda)
// B (K x NV vectors, row stride ldb) (+ C when accumulating): RC x NV
// accumulators, fed by NV loads of B and RC broadcasts of A per k.
template <int RC, int NV, bool Accumulate>
inline void gemm_tile(const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, float* C, int64_t ldc) {
  vf acc[RC][NV] = {};
  if (Accumulate)
    for (int r = 0; r < RC; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = simd::load(C + r * ldc + v * kLanes);
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    vf bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = simd::load(b + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < RC; ++r) {
      const vf a = simd::splat(A[r * lda + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] += a * bv[v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RC; ++r)
    for (int v = 0; v < NV; ++v) simd::store(C + r * ldc + v * kLanes, acc[r][v]);
}

// Accumulators a register tile may hold: 24 of AVX-512's 32 registers, 12 of
// AVX2's 16, leaving room for the loads of B and the broadcast of A.
constexpr int kAccumulators = simd::kRegisters * 3 / 4;
// Vectors of columns of the widest tile, 6 rows high (6 x 4 with AVX-512, 6 x 2 with AVX2).
constexpr int kWide = kAccumulators / 6;

// RC rows of C (RC x N) = A (RC x K) B (K x N) (+ C when accumulating), N a
// multiple of kLanes: kWide vectors of columns at a time where RC kWide
// accumulators fit, then two, then one.
template <int RC, bool Accumulate>
inline void gemm_rows(const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, int64_t N, float* C,
                      int64_t ldc) {
  int64_t j = 0;
  if constexpr (RC * kWide <= kAccumulators)
    for (; j + kWide * kLanes <= N; j += kWide * kLanes)
      gemm_tile<RC, kWide, Accumulate>(A, lda, B + j, ldb, K, C + j, ldc);
  if constexpr (RC * 2 <= kAccumulators)
    for (; j + 2 * kLanes <= N; j += 2 * kLanes) gemm_tile<RC, 2, Accumulate>(A, lda, B + j, ldb, K, C + j, ldc);
  for (; j < N; j += kLanes) gemm_tile<RC, 1, Accumulate>(A, lda, B + j, ldb, K, C + j, ldc);
}

// Rows [i, M) of the product, RC (down to 1) at a time.
template <int RC, bool Accumulate>
void gemm_tail(int64_t i, int64_t M, const float* A, int64_t lda, const float* B, int64_t ldb, int64_t K, int64_t N,
               float* C, int64_t ldc) {
  for (; i + RC <= M; i += RC) gemm_rows<RC, Accumulate>(A + i * lda, lda, B, ldb, K, N, C + i * ldc, ldc);
  if constexpr (RC > 1) gemm_tail<RC - 1, Accumulate>(i, M, A, lda, B, ldb, K, N, C, ldc);
}

// C (M x N) = A (M x K) B (K x N) (+ C when accumulating), row-major with
// leading dimensions lda / ldb / ldc, N a multiple of kLanes; single-threaded
// (each thread multiplies its own block). Rows of 6 x kWide vectors where N
// allows (AVX-512: 6 broadcasts and 4 loads feed 24 FMAs, 101-106 GFLOP/s on
// one Zen 4 core at 256 x 64 x 256, against 52-55 for 4 x 4), else 8 rows of
// two vectors where they fit (AVX-512: 105-111 GFLOP/s at 32 x 32 x 128 and
// 64 x 32 x 64, against 99-103 for 8 rows of one: half the broadcasts), else
// of one.
template <bool Accumulate>
void gemm_block(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                int64_t ldc) {
  if (N >= kWide * kLanes)
    gemm_tail<6, Accumulate>(0, M, A, lda, B, ldb, K, N, C, ldc);
  else
    gemm_tail<8, Accumulate>(0, M, A, lda, B, ldb, K, N, C, ldc);
}

// How the blocked correlation cuts the tiles: blocks of `rows` whole tile
// rows, TB tiles padded to a whole number of vectors, sized so that a block's
// transformed input and products (points x (Cin + Cout) x TB floats) stay in
// a core's L2 cache.
struct Blocking {
  int64_t rows = 1, TB = kLanes, blocks = 1;
};

Blocking blocking_of(const Plan& p) {
  // floats: 256 KB of the 1 MB L2 of this machine's cores (40K to 320K measured: 40K-80K best)
  constexpr int64_t kBudget = 64 * 1024;
  const int64_t per_tile = p.points() * (p.Cin + p.Cout), TW = p.TW();
  Blocking b;
  const int64_t tiles = std::clamp<int64_t>(kBudget / per_tile, kLanes, 256);
  b.rows = std::max<int64_t>(1, tiles / TW);
  b.TB = (b.rows * TW + kLanes - 1) / kLanes * kLanes;
  b.blocks = (p.N * p.TH() + b.rows - 1) / b.rows;
  return b;
}

// Blocked or whole-tensor, from the memory traffic each would cause. The
// blocked passes re-read the transformed filters U (points x Cin x Cout) once
// per block, from cache while U fits there; backward-weight also reads and
// writes a U-sized partial sum per block. The whole-tensor passes write and
// read V and M (points x (Cin + Cout) floats per tile) in memory. Measured on
// the VGG16-BN U-Net's shapes (64 to 1024 channels, 10 x 14 to 160 x 224,
// batch 8; docs/benchmarks.md): blocked correlations win up to 6x the
// whole-tensor traffic and lose from 12x; the blocked weight pass wins below
// about 2x. Before that rule the blocked passes ran only for Cin x Cout <=
// 4096, so 128 x 64 channels at 160 x 224 ran whole-tensor at a quarter of the
// blocked speed. Filter banks up to 4096 stay blocked, and so does conv1d
// (measured there: blocked C32 and C64 faster, C128 slower).
bool blocked_wins(const Plan& p, ConvPass pass) {
  if (p.one_d || p.Cin * p.Cout <= 4096) return p.Cin * p.Cout <= 4096;
  const Blocking b = blocking_of(p);
  // Blocks of fewer than two vectors of tiles make the per-point GEMMs too thin (the scratch U-Net's 128 and
  // 256 channels at 20 x 28 and 10 x 14: forward 5.7 -> 9.9 ms, 7.4 -> 13.5 ms blocked).
  if (b.TB < 2 * kLanes) return false;
  const double u = double(p.u_floats()), whole = 2.0 * double(p.points()) * double(p.Cin + p.Cout) * double(p.T());
  if (pass == ConvPass::backward_weight) return 2.0 * double(b.blocks) * u <= 2.0 * whole;
  return double(b.blocks) * u <= 8.0 * whole;
}

Plan plan_of(const ConvGeom& g, ConvPass pass) {
  const bool one_d = g.R == 1;
  // backward-weight transforms the forward pass's tiles (and needs the same workspace);
  // backward-data: the gradient (N, K, OH, OW) padded by R - 1 - pad, correlated to (N, C, H, W).
  Plan p = pass != ConvPass::backward_data
               ? Plan{g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, g.pad_h, g.pad_w, one_d}
               : Plan{g.N, g.K, g.OH, g.OW, g.C, g.H, g.W, one_d ? 0 : 2 - g.pad_h, 2 - g.pad_w, one_d};
  p.blocked_ = blocked_wins(p, pass);
  return p;
}

// The blocked passes read (and write) a few short rows of one channel after
// another, a pattern the hardware prefetcher does not follow: they ask for
// the rows of the channel kAhead on. Rows [h0, h0 + rows) of a plane (H, W),
// clipped. (conv2d N4 C64 64x64, 1 thread: -9% to -11% of the Winograd
// perf samples; the input transform alone 888 -> 558 samples.)
constexpr int64_t kAhead = 2;
inline void prefetch_rows(const float* plane, int64_t H, int64_t W, int64_t h0, int64_t rows, bool write) {
  const int64_t begin = std::max<int64_t>(0, h0) * W, end = std::min(H, h0 + rows) * W;
  for (int64_t f = begin; f < end; f += simd::kLanes) {
    if (write) __builtin_prefetch(plane + f, 1);
    else __builtin_prefetch(plane + f, 0);
  }
}

// V[e][c][i * TW + tw] = B^T d B of tile tw of tile row r0 + i (rows n * TH + th
// counted over the batch), for the rn rows of a block of TB tiles.
void transform_block_input(const Plan& p, const float* x, int64_t r0, int64_t rn, int64_t TB, RowScratch& scratch,
                           float* V) {
  const int64_t TH = p.TH(), TW = p.TW();
  for (int64_t i = 0; i < rn; ++i) {
    const int64_t n = (r0 + i) / TH, th = (r0 + i) % TH;
    for (int64_t c = 0; c < p.Cin; ++c) {
      if (c + kAhead < p.Cin)
        prefetch_rows(x + (n * p.Cin + c + kAhead) * p.H * p.W, p.H, p.W, th * kTile - p.pad_h, kIn, false);
      transform_row<kIn>(x + (n * p.Cin + c) * p.H * p.W, p.H, p.W, p.pad_h, p.pad_w, th, TW, p.one_d,
                         [](auto load, auto store) { input_1d(load, store); }, scratch,
                         V + c * TB + i * TW, p.Cin * TB);
    }
  }
}

// y = the correlation of x with the transformed filters U, one block of tile
// rows at a time per thread: its tiles are transformed, multiplied point by
// point (points GEMMs Cout x TB x Cin) and transformed back while they are in
// cache. Every block is computed by one thread in a fixed order, so the result
// does not depend on the thread count.
void correlate_blocked(const Plan& p, const float* x, const float* U, float* y) {
  const Blocking b = blocking_of(p);
  const int64_t TH = p.TH(), TW = p.TW(), rows_total = p.N * TH, P = p.points(), TB = b.TB;
  parallel_chunks(b.blocks, true, [&](Chunks& chunks) {
    std::vector<float> V(size_t(P * p.Cin * TB), 0.0f), M(size_t(P * p.Cout * TB));
    RowScratch in_scratch(kIn, TW, false);
    OutputScratch out_scratch(TW);
    for (int64_t blk0, blk1; chunks.next(blk0, blk1);)
      for (int64_t blk = blk0; blk < blk1; ++blk) {
        const int64_t r0 = blk * b.rows, rn = std::min(b.rows, rows_total - r0);
        transform_block_input(p, x, r0, rn, TB, in_scratch, V.data());
        // Tiles beyond the last row (rn < rows) keep an earlier block's values:
        // their products are computed and never read.
        for (int64_t e = 0; e < P; ++e)
          gemm_block<false>(p.Cout, TB, p.Cin, U + e * p.Cout * p.Cin, p.Cin, V.data() + e * p.Cin * TB, TB,
                            M.data() + e * p.Cout * TB, TB);
        for (int64_t i = 0; i < rn; ++i) {
          const int64_t n = (r0 + i) / TH, th = (r0 + i) % TH;
          for (int64_t co = 0; co < p.Cout; ++co) {
            if (co + kAhead < p.Cout)
              prefetch_rows(y + (n * p.Cout + co + kAhead) * p.OH * p.OW, p.OH, p.OW, th * kTile, kTile, true);
            output_row(p, M.data() + co * TB + i * TW, p.Cout * TB, th, y + (n * p.Cout + co) * p.OH * p.OW,
                       out_scratch);
          }
        }
      }
  });
}

// Partial sums of the blocked backward-weight: block b adds into group
// b % groups, each group is one thread's, and the groups are added in order,
// so the sum does not depend on the thread count.
constexpr int64_t kWeightGroups = 8;

// dU[e][k][c] = sum over tiles of Z[e][k][t] V[e][c][t] (Z: the output-gradient
// tiles' A dy A^T, V: the input tiles' B^T d B), one block of tile rows at a
// time: a block's V (C x TB) and Z, transposed to TB x Kp (K padded to whole
// vectors), give one GEMM (C x TB) (TB x Kp) per point, added to its group.
void weight_products_blocked(const Plan& p, const float* x, const float* gy, float* dU) {
  const Blocking b = blocking_of(p);
  const int64_t TH = p.TH(), TW = p.TW(), rows_total = p.N * TH, P = p.points(), TB = b.TB;
  const int64_t C = p.Cin, K = p.Cout, Kp = (K + kLanes - 1) / kLanes * kLanes;
  const int64_t groups = std::min(kWeightGroups, b.blocks);
  std::vector<float> sums(size_t(groups * P * C * Kp), 0.0f);  // sums[g][e][c][k]
  parallel_chunks(groups, true, [&](Chunks& chunks) {
    // V[e][c][t], Z[e][k][t], Zt[t][k] (one point at a time)
    std::vector<float> V(size_t(P * C * TB), 0.0f), Z(size_t(P * K * TB), 0.0f), Zt(size_t(TB * Kp), 0.0f);
    RowScratch in_scratch(kIn, TW, false), gy_scratch(kTile, TW, false);
    for (int64_t g0, g1; chunks.next(g0, g1);)
      for (int64_t g = g0; g < g1; ++g)
        for (int64_t blk = g; blk < b.blocks; blk += groups) {
          const int64_t r0 = blk * b.rows, rn = std::min(b.rows, rows_total - r0);
          transform_block_input(p, x, r0, rn, TB, in_scratch, V.data());
          for (int64_t i = 0; i < rn; ++i) {
            const int64_t n = (r0 + i) / TH, th = (r0 + i) % TH;
            for (int64_t k = 0; k < K; ++k) {
              if (k + kAhead < K) prefetch_rows(gy + (n * K + k + kAhead) * p.OH * p.OW, p.OH, p.OW, th * kTile, kTile,
                                                false);
              transform_row<kTile>(gy + (n * K + k) * p.OH * p.OW, p.OH, p.OW, 0, 0, th, TW, p.one_d,
                                   [](auto load, auto store) { gradient_1d(load, store); },
                                   gy_scratch, Z.data() + k * TB + i * TW, K * TB);
            }
          }
          // Tiles past the block's rows add nothing: zero them in both factors
          // (an earlier block's values would otherwise add 0 * v, which can flip
          // the sign of a zero sum).
          const int64_t used = rn * TW;
          for (int64_t e = 0; e < P; ++e) {
            for (int64_t c = 0; c < C; ++c)
              std::fill(V.begin() + (e * C + c) * TB + used, V.begin() + (e * C + c + 1) * TB, 0.0f);
            for (int64_t k = 0; k < K; ++k)
              std::fill(Z.begin() + (e * K + k) * TB + used, Z.begin() + (e * K + k + 1) * TB, 0.0f);
          }
          float* sum = sums.data() + g * P * C * Kp;
          for (int64_t e = 0; e < P; ++e) {
            const float* z = Z.data() + e * K * TB;
            simd::transpose(z, TB, K, TB, Zt.data(), Kp);
            gemm_block<true>(C, Kp, TB, V.data() + e * C * TB, TB, Zt.data(), Kp, sum + e * C * Kp, Kp);
          }
        }
  });
  parallel_for(P, true, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c) {
          float v = 0;
          for (int64_t g = 0; g < groups; ++g) v += sums[size_t(((g * P + e) * C + c) * Kp + k)];
          dU[(e * K + k) * C + c] = v;
        }
  });
}

// The whole-tensor backward-weight products: dU[e] (K x C) = Z[e] (K x T)
// V[e]^T (T x C), with V[e] transposed (T x Cp, C padded to whole vectors)
// one point at a time.
void weight_products(const Plan& p, const float* V, const float* Z, float* dU) {
  const int64_t T = p.T(), Tr = p.Tr(), C = p.Cin, K = p.Cout, P = p.points();
  const int64_t Cp = (C + kLanes - 1) / kLanes * kLanes;
  parallel_chunks(P, true, [&](Chunks& chunks) {
    std::vector<float> Vt(size_t(T * Cp), 0.0f), D(size_t(Cp == C ? 0 : K * Cp));
    for (int64_t e0, e1; chunks.next(e0, e1);)
      for (int64_t e = e0; e < e1; ++e) {
        const float* v = V + e * C * Tr;
        simd::transpose(v, Tr, C, T, Vt.data(), Cp);
        float* d = Cp == C ? dU + e * K * C : D.data();
        gemm_block<false>(K, Cp, T, Z + e * K * Tr, Tr, Vt.data(), Cp, d, Cp);
        for (int64_t k = 0; k < K && Cp != C; ++k) std::copy_n(d + k * Cp, C, dU + (e * K + k) * C);
      }
  });
}

// y = the correlation of x with the filters f. Their transforms U go into the
// workspace, or come from the filter cache when `key` names the weights
// (kernels/cpu/filter_cache.h), derived there at the first call.
void correlate(const Plan& p, const float* x, const Filters& f, float* y, float* workspace, ConvPass pass,
               const FilterKey& key) {
  const auto kept = kept_filter(key, {kWinogradKernel, pass, p.Cout, p.Cin, p.R(), 3}, p.u_floats(),
                                [&](float* u) { transform_filters(p, f, u); });
  if (!kept) transform_filters(p, f, workspace);
  const float* U = kept ? kept->data() : workspace;
  if (p.blocked()) {
    correlate_blocked(p, x, U, y);
    return;
  }
  float* V = workspace + p.u_floats();
  float* M = V + p.v_floats();
  transform_input(p, x, V);
  const int64_t Tr = p.Tr(), Ci = p.Cin, Co = p.Cout;
  // Our kernel reads U in place (Eigen would pack it, 9.4 MB for 256 x 256
  // channels, once per point) and V's rows of whole vectors from L2.
  parallel_for(p.points(), true, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e)
      gemm_block<false>(Co, Tr, Ci, U + e * Co * Ci, Ci, V + e * Ci * Tr, Tr, M + e * Co * Tr, Tr);
  });
  transform_output(p, M, y);
}

}  // namespace

bool conv_winograd_applies(const ConvGeom& g, ConvPass pass) {
  const bool two_d = g.R == 3 && g.dil_h == 1;
  const bool one_d = g.R == 1 && g.H == 1 && g.OH == 1 && g.pad_h == 0;  // conv1d
  const bool shape = (two_d || one_d) && g.S == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_w == 1 &&
                     g.groups == 1 && g.OH >= 1 && g.OW >= 1;
  switch (pass) {
    case ConvPass::forward: return shape;
    case ConvPass::backward_data: return shape && g.pad_h <= 2 && g.pad_w <= 2;
    case ConvPass::backward_weight: return shape;
  }
  return false;
}

int64_t conv_winograd_workspace(const ConvGeom& g, ConvPass pass) { return plan_of(g, pass).workspace(); }

void conv_winograd_forward(const ConvGeom& g, const float* x, const float* w, float* y, float* workspace,
                           const FilterKey& key) {
  // w (K, C, R, 3) as it is.
  const int64_t taps = g.R * 3;
  correlate(plan_of(g, ConvPass::forward), x, Filters{w, 0, g.C * taps, taps, 3, 1}, y, workspace,
            ConvPass::forward, key);
}

void conv_winograd_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx, float* workspace,
                                 const FilterKey& key) {
  // gx = correlation of gy padded by (R - 1 - pad) with w transposed (C <-> K)
  // and flipped: filter (c, k) tap (r, s) is w[k][c][R - 1 - r][2 - s].
  const int64_t taps = g.R * 3;
  correlate(plan_of(g, ConvPass::backward_data), gy, Filters{w, taps - 1, taps, g.C * taps, -3, -1}, gx, workspace,
            ConvPass::backward_data, key);
}

void conv_winograd_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace) {
  // The transpose of the forward pass: y = A^T [(G w G^T) . (B^T x B)] A per
  // tile gives dU = (A gy A^T) . (B^T x B), summed over tiles and samples in
  // the transform domain (36 GEMMs (K x tiles) (tiles x C)), and gw = G^T dU G.
  const Plan p = plan_of(g, ConvPass::backward_weight);  // the forward pass's tiles
  float* M = workspace;  // M[e][k][c]: the u block of the forward pass
  if (p.blocked()) {
    weight_products_blocked(p, x, gy, M);
  } else {
    float* V = M + p.u_floats();
    float* Z = V + p.v_floats();
    transform_input(p, x, V);
    transform_gradient(p, gy, Z);
    weight_products(p, V, Z, M);
  }
  transform_filter_gradient(p, M, gw);
}

}  // namespace strata::cpu
