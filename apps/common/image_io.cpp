#include "apps/common/image_io.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <zlib.h>

#include "apps/common/tiff.h"
#include "engine/error.h"
#include "engine/file_io.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
// 8-bit PNGs are deflated by zlib at level 2 rather than by stb_image_write's own deflate: a 480 x 360 RGB
// overlay is written in 15 ms instead of 53 and takes 23% fewer bytes (level 6 takes 51 ms for 3% fewer still).
// stb_image_write frees the returned buffer with free().
namespace {
unsigned char* png_deflate(unsigned char* data, int length, int* out_length, int /*stb's quality*/) {
  uLongf n = compressBound(uLong(length));
  auto* out = static_cast<unsigned char*>(std::malloc(n));
  if (out && compress2(out, &n, data, uLong(length), 2) == Z_OK) {
    *out_length = int(n);
    return out;
  }
  std::free(out);
  return nullptr;
}
}  // namespace
#define STBIW_ZLIB_COMPRESS png_deflate
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

namespace fs = std::filesystem;

namespace strata {
namespace {

std::string failure(const std::string& path) {
  const char* why = stbi_failure_reason();
  return str_cat(path, ": cannot decode the image (", why ? why : "unknown reason",
                 "); PNG, JPEG, BMP, TIFF, TGA, GIF, PSD, HDR, PIC and PNM are read");
}

void check_readable(const std::string& path) {
  require_input_file(path, "image");
  STRATA_CHECK(fs::file_size(path) > 0, path, ": the image file is empty (0 bytes)");
}

// The decoded pixels of `path`, interleaved, as stored: stb_image's 8 or 16-bit samples, or a TIFF's values.
struct Decoded {
  int w = 0, h = 0, c = 0;
  int colour = 1;  // colour channels (3 or 1); any after them are extra (alpha)
  bool sixteen = false;
  std::unique_ptr<void, void (*)(void*)> px{nullptr, stbi_image_free};
  std::vector<float> samples;  // a TIFF's samples (px unused)
  double black = 0, white = 255;  // the values shown as black and as white
  bool integral = true;           // every value a whole number
  std::vector<int32_t> indices;   // a colour-palette TIFF's index per pixel
  double value(int64_t i) const {
    if (!px) return double(samples[size_t(i)]);
    return sixteen ? double(static_cast<const uint16_t*>(px.get())[i]) : double(static_cast<const uint8_t*>(px.get())[i]);
  }
};

// A stack read as its first page says so once per file.
void warn_pages(const std::string& path, int64_t pages) {
  static std::mutex mutex;
  static std::set<std::string> warned;
  const std::lock_guard<std::mutex> lock(mutex);
  if (pages > 1 && warned.insert(path).second)
    std::fprintf(stderr, "warning: %s holds %lld images (a stack); its first is read: save each as its own file "
                 "to use them all\n", path.c_str(), static_cast<long long>(pages));
}

Decoded decode_tiff(const std::string& path) {
  TiffPage page = read_tiff(path, max_image_pixels());
  warn_pages(path, page.info.pages);
  Decoded d;
  d.w = int(page.info.width);
  d.h = int(page.info.height);
  d.c = int(page.info.channels);
  d.colour = int(page.info.colour);
  d.sixteen = page.info.bits > 8;
  d.samples = std::move(page.samples);
  d.black = page.black;
  d.white = page.white;
  d.integral = page.integral;
  d.indices = std::move(page.indices);
  return d;
}

// The palette of an indexed-colour PNG (colour type 3) as RGB triples; empty for any other file.
std::vector<std::array<uint8_t, 3>> png_palette(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char sig[8];
  if (!f.read(sig, 8) || std::memcmp(sig, "\x89PNG\r\n\x1a\n", 8) != 0) return {};
  bool indexed = false;
  for (;;) {
    unsigned char head[8];
    if (!f.read(reinterpret_cast<char*>(head), 8)) return {};
    const uint32_t len = uint32_t(head[0]) << 24 | uint32_t(head[1]) << 16 | uint32_t(head[2]) << 8 | head[3];
    const std::string type(reinterpret_cast<const char*>(head + 4), 4);
    if (type == "IDAT" || type == "IEND" || len > (1u << 20)) return {};
    std::string body(len, '\0');
    if (!f.read(body.data(), std::streamsize(len)) || !f.seekg(4, std::ios::cur)) return {};  // the chunk and its CRC
    if (type == "IHDR") indexed = len >= 10 && body[9] == 3;
    if (type == "PLTE") {
      if (!indexed) return {};
      std::vector<std::array<uint8_t, 3>> palette(len / 3);
      for (size_t i = 0; i < palette.size(); ++i)
        for (size_t k = 0; k < 3; ++k) palette[i][k] = uint8_t(body[3 * i + k]);
      return palette;
    }
  }
}

Decoded decode(const std::string& path) {
  check_readable(path);
  if (is_tiff_file(path)) return decode_tiff(path);
  // Sizes from the header before any pixel is decoded: a small file can expand to gigabytes.
  int w = 0, h = 0, c = 0;
  if (stbi_info(path.c_str(), &w, &h, &c) != 0)
    STRATA_CHECK(int64_t(w) * h <= max_image_pixels(), path, ": ", w, " x ", h, " = ", int64_t(w) * h,
                 " pixels is over the limit of ", max_image_pixels(), " pixels per image (a decompression bomb?); "
                 "raise it with STRATA_MAX_IMAGE_PIXELS=N if the image is genuine");
  Decoded d;
  d.sixteen = stbi_is_16_bit(path.c_str()) != 0;
  void* p = d.sixteen ? static_cast<void*>(stbi_load_16(path.c_str(), &d.w, &d.h, &d.c, 0))
                      : static_cast<void*>(stbi_load(path.c_str(), &d.w, &d.h, &d.c, 0));
  STRATA_CHECK(p != nullptr, failure(path));
  d.px.reset(p);
  STRATA_CHECK(d.w > 0 && d.h > 0, path, ": the image has zero size (", d.w, " x ", d.h, ")");
  d.colour = d.c >= 3 ? 3 : 1;
  d.white = d.sixteen ? 65535 : 255;
  return d;
}

void put_be32(std::string& s, uint32_t v) {
  for (int k = 3; k >= 0; --k) s += char((v >> (8 * k)) & 0xff);
}

void put_chunk(std::string& png, const char* type, const std::string& body) {
  put_be32(png, uint32_t(body.size()));
  const std::string typed = std::string(type, 4) + body;
  png += typed;
  put_be32(png, uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(typed.data()), uInt(typed.size()))));
}

