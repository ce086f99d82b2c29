// The one piece of shape information kernels see: sizes and element strides
// of up to kMaxDims dimensions. Data pointers are passed beside it, already
// offset to the first element. Shared by the cpu::, cuda:: and cudnn:: kernels.
#pragma once

#include <cstdint>

namespace strata {

constexpr int kMaxDims = 8;

struct TensorDesc {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // in elements, may be 0 (broadcast)

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
};

}  // namespace strata
