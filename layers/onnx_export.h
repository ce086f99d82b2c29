// ONNX export of a traced computation.
//
// export_onnx runs `fn` once on an example input under an OpTrace
// (engine/trace.h) and writes what the outputs depend on as an ONNX graph
// (opset 17, ONNX's own protobuf classes, checked with onnx::checker before
// it is written). Tensors the outputs depend on that do not come from the input
// (a module's parameters and buffers, constants, anything computed from them
// alone) become initializers, named as the module's state_dict names them
// where they are its parameters or buffers. `fn` is any composition of strata
// ops, so an app exports its whole prediction: normalisation, the model and
// the final sigmoid / softmax, and the model must be in eval mode.
//
// Dimensions: each input dimension is fixed or symbolic (a name such as
// "batch" or "height"); an output dimension of the same size as the input's
// symbolic dimension at the same index gets its name.
// Ops without an ONNX counterpart here are an error naming the op.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "layers/module.h"

namespace strata {

struct OnnxExportOptions {
  std::string input_name = "input";
  std::vector<std::string> input_dims;    // per input dimension: "" fixed, else its symbolic name
  std::vector<std::string> output_names;  // one per output of fn; default output, output_1, ...
  std::map<std::string, std::string> metadata;  // metadata_props
  std::string graph_name = "strata";
  std::string doc;
};

constexpr int64_t kOnnxOpset = 17;

// True when this build can write ONNX (libonnx found at configure time).
bool onnx_export_available();

using ExportFn = std::function<std::vector<Tensor>(const Tensor& input)>;

// Traces fn(example) and writes the ONNX model to `path` (atomically). `names` supplies initializer names.
void export_onnx(const Module& names, const ExportFn& fn, const Tensor& example, const OnnxExportOptions& o,
                 const std::string& path);

}  // namespace strata
