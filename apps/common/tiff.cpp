#include "apps/common/tiff.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <type_traits>

#include <zlib.h>

#include "engine/error.h"
#include "engine/file_io.h"

namespace strata {
namespace {

// Tags read (TIFF 6.0 numbering).
enum Tag : uint16_t {
  kNewSubfileType = 254,
  kImageWidth = 256,
  kImageLength = 257,
  kBitsPerSample = 258,
  kCompression = 259,
  kPhotometric = 262,
  kStripOffsets = 273,
  kSamplesPerPixel = 277,
  kRowsPerStrip = 278,
  kStripByteCounts = 279,
  kPlanarConfig = 284,
  kPredictor = 317,
  kColorMap = 320,
  kTileWidth = 322,
  kTileLength = 323,
  kTileOffsets = 324,
  kTileByteCounts = 325,
  kSampleFormat = 339,
};

enum Compression : uint64_t { kNone = 1, kLzw = 5, kDeflate = 8, kDeflateOld = 32946, kPackBits = 32773 };
enum SampleFormat : uint64_t { kUnsigned = 1, kSigned = 2, kFloat = 3 };

std::string compression_name(uint64_t c) {
  switch (c) {
    case 2: case 3: case 4: return "CCITT fax";
    case 6: case 7: return "JPEG";
    case 34712: return "JPEG 2000";
    case 34925: return "LZMA";
    case 50000: return "Zstandard";
    case 50001: return "WebP";
    default: return "code " + std::to_string(c);
  }
}

std::string photometric_name(uint64_t p) {
  switch (p) {
    case 4: return "a transparency mask";
    case 5: return "CMYK";
    case 6: return "YCbCr";
    case 8: case 9: case 10: return "CIE L*a*b*";
    case 32844: case 32845: return "LogLuv";
    default: return "code " + std::to_string(p);
  }
}

// Bytes per value of each TIFF field type (0: unknown type).
size_t type_size(uint16_t type) {
  switch (type) {
    case 1: case 2: case 6: case 7: return 1;   // BYTE, ASCII, SBYTE, UNDEFINED
    case 3: case 8: return 2;                   // SHORT, SSHORT
    case 4: case 9: case 11: case 13: return 4; // LONG, SLONG, FLOAT, IFD
    case 5: case 10: case 12: case 16: case 17: case 18: return 8;  // RATIONAL, SRATIONAL, DOUBLE, LONG8, SLONG8, IFD8
    default: return 0;
  }
}

struct Entry {
  uint16_t type = 0;
  uint64_t count = 0;
  uint64_t offset = 0;  // where the values are: in the file, or (inline) in the entry's value field
};

class TiffFile {
 public:
  explicit TiffFile(const std::string& path) : path_(path) {
    require_input_file(path, "image");
    size_ = std::filesystem::file_size(path);
    STRATA_CHECK(size_ > 0, path, ": the image file is empty (0 bytes)");
    in_.open(path, std::ios::binary);
    STRATA_CHECK(in_.good(), path, ": cannot open the image file");
    uint8_t head[16] = {};
    STRATA_CHECK(size_ >= 8, path, ": not a TIFF file (", size_, " bytes)");
    read(0, head, std::min<uint64_t>(16, size_));
    STRATA_CHECK((head[0] == 'I' && head[1] == 'I') || (head[0] == 'M' && head[1] == 'M'), path,
                 ": not a TIFF file (no II or MM byte-order mark)");
    big_endian_ = head[0] == 'M';
    const uint16_t magic = uint16_t(get(head + 2, 2));
    if (magic == 42) {
      first_ifd_ = get(head + 4, 4);
    } else {
      STRATA_CHECK(magic == 43 && size_ >= 16 && get(head + 4, 2) == 8, path, ": not a TIFF file (version ", magic,
                   ")");
      big_ = true;
      first_ifd_ = get(head + 8, 8);
    }
  }

  const std::string& path() const { return path_; }
  bool big_endian() const { return big_endian_; }
  uint64_t size() const { return size_; }

  void read(uint64_t offset, void* dst, uint64_t n) {
    STRATA_CHECK(offset <= size_ && n <= size_ - offset, path_, ": the TIFF file is truncated or corrupt (",
                 n, " bytes at offset ", offset, " past its end of ", size_, " bytes)");
    in_.clear();
    in_.seekg(std::streamoff(offset));
    in_.read(static_cast<char*>(dst), std::streamsize(n));
    STRATA_CHECK(uint64_t(in_.gcount()) == n, path_, ": cannot read ", n, " bytes at offset ", offset);
  }

