#include "engine/parallel.h"

#include <omp.h>

#include <cstdlib>
#include <string>

#include "engine/error.h"

namespace strata {
namespace {

const bool kThreadsFromEnv = [] {
  if (const char* env = std::getenv("STRATA_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) omp_set_num_threads(n);
  }
  return true;
}();

}  // namespace

int num_threads() {
  (void)kThreadsFromEnv;
  return omp_get_max_threads();
}

void set_num_threads(int n) {
  STRATA_CHECK(n > 0, "set_num_threads: expected a positive thread count, got ", n);
  omp_set_num_threads(n);
}

}  // namespace strata
