// What every kernels/cuda/*.cu file includes: the real CUDA runtime under
// nvcc, the emulator (kernels/emu) in the STRATA_CUDA_EMU build. Kernel
// sources use only what both provide, plus STRATA_DYNAMIC_SHARED for dynamic
// shared memory (nvcc's `extern __shared__` has no host-compiler equivalent).
#pragma once

#if defined(STRATA_CUDA_EMU)
#include "kernels/emu/emu_runtime.h"
#else
#include <cuda_runtime.h>
// One byte array for all kernels of a file (nvcc rejects differently typed
// `extern __shared__` arrays in one translation unit), viewed as T.
#define STRATA_DYNAMIC_SHARED(T, name)                          \
  extern __shared__ __align__(16) unsigned char strata_dynamic_smem[]; \
  T* name = reinterpret_cast<T*>(strata_dynamic_smem)
#endif
