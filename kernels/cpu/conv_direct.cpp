#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/conv_depthwise.h"
#include "kernels/cpu/conv_patch.h"
#include "kernels/cpu/conv_pointwise.h"

#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/simd.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::cpu {
namespace {

using simd::kLanes;
using simd::load;
using simd::load_aligned;
using simd::splat;
using simd::store;
using simd::vf;

inline float hsum(vf v) {
  float s = 0;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- algorithm selection

ConvAlgorithm algorithm_from_env() {
  const char* v = std::getenv("STRATA_CPU_CONV");
  const std::string_view s = v ? v : "";
  if (s == "gemm") return ConvAlgorithm::gemm;
  if (s == "direct") return ConvAlgorithm::direct;
  if (s == "winograd") return ConvAlgorithm::winograd;
  return ConvAlgorithm::automatic;
}

std::atomic<ConvAlgorithm>& algorithm_slot() {
  static std::atomic<ConvAlgorithm> a{algorithm_from_env()};
  return a;
}

// automatic: where Winograd beats the direct kernel and im2col + GEMM
// (measured on the U-Net shapes, docs/benchmarks.md): F(4x4, 3x3) from 16
// channels (the blocked passes below 64 x 64 channels), the 1-D F(4, 3) from 32.
bool winograd_wins(const ConvGeom& g) {
  const int64_t from = g.R == 1 ? 32 : 16;
  return g.C >= from && g.K >= from;
}

// ---- padded planes

// Zero-padded copies of `planes` planes (H, W), each (Hp, Wp) with the plane
// at row ph, column pw, in caller-provided workspace. Rows start on 64-byte
// boundaries, and Wp leaves room for two whole vectors from the last output
// column of every row.
struct Padded {
  int64_t planes = 0, ph = 0, pw = 0, Hp = 0, Wp = 0;
  float* base = nullptr;
  const float* data() const { return base; }
  int64_t plane() const { return Hp * Wp; }
  // Workspace floats: the planes plus room to align their start.
  int64_t workspace() const { return planes * Hp * Wp + 64 / int64_t(sizeof(float)); }
};

// The layout for output rows of out_w columns read by kernels S columns wide.
Padded padded_layout(int64_t planes, int64_t H, int64_t ph, int64_t pw, int64_t out_w, int64_t S) {
  Padded p;
  p.planes = planes, p.ph = ph, p.pw = pw;
  p.Hp = H + 2 * ph;
  p.Wp = ceil_div(ceil_div(out_w, kLanes) * kLanes + std::max<int64_t>(S - 1, kLanes), kLanes) * kLanes;
  return p;
}

// The layouts of the three passes: the input for forward and backward-weight,
// the output gradient for backward-data.
Padded pass_layout(const ConvGeom& g, ConvPass pass) {
  if (pass == ConvPass::backward_data)
    return padded_layout(g.N * g.K, g.OH, g.R - 1 - g.pad_h, g.S - 1 - g.pad_w, g.W, g.S);
  return padded_layout(g.N * g.C, g.H, g.pad_h, g.pad_w, g.OW, g.S);
}

// Fills layout p (in workspace) with x.
Padded pad_planes(Padded p, const float* x, int64_t H, int64_t W, float* workspace) {
  const auto addr = reinterpret_cast<uintptr_t>(workspace);
  p.base = reinterpret_cast<float*>((addr + 63) / 64 * 64);
  const int64_t planes = p.planes, ph = p.ph, pw = p.pw;
  float* out = p.base;
  const int64_t rows = planes * p.Hp, Hp = p.Hp, Wp = p.Wp;
  parallel_for(rows, rows * Wp > 65536, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t plane = i / Hp, h = i % Hp - ph;
      float* row = out + i * Wp;
      if (h < 0 || h >= H) {
        std::fill_n(row, Wp, 0.0f);
        continue;
      }
      std::fill_n(row, pw, 0.0f);
      std::memcpy(row + pw, x + (plane * H + h) * W, size_t(W) * sizeof(float));
      std::fill(row + pw + W, row + Wp, 0.0f);
    }
  });
  return p;
}

// ---- forward (and backward-data): correlation of padded planes with packed weights

