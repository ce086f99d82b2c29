// Implicit-GEMM convolutions (float): each pass of a convolution is a GEMM
// whose operands are gathered from the tensors as they are staged in shared
// memory, so no column matrix is written or read. Per group g (blockIdx.z):
//   forward          y  (Kg x N*OH*OW) = w    (Kg x Cg*R*S)  . columns of x
//   backward-data    gx (Cg x N*H*W)   = w^T  (Cg x Kg*R*S)  . the taps of gy that each input element fed
//   backward-weight  gw (Kg x Cg*R*S)  = gy   (Kg x N*OH*OW) . columns of x, transposed
// Backward-data gathers (every gx element is one thread's sum: no atomics).
// Where the output has too few tiles to fill the GPU (backward-weight sums
// over N*OH*OW into a small output; deep layers have few positions), the sum
// is split into chunks whose partial results go to a workspace and are then
// added in chunk order. Every result is therefore deterministic.
//
// Tiles follow gemm.cu: 256 threads, a BM x 128 tile of the output per block
// (BM 32, 64 or 128, the smallest that covers the output's rows, since
// channel counts are often 32 or 64), k slices of 8 double-buffered in shared
// memory, each thread accumulating BM / 16 rows by 8 columns in registers.
// Index arithmetic divides by multiply-shift (FastDiv) instead of integer
// division, and each thread decomposes its fixed columns once.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

constexpr int kBN = 128, kBK = 8, kIgThreads = 256, kPad = 4;
// A pass with fewer tiles than this splits its sum until about this many blocks run (a fixed number, not the
// device's: results must not depend on the GPU), keeping at least kMinChunk terms per chunk and the partial
// results within kMaxParts floats.
constexpr int kTargetBlocks = 512, kMinChunk = 256;
constexpr int64_t kMaxParts = int64_t(1) << 26;

// n / d for 0 <= n < 2^31 by one high multiply, an add and a shift (the round-up method: s = ceil(log2 d),
// m = floor(2^32 (2^s - d) / d) + 1, n / d = (mulhi(n, m) + n) >> s).
struct FastDiv {
  uint32_t m = 1, s = 0;
  FastDiv() = default;
  explicit FastDiv(int64_t divisor) {
    const uint64_t d = uint64_t(divisor);
    while ((uint64_t(1) << s) < d) ++s;
    m = uint32_t(((uint64_t(1) << 32) * ((uint64_t(1) << s) - d)) / d + 1);
  }
  __device__ __forceinline__ int div(int n) const { return int((__umulhi(uint32_t(n), m) + uint32_t(n)) >> s); }
};

// The geometry the three passes share, in 32-bit integers (the host checks that every index fits).
struct Geom {
  int N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw, dh, dw, groups, Cg, Kg, RS, HW, P;
  FastDiv by_P, by_OW, by_RS, by_S, by_HW, by_W, by_sh, by_sw;

  explicit Geom(const ConvGeom& g)
      : N(int(g.N)), C(int(g.C)), H(int(g.H)), W(int(g.W)), K(int(g.K)), R(int(g.R)), S(int(g.S)), OH(int(g.OH)),
        OW(int(g.OW)), sh(int(g.stride_h)), sw(int(g.stride_w)), ph(int(g.pad_h)), pw(int(g.pad_w)),
        dh(int(g.dil_h)), dw(int(g.dil_w)), groups(int(g.groups)), Cg(int(g.Cg())), Kg(int(g.Kg())),
        RS(int(g.R * g.S)), HW(int(g.H * g.W)), P(int(g.OH * g.OW)), by_P(g.OH * g.OW), by_OW(g.OW),
        by_RS(g.R * g.S), by_S(g.S), by_HW(g.H * g.W), by_W(g.W), by_sh(g.stride_h), by_sw(g.stride_w) {}
};