// A 16-bit grey or RGB PNG (stb_image_write writes 8 bits only): IHDR, one
// zlib-compressed IDAT of unfiltered rows of big-endian samples, IEND.
void write_png16(const std::string& path, const std::vector<uint16_t>& px, int64_t w, int64_t h, int64_t c) {
  std::string raw;
  raw.reserve(size_t(h * (1 + w * c * 2)));
  for (int64_t y = 0; y < h; ++y) {
    raw += '\0';  // filter: none
    for (int64_t i = 0; i < w * c; ++i) {
      const uint16_t v = px[size_t(y * w * c + i)];
      raw += char(v >> 8);
      raw += char(v & 0xff);
    }
  }
  uLongf zlen = compressBound(uLong(raw.size()));
  std::string z(zlen, '\0');
  STRATA_CHECK(compress2(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(raw.data()),
                         uLong(raw.size()), 6) == Z_OK, path, ": zlib could not compress the PNG data");
  z.resize(zlen);
  std::string png("\x89PNG\r\n\x1a\n", 8), ihdr;
  put_be32(ihdr, uint32_t(w));
  put_be32(ihdr, uint32_t(h));
  ihdr += char(16);                 // bit depth
  ihdr += char(c == 3 ? 2 : 0);     // colour type: RGB or grey
  ihdr += std::string(3, '\0');     // compression, filter, interlace
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", "");
  write_file_atomic(path, [&](std::ostream& out) { out << png; });
}

}  // namespace

