// strata-anomaly: anomaly detection with autoencoders trained on normal
// images only; the anomaly score is the reconstruction error, the threshold is
// chosen on validation. See docs/anomaly.md.
#include "apps/anomaly/run.h"
#include "apps/common/cli.h"
#include "apps/common/export.h"

namespace {

strata::AppSpec app_spec() {
  strata::AppSpec s;
  s.name = "strata-anomaly";
  s.summary = "anomaly detection: autoencoders trained on normal images, reconstruction-error scores";
  s.commands = {
      strata::train_command_spec(
          "Trains on normal images, chooses the threshold on validation, reports on the test set: metrics.csv, "
          "loss.png, val/ and test/ (report.csv, scores.csv, rates.png, roc.png, scores.png, panels.png)."),
      strata::eval_command_spec("Scores a checkpoint on labelled images at its stored threshold: report.csv, "
                                "scores.csv and the figures.",
                                "a folder with normal/ and anomalous/ subfolders (default: the test set of the "
                                "checkpoint's config)"),
      strata::predict_command_spec("Writes file,score,anomaly per image (anomaly: score above the stored threshold).",
                                   "an image, or a folder of images (read recursively)", "the CSV file to write"),
      strata::export_command_spec(
          "Writes the model as ONNX: image -> reconstruction and anomaly score (the threshold and "
          "its rule in the metadata), or its weights as safetensors.")};
  s.footer =
      "configs: configs/anomaly_fmnist_{ae,vae,convae,convae_dense}.yaml (Fashion-MNIST one-class; set "
      "data.normal_class=K), configs/anomaly_folders.yaml (your image folders)\n"
      "config keys: docs/anomaly.md (every run writes its resolved config, defaults included, to config.yaml)";
  return s;
}

int body(const strata::AppArgs& a) {
  if (a.command == "export") return strata::anomaly::export_command(a);
  if (a.command == "train") return strata::anomaly::train_command(a);
  if (a.command == "eval") return strata::anomaly::eval_command(a);
  return strata::anomaly::predict_command(a);
}

}  // namespace

int main(int argc, char** argv) { return strata::run_app(app_spec(), body, argc, argv); }
