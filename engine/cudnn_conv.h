// The cuDNN engine for convolutions (nvcc build): forward, backward-data and
// backward-weight of the ConvGeom the engine's im2col path also serves.
// The algorithm of each shape and pass is chosen once per process and cached:
// by default cuDNN times every algorithm it offers on the call's own buffers
// (cudnnFind*AlgorithmEx, workspace bounded) and the fastest runs from then
// on, as PyTorch's cudnn.benchmark does; under the auto engine the native
// kernels (implicit GEMM, and Winograd where it serves the shape) are timed
// beside them and run the shapes where they are faster. `heuristic` takes cuDNN's ranking without timing
// (cudnnGet*Algorithm_v7). `deterministic` keeps only the
// algorithms cuDNN marks deterministic, so two runs give the same numbers.
// All calls share one workspace, and FP32 runs with CUDNN_FMA_MATH (no TF32)
// so results compare with the CPU. A case cuDNN does not support returns
// false after one log line and the caller uses the native kernels.
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

// The native kernel of the convolutions the Winograd kernels serve (3x3, stride 1, dilation 1, one group; see
// kernels/cuda/conv_winograd.cu): STRATA_NATIVE_CONV=igemm|winograd (default igemm, the implicit GEMM). The
// native engine runs the one chosen; the auto engine's search times both beside cuDNN's algorithms.
enum class NativeConv { implicit_gemm, winograd };
NativeConv parse_native_conv(std::string_view name);
void set_native_conv(NativeConv kernel);
NativeConv native_conv();

// How cuDNN's algorithm is chosen: STRATA_CUDNN_ALGO=search|heuristic (default search).
enum class AlgoChoice { search, heuristic };
AlgoChoice parse_algo_choice(std::string_view name);
void set_algo_choice(AlgoChoice choice);
AlgoChoice algo_choice();

// Precision of convolutions and matrix products on a GPU: fp32 (the default) or bf16, mixed precision: their
// float operands are rounded to bfloat16 and multiplied on the tensor cores with float accumulation, and the
// results come back as float, so tensors, weights and optimiser state, batch norm and losses stay float. bf16
// runs on cuDNN and cuBLAS (the native kernels compute in float). STRATA_PRECISION=fp32|bf16, or an app's
// train.precision.
enum class Precision { fp32, bf16 };
Precision parse_precision(std::string_view name);
void set_precision(Precision p);
Precision precision();

// Bit-reproducible GPU runs: cuDNN convolutions restricted to its deterministic
// algorithms, chosen by its ranking rather than by timing (a timed choice can
// differ from run to run); the native kernels always are deterministic. STRATA_DETERMINISTIC=1, or an
// app's train.deterministic; off by default, as in PyTorch.
void set_deterministic(bool on);
bool deterministic();

// y = conv(x, w); gx = conv^T(gy, w); gw = dconv/dw (pointers on the device).
bool cudnn_conv_forward(DType t, const ConvGeom& g, const void* x, const void* w, void* y);
bool cudnn_conv_backward_data(DType t, const ConvGeom& g, const void* gy, const void* w, void* gx);
bool cudnn_conv_backward_weight(DType t, const ConvGeom& g, const void* x, const void* gy, void* gw);

}  // namespace strata::cuda
