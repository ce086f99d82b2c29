// The commands of strata-faults (GUIDE section 6): train, eval, predict, generate,
// and opendtect (the ExternalAttrib protocol, apps/faults/opendtect.h).
#pragma once

#include "apps/common/cli.h"

namespace strata::faults {

int train_command(const AppArgs& a);
int eval_command(const AppArgs& a);
int predict_command(const AppArgs& a);
int generate_command(const AppArgs& a);
int opendtect_command(const AppArgs& a);

}  // namespace strata::faults
