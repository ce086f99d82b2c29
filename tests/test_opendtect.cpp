// strata-faults as OpendTect's ExternalAttrib plugin runs it on Linux.
//
// The driver here launches the installed wrapper the way the plugin's launch code does: pipes for stdin and
// stdout, stderr to a log file, fork, the other descriptors closed, execve(/bin/sh, [/bin/sh, SCRIPT, FLAG,
// ...]) with an environment of only IFS and PATH=/usr/bin:/bin:/usr/sbin:/sbin. `-g` is read to the end and
// URL-decoded as the plugin's urllib.h decodes it; `-c` gets the JSON back, with the keys the plugin adds
// (Survey, SurveyDiskLocation, InputNames), URL-encoded the same way. The blocks are written with fwrite on
// unbuffered streams: SeisInfo (40 bytes as plugin 7.0.6 and older write it, or 44 with nrZ), then per trace
// TrcInfo and the window's samples (traces inline-major, the centre at soInl * nrCrl + soCrl, traces outside the
// survey replaced by the centre trace, undefined samples sent as 0); the answer is read as nrsamp float32 with
// fread. The process is ended with SIGKILL, stdin left open. Each answer must equal the library's prediction of
// the window's section(s) at the centre column.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/faults/faults.h"
#include "apps/faults/synth.h"
#include "config/config.h"
#include "layers/checkpoint.h"
#include "layers/registry.h"
#include "tests/opendtect_plugin.h"
#include "tests/test_util.h"
#include "tests/tiny_configs.h"

namespace fs = std::filesystem;
using strata::test::slurp;
using namespace strata;
using namespace strata::faults;
using ::testing::HasSubstr;

using strata::test::PluginProcess;
using strata::test::plugin_urldecode;
using strata::test::plugin_urlencode;

namespace {

// A small survey: kInlines x kCrosslines traces of kSamples, one synthetic section per inline.
constexpr int kInlines = 6, kCrosslines = 24, kSamples = 48;

struct Request {
  int so_inl = 0, so_crl = 0, selection = 2, margin = 8;
  int layout = 44;  // SeisInfo bytes the driver writes
  int nrsamples = kSamples;  // output samples per trace (1: a Z-slice)
  int z0 = 0;                // first output sample
  bool long_periods = false;  // the survey with its periods three times as long
  bool stack_always = false;  // inference.stack_below_correlation=1 given to the attribute
  bool any_noise = false;     // inference.stack_min_independence=0 given to the attribute
  bool similar_traces = false;  // the survey whose traces are one trace each with a little of another
  bool smeared_noise = false;   // the survey of one trace under noise smoothed across traces
};

class OpendtectPlugin : public ::testing::Test {
 public:
  struct Model {
    ModulePtr net;
    TileOptions tiles;
    PeriodMatch period;
  };
  static fs::path root() {
    static const fs::path r = fs::temp_directory_path() / ("strata_opendtect " + std::to_string(getpid()));
    return r;
  }
  static std::string bin() { return std::string(STRATA_BIN_DIR) + "/strata-faults"; }

