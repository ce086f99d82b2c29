// The native GEMM engine: C = op(A) op(B), row-major (kernels/cpu/gemm.h).
// Each 256-thread block computes a 128 x 128 tile of C. Per step it stages a
// 128 x 8 slice of op(A) and an 8 x 128 slice of op(B) in shared memory
// (double-buffered: the next slice is fetched into registers while the
// current one is multiplied), and each thread accumulates an 8 x 8 register
// block at rows ty + 16 i, columns tx + 16 j, so shared-memory reads are
// broadcasts or consecutive and the final stores are coalesced.
// Edges are zero-filled on load and masked on store: any M, N, K works.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/kernels.h"

namespace strata::cuda {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 8, kGemmThreads = 256;
constexpr int kPerThread = kBM * kBK / kGemmThreads;  // 4 elements of each operand slice per thread
constexpr int kBatchPerLaunch = 65535;                // gridDim.z limit

template <class T, bool TransA, bool TransB>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_kernel(int M, int N, int K, const T* __restrict__ A, int64_t lda, int64_t stride_a, const T* __restrict__ B,
                int64_t ldb, int64_t stride_b, T* __restrict__ C, int64_t ldc, int64_t stride_c) {
  __shared__ T As[2][kBK][kBM];
  __shared__ T Bs[2][kBK][kBN];
  A += int64_t(blockIdx.z) * stride_a;
  B += int64_t(blockIdx.z) * stride_b;
  C += int64_t(blockIdx.z) * stride_c;
  const int tid = int(threadIdx.x), tx = tid % 16, ty = tid / 16;
  const int m0 = int(blockIdx.y) * kBM, n0 = int(blockIdx.x) * kBN;

  // Element e = tid + 256 r of a slice; the mapping keeps global reads coalesced:
  // along k when op(A) = A (k fastest), along m when op(A) = A^T; likewise for B.
  T ra[kPerThread], rb[kPerThread];
  auto fetch = [&](int k0) {
    for (int r = 0; r < kPerThread; ++r) {
      const int e = tid + kGemmThreads * r;
      const int am = TransA ? e % kBM : e / kBK, ak = TransA ? e / kBM : e % kBK;
      const int gm = m0 + am, gk = k0 + ak;
      ra[r] = gm < M && gk < K ? (TransA ? A[int64_t(gk) * lda + gm] : A[int64_t(gm) * lda + gk]) : T(0);
      const int bn = TransB ? e / kBK : e % kBN, bk = TransB ? e % kBK : e / kBN;
      const int gn = n0 + bn, gk2 = k0 + bk;
      rb[r] = gn < N && gk2 < K ? (TransB ? B[int64_t(gn) * ldb + gk2] : B[int64_t(gk2) * ldb + gn]) : T(0);
    }
  };
  auto stage = [&](int buf) {
    for (int r = 0; r < kPerThread; ++r) {
      const int e = tid + kGemmThreads * r;
      const int am = TransA ? e % kBM : e / kBK, ak = TransA ? e / kBM : e % kBK;
      As[buf][ak][am] = ra[r];
      const int bn = TransB ? e / kBK : e % kBN, bk = TransB ? e % kBK : e / kBN;
      Bs[buf][bk][bn] = rb[r];
    }
  };

  T acc[8][8];
  for (int i = 0; i < 8; ++i)
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
      for (int i = 0; i < 8; ++i) a[i] = As[buf][kk][ty + 16 * i];
      for (int j = 0; j < 8; ++j) b[j] = Bs[buf][kk][tx + 16 * j];
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
    }
    if (more) stage(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

  for (int i = 0; i < 8; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
    for (int j = 0; j < 8; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n < N) C[int64_t(m) * ldc + n] = acc[i][j];
    }
  }
}

template <class T, bool TransA, bool TransB>
void launch_gemm(int64_t batch, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, int64_t sa, const T* B,
                 int64_t ldb, int64_t sb, T* C, int64_t ldc, int64_t sc) {
  const dim3 block(kGemmThreads);
  for (int64_t b0 = 0; b0 < batch; b0 += kBatchPerLaunch) {
    const unsigned nb = unsigned(batch - b0 < kBatchPerLaunch ? batch - b0 : kBatchPerLaunch);
    const dim3 grid(unsigned((N + kBN - 1) / kBN), unsigned((M + kBM - 1) / kBM), nb);
    launch(gemm_kernel<T, TransA, TransB>, grid, block, 0, nullptr, int(M), int(N), int(K), A + b0 * sa, lda, sa,
           B + b0 * sb, ldb, sb, C + b0 * sc, ldc, sc);
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
