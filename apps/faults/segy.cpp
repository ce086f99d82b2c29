#include "apps/faults/segy.h"

#include <segyio/segy.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "apps/common/output_plan.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace fs = std::filesystem;

namespace strata::faults {
namespace {

bool known_format(int f) { return f == 1 || f == 2 || f == 3 || f == 5 || f == 8; }

const char* segy_error_name(int e) {
  switch (e) {
    case SEGY_FOPEN_ERROR: return "cannot open";
    case SEGY_FSEEK_ERROR: return "seek failed (file shorter than its headers say)";
    case SEGY_FREAD_ERROR: return "read failed (file shorter than its headers say)";
    case SEGY_FWRITE_ERROR: return "write failed (disk full?)";
    case SEGY_INVALID_FIELD: return "invalid header field";
    case SEGY_INVALID_SORTING: return "traces are not sorted by inline or crossline";
    case SEGY_TRACE_SIZE_MISMATCH: return "the file's size is not its headers plus a whole number of traces";
    case SEGY_INVALID_ARGS: return "invalid arguments";
    default: return "segyio error";
  }
}

}  // namespace

void SegyVolume::fail(const std::string& what) const { STRATA_FAIL(path_, ": ", what); }

SegyVolume::SegyVolume(const std::string& path, SegyOptions o) : path_(path) {
  try {
    open(o);
  } catch (...) {
    if (fp_) segy_close(fp_);  // a throwing constructor runs no destructor
    fp_ = nullptr;
    throw;
  }
}

void SegyVolume::open(const SegyOptions& o) {
  const std::string& path = path_;
  require_input_file(path, "SEG-Y");
  fp_ = segy_open(path.c_str(), "rb");
  if (!fp_) fail("cannot open for reading");
  if (fs::file_size(path) < 3600) fail(str_cat("only ", fs::file_size(path), " bytes: not SEG-Y (the textual and binary headers alone take 3600)"));
  if (segy_binheader(fp_, bin_.data()) != SEGY_OK) fail("cannot read the binary header");
  // Byte order: the sample-format code reads as a known code in one order only.
  format_ = segy_format(bin_.data());
  if (!known_format(format_)) {
    segy_set_format(fp_, SEGY_LSB);
    segy_binheader(fp_, bin_.data());
    const int swapped = segy_format(bin_.data());
    if (!known_format(swapped))
      fail(str_cat("binary header sample format ", format_,
                   " is not one strata reads (1 IBM float, 2 int32, 3 int16, 5 IEEE float, 8 int8) in either byte "
                   "order: not SEG-Y, or a damaged binary header"));
    format_ = swapped;
    lsb_ = true;
  }
  segy_set_format(fp_, format_ | (lsb_ ? SEGY_LSB : SEGY_MSB));
  samples_ = segy_samples(bin_.data()) & 0xffff;  // a 2-byte unsigned count
  if (samples_ == 0) fail("the binary header declares 0 samples per trace");
  trace0_ = segy_trace0(bin_.data());
  if (trace0_ < 3600) fail(str_cat("binary header declares a negative count of extended textual headers"));
  trace_bytes_ = segy_trsize(format_, int(samples_));
  int n = 0;
  const int e = segy_traces(fp_, &n, long(trace0_), int(trace_bytes_));
  if (e == SEGY_TRACE_SIZE_MISMATCH)
    fail(str_cat(fs::file_size(path), " bytes is not ", trace0_, " bytes of headers plus whole traces of ", samples_,
                 " samples (", 240 + trace_bytes_, " bytes each): truncated, or the binary header's sample count or "
                 "format is wrong"));
  if (e != SEGY_OK) fail(str_cat("cannot count traces: ", segy_error_name(e)));
  if (n == 0) fail("holds headers but no traces");
  traces_ = n;
  float dt = 0;
  if (segy_sample_interval(fp_, 0.f, &dt) != SEGY_OK || !(dt > 0)) dt = 4000.f;
  dt_us_ = dt;

  // Raw textual header bytes (EBCDIC or ASCII, as written), extended ones included.
  {
    std::ifstream f(path, std::ios::binary);
    std::string head(size_t(trace0_), '\0');
    f.read(head.data(), std::streamsize(head.size()));
    if (!f) fail("cannot read the textual header");
    text_ = head.substr(0, 3200) + head.substr(3600);
  }

  // Geometry from the trace headers.
  const auto field_of_every_trace = [&](int field, std::vector<int>& out) {
    out.resize(size_t(n));
    return segy_field_forall(fp_, field, 0, n, 1, out.data(), long(trace0_), int(trace_bytes_));
  };
  std::vector<int> il, xl, off;
  for (auto [field, buf, key] : {std::tuple{o.inline_byte, &il, "segy.inline_byte"},
                                 std::tuple{o.crossline_byte, &xl, "segy.crossline_byte"},
                                 std::tuple{int(SEGY_TR_OFFSET), &off, ""}}) {
    const int r = field_of_every_trace(field, *buf);
    if (r == SEGY_INVALID_FIELD || r == SEGY_INVALID_ARGS)
      fail(str_cat("trace header byte ", field, " (", key, ") is not the first byte of a header field; inline / ",
                   "crossline numbers are usually at 189 / 193, or 9 / 21, 5 / 21, 17 / 13"));
    if (r != SEGY_OK) fail(str_cat("cannot read trace header byte ", field, ": ", segy_error_name(r)));
  }
  std::map<std::pair<int, int>, std::vector<int64_t>> at;
  for (int64_t i = 0; i < n; ++i) at[{il[size_t(i)], xl[size_t(i)]}].push_back(i);
  for (const auto& [pos, list] : at) {
    if (list.size() < 2) continue;
    std::set<int> offsets;
    for (int64_t i : list) offsets.insert(off[size_t(i)]);
    if (offsets.size() > 1)
      fail(str_cat("pre-stack data: ", list.size(), " traces with ", offsets.size(), " offsets at inline ", pos.first,
                   " crossline ", pos.second, "; strata-faults needs post-stack (stacked or migrated) data"));
  }
  // Read as a line: if another common pair of header bytes lays the traces on a grid of distinct positions, say so.
  const auto hint_other_bytes = [&] {
    for (auto [a, b] : {std::pair{189, 193}, std::pair{9, 21}, std::pair{5, 21}, std::pair{17, 13}}) {
      if (a == o.inline_byte && b == o.crossline_byte) continue;
      std::vector<int> ia, xb;
      if (field_of_every_trace(a, ia) != SEGY_OK || field_of_every_trace(b, xb) != SEGY_OK) continue;
      std::set<std::pair<int, int>> cells;
      for (int64_t i = 0; i < n; ++i) cells.insert({ia[size_t(i)], xb[size_t(i)]});
      const std::set<int> as(ia.begin(), ia.end()), bs(xb.begin(), xb.end());
      if (cells.size() != size_t(n) || as.size() < 2 || bs.size() < 2 || as.size() * bs.size() > size_t(2 * n))
        continue;
      hint_ = str_cat("; header bytes ", a, " / ", b, " lay its traces on a grid of ", as.size(), " x ", bs.size(),
                      ": for a cube, set segy.inline_byte=", a, " segy.crossline_byte=", b);
      return;
    }
  };
  const auto line_in_file_order = [&] {
    hint_other_bytes();
    line_ = true;
    sorting_ = "line";
    inlines_ = {il[0]};
    for (int64_t i = 0; i < n; ++i) {
      crosslines_.push_back(int32_t(i + 1));
      grid_.push_back(i);
    }
  };
  if (at.size() == 1 && n > 1) {
    // Every trace at one position: a 2-D line without inline / crossline numbers, in file order.
    line_in_file_order();
    return;
  }
  if (at.size() != size_t(n)) {
    for (const auto& [pos, list] : at)
      if (list.size() > 1)
        fail(str_cat(list.size(), " traces share inline ", pos.first, " crossline ", pos.second,
                     " with the same offset (traces ", list[0], " and ", list[1], "): duplicated traces"));
  }
  std::set<int> ils(il.begin(), il.end()), xls(xl.begin(), xl.end());
  if (ils.size() > 1 && xls.size() > 1 && (ils.size() == size_t(n) || xls.size() == size_t(n))) {
    // Every trace has an inline (or a crossline) of its own while both numbers change: a 2-D line that runs
    // diagonally through the survey's numbering, not a cube. Its traces are read in file order.
    line_in_file_order();
    return;
  }
  inlines_.assign(ils.begin(), ils.end());
  crosslines_.assign(xls.begin(), xls.end());
  line_ = inlines_.size() == 1 || crosslines_.size() == 1;
  grid_.assign(inlines_.size() * crosslines_.size(), -1);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = std::lower_bound(inlines_.begin(), inlines_.end(), il[size_t(i)]) - inlines_.begin();
    const int64_t b = std::lower_bound(crosslines_.begin(), crosslines_.end(), xl[size_t(i)]) - crosslines_.begin();
    grid_[size_t(a * int64_t(crosslines_.size()) + b)] = i;
  }
  // Sorting, as the traces lie in the file.
  bool by_il = true, by_xl = true;
  for (int64_t i = 1; i < n; ++i) {
    const auto p = std::pair{il[size_t(i - 1)], xl[size_t(i - 1)]}, q = std::pair{il[size_t(i)], xl[size_t(i)]};
    by_il = by_il && p < q;
    by_xl = by_xl && std::pair{p.second, p.first} < std::pair{q.second, q.first};
  }
  sorting_ = line_ ? "line" : by_il ? "inline" : by_xl ? "crossline" : "unsorted";
}

