// Training an app on the CUDA device (`train.device`, apps/common/trainer.h):
// the choice is validated with errors that name the key, and the well-log
// facies trainer takes the same steps on the device as on the CPU (every
// loss term of Hung et al.'s semi-supervised scheme, the discriminator's too).
// Built in every configuration: the CPU build checks the errors and trains every
// app on a stand-in device (STRATA_TEST_HOST_AS_CUDA: cuda:0 is host memory run
// by the CPU backend, so any tensor left on the wrong device is an error and the
// results must equal the CPU's bit for bit); the emulator build (label cuda_emu)
// and the nvcc build on a GPU (label gpu) compare the real devices.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/trainer.h"
#include "apps/welllog/facies.h"
#include "apps/welllog/run.h"
#include "apps/welllog/wells.h"
#include "engine/cudnn_conv.h"
#include "engine/error.h"
#include "engine/random.h"
#include "tests/anomaly_set.h"
#include "tests/segment_set.h"
#include "tests/test_util.h"
#include "tests/tiny_configs.h"
#if defined(STRATA_WITH_CUDA)
#include "engine/cuda_device.h"
#endif

using namespace strata;
using namespace strata::welllog;

namespace {

// The error `body` throws contains `part`.
template <class F>
void expect_error(F&& body, const std::string& part) {
  EXPECT_THAT(strata::test::error_of(body), ::testing::HasSubstr(part));
}

Config train_section(const std::string& device) {
  return Config::parse("train: {device: '" + device + "'}\n", "run.yaml").section("train");
}

// Twelve short synthetic wells, four labelled; the semi mode uses every term.
struct Wells {
  Config cfg;
  Preprocessing pre;
  std::vector<Sample> labelled, unlabelled;
};

Wells semi_wells(const std::string& device) {
  Wells s{Config::parse("version: 1\n"
                        "data:\n"
                        "  source: synthetic\n"
                        "  synthetic: {wells: 12, min_length: 300, max_length: 400, noise: 6.0, seed: 5}\n"
                        "  curves: [GR]\n"
                        "  classes: [0, 1, 2, 3, 4]\n"
                        "  window: 64\n"
                        "  stride: 32\n"
                        "model: {type: unet1d, base: 8, depth: 3, batchnorm: true}\n"
                        "train: {mode: semi, epochs: 1, batch: 8, seed: 1, semi_start: 0, t_semi: 0.1,\n"
                        "        input_noise: 0.05, class_weights: balanced}\n"
                        "optimizer: {type: adam, lr: 0.003}\n"
                        "discriminator: {model: {width: 16}}\n",
                        "test.yaml"),
          {}, {}, {}};
  s.cfg.apply_override("train.device=" + device);
  const Config data = s.cfg.section("data");
  s.pre = Preprocessing::from_config(data);
  std::vector<Well> wells = load_wells(data);
  s.pre.fit(wells);
  std::vector<Well> lab(wells.begin(), wells.begin() + 4), unl(wells.begin() + 4, wells.end());
  for (Well& w : unl) w.codes.clear();
  s.labelled = prepare(s.pre, lab);
  s.unlabelled = prepare(s.pre, unl);
  return s;
}

}  // namespace

TEST(TrainDevice, ChoicesAndErrors) {
  EXPECT_EQ(train_device(train_section("cpu")), Device::cpu());
  EXPECT_EQ(train_device(Config::parse("epochs: 1\n", "run.yaml")), Device::cpu());  // the default
  expect_error([] { train_device(train_section("gpu")); }, "train.device: 'gpu': expected cpu, cuda or cuda:N");
  expect_error([] { train_device(train_section("cuda:x")); }, "expected cpu, cuda or cuda:N");
  expect_error([] { train_device(train_section("cuda:")); }, "expected cpu, cuda or cuda:N");
  expect_error([] { train_device(train_section("cuda:1")); }, "train.device: cuda:1: strata runs on one GPU, cuda:0; "
                                                                "choose the card with CUDA_VISIBLE_DEVICES=1");
#if defined(STRATA_WITH_CUDA)
  if (cuda::device_count() > 0) {
    EXPECT_EQ(train_device(train_section("cuda")), Device::cuda(0));
    EXPECT_EQ(train_device(train_section("cuda:0")), Device::cuda(0));
  }
#else
  expect_error([] { train_device(train_section("cuda")); }, "train.device: cuda, but this build has no CUDA backend");
  expect_error([] { FaciesTrainer(semi_wells("cuda").cfg, {}, {}, {}, 1, 1); }, "this build has no CUDA backend");
#endif
}

