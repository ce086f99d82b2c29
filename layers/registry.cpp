#include "layers/registry.h"

#include <algorithm>
#include <functional>
#include <map>

#include "engine/error.h"
#include "layers/data_parallel.h"

namespace strata {
namespace {

std::map<std::string, ModuleFactory>& registry() {
  static std::map<std::string, ModuleFactory> r;  // built on first use, so static registrations can run in any order
  return r;
}

}  // namespace

void register_module_type(const std::string& type, ModuleFactory factory) {
  STRATA_CHECK(!registry().count(type), "module type '", type, "' is registered twice");
  registry().emplace(type, std::move(factory));
}

std::vector<std::string> module_types() {
  std::vector<std::string> out;
  for (const auto& [t, _] : registry()) out.push_back(t);
  return out;
}

ModulePtr build_module(const Config& cfg) {
  const std::string type = cfg.require_string("type");
  const auto it = registry().find(type);
  if (it == registry().end()) {
    const std::vector<std::string> types = module_types();
    std::string known;
    for (const std::string& t : types) known += (known.empty() ? "" : ", ") + t;
    const std::string near = nearest_name(type, types);
    STRATA_FAIL(cfg.origin(), ": ", cfg.key_path("type"), ": unknown module type '", type, "'",
                near.empty() ? "" : " (did you mean '" + near + "'?)", " (known: ", known, ")");
  }
  ModulePtr m = it->second(cfg);
  // Any model: batch-norm statistics over the global batch in data-parallel training (docs/distributed.md).
  if (cfg.get_bool("sync_batchnorm", false)) convert_sync_batchnorm(*m);
  return m;
}

namespace {
// One integer for every axis, or a list of one per axis (n of them); each >= 0.
std::vector<int64_t> get_per_axis(const Config& cfg, const std::string& key, const std::vector<int64_t>& fallback) {
  const size_t n = fallback.size();
  if (!cfg.is_list(key)) {
    if (!cfg.has(key) && std::adjacent_find(fallback.begin(), fallback.end(), std::not_equal_to<>()) != fallback.end())
      return cfg.get_int_list(key, fallback);
    return std::vector<int64_t>(n, cfg.get_int(key, fallback[0], Bounds::at_least(0)));
  }
  const std::vector<int64_t> v = cfg.get_int_list(key, {});
  STRATA_CHECK(v.size() == n, cfg.origin(), ": ", cfg.key_path(key), ": must be one integer or a list of ",
               n == 2 ? "two" : "three", ", got ", v.size(), " values");
  for (const int64_t x : v) STRATA_CHECK(x >= 0, cfg.origin(), ": ", cfg.key_path(key), ": must be >= 0");
  return v;
}
}  // namespace

std::array<int64_t, 2> get_pair(const Config& cfg, const std::string& key, std::array<int64_t, 2> fallback) {
  const std::vector<int64_t> v = get_per_axis(cfg, key, {fallback[0], fallback[1]});
  return {v[0], v[1]};
}

std::array<int64_t, 3> get_triple(const Config& cfg, const std::string& key, std::array<int64_t, 3> fallback) {
  const std::vector<int64_t> v = get_per_axis(cfg, key, {fallback[0], fallback[1], fallback[2]});
  return {v[0], v[1], v[2]};
}

}  // namespace strata
