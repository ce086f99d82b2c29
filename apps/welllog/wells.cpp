#include "apps/welllog/wells.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <set>

#include "apps/welllog/curve_map.h"
#include "apps/welllog/las.h"
#include "apps/welllog/text.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace strata::welllog {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One CSV record; double quotes group fields that hold commas ("" is a quote).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(trim(cur));
  return out;
}

bool parse_double(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return *end == '\0';
}

bool all_missing(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isnan(x); });
}

}  // namespace

int Table::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return int(i);
  // Else the one column whose name differs in case only ('depth', 'DEPTH' for 'Depth').
  int found = -1;
  for (size_t i = 0; i < columns.size(); ++i)
    if (lower(columns[i]) == lower(name)) {
      if (found >= 0) return -1;
      found = int(i);
    }
  return found;
}

Table read_csv(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  STRATA_CHECK(f.good(), path, ": cannot open CSV file");
  Table t;
  t.path = path;
  std::string line;
  STRATA_CHECK(std::getline(f, line), path, ": empty file (expected a header row)");
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  STRATA_CHECK(!(line.size() >= 80 && static_cast<unsigned char>(line[0]) == 0xC3), path,
               ": looks like a SEG-Y file (its first bytes are an EBCDIC text header), not a CSV table");
  const size_t binary = size_t(std::count_if(line.begin(), line.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 32 ? u != '\t' : u >= 0x80;
  }));
  STRATA_CHECK(binary * 10 < std::max<size_t>(line.size(), 1), path, ": looks like a binary file (SEG-Y or other ",
               "binary data: ", binary, " non-text bytes in its first ", line.size(), "), not a CSV table");
  t.columns = split_csv(line);
  STRATA_CHECK(!(t.columns.size() == 1 && line.find(';') != std::string::npos), path,
               ": looks semicolon-separated (the header has ';' and no ','); strata reads comma-separated CSV");
  STRATA_CHECK(!(t.columns.size() == 1 && line.find('\t') != std::string::npos), path,
               ": looks tab-separated; strata reads comma-separated CSV");
  for (size_t a = 0; a < t.columns.size(); ++a)
    for (size_t b = a + 1; b < t.columns.size(); ++b)
      STRATA_CHECK(t.columns[a] != t.columns[b], path, ":1: column '", t.columns[a], "' appears twice (columns ", a + 1,
                   " and ", b + 1, ")");
  for (size_t n = 2; std::getline(f, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    std::vector<std::string> row = split_csv(line);
    STRATA_CHECK(row.size() == t.columns.size(), path, ":", n, ": ", row.size(), " fields, the header has ",
                 t.columns.size());
    t.rows.push_back(std::move(row));
    t.lines.push_back(n);
  }
  return t;
}

