// Threads of the CPU backend (OpenMP). The count comes from STRATA_NUM_THREADS
// (else OMP_NUM_THREADS, else all cores) and can be changed at run time.
// Results never depend on it: reductions and GEMM split work by shape only.
#pragma once

namespace strata {

int num_threads();
void set_num_threads(int n);

}  // namespace strata
