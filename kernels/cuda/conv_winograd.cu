// Winograd convolutions F(4x4, 3x3) of f32 tensors: 3x3 kernels, stride 1, dilation 1, one group, padding 0-2,
// with the transforms of the CPU kernel (kernels/cpu/conv_winograd.cpp). A 4 x 4 output tile is
// A^T [(G w G^T) .* (B^T d B)] A, where d is the 6 x 6 input patch under it, so each (input channel, output channel,
// tile) costs 36 multiply-adds instead of 144. The 36 points of a transformed tile are independent, and each is a
// GEMM over the channels:
//   forward          U = G w G^T (36, K, C), V = B^T x B (36, C, T), M = U V (36, K, T), y = A^T M A
//   backward-data    the forward pass of gy with the kernel flipped and its channels swapped, padded 2 - p
//   backward-weight  dM = A gy A^T (36, K, T), P = dM V^T (36, K, C), gw = G^T P G
// with T the output tiles of the batch. The transforms are elementwise kernels, one thread per channel and tile,
// writing the 36 points as 36 planes so that a warp's writes are consecutive; the GEMMs are gemm.cu's (36 in one
// launch). For backward-weight the sum over tiles is cut into chunks (T is large where K x C is small) whose
// products are added in chunk order, so every pass is deterministic. Transformed operands live in the workspace:
// the shapes that gain (many channels, small planes) need little, and a shape whose workspace would pass
// kMaxWorkspace keeps the implicit GEMM.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

constexpr int kTile = 4, kIn = kTile + 2, kPoints = kIn * kIn;  // output tile, input tile, transform points
constexpr int64_t kMaxWorkspace = int64_t(1) << 28;              // floats (1 GiB)
constexpr int64_t kIndexLimit = int64_t(1) << 31;                // every index below fits an int
// Backward-weight: chunks of at least kMinChunkTiles tiles, enough for about kTargetBlocks GEMM blocks.
constexpr int64_t kMinChunkTiles = 256, kTargetBlocks = 512, kGemmTile = 128;

int64_t round4(int64_t n) { return (n + 3) / 4 * 4; }

// The tiling of a forward pass: input (N, C, H, W) padded by (ph, pw), output (N, K, OH, OW); T tiles of 4 x 4
// outputs, laid out in S chunks of Tc (a multiple of 4, so that GEMM rows stay 16-byte aligned).
struct Tiling {
  int N, C, H, W, K, OH, OW, ph, pw, TH, TW, T, S, Tc;
};

Tiling tiling_of(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t OH, int64_t OW, int64_t ph, int64_t pw,
                 int64_t chunks) {
  Tiling t{int(N), int(C), int(H), int(W), int(K), int(OH), int(OW), int(ph), int(pw), int((OH + kTile - 1) / kTile),
           int((OW + kTile - 1) / kTile), 0, 1, 0};
  const int64_t T = N * t.TH * t.TW;
  t.T = int(T);
  const int64_t tc = round4((T + chunks - 1) / chunks);
  t.Tc = int(tc);
  t.S = int((T + tc - 1) / tc);
  return t;
}

// The chunks backward-weight cuts its sum over T tiles into: enough GEMM blocks of K x C outputs, none shorter
// than kMinChunkTiles tiles.
int64_t weight_chunks(int64_t T, int64_t K, int64_t C) {
  const int64_t tiles = kPoints * ((K + kGemmTile - 1) / kGemmTile) * ((C + kGemmTile - 1) / kGemmTile);
  const int64_t want = (kTargetBlocks + tiles - 1) / tiles;
  return std::clamp<int64_t>(want, 1, std::max<int64_t>(1, T / kMinChunkTiles));
}

// ---- the 1-D transforms; a 2-D transform applies one along the columns, then along the rows

// u = G g: the kernel's taps to the 6 points.
__device__ __forceinline__ void filter_1d(const float g[3], float u[kIn]) {
  u[0] = g[0] * 0.25f;
  u[1] = -(g[0] + g[1] + g[2]) * (1.0f / 6);
  u[2] = -(g[0] - g[1] + g[2]) * (1.0f / 6);
  u[3] = g[0] * (1.0f / 24) + g[1] * (1.0f / 12) + g[2] * (1.0f / 6);
  u[4] = g[0] * (1.0f / 24) - g[1] * (1.0f / 12) + g[2] * (1.0f / 6);
  u[5] = g[2];
}

