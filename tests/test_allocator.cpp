// The caching allocator over any memory source: reuse, statistics, the cache
// cap, and the empty-and-retry path when the source runs out.
#include <gtest/gtest.h>

#include <cstdlib>

#include "engine/allocator.h"
#include "engine/error.h"

using namespace strata;

namespace {
// A memory source that holds at most 4096 bytes at a time.
size_t g_in_use = 0;
constexpr size_t kHeader = 16;
void* limited_alloc(size_t n) {
  if (g_in_use + n > 4096) return nullptr;
  auto* block = static_cast<char*>(std::malloc(n + kHeader));
  *reinterpret_cast<size_t*>(block) = n;
  g_in_use += n;
  return block + kHeader;
}
void limited_free(void* p) {
  char* block = static_cast<char*>(p) - kHeader;
  g_in_use -= *reinterpret_cast<size_t*>(block);
  std::free(block);
}
}  // namespace

TEST(Allocator, ReuseStatsAndCap) {
  CachingAllocator alloc(RawMemory{"test", std::malloc, std::free}, 1024);
  void* a = alloc.allocate(100);  // rounds to 128
  EXPECT_EQ(alloc.stats().allocated_bytes, 128);
  alloc.deallocate(a, 100);
  EXPECT_EQ(alloc.stats().reserved_bytes, 128);
  EXPECT_EQ(alloc.allocate(120), a);  // same bucket
  EXPECT_EQ(alloc.stats().cache_hits, 1);
  void* big = alloc.allocate(2000);
  alloc.deallocate(big, 2000);  // 2048 > cap of 1024: returned to the source
  EXPECT_EQ(alloc.stats().reserved_bytes, 128);
  EXPECT_EQ(alloc.stats().peak_allocated_bytes, 128 + 2048);
  alloc.deallocate(a, 120);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved_bytes, 0);
  EXPECT_EQ(CachingAllocator::round_size(3u << 20), size_t(3u << 20));
  EXPECT_EQ(CachingAllocator::round_size((1u << 20) + 1), size_t((1u << 20) + 4096));
}

TEST(Allocator, EmptiesTheCacheBeforeGivingUp) {
  g_in_use = 0;
  CachingAllocator alloc(RawMemory{"test", limited_alloc, limited_free}, 1 << 20);
  void* a = alloc.allocate(3000);  // 3008 of the source's 4096
  alloc.deallocate(a, 3000);       // cached: the source still holds it
  EXPECT_EQ(g_in_use, 3008u);
  // 2048 does not fit beside the cached block: the cache is emptied and the allocation retried.
  void* b = alloc.allocate(2048);
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(g_in_use, 2048u);
  EXPECT_EQ(alloc.stats().reserved_bytes, 2048);
  // More than the source can ever give: a clear error, and the books stay balanced.
  try {
    alloc.allocate(5000);
    FAIL() << "expected strata::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of test memory allocating 5000 bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(alloc.stats().allocated_bytes, 2048);
  EXPECT_EQ(alloc.stats().reserved_bytes, 2048);
  alloc.deallocate(b, 2048);
  alloc.empty_cache();
  EXPECT_EQ(g_in_use, 0u);
}

TEST(Allocator, ReusesALargerBlockAndKeepsItsSize) {
  CachingAllocator alloc(RawMemory{"test", std::malloc, std::free}, size_t(1) << 30);
  void* a = alloc.allocate(4096);
  alloc.deallocate(a, 4096);
  void* b = alloc.allocate(3500);  // 3520 -> the cached 4096 block (within 1.25x)
  EXPECT_EQ(b, a);
  EXPECT_EQ(alloc.stats().allocated_bytes, 4096);
  alloc.deallocate(b, 3500);  // goes back as a 4096-byte block
  EXPECT_EQ(alloc.stats().allocated_bytes, 0);
  EXPECT_EQ(alloc.allocate(4096), a);
  void* c = alloc.allocate(1000);  // 4096 is over 1.25x of 1024: a new block
  EXPECT_NE(c, a);
  alloc.deallocate(a, 4096);
  alloc.deallocate(c, 1000);
  EXPECT_EQ(alloc.stats().reserved_bytes, 4096 + 1024);
}

TEST(Allocator, GivesCachedBlocksBackBeforeGoingPastItsHighWaterMark) {
  CachingAllocator alloc(RawMemory{"test", std::malloc, std::free}, size_t(1) << 30);
  // A step's 100 MiB, freed: the blocks stay cached for the next step's requests, even when a request
  // of another size misses.
  std::vector<void*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(alloc.allocate(size_t(10) << 20));
  for (void* p : blocks) alloc.deallocate(p, size_t(10) << 20);
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(100) << 20);
  void* small = alloc.allocate(size_t(1) << 20);
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(101) << 20);
  void* again = alloc.allocate(size_t(10) << 20);  // the next step: a cached block, no new memory
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(101) << 20);
  alloc.deallocate(again, size_t(10) << 20);
  // A request past the high-water mark (100 MiB in use at most so far, + 1/16 + 64 MiB) gives cached blocks
  // back first, down to the slack (64 MiB + 1/8 of the 1 MiB in use): 10 MiB blocks, so 60 MiB stay.
  void* big = alloc.allocate(size_t(150) << 20);
  EXPECT_EQ(alloc.stats().reserved_bytes, (int64_t(1) << 20) + (int64_t(60) << 20) + (int64_t(150) << 20));
  alloc.deallocate(big, size_t(150) << 20);
  alloc.deallocate(small, size_t(1) << 20);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved_bytes, 0);
}
