// CPU matrix multiply on Eigen's GEMM, row-major BLAS-style interface:
//   C (M x N) = alpha * op(A) (M x K) * op(B) (K x N) + beta * C
// op(A) = A, stored M x K with leading dimension lda (A[i*lda + k]), or
// op(A) = A^T when trans_a, stored K x M (A[k*lda + i]); likewise for B.
// Batched: `batch` independent products, operands stepping by stride_a/b/c.
//
// Threads: C is cut into tiles whose size depends on (M, N, K) only; each tile
// is one single-threaded Eigen product and tiles run in parallel. Eigen's
// blocking along K is then the same for every tile and thread count, so the
// result is bitwise identical for any number of threads. It is not identical across product shapes: Eigen
// takes a matrix-vector product when M or N is 1 and chooses its blocking from (M, N, K), so one row of a
// batch can differ in the last bits from the same row computed alone (seen on AVX-512: a dense layer on a
// batch of one against a batch of two).
#pragma once

#include <cstdint>

namespace strata::cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta,
                  T* C, int64_t ldc, int64_t stride_c);

}  // namespace strata::cpu
