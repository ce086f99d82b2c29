// Memory for tensor storage. Each device has one Allocator; the CPU one caches
// freed blocks by size (like PyTorch's CUDA caching allocator) so a training
// loop that allocates the same shapes every step stops paying for page faults.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

namespace strata {

struct AllocatorStats {
  int64_t allocated_bytes = 0;  // in live tensors
  int64_t reserved_bytes = 0;   // allocated + cached for reuse
  int64_t peak_allocated_bytes = 0;
  int64_t cache_hits = 0, cache_misses = 0;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void empty_cache() = 0;
};

// Where a caching allocator gets memory from: alloc returns nullptr on failure.
struct RawMemory {
  const char* what;  // "host", "CUDA device": used in messages
  void* (*alloc)(size_t nbytes);
  void (*free)(void* ptr);
  // When nonzero, segments of at least 2 x segment_granule bytes are asked for in whole granules (the rest
  // of the last granule is a free block of the segment): the host's 2 MiB, so that its alloc can back them
  // with transparent huge pages.
  size_t segment_granule = 0;
  // When set, memory goes back to the source only through empty_cache(): a CUDA graph's pool, whose replays use
  // every block its capture touched, freed or not.
  bool keep_until_emptied = false;
};

// A caching allocator over a RawMemory, in two pools.
//
// Small blocks (under 1 MiB, sizes rounded to 64 B) sit in per-size free lists;
// a request takes a cached block of its size, else the smallest cached block at
// most 1.25x its size.
//
// Large blocks (1 MiB and up, sizes rounded to 4 KiB) are carved out of
// segments, each one allocation from the source: a request takes the smallest
// free block that holds it and splits off the rest when the rest is at least
// 1 MiB; a freed block merges with the free blocks beside it in its segment.
// A training step's activations and gradients change size as it goes (a freed
// 50 MiB activation serves four 12 MiB gradients, and merges back for the next
// step's activation), so the step runs on memory it already holds instead of
// asking the source (the kernel, for host memory: fresh pages it must zero) for
// new blocks whenever no cached block had the right size.
//
// When neither pool has a block, cached memory goes back to the source (small
// blocks smallest first, then wholly free segments) until the memory reserved
// with the new block is within the high-water mark of the bytes in use (+1/16 +
// 64 MiB; or the cache within 64 MiB + 1/8 of the bytes in use, if more) before
// the source is asked for more; freed memory past `cache_limit` goes back at
// once. An allocation that fails empties the cache and retries once before it
// throws. One implementation serves host and device memory: the allocator never
// touches the memory it hands out.
class CachingAllocator final : public Allocator {
 public:
  CachingAllocator(RawMemory raw, size_t cache_limit);
  ~CachingAllocator() override;
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  AllocatorStats stats() const override;
  void empty_cache() override;

  static size_t round_size(size_t nbytes);
  static constexpr size_t kLargeBlock = size_t(1) << 20;  // the large pool's smallest block

 private:
  // A piece of a segment; the blocks of a segment are a list in address order.
  struct Block {
    char* ptr;
    size_t size;
    bool free = false;
    Block* prev = nullptr;
    Block* next = nullptr;
    bool whole() const { return !prev && !next; }  // the whole of its segment
  };
  struct BySize {
    bool operator()(const Block* a, const Block* b) const {
      return a->size != b->size ? a->size < b->size : std::less<const char*>()(a->ptr, b->ptr);
    }
  };

  RawMemory raw_;
  mutable std::mutex mutex_;
  // (all below with mutex_ held)
  size_t block_size(void* ptr, size_t nbytes);  // the size of a small block handed out
  void* allocate_large(size_t size);            // nullptr when no free block holds `size`
  void deallocate_large(Block* b);
  void release_segment(Block* b);              // b: a wholly free segment (one free block)
  void make_room(size_t size);                 // give cached memory back before asking for `size`
  void release_all_cached();

  std::map<size_t, std::vector<void*>> free_blocks_;  // small blocks by size
  std::unordered_map<void*, size_t> oversized_;        // small blocks handed out for a smaller request
  std::set<Block*, BySize> free_large_;                // free large blocks, smallest first
  std::unordered_map<void*, Block*> live_large_;       // large blocks handed out
  size_t cached_bytes_ = 0, cache_limit_;             // free bytes in both pools
  AllocatorStats stats_;
};

// A cache limit in bytes from the environment variable `var` (in MiB), else default_mb.
size_t cache_limit_from_env(const char* var, size_t default_mb);

// 64-byte aligned host memory; cache capped by STRATA_CPU_CACHE_MB (default 2048).
Allocator& cpu_allocator();

}  // namespace strata