std::vector<Well> wells_from_table(const Table& t, const Columns& c, bool read_labels) {
  const int wc = t.column(c.well), dc = t.column(c.depth), lc = read_labels ? t.column(c.label) : -1;
  STRATA_CHECK(dc >= 0, t.path, ": no depth column '", c.depth, "' (set data.depth_column)");
  const auto line_of = [&](size_t r) { return t.lines.empty() ? r + 2 : t.lines[r]; };
  // Logs: columns whose non-empty cells are mostly numbers. The others
  // (formation names, comments) are text columns and not read.
  std::vector<int> log_columns;
  for (size_t j = 0; j < t.columns.size(); ++j) {
    if (int(j) == wc || int(j) == dc || int(j) == t.column(c.label)) continue;
    size_t numbers = 0, texts = 0, first_text = 0;
    for (size_t r = 0; r < t.rows.size(); ++r) {
      double v;
      if (t.rows[r][j].empty()) continue;
      if (parse_double(t.rows[r][j], v)) {
        ++numbers;
      } else if (texts++ == 0) {
        first_text = r;
      }
    }
    if (numbers == 0 || numbers < texts) continue;
    if (texts > 0) {
      const std::string where = str_cat(t.path, ":", line_of(first_text), ": column '", t.columns[j], "' value '",
                                        t.rows[first_text][j], "' is not a number");
      STRATA_CHECK(c.bad_values == "missing", where, " (", texts, " such cell", texts == 1 ? "" : "s",
                   "; fix the file, or read them as missing values with data.bad_values=missing)");
      std::fprintf(stderr, "warning: %s; %zu such cell%s read as missing (data.bad_values: missing)\n", where.c_str(),
                   texts, texts == 1 ? "" : "s");
    }
    log_columns.push_back(int(j));
  }
  std::vector<Well> wells;
  std::map<std::string, size_t> index;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const std::string name = wc >= 0 ? row[size_t(wc)] : std::filesystem::path(t.path).stem().string();
    auto [it, fresh] = index.emplace(name, wells.size());
    if (fresh) {
      wells.push_back({});
      wells.back().name = name;
    }
    Well& w = wells[it->second];
    double depth;
    STRATA_CHECK(parse_double(row[size_t(dc)], depth) && std::isfinite(depth), t.path, ":", line_of(r), ": depth '",
                 row[size_t(dc)], "' is not a number");
    w.depth.push_back(depth);
    w.rows.push_back(r);
    for (int j : log_columns) {
      double v = kNaN;
      if (!row[size_t(j)].empty() && !parse_double(row[size_t(j)], v)) v = kNaN;
      w.logs[t.columns[size_t(j)]].push_back(v);
    }
    if (lc >= 0) {
      double code = -1;
      if (!row[size_t(lc)].empty())
        STRATA_CHECK(parse_double(row[size_t(lc)], code) && code == std::floor(code), t.path, ":", line_of(r),
                     ": label '", row[size_t(lc)], "' in column ", c.label, " is not an integer code");
      w.codes.push_back(int64_t(code));
    }
  }
  for (Well& w : wells) sort_by_depth(w, t.path);
  return wells;
}

void sort_by_depth(Well& w, const std::string& source) {
  for (size_t i = 0; i < w.depth.size(); ++i)
    STRATA_CHECK(std::isfinite(w.depth[i]), source, ": well '", w.name, "': depth of sample ", i + 1,
                 " is not a number");
  // Repeated depths (a well's rows listed twice, two runs of one interval spliced) are kept, each as a sample of
  // its own; say so, since the network then sees that stretch of the well twice over.
  const auto warn_repeats = [&] {
    int64_t repeats = 0;
    double first = 0;
    for (size_t i = 1; i < w.depth.size(); ++i)
      if (w.depth[i] == w.depth[i - 1] && repeats++ == 0) first = w.depth[i];
    if (repeats > 0)
      std::fprintf(stderr, "warning: %s: well '%s' lists %lld depth%s again (first: %g); each row is predicted as a "
                   "sample of its own: remove the repeated rows if they are copies\n", source.c_str(), w.name.c_str(),
                   static_cast<long long>(repeats), repeats == 1 ? "" : "s", first);
  };
  if (std::is_sorted(w.depth.begin(), w.depth.end())) return warn_repeats();
  std::vector<size_t> order(w.depth.size());
  std::iota(order.begin(), order.end(), size_t(0));
  const bool reversed = std::is_sorted(w.depth.rbegin(), w.depth.rend());
  if (reversed)
    std::reverse(order.begin(), order.end());
  else
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return w.depth[a] < w.depth[b]; });
  const auto permute = [&](auto& v) {
    if (v.empty()) return;
    auto copy = v;
    for (size_t i = 0; i < order.size(); ++i) v[i] = copy[order[i]];
  };
  permute(w.depth);
  for (auto& [name, values] : w.logs) permute(values);
  permute(w.codes);
  if (w.rows.empty()) {
    w.rows.resize(order.size());
    std::iota(w.rows.begin(), w.rows.end(), size_t(0));
  }
  permute(w.rows);
  std::fprintf(stderr, "%s: well '%s' is listed %s; its %zu samples are used in order of increasing depth "
               "(outputs keep the file's row order)\n", source.c_str(), w.name.c_str(),
               reversed ? "bottom-up (depths decrease)" : "out of depth order", order.size());
  warn_repeats();
}

