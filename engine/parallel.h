// Threads of the CPU backend (kernels/cpu/thread_pool.h). The count comes from
// STRATA_NUM_THREADS (else OMP_NUM_THREADS, else the cores this process may
// run on) and can be changed at run time. Results never depend on it:
// reductions and GEMM split work by shape only.
#pragma once

namespace strata {

int num_threads();
void set_num_threads(int n);

}  // namespace strata
