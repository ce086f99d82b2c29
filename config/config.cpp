#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/error.h"
#include "engine/file_io.h"

namespace strata {

struct Config::Document {
  YAML::Node root;
  std::string origin;
  std::set<std::string> known;  // full key paths read or marked
};

namespace {

std::string join_path(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  return "nothing";
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> parts;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, '.')) parts.push_back(cur);
  return parts;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

std::string describe_bounds(const Bounds& b) {
  std::ostringstream os;
  const bool has_lo = b.lo > -1e307, has_hi = b.hi < 1e307;
  if (has_lo && has_hi) os << "in " << (b.lo_open ? "(" : "[") << b.lo << ", " << b.hi << "]";
  else if (has_lo) os << (b.lo_open ? "> " : ">= ") << b.lo;
  else os << "<= " << b.hi;
  return os.str();
}

bool within(double v, const Bounds& b) {
  if (std::isnan(v)) return false;
  if (b.lo_open ? !(v > b.lo) : !(v >= b.lo)) return false;
  return v <= b.hi;
}

void collect_unknown(const YAML::Node& node, const std::string& path, const std::set<std::string>& known,
                     std::vector<std::string>& unknown) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string full = join_path(path, kv.first.as<std::string>());
      if (!known.count(full)) unknown.push_back(full);
      else collect_unknown(kv.second, full, known, unknown);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string full = join_path(path, std::to_string(i));
      if (known.count(full)) collect_unknown(node[i], full, known, unknown);
    }
  }
}

// yaml-cpp keeps both entries of a key written twice in one map and answers
// lookups with one of them; a duplicated key is almost always an edit gone
// wrong, so it is an error naming the key, its path and its line.
void check_duplicate_keys(const YAML::Node& node, const std::string& path, const std::string& origin) {
  if (node.IsMap()) {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const std::string full = join_path(path, key);
      STRATA_CHECK(seen.insert(key).second, origin, ": ", full, ": the key appears twice in the same map (line ",
                   kv.first.Mark().line + 1, "); keep one");
      check_duplicate_keys(kv.second, full, origin);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) check_duplicate_keys(node[i], join_path(path, std::to_string(i)), origin);
  }
}

// YAML forbids tabs in indentation; editors insert them silently, and yaml-cpp's message does not say so.
std::string tab_indent_hint(const std::string& path) {
  std::ifstream f(path);
  int64_t n = 0;
  for (std::string line; std::getline(f, line);) {
    ++n;
    const size_t text = line.find_first_not_of(" \t");
    if (text != std::string::npos && line.find('\t') < text)
      return str_cat(" (line ", n, " is indented with a tab: YAML indents with spaces only)");
  }
  return "";
}

}  // namespace

std::string nearest_name(const std::string& name, const std::vector<std::string>& names) {
  const auto lower = [](std::string t) {
    for (char& c : t) c = char(std::tolower(static_cast<unsigned char>(c)));
    return t;
  };
  const std::string a = lower(name);
  const size_t limit = a.size() <= 4 ? 1 : a.size() <= 9 ? 2 : 3;
  std::string best;
  size_t best_distance = limit + 1;
  bool tie = false;
  for (const std::string& candidate : names) {
    const std::string b = lower(candidate);
    // Optimal string alignment distance (Levenshtein with transpositions of neighbours).
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i)
      for (size_t j = 1; j <= b.size(); ++j) {
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    const size_t distance = d[a.size()][b.size()];
    if (distance < best_distance) {
      best = candidate, best_distance = distance, tie = false;
    } else if (distance == best_distance) {
      tie = true;
    }
  }
  return best_distance <= limit && !tie ? best : std::string();
}

Config::Config(std::shared_ptr<Document> doc, std::unique_ptr<YAML::Node> node, std::string path)
    : doc_(std::move(doc)), node_(std::move(node)), path_(std::move(path)) {}
Config::Config(const Config& o) : doc_(o.doc_), node_(std::make_unique<YAML::Node>(*o.node_)), path_(o.path_) {}
Config& Config::operator=(const Config& o) {
  if (this != &o) {
    doc_ = o.doc_;
    node_ = std::make_unique<YAML::Node>(*o.node_);
    path_ = o.path_;
  }
  return *this;
}
Config::~Config() = default;

Config Config::from_root(std::shared_ptr<Document> doc) {
  if (!doc->root.IsDefined() || doc->root.IsNull()) doc->root = YAML::Node(YAML::NodeType::Map);
  check_duplicate_keys(doc->root, "", doc->origin);
  STRATA_CHECK(doc->root.IsMap(), doc->origin, ": a config must be a YAML map of keys, got ", scalar_text(doc->root));
  Config c(doc, std::make_unique<YAML::Node>(doc->root), "");
  const int64_t version = c.get_int("version", kVersion);
  STRATA_CHECK(version == kVersion, doc->origin, ": version: this is config format ", version, "; strata reads ",
               kVersion);
  return c;
}