int64_t flag_outliers(const Preprocessing& p, Well& w) {
  int64_t changed = 0;
  for (size_t c = 0; c < p.curves.size(); ++c) {
    const auto it = w.logs.find(p.curves[c]);
    if (it == w.logs.end() || c >= p.mean.size()) continue;
    const double limit = outlier_limit(p.stddev[c]);
    int64_t count = 0;
    double first_value = 0, first_depth = 0;
    for (size_t i = 0; i < it->second.size(); ++i) {
      double& v = it->second[i];
      if (std::isnan(v) || (std::isfinite(v) && std::fabs(v - p.mean[c]) <= limit)) continue;
      if (count++ == 0) first_value = v, first_depth = w.depth[i];
      v = kNaN;
    }
    if (count == 0) continue;
    changed += count;
    std::fprintf(stderr, "warning: well '%s', curve '%s': %lld value%s more than 100 standard deviations from the "
                 "training data (first: %g at depth %g; a null sentinel?) read as missing\n", w.name.c_str(),
                 p.curves[c].c_str(), static_cast<long long>(count), count == 1 ? "" : "s", first_value, first_depth);
  }
  return changed;
}

Well well_from_las(const std::string& path, const std::string& label_curve) {
  return well_from_las(las::read(path), label_curve);
}

Well well_from_las(const las::LasFile& f, const std::string& label_curve) {
  STRATA_CHECK(f.rows() > 0, f.path, ": the ~A section holds no depth steps");
  Well w;
  w.name = f.well_value("WELL");
  if (w.name.empty()) w.name = std::filesystem::path(f.path).stem().string();
  w.depth = f.curves[0].values;
  w.depth_unit = depth_unit_of(f.curves[0].unit);
  const las::Curve* labels = label_curve.empty() ? nullptr : f.find(label_curve);
  for (size_t c = 1; c < f.curves.size(); ++c)
    if (&f.curves[c] != labels) w.logs[f.curves[c].mnemonic] = f.curves[c].values;
  if (labels != nullptr)
    for (size_t r = 0; r < labels->values.size(); ++r) {
      const double v = labels->values[r];
      STRATA_CHECK(std::isnan(v) || v == std::floor(v), f.path, ": curve ", labels->mnemonic, " holds ", v,
                   " at depth ", w.depth[r], ", not an integer label code (data.label_column names the label curve)");
      w.codes.push_back(std::isnan(v) ? -1 : int64_t(v));
    }
  for (size_t r = 0; r < w.depth.size(); ++r) w.rows.push_back(r);
  sort_by_depth(w, f.path);
  return w;
}

SyntheticOptions SyntheticOptions::from_config(const Config& c) {
  SyntheticOptions o;
  o.wells = c.get_int("wells", o.wells, Bounds::at_least(2));
  o.min_length = c.get_int("min_length", o.min_length, Bounds::at_least(64));
  o.max_length = c.get_int("max_length", o.max_length, Bounds::at_least(64));
  o.noise = c.get_double("noise", o.noise, Bounds::at_least(0));
  o.seed = uint64_t(c.get_int("seed", int64_t(o.seed), Bounds::at_least(0)));
  STRATA_CHECK(o.max_length >= o.min_length, c.key_path("max_length"), ": must be >= min_length (", o.min_length,
               ")");
  return o;
}

const std::vector<std::string>& synthetic_class_names() {
  static const std::vector<std::string> names = {"none", "symmetrical", "cylindrical", "funnel", "bell"};
  return names;
}

