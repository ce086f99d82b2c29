// YAML configuration with validation.
//
// A Config is a view of one map in a YAML document (a file, or text) plus the
// key path that leads to it ("model.encoder"). Readers ask for the keys they
// understand, with a default, a range or a set of choices; every key asked for
// is marked as known, and a default that was used is written into the document,
// so that after the whole program has read its configuration
//
//   * check_unknown_keys() reports every key nobody asked for (a typo such as
//     `model.dept`), naming the key path, the file and the keys that exist there;
//   * dump() is the resolved configuration, defaults included, which every run
//     saves beside its results.
//
// Errors (wrong type, out of range, unknown choice, unknown key) are
// strata::Error values whose message starts with "<file>: <key path>:".
//
// Command-line overrides `a.b.c=value` set one scalar (parsed as YAML, so
// `lr=1e-3`, `flag=true`, `sizes=[1,2]` all work) before anything is read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace strata {

// The one name of `names` a typo away from `name` (letters swapped, missing, extra or wrong: at most 1 edit for
// names of up to 4 letters, 2 up to 9, 3 beyond; case ignored), or "" when none or several are that close. The
// "did you mean" of unknown config keys and command-line flags.
std::string nearest_name(const std::string& name, const std::vector<std::string>& names);

// Closed range check for numbers; unset sides are unbounded.
struct Bounds {
  double lo = -1e308, hi = 1e308;
  bool lo_open = false;  // lo itself not allowed (e.g. a learning rate > 0)
  static Bounds at_least(double lo) { return {lo, 1e308, false}; }
  static Bounds positive() { return {0, 1e308, true}; }
  static Bounds between(double lo, double hi) { return {lo, hi, false}; }
};

class Config {
 public:
  // Parses a file / text; `origin` names the source in error messages.
  static Config load(const std::string& path);
  static Config parse(const std::string& text, const std::string& origin = "<config>");
  // Every Config made by load/parse carries a format version: `version: 1` at
  // the top level (added when absent; another number is an error).
  static constexpr int64_t kVersion = 1;

  // `key.sub=value`; errors when the text has no '=' or walks through a scalar.
  void apply_override(const std::string& assignment);
  void apply_overrides(const std::vector<std::string>& assignments);
  // Sets a direct child of this map to a value the code computed (a model's input channels from the data);
  // the document records it, so a saved config shows it.
  void set(const std::string& key, int64_t value);
  void set(const std::string& key, bool value);
  void set(const std::string& key, const std::string& value);
  void set(const std::string& key, const std::vector<int64_t>& value);
  void set(const std::string& key, const std::vector<double>& value);
  // A deep copy in a document of its own with the same origin: changes to one do not reach the other.
  Config detached() const;

  // ---- reading (key: a direct child of this map) -----------------------------
  bool has(const std::string& key) const;
  bool is_list(const std::string& key) const;  // present and a YAML sequence
  bool is_scalar(const std::string& key) const;  // present and a single value (not a map or list)
  std::vector<std::string> keys() const;       // the keys of this map, in file order
  bool get_bool(const std::string& key, bool fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback, Bounds bounds = {}) const;
  double get_double(const std::string& key, double fallback, Bounds bounds = {}) const;
  // Strings (and lists of strings) expand ${NAME} and ${NAME:-fallback} from the environment when read;
  // ${STRATA_DATA}, the root of the data sets (scripts/get_data.sh), is "data" when unset. The saved config
  // keeps the text as written, so a checkpoint's config reads its data wherever STRATA_DATA points.
  std::string get_string(const std::string& key, const std::string& fallback) const;
  // The data root ${STRATA_DATA} names: the environment variable, or "data" when it is unset or empty.
  static std::string data_root();
  // One of `choices`; the error lists them.
  std::string get_choice(const std::string& key, const std::string& fallback,
                         const std::vector<std::string>& choices) const;
  std::vector<int64_t> get_int_list(const std::string& key, const std::vector<int64_t>& fallback) const;
  std::vector<double> get_double_list(const std::string& key, const std::vector<double>& fallback) const;
  std::vector<std::string> get_string_list(const std::string& key, const std::vector<std::string>& fallback) const;
  // Required keys: the error says the key is missing.
  std::string require_string(const std::string& key) const;
  int64_t require_int(const std::string& key, Bounds bounds = {}) const;

  // A child map (created empty when absent, so its defaults are recorded).
  Config section(const std::string& key) const;
  // A child sequence of maps, e.g. the layers of a Sequential.
  std::vector<Config> section_list(const std::string& key) const;

  // Marks a key as understood without reading it (e.g. a key consumed by a
  // different component that reads it later through another Config).
  void mark_known(const std::string& key) const;
  // Whether `key` (a path below this map), one of its sub-keys, or the list it
  // indexes has been read or marked.
  bool was_read(const std::string& key) const;

  // ---- whole-document operations --------------------------------------------
  // Throws one error listing every key nobody read, with file and path.
  void check_unknown_keys() const;
  std::string dump() const;                 // resolved YAML of the whole document
  // dump() written atomically, after `comment` as a YAML comment line when given.
  void save(const std::string& path, const std::string& comment = "") const;
  const std::string& origin() const;
  const std::string& path() const { return path_; }  // "" for the root
  std::string key_path(const std::string& key) const;

  Config(const Config&);
  Config& operator=(const Config&);
  ~Config();

 private:
  struct Document;
  Config(std::shared_ptr<Document> doc, std::unique_ptr<YAML::Node> node, std::string path);
  static Config from_root(std::shared_ptr<Document> doc);
  bool lookup(const std::string& key, YAML::Node& out) const;  // false when absent or null
  // Marks key as known; false (and fallback written into the document) when absent.
  template <class T>
  bool read_or_record(const std::string& key, const T& fallback, YAML::Node& out) const;
  template <class T>
  T read_scalar(const std::string& key, const T& fallback, const char* what) const;
  template <class T>
  std::vector<T> read_list(const std::string& key, const std::vector<T>& fallback, const char* what) const;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  std::shared_ptr<Document> doc_;
  std::unique_ptr<YAML::Node> node_;
  std::string path_;
};

}  // namespace strata