static int64_t& image_pixel_limit() {
  static int64_t limit = [] {
    const char* env = std::getenv("STRATA_MAX_IMAGE_PIXELS");
    if (!env || !*env) return kDefaultMaxImagePixels;
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    STRATA_CHECK(end && *end == '\0' && v > 0, "STRATA_MAX_IMAGE_PIXELS='", env, "': want a positive whole number");
    return int64_t(v);
  }();
  return limit;
}

int64_t max_image_pixels() { return image_pixel_limit(); }
void set_max_image_pixels(int64_t pixels) {
  STRATA_CHECK(pixels > 0, "set_max_image_pixels: ", pixels, " is not positive");
  image_pixel_limit() = pixels;
}

bool is_image_file(const std::string& path) {
  const std::string ext = lower_extension(path);
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".tga", ".gif", ".pgm", ".ppm", ".pnm"})
    if (ext == e) return true;
  return false;
}

ImageInfo image_info(const std::string& path) {
  check_readable(path);
  if (is_tiff_file(path)) {
    const TiffInfo t = tiff_info(path);
    return {t.width, t.height, t.channels, t.bits > 8};
  }
  int w = 0, h = 0, c = 0;
  STRATA_CHECK(stbi_info(path.c_str(), &w, &h, &c) != 0, failure(path));
  STRATA_CHECK(w > 0 && h > 0, path, ": the image has zero size (", w, " x ", h, ")");
  return {w, h, c, stbi_is_16_bit(path.c_str()) != 0};
}

Image read_image(const std::string& path, int64_t channels) {
  STRATA_CHECK(channels == 0 || channels == 1 || channels == 3, "read_image: channels must be 0, 1 or 3, got ",
               channels);
  const Decoded d = decode(path);
  const int64_t colour = d.colour;  // stored colour channels (alpha, if any, follows)
  const int64_t out_c = channels == 0 ? colour : channels;
  const double scale = 1.0 / (d.white - d.black);
  Image img{out_c, d.h, d.w, std::vector<float>(size_t(out_c * d.h * d.w))};
  const int64_t plane = int64_t(d.w) * d.h;
  for (int64_t i = 0; i < plane; ++i) {
    const int64_t base = i * d.c;
    if (out_c == colour) {
      for (int64_t c = 0; c < out_c; ++c)
        img.data[size_t(c * plane + i)] = float((d.value(base + c) - d.black) * scale);
    } else if (out_c == 1) {  // RGB -> luminance (ITU-R BT.601, as PIL's convert("L"))
      const double y = 0.299 * d.value(base) + 0.587 * d.value(base + 1) + 0.114 * d.value(base + 2);
      img.data[size_t(i)] = float((y - d.black) * scale);
    } else {  // grey -> RGB
      const float v = float((d.value(base) - d.black) * scale);
      for (int64_t c = 0; c < 3; ++c) img.data[size_t(c * plane + i)] = v;
    }
  }
  return img;
}

