// Traces per second through the OpendTect attribute against strata-faults predict on the same inline, and the
// attribute's scores on a labelled cube.
//
//   build/bin/bench_opendtect CHECKPOINT [TRACES] [STEP_OUT] [SELECTION] [key=value ...]
//   build/bin/bench_opendtect CHECKPOINT CUBE.sgy LABELS.sgy [INLINES] [SELECTION] [key=value ...]
//
// The first form: a synthetic survey (65 inlines x 256 crosslines x 256 samples, one generated section per inline)
// is served to the wrapper `strata-faults opendtect install` writes, launched as the plugin launches it (tests/
// opendtect_plugin.h): SeisInfo of 44 bytes, then TRACES traces (default 32) along the centre inline, each with
// its step-out window (default 32 x 32) and the default Z margin (+-32 samples) around all 256 samples. Beside it,
// predict_section (what `strata-faults predict` runs per section) on the whole centre inline.
//
// The second form serves every trace of INLINES inlines (default 8) in the middle of a cube, inline by inline as
// OpendTect computes a volume (step-out 32 x 32, Z margin +-32, each trace's whole length), and scores the answers
// against the labels (`strata-faults generate --cubes N` writes both files): exact AP and AP within one sample, as
// `eval` scores a cube, with the traces per second and the attribute's count of sections predicted.
//
// Overrides (e.g. inference.tta=false, opendtect.context=32) go into the wrapper, and in the first form also into
// the predict side.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "apps/faults/faults.h"
#include "apps/faults/segy.h"
#include "apps/faults/synth.h"
#include "config/config.h"
#include "engine/autograd.h"
#include "engine/parallel.h"
#include "layers/checkpoint.h"
#include "layers/registry.h"
#include "tests/opendtect_plugin.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::faults;

