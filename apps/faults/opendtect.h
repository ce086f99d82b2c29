// OpendTect's ExternalAttrib plugin (Wayne Mogg's, shipped with OpendTect)
// runs an external program as an attribute, on Linux with fork + execve of
// INTERPRETER SCRIPT ARGS and an environment of only IFS and PATH:
//   SCRIPT -g          prints the attribute's parameters: URL-quoted JSON
//                      (inputs, outputs, the Z margin and trace step-out the
//                      program wants, a selection list, a help URL)
//   SCRIPT -c PARAMS   computes: PARAMS is that JSON as the user set it, plus
//                      the keys Survey, SurveyDiskLocation and InputNames,
//                      URL-quoted. The program reads the SeisInfo block from
//                      stdin once, then per output trace a TrcInfo block and
//                      the input samples of the step-out window, and writes
//                      the output samples to stdout, until stdin ends or the
//                      plugin kills it (SIGKILL; stdin is never closed).
// Binary layouts (native byte order, written with fwrite):
//   SeisInfo  int32 nrtraces, nrinput, nroutput, nrinl, nrcrl;
//             float32 zstep, inldist, crldist, zfactor, dipfactor;
//             and, in plugin releases 7.0.9 and later, int32 nrZ (the Z
//             samples of the requested volume): 44 bytes, 40 before
//   TrcInfo   16 bytes: int32 nrsamp, z0, inl, crl; nrsamp is the Z margin's
//             width plus the samples wanted (1 for a Z-slice)
//   input     nrinput x (nrinl x nrcrl traces, inline-major, the centre at
//             (nrinl / 2) * nrcrl + nrcrl / 2) x nrsamp float32; undefined
//             samples arrive as 0, traces outside the survey as copies of the
//             centre trace
//   output    nroutput x nrsamp float32
// strata-faults serves it with the model loaded once: for each trace it
// predicts the inline and / or crossline section of the window through the
// trace and returns the fault probability of the centre column, or takes that
// column from the section of a neighbouring trace's window that holds it
// (ServeOptions).
//
// Every read is bounded by what the blocks announce: sizes are checked (in
// 64 bits) before anything is allocated, nrsamp against the Z margin the
// parameters ask for, and a block that stops arriving midway is an error
// after kBlockTimeoutSeconds, never a hang.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "apps/faults/faults.h"
#include "layers/module.h"

namespace strata::faults {

// The SeisInfo size: 44 bytes (plugin 7.0.9 and later), 40 (7.0.6 and older), or told apart from the first
// trace's message (detect_seisinfo_layout).
enum class SeisInfoLayout { detect, bytes40, bytes44 };
// "auto" | "40" | "44"; errors name the flag.
SeisInfoLayout parse_seisinfo_layout(const std::string& value);
const char* seisinfo_layout_name(SeisInfoLayout layout);

// A block that has begun must be complete within this many seconds of silence.
constexpr double kBlockTimeoutSeconds = 3.0;

// URL quoting as the plugin's urllib.h does it: letters and digits as they are, every other byte %XX; its
// encoder writes a backslash as %5C%5C, which unquoting reads back as one backslash.
std::string url_quote(const std::string& s);
std::string url_unquote(const std::string& s);

// The JSON of `-g` (before quoting). `help_url` "" leaves out the Help key.
std::string opendtect_parameters(int64_t step_out, int64_t z_margin, const std::string& help_url);

// How the attribute shares work between neighbouring traces (SectionCache in opendtect.cpp): a section predicted
// for one trace's window answers a later trace it holds with at least `context` of its traces on each side of it,
// or as many as the later trace's own section has on a side with fewer (opendtect.context; the step-out or more:
// every trace with at least the traces of its own window around it); the kept sections fit in `cache_bytes`.
struct ServeOptions {
  int64_t context = 24;
  size_t cache_bytes = size_t(512) << 20;
};
struct ServeCounts {
  int64_t traces = 0;     // answered
  int64_t predicted = 0;  // sections predicted
  int64_t reused = 0;     // sections answered from a kept one
};

// Serves `-c PARAMS`: reads the stream from file descriptor `in_fd`, writes answers to `out`. Errors (a block
// that does not fit what SeisInfo and the parameters announced, a stream cut inside a block) throw strata::Error
// naming the field and the values. `period` (reference 0: off) sets each window's time scale from the dominant
// period of its traces, as predict does for a section.
ServeCounts opendtect_serve(Module& model, const TileOptions& tiles, const PeriodMatch& period,
                            const std::string& quoted_params, int in_fd, std::ostream& out, SeisInfoLayout layout,
                            const ServeOptions& options = {});

// The wrapper script the plugin is given (`strata-faults opendtect install`): /bin/sh, absolute paths to the
// binary and the checkpoint written in, so it runs in the plugin's bare environment; `overrides` (key=value)
// are passed on every run.
std::string opendtect_wrapper_script(const std::string& binary, const std::string& checkpoint, SeisInfoLayout layout,
                                     const std::vector<std::string>& overrides);

}  // namespace strata::faults