SegyVolume::~SegyVolume() {
  if (fp_) segy_close(fp_);
}

std::string SegyVolume::format_name() const {
  switch (format_) {
    case 1: return "IBM float";
    case 2: return "int32";
    case 3: return "int16";
    case 5: return "IEEE float";
    case 8: return "int8";
  }
  return "?";
}

std::string SegyVolume::describe() const {
  const std::string shape = line_ ? str_cat("2-D line of ", traces_, " traces")
                                  : str_cat("3-D cube ", inlines_.size(), " inlines x ", crosslines_.size(),
                                            " crosslines (", traces_, " traces, ", sorting_, " sorted)");
  return str_cat(path_, ": ", shape, ", ", samples_, " samples at ", interval_ms(), " ms, ", format_name(),
                 lsb_ ? ", little-endian" : ", big-endian", hint_);
}

std::vector<float> SegyVolume::trace(int64_t i) const {
  STRATA_CHECK(i >= 0 && i < traces_, path_, ": trace ", i, " of ", traces_);
  std::vector<char> raw(size_t(std::max<int64_t>(trace_bytes_, samples_ * 4)));
  const int e = segy_readtrace(fp_, int(i), raw.data(), long(trace0_), int(trace_bytes_));
  if (e != SEGY_OK) fail(str_cat("cannot read trace ", i, ": ", segy_error_name(e)));
  segy_to_native(format_, samples_, raw.data());
  std::vector<float> out(static_cast<size_t>(samples_));
  for (int64_t s = 0; s < samples_; ++s) {
    switch (format_) {
      case 1:
      case 5: std::memcpy(&out[size_t(s)], raw.data() + 4 * s, 4); break;
      case 2: {
        int32_t v;
        std::memcpy(&v, raw.data() + 4 * s, 4);
        out[size_t(s)] = float(v);
        break;
      }
      case 3: {
        int16_t v;
        std::memcpy(&v, raw.data() + 2 * s, 2);
        out[size_t(s)] = float(v);
        break;
      }
      case 8: out[size_t(s)] = float(static_cast<signed char>(raw[size_t(s)])); break;
    }
  }
  return out;
}

