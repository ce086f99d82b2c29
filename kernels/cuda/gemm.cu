// The native GEMM engine: C = op(A) op(B), row-major (kernels/cpu/gemm.h).
// Each 256-thread block computes a 128 x 128 tile of C. Per step it stages a
// 128 x 8 slice of op(A) and an 8 x 128 slice of op(B) in shared memory
// (double-buffered: the next slice is fetched into registers while the
// current one is multiplied). Thread (tx, ty) of the 16 x 16 grid accumulates
// an 8 x 8 register block: rows 4 ty + i and 64 + 4 ty + i, columns 4 tx + j
// and 64 + 4 tx + j (i, j < 4), so each k step reads its operands as four
// 16-byte shared loads (float) for 64 FMAs; a warp's reads are broadcasts
// (A) or 256 consecutive bytes (B). Shared rows are padded by 4 elements so
// that staging an untransposed A or transposed B slice hits distinct banks.
// Float operands whose rows are 16-byte aligned are fetched from global
// memory as 16-byte vectors along their contiguous axis (one load per
// thread and operand per slice instead of four).
// Edges are zero-filled on load and masked on store: any M, N, K works.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 8, kGemmThreads = 256, kPad = 4;
constexpr int kPerThread = kBM * kBK / kGemmThreads;  // elements of each operand slice per thread
constexpr int kVecPerThread = kPerThread / 4;          // the same as 16-byte vectors
constexpr int kBatchPerLaunch = 65535;                // gridDim.z limit
// Blocks per multiprocessor the register budget must allow. Two for the float kernel with vector loads: it
// fits 128 registers without spilling, and on an H100 two resident blocks ran SGEMM 4096^3 at 41.6 TFLOP/s
// against 38.5 with one (docs/benchmarks.md). The others spill at 128 and keep one.
template <class T, bool Vec>
constexpr int kMinBlocks = std::is_same_v<T, float> && Vec ? 2 : 1;

// Four consecutive elements of a shared row (16-byte aligned for float: the row length and offsets are
// multiples of 4 elements).
template <class T>
__device__ __forceinline__ void load4(const T* p, T* out) {
  if constexpr (std::is_same_v<T, float>) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = p[i];
  }
}

// Four elements of a row at [i, i + 4), zero past `limit`; one 16-byte load when the four are inside (the caller
// guarantees 16-byte alignment of the row and i).
__device__ __forceinline__ float4 load_row4(const float* row, int i, int limit) {
  if (i + 3 < limit) return __ldg(reinterpret_cast<const float4*>(row + i));
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (i < limit) v.x = row[i];
  if (i + 1 < limit) v.y = row[i + 1];
  if (i + 2 < limit) v.z = row[i + 2];
  return v;
}

