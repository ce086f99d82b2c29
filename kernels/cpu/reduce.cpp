#include "kernels/cpu/reduce.h"
#include "kernels/cpu/thread_pool.h"


#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/strided_loop.h"

namespace strata::cpu {
namespace {

// The reduced part of x with its dimensions coalesced, and the kept part.
struct ReduceGeometry {
  int kept_ndim = 0, red_ndim = 0;
  int64_t kept_shape[kMaxDims], kept_strides[kMaxDims];
  int64_t red_shape[kMaxDims], red_strides[kMaxDims];
  int64_t kept_numel = 1, red_numel = 1;
};

ReduceGeometry make_geometry(const TensorDesc& xd, int kept_ndim) {
  ReduceGeometry g;
  g.kept_ndim = kept_ndim;
  for (int d = 0; d < kept_ndim; ++d) {
    g.kept_shape[d] = xd.shape[d];
    g.kept_strides[d] = xd.strides[d];
    g.kept_numel *= xd.shape[d];
  }
  const StridedIter<1> red = coalesce<1>(xd.shape + kept_ndim, xd.ndim - kept_ndim, {xd.strides + kept_ndim});
  g.red_ndim = red.ndim;
  for (int d = 0; d < red.ndim; ++d) {
    g.red_shape[d] = red.shape[d];
    g.red_strides[d] = red.strides[0][d];
    g.red_numel *= red.shape[d];
  }
  for (int d = kept_ndim; d < xd.ndim; ++d)
    if (xd.shape[d] == 0) g.red_numel = 0;
  return g;
}

int64_t kept_offset(const ReduceGeometry& g, int64_t k) {
  int64_t off = 0;
  for (int d = g.kept_ndim - 1; d >= 0; --d) {
    off += (k % g.kept_shape[d]) * g.kept_strides[d];
    k /= g.kept_shape[d];
  }
  return off;
}

// Calls run(ptr, stride, count, flat_index) for the runs of the innermost
// reduced dimension that cover flat reduced indices [begin, end).
template <class T, class Run>
void visit_reduced(const ReduceGeometry& g, const T* base, int64_t begin, int64_t end, Run&& run) {
  if (begin >= end) return;
  const int inner = g.red_ndim - 1;
  int64_t idx[kMaxDims];
  int64_t rem = begin;
  for (int d = inner; d >= 0; --d) {
    idx[d] = rem % g.red_shape[d];
    rem /= g.red_shape[d];
  }
  int64_t flat = begin;
  while (flat < end) {
    int64_t off = 0;
    for (int d = 0; d <= inner; ++d) off += idx[d] * g.red_strides[d];
    const int64_t count = std::min(g.red_shape[inner] - idx[inner], end - flat);
    run(base + off, g.red_strides[inner], count, flat);
    flat += count;
    idx[inner] += count;
    for (int d = inner; d > 0 && idx[d] == g.red_shape[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class T>
acc_t<T> sum_range(const ReduceGeometry& g, const T* base, int64_t begin, int64_t end) {
  using A = acc_t<T>;
  constexpr int kLanes = 8;  // fixed lanes: vectorisable and order-deterministic
  A lanes[kLanes] = {};
  A tail = 0;
  visit_reduced(g, base, begin, end, [&](const T* p, int64_t stride, int64_t n, int64_t) {
    if (stride == 1) {
      int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) lanes[j] += A(p[i + j]);
      for (; i < n; ++i) tail += A(p[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) tail += A(p[i * stride]);
    }
  });
  A total = tail;
  for (int j = 0; j < kLanes; ++j) total += lanes[j];
  return total;
}

// The mean of n elements summing to total; NaN (0 for integers) when n is 0.
template <class T>
T mean_of(double total, int64_t n) {
  if (n > 0) return T(total / double(n));
  if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::quiet_NaN();
  return T(0);
}

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// Running best (value, flat index) for max/min/argmax/argmin; NaN wins.
template <class T>
struct Best {
  T value{};
  int64_t index = -1;
  void offer(T v, int64_t i, bool want_max) {
    if (index < 0 || is_nan(v) > is_nan(value) ||
        (!is_nan(value) && (want_max ? v > value : v < value))) {
      value = v;
      index = i;
    }
  }
};

template <class T>
Best<T> best_range(const ReduceGeometry& g, const T* base, int64_t begin, int64_t end, bool want_max) {
  Best<T> best;
  visit_reduced(g, base, begin, end, [&](const T* p, int64_t stride, int64_t n, int64_t flat) {
    for (int64_t i = 0; i < n; ++i) best.offer(p[i * stride], flat + i, want_max);
  });
  return best;
}

// Evaluates partial(k, begin, end) for every (output, chunk) pair in parallel,
// then combine(k, partials of k in chunk order).
template <class P, class PartialFn, class CombineFn>
void chunked(const ReduceGeometry& g, PartialFn&& partial, CombineFn&& combine) {
  const int64_t chunks = std::max<int64_t>(1, (g.red_numel + kReduceChunk - 1) / kReduceChunk);
  const int64_t tasks = g.kept_numel * chunks;
  std::vector<P> partials(tasks);
  const bool parallel = g.kept_numel * g.red_numel > 32768;
  parallel_for(tasks, parallel, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t k = t / chunks, c = t % chunks;
      partials[t] = partial(k, c * kReduceChunk, std::min(g.red_numel, (c + 1) * kReduceChunk));
    }
  });
  for (int64_t k = 0; k < g.kept_numel; ++k) combine(k, &partials[k * chunks], chunks);
}

// emit(k, best) with the first maximum (minimum) of output k's reduced elements.
template <class T, class Emit>
void best_per_output(const ReduceGeometry& g, const T* x, bool want_max, Emit&& emit) {
  chunked<Best<T>>(
      g, [&](int64_t k, int64_t b, int64_t e) { return best_range(g, x + kept_offset(g, k), b, e, want_max); },
      [&](int64_t k, const Best<T>* parts, int64_t n) {
        Best<T> best;
        for (int64_t i = 0; i < n; ++i)
          if (parts[i].index >= 0) best.offer(parts[i].value, parts[i].index, want_max);
        emit(k, best);
      });
}

// True when the kept elements of one reduced position are contiguous (x is
// (reduced..., kept...) in memory, e.g. a sum over the batch of per-sample
// weight gradients): then whole rows can be added at once.
bool kept_contiguous(const ReduceGeometry& g) {
  int64_t expect = 1;
  for (int d = g.kept_ndim - 1; d >= 0; --d) {
    if (g.kept_shape[d] == 1) continue;
    if (g.kept_strides[d] != expect) return false;
    expect *= g.kept_shape[d];
  }
  return g.kept_numel >= 16;
}

// Sum (mean) when kept_contiguous(g): each task adds the rows of a block of
// outputs. Per output, the order is the general path's: sequential within each
// chunk of kReduceChunk reduced elements, then the chunk sums in order, so the
// results are the same bits.
template <class T>
void sum_rows(const ReduceGeometry& g, const T* x, bool mean, T* out) {
  using A = acc_t<T>;
  constexpr int64_t kBlock = 256;
  const int64_t K = g.kept_numel, rows = g.red_numel, blocks = (K + kBlock - 1) / kBlock;
  parallel_for(blocks, K * rows > 32768, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t k0 = b * kBlock, n = std::min(kBlock, K - k0);
      A total[kBlock] = {}, part[kBlock];
      int64_t idx[kMaxDims] = {};
      for (int64_t c0 = 0; c0 < rows; c0 += kReduceChunk) {
        std::fill_n(part, n, A(0));
        for (int64_t r = c0; r < std::min(rows, c0 + kReduceChunk); ++r) {
          int64_t off = 0;
          for (int d = 0; d < g.red_ndim; ++d) off += idx[d] * g.red_strides[d];
          const T* row = x + off + k0;
          for (int64_t i = 0; i < n; ++i) part[i] += A(row[i]);
          for (int d = g.red_ndim - 1; d >= 0 && ++idx[d] == g.red_shape[d]; --d) idx[d] = 0;
        }
        for (int64_t i = 0; i < n; ++i) total[i] += part[i];
      }
      for (int64_t i = 0; i < n; ++i) out[k0 + i] = mean ? mean_of<T>(double(total[i]), rows) : T(total[i]);
    }
  });
}

}  // namespace

template <class T>
void reduce(ReduceOp op, const T* x, const TensorDesc& xd, int kept_ndim, T* out) {
  const ReduceGeometry g = make_geometry(xd, kept_ndim);
  if ((op == ReduceOp::sum || op == ReduceOp::mean) && g.red_numel > 0 && kept_contiguous(g))
    return sum_rows(g, x, op == ReduceOp::mean, out);
  if (op == ReduceOp::sum || op == ReduceOp::mean) {
    using A = acc_t<T>;
    chunked<A>(
        g, [&](int64_t k, int64_t b, int64_t e) { return sum_range(g, x + kept_offset(g, k), b, e); },
        [&](int64_t k, const A* parts, int64_t n) {
          A total = 0;
          for (int64_t i = 0; i < n; ++i) total += parts[i];
          if (op == ReduceOp::mean) {
            out[k] = mean_of<T>(double(total), g.red_numel);
          } else {
            out[k] = T(total);
          }
        });
    return;
  }
  best_per_output(g, x, op == ReduceOp::max, [&](int64_t k, const Best<T>& best) { out[k] = best.value; });
}

template <class T>
void arg_reduce(ArgReduceOp op, const T* x, const TensorDesc& xd, int kept_ndim, int64_t* out) {
  const ReduceGeometry g = make_geometry(xd, kept_ndim);
  best_per_output(g, x, op == ArgReduceOp::argmax, [&](int64_t k, const Best<T>& best) { out[k] = best.index; });
}

#define STRATA_INSTANTIATE_REDUCE(T)                                                   \
  template void reduce<T>(ReduceOp, const T*, const TensorDesc&, int, T*);             \
  template void arg_reduce<T>(ArgReduceOp, const T*, const TensorDesc&, int, int64_t*);
STRATA_INSTANTIATE_REDUCE(float)
STRATA_INSTANTIATE_REDUCE(double)
STRATA_INSTANTIATE_REDUCE(int32_t)
STRATA_INSTANTIATE_REDUCE(int64_t)
STRATA_INSTANTIATE_REDUCE(uint8_t)

}  // namespace strata::cpu