std::array<char, 240> SegyVolume::trace_header(int64_t i) const {
  std::array<char, 240> h{};
  const int e = segy_traceheader(fp_, int(i), h.data(), long(trace0_), int(trace_bytes_));
  if (e != SEGY_OK) fail(str_cat("cannot read the header of trace ", i, ": ", segy_error_name(e)));
  return h;
}

int64_t SegyVolume::sections(const std::string& direction) const {
  const bool diagonal = direction == "diagonal" || direction == "antidiagonal";
  STRATA_CHECK(direction == "inline" || direction == "crossline" || diagonal, "section direction '", direction,
               "' is not inline, crossline, diagonal or antidiagonal");
  if (line_) return 1;
  if (diagonal) return int64_t(inlines_.size() + crosslines_.size()) - 1;
  return int64_t(direction == "inline" ? inlines_.size() : crosslines_.size());
}

std::vector<int64_t> SegyVolume::section_traces(const std::string& direction, int64_t index) const {
  STRATA_CHECK(index >= 0 && index < sections(direction), path_, ": ", direction, " section ", index, " of ",
               sections(direction));
  std::vector<int64_t> traces;
  const int64_t nil = int64_t(inlines_.size()), nxl = int64_t(crosslines_.size());
  if (line_) {
    for (int64_t a = 0; a < nil; ++a)
      for (int64_t b = 0; b < nxl; ++b) traces.push_back(trace_at(a, b));
  } else if (direction == "inline") {
    for (int64_t b = 0; b < nxl; ++b) traces.push_back(trace_at(index, b));
  } else if (direction == "crossline") {
    for (int64_t a = 0; a < nil; ++a) traces.push_back(trace_at(a, index));
  } else {
    // Cells (a, b) with b - a = index - (nil - 1), or a + b = index.
    const bool main = direction == "diagonal";
    for (int64_t a = 0; a < nil; ++a) {
      const int64_t b = main ? a + index - (nil - 1) : index - a;
      if (b >= 0 && b < nxl) traces.push_back(trace_at(a, b));
    }
  }
  return traces;
}