std::vector<Well> synthetic_gamma_wells(const SyntheticOptions& o) {
  std::mt19937_64 rng(o.seed);
  auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  auto integer = [&](int64_t a, int64_t b) { return std::uniform_int_distribution<int64_t>(a, b)(rng); };
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::vector<Well> wells;
  for (int64_t k = 0; k < o.wells; ++k) {
    Well w;
    char name[32];
    std::snprintf(name, sizeof name, "SYN-%03lld", static_cast<long long>(k + 1));
    w.name = name;
    const int64_t n = integer(o.min_length, o.max_length);
    std::vector<double> gr(static_cast<size_t>(n)), shale(static_cast<size_t>(n));
    w.codes.assign(size_t(n), 0);
    double drift = 0;
    const double shale_level = uniform(95, 125);
    for (int64_t i = 0; i < n; ++i) {
      drift = 0.995 * drift + 0.8 * gauss(rng);  // slow baseline wander
      shale[size_t(i)] = shale_level + drift;
    }
    gr = shale;
    for (int64_t i = integer(5, 60); i < n;) {
      const int64_t thick = std::min<int64_t>(integer(8, 60), n - i);
      if (thick < 8) break;
      const int64_t cls = integer(1, 4);
      const double sand = uniform(25, 65);
      for (int64_t j = 0; j < thick; ++j) {
        const double u = thick > 1 ? double(j) / double(thick - 1) : 0.0;  // 0 at the top, 1 at the base
        double f = 0;  // 0: sand, 1: shale
        switch (cls) {
          case 1: f = std::abs(2 * u - 1); break;  // symmetrical: cleanest in the middle
          case 2: f = 0; break;                    // cylindrical: blocky
          case 3: f = u; break;                    // funnel: clean top, shaly base
          case 4: f = 1 - u; break;                // bell: shaly top, clean base
        }
        const size_t s = size_t(i + j);
        gr[s] = sand + (shale[s] - sand) * (0.1 + 0.8 * f);
        w.codes[s] = cls;
      }
      i += thick + integer(6, 70);
    }
    for (int64_t i = 0; i < n; ++i) {
      gr[size_t(i)] += o.noise * gauss(rng);
      w.depth.push_back(1000.0 + 0.5 * double(i));
      w.rows.push_back(size_t(i));
    }
    w.logs["GR"] = std::move(gr);
    wells.push_back(std::move(w));
  }
  return wells;
}

Preprocessing Preprocessing::from_config(const Config& data) {
  Preprocessing p;
  p.curves = data.get_string_list("curves", {"GR"});
  STRATA_CHECK(!p.curves.empty(), data.key_path("curves"), ": name at least one log curve");
  p.codes = data.get_int_list("classes", {0, 1, 2, 3, 4});
  STRATA_CHECK(!p.codes.empty(), data.key_path("classes"), ": list the label codes");
  std::set<int64_t> unique(p.codes.begin(), p.codes.end());
  STRATA_CHECK(unique.size() == p.codes.size(), data.key_path("classes"), ": label codes repeat");
  p.class_names = data.get_string_list("class_names", to_strings(p.codes));
  STRATA_CHECK(p.class_names.size() == p.codes.size(), data.key_path("class_names"), ": ", p.class_names.size(),
               " names for ", p.codes.size(), " classes");
  const Config m = data.section("missing");
  p.missing_values = m.get_choice("values", "interpolate", {"interpolate", "mean"});
  p.missing_curve = m.get_choice("curve", "mean", {"mean", "drop_well", "error"});
  p.indicators = m.get_string_list("indicator", {});
  for (const std::string& c : p.indicators)
    STRATA_CHECK(std::find(p.curves.begin(), p.curves.end(), c) != p.curves.end(), m.key_path("indicator"),
                 ": '", c, "' is not one of data.curves");
  p.per_well = data.get_string_list("normalise_per_well", {});
  for (const std::string& c : p.per_well)
    STRATA_CHECK(std::find(p.curves.begin(), p.curves.end(), c) != p.curves.end(), data.key_path("normalise_per_well"),
                 ": '", c, "' is not one of data.curves");
  p.per_well_min_samples = data.get_int("per_well_min_samples", 0, Bounds::at_least(0));
  p.per_well_trim = data.get_double("per_well_trim", 0.0, Bounds::between(0.0, 0.49));
  p.depth_unit = depth_unit_from_config(data);
  return p;
}

int64_t Preprocessing::class_of(int64_t code) const {
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] == code) return int64_t(i);
  return -1;
}

void Preprocessing::fit(const std::vector<Well>& wells) {
  mean.assign(curves.size(), 0);
  stddev.assign(curves.size(), 1);
  for (size_t c = 0; c < curves.size(); ++c) {
    double s = 0, s2 = 0;
    int64_t n = 0;
    for (const Well& w : wells) {
      const auto it = w.logs.find(curves[c]);
      if (it == w.logs.end()) continue;
      for (double v : it->second)
        if (!std::isnan(v)) {
          s += v;
          s2 += v * v;
          ++n;
        }
    }
    STRATA_CHECK(n > 0, "curve '", curves[c], "' has no value in any training well");
    mean[c] = s / double(n);
    const double var = std::max(0.0, s2 / double(n) - mean[c] * mean[c]);
    stddev[c] = var > 1e-24 ? std::sqrt(var) : 1.0;
  }
  depth_step = median_depth_step(wells);
}

