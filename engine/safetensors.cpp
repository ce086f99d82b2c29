#include "engine/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "engine/error.h"
#include "engine/file_io.h"

namespace strata {
namespace {

const char* dtype_tag(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

// IEEE half precision <-> float, rounding to nearest even; F16 tensors are read as f32 (strata has no f16 dtype).
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      uint32_t m = man;
      do ++e, m <<= 1;
      while (!(m & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000 | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000, biased = (x >> 23) & 0xff;
  uint32_t man = x & 0x7fffff;
  if (biased == 0xff) return uint16_t(sign | 0x7c00 | (man ? 0x200 : 0));  // inf, nan
  const int32_t exp = int32_t(biased) - 127 + 15;
  if (exp >= 31) return uint16_t(sign | 0x7c00);  // too large: inf
  if (exp <= 0) {                                 // a half subnormal, or zero
    if (exp < -10) return uint16_t(sign);
    man |= 0x800000;
    const uint32_t shift = uint32_t(14 - exp), halfway = 1u << (shift - 1), rem = man & ((1u << shift) - 1);
    uint32_t h = man >> shift;
    if (rem > halfway || (rem == halfway && (h & 1))) ++h;
    return uint16_t(sign | h);
  }
  uint32_t h = sign | uint32_t(exp) << 10 | man >> 13;
  const uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry into the exponent rounds up correctly
  return uint16_t(h);
}

DType dtype_from_tag(const std::string& tag, const std::string& name, const std::string& path) {
  if (tag == "F32") return DType::f32;
  if (tag == "F64") return DType::f64;
  if (tag == "I32") return DType::i32;
  if (tag == "I64") return DType::i64;
  if (tag == "U8" || tag == "BOOL") return DType::u8;
  STRATA_FAIL(path, ": tensor '", name, "' has dtype ", tag,
              ", which strata does not support (F16, F32, F64, I32, I64, U8, BOOL); convert it before saving");
}

}  // namespace

const Tensor& Safetensors::at(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it != tensors.end()) return it->second;
  std::ostringstream names;
  int shown = 0;
  for (const auto& [n, t] : tensors) {
    if (shown++ == 20) {
      names << ", ...";
      break;
    }
    names << (shown > 1 ? ", " : "") << n;
  }
  STRATA_FAIL("safetensors: no tensor '", name, "' (the file has ", tensors.size(), ": ", names.str(), ")");
}

Safetensors load_safetensors(const std::string& path) {
  require_input_file(path, "safetensors");
  std::ifstream in(path, std::ios::binary);
  STRATA_CHECK(in.good(), path, ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const int64_t file_size = in.tellg();
  in.seekg(0);
  std::string bytes(size_t(std::max<int64_t>(file_size, 0)), '\0');
  in.read(bytes.data(), file_size);
  STRATA_CHECK(in.good() || file_size == 0, path, ": cannot read the file");
  return parse_safetensors(bytes, path);
}

Safetensors parse_safetensors(const std::string& bytes, const std::string& path) {
  const int64_t file_size = int64_t(bytes.size());
  uint64_t header_len = 0;
  STRATA_CHECK(file_size >= 8, path, ": not a safetensors file (shorter than its 8-byte header length)");
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(bytes[size_t(i)]);
  // A header that begins as JSON but runs past the end is a cut-off copy, not another kind of file.
  const bool json_start = file_size > 8 && bytes[8] == '{';
  STRATA_CHECK(header_len > 0 && (int64_t(header_len) <= file_size - 8 || json_start), path,
               ": not a safetensors file (header length ", header_len, " does not fit in ", file_size, " bytes)");
  STRATA_CHECK(int64_t(header_len) <= file_size - 8, path, ": truncated: its header alone needs ", 8 + header_len,
               " bytes and the file has ", file_size, " (an interrupted copy or download?)");
  const std::string header = bytes.substr(8, header_len);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    STRATA_FAIL(path, ": not a safetensors file (header is not JSON: ", e.what(), ")");
  }
  STRATA_CHECK(j.is_object(), path, ": not a safetensors file (header is not a JSON object)");
  const int64_t data_start = 8 + int64_t(header_len), data_size = file_size - data_start;
  const char* data = bytes.data() + data_start;
  int64_t data_end = 0;  // where the last tensor ends: past data_size, the file was cut off
  for (const auto& [name, entry] : j.items())
    if (name != "__metadata__" && entry.is_object() && entry.contains("data_offsets") &&
        entry["data_offsets"].is_array() && entry["data_offsets"].size() == 2 && entry["data_offsets"][1].is_number_integer())
      data_end = std::max(data_end, entry["data_offsets"][1].get<int64_t>());
  STRATA_CHECK(data_end <= data_size, path, ": truncated: its tensors need ", data_start + data_end,
               " bytes and the file has ", file_size, " (an interrupted copy or download?)");

  Safetensors out;
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : entry.items()) out.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    try {
      const std::string tag = entry.at("dtype").get<std::string>();
      const bool half = tag == "F16";
      const DType t = half ? DType::f32 : dtype_from_tag(tag, name, path);
      const Shape shape = entry.at("shape").get<Shape>();
      const auto offsets = entry.at("data_offsets").get<std::vector<int64_t>>();
      STRATA_CHECK(offsets.size() == 2 && offsets[0] >= 0 && offsets[0] <= offsets[1] && offsets[1] <= data_size,
                   path, ": tensor '", name, "' has data offsets outside the file's ", data_size, " data bytes");
      int64_t numel = 1;
      for (int64_t d : shape)
        STRATA_CHECK(d >= 0 && !__builtin_mul_overflow(numel, d, &numel) && numel <= data_size, path, ": tensor '",
                     name, "' has the impossible shape ", shape_str(shape), " (", data_size,
                     " data bytes in the file); the checkpoint is damaged");
      const int64_t nbytes = numel * (half ? 2 : int64_t(dtype_size(t)));
      STRATA_CHECK(offsets[1] - offsets[0] == nbytes, path, ": tensor '", name, "' of shape ", shape_str(shape),
                   " needs ", nbytes, " bytes, its offsets span ", offsets[1] - offsets[0]);
      Tensor x = make_tensor(shape, t, Device::cpu());
      if (half) {
        float* dst = static_cast<float*>(x.raw_data());
        for (int64_t k = 0; k < numel; ++k) {
          uint16_t h;
          std::memcpy(&h, data + offsets[0] + 2 * k, 2);
          dst[k] = half_to_float(h);
        }
      } else if (nbytes) {
        std::memcpy(x.raw_data(), data + offsets[0], size_t(nbytes));
      }
      out.tensors.emplace(name, x);
    } catch (const nlohmann::json::exception& e) {
      STRATA_FAIL(path, ": malformed entry for tensor '", name, "': ", e.what());
    }
  }
  return out;
}