  static void SetUpTestSuite() {
    fs::remove_all(root());
    fs::create_directories(root());
    std::ofstream(root() / "tiny.yaml") << test::tiny_faults_config();
    const std::string log = " > '" + (root() / "log.txt").string() + "' 2>&1";
    ASSERT_EQ(std::system((bin() + " train --config '" + (root() / "tiny.yaml").string() + "' --out '" +
                           (root() / "run").string() + "'" + log).c_str()),
              0)
        << slurp(root() / "log.txt");
    checkpoint_ = new fs::path(root() / "run" / "best.safetensors");
    for (const char* layout : {"auto", "40", "44"})
      ASSERT_EQ(std::system((bin() + " opendtect install --checkpoint '" + checkpoint_->string() + "' --dir '" +
                             (root() / (std::string("wrapper dir ") + layout)).string() + "' --seisinfo " + layout + log)
                                .c_str()),
                0)
          << slurp(root() / "log.txt");
    survey_ = new std::vector<float>(test::synthetic_survey(kInlines, kCrosslines, kSamples, 11));
    // The same traces' first third stretched over all their samples: three times the periods, beyond the
    // training sections' (the attribute predicts such windows shrunk in time, inference.match_period).
    // Every trace 0.98 x the first trace + 0.2 x its own: neighbouring traces correlate above 0.95, yet differ,
    // so a stacked section would be predicted otherwise.
    similar_survey_ = new std::vector<float>(*survey_);
    for (size_t i = 0; i < similar_survey_->size(); ++i)
      (*similar_survey_)[i] = 0.98f * (*survey_)[i % size_t(kSamples)] + 0.2f * (*survey_)[i];
    // The first trace under noise of 2.3 times its energy, smoothed across inlines and crosslines by a Gaussian of
    // 1.5 traces: neighbouring traces correlate about 0.93 and traces two apart about 0.75, noise that a stack
    // would not remove.
    smeared_survey_ = new std::vector<float>(survey_->size());
    {
      std::mt19937 rng(7);
      std::normal_distribution<float> normal;
      std::vector<float> noise(survey_->size());
      for (float& v : noise) v = normal(rng);
      const auto smooth = [&](int step, int extent) {  // along one grid axis: `step` samples a cell, `extent` cells
        std::vector<float> out(noise.size(), 0.f);
        for (size_t i = 0; i < noise.size(); ++i) {
          const int at = int(i / size_t(step)) % extent;
          float sum = 0, weight = 0;
          for (int d = -4; d <= 4; ++d) {
            if (at + d < 0 || at + d >= extent) continue;
            const float w = std::exp(-float(d * d) / (2 * 1.5f * 1.5f));
            sum += w * noise[size_t(int64_t(i) + int64_t(d) * step)];
            weight += w;
          }
          out[i] = sum / weight;
        }
        noise = out;
      };
      smooth(kSamples, kCrosslines);
      smooth(kSamples * kCrosslines, kInlines);
      double signal = 0, energy = 0;
      for (int z = 0; z < kSamples; ++z) signal += double((*survey_)[size_t(z)]) * (*survey_)[size_t(z)];
      for (const float v : noise) energy += double(v) * v;
      const float gain = float(std::sqrt(2.3 * signal / kSamples / (energy / double(noise.size()))));
      for (size_t i = 0; i < noise.size(); ++i)
        (*smeared_survey_)[i] = (*survey_)[i % size_t(kSamples)] + gain * noise[i];
    }
    long_survey_ = new std::vector<float>();
    for (int t = 0; t < kInlines * kCrosslines; ++t) {
      const std::vector<float> top(survey_->begin() + t * kSamples, survey_->begin() + t * kSamples + kSamples / 3);
      const std::vector<float> stretched = resample_time(top, kSamples / 3, 1, kSamples);
      long_survey_->insert(long_survey_->end(), stretched.begin(), stretched.end());
    }
  }
  static void TearDownTestSuite() {
    delete checkpoint_;
    delete survey_;
    delete long_survey_;
    delete similar_survey_;
    delete smeared_survey_;
    if (!std::getenv("STRATA_KEEP_TEST_FILES")) fs::remove_all(root());
  }

  static fs::path script(const std::string& layout) {
    return root() / ("wrapper dir " + layout) / "strata-faults-attribute.sh";
  }

  // The window of the trace at (il, xl) as the plugin sends it: trace-major, inline-major, nrsamp samples from
  // z0 - margin; outside the survey's traces the centre trace, outside its samples 0.
  static std::vector<float> window(const Request& r, int il, int xl) {
    return test::plugin_window(r.long_periods     ? *long_survey_
                               : r.similar_traces ? *similar_survey_
                               : r.smeared_noise  ? *smeared_survey_
                                                  : *survey_,
                               kInlines, kCrosslines, kSamples, il, xl,
                               r.so_inl, r.so_crl, r.z0 - r.margin, 2 * r.margin + r.nrsamples);
  }

  static const Model& model() {
    static Model* m = nullptr;
    if (!m) {
      const Checkpoint ck = Checkpoint::load(checkpoint_->string());
      const Config cfg = Config::parse(ck.get("faults.config"));
      m = new Model{build_module(cfg.section("model")), TileOptions::from_config(cfg.section("inference")),
                    PeriodMatch{std::stod(ck.get("faults.period"))}};
      ck.restore_module("model.", *m->net);
      m->net->eval();
    }
    return *m;
  }

