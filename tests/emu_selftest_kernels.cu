// Self-test kernels of the CUDA emulator. The same source is compiled by nvcc
// in the CUDA build (and can run on a GPU) and by the host compiler in the
// emulator build, where tests/test_emu.cpp checks each against a CPU loop.
#include "tests/emu_selftest_kernels.h"

#include "kernels/cuda/launch.h"

namespace strata::selftest {
namespace {

// x: (n,), out: (gridDim.x,). Launch: blockDim.x a power of two <= 1024.
__global__ void block_sum_kernel(const float* x, float* out, int n) {
  __shared__ float partial[1024];
  const int t = int(threadIdx.x), i = int(blockIdx.x * blockDim.x + threadIdx.x);
  partial[t] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int stride = int(blockDim.x) / 2; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

// sums, maxima: one entry per warp of the grid.
__global__ void warp_sum_kernel(const float* x, float* sums, float* maxima, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  float v = i < n ? x[i] : 0.0f;
  float m = i < n ? x[i] : -1e30f;
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  for (int mask = 16; mask > 0; mask /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, mask));
  const int warp = i / 32;
  if (threadIdx.x % 32 == 0) sums[warp] = v;
  if (threadIdx.x % 32 == 5) maxima[warp] = m;  // every lane holds the maximum
}

__global__ void warp_vote_kernel(const float* x, int* counts, float* up, float* lane0, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  const float v = i < n ? x[i] : 0.0f;
  const unsigned votes = __ballot_sync(0xffffffffu, v > 0.0f);
  const float left = __shfl_up_sync(0xffffffffu, v, 1);
  const float first = __shfl_sync(0xffffffffu, v, 0);
  if (i < n) {
    up[i] = left;
    lane0[i] = first;
  }
  if (threadIdx.x % 32 == 0) counts[i / 32] = __popc(votes);
}

constexpr int kTile = 16;

// a: (M, K), b: (K, N), c: (M, N). Launch: block (16, 16), grid (ceil(N/16), ceil(M/16)).
__global__ void tiled_matmul_kernel(const float* a, const float* b, float* c, int M, int K, int N) {
  __shared__ float ta[kTile][kTile];
  __shared__ float tb[kTile][kTile];
  const int ty = int(threadIdx.y), tx = int(threadIdx.x);
  const int row = int(blockIdx.y) * kTile + ty, col = int(blockIdx.x) * kTile + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += kTile) {
    ta[ty][tx] = row < M && k0 + tx < K ? a[row * K + k0 + tx] : 0.0f;
    tb[ty][tx] = col < N && k0 + ty < K ? b[(k0 + ty) * N + col] : 0.0f;
    __syncthreads();
    for (int k = 0; k < kTile; ++k) acc += ta[ty][k] * tb[k][tx];
    __syncthreads();
  }
  if (row < M && col < N) c[row * N + col] = acc;
}

__global__ void atomics_kernel(const int* labels, int n, int* hist, int* max_label, int* cas_count) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  atomicAdd(&hist[labels[i]], 1);
  atomicMax(max_label, labels[i]);
  int old = *cas_count, seen;
  do {
    seen = old;
    old = atomicCAS(cas_count, seen, seen + 1);
  } while (old != seen);
}

// x, out: (n,); each block reverses its blockDim.x elements.
__global__ void reverse_kernel(const float* x, float* out, int n) {
  STRATA_DYNAMIC_SHARED(float, buffer);
  const int t = int(threadIdx.x), i = int(blockIdx.x * blockDim.x) + t;
  buffer[t] = i < n ? x[i] : 0.0f;
  __syncthreads();
  const int j = int(blockIdx.x * blockDim.x + blockDim.x - 1) - t;
  if (j < n) out[j] = buffer[t];
}

__global__ void empty_kernel() {}

// Device buffers for one self-test call.
template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) { cudaMalloc(reinterpret_cast<void**>(&ptr), sizeof(T) * n); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    cudaMemcpy(ptr, host.data(), sizeof(T) * n, cudaMemcpyHostToDevice);
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  std::vector<T> to_host() const {
    std::vector<T> out(n);
    cudaMemcpy(out.data(), ptr, sizeof(T) * n, cudaMemcpyDeviceToHost);
    return out;
  }
};

