// The commands of strata-anomaly (GUIDE section 6): train, eval, predict.
#pragma once

#include "apps/common/cli.h"

namespace strata::anomaly {

int train_command(const AppArgs& a);
int eval_command(const AppArgs& a);
int predict_command(const AppArgs& a);
int export_command(const AppArgs& a);

}  // namespace strata::anomaly
