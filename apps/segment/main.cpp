// strata-segment: image segmentation with U-Nets (from scratch, or on
// MobileNetV2 / VGG16 encoders): binary object masks and multi-class scenes.
// See docs/segment.md.
#include "apps/common/cli.h"
#include "apps/common/export.h"
#include "apps/segment/run.h"

namespace {

strata::AppSpec app_spec() {
  strata::AppSpec s;
  s.name = "strata-segment";
  s.summary = "image segmentation: binary masks and multi-class scenes with U-Nets";
  strata::CommandSpec predict = strata::predict_command_spec(
      "Writes a mask per image at the image's own size (<stem>.png: 0 / 255 for binary tasks, the class index "
      "otherwise) and <stem>_overlay.png.",
      "an image, or a folder of images", "the folder the masks go to (for one image, also a NAME.png file)");
  predict.flags.push_back({"--probabilities", "", "also write <stem>_prob.png, a 16-bit probability map"});
  strata::CommandSpec pretrain = strata::train_command_spec(
      "Pretrains an encoder U-Net's encoder without labels (masked-patch reconstruction) on the config's training "
      "images and any folders named; writes <out>/encoder.safetensors for model.encoder_weights.");
  pretrain.name = "pretrain";
  pretrain.flags.push_back({"--images", "DIR[,DIR...]", "more folders of unlabelled images (searched recursively)"});
  strata::CommandSpec compare{"compare",
                              "Plots the validation curves of runs together (by epoch and by minutes) and writes "
                              "compare.csv: best mIoU, and the epoch and minutes at which each run's validation "
                              "loss first reached the target.",
                              {{"--runs", "DIR,DIR[,...]", "run folders written by train", true},
                               {"--output", "DIR", "the folder the plots and compare.csv go to", true},
                               {"--loss-target", "LOSS", "the validation loss to reach (default 0.7)"}},
                              false};
  s.commands = {
      strata::train_command_spec("Trains a model into a run folder: metrics.csv, loss.png, panels/, checkpoints."),
      strata::eval_command_spec("Scores a checkpoint on labelled images: metrics.csv, confusion.png, panels.png.",
                                "a list file of 'image mask' lines, or a folder with images/ and masks/ (default: "
                                "the validation images of the checkpoint's config)"),
      predict, pretrain, compare,
      strata::export_command_spec(
          "Writes the model as ONNX: image pixels in [0, 1] -> class probabilities (the "
          "normalisation and the sigmoid / softmax inside, class names and palette in the "
          "metadata), or its weights as safetensors.")};
  s.footer =
      "configs: configs/segment_membrane.yaml (ISBI EM membranes, MobileNetV2-encoder U-Net),\n"
      "         configs/segment_camvid.yaml (CamVid road scenes, 11 classes), segment_camvid_scratch.yaml,\n"
      "         segment_camvid_vgg16.yaml (the scratch vs pretrained comparison)\n"
      "config keys: docs/segment.md (every run writes its resolved config, defaults included, to config.yaml)";
  return s;
}

int body(const strata::AppArgs& a) {
  if (a.command == "export") return strata::segment::export_command(a);
  if (a.command == "train") return strata::segment::train_command(a);
  if (a.command == "eval") return strata::segment::eval_command(a);
  if (a.command == "pretrain") return strata::segment::pretrain_command(a);
  if (a.command == "compare") return strata::segment::compare_command(a);
  return strata::segment::predict_command(a);
}

}  // namespace

int main(int argc, char** argv) { return strata::run_app(app_spec(), body, argc, argv); }