// Each pass is an Op: the GEMM's sizes (M rows, Ncols columns, Kd summed terms), its A(m, k), its B(k, n)
// through a per-column part (Col, decomposed once per thread) and a per-term part (Row), and where a result goes.
// kBNFast: B's threads run along n (forward, backward-data: x or gy read along its rows) or along k
// (backward-weight: x read along its rows as the sum runs over positions).

struct Forward {
  static constexpr bool kBNFast = true;
  Geom g;
  const float* x;
  const float* w;
  float* y;  // (splits, N, K, OH, OW): y itself when the sum is not split
  int M, Ncols, Kd, k_chunk;
  int64_t part;  // elements of one chunk's results

  struct Col { int base, ih0, iw0; };  // base < 0: past the last column
  struct Row { int off, dy, dx; };

  __device__ Col col(int grp, int n) const {
    if (n >= Ncols) return {-1, 0, 0};
    const int nn = g.by_P.div(n), p = n - nn * g.P, oh = g.by_OW.div(p), ow = p - oh * g.OW;
    return {(nn * g.C + grp * g.Cg) * g.HW, oh * g.sh - g.ph, ow * g.sw - g.pw};
  }
  __device__ Row row(int k) const {
    const int c = g.by_RS.div(k), rs = k - c * g.RS, r = g.by_S.div(rs), s = rs - r * g.S;
    return {c * g.HW + r * g.dh * g.W + s * g.dw, r * g.dh, s * g.dw};
  }
  __device__ float a(int grp, int m, int k) const { return __ldg(w + (grp * g.Kg + m) * Kd + k); }
  __device__ float b(const Row& r, const Col& c) const {
    const int ih = c.ih0 + r.dy, iw = c.iw0 + r.dx;
    if (c.base < 0 || unsigned(ih) >= unsigned(g.H) || unsigned(iw) >= unsigned(g.W)) return 0.f;
    return __ldg(x + c.base + r.off + c.ih0 * g.W + c.iw0);
  }
  __device__ void store(int grp, int split, int m, int n, float v) const {
    const int nn = g.by_P.div(n), p = n - nn * g.P;
    y[split * part + (nn * g.K + grp * g.Kg + m) * g.P + p] = v;
  }
};

struct BackwardData {
  static constexpr bool kBNFast = true;
  Geom g;
  const float* gy;
  const float* w;
  float* gx;  // (splits, N, C, H, W): gx itself when the sum is not split
  int M, Ncols, Kd, k_chunk;
  int64_t part;

  struct Col { int base, th0, tw0; };
  struct Row { int off, dy, dx; };

  __device__ Col col(int grp, int n) const {
    if (n >= Ncols) return {-1, 0, 0};
    const int nn = g.by_HW.div(n), hw = n - nn * g.HW, h = g.by_W.div(hw), wc = hw - h * g.W;
    return {(nn * g.K + grp * g.Kg) * g.P, h + g.ph, wc + g.pw};
  }
  __device__ Row row(int k) const {
    const int kk = g.by_RS.div(k), rs = k - kk * g.RS, r = g.by_S.div(rs), s = rs - r * g.S;
    return {kk * g.P, r * g.dh, s * g.dw};
  }
  __device__ float a(int grp, int m, int k) const {
    const int kk = g.by_RS.div(k), rs = k - kk * g.RS;
    return __ldg(w + ((grp * g.Kg + kk) * g.Cg + m) * g.RS + rs);
  }
  // gx[h, w] gathers gy[oh, ow] where oh * sh - ph + r * dh = h.
  __device__ float b(const Row& r, const Col& c) const {
    const int th = c.th0 - r.dy, tw = c.tw0 - r.dx;
    if (c.base < 0 || th < 0 || tw < 0) return 0.f;
    const int oh = g.by_sh.div(th), ow = g.by_sw.div(tw);
    if (oh * g.sh != th || ow * g.sw != tw || oh >= g.OH || ow >= g.OW) return 0.f;
    return __ldg(gy + c.base + r.off + oh * g.OW + ow);
  }
  __device__ void store(int grp, int split, int m, int n, float v) const {
    const int nn = g.by_HW.div(n), hw = n - nn * g.HW;
    gx[split * part + (nn * g.C + grp * g.Cg + m) * g.HW + hw] = v;
  }
};

