// Memory for tensor storage. Each device has one Allocator; the CPU one caches
// freed blocks by size (like PyTorch's CUDA caching allocator) so a training
// loop that allocates the same shapes every step stops paying for page faults.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
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
};

// Per-size free lists over a RawMemory (sizes rounded to 64 B, or 4 KiB above
// 1 MiB). Freed blocks are cached up to `cache_limit` bytes, past which they go
// back to the source. An allocation takes a cached block of its size, else the
// smallest cached block at most 1.25x its size; when neither exists, cached
// blocks (smallest first) go back to the source until the memory reserved with
// the new block is within the high-water mark of the bytes in use (+1/16 +
// 64 MiB; or the cache within 64 MiB + 1/8 of the bytes in use, if more) before
// the source is asked for more: a training step's blocks stay cached for the
// next step, and memory held stays near the step's own peak. An allocation that fails empties the cache and
// retries once before it throws. One implementation serves host and device memory.
class CachingAllocator final : public Allocator {
 public:
  CachingAllocator(RawMemory raw, size_t cache_limit);
  ~CachingAllocator() override;
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  AllocatorStats stats() const override;
  void empty_cache() override;

  static size_t round_size(size_t nbytes);

 private:
  RawMemory raw_;
  mutable std::mutex mutex_;
  size_t block_size(void* ptr, size_t nbytes);  // the size of a block handed out (mutex held)

  std::map<size_t, std::vector<void*>> free_blocks_;  // by block size
  std::unordered_map<void*, size_t> oversized_;        // blocks handed out for a smaller request
  size_t cached_bytes_ = 0, cache_limit_;
  AllocatorStats stats_;
};

// A cache limit in bytes from the environment variable `var` (in MiB), else default_mb.
size_t cache_limit_from_env(const char* var, size_t default_mb);

// 64-byte aligned host memory; cache capped by STRATA_CPU_CACHE_MB (default 2048).
Allocator& cpu_allocator();

}  // namespace strata
