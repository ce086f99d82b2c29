#include "apps/welllog/las.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "apps/welllog/text.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace strata::las {
namespace {

using welllog::trim;

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool is_blank_or_comment(const std::string& t) { return t.empty() || t[0] == '#'; }

// A number of the data section; a lone comma is a decimal mark.
bool parse_number(std::string token, double& out) {
  if (token.find(',') != std::string::npos) {
    if (token.find('.') != std::string::npos || std::count(token.begin(), token.end(), ',') != 1) return false;
    std::replace(token.begin(), token.end(), ',', '.');
  }
  char* end = nullptr;
  out = std::strtod(token.c_str(), &end);
  return end != token.c_str() && *end == '\0';
}

std::string excerpt(const std::string& line) { return line.size() > 60 ? line.substr(0, 57) + "..." : line; }

// The section a '~' line opens: V, W, C (curves), P, O, A (log data), or X (skipped). LAS 1.2 / 2.0 name sections by
// their first letter; LAS 3.0 also by data set (~Log_Definition, ~Log_Parameter, ~Log_Data | Log_Definition), and
// its other data sets (core, tops, drilling, ...) are skipped.
char section_of(const std::string& name, bool las3) {
  const std::string head = upper(name.substr(0, name.find_first_of(" \t|[")));
  if (head.empty()) return '?';
  if (las3 && head.find('_') != std::string::npos)
    return head == "LOG_DEFINITION" ? 'C' : head == "LOG_PARAMETER" ? 'P' : head == "LOG_DATA" ? 'A' : 'X';
  const char c = head[0];
  return std::string("VWCPOA").find(c) != std::string::npos ? c : las3 ? 'X' : c;
}

// The values of a data row: split at `delimiter` (LAS 3.0 DLM: ' ' for any run of blanks, ',' or '\t'), each
// trimmed; with blanks, a value in double quotes may hold blanks.
std::vector<std::string> row_values(const std::string& line, char delimiter) {
  std::vector<std::string> out;
  if (delimiter != ' ') {
    for (size_t start = 0;;) {
      const size_t end = line.find(delimiter, start);
      out.push_back(trim(line.substr(start, end == std::string::npos ? std::string::npos : end - start)));
      if (end == std::string::npos) return out;
      start = end + 1;
    }
  }
  for (size_t i = 0; i < line.size();) {
    if (std::isspace(static_cast<unsigned char>(line[i]))) {
      ++i;
    } else if (line[i] == '"') {
      const size_t close = line.find('"', i + 1);
      out.push_back(line.substr(i + 1, close == std::string::npos ? std::string::npos : close - i - 1));
      i = close == std::string::npos ? line.size() : close + 1;
    } else {
      size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      out.push_back(line.substr(i, j - i));
      i = j;
    }
  }
  return out;
}

}  // namespace

const Curve* LasFile::find(const std::string& mnemonic) const {
  const std::string m = upper(mnemonic);
  for (const Curve& c : curves)
    if (upper(c.mnemonic) == m) return &c;
  return nullptr;
}

std::string LasFile::well_value(const std::string& mnemonic, const std::string& fallback) const {
  const std::string m = upper(mnemonic);
  for (const HeaderItem& h : well)
    if (upper(h.mnemonic) == m) return h.value;
  return fallback;
}

LasFile read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  STRATA_CHECK(f.good(), path, ": cannot open LAS file");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), path);
}