Config Config::load(const std::string& path) {
  auto doc = std::make_shared<Document>();
  doc->origin = path;
  require_input_file(path, "config");
  try {
    doc->root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    STRATA_FAIL(path, ": not valid YAML: ", e.what(), tab_indent_hint(path));
  }
  return from_root(doc);
}

Config Config::parse(const std::string& text, const std::string& origin) {
  auto doc = std::make_shared<Document>();
  doc->origin = origin;
  try {
    doc->root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    STRATA_FAIL(origin, ": not valid YAML: ", e.what());
  }
  return from_root(doc);
}

void Config::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  STRATA_CHECK(eq != std::string::npos && eq > 0, "override '", assignment, "': expected key.sub=value");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    STRATA_FAIL("override '", assignment, "': the value is not valid YAML: ", e.what());
  }
  STRATA_CHECK(!value.IsNull() || text.find_first_not_of(" \t") != std::string::npos, "override '", assignment,
               "': empty value (to use the default, leave the key out)");
  STRATA_CHECK(!value.IsNull(), "override '", assignment, "': a null value would silently reset ", key,
               " to its default; leave the key out instead");
  const std::vector<std::string> parts = split_dots(key);
  YAML::Node cur = *node_;
  std::string walked = path_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    walked = join_path(walked, parts[i]);
    if (cur.IsSequence() && is_index(parts[i])) {
      const size_t idx = std::stoul(parts[i]);
      STRATA_CHECK(idx < cur.size(), "override '", assignment, "': ", walked, " is past the end of a list of ",
                   cur.size());
      cur.reset(cur[idx]);
      continue;
    }
    STRATA_CHECK(cur.IsMap() || cur.IsNull(), "override '", assignment, "': ", walked,
                 " cannot hold keys (its parent is ", scalar_text(cur), ")");
    YAML::Node next = cur[parts[i]];
    if (!next.IsDefined() || next.IsNull()) next = YAML::Node(YAML::NodeType::Map);
    STRATA_CHECK(next.IsMap() || next.IsSequence(), "override '", assignment, "': ", walked, " is ",
                 scalar_text(next), ", not a map");
    cur.reset(next);
  }
  if (cur.IsSequence() && is_index(parts.back())) {
    const size_t idx = std::stoul(parts.back());
    STRATA_CHECK(idx < cur.size(), "override '", assignment, "': index ", idx, " is past the end of a list of ",
                 cur.size());
    cur[idx] = value;
  } else {
    STRATA_CHECK(cur.IsMap() || cur.IsNull(), "override '", assignment, "': the parent of ", key, " is not a map");
    cur[parts.back()] = value;
  }
}

void Config::set(const std::string& key, int64_t value) { (*node_)[key] = value; }
void Config::set(const std::string& key, bool value) { (*node_)[key] = value; }
void Config::set(const std::string& key, const std::string& value) { (*node_)[key] = value; }
namespace {
template <class T>
YAML::Node flow_list(const std::vector<T>& values) {
  YAML::Node list(YAML::NodeType::Sequence);
  list.SetStyle(YAML::EmitterStyle::Flow);
  for (const T& v : values) list.push_back(v);
  return list;
}
}  // namespace

void Config::set(const std::string& key, const std::vector<int64_t>& value) { (*node_)[key] = flow_list(value); }
void Config::set(const std::string& key, const std::vector<double>& value) { (*node_)[key] = flow_list(value); }

Config Config::detached() const {
  auto doc = std::make_shared<Document>();
  doc->origin = doc_->origin;
  doc->root = YAML::Clone(*node_);
  return Config(doc, std::make_unique<YAML::Node>(doc->root), path_);
}

void Config::apply_overrides(const std::vector<std::string>& assignments) {
  for (const std::string& a : assignments) apply_override(a);
}

bool Config::lookup(const std::string& key, YAML::Node& out) const {
  const YAML::Node& self = *node_;  // const access never inserts the key
  const YAML::Node n = self[key];
  if (!n.IsDefined() || n.IsNull()) return false;
  out.reset(n);
  return true;
}

std::string Config::key_path(const std::string& key) const { return join_path(path_, key); }
const std::string& Config::origin() const { return doc_->origin; }

void Config::fail(const std::string& key, const std::string& message) const {
  STRATA_FAIL(doc_->origin, ": ", key_path(key), ": ", message);
}

void Config::mark_known(const std::string& key) const { doc_->known.insert(key_path(key)); }

