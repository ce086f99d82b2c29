// Portable float vectors for the CPU convolution kernels, one register wide
// for the target the build compiles for: 16 lanes with AVX-512 (32 registers),
// 8 with AVX / AVX2 (16 registers), 4 elsewhere (SSE, NEON; 16 registers or
// more). A vector wider than the registers would be split by the compiler into
// several, and kernels whose register tiles are sized for one register per
// vector would spill: on a Zen 3 core (AVX2) the 16-lane kernels ran at 5
// GFLOP/s against 116 for GEMM. So the lane count and the register count are
// compile-time facts here, and every kernel sizes its register tiles from them.
#pragma once

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <cstring>
#include <utility>

namespace strata::cpu::simd {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kRegisters = 32;
#elif defined(__AVX__)
constexpr int kLanes = 8;
constexpr int kRegisters = 16;
#else
constexpr int kLanes = 4;
constexpr int kRegisters = 16;
#endif
constexpr int kBytes = kLanes * int(sizeof(float));

using vf = float __attribute__((vector_size(kLanes * sizeof(float))));

inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline vf load_aligned(const float* p) { return *reinterpret_cast<const vf*>(__builtin_assume_aligned(p, kBytes)); }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
// A vector loaded once and used by several multiply-adds: GCC otherwise folds the load into each of them as a
// memory operand, one load per use, and a tile whose loads already match its multiply-adds becomes load-bound.
inline vf load_once(const float* p) {
  vf v = load(p);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  asm("" : "+v"(v));
#endif
  return v;
}
// The first n (0 <= n <= kLanes) lanes from / to p; load_n zeroes the others. Masked moves where the target
// has them (a masked-off lane is never touched, so p + n may end a mapped page); a variable-length memcpy
// otherwise, which is a library call.
#if defined(__AVX512F__)
inline __mmask16 first_lanes(int64_t n) { return __mmask16((1u << n) - 1); }
inline vf load_n(const float* p, int64_t n) { return vf(_mm512_maskz_loadu_ps(first_lanes(n), p)); }
inline void store_n(float* p, vf v, int64_t n) { _mm512_mask_storeu_ps(p, first_lanes(n), __m512(v)); }
#elif defined(__AVX2__)
inline __m256i first_lanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline vf load_n(const float* p, int64_t n) { return vf(_mm256_maskload_ps(p, first_lanes(n))); }
inline void store_n(float* p, vf v, int64_t n) { _mm256_maskstore_ps(p, first_lanes(n), __m256(v)); }
#else
inline vf load_n(const float* p, int64_t n) {
  vf v = {};
  std::memcpy(&v, p, size_t(n) * sizeof(float));
  return v;
}
inline void store_n(float* p, vf v, int64_t n) { std::memcpy(p, &v, size_t(n) * sizeof(float)); }
#endif

// dst[i] = src[i], i in [0, n), whole vectors and a masked tail: for the short rows of small planes,
// where memcpy's call and size dispatch cost more than the copy.
inline void copy(float* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(dst + i, load(src + i));
  if (i < n) store_n(dst + i, load_n(src + i, n - i), n - i);
}
// shuffle<Index>(a, b): lane i of the result is lane Index(i) of the 2 kLanes
// lanes (a, b), for a constexpr Index: one two-source register shuffle for any
// lane count, its indices written once as a formula.
template <auto Index, size_t... I>
inline vf shuffle_of(vf a, vf b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, Index(int(I))...);
}
template <auto Index>
inline vf shuffle(vf a, vf b) {
  return shuffle_of<Index>(a, b, std::make_index_sequence<kLanes>{});
}

// Every lane s (one broadcast; `vf{} + s` would add, and turn -0 into +0).
inline vf splat(float s) {
  const vf v = {s};
  return shuffle<[](int) { return 0; }>(v, v);
}

// Lanes [s, s + kLanes) of the 2 kLanes lanes (a, b), s in [0, kLanes].
template <int S>
inline vf shift_left(vf a, vf b) {
  return shuffle<[](int i) { return i + S; }>(a, b);
}

// The sum of the lanes in a fixed order: lanes i and i + kLanes / 2 added, then the same on the first half, down
// to one lane; log2(kLanes) shuffles and adds instead of a chain of kLanes dependent scalar adds.
template <int H = kLanes / 2>
inline float sum_lanes(vf v) {
  v += shift_left<H>(v, v);
  if constexpr (H > 1) return sum_lanes<H / 2>(v);
  else return v[0];
}

// The even and the odd lanes of the 2 kLanes lanes (a, b): a stride-2 row split in two.
inline vf even_lanes(vf a, vf b) { return shuffle<[](int i) { return 2 * i; }>(a, b); }
inline vf odd_lanes(vf a, vf b) { return shuffle<[](int i) { return 2 * i + 1; }>(a, b); }
// The inverse, a lane of `even` and one of `odd` alternately: from their lane 0 (zip_lo) or lane kLanes / 2
// (zip_hi) on.
inline vf zip_lo(vf even, vf odd) { return shuffle<[](int i) { return i % 2 ? kLanes + i / 2 : i / 2; }>(even, odd); }
inline vf zip_hi(vf even, vf odd) {
  return shuffle<[](int i) { return i % 2 ? kLanes + kLanes / 2 + i / 2 : kLanes / 2 + i / 2; }>(even, odd);
}