// Vec (float only; leading dimensions and batch strides multiples of 4, 16-byte aligned operands): each thread
// fetches its share of a slice as 16-byte vectors along the operand's contiguous axis.
template <class T, bool TransA, bool TransB, bool Vec>
__global__ void __launch_bounds__(kGemmThreads, (kMinBlocks<T, Vec>))
    gemm_kernel(int M, int N, int K, const T* __restrict__ A, int64_t lda, int64_t stride_a, const T* __restrict__ B,
                int64_t ldb, int64_t stride_b, T* __restrict__ C, int64_t ldc, int64_t stride_c) {
  __shared__ __align__(16) T As[2][kBK][kBM + kPad];
  __shared__ __align__(16) T Bs[2][kBK][kBN + kPad];
  A += int64_t(blockIdx.z) * stride_a;
  B += int64_t(blockIdx.z) * stride_b;
  C += int64_t(blockIdx.z) * stride_c;
  const int tid = int(threadIdx.x), tx = tid % 16, ty = tid / 16;
  const int m0 = int(blockIdx.y) * kBM, n0 = int(blockIdx.x) * kBN;

  // Element e = tid + 256 r of a slice; the mapping keeps global reads coalesced:
  // along k when op(A) = A (k fastest), along m when op(A) = A^T; likewise for B.
  T ra[kPerThread], rb[kPerThread];
  auto fetch = [&](int k0) {
    if constexpr (Vec) {
#pragma unroll
      for (int r = 0; r < kVecPerThread; ++r) {
        const int e = tid + kGemmThreads * r;
        float4 va, vb;
        if constexpr (TransA) {  // A is K x M: a slice row holds 128 m
          const int ak = e / (kBM / 4), am = 4 * (e % (kBM / 4));
          va = k0 + ak < K ? load_row4(A + int64_t(k0 + ak) * lda, m0 + am, M) : make_float4(0.f, 0.f, 0.f, 0.f);
        } else {  // A is M x K: a slice row holds kBK k
          const int am = e / (kBK / 4), ak = 4 * (e % (kBK / 4));
          va = m0 + am < M ? load_row4(A + int64_t(m0 + am) * lda, k0 + ak, K) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
        if constexpr (TransB) {  // B is N x K
          const int bn = e / (kBK / 4), bk = 4 * (e % (kBK / 4));
          vb = n0 + bn < N ? load_row4(B + int64_t(n0 + bn) * ldb, k0 + bk, K) : make_float4(0.f, 0.f, 0.f, 0.f);
        } else {  // B is K x N
          const int bk = e / (kBN / 4), bn = 4 * (e % (kBN / 4));
          vb = k0 + bk < K ? load_row4(B + int64_t(k0 + bk) * ldb, n0 + bn, N) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
        ra[4 * r] = va.x, ra[4 * r + 1] = va.y, ra[4 * r + 2] = va.z, ra[4 * r + 3] = va.w;
        rb[4 * r] = vb.x, rb[4 * r + 1] = vb.y, rb[4 * r + 2] = vb.z, rb[4 * r + 3] = vb.w;
      }
    } else {
#pragma unroll
      for (int r = 0; r < kPerThread; ++r) {
        const int e = tid + kGemmThreads * r;
        const int am = TransA ? e % kBM : e / kBK, ak = TransA ? e / kBM : e % kBK;
        const int gm = m0 + am, gk = k0 + ak;
        ra[r] = gm < M && gk < K ? (TransA ? A[int64_t(gk) * lda + gm] : A[int64_t(gm) * lda + gk]) : T(0);
        const int bn = TransB ? e / kBK : e % kBN, bk = TransB ? e % kBK : e / kBN;
        const int gn = n0 + bn, gk2 = k0 + bk;
        rb[r] = gn < N && gk2 < K ? (TransB ? B[int64_t(gn) * ldb + gk2] : B[int64_t(gk2) * ldb + gn]) : T(0);
      }
    }
  };
  auto stage = [&](int buf) {
    if constexpr (Vec) {
#pragma unroll
      for (int r = 0; r < kVecPerThread; ++r) {
        const int e = tid + kGemmThreads * r;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          if constexpr (TransA) As[buf][e / (kBM / 4)][4 * (e % (kBM / 4)) + q] = ra[4 * r + q];
          else As[buf][4 * (e % (kBK / 4)) + q][e / (kBK / 4)] = ra[4 * r + q];
          if constexpr (TransB) Bs[buf][4 * (e % (kBK / 4)) + q][e / (kBK / 4)] = rb[4 * r + q];
          else Bs[buf][e / (kBN / 4)][4 * (e % (kBN / 4)) + q] = rb[4 * r + q];
        }
      }
    } else {
#pragma unroll
      for (int r = 0; r < kPerThread; ++r) {
        const int e = tid + kGemmThreads * r;
        const int am = TransA ? e % kBM : e / kBK, ak = TransA ? e / kBM : e % kBK;
        As[buf][ak][am] = ra[r];
        const int bn = TransB ? e / kBK : e % kBN, bk = TransB ? e % kBK : e / kBN;
        Bs[buf][bk][bn] = rb[r];
      }
    }
  };

  T acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = T(0);

  fetch(0);
  stage(0);
  __syncthreads();
  int buf = 0;
  for (int k0 = 0; k0 < K; k0 += kBK) {
    const bool more = k0 + kBK < K;
    if (more) fetch(k0 + kBK);
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      T a[8], b[8];
      load4(&As[buf][kk][4 * ty], a);
      load4(&As[buf][kk][64 + 4 * ty], a + 4);
      load4(&Bs[buf][kk][4 * tx], b);
      load4(&Bs[buf][kk][64 + 4 * tx], b + 4);
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
    }
    if (more) stage(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int m = m0 + (i < 4 ? 4 * ty + i : 64 + 4 * ty + i - 4);
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int n = n0 + (j < 4 ? 4 * tx + j : 64 + 4 * tx + j - 4);
      if (n < N) C[int64_t(m) * ldc + n] = acc[i][j];
    }
  }
}

