// strata-welllog: LAS reader on the lasio examples and on broken input, the
// SEG 2016 table, preprocessing (missing values and curves, normalisation),
// windows and stitched inference, the synthetic gamma-ray shapes, the Hung et
// al. training terms, exact resume, and the app's train / eval / predict.
// Tests that read ../shared/data skip loudly when it is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>

#include "apps/common/cli.h"
#include "apps/common/figure.h"
#include "apps/welllog/curve_map.h"
#include "apps/welllog/facies.h"
#include "apps/welllog/las.h"
#include "apps/welllog/run.h"
#include "apps/welllog/wells.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/checkpoint.h"
#include "layers/layers.h"
#include "tests/test_util.h"

using namespace strata;
using namespace strata::welllog;
namespace fs = std::filesystem;

namespace {

fs::path data_dir() {
  if (const char* env = std::getenv("STRATA_DATA")) return env;
  return fs::path(STRATA_SOURCE_DIR) / ".." / "shared" / "data";
}

#define REQUIRE_DATA(rel)                                                                                   \
  const fs::path data_file = data_dir() / (rel);                                                            \
  if (!fs::exists(data_file))                                                                                \
  GTEST_SKIP() << "SKIPPED LOUDLY: " << data_file << " is absent (shared data folder; set STRATA_DATA=DIR)"

std::string las_path(const std::string& name) { return (data_dir() / "welllogs" / "las" / name).string(); }

// Runs `body`, expects a strata::Error whose message contains `part`.
template <class F>
void expect_error(F&& body, const std::string& part) {
  try {
    body();
    ADD_FAILURE() << "no error; expected one containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

const char* kMiniLas =
    "~VERSION INFORMATION\n"
    " VERS.   2.0 : CWLS LOG ASCII STANDARD - VERSION 2.0\n"
    " WRAP.   NO  : ONE LINE PER DEPTH STEP\n"
    "~WELL INFORMATION\n"
    " NULL.   -999.25 : NULL VALUE\n"
    " WELL.   MINI 1  : WELL\n"
    "~CURVE INFORMATION\n"
    " DEPT.M  : DEPTH\n"
    " GR  .GAPI : GAMMA RAY\n"
    "~A\n";

}  // namespace

// ---------------------------------------------------------------------------
// LAS

TEST(Las, ReadsVersion12WithSwappedWellItems) {
  REQUIRE_DATA("welllogs/las/sample.las");
  const las::LasFile f = las::read(data_file.string());
  EXPECT_EQ(f.version, "1.2");
  EXPECT_FALSE(f.wrapped);
  ASSERT_EQ(f.curves.size(), 8u);
  EXPECT_EQ(f.curves[0].mnemonic, "DEPT");
  EXPECT_EQ(f.curves[1].unit, "US/M");
  ASSERT_EQ(f.rows(), 3);
  EXPECT_DOUBLE_EQ(f.curves[0].values[2], 1669.75);
  EXPECT_DOUBLE_EQ(f.find("ild")->values[0], 105.6);
  EXPECT_DOUBLE_EQ(f.null_value, -999.25);
  // LAS 1.2 puts descriptive values after the colon.
  EXPECT_EQ(f.well_value("WELL"), "ANY ET AL OIL WELL #12");
  EXPECT_EQ(f.well_value("STRT"), "1670.000000");
  EXPECT_NE(f.other.find("logging tools became stuck"), std::string::npos);
}

TEST(Las, ReadsVersion20AndWrapped) {
  REQUIRE_DATA("welllogs/las/sample_2.0_wrapped.las");
  const las::LasFile plain = las::read(las_path("sample_2.0.las"));
  EXPECT_EQ(plain.version, "2.0");
  EXPECT_EQ(plain.rows(), 3);
  EXPECT_EQ(plain.well_value("WELL"), "AAAAA_2");

  const las::LasFile w = las::read(data_file.string());
  EXPECT_TRUE(w.wrapped);
  ASSERT_EQ(w.curves.size(), 36u);
  ASSERT_EQ(w.rows(), 2);
  EXPECT_DOUBLE_EQ(w.curves[0].values[1], 909.875);
  EXPECT_TRUE(std::isnan(w.curves[1].values[0]));  // DT -999.25 = NULL
  EXPECT_DOUBLE_EQ(w.curves[2].values[0], 2692.7075);
  EXPECT_DOUBLE_EQ(w.curves[35].values[1], 0.0);
  EXPECT_DOUBLE_EQ(w.curves[29].values[1], 0.0);
  EXPECT_DOUBLE_EQ(w.find("GR")->values[1], 90.2803);

  const las::LasFile kgs = las::read(las_path("1001178549.las"));  // wrapped, comments before ~Version
  EXPECT_TRUE(kgs.wrapped);
  EXPECT_DOUBLE_EQ(kgs.curves[0].values[0], 1783.5);
  EXPECT_GT(kgs.rows(), 1);
}

TEST(Las, NullValuesCommaDecimalsAndByteOrderMark) {
  REQUIRE_DATA("welllogs/las/null_policy_-999.25.las");
  const las::LasFile n = las::read(data_file.string());
  EXPECT_TRUE(std::isnan(n.find("DT")->values[0]));
  EXPECT_TRUE(std::isnan(n.find("DT")->values[1]));
  EXPECT_DOUBLE_EQ(n.find("DT")->values[2], 123.45);
  EXPECT_TRUE(std::isnan(n.find("SFLA")->values[2]));

  const las::LasFile c = las::read(las_path("comma_decimal_mark.las"));
  EXPECT_DOUBLE_EQ(c.find("SFLU")->values[1], 123.42);
  EXPECT_EQ(c.parameters[4].value, "2710,1000");  // header values are kept as text

  const las::LasFile bom = las::read(las_path("encodings_utf8wbom.las"));
  EXPECT_EQ(bom.version, "1.2");
  EXPECT_EQ(bom.curves.size(), 8u);

  const las::LasFile big = las::read(las_path("6038187_v1.2.las"));  // NULL -99999
  EXPECT_TRUE(std::isnan(big.find("GAMN")->values[0]));
  EXPECT_DOUBLE_EQ(big.find("GAMN")->values[1], -2324.28);
}

// las::format writes LAS 2.0 that reads back as it was: header items,
// parameters, other text, values and NULLs; STRT / STOP / STEP come from the
// index, and mnemonics lose the characters LAS cannot hold.
TEST(Las, WritesLas20ThatReadsBack) {
  REQUIRE_DATA("welllogs/las/sample.las");
  const las::LasFile in = las::read(data_file.string());
  las::LasFile f = in;
  f.curves.push_back({"NEW.CURVE", "V/V", "ADDED", std::vector<double>(size_t(in.rows()), 0.25)});
  f.curves.back().values[1] = std::nan("");
  const las::LasFile back = las::parse(las::format(f), "written.las");
  EXPECT_EQ(back.version, "2.0");
  EXPECT_FALSE(back.wrapped);
  ASSERT_EQ(back.curves.size(), f.curves.size());
  for (size_t c = 0; c < f.curves.size(); ++c) {
    EXPECT_EQ(back.curves[c].unit, f.curves[c].unit) << c;
    EXPECT_EQ(back.curves[c].description, f.curves[c].description) << c;
    ASSERT_EQ(back.curves[c].values.size(), f.curves[c].values.size()) << c;
    for (size_t r = 0; r < f.curves[c].values.size(); ++r) {
      const double want = f.curves[c].values[r], got = back.curves[c].values[r];
      if (std::isnan(want))
        EXPECT_TRUE(std::isnan(got)) << c << " " << r;
      else
        EXPECT_DOUBLE_EQ(got, want) << c << " " << r;
    }
  }
  EXPECT_EQ(back.curves.back().mnemonic, "NEW_CURVE");
  EXPECT_EQ(back.well_value("WELL"), in.well_value("WELL"));
  EXPECT_EQ(back.well_value("COMP"), in.well_value("COMP"));
  EXPECT_EQ(std::stod(back.well_value("STRT")), in.curves[0].values.front());
  EXPECT_EQ(std::stod(back.well_value("STOP")), in.curves[0].values.back());
  ASSERT_EQ(back.parameters.size(), in.parameters.size());
  for (size_t i = 0; i < in.parameters.size(); ++i) {
    EXPECT_EQ(back.parameters[i].mnemonic, in.parameters[i].mnemonic);
    EXPECT_EQ(back.parameters[i].value, in.parameters[i].value);
  }
  ASSERT_FALSE(in.other.empty());
  EXPECT_EQ(back.other, in.other);
  // Irregular depth steps: STEP 0.
  f.curves[0].values.back() += 0.1;
  EXPECT_EQ(las::parse(las::format(f), "w.las").well_value("STEP"), "0");
  f.curves.back().values.pop_back();
  expect_error([&] { las::format(f); }, "curve 'NEW.CURVE' has");
}

TEST(Las, ClearErrorsForBadFiles) {
  REQUIRE_DATA("welllogs/las/not_a_las_file.las");
  expect_error([&] { las::read(data_file.string()); }, "not a LAS file");
  expect_error([&] { las::read(las_path("header_only.las")); }, "no ~A (log data) section");
  expect_error([&] { las::read(las_path("no_such_file.las")); }, "cannot open");
  // ~ASCII present with no rows: a valid, empty file, which a well cannot be made of.
  EXPECT_EQ(las::read(las_path("missing_a_section.las")).rows(), 0);
  expect_error([&] { well_from_las(las_path("missing_a_section.las")); }, "holds no depth steps");
}

TEST(Las, MalformedTextNamesTheLine) {
  const std::string head = kMiniLas;
  EXPECT_EQ(las::parse(head + "100.0 50.0\n100.5 -999.25\n", "m.las").rows(), 2);
  expect_error([&] { las::parse(head + "100.0 50.0\n100.5\n", "m.las"); }, "m.las:12: 1 values in a data row, expected 2");
  expect_error([&] { las::parse(head + "100.0 abc\n", "m.las"); }, "m.las:11: 'abc' is not a number (curve GR)");
  expect_error([&] { las::parse("~VERSION\n VERS. 2.0 CWLS\n", "m.las"); }, "m.las:2: malformed header line");
  expect_error([&] { las::parse("~WELL\n WELL. X : W\n", "m.las"); }, "not a LAS file: the first section");
  std::string wrapped = head;
  wrapped.replace(wrapped.find("WRAP.   NO "), 11, "WRAP.   YES");
  EXPECT_EQ(las::parse(wrapped + "100.0\n50.0\n100.5\n51.0\n", "w.las").rows(), 2);
  expect_error([&] { las::parse(wrapped + "100.0\n50.0\n100.5\n", "w.las"); }, "end in the middle of a depth step");
  expect_error([&] { las::parse(head + "1 2\n~Other\n", "m.las"); }, "after the ~A data section");
  expect_error([&] { las::parse(head.substr(0, head.find("~CURVE")) + "~Log_Definition\n", "m.las"); },
               "is LAS 3.0, but the ~VERSION section says VERS 2.0");
}

TEST(Las, TrainingWellsTakeTheirLabelsFromTheLabelCurve) {
  // data.source: las reads the facies codes from the curve data.label_column names (any case; NULL: an unlabelled
  // sample), which is then not a log; eval --data FILE.las reads them the same way.
  const fs::path dir = test::fresh_dir("welllog", "las_labels");
  std::ofstream(dir / "w.las") << std::string(kMiniLas).replace(std::string(kMiniLas).find(" GR  .GAPI"), 0,
                                                                 " FACIES.  : FACIES CODE\n")
                               << "100.0 3 50.0\n100.5 -999.25 51.0\n101.0 4 52.0\n";
  const las::LasFile f = las::read((dir / "w.las").string());
  const Well w = well_from_las(f, "Facies");
  EXPECT_EQ(w.codes, (std::vector<int64_t>{3, -1, 4}));
  EXPECT_EQ(w.logs.count("FACIES"), 0u);
  EXPECT_EQ(w.logs.count("GR"), 1u);
  EXPECT_FALSE(well_from_las(f).has_labels());  // prediction: no label curve, FACIES is a log like any other
  EXPECT_EQ(well_from_las(f).logs.count("FACIES"), 1u);
  Config data = Config::parse(str_cat("{source: las, paths: [", (dir / "w.las").string(), "], label_column: facies}"),
                              "data");
  std::vector<Well> wells = load_wells(data);
  ASSERT_EQ(wells.size(), 1u);
  EXPECT_EQ(wells[0].codes, w.codes);
  EXPECT_EQ(load_wells_from_file((dir / "w.las").string(), data, true)[0].codes, w.codes);
  EXPECT_FALSE(load_wells_from_file((dir / "w.las").string(), data, false)[0].has_labels());
  std::ofstream(dir / "bad.las") << std::string(kMiniLas).replace(std::string(kMiniLas).find(" GR  .GAPI"), 0,
                                                                   " FACIES.  : FACIES CODE\n")
                                 << "100.0 3.5 50.0\n";
  expect_error([&] { well_from_las((dir / "bad.las").string(), "Facies"); },
               "bad.las: curve FACIES holds 3.5 at depth 100, not an integer label code");
  fs::remove_all(dir);
}

TEST(Las, ReadsVersion30LogDataSets) {
  // The CWLS sample: comma-delimited, the log's curves in ~Log_Definition, its data in ~Log_Data after core, tops,
  // drilling and other data sets (skipped), a string curve (CDES, {S}) left out, descriptions without {format}.
  REQUIRE_DATA("welllogs/las/sample_3.0.las");
  const las::LasFile f = las::read(data_file.string());
  EXPECT_EQ(f.version, "3.0");
  EXPECT_EQ(f.rows(), 3);
  std::vector<std::string> names;
  for (const las::Curve& c : f.curves) names.push_back(c.mnemonic);
  EXPECT_EQ(names, (std::vector<std::string>{"DEPT", "DT", "RHOB", "NPHI", "SFLU", "SFLA", "ILM", "ILD", "YME", "NMR[1]",
                                             "NMR[2]", "NMR[3]", "NMR[4]", "NMR[5]"}));
  EXPECT_EQ(f.curves[0].values, (std::vector<double>{1670.0, 1669.875, 1669.75}));
  EXPECT_EQ(f.find("YME")->values[1], 1.47e12);
  EXPECT_EQ(f.find("NMR[5]")->values[2], 17);
  EXPECT_EQ(f.curves[0].description, "DEPTH");
  EXPECT_EQ(f.well_value("WELL"), "ANY ET AL 12-34-12-34");
  EXPECT_EQ(f.well_value("DATE"), "13/12/1986");
  // Blank-delimited 3.0 data may quote strings; tab-delimited data split at tabs only; a bad DLM is named.
  const std::string v3 = "~Version\n VERS. 3.0 :\n WRAP. NO :\n DLM . DLMVALUE :\n~Well\n NULL. -999.25 :\n"
                         "~Log_Definition\n DEPT.M : depth {F}\n LITH. : lithology {S}\n GR.GAPI : gamma {F}\n"
                         "~Log_Data | Log_Definition\n";
  const auto with = [&](const std::string& dlm, const std::string& rows) {
    std::string t = v3;
    t.replace(t.find("DLMVALUE"), 8, dlm);
    return las::parse(t + rows, "v3.las");
  };
  const las::LasFile spaced = with("SPACE", "100.0 \"fine sand\" 50.5\n100.5 shale -999.25\n");
  ASSERT_EQ(spaced.curves.size(), 2u);
  EXPECT_EQ(spaced.curves[1].mnemonic, "GR");
  EXPECT_EQ(spaced.curves[1].values[0], 50.5);
  EXPECT_TRUE(std::isnan(spaced.curves[1].values[1]));
  EXPECT_EQ(with("TAB", "100.0\tfine sand\t50.5\n").curves[1].values[0], 50.5);
  expect_error([&] { with("COMMA", "100.0,sand,5x\n"); }, "v3.las:12: '5x' is not a number (curve GR)");
  expect_error([&] { with("COMMA", "100.0,sand\n"); }, "v3.las:12: 2 values in a data row, expected 3");
  expect_error([&] { with("SEMICOLON", ""); }, "v3.las:4: DLM must be SPACE, COMMA or TAB");
  expect_error([&] { with("COMMA", "1,a,2\n~Log_Data\n"); }, "a second log data section");
  expect_error([&] { las::parse("~Version\n VERS. 4.0 :\n", "v.las"); }, "unknown LAS version '4.0'");
}

// ---------------------------------------------------------------------------
// SEG 2016 table and preprocessing

TEST(Wells, Seg2016Table) {
  REQUIRE_DATA("welllogs/facies_vectors.csv");
  const std::vector<Well> wells = wells_from_table(read_csv(data_file.string()), Columns{});
  ASSERT_EQ(wells.size(), 10u);
  int64_t total = 0;
  std::set<int64_t> codes;
  for (const Well& w : wells) {
    total += w.length();
    codes.insert(w.codes.begin(), w.codes.end());
    EXPECT_EQ(w.logs.count("Formation"), 0u) << "a text column is not a log";
    EXPECT_EQ(w.logs.size(), 7u);
  }
  EXPECT_EQ(total, 4149);
  EXPECT_EQ(codes, (std::set<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(wells[0].name, "SHRIMPLIN");
  EXPECT_EQ(wells[0].length(), 471);
  EXPECT_DOUBLE_EQ(wells[0].logs.at("GR")[1], 78.26);
  int missing_pe = 0;
  for (const Well& w : wells) {
    const auto& pe = w.logs.at("PE");
    missing_pe += std::all_of(pe.begin(), pe.end(), [](double v) { return std::isnan(v); });
  }
  EXPECT_EQ(missing_pe, 2);  // ALEXANDER D and KIMZEY A have no PE
}

Well toy_well(const std::string& name, std::vector<double> a, std::vector<double> b, std::vector<int64_t> codes) {
  Well w;
  w.name = name;
  for (size_t i = 0; i < a.size(); ++i) w.depth.push_back(double(i)), w.rows.push_back(i);
  w.logs["A"] = std::move(a);
  if (!b.empty()) w.logs["B"] = std::move(b);
  w.codes = std::move(codes);
  return w;
}

TEST(Wells, StripPlotShowsEveryCurveBothFaciesColumnsAndTheClasses) {
  const double nan = std::nan("");
  Preprocessing p = Preprocessing::from_config(
      Config::parse("curves: [A, B, C]\nclasses: [3, 7]\nclass_names: [sand, shale]\ndepth_unit: ft\n"));
  // B has a gap and C is absent: the plot breaks the curve and says the curve is absent.
  const Well w = toy_well("W-1", {1, 2, 3, 4, 5, 6}, {10, nan, 12, 13, nan, 15}, {3, 3, 7, 7, 3, 7});
  const fs::path dir = fs::temp_directory_path() / "strata_test_strip";
  fs::remove_all(dir);
  fs::create_directories(dir);
  set_figure_formats({"png", "svg"});
  strip_plot((dir / "w.png").string(), w, p, {0, 0, 1, 1, 0, -1}, {0, 1, 1, 1, 0, 1});
  set_figure_formats({"png"});
  EXPECT_TRUE(fs::exists(dir / "w.png"));
  std::ifstream f(dir / "w.svg");
  const std::string svg((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (const char* text : {"well W-1", "A", "B", "C", "absent", "truth", "predicted", "3 sand", "7 shale", "depth (ft)"})
    EXPECT_NE(svg.find(std::string(">") + text + "</text>"), std::string::npos) << text;
  EXPECT_THROW(strip_plot((dir / "x.png").string(), w, p, {}, {0, 1}), Error);  // 2 predictions for 6 samples
}

TEST(Wells, NormalisationMissingValuesAndCurves) {
  const double nan = std::nan("");
  Config cfg = Config::parse("curves: [A, B]\nclasses: [3, 7]\nmissing: {values: interpolate, indicator: [B]}\n");
  Preprocessing p = Preprocessing::from_config(cfg);
  const Well w1 = toy_well("w1", {1, nan, 3, 5}, {10, 10, 20, 20}, {3, 7, 9, 3});
  const Well w2 = toy_well("w2", {7, 9, 11, 13}, {}, {});  // no curve B, unlabelled
  p.fit({w1, w2});
  // A: valid values 1, 3, 5, 7, 9, 11, 13 -> mean 7, population std 4.
  EXPECT_DOUBLE_EQ(p.mean[0], 7.0);
  EXPECT_DOUBLE_EQ(p.stddev[0], 4.0);
  EXPECT_DOUBLE_EQ(p.mean[1], 15.0);
  EXPECT_DOUBLE_EQ(p.stddev[1], 5.0);
  const std::vector<float> x = p.features(w1);  // channels A, B, B_missing
  ASSERT_EQ(x.size(), 12u);
  EXPECT_FLOAT_EQ(x[0], -1.5f);
  EXPECT_FLOAT_EQ(x[1], -1.25f);  // gap interpolated to 2
  EXPECT_FLOAT_EQ(x[4], -1.0f);
  EXPECT_FLOAT_EQ(x[8], 0.0f);    // B present: indicator 0
  const std::vector<float> x2 = p.features(w2);
  EXPECT_FLOAT_EQ(x2[4], 0.0f);  // B absent: training mean (0 after normalisation)
  EXPECT_FLOAT_EQ(x2[8], 1.0f);  // ... and flagged
  EXPECT_EQ(p.targets(w1), (std::vector<int64_t>{0, 1, -100, 0}));  // code 9 is not a class
  EXPECT_EQ(p.targets(w2), (std::vector<int64_t>(4, -100)));

  Preprocessing mean_fill = p;
  mean_fill.missing_values = "mean";
  EXPECT_FLOAT_EQ(mean_fill.features(w1)[1], 0.0f);

  Preprocessing drop = p;
  drop.missing_curve = "drop_well";
  std::string why;
  EXPECT_FALSE(drop.usable(w2, &why));
  EXPECT_EQ(why, "well 'w2' has no curve 'B'");
  Preprocessing strict = p;
  strict.missing_curve = "error";
  expect_error([&] { strict.usable(w2); }, "well 'w2' has no curve 'B' (data.missing.curve: error");
  expect_error([&] { Preprocessing::from_config(Config::parse("curves: [A]\nmissing: {indicator: [Z]}\n")); },
               "'Z' is not one of data.curves");
}

// data.per_well_min_samples: a curve with fewer valid samples in a well is
// standardised by the training statistics, not the well's own.
TEST(Wells, PerWellStatisticsNeedEnoughSamples) {
  const double nan = std::nan("");
  Preprocessing p = Preprocessing::from_config(
      Config::parse("curves: [A]\nnormalise_per_well: [A]\nper_well_min_samples: 4\n"));
  EXPECT_EQ(p.per_well_min_samples, 4);
  const Well big = toy_well("big", {2, 4, 6, 8}, {}, {});         // own mean 5, std sqrt(5)
  const Well small = toy_well("small", {10, nan, 12, nan}, {}, {});  // 2 valid samples
  p.fit({big, small});  // training: 2, 4, 6, 8, 10, 12 -> mean 7, std sqrt(35 / 3)
  EXPECT_FLOAT_EQ(p.features(big)[0], float(-3 / std::sqrt(5.0)));
  EXPECT_FLOAT_EQ(p.features(small)[0], float(3 / std::sqrt(35.0 / 3.0)));
  p.per_well_min_samples = 2;  // now the small well has enough: own mean 11, std 1
  EXPECT_FLOAT_EQ(p.features(small)[0], -1.0f);
  expect_error([] { Preprocessing::from_config(Config::parse("curves: [A]\nper_well_min_samples: -1\n")); },
               "per_well_min_samples");
}

// data.per_well_trim: each well's mean and standard deviation leave out the
// trimmed_count(n, trim) lowest and highest of its valid values, so a spike
// moves the scaling of the rest of the well less.
TEST(Wells, PerWellStatisticsTrimBothEnds) {
  const double nan = std::nan("");
  Preprocessing p =
      Preprocessing::from_config(Config::parse("curves: [A]\nnormalise_per_well: [A]\nper_well_trim: 0.2\n"));
  EXPECT_EQ(p.per_well_trim, 0.2);
  // 11 valid values: 0.2 * 11 = 2.2, so 2 cut at each end (-50, 1 and 9, 900); kept 2..8: mean 5, std 2.
  const Well w = toy_well("w", {5, 900, 3, nan, 1, 7, -50, 2, 8, 6, 4, 9}, {}, {});
  p.fit({w});
  const std::vector<float> x = p.features(w);
  EXPECT_FLOAT_EQ(x[0], 0.0f);
  EXPECT_FLOAT_EQ(x[2], -1.0f);
  EXPECT_FLOAT_EQ(x[1], 447.5f);
  p.per_well_trim = 0;  // every value: the spikes set the scale (mean 81.4, std 259), the rest squeezed together
  EXPECT_NEAR(p.features(w)[2], (3 - 895 / 11.0) / 259.36, 1e-3);
  expect_error([] { Preprocessing::from_config(Config::parse("curves: [A]\nper_well_trim: 0.5\n")); },
               "per_well_trim");
}

// A model curve NAME_log10 is suggested from the well's NAME (any case).
TEST(Wells, Log10CurvesAreSuggestedFromTheirLinearForm) {
  Well w;
  for (const char* curve : {"ild", "GR"}) w.logs[curve] = {10, 100};
  EXPECT_EQ(log10_entry("ILD_log10", w), "ILD_log10: log10(ild)");
  EXPECT_EQ(log10_entry("RT_log10", w), "");  // no RT
  EXPECT_EQ(log10_entry("GR", w), "");        // not a log10 curve
  EXPECT_EQ(log10_entry("_log10", w), "");
}

// data.curve_map expressions: precedence, functions, quoted names, missing
// values, errors that say where.
TEST(Wells, CurveMapComputesCurvesFromTheWellsOwn) {
  Well w;
  w.name = "W";
  w.depth = {1, 2, 3, 4};
  const double nan = std::nan("");
  w.logs["A"] = {1, 10, 100, 0};
  w.logs["B.X"] = {2, 4, nan, 8};
  w.logs["odd name"] = {5, 6, 7, 8};
  CurveMap m;
  m.add("sum", "A + 2 * B.X");
  m.add("mean", "(A + B.X) / 2");
  m.add("neg", "-A - -1");
  m.add("log", "log10(A)");
  m.add("quoted", "\"odd name\" * 0.5e1");
  m.add("fns", "abs(-sqrt(A)) + ln(exp(2))");
  m.add("A", "A / B.X");  // reads the loaded A, replaces it
  EXPECT_EQ(m.inputs(), (std::vector<std::string>{"A", "B.X", "odd name"}));
  m.apply(w);
  auto expect = [&](const std::string& curve, const std::vector<double>& want) {
    const std::vector<double>& got = w.logs.at(curve);
    ASSERT_EQ(got.size(), want.size()) << curve;
    for (size_t i = 0; i < want.size(); ++i) {
      if (std::isnan(want[i]))
        EXPECT_TRUE(std::isnan(got[i])) << curve << "[" << i << "] = " << got[i];
      else
        EXPECT_DOUBLE_EQ(got[i], want[i]) << curve << "[" << i << "]";
    }
  };
  expect("sum", {5, 18, nan, 16});
  expect("mean", {1.5, 7, nan, 4});
  expect("neg", {0, -9, -99, 1});
  expect("log", {0, 1, 2, nan});  // log10(0) is not finite: missing
  expect("quoted", {25, 30, 35, 40});
  expect("fns", {3, std::sqrt(10.0) + 2, 12, 2});
  expect("A", {0.5, 2.5, nan, 0});
  expect("B.X", {2, 4, nan, 8});  // inputs stay

  auto bad = [](const std::string& expr, const std::string& part) {
    expect_error([&] { CurveMap().add("C", expr, "data.curve_map.C"); }, part);
  };
  bad("A +", "data.curve_map.C: 'A +': expected a curve, a number or '(' at character 4");
  bad("log(A)", "unknown function 'log' (log10, ln, exp, sqrt, abs) at character 1");
  bad("(A + B", "expected ')'");
  bad("A B", "unexpected 'B' at character 3");
  bad("\"A", "unterminated quoted name");
  bad("A # B", "unexpected '#'");
  CurveMap twice;
  twice.add("C", "A");
  expect_error([&] { twice.add("C", "B.X"); }, "curve 'C' is mapped twice");
  CurveMap missing;
  missing.add("C", "A + Z", "data.curve_map.C");
  expect_error([&] { missing.apply(w); }, "data.curve_map.C: 'A + Z': well 'W' has no curve 'Z'; it has A, B.X");

  // From the config: absent is empty; a map parses every entry.
  Config none = Config::parse("x: 1\n");
  EXPECT_TRUE(CurveMap::from_config(none).empty());
  Config data = Config::parse("curve_map: {GR: GAMMA, ILD_log10: log10(ILD)}\n");
  const CurveMap parsed = CurveMap::from_config(data);
  EXPECT_EQ(parsed.inputs(), (std::vector<std::string>{"GAMMA", "ILD"}));
  expect_error([&] { CurveMap::from_config(Config::parse("curve_map: {GR: 2 *}\n")); }, "curve_map.GR: '2 *'");
}

// Curve and column names that differ from the config's in case only are read under the config's names; two such
// candidates, or an exact name, leave the well as it is.
TEST(Wells, NamesDifferingInCaseOnlyAreMatched) {
  Well w;
  w.name = "W";
  w.depth = {1, 2};
  w.logs["gr"] = {10, 20};
  w.logs["Rt"] = {1, 2};
  w.logs["RT"] = {3, 4};
  w.logs["pe"] = {5, 6};
  w.logs["PE"] = {7, 8};
  Config data = Config::parse("curves: [GR, rt, PE]\ncurve_map: {DEN: 2 * Den}\n");
  w.logs["den"] = {0.5, 1};
  testing::internal::CaptureStderr();
  CurveMap::from_config(data).apply(w);
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_EQ(w.logs.count("gr"), 0u);
  EXPECT_EQ(w.logs.at("GR"), (std::vector<double>{10, 20}));
  EXPECT_EQ(w.logs.count("rt"), 0u);                              // 'Rt' or 'RT': ambiguous, left alone
  EXPECT_EQ(w.logs.at("PE"), (std::vector<double>{7, 8}));        // the exact name wins
  EXPECT_EQ(w.logs.at("pe"), (std::vector<double>{5, 6}));
  EXPECT_EQ(w.logs.at("DEN"), (std::vector<double>{1, 2}));       // an expression's input matched too
  EXPECT_NE(said.find("note: curves read under the config's names, which they match but for case: gr as GR, "
                      "den as Den"), std::string::npos) << said;
  Table t;
  t.path = "t.csv";
  t.columns = {"WELL NAME", "depth", "Facies", "FACIES"};
  EXPECT_EQ(t.column("Well Name"), 0);
  EXPECT_EQ(t.column("Depth"), 1);
  EXPECT_EQ(t.column("Facies"), 2);
  EXPECT_EQ(t.column("facies"), -1);  // two candidates
  EXPECT_EQ(t.column("GR"), -1);
}

// Resampling to the training wells' spacing: grid depths on samples take
// their values, others interpolate (missing next to a missing value), labels
// and rows come from the nearest sample, in either depth direction.
TEST(Wells, ResampleToAnotherSpacing) {
  const double nan = std::nan("");
  Well w;
  w.name = "W";
  w.depth = {10, 10.25, 10.5, 10.75, 11, 11.25, 11.5};
  w.logs["A"] = {0, 1, 2, nan, 4, 5, 6};
  w.codes = {1, 1, 2, 2, 3, 3, 4};
  w.rows = {5, 6, 7, 8, 9, 10, 11};
  EXPECT_DOUBLE_EQ(median_depth_step(w), 0.25);
  const Well coarse = resample_well(w, 0.5);
  EXPECT_EQ(coarse.depth, (std::vector<double>{10, 10.5, 11, 11.5}));
  EXPECT_EQ(coarse.logs.at("A"), (std::vector<double>{0, 2, 4, 6}));  // the missing 10.75 is not on the grid
  EXPECT_EQ(coarse.codes, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(coarse.rows, (std::vector<size_t>{5, 7, 9, 11}));

  const Well fine = resample_well(coarse, 0.25);
  ASSERT_EQ(fine.depth.size(), 7u);
  EXPECT_EQ(fine.logs.at("A"), (std::vector<double>{0, 1, 2, 3, 4, 5, 6}));
  Well gap = coarse;
  gap.logs["A"][1] = nan;
  const std::vector<double> g = resample_well(gap, 0.25).logs.at("A");
  EXPECT_EQ(g[0], 0);
  EXPECT_TRUE(std::isnan(g[1]) && std::isnan(g[2]) && std::isnan(g[3]));
  EXPECT_EQ(g[4], 4);

  // Decreasing depths, a spacing that does not divide the span: the grid stops
  // before the last depth.
  Well down;
  down.name = "D";
  down.depth = {3, 2, 1, 0};
  down.logs["A"] = {30, 20, 10, 0};
  down.rows = {0, 1, 2, 3};
  const Well d = resample_well(down, 0.7);
  ASSERT_EQ(d.depth.size(), 5u);
  EXPECT_NEAR(d.depth.back(), 0.2, 1e-12);
  for (size_t i = 0; i < d.depth.size(); ++i) EXPECT_NEAR(d.logs.at("A")[i], 10 * d.depth[i], 1e-9) << i;
  EXPECT_EQ(d.rows, (std::vector<size_t>{0, 1, 1, 2, 3}));  // nearest: 3, 2.3, 1.6, 0.9, 0.2

  // A repeated depth (SHRIMPLIN has one) does not stop resampling.
  Well repeated = down;
  repeated.depth = {0, 1, 1, 2};
  repeated.logs["A"] = {0, 10, 10, 20};
  ASSERT_TRUE(monotonic_depth(repeated));
  EXPECT_EQ(resample_well(repeated, 0.5).logs.at("A"), (std::vector<double>{0, 5, 10, 15, 20}));
  repeated.depth = {0, 1, 2, 2};
  EXPECT_EQ(resample_well(repeated, 0.5).logs.at("A"), (std::vector<double>{0, 5, 10, 10, 10}));

  Well jumpy = down;
  jumpy.depth = {0, 1, 0.5, 2};
  EXPECT_FALSE(monotonic_depth(jumpy));
  expect_error([&] { resample_well(jumpy, 0.5); }, "well 'D': depths are not monotonic");
  jumpy.depth = {1, 1, 1, 1};
  EXPECT_FALSE(monotonic_depth(jumpy));
  EXPECT_EQ(median_depth_step(std::vector<Well>{}), 0);
}

TEST(Wells, DepthUnits) {
  for (const char* ft : {"FT", "ft", "F", "Feet", "FOOT"}) EXPECT_EQ(depth_unit_of(ft), "ft") << ft;
  for (const char* m : {"M", "m", "METERS", "Metre", "metres"}) EXPECT_EQ(depth_unit_of(m), "m") << m;
  for (const char* other : {"", "S", "MS", "US/F", "FTT"}) EXPECT_EQ(depth_unit_of(other), "") << other;
  EXPECT_DOUBLE_EQ(feet_per("ft"), 1.0);
  EXPECT_NEAR(feet_per("m") * 0.3048, 1.0, 1e-15);
  expect_error([] { feet_per("yd"); }, "unknown depth unit 'yd'");
  const fs::path file = test::fresh_dir("welllog", "units") / "m.las";
  std::ofstream(file) << kMiniLas << "1 2\n2 3\n";
  EXPECT_EQ(well_from_las(file.string()).depth_unit, "m");
  Config data = Config::parse("depth_unit: ft\n");
  EXPECT_EQ(Preprocessing::from_config(data).depth_unit, "ft");
  EXPECT_EQ(Preprocessing::from_config(Config::parse("x: 1\n")).depth_unit, "");
  expect_error([] { Preprocessing::from_config(Config::parse("depth_unit: yards\n")); }, "depth_unit");
}

TEST(Wells, WindowsFoldsAndLabelledSubsets) {
  EXPECT_EQ(window_starts(10, 4, 3), (std::vector<int64_t>{0, 3, 6}));
  EXPECT_EQ(window_starts(11, 4, 3), (std::vector<int64_t>{0, 3, 6, 7}));
  EXPECT_EQ(window_starts(3, 4, 3), (std::vector<int64_t>{0}));
  const std::vector<int64_t> f = fold_of_wells(10, 5, 0);
  for (int64_t k = 0; k < 5; ++k) EXPECT_EQ(std::count(f.begin(), f.end(), k), 2);
  const std::vector<int64_t> lowo = fold_of_wells(10, 10, 3);
  EXPECT_EQ(std::set<int64_t>(lowo.begin(), lowo.end()).size(), 10u);
  expect_error([] { fold_of_wells(4, 5, 0); }, "cv.folds: 5 folds need between 2 and 4 wells");
  EXPECT_EQ(labelled_subset(8, 0.25, 1).size(), 2u);
  EXPECT_EQ(labelled_subset(8, 0.125, 1).size(), 1u);
  EXPECT_EQ(labelled_subset(8, 1.0, 1).size(), 8u);
  EXPECT_EQ(labelled_subset(8, 0.5, 4), labelled_subset(8, 0.5, 4));
  EXPECT_NE(labelled_subset(8, 0.5, 4), labelled_subset(8, 0.5, 5));
}

TEST(Wells, SyntheticShapesFollowTheirClass) {
  SyntheticOptions o;
  o.wells = 6;
  o.noise = 0;
  const std::vector<Well> wells = synthetic_gamma_wells(o);
  ASSERT_EQ(wells.size(), 6u);
  std::set<int64_t> seen;
  int checked = 0;
  for (const Well& w : wells) {
    EXPECT_GE(w.length(), o.min_length);
    EXPECT_LE(w.length(), o.max_length);
    const std::vector<double>& gr = w.logs.at("GR");
    // Each body: contiguous run of one class; compare its top, middle and base.
    for (int64_t i = 0; i < w.length();) {
      int64_t j = i;
      while (j < w.length() && w.codes[size_t(j)] == w.codes[size_t(i)]) ++j;
      const int64_t c = w.codes[size_t(i)];
      seen.insert(c);
      if (c > 0 && j - i >= 9 && j < w.length() && i > 0 && w.codes[size_t(i - 1)] == 0 && w.codes[size_t(j)] == 0) {
        const double top = gr[size_t(i)], mid = gr[size_t((i + j - 1) / 2)], base = gr[size_t(j - 1)];
        const double shale = gr[size_t(i - 1)];
        EXPECT_LT(std::min({top, mid, base}), shale - 5) << w.name << " class " << c << " at " << i;
        if (c == 1) { EXPECT_LT(mid, std::min(top, base) - 1) << "symmetrical: cleanest in the middle"; }
        if (c == 2) { EXPECT_NEAR(top, base, 3.0) << "cylindrical: blocky"; }
        if (c == 3) { EXPECT_LT(top, base - 5) << "funnel: clean top"; }
        if (c == 4) { EXPECT_GT(top, base + 5) << "bell: clean base"; }
        ++checked;
      }
      i = j;
    }
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_GT(checked, 20);
  // Deterministic for a seed, different for another.
  EXPECT_EQ(synthetic_gamma_wells(o)[2].logs.at("GR"), wells[2].logs.at("GR"));
  o.seed = 8;
  EXPECT_NE(synthetic_gamma_wells(o)[2].logs.at("GR"), wells[2].logs.at("GR"));
}

// ---------------------------------------------------------------------------
// inference and training

TEST(Facies, StitchedWindowsEqualWholeWellForPointwiseModel) {
  // A 1x1 convolution has no context, so windows stitched with any taper must
  // reproduce the whole-well probabilities exactly.
  manual_seed(3);
  Sequential model;
  model.add(std::make_shared<Conv1d>(2, 4, 1));
  Sample s;
  s.length = 203;
  Tensor x = Tensor::randn({2, s.length});
  s.x = x.to_vector<float>();
  const std::vector<float> whole = predict_probs(model, s, 4, 0, 0);
  const std::vector<float> stitched = predict_probs(model, s, 4, 64, 24);
  ASSERT_EQ(whole.size(), stitched.size());
  for (size_t i = 0; i < whole.size(); ++i) ASSERT_NEAR(whole[i], stitched[i], 1e-6) << i;
  for (int64_t j = 0; j < s.length; ++j) {
    double sum = 0;
    for (int64_t k = 0; k < 4; ++k) sum += stitched[size_t(k * s.length + j)];
    ASSERT_NEAR(sum, 1.0, 1e-5);
  }
  // (classes x length): sample 0 scores 0.1 / 0.9, sample 1 scores 0.7 / 0.3.
  EXPECT_EQ(argmax_classes({0.1f, 0.7f, 0.9f, 0.3f}, 2, 2), (std::vector<int64_t>{1, 0}));
}

namespace {

const char* kSynthConfig =
    "version: 1\n"
    "data:\n"
    "  source: synthetic\n"
    "  synthetic: {wells: 12, min_length: 300, max_length: 400, noise: 6.0, seed: 5}\n"
    "  curves: [GR]\n"
    "  classes: [0, 1, 2, 3, 4]\n"
    "  class_names: [none, symmetrical, cylindrical, funnel, bell]\n"
    "  window: 64\n"
    "  stride: 32\n"
    "model: {type: unet1d, base: 8, depth: 3, dropout: 0.1}\n"
    "train: {mode: semi, epochs: 2, batch: 8, seed: 1, semi_start: 0, progress: false}\n"
    "optimizer: {type: adam, lr: 0.003}\n"
    "discriminator: {model: {width: 16}}\n"
    "inference: {window: 128, stride: 32}\n";

struct SynthSetup {
  Config cfg;
  Preprocessing pre;
  std::vector<Sample> labelled, unlabelled;
};

SynthSetup synthetic_setup(const std::string& overrides = "", size_t n_labelled = 4) {
  SynthSetup s{Config::parse(kSynthConfig, "test.yaml"), {}, {}, {}};
  if (!overrides.empty()) s.cfg.apply_override(overrides);
  const Config data = s.cfg.section("data");
  s.pre = Preprocessing::from_config(data);
  std::vector<Well> wells = load_wells(data);
  s.pre.fit(wells);
  std::vector<Well> lab(wells.begin(), wells.begin() + ptrdiff_t(n_labelled)),
      unl(wells.begin() + ptrdiff_t(n_labelled), wells.end());
  for (Well& w : unl) w.codes.clear();
  s.labelled = prepare(s.pre, lab);
  s.unlabelled = prepare(s.pre, unl);
  return s;
}

std::vector<float> flat_weights(Module& m) {
  std::vector<float> out;
  for (const auto& [name, t] : m.named_parameters()) {
    const std::vector<float> v = t.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace

// Which wells keep their labels: wells without any label of the model's
// classes and the extra (held-out) wells are always unlabelled, the fraction
// counts labelled wells only, and no unlabelled well reaches the trainer with
// a label.
TEST(Wells, TrainingSplitLabelsOnlyTheChosenWells) {
  SynthSetup s = synthetic_setup();
  std::vector<Well> wells = load_wells(s.cfg.section("data"));
  ASSERT_EQ(wells.size(), 12u);
  const std::vector<Well> held(wells.begin() + 10, wells.end());
  std::vector<Well> train(wells.begin(), wells.begin() + 10);
  train[3].codes.clear();                                // a well without a label column
  train[7].codes.assign(train[7].codes.size(), 9);       // codes outside data.classes
  const auto names = [](const std::vector<Well>& ws) {
    std::set<std::string> n;
    for (const Well& w : ws) n.insert(w.name);
    return n;
  };
  for (double fraction : {1.0, 0.5, 0.125}) {
    const WellSplit split = split_training_wells(s.pre, train, fraction, 7, held);
    const size_t expect_labelled = fraction == 1.0 ? 8u : fraction == 0.5 ? 4u : 1u;  // of the 8 labelled wells
    EXPECT_EQ(split.labelled.size(), expect_labelled) << fraction;
    EXPECT_EQ(split.labelled.size() + split.unlabelled.size(), 12u) << fraction;
    const std::set<std::string> lab = names(split.labelled), unl = names(split.unlabelled);
    for (const std::string& n : {train[3].name, train[7].name, held[0].name, held[1].name})
      EXPECT_TRUE(unl.count(n) && !lab.count(n)) << n << " at fraction " << fraction;
    for (const Well& w : split.unlabelled) EXPECT_FALSE(w.has_labels()) << w.name;
    for (const Well& w : split.labelled) EXPECT_TRUE(w.has_labels()) << w.name;
  }
  // Without label-less wells, the split is labelled_subset's, as before.
  const std::vector<Well> clean(wells.begin(), wells.begin() + 8);
  const WellSplit plain = split_training_wells(s.pre, clean, 0.25, 3);
  const std::vector<size_t> idx = labelled_subset(8, 0.25, 3);
  ASSERT_EQ(plain.labelled.size(), idx.size());
  for (size_t i = 0; i < idx.size(); ++i) EXPECT_EQ(plain.labelled[i].name, clean[idx[i]].name);
  std::vector<Well> none = {train[3], train[7]};
  expect_error([&] { split_training_wells(s.pre, none, 1.0, 1); }, "none of the 2 training wells has a label");
}

TEST(Facies, HungTermsAndConfidenceThreshold) {
  SynthSetup s = synthetic_setup();
  for (const Sample& u : s.unlabelled)
    ASSERT_TRUE(std::all_of(u.y.begin(), u.y.end(), [](int64_t y) { return y == -100; })) << "labels leaked";
  manual_seed(1);
  FaciesTrainer t(s.cfg, s.pre, s.labelled, s.unlabelled, 2, 1);
  const StepResult r = t.step(0, 0);
  const auto& terms = t.last_terms();
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_GT(terms.ce, 0);
  EXPECT_GT(terms.adv, 0);
  EXPECT_GT(terms.semi_adv, 0);
  EXPECT_GT(terms.d, 0);
  // The total is CE + 0.01 adv + 0.001 semi_adv + 0.1 semi.
  EXPECT_NEAR(r.loss, terms.ce + 0.01 * terms.adv + 0.001 * terms.semi_adv + 0.1 * terms.semi, 1e-4);

  // T_semi = 0: every unlabelled sample is a target; T_semi = 1: none.
  SynthSetup all = synthetic_setup("train.t_semi=0");
  manual_seed(1);
  FaciesTrainer t0(all.cfg, all.pre, all.labelled, all.unlabelled, 2, 1);
  t0.step(0, 0);
  EXPECT_EQ(t0.last_terms().confident, 8 * 64);
  EXPECT_GT(t0.last_terms().semi, 0);
  SynthSetup none = synthetic_setup("train.t_semi=1");
  manual_seed(1);
  FaciesTrainer t1(none.cfg, none.pre, none.labelled, none.unlabelled, 2, 1);
  t1.step(0, 0);
  EXPECT_EQ(t1.last_terms().confident, 0);
  EXPECT_EQ(t1.last_terms().semi, 0);

  // Supervised: no adversarial terms at all.
  SynthSetup sup = synthetic_setup("train.mode=supervised");
  manual_seed(1);
  FaciesTrainer ts(sup.cfg, sup.pre, sup.labelled, sup.unlabelled, 2, 1);
  const StepResult rs = ts.step(0, 0);
  EXPECT_EQ(ts.last_terms().adv, 0);
  EXPECT_EQ(ts.last_terms().d, 0);
  EXPECT_DOUBLE_EQ(rs.loss, ts.last_terms().ce);

  // The adversarial gradient reaches the segmentation network through the
  // frozen discriminator: same initialisation, same batch, different weights.
  SynthSetup adv = synthetic_setup("train.mode=adversarial");
  adv.cfg.apply_override("train.lambda_adv=10");
  manual_seed(1);
  FaciesTrainer ta(adv.cfg, adv.pre, adv.labelled, adv.unlabelled, 2, 1);
  manual_seed(1);
  FaciesTrainer tb(sup.cfg, sup.pre, sup.labelled, sup.unlabelled, 2, 1);
  EXPECT_EQ(flat_weights(ta.model()), flat_weights(tb.model()));
  ta.step(0, 0);
  tb.step(0, 0);
  EXPECT_NE(flat_weights(ta.model()), flat_weights(tb.model()));
}

// train.semi_targets=clean: the semi CE targets and D's confidence come from a
// teacher pass over the unaugmented windows in eval mode. Without anything
// that tells the passes apart (no batch norm, dropout, noise) it is the
// paper's self-training term exactly; with input noise and network dropout it
// is not, and S is back in training mode after the step.
TEST(Facies, CleanSemiTargets) {
  const std::string plain = "model={type: unet1d, base: 8, depth: 3, dropout: 0, batchnorm: false}";
  auto run = [](const std::vector<std::string>& overrides) {
    SynthSetup s = synthetic_setup("optimizer.lr=0.05");  // a fresh config: copies share their YAML nodes
    for (const std::string& o : overrides) s.cfg.apply_override(o);
    manual_seed(1);
    FaciesTrainer t(s.cfg, s.pre, s.labelled, s.unlabelled, 2, 1);
    for (int64_t b = 0; b < 3; ++b) t.step(0, b);
    EXPECT_TRUE(t.trained_model().training());
    return std::make_pair(t.last_terms(), flat_weights(t.trained_model()));
  };
  const auto self = run({plain});
  const auto clean = run({plain, "train.semi_targets=clean"});
  EXPECT_GT(self.first.confident, 0);
  EXPECT_EQ(clean.first.confident, self.first.confident);
  EXPECT_DOUBLE_EQ(clean.first.semi, self.first.semi);
  EXPECT_EQ(clean.second, self.second);

  const auto noisy_self = run({"train.input_noise=3"});
  const auto noisy_clean = run({"train.input_noise=3", "train.semi_targets=clean"});
  EXPECT_GT(noisy_clean.first.confident, 0);
  EXPECT_NE(noisy_clean.first.semi, noisy_self.first.semi);
  EXPECT_NE(noisy_clean.second, noisy_self.second);

  SynthSetup bad = synthetic_setup("train.semi_targets=teacher");
  expect_error([&] { FaciesTrainer(bad.cfg, bad.pre, bad.labelled, bad.unlabelled, 2, 1); },
               "train.semi_targets");
}

// train.semi_confidence=softmax: a pseudo-label is trusted where the targets' top class probability passes
// t_semi. Five classes: every sample's top probability is at least 1/5, and below 1; the count falls as the
// threshold rises, and some threshold between splits the samples.
TEST(Facies, SoftmaxConfidenceGatesPseudoLabels) {
  const auto confident = [](const std::string& t_semi) {
    SynthSetup s = synthetic_setup("train.semi_confidence=softmax");
    s.cfg.apply_override("train.t_semi=" + t_semi);
    manual_seed(1);
    FaciesTrainer t(s.cfg, s.pre, s.labelled, s.unlabelled, 2, 1);
    t.step(0, 0);
    return t.last_terms().confident;
  };
  EXPECT_EQ(confident("0.19"), 8 * 64);
  EXPECT_EQ(confident("0.9999"), 0);
  int64_t previous = 8 * 64;
  bool split = false;
  for (const char* t : {"0.21", "0.22", "0.24", "0.27", "0.3", "0.35", "0.45"}) {
    const int64_t n = confident(t);
    EXPECT_LE(n, previous) << t;
    split = split || (n > 0 && n < 8 * 64);
    previous = n;
  }
  EXPECT_TRUE(split);
  SynthSetup bad = synthetic_setup("train.semi_confidence=entropy");
  expect_error([&] { FaciesTrainer(bad.cfg, bad.pre, bad.labelled, bad.unlabelled, 2, 1); }, "train.semi_confidence");
}

// train.lambda_consistency: the squared distance between S's probabilities on the unlabelled windows with noise
// and the clean teacher's. With nothing that tells the two passes apart the term is zero and training is the
// same as without it; with input noise it is positive, enters the loss with its weight and ramp, and changes
// what S learns.
TEST(Facies, ConsistencyTermTiesNoisyToCleanPredictions) {
  const std::string plain = "model={type: unet1d, base: 8, depth: 3, dropout: 0, batchnorm: false}";
  auto run = [](const std::vector<std::string>& overrides, int64_t steps = 3) {
    SynthSetup s = synthetic_setup("train.lambda_semi=0");
    for (const std::string& o : overrides) s.cfg.apply_override(o);
    manual_seed(1);
    FaciesTrainer t(s.cfg, s.pre, s.labelled, s.unlabelled, 2, 1);
    StepResult r{};
    for (int64_t b = 0; b < steps; ++b) r = t.step(0, b);
    EXPECT_TRUE(t.trained_model().training());
    return std::make_tuple(t.last_terms(), flat_weights(t.trained_model()), r.loss);
  };
  const auto without = run({plain});
  const auto same = run({plain, "train.lambda_consistency=5"});
  EXPECT_EQ(std::get<0>(same).consistency, 0);
  EXPECT_EQ(std::get<1>(same), std::get<1>(without));

  const auto noisy = run({"train.input_noise=2"}, 1);
  const auto tied = run({"train.input_noise=2", "train.lambda_consistency=5"}, 1);
  const auto ramped = run({"train.input_noise=2", "train.lambda_consistency=5", "train.consistency_rampup=100"}, 1);
  const auto& terms = std::get<0>(tied);
  EXPECT_EQ(std::get<0>(noisy).consistency, 0);
  EXPECT_GT(terms.consistency, 1e-4);
  EXPECT_LT(terms.consistency, 2.0);  // a squared distance between two probability vectors
  // Same batch, same first step: only the new term differs, at full weight or at exp(-5) of it (step 0 of 100).
  EXPECT_NEAR(std::get<2>(tied) - std::get<2>(noisy), 5 * terms.consistency, 1e-4);
  EXPECT_NEAR(std::get<2>(ramped) - std::get<2>(noisy), 5 * std::exp(-5.0) * terms.consistency, 1e-4);
  EXPECT_NE(std::get<1>(tied), std::get<1>(noisy));
}

TEST(Facies, ResumeMidEpochGivesIdenticalWeights) {
  for (const std::string& overrides : {std::string("train.mode=semi"), std::string("train.ema=0.9")}) {
    SCOPED_TRACE(overrides);
    SynthSetup s = synthetic_setup(overrides);
    manual_seed(1);
    FaciesTrainer straight(s.cfg, s.pre, s.labelled, s.unlabelled, 2, 1);
    ASSERT_GE(straight.steps_per_epoch(), 3);
    for (int64_t b = 0; b < 3; ++b) straight.step(0, b);

    manual_seed(1);
    FaciesTrainer first(s.cfg, s.pre, s.labelled, s.unlabelled, 2, 1);
    first.step(0, 0);
    Checkpoint ck;
    first.save(ck);
    ck.set_rng(default_generator());
    const fs::path file = test::fresh_dir("welllog", "resume") / "ck.safetensors";
    ck.save(file.string());

    manual_seed(99);  // a different initialisation, overwritten by the checkpoint
    FaciesTrainer resumed(s.cfg, s.pre, s.labelled, s.unlabelled, 2, 1);
    const Checkpoint loaded = Checkpoint::load(file.string());
    resumed.load(loaded);
    loaded.restore_rng(default_generator());
    resumed.step(0, 1);
    resumed.step(0, 2);
    EXPECT_EQ(flat_weights(resumed.trained_model()), flat_weights(straight.trained_model()));
    EXPECT_EQ(flat_weights(resumed.model()), flat_weights(straight.model()));
  }
}

TEST(Facies, WeightAverageFollowsTheTrainedWeights) {
  SynthSetup s = synthetic_setup("train.mode=supervised");
  s.cfg.apply_override("train.ema=0.9");
  s.cfg.apply_override("train.steps_per_epoch=20");
  manual_seed(1);
  FaciesTrainer t(s.cfg, s.pre, s.labelled, {}, 2, 1);
  std::vector<float> avg = flat_weights(t.model());
  ASSERT_EQ(avg, flat_weights(t.trained_model())) << "the average starts at the initial weights";
  double largest_step = 0;
  for (int64_t b = 0; b < 20; ++b) {
    t.step(0, b);
    // decay min(0.9, (1 + steps) / (10 + steps)) after `steps` updates
    const double d = std::min(0.9, (1.0 + double(b + 1)) / (10.0 + double(b + 1)));
    const std::vector<float> w = flat_weights(t.trained_model()), now = flat_weights(t.model());
    ASSERT_EQ(now.size(), w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      const double want = d * double(avg[i]) + (1 - d) * double(w[i]);
      ASSERT_NEAR(now[i], want, 1e-6 * (1 + std::abs(want))) << "step " << b << " weight " << i;
      largest_step = std::max(largest_step, double(std::abs(now[i] - avg[i])));
    }
    avg = now;
  }
  EXPECT_GT(largest_step, 0);
  EXPECT_NE(flat_weights(t.model()), flat_weights(t.trained_model()));
  // eval / predict load "model." as a trainer without an average does: they get the average.
  Checkpoint ck;
  t.save(ck);
  SynthSetup plain = synthetic_setup("train.mode=supervised");
  manual_seed(2);
  FaciesTrainer reader(plain.cfg, plain.pre, plain.labelled, {}, 2, 1);
  reader.load(ck);
  EXPECT_EQ(flat_weights(reader.model()), flat_weights(t.model()));
}

TEST(Facies, CurveDropoutFillsWholeCurvesAndSetsTheirIndicators) {
  // One curve (GR) with a missing indicator: channel 0 is GR, channel 1 GR_missing.
  auto batch_of = [](double p, int64_t batch, Tensor& x, Tensor& valid) {
    SynthSetup s = synthetic_setup("data.missing.indicator=[GR]");
    ASSERT_EQ(s.pre.channels(), 2);
    s.cfg.apply_override("train.mode=supervised");
    s.cfg.apply_override("train.steps_per_epoch=8");  // full batches of 8 windows
    s.cfg.apply_override(str_cat("train.curve_dropout=", p));
    manual_seed(1);
    FaciesTrainer t(s.cfg, s.pre, s.labelled, {}, 2, 1);
    Tensor y;
    t.labelled_batch(0, batch, x, y, valid);
    ASSERT_EQ(x.shape(), (Shape{8, 2, 64}));
  };
  Tensor x, valid;
  batch_of(0.0, 0, x, valid);
  std::vector<float> v = x.to_vector<float>();
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_TRUE(std::all_of(v.begin() + (i * 2 + 1) * 64, v.begin() + (i * 2 + 2) * 64, [](float f) { return f == 0; }))
        << "no GR value is missing in the synthetic wells";
    EXPECT_TRUE(std::any_of(v.begin() + i * 2 * 64, v.begin() + (i * 2 + 1) * 64, [](float f) { return f != 0; }));
  }
  batch_of(1.0, 0, x, valid);
  v = x.to_vector<float>();
  const std::vector<float> m = valid.to_vector<float>();
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t t = 0; t < 64; ++t) {
      EXPECT_EQ(v[size_t((i * 2) * 64 + t)], 0.f) << "a dropped curve holds its fill (0 after normalisation)";
      EXPECT_EQ(v[size_t((i * 2 + 1) * 64 + t)], m[size_t(i * 64 + t)]) << "indicator = 1 on every valid sample";
    }
  // p = 0.5: about half of the windows lose GR, each window all or nothing.
  int64_t dropped = 0, windows = 0;
  for (int64_t b = 0; b < 6; ++b) {
    batch_of(0.5, b, x, valid);
    v = x.to_vector<float>();
    for (int64_t i = 0; i < 8; ++i, ++windows) {
      const auto flag = v.begin() + (i * 2 + 1) * 64;
      const bool gone = *flag == 1.f;
      EXPECT_TRUE(std::all_of(flag, flag + 64, [&](float f) { return f == (gone ? 1.f : 0.f); }));
      dropped += gone;
    }
  }
  EXPECT_GT(dropped, windows / 4);
  EXPECT_LT(dropped, 3 * windows / 4);

  // Without indicator curves there is nothing to drop: a config error naming the key.
  SynthSetup plain = synthetic_setup("train.curve_dropout=0.2");
  try {
    FaciesTrainer t(plain.cfg, plain.pre, plain.labelled, {}, 2, 1);
    FAIL() << "curve_dropout without indicators was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("curve_dropout"), std::string::npos) << e.what();
  }
}

TEST(Facies, DepthStretchResamplesCurvesAndLabelsTogether) {
  // One labelled well whose only curve is its depth index and whose label
  // changes every 10 samples: a stretched window must read the curve on an
  // evenly spaced grid (slope = the stretch) and carry the label found at the
  // nearest sample of that grid.
  SynthSetup s = synthetic_setup("train.mode=supervised");
  ASSERT_EQ(s.pre.channels(), 1);
  Sample well;
  well.name = "ramp";
  well.length = 300;
  for (int64_t i = 0; i < well.length; ++i) {
    well.x.push_back(float(i));
    well.y.push_back((i / 10) % 5);
  }
  auto slopes = [&](double stretch) {
    s.cfg.apply_override(str_cat("train.stretch=", stretch));
    s.cfg.apply_override("train.steps_per_epoch=8");
    FaciesTrainer t(s.cfg, s.pre, {well}, {}, 2, 1);
    std::vector<double> out;
    for (int64_t b = 0; b < 4; ++b) {
      Tensor x, y, valid;
      t.labelled_batch(0, b, x, y, valid);
      const std::vector<float> xv = x.to_vector<float>(), mv = valid.to_vector<float>();
      const std::vector<int64_t> yv = y.to_vector<int64_t>();
      for (int64_t i = 0; i < x.size(0); ++i) {
        const float* r = &xv[size_t(i * 64)];
        const double slope = double(r[63] - r[0]) / 63.0;
        for (int64_t j = 0; j < 64; ++j) {
          const size_t at = size_t(i * 64 + j);
          EXPECT_EQ(mv[at], 1.f) << "every window lies inside the 300-sample well";
          EXPECT_NEAR(r[j], r[0] + slope * double(j), 1e-3) << "window " << i << " sample " << j;
          const double frac = r[j] - std::floor(r[j]);
          if (std::abs(frac - 0.5) > 1e-3) {
            EXPECT_EQ(yv[at], (std::lround(r[j]) / 10) % 5) << "window " << i << " sample " << j << " at " << r[j];
          }
        }
        out.push_back(slope);
      }
    }
    return out;
  };
  for (double slope : slopes(0.0)) EXPECT_DOUBLE_EQ(slope, 1.0);
  const std::vector<double> stretched = slopes(0.25);
  for (double slope : stretched) {
    EXPECT_GE(slope, 1 / 1.25 - 1e-6);
    EXPECT_LE(slope, 1.25 + 1e-6);
  }
  const auto [lo, hi] = std::minmax_element(stretched.begin(), stretched.end());
  EXPECT_LT(*lo, 0.95) << "some windows are compressed";
  EXPECT_GT(*hi, 1.05) << "some windows are stretched";
}

TEST(Facies, SupervisedTrainingLearnsSyntheticShapes) {
  SynthSetup s = synthetic_setup("train.mode=supervised", 8);
  s.cfg.apply_override("data.stride=8");  // more windows per epoch
  manual_seed(1);
  FaciesTrainer t(s.cfg, s.pre, s.labelled, {}, 40, 1);
  const ConfusionMatrix before = evaluate(t.model(), s.labelled, 5, 128, 32);
  for (int64_t e = 0; e < 40; ++e)
    for (int64_t b = 0; b < t.steps_per_epoch(); ++b) t.step(e, b);
  // Held-out wells: the unlabelled ones, with their labels read back.
  const std::vector<Well> wells = load_wells(s.cfg.section("data"));
  const std::vector<Sample> held = prepare(s.pre, std::vector<Well>(wells.begin() + 8, wells.end()));
  const ConfusionMatrix after = evaluate(t.model(), held, 5, 128, 32);
  EXPECT_GT(after.f1_micro(), 0.85) << "before training: " << before.f1_micro();
  EXPECT_LT(before.f1_micro(), 0.7);
}

// ---------------------------------------------------------------------------
// the app

// `train` on kSynthConfig (+ the YAML `extra`) written to a fresh folder
// `name`, the run going to <folder>/run.
AppArgs synthetic_train(const std::string& name, const std::string& extra = "") {
  const fs::path dir = test::fresh_dir("welllog", name);
  std::ofstream(dir / "synth.yaml") << kSynthConfig << extra;
  AppArgs a;
  a.command = "train";
  a.config = (dir / "synth.yaml").string();
  a.out = (dir / "run").string();
  return a;
}

TEST(App, TrainEvalPredictOnSyntheticWells) {
  AppArgs a = synthetic_train("app", "cv: {folds: 2, final: true, modes: [supervised]}\n");
  const fs::path dir = fs::path(a.out).parent_path();
  a.overrides = {"train.mode=supervised", "data.val_wells=[SYN-001, SYN-002]", "train.epochs=3"};
  ASSERT_EQ(train_command(a), 0);
  for (const char* f : {"config.yaml", "best.safetensors", "last.safetensors", "metrics.csv", "cv_folds.csv",
                        "cv_summary.md", "confusion_supervised_all.png", "wells/SYN-001.png", "confusion_val.png"})
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;

  // Predict on a CSV of two wells without labels and on a LAS file.
  const fs::path csv = dir / "in.csv";
  {
    std::ofstream f(csv);
    f << "Well Name,Depth,GR,Comment\n";
    for (int i = 0; i < 150; ++i) f << "A," << 1000 + 0.5 * i << "," << (i % 50 < 20 ? 45 : 110) << ",\"x, y\"\n";
    for (int i = 0; i < 90; ++i) f << "B," << 2000 + 0.5 * i << "," << (i < 40 ? 100 : 40 + i * 0.5) << ",z\n";
  }
  AppArgs p;
  p.command = "predict";
  p.checkpoint = (dir / "run" / "best.safetensors").string();
  p.input = csv.string();
  p.output = (dir / "out.csv").string();
  ASSERT_EQ(predict_command(p), 0);
  const Table t = read_csv(p.output);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"Well Name", "Depth", "GR", "Comment", "Predicted", "P_0", "P_1",
                                                  "P_2", "P_3", "P_4"}));
  ASSERT_EQ(t.rows.size(), 240u);
  EXPECT_EQ(t.rows[0][3], "x, y");
  for (const auto& row : t.rows) {
    double sum = 0, best = -1;
    int64_t arg = -1;
    for (int k = 0; k < 5; ++k) {
      const double v = std::stod(row[size_t(5 + k)]);
      sum += v;
      if (v > best) best = v, arg = k;
    }
    ASSERT_NEAR(sum, 1.0, 1e-3);
    ASSERT_EQ(std::stoll(row[4]), arg);
  }

  // LAS files of one curve: `n` samples every `step` from 500, value(i) (NaN: NULL).
  auto write_las = [](const fs::path& path, const std::string& header, int n, double step, auto value) {
    std::ofstream f(path);
    f << header;
    for (int i = 0; i < n; ++i) {
      const double v = value(i);
      f << 500 + step * i << " " << (std::isnan(v) ? -999.25 : v) << "\n";
    }
  };
  auto gr = [](int i) { return i == 7 ? std::nan("") : (i < 50 ? 105.0 : 50.0); };
  // Predicted and P_<code> of every `every`-th row of `got` equal `want`'s rows.
  auto expect_same_predictions = [](const Table& got, const Table& want, size_t every) {
    ASSERT_GE(got.rows.size(), (want.rows.size() - 1) * every + 1);
    for (size_t r = 0; r < want.rows.size(); ++r)
      for (size_t j = 2; j < want.columns.size(); ++j)
        ASSERT_EQ(got.rows[every * r][j], want.rows[r][j]) << r << " " << j;
  };
  auto rows_differing = [](const Table& got, const Table& want, size_t every) {
    size_t n = 0;
    for (size_t r = 0; r < want.rows.size(); ++r) n += got.rows[every * r][3] != want.rows[r][3];
    return n;
  };

  const fs::path las = dir / "in.las";
  write_las(las, kMiniLas, 100, 0.5, gr);
  p.input = las.string();
  p.output = (dir / "out_las.csv").string();
  ASSERT_EQ(predict_command(p), 0);
  const Table tl = read_csv(p.output);
  EXPECT_EQ(tl.columns[0], "DEPT");
  EXPECT_EQ(tl.columns[2], "Predicted");
  EXPECT_EQ(tl.rows.size(), 100u);
  EXPECT_EQ(tl.rows[7][1], "");  // NULL stays empty, and still gets a prediction
  EXPECT_FALSE(tl.rows[7][2].empty());

  // --output F.las: the input LAS with Predicted and P_<code> curves, the same
  // predictions as the CSV.
  p.output = (dir / "out.las").string();
  ASSERT_EQ(predict_command(p), 0);
  const las::LasFile lo = las::read(p.output);
  ASSERT_EQ(lo.curves.size(), 2u + 1u + 5u);
  EXPECT_EQ(lo.curves[1].mnemonic, "GR");
  EXPECT_EQ(lo.curves[2].mnemonic, "Predicted");
  EXPECT_EQ(lo.curves[7].mnemonic, "P_4");
  EXPECT_EQ(lo.well_value("WELL"), "MINI 1");
  ASSERT_EQ(lo.rows(), 100);
  EXPECT_TRUE(std::isnan(lo.curves[1].values[7]));
  for (size_t r = 0; r < 100; ++r) {
    EXPECT_EQ(lo.curves[2].values[r], std::stod(tl.rows[r][2])) << r;
    for (size_t c = 0; c < 5; ++c) EXPECT_NEAR(lo.curves[3 + c].values[r], std::stod(tl.rows[r][3 + c]), 5e-6) << r;
  }
  // A CSV of one well becomes a LAS file with its numeric columns; a CSV of
  // two wells is refused.
  const fs::path one = dir / "one.csv";
  {
    std::ofstream f(one);
    f << "Well Name,Depth,GR,Comment\n";
    for (int i = 0; i < 150; ++i) f << "A," << 1000 + 0.5 * i << "," << (i % 50 < 20 ? 45 : 110) << ",x\n";
  }
  p.input = one.string();
  p.output = (dir / "one.las").string();
  ASSERT_EQ(predict_command(p), 0);
  const las::LasFile lc = las::read(p.output);
  ASSERT_EQ(lc.curves.size(), 2u + 1u + 5u);
  EXPECT_EQ(lc.curves[0].mnemonic, "DEPT");
  EXPECT_EQ(lc.curves[1].mnemonic, "GR");
  EXPECT_EQ(lc.well_value("WELL"), "A");
  EXPECT_EQ(lc.well_value("STEP"), "0.5");
  ASSERT_EQ(lc.rows(), 150);
  for (size_t r = 0; r < 150; ++r) EXPECT_EQ(lc.curves[2].values[r], std::stod(t.rows[r][4])) << r;  // well A of in.csv
  p.input = csv.string();
  p.output = (dir / "two.las").string();
  expect_error([&] { predict_command(p); }, "a LAS file holds one well and");
  p.input = las.string();

  // The same well logged every 0.25 instead of the training wells' 0.5 is
  // resampled to 0.5 for the network: on the depths both files share, the
  // predictions are those of the 0.5 file; without resampling they differ.
  const fs::path fine = dir / "fine.las";
  write_las(fine, kMiniLas, 199, 0.25,
            [&](int j) { return j % 2 == 0 ? gr(j / 2) : 0.5 * (gr(j / 2) + gr(j / 2 + 1)); });
  p.input = fine.string();
  p.output = (dir / "out_fine.csv").string();
  ASSERT_EQ(predict_command(p), 0);
  const Table tf = read_csv(p.output);
  ASSERT_EQ(tf.rows.size(), 199u);
  EXPECT_EQ(tf.rows[14][1], "");  // the NULL of row 7
  expect_same_predictions(tf, tl, 2);
  p.overrides = {"inference.resample=false"};
  ASSERT_EQ(predict_command(p), 0);
  EXPECT_GT(rows_differing(read_csv(p.output), tl, 2), 0u);
  // Units: the same samples every 0.1524 m are the model's 0.5 when the model
  // is in feet (data.depth_unit, here set at predict time as for a checkpoint
  // trained without it): predicted as they are, equal to the 0.5 file.
  const fs::path metres = dir / "metres.las";
  write_las(metres, kMiniLas, 100, 0.1524, gr);
  p.input = metres.string();
  p.output = (dir / "out_metres.csv").string();
  p.overrides = {"data.depth_unit=ft"};
  ASSERT_EQ(predict_command(p), 0);
  const Table tm = read_csv(p.output);
  ASSERT_EQ(tm.rows.size(), 100u);
  expect_same_predictions(tm, tl, 1);
  p.overrides.clear();  // unit unknown: 0.1524 is not the model's 0.5, so it is resampled
  ASSERT_EQ(predict_command(p), 0);
  EXPECT_GT(rows_differing(read_csv(p.output), tl, 1), 0u);
  p.input = las.string();

  // Eval on the synthetic wells named by the checkpoint's config.
  AppArgs e;
  e.command = "eval";
  e.checkpoint = p.checkpoint;
  e.out = (dir / "eval").string();
  ASSERT_EQ(eval_command(e), 0);
  EXPECT_TRUE(fs::exists(dir / "eval" / "confusion.png"));
  EXPECT_TRUE(fs::exists(dir / "eval" / "metrics.csv"));

  // A LAS file without the model's curve is refused with the reason.
  const fs::path bad = dir / "bad.las";
  {
    std::string text = kMiniLas;
    text.replace(text.find(" GR  .GAPI"), 10, " DT  .US/M");
    std::ofstream(bad) << text << "1 2\n2 3\n";
  }
  p.input = bad.string();
  expect_error([&] { predict_command(p); }, "has no value in any of the model's curves (GR)");

  // data.curve_map: the same LAS well with its gamma ray as GAMMA in half the
  // units predicts exactly as before once GR is mapped to 2 * GAMMA.
  const fs::path renamed = dir / "renamed.las";
  std::string gamma_header = kMiniLas;
  gamma_header.replace(gamma_header.find(" GR  .GAPI"), 10, " GAMMA.HAPI");
  write_las(renamed, gamma_header, 100, 0.5, [&](int i) { return gr(i) / 2; });
  p.input = renamed.string();
  p.output = (dir / "out_renamed.csv").string();
  p.overrides = {"data.curve_map={GR: 2 * GAMMA}"};
  ASSERT_EQ(predict_command(p), 0);
  const Table tr = read_csv(p.output);
  EXPECT_EQ(tr.columns[1], "GAMMA");
  ASSERT_EQ(tr.rows.size(), tl.rows.size());
  expect_same_predictions(tr, tl, 1);
  p.overrides = {"data.curve_map={GR: 2 * GAMA}"};
  expect_error([&] { predict_command(p); },
               "data.curve_map.GR: '2 * GAMA': well 'MINI 1' has no curve 'GAMA'; it has GAMMA");
  p.overrides.clear();
  // Unknown config keys are refused before training.
  a.overrides = {"train.epoch=3"};
  expect_error([&] { train_command(a); }, "train.epoch");
}

// train.ensemble: members trained from different initialisations, one
// best.safetensors holding all of them, predictions the mean of theirs.
// A folder of well files: predict writes each (LAS or CSV) into the --output folder under its own name, as a
// prediction of that file alone would; other files and subfolders are left alone; eval --data scores them all.
TEST(App, PredictsAndScoresEveryWellFileOfAFolder) {
  AppArgs a = synthetic_train("folder");
  const fs::path dir = fs::path(a.out).parent_path();
  a.overrides = {"train.mode=supervised", "train.epochs=1"};
  ASSERT_EQ(train_command(a), 0);
  const fs::path in = dir / "wells";
  fs::create_directories(in / "older");
  {
    std::ofstream csv(in / "a.csv");
    csv << "Well Name,Depth,GR,Facies\n";
    for (int i = 0; i < 150; ++i) csv << "A," << 1000 + 0.5 * i << "," << 70 + 40 * std::sin(i / 9.0) << "," << (i < 80 ? 1 : 2) << "\n";
    std::ofstream las(in / "B.LAS");
    las << kMiniLas;
    for (int i = 0; i < 120; ++i) las << 500 + 0.5 * i << " " << (i < 50 ? 105.0 : 50.0) << "\n";
  }
  std::ofstream(in / "notes.txt") << "not a well\n";
  fs::copy_file(in / "a.csv", in / "older" / "a.csv");

  AppArgs p;
  p.command = "predict";
  p.checkpoint = (dir / "run" / "best.safetensors").string();
  p.input = in.string();
  p.output = (dir / "out").string();
  ASSERT_EQ(predict_command(p), 0);
  std::vector<std::string> written;
  for (const auto& e : fs::directory_iterator(dir / "out")) written.push_back(e.path().filename().string());
  std::sort(written.begin(), written.end());
  EXPECT_EQ(written, (std::vector<std::string>{"B.LAS", "a.csv"}));
  const auto text = [](const fs::path& f) {
    std::ifstream s(f);
    return std::string(std::istreambuf_iterator<char>(s), {});
  };
  for (const char* f : {"a.csv", "B.LAS"}) {
    AppArgs one = p;
    one.input = (in / f).string();
    one.output = (dir / (std::string("alone_") + f)).string();
    ASSERT_EQ(predict_command(one), 0);
    EXPECT_EQ(text(dir / "out" / f), text(one.output)) << f;
  }
  EXPECT_NE(text(dir / "out" / "B.LAS").find("PREDICTED FACIES CODE"), std::string::npos);

  // eval --data FOLDER: the labelled well of the folder is scored (the LAS well has no labels).
  AppArgs e;
  e.command = "eval";
  e.checkpoint = p.checkpoint;
  e.data = in.string();
  e.out = (dir / "eval").string();
  ASSERT_EQ(eval_command(e), 0);
  EXPECT_NE(text(dir / "eval" / "metrics.csv").find("samples,150\n"), std::string::npos);
}

TEST(App, EnsemblePredictsTheMeanOfItsMembers) {
  AppArgs a = synthetic_train("ensemble");
  const fs::path dir = fs::path(a.out).parent_path();
  a.overrides = {"train.mode=supervised", "train.ensemble=2", "train.epochs=2"};
  ASSERT_EQ(train_command(a), 0);
  for (const char* f : {"best.safetensors", "member_0/best.safetensors", "member_1/last.safetensors",
                        "member_1/metrics.csv", "wells/SYN-001.png"})
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;
  EXPECT_EQ(Checkpoint::load((dir / "run" / "best.safetensors").string()).get_int("welllog.ensemble"), 2);

  const fs::path csv = dir / "in.csv";
  {
    std::ofstream f(csv);
    f << "Well Name,Depth,GR\n";
    for (int i = 0; i < 200; ++i) f << "A," << 1000 + 0.5 * i << "," << (i % 60 < 25 ? 45 + i % 7 : 110) << "\n";
  }
  auto predict = [&](const fs::path& checkpoint, const std::string& name) {
    AppArgs p;
    p.command = "predict";
    p.checkpoint = checkpoint.string();
    p.input = csv.string();
    p.output = (dir / name).string();
    EXPECT_EQ(predict_command(p), 0);
    return read_csv(p.output);
  };
  const Table ens = predict(dir / "run" / "best.safetensors", "ens.csv");
  const Table m0 = predict(dir / "run" / "member_0" / "best.safetensors", "m0.csv");
  const Table m1 = predict(dir / "run" / "member_1" / "best.safetensors", "m1.csv");
  ASSERT_EQ(ens.rows.size(), 200u);
  double differ = 0;
  for (size_t r = 0; r < ens.rows.size(); ++r)
    for (size_t c = 4; c < 9; ++c) {  // P_0 .. P_4, written with 5 decimals
      const double p0 = std::stod(m0.rows[r][c]), p1 = std::stod(m1.rows[r][c]);
      differ = std::max(differ, std::abs(p0 - p1));
      ASSERT_NEAR(std::stod(ens.rows[r][c]), (p0 + p1) / 2, 1.1e-5) << "row " << r << " column " << ens.columns[c];
    }
  EXPECT_GT(differ, 1e-3) << "the members should differ (different initialisations)";

  // --resume of a member's last.safetensors (what an interrupted ensemble names) continues that member in the
  // ensemble's run folder, keeps the members before it and writes the ensemble again.
  const fs::path run = dir / "run";
  const std::string member_1 = (run / "member_1" / "last.safetensors").string();
  EXPECT_EQ(fs::path(resumed_run_folder(member_1)), run.lexically_normal());
  const auto bytes = [](const fs::path& f) {
    std::ifstream s(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(s), {});
  };
  const std::string member_0 = bytes(run / "member_0" / "best.safetensors"), ensemble = bytes(run / "best.safetensors");
  AppArgs r;
  r.command = "train";
  r.config = (run / "config.yaml").string();
  r.resume = member_1;
  r.overrides = {"train.epochs=3"};
  ASSERT_EQ(train_command(r), 0);
  EXPECT_EQ(bytes(run / "member_0" / "best.safetensors"), member_0) << "a finished member was trained again";
  EXPECT_NE(bytes(run / "best.safetensors"), ensemble);
  const Table curve = read_csv((run / "member_1" / "metrics.csv").string());
  ASSERT_FALSE(curve.rows.empty());
  EXPECT_EQ(curve.rows.back()[0], "3");
  EXPECT_EQ(Checkpoint::load((run / "best.safetensors").string()).get_int("welllog.ensemble"), 2);
  // Any other checkpoint is refused with the file to give.
  r.resume = (run / "best.safetensors").string();
  expect_error([&] { train_command(r); }, "continues one member's run: give RUN/member_J/last.safetensors, J in 0..1");
}

// model.init_from fine-tunes a trained model: member j of the new run starts from member j of a trained ensemble
// (the weight average too), the wells are scaled as the trained model scaled them, and a model that does not fit
// the config (more members, other scaling, another architecture) is refused before any run folder exists.
TEST(App, InitFromStartsEachMemberFromTheTrainedModel) {
  AppArgs a = synthetic_train("init_from");
  const fs::path dir = fs::path(a.out).parent_path();
  a.overrides = {"train.mode=supervised", "train.ensemble=2", "train.epochs=1"};
  ASSERT_EQ(train_command(a), 0);
  const std::string source = (dir / "run" / "best.safetensors").string();
  const Loaded trained = load_model(source);
  ASSERT_EQ(trained.members.size(), 2u);

  // The trainer of each member: its weights and their average are the trained member's.
  const std::string init = "model.init_from=" + source;
  SynthSetup s = synthetic_setup(init);
  s.cfg.apply_override("train.ensemble=2");
  s.cfg.apply_override("train.ema=0.9");
  for (int64_t j : {0, 1}) {
    FaciesTrainer t(s.cfg, s.pre, s.labelled, {}, 1, 1, "supervised", j);
    EXPECT_EQ(flat_weights(t.trained_model()), flat_weights(*trained.members[size_t(j)])) << "member " << j;
    EXPECT_EQ(flat_weights(t.model()), flat_weights(*trained.members[size_t(j)])) << "average of member " << j;
  }
  EXPECT_NE(flat_weights(*trained.members[0]), flat_weights(*trained.members[1]));

  // Fine-tuned on other training wells: the scaling stays the trained model's.
  AppArgs f = a;
  f.out = (dir / "tuned").string();
  f.overrides = {"train.mode=supervised", "train.ensemble=2", "train.epochs=1", init,
                 "data.val_wells=[SYN-001, SYN-002, SYN-003]"};
  ASSERT_EQ(train_command(f), 0);
  const Loaded tuned = load_model((dir / "tuned" / "best.safetensors").string());
  EXPECT_EQ(tuned.pre.mean, trained.pre.mean);
  EXPECT_EQ(tuned.pre.stddev, trained.pre.stddev);
  Preprocessing refit = Preprocessing::from_config(s.cfg.section("data"));
  std::vector<Well> wells = load_wells(s.cfg.section("data"));
  refit.fit({wells.begin() + 3, wells.end()});
  EXPECT_NE(refit.mean, trained.pre.mean) << "the fine-tuning wells alone would have been scaled otherwise";
  EXPECT_NE(flat_weights(*tuned.members[1]), flat_weights(*trained.members[1])) << "fine-tuning trained nothing";

  const std::pair<const char*, const char*> refused[] = {
      {"train.ensemble=3", "is an ensemble of 2 networks and train.ensemble is 3"},
      {"data.normalise_per_well=[GR]",
       "was trained with each well's own statistics for [], this config's data.normalise_per_well gives [GR]"},
      {"data.per_well_trim=0.1", "was trained with data.per_well_trim 0, this config gives 0.1"},
      {"model.base=4", "does not fit this unet1d"},
  };
  for (const auto& [override, message] : refused) {
    AppArgs r = a;
    r.out = (dir / "refused").string();
    r.overrides = {"train.mode=supervised", init, override};
    expect_error([&] { train_command(r); }, message);
    EXPECT_FALSE(fs::exists(dir / "refused")) << override;
  }
}

// cv.transductive: semi mode also trains on the held-out wells' logs (as
// unlabelled wells); the other modes and the labelled wells are unchanged.
TEST(App, TransductiveCrossValidationAddsTheHeldOutWellsAsUnlabelled) {
  AppArgs a = synthetic_train("transductive");
  const fs::path dir = fs::path(a.out).parent_path();
  a.overrides = {"train.epochs=1", "cv.folds=3", "cv.final=false", "cv.fractions=[0.5]",
                 "cv.modes=[supervised, semi]", "cv.transductive=true"};
  ASSERT_EQ(train_command(a), 0);
  const Table t = read_csv((dir / "run" / "cv_folds.csv").string());
  const int mode = t.column("mode"), lab = t.column("labelled_wells"), unl = t.column("unlabelled_wells");
  ASSERT_GE(mode, 0);
  ASSERT_GE(unl, 0);
  ASSERT_EQ(t.rows.size(), 6u);  // 2 modes x 3 folds
  for (const auto& row : t.rows) {
    // 12 wells in 3 folds: 8 training wells, 4 of them labelled; semi adds the 4 held-out wells.
    EXPECT_EQ(row[size_t(lab)], "4");
    EXPECT_EQ(row[size_t(unl)], row[size_t(mode)] == "semi" ? "8" : "4") << row[size_t(mode)];
  }

  // cv_wells.csv scores every held-out well; per fold, the sample-weighted mean of its wells' F1 micro is the
  // fold's. confusion_<mode>_<fraction>.csv holds the pooled counts.
  const Table w = read_csv((dir / "run" / "cv_wells.csv").string());
  ASSERT_EQ(w.rows.size(), 24u);  // 2 modes x 12 wells
  std::map<std::string, std::pair<double, double>> by_fold;  // mode/fold -> (correct, samples)
  std::map<std::string, double> samples_by_mode;
  for (const auto& row : w.rows) {
    const double n = std::stod(row[size_t(w.column("samples"))]), f1 = std::stod(row[size_t(w.column("f1_micro"))]);
    auto& acc = by_fold[row[size_t(w.column("mode"))] + "/" + row[size_t(w.column("fold"))]];
    acc.first += f1 * n;
    acc.second += n;
    samples_by_mode[row[size_t(w.column("mode"))]] += n;
  }
  ASSERT_EQ(by_fold.size(), 6u);
  for (const auto& row : t.rows) {
    const auto& acc = by_fold.at(row[size_t(mode)] + "/" + row[size_t(t.column("fold"))]);
    EXPECT_NEAR(acc.first / acc.second, std::stod(row[size_t(t.column("f1_micro"))]), 1e-5);
  }
  for (const char* m : {"supervised", "semi"}) {
    const Table cm = read_csv((dir / "run" / (std::string("confusion_") + m + "_1_2.csv")).string());
    ASSERT_EQ(cm.rows.size(), 5u) << m;
    double total = 0;
    for (const auto& row : cm.rows)
      for (size_t j = 1; j < row.size(); ++j) total += std::stod(row[j]);
    EXPECT_EQ(total, samples_by_mode.at(m)) << m;
  }
}

TEST(App, UnlabelledWellsFromFilesJoinEveryFoldsTraining) {
  AppArgs a = synthetic_train("unlabelled_files");
  const fs::path dir = fs::path(a.out).parent_path();
  const fs::path csv = dir / "new_wells.csv";
  {
    std::ofstream f(csv);
    f << "Well Name,Depth,GR\n";
    for (const char* well : {"NEW-1", "NEW-2"})
      for (int i = 0; i < 200; ++i) f << well << "," << 1000 + 0.5 * i << "," << (i % 60 < 25 ? 45 : 105) << "\n";
  }
  a.overrides = {"train.epochs=1", "cv.folds=3", "cv.final=false", "cv.fractions=[0.5]", "cv.modes=[semi]",
                 "data.unlabelled=[" + csv.string() + "]"};
  ASSERT_EQ(train_command(a), 0);
  const Table t = read_csv((dir / "run" / "cv_folds.csv").string());
  ASSERT_EQ(t.rows.size(), 3u);
  for (const auto& row : t.rows) {
    // 8 training wells, 4 labelled; the 4 others and the file's 2 wells are unlabelled.
    EXPECT_EQ(row[size_t(t.column("labelled_wells"))], "4");
    EXPECT_EQ(row[size_t(t.column("unlabelled_wells"))], "6");
  }
  EXPECT_EQ(read_csv((dir / "run" / "cv_wells.csv").string()).rows.size(), 12u) << "the new wells are never scored";

  // A file well named like a labelled one is an error before any run folder.
  {
    std::ofstream f(dir / "dup.csv");
    f << "Well Name,Depth,GR\nSYN-001,1000,50\nSYN-001,1000.5,60\n";
  }
  AppArgs b = synthetic_train("unlabelled_dup");
  b.overrides = {"train.epochs=1", "data.unlabelled=[" + (dir / "dup.csv").string() + "]"};
  try {
    train_command(b);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("well 'SYN-001' is also a labelled well"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(b.out));
  fs::remove_all(dir);
}

TEST(App, Seg2016HeldOutWellsBeatChance) {
  REQUIRE_DATA("welllogs/facies_vectors.csv");
  const fs::path dir = test::fresh_dir("welllog", "seg");
  AppArgs a;
  a.command = "train";
  a.config = (fs::path(STRATA_SOURCE_DIR) / "configs" / "welllog_seg2016.yaml").string();
  a.out = (dir / "run").string();
  // One model (the config trains an ensemble): its validation F1 per epoch is in <run>/metrics.csv.
  a.overrides = {"data.path=" + data_file.string(), "data.val_wells=[SHRIMPLIN, NEWBY]", "train.epochs=12",
                 "train.progress=false", "train.ensemble=1"};
  ASSERT_EQ(train_command(a), 0);
  // metrics.csv: the best validation F1 on the two held-out wells. The most
  // frequent facies alone scores about 0.23; the table's trees about 0.5-0.6.
  std::ifstream f(dir / "run" / "metrics.csv");
  std::string line;
  std::getline(f, line);  // the header
  std::vector<std::string> cols;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) cols.push_back(c);
  const size_t at = size_t(std::find(cols.begin(), cols.end(), "val_f1_micro") - cols.begin());
  ASSERT_LT(at, cols.size());
  double best = 0;
  while (std::getline(f, line)) {
    std::stringstream rs(line);
    std::string v;
    for (size_t i = 0; i <= at; ++i) std::getline(rs, v, ',');
    best = std::max(best, std::stod(v));
  }
  EXPECT_GT(best, 0.45);
}