  // An unsigned value of `bytes` bytes in the file's byte order.
  uint64_t get(const uint8_t* p, int bytes) const {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(p[big_endian_ ? bytes - 1 - i : i]) << (8 * i);
    return v;
  }

  // The offsets of the file's image directories, in order (a loop or more than a million is corruption).
  std::vector<uint64_t> directories() {
    std::vector<uint64_t> out;
    std::set<uint64_t> seen;
    for (uint64_t at = first_ifd_; at != 0;) {
      STRATA_CHECK(seen.insert(at).second && out.size() < 1000000, path_,
                   ": the TIFF file's image directories form a loop");
      out.push_back(at);
      const int count_bytes = big_ ? 8 : 2, entry_bytes = big_ ? 20 : 12, next_bytes = big_ ? 8 : 4;
      uint8_t buf[8];
      read(at, buf, uint64_t(count_bytes));
      const uint64_t n = get(buf, count_bytes);
      STRATA_CHECK(n <= (size_ - at) / uint64_t(entry_bytes), path_, ": a TIFF image directory of ", n,
                   " entries runs past the end of the file");
      read(at + uint64_t(count_bytes) + n * uint64_t(entry_bytes), buf, uint64_t(next_bytes));
      at = get(buf, next_bytes);
    }
    STRATA_CHECK(!out.empty(), path_, ": the TIFF file holds no image");
    return out;
  }

  std::map<uint16_t, Entry> entries(uint64_t ifd) {
    const int count_bytes = big_ ? 8 : 2, entry_bytes = big_ ? 20 : 12, value_bytes = big_ ? 8 : 4;
    uint8_t buf[8];
    read(ifd, buf, uint64_t(count_bytes));
    const uint64_t n = get(buf, count_bytes);
    std::vector<uint8_t> raw(size_t(n) * size_t(entry_bytes));
    read(ifd + uint64_t(count_bytes), raw.data(), raw.size());
    std::map<uint16_t, Entry> out;
    for (uint64_t i = 0; i < n; ++i) {
      const uint8_t* e = raw.data() + i * uint64_t(entry_bytes);
      Entry entry;
      const uint16_t tag = uint16_t(get(e, 2));
      entry.type = uint16_t(get(e + 2, 2));
      entry.count = get(e + 4, big_ ? 8 : 4);
      const uint8_t* value = e + 4 + (big_ ? 8 : 4);
      const size_t size = type_size(entry.type);
      if (size == 0) continue;  // a type this reader does not know: the tag is not one it needs
      STRATA_CHECK(entry.count <= size_ / size, path_, ": TIFF tag ", tag, " claims ", entry.count,
                   " values, more than the file holds");
      const uint64_t bytes = entry.count * size;
      entry.offset = bytes <= uint64_t(value_bytes) ? ifd + uint64_t(count_bytes) + i * uint64_t(entry_bytes) +
                                                          uint64_t(value - e)
                                                    : get(value, value_bytes);
      out[tag] = entry;
    }
    return out;
  }