int finish() {
  cudaDeviceSynchronize();
  return int(cudaGetLastError());
}

int blocks_for(size_t n, int block) { return int((n + size_t(block) - 1) / size_t(block)); }

}  // namespace

int block_sums(const std::vector<float>& x, int block, std::vector<float>& out) {
  DeviceBuffer<float> dx(x), dout(size_t(blocks_for(x.size(), block)));
  cuda::launch(block_sum_kernel, dim3(unsigned(dout.n)), dim3(unsigned(block)), 0, nullptr, dx.ptr, dout.ptr, int(x.size()));
  out = dout.to_host();
  return finish();
}

int warp_sums(const std::vector<float>& x, int block, std::vector<float>& sums, std::vector<float>& maxima) {
  const int grid = blocks_for(x.size(), block);
  DeviceBuffer<float> dx(x), ds(size_t(grid * block / 32)), dm(size_t(grid * block / 32));
  cuda::launch(warp_sum_kernel, dim3(unsigned(grid)), dim3(unsigned(block)), 0, nullptr, dx.ptr, ds.ptr, dm.ptr, int(x.size()));
  sums = ds.to_host();
  maxima = dm.to_host();
  return finish();
}

int warp_votes(const std::vector<float>& x, std::vector<int>& counts, std::vector<float>& up, std::vector<float>& lane0) {
  const int block = 64, grid = blocks_for(x.size(), block);
  DeviceBuffer<float> dx(x), du(x.size()), dl(x.size());
  DeviceBuffer<int> dc(size_t(grid * block / 32));
  cuda::launch(warp_vote_kernel, dim3(unsigned(grid)), dim3(unsigned(block)), 0, nullptr, dx.ptr, dc.ptr, du.ptr, dl.ptr,
               int(x.size()));
  counts = dc.to_host();
  up = du.to_host();
  lane0 = dl.to_host();
  return finish();
}

int tiled_matmul(const std::vector<float>& a, const std::vector<float>& b, int M, int K, int N, std::vector<float>& c) {
  DeviceBuffer<float> da(a), db(b), dc(size_t(M) * size_t(N));
  cuda::launch(tiled_matmul_kernel, dim3(unsigned(blocks_for(size_t(N), kTile)), unsigned(blocks_for(size_t(M), kTile))),
               dim3(kTile, kTile), 0, nullptr, da.ptr, db.ptr, dc.ptr, M, K, N);
  c = dc.to_host();
  return finish();
}

int atomics(const std::vector<int>& labels, int bins, std::vector<int>& hist, int& max_label, int& cas_count) {
  DeviceBuffer<int> dl(labels), dh(std::vector<int>(size_t(bins), 0)), dmax(std::vector<int>{-1}), dcas(std::vector<int>{0});
  cuda::launch(atomics_kernel, dim3(unsigned(blocks_for(labels.size(), 128))), dim3(128), 0, nullptr, dl.ptr,
               int(labels.size()), dh.ptr, dmax.ptr, dcas.ptr);
  hist = dh.to_host();
  max_label = dmax.to_host()[0];
  cas_count = dcas.to_host()[0];
  return finish();
}

int reverse_blocks(const std::vector<float>& x, int block, std::vector<float>& out) {
  DeviceBuffer<float> dx(x), dout(x.size());
  cuda::launch(reverse_kernel, dim3(unsigned(blocks_for(x.size(), block))), dim3(unsigned(block)),
               sizeof(float) * size_t(block), nullptr, dx.ptr, dout.ptr, int(x.size()));
  out = dout.to_host();
  return finish();
}

int empty_launch(unsigned grid_x, unsigned block_x, unsigned block_y, size_t shared_bytes) {
  cuda::launch(empty_kernel, dim3(grid_x), dim3(block_x, block_y), shared_bytes, nullptr);
  return finish();
}

}  // namespace strata::selftest
