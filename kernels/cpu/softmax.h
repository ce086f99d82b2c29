// Softmax and log-softmax over one axis of a contiguous tensor viewed as
// (outer, D, inner): y[o, :, i] = softmax(x[o, :, i]). Max-subtracted, so
// logits of any magnitude give finite results.
#pragma once

#include <cstdint>

namespace strata::cpu {

template <class T>
void softmax(const T* x, T* y, int64_t outer, int64_t D, int64_t inner, bool log);

}  // namespace strata::cpu
