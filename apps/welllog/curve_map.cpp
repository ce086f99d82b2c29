#include "apps/welllog/curve_map.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <set>

#include "apps/welllog/text.h"
#include "engine/error.h"

namespace strata::welllog {

struct CurveMap::Expr {
  enum class Kind { kNumber, kCurve, kNegate, kBinary, kFunction } kind = Kind::kNumber;
  double number = 0;
  std::string name;  // the curve, or the function
  char op = 0;       // kBinary: + - * /
  double (*function)(double) = nullptr;
  std::vector<Expr> args;
};

struct CurveMap::Entry {
  std::string curve, text, where;
  Expr expr;
};

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using Expr = CurveMap::Expr;

struct Function {
  const char* name;
  double (*f)(double);
};
constexpr Function kFunctions[] = {
    {"log10", [](double x) { return std::log10(x); }}, {"ln", [](double x) { return std::log(x); }},
    {"exp", [](double x) { return std::exp(x); }},     {"sqrt", [](double x) { return std::sqrt(x); }},
    {"abs", [](double x) { return std::fabs(x); }},
};

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

// Recursive descent over
//   sum    := product (('+' | '-') product)*
//   product := unary (('*' | '/') unary)*
//   unary  := '-' unary | atom
//   atom   := number | name | "quoted name" | function '(' sum ')' | '(' sum ')'
class Parser {
 public:
  Parser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  Expr parse() {
    Expr e = sum();
    skip_space();
    if (i_ < s_.size()) fail(str_cat("unexpected '", s_[i_], "'"));
    return e;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    STRATA_FAIL(where_, ": '", s_, "': ", what, " at character ", i_ + 1);
  }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool accept(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  static Expr binary(char op, Expr a, Expr b) {
    Expr e;
    e.kind = Expr::Kind::kBinary;
    e.op = op;
    e.args.push_back(std::move(a));
    e.args.push_back(std::move(b));
    return e;
  }
  Expr sum() {
    Expr e = product();
    for (;;) {
      if (accept('+')) e = binary('+', std::move(e), product());
      else if (accept('-')) e = binary('-', std::move(e), product());
      else return e;
    }
  }
  Expr product() {
    Expr e = unary();
    for (;;) {
      if (accept('*')) e = binary('*', std::move(e), unary());
      else if (accept('/')) e = binary('/', std::move(e), unary());
      else return e;
    }
  }
  Expr unary() {
    if (!accept('-')) return atom();
    Expr e;
    e.kind = Expr::Kind::kNegate;
    e.args.push_back(unary());
    return e;
  }
  Expr atom() {
    skip_space();
    if (i_ >= s_.size()) fail("expected a curve, a number or '('");
    Expr e;
    if (accept('(')) {
      e = sum();
      if (!accept(')')) fail("expected ')'");
      return e;
    }
    const char c = s_[i_];
    if (c == '"') {
      const size_t close = s_.find('"', i_ + 1);
      if (close == std::string::npos) fail("unterminated quoted name");
      e.kind = Expr::Kind::kCurve;
      e.name = s_.substr(i_ + 1, close - i_ - 1);
      if (e.name.empty()) fail("empty quoted name");
      i_ = close + 1;
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const char* begin = s_.c_str() + i_;
      char* end = nullptr;
      e.number = std::strtod(begin, &end);
      if (end == begin) fail("malformed number");
      i_ += size_t(end - begin);
      return e;
    }
    if (!name_start(c)) fail(str_cat("unexpected '", c, "'"));
    const size_t start = i_;
    while (i_ < s_.size() && name_char(s_[i_])) ++i_;
    e.name = s_.substr(start, i_ - start);
    skip_space();
    if (i_ < s_.size() && s_[i_] == '(') {
      for (const Function& f : kFunctions)
        if (e.name == f.name) e.function = f.f;
      if (!e.function) {
        i_ = start;
        fail(str_cat("unknown function '", e.name, "' (log10, ln, exp, sqrt, abs)"));
      }
      ++i_;
      e.kind = Expr::Kind::kFunction;
      e.args.push_back(sum());
      if (!accept(')')) fail("expected ')'");
      return e;
    }
    e.kind = Expr::Kind::kCurve;
    return e;
  }

  const std::string& s_;
  const std::string& where_;
  size_t i_ = 0;
};

void collect_inputs(const Expr& e, std::set<std::string>& out) {
  if (e.kind == Expr::Kind::kCurve) out.insert(e.name);
  for (const Expr& a : e.args) collect_inputs(a, out);
}

std::vector<double> evaluate(const Expr& e, const Well& w) {
  const size_t n = size_t(w.length());
  switch (e.kind) {
    case Expr::Kind::kNumber:
      return std::vector<double>(n, e.number);
    case Expr::Kind::kCurve:
      return w.logs.at(e.name);  // presence checked by apply()
    case Expr::Kind::kNegate: {
      std::vector<double> v = evaluate(e.args[0], w);
      for (double& x : v) x = -x;
      return v;
    }
    case Expr::Kind::kFunction: {
      std::vector<double> v = evaluate(e.args[0], w);
      for (double& x : v) x = e.function(x);
      return v;
    }
    case Expr::Kind::kBinary: {
      std::vector<double> a = evaluate(e.args[0], w);
      const std::vector<double> b = evaluate(e.args[1], w);
      for (size_t i = 0; i < n; ++i) {
        switch (e.op) {
          case '+': a[i] += b[i]; break;
          case '-': a[i] -= b[i]; break;
          case '*': a[i] *= b[i]; break;
          default: a[i] /= b[i]; break;
        }
      }
      return a;
    }
  }
  return {};
}

}  // namespace

CurveMap::CurveMap() = default;
CurveMap::~CurveMap() = default;
CurveMap::CurveMap(CurveMap&&) noexcept = default;
CurveMap& CurveMap::operator=(CurveMap&&) noexcept = default;

CurveMap CurveMap::from_config(const Config& data) {
  CurveMap m;
  m.curves_ = data.get_string_list("curves", {"GR"});
  if (!data.has("curve_map")) {
    data.mark_known("curve_map");
    return m;
  }
  const Config section = data.section("curve_map");
  for (const std::string& curve : section.keys())
    m.add(curve, section.require_string(curve), section.key_path(curve));
  return m;
}

void CurveMap::add(const std::string& curve, const std::string& expression, const std::string& where) {
  STRATA_CHECK(!curve.empty(), where, ": empty curve name");
  for (const Entry& e : entries_) STRATA_CHECK(e.curve != curve, where, ": curve '", curve, "' is mapped twice");
  entries_.push_back({curve, expression, where, Parser(expression, where).parse()});
}

bool CurveMap::empty() const { return entries_.empty(); }

std::vector<std::string> CurveMap::inputs() const {
  std::set<std::string> names;
  for (const Entry& e : entries_) collect_inputs(e.expr, names);
  return {names.begin(), names.end()};
}

namespace {

// A curve the well lacks under `name` but holds under exactly one name that differs in case only ('gr', 'Gr' for
// 'GR': mnemonics are not case-sensitive in practice) is read as `name`; returns the name it had ("" if none).
std::string match_case(Well& w, const std::string& name) {
  if (w.logs.count(name)) return "";
  const std::string key = lower(name);
  std::vector<std::string> found;
  for (const auto& kv : w.logs)
    if (lower(kv.first) == key) found.push_back(kv.first);
  if (found.size() != 1) return "";
  auto node = w.logs.extract(found[0]);
  node.key() = name;
  w.logs.insert(std::move(node));
  return found[0];
}

// One note per set of renamed curves (a table of many wells says it once).
void say_renamed(const std::vector<std::string>& pairs) {
  static std::mutex mutex;
  static std::set<std::vector<std::string>> said;
  const std::lock_guard<std::mutex> lock(mutex);
  if (pairs.empty() || !said.insert(pairs).second) return;
  std::fprintf(stderr, "note: curves read under the config's names, which they match but for case: %s\n",
               join(pairs, ", ").c_str());
}

}  // namespace

void CurveMap::apply(Well& w) const {
  std::vector<std::string> renamed;
  const auto match = [&](const std::string& name) {
    if (const std::string was = match_case(w, name); !was.empty()) renamed.push_back(was + " as " + name);
  };
  for (const std::string& name : curves_)
    if (std::none_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.curve == name; })) match(name);
  std::vector<std::pair<std::string, std::vector<double>>> results;
  for (const Entry& e : entries_) {
    std::set<std::string> needs;
    collect_inputs(e.expr, needs);
    for (const std::string& name : needs) {
      match(name);
      if (w.logs.count(name)) continue;
      std::vector<std::string> has;
      for (const auto& kv : w.logs) has.push_back(kv.first);
      STRATA_FAIL(e.where, ": '", e.text, "': well '", w.name, "' has no curve '", name, "'; it has ", join(has, ", "));
    }
    std::vector<double> v = evaluate(e.expr, w);
    for (double& x : v)
      if (!std::isfinite(x)) x = kNaN;
    results.emplace_back(e.curve, std::move(v));
  }
  for (auto& [curve, values] : results) w.logs[curve] = std::move(values);
  say_renamed(renamed);
}

void CurveMap::apply(std::vector<Well>& wells) const {
  for (Well& w : wells) apply(w);
}

std::string log10_source(const std::string& curve, const Well& w) {
  const std::string c = lower(curve), tail = "_log10";
  if (c.size() <= tail.size() || c.compare(c.size() - tail.size(), tail.size(), tail) != 0) return "";
  for (const auto& [name, values] : w.logs)
    if (lower(name) == c.substr(0, c.size() - tail.size())) return name;
  return "";
}

std::string log10_entry(const std::string& curve, const Well& w) {
  const std::string source = log10_source(curve, w);
  return source.empty() ? "" : curve + ": log10(" + source + ")";
}

}  // namespace strata::welllog