// v = B^T d: six inputs to the 6 points.
__device__ __forceinline__ void input_1d(const float d[kIn], float v[kIn]) {
  v[0] = 4 * d[0] - 5 * d[2] + d[4];
  v[1] = -4 * d[1] - 4 * d[2] + d[3] + d[4];
  v[2] = 4 * d[1] - 4 * d[2] - d[3] + d[4];
  v[3] = -2 * d[1] - d[2] + 2 * d[3] + d[4];
  v[4] = 2 * d[1] - d[2] - 2 * d[3] + d[4];
  v[5] = 4 * d[1] - 5 * d[3] + d[5];
}

// y = A^T m: the 6 points' products to four outputs.
__device__ __forceinline__ void output_1d(const float m[kIn], float y[kTile]) {
  const float a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
  y[0] = m[0] + a + c;
  y[1] = b + 2 * d;
  y[2] = a + 4 * c;
  y[3] = b + 8 * d + m[5];
}

// z = A y, the transpose of output_1d: four output gradients to the 6 points.
__device__ __forceinline__ void gradient_1d(const float y[kTile], float z[kIn]) {
  const float even = y[0] + y[2], odd = y[1] + y[3], even4 = y[0] + 4 * y[2], odd8 = 2 * y[1] + 8 * y[3];
  z[0] = y[0];
  z[1] = even + odd;
  z[2] = even - odd;
  z[3] = even4 + odd8;
  z[4] = even4 - odd8;
  z[5] = y[3];
}

// g = G^T m, the transpose of filter_1d: the 6 points' sums to three taps.
__device__ __forceinline__ void filter_gradient_1d(const float m[kIn], float g[3]) {
  const float a = m[1] + m[2], b = m[3] + m[4];
  g[0] = m[0] * 0.25f - a * (1.0f / 6) + b * (1.0f / 24);
  g[1] = (m[2] - m[1]) * (1.0f / 6) + (m[3] - m[4]) * (1.0f / 12);
  g[2] = (b - a) * (1.0f / 6) + m[5];
}

// Y = F X F^T for a 1-D transform F of N values to M (f(in, out)): F along the columns of X, then along the rows.
template <int N, int M, class F>
__device__ __forceinline__ void transform_2d(const float (&x)[N][N], float (&y)[M][M], F f) {
  float cols[M][N];
#pragma unroll
  for (int s = 0; s < N; ++s) {
    float col[N], out[M];
#pragma unroll
    for (int r = 0; r < N; ++r) col[r] = x[r][s];
    f(col, out);
#pragma unroll
    for (int k = 0; k < M; ++k) cols[k][s] = out[k];
  }
#pragma unroll
  for (int k = 0; k < M; ++k) f(cols[k], y[k]);
}

// The tile of flat index `tile` (< T): sample n and tile row / column.
struct TilePos {
  int n, th, tw;
};
__device__ __forceinline__ TilePos tile_pos(const Tiling& t, int tile) {
  const int per = t.TH * t.TW, n = tile / per, rest = tile - n * per, th = rest / t.TW;
  return {n, th, rest - th * t.TW};
}

// ---- the kernels

