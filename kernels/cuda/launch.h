// The one way kernels are launched: launch(kernel, grid, block, shared_bytes,
// stream, args...). Under nvcc it is kernel<<<grid, block, shared_bytes,
// stream>>>(args...); in the emulator build it runs the same kernel function
// on the CPU (kernels/emu). Call sites never use <<<>>>, so one source serves
// both builds. Launch errors surface through cudaGetLastError as on a GPU.
// A launch on stream 0 goes to this thread's current stream (kernels/cuda/stream.h).
#pragma once

#include <cstddef>

#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/stream.h"

namespace strata::cuda {

template <class... KernelArgs, class... Args>
void launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            Args&&... args) {
  const cudaStream_t s = stream ? stream : current_stream();
#if defined(STRATA_CUDA_EMU)
  // The arguments are copied into the body, as a GPU launch copies them: a captured launch runs again later.
  emu::launch(grid, block, shared_bytes, s, [=] { kernel(static_cast<KernelArgs>(args)...); });
#else
  kernel<<<grid, block, shared_bytes, s>>>(static_cast<KernelArgs>(args)...);
#endif
}

}  // namespace strata::cuda