  // The values of an integer field (BYTE, SHORT, LONG, LONG8 or their signed kinds, IFD).
  std::vector<uint64_t> values(const Entry& e, uint16_t tag) {
    STRATA_CHECK(e.type != 2 && e.type != 5 && e.type != 10 && e.type != 11 && e.type != 12, path_, ": TIFF tag ",
                 tag, " holds type ", e.type, " values where whole numbers belong");
    const size_t size = type_size(e.type);
    std::vector<uint8_t> raw(size_t(e.count) * size);
    read(e.offset, raw.data(), raw.size());
    std::vector<uint64_t> out(size_t(e.count));
    for (size_t i = 0; i < out.size(); ++i) out[i] = get(raw.data() + i * size, int(size));
    return out;
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
  bool big_endian_ = false, big_ = false;
  uint64_t first_ifd_ = 0;
};

// ---- decompression: each fills `out` (its size the chunk's decoded bytes) and fails on a short chunk ----------

void unpack_bits(const std::vector<uint8_t>& in, std::vector<uint8_t>& out, const std::string& path) {
  size_t i = 0, o = 0;
  while (o < out.size() && i < in.size()) {
    const int n = int8_t(in[i++]);
    if (n >= 0) {  // n + 1 literal bytes
      const size_t k = std::min({size_t(n) + 1, in.size() - i, out.size() - o});
      std::memcpy(out.data() + o, in.data() + i, k);
      i += size_t(n) + 1;
      o += k;
    } else if (n != -128 && i < in.size()) {  // one byte repeated 1 - n times
      const size_t k = std::min(size_t(1 - n), out.size() - o);
      std::memset(out.data() + o, in[i++], k);
      o += k;
    }
  }
  STRATA_CHECK(o == out.size(), path, ": a PackBits strip or tile decodes to ", o, " bytes, short of its ",
               out.size());
}

void inflate_all(const std::vector<uint8_t>& in, std::vector<uint8_t>& out, const std::string& path) {
  z_stream z{};
  STRATA_CHECK(inflateInit(&z) == Z_OK, path, ": zlib could not start");
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  int rc = Z_OK;
  while (rc == Z_OK && z.avail_out > 0) rc = inflate(&z, Z_SYNC_FLUSH);
  const size_t got = out.size() - z.avail_out;
  inflateEnd(&z);
  STRATA_CHECK(got == out.size() && (rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR), path,
               ": a Deflate strip or tile is corrupt or short (", got, " of ", out.size(), " bytes decoded)");
}

// TIFF's LZW: codes of 9 to 12 bits, most significant bit first; 256 clears the table, 257 ends the data; the
// code width grows one code early (when the next free code is 511, 1023, 2047).
void unlzw(const std::vector<uint8_t>& in, std::vector<uint8_t>& out, const std::string& path) {
  STRATA_CHECK(!(in.size() >= 2 && in[0] == 0 && (in[1] & 1)), path,
               ": the TIFF uses the old LZW bit order of pre-1992 writers, which is not read; re-save it");
  constexpr int kClear = 256, kEnd = 257, kMax = 4096;
  std::vector<uint16_t> prefix(kMax);
  std::vector<uint8_t> suffix(kMax), first(kMax);
  std::vector<uint16_t> length(kMax);
  for (int i = 0; i < 256; ++i) {
    suffix[size_t(i)] = first[size_t(i)] = uint8_t(i);
    length[size_t(i)] = 1;
  }
  int width = 9, next = 258, previous = -1;
  uint64_t bitbuf = 0;
  int bits = 0;
  size_t i = 0, o = 0;
  // Writes code's string at out[o...], clipped to out's size.
  const auto emit = [&](int code) {
    const size_t n = length[size_t(code)];
    for (size_t k = n; k-- > 0;) {
      if (o + k < out.size()) out[o + k] = suffix[size_t(code)];
      code = prefix[size_t(code)];
    }
    o += n;
  };
  while (o < out.size()) {
    while (bits < width && i < in.size()) {
      bitbuf = (bitbuf << 8) | in[i++];
      bits += 8;
    }
    if (bits < width) break;
    const int code = int((bitbuf >> (bits - width)) & ((1u << width) - 1));
    bits -= width;
    if (code == kEnd) break;
    if (code == kClear) {
      width = 9;
      next = 258;
      previous = -1;
      continue;
    }
    STRATA_CHECK(code <= next, path, ": a corrupt LZW code (", code, ")");
    if (previous < 0) {
      STRATA_CHECK(code < 256, path, ": a corrupt LZW code (", code, " after a clear)");
      emit(code);
      previous = code;
      continue;
    }
    const bool known = code < next;
    const uint8_t head = known ? first[size_t(code)] : first[size_t(previous)];
    if (next < kMax) {
      prefix[size_t(next)] = uint16_t(previous);
      suffix[size_t(next)] = head;
      first[size_t(next)] = first[size_t(previous)];
      length[size_t(next)] = uint16_t(length[size_t(previous)] + 1);
      ++next;
      if (next >= (1 << width) - 1 && width < 12) ++width;
    }
    emit(code);
    previous = code;
  }
  STRATA_CHECK(o >= out.size(), path, ": an LZW strip or tile decodes to ", o, " bytes, short of its ", out.size());
}

// ---- the page ------------------------------------------------------------------------------------------------

struct Layout {
  int64_t width = 0, height = 0, spp = 1;
  int bits = 1;
  uint64_t format = kUnsigned, compression = kNone, photometric = 1, predictor = 1;
  bool planar = false, tiled = false;
  int64_t chunk_w = 0, chunk_h = 0;  // a strip's width and rows, or a tile's size
  int64_t across = 1, down = 1;      // chunks per row and per column of one plane
  std::vector<uint64_t> offsets, counts;
  std::vector<uint64_t> colormap;
  int64_t pages = 1;
};

uint64_t one(TiffFile& f, const std::map<uint16_t, Entry>& e, uint16_t tag, uint64_t fallback) {
  const auto it = e.find(tag);
  if (it == e.end()) return fallback;
  const std::vector<uint64_t> v = f.values(it->second, tag);
  STRATA_CHECK(!v.empty(), f.path(), ": TIFF tag ", tag, " holds no value");
  return v[0];
}

// Every value of a per-sample field must be the same (this reader does not mix sample kinds in one pixel).
uint64_t per_sample(TiffFile& f, const std::map<uint16_t, Entry>& e, uint16_t tag, uint64_t fallback,
                    const char* what) {
  const auto it = e.find(tag);
  if (it == e.end()) return fallback;
  const std::vector<uint64_t> v = f.values(it->second, tag);
  STRATA_CHECK(!v.empty(), f.path(), ": TIFF tag ", tag, " holds no value");
  for (const uint64_t x : v)
    STRATA_CHECK(x == v[0], f.path(), ": the samples of a pixel have different ", what, " (", v[0], " and ", x,
                 "); this reader needs one for all");
  return v[0];
}

Layout layout(TiffFile& f) {
  const std::string& path = f.path();
  const std::vector<uint64_t> dirs = f.directories();
  // The first full-resolution page (a pyramid's reduced pages carry bit 0 of NewSubfileType).
  Layout l;
  l.pages = 0;
  std::map<uint16_t, Entry> e;
  bool found = false;
  for (const uint64_t d : dirs) {
    std::map<uint16_t, Entry> entries = f.entries(d);
    if (one(f, entries, kNewSubfileType, 0) & 1) continue;
    ++l.pages;
    if (!found) {
      e = std::move(entries);
      found = true;
    }
  }
  STRATA_CHECK(found, path, ": the TIFF file holds reduced-resolution images only");
  STRATA_CHECK(e.count(kImageWidth) && e.count(kImageLength), path, ": the TIFF image has no width or height tag");
  l.width = int64_t(std::min<uint64_t>(one(f, e, kImageWidth, 0), uint64_t(1) << 40));
  l.height = int64_t(std::min<uint64_t>(one(f, e, kImageLength, 0), uint64_t(1) << 40));
  STRATA_CHECK(l.width > 0 && l.height > 0, path, ": the image has zero size (", l.width, " x ", l.height, ")");
  l.spp = int64_t(one(f, e, kSamplesPerPixel, 1));
  STRATA_CHECK(l.spp >= 1 && l.spp <= 64, path, ": ", l.spp, " samples per pixel");
  l.bits = int(per_sample(f, e, kBitsPerSample, 1, "bit depths"));
  l.format = per_sample(f, e, kSampleFormat, kUnsigned, "sample formats");
  l.compression = one(f, e, kCompression, kNone);
  l.photometric = one(f, e, kPhotometric, l.spp >= 3 ? 2 : 1);
  l.planar = one(f, e, kPlanarConfig, 1) == 2;
  l.predictor = one(f, e, kPredictor, 1);

  STRATA_CHECK(l.compression == kNone || l.compression == kLzw || l.compression == kDeflate ||
                   l.compression == kDeflateOld || l.compression == kPackBits,
               path, ": TIFF compression ", compression_name(l.compression), " is not read (uncompressed, LZW, ",
               "Deflate and PackBits are); re-save the image with one of those or as PNG");
  STRATA_CHECK(l.format == kUnsigned || l.format == kSigned || l.format == kFloat, path, ": TIFF sample format ",
               l.format, " is not read (unsigned, signed and floating-point samples are)");
  const bool bits_ok = l.format == kFloat ? (l.bits == 32 || l.bits == 64)
                                          : (l.bits == 8 || l.bits == 16 || l.bits == 32 ||
                                             (l.bits == 1 && l.format == kUnsigned));
  STRATA_CHECK(bits_ok, path, ": ", l.bits, "-bit ", l.format == kFloat ? "floating-point" : "integer",
               " TIFF samples are not read (1-bit, 8, 16, 32-bit integers and 32 or 64-bit floats are)");
  STRATA_CHECK(l.photometric <= 3, path, ": TIFF colour space ", photometric_name(l.photometric),
               " is not read (grey, RGB and palette images are); re-save the image as RGB");
  STRATA_CHECK(l.photometric != 2 || l.spp >= 3, path, ": an RGB TIFF with ", l.spp, " sample(s) per pixel");
  STRATA_CHECK(l.photometric != 0 || l.format == kUnsigned, path,
               ": a white-is-zero TIFF of signed or floating-point samples is not read");
  STRATA_CHECK(l.predictor == 1 || (l.predictor == 2 && l.format != kFloat && l.bits >= 8) ||
                   (l.predictor == 3 && l.format == kFloat),
               path, ": TIFF predictor ", l.predictor, " does not fit ", l.bits, "-bit samples of format ", l.format);
  if (l.photometric == 3) {
    STRATA_CHECK(l.spp == 1 && l.format == kUnsigned && (l.bits == 8 || l.bits == 16), path,
                 ": a palette TIFF needs one 8 or 16-bit index per pixel");
    STRATA_CHECK(e.count(kColorMap), path, ": a palette TIFF without its colormap");
    l.colormap = f.values(e.at(kColorMap), kColorMap);
    STRATA_CHECK(l.colormap.size() == 3 * (size_t(1) << l.bits), path, ": the TIFF colormap holds ",
                 l.colormap.size(), " values, not 3 x 2^", l.bits);
  }

  l.tiled = e.count(kTileWidth) > 0;
  if (l.tiled) {
    l.chunk_w = int64_t(std::min<uint64_t>(one(f, e, kTileWidth, 0), uint64_t(1) << 30));
    l.chunk_h = int64_t(std::min<uint64_t>(one(f, e, kTileLength, 0), uint64_t(1) << 30));
    STRATA_CHECK(l.chunk_w > 0 && l.chunk_h > 0, path, ": TIFF tiles of zero size");
    l.across = (l.width + l.chunk_w - 1) / l.chunk_w;
    l.down = (l.height + l.chunk_h - 1) / l.chunk_h;
  } else {
    l.chunk_w = l.width;
    l.chunk_h = int64_t(std::min<uint64_t>(one(f, e, kRowsPerStrip, uint64_t(l.height)), uint64_t(l.height)));
    STRATA_CHECK(l.chunk_h > 0, path, ": TIFF strips of zero rows");
    l.down = (l.height + l.chunk_h - 1) / l.chunk_h;
  }
  const uint16_t offsets_tag = l.tiled ? kTileOffsets : kStripOffsets;
  const uint16_t counts_tag = l.tiled ? kTileByteCounts : kStripByteCounts;
  STRATA_CHECK(e.count(offsets_tag), path, ": the TIFF image has no ", l.tiled ? "tile" : "strip", " offsets");
  l.offsets = f.values(e.at(offsets_tag), offsets_tag);
  const uint64_t chunks = uint64_t(l.across * l.down * (l.planar ? l.spp : 1));
  STRATA_CHECK(l.offsets.size() == chunks, path, ": the TIFF image lists ", l.offsets.size(), " ",
               l.tiled ? "tiles" : "strips", " where its size needs ", chunks);
  if (e.count(counts_tag)) {
    l.counts = f.values(e.at(counts_tag), counts_tag);
    STRATA_CHECK(l.counts.size() == chunks, path, ": the TIFF image gives ", l.counts.size(), " byte counts for ",
                 chunks, " ", l.tiled ? "tiles" : "strips");
  } else {  // some writers leave them out of a single uncompressed strip
    STRATA_CHECK(l.compression == kNone && chunks == 1, path, ": the TIFF image has no byte counts");
    l.counts = {f.size() - std::min(f.size(), l.offsets[0])};
  }
  return l;
}

// The decoded bytes of one row of a chunk, and of the chunk.
int64_t row_bytes(const Layout& l) { return (l.chunk_w * (l.planar ? 1 : l.spp) * l.bits + 7) / 8; }

// Undoes the predictor on a decoded chunk of `rows` rows whose samples are already in host byte order (predictor
// 2) or still in the file's byte-plane order (predictor 3).
void unpredict(const Layout& l, std::vector<uint8_t>& chunk, int64_t rows) {
  const int64_t stride = l.planar ? 1 : l.spp;  // samples per pixel within the chunk
  const int64_t bytes = l.bits / 8, rb = row_bytes(l), n = l.chunk_w * stride;
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = chunk.data() + r * rb;
    if (l.predictor == 2) {
      const auto undo = [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        for (int64_t i = stride; i < n; ++i) p[i] = T(p[i] + p[i - stride]);
      };
      if (bytes == 1) undo(row);
      if (bytes == 2) undo(reinterpret_cast<uint16_t*>(row));
      if (bytes == 4) undo(reinterpret_cast<uint32_t*>(row));
    } else {  // floating point: byte differences across the row, then byte planes most significant first
      for (int64_t i = stride; i < n * bytes; ++i) row[i] = uint8_t(row[i] + row[i - stride]);
      std::vector<uint8_t> tmp(row, row + n * bytes);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t b = 0; b < bytes; ++b) {
          const int64_t host = std::endian::native == std::endian::little ? bytes - 1 - b : b;
          row[i * bytes + host] = tmp[size_t(b * n + i)];
        }
    }
  }
}

double sample(const Layout& l, const uint8_t* row, int64_t i) {
  if (l.bits == 1) return double((row[i / 8] >> (7 - i % 8)) & 1);
  const uint8_t* p = row + i * (l.bits / 8);
  switch (l.bits) {
    case 8: return l.format == kSigned ? double(int8_t(*p)) : double(*p);
    case 16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return l.format == kSigned ? double(int16_t(v)) : double(v);
    }
    case 32: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      if (l.format == kFloat) return double(std::bit_cast<float>(v));
      return l.format == kSigned ? double(int32_t(v)) : double(v);
    }
    default: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return std::bit_cast<double>(v);
    }
  }
}