// U (36, Ko, Ci) = G g G^T of each kernel. flip: g of (ko, ci) is w[ci][ko] turned by 180 degrees (the kernel of
// backward-data, w being (Ci, Ko, 3, 3)); otherwise w[ko][ci] (w being (Ko, Ci, 3, 3)).
__global__ void filter_transform_kernel(const float* __restrict__ w, int Ko, int Ci, bool flip, float* __restrict__ U) {
  const int64_t n = int64_t(Ko) * Ci;
  STRATA_GRID_STRIDE(i, n) {
    const int ko = int(i / Ci), ci = int(i - int64_t(ko) * Ci);
    const float* src = flip ? w + (int64_t(ci) * Ko + ko) * 9 : w + i * 9;
    float g[3][3];
#pragma unroll
    for (int r = 0; r < 3; ++r)
#pragma unroll
      for (int s = 0; s < 3; ++s) g[r][s] = flip ? __ldg(src + (2 - r) * 3 + (2 - s)) : __ldg(src + r * 3 + s);
    float u[kIn][kIn];
    transform_2d(g, u, [](const float* a, float* b) { filter_1d(a, b); });
#pragma unroll
    for (int k = 0; k < kIn; ++k)
#pragma unroll
      for (int l = 0; l < kIn; ++l) U[(k * kIn + l) * n + i] = u[k][l];
  }
}

// V (36, S, C, Tc) = B^T d B of each channel's 6 x 6 patch under each tile (zeros past the last tile).
__global__ void input_transform_kernel(const float* __restrict__ x, Tiling t, float* __restrict__ V) {
  const int64_t plane = int64_t(t.S) * t.C * t.Tc;
  STRATA_GRID_STRIDE(i, plane) {
    const int per_chunk = t.C * t.Tc, chunk = int(i / per_chunk), rest = int(i - int64_t(chunk) * per_chunk);
    const int c = rest / t.Tc, tile = chunk * t.Tc + (rest - c * t.Tc);
    float d[kIn][kIn];
    if (tile < t.T) {
      const TilePos pos = tile_pos(t, tile);
      const int ih0 = kTile * pos.th - t.ph, iw0 = kTile * pos.tw - t.pw;
      const float* src = x + (int64_t(pos.n) * t.C + c) * t.H * t.W;
#pragma unroll
      for (int r = 0; r < kIn; ++r)
#pragma unroll
        for (int s = 0; s < kIn; ++s) {
          const int ih = ih0 + r, iw = iw0 + s;
          d[r][s] = unsigned(ih) < unsigned(t.H) && unsigned(iw) < unsigned(t.W) ? __ldg(src + ih * t.W + iw) : 0.f;
        }
    } else {
#pragma unroll
      for (int r = 0; r < kIn; ++r)
#pragma unroll
        for (int s = 0; s < kIn; ++s) d[r][s] = 0.f;
    }
    float v[kIn][kIn];
    transform_2d(d, v, [](const float* a, float* b) { input_1d(a, b); });
#pragma unroll
    for (int k = 0; k < kIn; ++k)
#pragma unroll
      for (int l = 0; l < kIn; ++l) V[(k * kIn + l) * plane + i] = v[k][l];
  }
}

// y (N, K, OH, OW) = A^T m A of each tile's 36 products M (36, K, Tc), one chunk.
__global__ void output_transform_kernel(const float* __restrict__ M, Tiling t, float* __restrict__ y) {
  const int64_t plane = int64_t(t.K) * t.Tc, n_out = int64_t(t.K) * t.T;
  STRATA_GRID_STRIDE(i, n_out) {
    const int k = int(i / t.T), tile = int(i - int64_t(k) * t.T);
    const int64_t at = int64_t(k) * t.Tc + tile;
    float m[kIn][kIn], out[kTile][kTile];
#pragma unroll
    for (int r = 0; r < kIn; ++r)
#pragma unroll
      for (int s = 0; s < kIn; ++s) m[r][s] = M[(r * kIn + s) * plane + at];
    transform_2d(m, out, [](const float* a, float* b) { output_1d(a, b); });
    const TilePos pos = tile_pos(t, tile);
    float* dst = y + (int64_t(pos.n) * t.K + k) * t.OH * t.OW;
#pragma unroll
    for (int q = 0; q < kTile; ++q) {
      const int oh = kTile * pos.th + q;
      if (oh >= t.OH) break;
#pragma unroll
      for (int l = 0; l < kTile; ++l) {
        const int ow = kTile * pos.tw + l;
        if (ow < t.OW) dst[oh * t.OW + ow] = out[q][l];
      }
    }
  }
}