struct BackwardWeight {
  static constexpr bool kBNFast = false;
  Geom g;
  const float* x;
  const float* gy;
  float* out;  // (splits, K, Cg * R * S): gw itself when the sum is not split
  int M, Ncols, Kd, k_chunk;
  int64_t part;

  struct Col { int base, dy, dx; };  // a (c, r, s) of the weight
  struct Row { int xoff, ih0, iw0; };  // an (n, oh, ow) of the sum

  __device__ Col col(int grp, int n) const {
    if (n >= Ncols) return {-1, 0, 0};
    const int c = g.by_RS.div(n), rs = n - c * g.RS, r = g.by_S.div(rs), s = rs - r * g.S;
    return {(grp * g.Cg + c) * g.HW, r * g.dh, s * g.dw};
  }
  __device__ Row row(int k) const {
    const int nn = g.by_P.div(k), p = k - nn * g.P, oh = g.by_OW.div(p), ow = p - oh * g.OW;
    return {nn * g.C * g.HW, oh * g.sh - g.ph, ow * g.sw - g.pw};
  }
  __device__ float a(int grp, int m, int k) const {
    const int nn = g.by_P.div(k), p = k - nn * g.P;
    return __ldg(gy + (nn * g.K + grp * g.Kg + m) * g.P + p);
  }
  __device__ float b(const Row& r, const Col& c) const {
    const int ih = r.ih0 + c.dy, iw = r.iw0 + c.dx;
    if (c.base < 0 || unsigned(ih) >= unsigned(g.H) || unsigned(iw) >= unsigned(g.W)) return 0.f;
    return __ldg(x + r.xoff + c.base + ih * g.W + iw);
  }
  __device__ void store(int grp, int split, int m, int n, float v) const {
    out[split * part + (grp * g.Kg + m) * Ncols + n] = v;
  }
};

template <int TM>
__device__ __forceinline__ int tile_row(int ty, int i) {
  if constexpr (TM == 8) return i < 4 ? 4 * ty + i : 64 + 4 * ty + i - 4;
  else return TM * ty + i;
}

