// The commands of strata-faults (GUIDE section 6): train, eval, predict, generate,
// and opendtect (the ExternalAttrib protocol, apps/faults/opendtect.h).
#pragma once

#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/faults/faults.h"
#include "apps/faults/segy.h"
#include "config/config.h"
#include "layers/module.h"

namespace strata::faults {

// The model of a strata-faults checkpoint, as eval, predict and opendtect use it (overrides applied to its config).
struct Model {
  Config cfg;
  ModulePtr net;
  TileOptions tiles{};
  // inference.match_period: the training sections' reference period (the checkpoint's faults.period entry, or
  // computed from its config when it has none); reference 0 when the key is false.
  PeriodMatch period{};
  int64_t tolerance = 1;
  bool volume = false;  // a 3-D model (model.type unet3d): predicts cubes at once
  SegyOptions segy{};   // segy.inline_byte / crossline_byte of the SEG-Y files it reads
};
Model load_model(const std::string& path, const std::vector<std::string>& overrides);

int train_command(const AppArgs& a);
int eval_command(const AppArgs& a);
int predict_command(const AppArgs& a);
int export_command(const AppArgs& a);
int generate_command(const AppArgs& a);
// opendtect_command.cpp: -g / -c of the ExternalAttrib protocol, and `opendtect install` (the wrapper script).
int opendtect_command(const AppArgs& a);
int opendtect_install_command(const AppArgs& a);

}  // namespace strata::faults