std::string safetensors_bytes(const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata, bool f32_as_f16) {
  nlohmann::json j = nlohmann::json::object();
  if (!metadata.empty()) j["__metadata__"] = metadata;
  struct Stored {
    Tensor host;  // on the CPU, contiguous
    bool half;    // written as F16
  };
  std::vector<Stored> stored;
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    STRATA_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    STRATA_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved");
    Tensor c = t.detach().to(Device::cpu()).contiguous();
    // A tensor with a finite value that half precision cannot hold (|x| >= 65520 rounds to infinity; a batch
    // norm's running variance can be that large) stays F32, so the file computes what the model computes.
    bool half = f32_as_f16 && c.dtype() == DType::f32;
    if (half) {
      const float* v = static_cast<const float*>(c.raw_data());
      for (int64_t k = 0; k < c.numel() && half; ++k) half = !(std::isfinite(v[k]) && std::fabs(v[k]) >= 65520.f);
    }
    const int64_t nbytes = c.numel() * (half ? 2 : int64_t(dtype_size(c.dtype())));
    j[name] = {{"dtype", half ? "F16" : dtype_tag(c.dtype())}, {"shape", c.shape()},
               {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    stored.push_back({c, half});
  }
  std::string header = j.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string out;
  out.reserve(8 + header.size() + size_t(offset));
  uint64_t len = header.size();
  for (int i = 0; i < 8; ++i, len >>= 8) out.push_back(static_cast<char>(len & 0xff));
  out += header;
  for (const auto& [c, half] : stored) {
    if (half) {
      const float* v = static_cast<const float*>(c.raw_data());
      for (int64_t k = 0; k < c.numel(); ++k) {
        const uint16_t h = float_to_half(v[k]);
        out.append(reinterpret_cast<const char*>(&h), 2);
      }
      continue;
    }
    out.append(static_cast<const char*>(c.raw_data()), size_t(c.numel()) * dtype_size(c.dtype()));
  }
  return out;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata, bool f32_as_f16) {
  const std::string bytes = safetensors_bytes(tensors, metadata, f32_as_f16);
  write_file_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), int64_t(bytes.size())); });
}

}  // namespace strata
