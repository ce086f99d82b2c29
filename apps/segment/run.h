// The commands of strata-segment (GUIDE section 6): train, eval, predict; pretrain and compare (pretrain.cpp).
#pragma once

#include "apps/common/cli.h"

namespace strata::segment {

int train_command(const AppArgs& a);
int eval_command(const AppArgs& a);
int predict_command(const AppArgs& a);
int export_command(const AppArgs& a);
int pretrain_command(const AppArgs& a);
int compare_command(const AppArgs& a);

}  // namespace strata::segment
