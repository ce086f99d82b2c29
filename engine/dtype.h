// Element types of a Tensor and the compile-time dispatch from a runtime DType
// to the C++ type that kernels are instantiated for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/error.h"

namespace strata {

enum class DType : uint8_t { f32, f64, i32, i64, u8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

constexpr bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }

std::ostream& operator<<(std::ostream& os, DType t);

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };

}  // namespace strata

// Runs the trailing lambda-body with `scalar_t` bound to the C++ type of DTYPE.
// OPNAME is used in the error message for unsupported dtypes.
#define STRATA_DISPATCH_CASE(ENUM, TYPE, ...) \
  case ::strata::DType::ENUM: {               \
    using scalar_t = TYPE;                    \
    return __VA_ARGS__();                     \
  }

#define STRATA_DISPATCH_FLOAT(DTYPE, OPNAME, ...)                                  \
  [&] {                                                                            \
    switch (DTYPE) {                                                               \
      STRATA_DISPATCH_CASE(f32, float, __VA_ARGS__)                                \
      STRATA_DISPATCH_CASE(f64, double, __VA_ARGS__)                               \
      default:                                                                     \
        STRATA_FAIL(OPNAME, ": expected a floating-point tensor (f32 or f64), got ", DTYPE); \
    }                                                                              \
  }()

#define STRATA_DISPATCH_ALL(DTYPE, OPNAME, ...)                                    \
  [&] {                                                                            \
    switch (DTYPE) {                                                               \
      STRATA_DISPATCH_CASE(f32, float, __VA_ARGS__)                                \
      STRATA_DISPATCH_CASE(f64, double, __VA_ARGS__)                               \
      STRATA_DISPATCH_CASE(i32, int32_t, __VA_ARGS__)                              \
      STRATA_DISPATCH_CASE(i64, int64_t, __VA_ARGS__)                              \
      STRATA_DISPATCH_CASE(u8, uint8_t, __VA_ARGS__)                               \
    }                                                                              \
    STRATA_FAIL(OPNAME, ": unknown dtype");                                        \
  }()

#define STRATA_DISPATCH_INDEX(DTYPE, OPNAME, ...)                                  \
  [&] {                                                                            \
    switch (DTYPE) {                                                               \
      STRATA_DISPATCH_CASE(i32, int32_t, __VA_ARGS__)                              \
      STRATA_DISPATCH_CASE(i64, int64_t, __VA_ARGS__)                              \
      default:                                                                     \
        STRATA_FAIL(OPNAME, ": expected an index tensor (i32 or i64), got ", DTYPE); \
    }                                                                              \
  }()