// Resident blocks per multiprocessor the register budget must allow: two for the 128- and 64-row tiles (at most
// 128 registers a thread, as gemm.cu's float kernel), three for the 32-row tiles, whose few rows per gathered
// element leave them waiting on loads (at most 85 registers).
template <int BM, class Op>
__global__ void __launch_bounds__(kIgThreads, BM == 32 ? 3 : 2) conv_igemm_kernel(Op op) {
  constexpr int TM = BM / 16, kAPer = BM * kBK / kIgThreads;
  __shared__ __align__(16) float As[2][kBK][BM + kPad];
  __shared__ __align__(16) float Bs[2][kBK][kBN + kPad];
  const int tid = int(threadIdx.x), tx = tid % 16, ty = tid / 16;
  const int m0 = int(blockIdx.y) * BM, n0 = int(blockIdx.x) * kBN;
  const int grp = int(blockIdx.z) % op.g.groups, split = int(blockIdx.z) / op.g.groups;
  const int kbeg = split * op.k_chunk, kend = kbeg + op.k_chunk < op.Kd ? kbeg + op.k_chunk : op.Kd;

  // A is staged along k: a thread's term within a slice is fixed (ak), its rows are tid / 8 + 32 r. B holds one
  // term and four columns per thread: along n, term tid / 32 and four neighbouring columns (one decomposition of
  // the term per slice, and the gathers of a warp cover 128 consecutive columns); along k, term ak and columns
  // tid / 8 + 32 q. Either way a thread's columns are fixed and decomposed once.
  const int ak = tid % kBK;
  const int bk = Op::kBNFast ? tid / 32 : ak;
  typename Op::Col cols[4];
#pragma unroll
  for (int q = 0; q < 4; ++q) cols[q] = op.col(grp, n0 + (Op::kBNFast ? 4 * (tid % 32) + q : tid / kBK + 32 * q));

  float ra[kAPer], rb[4];
  auto fetch = [&](int k0) {
    const int k = k0 + ak;
#pragma unroll
    for (int r = 0; r < kAPer; ++r) {
      const int m = m0 + tid / kBK + 32 * r;
      ra[r] = k < kend && m < op.M ? op.a(grp, m, k) : 0.f;
    }
    const int kb = k0 + bk;
    if (kb < kend) {
      const typename Op::Row row = op.row(kb);
#pragma unroll
      for (int q = 0; q < 4; ++q) rb[q] = op.b(row, cols[q]);
    } else {
#pragma unroll
      for (int q = 0; q < 4; ++q) rb[q] = 0.f;
    }
  };
  auto stage = [&](int buf) {
#pragma unroll
    for (int r = 0; r < kAPer; ++r) As[buf][ak][tid / kBK + 32 * r] = ra[r];
    if constexpr (Op::kBNFast) {
      *reinterpret_cast<float4*>(&Bs[buf][bk][4 * (tid % 32)]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
    } else {
#pragma unroll
      for (int q = 0; q < 4; ++q) Bs[buf][bk][tid / kBK + 32 * q] = rb[q];
    }
  };

  float acc[TM][8];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

  fetch(kbeg);
  stage(0);
  __syncthreads();
  int buf = 0;
  for (int k0 = kbeg; k0 < kend; k0 += kBK) {
    const bool more = k0 + kBK < kend;
    if (more) fetch(k0 + kBK);
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float av[TM], bv[8];
#pragma unroll
      for (int i = 0; i < TM; i += (TM < 4 ? TM : 4)) {
        if constexpr (TM >= 4) {
          const float4 v = *reinterpret_cast<const float4*>(&As[buf][kk][tile_row<TM>(ty, i)]);
          av[i] = v.x, av[i + 1] = v.y, av[i + 2] = v.z, av[i + 3] = v.w;
        } else {
          const float2 v = *reinterpret_cast<const float2*>(&As[buf][kk][tile_row<TM>(ty, i)]);
          av[i] = v.x, av[i + 1] = v.y;
        }
      }
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][kk][4 * tx]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][kk][64 + 4 * tx]);
      bv[0] = b0.x, bv[1] = b0.y, bv[2] = b0.z, bv[3] = b0.w, bv[4] = b1.x, bv[5] = b1.y, bv[6] = b1.z, bv[7] = b1.w;
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] += av[i] * bv[j];
    }
    if (more) stage(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + tile_row<TM>(ty, i);
    if (m >= op.M) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int n = n0 + (j < 4 ? 4 * tx + j : 64 + 4 * tx + j - 4);
      if (n < op.Ncols) op.store(grp, split, m, n, acc[i][j]);
    }
  }
}

// gw[i] = the chunks' partial sums at i, added in chunk order.
__global__ void sum_chunks_kernel(const float* __restrict__ parts, int64_t splits, int64_t n, float* __restrict__ gw) {
  STRATA_GRID_STRIDE(i, n) {
    float s = 0.f;
    for (int64_t c = 0; c < splits; ++c) s += parts[c * n + i];
    gw[i] = s;
  }
}

// The GEMM's sizes of a pass, and its sum split into `splits` chunks of k_chunk terms (whole slices) where the
// output has few tiles; part: the elements of the pass's output (one chunk's partial results).
struct Plan {
  int M = 0, Ncols = 0, Kd = 0, k_chunk = 0, splits = 1, bm = 128;
  int64_t part = 0;
};

