// The cuDNN engine for convolutions (nvcc build): forward, backward-data and
// backward-weight of the ConvGeom the engine's im2col path also serves.
// Per-shape algorithm choice is cached (cudnnGet*Algorithm_v7, first
// successful algorithm that fits the workspace cap), all calls share one
// workspace, and FP32 runs with CUDNN_FMA_MATH (no TF32) so results compare
// with the CPU. A case cuDNN does not support returns false after one log
// line and the caller uses the native kernels.
#pragma once

#include <string_view>

#include "engine/dtype.h"
#include "kernels/nn_desc.h"

namespace strata::cuda {

// Which engine runs convolutions on CUDA tensors: STRATA_CONV_ENGINE=native|cudnn|auto
// (default auto = cuDNN where the build has it, native in the emulator build).
enum class ConvEngine { native, cudnn, automatic };
ConvEngine parse_conv_engine(std::string_view name);
// Throws when `engine` is cudnn and this build has none; `setting` names what
// asked for it in the message (an environment variable, a setter).
void check_engine_available(ConvEngine engine, std::string_view setting);
// The engine an environment variable names (auto when unset or empty), checked as above.
ConvEngine engine_from_env(const char* variable);
void set_conv_engine(ConvEngine engine);  // throws for cudnn in a build without it
ConvEngine conv_engine();
bool cudnn_available();
bool use_cudnn_for_conv();

// y = conv(x, w); gx = conv^T(gy, w); gw = dconv/dw (pointers on the device).
bool cudnn_conv_forward(DType t, const ConvGeom& g, const void* x, const void* w, void* y);
bool cudnn_conv_backward_data(DType t, const ConvGeom& g, const void* gy, const void* w, void* gx);
bool cudnn_conv_backward_weight(DType t, const ConvGeom& g, const void* x, const void* gy, void* gw);

}  // namespace strata::cuda
