#include "apps/common/export.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "apps/common/output_plan.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/safetensors.h"
#include "layers/checkpoint.h"

namespace fs = std::filesystem;

namespace strata {

CommandSpec export_command_spec(const std::string& summary) {
  return {"export",
          summary,
          {{"--checkpoint", "FILE", "a checkpoint written by train (best.safetensors)", true},
           {"--output", "FILE", "the file to write: model.onnx, or model.safetensors (the weights)", true},
           {"--format", "FORMAT", "onnx (the whole prediction as a graph) or safetensors (weights only, PyTorch "
                                  "state_dict names; predict, eval and export read it like a checkpoint); default: "
                                  "safetensors for a .safetensors output, else onnx"},
           {"--precision", "P", "safetensors: f32 (default) or f16 (half the size)"},
           {"--metadata", "K=V[;K=V]", "more metadata entries (e.g. the figure a model reproduces)"}}};
}

Tensor standardise_per_channel(const Tensor& x) {
  std::vector<int64_t> spatial;
  for (int64_t d = 2; d < x.dim(); ++d) spatial.push_back(d);
  // Each mean in two passes: a runtime that sums a plane in float in one pass (onnxruntime) is off by ~3e-5 of the
  // mean on a 360 x 270 image, enough to move a segmentation's probabilities by 1e-3; the mean of what is left
  // after the first estimate corrects it, as predict's double sums are.
  const auto two_pass_mean = [&](const Tensor& t) {
    const Tensor first = mean(t, spatial, true);
    return add(first, mean(sub(t, first), spatial, true));
  };
  const Tensor centred = sub(x, two_pass_mean(x));
  const Tensor sd = sqrt(two_pass_mean(pow(centred, 2.0)));
  return div(centred, maximum(sd, Tensor::full({1}, 1e-6)));
}

Tensor standardise_valid_per_channel(const Tensor& x) {
  std::vector<int64_t> spatial;
  for (int64_t d = 2; d < x.dim(); ++d) spatial.push_back(d);
  const Tensor missing = is_nan(x), one = Tensor::ones({1}), zero = Tensor::zeros({1});
  const Tensor count = sum(where(missing, zero, one), spatial, true);
  const auto valid_mean = [&](const Tensor& t) { return div(sum(where(missing, zero, t), spatial, true), count); };
  const Tensor first = valid_mean(x), centred = sub(x, add(first, valid_mean(sub(x, first))));  // two passes
  const Tensor sd = sqrt(valid_mean(pow(centred, 2.0)));
  return where(missing, zero, div(centred, maximum(sd, Tensor::full({1}, 1e-6))));
}

int64_t spatial_multiple(const Config& model) {
  const std::string type = model.get_string("type", "");
  if (type == "unet1d" || type == "unet2d") return int64_t(1) << model.get_int("depth", 4, Bounds::between(1, 8));
  if (type.rfind("unet_", 0) == 0) return 32;
  return 1;
}

namespace {

// The state_dict as PyTorch has it: every batch norm also carries num_batches_tracked (int64, a scalar).
std::map<std::string, Tensor> pytorch_state_dict(const Module& model) {
  const std::map<std::string, Tensor> state = model.state_dict();
  std::map<std::string, Tensor> out = state;
  for (const auto& [name, t] : state) {
    const std::string suffix = "running_var";
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string tracked = name.substr(0, name.size() - suffix.size()) + "num_batches_tracked";
      if (!out.count(tracked)) out[tracked] = Tensor::zeros({}, DType::i64);
    }
  }
  return out;
}

}  // namespace

