// strata-segment: image segmentation with U-Nets (from scratch, or on
// MobileNetV2 / VGG16 encoders): binary object masks and multi-class scenes.
// See docs/segment.md.
#include "apps/common/cli.h"
#include "apps/segment/run.h"

namespace {

strata::AppSpec app_spec() {
  strata::AppSpec s;
  s.name = "strata-segment";
  s.summary = "image segmentation: binary masks and multi-class scenes with U-Nets";
  strata::CommandSpec predict = strata::predict_command_spec(
      "Writes a mask per image at the image's own size (<stem>.png: 0 / 255 for binary tasks, the class index "
      "otherwise) and <stem>_overlay.png.",
      "an image, or a folder of images", "the folder the masks go to");
  predict.flags.push_back({"--probabilities", "", "also write <stem>_prob.png, a 16-bit probability map"});
  s.commands = {
      strata::train_command_spec("Trains a model into a run folder: metrics.csv, loss.png, panels/, checkpoints."),
      strata::eval_command_spec("Scores a checkpoint on labelled images: metrics.csv, confusion.png, panels.png.",
                                "a list file of 'image mask' lines, or a folder with images/ and masks/ (default: "
                                "the validation images of the checkpoint's config)"),
      predict};
  s.footer =
      "configs: configs/segment_membrane.yaml (ISBI EM membranes, MobileNetV2-encoder U-Net)\n"
      "config keys: docs/segment.md (every run writes its resolved config, defaults included, to config.yaml)";
  return s;
}

int body(const strata::AppArgs& a) {
  if (a.command == "train") return strata::segment::train_command(a);
  if (a.command == "eval") return strata::segment::eval_command(a);
  return strata::segment::predict_command(a);
}

}  // namespace

int main(int argc, char** argv) { return strata::run_app(app_spec(), body, argc, argv); }