void swap_to_host(const Layout& l, const TiffFile& f, std::vector<uint8_t>& chunk) {
  const int bytes = l.bits / 8;
  if (bytes <= 1 || f.big_endian() == (std::endian::native == std::endian::big)) return;
  for (size_t i = 0; i + size_t(bytes) <= chunk.size(); i += size_t(bytes)) std::reverse(&chunk[i], &chunk[i] + bytes);
}

TiffInfo info_of(const Layout& l) {
  TiffInfo info{l.width, l.height, l.spp, l.photometric == 2 ? 3 : 1, l.bits, l.pages};
  if (l.photometric == 3) {
    bool grey = true;
    const size_t n = l.colormap.size() / 3;
    for (size_t i = 0; i < n; ++i) grey = grey && l.colormap[i] == l.colormap[n + i] && l.colormap[i] == l.colormap[2 * n + i];
    info.channels = info.colour = grey ? 1 : 3;
  }
  return info;
}

}  // namespace

bool is_tiff_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[4] = {};
  if (!in.read(head, 4)) return false;
  return (std::memcmp(head, "II*\0", 4) == 0 || std::memcmp(head, "MM\0*", 4) == 0 ||
          std::memcmp(head, "II+\0", 4) == 0 || std::memcmp(head, "MM\0+", 4) == 0);
}

