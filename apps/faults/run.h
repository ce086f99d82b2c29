// The commands of strata-faults (GUIDE section 6): train, eval, predict, generate.
#pragma once

#include "apps/common/cli.h"

namespace strata::faults {

int train_command(const AppArgs& a);
int eval_command(const AppArgs& a);
int predict_command(const AppArgs& a);
int generate_command(const AppArgs& a);

}  // namespace strata::faults
