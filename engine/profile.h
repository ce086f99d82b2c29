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
// The table, longest first; `total_seconds` > 0 adds each key's share of it.
std::string report(double total_seconds = 0);
void reset();

}  // namespace strata::profile
