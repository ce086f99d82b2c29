// Images in and out (stb_image / stb_image_write, and apps/common/tiff.h): PNG
// (8 and 16 bit), JPEG, BMP, TIFF (8, 16, 32-bit and floating-point samples,
// the first page of a stack), and the other formats stb_image reads; grey,
// grey + alpha, RGB, RGBA. Floating-point and signed samples map their range
// (or [0, 1] when they lie in it) to [0, 1].
//
//   Image          channels x height x width floats in [0, 1] (CHW, row-major)
//   LabelMap       height x width integer labels (a mask or class-index map)
//   read_image     decodes and converts to the channel count the model wants
//                  (1: luminance of RGB, alpha dropped; 3: grey replicated)
//   read_label_map the raw 8- or 16-bit values of a single-channel image (an
//                  RGB mask whose three channels are equal is accepted too), or
//                  the indices of a palette-index PNG
//   write_png      8- or 16-bit PNG, atomically
//
// Bad input (absent, a directory, empty, truncated or corrupt, an unsupported
// format) is a strata::Error naming the file and what the decoder said.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata {

struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> data;  // (channels, height, width)
  float& at(int64_t c, int64_t y, int64_t x) { return data[size_t((c * height + y) * width + x)]; }
  float at(int64_t c, int64_t y, int64_t x) const { return data[size_t((c * height + y) * width + x)]; }
};

struct LabelMap {
  int64_t height = 0, width = 0;
  std::vector<int32_t> data;  // (height, width)
  int32_t& at(int64_t y, int64_t x) { return data[size_t(y * width + x)]; }
  int32_t at(int64_t y, int64_t x) const { return data[size_t(y * width + x)]; }
};

// Width, height and channels in the file, without decoding; errors as read_image.
struct ImageInfo {
  int64_t width = 0, height = 0, channels = 0;
  bool sixteen_bit = false;
};
ImageInfo image_info(const std::string& path);

// channels: 1 or 3 (or 0: as stored, alpha dropped).
Image read_image(const std::string& path, int64_t channels);
LabelMap read_label_map(const std::string& path);

// Writes `img` (values clamped to [0, 1]) as an 8- or 16-bit PNG with 1 or 3 channels.
void write_png(const std::string& path, const Image& img, int bits = 8);
// A label map as an 8-bit (values 0..255) or 16-bit PNG.
void write_label_png(const std::string& path, const LabelMap& labels, int bits = 8);

// Decoded pixels allowed per image, checked from the header before decoding (a small compressed file can
// expand to gigabytes). Default kDefaultMaxImagePixels; the environment variable STRATA_MAX_IMAGE_PIXELS
// sets another, as does set_max_image_pixels.
constexpr int64_t kDefaultMaxImagePixels = 178956970;  // 2 x 89,478,485, where Pillow refuses an image
int64_t max_image_pixels();
void set_max_image_pixels(int64_t pixels);

// Image file extensions read_image accepts (lower case, with the dot).
bool is_image_file(const std::string& path);

}  // namespace strata
