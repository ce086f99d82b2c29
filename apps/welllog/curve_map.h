// data.curve_map: the model's curves computed from a file's own curves, for
// wells whose mnemonics or units differ from the training data's. A LAS file
// from the field rarely has a curve called ILD_log10; with
//
//   curve_map: {GR: GSGR, ILD_log10: log10(IDID), PE: DLPE,
//               DeltaPHI: NCNPL - DLDPL, PHIND: (NCNPL + DLDPL) / 2}
//
// `predict` (and `eval`, and training) read it as if those curves were there.
// An expression is made of curve names (letters, digits, '_' and '.', not
// starting with a digit; any other name in double quotes), numbers, + - * /,
// parentheses, unary minus and the functions log10, ln, exp, sqrt and abs.
// A missing input value, or a result that is not finite (log10 of 0, a
// division by 0), is a missing value. Every expression reads the curves the
// well was loaded with; its result replaces any curve of the same name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/welllog/wells.h"
#include "config/config.h"

namespace strata::welllog {

class CurveMap {
 public:
  CurveMap();
  ~CurveMap();
  CurveMap(const CurveMap&) = delete;
  CurveMap& operator=(const CurveMap&) = delete;
  CurveMap(CurveMap&&) noexcept;
  CurveMap& operator=(CurveMap&&) noexcept;

  // Parses data.curve_map (empty when absent); a syntax error names the key,
  // the expression and where in it.
  static CurveMap from_config(const Config& data);
  // One expression, for tests and programmatic use; `where` prefixes errors.
  void add(const std::string& curve, const std::string& expression, const std::string& where = "curve_map");

  bool empty() const;
  // The curves every expression reads (sorted, once each).
  std::vector<std::string> inputs() const;
  // Adds (or replaces) the mapped curves of `w`. Errors when the well lacks a
  // curve an expression reads, naming the expression and the curves it has.
  // A curve of data.curves or of an expression that the well holds under a
  // name differing in case only ('gr' for 'GR') is read under the config's name.
  void apply(Well& w) const;
  void apply(std::vector<Well>& wells) const;

  struct Expr;  // a parsed expression (defined in curve_map.cpp)

 private:
  struct Entry;
  std::vector<Entry> entries_;
  std::vector<std::string> curves_;  // data.curves: the model's input curves
};

// For a model curve NAME_log10 whose NAME the well has (any case): that curve's name in the well ("ILD"), and the
// curve_map entry that computes the model's curve from it ("ILD_log10: log10(ILD)"); "" otherwise.
std::string log10_source(const std::string& curve, const Well& w);
std::string log10_entry(const std::string& curve, const Well& w);

}  // namespace strata::welllog