std::string depth_unit_from_config(const Config& data) {
  const std::string unit = data.get_choice("depth_unit", "unknown", {"unknown", "ft", "m"});
  return unit == "unknown" ? "" : unit;
}

std::string depth_unit_of(const std::string& unit) {
  const std::string u = lower(unit);
  if (u == "ft" || u == "f" || u == "feet" || u == "foot") return "ft";
  if (u == "m" || u == "meter" || u == "meters" || u == "metre" || u == "metres") return "m";
  return "";
}

double feet_per(const std::string& unit) {
  STRATA_CHECK(unit == "ft" || unit == "m", "feet_per: unknown depth unit '", unit, "'");
  return unit == "ft" ? 1.0 : 1.0 / 0.3048;
}

namespace {

void add_depth_steps(const Well& w, std::vector<double>& steps) {
  for (size_t i = 1; i < w.depth.size(); ++i) {
    const double d = std::fabs(w.depth[i] - w.depth[i - 1]);
    if (d > 0 && std::isfinite(d)) steps.push_back(d);
  }
}

double median_of(std::vector<double> steps) {
  if (steps.empty()) return 0;
  std::nth_element(steps.begin(), steps.begin() + ptrdiff_t(steps.size() / 2), steps.end());
  return steps[steps.size() / 2];
}

}  // namespace

double median_depth_step(const Well& w) {
  std::vector<double> steps;
  add_depth_steps(w, steps);
  return median_of(std::move(steps));
}

double median_depth_step(const std::vector<Well>& wells) {
  std::vector<double> steps;
  for (const Well& w : wells) add_depth_steps(w, steps);
  return median_of(std::move(steps));
}

bool monotonic_depth(const Well& w) {
  if (w.depth.size() < 2 || !(w.depth.back() != w.depth.front())) return false;
  const bool up = w.depth.back() > w.depth.front();
  for (size_t i = 1; i < w.depth.size(); ++i)
    if (up ? !(w.depth[i] >= w.depth[i - 1]) : !(w.depth[i] <= w.depth[i - 1])) return false;
  return true;
}

Well resample_well(const Well& w, double step) {
  STRATA_CHECK(step > 0, "resample_well: step must be positive, got ", step);
  STRATA_CHECK(monotonic_depth(w), "well '", w.name, "': depths are not monotonic, cannot resample");
  const double first = w.depth.front(), span = std::fabs(w.depth.back() - first);
  const double sign = w.depth.back() > first ? 1.0 : -1.0;
  const double samples = std::floor(span / step + 1e-9) + 1;
  STRATA_CHECK(samples <= 5e7, "well '", w.name, "': resampling ", w.depth.size(), " samples spanning ", span,
               " depth units to a spacing of ", step, " would need ", samples, " samples (over 50 million); check its",
               " depths and depth unit, or predict it as sampled with inference.resample=false");
  const size_t n = size_t(samples);
  Well out;
  out.name = w.name;
  // For each new depth: the sample at or before it (j) and the fraction t to the next.
  std::vector<size_t> lo(n);
  std::vector<double> frac(n);
  size_t j = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = first + sign * step * double(i);
    out.depth.push_back(d);
    while (j + 2 < w.depth.size() && sign * (w.depth[j + 1] - d) <= 0) ++j;
    if (j + 1 >= w.depth.size()) {
      lo[i] = w.depth.size() - 1, frac[i] = 0;
    } else {
      const double gap = w.depth[j + 1] - w.depth[j];  // 0 only for a repeated last depth
      lo[i] = j, frac[i] = gap == 0 ? 0.0 : std::clamp((d - w.depth[j]) / gap, 0.0, 1.0);
    }
  }
  for (const auto& [name, values] : w.logs) {
    std::vector<double>& v = out.logs[name];
    v.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const size_t a = lo[i], b = std::min(a + 1, values.size() - 1);
      v[i] = frac[i] == 0 ? values[a] : frac[i] == 1 ? values[b] : values[a] + frac[i] * (values[b] - values[a]);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const size_t nearest = frac[i] < 0.5 ? lo[i] : std::min(lo[i] + 1, w.depth.size() - 1);
    if (w.has_labels()) out.codes.push_back(w.codes[nearest]);
    out.rows.push_back(w.rows.empty() ? nearest : w.rows[nearest]);
  }
  return out;
}

