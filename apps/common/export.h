// `APP export`: a trained model leaves strata.
//
//   APP export --checkpoint F --output model.onnx [--format onnx|safetensors]
//
// onnx (default): the app's whole prediction as one ONNX graph (layers/onnx_export.h): the input as the app
// reads it, its normalisation, the model and the final sigmoid / softmax, with the app's metadata (class names,
// units, thresholds) in metadata_props. safetensors: the model's weights only, under the names and layouts a
// PyTorch state_dict of the same architecture has (batch norms with num_batches_tracked), with the metadata.
#pragma once

#include <map>
#include <string>

#include "apps/common/cli.h"
#include "config/config.h"
#include "engine/tensor.h"
#include "layers/module.h"
#include "layers/onnx_export.h"

namespace strata {

CommandSpec export_command_spec(const std::string& summary);

// Per image and channel: (x - mean) / max(sd, 1e-6) over the spatial dimensions (population sd; a constant channel
// becomes 0 as in the app, up to float rounding),
// as strata ops, so that an exported graph carries the standardisation the app applies. x: (N, C, ...).
Tensor standardise_per_channel(const Tensor& x);

// The same over each channel's values that are not NaN (missing samples), which become 0, as predict's
// standardise() leaves them.
Tensor standardise_valid_per_channel(const Tensor& x);

// The multiple the spatial sizes of an exported U-Net must be (strata pads other sizes inside the model, an
// exported graph does not): 2^depth for unet1d / unet2d, 32 for the encoder U-Nets, 1 for other models.
int64_t spatial_multiple(const Config& model);

struct AppExport {
  const Module* model = nullptr;  // weights and initializer names
  ExportFn graph;                 // input -> outputs, strata ops
  Tensor example;                 // an input of a size the graph accepts
  OnnxExportOptions onnx;         // names, symbolic dimensions; metadata goes to both formats
};

// Writes --output in --format and prints what was written.
int run_export(const AppArgs& a, const std::string& app, const AppExport& e);

}  // namespace strata