  // Whether the window cell (inline, crossline) of the trace at (il, xl) lies inside the survey.
  static std::function<bool(std::pair<int, int>)> in_survey(const Request& r, int il, int xl) {
    return [=](std::pair<int, int> cell) {
      const int i = il - r.so_inl + cell.first, x = xl - r.so_crl + cell.second;
      return i >= 0 && i < kInlines && x >= 0 && x < kCrosslines;
    };
  }

  // The prediction of the window's section through the (inline, crossline) window cells `cells` (samples x cells),
  // each cell's trace the weighted mean (tiles.neighbour_weights) of the cells d * `across` away, d = -h .. h,
  // that lie inside the window and the survey (`inside`).
  static std::vector<float> predict_cells(const Request& r, const std::vector<float>& w,
                                          const std::vector<std::pair<int, int>>& cells, std::pair<int, int> across,
                                          const std::function<bool(std::pair<int, int>)>& inside,
                                          const TileOptions& tiles) {
    const int ni = 2 * r.so_inl + 1, nc = 2 * r.so_crl + 1, ns = 2 * r.margin + r.nrsamples, width = int(cells.size());
    const std::vector<float>& weights = tiles.neighbour_weights;
    const int h = int(weights.size() / 2);
    std::vector<float> section(size_t(ns * width));
    for (int t = 0; t < width; ++t)
      for (int z = 0; z < ns; ++z) {
        double sum = 0, weight = 0;
        for (int d = -h; d <= h; ++d) {
          const std::pair<int, int> c{cells[size_t(t)].first + d * across.first, cells[size_t(t)].second + d * across.second};
          if (c.first < 0 || c.first >= ni || c.second < 0 || c.second >= nc || !inside(c)) continue;
          sum += weights[size_t(d + h)] * w[size_t((c.first * nc + c.second) * ns + z)];
          weight += weights[size_t(d + h)];
        }
        section[size_t(z * width + t)] = float(sum / weight);
      }
    standardise_section(section);
    return predict_section(*model().net, section, ns, width, tiles);
  }

