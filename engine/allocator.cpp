#include "engine/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include <sys/mman.h>

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
  const bool large = size >= kLargeBlock;
  // On a miss, a new segment: the request, or for a large one in whole granules of the source.
  const size_t g = raw_.segment_granule;
  const size_t segment = large && g > 0 && size >= 2 * g ? (size + g - 1) / g * g : size;
  const size_t rest = segment - size >= kLargeBlock ? segment - size : 0;  // a free block beside it
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (large) {
      if (void* p = allocate_large(size)) return p;
    } else if (auto it = free_blocks_.lower_bound(size); it != free_blocks_.end() && it->first <= size + size / 4) {
      const size_t got = it->first;
      void* p = it->second.back();
      it->second.pop_back();
      if (it->second.empty()) free_blocks_.erase(it);
      if (got != size) oversized_[p] = got;
      cached_bytes_ -= got;
      stats_.allocated_bytes += int64_t(got);
      stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
      ++stats_.cache_hits;
      return p;
    }
    ++stats_.cache_misses;
    make_room(segment);
    stats_.allocated_bytes += int64_t(segment - rest);
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    stats_.reserved_bytes += int64_t(segment);
  }
  void* p = raw_.alloc(segment);
  if (!p && !raw_.keep_until_emptied) {
    empty_cache();
    p = raw_.alloc(segment);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!p) {
    stats_.allocated_bytes -= int64_t(segment - rest);
    stats_.reserved_bytes -= int64_t(segment);
    STRATA_FAIL("out of ", raw_.what, " memory allocating ", nbytes, " bytes (", stats_.allocated_bytes,
                " bytes in use by tensors)");
  }
  if (large) {
    auto* b = new Block{static_cast<char*>(p), segment - rest};
    live_large_[p] = b;
    if (rest > 0) {
      b->next = new Block{b->ptr + b->size, rest, true, b, nullptr};
      free_large_.insert(b->next);
      cached_bytes_ += rest;
    }
  }
  return p;
}

void* CachingAllocator::allocate_large(size_t size) {
  Block key{nullptr, size};
  const auto it = free_large_.lower_bound(&key);  // the smallest free block that holds `size`
  if (it == free_large_.end()) return nullptr;
  Block* b = *it;
  free_large_.erase(it);
  cached_bytes_ -= b->size;
  if (b->size - size >= kLargeBlock) {  // split: the rest stays free in the segment
    auto* rest = new Block{b->ptr + size, b->size - size, true, b, b->next};
    if (b->next) b->next->prev = rest;
    b->next = rest;
    b->size = size;
    free_large_.insert(rest);
    cached_bytes_ += rest->size;
  }
  b->free = false;
  live_large_[b->ptr] = b;
  stats_.allocated_bytes += int64_t(b->size);
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  ++stats_.cache_hits;
  return b->ptr;
}

void CachingAllocator::deallocate_large(Block* b) {
  b->free = true;
  cached_bytes_ += b->size;
  if (Block* n = b->next; n && n->free) {  // merge with the free block after it
    free_large_.erase(n);
    b->size += n->size;
    b->next = n->next;
    if (n->next) n->next->prev = b;
    delete n;
  }
  if (Block* p = b->prev; p && p->free) {  // and with the one before it
    free_large_.erase(p);
    p->size += b->size;
    p->next = b->next;
    if (b->next) b->next->prev = p;
    delete b;
    b = p;
  }
  if (b->whole() && cached_bytes_ > cache_limit_ && !raw_.keep_until_emptied) return release_segment(b);
  free_large_.insert(b);
}

void CachingAllocator::release_segment(Block* b) {
  raw_.free(b->ptr);
  cached_bytes_ -= b->size;
  stats_.reserved_bytes -= int64_t(b->size);
  delete b;
}

