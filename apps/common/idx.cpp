#include "apps/common/idx.h"

#include <zlib.h>

#include <cstring>
#include <memory>

#include "engine/error.h"
#include "engine/file_io.h"

namespace strata {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

// Reads up to n bytes; fewer only at the end of the stream. A corrupt stream is an error.
size_t read_some(gzFile f, uint8_t* out, size_t n, const std::string& path) {
  size_t got = 0;
  while (got < n) {
    const unsigned chunk = unsigned(std::min<size_t>(n - got, size_t(1) << 30));
    const int r = gzread(f, out + got, chunk);
    if (r < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      STRATA_FAIL(path, ": cannot be read (", msg ? msg : "zlib error", "); a corrupt or truncated gzip file?");
    }
    if (r == 0) break;
    got += size_t(r);
  }
  return got;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  require_input_file(path, "the IDX file");
  // gzread reads uncompressed files as they are, so one path serves both.
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  STRATA_CHECK(f, path, ": cannot be opened");
  uint8_t magic[4] = {};
  STRATA_CHECK(read_some(f.get(), magic, 4, path) == 4, path, ": too short for an IDX file (no 4-byte header)");
  STRATA_CHECK(magic[0] == 0 && magic[1] == 0 && magic[3] >= 1 && magic[3] <= 8, path,
               ": not an IDX file (the header starts with bytes ", int(magic[0]), " ", int(magic[1]), " ",
               int(magic[2]), " ", int(magic[3]), "; IDX starts 0 0 TYPE NDIMS)");
  STRATA_CHECK(magic[2] == 0x08, path, ": IDX element type ", int(magic[2]),
               " is not supported (only unsigned bytes, type 8, as image and label files use)");
  IdxArray a;
  int64_t count = 1;
  for (int d = 0; d < magic[3]; ++d) {
    uint8_t b[4];
    STRATA_CHECK(read_some(f.get(), b, 4, path) == 4, path, ": truncated in the header (dimension ", d + 1, " of ",
                 int(magic[3]), " missing)");
    const int64_t n = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | int64_t(b[3]);
    STRATA_CHECK(n > 0, path, ": dimension ", d + 1, " is 0");
    STRATA_CHECK(count <= (int64_t(1) << 34) / n, path, ": the header's dimensions describe more than 16 GiB");
    count *= n;
    a.dims.push_back(n);
  }
  a.data.resize(size_t(count));
  const size_t got = read_some(f.get(), a.data.data(), a.data.size(), path);
  STRATA_CHECK(got == a.data.size(), path, ": truncated: the header promises ", count, " bytes of data (",
               [&] {
                 std::string s;
                 for (size_t i = 0; i < a.dims.size(); ++i) s += (i ? " x " : "") + std::to_string(a.dims[i]);
                 return s;
               }(),
               "), the file holds ", got);
  uint8_t extra;
  STRATA_CHECK(read_some(f.get(), &extra, 1, path) == 0, path,
               ": has bytes after the data its header describes; not an IDX file, or a wrong header");
  return a;
}

void write_idx(const std::string& path, const IdxArray& a) {
  STRATA_CHECK(!a.dims.empty() && a.dims.size() <= 8, path, ": IDX needs 1 to 8 dimensions");
  write_file_atomic(path, [&](std::ostream& out) {
    const char magic[4] = {0, 0, 8, char(a.dims.size())};
    out.write(magic, 4);
    for (int64_t n : a.dims) {
      const char b[4] = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
      out.write(b, 4);
    }
    out.write(reinterpret_cast<const char*>(a.data.data()), std::streamsize(a.data.size()));
  });
}

}  // namespace strata
