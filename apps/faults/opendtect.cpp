#include "apps/faults/opendtect.h"

#include <nlohmann/json.hpp>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "apps/faults/synth.h"
#include "engine/error.h"

namespace strata::faults {
namespace {

// Bounds on what the stream may ask for: a step-out window of up to 1024 traces each way, 64 inputs, a
// million samples a trace, 2^28 values (1 GiB) in one window.
constexpr int64_t kMaxWindow = 2049, kMaxInputs = 64, kMaxSamples = 1000000, kMaxBlockValues = int64_t(1) << 28;
// With SeisInfoLayout::detect: how long the stream must stay quiet after the shorter reading's first message
// before that reading is taken (the plugin writes a message whole, then waits for the answer).
constexpr double kQuietSeconds = 1.0;

struct SeisInfo {
  int32_t nrtraces, nrinput, nroutput, nrinl, nrcrl;
  float zstep, inldist, crldist, zfactor, dipfactor;
  int32_t nrz;  // 44-byte layout only
};
struct TrcInfo {
  int32_t nrsamp, z0, inl, crl;
};
static_assert(sizeof(TrcInfo) == 16);
constexpr size_t kSeisInfo40 = 40, kSeisInfo44 = 44;

// Buffered reads from a file descriptor, each bounded in time once it has begun.
class StreamReader {
 public:
  explicit StreamReader(int fd) : fd_(fd) {}