// dM (36, S, K, Tc) = A dy A^T of each output tile's gradient (zeros past the output and the last tile).
__global__ void grad_output_transform_kernel(const float* __restrict__ gy, Tiling t, float* __restrict__ dM) {
  const int64_t plane = int64_t(t.S) * t.K * t.Tc;
  STRATA_GRID_STRIDE(i, plane) {
    const int per_chunk = t.K * t.Tc, chunk = int(i / per_chunk), rest = int(i - int64_t(chunk) * per_chunk);
    const int k = rest / t.Tc, tile = chunk * t.Tc + (rest - k * t.Tc);
    float dy[kTile][kTile];
#pragma unroll
    for (int r = 0; r < kTile; ++r)
#pragma unroll
      for (int s = 0; s < kTile; ++s) dy[r][s] = 0.f;
    if (tile < t.T) {
      const TilePos pos = tile_pos(t, tile);
      const float* src = gy + (int64_t(pos.n) * t.K + k) * t.OH * t.OW;
#pragma unroll
      for (int r = 0; r < kTile; ++r)
#pragma unroll
        for (int s = 0; s < kTile; ++s) {
          const int oh = kTile * pos.th + r, ow = kTile * pos.tw + s;
          if (oh < t.OH && ow < t.OW) dy[r][s] = __ldg(src + oh * t.OW + ow);
        }
    }
    float z[kIn][kIn];
    transform_2d(dy, z, [](const float* a, float* b) { gradient_1d(a, b); });
#pragma unroll
    for (int r = 0; r < kIn; ++r)
#pragma unroll
      for (int s = 0; s < kIn; ++s) dM[(r * kIn + s) * plane + i] = z[r][s];
  }
}

// gw (K, C, 3, 3) = G^T p G, p the sum in chunk order of the chunks' products P (36, S, K, C).
__global__ void filter_grad_transform_kernel(const float* __restrict__ P, int S, int K, int C, float* __restrict__ gw) {
  const int64_t n = int64_t(K) * C;
  STRATA_GRID_STRIDE(i, n) {
    float p[kIn][kIn], g[3][3];
#pragma unroll
    for (int r = 0; r < kIn; ++r)
#pragma unroll
      for (int s = 0; s < kIn; ++s) {
        const float* src = P + int64_t(r * kIn + s) * S * n + i;
        float sum = 0.f;
        for (int j = 0; j < S; ++j) sum += src[j * n];
        p[r][s] = sum;
      }
    transform_2d(p, g, [](const float* a, float* b) { filter_gradient_1d(a, b); });
#pragma unroll
    for (int r = 0; r < 3; ++r)
#pragma unroll
      for (int s = 0; s < 3; ++s) gw[i * 9 + r * 3 + s] = g[r][s];
  }
}

// The forward tiling of a pass: forward as given; backward-data as the forward pass of gy (K channels, OH x OW)
// to gx (C channels, H x W) padded 2 - p; backward-weight as the forward pass, its tiles in chunks.
Tiling pass_tiling(ConvPass pass, const ConvGeom& g) {
  switch (pass) {
    case ConvPass::forward: return tiling_of(g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, g.pad_h, g.pad_w, 1);
    case ConvPass::backward_data:
      return tiling_of(g.N, g.K, g.OH, g.OW, g.C, g.H, g.W, 2 - g.pad_h, 2 - g.pad_w, 1);
    case ConvPass::backward_weight: {
      const int64_t T = g.N * ((g.OH + kTile - 1) / kTile) * ((g.OW + kTile - 1) / kTile);
      return tiling_of(g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, g.pad_h, g.pad_w, weight_chunks(T, g.K, g.C));
    }
  }
  return {};
}

// The workspace's parts, in floats: forward and backward-data U, V, M; backward-weight V, dM, P.
struct Parts {
  int64_t first = 0, second = 0, third = 0;
  int64_t total() const { return first + second + third; }
};

Parts parts_of(ConvPass pass, const Tiling& t) {
  const int64_t tiles = int64_t(t.S) * t.Tc;
  if (pass == ConvPass::backward_weight)
    return {kPoints * int64_t(t.C) * tiles, kPoints * int64_t(t.K) * tiles, kPoints * int64_t(t.S) * t.K * t.C};
  return {kPoints * int64_t(t.K) * t.C, kPoints * int64_t(t.C) * tiles, kPoints * int64_t(t.K) * tiles};
}

