// Pieces the cuDNN engines share (nvcc build with cuDNN only): the checked
// call, the one handle, and an owning 4-D tensor descriptor.
#pragma once

#if defined(STRATA_HAVE_CUDNN)

#include <cudnn.h>

#include <cstdint>

#include "engine/dtype.h"
#include "engine/error.h"
#include "kernels/cuda/stream.h"

#define STRATA_CUDNN_CHECK(call)                                                                            \
  do {                                                                                                      \
    const cudnnStatus_t strata_cudnn_status_ = (call);                                                      \
    STRATA_CHECK(strata_cudnn_status_ == CUDNN_STATUS_SUCCESS, "cuDNN error ",                             \
                 cudnnGetErrorString(strata_cudnn_status_), " in ", #call, " at ", __FILE__, ":", __LINE__); \
  } while (0)

namespace strata::cuda {

// The cuDNN handle of this process, created on first use, bound to this
// thread's current stream (the default stream, or a CUDA graph's while one is captured).
inline cudnnHandle_t cudnn_handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t created = nullptr;
    STRATA_CUDNN_CHECK(cudnnCreate(&created));
    return created;
  }();
  static cudaStream_t bound = nullptr;
  const cudaStream_t s = current_stream();
  if (s != bound) {
    STRATA_CUDNN_CHECK(cudnnSetStream(h, s));
    bound = s;
  }
  return h;
}

inline cudnnDataType_t cudnn_type(DType t) { return t == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT; }

// alpha = 1, beta = 0 in the compute type of dtype t (double for f64, float otherwise).
struct CudnnScale {
  float f1 = 1, f0 = 0;
  double d1 = 1, d0 = 0;
  const void* one(DType t) const { return t == DType::f64 ? static_cast<const void*>(&d1) : &f1; }
  const void* zero(DType t) const { return t == DType::f64 ? static_cast<const void*>(&d0) : &f0; }
};

// An NCHW tensor descriptor, destroyed with the object.
class CudnnTensor {
 public:
  CudnnTensor(DType t, int64_t n, int64_t c, int64_t h, int64_t w) {
    STRATA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_));
    STRATA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, cudnn_type(t), int(n), int(c), int(h), int(w)));
  }
  CudnnTensor() { STRATA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_)); }  // to be set by the caller
  ~CudnnTensor() { cudnnDestroyTensorDescriptor(d_); }
  CudnnTensor(const CudnnTensor&) = delete;
  CudnnTensor& operator=(const CudnnTensor&) = delete;
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

// True when every extent fits cuDNN's int arguments.
inline bool fits_int(int64_t v) { return v >= 0 && v <= int64_t(0x7fffffff); }

}  // namespace strata::cuda

#endif