  // Buffers until `n` bytes are held. Waits without a limit for the first new byte when `wait_for_start` (the
  // plugin may idle between blocks), then at most `silence` seconds between bytes. Returns false at the end of
  // input or when the silence runs out; `ended` says which.
  bool fill(size_t n, bool wait_for_start, double silence, bool* ended) {
    *ended = false;
    const size_t start = held();
    while (held() < n) {
      const int timeout_ms = wait_for_start && held() == start ? -1 : int(silence * 1000);
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      STRATA_CHECK(r >= 0, "opendtect: cannot wait for stdin: ", std::strerror(errno));
      if (r == 0) return false;
      char chunk[65536];
      const ssize_t got = ::read(fd_, chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      STRATA_CHECK(got >= 0, "opendtect: cannot read stdin: ", std::strerror(errno));
      if (got == 0) {
        *ended = true;
        return false;
      }
      buf_.insert(buf_.end(), chunk, chunk + got);
    }
    return true;
  }
  size_t held() const { return buf_.size() - pos_; }
  const std::vector<char>& peek() {
    buf_.erase(buf_.begin(), buf_.begin() + std::ptrdiff_t(pos_));
    pos_ = 0;
    return buf_;
  }
  void take(void* dst, size_t n) {
    std::memcpy(dst, buf_.data() + pos_, n);
    pos_ += n;
  }

  // Reads a block of `n` bytes. Returns false at a clean end of input before its first byte when `may_end`;
  // any other shortfall is an error naming the block.
  bool read(void* dst, size_t n, const std::string& what, bool may_end) {
    bool ended = false;
    if (!fill(n, may_end, kBlockTimeoutSeconds, &ended)) {
      if (ended && held() == 0 && may_end) return false;
      STRATA_FAIL("opendtect: ", ended ? "input ended" : "input stopped arriving", " inside ", what, " (", held(),
                  " of ", n, " bytes", ended ? "" : str_cat(" after ", kBlockTimeoutSeconds, " s"), ")");
    }
    take(dst, n);
    return true;
  }

 private:
  int fd_;
  std::vector<char> buf_;
  size_t pos_ = 0;
};

// What the parameters ask for: the view(s) and the Z margin's width (nrsamp is at least width + 1).
struct Request {
  int64_t selection = 2;
  int64_t margin_width = 0;
};

Request parse_request(const std::string& quoted_params) {
  nlohmann::json params;
  try {
    params = nlohmann::json::parse(url_unquote(quoted_params));
  } catch (const nlohmann::json::exception& e) {
    STRATA_FAIL("opendtect: the -c parameter string is not JSON (", e.what(), ")");
  }
  Request r;
  if (!params.is_object()) return r;
  if (params.contains("Select") && params["Select"].is_object() && params["Select"].contains("Selection")) {
    const nlohmann::json& v = params["Select"]["Selection"];
    STRATA_CHECK(v.is_number_integer(), "opendtect: Select.Selection is ", v.dump(), " (", v.type_name(),
                 "); want the number 0 (inline), 1 (crossline), 2 (both) or 3 (both and the diagonals)");
    r.selection = v.get<int64_t>();
  }
  STRATA_CHECK(r.selection >= 0 && r.selection <= 3, "opendtect: Select.Selection ", r.selection,
               " is not 0, 1, 2 or 3");
  if (params.contains("ZSampMargin") && params["ZSampMargin"].is_object() &&
      params["ZSampMargin"].contains("Value")) {
    const nlohmann::json& v = params["ZSampMargin"]["Value"];
    STRATA_CHECK(v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer() &&
                     v[0].get<int64_t>() <= v[1].get<int64_t>() && v[1].get<int64_t>() - v[0].get<int64_t>() <= kMaxSamples,
                 "opendtect: ZSampMargin.Value is ", v.dump(), "; want [start, stop] with start <= stop");
    r.margin_width = v[1].get<int64_t>() - v[0].get<int64_t>();
  }
  return r;
}

void check_seisinfo(const SeisInfo& si, bool has_nrz) {
  const auto bounded = [](const char* field, int64_t v, int64_t hi) {
    STRATA_CHECK(v >= 1 && v <= hi, "opendtect: SeisInfo ", field, " is ", v, "; want 1 to ", hi);
  };
  bounded("nrinl", si.nrinl, kMaxWindow);
  bounded("nrcrl", si.nrcrl, kMaxWindow);
  bounded("nrinput", si.nrinput, kMaxInputs);
  if (has_nrz) bounded("nrZ", si.nrz, kMaxSamples);
  STRATA_CHECK(int64_t(si.nrtraces) == int64_t(si.nrinl) * si.nrcrl && si.nroutput == 1, "opendtect: SeisInfo says ",
               si.nrtraces, " traces of ", si.nrinl, " x ", si.nrcrl, ", ", si.nrinput, " inputs and ", si.nroutput,
               " outputs; want nrinl x nrcrl traces and one output");
}

// The samples of one trace's message, checked against what SeisInfo and the parameters announced.
int64_t trace_values(const SeisInfo& si, const TrcInfo& ti, const Request& rq, int64_t trace) {
  STRATA_CHECK(ti.nrsamp >= rq.margin_width + 1 && ti.nrsamp <= kMaxSamples, "opendtect: TrcInfo nrsamp of trace ",
               trace, " is ", ti.nrsamp, "; the Z margin asked for (", rq.margin_width, " samples) needs ",
               rq.margin_width + 1, " to ", kMaxSamples, " (a SeisInfo of another size than the plugin's? see "
               "--seisinfo)");
  const int64_t values = int64_t(si.nrinput) * si.nrinl * si.nrcrl * ti.nrsamp;
  STRATA_CHECK(values <= kMaxBlockValues, "opendtect: trace ", trace, ": ", si.nrinput, " inputs x ", si.nrinl, " x ",
               si.nrcrl, " traces x ", ti.nrsamp, " samples is over the ", kMaxBlockValues, " values (",
               kMaxBlockValues * 4 >> 20, " MiB) a window may hold");
  return values;
}

// The first message read both ways (SeisInfo of 40 or 44 bytes, then TrcInfo and samples): a reading is possible
// when its blocks pass the checks, and the plugin's message is exactly as long as the true one announces. The
// plugin writes the message whole and then waits for the answer, so the stream falls quiet at its end: bytes
// beyond the shorter reading's length mean the longer one.
SeisInfoLayout detect_seisinfo_layout(StreamReader& in, const Request& rq) {
  // The plugin may pause where a block ends: after the 40 bytes of either layout, and after the 44th byte. Inside
  // a block the stream must keep coming. The ten fields both layouts share are checked as soon as they arrive.
  bool ended = false;
  const auto stopped = [&](const char* where) {
    STRATA_FAIL("opendtect: ", ended ? "input ended" : "input stopped arriving", " inside ", where, " (", in.held(),
                " bytes)");
  };
  if (!in.fill(kSeisInfo40, true, kBlockTimeoutSeconds, &ended)) {
    if (ended && in.held() == 0) return SeisInfoLayout::bytes44;  // nothing at all: serve ends at once
    stopped("the SeisInfo block");
  }
  {
    SeisInfo si{};
    std::memcpy(&si, in.peek().data(), kSeisInfo40);
    check_seisinfo(si, false);
  }
  for (const auto& [upto, pause_before] : {std::pair{kSeisInfo40 + 1, true}, std::pair{kSeisInfo44, false},
                                           std::pair{kSeisInfo44 + 1, true},
                                           std::pair{kSeisInfo44 + sizeof(TrcInfo), false}})
    if (!in.fill(upto, pause_before, kBlockTimeoutSeconds, &ended)) {
      // A stream that ends here holds SeisInfo alone (no trace asked for) or a 40-byte one's first TrcInfo.
      if (ended && (in.held() == kSeisInfo40 || in.held() == kSeisInfo44))
        return in.held() == kSeisInfo40 ? SeisInfoLayout::bytes40 : SeisInfoLayout::bytes44;
      if (ended && in.held() >= kSeisInfo40 + sizeof(TrcInfo)) return SeisInfoLayout::bytes40;
      stopped("the SeisInfo and first TrcInfo blocks");
    }
  const std::vector<char>& b = in.peek();
  struct Reading {
    SeisInfoLayout layout;
    size_t seis_bytes;
    bool possible = false;
    size_t length = 0;  // of the whole first message
    std::string why;
  };
  Reading readings[2] = {{SeisInfoLayout::bytes40, kSeisInfo40, false, 0, ""},
                         {SeisInfoLayout::bytes44, kSeisInfo44, false, 0, ""}};
  for (Reading& r : readings) {
    SeisInfo si{};
    std::memcpy(&si, b.data(), r.seis_bytes);
    TrcInfo ti{};
    std::memcpy(&ti, b.data() + r.seis_bytes, sizeof ti);
    try {
      check_seisinfo(si, r.seis_bytes == kSeisInfo44);
      r.length = r.seis_bytes + sizeof ti + 4 * size_t(trace_values(si, ti, rq, 0));
      r.possible = true;
    } catch (const Error& e) {
      r.why = e.what();
    }
  }
  const Reading &r40 = readings[0], &r44 = readings[1];
  STRATA_CHECK(r40.possible || r44.possible, "opendtect: the stream fits neither SeisInfo layout: read as 44 bytes, ",
               r44.why, "; read as 40 bytes, ", r40.why);
  if (!r40.possible) return SeisInfoLayout::bytes44;
  if (!r44.possible) return SeisInfoLayout::bytes40;
  if (r40.length == r44.length) return SeisInfoLayout::bytes44;  // no way to tell: the current plugin's
  const Reading &shorter = r40.length < r44.length ? r40 : r44, &longer = r40.length < r44.length ? r44 : r40;
  if (!in.fill(shorter.length, false, kBlockTimeoutSeconds, &ended))
    STRATA_FAIL("opendtect: ", ended ? "input ended" : "input stopped arriving", " inside the first trace (",
                in.held(), " bytes; a SeisInfo of 40 bytes announces ", r40.length, ", of 44 bytes ", r44.length, ")");
  if (!in.fill(shorter.length + 1, false, kQuietSeconds, &ended)) return shorter.layout;
  return longer.layout;
}

// Predictions of sections kept so that the traces along a line share them. The attribute is asked for one trace
// at a time, each with its whole window, and the windows of neighbouring traces hold mostly the same traces: the
// inline section through trace k + 1 is the one through trace k moved by one trace. A later trace whose own line
// of traces is found in a kept section, trace for trace where the two overlap (the same samples, compared by
// hash), takes its column there when the column has at least `context` traces of the section on each side, or
// on a side where the trace's own line has fewer, at least as many as that. Any other trace is predicted from its
// own window. Sections are kept oldest-out within a memory budget.
class SectionCache {
 public:
  SectionCache(int64_t context, size_t budget_bytes) : context_(context), budget_(budget_bytes) {}

