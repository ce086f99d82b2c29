// CPU reductions over a chosen set of dimensions.
//   x: viewed as (kept..., reduced...): the first kept_ndim dimensions of xd are
//      kept, the rest are reduced (the engine permutes x to this order).
//   out: contiguous, one element per kept index (numel = prod(kept shape)).
// Deterministic for any thread count: every output is the ordered combination
// of fixed-size chunks of its reduced elements (kReduceChunk), and the chunk
// boundaries depend on the shape only. Floats accumulate in double.
#pragma once

#include <cstdint>

#include "kernels/op_kinds.h"
#include "kernels/tensor_desc.h"

namespace strata::cpu {

constexpr int64_t kReduceChunk = 32768;

template <class T>
void reduce(ReduceOp op, const T* x, const TensorDesc& xd, int kept_ndim, T* out);

// Index of the first maximum (minimum) in the flattened reduced dimensions.
// NaN counts as larger (smaller) than any number, as in PyTorch.
template <class T>
void arg_reduce(ArgReduceOp op, const T* x, const TensorDesc& xd, int kept_ndim, int64_t* out);

}  // namespace strata::cpu
