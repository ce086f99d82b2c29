// strata-plot: redraws a run folder's training curves (loss.png, metrics.png) from its metrics.csv, in the
// formats asked for, e.g. as SVG for a report after the run, or while a run on another machine writes its CSV.
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/figure.h"
#include "apps/common/trainer.h"
#include "engine/error.h"

namespace {

constexpr const char* kUsage =
    "usage: strata-plot RUN_DIR [--formats png,svg,pdf] | --version\n"
    "Redraws RUN_DIR/loss.* and RUN_DIR/metrics.* from RUN_DIR/metrics.csv (default format: png).\n";

}  // namespace

int main(int argc, char** argv) {
  std::string run;
  std::vector<std::string> formats{"png"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("%s\n", strata::build_description().c_str());
      return 0;
    }
    std::string value;
    if (arg.rfind("--formats=", 0) == 0) {
      value = arg.substr(10);
    } else if (arg == "--formats" && i + 1 < argc) {
      value = argv[++i];
    } else if (!arg.empty() && arg[0] != '-' && run.empty()) {
      run = arg;
      continue;
    } else {
      std::fprintf(stderr, "strata-plot: unexpected argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
    formats.clear();
    std::stringstream list(value);
    for (std::string f; std::getline(list, f, ',');) formats.push_back(f);
  }
  if (run.empty()) {
    std::fprintf(stderr, "strata-plot: name a run folder\n%s", kUsage);
    return 2;
  }
  try {
    strata::set_figure_formats(formats, "--formats");
  } catch (const strata::Error& e) {
    std::fprintf(stderr, "strata-plot: %s\n%s", e.what(), kUsage);
    return 2;
  }
  try {
    strata::plot_training_curves(run);
  } catch (const strata::Error& e) {
    std::fprintf(stderr, "strata-plot: %s\n", e.what());
    return 1;
  }
  std::string written;
  for (const char* stem : {"loss", "metrics"})
    for (const std::string& f : formats) {
      const std::filesystem::path file = std::filesystem::path(run) / (std::string(stem) + "." + f);
      if (std::filesystem::exists(file)) written += (written.empty() ? "" : ", ") + file.string();
    }
  std::printf("wrote %s\n", written.c_str());
  return 0;
}
