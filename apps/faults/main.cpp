// strata-faults: fault probability on seismic sections from a U-Net trained on
// synthetic sections; SEG-Y in and out. See docs/faults.md.
#include "apps/common/cli.h"
#include "apps/common/export.h"
#include "apps/faults/run.h"

namespace {

strata::AppSpec app_spec() {
  strata::AppSpec s;
  s.name = "strata-faults";
  s.summary = "seismic fault detection: synthetic training sections, U-Net fault probability, SEG-Y in and out";
  strata::CommandSpec predict = strata::predict_command_spec(
      "Fault probability of a SEG-Y line or cube (written as SEG-Y with the input's headers, IEEE float samples), "
      "or of sections as grey images or 2-D .npy arrays (<stem>_prob.png 16-bit or <stem>_prob.npy, "
      "<stem>_overlay.png; one section file with --output NAME.npy or NAME.png: there, and NAME_overlay.png).",
      "a SEG-Y file (.sgy / .segy), a section file (image or .npy), or a folder of them",
      "a SEG-Y file; for section files a folder, or for one of them a .npy or .png file");
  predict.flags.push_back({"--direction", "DIR",
                           "sections of a cube: all (default: inlines, crosslines and the grid's two diagonals), both (inlines and "
                           "crosslines, a sample marked by either: 40% of the time), inline or crossline"});
  predict.flags.push_back({"--png", "DIR", "also write seismic | probability overlays of chosen sections here"});
  predict.flags.push_back({"--sections", "LIST", "with --png: section indices, e.g. 0,10,22 (default first, middle, last)"});
  strata::CommandSpec generate{
      "generate",
      "Writes synthetic sections of a config's generator: images/ (16-bit grey) and masks/ (255 on faults), a labelled "
      "set for eval --data, and panels.png to look at; with --cubes, SEG-Y cubes (cube_K.sgy) and their labels "
      "(cube_K_faults.sgy) for eval --data cube_K.sgy --labels cube_K_faults.sgy.",
      {{"--config", "FILE", "YAML config (its data.synthetic and data.match)", true},
       {"--output", "DIR", "folder to write", true},
       {"--count", "N", "sections (default 8)"},
       {"--cubes", "N", "write N cubes instead: data.synthetic's height x width x width, faults of any strike"}}};
  strata::CommandSpec opendtect{
      "opendtect",
      "OpendTect's ExternalAttrib protocol, the model loaded once: -g prints the attribute's parameters, -c PARAMS "
      "reads SeisInfo, then TrcInfo + samples per trace from stdin and writes fault probability to stdout. "
      "`opendtect install` writes the script to give the plugin.",
      {{"--checkpoint", "FILE", "a checkpoint written by train (best.safetensors)", true},
       {"-g", "", "print the parameter JSON (URL-quoted) and exit"},
       {"-c", "PARAMS", "compute with these parameters (URL-quoted JSON, as the plugin passes them)"},
       {"--seisinfo", "N", "SeisInfo block size: auto (default), 44 (plugin 7.0.9 and later), 40 (7.0.6 and older)"}}};
  strata::CommandSpec opendtect_install{
      "opendtect install",
      "Writes DIR/strata-faults-attribute.sh for OpendTect's ExternalAttrib plugin, with absolute paths to this "
      "program and the checkpoint (and any key=value overrides, e.g. inference.tta=false), and runs it as the plugin "
      "does (only IFS and PATH set) to check it answers.",
      {{"--checkpoint", "FILE", "a checkpoint written by train (best.safetensors)", true},
       {"--dir", "DIR", "folder to write the script into", true},
       {"--seisinfo", "N", "SeisInfo block size: auto (default), 44 (plugin 7.0.9 and later), 40 (7.0.6 and older)"}}};
  strata::CommandSpec eval = strata::eval_command_spec(
      "Scores a checkpoint: AP, ROC AUC, best F1 and IoU, exact and within a tolerance; report.csv, pr.png, panels.png.",
      "a folder with images/ and masks/ (PNG or .npy, paired by stem), or a SEG-Y volume with --labels (default: "
      "held-out synthetic sections of the checkpoint's generator)");
  eval.flags.push_back({"--labels", "FILE", "with a SEG-Y --data: a SEG-Y of the same geometry, 1 on faults"});
  eval.flags.push_back({"--direction", "DIR", "with a SEG-Y --data: all (default), both, inline or crossline, as predict"});
  s.commands = {
      strata::train_command_spec("Trains on synthetic sections generated on the fly: metrics.csv, loss.png, val/, "
                                 "test/, checkpoints."),
      eval,
      predict, generate, opendtect, opendtect_install,
      strata::export_command_spec(
          "Writes the model as ONNX: seismic section -> fault probability (the per-section "
          "standardisation and the sigmoid inside), or its weights as safetensors.")};
  s.footer =
      "configs: configs/faults_synthetic.yaml (U-Net), configs/faults_dense.yaml (dense baseline)\n"
      "config keys: docs/faults.md (every run writes its resolved config, defaults included, to config.yaml)";
  return s;
}

int body(const strata::AppArgs& a) {
  if (a.command == "export") return strata::faults::export_command(a);
  if (a.command == "train") return strata::faults::train_command(a);
  if (a.command == "eval") return strata::faults::eval_command(a);
  if (a.command == "generate") return strata::faults::generate_command(a);
  if (a.command == "opendtect") return strata::faults::opendtect_command(a);
  if (a.command == "opendtect install") return strata::faults::opendtect_install_command(a);
  return strata::faults::predict_command(a);
}

}  // namespace

int main(int argc, char** argv) { return strata::run_app(app_spec(), body, argc, argv); }
