// SEG-Y in and out for strata-faults, through segyio's C library (Debian's
// libsegyio-dev): strata parses no SEG-Y itself.
//
// SegyVolume opens a post-stack file (a 2-D line or a 3-D cube, sorted by
// inline, by crossline or not at all; sample formats IBM / IEEE float, int32,
// int16, int8; big- or little-endian) and lays its traces on an inline x
// crossline grid from the trace headers (bytes 189 / 193 by default). A file
// whose traces all sit at one position is a 2-D line in file order. Several
// traces at one position with different offsets is pre-stack data and an
// error; so is every other malformed file (truncated, no traces, a sample
// count the file does not hold), each naming the file and the problem.
//
// SegyWriter writes a file with the geometry of an opened volume: the input's
// textual (and extended textual) header bytes copied as they are, its binary
// header with the sample format set to IEEE float, and for every trace the
// input's trace header and new samples. Traces are written one at a time, in
// any order, so memory does not grow with the survey.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

struct segy_file_handle;

namespace strata::faults {

// A sample that holds no data: NaN, infinite, or OpendTect's undefined value 1e30 (any |x| >= 5e29; no
// seismic amplitude comes near it). Dead traces and "no data" zones are written so.
constexpr float kUndefinedFrom = 5e29f;  // |x| from here on is undefined
inline bool missing_sample(float x) { return !(x < kUndefinedFrom && x > -kUndefinedFrom); }

// Where the trace headers hold the grid (the config's segy.inline_byte / segy.crossline_byte): the first byte of a
// standard trace header field, as segyio's iline= / xline= take them.
struct SegyOptions {
  int inline_byte = 189;     // trace header byte of the inline number
  int crossline_byte = 193;  // ... of the crossline number
};

class SegyVolume {
 public:
  explicit SegyVolume(const std::string& path, SegyOptions o = {});
  ~SegyVolume();
  SegyVolume(const SegyVolume&) = delete;
  SegyVolume& operator=(const SegyVolume&) = delete;

  const std::string& path() const { return path_; }
  int format() const { return format_; }  // SEG-Y sample format code (1, 2, 3, 5, 8)
  std::string format_name() const;
  bool little_endian() const { return lsb_; }
  int64_t samples() const { return samples_; }
  double interval_ms() const { return dt_us_ / 1000.0; }
  int64_t traces() const { return traces_; }
  std::string sorting() const { return sorting_; }  // inline | crossline | unsorted | line
  bool is_line() const { return line_; }           // a 2-D line (one inline or one crossline, or no geometry)
  const std::vector<int32_t>& inlines() const { return inlines_; }
  const std::vector<int32_t>& crosslines() const { return crosslines_; }
  // The trace at grid cell (inline index, crossline index), or -1 where the survey has none.
  int64_t trace_at(int64_t il, int64_t xl) const { return grid_[size_t(il * int64_t(crosslines_.size()) + xl)]; }
  // The geometry in words; for a file read as a 2-D line whose traces form a grid at other common header bytes
  // (9 / 21, 5 / 21, 17 / 13, 189 / 193), also the bytes to set.
  std::string describe() const;

  // One trace's samples as floats, and its raw 240-byte header (big-endian, as segyio gives it).
  std::vector<float> trace(int64_t i) const;
  std::array<char, 240> trace_header(int64_t i) const;
  std::array<char, 400> binary_header() const { return bin_; }
  // The textual header and any extended textual headers, bytes as in the file.
  const std::string& text_bytes() const { return text_; }

  // A section as samples x traces (row-major: sample s of trace t at s * n + t), with the trace index of each
  // column (-1: no trace there, zeros). direction: "inline" (fixed inline, along crosslines), "crossline", or a
  // diagonal of the grid: "diagonal" (crossline index - inline index fixed, section k at k - (inlines - 1)) or
  // "antidiagonal" (inline index + crossline index = k), both with the inline index increasing along the section.
  // A 2-D line has one section, index 0, in every direction.
  struct Section {
    int64_t samples = 0, width = 0;
    std::vector<float> data;
    std::vector<int64_t> trace_index;
  };
  int64_t sections(const std::string& direction) const;
  Section section(const std::string& direction, int64_t index) const;
  // The trace index of each of a section's columns, without reading them.
  std::vector<int64_t> section_traces(const std::string& direction, int64_t index) const;

