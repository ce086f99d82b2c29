// The module registry: YAML `type:` name -> factory. A layer or model is
// added in one place, its own .cpp file:
//
//   STRATA_REGISTER_MODULE("conv2d", [](const Config& c) -> ModulePtr { ... });
//
// and build_module() makes it from any config map with that `type:`, e.g.
//
//   model: {type: unet2d, in_channels: 1, classes: 1, base: 16, depth: 4}
//
// The layer and model libraries are linked whole (CMake WHOLE_ARCHIVE through
// the strata_nn target), so every registration in them is present.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "layers/module.h"

namespace strata {

using ModuleFactory = std::function<ModulePtr(const Config&)>;

void register_module_type(const std::string& type, ModuleFactory factory);
// Builds the module named by cfg's `type:`; an unknown type lists the known ones.
ModulePtr build_module(const Config& cfg);
std::vector<std::string> module_types();

// Reads `key` as one integer (used for both entries) or a list of two.
std::array<int64_t, 2> get_pair(const Config& cfg, const std::string& key, std::array<int64_t, 2> fallback);
// The same for the three axes of a volume (depth, height, width).
std::array<int64_t, 3> get_triple(const Config& cfg, const std::string& key, std::array<int64_t, 3> fallback);

struct ModuleRegistration {
  ModuleRegistration(const char* type, ModuleFactory factory) { register_module_type(type, std::move(factory)); }
};

}  // namespace strata

#define STRATA_REGISTER_CONCAT_(a, b) a##b
#define STRATA_REGISTER_CONCAT(a, b) STRATA_REGISTER_CONCAT_(a, b)
#define STRATA_REGISTER_MODULE(type, factory) \
  static const ::strata::ModuleRegistration STRATA_REGISTER_CONCAT(strata_module_registration_, __COUNTER__)(type, factory)