template <class T, bool TransA, bool TransB>
void launch_gemm(int64_t batch, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, int64_t sa, const T* B,
                 int64_t ldb, int64_t sb, T* C, int64_t ldc, int64_t sc) {
  const dim3 block(kGemmThreads);
  const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool vec = std::is_same_v<T, float> && lda % 4 == 0 && ldb % 4 == 0 &&
                   (batch == 1 || (sa % 4 == 0 && sb % 4 == 0)) && aligned(A) && aligned(B);
  for (int64_t b0 = 0; b0 < batch; b0 += kBatchPerLaunch) {
    const unsigned nb = unsigned(batch - b0 < kBatchPerLaunch ? batch - b0 : kBatchPerLaunch);
    const dim3 grid(unsigned((N + kBN - 1) / kBN), unsigned((M + kBM - 1) / kBM), nb);
    if constexpr (std::is_same_v<T, float>) {
      if (vec) {
        launch(gemm_kernel<T, TransA, TransB, true>, grid, block, 0, nullptr, int(M), int(N), int(K), A + b0 * sa,
               lda, sa, B + b0 * sb, ldb, sb, C + b0 * sc, ldc, sc);
        continue;
      }
    }
    launch(gemm_kernel<T, TransA, TransB, false>, grid, block, 0, nullptr, int(M), int(N), int(K), A + b0 * sa, lda,
           sa, B + b0 * sb, ldb, sb, C + b0 * sc, ldc, sc);
  }
}

}  // namespace

template <class T>
cudaError_t gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                         int64_t lda, int64_t sa, const T* B, int64_t ldb, int64_t sb, T* C, int64_t ldc,
                         int64_t sc) {
  if (batch == 0 || M == 0 || N == 0) return cudaGetLastError();
  if (M > (int64_t(1) << 31) - kBM || N > (int64_t(1) << 31) - kBN || K > (int64_t(1) << 31) - kBK)
    return cudaErrorInvalidValue;
  if (K == 0) {  // empty sum: C = 0
    for (int64_t b = 0; b < batch; ++b) {
      TensorDesc d;
      d.ndim = 2;
      d.shape[0] = M;
      d.shape[1] = N;
      d.strides[0] = ldc;
      d.strides[1] = 1;
      const cudaError_t status = fill(T(0), C + b * sc, d);
      if (status != cudaSuccess) return status;
    }
    return cudaGetLastError();
  }
  if (!trans_a && !trans_b) launch_gemm<T, false, false>(batch, M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc);
  else if (!trans_a && trans_b) launch_gemm<T, false, true>(batch, M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc);
  else if (trans_a && !trans_b) launch_gemm<T, true, false>(batch, M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc);
  else launch_gemm<T, true, true>(batch, M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc);
  return cudaGetLastError();
}

template cudaError_t gemm_batched<float>(int64_t, bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, int64_t,
                                         const float*, int64_t, int64_t, float*, int64_t, int64_t);
template cudaError_t gemm_batched<double>(int64_t, bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                          int64_t, const double*, int64_t, int64_t, double*, int64_t, int64_t);

}  // namespace strata::cuda
