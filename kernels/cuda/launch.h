// The one way kernels are launched: launch(kernel, grid, block, shared_bytes,
// stream, args...). Under nvcc it is kernel<<<grid, block, shared_bytes,
// stream>>>(args...); in the emulator build it runs the same kernel function
// on the CPU (kernels/emu). Call sites never use <<<>>>, so one source serves
// both builds. Launch errors surface through cudaGetLastError as on a GPU.
#pragma once

#include <cstddef>

#include "kernels/cuda/cuda_compat.h"

namespace strata::cuda {

template <class... KernelArgs, class... Args>
void launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            Args&&... args) {
#if defined(STRATA_CUDA_EMU)
  emu::launch(grid, block, shared_bytes, stream, [&] { kernel(static_cast<KernelArgs>(args)...); });
#else
  kernel<<<grid, block, shared_bytes, stream>>>(static_cast<KernelArgs>(args)...);
#endif
}

}  // namespace strata::cuda