 private:
  void open(const SegyOptions& o);
  void fail(const std::string& what) const;
  std::string path_;
  segy_file_handle* fp_ = nullptr;
  int format_ = 1;
  bool lsb_ = false, line_ = false;
  int64_t samples_ = 0, traces_ = 0, trace0_ = 0, trace_bytes_ = 0;
  double dt_us_ = 0;
  std::string sorting_, text_, hint_;
  std::array<char, 400> bin_{};
  std::vector<int32_t> inlines_, crosslines_;
  std::vector<int64_t> grid_;  // inline-major
};

class SegyWriter {
 public:
  // Creates `path` (replacing it) with `like`'s headers and IEEE float samples.
  SegyWriter(const SegyVolume& like, const std::string& path);
  ~SegyWriter();
  SegyWriter(const SegyWriter&) = delete;
  SegyWriter& operator=(const SegyWriter&) = delete;
  // Writes trace i (header copied from the input) with `samples` values.
  void write(int64_t i, const float* samples);
  // Flushes and closes; errors if any trace of the input was not written.
  void close();

 private:
  // While the writer is open, SIGINT / SIGTERM remove its temporary file before the process ends.
  void release_signals();
  bool handlers_ = false;
  const SegyVolume& like_;
  std::string path_, tmp_;
  segy_file_handle* fp_ = nullptr;
  int64_t trace0_ = 0, trace_bytes_ = 0;
  std::vector<bool> written_;
};

// Writes a new 3-D SEG-Y file: an ASCII textual header whose first lines are `description` (SEG-Y rev 2),
// IEEE float samples, big-endian, `inlines` x `crosslines` traces of `samples` samples, inline-major (`data`
// holds each trace's samples together). Inline numbers start at 1 (byte 189), crossline numbers at 1 (193);
// CDP X / Y (181 / 185) are the crossline and inline numbers x 25 m.
void write_segy_cube(const std::string& path, const std::vector<float>& data, int64_t inlines, int64_t crosslines,
                     int64_t samples, double interval_ms, const std::vector<std::string>& description);

// `k` indices spread evenly over 0 .. n - 1, the first and the last among them (one: the middle).
std::vector<int64_t> spread(int64_t n, int64_t k);

// The mean correlation coefficient of pairs of neighbouring traces (each trace's mean removed), the pairs added one
// at a time; a pair with a missing sample or a constant trace is left out. For a signal that carries on from trace
// to trace under noise that differs between them, it estimates the signal's share of the energy, S / (S + N).
class NeighbourCorrelation {
 public:
  void add(const float* a, const float* b, int64_t samples);
  int64_t pairs() const { return pairs_; }
  double mean() const { return pairs_ > 0 ? sum_ / double(pairs_) : 1.0; }  // no pair: nothing says noise

 private:
  double sum_ = 0;
  int64_t pairs_ = 0;
};
// The mean correlation of a volume's traces with the traces `lag` grid steps away: in a cube, up to 32 x 32 grid
// cells spread evenly, each with the trace `lag` inlines on and the one `lag` crosslines on; along a 2-D line, up to
// 1,024 traces spread evenly, each with the trace `lag` on. 1 where no pair has data.
double neighbour_correlation(const SegyVolume& v, int64_t lag = 1);

// Neighbouring traces correlating below this on average share next to nothing: no reflection carries on from trace
// to trace (white noise of ten times the signal's power), which is how a survey read in the wrong sample format or
// byte order looks.
constexpr double kIncoherentBelow = 0.1;
// For a survey whose neighbouring traces correlate `c1` on average: "" where that is kIncoherentBelow or more, else
// a warning that names the sample format and byte order the survey was read in.
std::string incoherence_warning(const SegyVolume& v, double c1);

}  // namespace strata::faults