LasFile parse(const std::string& input, const std::string& origin) {
  std::string text = input;
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 byte-order mark
  LasFile las;
  las.path = origin;

  std::vector<std::string> lines;
  {
    std::stringstream ss(text);
    for (std::string l; std::getline(ss, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      lines.push_back(l);
    }
  }
  auto where = [&](size_t i) { return str_cat(origin, ":", i + 1, ": "); };

  char section = 0;  // V, W, C, P, O, A; X: a LAS 3.0 data set that is not the log's
  bool seen_version = false, seen_data = false, las3 = false;
  char delimiter = ' ';          // LAS 3.0 DLM
  std::vector<bool> text_curve;  // LAS 3.0 curves of strings (format {S}): read over, left out
  std::vector<double> values;    // ~A values in file order
  size_t data_line = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& raw = lines[i];
    const std::string t = trim(raw);
    if (section == 'O' && (t.empty() || t[0] != '~')) {
      las.other += raw + "\n";
      continue;
    }
    if (is_blank_or_comment(t)) continue;

    if (t[0] == '~') {
      STRATA_CHECK(section != 'A' || las3, where(i), "section ", excerpt(t),
                   " after the ~A data section (~A must be last)");
      const std::string name = t.substr(1);
      section = section_of(name, las3);
      if (!seen_version) {
        STRATA_CHECK(section == 'V', where(i), "not a LAS file: the first section is '", excerpt(t),
                     "', a LAS file starts with ~VERSION");
        seen_version = true;
      }
      const std::string head = upper(name.substr(0, name.find_first_of(" \t")));
      STRATA_CHECK(las3 || (head.find('_') == std::string::npos && name.find('|') == std::string::npos), where(i),
                   "section '~", excerpt(name), "' is LAS 3.0, but the ~VERSION section says VERS ",
                   las.version.empty() ? std::string("nothing") : las.version, "; set VERS. 3.0");
      if (section == 'A') {
        STRATA_CHECK(!seen_data, where(i), "a second log data section (", excerpt(t), "); one well has one");
        STRATA_CHECK(!las.curves.empty(), where(i), "~A data section before any curve was defined in ~CURVE");
        seen_data = true;
        data_line = i;
      }
      continue;
    }
    STRATA_CHECK(seen_version, where(i), "not a LAS file: expected a ~VERSION section first, found '", excerpt(t), "'");

    if (section == 'A') {
      const size_t n = las.curves.size();
      const std::vector<std::string> row = row_values(t, delimiter);
      for (const std::string& token : row) {
        const size_t column = values.size() % n;
        double v = std::numeric_limits<double>::quiet_NaN();
        STRATA_CHECK(text_curve[column] || parse_number(token, v), where(i), "'", token, "' is not a number (curve ",
                     las.curves[column].mnemonic, ")");
        values.push_back(v);
      }
      if (!las.wrapped)
        STRATA_CHECK(row.size() == n, where(i), row.size(), " values in a data row, expected ", n,
                     " (one per curve in ~CURVE; is the file wrapped without WRAP. YES?)");
      continue;
    }
    if (section != 'V' && section != 'W' && section != 'C' && section != 'P') continue;  // unknown section: skipped

    // MNEM.UNIT  VALUE : DESCRIPTION
    const size_t dot = t.find('.');
    const size_t colon = t.rfind(':');
    STRATA_CHECK(dot != std::string::npos && colon != std::string::npos && dot < colon, where(i),
                 "malformed header line '", excerpt(t), "' (expected 'MNEM.UNIT  VALUE : DESCRIPTION')");
    HeaderItem h;
    h.mnemonic = trim(t.substr(0, dot));
    size_t unit_end = dot + 1;
    while (unit_end < colon && !std::isspace(static_cast<unsigned char>(t[unit_end]))) ++unit_end;
    h.unit = t.substr(dot + 1, unit_end - dot - 1);
    h.value = trim(t.substr(unit_end, colon - unit_end));
    h.description = trim(t.substr(colon + 1));
    std::string format;  // LAS 3.0: "DESCRIPTION {format} | association"
    if (las3) {
      const size_t bar = h.description.find('|'), brace = h.description.find('{');
      if (brace < bar) format = upper(h.description.substr(brace + 1, h.description.find('}', brace) - brace - 1));
      h.description = trim(h.description.substr(0, std::min(bar, brace)));
    }
    STRATA_CHECK(!h.mnemonic.empty(), where(i), "header line '", excerpt(t), "' has no mnemonic before the '.'");
    const std::string m = upper(h.mnemonic);

    if (section == 'V') {
      if (m == "VERS") {
        double v = 0;
        STRATA_CHECK(parse_number(h.value, v), where(i), "VERS '", h.value, "' is not a version number");
        STRATA_CHECK(v >= 1.0 && v < 4.0, where(i), "unknown LAS version '", h.value, "' (1.2, 2.0 and 3.0 are read)");
        las.version = v < 2.0 ? "1.2" : v < 3.0 ? "2.0" : "3.0";
        las3 = v >= 3.0;
      } else if (m == "WRAP") {
        const std::string w = upper(h.value);
        STRATA_CHECK(w == "YES" || w == "NO", where(i), "WRAP must be YES or NO, got '", h.value, "'");
        las.wrapped = w == "YES";
        STRATA_CHECK(!(las3 && las.wrapped), where(i), "WRAP. YES in a LAS 3.0 file, which has one line per depth step");
      } else if (m == "DLM") {
        const std::string d = upper(h.value);
        STRATA_CHECK(d == "SPACE" || d == "COMMA" || d == "TAB", where(i), "DLM must be SPACE, COMMA or TAB, got '",
                     h.value, "'");
        delimiter = d == "COMMA" ? ',' : d == "TAB" ? '\t' : ' ';
      }
    } else if (section == 'W') {
      const bool numeric_item = m == "STRT" || m == "STOP" || m == "STEP" || m == "NULL";
      if (las.version == "1.2" && !numeric_item && !h.description.empty()) std::swap(h.value, h.description);
      if (m == "NULL") {
        double v = 0;
        STRATA_CHECK(parse_number(h.value, v), where(i), "NULL value '", h.value, "' is not a number");
        las.null_value = v;
      }
      las.well.push_back(h);
    } else if (section == 'C') {
      STRATA_CHECK(las.find(h.mnemonic) == nullptr, where(i), "curve '", h.mnemonic,
                   "' is defined twice in ~CURVE; rename one of them");
      las.curves.push_back({h.mnemonic, h.unit, h.description, {}});
      text_curve.push_back(format == "S");
    } else {
      las.parameters.push_back(h);
    }
  }

  STRATA_CHECK(seen_version, origin, ": not a LAS file (no ~VERSION section)");
  STRATA_CHECK(!las.version.empty(), origin, ": the ~VERSION section has no VERS item");
  STRATA_CHECK(!las.curves.empty(), origin, ": no curves (the ~CURVE section is missing or empty)");
  STRATA_CHECK(seen_data, origin, ": no ~A (log data) section: the file holds a header only");
  const size_t n = las.curves.size();
  STRATA_CHECK(values.size() % n == 0, origin, ":", data_line + 1, ": the data end in the middle of a depth step (",
               values.size(), " values for ", n, " curves)");
  const size_t rows = values.size() / n;
  for (size_t c = 0; c < n; ++c) las.curves[c].values.resize(rows);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < n; ++c) {
      const double v = values[r * n + c];
      las.curves[c].values[r] = v == las.null_value ? nan : v;
    }
  STRATA_CHECK(!text_curve[0], origin, ": the index curve ", las.curves[0].mnemonic, " holds strings ({S})");
  for (size_t c = n; c-- > 1;)
    if (text_curve[c]) las.curves.erase(las.curves.begin() + std::ptrdiff_t(c));
  return las;
}

