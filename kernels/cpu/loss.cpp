#include "kernels/cpu/loss.h"
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/loss_math.h"

namespace strata::cpu {
namespace {

// Work is split over (outer, block of inner positions); every position is
// handled by one thread, so results do not depend on the thread count.
constexpr int64_t kBlock = 64;

template <class F>
void for_blocks(int64_t outer, int64_t inner, int64_t D, F&& f) {
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(outer * blocks, outer * D * inner > 32768, [&](int64_t item0, int64_t item1) {
    for (int64_t item = item0; item < item1; ++item) {
      const int64_t o = item / blocks, i0 = (item % blocks) * kBlock;
      f(o, i0, std::min(kBlock, inner - i0));
    }
  });
}

}  // namespace

template <class T>
void cross_entropy_forward(const T* x, const int64_t* target, const T* class_weight, int64_t outer, int64_t D,
                           int64_t inner, int64_t ignore_index, T* loss, T* weight, T* lse) {
  for_blocks(outer, inner, D, [&](int64_t o, int64_t i0, int64_t n) {
    T mx[kBlock], sum[kBlock];
    const T* xo = x + o * D * inner + i0;
    std::fill_n(mx, n, -std::numeric_limits<T>::infinity());
    std::fill_n(sum, n, T(0));
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < n; ++i) mx[i] = std::max(mx[i], xo[d * inner + i]);
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < n; ++i) sum[i] += std::exp(xo[d * inner + i] - mx[i]);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = o * inner + i0 + i;
      const T l = mx[i] + std::log(sum[i]);
      const T w = losses::ce_weight(target[p], class_weight, ignore_index);
      lse[p] = l;
      weight[p] = w;
      loss[p] = w == T(0) ? T(0) : w * (l - xo[target[p] * inner + i]);
    }
  });
}

template <class T>
void cross_entropy_backward(const T* x, const int64_t* target, const T* class_weight, int64_t outer, int64_t D,
                            int64_t inner, int64_t ignore_index, const T* lse, const T* gloss, T* gx) {
  for_blocks(outer, inner, D, [&](int64_t o, int64_t i0, int64_t n) {
    T scale[kBlock];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = o * inner + i0 + i;
      scale[i] = gloss[p] * losses::ce_weight(target[p], class_weight, ignore_index);
    }
    const T* xo = x + o * D * inner + i0;
    const T* lo = lse + o * inner + i0;
    T* go = gx + o * D * inner + i0;
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < n; ++i) go[d * inner + i] = scale[i] * std::exp(xo[d * inner + i] - lo[i]);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = o * inner + i0 + i;
      if (target[p] != ignore_index) go[target[p] * inner + i] -= scale[i];
    }
  });
}

template <class T>
void bce_with_logits_forward(const T* x, const T* target, const T* weight, const T* pos_weight, int64_t n, T* loss) {
  parallel_for(n, n > 65536, [&](int64_t i0, int64_t i1) {
    #pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      const T l = losses::bce_with_logits(x[i], target[i], losses::pos_factor(pos_weight, i, target[i]));
      loss[i] = weight ? weight[i] * l : l;
    }
  });
}

template <class T>
void bce_with_logits_backward(const T* x, const T* target, const T* weight, const T* pos_weight, const T* gloss,
                              int64_t n, T* gx) {
  parallel_for(n, n > 65536, [&](int64_t i0, int64_t i1) {
    #pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      const T g = losses::bce_with_logits_grad(x[i], target[i], losses::pos_factor(pos_weight, i, target[i]));
      gx[i] = gloss[i] * (weight ? weight[i] * g : g);
    }
  });
}

#define STRATA_INSTANTIATE_LOSS(T)                                                                               \
  template void cross_entropy_forward<T>(const T*, const int64_t*, const T*, int64_t, int64_t, int64_t, int64_t, \
                                         T*, T*, T*);                                                            \
  template void cross_entropy_backward<T>(const T*, const int64_t*, const T*, int64_t, int64_t, int64_t,         \
                                          int64_t, const T*, const T*, T*);                                      \
  template void bce_with_logits_forward<T>(const T*, const T*, const T*, const T*, int64_t, T*);                 \
  template void bce_with_logits_backward<T>(const T*, const T*, const T*, const T*, const T*, int64_t, T*);
STRATA_INSTANTIATE_LOSS(float)
STRATA_INSTANTIATE_LOSS(double)

}  // namespace strata::cpu