Plan plan_of(ConvPass pass, const ConvGeom& g) {
  Plan p;
  const int64_t RS = g.R * g.S;
  switch (pass) {
    case ConvPass::forward: p = {int(g.Kg()), int(g.N * g.P()), int(g.Cg() * RS)}; p.part = g.N * g.K * g.P(); break;
    case ConvPass::backward_data:
      p = {int(g.Cg()), int(g.N * g.H * g.W), int(g.Kg() * RS)};
      p.part = g.N * g.C * g.H * g.W;
      break;
    case ConvPass::backward_weight: p = {int(g.Kg()), int(g.Cg() * RS), int(g.N * g.P())}; p.part = g.K * g.Cg() * RS; break;
  }
  p.bm = p.M <= 32 ? 32 : p.M <= 64 ? 64 : 128;
  const int64_t tiles = ((p.Ncols + kBN - 1) / kBN) * ((p.M + p.bm - 1) / p.bm) * g.groups;
  const int64_t most = std::max<int64_t>(
      1, std::min({p.Kd / int64_t(kMinChunk), 65535 / g.groups, kMaxParts / std::max<int64_t>(p.part, 1)}));
  const int64_t want = std::clamp<int64_t>((kTargetBlocks + tiles - 1) / tiles, 1, most);
  const int64_t chunk = ((p.Kd + want - 1) / want + kBK - 1) / kBK * kBK;
  p.k_chunk = int(chunk);
  p.splits = int((p.Kd + chunk - 1) / chunk);
  return p;
}

template <int BM, class Op>
void launch_op(const Op& op, int splits) {
  const dim3 grid(unsigned((op.Ncols + kBN - 1) / kBN), unsigned((op.M + BM - 1) / BM), unsigned(op.g.groups * splits));
  launch(conv_igemm_kernel<BM, Op>, grid, dim3(kIgThreads), 0, nullptr, op);
}

template <class Op>
void launch_tiles(const Op& op, int bm, int splits) {
  if (bm == 32) launch_op<32>(op, splits);
  else if (bm == 64) launch_op<64>(op, splits);
  else launch_op<128>(op, splits);
}

}  // namespace

int64_t conv_igemm_workspace(ConvPass pass, const ConvGeom& g) {
  // Depthwise and per-channel convolutions (one input channel per group) are not GEMMs worth tiling, and 1x1
  // convolutions are plain GEMMs already: both keep the engine's GEMM path.
  if (g.Cg() == 1 || g.is_pointwise()) return -1;
  const int64_t limit = int64_t(1) << 31;
  const int64_t sizes[] = {g.N * g.C * g.H * g.W, g.N * g.K * g.OH * g.OW, g.K * g.Cg() * g.R * g.S};
  for (const int64_t s : sizes)
    if (s >= limit - kBN) return -1;
  const Plan p = plan_of(pass, g);
  return p.splits > 1 ? int64_t(p.splits) * p.part : 0;
}

cudaError_t conv_igemm(ConvPass pass, const ConvGeom& cg, const float* a, const float* b, float* out,
                       float* workspace) {
  if (cg.N == 0 || cg.K == 0 || cg.C == 0) return cudaGetLastError();
  const Geom g(cg);
  const Plan p = plan_of(pass, cg);
  float* dst = p.splits > 1 ? workspace : out;
  switch (pass) {
    case ConvPass::forward:
      launch_tiles(Forward{g, a, b, dst, p.M, p.Ncols, p.Kd, p.k_chunk, p.part}, p.bm, p.splits);
      break;
    case ConvPass::backward_data:
      launch_tiles(BackwardData{g, a, b, dst, p.M, p.Ncols, p.Kd, p.k_chunk, p.part}, p.bm, p.splits);
      break;
    case ConvPass::backward_weight:
      launch_tiles(BackwardWeight{g, a, b, dst, p.M, p.Ncols, p.Kd, p.k_chunk, p.part}, p.bm, p.splits);
      break;
  }
  if (p.splits > 1)
    launch(sum_chunks_kernel, dim3(unsigned(std::min<int64_t>((p.part + kThreads - 1) / kThreads, kMaxBlocks))),
           dim3(kThreads), 0, nullptr, workspace, int64_t(p.splits), p.part, out);
  return cudaGetLastError();
}

}  // namespace strata::cuda
