// The caching allocator over any memory source: reuse, statistics, the cache
// cap, and the empty-and-retry path when the source runs out.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

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
  // A step's 100 MiB, freed: the blocks stay cached for the next step's requests.
  std::vector<void*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(alloc.allocate(size_t(10) << 20));
  for (void* p : blocks) alloc.deallocate(p, size_t(10) << 20);
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(100) << 20);
  void* small = alloc.allocate(size_t(1) << 20);  // carved out of a cached 10 MiB block: no new memory
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(100) << 20);
  void* again = alloc.allocate(size_t(10) << 20);  // the next step: a cached block, no new memory
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(100) << 20);
  EXPECT_EQ(alloc.stats().cache_misses, 10);
  alloc.deallocate(again, size_t(10) << 20);
  // A request past the high-water mark (100 MiB in use at most so far, + 1/16 + 64 MiB) gives wholly free
  // segments back first, down to the slack (64 MiB + 1/8 of the 1 MiB in use): of the 99 MiB cached, four
  // 10 MiB segments go, and 59 MiB stay (the 9 MiB beside `small` cannot go back while `small` lives).
  void* big = alloc.allocate(size_t(150) << 20);
  EXPECT_EQ(alloc.stats().reserved_bytes, (int64_t(60) << 20) + (int64_t(150) << 20));
  alloc.deallocate(big, size_t(150) << 20);
  alloc.deallocate(small, size_t(1) << 20);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved_bytes, 0);
}

// A CUDA graph's pool: the same requests as above give nothing back (the graph's replays use every block its
// capture touched), whatever the cache limit, until empty_cache.
TEST(Allocator, APoolKeptUntilEmptiedGivesNothingBackBefore) {
  static int frees = 0;
  frees = 0;
  RawMemory raw{"test", std::malloc, [](void* p) {
                  ++frees;
                  std::free(p);
                }};
  raw.keep_until_emptied = true;
  CachingAllocator alloc(raw, 0);
  std::vector<void*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(alloc.allocate(size_t(10) << 20));
  for (void* p : blocks) alloc.deallocate(p, size_t(10) << 20);
  void* small = alloc.allocate(100);
  alloc.deallocate(small, 100);
  void* big = alloc.allocate(size_t(150) << 20);  // past the high-water mark: new memory, nothing released
  EXPECT_EQ(alloc.stats().reserved_bytes, (int64_t(250) << 20) + 128);
  alloc.deallocate(big, size_t(150) << 20);
  EXPECT_EQ(frees, 0);
  alloc.empty_cache();
  EXPECT_EQ(frees, 12);
  EXPECT_EQ(alloc.stats().reserved_bytes, 0);
}

// Large blocks are cut from free blocks of any size and merge again when freed: the pattern of a
// training step (an activation freed, then gradients of other sizes) runs on memory already held.
TEST(Allocator, SplitsAndMergesLargeBlocks) {
  constexpr size_t MiB = size_t(1) << 20;
  CachingAllocator alloc(RawMemory{"test", std::malloc, std::free}, size_t(1) << 30);
  auto* a = static_cast<char*>(alloc.allocate(8 * MiB));
  alloc.deallocate(a, 8 * MiB);
  void* b = alloc.allocate(3 * MiB);
  void* c = alloc.allocate(3 * MiB);
  EXPECT_EQ(b, a);
  EXPECT_EQ(c, a + 3 * MiB);
  // 2 MiB are left: a 1.5 MiB request takes all of it (a 0.5 MiB rest would be under the large pool's 1 MiB).
  void* d = alloc.allocate(3 * MiB / 2);
  EXPECT_EQ(d, a + 6 * MiB);
  EXPECT_EQ(alloc.stats().allocated_bytes, int64_t(8 * MiB));
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(8 * MiB));
  EXPECT_EQ(alloc.stats().cache_misses, 1);
  alloc.deallocate(c, 3 * MiB);
  alloc.deallocate(b, 3 * MiB);  // merges with c's block: 6 MiB free in one piece
  void* e = alloc.allocate(6 * MiB);
  EXPECT_EQ(e, a);
  EXPECT_EQ(alloc.stats().cache_misses, 1);
  // Nothing free holds 4 MiB: a new segment.
  void* f = alloc.allocate(4 * MiB);
  EXPECT_EQ(alloc.stats().cache_misses, 2);
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(12 * MiB));
  alloc.deallocate(f, 4 * MiB);
  // While e lives, its segment cannot go back; once d and e are freed it is one free block again.
  alloc.deallocate(d, 3 * MiB / 2);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(8 * MiB));
  alloc.deallocate(e, 6 * MiB);
  EXPECT_EQ(alloc.stats().allocated_bytes, 0);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved_bytes, 0);
}

