#include "kernels/cpu/conv_winograd.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace strata::cpu {
namespace {

constexpr int64_t kTile = 4;                 // output tile (m)
constexpr int64_t kIn = kTile + 2;           // input tile (m + r - 1)
constexpr int64_t kPoints = kIn * kIn;       // transform points of a 2-D tile: 36 GEMMs

// One correlation y (N, Cout, OH, OW) = x (N, Cin, H, W) (*) f (Cout, Cin, R, 3)
// with zero padding (pad_h, pad_w), as the forward pass and backward-data see it.
// R = 3 tiles both axes (F(4x4, 3x3)); R = 1 (one_d: H = OH = 1, no padding in
// h, as conv1d runs) tiles the row only (F(4, 3)): one row per tile, 6 points.
struct Plan {
  int64_t N, Cin, H, W, Cout, OH, OW, pad_h, pad_w;
  bool one_d;
  int64_t R() const { return one_d ? 1 : 3; }             // filter rows
  int64_t tile_h() const { return one_d ? 1 : kTile; }    // output rows per tile
  int64_t points_h() const { return one_d ? 1 : kIn; }    // transform points along h
  int64_t points() const { return points_h() * kIn; }
  int64_t TH() const { return (OH + tile_h() - 1) / tile_h(); }
  int64_t TW() const { return (OW + kTile - 1) / kTile; }
  int64_t T() const { return N * TH() * TW(); }
  int64_t u_floats() const { return points() * Cout * Cin; }
  int64_t v_floats() const { return points() * Cin * T(); }
  int64_t m_floats() const { return points() * Cout * T(); }
  int64_t workspace() const { return u_floats() + v_floats() + m_floats(); }
};

Plan plan_of(const ConvGeom& g, ConvPass pass) {
  const bool one_d = g.R == 1;
  // backward-weight transforms the forward pass's tiles (and needs the same workspace).
  if (pass != ConvPass::backward_data) return {g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, g.pad_h, g.pad_w, one_d};
  // backward-data: the gradient (N, K, OH, OW) padded by R - 1 - pad, correlated to (N, C, H, W).
  return {g.N, g.K, g.OH, g.OW, g.C, g.H, g.W, one_d ? 0 : 2 - g.pad_h, 2 - g.pad_w, one_d};
}

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
// (input channel outer, so the transposed reads of backward-data walk memory
// in order too), then per output channel, vectorised over the input channels,
// transform the columns (r) and the rows (s) straight into U.
void transform_filters(const Plan& p, const Filters& f, float* U) {
  constexpr int64_t kBlock = 16;
  const int64_t C = p.Cin, R = p.R(), taps_per = R * 3, blocks = (p.Cout + kBlock - 1) / kBlock;
#pragma omp parallel
  {
    // taps[b][r][s][ci] for the block's output channels b, cols[s][i][ci]
    std::vector<float> taps(size_t(kBlock * taps_per * C)), cols(size_t(3 * kIn * C));
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t co0 = blk * kBlock, nb = std::min(kBlock, p.Cout - co0);
      for (int64_t ci = 0; ci < C; ++ci)
        for (int64_t b = 0; b < nb; ++b) {
          const float* w = f.w + f.base + (co0 + b) * f.s_co + ci * f.s_ci;
          float* t = taps.data() + b * taps_per * C + ci;
          for (int64_t r = 0; r < R; ++r)
            for (int64_t s = 0; s < 3; ++s) t[(r * 3 + s) * C] = w[r * f.s_r + s * f.s_s];
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
  }
}

// B^T d for d = (d0 .. d5), one lane per tile: out[k] = sum_i B^T[k][i] d_i.
template <class Load>
inline void input_1d(Load d, float* out[kIn], int64_t i) {
  const float d0 = d(0), d1 = d(1), d2 = d(2), d3 = d(3), d4 = d(4), d5 = d(5);
  out[0][i] = 4 * d0 - 5 * d2 + d4;
  out[1][i] = -4 * d1 - 4 * d2 + d3 + d4;
  out[2][i] = 4 * d1 - 4 * d2 - d3 + d4;
  out[3][i] = -2 * d1 - d2 + 2 * d3 + d4;
  out[4][i] = 2 * d1 - d2 - 2 * d3 + d4;
  out[5][i] = 4 * d1 - 5 * d3 + d5;
}

// A^T m for m = (m0 .. m5): out[k] = sum_i A^T[k][i] m_i.
template <class Load>
inline void output_1d(Load m, float* out[kTile], int64_t i) {
  const float m0 = m(0), m1 = m(1), m2 = m(2), m3 = m(3), m4 = m(4), m5 = m(5);
  const float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
  out[0][i] = m0 + a + c;
  out[1][i] = b + 2 * d;
  out[2][i] = a + 4 * c;
  out[3][i] = b + 8 * d + m5;
}

// Out[e][c][t] = the 2-D transform of every E x E tile of the planes
// (N, P, H, W): tiles start every kTile samples from (-pad_h, -pad_w), samples
// outside a plane are 0, and `transform_1d(load, out, i)` maps E values to the kIn
// values out[0..5][i]. One row of tiles at a time: its E rows are copied
// zero-padded, the transform along the columns runs over the whole row
// (contiguous), then along each tile's row, and each transform point's TW
// tiles go out as one contiguous run.
// With one_d (1-D tiles of E samples, H = 1) the column transform is skipped
// and each tile has kIn points.
template <int64_t E, class OneD>
void transform_tiles(const float* planes, int64_t N, int64_t P, int64_t H, int64_t W, int64_t pad_h, int64_t pad_w,
                     int64_t TH, int64_t TW, bool one_dim, OneD transform_1d, float* Out) {
  const int64_t T = N * TH * TW, Wt = (TW - 1) * kTile + E;
  const int64_t Eh = one_dim ? 1 : E, step_h = one_dim ? 1 : kTile, Ph = one_dim ? 1 : kIn, points = Ph * kIn;
  const int64_t w_lo = std::max<int64_t>(0, pad_w), w_hi = std::min(Wt, W + pad_w);  // the plane's columns in a row
#pragma omp parallel
  {
    std::vector<float> rows(size_t(Eh * Wt)), cols(size_t(kIn * Wt)), out(size_t(points * TW));
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < P; ++c) {
        const float* plane = planes + (n * P + c) * H * W;
        for (int64_t th = 0; th < TH; ++th) {
          for (int64_t i = 0; i < Eh; ++i) {
            float* r = rows.data() + i * Wt;
            const int64_t h = th * step_h - pad_h + i;
            if (h < 0 || h >= H || w_hi <= w_lo) {
              std::fill_n(r, Wt, 0.0f);
              continue;
            }
            std::fill_n(r, w_lo, 0.0f);
            std::copy(plane + h * W + (w_lo - pad_w), plane + h * W + (w_hi - pad_w), r + w_lo);
            std::fill(r + w_hi, r + Wt, 0.0f);
          }
          float* col[kIn] = {rows.data()};  // 1-D: the row itself
          if (!one_dim) {
            for (int64_t k = 0; k < kIn; ++k) col[k] = cols.data() + k * Wt;
#pragma omp simd
            for (int64_t w = 0; w < Wt; ++w)
              transform_1d([&](int64_t i) { return rows[size_t(i * Wt + w)]; }, col, w);
          }
          for (int64_t k = 0; k < Ph; ++k) {
            float* o[kIn];
            for (int64_t l = 0; l < kIn; ++l) o[l] = out.data() + (k * kIn + l) * TW;
            const float* ck = col[k];
#pragma omp simd
            for (int64_t tw = 0; tw < TW; ++tw) transform_1d([&](int64_t j) { return ck[tw * kTile + j]; }, o, tw);
          }
          const int64_t t0 = (n * TH + th) * TW;
          for (int64_t e = 0; e < points; ++e) std::copy_n(out.data() + e * TW, TW, Out + (e * P + c) * T + t0);
        }
      }
  }
}

// V[e][ci][t] = (B^T d B)[e] for every 6x6 input tile d (zero outside x).
void transform_input(const Plan& p, const float* x, float* V) {
  transform_tiles<kIn>(x, p.N, p.Cin, p.H, p.W, p.pad_h, p.pad_w, p.TH(), p.TW(), p.one_d,
                       [](auto load, float* out[kIn], int64_t i) { input_1d(load, out, i); }, V);
}

// y tiles = A^T M A (1-D: A^T m), clipped to (OH, OW); one row of tiles at a time, as above.
void transform_output(const Plan& p, const float* M, float* y) {
  const int64_t TH = p.TH(), TW = p.TW(), T = p.T(), rows = p.tile_h();
#pragma omp parallel
  {
    std::vector<float> tmp(size_t(kTile * kIn * TW)), out(size_t(kTile * kTile * TW));
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t co = 0; co < p.Cout; ++co) {
        float* plane = y + (n * p.Cout + co) * p.OH * p.OW;
        for (int64_t th = 0; th < TH; ++th) {
          const int64_t t0 = (n * TH + th) * TW;
          const float* m = M + co * T + t0;  // point e of tile tw: m[e * Cout * T + tw]
          const int64_t es = p.Cout * T;
          for (int64_t j = 0; j < kIn && !p.one_d; ++j) {  // columns: over i of point (i, j)
            float* o[kTile];
            for (int64_t k = 0; k < kTile; ++k) o[k] = tmp.data() + (k * kIn + j) * TW;
#pragma omp simd
            for (int64_t tw = 0; tw < TW; ++tw)
              output_1d([&](int64_t i) { return m[(i * kIn + j) * es + tw]; }, o, tw);
          }
          for (int64_t k = 0; k < rows; ++k) {  // rows (1-D: straight from M)
            float* o[kTile];
            for (int64_t l = 0; l < kTile; ++l) o[l] = out.data() + (k * kTile + l) * TW;
            const float* tk = p.one_d ? m : tmp.data() + k * kIn * TW;
            const int64_t sj = p.one_d ? es : TW;
#pragma omp simd
            for (int64_t tw = 0; tw < TW; ++tw) output_1d([&](int64_t j) { return tk[j * sj + tw]; }, o, tw);
          }
          const int64_t h0 = th * rows, hn = std::min(rows, p.OH - h0);
          for (int64_t k = 0; k < hn; ++k) {
            float* row = plane + (h0 + k) * p.OW;
            for (int64_t tw = 0; tw < TW; ++tw) {
              const int64_t w0 = tw * kTile, wn = std::min(kTile, p.OW - w0);
              for (int64_t l = 0; l < wn; ++l) row[w0 + l] = out[size_t((k * kTile + l) * TW + tw)];
            }
          }
        }
      }
  }
}