// 4-way deinterleave of the 4 kLanes floats at x: lane i of out[p] = x[4 i + p].
// Each half of out[p] comes from one pair of the four vectors.
inline void deinterleave4(const float* x, vf out[4]) {
  constexpr int H = kLanes / 2;
  const vf a = load(x), b = load(x + kLanes), c = load(x + 2 * kLanes), d = load(x + 3 * kLanes);
  auto phase = [&]<int P>() {
    // Lanes [0, H): x[P + 4 i] of (a, b), then of (c, d); lanes from H on: don't care.
    constexpr auto every_4th = [](int i) { return i < H ? P + 4 * i : P; };
    constexpr auto halves = [](int i) { return i < H ? i : kLanes + i - H; };
    return shuffle<halves>(shuffle<every_4th>(a, b), shuffle<every_4th>(c, d));
  };
  out[0] = phase.template operator()<0>();
  out[1] = phase.template operator()<1>();
  out[2] = phase.template operator()<2>();
  out[3] = phase.template operator()<3>();
}

// The inverse: x[4 i + p] = lane i of in[p], 4 kLanes floats. Two rounds of
// interleaves: pairs (in[0], in[1]) and (in[2], in[3]) lane by lane, then the
// two results two lanes at a time.
inline void interleave4(const vf in[4], float* x) {
  constexpr int H = kLanes / 2;
  // pairs_lo / pairs_hi: two lanes of a, two of b, alternately, from lane 0 / lane H of each.
  constexpr auto pairs_lo = [](int i) { return (i / 2) % 2 ? kLanes + i / 4 * 2 + i % 2 : i / 4 * 2 + i % 2; };
  constexpr auto pairs_hi = [](int i) { return (i / 2) % 2 ? kLanes + H + i / 4 * 2 + i % 2 : H + i / 4 * 2 + i % 2; };
  const vf ab_lo = zip_lo(in[0], in[1]), ab_hi = zip_hi(in[0], in[1]);
  const vf cd_lo = zip_lo(in[2], in[3]), cd_hi = zip_hi(in[2], in[3]);
  store(x, shuffle<pairs_lo>(ab_lo, cd_lo));
  store(x + kLanes, shuffle<pairs_hi>(ab_lo, cd_lo));
  store(x + 2 * kLanes, shuffle<pairs_lo>(ab_hi, cd_hi));
  store(x + 3 * kLanes, shuffle<pairs_hi>(ab_hi, cd_hi));
}

// dst[s * ld + i] = row[i S + s] for i < count, s < S: a row split into its S phases (rows of dst `ld` apart,
// ld may be negative); S = 2 through even_lanes / odd_lanes.
inline void split_row(const float* row, int64_t count, int64_t S, float* dst, int64_t ld) {
  int64_t i = 0;
  if (S == 2)
    for (; i + kLanes <= count; i += kLanes) {
      const vf a = load(row + 2 * i), b = load(row + 2 * i + kLanes);
      store(dst + i, even_lanes(a, b));
      store(dst + ld + i, odd_lanes(a, b));
    }
  for (; i < count; ++i)
    for (int64_t s = 0; s < S; ++s) dst[s * ld + i] = row[i * S + s];
}

// row[i S + s] = src[s * ld + i] for i < count, s < S: the inverse of split_row.
inline void join_row(const float* src, int64_t ld, int64_t count, int64_t S, float* row) {
  int64_t i = 0;
  if (S == 2)
    for (; i + kLanes <= count; i += kLanes) {
      const vf even = load(src + i), odd = load(src + ld + i);
      store(row + 2 * i, zip_lo(even, odd));
      store(row + 2 * i + kLanes, zip_hi(even, odd));
    }
  for (; i < count; ++i)
    for (int64_t s = 0; s < S; ++s) row[i * S + s] = src[s * ld + i];
}

// dst[j * ldd + i] = src[i * lds + j] for a kLanes x kLanes block, through
// registers: log2(kLanes) rounds, round h (kLanes / 2 down to 1) swapping the
// off-diagonal h x h blocks of every 2h x 2h block between rows i and i + h.
inline void transpose_block(const float* src, int64_t lds, float* dst, int64_t ldd) {
  vf r[kLanes];
  for (int i = 0; i < kLanes; ++i) r[i] = load(src + i * lds);
  auto round = [&]<int H>() {
    if constexpr (H < kLanes) {
      constexpr auto upper = [](int j) { return (j / H) % 2 ? kLanes + j - H : j; };
      constexpr auto lower = [](int j) { return (j / H) % 2 ? kLanes + j : j + H; };
      for (int i = 0; i < kLanes; ++i) {
        if ((i / H) % 2) continue;
        const vf a = r[i], b = r[i + H];
        r[i] = shuffle<upper>(a, b);
        r[i + H] = shuffle<lower>(a, b);
      }
    }
  };
  round.template operator()<8>();
  round.template operator()<4>();
  round.template operator()<2>();
  round.template operator()<1>();
  for (int j = 0; j < kLanes; ++j) store(dst + j * ldd, r[j]);
}

// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols: kLanes x kLanes
// blocks through registers, the edges one float at a time.
inline void transpose(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  const int64_t rb = rows / kLanes * kLanes, cb = cols / kLanes * kLanes;
  for (int64_t i = 0; i < rb; i += kLanes)
    for (int64_t j = 0; j < cb; j += kLanes) transpose_block(src + i * lds + j, lds, dst + j * ldd + i, ldd);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = i < rb ? cb : 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

}  // namespace strata::cpu::simd