void CachingAllocator::make_room(size_t size) {
  // No cached block fits: cached memory goes back, small blocks smallest first and then wholly free
  // segments, until the memory reserved with this block is within the high-water mark of the bytes in
  // use (+1/16 + 64 MiB), or the cache within 64 MiB + 1/8 of the bytes in use if that is more. A training
  // step asks for the same blocks every step, so what one step used stays cached for the next while memory
  // held stays near the step's own peak. (The slack alone, before: VGG16-BN U-Net step 7.5 s with 18.6 s of
  // system time in 5 steps, the kernel zeroing 5 GB of fresh pages a step; with the high-water mark
  // 5.7-6.5 s, 7-8 s system time, peak RSS +3%. Smallest first measured best: MobileNetV2-U-Net step
  // 587 ms / 905 MB against 735 ms / 937 MB largest first; docs/benchmarks.md.)
  if (raw_.keep_until_emptied) return;
  const size_t used = size_t(stats_.allocated_bytes), peak = size_t(stats_.peak_allocated_bytes);
  const size_t high_water = peak + peak / 16 + (size_t(64) << 20);
  size_t slack = (size_t(64) << 20) + used / 8;
  if (high_water > used + size + slack) slack = high_water - used - size;
  while (cached_bytes_ > slack) {
    if (!free_blocks_.empty()) {
      auto smallest = free_blocks_.begin();
      raw_.free(smallest->second.back());
      smallest->second.pop_back();
      cached_bytes_ -= smallest->first;
      stats_.reserved_bytes -= int64_t(smallest->first);
      if (smallest->second.empty()) free_blocks_.erase(smallest);
      continue;
    }
    const auto whole = std::find_if(free_large_.begin(), free_large_.end(), [](const Block* b) { return b->whole(); });
    if (whole == free_large_.end()) break;  // the rest is free space inside segments still in use
    Block* b = *whole;
    free_large_.erase(whole);
    release_segment(b);
  }
}

size_t CachingAllocator::block_size(void* ptr, size_t nbytes) {
  const auto it = oversized_.find(ptr);
  if (it == oversized_.end()) return round_size(nbytes);
  const size_t size = it->second;
  oversized_.erase(it);
  return size;
}

void CachingAllocator::deallocate(void* ptr, size_t nbytes) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  // Only a request of 1 MiB or more was served by the large pool: smaller ones skip its map.
  if (const auto it = round_size(nbytes) >= kLargeBlock ? live_large_.find(ptr) : live_large_.end();
      it != live_large_.end()) {
    Block* b = it->second;
    live_large_.erase(it);
    stats_.allocated_bytes -= int64_t(b->size);
    return deallocate_large(b);
  }
  const size_t size = block_size(ptr, nbytes);
  stats_.allocated_bytes -= int64_t(size);
  if (cached_bytes_ + size <= cache_limit_ || raw_.keep_until_emptied) {
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

void CachingAllocator::release_all_cached() {
  for (auto& [size, blocks] : free_blocks_) {
    for (void* p : blocks) raw_.free(p);
    stats_.reserved_bytes -= int64_t(size * blocks.size());
    cached_bytes_ -= size * blocks.size();
  }
  free_blocks_.clear();
  for (auto it = free_large_.begin(); it != free_large_.end();) {
    Block* b = *it;
    if (!b->whole()) {
      ++it;
      continue;
    }
    it = free_large_.erase(it);
    release_segment(b);
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_all_cached();
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

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

// STRATA_HUGE_PAGES=0 turns them off.
bool huge_pages() {
  static const bool on = [] {
    const char* env = std::getenv("STRATA_HUGE_PAGES");
    return !env || std::string(env) != "0";
  }();
  return on;
}

// Host segments of whole 2 MiB pages are aligned to them and marked for transparent huge pages (a hint the
// kernel may ignore: THP "never"): a training step's memory-bound passes stream through hundreds of MB, and
// with 4 KiB pages much of that time goes to TLB misses (MobileNetV2 U-Net step 372-389 -> 356-366 ms, fault
// U-Net 363-403 -> 340-346 ms on a 2-core AMD EPYC). Everything else: 64-byte alignment.
void* host_alloc(size_t n) {
  if (huge_pages() && n >= 2 * kHugePage && n % kHugePage == 0) {
    void* p = std::aligned_alloc(kHugePage, n);
    if (p) madvise(p, n, MADV_HUGEPAGE);
    return p;
  }
  return std::aligned_alloc(64, n);
}

}  // namespace

Allocator& cpu_allocator() {
  static CachingAllocator allocator(
      RawMemory{"host", host_alloc, [](void* p) { std::free(p); }, huge_pages() ? kHugePage : 0},
      cache_limit_from_env("STRATA_CPU_CACHE_MB", 2048));
  return allocator;
}

}  // namespace strata
