// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed:
// a 4-byte magic (0, 0, element type, number of dimensions), one big-endian
// uint32 per dimension, then the elements. Only unsigned bytes (type 0x08,
// what image and label files use) are read.
//
// Errors name the file and the problem: not IDX (bad magic), another element
// type, truncated (fewer bytes than the header's dimensions promise, with both
// counts), trailing bytes, a corrupt gzip stream.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28}
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

IdxArray read_idx(const std::string& path);

// Writes `a` as an uncompressed IDX file (for tests and small exports).
void write_idx(const std::string& path, const IdxArray& a);

}  // namespace strata