// A register tile: kKB output channels x kWB vectors of one output row, its
// kKB kWB accumulators with kWB input vectors and one broadcast weight in the
// registers: 8 x 3 (24 + 4 of 32) with AVX-512, 6 x 2 (12 + 3 of 16) with AVX2.
// (Zen 3, 1 thread, fwd + bwd, direct kernel: 4 x 3 left GCC no register for
// the input vectors, which it reloaded for every FMA: conv1d C16 L1024 1.93-1.97
// ms, conv2d C32 128x128 88-94 ms; 6 x 2: 1.42-1.46 and 59-64 ms; 8 x 1:
// 1.61-1.69 and 66-67 ms.)
constexpr int kKB = simd::kRegisters >= 32 ? 8 : 6;
constexpr int kWB = simd::kRegisters >= 32 ? 3 : 2;

// Weights packed for the tile loop: (ceil(K / kKB), C, R, S, kKB), zeros past K.
// at(k, c, r, s) gives the weight of output channel k, input channel c, tap (r, s).
template <class At>
std::vector<float> pack_weights(int64_t K, int64_t C, int64_t R, int64_t S, At&& at) {
  const int64_t blocks = ceil_div(K, kKB);
  std::vector<float> p(size_t(blocks * C * R * S * kKB), 0.0f);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s)
          p[size_t(((((k / kKB) * C + c) * R + r) * S + s) * kKB + k % kKB)] = at(k, c, r, s);
  return p;
}

// One register tile: kKB output channels x WB vectors of one output row.
// x points at (channel 0, first tap row, first column) of the padded input.
template <int WB>
void correlate_tile(const float* x, int64_t plane, int64_t Wp, int64_t C, int64_t R, int64_t S, const float* wk,
                    float* y, int64_t y_plane, int64_t k_count, int64_t cols) {
  vf acc[kKB][WB];
  for (auto& a : acc)
    for (auto& v : a) v = vf{};
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < R; ++r) {
      const float* xr = x + c * plane + r * Wp;
      const float* wr = wk + (c * R + r) * S * kKB;
      for (int64_t s = 0; s < S; ++s) {
        vf xv[WB];
#pragma GCC unroll 4
        for (int j = 0; j < WB; ++j) xv[j] = load(xr + s + j * kLanes);
#pragma GCC unroll 8
        for (int k = 0; k < kKB; ++k) {
          const vf b = splat(wr[s * kKB + k]);
#pragma GCC unroll 4
          for (int j = 0; j < WB; ++j) acc[k][j] += xv[j] * b;
        }
      }
    }
  for (int64_t k = 0; k < k_count; ++k)
    for (int j = 0; j < WB; ++j) {
      const int64_t n = std::min<int64_t>(kLanes, cols - j * kLanes);
      float* out = y + k * y_plane + j * kLanes;
      if (n == kLanes) {
        store(out, acc[k][j]);
      } else {
        for (int64_t i = 0; i < n; ++i) out[i] = acc[k][j][i];
      }
    }
}

// y (N, K, OH, OW) = sum over c, r, s of packed[k, c, r, s] * xp[n, c, oh + r, ow + s].
void correlate(const Padded& xp, int64_t N, int64_t C, int64_t R, int64_t S, const std::vector<float>& packed,
               int64_t K, float* y, int64_t OH, int64_t OW) {
  const int64_t blocks = ceil_div(K, kKB), vecs = ceil_div(OW, kLanes), items = N * blocks * OH;
  const int64_t plane = xp.plane(), Wp = xp.Wp, y_plane = OH * OW;
  parallel_for(items, items * vecs * C * R * S > 16384, [&](int64_t item0, int64_t item1) {
    for (int64_t item = item0; item < item1; ++item) {
      const int64_t n = item / (blocks * OH), kb = item / OH % blocks, oh = item % OH;
      const float* x = xp.data() + n * C * plane + oh * Wp;
      const float* wk = packed.data() + kb * C * R * S * kKB;
      float* yrow = y + (n * K + kb * kKB) * y_plane + oh * OW;
      const int64_t k_count = std::min<int64_t>(kKB, K - kb * kKB);
      // Tiles of kWB vectors from column v * kLanes, then one tile of the 1 or 2 vectors left.
      auto tile = [&]<int WB>(int64_t v) {
        correlate_tile<WB>(x + v * kLanes, plane, Wp, C, R, S, wk, yrow + v * kLanes, y_plane, k_count,
                           OW - v * kLanes);
      };
      int64_t v = 0;
      for (; v + kWB <= vecs; v += kWB) tile.template operator()<kWB>(v);
      if (vecs - v == 2) tile.template operator()<2>(v);
      if (vecs - v == 1) tile.template operator()<1>(v);
    }
  });
}

// ---- backward-weight

