// Helpers shared by the engine/ops_*.cpp files (not part of the public API).
#pragma once

#include <vector>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/tensor.h"
#include "engine/trace.h"

namespace strata::detail {

// A view of x's storage with the given geometry and no autograd history.
Tensor make_view(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset);
// x broadcast to `shape` as a view (stride 0 on broadcast dims), no history.
Tensor raw_expand(const Tensor& x, const Shape& shape);
// x with its dimensions reordered, no history.
Tensor raw_permute(const Tensor& x, const std::vector<int64_t>& dims);

void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_floating(const char* op, const Tensor& x);

// Sorted, de-duplicated, wrapped dims; empty input means all dims.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);
// x.shape() with the reduced dims set to 1 (the keepdim shape).
Shape keepdim_shape(const Shape& shape, const std::vector<int64_t>& dims);

// Errors unless every value of the integer tensor `index` lies in [0, size).
void check_index_range(const char* op, const Tensor& index, int64_t size);

// (outer, D, inner) of a shape around axis `dim`.
struct AxisSplit {
  int64_t outer = 1, D = 1, inner = 1;
};
AxisSplit split_at(const Shape& shape, int64_t dim);

}  // namespace strata::detail
