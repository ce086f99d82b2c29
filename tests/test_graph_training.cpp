// train.cuda_graph (apps/common/driver.h, OneModelLearner::use_cuda_graph): strata-segment's and strata-faults'
// training steps recorded as a CUDA graph on their second call and replayed after that. With deterministic
// algorithms a run whose steps are replayed gives the same metrics at every epoch as the eager run; a batch of
// another shape (an epoch's shorter last one) steps eagerly between replays; a step it cannot record (dropout)
// runs eagerly with a warning; the settings a graph cannot take are errors that name the key.
// The emulator build (label cuda_emu) and the nvcc build on a GPU (label gpu) train; the CPU build checks the
// error of a build without CUDA.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/image_io.h"
#include "apps/faults/run.h"
#include "apps/segment/run.h"
#include "engine/cudnn_conv.h"
#include "engine/error.h"
#include "tests/segment_set.h"
#include "tests/test_util.h"
#include "tests/tiny_configs.h"
#if defined(STRATA_WITH_CUDA)
#include "engine/cuda_device.h"
#endif

using namespace strata;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() / ("strata_test_graph_" + std::to_string(getpid()) + "_" + name);
}

// The helpers below train on a CUDA device: the CPU build only checks the error.

// Three classes on 32 x 32 grey images: a disk (1) and a bar (2) on the background (0), every fourth mask with
// an ignored corner (255 with data.mask.ignore: 255).
[[maybe_unused]] void write_three_class_set(const fs::path& dir) {
  fs::create_directories(dir / "images");
  fs::create_directories(dir / "masks");
  for (int i = 0; i < 7; ++i) {
    Image img{1, 32, 32, std::vector<float>(1024)};
    LabelMap m{32, 32, std::vector<int32_t>(1024)};
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x) {
        const bool disk = (y - 10 - i) * (y - 10 - i) + (x - 12) * (x - 12) < 30;
        const bool bar = x >= 24 && x < 27 && y > 4 + i;
        const int label = disk ? 1 : bar ? 2 : 0;
        m.at(y, x) = i % 4 == 0 && x < 4 && y < 4 ? 255 : label;
        img.at(0, y, x) = label == 1 ? 0.8f : label == 2 ? 0.5f : 0.2f;
      }
    write_png((dir / "images" / (std::to_string(i) + ".png")).string(), img);
    write_label_png((dir / "masks" / (std::to_string(i) + ".png")).string(), m);
  }
}

[[maybe_unused]] std::string three_class_config(const fs::path& dir) {
  return "version: 1\n"
         "class_names: [background, disk, bar]\n"
         "data: {images: " + (dir / "images").string() + ", masks: " + (dir / "masks").string() +
         ", val_fraction: 0.3, channels: 1, workers: 1, mask: {mode: index, ignore: 255}}\n"
         "model: {type: unet2d, in_channels: 1, classes: 3, base: 4, depth: 2}\n"
         "loss: {type: cross_entropy, class_weights: [0.5, 1.5, 2.0], dice: 0.5}\n"
         "train: {epochs: 3, batch: 3, seed: 1, panels_every: 0, progress: false}\n"
         "optimizer: {type: adam, lr: 0.01, schedule: {type: cosine, warmup_steps: 2}}\n";
}

[[maybe_unused]] std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// metrics.csv without its last column (seconds).
[[maybe_unused]] std::string metrics_without_seconds(const fs::path& p) {
  std::istringstream in(read_text(p));
  std::string line, out;
  while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

// `strata-segment train --config DIR/cfg.yaml --out DIR/NAME OVERRIDES`.
AppArgs train_args(const fs::path& dir, const std::string& name, std::vector<std::string> overrides) {
  AppArgs a;
  a.command = "train";
  a.config = (dir / "cfg.yaml").string();
  a.out = (dir / name).string();
  a.overrides = std::move(overrides);
  return a;
}

// `command` (strata-segment train unless given) of `config` into dir/name with `overrides`; returns what it wrote
// on stderr.
[[maybe_unused]] std::string train(const fs::path& dir, const std::string& name, const std::string& config,
                                   std::vector<std::string> overrides,
                                   int (*command)(const AppArgs&) = segment::train_command) {
  std::ofstream(dir / "cfg.yaml") << config;
  const AppArgs a = train_args(dir, name, std::move(overrides));
  ::testing::internal::CaptureStderr();
  int rc = -1;
  try {
    rc = command(a);
  } catch (...) {
    ::testing::internal::GetCapturedStderr();
    throw;
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 0) << err;
  return err;
}

}  // namespace

#if defined(STRATA_WITH_CUDA)

TEST(GraphTraining, ReplayedStepsGiveTheEagerRunsMetrics) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "SKIPPED: no CUDA device on this machine";
  const fs::path dir = scratch("three");
  fs::remove_all(dir);
  write_three_class_set(dir / "set");
  const std::string cfg = three_class_config(dir / "set");
  const std::vector<std::string> on_device = {"train.device=cuda", "train.deterministic=true"};
  train(dir, "eager", cfg, on_device);
  std::vector<std::string> graphed = on_device;
  graphed.push_back("train.cuda_graph=true");
  const std::string log = train(dir, "graph", cfg, graphed);
  // 5 training images in batches of 3 and 2: of 6 steps, the first full batch runs eagerly, the second is
  // recorded and replayed, the third replayed; each short batch steps eagerly.
  EXPECT_THAT(log, ::testing::HasSubstr("2 training steps replayed from a CUDA graph"));
  const std::string eager = metrics_without_seconds(dir / "eager" / "metrics.csv");
  EXPECT_GT(std::count(eager.begin(), eager.end(), '\n'), 3);
  EXPECT_EQ(metrics_without_seconds(dir / "graph" / "metrics.csv"), eager);
  fs::remove_all(dir);
}

