// Fused optimizer updates over contiguous arrays of n elements (over the thread pool).
#pragma once

#include <cstdint>

#include "kernels/optimizer.h"

namespace strata::cpu {

template <class T>
void adam_update(const AdamParams& a, T* param, const T* grad, T* m, T* v, int64_t n);
// buf may be null when momentum is 0.
template <class T>
void sgd_update(const SgdParams& s, T* param, const T* grad, T* buf, int64_t n);

}  // namespace strata::cpu
