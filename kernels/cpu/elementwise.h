// CPU elementwise kernels. All operands share the output's shape: the engine
// has already broadcast inputs (stride 0 on broadcast dimensions).
//   unary:   y = op(x)          binary:  y = op(a, b)
//   compare: y = op(a, b) as u8 where:   y = c ? a : b
//   copy:    y = Dst(x)  (any dtype pair, any strides)
//   fill:    y = v
#pragma once

#include <cstdint>

#include "kernels/op_kinds.h"
#include "kernels/tensor_desc.h"

namespace strata::cpu {

template <class T>
void unary(UnaryOp op, UnaryParams p, const T* x, const TensorDesc& xd, T* y, const TensorDesc& yd);

template <class T>
void binary(BinaryOp op, const T* a, const TensorDesc& ad, const T* b, const TensorDesc& bd, T* y,
            const TensorDesc& yd);

template <class T>
void compare(CompareOp op, const T* a, const TensorDesc& ad, const T* b, const TensorDesc& bd, uint8_t* y,
             const TensorDesc& yd);

template <class T>
void where(const uint8_t* c, const TensorDesc& cd, const T* a, const TensorDesc& ad, const T* b,
           const TensorDesc& bd, T* y, const TensorDesc& yd);

template <class Src, class Dst>
void copy(const Src* x, const TensorDesc& xd, Dst* y, const TensorDesc& yd);

template <class T>
void fill(T value, T* y, const TensorDesc& yd);

}  // namespace strata::cpu