// train.deterministic and train.precision set the GPU's convolution choices; bf16 on the CPU is an error.
TEST(TrainDevice, DeterministicAndPrecision) {
  train_device(Config::parse("device: cpu\ndeterministic: true\nprecision: fp32\n", "run.yaml"));
  EXPECT_TRUE(cuda::deterministic());
  EXPECT_EQ(cuda::precision(), cuda::Precision::fp32);
  train_device(Config::parse("device: cpu\ndeterministic: false\n", "run.yaml"));
  EXPECT_FALSE(cuda::deterministic());
  expect_error([] { train_device(Config::parse("device: cpu\nprecision: bf16\n", "run.yaml")); },
               "precision: bf16 (mixed precision) runs on a GPU (train.device: cuda); the CPU trains in fp32");
  expect_error([] { train_device(Config::parse("device: cpu\nprecision: fp16\n", "run.yaml")); }, "fp16");
  EXPECT_EQ(cuda::precision(), cuda::Precision::fp32);
}

TEST(TrainDevice, WelllogSemiSupervisedStepsMatchTheCpu) {
#if !defined(STRATA_WITH_CUDA)
  GTEST_SKIP() << "SKIPPED: this build has no CUDA backend; the emulator build (cuda_emu) and the nvcc build on a "
                  "GPU run this comparison";
#else
  if (cuda::device_count() == 0) GTEST_SKIP() << "SKIPPED: no CUDA device on this machine";
  struct Run {
    std::vector<FaciesTrainer::Terms> terms;
    std::vector<double> loss;
    std::vector<float> weights;
  };
  const auto run = [](const std::string& device) {
    Wells s = semi_wells(device);
    manual_seed(1);
    FaciesTrainer t(s.cfg, s.pre, s.labelled, s.unlabelled, 1, 1);
    EXPECT_EQ(t.device(), device == "cpu" ? Device::cpu() : Device::cuda(0));
    EXPECT_EQ(t.model().device(), t.device());
    Run r;
    for (int64_t b = 0; b < 3; ++b) {
      r.loss.push_back(t.step(0, b).loss);
      r.terms.push_back(t.last_terms());
    }
    for (const auto& [name, p] : t.model().named_parameters()) {
      // A conv bias followed by batch norm has a gradient that is zero up to rounding, which Adam's normalised
      // step turns into moves of +-lr that differ between any two devices: those are left out.
      if (name.find("conv") != std::string::npos && name.size() > 5 && name.substr(name.size() - 5) == ".bias")
        continue;
      const std::vector<float> v = p.to_vector<float>();
      r.weights.insert(r.weights.end(), v.begin(), v.end());
    }
    return r;
  };
  const Run cpu = run("cpu"), gpu = run("cuda");
  const auto near = [](double a, double b) { return std::abs(a - b) <= 1e-4 * std::max(1.0, std::abs(b)); };
  for (size_t i = 0; i < cpu.loss.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    EXPECT_PRED2(near, gpu.loss[i], cpu.loss[i]);
    EXPECT_PRED2(near, gpu.terms[i].ce, cpu.terms[i].ce);
    EXPECT_PRED2(near, gpu.terms[i].adv, cpu.terms[i].adv);
    EXPECT_PRED2(near, gpu.terms[i].semi_adv, cpu.terms[i].semi_adv);
    EXPECT_PRED2(near, gpu.terms[i].semi, cpu.terms[i].semi);
    EXPECT_PRED2(near, gpu.terms[i].d, cpu.terms[i].d);
    EXPECT_EQ(gpu.terms[i].confident, cpu.terms[i].confident);
  }
  EXPECT_GT(cpu.terms.back().confident, 0);  // the semi CE term was on
  ASSERT_EQ(gpu.weights.size(), cpu.weights.size());
  double worst = 0;
  for (size_t i = 0; i < cpu.weights.size(); ++i) worst = std::max(worst, double(std::abs(gpu.weights[i] - cpu.weights[i])));
  // Three Adam steps of lr 0.003: a weight moves by at most about 0.01, and the devices agree far closer.
  EXPECT_LT(worst, 2e-4);
#endif
}

#if defined(STRATA_BIN_DIR)
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// metrics.csv without its wall-clock column.
std::string metrics_without_seconds(const fs::path& csv) {
  std::ifstream f(csv);
  std::string line, out;
  long drop = -1;
  while (std::getline(f, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    for (std::string c; std::getline(ls, c, ',');) cells.push_back(c);
    if (drop < 0) {
      const auto it = std::find(cells.begin(), cells.end(), "seconds");
      if (it != cells.end()) drop = long(it - cells.begin());
    }
    for (size_t i = 0; i < cells.size(); ++i)
      if (long(i) != drop) out += cells[i] + ",";
    out += "\n";
  }
  return out;
}

// Trains `app` with `config` on the CPU and with train.device=cuda on the stand-in device; returns both runs'
// metrics (seconds left out) after checking that each run succeeded.
std::pair<std::string, std::string> train_both(const std::string& app, const fs::path& dir, const std::string& config,
                                               const std::string& extra = "") {
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "cfg.yaml") << config;
  const std::string bin = std::string(STRATA_BIN_DIR) + "/" + app, cfg = " --config " + (dir / "cfg.yaml").string();
  const std::string cpu = bin + " train" + cfg + " --out " + (dir / "cpu").string() + " " + extra + " > " +
                          (dir / "cpu.log").string() + " 2>&1";
  const std::string dev = "STRATA_TEST_HOST_AS_CUDA=1 " + bin + " train" + cfg + " --out " + (dir / "dev").string() +
                          " train.device=cuda " + extra + " > " + (dir / "dev.log").string() + " 2>&1";
  EXPECT_EQ(std::system(cpu.c_str()), 0) << read_text(dir / "cpu.log");
  EXPECT_EQ(std::system(dev.c_str()), 0) << read_text(dir / "dev.log");
  EXPECT_NE(read_text(dir / "dev.log").find("cuda:0 -> "), std::string::npos) << read_text(dir / "dev.log");
  return {metrics_without_seconds(dir / "cpu" / "metrics.csv"), metrics_without_seconds(dir / "dev" / "metrics.csv")};
}

