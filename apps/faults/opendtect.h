// OpendTect's ExternalAttrib plugin (Wayne Mogg's, shipped with OpendTect)
// runs an external program as an attribute:
//   PROGRAM -g          prints the attribute's parameters: URL-quoted JSON
//                       (inputs, outputs, the Z margin and trace step-out the
//                       program wants, a selection list, a help link)
//   PROGRAM -c PARAMS   computes: reads the SeisInfo block from stdin once,
//                       then per output trace a TrcInfo block and the input
//                       samples of the step-out window, and writes the output
//                       samples to stdout, until stdin ends
// Binary layouts (native byte order, as the plugin writes them):
//   SeisInfo  40 bytes: int32 nrtraces, nrinput, nroutput, nrinl, nrcrl;
//             float32 zstep, inldist, crldist, zfactor, dipfactor
//   TrcInfo   16 bytes: int32 nrsamp, z0, inl, crl
//   input     nrinput x nrinl x nrcrl x nrsamp float32 (undefined: 1e30)
//   output    nroutput x nrsamp float32
// strata-faults serves it with the model loaded once: for each trace it
// predicts the inline and / or crossline section of the step-out window
// through the trace and returns the fault probability of its centre column.
#pragma once

#include <istream>
#include <ostream>
#include <string>

#include "apps/faults/faults.h"
#include "layers/module.h"

namespace strata::faults {

std::string url_quote(const std::string& s);
std::string url_unquote(const std::string& s);

// The JSON of `-g` (before quoting).
std::string opendtect_parameters(int64_t step_out, int64_t z_margin);

// Serves `-c PARAMS` on in / out; returns the number of traces computed.
// Errors (a short block, a SeisInfo that makes no sense) throw strata::Error.
int64_t opendtect_serve(Module& model, const TileOptions& tiles, const std::string& quoted_params, std::istream& in,
                        std::ostream& out);

}  // namespace strata::faults