bool Preprocessing::usable(const Well& w, std::string* why) const {
  for (const std::string& c : curves) {
    const auto it = w.logs.find(c);
    if (it != w.logs.end() && !all_missing(it->second)) continue;
    const std::string reason = str_cat("well '", w.name, "' has no ", it == w.logs.end() ? "curve" : "value in curve",
                                       " '", c, "'");
    STRATA_CHECK(missing_curve != "error", reason, " (data.missing.curve: error; use mean or drop_well)");
    if (missing_curve == "drop_well") {
      if (why) *why = reason;
      return false;
    }
    const std::string source = log10_source(c, w);  // the well has the curve's linear form
    std::fprintf(stderr, "warning: %s: filled with the training mean (data.missing.curve: mean)%s\n", reason.c_str(),
                 source.empty() ? "" : str_cat("; 'data.curve_map={", log10_entry(c, w), "}' computes it from the well's ",
                                               source).c_str());
  }
  return true;
}

std::vector<float> Preprocessing::features(const Well& w) const {
  STRATA_CHECK(mean.size() == curves.size(), "preprocessing: normalisation not fitted");
  const size_t n = size_t(w.length());
  std::vector<float> x(size_t(channels()) * n, 0.0f);
  for (size_t c = 0; c < curves.size(); ++c) {
    const auto it = w.logs.find(curves[c]);
    if (it == w.logs.end() || all_missing(it->second)) {
      if (!indicators.empty()) {
        const auto ind = std::find(indicators.begin(), indicators.end(), curves[c]);
        if (ind != indicators.end())
          std::fill_n(x.begin() + ptrdiff_t((curves.size() + size_t(ind - indicators.begin())) * n), n, 1.0f);
      }
      continue;  // filled with the training mean: 0 after normalisation
    }
    std::vector<double> v = it->second;
    STRATA_CHECK(v.size() == n, "well '", w.name, "': curve '", curves[c], "' has ", v.size(), " samples, depth has ",
                 n);
    const auto ind = std::find(indicators.begin(), indicators.end(), curves[c]);
    if (ind != indicators.end()) {
      float* flag = x.data() + (curves.size() + size_t(ind - indicators.begin())) * n;
      for (size_t i = 0; i < n; ++i) flag[i] = std::isnan(v[i]) ? 1.0f : 0.0f;
    }
    double mu = mean[c], sd = stddev[c];
    if (std::find(per_well.begin(), per_well.end(), curves[c]) != per_well.end()) {
      // The well's trimmed statistics (engine/ops.h), as an exported graph computes them.
      const RowStats own = nan_trimmed_stats(v.data(), int64_t(n), per_well_trim);
      // False for NaN (no value left).
      const bool varies = own.sd * own.sd > kLeastVariance * (1.0 + own.mean * own.mean);
      if (own.values >= std::max<int64_t>(per_well_min_samples, 2) && varies)
        mu = own.mean, sd = own.sd;  // else: the training statistics
    }
    if (missing_values == "interpolate") fill_gaps(v.data(), int64_t(n));
    float* dst = x.data() + c * n;
    for (size_t i = 0; i < n; ++i) dst[i] = std::isnan(v[i]) ? 0.0f : float((v[i] - mu) / sd);
  }
  return x;
}

std::vector<int64_t> Preprocessing::targets(const Well& w) const {
  std::vector<int64_t> y(size_t(w.length()), -100);
  if (!w.has_labels()) return y;
  for (size_t i = 0; i < y.size(); ++i) {
    const int64_t k = class_of(w.codes[i]);
    if (k >= 0) y[i] = k;
  }
  return y;
}

std::vector<Sample> prepare(const Preprocessing& p, const std::vector<Well>& wells) {
  std::vector<Sample> out;
  for (const Well& w : wells) out.push_back({w.name, w.length(), p.features(w), p.targets(w)});
  return out;
}

}  // namespace strata::welllog
