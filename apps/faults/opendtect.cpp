#include "apps/faults/opendtect.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/error.h"

namespace strata::faults {
namespace {

// Bounds on what the stream may ask for: a step-out window of up to 1024 traces each way, 64 inputs, a
// million samples a trace, 2^28 values (1 GiB) in one window.
constexpr int64_t kMaxWindow = 2049, kMaxInputs = 64, kMaxSamples = 1000000, kMaxBlockValues = int64_t(1) << 28;

struct SeisInfo {
  int32_t nrtraces, nrinput, nroutput, nrinl, nrcrl;
  float zstep, inldist, crldist, zfactor, dipfactor;
};
struct TrcInfo {
  int32_t nrsamp, z0, inl, crl;
};
static_assert(sizeof(SeisInfo) == 40 && sizeof(TrcInfo) == 16);

// Reads n bytes; false at a clean end of input before the first byte, an error after it.
bool read_block(std::istream& in, void* dst, size_t n, const char* what) {
  in.read(static_cast<char*>(dst), std::streamsize(n));
  const size_t got = size_t(in.gcount());
  if (got == 0 && in.eof()) return false;
  STRATA_CHECK(got == n, "opendtect: input ended inside a ", what, " block (", got, " of ", n, " bytes)");
  return true;
}

}  // namespace

std::string url_quote(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~' || c == '/') {
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
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string opendtect_parameters(int64_t step_out, int64_t z_margin) {
  nlohmann::json j;
  j["Input"] = "Seismic";
  j["Output"] = {"Fault probability"};
  j["ZSampMargin"] = {{"Value", {-z_margin, z_margin}}, {"Symmetric", true}};
  j["StepOut"] = {{"Value", {step_out, step_out}}};
  j["Select"] = {{"Name", "Sections"},
                 {"Values", {"inline", "crossline", "inline and crossline (mean)"}},
                 {"Selection", 2}};
  j["Parallel"] = false;
  j["Help"] = "strata: docs/faults.md, section OpendTect";
  return j.dump();
}

int64_t opendtect_serve(Module& model, const TileOptions& tiles, const std::string& quoted_params, std::istream& in,
                        std::ostream& out) {
  nlohmann::json params;
  try {
    params = nlohmann::json::parse(url_unquote(quoted_params));
  } catch (const nlohmann::json::exception& e) {
    STRATA_FAIL("opendtect: the -c parameter string is not JSON (", e.what(), ")");
  }
  int64_t selection = 2;
  if (params.is_object() && params.contains("Select") && params["Select"].is_object() &&
      params["Select"].contains("Selection")) {
    const nlohmann::json& v = params["Select"]["Selection"];
    STRATA_CHECK(v.is_number_integer(), "opendtect: Select.Selection is ", v.dump(), " (", v.type_name(),
                 "); want the number 0 (inline), 1 (crossline) or 2 (both)");
    selection = v.get<int64_t>();
  }
  STRATA_CHECK(selection >= 0 && selection <= 2, "opendtect: Select.Selection ", selection, " is not 0, 1 or 2");

  SeisInfo si{};
  STRATA_CHECK(read_block(in, &si, sizeof si, "SeisInfo"), "opendtect: no SeisInfo block on stdin");
  // Every size from the stream is bounded, in 64 bits, before anything is allocated from it.
  const auto bounded = [](const char* field, int64_t v, int64_t hi) {
    STRATA_CHECK(v >= 1 && v <= hi, "opendtect: SeisInfo ", field, " is ", v, "; want 1 to ", hi);
  };
  bounded("nrinl", si.nrinl, kMaxWindow);
  bounded("nrcrl", si.nrcrl, kMaxWindow);
  bounded("nrinput", si.nrinput, kMaxInputs);
  STRATA_CHECK(int64_t(si.nrtraces) == int64_t(si.nrinl) * si.nrcrl && si.nroutput == 1, "opendtect: SeisInfo says ",
               si.nrtraces, " traces of ", si.nrinl, " x ", si.nrcrl, ", ", si.nrinput, " inputs and ", si.nroutput,
               " outputs; want nrinl x nrcrl traces and one output");
  const int64_t ni = si.nrinl, nc = si.nrcrl, ci = ni / 2, cc = nc / 2;
  const bool use_inline = selection != 1 || ni == 1, use_crossline = (selection != 0 || nc == 1) && ni > 1;
  int64_t traces = 0;
  std::vector<float> block, section, result;
  for (TrcInfo ti{}; read_block(in, &ti, sizeof ti, "TrcInfo");) {
    STRATA_CHECK(ti.nrsamp >= 1 && ti.nrsamp <= kMaxSamples, "opendtect: TrcInfo nrsamp of trace ", traces, " is ",
                 ti.nrsamp, "; want 1 to ", kMaxSamples);
    const int64_t ns = ti.nrsamp;
    STRATA_CHECK(int64_t(si.nrinput) * ni * nc * ns <= kMaxBlockValues, "opendtect: trace ", traces, ": ",
                 si.nrinput, " inputs x ", ni, " x ", nc, " traces x ", ns, " samples is over the ", kMaxBlockValues,
                 " values (", kMaxBlockValues * 4 >> 20, " MiB) a window may hold");
    block.resize(size_t(si.nrinput * ni * nc * ns));
    STRATA_CHECK(read_block(in, block.data(), block.size() * 4, "trace data"),
                 "opendtect: input ended before the samples of trace ", traces);
    result.assign(size_t(ns), 0.f);
    int64_t parts = 0;
    // The first input's (inline, crossline, sample) block: a section is samples x traces.
    const auto run = [&](bool along_crosslines) {
      const int64_t width = along_crosslines ? nc : ni;
      section.assign(size_t(ns * width), 0.f);
      for (int64_t t = 0; t < width; ++t)
        for (int64_t z = 0; z < ns; ++z)
          section[size_t(z * width + t)] =
              block[size_t(((along_crosslines ? ci : t) * nc + (along_crosslines ? t : cc)) * ns + z)];
      standardise_section(section);  // undefined samples (1e30) are missing
      const std::vector<float> p = predict_section(model, section, ns, width, tiles);
      const int64_t centre = along_crosslines ? cc : ci;
      for (int64_t z = 0; z < ns; ++z) result[size_t(z)] += p[size_t(z * width + centre)];
      ++parts;
    };
    if (use_inline) run(true);
    if (use_crossline) run(false);
    for (float& v : result) v /= float(parts);
    out.write(reinterpret_cast<const char*>(result.data()), std::streamsize(result.size() * 4));
    out.flush();
    STRATA_CHECK(out, "opendtect: cannot write the output of trace ", traces, " (stdout closed)");
    ++traces;
  }
  return traces;
}

}  // namespace strata::faults
