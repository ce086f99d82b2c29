// `APP export` against `APP predict`: each app's exported ONNX graph, run by onnxruntime on the input predict
// read, gives what predict wrote (tests/app_export_parity.py), and the weights-only safetensors holds the model's
// state_dict. The models are tiny ones trained here (tests/tiny_configs.h and the segment / anomaly sets); the
// onnxruntime part runs in the .venv of scripts/install_deps.sh --onnx and skips loudly without it.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/image_io.h"
#include "apps/common/npy.h"
#include "engine/autograd.h"
#include "config/config.h"
#include "engine/random.h"
#include "engine/safetensors.h"
#include "layers/checkpoint.h"
#include "layers/registry.h"
#include "layers/onnx_export.h"
#include "apps/common/idx.h"
#include "tests/anomaly_set.h"
#include "tests/segment_set.h"
#include "tests/test_util.h"
#include "tests/tiny_configs.h"

namespace fs = std::filesystem;
using strata::test::slurp;
using namespace strata;

namespace {

class AppExport : public ::testing::Test {
 public:
  static fs::path root() {
    static const fs::path r = fs::temp_directory_path() / ("strata_app_export_" + std::to_string(getpid()));
    return r;
  }
  static std::string bin(const std::string& app) { return std::string(STRATA_BIN_DIR) + "/strata-" + app; }
  static std::string python() {
    if (const char* p = std::getenv("STRATA_ONNX_PYTHON")) return p;
    return (fs::path(STRATA_SOURCE_DIR) / ".venv" / "bin" / "python").string();
  }
  // Runs a shell command with its output in root()/log.txt; returns the exit status.
  static int run(const std::string& cmd) {
    const int status = std::system((cmd + " > '" + (root() / "log.txt").string() + "' 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  static std::string log() { return slurp(root() / "log.txt"); }

  static void SetUpTestSuite() {
    fs::remove_all(root());
    fs::create_directories(root());
    std::ofstream(root() / "welllog.yaml") << test::tiny_welllog_config();
    std::ofstream(root() / "faults.yaml") << test::tiny_faults_config();
    test::write_segment_set(root() / "segment_set");
    std::ofstream(root() / "segment.yaml") << test::segment_set_config(root() / "segment_set");
    test::write_anomaly_set(root() / "anomaly_set", 16, 4);
    std::ofstream(root() / "anomaly.yaml") << test::anomaly_set_config(root() / "anomaly_set", 1);
    for (const char* app : {"welllog", "faults", "segment", "anomaly"})
      ASSERT_EQ(run(bin(app) + " train --config " + (root() / (std::string(app) + ".yaml")).string() + " --out " +
                    (root() / app).string()),
                0)
          << log();
  }
  static void TearDownTestSuite() {
    if (!std::getenv("STRATA_KEEP_TEST_FILES")) fs::remove_all(root());
  }

  static std::string checkpoint(const std::string& app) { return (root() / app / "best.safetensors").string(); }

  // Exports `app`'s model (or the checkpoint `ck`) and compares onnxruntime with predict's output.
  void parity(const std::string& app, const fs::path& input, const fs::path& expected,
              const std::string& overrides = "", const std::string& ck = "") {
    const fs::path model = root() / (app + ".onnx");
    ASSERT_EQ(run(bin(app) + " export --checkpoint " + (ck.empty() ? checkpoint(app) : ck) + " --output " +
                  model.string() + overrides),
              0)
        << log();
    EXPECT_NE(log().find("ONNX opset 17"), std::string::npos) << log();
    if (!fs::exists(python())) GTEST_SKIP() << "SKIPPED LOUDLY (onnxruntime): " << python() << " is absent; "
                                            << "scripts/install_deps.sh --onnx makes it";
    EXPECT_EQ(run(python() + " " + STRATA_SOURCE_DIR + "/tests/app_export_parity.py " + app + " " + model.string() +
                  " " + input.string() + " " + expected.string()),
              0)
        << log();
    std::printf("%s", log().c_str());
  }

  // Writes `img` as NAME_in/a.png, runs predict on it with --probabilities and compares the exported graph of
  // `ck` with predict's 16-bit probability map.
  void segment_parity(const std::string& ck, const Image& img, const std::string& name) {
    const fs::path in = root() / (name + "_in"), out = root() / (name + "_out");
    fs::create_directories(in);
    write_png((in / "a.png").string(), img);
    write_npy((root() / (name + "_in.npy")).string(), {1, img.channels, img.height, img.width}, img.data);
    ASSERT_EQ(run(bin("segment") + " predict --checkpoint " + ck + " --input " + in.string() + " --output " +
                  out.string() + " --probabilities"),
              0)
        << log();
    const Image prob = read_image((out / "a_prob.png").string(), 1);
    write_npy((root() / (name + "_prob.npy")).string(), {1, 1, img.height, img.width}, prob.data);
    parity("segment", root() / (name + "_in.npy"), root() / (name + "_prob.npy"), "", ck);
  }

  // Writes NAME.csv, one GR well of `samples` samples (gr(i) at 3 decimals, every 0.5 ft), and NAME_in.npy, predicts
  // it with the checkpoint `ck` and compares its export with predict's output, `overrides` given to both.
  void welllog_parity(const std::string& name, int samples, const std::function<double(int)>& gr,
                      const std::string& ck, const std::string& overrides = "") {
    std::ofstream csv(root() / (name + ".csv"));
    csv << "Well Name,Depth,GR\n";
    std::vector<float> values;
    for (int i = 0; i < samples; ++i) {
      values.push_back(float(std::round(gr(i) * 1000) / 1000));
      csv << "W," << 1000 + 0.5 * i << "," << values.back() << "\n";
    }
    csv.close();
    write_npy((root() / (name + "_in.npy")).string(), {1, 1, samples}, values);
    ASSERT_EQ(run(bin("welllog") + " predict --checkpoint " + ck + " --input " + (root() / (name + ".csv")).string() +
                  " --output " + (root() / (name + "_pred.csv")).string() + overrides),
              0)
        << log();
    parity("welllog", root() / (name + "_in.npy"), root() / (name + "_pred.csv"), overrides, ck);
  }
};

// A 48 x 40 image (the tiny U-Net's sizes are multiples of 4): predict's 16-bit probability map and the graph's.
TEST_F(AppExport, SegmentGraphMatchesPredict) {
  Image img{1, 48, 40, std::vector<float>(48 * 40)};
  for (int64_t y = 0; y < 48; ++y)
    for (int64_t x = 0; x < 40; ++x) img.at(0, y, x) = std::round(255.f * (0.5f + 0.4f * std::sin(0.3f * x + 0.2f * y))) / 255.f;
  segment_parity(checkpoint("segment"), img, "seg");
}

// A 46 x 38 image, two of them in one batch: the graph was traced on a 12 x 8 example, so the padding to the
// U-Net's multiple, the crop back and the resizing of the scales all follow the input's size at run time; the
// mirrored view and three scales as predict averages them.
TEST_F(AppExport, SegmentGraphTakesAnySizeAndBatchWithFlipsAndScales) {
  Image img{1, 46, 38, std::vector<float>(46 * 38)};
  for (int64_t y = 0; y < 46; ++y)
    for (int64_t x = 0; x < 38; ++x)
      img.at(0, y, x) = std::round(255.f * (0.5f + 0.4f * std::sin(0.37f * x + 0.11f * y * (x > 20 ? 1 : -1)))) / 255.f;
  fs::create_directories(root() / "seg_views_in");
  write_png((root() / "seg_views_in" / "b.png").string(), img);
  std::vector<float> two = img.data;
  two.insert(two.end(), img.data.begin(), img.data.end());
  write_npy((root() / "seg_views_in.npy").string(), {2, 1, 46, 38}, two);
  const std::string views = " inference.tta=hflip 'inference.scales=[0.75,1,1.25]'";
  ASSERT_EQ(run(bin("segment") + " predict --checkpoint " + checkpoint("segment") + " --input " +
                (root() / "seg_views_in").string() + " --output " + (root() / "seg_views_out").string() +
                " --probabilities" + views),
            0)
      << log();
  const Image prob = read_image((root() / "seg_views_out" / "b_prob.png").string(), 1);
  std::vector<float> both = prob.data;
  both.insert(both.end(), prob.data.begin(), prob.data.end());
  write_npy((root() / "seg_views_prob.npy").string(), {2, 1, 46, 38}, both);
  // The views change the prediction, so a graph without them would not pass.
  ASSERT_EQ(run(bin("segment") + " predict --checkpoint " + checkpoint("segment") + " --input " +
                (root() / "seg_views_in").string() + " --output " + (root() / "seg_plain_out").string() +
                " --probabilities"),
            0)
      << log();
  const Image plain = read_image((root() / "seg_plain_out" / "b_prob.png").string(), 1);
  float changed = 0;
  for (size_t i = 0; i < plain.data.size(); ++i) changed = std::max(changed, std::abs(plain.data[i] - prob.data[i]));
  EXPECT_GT(changed, 1e-3f);
  parity("segment", root() / "seg_views_in.npy", root() / "seg_views_prob.npy", views);
}

// The zoo's CamVid model (RGB, 11 classes, the normalisation its config names, six views) on a 360 x 270 image, the
// model's size: onnxruntime's probability of each pixel's most likely class against predict's.
TEST_F(AppExport, CamvidZooGraphMatchesPredict) {
  const std::string zoo = std::string(STRATA_SOURCE_DIR) + "/zoo/segment_camvid.safetensors";
  Image img{3, 270, 360, std::vector<float>(3 * 270 * 360)};
  // Channels of different levels and contrasts, so that normalising each on its own differs from fixed statistics.
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 270; ++y)
      for (int64_t x = 0; x < 360; ++x)
        img.at(c, y, x) = std::round(255.f * (0.3f + 0.15f * float(c) +
                                              (0.1f + 0.05f * float(c)) * std::sin(0.05f * x + 0.08f * y * (c + 1)) +
                                              (y < 90 ? 0.2f : 0.f))) / 255.f;
  segment_parity(zoo, img, "camvid");
}

// A 64 x 48 section: predict with 'inference.shift=[0,0]' (the graph has no shifted views), with and without
// the test-time mirror.
TEST_F(AppExport, FaultsGraphMatchesPredictWithoutShift) {
  std::vector<float> s(64 * 48);
  for (int64_t z = 0; z < 64; ++z)
    for (int64_t x = 0; x < 48; ++x) s[size_t(z * 48 + x)] = 300.f * std::sin(0.5f * z + 0.05f * x * (z > 30 ? 1 : -1));
  write_npy((root() / "section.npy").string(), {64, 48}, s);
  write_npy((root() / "section_in.npy").string(), {1, 1, 64, 48}, s);
  for (const std::string tta : {"false", "true"}) {
    SCOPED_TRACE("inference.tta=" + tta);
    const fs::path out = root() / ("ft_out_" + tta);
    ASSERT_EQ(run(bin("faults") + " predict --checkpoint " + checkpoint("faults") + " --input " +
                  (root() / "section.npy").string() + " --output " + out.string() +
                  " 'inference.shift=[0,0]' inference.tta=" + tta),
              0)
        << log();
    parity("faults", root() / "section_in.npy", out / "section_prob.npy", " inference.tta=" + tta);
  }
  // Missing samples as SEG-Y and numpy hold them: a dead trace (NaN), an undefined block (1e30), an infinite value.
  for (int64_t z = 0; z < 64; ++z) s[size_t(z * 48 + 7)] = std::nanf("");
  for (int64_t z = 40; z < 50; ++z)
    for (int64_t x = 20; x < 30; ++x) s[size_t(z * 48 + x)] = 1e30f;
  s[size_t(5 * 48 + 40)] = -std::numeric_limits<float>::infinity();
  write_npy((root() / "dead.npy").string(), {64, 48}, s);
  write_npy((root() / "dead_in.npy").string(), {1, 1, 64, 48}, s);
  ASSERT_EQ(run(bin("faults") + " predict --checkpoint " + checkpoint("faults") + " --input " +
                (root() / "dead.npy").string() + " --output " + (root() / "dead_out").string() +
                " 'inference.shift=[0,0]' inference.tta=false"),
            0)
      << log();
  parity("faults", root() / "dead_in.npy", root() / "dead_out" / "dead_prob.npy", " inference.tta=false");
  // The graph has no views resampled in time either: with inference.time_views, its metadata says how to call
  // predict for the same probabilities (the model's own metadata, as bytes of the ONNX file).
  const std::string setting = "'inference.time_views=[1]'";
  EXPECT_EQ(slurp(root() / "faults.onnx").find(setting), std::string::npos);
  ASSERT_EQ(run(bin("faults") + " export --checkpoint " + checkpoint("faults") + " --output " +
                (root() / "faults_views.onnx").string() + " 'inference.time_views=[1,0.7]'"),
            0)
      << log();
  EXPECT_NE(slurp(root() / "faults_views.onnx").find(setting), std::string::npos);
  // Nor does it stack a cube's sections with their neighbours, which predict does by default: the metadata gives
  // the weights, and leaves them out when the checkpoint predicts each section alone.
  EXPECT_NE(slurp(root() / "faults.onnx").find("strata.neighbour_weights"), std::string::npos);
  EXPECT_NE(slurp(root() / "faults.onnx").find("1,2,1"), std::string::npos);
  EXPECT_NE(slurp(root() / "faults.onnx").find("strata.stack_min_independence"), std::string::npos);
  ASSERT_EQ(run(bin("faults") + " export --checkpoint " + checkpoint("faults") + " --output " +
                (root() / "faults_alone.onnx").string() + " 'inference.neighbour_weights=[1]'"),
            0)
      << log();
  EXPECT_EQ(slurp(root() / "faults_alone.onnx").find("strata.neighbour_weights"), std::string::npos);
}

TEST_F(AppExport, AnomalyGraphMatchesPredictScores) {
  const fs::path images = root() / "anomaly_set" / "test" / "normal";
  std::vector<float> all;
  int64_t n = 0;
  for (const auto& e : fs::directory_iterator(images)) (void)e, ++n;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(images)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    const Image img = read_image(f, 1);
    all.insert(all.end(), img.data.begin(), img.data.end());
  }
  write_npy((root() / "an_in.npy").string(), {n, 1, 16, 16}, all);
  ASSERT_EQ(run(bin("anomaly") + " predict --checkpoint " + checkpoint("anomaly") + " --input " + images.string() +
                " --output " + (root() / "scores.csv").string()),
            0)
      << log();
  parity("anomaly", root() / "an_in.npy", root() / "scores.csv");
}

// The shipped Fashion-MNIST config with the transform head and the three-term score, reduced (a sample of each
// set, 2 epochs): the graph holds the eight rotations / flips, the latent Gaussian and the terms'
// standardisation, and gives predict's scores on 24 test images written as PNG files (8-bit, as in the IDX file).
TEST_F(AppExport, AnomalyCombinedScoreGraphMatchesPredictScores) {
  const std::string idx = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (!fs::exists(idx))
    GTEST_SKIP() << "SKIPPED LOUDLY: /usr/share/datasets/fashion-mnist absent (apt-get install dataset-fashion-mnist, "
                    "or scripts/install_deps.sh)";
  const fs::path run_dir = root() / "anomaly_combined";
  ASSERT_EQ(run(bin("anomaly") + " train --config " + STRATA_SOURCE_DIR + "/configs/anomaly_fmnist_ae_transforms.yaml" +
                " --out " + run_dir.string() +
                " data.normal_class=7 data.limit_train=600 data.limit_val=400 data.limit_test=200 train.epochs=2"
                " train.val_every=1 train.progress=false"),
            0)
      << log();
  const IdxArray test = read_idx(idx);
  const fs::path images = root() / "fmnist_images";
  fs::create_directories(images);
  std::vector<float> all;
  const int64_t n = 24, plane = 28 * 28;
  for (int64_t i = 0; i < n; ++i) {  // names sort in this order
    Image img{1, 28, 28, std::vector<float>(size_t(plane))};
    for (int64_t k = 0; k < plane; ++k) img.data[size_t(k)] = float(test.data[size_t(i * 97 * plane + k)]) / 255.0f;
    char name[32];
    std::snprintf(name, sizeof name, "%03lld.png", static_cast<long long>(i));
    write_png((images / name).string(), img);
    all.insert(all.end(), img.data.begin(), img.data.end());
  }
  write_npy((root() / "an_combined_in.npy").string(), {n, 1, 28, 28}, all);
  const std::string ck = (run_dir / "best.safetensors").string();
  ASSERT_EQ(run(bin("anomaly") + " predict --checkpoint " + ck + " --input " + images.string() + " --output " +
                (root() / "combined_scores.csv").string()),
            0)
      << log();
  // The weights-only file (what the zoo ships) scores the same: the score's calibration rides along.
  const fs::path weights = root() / "anomaly_combined_weights.safetensors";
  ASSERT_EQ(run(bin("anomaly") + " export --checkpoint " + ck + " --format safetensors --output " + weights.string()),
            0)
      << log();
  ASSERT_EQ(run(bin("anomaly") + " predict --checkpoint " + weights.string() + " --input " + images.string() +
                " --output " + (root() / "combined_scores_weights.csv").string()),
            0)
      << log();
  EXPECT_EQ(slurp(root() / "combined_scores_weights.csv"), slurp(root() / "combined_scores.csv"));
  parity("anomaly", root() / "an_combined_in.npy", root() / "combined_scores.csv", "", ck);
}

// A well of 256 samples without missing values: the graph predicts it as predict does.
TEST_F(AppExport, WelllogGraphMatchesPredictInOneWindow) {
  welllog_parity("well", 256, [](int i) { return 70 + 40 * std::sin(i / 9.0) + 10 * std::sin(i / 2.3); },
                 checkpoint("welllog"));
}

// A model that scales each well by its own trimmed statistics (data.per_well_trim) when it has at least
// data.per_well_min_samples: the graph trims by the length it is given (250 samples: 12 cut at each end) and
// scales a shorter well (200 samples) by the training statistics, so wells with spikes get predict's probabilities.
TEST_F(AppExport, WelllogGraphTrimsEachWellAsPredictDoes) {
  const fs::path run_dir = root() / "welllog_trim";
  ASSERT_EQ(run(bin("welllog") + " train --config " + (root() / "welllog.yaml").string() + " --out " +
                run_dir.string() + " 'data.normalise_per_well=[GR]' data.per_well_trim=0.05" +
                " data.per_well_min_samples=240"),
            0)
      << log();
  const std::string ck = (run_dir / "best.safetensors").string();
  for (const int n : {250, 200}) {
    SCOPED_TRACE(n);
    // At most 11 spikes, fewer than the 12 the trim cuts from 250.
    welllog_parity("trim_well_" + std::to_string(n), n,
                   [](int i) { return 70 + 40 * std::sin(i / 9.0) + (i % 23 == 5 ? 300 : 0); }, ck);
  }
}

// Wells as logs come: NaN runs at the top, inside and at the bottom, a null sentinel, a curve without a value, and
// a well too short for its own statistics. The graph fills, flags and scales them as predict does. The model (two
// curves, each with a missing-value channel and scaled per well, trimmed) trains here on six CSV wells.
TEST_F(AppExport, WelllogGraphFillsMissingValuesAsPredictDoes) {
  const double nan = std::nan("");
  const auto curve_a = [](int i, int w) { return 50 + 30 * std::sin(i / (6.0 + w)) + 5 * std::sin(i / 1.7); };
  const auto curve_b = [](int i, int w) { return 2 + std::cos(i / (9.0 + w)) + 0.2 * std::sin(i / 2.9); };
  const auto cell = [](double v) { return std::isnan(v) ? std::string() : std::to_string(v); };
  {
    std::ofstream csv(root() / "ab_wells.csv");
    csv << "Well,Depth,A,B,Facies\n";
    for (int w = 0; w < 6; ++w)
      for (int i = 0; i < 300; ++i) {
        const double a = curve_a(i, w), b = curve_b(i, w);
        csv << "W" << w << "," << 1000 + 0.5 * i << "," << cell(a) << "," << cell(b) << ","
            << (a > 50) + 2 * (b > 2) << "\n";
      }
  }
  std::ofstream(root() / "ab.yaml")
      << "version: 1\ndata:\n  source: csv\n  path: " << (root() / "ab_wells.csv").string()
      << "\n  well_column: Well\n  depth_column: Depth\n  label_column: Facies\n  curves: [A, B]\n"
         "  classes: [0, 1, 2, 3]\n  missing: {values: interpolate, curve: mean, indicator: [A, B]}\n"
         "  normalise_per_well: [A, B]\n  per_well_trim: 0.05\n  per_well_min_samples: 50\n  window: 64\n"
         "  stride: 32\n  val_wells: [W5]\nmodel: {type: unet1d, base: 8, depth: 2}\n"
         "train: {mode: supervised, epochs: 2, batch: 8, seed: 1}\n";
  const fs::path run_dir = root() / "welllog_ab";
  ASSERT_EQ(run(bin("welllog") + " train --config " + (root() / "ab.yaml").string() + " --out " + run_dir.string()), 0)
      << log();
  const std::string ck = (run_dir / "best.safetensors").string();
  struct Case {
    const char* name;
    int samples;
    bool b_logged;
  };
  for (const Case& c : {Case{"gaps", 240, true}, Case{"no_b", 200, false}, Case{"short", 40, true}}) {
    SCOPED_TRACE(c.name);
    std::vector<float> a(size_t(c.samples)), b(size_t(c.samples));
    std::ofstream csv(root() / (std::string(c.name) + ".csv"));
    csv << "Well,Depth,A,B\n";
    for (int i = 0; i < c.samples; ++i) {
      double va = curve_a(i, 7), vb = c.b_logged ? curve_b(i, 7) : nan;
      if (i < 5 || i >= c.samples - 3 || (i >= 20 && i < 30)) va = nan;  // top, inside, bottom
      if (i % 17 == 3) vb = nan;
      if (i == 33) va = 99999;  // a null sentinel the reader does not know
      a[size_t(i)] = float(va), b[size_t(i)] = float(vb);
      csv << "T," << 1000 + 0.5 * i << "," << cell(va) << "," << cell(vb) << "\n";
    }
    csv.close();
    std::vector<float> both = a;
    both.insert(both.end(), b.begin(), b.end());
    const fs::path in = root() / (std::string(c.name) + "_in.npy"), out = root() / (std::string(c.name) + "_pred.csv");
    write_npy(in.string(), {1, 2, c.samples}, both);
    ASSERT_EQ(run(bin("welllog") + " predict --checkpoint " + ck + " --input " +
                  (root() / (std::string(c.name) + ".csv")).string() + " --output " + out.string()),
              0)
        << log();
    parity("welllog", in, out, "", ck);
  }
}

// A well longer than inference.window: the graph cuts it into the windows predict uses (250 samples, windows of 64
// every 16 and a last one ending at the bottom) and blends them with predict's triangular weights.
TEST_F(AppExport, WelllogGraphBlendsWindowsAsPredictDoes) {
  welllog_parity("long_well", 250, [](int i) { return 70 + 40 * std::sin(i / 7.0) + 10 * std::sin(i / 2.3); },
                 checkpoint("welllog"), " inference.window=64 inference.stride=16");
}

// The export in a Python notebook next to lasio (docs/export.md): a LAS well with NULL values read by lasio, the
// graph run by onnxruntime, the facies written back as a LAS curve, equal to predict's.
TEST_F(AppExport, WelllogGraphPredictsALasWellThroughLasio) {
  {
    std::ofstream las(root() / "lasio_well.las");
    las << "~VERSION INFORMATION\n VERS. 2.0 : CWLS LOG ASCII STANDARD 2.0\n WRAP. NO : ONE LINE PER STEP\n"
        << "~WELL INFORMATION\n STRT.FT 1000.0 : START\n STOP.FT 1127.5 : STOP\n STEP.FT 0.5 : STEP\n"
        << " NULL. -999.25 : NULL\n WELL. L1 : WELL\n~CURVE INFORMATION\n DEPT.FT : DEPTH\n gr.GAPI : GAMMA RAY\n~A\n";
    // Blocky sands (low GR) in shale, so that the model predicts more than one facies; NULL values (lasio's NaN) at
    // the top and in a gap.
    for (int i = 0; i < 256; ++i)
      las << 1000 + 0.5 * i << " "
          << (i < 4 || (i >= 100 && i < 110) ? -999.25 : i % 64 < 24 ? 45 + i % 7 : 110 + i % 5) << "\n";
  }
  ASSERT_EQ(run(bin("welllog") + " predict --checkpoint " + checkpoint("welllog") + " --input " +
                (root() / "lasio_well.las").string() + " --output " + (root() / "lasio_strata.las").string()),
            0)
      << log();
  const fs::path model = root() / "welllog_lasio.onnx";
  ASSERT_EQ(run(bin("welllog") + " export --checkpoint " + checkpoint("welllog") + " --output " + model.string()), 0)
      << log();
  if (run(python() + " -c 'import lasio, onnxruntime'") != 0)
    GTEST_SKIP() << "SKIPPED LOUDLY (lasio / onnxruntime): not importable by " << python()
                 << "; scripts/install_deps.sh --onnx installs them";
  ASSERT_EQ(run(python() + " " + STRATA_SOURCE_DIR + "/tests/welllog_lasio_onnx.py " + model.string() + " " +
                (root() / "lasio_well.las").string() + " " + (root() / "lasio_onnx.las").string()),
            0)
      << log();
  // Both files through lasio: every sample's facies the same, the probabilities within predict's 5 decimals.
  ASSERT_EQ(run(python() + " -c \"import lasio, sys, numpy as np; a, b = lasio.read(sys.argv[1]), lasio.read(sys.argv[2]); "
                           "p = [c.mnemonic for c in b.curves if c.mnemonic.startswith('P_')]; "
                           "d = max(np.abs(a[c] - b[c]).max() for c in p); "
                           "print(len(a['PREDICTED']), 'samples,', len(p), 'classes, largest difference', d); "
                           "sys.exit(0 if len(a['PREDICTED']) == 256 and (a['PREDICTED'] == b['PREDICTED']).all() "
                           "and len(p) > 1 and d < 1e-4 else 1)\" " +
                (root() / "lasio_onnx.las").string() + " " + (root() / "lasio_strata.las").string()),
            0)
      << log();
  std::printf("%s", log().c_str());
}

// --format safetensors: the model's weights alone, under their state_dict names, batch norms with
// num_batches_tracked as PyTorch has them; the checkpoint's optimizer state is not in it.
TEST_F(AppExport, WeightsOnlySafetensors) {
  const fs::path out = root() / "welllog_weights.safetensors";
  ASSERT_EQ(run(bin("welllog") + " export --checkpoint " + checkpoint("welllog") + " --output " + out.string() +
                " --format safetensors"),
            0)
      << log();
  const Safetensors st = load_safetensors(out.string());
  bool tracked = false;
  for (const auto& [name, t] : st.tensors) {
    EXPECT_EQ(name.find(".."), std::string::npos) << name;
    EXPECT_NE(name.rfind("optimizer", 0), 0u) << name;
    EXPECT_NE(name.rfind("model.", 0), 0u) << name;
    tracked = tracked || name.find("num_batches_tracked") != std::string::npos;
  }
  EXPECT_TRUE(tracked);
  EXPECT_TRUE(st.tensors.count("head.weight"));
  EXPECT_EQ(st.metadata.at("strata.app"), "strata-welllog");
  EXPECT_EQ(st.metadata.at("format"), "strata-weights");
  EXPECT_FALSE(st.metadata.at("strata.commit").empty());  // every checkpoint records the build that trained it
  EXPECT_EQ(st.metadata.count("trainer.epoch"), 0u);       // and the training state stays out of a weights file
  // predict reads it as it reads the checkpoint: the same rows; in f16, the same within half precision.
  std::ofstream(root() / "w.csv") << "Well Name,Depth,GR\nW,1000,60\nW,1000.5,75\nW,1001,90\nW,1001.5,70\n";
  const auto predicted = [&](const std::string& model, const std::string& out) {
    EXPECT_EQ(run(bin("welllog") + " predict --checkpoint " + model + " --input " + (root() / "w.csv").string() +
                  " --output " + (root() / out).string()),
              0)
        << log();
    return slurp(root() / out);
  };
  EXPECT_EQ(predicted(out.string(), "w_weights.csv"), predicted(checkpoint("welllog"), "w_checkpoint.csv"));
  // A .safetensors output needs no --format.
  ASSERT_EQ(run(bin("welllog") + " export --checkpoint " + checkpoint("welllog") + " --output " +
                (root() / "named.safetensors").string()),
            0)
      << log();
  EXPECT_EQ(load_safetensors((root() / "named.safetensors").string()).tensors.size(), st.tensors.size());
  ASSERT_EQ(run(bin("welllog") + " export --checkpoint " + checkpoint("welllog") + " --output " +
                (root() / "half.safetensors").string() + " --format safetensors --precision f16"),
            0)
      << log();
  EXPECT_LT(fs::file_size(root() / "half.safetensors"), fs::file_size(out) * 6 / 10);
  const std::string half = predicted((root() / "half.safetensors").string(), "w_half.csv");
  EXPECT_EQ(std::count(half.begin(), half.end(), '\n'), 5);
}

// The weights-only export loads into strata's reference models in PyTorch (tests/reference/torch_unet.py,
// torch_encoder_unet.py) with strict=True and gives strata's output (tests/torch_weights_check.py, Debian's
// python3-torch and -torchvision), in f32 and f16.
TEST_F(AppExport, WeightsLoadIntoPyTorchStrictly) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "SKIPPED LOUDLY: /usr/bin/python3 has no torch (scripts/install_deps.sh --torch installs it)";
  struct Case {
    std::string app, checkpoint, model;  // model: the reference (tests/torch_weights_check.py)
    Shape input;
  };
  // The tiny U-Nets trained here, and the zoo's MobileNetV2-encoder U-Net.
  const std::string zoo = std::string(STRATA_SOURCE_DIR) + "/zoo/segment_membrane.safetensors";
  for (const Case& c : {Case{"welllog", checkpoint("welllog"), "unet:1:1:5:8:2", {2, 1, 64}},
                        Case{"segment", checkpoint("segment"), "unet:2:1:1:4:2", {1, 1, 32, 24}},
                        Case{"faults", checkpoint("faults"), "unet:2:1:1:4:2", {2, 1, 16, 20}},
                        Case{"segment", zoo, "encoder:mobilenet_v2:1:1:1", {1, 1, 64, 96}}}) {
    for (const std::string precision : {"f32", "f16"}) {
      SCOPED_TRACE(c.model + " " + precision);
      const fs::path weights = root() / (c.app + "_" + precision + ".safetensors");
      ASSERT_EQ(run(bin(c.app) + " export --checkpoint " + c.checkpoint + " --output " + weights.string() +
                    " --format safetensors --precision " + precision),
                0)
          << log();
      // strata's output with the file's own (possibly rounded) weights.
      const Checkpoint ck = Checkpoint::load(weights.string());
      const ModulePtr model = build_module(Config::parse(ck.get(c.app + ".config")).section("model"));
      ck.restore_module("model.", *model);
      model->eval();
      manual_seed(3);
      const Tensor x = Tensor::randn(c.input);
      NoGradGuard no_grad;
      const Tensor y = (*model)(x);
      write_npy((root() / "torch_in.npy").string(), std::vector<int64_t>(c.input.begin(), c.input.end()),
                x.to_vector<float>());
      const Shape& ys = y.shape();
      write_npy((root() / "torch_out.npy").string(), std::vector<int64_t>(ys.begin(), ys.end()),
                y.contiguous().to_vector<float>());
      const std::string check = "/usr/bin/python3 " + std::string(STRATA_SOURCE_DIR) + "/tests/torch_weights_check.py ";
      EXPECT_EQ(run(check + c.model + " " + weights.string() + " " + (root() / "torch_in.npy").string() + " " +
                    (root() / "torch_out.npy").string()),
                0)
          << log();
      std::printf("%s", log().c_str());
    }
  }
}

TEST_F(AppExport, ExportRefusesToOverwriteTheCheckpoint) {
  EXPECT_EQ(run(bin("faults") + " export --checkpoint " + checkpoint("faults") + " --output " + checkpoint("faults") +
                " --format safetensors"),
            1);
  EXPECT_NE(log().find("would overwrite the input"), std::string::npos) << log();
}

}  // namespace
