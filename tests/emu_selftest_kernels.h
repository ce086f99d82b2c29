// Host entry points of the CUDA emulator self-test kernels
// (tests/emu_selftest_kernels.cu). Each copies its inputs to the device, runs
// one kernel through strata::cuda::launch and returns the result; a CUDA error
// comes back as the cudaError_t value (0 = success).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata::selftest {

// Per-block sums of x by a shared-memory tree reduction with __syncthreads.
int block_sums(const std::vector<float>& x, int block, std::vector<float>& out);
// Per-warp sums by __shfl_down_sync, and per-warp maxima by a __shfl_xor_sync butterfly.
int warp_sums(const std::vector<float>& x, int block, std::vector<float>& sums, std::vector<float>& maxima);
// Per-warp count of positive values with __ballot_sync + __popc, and each lane's left
// neighbour via __shfl_up_sync / broadcast of lane 0 via __shfl_sync.
int warp_votes(const std::vector<float>& x, std::vector<int>& counts, std::vector<float>& up,
               std::vector<float>& lane0);
// C (M x N) = A (M x K) B (K x N), 16 x 16 shared-memory tiles.
int tiled_matmul(const std::vector<float>& a, const std::vector<float>& b, int M, int K, int N, std::vector<float>& c);
// Histogram of labels into `bins` with atomicAdd from many blocks; global max with atomicMax;
// a counter incremented through an atomicCAS loop.
int atomics(const std::vector<int>& labels, int bins, std::vector<int>& hist, int& max_label, int& cas_count);
// Reverses each block's slice of x through dynamic shared memory.
int reverse_blocks(const std::vector<float>& x, int block, std::vector<float>& out);
// A launch with the given configuration of an empty kernel; returns the error.
int empty_launch(unsigned grid_x, unsigned block_x, unsigned block_y, size_t shared_bytes);

}  // namespace strata::selftest
