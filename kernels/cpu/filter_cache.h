// Filters that a convolution kernel derives from its weights (the Winograd
// transforms of 3x3 filters: four times the weights' size, rewritten on every
// call), kept for later calls while the weights stay as they are. A prediction
// runs the same layers on many sections or tiles, so each layer's filters are
// derived once instead of once a call.
//
// The weights are named by a FilterKey (kernels/nn_desc.h), which the engine
// gives only inside InferenceMode (engine/autograd.h); a key with a new version
// (the weights were written) or of another storage never finds what was kept
// for the old one. What is kept lives until clear_filter_cache(), which the
// engine calls when the last InferenceMode ends, and holds at most
// kFilterCacheBytes: past that, kernels derive their filters on every call as
// they do without a key.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/nn_desc.h"

namespace strata::cpu {

inline constexpr int64_t kFilterCacheBytes = int64_t(256) << 20;

// What a kernel derives and in which layout: the kernel's own tag, the pass and
// the filter shape, so two kernels or passes never share an entry.
struct FilterUse {
  int kernel = 0;
  ConvPass pass = ConvPass::forward;
  int64_t K = 0, C = 0, R = 0, S = 0;
};

// The `floats` values that `derive` writes for the weights named by `key` in
// use `use`: derived at the first call, then the kept copy. Null when the key
// names nothing or the cache is full: the caller derives them itself. The
// returned pointer stays valid while the caller holds it, even across a clear.
std::shared_ptr<const std::vector<float>> kept_filter(const FilterKey& key, const FilterUse& use, int64_t floats,
                                                      const std::function<void(float*)>& derive);

// Releases everything kept.
void clear_filter_cache();

// Bytes and entries kept now, and how many calls found their filters kept
// (for tests and profiles).
struct FilterCacheStats {
  int64_t bytes = 0, entries = 0, hits = 0;
};
FilterCacheStats filter_cache_stats();

}  // namespace strata::cpu
