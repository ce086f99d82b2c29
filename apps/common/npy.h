// NumPy .npy arrays in and out (format versions 1-3), for sections and
// probability maps exchanged with Python tools: read_npy converts any of
// float32 / float64 / int8 / uint8 / int16 / uint16 / int32 / int64 /
// bool, either byte order, C or Fortran order, to float32 in C order;
// write_npy writes little-endian float32, C order. A file that is not .npy,
// an unsupported dtype or a truncated payload is an error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order
};

NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data);

}  // namespace strata
