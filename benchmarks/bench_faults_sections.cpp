// How fast one core generates strata-faults training sections: the sections a training step waits for when the
// network is faster than the data workers (a GPU), and a share of every CPU step.
//
//   build/bin/bench_faults_sections [CONFIG (configs/faults_synthetic.yaml)] [SECTIONS (64)] [REPEATS (5)]
//
// Draws SECTIONS sections of the config's training generator (data.train_faults and data.train_synthetic applied,
// as training draws them) on one thread; prints one JSON line: the median milliseconds per section over REPEATS
// runs and the sections per second that gives.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "apps/faults/synth.h"
#include "benchmarks/median.h"
#include "config/config.h"

using namespace strata;
using namespace strata::faults;

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "configs/faults_synthetic.yaml";
  const int sections = argc > 2 ? std::atoi(argv[2]) : 64, repeats = argc > 3 ? std::atoi(argv[3]) : 5;
  if (sections < 1 || repeats < 1) {
    std::fprintf(stderr, "usage: %s [CONFIG] [SECTIONS >= 1] [REPEATS >= 1]\n", argv[0]);
    return 2;
  }
  const Config cfg = Config::load(path);
  const Config data = cfg.section("data");
  const SynthOptions base = SynthOptions::from_config(data.section("synthetic"));
  const TrainingSections train = training_sections(base, data);
  uint64_t seed = 1;
  size_t checksum = 0;  // keeps the work observable
  const double ms = median_ms(
      [&] {
        std::mt19937_64 rng(seed++);
        for (int i = 0; i < sections; ++i) checksum += train.draw(rng).faults;
      },
      repeats);
  nlohmann::json out{{"name", "faults_training_sections"},
                     {"config", path},
                     {"height", base.height},
                     {"width", base.width},
                     {"ms_per_section", ms / sections},
                     {"sections_per_s", 1000.0 * sections / ms},
                     {"faults_drawn", checksum}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