namespace {

// The wrapper for `checkpoint` with the overrides written in, in `dir`; false when install fails.
bool install(const fs::path& bin, const std::string& checkpoint, const fs::path& dir, const std::string& words) {
  return std::system((bin.string() + "/strata-faults opendtect install --checkpoint '" + checkpoint + "' --dir '" +
                      dir.string() + "' --seisinfo 44" + words + " > /dev/null").c_str()) == 0;
}

int cube_mode(const fs::path& bin, const std::string& checkpoint, const fs::path& dir, int argc, char** argv) {
  const std::string cube_path = argv[2], labels_path = argv[3];
  const int want_inlines = argc > 4 ? std::atoi(argv[4]) : 8, selection = argc > 5 ? std::atoi(argv[5]) : 2;
  constexpr int so = 32, margin = 32;
  std::string words;
  for (int i = 6; i < argc; ++i) words += std::string(" '") + argv[i] + "'";
  if (!install(bin, checkpoint, dir, words)) return 1;
  const SegyVolume cube(cube_path), labels(labels_path);
  const int64_t ni = int64_t(cube.inlines().size()), nc = int64_t(cube.crosslines().size()), nz = cube.samples();
  if (cube.is_line() || int64_t(labels.inlines().size()) != ni || int64_t(labels.crosslines().size()) != nc ||
      labels.samples() != nz) {
    std::fprintf(stderr, "%s and %s must be cubes of one geometry\n", cube_path.c_str(), labels_path.c_str());
    return 2;
  }
  const int64_t inlines = std::min<int64_t>(want_inlines, ni), first = (ni - inlines) / 2;
  std::vector<float> survey(size_t(ni * nc * nz));  // (inline, crossline, sample)
  for (int64_t il = 0; il < ni; ++il) {
    const SegyVolume::Section sec = cube.section("inline", il);
    for (int64_t xl = 0; xl < nc; ++xl)
      for (int64_t z = 0; z < nz; ++z) survey[size_t((il * nc + xl) * nz + z)] = sec.data[size_t(z * nc + xl)];
  }
  nlohmann::ordered_json params = {{"ZSampMargin", {{"Value", {-margin, margin}}}},
                                   {"StepOut", {{"Value", {so, so}}}},
                                   {"Select", {{"Selection", selection}}},
                                   {"Survey", "bench"}};
  const fs::path log = dir / "attribute.log";
  test::PluginProcess p(dir / "strata-faults-attribute.sh", {"-c", test::plugin_urlencode(params.dump())}, log);
  const int w = 2 * so + 1, ns = int(nz) + 2 * margin;
  const int32_t si_ints[5] = {w * w, 1, 1, w, w};
  const float si_floats[5] = {float(cube.interval_ms() / 1000), 25.f, 25.f, 1.f, 1.f};
  const int32_t nrz = int32_t(nz);
  p.send(si_ints, 20);
  p.send(si_floats, 20);
  p.send(&nrz, 4);
  std::vector<float> answer(static_cast<size_t>(ns));
  FaultScores scores(1);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t il = first; il < first + inlines; ++il) {
    std::vector<float> prob(size_t(nz * nc));
    for (int64_t xl = 0; xl < nc; ++xl) {
      const std::vector<float> window = test::plugin_window(survey, ni, nc, nz, il, xl, so, so, -margin, ns);
      const int32_t ti[4] = {ns, 0, cube.inlines()[size_t(il)], cube.crosslines()[size_t(xl)]};
      if (!p.send(ti, sizeof ti) || !p.send(window.data(), window.size() * 4) ||
          !p.read_floats(answer.data(), answer.size())) {
        std::fprintf(stderr, "the attribute did not answer inline %lld crossline %lld (see %s)\n", (long long)il,
                     (long long)xl, log.c_str());
        return 1;
      }
      for (int64_t z = 0; z < nz; ++z) prob[size_t(z * nc + xl)] = answer[size_t(z + margin)];
    }
    const SegyVolume::Section lab = labels.section("inline", il);
    std::vector<uint8_t> truth(lab.data.size());
    for (size_t k = 0; k < truth.size(); ++k) truth[k] = lab.data[k] > 0.5f;
    scores.add(prob, truth, nz, nc);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  p.close_input();
  p.wait_exit(30);
  std::ifstream in(log);
  std::stringstream said;
  said << in.rdbuf();
  const std::string text = said.str(), key = "opendtect: computed";
  const size_t at = text.find(key);
  std::printf("threads %d, %s: %lld inlines x %lld crosslines x %lld samples, step-out %d x %d, selection %d,%s\n",
              num_threads(), cube_path.c_str(), (long long)inlines, (long long)nc, (long long)nz, so, so, selection,
              words.empty() ? " the checkpoint's inference settings" : words.c_str());
  std::printf("attribute: %lld traces in %.1f s = %.2f traces/s; %s\n", (long long)(inlines * nc), seconds,
              double(inlines * nc) / seconds,
              at == std::string::npos ? "(no summary)" : text.substr(at, text.find('\n', at) - at).c_str());
  std::printf("AP %.3f, within 1 sample %.3f\n", scores.strict().ap, scores.tolerant().ap);
  fs::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s CHECKPOINT [TRACES] [STEP_OUT] [SELECTION] [key=value ...]\n"
                 "       %s CHECKPOINT CUBE.sgy LABELS.sgy [INLINES] [SELECTION] [key=value ...]\n",
                 argv[0], argv[0]);
    return 2;
  }
  const std::string checkpoint = fs::canonical(argv[1]).string();
  const int traces = argc > 2 ? std::atoi(argv[2]) : 32, so = argc > 3 ? std::atoi(argv[3]) : 32;
  const int selection = argc > 4 ? std::atoi(argv[4]) : 2, margin = 32;
  constexpr int kInlines = 65, kCrosslines = 256, kSamples = 256;
  const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  const fs::path dir = fs::temp_directory_path() / ("strata_bench_opendtect_" + std::to_string(getpid()));
  if (argc > 3 && fs::path(argv[2]).extension() == ".sgy") return cube_mode(bin, checkpoint, dir, argc, argv);
  std::vector<std::string> overrides;
  std::string words;
  for (int i = 5; i < argc; ++i) overrides.push_back(argv[i]), words += std::string(" '") + argv[i] + "'";
  if (!install(bin, checkpoint, dir, words)) return 1;

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
  double predict_s = 0;
  {
    InferenceMode inference;  // as `strata-faults predict` runs
    predict_section(*net, section, kSamples, kCrosslines, tiles);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    predict_section(*net, section, kSamples, kCrosslines, tiles);
    predict_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

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
  std::vector<float> answer(static_cast<size_t>(ns));
  double attribute_s = 0;
  for (int k = 0; k <= traces; ++k) {  // trace 0 is the warm-up (process start, model load)
    const int xl = (kCrosslines - traces) / 2 + k;
    const std::vector<float> window =
        test::plugin_window(survey, kInlines, kCrosslines, kSamples, centre, xl, so, so, -margin, ns);
    const int32_t ti[4] = {ns, 0, 100 + centre, xl};
    const auto t0 = std::chrono::steady_clock::now();
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
