// Traces per second through the OpendTect attribute against strata-faults predict on the same inline.
//
//   build/bin/bench_opendtect CHECKPOINT [TRACES] [STEP_OUT] [SELECTION] [key=value ...]
//
// A synthetic survey (65 inlines x 256 crosslines x 256 samples, one generated section per inline) is served to
// the wrapper `strata-faults opendtect install` writes, launched as the plugin launches it (tests/
// opendtect_plugin.h): SeisInfo of 44 bytes, then TRACES traces (default 32) along the centre inline, each with
// its step-out window (default 32 x 32) and the default Z margin (+-32 samples) around all 256 samples. Beside it,
// predict_section (what `strata-faults predict` runs per section) on the whole centre inline. Overrides (e.g.
// inference.tta=false) go into the wrapper and the predict side alike.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "apps/faults/faults.h"
#include "apps/faults/synth.h"
#include "config/config.h"
#include "engine/parallel.h"
#include "layers/checkpoint.h"
#include "layers/registry.h"
#include "tests/opendtect_plugin.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::faults;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT [TRACES] [STEP_OUT] [SELECTION] [key=value ...]\n", argv[0]);
    return 2;
  }
  const std::string checkpoint = fs::canonical(argv[1]).string();
  const int traces = argc > 2 ? std::atoi(argv[2]) : 32, so = argc > 3 ? std::atoi(argv[3]) : 32;
  const int selection = argc > 4 ? std::atoi(argv[4]) : 2, margin = 32;
  constexpr int kInlines = 65, kCrosslines = 256, kSamples = 256;
  const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  const fs::path dir = fs::temp_directory_path() / ("strata_bench_opendtect_" + std::to_string(getpid()));
  std::vector<std::string> overrides;
  std::string words;
  for (int i = 5; i < argc; ++i) overrides.push_back(argv[i]), words += std::string(" '") + argv[i] + "'";
  if (std::system((bin.string() + "/strata-faults opendtect install --checkpoint '" + checkpoint + "' --dir '" +
                   dir.string() + "' --seisinfo 44" + words + " > /dev/null").c_str()) != 0)
    return 1;

  const std::vector<float> survey = test::synthetic_survey(kInlines, kCrosslines, kSamples, 3);

  // predict on the centre inline.
  const Checkpoint ck = Checkpoint::load(checkpoint);
  Config cfg = Config::parse(ck.get("faults.config"));
  cfg.apply_overrides(overrides);
  const ModulePtr net = build_module(cfg.section("model"));
  ck.restore_module("model.", *net);
  net->eval();
  const TileOptions tiles = TileOptions::from_config(cfg.section("inference"));
  const int centre = kInlines / 2;
  std::vector<float> section(size_t(kSamples) * kCrosslines);
  for (int xl = 0; xl < kCrosslines; ++xl)
    for (int z = 0; z < kSamples; ++z)
      section[size_t(z * kCrosslines + xl)] = survey[size_t((centre * kCrosslines + xl) * kSamples + z)];
  standardise_section(section);
  predict_section(*net, section, kSamples, kCrosslines, tiles);  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  predict_section(*net, section, kSamples, kCrosslines, tiles);
  const double predict_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The attribute, trace by trace.
  nlohmann::ordered_json params = {{"ZSampMargin", {{"Value", {-margin, margin}}}},
                                   {"StepOut", {{"Value", {so, so}}}},
                                   {"Select", {{"Selection", selection}}},
                                   {"Survey", "bench"}};
  test::PluginProcess p(dir / "strata-faults-attribute.sh", {"-c", test::plugin_urlencode(params.dump())},
                        dir / "attribute.log");
  const int ni = 2 * so + 1, nc = 2 * so + 1, ns = kSamples + 2 * margin;
  const int32_t si_ints[5] = {ni * nc, 1, 1, ni, nc};
  const float si_floats[5] = {0.004f, 25.f, 25.f, 1.f, 1.f};
  const int32_t nrz = kSamples;
  p.send(si_ints, 20);
  p.send(si_floats, 20);
  p.send(&nrz, 4);
  std::vector<float> window(static_cast<size_t>(ni) * nc * ns), answer(static_cast<size_t>(ns));
  double attribute_s = 0;
  for (int k = 0; k <= traces; ++k) {  // trace 0 is the warm-up (process start, model load)
    const int xl = (kCrosslines - traces) / 2 + k;
    size_t i = 0;
    for (int a = 0; a < ni; ++a)
      for (int c = 0; c < nc; ++c) {
        int ti = centre - so + a, tc = xl - so + c;
        if (ti < 0 || ti >= kInlines || tc < 0 || tc >= kCrosslines) ti = centre, tc = xl;
        for (int z = -margin; z < kSamples + margin; ++z)
          window[i++] = z >= 0 && z < kSamples ? survey[size_t((ti * kCrosslines + tc) * kSamples + z)] : 0.f;
      }
    const int32_t ti[4] = {ns, 0, 100 + centre, xl};
    t0 = std::chrono::steady_clock::now();
    if (!p.send(ti, sizeof ti) || !p.send(window.data(), window.size() * 4) ||
        !p.read_floats(answer.data(), answer.size())) {
      std::fprintf(stderr, "the attribute did not answer trace %d (see %s)\n", k, (dir / "attribute.log").c_str());
      return 1;
    }
    if (k > 0) attribute_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  p.finish();
  std::printf("threads %d, step-out %d x %d, selection %d, window %d x %d traces x %d samples,%s\n", num_threads(),
              so, so, selection, ni, nc, ns, words.empty() ? " the checkpoint's inference settings" : words.c_str());
  std::printf("attribute: %d traces in %.2f s = %.2f traces/s (%.1f ms a trace)\n", traces, attribute_s,
              traces / attribute_s, 1000 * attribute_s / traces);
  std::printf("predict:   %d traces in %.3f s = %.1f traces/s (one %d x %d section)\n", kCrosslines, predict_s,
              kCrosslines / predict_s, kSamples, kCrosslines);
  std::printf("attribute / predict cost per trace: %.0fx\n", (attribute_s / traces) / (predict_s / kCrosslines));
  fs::remove_all(dir);
  return 0;
}
