#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"


#include <Eigen/Core>
#include <algorithm>

namespace strata::cpu {
namespace {

// Eigen never threads on its own: all parallelism is over our tiles.
const bool kEigenSerial = [] {
  Eigen::setNbThreads(1);
  return true;
}();

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using MutMap = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;

// One tile: rows [i0, i0+m) and columns [j0, j0+n) of C.
template <class T>
void gemm_tile(bool ta, bool tb, int64_t i0, int64_t m, int64_t j0, int64_t n, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  MutMap<T> c(C + i0 * ldc + j0, m, n, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) {
    c.setZero();
  } else if (beta != T(1)) {
    c *= beta;
  }
  if (K == 0) return;
  // op(A) rows [i0, i0+m): a block of A, or a block of A's transpose.
  auto with_a = [&](auto&& f) {
    if (ta) f(ConstMap<T>(A + i0, K, m, Eigen::OuterStride<>(lda)).transpose());
    else f(ConstMap<T>(A + i0 * lda, m, K, Eigen::OuterStride<>(lda)));
  };
  auto with_b = [&](auto&& f) {
    if (tb) f(ConstMap<T>(B + j0 * ldb, n, K, Eigen::OuterStride<>(ldb)).transpose());
    else f(ConstMap<T>(B + j0, K, n, Eigen::OuterStride<>(ldb)));
  };
  with_a([&](const auto& a) { with_b([&](const auto& b) { c.noalias() += alpha * a * b; }); });
}

// Tile edges chosen from the shape alone (never the thread count).
struct Tiling {
  int64_t tm, tn, rows, cols;  // tiles along M and N, and their sizes
};

Tiling make_tiling(int64_t M, int64_t N, int64_t K) {
  if (M * N * K < (int64_t(1) << 18)) return {1, 1, M, N};
  const int64_t tm = std::max<int64_t>(1, (M + 255) / 256);
  const int64_t tn = std::max<int64_t>(1, (N + 1023) / 1024);
  return {tm, tn, (M + tm - 1) / tm, (N + tn - 1) / tn};
}

}  // namespace

template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
                  const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta,
                  T* C, int64_t ldc, int64_t stride_c) {
  (void)kEigenSerial;
  if (M == 0 || N == 0 || batch == 0) return;
  const Tiling t = make_tiling(M, N, K);
  const int64_t per_batch = t.tm * t.tn, tasks = batch * per_batch;
  const bool parallel = tasks > 1 && batch * M * N * K >= (int64_t(1) << 18);
  parallel_for(tasks, parallel, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t b = task / per_batch, tile = task % per_batch;
      const int64_t i0 = (tile / t.tn) * t.rows, j0 = (tile % t.tn) * t.cols;
      const int64_t m = std::min(t.rows, M - i0), n = std::min(t.cols, N - j0);
      if (m > 0 && n > 0)
        gemm_tile<T>(trans_a, trans_b, i0, m, j0, n, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta,
                     C + b * stride_c, ldc);
    }
  });
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_batched<T>(1, trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_batched<float>(int64_t, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                  int64_t, const float*, int64_t, int64_t, float, float*, int64_t, int64_t);
template void gemm_batched<double>(int64_t, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   int64_t, const double*, int64_t, int64_t, double, double*, int64_t, int64_t);

}  // namespace strata::cpu