  // What the attribute must answer for the trace at (il, xl): the library's prediction of the window's inline
  // and / or crossline section at the centre column, each section without the cells outside the survey at its
  // ends (for selection 2, where both have more than one trace, the chance either marks it; for selection 3 also
  // the window's two diagonals through the centre trace where both span 8 traces or more, each pair's
  // (1 - p)(1 - p) combined in a geometric mean weighted 3/4 on the inline and crossline pair). Every section at
  // the time scale of the window's centre inline and crossline traces' dominant period against the checkpoint's
  // reference (the same for every section of the window), measured on up to 8 traces spread along each of the
  // window's centre crossline and inline.
  static std::vector<float> expected(const Request& r, int il, int xl) {
    const std::vector<float> w = window(r, il, xl);
    const int ni = 2 * r.so_inl + 1, nc = 2 * r.so_crl + 1, ns = 2 * r.margin + r.nrsamples;
    TileOptions tiles = window_tiles(r, w, il, xl, r.stack_always);
    if (r.long_periods) {
      EXPECT_LT(tiles.time_scale, 0.8);
    }
    const bool inline_view = r.selection == 0 || (r.selection >= 2 && (nc > 1 || ni == 1));
    const bool crossline_view = r.selection == 1 || (r.selection >= 2 && ni > 1);
    // Each view as the (inline, crossline) window cells along its section and the centre's column in it, and the
    // step across it to the neighbouring section.
    std::vector<std::pair<std::vector<std::pair<int, int>>, int>> views;
    std::vector<std::pair<int, int>> across;
    if (inline_view) {
      across.emplace_back(1, 0);
      views.emplace_back();
      for (int c = 0; c < nc; ++c) views.back().first.emplace_back(r.so_inl, c);
      views.back().second = r.so_crl;
    }
    if (crossline_view) {
      across.emplace_back(0, 1);
      views.emplace_back();
      for (int a = 0; a < ni; ++a) views.back().first.emplace_back(a, r.so_crl);
      views.back().second = r.so_inl;
    }
    if (r.selection == 3 && ni > 1 && nc > 1) {
      const int half = std::min(r.so_inl, r.so_crl);
      for (const int sign : {1, -1}) {
        across.emplace_back(1, -sign);
        views.emplace_back();
        for (int t = -half; t <= half; ++t) views.back().first.emplace_back(r.so_inl + t, r.so_crl + sign * t);
        views.back().second = half;
      }
    }
    // Cells outside the survey at a section's ends are left out; a diagonal of fewer than 8 cells then is not
    // predicted, and the inline and crossline decide alone.
    const auto inside = in_survey(r, il, xl);
    const auto outside = [&](std::pair<int, int> cell) { return !inside(cell); };
    for (auto& [cells, centre] : views) {
      while (outside(cells.back())) cells.pop_back();
      while (outside(cells.front())) cells.erase(cells.begin()), --centre;
    }
    if (views.size() == 4 && (views[2].first.size() < 8 || views[3].first.size() < 8)) views.resize(2);
    std::vector<std::vector<float>> centres;
    for (size_t v = 0; v < views.size(); ++v) {
      const auto& [cells, centre] = views[v];
      const int width = int(cells.size());
      const std::vector<float> p =
          predict_cells(r, w, cells, across[v], inside, tiles);
      centres.emplace_back();
      for (int z = 0; z < ns; ++z) centres.back().push_back(p[size_t(z * width + centre)]);
    }
    if (centres.size() == 1) return centres[0];
    std::vector<float> out(static_cast<size_t>(ns));
    for (size_t z = 0; z < out.size(); ++z) {
      const float pair = (1.f - centres[0][z]) * (1.f - centres[1][z]);
      out[z] = centres.size() == 2 ? 1.f - pair
                                   : 1.f - std::pow(pair, 0.75f) *
                                               std::pow((1.f - centres[2][z]) * (1.f - centres[3][z]), 0.25f);
    }
    return out;
  }

  // The checkpoint's inference settings at the time scale of the window of the trace at (il, xl): its centre
  // inline and crossline traces' dominant period against the checkpoint's reference, measured on up to 8 traces
  // spread along each; and its sections stacked (neighbour_weights as the checkpoint has them) where the window's
  // neighbouring traces inside the survey correlate below the checkpoint's stack_below_correlation on average and
  // its noise differs from trace to trace (stack_min_independence), or `stack_always`, else each alone ({1}).
  static TileOptions window_tiles(const Request& r, const std::vector<float>& w, int il, int xl,
                                  bool stack_always = false) {
    const int ni = 2 * r.so_inl + 1, nc = 2 * r.so_crl + 1, ns = 2 * r.margin + r.nrsamples;
    TraceSpectrum spectrum(ns);
    for (int a = 0; a < ni; a += (ni + 7) / 8) spectrum.add(w.data() + (a * nc + r.so_crl) * ns);
    for (int c = 0; c < nc; c += (nc + 7) / 8)
      if (c != r.so_crl) spectrum.add(w.data() + (r.so_inl * nc + c) * ns);
    TileOptions tiles = model().tiles;
    tiles.time_scale = model().period.scale(spectrum.wavelet_period());
    const auto inside = in_survey(r, il, xl);
    NeighbourCorrelation one, two;  // traces one and two grid steps apart
    for (int a = 0; a < ni; ++a)
      for (int c = 0; c < nc; ++c) {
        if (!inside({a, c})) continue;
        const float* here = w.data() + (a * nc + c) * ns;
        if (a + 1 < ni && inside({a + 1, c})) one.add(here, here + nc * ns, ns);
        if (c + 1 < nc && inside({a, c + 1})) one.add(here, here + ns, ns);
        if (a + 2 < ni && inside({a + 2, c})) two.add(here, here + 2 * nc * ns, ns);
        if (c + 2 < nc && inside({a, c + 2})) two.add(here, here + 2 * ns, ns);
      }
    if (stack_always) tiles.stack_below_correlation = 1;
    if (r.any_noise) tiles.stack_min_independence = 0;
    tiles.neighbour_weights = tiles.stack_weights({one.mean(), two.mean()});
    return tiles;
  }