// `app eval` of the CPU run's best checkpoint on the CPU and with --device cuda on the stand-in device: every file
// the two write (metrics, reports, plots) must be the same.
void expect_same_eval(const std::string& app, const fs::path& dir) {
  const std::string bin = std::string(STRATA_BIN_DIR) + "/" + app,
                    ckpt = " eval --checkpoint " + (dir / "cpu" / "best.safetensors").string();
  const std::string cpu = bin + ckpt + " --out " + (dir / "eval_cpu").string() + " > " +
                          (dir / "eval_cpu.log").string() + " 2>&1";
  const std::string dev = "STRATA_TEST_HOST_AS_CUDA=1 " + bin + ckpt + " --device cuda --out " +
                          (dir / "eval_dev").string() + " > " + (dir / "eval_dev.log").string() + " 2>&1";
  ASSERT_EQ(std::system(cpu.c_str()), 0) << read_text(dir / "eval_cpu.log");
  ASSERT_EQ(std::system(dev.c_str()), 0) << read_text(dir / "eval_dev.log");
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "eval_cpu")) {
    if (!e.is_regular_file()) continue;
    ++files;
    const fs::path other = dir / "eval_dev" / fs::relative(e.path(), dir / "eval_cpu");
    EXPECT_EQ(read_text(other), read_text(e.path())) << app << " eval: " << other << " differs";
  }
  EXPECT_GT(files, 0u) << app << " eval wrote nothing";
}

fs::path scratch(const std::string& name) {
  return fs::temp_directory_path() / ("strata_test_device_" + std::to_string(getpid()) + "_" + name);
}

}  // namespace

// Each app's train command on the stand-in device: the same metrics at every epoch as on the CPU; and its eval
// command with --device cuda: the same files.
TEST(TrainDevice, EveryAppTrainsOnAStandInDeviceLikeOnTheCpu) {
  const fs::path root = scratch("apps");
  {
    // Semi-supervised with half the wells labelled: the discriminator and every loss term on the device too.
    const auto [cpu, dev] = train_both("strata-welllog", root / "welllog", strata::test::tiny_welllog_config(),
                                       "train.mode=semi train.labelled_fraction=0.5 train.progress=false");
    EXPECT_GT(cpu.size(), 40u);
    EXPECT_EQ(dev, cpu) << "strata-welllog";
    expect_same_eval("strata-welllog", root / "welllog");
  }
  {
    // Two epochs with the Dice term and a weight average, so that the average model lives on the device too.
    const auto [cpu, dev] = train_both("strata-faults", root / "faults", strata::test::tiny_faults_config(),
                                       "train.epochs=2 loss.dice=0.5 train.ema=0.9");
    EXPECT_GT(cpu.size(), 40u);
    EXPECT_EQ(dev, cpu) << "strata-faults";
    expect_same_eval("strata-faults", root / "faults");
  }
  {
    strata::test::write_segment_set(root / "segment_set");
    const auto [cpu, dev] = train_both("strata-segment", root / "segment",
                                       strata::test::segment_set_config(root / "segment_set"),
                                       "train.epochs=2 loss.dice=0.5 loss.pos_weight=2 train.progress=false");
    EXPECT_GT(cpu.size(), 40u);
    EXPECT_EQ(dev, cpu) << "strata-segment";
    expect_same_eval("strata-segment", root / "segment");
  }
  {
    strata::test::write_anomaly_set(root / "anomaly_set", 16, 4);
    const auto [cpu, dev] = train_both("strata-anomaly", root / "anomaly",
                                       strata::test::anomaly_set_config(root / "anomaly_set", 2));
    EXPECT_GT(cpu.size(), 40u);
    EXPECT_EQ(dev, cpu) << "strata-anomaly";
    expect_same_eval("strata-anomaly", root / "anomaly");
    const auto [vcpu, vdev] = train_both("strata-anomaly", root / "anomaly_vae",
                                         strata::test::anomaly_set_config(root / "anomaly_set", 2),
                                         "model.type=conv_vae");
    EXPECT_EQ(vdev, vcpu) << "strata-anomaly, conv_vae";
  }
  if (!std::getenv("STRATA_KEEP_TEST_FILES")) fs::remove_all(root);
}
#endif
