#include "kernels/cpu/filter_cache.h"

#include <map>
#include <mutex>
#include <tuple>

namespace strata::cpu {

namespace {

using Key = std::tuple<uint64_t, int64_t, uint64_t, int, int, int64_t, int64_t, int64_t, int64_t>;

struct Cache {
  std::mutex mutex;
  std::map<Key, std::shared_ptr<const std::vector<float>>> kept;
  int64_t bytes = 0, hits = 0;
};

Cache& cache() {
  static Cache c;
  return c;
}

}  // namespace

std::shared_ptr<const std::vector<float>> kept_filter(const FilterKey& key, const FilterUse& use, int64_t floats,
                                                      const std::function<void(float*)>& derive) {
  if (key.storage == 0 || floats <= 0) return nullptr;
  const int64_t bytes = floats * int64_t(sizeof(float));
  const Key k{key.storage, key.offset, key.version, use.kernel, int(use.pass), use.K, use.C, use.R, use.S};
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (const auto it = c.kept.find(k); it != c.kept.end()) {
      ++c.hits;
      return it->second;
    }
    if (c.bytes + bytes > kFilterCacheBytes) return nullptr;
  }
  // Derived outside the lock (derive runs on the thread pool); two threads that
  // miss together both derive, and the first one in is kept.
  auto made = std::make_shared<std::vector<float>>(size_t(floats));
  derive(made->data());
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.bytes + bytes > kFilterCacheBytes) return made;
  const auto [it, inserted] = c.kept.emplace(k, std::move(made));
  if (inserted) c.bytes += bytes;
  return it->second;
}

void clear_filter_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.kept.clear();
  c.bytes = 0;
  c.hits = 0;
}

FilterCacheStats filter_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.bytes, int64_t(c.kept.size()), c.hits};
}

}  // namespace strata::cpu