// Steps that ask for the same sizes in the same order stop missing after the first step, even though
// the sizes change within the step, and the memory held stays at the step's own peak.
TEST(Allocator, RepeatedStepsRunOnHeldMemory) {
  constexpr size_t MiB = size_t(1) << 20;
  CachingAllocator alloc(RawMemory{"test", std::malloc, std::free}, size_t(1) << 30);
  auto step = [&] {
    std::vector<void*> acts;
    for (size_t mb : {48, 24, 12, 6}) acts.push_back(alloc.allocate(mb * MiB));  // forward
    for (int i = 3; i >= 0; --i) {                                              // backward
      const size_t mb = size_t(48) >> i;
      alloc.deallocate(acts[size_t(i)], mb * MiB);
      void* g1 = alloc.allocate(mb * MiB / 4 + 4096);  // gradients of other sizes
      void* g2 = alloc.allocate(mb * MiB / 2);
      alloc.deallocate(g1, mb * MiB / 4 + 4096);
      alloc.deallocate(g2, mb * MiB / 2);
    }
  };
  step();
  const int64_t misses = alloc.stats().cache_misses, reserved = alloc.stats().reserved_bytes;
  for (int i = 0; i < 5; ++i) step();
  EXPECT_EQ(alloc.stats().cache_misses, misses);
  EXPECT_EQ(alloc.stats().reserved_bytes, reserved);
  EXPECT_LE(reserved, alloc.stats().peak_allocated_bytes + int64_t(64 * MiB));
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved_bytes, 0);
}

// A source with a segment granule (the host's 2 MiB huge pages) gets whole granules for segments of at least
// two granules; the rest of the last granule is a free block that later requests use.
TEST(Allocator, SegmentsInWholeGranulesKeepTheRestFree) {
  constexpr size_t MiB = size_t(1) << 20;
  CachingAllocator alloc(RawMemory{"test", std::malloc, std::free, 4 * MiB}, size_t(1) << 30);
  auto* a = static_cast<char*>(alloc.allocate(9 * MiB));  // 3 granules: 9 MiB handed out, 3 MiB free beside it
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(12 * MiB));
  EXPECT_EQ(alloc.stats().allocated_bytes, int64_t(9 * MiB));
  void* b = alloc.allocate(3 * MiB);
  EXPECT_EQ(b, a + 9 * MiB);
  EXPECT_EQ(alloc.stats().cache_misses, 1);
  void* c = alloc.allocate(5 * MiB);  // under two granules: exactly its size
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(17 * MiB));
  void* d = alloc.allocate(8 * MiB + 512 * 1024);  // 12 MiB; a 3.5 MiB rest
  EXPECT_EQ(alloc.stats().reserved_bytes, int64_t(29 * MiB));
  EXPECT_EQ(alloc.stats().allocated_bytes, int64_t(9 * MiB + 3 * MiB + 5 * MiB + 8 * MiB + 512 * 1024));
  alloc.deallocate(a, 9 * MiB);
  alloc.deallocate(b, 3 * MiB);
  alloc.deallocate(c, 5 * MiB);
  alloc.deallocate(d, 8 * MiB + 512 * 1024);
  EXPECT_EQ(alloc.stats().allocated_bytes, 0);
  alloc.empty_cache();  // every segment is one free block again
  EXPECT_EQ(alloc.stats().reserved_bytes, 0);
}