int run_export(const AppArgs& a, const std::string& app, const AppExport& e) {
  // The format follows the output's extension unless --format says it; a file named for another framework's
  // format is refused rather than filled with ONNX.
  std::string ext = fs::path(a.output).extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  STRATA_USAGE_CHECK(ext != ".pt" && ext != ".pth" && ext != ".pkl" && ext != ".h5" && ext != ".keras" &&
                         ext != ".pb" && ext != ".tflite",
                     "--output ", a.output, ": strata writes ONNX (.onnx) or the weights as safetensors (.safetensors, "
                     "which PyTorch reads with safetensors.torch.load_file into the same architecture), not ", ext,
                     " files");
  const std::string format =
      a.values.count("--format") ? a.values.at("--format") : ext == ".safetensors" ? "safetensors" : "onnx";
  STRATA_USAGE_CHECK(format == "onnx" || format == "safetensors", "--format '", format, "': want onnx or safetensors");
  STRATA_USAGE_CHECK(!((format == "onnx" && ext == ".safetensors") || (format == "safetensors" && ext == ".onnx")),
                     "--output ", a.output, " is named ", ext, " but --format is ", format,
                     "; leave out --format, or name the file .", format);
  refuse_output_onto_input(a.output, a.checkpoint);
  const std::string precision = a.values.count("--precision") ? a.values.at("--precision") : "f32";
  STRATA_USAGE_CHECK(precision == "f32" || precision == "f16", "--precision '", precision, "': want f32 or f16");
  STRATA_USAGE_CHECK(precision == "f32" || format == "safetensors", "--precision f16 is for --format safetensors");
  std::map<std::string, std::string> metadata = e.onnx.metadata;
  metadata["strata.app"] = app;
  metadata["data_format"] = "channels_first";  // the key OpendTect's dgbpy reads (dgbonnx.OnnxModel)
  metadata["strata.checkpoint"] = fs::path(a.checkpoint).filename().string();
  if (a.values.count("--metadata")) {
    std::stringstream list(a.values.at("--metadata"));
    for (std::string kv; std::getline(list, kv, ';');) {
      const size_t eq = kv.find('=');
      STRATA_USAGE_CHECK(eq != std::string::npos && eq > 0, "--metadata '", kv, "': want KEY=VALUE");
      metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  if (format == "safetensors") {
    // What predict needs besides the weights: the checkpoint's entries, less the training state.
    const Checkpoint ck = Checkpoint::load(a.checkpoint);
    for (const auto& [k, v] : ck.metadata) {
      const bool training_state = k.rfind("trainer.", 0) == 0 || k.rfind("rng_", 0) == 0 ||
                                  k.find("optim") != std::string::npos || k.rfind("format", 0) == 0;
      if (!training_state && !metadata.count(k)) metadata[k] = v;
    }
    // Tensors predict needs that are not weights (a well-log model's curve statistics) ride in the metadata, so that
    // the file holds exactly the model's state_dict: "tensor.NAME" = comma-separated values (1-D, f64).
    for (const auto& [name, t] : ck.tensors) {
      if (name.rfind("extra.", 0) != 0) continue;
      std::string values;
      for (double v : t.to(DType::f64).contiguous().to_vector<double>()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        values += (values.empty() ? "" : ",") + std::string(buf);
      }
      metadata["tensor." + name] = values;
    }
    metadata["format"] = "strata-weights";
    metadata["format_version"] = "1";
    const std::map<std::string, Tensor> weights = pytorch_state_dict(*e.model);
    save_safetensors(a.output, weights, metadata, precision == "f16");
    std::printf("wrote %s: %zu tensors (the model's weights, PyTorch state_dict names, %s)\n", a.output.c_str(),
                weights.size(), precision.c_str());
    return 0;
  }
  OnnxExportOptions o = e.onnx;
  o.metadata = metadata;
  export_onnx(*e.model, e.graph, e.example, o, a.output);
  std::string dims;
  for (size_t d = 0; d < size_t(e.example.dim()); ++d) {
    const bool named = d < o.input_dims.size() && !o.input_dims[d].empty();
    dims += (d ? ", " : "") + (named ? o.input_dims[d] : std::to_string(e.example.size(int64_t(d))));
  }
  std::printf("wrote %s: ONNX opset %lld, input '%s' (%s), outputs", a.output.c_str(),
              static_cast<long long>(kOnnxOpset), o.input_name.c_str(), dims.c_str());
  for (const std::string& n : o.output_names) std::printf(" '%s'", n.c_str());
  std::printf("\n");
  return 0;
}

}  // namespace strata