  // Hash of a trace's samples (ns of them, at z0), per view, so views never answer each other.
  static uint64_t trace_hash(int view, int32_t z0, const float* samples, int64_t ns) {
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t(view) << 56) ^ uint64_t(uint32_t(z0)) ^ (uint64_t(ns) << 32);
    for (int64_t z = 0; z < ns; ++z) {
      uint32_t bits;
      std::memcpy(&bits, samples + z, 4);
      h = (h ^ bits) * 0x100000001b3ULL;
      h ^= h >> 29;
    }
    return h;
  }

  // The kept probabilities (ns of them) of the trace at column `centre` of the line whose traces hash to `line`,
  // or nullptr. Of several kept sections that hold it, the one in which it has the most traces on its nearer side.
  const float* find(const std::vector<uint64_t>& line, int64_t centre, int64_t ns) const {
    const int64_t width = int64_t(line.size()), need_before = std::min(context_, centre),
                  need_after = std::min(context_, width - 1 - centre);
    const Kept* best = nullptr;
    int64_t best_column = 0, best_depth = -1;
    const auto [first, last] = index_.equal_range(line[size_t(centre)]);
    for (auto it = first; it != last; ++it) {
      const Kept& k = kept_[size_t(it->second.first - kept_.front().id)];
      const int64_t j = it->second.second, shift = j - centre, kept_width = int64_t(k.line.size());
      if (k.ns != ns || j < need_before || kept_width - 1 - j < need_after) continue;
      bool same = true;
      for (int64_t t = std::max<int64_t>(0, -shift); same && t < std::min(width, kept_width - shift); ++t)
        same = line[size_t(t)] == k.line[size_t(t + shift)];
      const int64_t depth = std::min(j, kept_width - 1 - j);
      if (same && (depth > best_depth || (depth == best_depth && k.id > best->id)))
        best = &k, best_column = j, best_depth = depth;
    }
    return best ? best->prob.data() + best_column * ns : nullptr;
  }