LabelMap read_label_map(const std::string& path) {
  const Decoded d = decode(path);
  LabelMap m{d.h, d.w, std::vector<int32_t>(size_t(int64_t(d.w) * d.h))};
  const int64_t plane = int64_t(d.w) * d.h;
  const int64_t colour = d.colour;
  if (!d.indices.empty()) {  // a colour-palette TIFF: its indices are the labels
    m.data = d.indices;
    return m;
  }
  if (!d.integral) {
    int64_t i = 0;
    while (i < plane * d.c && d.value(i) == std::round(d.value(i))) ++i;
    STRATA_CHECK(i < plane * d.c, path, ": a mask must hold whole-number labels; this floating-point image holds ",
                 "NaN or infinite values");
    STRATA_FAIL(path, ": a mask must hold whole-number labels; this floating-point image holds ", d.value(i),
                " at pixel (x ", (i / d.c) % d.w, ", y ", (i / d.c) / d.w, ")");
  }
  // A palette-index PNG of colours (VOC / CamVid style): stb_image expands the palette, so each colour is mapped
  // back to its index; two indices of one colour cannot be told apart. A palette of greys reads as its grey
  // values, as every viewer shows it (a black / white mask stays 0 / 255).
  std::vector<std::array<uint8_t, 3>> palette =
      colour == 3 && !d.sixteen && d.px ? png_palette(path) : decltype(palette){};
  if (std::all_of(palette.begin(), palette.end(), [](const auto& c) { return c[0] == c[1] && c[1] == c[2]; }))
    palette.clear();
  if (!palette.empty()) {
    std::map<uint32_t, int32_t> index_of;
    std::map<uint32_t, int32_t> twin;  // colour -> a second index with that colour
    for (size_t i = 0; i < palette.size(); ++i) {
      const uint32_t key = uint32_t(palette[i][0]) << 16 | uint32_t(palette[i][1]) << 8 | palette[i][2];
      if (!index_of.emplace(key, int32_t(i)).second) twin.emplace(key, int32_t(i));
    }
    const auto* px = static_cast<const uint8_t*>(d.px.get());
    for (int64_t i = 0; i < plane; ++i) {
      const uint8_t* p = px + i * d.c;
      const uint32_t key = uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2];
      const auto it = index_of.find(key);
      STRATA_CHECK(it != index_of.end(), path, ": pixel (x ", i % d.w, ", y ", i / d.w, ") has a colour that is not ",
                   "in the palette");
      STRATA_CHECK(!twin.count(key), path, ": palette indices ", it->second, " and ",
                   twin.count(key) ? twin.at(key) : 0,
                   " have the same colour, so the label of pixel (x ", i % d.w, ", y ", i / d.w,
                   ") is ambiguous; give each index its own colour or save the labels as a grey PNG");
      m.data[size_t(i)] = it->second;
    }
    return m;
  }
  for (int64_t i = 0; i < plane; ++i) {
    const int64_t base = i * d.c;
    const double v = d.value(base);
    if (colour == 3)
      STRATA_CHECK(d.value(base + 1) == v && d.value(base + 2) == v, path, ": a mask must hold one label per pixel;",
                   " this RGB image has different channels at pixel (x ", i % d.w, ", y ", i / d.w,
                   "); save the mask as a grey PNG of label values, or as a palette-index PNG (strata-segment reads ",
                   "masks drawn in the classes' palette colours with data.mask.mode: colour)");
    m.data[size_t(i)] = int32_t(v);
  }
  return m;
}

void write_png(const std::string& path, const Image& img, int bits) {
  STRATA_CHECK(img.channels == 1 || img.channels == 3, path, ": PNGs are written with 1 or 3 channels, not ",
               img.channels);
  STRATA_CHECK(bits == 8 || bits == 16, path, ": PNG depth must be 8 or 16 bits");
  const int64_t plane = img.height * img.width, c = img.channels;
  if (bits == 8) {
    std::vector<uint8_t> px(size_t(plane * c));
    for (int64_t i = 0; i < plane; ++i)
      for (int64_t k = 0; k < c; ++k)
        px[size_t(i * c + k)] = uint8_t(std::lround(std::clamp(img.data[size_t(k * plane + i)], 0.f, 1.f) * 255.f));
    write_file_atomic_via(path, [&](const std::string& tmp) {
      return stbi_write_png(tmp.c_str(), int(img.width), int(img.height), int(c), px.data(), int(img.width * c)) != 0;
    });
    return;
  }
  // stb_image_write has no 16-bit PNG: write big-endian samples through a minimal encoder.
  std::vector<uint16_t> px(size_t(plane * c));
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t k = 0; k < c; ++k)
      px[size_t(i * c + k)] = uint16_t(std::lround(std::clamp(img.data[size_t(k * plane + i)], 0.f, 1.f) * 65535.f));
  write_png16(path, px, img.width, img.height, c);
}

void write_label_png(const std::string& path, const LabelMap& labels, int bits) {
  Image img{1, labels.height, labels.width, std::vector<float>(labels.data.size())};
  const float full = bits == 16 ? 65535.f : 255.f;
  for (size_t i = 0; i < labels.data.size(); ++i) {
    STRATA_CHECK(labels.data[i] >= 0 && labels.data[i] <= int32_t(full), path, ": label ", labels.data[i],
                 " does not fit a ", bits, "-bit PNG");
    img.data[i] = float(labels.data[i]) / full;
  }
  write_png(path, img, bits);
}

}  // namespace strata
