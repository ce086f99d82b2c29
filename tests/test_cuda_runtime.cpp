// The CUDA runtime layer of the backend (label cuda_emu): checked calls,
// device discovery and the caching device allocator, on the emulator.
#include <gtest/gtest.h>

#include "engine/cuda_device.h"

using namespace strata;

TEST(CudaRuntime, CheckedCallsNameTheErrorAndPlace) {
  int host = 0;
  try {
    STRATA_CUDA_CHECK(cudaFree(&host));
    FAIL() << "expected strata::Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cudaErrorInvalidDevicePointer"), std::string::npos) << what;
    EXPECT_NE(what.find("invalid device pointer"), std::string::npos) << what;
    EXPECT_NE(what.find("cudaFree(&host)"), std::string::npos) << what;
    EXPECT_NE(what.find("test_cuda_runtime.cpp:"), std::string::npos) << what;
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // the check left no sticky error behind
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
}

TEST(CudaRuntime, DeviceCount) { EXPECT_EQ(cuda::device_count(), 1); }

TEST(CudaRuntime, CachingDeviceAllocatorReusesAndReports) {
  Allocator& alloc = cuda::device_allocator();
  alloc.empty_cache();
  const AllocatorStats before = alloc.stats();
  void* p = alloc.allocate(1000);
  STRATA_CUDA_CHECK(cudaMemset(p, 0, 1000));  // real device memory
  EXPECT_EQ(alloc.stats().allocated_bytes - before.allocated_bytes, 1024);
  alloc.deallocate(p, 1000);
  EXPECT_EQ(alloc.stats().allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(alloc.stats().reserved_bytes - before.reserved_bytes, 1024);  // kept in the cache
  void* q = alloc.allocate(990);  // same rounded size: served from the cache
  EXPECT_EQ(q, p);
  EXPECT_EQ(alloc.stats().cache_hits - before.cache_hits, 1);
  EXPECT_GE(alloc.stats().peak_allocated_bytes, 1024);
  alloc.deallocate(q, 990);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved_bytes, before.reserved_bytes);
}