  static std::string params(const Request& r) {
    static const std::string g = get_params(script("auto"));
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(g);
    j["ZSampMargin"] = {{"Value", {-r.margin, r.margin}}};
    j["StepOut"] = {{"Value", {r.so_inl, r.so_crl}}};
    j["Select"] = {{"Selection", r.selection}};
    j["Survey"] = "Test survey";
    j["SurveyDiskLocation"] = "/data/Survey Data/Test survey";
    j["InputNames"] = {"Seismic \"raw\""};
    return plugin_urlencode(j.dump());
  }

  static std::string get_params(const fs::path& wrapper) {
    PluginProcess p(wrapper, {"-g"}, root() / "g.log");
    const std::string out = p.read_all();
    EXPECT_EQ(p.wait_exit(30), 0) << slurp(root() / "g.log");
    return plugin_urldecode(out);
  }

  static void send_seisinfo(PluginProcess& p, const Request& r) {
    const int ni = 2 * r.so_inl + 1, nc = 2 * r.so_crl + 1;
    const int32_t ints[5] = {ni * nc, 1, 1, ni, nc};
    const float floats[5] = {0.004f, 25.f, 25.f, 1.f, 1.f};
    std::string block(reinterpret_cast<const char*>(ints), 20);
    block.append(reinterpret_cast<const char*>(floats), 20);
    const int32_t nrz = kSamples;
    if (r.layout == 44) block.append(reinterpret_cast<const char*>(&nrz), 4);
    ASSERT_TRUE(p.send(block.data(), block.size()));
  }

  // Runs the attribute on the traces `at` with wrapper `layout_flag`; every answer is compared.
  static void check(const Request& r, const std::vector<std::pair<int, int>>& at, const std::string& layout_flag) {
    SCOPED_TRACE("SeisInfo " + std::to_string(r.layout) + " bytes, wrapper --seisinfo " + layout_flag +
                 ", step-out (" + std::to_string(r.so_inl) + ", " + std::to_string(r.so_crl) + "), selection " +
                 std::to_string(r.selection) + ", " + std::to_string(r.nrsamples) + " samples from " +
                 std::to_string(r.z0));
    const fs::path log = root() / "c.log";
    std::vector<std::string> args{"-c", params(r)};
    if (r.stack_always) args.push_back("inference.stack_below_correlation=1");
    if (r.any_noise) args.push_back("inference.stack_min_independence=0");
    PluginProcess p(script(layout_flag), args, log);
    send_seisinfo(p, r);
    const int ns = 2 * r.margin + r.nrsamples;
    for (const auto& [il, xl] : at) {
      const std::vector<float> w = window(r, il, xl);
      const int32_t ti[4] = {ns, r.z0, 100 + il, 300 + xl};
      ASSERT_TRUE(p.send(ti, sizeof ti));
      ASSERT_TRUE(p.send(w.data(), w.size() * 4));
      std::vector<float> got(static_cast<size_t>(ns));
      ASSERT_TRUE(p.read_floats(got.data(), got.size())) << "no answer for trace (" << il << ", " << xl << "): "
                                                          << slurp(log);
      const std::vector<float> want = expected(r, il, xl);
      for (int k = 0; k < ns; ++k) ASSERT_NEAR(got[size_t(k)], want[size_t(k)], 1e-6) << "sample " << k;
    }
    EXPECT_EQ(p.wait_exit(0.1), -1) << "the attribute ended before the plugin ended it: " << slurp(log);
    p.finish();
  }

