// Device-side half of the CUDA emulator: what a kernel in kernels/cuda/*.cu
// sees when the file is compiled by the host compiler (STRATA_CUDA_EMU).
//
// Execution model: a launch runs blocks on OpenMP threads; inside a block
// every CUDA thread is a cooperative fiber (Boost.Context). __syncthreads()
// and the warp intrinsics suspend the calling fiber until every thread that
// must meet there has arrived, so shared-memory tiling, tree reductions and
// warp shuffles execute as written. `__shared__` variables become
// `static thread_local`: one copy per OS thread, i.e. per running block.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

// ---- qualifiers --------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static thread_local
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

template <class T>
inline T __ldg(const T* p) { return *p; }
inline unsigned int __float_as_uint(float f) {
  unsigned int u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float __uint_as_float(unsigned int u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return static_cast<unsigned int>((static_cast<unsigned long long>(a) * b) >> 32);
}

// ---- vector types and built-ins ----------------------------------------
struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

namespace strata::emu {

// The coordinates of the running CUDA thread, set by the scheduler before it
// resumes a fiber.
struct ThreadCoords {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
};
extern thread_local ThreadCoords t_coords;

constexpr int kWarpSize = 32;

void syncthreads();
// Warp collective: every lane in `mask` publishes `value`; returns the values
// of all 32 lanes (lanes outside the mask or finished read as 0).
void warp_exchange(unsigned mask, uint64_t value, uint64_t (&lanes)[kWarpSize]);
int lane_id();
void* dynamic_shared_memory();

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8);
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
template <class T>
T from_bits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

}  // namespace strata::emu

#define threadIdx (::strata::emu::t_coords.thread_idx)
#define blockIdx (::strata::emu::t_coords.block_idx)
#define blockDim (::strata::emu::t_coords.block_dim)
#define gridDim (::strata::emu::t_coords.grid_dim)
constexpr int warpSize = 32;

// Dynamic shared memory: `extern __shared__ T name[]` under nvcc.
#define STRATA_DYNAMIC_SHARED(T, name) T* name = static_cast<T*>(::strata::emu::dynamic_shared_memory())

// ---- synchronisation ---------------------------------------------------
inline void __syncthreads() { ::strata::emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  uint64_t lanes[32];
  ::strata::emu::warp_exchange(mask, 0, lanes);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class T>
T __shfl_sync(unsigned mask, T value, int src_lane, int width = 32) {
  uint64_t lanes[32];
  ::strata::emu::warp_exchange(mask, ::strata::emu::to_bits(value), lanes);
  const int lane = ::strata::emu::lane_id();
  const int base = lane - lane % width;
  return ::strata::emu::from_bits<T>(lanes[base + ((src_lane % width) + width) % width]);
}
template <class T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  uint64_t lanes[32];
  ::strata::emu::warp_exchange(mask, ::strata::emu::to_bits(value), lanes);
  const int lane = ::strata::emu::lane_id();
  const int src = lane % width + int(delta) < width ? lane + int(delta) : lane;
  return ::strata::emu::from_bits<T>(lanes[src]);
}
template <class T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  uint64_t lanes[32];
  ::strata::emu::warp_exchange(mask, ::strata::emu::to_bits(value), lanes);
  const int lane = ::strata::emu::lane_id();
  const int src = lane % width >= int(delta) ? lane - int(delta) : lane;
  return ::strata::emu::from_bits<T>(lanes[src]);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  uint64_t lanes[32];
  ::strata::emu::warp_exchange(mask, ::strata::emu::to_bits(value), lanes);
  const int lane = ::strata::emu::lane_id();
  const int src = lane ^ lane_mask;
  return ::strata::emu::from_bits<T>(lanes[src / width == lane / width ? src : lane]);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  uint64_t lanes[32];
  ::strata::emu::warp_exchange(mask, predicate ? 1 : 0, lanes);
  unsigned bits = 0;
  for (int i = 0; i < 32; ++i)
    if ((mask >> i & 1u) && lanes[i]) bits |= 1u << i;
  return bits;
}

// ---- atomics (blocks run on several OS threads: these are real atomics) --
template <class T>
T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
namespace strata::emu {
// Replaces *address by value while better(value, *address); returns the old value.
template <class T, class Better>
T atomic_replace_if(T* address, T value, Better better) {
  std::atomic_ref<T> ref(*address);
  T old = ref.load();
  while (better(value, old) && !ref.compare_exchange_weak(old, value)) {
  }
  return old;
}
}  // namespace strata::emu
template <class T>
T atomicMax(T* address, T value) {
  return ::strata::emu::atomic_replace_if(address, value, [](T a, T b) { return b < a; });
}
template <class T>
T atomicMin(T* address, T value) {
  return ::strata::emu::atomic_replace_if(address, value, [](T a, T b) { return a < b; });
}
template <class T>
T atomicCAS(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
  return compare;
}
template <class T>
T atomicExch(T* address, T value) {
  return std::atomic_ref<T>(*address).exchange(value);
}

// ---- math intrinsics used by our kernels --------------------------------
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __saturatef(float x) { return std::min(1.0f, std::max(0.0f, x)); }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline float __int_as_float(int x) { return ::strata::emu::from_bits<float>(uint32_t(x)); }
inline int __float_as_int(float x) { return int(uint32_t(::strata::emu::to_bits(x))); }
using std::max;
using std::min;
inline int __popc(unsigned x) { return __builtin_popcount(x); }
