// TIFF images in (TIFF 6.0 baseline and the common extensions, classic and BigTIFF): what microscopes, scanners
// and image stacks write.
//
//   layout       strips or tiles; interleaved or planar samples; either byte order
//   compression  none, LZW, Deflate (Adobe and the old code), PackBits; a horizontal (2) or floating-point (3)
//                predictor
//   samples      1-bit, 8, 16 and 32-bit unsigned or signed integers, 32 and 64-bit floats; grey (black or
//                white is zero), RGB, palette; extra samples (alpha) kept as further channels
//   pages        the first full-resolution page is decoded (reduced-resolution pages of a pyramid are skipped);
//                `pages` says how many the file holds
//
// Anything else (JPEG or CCITT compression, YCbCr, CMYK, 4-bit samples, ...) and every inconsistency (an offset
// past the end, a strip shorter than its rows) is a strata::Error naming the file and what it holds. Sizes are
// checked against `max_pixels` before any pixel is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata {

struct TiffInfo {
  int64_t width = 0, height = 0;
  int64_t channels = 0;  // after palette expansion: 3 for a colour palette, 1 for a grey one
  int64_t colour = 0;    // 3 (RGB or colour palette) or 1 (grey); the channels after them are extra samples
  int bits = 0;          // bits per sample as stored
  int64_t pages = 0;     // full-resolution pages in the file
};

struct TiffPage {
  TiffInfo info;
  // (height, width, channels) interleaved: the stored values (a 16-bit sample reads 0..65535, a float its value,
  // a colour palette's pixel the colormap's 16-bit RGB, a grey palette's its 8-bit grey).
  std::vector<float> samples;
  // The sample values shown as black and as white: 0 and 2^bits - 1 for unsigned integers (1 for 1-bit), 0 and
  // 65535 for a colour palette; for floats and signed integers 0 and 1 when every finite value lies in [0, 1],
  // else the smallest and the largest finite value. Non-finite samples read as `black`.
  double black = 0, white = 255;
  bool integral = true;          // every sample a whole number (integer formats, or floats that hold them)
  std::vector<int32_t> indices;  // a colour palette's index of each pixel (empty otherwise)
};

// True when the file starts with a TIFF or BigTIFF signature.
bool is_tiff_file(const std::string& path);
TiffInfo tiff_info(const std::string& path);
TiffPage read_tiff(const std::string& path, int64_t max_pixels);

}  // namespace strata
