// A tiny labelled image-folder set for strata-anomaly tests: 16 x 16 grey
// images of soft diagonal stripes (normal) and the same stripes with a bright
// 4 x 4 square somewhere (anomalous), in the layout data.source: folders reads:
//   DIR/train/normal/*.png, DIR/{val,test}/{normal,anomalous}/*.png
#pragma once

#include <cmath>
#include <filesystem>
#include <random>
#include <string>

#include "apps/common/image_io.h"

namespace strata::test {

inline void write_anomaly_set(const std::filesystem::path& dir, int train = 48, int per_class = 8) {
  namespace fs = std::filesystem;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0, 1);
  const auto image = [&](bool anomalous) {
    Image img{1, 16, 16, std::vector<float>(256)};
    const float phase = 6.283f * u(rng), period = 4 + 2 * u(rng);
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x)
        img.at(0, y, x) = 0.35f + 0.2f * std::sin(float(x + y) * 6.283f / period + phase) + 0.02f * (u(rng) - 0.5f);
    if (anomalous) {
      const int top = int(u(rng) * 12), left = int(u(rng) * 12);
      for (int y = top; y < top + 4; ++y)
        for (int x = left; x < left + 4; ++x) img.at(0, y, x) = 1.0f;
    }
    return img;
  };
  const auto write = [&](const fs::path& sub, int n, bool anomalous) {
    fs::create_directories(dir / sub);
    for (int i = 0; i < n; ++i) write_png((dir / sub / (std::to_string(i) + ".png")).string(), image(anomalous));
  };
  write("train/normal", train, false);
  for (const char* set : {"val", "test"}) {
    write(fs::path(set) / "normal", per_class, false);
    write(fs::path(set) / "anomalous", per_class, true);
  }
}

// A config for that set: a small conv autoencoder with a dense bottleneck.
inline std::string anomaly_set_config(const std::filesystem::path& dir, int epochs = 12) {
  return "version: 1\n"
         "data: {source: folders, train: " + (dir / "train").string() + ", val: " + (dir / "val").string() +
         ", test: " + (dir / "test").string() + ", size: [16, 16], channels: 1}\n"
         "model: {type: conv_autoencoder, widths: [8, 16], latent: 8}\n"
         "threshold: {rule: youden}\n"
         "train: {epochs: " + std::to_string(epochs) + ", batch: 8, seed: 1, progress: false}\n"
         "optimizer: {type: adam, lr: 0.003}\n";
}

}  // namespace strata::test
