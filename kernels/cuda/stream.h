// The stream this thread's device work goes to: the legacy default stream,
// or the stream a CUDA graph is being captured on (engine/cuda_graph.h).
// Kernel launches on stream 0 (kernels/cuda/launch.h), cuBLAS and cuDNN calls
// follow it.
#pragma once

#include "kernels/cuda/cuda_compat.h"

namespace strata::cuda {

cudaStream_t current_stream();  // nullptr: the legacy default stream
void set_current_stream(cudaStream_t stream);

}  // namespace strata::cuda
