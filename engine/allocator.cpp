#include "engine/allocator.h"

#include <cstdlib>
#include <string>

#include "engine/error.h"

namespace strata {

CachingAllocator::CachingAllocator(RawMemory raw, size_t cache_limit) : raw_(raw), cache_limit_(cache_limit) {}

CachingAllocator::~CachingAllocator() { empty_cache(); }

size_t CachingAllocator::round_size(size_t nbytes) {
  const size_t granule = nbytes >= (size_t(1) << 20) ? 4096 : 64;
  return (std::max<size_t>(nbytes, 1) + granule - 1) / granule * granule;
}

void* CachingAllocator::allocate(size_t nbytes) {
  const size_t size = round_size(nbytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.allocated_bytes += int64_t(size);
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    auto it = free_blocks_.find(size);
    if (it != free_blocks_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      cached_bytes_ -= size;
      ++stats_.cache_hits;
      return p;
    }
    ++stats_.cache_misses;
    stats_.reserved_bytes += int64_t(size);
  }
  void* p = raw_.alloc(size);
  if (!p) {
    empty_cache();
    p = raw_.alloc(size);
  }
  if (!p) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.allocated_bytes -= int64_t(size);
    stats_.reserved_bytes -= int64_t(size);
    STRATA_FAIL("out of ", raw_.what, " memory allocating ", nbytes, " bytes (", stats_.allocated_bytes,
                " bytes in use by tensors)");
  }
  return p;
}

void CachingAllocator::deallocate(void* ptr, size_t nbytes) {
  if (!ptr) return;
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocated_bytes -= int64_t(size);
  if (cached_bytes_ + size <= cache_limit_) {
    free_blocks_[size].push_back(ptr);
    cached_bytes_ += size;
  } else {
    stats_.reserved_bytes -= int64_t(size);
    raw_.free(ptr);
  }
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, blocks] : free_blocks_) {
    for (void* p : blocks) raw_.free(p);
    stats_.reserved_bytes -= int64_t(size * blocks.size());
  }
  free_blocks_.clear();
  cached_bytes_ = 0;
}

size_t cache_limit_from_env(const char* var, size_t default_mb) {
  size_t mb = default_mb;
  if (const char* env = std::getenv(var)) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    STRATA_CHECK(*env != '\0' && *end == '\0', var, "='", env, "': expected a size in MiB (a whole number)");
    mb = size_t(v);
  }
  return mb << 20;
}

Allocator& cpu_allocator() {
  static CachingAllocator allocator(
      RawMemory{"host", [](size_t n) { return std::aligned_alloc(64, n); }, [](void* p) { std::free(p); }},
      cache_limit_from_env("STRATA_CPU_CACHE_MB", 2048));
  return allocator;
}

}  // namespace strata
