#include "kernels/cpu/index.h"
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <cstring>

namespace strata::cpu {

template <class T>
void index_select(const T* x, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L, T* out) {
  parallel_for(outer * L, outer * L * inner > 32768, [&](int64_t ol0, int64_t ol1) {
    for (int64_t ol = ol0; ol < ol1; ++ol) {
      const int64_t o = ol / L, l = ol % L;
      std::memcpy(out + ol * inner, x + (o * D + idx[l]) * inner, sizeof(T) * inner);
    }
  });
}

template <class T>
void index_add(T* acc, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L, const T* src) {
  // Parallel over outer only: within one outer slice rows are added in l order.
  parallel_for(outer, outer * L * inner > 32768 && outer > 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t l = 0; l < L; ++l) {
        T* dst = acc + (o * D + idx[l]) * inner;
        const T* s = src + (o * L + l) * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] += s[i];
      }
  });
}

template <class T>
void gather(const T* x, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di, T* out) {
  parallel_for(outer * Di, outer * Di * inner > 32768, [&](int64_t od0, int64_t od1) {
    for (int64_t od = od0; od < od1; ++od) {
      const int64_t o = od / Di;
      const int64_t* ix = index + od * inner;
      T* y = out + od * inner;
      const T* xo = x + o * Dx * inner;
      for (int64_t i = 0; i < inner; ++i) y[i] = xo[ix[i] * inner + i];
    }
  });
}

template <class T>
void scatter_add(T* acc, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di, const T* src) {
  parallel_for(outer, outer * Di * inner > 32768 && outer > 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t d = 0; d < Di; ++d) {
        const int64_t* ix = index + (o * Di + d) * inner;
        const T* s = src + (o * Di + d) * inner;
        T* ao = acc + o * Dx * inner;
        for (int64_t i = 0; i < inner; ++i) ao[ix[i] * inner + i] += s[i];
      }
  });
}

template <class T>
void one_hot(const int64_t* idx, int64_t n, int64_t C, T* out) {
  std::fill_n(out, n * C, T(0));
  for (int64_t i = 0; i < n; ++i) out[i * C + idx[i]] = T(1);
}

#define STRATA_INSTANTIATE_INDEX(T)                                                                         \
  template void index_select<T>(const T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, T*);          \
  template void index_add<T>(T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, const T*);             \
  template void gather<T>(const T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, T*);                \
  template void scatter_add<T>(T*, int64_t, int64_t, int64_t, const int64_t*, int64_t, const T*);           \
  template void one_hot<T>(const int64_t*, int64_t, int64_t, T*);
STRATA_INSTANTIATE_INDEX(float)
STRATA_INSTANTIATE_INDEX(double)
STRATA_INSTANTIATE_INDEX(int32_t)
STRATA_INSTANTIATE_INDEX(int64_t)
STRATA_INSTANTIATE_INDEX(uint8_t)

}  // namespace strata::cpu
