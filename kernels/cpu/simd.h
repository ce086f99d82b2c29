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
inline vf splat(float s) { return vf{s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }

}  // namespace strata::cpu::simd
