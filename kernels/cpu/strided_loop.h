// The iteration engine behind every CPU elementwise kernel: walks N operands of
// one common shape (each with its own strides) as a sequence of 1-D runs over
// the innermost dimension, after merging dimensions that are contiguous for all
// operands. Runs are split among the pool's threads; callers must be order-free
// (elementwise), so the split may depend on the thread count.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "kernels/cpu/thread_pool.h"
#include "kernels/tensor_desc.h"

namespace strata::cpu {

// Operands share `shape`; strides[k] are operand k's strides.
template <int N>
struct StridedIter {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];
};

// Drops size-1 dimensions and merges neighbours that are contiguous for every
// operand, so the innermost dimension is as long as possible.
template <int N>
StridedIter<N> coalesce(const int64_t* shape, int ndim, const std::array<const int64_t*, N>& strides) {
  StridedIter<N> it;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (it.ndim > 0) {
      int last = it.ndim - 1;
      bool mergeable = true;
      for (int k = 0; k < N; ++k)
        if (it.strides[k][last] != strides[k][d] * shape[d]) mergeable = false;
      if (mergeable) {
        it.shape[last] *= shape[d];
        for (int k = 0; k < N; ++k) it.strides[k][last] = strides[k][d];
        continue;
      }
    }
    it.shape[it.ndim] = shape[d];
    for (int k = 0; k < N; ++k) it.strides[k][it.ndim] = strides[k][d];
    ++it.ndim;
  }
  if (it.ndim == 0) {  // a scalar: one run of one element
    it.ndim = 1;
    it.shape[0] = 1;
    for (int k = 0; k < N; ++k) it.strides[k][0] = 0;
  }
  return it;
}

// Calls run(offsets, inner_strides, count) for every run, where offsets[k] is
// the element offset of operand k at the start of the run. Parallel when the
// total work exceeds `grain` elements.
template <int N, class Run>
void for_each_run(const int64_t* shape, int ndim, const std::array<const int64_t*, N>& strides, Run&& run,
                  int64_t grain = 32768) {
  const StridedIter<N> it = coalesce<N>(shape, ndim, strides);
  const int inner = it.ndim - 1;
  const int64_t n_inner = it.shape[inner];
  int64_t n_outer = 1;
  for (int d = 0; d < inner; ++d) n_outer *= it.shape[d];
  const int64_t total = n_outer * n_inner;
  if (total == 0) return;

  // Split each run into pieces of at most `piece` elements so long single runs
  // still spread over threads (a few pieces per thread, so that a thread can
  // take over the pieces of one that is held up).
  const int threads = total > grain ? pool_threads() : 1;
  const int64_t piece = std::max<int64_t>(std::min<int64_t>(n_inner, (total + 4 * threads - 1) / (4 * threads)), 4096);
  const int64_t pieces_per_run = (n_inner + piece - 1) / piece;
  const int64_t n_items = n_outer * pieces_per_run;

  parallel_for(n_items, threads > 1, [&](int64_t begin, int64_t end) {
    // Multi-index of the outer dims for item `begin`.
    int64_t idx[kMaxDims] = {};
    int64_t outer = begin / pieces_per_run;
    for (int d = inner - 1; d >= 0; --d) {
      idx[d] = outer % it.shape[d];
      outer /= it.shape[d];
    }
    std::array<int64_t, N> base{};
    for (int k = 0; k < N; ++k)
      for (int d = 0; d < inner; ++d) base[k] += idx[d] * it.strides[k][d];
    std::array<int64_t, N> inner_strides;
    for (int k = 0; k < N; ++k) inner_strides[k] = it.strides[k][inner];

    for (int64_t item = begin; item < end; ++item) {
      const int64_t p = item % pieces_per_run;
      const int64_t start = p * piece, count = std::min(piece, n_inner - start);
      std::array<int64_t, N> off;
      for (int k = 0; k < N; ++k) off[k] = base[k] + start * inner_strides[k];
      run(off, inner_strides, count);
      if (p + 1 == pieces_per_run) {  // advance the outer multi-index
        for (int d = inner - 1; d >= 0; --d) {
          ++idx[d];
          for (int k = 0; k < N; ++k) base[k] += it.strides[k][d];
          if (idx[d] < it.shape[d]) break;
          for (int k = 0; k < N; ++k) base[k] -= it.strides[k][d] * it.shape[d];
          idx[d] = 0;
        }
      }
    }
  });
}

}  // namespace strata::cpu