TiffInfo tiff_info(const std::string& path) {
  TiffFile f(path);
  return info_of(layout(f));
}

TiffPage read_tiff(const std::string& path, int64_t max_pixels) {
  TiffFile f(path);
  const Layout l = layout(f);
  STRATA_CHECK(l.width <= max_pixels / l.height, path, ": ", l.width, " x ", l.height, " = ", l.width * l.height,
               " pixels is over the limit of ", max_pixels, " pixels per image (a decompression bomb?); raise it ",
               "with STRATA_MAX_IMAGE_PIXELS=N if the image is genuine");
  const int64_t spp = l.spp, plane = l.width * l.height;
  STRATA_CHECK(spp <= 4 || plane * spp <= 4 * max_pixels, path, ": ", l.width, " x ", l.height, " pixels of ", spp,
               " samples each is over the limit of ", 4 * max_pixels, " samples per image");
  STRATA_CHECK(l.chunk_w * l.chunk_h <= 4 * std::max<int64_t>(plane, int64_t(1) << 16), path, ": TIFF ",
               l.tiled ? "tiles" : "strips", " of ", l.chunk_w, " x ", l.chunk_h, " for a ", l.width, " x ", l.height,
               " image");
  TiffPage page;
  page.info = info_of(l);
  std::vector<float> raw(size_t(plane * spp));
  const int64_t rb = row_bytes(l);
  const int64_t per_plane = l.across * l.down;
  std::vector<uint8_t> packed, chunk;
  for (int64_t k = 0; k < int64_t(l.offsets.size()); ++k) {
    const int64_t s = l.planar ? k / per_plane : 0;  // the sample plane of this chunk
    const int64_t index = k % per_plane, cy = index / l.across, cx = index % l.across;
    const int64_t y0 = cy * l.chunk_h, x0 = cx * l.chunk_w;
    // A strip holds its rows only (the last may be shorter); a tile always holds the whole tile.
    const int64_t rows = l.tiled ? l.chunk_h : std::min(l.chunk_h, l.height - y0);
    chunk.assign(size_t(rb * rows), 0);
    STRATA_CHECK(l.counts[size_t(k)] <= f.size(), path, ": a TIFF ", l.tiled ? "tile" : "strip", " of ",
                 l.counts[size_t(k)], " bytes is larger than the file");
    packed.resize(size_t(l.counts[size_t(k)]));
    f.read(l.offsets[size_t(k)], packed.data(), packed.size());
    switch (l.compression) {
      case kNone:
        STRATA_CHECK(packed.size() >= chunk.size(), path, ": an uncompressed TIFF ", l.tiled ? "tile" : "strip",
                     " holds ", packed.size(), " bytes, short of its ", chunk.size());
        std::memcpy(chunk.data(), packed.data(), chunk.size());
        break;
      case kLzw: unlzw(packed, chunk, path); break;
      case kPackBits: unpack_bits(packed, chunk, path); break;
      default: inflate_all(packed, chunk, path); break;
    }
    if (l.predictor != 3) swap_to_host(l, f, chunk);
    if (l.predictor != 1) unpredict(l, chunk, rows);
    const int64_t stride = l.planar ? 1 : spp;
    for (int64_t r = 0; r < rows && y0 + r < l.height; ++r) {
      const uint8_t* row = chunk.data() + r * rb;
      const int64_t xs = std::min(l.chunk_w, l.width - x0);
      for (int64_t x = 0; x < xs; ++x) {
        float* dst = raw.data() + ((y0 + r) * l.width + x0 + x) * spp;
        if (l.planar) {
          dst[s] = float(sample(l, row, x));
        } else {
          for (int64_t c = 0; c < spp; ++c) dst[c] = float(sample(l, row, x * stride + c));
        }
      }
    }
  }

  // Palette: indices to colours (or greys); white-is-zero: inverted; floats and signed: their range.
  if (l.photometric == 3) {
    const size_t n = l.colormap.size() / 3;
    if (page.info.colour == 1) {
      for (float& v : raw) v = float(l.colormap[size_t(v)] / 257);
      page.samples = std::move(raw);
    } else {
      page.indices.resize(size_t(plane));
      page.samples.resize(size_t(plane * 3));
      for (int64_t i = 0; i < plane; ++i) {
        const size_t idx = size_t(raw[size_t(i)]);
        page.indices[size_t(i)] = int32_t(idx);
        for (size_t c = 0; c < 3; ++c) page.samples[size_t(i * 3) + c] = float(l.colormap[c * n + idx]);
      }
      page.white = 65535;
    }
    return page;
  }
  const double full = l.bits == 1 ? 1.0 : std::ldexp(1.0, l.bits) - 1;
  if (l.photometric == 0)
    for (float& v : raw) v = float(full - v);
  if (l.format == kUnsigned) {
    page.white = full;
  } else {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    bool integral = true;
    for (const float v : raw)
      if (std::isfinite(v)) {
        lo = std::min(lo, double(v));
        hi = std::max(hi, double(v));
        integral = integral && v == std::round(v);
      }
    if (!(lo <= hi)) lo = hi = 0;  // no finite value
    const bool unit = lo >= 0 && hi <= 1;
    page.black = unit ? 0 : lo;
    page.white = unit ? 1 : (hi > lo ? hi : lo + 1);
    page.integral = integral;
    for (float& v : raw)
      if (!std::isfinite(v)) {
        v = float(page.black);
        page.integral = false;
      }
  }
  page.samples = std::move(raw);
  return page;
}

}  // namespace strata
