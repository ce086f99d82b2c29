// strata-welllog: facies segmentation of well logs with a 1-D U-Net, trained
// supervised or with adversarial semi-supervised learning (Hung et al. 2018).
// See docs/welllog.md.
#include "apps/common/cli.h"
#include "apps/welllog/run.h"
#include "engine/error.h"

namespace {

const char* kUsage =
    "usage:\n"
    "  strata-welllog train   --config F [--out DIR] [--resume CHECKPOINT] [key.sub=value ...]\n"
    "  strata-welllog eval    --checkpoint F [--data CSV|LAS] [--out DIR] [key.sub=value ...]\n"
    "  strata-welllog predict --checkpoint F --input CSV|LAS --output CSV|LAS [key.sub=value ...]\n"
    "configs: configs/welllog_synthetic.yaml (no download), configs/welllog_seg2016.yaml (SEG 2016 wells)";

int body(const strata::AppArgs& a) {
  if (a.command == "train") return strata::welllog::train_command(a);
  if (a.command == "eval") return strata::welllog::eval_command(a);
  if (a.command == "predict") return strata::welllog::predict_command(a);
  STRATA_FAIL("unknown command '", a.command, "'\n", kUsage);
}

}  // namespace

int main(int argc, char** argv) { return strata::run_app("strata-welllog", body, argc, argv, kUsage); }