  static fs::path* checkpoint_;
  static std::vector<float>*survey_, *long_survey_, *similar_survey_, *smeared_survey_;
};
fs::path* OpendtectPlugin::checkpoint_ = nullptr;
std::vector<float>* OpendtectPlugin::survey_ = nullptr;
std::vector<float>* OpendtectPlugin::similar_survey_ = nullptr;
std::vector<float>* OpendtectPlugin::smeared_survey_ = nullptr;
std::vector<float>* OpendtectPlugin::long_survey_ = nullptr;

TEST_F(OpendtectPlugin, ParametersInTheBareEnvironment) {
  const nlohmann::json j = nlohmann::json::parse(get_params(script("auto")));
  EXPECT_EQ(j["Output"], nlohmann::json::array({"Fault probability"}));
  EXPECT_EQ(j["ZSampMargin"]["Value"], nlohmann::json::array({-32, 32}));
  EXPECT_EQ(j["StepOut"]["Value"], nlohmann::json::array({32, 32}));
  EXPECT_EQ(j["Select"]["Selection"], 2);
  ASSERT_TRUE(j.contains("Help"));
  EXPECT_THAT(j["Help"].get<std::string>(), HasSubstr("file://"));
  EXPECT_THAT(j["Help"].get<std::string>(), HasSubstr("faults.md#opendtect"));
}

// Both SeisInfo layouts, told apart by the default wrapper, for every kind of step-out; an inside trace and a
// corner one (whose window reaches outside the survey); undefined samples (0) above and below the survey.
TEST_F(OpendtectPlugin, BothLayoutsEveryStepOutDetected) {
  int n = 0;
  for (const int layout : {44, 40})
    for (const auto& [si, sc] : {std::pair{0, 0}, std::pair{0, 3}, std::pair{3, 0}, std::pair{3, 3}}) {
      Request r;
      r.layout = layout;
      r.so_inl = si, r.so_crl = sc;
      r.selection = n++ % 3;
      check(r, {{2, 11}, {0, 0}}, "auto");
    }
}

TEST_F(OpendtectPlugin, EachSelectionWithAFixedLayout) {
  for (const int layout : {44, 40})
    for (const int selection : {0, 1, 2, 3})
      for (const auto& [si, sc] : {std::pair{3, 3}, std::pair{0, 3}, std::pair{5, 4}}) {
        Request r;
        r.layout = layout;
        r.so_inl = si, r.so_crl = sc;
        r.selection = selection;
        check(r, {{3, 5}}, std::to_string(layout));
      }
}

// A survey of long periods: each window predicted shrunk in time to the training sections' period (the
// expectation above checks the time scale is below 0.8 there), in every selection.
TEST_F(OpendtectPlugin, LongPeriodsArePredictedAtTheTrainingSampling) {
  for (const int selection : {0, 1, 2, 3}) {
    Request r;
    r.so_inl = 4, r.so_crl = 5;
    r.selection = selection;
    r.long_periods = true;
    check(r, {{2, 11}, {0, 3}}, "auto");
  }
}

// Stacking: the test survey's inlines are separate generated sections, so its traces correlate well along an
// inline and hardly across one, and its windows are stacked; those of a survey whose traces are nearly one trace
// are not (the expectation decides each window as the attribute must). With
// inference.stack_below_correlation=1 every window is stacked, the diagonals too. A window under noise smoothed
// across traces is left alone, unless inference.stack_min_independence=0.
TEST_F(OpendtectPlugin, SectionsStackWithTheirNeighboursAsPredictDecides) {
  Request noisy, similar;
  noisy.so_inl = 3, noisy.so_crl = 3;
  similar = noisy;
  similar.similar_traces = true;
  const auto stacked = [&](const Request& r, int il, int xl) {
    return window_tiles(r, window(r, il, xl), il, xl).neighbour_weights.size() > 1;
  };
  EXPECT_TRUE(stacked(noisy, 3, 5));
  EXPECT_FALSE(stacked(similar, 3, 5));
  // Noise smoothed across traces: correlating below 0.95, yet left alone, since a stack would not remove it.
  Request smeared = noisy;
  smeared.smeared_noise = true;
  Request smeared_stacked = smeared;
  smeared_stacked.any_noise = true;
  EXPECT_FALSE(stacked(smeared, 3, 5));
  EXPECT_TRUE(stacked(smeared_stacked, 3, 5));
  // Stacking would change the similar survey's answers.
  const std::vector<float> w = window(similar, 3, 5);
  TileOptions alone = window_tiles(similar, w, 3, 5), always = window_tiles(similar, w, 3, 5, true);
  std::vector<std::pair<int, int>> cells;
  for (int c = 0; c < 7; ++c) cells.emplace_back(3, c);
  EXPECT_NE(predict_cells(similar, w, cells, {1, 0}, in_survey(similar, 3, 5), alone),
            predict_cells(similar, w, cells, {1, 0}, in_survey(similar, 3, 5), always));
  check(noisy, {{3, 5}, {0, 0}}, "auto");
  check(similar, {{3, 5}, {0, 0}}, "auto");
  check(smeared, {{3, 5}, {0, 0}}, "auto");
  check(smeared_stacked, {{3, 5}}, "auto");
  for (const int selection : {1, 3}) {
    Request r;
    r.so_inl = 3, r.so_crl = 4;
    r.selection = selection;
    r.stack_always = true;
    check(r, {{3, 5}, {0, 23}}, "auto");
  }
}

// A Z-slice: one output sample a trace, the window much shorter than the survey (nrZ).
TEST_F(OpendtectPlugin, ZSliceRequest) {
  for (const int layout : {44, 40}) {
    Request r;
    r.layout = layout;
    r.so_inl = 2, r.so_crl = 4;
    r.nrsamples = 1;
    r.z0 = 30;
    check(r, {{1, 1}, {4, 20}, {5, 23}}, "auto");
  }
}

// Traces along a line share their sections (opendtect.context=2 here). A section predicted for one trace's window
// answers a later trace it holds with the later window's traces where the two overlap, at a column with at least
// 2 of its traces on each side (or, where the later trace's own section has fewer on a side, as many); any other
// trace is predicted from its own window. Along an inline, back to a trace already answered, onto the next inline,
// at the survey's edges (where the sections end), and a window whose neighbours' samples differ from the kept ones.
TEST_F(OpendtectPlugin, NeighbouringTracesShareTheirSections) {
  Request r;
  r.so_inl = 1, r.so_crl = 6;
  r.selection = 0;
  constexpr int kContext = 2;
  const fs::path log = root() / "share.log";
  PluginProcess p(script("44"), {"-c", params(r), "opendtect.context=" + std::to_string(kContext)}, log);
  send_seisinfo(p, r);
  const int ns = 2 * r.margin + r.nrsamples;
  struct Kept {
    int inline_, first, width;  // the section's traces: crosslines first .. first + width - 1 of the inline
    std::vector<float> prob;    // samples x width
  };
  std::vector<Kept> kept;
  int predicted = 0, reused = 0;
  const auto answer = [&](int il, int xl, const std::vector<float>& w) {
    const int32_t ti[4] = {ns, r.z0, 100 + il, 300 + xl};
    std::vector<float> got(static_cast<size_t>(ns));
    EXPECT_TRUE(p.send(ti, sizeof ti) && p.send(w.data(), w.size() * 4) && p.read_floats(got.data(), got.size()))
        << slurp(log);
    return got;
  };
  const std::vector<std::pair<int, int>> traces{{3, 6},  {3, 7}, {3, 8}, {3, 9},  {3, 10}, {3, 11},
                                                {3, 12}, {3, 13}, {3, 16}, {3, 8}, {2, 9}, {3, 1},
                                                {3, 3},  {3, 0}, {3, 21}, {3, 20}, {3, 23}};
  for (const auto& [il, xl] : traces) {
    SCOPED_TRACE("trace (" + std::to_string(il) + ", " + std::to_string(xl) + ")");
    const int first = std::max(0, xl - r.so_crl), width = std::min(kCrosslines - 1, xl + r.so_crl) - first + 1;
    const int before = std::min(kContext, xl - first), after = std::min(kContext, first + width - 1 - xl);
    const Kept* from = nullptr;
    for (const Kept& k : kept) {
      const int j = xl - k.first;
      if (k.inline_ != il || j < before || k.width - 1 - j < after) continue;
      const auto depth = [](const Kept& s, int x) { return std::min(x - s.first, s.first + s.width - 1 - x); };
      if (!from || depth(k, xl) >= depth(*from, xl)) from = &k;
    }
    const std::vector<float> w = window(r, il, xl);
    std::vector<float> want(static_cast<size_t>(ns));
    if (from) {
      ++reused;
      for (int z = 0; z < ns; ++z) want[size_t(z)] = from->prob[size_t(z * from->width + xl - from->first)];
    } else {
      ++predicted;
      std::vector<std::pair<int, int>> cells;
      for (int c = first - (xl - r.so_crl); c < first - (xl - r.so_crl) + width; ++c) cells.emplace_back(r.so_inl, c);
      kept.push_back(
          {il, first, width, predict_cells(r, w, cells, {1, 0}, in_survey(r, il, xl), window_tiles(r, w, il, xl))});
      want = expected(r, il, xl);  // a trace predicted from its own window: as ever
    }
    const std::vector<float> got = answer(il, xl, w);
    for (int z = 0; z < ns; ++z) ASSERT_NEAR(got[size_t(z)], want[size_t(z)], 1e-6) << "sample " << z;
  }
  // Of the 17 traces, 12 come from kept sections: the four after 6 and the two after 11 along the inline, 8 again,
  // 0, 1 and 3 from the section of 6, and 20 and 23 from that of 21.
  EXPECT_EQ(predicted, 5);
  EXPECT_EQ(reused, 12);
  // Trace (3, 9) again, but its neighbour 2 crosslines on, which both kept sections through it hold, with other
  // samples: predicted from its own window.
  std::vector<float> w = window(r, 3, 9);
  for (int z = 0; z < ns; ++z) w[size_t((r.so_inl * (2 * r.so_crl + 1) + r.so_crl + 2) * ns + z)] *= 2;
  std::vector<std::pair<int, int>> cells;
  for (int c = 0; c < 2 * r.so_crl + 1; ++c) cells.emplace_back(r.so_inl, c);
  const std::vector<float> own = predict_cells(r, w, cells, {1, 0}, in_survey(r, 3, 9), window_tiles(r, w, 3, 9)),
                           got = answer(3, 9, w);
  for (int z = 0; z < ns; ++z) ASSERT_NEAR(got[size_t(z)], own[size_t(z * (2 * r.so_crl + 1) + r.so_crl)], 1e-6);
  p.close_input();
  EXPECT_EQ(p.wait_exit(30), 0) << slurp(log);
  EXPECT_THAT(slurp(log), HasSubstr("computed 18 traces (6 sections predicted, 12 taken from neighbouring traces' "
                                    "sections)"));
}

// A stream that stops inside a trace's samples (stdin left open, as the plugin does until it kills the
// process) ends in an error naming the block within seconds, never a hang.
TEST_F(OpendtectPlugin, TruncatedStreamIsAnErrorNotAHang) {
  for (const std::string layout_flag : {"auto", "44"}) {
    Request r;
    r.so_inl = 1, r.so_crl = 1;
    const fs::path log = root() / "cut.log";
    PluginProcess p(script(layout_flag), {"-c", params(r)}, log);
    send_seisinfo(p, r);
    const int ns = 2 * r.margin + r.nrsamples;
    const std::vector<float> w = window(r, 2, 2);
    const int32_t ti[4] = {ns, 0, 102, 302};
    ASSERT_TRUE(p.send(ti, sizeof ti));
    ASSERT_TRUE(p.send(w.data(), w.size() * 2));  // half the samples
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(p.wait_exit(15), 1) << slurp(log);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10);
    EXPECT_THAT(slurp(log), HasSubstr("input stopped arriving inside"));
  }
}

// A window the parameters did not ask for (fewer samples than the Z margin needs) is refused with the field.
TEST_F(OpendtectPlugin, SampleCountShorterThanTheMarginIsRefused) {
  Request r;
  r.so_inl = 1, r.so_crl = 1;
  const fs::path log = root() / "short.log";
  PluginProcess p(script("44"), {"-c", params(r)}, log);
  send_seisinfo(p, r);
  const int32_t ti[4] = {4, 0, 102, 302};
  ASSERT_TRUE(p.send(ti, sizeof ti));
  EXPECT_EQ(p.wait_exit(15), 1) << slurp(log);
  EXPECT_THAT(slurp(log), HasSubstr("TrcInfo nrsamp of trace 0 is 4; the Z margin asked for (16 samples) needs 17"));
}

}  // namespace