bool Config::was_read(const std::string& key) const {
  const std::string full = key_path(key);
  if (doc_->known.count(full)) return true;
  const auto after = doc_->known.lower_bound(full + ".");
  if (after != doc_->known.end() && after->rfind(full + ".", 0) == 0) return true;
  // x.3 of a list read whole as x.
  for (size_t dot = full.rfind('.'); dot != std::string::npos && dot > 0; dot = full.rfind('.', dot - 1))
    if (doc_->known.count(full.substr(0, dot))) return is_index(full.substr(dot + 1, full.find('.', dot + 1) - dot - 1));
  return false;
}

bool Config::has(const std::string& key) const {
  YAML::Node n;
  return lookup(key, n);
}

bool Config::is_list(const std::string& key) const {
  YAML::Node n;
  return lookup(key, n) && n.IsSequence();
}

bool Config::is_scalar(const std::string& key) const {
  YAML::Node n;
  return lookup(key, n) && n.IsScalar();
}

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  for (const auto& kv : *node_) out.push_back(kv.first.as<std::string>());
  return out;
}

template <class T>
bool Config::read_or_record(const std::string& key, const T& fallback, YAML::Node& out) const {
  mark_known(key);
  if (lookup(key, out)) return true;
  (*node_)[key] = fallback;  // the resolved config shows the default that was used
  return false;
}

template <class T>
T Config::read_scalar(const std::string& key, const T& fallback, const char* what) const {
  YAML::Node n;
  if (!read_or_record(key, fallback, n)) return fallback;
  if (!n.IsScalar()) fail(key, str_cat("must be ", what, ", got ", scalar_text(n)));
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    fail(key, str_cat("must be ", what, ", got ", scalar_text(n)));
  }
}

template <class T>
std::vector<T> Config::read_list(const std::string& key, const std::vector<T>& fallback, const char* what) const {
  YAML::Node n;
  if (!read_or_record(key, fallback, n)) return fallback;
  if (!n.IsSequence()) fail(key, str_cat("must be a list of ", what, ", got ", scalar_text(n)));
  std::vector<T> out;
  for (size_t i = 0; i < n.size(); ++i) {
    try {
      out.push_back(n[i].as<T>());
    } catch (const YAML::Exception&) {
      fail(key, str_cat("item ", i, " must be ", what, ", got ", scalar_text(n[i])));
    }
  }
  return out;
}

bool Config::get_bool(const std::string& key, bool fallback) const {
  return read_scalar<bool>(key, fallback, "true or false");
}

int64_t Config::get_int(const std::string& key, int64_t fallback, Bounds bounds) const {
  const int64_t v = read_scalar<int64_t>(key, fallback, "an integer");
  if (!within(double(v), bounds)) fail(key, str_cat("must be ", describe_bounds(bounds), ", got ", v));
  return v;
}

double Config::get_double(const std::string& key, double fallback, Bounds bounds) const {
  const double v = read_scalar<double>(key, fallback, "a number");
  if (!within(v, bounds)) fail(key, str_cat("must be ", describe_bounds(bounds), ", got ", v));
  return v;
}

namespace {

// ${NAME} and ${NAME:-fallback} in a string value, from the environment; STRATA_DATA (the data root) is "data"
// when unset. `where` names the key in errors.
std::string expand_environment(const std::string& v, const std::string& where) {
  if (v.find("${") == std::string::npos) return v;
  std::string out;
  for (size_t i = 0; i < v.size();) {
    if (v.compare(i, 2, "${") != 0) {
      out += v[i++];
      continue;
    }
    const size_t close = v.find('}', i);
    STRATA_CHECK(close != std::string::npos, where, ": '", v, "': '${' without a closing '}'");
    std::string name = v.substr(i + 2, close - i - 2), fallback;
    bool has_fallback = false;
    if (const size_t dash = name.find(":-"); dash != std::string::npos) {
      fallback = name.substr(dash + 2);
      name = name.substr(0, dash);
      has_fallback = true;
    }
    STRATA_CHECK(!name.empty(), where, ": '", v, "': an empty variable name in ${}");
    const char* env = std::getenv(name.c_str());
    if (env && *env)
      out += env;
    else if (has_fallback)
      out += fallback;
    else if (name == "STRATA_DATA")
      out += Config::data_root();
    else
      STRATA_FAIL(where, ": '", v, "' names the environment variable ", name, ", which is not set (set it, or write ${",
                  name, ":-DEFAULT})");
    i = close + 1;
  }
  return out;
}

}  // namespace

std::string Config::data_root() {
  const char* env = std::getenv("STRATA_DATA");
  return env && *env ? env : "data";
}

