// Tiny configs of the apps that need no data files, for app-level tests
// (the hostile-input table, the device tests).
#pragma once

namespace strata::test {

// strata-welllog: six synthetic gamma-ray wells, one of them for validation, a 1-D U-Net of base 8, two
// supervised epochs.
inline const char* tiny_welllog_config() {
  return "version: 1\n"
         "data:\n"
         "  source: synthetic\n"
         "  synthetic: {wells: 6, min_length: 300, max_length: 320, noise: 6.0, seed: 5}\n"
         "  curves: [GR]\n"
         "  classes: [0, 1, 2, 3, 4]\n"
         "  class_names: [none, symmetrical, cylindrical, funnel, bell]\n"
         "  window: 64\n"
         "  stride: 32\n"
         "  val_wells: [SYN-001]\n"
         "model: {type: unet1d, base: 8, depth: 2}\n"
         "train: {mode: supervised, epochs: 2, batch: 8, seed: 1}\n"
         "optimizer: {type: adam, lr: 0.003}\n"
         "inference: {window: 128, stride: 32}\n";
}

// strata-faults: 16 generated 32 x 32 sections per epoch, a U-Net of base 4, one epoch.
inline const char* tiny_faults_config() {
  return "data:\n"
         "  synthetic: {height: 32, width: 32, faults: [1, 2]}\n"
         "  sections_per_epoch: 16\n"
         "  val_sections: 2\n"
         "  test_sections: 2\n"
         "  workers: 1\n"
         "model: {type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 2}\n"
         "train: {epochs: 1, batch: 8, seed: 1, progress: false}\n"
         "report: {panels: 1}\n"
         "optimizer: {type: adam, lr: 0.01}\n";
}

}  // namespace strata::test
