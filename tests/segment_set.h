// A tiny binary segmentation set for strata-segment tests: 8 pairs of 32 x 32
// grey images of a disk (0.8 on 0.2) and masks (255 inside), in the layout of
// data.images / data.masks, and one 16 x 16 image DIR/small.png.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "apps/common/image_io.h"

namespace strata::test {

inline void write_segment_set(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir / "images");
  std::filesystem::create_directories(dir / "masks");
  for (int i = 0; i < 8; ++i) {
    Image img{1, 32, 32, std::vector<float>(1024)};
    LabelMap m{32, 32, std::vector<int32_t>(1024)};
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) {
        const bool in = (y - 12 - i) * (y - 12 - i) + (x - 16) * (x - 16) < 36;
        m.at(y, x) = in ? 255 : 0;
        img.at(0, y, x) = in ? 0.8f : 0.2f;
      }
    write_png((dir / "images" / (std::to_string(i) + ".png")).string(), img);
    write_label_png((dir / "masks" / (std::to_string(i) + ".png")).string(), m);
  }
  write_png((dir / "small.png").string(), Image{1, 16, 16, std::vector<float>(256, 0.5f)});
}

// A config for that set: a U-Net of base 4, one epoch, a quarter of the pairs for validation.
inline std::string segment_set_config(const std::filesystem::path& dir) {
  return "version: 1\n"
         "class_names: [background, disk]\n"
         "data: {images: " + (dir / "images").string() + ", masks: " + (dir / "masks").string() +
         ", val_fraction: 0.25, channels: 1, workers: 1}\n"
         "model: {type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 2}\n"
         "train: {epochs: 1, batch: 4, seed: 1, panels_every: 0}\n"
         "optimizer: {type: adam, lr: 0.01}\n";
}

}  // namespace strata::test