std::string Config::get_string(const std::string& key, const std::string& fallback) const {
  return expand_environment(read_scalar<std::string>(key, fallback, "a string"), origin() + ": " + key_path(key));
}

std::string Config::get_choice(const std::string& key, const std::string& fallback,
                               const std::vector<std::string>& choices) const {
  const std::string v = get_string(key, fallback);
  for (const std::string& c : choices)
    if (c == v) return v;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  const std::string near = nearest_name(v, choices);
  fail(key, str_cat("'", v, "' is not one of: ", list, near.empty() ? "" : " (did you mean '" + near + "'?)"));
}

std::vector<int64_t> Config::get_int_list(const std::string& key, const std::vector<int64_t>& fallback) const {
  return read_list<int64_t>(key, fallback, "integers");
}
std::vector<double> Config::get_double_list(const std::string& key, const std::vector<double>& fallback) const {
  return read_list<double>(key, fallback, "numbers");
}
std::vector<std::string> Config::get_string_list(const std::string& key,
                                                 const std::vector<std::string>& fallback) const {
  std::vector<std::string> v = read_list<std::string>(key, fallback, "strings");
  for (std::string& s : v) s = expand_environment(s, origin() + ": " + key_path(key));
  return v;
}

std::string Config::require_string(const std::string& key) const {
  if (!has(key)) fail(key, "is required but missing");
  return get_string(key, "");
}

int64_t Config::require_int(const std::string& key, Bounds bounds) const {
  if (!has(key)) fail(key, "is required but missing");
  return get_int(key, 0, bounds);
}

Config Config::section(const std::string& key) const {
  YAML::Node n;
  if (!read_or_record(key, YAML::Node(YAML::NodeType::Map), n)) lookup(key, n);  // the empty map just recorded
  if (!n.IsMap()) fail(key, str_cat("must be a map of keys, got ", scalar_text(n)));
  return Config(doc_, std::make_unique<YAML::Node>(n), key_path(key));
}

std::vector<Config> Config::section_list(const std::string& key) const {
  mark_known(key);
  YAML::Node list;
  std::vector<Config> out;
  if (!lookup(key, list)) return out;
  if (!list.IsSequence()) fail(key, str_cat("must be a list of maps, got ", scalar_text(list)));
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = key_path(key) + "." + std::to_string(i);
    STRATA_CHECK(list[i].IsMap(), doc_->origin, ": ", item, ": must be a map of keys, got ", scalar_text(list[i]));
    doc_->known.insert(item);
    out.push_back(Config(doc_, std::make_unique<YAML::Node>(list[i]), item));
  }
  return out;
}

void Config::check_unknown_keys() const {
  std::vector<std::string> unknown;
  collect_unknown(doc_->root, "", doc_->known, unknown);
  if (unknown.empty()) return;
  // The keys a map accepts (its known keys' last parts), and the parent map of a dotted key.
  const auto parent_of = [](const std::string& k) {
    const size_t d = k.rfind('.');
    return d == std::string::npos ? std::string() : k.substr(0, d);
  };
  const auto accepted_in = [&](const std::string& parent) {
    std::vector<std::string> names;
    for (const std::string& k : doc_->known)
      if (parent_of(k) == parent) names.push_back(k.substr(parent.empty() ? 0 : parent.size() + 1));
    return names;
  };
  std::ostringstream os;
  os << doc_->origin << ": unknown key" << (unknown.size() > 1 ? "s" : "") << " ";
  for (size_t i = 0; i < unknown.size(); ++i) {
    os << (i ? ", " : "") << "'" << unknown[i] << "'";
    const std::string parent = parent_of(unknown[i]);
    const std::string name = unknown[i].substr(parent.empty() ? 0 : parent.size() + 1);
    const std::string near = nearest_name(name, accepted_in(parent));
    if (!near.empty()) os << " (did you mean '" << (parent.empty() ? "" : parent + ".") << near << "'?)";
  }
  // Name what the first unknown key's map does accept, which is usually the typo's fix.
  const std::string parent = parent_of(unknown.front());
  std::string accepted;
  for (const std::string& k : accepted_in(parent)) accepted += (accepted.empty() ? "" : ", ") + k;
  if (!accepted.empty()) os << " (known keys" << (parent.empty() ? "" : " in '" + parent + "'") << ": " << accepted << ")";
  throw Error(os.str());
}

std::string Config::dump() const {
  YAML::Emitter out;
  out << doc_->root;
  return std::string(out.c_str()) + "\n";
}

void Config::save(const std::string& path, const std::string& comment) const {
  const std::string text = dump();
  write_file_atomic(path, [&](std::ostream& f) {
    if (!comment.empty()) f << "# " << comment << "\n";
    f << text;
  });
}

}  // namespace strata
