// The CUDA backend: the Backend interface over the hand-written kernels in
// kernels/cuda, with cuBLAS as an alternative GEMM engine. It serves cuda:0
// and registers itself the first time a CUDA tensor is asked for, if
// cuda::device_count() finds a device (in the emulator build there is always one).
#pragma once

#include <cstddef>
#include <string_view>

#include "engine/backend.h"
#include "kernels/cuda/cuda_compat.h"

namespace strata::cuda {

// Which engine runs matmul on CUDA tensors. `automatic` picks cuBLAS where the
// build has it (the nvcc build) and the native tiled SGEMM otherwise (the emulator).
// The initial choice comes from STRATA_GEMM_ENGINE=native|cublas|auto (default auto).
enum class GemmEngine { native, cublas, automatic };

GemmEngine parse_gemm_engine(std::string_view name);  // throws on anything else, listing the choices
void set_gemm_engine(GemmEngine engine);               // throws for cublas in a build without it
GemmEngine gemm_engine();
bool cublas_available();
// A workspace cuBLAS uses for its calls on `stream` (a CUDA graph's; nullptr: forget it), so that a captured
// call needs no allocation of its own.
void set_blas_workspace(cudaStream_t stream, void* workspace, size_t nbytes);

// The backend, or nullptr when no CUDA device is usable (after one log line).
Backend* backend_or_null();

}  // namespace strata::cuda
