#include "apps/common/npy.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "engine/file_io.h"

namespace strata {
namespace {

// The value of `key` in the header dict text, up to the next top-level comma or the closing brace.
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  const size_t k = header.find("'" + key + "'");
  STRATA_CHECK(k != std::string::npos, path, ": .npy header has no '", key, "'");
  size_t v = header.find(':', k);
  STRATA_CHECK(v != std::string::npos, path, ": .npy header is malformed near '", key, "'");
  ++v;
  while (v < header.size() && header[v] == ' ') ++v;
  STRATA_CHECK(v < header.size(), path, ": .npy header ends after '", key, "'");
  if (header[v] == '(') return header.substr(v, header.find(')', v) - v + 1);
  size_t e = v;
  while (e < header.size() && header[e] != ',' && header[e] != '}') ++e;
  return header.substr(v, e - v);
}

template <class T>
T load(const char* p, bool swap) {
  T v;
  if (!swap) {
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  char b[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) b[i] = p[sizeof(T) - 1 - i];
  std::memcpy(&v, b, sizeof v);
  return v;
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  require_input_file(path, ".npy");
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  STRATA_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0, path, ": not a .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  STRATA_CHECK(major >= 1 && major <= 3, path, ": .npy format version ", major, " is not 1, 2 or 3");
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = size_t(static_cast<unsigned char>(bytes[8])) | size_t(static_cast<unsigned char>(bytes[9])) << 8;
    start = 10;
  } else {
    STRATA_CHECK(bytes.size() >= 12, path, ": truncated .npy header");
    for (int i = 0; i < 4; ++i) header_len |= size_t(static_cast<unsigned char>(bytes[size_t(8 + i)])) << (8 * i);
    start = 12;
  }
  STRATA_CHECK(start + header_len <= bytes.size(), path, ": truncated .npy header");
  const std::string header = bytes.substr(start, header_len);
  std::string descr = dict_value(header, "descr", path);
  STRATA_CHECK(descr.empty() || descr[0] != '[', path, ": .npy holds a structured dtype (a record array with named "
               "fields); save one numeric field as a plain array, e.g. np.save(f, arr['field'].astype(np.float32))");
  descr.erase(std::remove(descr.begin(), descr.end(), '\''), descr.end());
  const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  const bool descr_ok = descr.size() >= 3 && descr.size() <= 4 &&
                        std::string("<>|=").find(descr[0]) != std::string::npos &&
                        std::isalpha(static_cast<unsigned char>(descr[1])) &&
                        std::all_of(descr.begin() + 2, descr.end(), digit);
  STRATA_CHECK(descr_ok, path, ": .npy dtype '", descr,
               "' is not understood (want e.g. '<f4': byte order, kind, size)");
  const bool fortran = dict_value(header, "fortran_order", path).find("True") != std::string::npos;
  NpyArray a;
  const std::string shape = dict_value(header, "shape", path);
  STRATA_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')' &&
                   shape.find_first_not_of("0123456789, ", 1) == shape.size() - 1,
               path, ": .npy shape '", shape, "' is not a tuple of whole numbers");
  for (size_t i = 1; i < shape.size();) {
    while (i < shape.size() && !std::isdigit(static_cast<unsigned char>(shape[i]))) ++i;
    if (i >= shape.size()) break;
    size_t e = i;
    while (e < shape.size() && std::isdigit(static_cast<unsigned char>(shape[e]))) ++e;
    STRATA_CHECK(e - i <= 15, path, ": .npy shape ", shape, " has a dimension of ", e - i, " digits");
    a.shape.push_back(std::stoll(shape.substr(i, e - i)));
    i = e;
  }
  const char order = descr[0], kind = descr[1];
  const int size = std::stoi(descr.substr(2));
  const bool swap = (order == '>' && std::endian::native == std::endian::little) ||
                    (order == '<' && std::endian::native == std::endian::big);
  const bool ok = (kind == 'f' && (size == 4 || size == 8)) || (kind == 'i' && (size == 1 || size == 2 || size == 4 || size == 8)) ||
                  (kind == 'u' && (size == 1 || size == 2)) || (kind == 'b' && size == 1);
  STRATA_CHECK(ok, path, ": .npy dtype '", descr, "' is not supported (float32 / float64, int8-64, uint8 / 16, bool)");
  // The value count, checked against the bytes in the file before anything is allocated.
  const size_t payload = start + header_len;
  const uint64_t held = (bytes.size() - payload) / uint64_t(size);
  uint64_t product = 1;
  bool overflow = false;
  for (int64_t d : a.shape) overflow = overflow || __builtin_mul_overflow(product, uint64_t(d), &product);
  if (std::find(a.shape.begin(), a.shape.end(), 0) != a.shape.end()) product = 0, overflow = false;
  STRATA_CHECK(!overflow && product <= held, path, ": truncated: the header's shape ", shape, " asks for ",
               overflow ? std::string("more than 2^64") : std::to_string(product), " values and the file holds ",
               bytes.size() - payload, " bytes of data (", held, " values of ", size, " bytes)");
  const int64_t n = int64_t(product);
  a.data.resize(size_t(n));
  const char* p = bytes.data() + payload;
  for (int64_t i = 0; i < n; ++i, p += size) {
    float v = 0;
    if (kind == 'f') v = size == 4 ? load<float>(p, swap) : float(load<double>(p, swap));
    else if (kind == 'b') v = *p ? 1.f : 0.f;
    else if (kind == 'u') v = size == 1 ? float(static_cast<unsigned char>(*p)) : float(load<uint16_t>(p, swap));
    else if (size == 1) v = float(static_cast<signed char>(*p));
    else if (size == 2) v = float(load<int16_t>(p, swap));
    else if (size == 4) v = float(load<int32_t>(p, swap));
    else v = float(load<int64_t>(p, swap));
    a.data[size_t(i)] = v;
  }
  if (fortran && a.shape.size() == 2) {  // column-major -> row-major
    const int64_t rows = a.shape[0], cols = a.shape[1];
    std::vector<float> c(a.data.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k) c[size_t(r * cols + k)] = a.data[size_t(k * rows + r)];
    a.data.swap(c);
  } else {
    STRATA_CHECK(!fortran || a.shape.size() <= 1, path, ": Fortran-order .npy arrays of ", a.shape.size(),
                 " dimensions are not supported (save it with np.ascontiguousarray)");
  }
  return a;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  write_file_atomic(path, [&](std::ostream& f) {
    f.write("\x93NUMPY\x01\x00", 8);
    const char len[2] = {char(header.size() & 0xff), char(header.size() >> 8)};
    f.write(len, 2);
    f << header;
    for (float v : data) {
      char b[4];
      std::memcpy(b, &v, 4);
      if (std::endian::native == std::endian::big) std::reverse(b, b + 4);
      f.write(b, 4);
    }
  });
}

}  // namespace strata
