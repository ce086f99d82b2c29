// Where a training step's time goes (STRATA_PROFILE=1).
//
// With the variable set, Module::operator() times every leaf module's forward
// (key: "fwd <type> <describe()> <input shape>") and backward times every
// autograd node (key: "bwd <op> <gradient shape>"); report() lists the keys by
// total time with call counts and shares. Off (the default) it costs one
// branch per module call and per node. Used by bench_train_step --profile.
#pragma once

#include <string>

namespace strata::profile {

bool enabled();
void add(const std::string& key, double seconds);
// A GPU runs kernels after their launch returns: a backend that queues work registers how to wait for it, and
// the timers above wait before reading the clock (only while profiling), so each key is charged its own work.
void set_device_wait(void (*wait)());
void wait_for_devices();
// The table, longest first; `total_seconds` > 0 adds each key's share of it.
std::string report(double total_seconds = 0);
void reset();

}  // namespace strata::profile
