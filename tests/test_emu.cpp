// Self-tests of the CUDA emulator (label cuda_emu): each kernel of
// tests/emu_selftest_kernels.cu against a plain CPU loop, with sizes that are
// not multiples of the block or tile size, and launch-configuration errors
// reported as a GPU reports them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "kernels/cuda/cuda_compat.h"
#include "tests/emu_selftest_kernels.h"

using namespace strata::selftest;

namespace {
std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}
}  // namespace

TEST(CudaEmu, SharedMemoryTreeReduction) {
  for (int block : {32, 256, 1024}) {
    const std::vector<float> x = random_floats(5000, 1);
    std::vector<float> out;
    ASSERT_EQ(block_sums(x, block, out), cudaSuccess);
    ASSERT_EQ(out.size(), (x.size() + size_t(block) - 1) / size_t(block));
    for (size_t b = 0; b < out.size(); ++b) {
      double ref = 0;
      for (size_t i = b * size_t(block); i < std::min(x.size(), (b + 1) * size_t(block)); ++i) ref += x[i];
      EXPECT_NEAR(out[b], ref, 1e-4) << "block size " << block << ", block " << b;
    }
  }
}

TEST(CudaEmu, WarpShuffleReductions) {
  const std::vector<float> x = random_floats(1000, 2);  // 1000: the last warp is partly out of range
  std::vector<float> sums, maxima;
  ASSERT_EQ(warp_sums(x, 128, sums, maxima), cudaSuccess);
  for (size_t w = 0; w < sums.size(); ++w) {
    double ref = 0;
    float mx = -1e30f;
    for (size_t i = w * 32; i < std::min(x.size(), (w + 1) * 32); ++i) {
      ref += x[i];
      mx = std::max(mx, x[i]);
    }
    EXPECT_NEAR(sums[w], ref, 1e-5) << "warp " << w;
    EXPECT_EQ(maxima[w], mx) << "warp " << w;
  }
}

TEST(CudaEmu, WarpVotesAndBroadcasts) {
  const std::vector<float> x = random_floats(200, 3);
  std::vector<int> counts;
  std::vector<float> up, lane0;
  ASSERT_EQ(warp_votes(x, counts, up, lane0), cudaSuccess);
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t base = i / 32 * 32;
    EXPECT_EQ(up[i], i % 32 == 0 ? x[i] : x[i - 1]) << i;  // lane 0 keeps its own value
    EXPECT_EQ(lane0[i], x[base]) << i;
  }
  for (size_t w = 0; w * 32 < x.size(); ++w) {
    int ref = 0;
    for (size_t i = w * 32; i < std::min(x.size(), (w + 1) * 32); ++i) ref += x[i] > 0;
    EXPECT_EQ(counts[w], ref) << "warp " << w;
  }
}

TEST(CudaEmu, TiledMatmul) {
  for (auto [M, K, N] : {std::tuple{1, 1, 1}, {16, 16, 16}, {37, 29, 53}}) {
    const auto a = random_floats(size_t(M * K), 4), b = random_floats(size_t(K * N), 5);
    std::vector<float> c;
    ASSERT_EQ(tiled_matmul(a, b, M, K, N, c), cudaSuccess);
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double ref = 0;
        for (int k = 0; k < K; ++k) ref += double(a[size_t(i * K + k)]) * b[size_t(k * N + j)];
        ASSERT_NEAR(c[size_t(i * N + j)], ref, 1e-4) << M << "x" << K << "x" << N << " at " << i << "," << j;
      }
  }
}

TEST(CudaEmu, AtomicsFromManyBlocks) {
  std::mt19937 gen(6);
  std::vector<int> labels(10007);
  for (int& l : labels) l = int(gen() % 17);
  std::vector<int> hist;
  int max_label = 0, cas_count = 0;
  ASSERT_EQ(atomics(labels, 17, hist, max_label, cas_count), cudaSuccess);
  std::vector<int> ref(17, 0);
  for (int l : labels) ++ref[size_t(l)];
  EXPECT_EQ(hist, ref);
  EXPECT_EQ(max_label, *std::max_element(labels.begin(), labels.end()));
  EXPECT_EQ(cas_count, int(labels.size()));
}

TEST(CudaEmu, DynamicSharedMemory) {
  const std::vector<float> x = random_floats(96 * 7, 7);
  std::vector<float> out;
  ASSERT_EQ(reverse_blocks(x, 96, out), cudaSuccess);
  for (size_t b = 0; b < 7; ++b)
    for (size_t t = 0; t < 96; ++t) EXPECT_EQ(out[b * 96 + t], x[b * 96 + 95 - t]);
}

TEST(CudaEmu, InvalidLaunchConfigurations) {
  EXPECT_EQ(empty_launch(1, 1024, 1, 0), cudaSuccess);
  EXPECT_EQ(empty_launch(1, 1025, 1, 0), cudaErrorInvalidConfiguration);
  EXPECT_EQ(empty_launch(1, 64, 32, 0), cudaErrorInvalidConfiguration);  // 2048 threads
  EXPECT_EQ(empty_launch(0, 32, 1, 0), cudaErrorInvalidConfiguration);
  EXPECT_EQ(empty_launch(1, 32, 1, 64 * 1024), cudaErrorInvalidValue);  // over 48 KiB of shared memory
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidConfiguration), "invalid configuration argument");
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reading the error cleared it
}

TEST(CudaEmu, RuntimeMemoryAndEvents) {
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 100), cudaSuccess);
  std::vector<unsigned char> host(100, 7), back(100, 0);
  EXPECT_EQ(cudaMemset(p, 3, 100), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), p, 100, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back[99], 3);
  EXPECT_EQ(cudaMemcpy(p, host.data(), 100, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), p, 100, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host);
  // a host pointer where a device pointer is required
  EXPECT_EQ(cudaMemcpy(back.data(), host.data(), 100, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(back.data(), p, 101, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);  // past the end
  EXPECT_EQ(cudaFree(host.data()), cudaErrorInvalidDevicePointer);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  cudaGetLastError();
  cudaEvent_t start, end;
  cudaEventCreate(&start);
  cudaEventCreate(&end);
  cudaEventRecord(start);
  cudaEventRecord(end);
  float ms = -1;
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, end), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  int count = 0;
  EXPECT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
}
