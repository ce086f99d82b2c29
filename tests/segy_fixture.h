// A small SEG-Y file written byte by byte for tests that must not depend on
// the shared data folder: big-endian, IEEE float samples, an ASCII textual
// header, inline / crossline numbers at bytes 189 / 193 and the offset at 37.
// `offsets` > 1 writes that many traces per position (pre-stack); `format` 5
// (IEEE float), 2 (int32, values x 1000) or 3 (int16, values x 1000);
// `no_geometry` writes inline = crossline = 0 on every trace (a 2-D line
// without numbers).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace strata::test {

inline void put_be(std::string& b, size_t pos, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b[pos + size_t(i)] = char((v >> (8 * (bytes - 1 - i))) & 0xff);
}

// The sample value write_test_segy writes at (inline index, crossline index, sample).
inline float test_segy_value(int il, int xl, int s) { return float(std::sin(0.7 * s + 0.3 * xl + 0.1 * il)); }

inline void write_test_segy(const std::filesystem::path& path, int inlines = 4, int crosslines = 6, int samples = 40,
                            int offsets = 1, int format = 5, bool no_geometry = false) {
  std::string text(3200, ' ');
  const std::string line = "C 1 strata test file";
  text.replace(0, line.size(), line);
  std::string bin(400, '\0');
  put_be(bin, 16, 4000, 2);     // 3217: sample interval (us)
  put_be(bin, 20, uint32_t(samples), 2);  // 3221: samples per trace
  put_be(bin, 24, uint32_t(format), 2);  // 3225: sample format
  std::string out = text + bin;
  for (int il = 0; il < inlines; ++il)
    for (int xl = 0; xl < crosslines; ++xl)
      for (int off = 0; off < offsets; ++off) {
        std::string h(240, '\0');
        put_be(h, 36, uint32_t(100 * (off + 1)), 4);  // 37: offset
        put_be(h, 114, uint32_t(samples), 2);         // 115: samples
        put_be(h, 116, 4000, 2);                      // 117: interval
        put_be(h, 188, no_geometry ? 0u : uint32_t(10 + il), 4);   // 189: inline
        put_be(h, 192, no_geometry ? 0u : uint32_t(200 + xl), 4);  // 193: crossline
        out += h;
        for (int s = 0; s < samples; ++s) {
          const float v = test_segy_value(il, xl, s);
          uint32_t u;
          std::memcpy(&u, &v, 4);
          if (format != 5) u = uint32_t(int32_t(std::lround(v * 1000)));
          std::string word(format == 3 ? 2 : 4, '\0');
          put_be(word, 0, u, int(word.size()));
          out += word;
        }
      }
  std::ofstream(path, std::ios::binary) << out;
}

}  // namespace strata::test
