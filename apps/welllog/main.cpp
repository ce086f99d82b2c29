// strata-welllog: facies segmentation of well logs with a 1-D U-Net, trained
// supervised or with adversarial semi-supervised learning (Hung et al. 2018).
// See docs/welllog.md.
#include "apps/common/cli.h"
#include "apps/common/export.h"
#include "apps/welllog/run.h"
#include "engine/error.h"

namespace {

strata::AppSpec app_spec() {
  strata::AppSpec s;
  s.name = "strata-welllog";
  s.summary = "facies segmentation of well logs (1-D U-Net, Hung et al. semi-supervised training)";
  s.commands = {
      strata::train_command_spec("Trains a model (and runs cross-validation when cv.folds > 0) into a run folder."),
      strata::eval_command_spec("Scores a checkpoint on labelled wells: metrics.csv, confusion.png, strip plots.",
                                "labelled wells, a CSV or LAS file or a folder of them (default: the data of the "
                                "checkpoint's config)"),
      strata::predict_command_spec("Predicts the facies of every sample of the wells in a CSV or LAS file, or in "
                                   "each such file of a folder.",
                                   "wells to predict: a CSV or LAS file, or a folder of them",
                                   "CSV (all columns + Predicted, P_<code>) or LAS; a folder for a folder, each "
                                   "file under its own name"),
      strata::export_command_spec(
          "Writes the model as ONNX: log curves -> facies probabilities (the normalisation of the "
          "curves and the softmax inside, curve names and facies codes in the metadata), or its "
          "weights as safetensors.")};
  s.footer =
      "configs: configs/welllog_synthetic.yaml (no download), configs/welllog_seg2016.yaml (SEG 2016 wells)\n"
      "config keys: docs/welllog.md (every run writes its resolved config, defaults included, to config.yaml)";
  return s;
}

int body(const strata::AppArgs& a) {
  if (a.command == "export") return strata::welllog::export_command(a);
  if (a.command == "train") return strata::welllog::train_command(a);
  if (a.command == "eval") return strata::welllog::eval_command(a);
  return strata::welllog::predict_command(a);
}

}  // namespace

int main(int argc, char** argv) { return strata::run_app(app_spec(), body, argc, argv); }