namespace {

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string mnemonic_text(std::string m) {
  for (char& c : m)
    if (c == ' ' || c == '.' || c == ':' || c == '\t') c = '_';
  return m;
}

void header_line(std::string& out, const std::string& mnemonic, const std::string& unit, const std::string& value,
                 const std::string& description) {
  std::string head = " " + mnemonic_text(mnemonic) + "." + unit;
  if (head.size() < 16) head.resize(16, ' ');
  std::string val = value;
  if (val.size() < 24) val.resize(24, ' ');
  out += head + " " + val + " : " + description + "\n";
}

}  // namespace

std::string format(const LasFile& f) {
  STRATA_CHECK(!f.curves.empty(), "LAS output: no curves (the first curve is the depth index)");
  const size_t rows = f.curves[0].values.size();
  for (const Curve& c : f.curves)
    STRATA_CHECK(c.values.size() == rows, "LAS output: curve '", c.mnemonic, "' has ", c.values.size(),
                 " values, the index has ", rows);
  const std::vector<double>& index = f.curves[0].values;
  const std::string& depth_unit = f.curves[0].unit;
  const double first = rows ? index.front() : 0, last = rows ? index.back() : 0;
  double step = rows > 1 ? index[1] - index[0] : 0;
  for (size_t r = 1; r < rows && step != 0; ++r)
    if (std::fabs(index[r] - index[r - 1] - step) > 1e-6 * std::max(1.0, std::fabs(step))) step = 0;  // irregular

  std::string out = "~VERSION INFORMATION\n";
  header_line(out, "VERS", "", "2.0", "CWLS LOG ASCII STANDARD - VERSION 2.0");
  header_line(out, "WRAP", "", "NO", "ONE LINE PER DEPTH STEP");
  out += "~WELL INFORMATION\n";
  header_line(out, "STRT", depth_unit, number_text(first), "START DEPTH");
  header_line(out, "STOP", depth_unit, number_text(last), "STOP DEPTH");
  header_line(out, "STEP", depth_unit, number_text(step), step == 0 ? "STEP (0 = irregular spacing)" : "STEP");
  header_line(out, "NULL", "", number_text(f.null_value), "NULL VALUE");
  for (const HeaderItem& h : f.well) {
    const std::string m = upper(h.mnemonic);
    if (m == "STRT" || m == "STOP" || m == "STEP" || m == "NULL") continue;
    header_line(out, h.mnemonic, h.unit, h.value, h.description);
  }
  out += "~CURVE INFORMATION\n";
  for (const Curve& c : f.curves) header_line(out, c.mnemonic, c.unit, "", c.description);
  if (!f.parameters.empty()) {
    out += "~PARAMETER INFORMATION\n";
    for (const HeaderItem& h : f.parameters) header_line(out, h.mnemonic, h.unit, h.value, h.description);
  }
  if (!f.other.empty()) {
    out += "~OTHER\n" + f.other;
    if (out.back() != '\n') out += "\n";
  }
  out += "~A\n";
  const std::string null_text = number_text(f.null_value);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < f.curves.size(); ++c) {
      const double v = f.curves[c].values[r];
      if (c) out += ' ';
      out += std::isnan(v) ? null_text : number_text(v);
    }
    out += '\n';
  }
  return out;
}

void write(const LasFile& f, const std::string& path) {
  const std::string text = format(f);
  write_file_atomic(path, [&](std::ostream& out) { out << text; });
}

}  // namespace strata::las
