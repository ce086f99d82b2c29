// ONNX export of every model type the apps train (layers/onnx_export.h): each is exported with symbolic batch
// (and, where the model allows, spatial) dimensions, checked by ONNX's checker, and run by onnxruntime
// (tests/onnx_parity.py, in the virtual environment scripts/install_deps.sh --onnx makes) on inputs of two
// sizes, whose outputs must equal strata's within 1e-4. Without that environment the parity part skips loudly.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/npy.h"
#include "engine/autograd.h"
#include "config/config.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/layers.h"
#include "layers/onnx_export.h"
#include "layers/registry.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

struct ExportCase {
  const char* name;
  const char* model;  // the model section, YAML
  Shape a, b;         // two input sizes
  std::vector<std::string> dims;
};

const std::vector<ExportCase> kCases = {
    {"unet1d", "{type: unet1d, in_channels: 4, classes: 5, base: 8, depth: 3, batchnorm: true}", {2, 4, 64},
     {3, 4, 40}, {"batch", "", "length"}},
    {"unet1d_dilated", "{type: unet1d, in_channels: 3, classes: 4, base: 4, depth: 2, kernel: 5, dilations: [1, 2]}",
     {2, 3, 48}, {1, 3, 37}, {"batch", "", "length"}},
    {"unet2d", "{type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 2}", {2, 1, 32, 24}, {1, 1, 20, 36},
     {"batch", "", "height", "width"}},
    {"unet2d_linear", "{type: unet2d, in_channels: 3, classes: 4, base: 4, depth: 2, upsampling: linear}",
     {2, 3, 16, 24}, {1, 3, 24, 16}, {"batch", "", "height", "width"}},
    {"faults_unet", "{type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 4}", {2, 1, 32, 48},
     {1, 1, 48, 32}, {"batch", "", "height", "width"}},
    {"unet_mobilenetv2", "{type: unet_mobilenetv2, in_channels: 1, classes: 1, width: 0.35, input_skip: true}",
     {2, 1, 64, 32}, {1, 1, 32, 64}, {"batch", "", "height", "width"}},
    {"unet_mobilenetv2_rgb", "{type: unet_mobilenetv2, in_channels: 3, classes: 11, width: 0.35}", {2, 3, 32, 32},
     {1, 3, 64, 32}, {"batch", "", "height", "width"}},
    {"unet_vgg16", "{type: unet_vgg16, in_channels: 3, classes: 2}", {1, 3, 32, 32}, {2, 3, 32, 64},
     {"batch", "", "height", "width"}},
    {"unet_vgg16_bn", "{type: unet_vgg16, batchnorm: true, in_channels: 1, classes: 3}", {2, 1, 32, 32},
     {1, 1, 64, 32}, {"batch", "", "height", "width"}},
    {"autoencoder", "{type: autoencoder, input_shape: [1, 12, 10], widths: [32, 16], latent: 8}", {2, 1, 12, 10},
     {5, 1, 12, 10}, {"batch", "", "", ""}},
    {"vae", "{type: vae, input_shape: [1, 12, 10], widths: [32, 16], latent: 4}", {2, 1, 12, 10}, {3, 1, 12, 10},
     {"batch", "", "", ""}},
    {"conv_autoencoder", "{type: conv_autoencoder, input_shape: [1, 16, 16], widths: [8, 16], latent: 8}",
     {2, 1, 16, 16}, {4, 1, 16, 16}, {"batch", "", "", ""}},
    {"conv_autoencoder_map", "{type: conv_autoencoder, input_shape: [3, 16, 16], widths: [8, 16], latent: 4, "
     "bottleneck: none}", {2, 3, 16, 16}, {1, 3, 16, 16}, {"batch", "", "", ""}},
};

std::string python() {
  if (const char* p = std::getenv("STRATA_ONNX_PYTHON")) return p;
  return (fs::path(STRATA_SOURCE_DIR) / ".venv" / "bin" / "python").string();
}

Tensor random_input(const Shape& s, uint64_t seed) {
  manual_seed(seed);
  return Tensor::rand(s);
}

void save(const fs::path& p, const Tensor& t) {
  const Shape& s = t.shape();
  write_npy(p.string(), std::vector<int64_t>(s.begin(), s.end()), t.contiguous().to(DType::f32).to_vector<float>());
}

// tests/onnx_parity.py over every model in `dir` (then removed); skips loudly without the environment.
void expect_onnxruntime_agrees(const fs::path& dir) {
  if (!fs::exists(python())) {
    fs::remove_all(dir);
    GTEST_SKIP() << "SKIPPED LOUDLY (onnxruntime parity): " << python()
                 << " is absent; scripts/install_deps.sh --onnx makes it (or set STRATA_ONNX_PYTHON)";
  }
  const fs::path log = dir / "parity.txt";
  const int rc = std::system((python() + " " + STRATA_SOURCE_DIR + "/tests/onnx_parity.py " + dir.string() + " > " +
                              log.string() + " 2>&1").c_str());
  std::ifstream f(log);
  std::stringstream text;
  text << f.rdbuf();
  std::printf("%s", text.str().c_str());
  EXPECT_EQ(rc, 0) << text.str();
  if (!std::getenv("STRATA_KEEP_TEST_FILES")) fs::remove_all(dir);
}