  // Keeps a just predicted section (probabilities ns x width, row-major) of the line whose traces hash to `line`.
  void keep(std::vector<uint64_t> line, int64_t ns, const std::vector<float>& prob) {
    const int64_t width = int64_t(line.size());
    Kept k;
    k.id = next_id_++;
    k.ns = ns;
    k.prob.resize(size_t(width * ns));
    for (int64_t j = 0; j < width; ++j)
      for (int64_t z = 0; z < ns; ++z) k.prob[size_t(j * ns + z)] = prob[size_t(z * width + j)];
    for (int64_t j = 0; j < width; ++j) index_.emplace(line[size_t(j)], std::pair{k.id, j});
    k.line = std::move(line);
    bytes_ += k.bytes();
    kept_.push_back(std::move(k));
    while (bytes_ > budget_ && kept_.size() > 1) forget_oldest();
  }

 private:
  struct Kept {
    uint64_t id = 0;
    int64_t ns = 0;
    std::vector<uint64_t> line;  // every trace's hash
    std::vector<float> prob;     // trace-major: j * ns + z
    size_t bytes() const { return prob.size() * 4 + line.size() * 56; }  // with the index's entries
  };
  void forget_oldest() {
    const Kept& k = kept_.front();
    for (int64_t j = 0; j < int64_t(k.line.size()); ++j) {
      auto [first, last] = index_.equal_range(k.line[size_t(j)]);
      for (auto it = first; it != last; ++it)
        if (it->second.first == k.id && it->second.second == j) {
          index_.erase(it);
          break;
        }
    }
    bytes_ -= k.bytes();
    kept_.pop_front();
  }

