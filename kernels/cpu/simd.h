// Portable 16-float vectors for the CPU convolution kernels: one AVX-512
// register with -march=native on this project's machines; GCC and Clang split
// the vector type where the target is narrower (AVX2, SSE, NEON).
#pragma once

#include <cstdint>
#include <cstring>

namespace strata::cpu::simd {

constexpr int kLanes = 16;
using vf = float __attribute__((vector_size(kLanes * sizeof(float))));

inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline vf load_aligned(const float* p) { return *reinterpret_cast<const vf*>(__builtin_assume_aligned(p, 64)); }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
// The first n (0 <= n <= kLanes) lanes from / to p; load_n zeroes the others.
inline vf load_n(const float* p, int64_t n) {
  vf v = {};
  std::memcpy(&v, p, size_t(n) * sizeof(float));
  return v;
}
inline void store_n(float* p, vf v, int64_t n) { std::memcpy(p, &v, size_t(n) * sizeof(float)); }
inline vf splat(float s) { return vf{s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }

// Lanes 0-7: a[P], a[P + 4], .. over the 32 floats of (a, b); lanes 8-15: don't care.
template <int P>
inline vf every_4th(vf a, vf b) {
  return __builtin_shufflevector(a, b, P, P + 4, P + 8, P + 12, P + 16, P + 20, P + 24, P + 28, P, P, P, P, P, P, P,
                                 P);
}
template <int P>
inline vf phase4(vf a, vf b, vf c, vf d) {
  return __builtin_shufflevector(every_4th<P>(a, b), every_4th<P>(c, d), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20,
                                 21, 22, 23);
}

// 4-way deinterleave of the 64 floats at x: lane i of out[p] = x[4 i + p].
inline void deinterleave4(const float* x, vf out[4]) {
  const vf a = load(x), b = load(x + kLanes), c = load(x + 2 * kLanes), d = load(x + 3 * kLanes);
  out[0] = phase4<0>(a, b, c, d);
  out[1] = phase4<1>(a, b, c, d);
  out[2] = phase4<2>(a, b, c, d);
  out[3] = phase4<3>(a, b, c, d);
}

// The inverse: x[4 i + p] = lane i of in[p], 64 floats.
inline void interleave4(const vf in[4], float* x) {
  const vf ab_lo = __builtin_shufflevector(in[0], in[1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const vf ab_hi = __builtin_shufflevector(in[0], in[1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const vf cd_lo = __builtin_shufflevector(in[2], in[3], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const vf cd_hi = __builtin_shufflevector(in[2], in[3], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  store(x, __builtin_shufflevector(ab_lo, cd_lo, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
  store(x + kLanes,
        __builtin_shufflevector(ab_lo, cd_lo, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31));
  store(x + 2 * kLanes, __builtin_shufflevector(ab_hi, cd_hi, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
  store(x + 3 * kLanes,
        __builtin_shufflevector(ab_hi, cd_hi, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31));
}

// dst[j * ldd + i] = src[i * lds + j] for a 16 x 16 block, through registers:
// two rounds of interleaves transpose the 4 x 4 blocks inside each 128-bit
// lane, two rounds of lane moves transpose the 4 x 4 grid of those blocks.
inline void transpose16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  vf r[kLanes], t[kLanes];
  for (int i = 0; i < kLanes; ++i) r[i] = load(src + i * lds);
  for (int i = 0; i < kLanes; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
  }
  for (int i = 0; i < kLanes; i += 4)  // r[i + m]: in 128-bit lane q, column 4 q + m of rows i .. i + 3
    for (int h = 0; h < 2; ++h) {
      r[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13,
                                             28, 29);
      r[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27,
                                                 14, 15, 30, 31);
    }
  for (int m = 0; m < 4; ++m) {
    const vf v0 = __builtin_shufflevector(r[m], r[4 + m], 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const vf v1 = __builtin_shufflevector(r[m], r[4 + m], 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const vf w0 = __builtin_shufflevector(r[8 + m], r[12 + m], 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const vf w1 =
        __builtin_shufflevector(r[8 + m], r[12 + m], 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    store(dst + m * ldd, __builtin_shufflevector(v0, w0, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
    store(dst + (4 + m) * ldd,
          __builtin_shufflevector(v0, w0, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
    store(dst + (8 + m) * ldd, __builtin_shufflevector(v1, w1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
    store(dst + (12 + m) * ldd,
          __builtin_shufflevector(v1, w1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
  }
}

// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols: 16 x 16 blocks
// through registers, the edges one float at a time.
inline void transpose(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  const int64_t rb = rows / kLanes * kLanes, cb = cols / kLanes * kLanes;
  for (int64_t i = 0; i < rb; i += kLanes)
    for (int64_t j = 0; j < cb; j += kLanes) transpose16(src + i * lds + j, lds, dst + j * ldd + i, ldd);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = i < rb ? cb : 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

}  // namespace strata::cpu::simd
