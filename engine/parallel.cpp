#include "engine/parallel.h"

#include "engine/error.h"
#include "kernels/cpu/thread_pool.h"

namespace strata {

int num_threads() { return cpu::pool_threads(); }

void set_num_threads(int n) {
  STRATA_CHECK(n > 0, "set_num_threads: expected a positive thread count, got ", n);
  cpu::set_pool_threads(n);
}

}  // namespace strata