  int64_t context_;
  size_t budget_, bytes_ = 0;
  uint64_t next_id_ = 0;
  std::deque<Kept> kept_;  // ids consecutive, oldest first
  std::unordered_multimap<uint64_t, std::pair<uint64_t, int64_t>> index_;  // trace hash -> (id, column)
};

// The inline view (traces along the crosslines through the centre inline) and / or the crossline view, and the
// two diagonals of the window through the centre trace.
struct Views {
  bool inline_view, crossline_view, diagonals = false;
};
Views views_of(int64_t selection, int64_t ni, int64_t nc) {
  if (selection == 0) return {true, false};
  if (selection == 1) return {false, true};
  return {nc > 1 || ni == 1, ni > 1, selection == 3 && ni > 1 && nc > 1};
}

}  // namespace

SeisInfoLayout parse_seisinfo_layout(const std::string& value) {
  if (value == "auto") return SeisInfoLayout::detect;
  if (value == "40") return SeisInfoLayout::bytes40;
  if (value == "44") return SeisInfoLayout::bytes44;
  STRATA_FAIL("--seisinfo '", value, "': want auto (default), 44 (OpendTect plugin 7.0.9 and later) or 40 (7.0.6 and ",
              "older)");
}

const char* seisinfo_layout_name(SeisInfoLayout layout) {
  return layout == SeisInfoLayout::detect ? "auto" : layout == SeisInfoLayout::bytes40 ? "40" : "44";
}

std::string url_quote(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c)) {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string url_unquote(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 6, "%5C%5C") == 0 || s.compare(i, 6, "%5c%5c") == 0) {
      out += '\\';
      i += 5;
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string opendtect_parameters(int64_t step_out, int64_t z_margin, const std::string& help_url) {
  nlohmann::ordered_json j;
  j["Input"] = "Seismic";
  j["Output"] = {"Fault probability"};
  j["ZSampMargin"] = {{"Value", {-z_margin, z_margin}}, {"Symmetric", true}};
  j["StepOut"] = {{"Value", {step_out, step_out}}};
  j["Select"] = {{"Name", "Sections"},
                 {"Values", {"inline", "crossline", "inline and crossline (either)",
                             "inline, crossline and diagonals (twice the time)"}},
                 {"Selection", 2}};
  j["Parallel"] = false;
  if (!help_url.empty()) j["Help"] = help_url;
  return j.dump();
}

ServeCounts opendtect_serve(Module& model, const TileOptions& tiles, const PeriodMatch& period,
                            const std::string& quoted_params, int in_fd, std::ostream& out, SeisInfoLayout layout,
                            const ServeOptions& options) {
  const Request rq = parse_request(quoted_params);
  StreamReader in(in_fd);
  if (layout == SeisInfoLayout::detect) {
    layout = detect_seisinfo_layout(in, rq);
    std::fprintf(stderr, "strata-faults: opendtect: SeisInfo of %s bytes\n", seisinfo_layout_name(layout));
  }
  SeisInfo si{};
  const size_t seis_bytes = layout == SeisInfoLayout::bytes44 ? kSeisInfo44 : kSeisInfo40;
  ServeCounts n;
  if (!in.read(&si, seis_bytes, str_cat("the SeisInfo block (", seis_bytes, " bytes)"), true)) return n;
  check_seisinfo(si, layout == SeisInfoLayout::bytes44);
  const int64_t ni = si.nrinl, nc = si.nrcrl, ci = ni / 2, cc = nc / 2;
  const Views views = views_of(rq.selection, ni, nc);
  SectionCache cache(options.context, options.cache_bytes);
  std::vector<float> block, section, stacked, result;
  std::vector<uint64_t> line;
  std::vector<float> weights;
  std::vector<uint8_t> outside;  // per window cell: a copy of the centre trace sent for a trace outside the survey
  for (TrcInfo ti{}; in.read(&ti, sizeof ti, str_cat("the TrcInfo block of trace ", n.traces), true);) {
    const int64_t ns = ti.nrsamp, values = trace_values(si, ti, rq, n.traces);
    block.resize(size_t(values));
    in.read(block.data(), block.size() * 4, str_cat("the samples of trace ", n.traces, " (inline ", ti.inl,
                                                     ", crossline ", ti.crl, ")"), false);
    // One time scale for the sections this trace's window predicts, from the dominant period of up to 8 traces
    // spread along each of the block's centre crossline and inline (traces with missing samples left out);
    // measured when the first of its sections is predicted.
    TileOptions t = tiles;
    bool scaled = period.reference <= 0;
    const auto time_scale = [&] {
      if (scaled) return;
      TraceSpectrum spectrum(ns);
      for (int64_t i = 0; i < ni; i += (ni + 7) / 8) spectrum.add(block.data() + (i * nc + cc) * ns);
      for (int64_t c = 0; c < nc; c += (nc + 7) / 8)
        if (c != cc) spectrum.add(block.data() + (ci * nc + c) * ns);
      t.time_scale = period.scale(spectrum.wavelet_period());
      scaled = true;
    };
    // The plugin sends the centre trace in place of those outside the survey: such copies are left out of the
    // sections' ends, the stacks and the correlation below.
    const float* centre_trace = block.data() + (ci * nc + cc) * ns;
    outside.assign(size_t(ni * nc), 0);
    for (int64_t k = 0; k < ni * nc; ++k)
      outside[size_t(k)] = k != ci * nc + cc && std::memcmp(block.data() + k * ns, centre_trace, size_t(ns) * 4) == 0;
    // Whether the sections are stacked with their neighbours (as predict decides for a cube, from the window).
    if (tiles.stack_measured()) {
      std::array<NeighbourCorrelation, 2> correlation;  // traces one and two grid steps apart
      for (int64_t i = 0; i < ni; ++i)
        for (int64_t c = 0; c < nc; ++c) {
          if (outside[size_t(i * nc + c)]) continue;
          const float* here = block.data() + (i * nc + c) * ns;
          for (int64_t lag = 1; lag <= 2; ++lag) {
            NeighbourCorrelation& r = correlation[size_t(lag - 1)];
            if (i + lag < ni && !outside[size_t((i + lag) * nc + c)]) r.add(here, here + lag * nc * ns, ns);
            if (c + lag < nc && !outside[size_t(i * nc + c + lag)]) r.add(here, here + lag * ns, ns);
          }
        }
      weights = tiles.stack_weights({correlation[0].mean(), correlation[1].mean()});
    } else {
      weights = tiles.stack_weights({});
    }
    const int64_t h = int64_t(weights.size() / 2);
    std::vector<const float*> stack(weights.size());
    // A section through the centre trace of the first input's (inline, crossline, sample) block: the traces at
    // (ci + t * di, cc + t * dc) for every t inside the block; a section is samples x traces. Returns the centre
    // trace's probabilities, kept from a neighbouring trace's window or predicted, or nothing for a diagonal too
    // short to predict.
    const auto run = [&](int view, int64_t di, int64_t dc) -> std::vector<float> {
      const auto reach = [](int64_t c, int64_t d, int64_t n) {  // steps from c in direction d before leaving [0, n)
        return d > 0 ? n - 1 - c : d < 0 ? c : std::numeric_limits<int64_t>::max();
      };
      const int64_t back = std::min(reach(ci, -di, ni), reach(cc, -dc, nc)),
                    width = back + 1 + std::min(reach(ci, di, ni), reach(cc, dc, nc));
      const auto cell = [&](int64_t k) { return size_t((ci + (k - back) * di) * nc + cc + (k - back) * dc); };
      // Copies of the centre trace at the line's ends are left out, so the section ends where the survey does (as
      // predict's sections do) instead of running on flat.
      int64_t from = 0, to = width - 1;
      while (from < back && outside[cell(from)]) ++from;
      while (to > back && outside[cell(to)]) --to;
      const int64_t cols = to - from + 1, centre_col = back - from;
      if (di != 0 && dc != 0 && cols < kMinDiagonalTraces) return {};
      // Each trace stacked with the traces beside it across the section, as predict stacks a cube's sections
      // (weights {1}: the trace as it is, missing samples as NaN); one outside the block or the survey adds
      // nothing. The kept sections are found by the stacked traces, so a neighbour's change is seen too.
      static constexpr const char* kViewDirection[] = {"inline", "crossline", "diagonal", "antidiagonal"};
      const std::array<int64_t, 2> across = across_step(kViewDirection[view]);
      stacked.resize(size_t(cols * ns));
      line.resize(size_t(cols));
      for (int64_t k = 0; k < cols; ++k) {
        const int64_t i = ci + (from + k - back) * di, c = cc + (from + k - back) * dc;
        for (int64_t d = -h; d <= h; ++d) {
          const int64_t ni_d = i + d * across[0], nc_d = c + d * across[1];
          const bool in = ni_d >= 0 && ni_d < ni && nc_d >= 0 && nc_d < nc &&
                          (d == 0 || !outside[size_t(ni_d * nc + nc_d)]);
          stack[size_t(d + h)] = in ? block.data() + (ni_d * nc + nc_d) * ns : nullptr;
        }
        stack_neighbours(stack, weights, ns, stacked.data() + k * ns);
        line[size_t(k)] = SectionCache::trace_hash(view, ti.z0, stacked.data() + k * ns, ns);
      }
      if (const float* kept = cache.find(line, centre_col, ns)) {
        ++n.reused;
        return std::vector<float>(kept, kept + ns);
      }
      section.assign(size_t(ns * cols), 0.f);
      for (int64_t k = 0; k < cols; ++k)
        for (int64_t z = 0; z < ns; ++z) section[size_t(z * cols + k)] = stacked[size_t(k * ns + z)];
      standardise_section(section);
      time_scale();
      const std::vector<float> p = predict_section(model, section, ns, cols, t);
      ++n.predicted;
      cache.keep(line, ns, p);
      std::vector<float> centre(static_cast<size_t>(ns));
      for (int64_t z = 0; z < ns; ++z) centre[size_t(z)] = p[size_t(z * cols + centre_col)];
      return centre;
    };
    const std::vector<float> along = views.inline_view ? run(0, 0, 1) : std::vector<float>{},
                             across = views.crossline_view ? run(1, 1, 0) : std::vector<float>{};
    std::vector<float> diagonal, antidiagonal;
    if (views.diagonals) diagonal = run(2, 1, 1), antidiagonal = run(3, 1, -1);
    const bool four = !diagonal.empty() && !antidiagonal.empty();
    result.assign(size_t(ns), 0.f);
    for (int64_t z = 0; z < ns; ++z) {
      const size_t k = size_t(z);
      if (along.empty() || across.empty()) {
        result[k] = along.empty() ? across[k] : along[k];
      } else if (!four) {
        result[k] = either_view(along[k], across[k]);
      } else {  // as predict --direction all
        result[k] = 1.f - unmarked_by(along[k], kCrossingPairWeight) * unmarked_by(across[k], kCrossingPairWeight) *
                              unmarked_by(diagonal[k], kDiagonalPairWeight) *
                              unmarked_by(antidiagonal[k], kDiagonalPairWeight);
      }
    }
    out.write(reinterpret_cast<const char*>(result.data()), std::streamsize(result.size() * 4));
    out.flush();
    STRATA_CHECK(out, "opendtect: cannot write the output of trace ", n.traces, " (stdout closed)");
    ++n.traces;
  }
  return n;
}

std::string opendtect_wrapper_script(const std::string& binary, const std::string& checkpoint, SeisInfoLayout layout,
                                     const std::vector<std::string>& overrides) {
  const auto quoted = [](const std::string& s) {  // one shell word, whatever the characters
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  std::string words;
  for (const std::string& o : overrides) words.append(" ").append(quoted(o));
  return str_cat("#!/bin/sh\n",
                 "# OpendTect ExternalAttrib attribute: fault probability from a strata-faults model.\n",
                 "# Written by `strata-faults opendtect install`; in the attribute dialog choose Interpreter /bin/sh\n",
                 "# and this file as External File. Paths are absolute: the plugin runs it with only IFS and PATH set.\n",
                 "exec ", quoted(binary), " opendtect --checkpoint ", quoted(checkpoint), " --seisinfo ",
                 seisinfo_layout_name(layout), words, " \"$@\"\n");
}

}  // namespace strata::faults