// A y for y = (y0 .. y3), the transpose of output_1d: out[i] = sum_k A^T[k][i] y_k.
template <class Load>
inline void gradient_1d(Load y, float* out[kIn], int64_t i) {
  const float y0 = y(0), y1 = y(1), y2 = y(2), y3 = y(3);
  const float even = y0 + y2, odd = y1 + y3, even4 = y0 + 4 * y2, odd8 = 2 * y1 + 8 * y3;
  out[0][i] = y0;
  out[1][i] = even + odd;
  out[2][i] = even - odd;
  out[3][i] = even4 + odd8;
  out[4][i] = even4 - odd8;
  out[5][i] = y3;
}

// Z[e][co][t] = (A dy A^T)[e] for every 4x4 tile dy of the output gradient
// (zero beyond (OH, OW)): the transpose of transform_output.
void transform_gradient(const Plan& p, const float* gy, float* Z) {
  transform_tiles<kTile>(gy, p.N, p.Cout, p.OH, p.OW, 0, 0, p.TH(), p.TW(), p.one_d,
                         [](auto load, float* out[kIn], int64_t i) { gradient_1d(load, out, i); }, Z);
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
#pragma omp parallel
  {
    std::vector<float> rows(size_t(3 * kIn * C)), taps(size_t(9 * C));  // rows[r][j][ci], taps[r][s][ci]
#pragma omp for schedule(static)
    for (int64_t co = 0; co < p.Cout; ++co) {
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
  }
}

void correlate(const Plan& p, const float* x, const Filters& f, float* y, float* workspace) {
  float* U = workspace;
  float* V = U + p.u_floats();
  float* M = V + p.v_floats();
  transform_filters(p, f, U);
  transform_input(p, x, V);
  const int64_t T = p.T();
  gemm_batched<float>(p.points(), false, false, p.Cout, T, p.Cin, 1.0f, U, p.Cin, p.Cout * p.Cin, V, T, p.Cin * T,
                      0.0f, M, T, p.Cout * T);
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

void conv_winograd_forward(const ConvGeom& g, const float* x, const float* w, float* y, float* workspace) {
  // w (K, C, R, 3) as it is.
  const int64_t taps = g.R * 3;
  correlate(plan_of(g, ConvPass::forward), x, Filters{w, 0, g.C * taps, taps, 3, 1}, y, workspace);
}

void conv_winograd_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx, float* workspace) {
  // gx = correlation of gy padded by (R - 1 - pad) with w transposed (C <-> K)
  // and flipped: filter (c, k) tap (r, s) is w[k][c][R - 1 - r][2 - s].
  const int64_t taps = g.R * 3;
  correlate(plan_of(g, ConvPass::backward_data), gy, Filters{w, taps - 1, taps, g.C * taps, -3, -1}, gx, workspace);
}

void conv_winograd_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace) {
  // The transpose of the forward pass: y = A^T [(G w G^T) . (B^T x B)] A per
  // tile gives dU = (A gy A^T) . (B^T x B), summed over tiles and samples in
  // the transform domain (36 GEMMs (K x tiles) (tiles x C)), and gw = G^T dU G.
  const Plan p = plan_of(g, ConvPass::forward);
  float* M = workspace;  // M[e][k][c]: the u block of the forward pass
  float* V = M + p.u_floats();
  float* Z = V + p.v_floats();
  transform_input(p, x, V);
  transform_gradient(p, gy, Z);
  const int64_t T = p.T();
  gemm_batched<float>(p.points(), false, true, p.Cout, p.Cin, T, 1.0f, Z, T, p.Cout * T, V, T, p.Cin * T, 0.0f, M,
                      p.Cin, p.Cout * p.Cin);
  transform_filter_gradient(p, M, gw);
}

}  // namespace strata::cpu