// strata-faults: fault_loss with a fixed positive weight and with the batch's own (loss.balance), a Dice term;
// each section's generation is the same in both runs, so the metrics are the same at every epoch.
TEST(GraphTraining, FaultsStepsReplayedLikeEagerOnes) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "SKIPPED: no CUDA device on this machine";
  const fs::path dir = scratch("faults");
  for (const std::string& loss : {std::string("loss={balance: false, pos_weight: 8, dice: 0.5}"),
                                  std::string("loss={balance: true, dice: 0.5}")}) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::vector<std::string> eager = {"train.device=cuda", "train.deterministic=true", "train.epochs=2", loss};
    std::vector<std::string> graphed = eager;
    graphed.push_back("train.cuda_graph=true");
    train(dir, "eager", strata::test::tiny_faults_config(), eager, faults::train_command);
    // 16 sections in batches of 8 for 2 epochs: the first step eager, the second recorded, then replays.
    EXPECT_THAT(train(dir, "graph", strata::test::tiny_faults_config(), graphed, faults::train_command),
                ::testing::HasSubstr("3 training steps replayed")) << loss;
    const std::string metrics = metrics_without_seconds(dir / "eager" / "metrics.csv");
    EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 3) << loss;
    EXPECT_EQ(metrics_without_seconds(dir / "graph" / "metrics.csv"), metrics) << loss;
  }
  fs::remove_all(dir);
}

// Binary masks: the graph's loss averages over the labelled pixels as a product with their inverse count, so the
// losses agree to rounding; the Dice term and pos_weight ride along.
TEST(GraphTraining, BinaryLossAgreesWithTheEagerLoss) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "SKIPPED: no CUDA device on this machine";
  const fs::path dir = scratch("binary");
  fs::remove_all(dir);
  strata::test::write_segment_set(dir / "set");
  std::string cfg = strata::test::segment_set_config(dir / "set");
  cfg += "loss: {pos_weight: 3, dice: 0.5}\n";
  const std::vector<std::string> eager = {"train.device=cuda", "train.deterministic=true", "train.epochs=2",
                                          "train.batch=2", "train.progress=false"};
  std::vector<std::string> graphed = eager;
  graphed.push_back("train.cuda_graph=true");
  train(dir, "eager", cfg, eager);
  EXPECT_THAT(train(dir, "graph", cfg, graphed), ::testing::HasSubstr("5 training steps replayed"));
  auto losses = [](const fs::path& run) {
    std::istringstream in(read_text(run / "metrics.csv"));
    std::string line;
    std::vector<double> out;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream cells(line);
      std::string epoch, step, loss;
      std::getline(cells, epoch, ',');
      std::getline(cells, step, ',');
      std::getline(cells, loss, ',');
      out.push_back(std::stod(loss));
    }
    return out;
  };
  const std::vector<double> a = losses(dir / "eager"), b = losses(dir / "graph");
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-5 * std::abs(a[i])) << "epoch " << i + 1;
  fs::remove_all(dir);
}

// Dropout draws random numbers in the step, which a replay would repeat: the recording fails, says so once, and
// training goes on eagerly to the end.
TEST(GraphTraining, AStepThatCannotBeRecordedRunsEagerly) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "SKIPPED: no CUDA device on this machine";
  const fs::path dir = scratch("dropout");
  fs::remove_all(dir);
  write_three_class_set(dir / "set");
  const std::string log = train(dir, "graph", three_class_config(dir / "set"),
                                {"train.device=cuda", "train.cuda_graph=true", "model.dropout=0.3"});
  EXPECT_THAT(log, ::testing::HasSubstr("warning: train.cuda_graph: the training step cannot be recorded"));
  EXPECT_THAT(log, ::testing::HasSubstr("0 training steps replayed"));
  const std::string metrics = metrics_without_seconds(dir / "graph" / "metrics.csv");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 4);  // the header and three epochs
  fs::remove_all(dir);
}

TEST(GraphTraining, SettingsAGraphCannotTakeAreErrors) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "SKIPPED: no CUDA device on this machine";
  const fs::path dir = scratch("errors");
  fs::remove_all(dir);
  write_three_class_set(dir / "set");
  std::ofstream(dir / "cfg.yaml") << three_class_config(dir / "set");
  auto error_with = [&](std::vector<std::string> overrides) {
    const AppArgs a = train_args(dir, "run", std::move(overrides));
    return strata::test::error_of([&] { segment::train_command(a); });
  };
  EXPECT_THAT(error_with({"train.cuda_graph=true"}), ::testing::HasSubstr("train.cuda_graph records the training step "
                                                                          "on the GPU: it needs train.device: cuda"));
  EXPECT_THAT(error_with({"train.cuda_graph=true", "train.device=cuda", "loss.type=focal"}),
              ::testing::HasSubstr("train.cuda_graph: loss.type focal reads a sum on the host"));
  fs::remove_all(dir);
}

#else

TEST(GraphTraining, NeedsACudaBuild) {
  const fs::path dir = scratch("cpu");
  fs::remove_all(dir);
  strata::test::write_segment_set(dir / "set");
  std::ofstream(dir / "cfg.yaml") << strata::test::segment_set_config(dir / "set");
  const AppArgs a = train_args(dir, "run", {"train.cuda_graph=true"});
  EXPECT_THAT(strata::test::error_of([&] { segment::train_command(a); }),
              ::testing::HasSubstr("train.cuda_graph needs a CUDA build of strata"));
  EXPECT_FALSE(fs::exists(dir / "run"));
  fs::remove_all(dir);
}

#endif
