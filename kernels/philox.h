// Philox4x32-10 counter-based generator (Salmon et al., SC'11) and the
// mapping from its 32-bit outputs to uniform and normal floats. Counter-based:
// element i of a fill with (seed, offset) depends only on (seed, offset, i),
// so the CPU and CUDA backends produce the same stream in any order.
//   uniform fill:  u[i] = to_uniform(philox(counter = offset + i / 4, key = seed)[i % 4])
//   normal fill:   pairs (2j, 2j+1) of the same block go through Box-Muller.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/op_kinds.h"

namespace strata::philox {

struct Block {
  uint32_t v[4];
};

STRATA_HD inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// 10 rounds of Philox4x32 on the 128-bit counter (c0..c3) with key (k0, k1).
STRATA_HD inline Block philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// The block for 64-bit counter `ctr` under key `seed`.
STRATA_HD inline Block generate(uint64_t ctr, uint64_t seed) {
  return philox4x32_10(uint32_t(ctr), uint32_t(ctr >> 32), 0, 0, uint32_t(seed), uint32_t(seed >> 32));
}

// Uniform in [0, 1) with 24 (float) or 32 (double) random bits.
STRATA_HD inline float to_uniform_f32(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
STRATA_HD inline double to_uniform_f64(uint32_t x) { return double(x) * (1.0 / 4294967296.0); }

// Box-Muller on two 32-bit draws; returns the pair (z0, z1) of standard normals.
STRATA_HD inline void box_muller(uint32_t a, uint32_t b, double& z0, double& z1) {
  const double u1 = (double(a) + 1.0) * (1.0 / 4294967296.0);  // (0, 1]: log is finite
  const double u2 = double(b) * (1.0 / 4294967296.0);
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 6.283185307179586 * u2;
  z0 = r * std::cos(theta);
  z1 = r * std::sin(theta);
}

// Element i of a fill lives in block i / 4: these write block b's elements
// 4b..4b+3 (those below n). The CPU and CUDA fills both loop over blocks.
template <class T>
STRATA_HD inline void uniform_block(T* y, int64_t n, int64_t b, uint64_t seed, uint64_t offset, double lo, double hi) {
  const Block r = generate(offset + uint64_t(b), seed);
  for (int j = 0; j < 4 && b * 4 + j < n; ++j) {
    double u;
    if constexpr (std::is_same_v<T, float>) u = to_uniform_f32(r.v[j]);
    else u = to_uniform_f64(r.v[j]);
    y[b * 4 + j] = T(lo + (hi - lo) * u);
  }
}

template <class T>
STRATA_HD inline void normal_block(T* y, int64_t n, int64_t b, uint64_t seed, uint64_t offset, double mean,
                                   double std) {
  const Block r = generate(offset + uint64_t(b), seed);
  double z[4];
  box_muller(r.v[0], r.v[1], z[0], z[1]);
  box_muller(r.v[2], r.v[3], z[2], z[3]);
  for (int j = 0; j < 4 && b * 4 + j < n; ++j) y[b * 4 + j] = T(mean + std * z[j]);
}

}  // namespace strata::philox