SegyVolume::Section SegyVolume::section(const std::string& direction, int64_t index) const {
  Section s;
  s.samples = samples_;
  s.trace_index = section_traces(direction, index);
  s.width = int64_t(s.trace_index.size());
  s.data.assign(size_t(s.samples * s.width), 0.f);
  for (int64_t t = 0; t < s.width; ++t) {
    if (s.trace_index[size_t(t)] < 0) continue;
    const std::vector<float> tr = trace(s.trace_index[size_t(t)]);
    for (int64_t k = 0; k < samples_; ++k) s.data[size_t(k * s.width + t)] = tr[size_t(k)];
  }
  return s;
}

// ---------------------------------------------------------------------------

namespace {

// The temporary file of the SegyWriter alive now: Ctrl-C or SIGTERM removes it before the process ends
// (unlink is async-signal-safe), so an interrupted prediction leaves no OUT.sgy.tmp behind.
char interrupted_tmp[4096];
void (*previous_int)(int) = SIG_DFL;
void (*previous_term)(int) = SIG_DFL;

extern "C" void remove_tmp_and_end(int sig) {
  if (interrupted_tmp[0]) ::unlink(interrupted_tmp);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

SegyWriter::SegyWriter(const SegyVolume& like, const std::string& path)
    : like_(like), path_(output_target(path)), tmp_(path_ + ".tmp") {
  refuse_output_onto_input(path_, like.path());  // symlinks and hard links resolved, as for every app output
  // The handlers come first: from the moment the temporary file exists, Ctrl-C or SIGTERM removes it.
  if (tmp_.size() < sizeof interrupted_tmp) {
    std::memcpy(interrupted_tmp, tmp_.c_str(), tmp_.size() + 1);
    previous_int = std::signal(SIGINT, remove_tmp_and_end);
    previous_term = std::signal(SIGTERM, remove_tmp_and_end);
    handlers_ = true;
  }
  std::array<char, 400> bin = like.binary_header();
  segy_set_bfield(bin.data(), SEGY_BIN_FORMAT, SEGY_IEEE_FLOAT_4_BYTE);
  const std::string& text = like.text_bytes();
  try {
    {
      // Textual header bytes as in the input, the binary header (big-endian, as segyio returns it), extended
      // textual headers.
      std::ofstream f(tmp_, std::ios::binary | std::ios::trunc);
      STRATA_CHECK(f, tmp_, ": cannot create");
      f.write(text.data(), 3200);
      f.write(bin.data(), 400);
      f.write(text.data() + 3200, std::streamsize(text.size() - 3200));
      STRATA_CHECK(f, tmp_, ": cannot write the headers");
    }
    fp_ = segy_open(tmp_.c_str(), "r+b");
    STRATA_CHECK(fp_, tmp_, ": cannot open for writing");
  } catch (...) {  // no destructor runs for a writer that was never made: its file and handlers go here
    std::error_code ec;
    fs::remove(tmp_, ec);
    release_signals();
    throw;
  }
  segy_set_format(fp_, int(SEGY_IEEE_FLOAT_4_BYTE) | int(SEGY_MSB));
  trace0_ = segy_trace0(bin.data());
  trace_bytes_ = segy_trsize(SEGY_IEEE_FLOAT_4_BYTE, int(like.samples()));
  written_.assign(size_t(like.traces()), false);
}

SegyWriter::~SegyWriter() {
  if (fp_) {
    segy_close(fp_);
    std::error_code ec;
    fs::remove(tmp_, ec);  // not closed: the output is incomplete
  }
  release_signals();
}

void SegyWriter::release_signals() {
  if (!handlers_) return;
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  interrupted_tmp[0] = '\0';
  handlers_ = false;
}

void SegyWriter::write(int64_t i, const float* samples) {
  STRATA_CHECK(fp_, path_, ": writer already closed");
  STRATA_CHECK(i >= 0 && i < like_.traces(), path_, ": trace ", i, " of ", like_.traces());
  const std::array<char, 240> h = like_.trace_header(i);
  int e = segy_write_traceheader(fp_, int(i), h.data(), long(trace0_), int(trace_bytes_));
  STRATA_CHECK(e == SEGY_OK, tmp_, ": cannot write the header of trace ", i, ": ", segy_error_name(e));
  std::vector<float> buf(samples, samples + like_.samples());
  segy_from_native(SEGY_IEEE_FLOAT_4_BYTE, like_.samples(), buf.data());
  e = segy_writetrace(fp_, int(i), buf.data(), long(trace0_), int(trace_bytes_));
  STRATA_CHECK(e == SEGY_OK, tmp_, ": cannot write trace ", i, ": ", segy_error_name(e));
  written_[size_t(i)] = true;
}

void SegyWriter::close() {
  const int64_t missing = std::count(written_.begin(), written_.end(), false);
  STRATA_CHECK(missing == 0, path_, ": ", missing, " of ", like_.traces(), " traces were not written");
  const int e = segy_close(fp_);
  fp_ = nullptr;
  STRATA_CHECK(e == SEGY_OK, tmp_, ": cannot close: ", segy_error_name(e));
  fs::rename(tmp_, path_);
  release_signals();
}

void write_segy_cube(const std::string& path, const std::vector<float>& data, int64_t inlines, int64_t crosslines,
                     int64_t samples, double interval_ms, const std::vector<std::string>& description) {
  STRATA_CHECK(inlines >= 1 && crosslines >= 1 && samples >= 1 && samples <= 65535, path,
               ": a cube needs traces and 1 to 65535 samples per trace");
  STRATA_CHECK(data.size() == size_t(inlines * crosslines * samples), path, ": ", data.size(), " samples for ",
               inlines, " x ", crosslines, " traces of ", samples);
  const auto put = [](char* at, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) at[i] = char((v >> (8 * (bytes - 1 - i))) & 0xff);
  };
  const uint32_t dt_us = uint32_t(std::lround(interval_ms * 1000));
  STRATA_CHECK(dt_us >= 1 && dt_us <= 65535, path, ": sample interval ", interval_ms, " ms does not fit SEG-Y");
  // Textual header: 40 lines of 80 characters, "C 1 ..." to "C40 END TEXTUAL HEADER".
  std::string text(3200, ' ');
  for (size_t i = 0; i < 40; ++i) {
    std::string line = str_cat(i + 1 < 10 ? "C " : "C", i + 1, " ");
    if (i < description.size()) line += description[i];
    if (i == 38) line += "SEG-Y REV2.0";
    if (i == 39) line += "END TEXTUAL HEADER";
    text.replace(i * 80, std::min<size_t>(line.size(), 80), line.substr(0, 80));
  }
  std::array<char, 400> bin{};
  put(&bin[3213 - 3201], uint32_t(crosslines), 2);  // traces per ensemble
  put(&bin[3217 - 3201], dt_us, 2);
  put(&bin[3221 - 3201], uint32_t(samples), 2);
  put(&bin[3225 - 3201], 5, 2);                    // IEEE float
  put(&bin[3229 - 3201], 1, 2);                    // CDP ensembles
  put(&bin[3255 - 3201], 1, 2);                    // metres
  put(&bin[3501 - 3201], 0x0200, 2);               // revision 2.0
  put(&bin[3503 - 3201], 1, 2);                    // fixed trace length
  const std::string target = output_target(path), tmp = target + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    STRATA_CHECK(f, tmp, ": cannot create");
    f.write(text.data(), 3200);
    f.write(bin.data(), 400);
    std::vector<char> trace(size_t(240 + 4 * samples));
    for (int64_t il = 0; il < inlines; ++il)
      for (int64_t xl = 0; xl < crosslines; ++xl) {
        std::fill(trace.begin(), trace.end(), char(0));
        char* h = trace.data();
        const uint32_t seq = uint32_t(il * crosslines + xl + 1);
        put(h + 0, seq, 4);                       // 1: trace sequence number in the line
        put(h + 4, seq, 4);                       // 5: ... in the file
        put(h + 20, seq, 4);                      // 21: CDP number
        put(h + 28, 1, 2);                        // 29: trace identification (seismic data)
        put(h + 70, uint32_t(-1) & 0xffff, 2);    // 71: coordinate scalar (-1: as recorded; whole metres)
        put(h + 114, uint32_t(samples), 2);       // 115: samples
        put(h + 116, dt_us, 2);                   // 117: interval
        put(h + 180, uint32_t(25 * (xl + 1)), 4);  // 181: CDP X
        put(h + 184, uint32_t(25 * (il + 1)), 4);  // 185: CDP Y
        put(h + 188, uint32_t(il + 1), 4);         // 189: inline
        put(h + 192, uint32_t(xl + 1), 4);         // 193: crossline
        const float* src = data.data() + (il * crosslines + xl) * samples;
        for (int64_t k = 0; k < samples; ++k) {
          uint32_t u;
          std::memcpy(&u, &src[k], 4);
          put(h + 240 + 4 * k, u, 4);
        }
        f.write(trace.data(), std::streamsize(trace.size()));
      }
    STRATA_CHECK(f.flush(), tmp, ": cannot write");
  }
  fs::rename(tmp, target);
}