// Adds to out[k * R * S + r * S + s] the sums over rows [i0, i1) of (sample,
// output row) pairs of gy[n, kb * KB + k] * x[n, c] shifted by (r, s).
// A block past K repeats channel K - 1; its sums are computed and dropped.
template <int R, int S, int KB>
void weight_sums(const ConvGeom& g, const Padded& xp, const float* gy, int64_t c, int64_t kb, int64_t i0, int64_t i1,
                 float* out) {
  vf acc[KB][R * S];
  for (auto& a : acc)
    for (auto& v : a) v = vf{};
  const int64_t OW = g.OW, full = OW / kLanes, tail = OW % kLanes, P = g.P(), Wp = xp.Wp;
  int64_t k_of[KB];
  for (int k = 0; k < KB; ++k) k_of[k] = std::min(kb * KB + k, g.K - 1);
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t n = i / g.OH, oh = i % g.OH;
    const float* xrow = xp.data() + (n * g.C + c) * xp.plane() + oh * Wp;
    const float* grow[KB];
    for (int k = 0; k < KB; ++k) grow[k] = gy + (n * g.K + k_of[k]) * P + oh * OW;
    // Row r of the input at columns col + s: two aligned loads per row, the
    // shifted vectors made from them in registers.
    auto step = [&](const vf* gv, int64_t col) {
#pragma GCC unroll 3
      for (int r = 0; r < R; ++r) {
        const float* xr = xrow + r * Wp + col;
        const vf a = load_aligned(xr), b = load_aligned(xr + kLanes);
        vf xs[S];
        [&]<int... s>(std::integer_sequence<int, s...>) {
          ((xs[s] = simd::shift_left<s>(a, b)), ...);
        }(std::make_integer_sequence<int, S>{});
#pragma GCC unroll 5
        for (int s = 0; s < S; ++s)
#pragma GCC unroll 8
          for (int k = 0; k < KB; ++k) acc[k][r * S + s] += gv[k] * xs[s];
      }
    };
    for (int64_t v = 0; v < full; ++v) {
      vf gv[KB];
#pragma GCC unroll 8
      for (int k = 0; k < KB; ++k) gv[k] = load(grow[k] + v * kLanes);
      step(gv, v * kLanes);
    }
    if (tail) {  // the last partial vector: gradient lanes past the row are zero
      vf gv[KB];
      for (int k = 0; k < KB; ++k) {
        float buf[kLanes] = {};
        std::memcpy(buf, grow[k] + full * kLanes, size_t(tail) * sizeof(float));
        gv[k] = load(buf);
      }
      step(gv, full * kLanes);
    }
  }
  for (int k = 0; k < KB; ++k)
    for (int t = 0; t < R * S; ++t) out[k * R * S + t] += hsum(acc[k][t]);
}

template <int R, int S, int KB>
void backward_weight_fixed(const ConvGeom& g, const Padded& xp, const float* gy, float* gw) {
  const int64_t blocks = ceil_div(g.K, KB), items = g.C * blocks, rows = g.N * g.OH;
  // Per item, the (KB, R, S) sums in item order; gw is filled from them at the end.
  std::vector<float> sums(size_t(items * KB * R * S), 0.0f);
  // Rows (sample, output row) per pass: enough that one pass's input and
  // gradient rows stay in cache (about 512 KiB), but at least 64 vectors per
  // item so the lane sums at the end of a pass stay cheap.
  const int64_t row_bytes = (g.C + g.K) * xp.Wp * int64_t(sizeof(float));
  const int64_t by_cache = (int64_t(512) << 10) / std::max<int64_t>(row_bytes, 1);
  const int64_t by_work = ceil_div(64, ceil_div(g.OW, kLanes));
  const int64_t chunk = std::clamp<int64_t>(std::max(by_cache, by_work), 1, rows);
  for (int64_t i0 = 0; i0 < rows; i0 += chunk) {
    const int64_t i1 = std::min(rows, i0 + chunk);
    parallel_for(items, items * (i1 - i0) * g.OW * KB * R * S > 16384, [&](int64_t item0, int64_t item1) {
      for (int64_t item = item0; item < item1; ++item)
        weight_sums<R, S, KB>(g, xp, gy, item / blocks, item % blocks, i0, i1, sums.data() + item * KB * R * S);
    });
  }
  for (int64_t item = 0; item < items; ++item) {
    const int64_t c = item / blocks, kb = item % blocks;
    for (int k = 0; k < KB && kb * KB + k < g.K; ++k)
      for (int t = 0; t < R * S; ++t)
        gw[((kb * KB + k) * g.C + c) * R * S + t] = sums[size_t((item * KB + k) * R * S + t)];
  }
}