bool served(const ConvGeom& g) {
  return g.R == 3 && g.S == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1 &&
         g.groups == 1 && g.pad_h >= 0 && g.pad_h <= 2 && g.pad_w >= 0 && g.pad_w <= 2 && g.OH >= 1 && g.OW >= 1 &&
         g.OH == g.H + 2 * g.pad_h - 2 && g.OW == g.W + 2 * g.pad_w - 2;
}

void launch_tiles(void (*kernel)(const float*, Tiling, float*), int64_t n, const float* in, const Tiling& t,
                  float* out) {
  launch(kernel, dim3(grid_for(n)), dim3(kThreads), 0, nullptr, in, t, out);
}

}  // namespace

int64_t conv_winograd_workspace(ConvPass pass, const ConvGeom& g) {
  if (!served(g) || g.N == 0 || g.C == 0 || g.K == 0) return -1;
  for (const int64_t s : {g.N * g.C * g.H * g.W, g.N * g.K * g.OH * g.OW})
    if (s >= kIndexLimit) return -1;
  const Parts p = parts_of(pass, pass_tiling(pass, g));
  for (const int64_t s : {p.first, p.second, p.third})
    if (s >= kIndexLimit) return -1;
  return p.total() <= kMaxWorkspace ? p.total() : -1;
}

cudaError_t conv_winograd(ConvPass pass, const ConvGeom& g, const float* a, const float* b, float* out,
                          float* workspace) {
  if (g.N == 0 || g.K == 0 || g.C == 0) return cudaGetLastError();
  const Tiling t = pass_tiling(pass, g);
  const Parts p = parts_of(pass, t);
  float* first = workspace;
  float* second = first + p.first;
  float* third = second + p.second;
  if (pass == ConvPass::backward_weight) {  // a: x, b: gy, out: gw
    float *V = first, *dM = second, *P = third;
    const int64_t tiles = int64_t(t.S) * t.Tc;
    launch_tiles(input_transform_kernel, int64_t(t.C) * tiles, a, t, V);
    launch_tiles(grad_output_transform_kernel, int64_t(t.K) * tiles, b, t, dM);
    // P[e] (K x C) = dM[e] (K x Tc) V[e]^T, e over the 36 points and the S chunks.
    const cudaError_t status =
        gemm_batched<float>(kPoints * int64_t(t.S), false, true, t.K, t.C, t.Tc, dM, t.Tc, int64_t(t.K) * t.Tc, V,
                            t.Tc, int64_t(t.C) * t.Tc, P, t.C, int64_t(t.K) * t.C);
    if (status != cudaSuccess) return status;
    launch(filter_grad_transform_kernel, dim3(grid_for(int64_t(t.K) * t.C)), dim3(kThreads), 0, nullptr,
           static_cast<const float*>(P), t.S, t.K, t.C, out);
    return cudaGetLastError();
  }
  // Forward (a: x, b: w) or backward-data (a: gy, b: w): the forward pass of t, the kernel flipped for the latter.
  float *U = first, *V = second, *M = third;
  launch(filter_transform_kernel, dim3(grid_for(int64_t(t.K) * t.C)), dim3(kThreads), 0, nullptr, b, t.K, t.C,
         pass == ConvPass::backward_data, U);
  launch_tiles(input_transform_kernel, int64_t(t.C) * t.Tc, a, t, V);
  // M[e] (K x Tc) = U[e] (K x C) V[e] (C x Tc), e over the 36 points.
  const cudaError_t status = gemm_batched<float>(kPoints, false, false, t.K, t.Tc, t.C, U, t.C, int64_t(t.K) * t.C,
                                                 V, t.Tc, int64_t(t.C) * t.Tc, M, t.Tc, int64_t(t.K) * t.Tc);
  if (status != cudaSuccess) return status;
  launch_tiles(output_transform_kernel, int64_t(t.K) * t.T, M, t, out);
  return cudaGetLastError();
}

}  // namespace strata::cuda
