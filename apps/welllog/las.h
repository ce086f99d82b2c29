// LAS (Log ASCII Standard) reader, versions 1.2, 2.0 and 3.0.
//
//   ~V  version section: VERS (1.2 | 2.0 | 3.0), WRAP (YES | NO), DLM (3.0: SPACE,
//       COMMA or TAB between data values)
//   ~W  well section: STRT, STOP, STEP, NULL, WELL, ... (in LAS 1.2 the value of
//       the descriptive items sits after the colon: "COMP. COMPANY: ANY OIL LTD")
//   ~C  curves, in the column order of the data; the first is the index (depth)
//   ~P  parameters, ~O other (free text, kept verbatim)
//   ~A  the data: one line per depth step, or with WRAP YES the depth alone on
//       a line followed by the other values over as many lines as needed
//
// LAS 3.0 names the log's sections ~Log_Definition (curves), ~Log_Parameter and
// ~Log_Data | Log_Definition (data, which need not be last); its other data
// sets (core, tops, drilling, ...) are skipped, descriptions lose their
// {format} and | association, and curves of strings ({S}) are left out.
//
// Header lines are "MNEM.UNIT  VALUE : DESCRIPTION" (the unit runs from the
// first dot to the next space). Values equal to NULL become NaN. A comma in a
// number is read as a decimal mark when blanks delimit the data (a comma can be
// nothing else there). Errors name the file and the line: not a LAS file, no
// ~A section, a row with the wrong number of values, a value that is not a
// number.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::las {

struct HeaderItem {
  std::string mnemonic, unit, value, description;
};

struct Curve {
  std::string mnemonic, unit, description;
  std::vector<double> values;  // NaN where the file has NULL
};

struct LasFile {
  std::string path;
  std::string version;  // "1.2", "2.0" or "3.0"
  bool wrapped = false;
  double null_value = -999.25;
  std::vector<HeaderItem> well, parameters;
  std::string other;
  std::vector<Curve> curves;  // curves[0] is the index (usually depth)

  int64_t rows() const { return curves.empty() ? 0 : int64_t(curves[0].values.size()); }
  // The curve with this mnemonic (case-insensitive), or nullptr.
  const Curve* find(const std::string& mnemonic) const;
  // The well-section value of `mnemonic` (case-insensitive), or fallback.
  std::string well_value(const std::string& mnemonic, const std::string& fallback = "") const;
};

LasFile read(const std::string& path);
// Parses LAS text; `origin` names it in errors.
LasFile parse(const std::string& text, const std::string& origin);

// LAS 2.0 text of `f`, one line per depth step: ~VERSION, ~WELL (STRT, STOP,
// STEP from the index curve, NULL from null_value, then the other items),
// ~CURVE, ~PARAMETER, ~OTHER when not empty, ~A. NaN is written as the NULL
// value. Characters a mnemonic cannot hold (space, '.', ':') become '_'.
std::string format(const LasFile& f);
// format(f) written to `path` (through path.tmp, so a reader never sees half a file).
void write(const LasFile& f, const std::string& path);

}  // namespace strata::las