bool unit_stride(const ConvGeom& g) {
  return g.groups == 1 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1;
}

}  // namespace

ConvAlgorithm conv_algorithm() { return algorithm_slot().load(); }
void set_conv_algorithm(ConvAlgorithm a) { algorithm_slot().store(a); }

bool conv_direct_applies(const ConvGeom& g, ConvPass pass) {
  if (!unit_stride(g) || g.OH < 1 || g.OW < 1) return false;
  switch (pass) {
    case ConvPass::forward:
      return true;
    case ConvPass::backward_data:  // the transposed correlation needs padding of at most R - 1, S - 1
      return g.pad_h <= g.R - 1 && g.pad_w <= g.S - 1;
    case ConvPass::backward_weight:
      return (g.R == 3 && g.S == 3) || (g.R == 1 && (g.S == 3 || g.S == 5));
  }
  return false;
}

ConvKernel conv_kernel(const ConvGeom& g, ConvPass pass) {
  const ConvAlgorithm a = conv_algorithm();
  if (a == ConvAlgorithm::gemm) return ConvKernel::gemm;
  if (conv_depthwise_applies(g)) return ConvKernel::depthwise;
  if (conv_pointwise_applies(g)) return ConvKernel::pointwise;
  if (conv_patch_applies(g)) return ConvKernel::patch;
  if (a != ConvAlgorithm::direct && conv_winograd_applies(g, pass) &&
      (a == ConvAlgorithm::winograd || winograd_wins(g)))
    return ConvKernel::winograd;
  if (!conv_direct_applies(g, pass)) return ConvKernel::gemm;
  if (a != ConvAlgorithm::automatic) return ConvKernel::direct;
  // automatic: 1x1 convolutions need no column matrix, and rows narrower than
  // two vectors leave most of the register tile empty; GEMM wins both.
  return !(g.R == 1 && g.S == 1) && g.OW >= 2 * kLanes ? ConvKernel::direct : ConvKernel::gemm;
}

bool conv_direct_selected(const ConvGeom& g, ConvPass pass) { return conv_kernel(g, pass) == ConvKernel::direct; }

int64_t conv_direct_workspace(const ConvGeom& g, ConvPass pass) { return pass_layout(g, pass).workspace(); }

void conv_direct_forward(const ConvGeom& g, const float* x, const float* w, float* y, float* workspace) {
  const Padded xp = pad_planes(pass_layout(g, ConvPass::forward), x, g.H, g.W, workspace);
  const auto packed = pack_weights(g.K, g.C, g.R, g.S, [&](int64_t k, int64_t c, int64_t r, int64_t s) {
    return w[((k * g.C + c) * g.R + r) * g.S + s];
  });
  correlate(xp, g.N, g.C, g.R, g.S, packed, g.K, y, g.OH, g.OW);
}

void conv_direct_backward_data(const ConvGeom& g, const float* gy, const float* w, float* gx, float* workspace) {
  // gx = correlation of gy padded by (R - 1 - pad) with w transposed (C <-> K) and flipped.
  const Padded gp = pad_planes(pass_layout(g, ConvPass::backward_data), gy, g.OH, g.OW, workspace);
  const auto packed = pack_weights(g.C, g.K, g.R, g.S, [&](int64_t c, int64_t k, int64_t r, int64_t s) {
    return w[((k * g.C + c) * g.R + (g.R - 1 - r)) * g.S + (g.S - 1 - s)];
  });
  correlate(gp, g.N, g.K, g.R, g.S, packed, g.C, gx, g.H, g.W);
}

void conv_direct_backward_weight(const ConvGeom& g, const float* x, const float* gy, float* gw, float* workspace) {
  const Padded xp = pad_planes(pass_layout(g, ConvPass::backward_weight), x, g.H, g.W, workspace);
  // KB output channels x R S taps of accumulators, KB gradient vectors, two
  // input vectors and their shifts fill the registers (32 with AVX-512, 16 with AVX2).
  constexpr bool wide = simd::kRegisters >= 32;
  if (g.R == 3 && g.S == 3) return backward_weight_fixed<3, 3, wide ? 2 : 1>(g, xp, gy, gw);
  if (g.S == 5) return backward_weight_fixed<1, 5, wide ? 4 : 2>(g, xp, gy, gw);
  backward_weight_fixed<1, 3, wide ? 6 : 3>(g, xp, gy, gw);
}

}  // namespace strata::cpu
