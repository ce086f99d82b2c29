// strata-cuda-info: which CUDA devices this build sees (real runtime or the
// emulator) and their main properties; exits 0 and says "CPU only" when none.
#include <cstdio>

#include "engine/cuda_device.h"

int main() {
  const int n = strata::cuda::device_count();
  if (n == 0) {
    std::printf("strata-cuda-info: no CUDA device; strata runs on the CPU\n");
    return 0;
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop;
    STRATA_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
    std::printf("cuda:%d  %s  compute %d.%d  %d SMs  %.1f GiB  %zu KiB shared/block  warp %d\n", i, prop.name,
                prop.major, prop.minor, prop.multiProcessorCount, double(prop.totalGlobalMem) / (1u << 30),
                prop.sharedMemPerBlock / 1024, prop.warpSize);
  }
  return 0;
}
