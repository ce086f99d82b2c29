// Safetensors files (https://github.com/huggingface/safetensors format):
// 8-byte little-endian header length, a JSON header mapping each name to
// {dtype, shape, data_offsets}, an optional "__metadata__" string map, then
// the raw little-endian data. Used for checkpoints and the PyTorch reference
// files in tests/reference.
#pragma once

#include <map>
#include <string>

#include "engine/tensor.h"

namespace strata {

struct Safetensors {
  std::map<std::string, Tensor> tensors;  // on the CPU, contiguous
  std::map<std::string, std::string> metadata;

  // The tensor `name`; the error lists what the file holds when it is missing.
  const Tensor& at(const std::string& name) const;
};

// Reads the whole file; F16 tensors are read as f32. Errors name the file and
// what is wrong (not a safetensors file, truncated, a dtype strata lacks such as
// BF16, offsets past the end).
Safetensors load_safetensors(const std::string& path);

// The same from bytes in memory (`source` names them in errors).
Safetensors parse_safetensors(const std::string& bytes, const std::string& source);

// The file's bytes; save_safetensors writes them.
// With f32_as_f16, f32 tensors are stored as F16 (round to nearest even), except those holding a finite value
// beyond half precision's range (|x| >= 65520), which stay F32.
std::string safetensors_bytes(const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}, bool f32_as_f16 = false);

// Writes `path` atomically: a temporary file in the same folder, then rename.
// Tensors on any device are copied to the CPU first.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {}, bool f32_as_f16 = false);

}  // namespace strata
