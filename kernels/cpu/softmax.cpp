#include "kernels/cpu/softmax.h"
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace strata::cpu {

template <class T>
void softmax(const T* x, T* y, int64_t outer, int64_t D, int64_t inner, bool log) {
  // Work item: one outer index and a block of up to kBlock inner positions,
  // processed together so the loops over inner positions vectorise.
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const bool parallel = outer * D * inner > 16384;
  parallel_chunks(outer * blocks, parallel, [&](Chunks& chunks) {
    std::vector<T> mx(std::min(inner, kBlock)), sum(std::min(inner, kBlock));
    for (int64_t item0, item1; chunks.next(item0, item1);)
      for (int64_t item = item0; item < item1; ++item) {
        const int64_t o = item / blocks, i0 = (item % blocks) * kBlock, n = std::min(kBlock, inner - i0);
        const T* xo = x + o * D * inner + i0;
        T* yo = y + o * D * inner + i0;
        std::fill_n(mx.begin(), n, -std::numeric_limits<T>::infinity());
        std::fill_n(sum.begin(), n, T(0));
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < n; ++i) mx[i] = std::max(mx[i], xo[d * inner + i]);
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < n; ++i) {
            const T e = std::exp(xo[d * inner + i] - mx[i]);
            sum[i] += e;
            if (!log) yo[d * inner + i] = e;
          }
        if (log) {
          for (int64_t i = 0; i < n; ++i) sum[i] = mx[i] + std::log(sum[i]);
          for (int64_t d = 0; d < D; ++d)
            for (int64_t i = 0; i < n; ++i) yo[d * inner + i] = xo[d * inner + i] - sum[i];
        } else {
          for (int64_t i = 0; i < n; ++i) sum[i] = T(1) / sum[i];
          for (int64_t d = 0; d < D; ++d)
            for (int64_t i = 0; i < n; ++i) yo[d * inner + i] *= sum[i];
        }
      }
  });
}

template void softmax<float>(const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax<double>(const double*, double*, int64_t, int64_t, int64_t, bool);

}  // namespace strata::cpu
