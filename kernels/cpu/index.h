// CPU indexing kernels. Index values are int64 and already bounds-checked by
// the engine. Contiguous operands are viewed as (outer, D, inner) around the
// indexed axis.
//   index_select: out(outer, L, inner)  = x(outer, idx[l], inner)
//   index_add:    acc(outer, idx[l], inner) += src(outer, L, inner)
//   gather:       out[p] = x[p with coordinate `dim` replaced by index[p]]
//                 (x, index, out: (outer, Dx|Di|Di, inner), index shape = out shape)
//   scatter_add:  acc[p with coordinate `dim` replaced by index[p]] += src[p]
//   one_hot:      out(n, C) = (idx[n] == c)
// index_add and scatter_add add in a fixed order (deterministic).
#pragma once

#include <cstdint>

namespace strata::cpu {

template <class T>
void index_select(const T* x, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L, T* out);

template <class T>
void index_add(T* acc, int64_t outer, int64_t D, int64_t inner, const int64_t* idx, int64_t L, const T* src);

template <class T>
void gather(const T* x, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di, T* out);

template <class T>
void scatter_add(T* acc, int64_t outer, int64_t Dx, int64_t inner, const int64_t* index, int64_t Di, const T* src);

template <class T>
void one_hot(const int64_t* idx, int64_t n, int64_t C, T* out);

}  // namespace strata::cpu