TEST(OnnxExport, EveryModelTypeMatchesOnnxruntime) {
  ASSERT_TRUE(onnx_export_available()) << "this build has no ONNX export (libonnx-dev, libprotobuf-dev)";
  const fs::path dir = fs::temp_directory_path() / ("strata_onnx_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const ExportCase& c : kCases) {
    SCOPED_TRACE(c.name);
    manual_seed(7);
    const ModulePtr model = build_module(Config::parse(c.model));
    // A training pass on random data moves batch norm's running statistics away from (0, 1).
    model->train();
    {
      NoGradGuard no_grad;
      for (int i = 0; i < 2; ++i) (*model)(random_input(c.a, 100 + i));
    }
    model->eval();
    const auto run = [&](const Tensor& x) { return std::vector<Tensor>{(*model)(x)}; };
    OnnxExportOptions o;
    o.input_dims = c.dims;
    o.metadata = {{"strata.test", c.name}};
    const Tensor xa = random_input(c.a, 1), xb = random_input(c.b, 2);
    ASSERT_NO_THROW(export_onnx(*model, run, xa, o, (dir / (std::string(c.name) + ".onnx")).string()));
    NoGradGuard no_grad;
    int k = 0;
    for (const Tensor& x : {xa, xb}) {
      save(dir / (std::string(c.name) + "_in" + std::to_string(k) + ".npy"), x);
      save(dir / (std::string(c.name) + "_out" + std::to_string(k) + "_0.npy"), (*model)(x));
      ++k;
    }
  }
  expect_onnxruntime_agrees(dir);
}

// The missing-value ops and the comparisons a graph branches on, on rows with NaN runs at the start, inside and at
// the end, and a row of NaN alone: onnxruntime finds the same neighbours, trimmed statistics and branches, on the
// traced length (40) and another (57: the rows' sizes, and so the counts trimmed, are read at run time).
TEST(OnnxExport, MissingValuesAreFilledAndSkipped) {
  ASSERT_TRUE(onnx_export_available()) << "this build has no ONNX export (libonnx-dev, libprotobuf-dev)";
  const fs::path dir = fs::temp_directory_path() / ("strata_onnx_nan_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto input = [](int64_t n, int64_t length, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<float> v(size_t(n * 3 * length));
    for (size_t i = 0; i < v.size(); ++i) {
      const int64_t row = int64_t(i) / length, at = int64_t(i) % length;
      const bool gap = at < 3 || at >= length - 2 || (at >= 10 && at < 10 + row % 4) || rng() % 7 == 0;
      v[i] = row == 1 || gap ? std::nanf("") : float(rng() % 50) * 0.5f + (rng() % 20 == 0 ? 80.0f : 0.0f);
    }
    return Tensor::from_vector(v, {n, 3, length});
  };
  const auto fn = [](const Tensor& x) {
    const Tensor stats = nan_trimmed_stats(x, 0.1), mu = slice(stats, 2, 0, 1), sd = slice(stats, 2, 1, 2);
    const Tensor z = div(sub(fill_gaps(x), mu), sd);
    const Tensor valid = sum(where(is_nan(x), Tensor::zeros({1}), Tensor::ones({1})), {2}, true);
    // Rows with fewer than 20 values keep their filled values unscaled; NaN (a row of NaN alone) becomes -1.
    const Tensor out = where(ge(valid, 20.0), z, fill_gaps(x));
    return std::vector<Tensor>{where(is_nan(out), Tensor::full({1}, -1.0), out)};
  };
  const Tensor xa = input(2, 40, 3), xb = input(1, 57, 4);
  OnnxExportOptions o;
  o.input_dims = {"batch", "", "samples"};
  ASSERT_NO_THROW(export_onnx(ModuleList(), fn, xa, o, (dir / "missing.onnx").string()));
  NoGradGuard no_grad;
  int k = 0;
  for (const Tensor& x : {xa, xb}) {
    save(dir / ("missing_in" + std::to_string(k) + ".npy"), x);
    save(dir / ("missing_out" + std::to_string(k) + "_0.npy"), fn(x)[0]);
    ++k;
  }
  expect_onnxruntime_agrees(dir);
}

// An op with no ONNX form here is an error that names it, not a broken file.
TEST(OnnxExport, UnsupportedOpIsNamed) {
  if (!onnx_export_available()) GTEST_SKIP() << "no ONNX export in this build";
  const ModulePtr model = build_module(Config::parse("{type: unet2d, in_channels: 1, classes: 1, base: 2, depth: 1}"));
  model->eval();
  const fs::path out = fs::temp_directory_path() / ("strata_onnx_bad_" + std::to_string(getpid()) + ".onnx");
  try {
    export_onnx(*model, [&](const Tensor& x) { return std::vector<Tensor>{to_dtype((*model)(x), DType::f64)}; },
                Tensor::rand({1, 1, 8, 8}), {}, out.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no ONNX form"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