std::vector<int64_t> spread(int64_t n, int64_t k) {
  std::vector<int64_t> out;
  for (int64_t j = 0; j < k; ++j) out.push_back(k == 1 ? n / 2 : j * (n - 1) / (k - 1));
  return out;
}

void NeighbourCorrelation::add(const float* a, const float* b, int64_t samples) {
  double ma = 0, mb = 0;
  for (int64_t z = 0; z < samples; ++z) {
    if (missing_sample(a[z]) || missing_sample(b[z])) return;
    ma += a[z], mb += b[z];
  }
  ma /= double(samples), mb /= double(samples);
  double ab = 0, aa = 0, bb = 0;
  for (int64_t z = 0; z < samples; ++z) {
    const double x = a[z] - ma, y = b[z] - mb;
    ab += x * y, aa += x * x, bb += y * y;
  }
  if (aa <= 0 || bb <= 0) return;
  sum_ += ab / std::sqrt(aa * bb);
  ++pairs_;
}

double neighbour_correlation(const SegyVolume& v, int64_t lag) {
  STRATA_CHECK(lag >= 1, "neighbour_correlation: a lag of ", lag, " grid steps; want 1 or more");
  NeighbourCorrelation c;
  // Up to `most` indices spread evenly over 0 .. n - 1 - lag, each with one `lag` on.
  const auto with_next = [lag](int64_t n, int64_t most) {
    return spread(n - lag, std::clamp<int64_t>(n - lag, 0, most));
  };
  if (v.is_line()) {
    for (const int64_t t : with_next(v.traces(), 1024)) c.add(v.trace(t).data(), v.trace(t + lag).data(), v.samples());
    return c.mean();
  }
  for (const int64_t a : with_next(int64_t(v.inlines().size()), 32))
    for (const int64_t b : with_next(int64_t(v.crosslines().size()), 32)) {
      const int64_t t = v.trace_at(a, b);
      if (t < 0) continue;
      const std::vector<float> here = v.trace(t);
      for (const int64_t u : {v.trace_at(a + lag, b), v.trace_at(a, b + lag)})
        if (u >= 0) c.add(here.data(), v.trace(u).data(), v.samples());
    }
  return c.mean();
}

std::string incoherence_warning(const SegyVolume& v, double c1) {
  if (!(c1 < kIncoherentBelow)) return "";
  char mean[32];
  std::snprintf(mean, sizeof mean, "%.3f", c1);
  return str_cat("warning: ", v.path(), ": neighbouring traces hardly correlate (", mean,
                 " on average): no reflection carries on from trace to trace, as in noise. Unless the survey is that "
                 "noisy, check how it is read: its samples as ", v.format_name(),
                 " (binary header bytes 3225-3226, format ", v.format(), "), ",
                 v.little_endian() ? "little-endian" : "big-endian", " byte order");
}

}  // namespace strata::faults
