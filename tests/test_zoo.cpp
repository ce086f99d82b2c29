// The zoo (zoo/, scripts/make_zoo.sh): every model reproduces the held-out figure written in it (zoo.figure) with
// `strata-APP eval` on the data here, within 0.005. The well-log, membrane and CamVid models need ../shared/data (or
// $STRATA_DATA) and the Fashion-MNIST one the dataset-fashion-mnist package; each skips loudly without its data.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using strata::test::slurp;
using namespace strata;

namespace {

fs::path data_dir() {
  if (const char* d = std::getenv("STRATA_DATA")) return d;
  return fs::path(STRATA_SOURCE_DIR) / ".." / "shared" / "data";
}

int run(const std::string& cmd, const fs::path& log) {
  // The models' configs read their data from ${STRATA_DATA}.
  const int status = std::system(("cd '" + std::string(STRATA_SOURCE_DIR) + "' && STRATA_DATA='" +
                                  data_dir().string() + "' " + cmd + " > '" + log.string() + "' 2>&1")
                                     .c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The value of `key` in a "metric,value" file, or in the first row of a table with a header.
double metric(const fs::path& file, const std::string& key) {
  std::ifstream f(file);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(f, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    std::stringstream s(line);
    for (std::string c; std::getline(s, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  if (rows.empty()) return NAN;
  if (rows[0].size() >= 2 && rows[0][0] == "metric" && rows[0][1] == "value") {
    for (const auto& r : rows)
      if (r.size() >= 2 && r[0] == key) return std::stod(r[1]);
    return NAN;
  }
  for (size_t i = 0; i < rows[0].size() && rows.size() > 1; ++i)
    if (rows[0][i] == key) return std::stod(rows[1][i]);
  return NAN;
}

class Zoo : public ::testing::TestWithParam<std::string> {};

TEST_P(Zoo, ReproducesItsHeldOutFigure) {
  const fs::path model = fs::path(STRATA_SOURCE_DIR) / "zoo" / (GetParam() + ".safetensors");
  ASSERT_TRUE(fs::exists(model)) << model;
  const Safetensors st = load_safetensors(model.string());
  const auto meta = [&](const std::string& k) { return st.metadata.count(k) ? st.metadata.at(k) : std::string(); };
  const std::string app = meta("strata.app"), metric_spec = meta("zoo.metric");
  ASSERT_FALSE(app.empty() || metric_spec.empty() || meta("zoo.figure").empty()) << model << " lacks zoo metadata";
  const double figure = std::stod(meta("zoo.figure"));
  if (app == "strata-welllog" || app == "strata-segment")
    if (!fs::exists(data_dir())) GTEST_SKIP() << "SKIPPED LOUDLY: " << data_dir() << " is absent (set STRATA_DATA)";
  if (app == "strata-anomaly" && !fs::exists("/usr/share/datasets/fashion-mnist"))
    GTEST_SKIP() << "SKIPPED LOUDLY: /usr/share/datasets/fashion-mnist is absent (dataset-fashion-mnist)";
  const fs::path dir = fs::temp_directory_path() / ("strata_zoo_" + GetParam() + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string data;
  if (!meta("zoo.held_out_wells").empty()) {  // the well-log table's held-out wells alone
    std::string wells = meta("zoo.held_out_wells");
    const fs::path table = data_dir() / "welllogs" / "facies_vectors.csv", held_out = dir / "held_out.csv";
    ASSERT_EQ(run("awk -F, -v wells='" + wells + "' 'BEGIN { n = split(wells, w, \"|\"); for (i = 1; i <= n; i++) "
                  "keep[w[i]] = 1 } NR == 1 || ($3 in keep)' '" + table.string() + "'",
                  held_out),
              0);
    data = " --data '" + held_out.string() + "'";
  }
  if (!meta("zoo.prepare").empty()) {  // data a script makes (Fashion-MNIST exported as image folders)
    const auto fill = [&](std::string text) {
      for (size_t at; (at = text.find("{dir}")) != std::string::npos;) text.replace(at, 5, (dir / "data").string());
      return text;
    };
    ASSERT_EQ(run(fill(meta("zoo.prepare")), dir / "prepare.txt"), 0) << slurp(dir / "prepare.txt");
    data = " --data '" + fill(meta("zoo.eval_data")) + "'";
  }
  const fs::path out = dir / "eval", log = dir / "log.txt";
  ASSERT_EQ(run(std::string(STRATA_BIN_DIR) + "/" + app + " eval --checkpoint '" + model.string() + "'" + data +
                    " --out '" + out.string() + "'",
                log),
            0)
      << slurp(log);
  const size_t colon = metric_spec.find(':');
  const double got = metric(out / metric_spec.substr(0, colon), metric_spec.substr(colon + 1));
  std::printf("%s: %s %.6f (documented %.6f)\n", GetParam().c_str(), metric_spec.c_str(), got, figure);
  EXPECT_NEAR(got, figure, 0.005) << meta("zoo.what");
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Models, Zoo,
                         ::testing::Values("welllog_seg2016", "segment_membrane", "segment_camvid",
                                           "anomaly_fmnist_convae_dense", "anomaly_fmnist_ae_transforms",
                                           "anomaly_folders_fmnist7", "faults_synthetic"));

}  // namespace
