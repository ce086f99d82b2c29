// Figures: each figure type writes a PNG of its size and an SVG that keeps its text, legends stay off the data,
// non-finite values are skipped and counted, ticks are round (whole numbers for epochs).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <stb/stb_image.h>

#include "apps/common/figure.h"
#include "apps/common/plot.h"
#include "apps/common/trainer.h"
#include "engine/error.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Well-formed XML in the sense a reader needs: every element closed in order, attributes quoted.
bool well_formed_xml(const std::string& s, std::string& why) {
  std::vector<std::string> open;
  for (size_t i = s.find('<'); i != std::string::npos; i = s.find('<', i + 1)) {
    if (s.compare(i, 2, "<?") == 0 || s.compare(i, 2, "<!") == 0) continue;
    const size_t end = s.find('>', i);
    if (end == std::string::npos) return why = "unterminated tag", false;
    const std::string tag = s.substr(i + 1, end - i - 1);
    if (std::count(tag.begin(), tag.end(), '"') % 2) return why = "unbalanced quotes in <" + tag + ">", false;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return why = "</" + tag.substr(1) + "> closes nothing open", false;
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \t\n")));
    }
  }
  if (!open.empty()) return why = "<" + open.back() + "> never closed", false;
  return true;
}

// The PNG's size (0 x 0 when it does not decode) and whether it has any dark pixels.
struct Decoded {
  int w = 0, h = 0;
  bool inked = false;
};
Decoded decode(const fs::path& p) {
  Decoded d;
  int c = 0;
  unsigned char* px = stbi_load(p.string().c_str(), &d.w, &d.h, &c, 3);
  if (!px) return {};
  int64_t dark = 0;
  for (int64_t i = 0; i < int64_t(d.w) * d.h * 3; ++i) dark += px[i] < 100;
  d.inked = dark > 200;
  stbi_image_free(px);
  return d;
}

// Writes `f` as PNG and SVG under `stem` and checks both: the PNG's size and ink, the SVG's structure and that
// each of `texts` is there as text.
void expect_written(const Figure& f, const fs::path& stem, const std::vector<std::string>& texts) {
  set_figure_formats({"png", "svg"});
  f.save(stem.string() + ".png");
  set_figure_formats({"png"});
  const Decoded png = decode(stem.string() + ".png");
  EXPECT_EQ(png.w, f.width()) << stem;
  EXPECT_EQ(png.h, f.height()) << stem;
  EXPECT_TRUE(png.inked) << stem << ".png is blank";
  EXPECT_LE(f.width(), 1600) << stem << " is wider than a laptop screen";
  const std::string svg = read_text(stem.string() + ".svg");
  std::string why;
  EXPECT_TRUE(well_formed_xml(svg, why)) << stem << ".svg: " << why;
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  for (const std::string& t : texts) EXPECT_NE(svg.find(">" + t + "</text>"), std::string::npos) << stem << ".svg lacks '" << t << "'";
}

}  // namespace

TEST(Figures, LinePlotWritesPngAndSvgWithItsTitleLabelsAndLegend) {
  const fs::path dir = test::fresh_dir("plot", "line");
  const Figure f = line_figure("training loss", "epoch", "loss",
                               {{"train_loss", {1, 2, 3, 4}, {1.0, 0.6, 0.4, 0.35}}, {"val_loss", {1, 2, 3, 4}, {1.1, 0.7, 0.5, 0.5}}});
  EXPECT_EQ(f.width(), 820);
  EXPECT_EQ(f.height(), 500);
  expect_written(f, dir / "loss", {"training loss", "epoch", "loss", "train_loss", "val_loss"});
}

TEST(Figures, ConfusionMatrixRotatesLongClassNamesAndHasAColourBar) {
  const fs::path dir = test::fresh_dir("plot", "confusion");
  ConfusionMatrix m(4);
  m.add({0, 1, 2, 3, 3}, {0, 1, 2, 3, 0});
  expect_written(confusion_figure("facies", m, {"SS", "CSiS", "FSiS", "MS"}), dir / "counts",
                 {"facies", "CSiS", "predicted class", "true class", "% of the true class", "1"});
  // Eleven classes (CamVid): pixel counts too wide for a cell are shares in percent, names wider than a cell.
  ConfusionMatrix wide(11);
  wide.add(std::vector<int64_t>(30000000, 1), std::vector<int64_t>(30000000, 1));
  const Figure f = confusion_figure("pixels", wide,
                                    {"Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence",
                                     "Car", "Pedestrian", "Bicyclist"});
  expect_written(f, dir / "shares", {"SignSymbol", "Bicyclist", "100.0", "0.0"});
  // The long names are drawn rotated (45 degrees) in the SVG, so they cannot collide.
  EXPECT_NE(read_text(dir / "shares.svg").find("rotate(-45)"), std::string::npos);
}

TEST(Figures, ImagePanelsDrawEveryPanelKindWithColourBarsAxesAndLegend) {
  const fs::path dir = test::fresh_dir("plot", "panels");
  Panel grey{"input", 20, 30, 1, std::vector<float>(600, 0.25f)};
  Panel rgb{"prediction", 20, 30, 3, std::vector<float>(1800, 0.75f)};
  Panel error{"error", 20, 30, 1, std::vector<float>(600)};
  for (size_t i = 0; i < 600; ++i) error.pixels[i] = float(i) / 600.f;
  error.map = Colormap::magma;
  error.bar = "|error|";
  Panel seismic{"inline 120", 40, 120, 1, std::vector<float>(4800)};
  for (size_t i = 0; i < 4800; ++i) seismic.pixels[i] = float(std::sin(double(i / 120) * 0.8));
  seismic.lo = -1, seismic.hi = 1;
  seismic.overlay.assign(4800, 0.f);
  for (size_t i = 0; i < 4800; i += 121) seismic.overlay[i] = 0.08f;
  seismic.overlay_hi = probability_scale(0.08);
  seismic.overlay_bar = "fault probability";
  seismic.x = {"crossline", 300, 2};
  seismic.y = {"time sample", 0, 1};
  const Figure f = panels_figure({{grey, rgb, error}, {seismic}}, 128, {{"road", {}, Marker::none, false, Rgb{128, 64, 128}}});
  expect_written(f, dir / "panels", {"input", "prediction", "|error|", "fault probability", "crossline", "time sample", "road"});
  EXPECT_DOUBLE_EQ(probability_scale(0.08), 0.08);
  EXPECT_DOUBLE_EQ(probability_scale(0.0861), 0.087);
  EXPECT_DOUBLE_EQ(probability_scale(0.7), 1.0);
  EXPECT_DOUBLE_EQ(probability_scale(6e-5), 1.0);  // nothing there: not stretched
  EXPECT_THROW(panels_figure({{Panel{"x", 2, 2, 1, {0.f}}}}), Error);
  EXPECT_THROW(panels_figure({}), Error);
}

TEST(Figures, NonFiniteValuesAreSkippedAndCounted) {
  const double nan = std::nan(""), inf = INFINITY;
  const Figure f = line_figure("loss", "epoch", "loss", {{"val", {1, 2, 3, 4, 5}, {0.5, nan, inf, 0.4, 0.3}}});
  const std::vector<std::string> t = f.texts();
  EXPECT_NE(std::find(t.begin(), t.end(), "2 non-finite values not drawn"), t.end());
  // Nothing finite at all: empty axes, no crash; on a log axis zero counts too.
  EXPECT_NO_THROW(line_figure("empty", "x", "y", {{"a", {1, 2}, {nan, nan}}}));
  LinePlotOptions log;
  log.log_y = true;
  const std::vector<std::string> lt = line_figure("log", "x", "y", {{"a", {1, 2, 3}, {0, 1, 10}}}, log).texts();
  EXPECT_NE(std::find(lt.begin(), lt.end(), "1 non-finite value not drawn"), lt.end());
  Panel p{"p", 2, 2, 1, {0.f, float(nan), 1.f, float(inf)}};
  const std::vector<std::string> pt = panels_figure({{p}}).texts();
  EXPECT_NE(std::find(pt.begin(), pt.end(), "2 non-finite values drawn grey"), pt.end());
}

TEST(Figures, CurvesThatCoincideAreDashedSoBothShow) {
  const fs::path dir = test::fresh_dir("plot", "coincide");
  const std::vector<double> x{1, 2, 3, 4, 5, 6}, y{0.5, 0.55, 0.6, 0.62, 0.63, 0.64};
  set_figure_formats({"svg"});
  line_plot((dir / "same.png").string(), "metrics", "epoch", "", {{"val_accuracy", x, y}, {"val_f1_micro", x, y}});
  line_plot((dir / "apart.png").string(), "metrics", "epoch", "", {{"a", x, y}, {"b", x, {1, 1, 1, 1, 1, 1}}});
  set_figure_formats({"png"});
  EXPECT_NE(read_text(dir / "same.svg").find("stroke-dasharray"), std::string::npos);
  EXPECT_EQ(read_text(dir / "apart.svg").find("stroke-dasharray"), std::string::npos);
}

TEST(Figures, LegendIsPlacedWhereItCoversNoData) {
  const Rect plot{100, 50, 600, 400};
  std::vector<LegendEntry> entries(3);
  entries[0].name = "TPR", entries[1].name = "TNR", entries[2].name = "chosen threshold";
  const TextSize size = legend_size(entries);
  // A falling curve through the upper left and lower right, a rising one along the bottom: the upper right is free.
  const std::vector<std::vector<Point>> curves{{{100, 60}, {400, 250}, {700, 440}}, {{100, 445}, {700, 400}}};
  const std::optional<Rect> at = place_legend(plot, size, curves);
  ASSERT_TRUE(at.has_value());
  for (const auto& c : curves)
    for (size_t i = 1; i < c.size(); ++i) EXPECT_FALSE(segment_hits(c[i - 1], c[i], *at));
  EXPECT_GT(at->x, 400);
  EXPECT_LT(at->y, 250);
  // Curves across every candidate place: no place inside, the caller puts the legend outside.
  std::vector<std::vector<Point>> dense;
  for (double y = 50; y <= 450; y += 10) dense.push_back({{100, y}, {700, y}});
  EXPECT_FALSE(place_legend(plot, size, dense).has_value());
  // A single point is a marker: the legend avoids it too.
  const std::optional<Rect> around = place_legend(plot, size, {{{plot.right() - 20, plot.y + 20}}});
  ASSERT_TRUE(around.has_value());
  EXPECT_FALSE(around->contains({plot.right() - 20, plot.y + 20}));
}

TEST(Figures, SegmentHitsIsExact) {
  const Rect r{10, 10, 10, 10};
  EXPECT_TRUE(segment_hits({0, 15}, {30, 15}, r));   // straight through
  EXPECT_TRUE(segment_hits({12, 12}, {13, 13}, r));  // inside
  EXPECT_FALSE(segment_hits({0, 0}, {30, 5}, r));    // above
  EXPECT_FALSE(segment_hits({0, 30}, {30, 21}, r));  // below
  EXPECT_TRUE(segment_hits({0, 30}, {30, 0}, r));    // the diagonal
}

TEST(Figures, TicksAreRoundAndWholeForEpochs) {
  const Ticks epochs = nice_ticks(0.9, 3.1, 8, true);
  EXPECT_EQ(epochs.text, (std::vector<std::string>{"1", "2", "3"}));
  const Ticks unit = nice_ticks(0, 1, 5);
  EXPECT_EQ(unit.text, (std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}));
  const Ticks depth = nice_ticks(1048.5, 1097.0, 5);
  for (const std::string& s : depth.text) EXPECT_EQ(s.find('.'), std::string::npos) << s;
  const Ticks log = nice_ticks(0.01, 10, 6, false, true);
  EXPECT_EQ(log.text, (std::vector<std::string>{"0.01", "0.1", "1", "10"}));
}

TEST(Figures, FormatsAreCheckedAndEachIsWritten) {
  const fs::path dir = test::fresh_dir("plot", "formats");
  EXPECT_THROW(set_figure_formats({"bmp"}), Error);
  EXPECT_THROW(set_figure_formats({}), Error);
  set_figure_formats({"png", "svg", "pdf"});
  line_plot((dir / "curve.png").string(), "t", "x", "y", {{"a", {0, 1}, {0, 1}}});
  set_figure_formats({"png"});
  EXPECT_TRUE(fs::exists(dir / "curve.png"));
  EXPECT_TRUE(fs::exists(dir / "curve.svg"));
  EXPECT_EQ(read_text(dir / "curve.pdf").substr(0, 5), "%PDF-");
  EXPECT_THROW(line_figure("t", "x", "y", {}).write((dir / "curve.bmp").string()), Error);
}

TEST(Figures, TrainingCurvesComeFromMetricsCsvAndJoinEpochsWithoutValidation) {
  const fs::path dir = test::fresh_dir("plot", "curves");
  {
    std::ofstream csv(dir / "metrics.csv");
    csv << "epoch,step,train_loss,val_loss,val_f1,seconds\n"
        << "1,10,1.0,1.2,0.5,1.0\n2,20,0.8,,,2.0\n3,30,0.6,0.9,0.7,3.0\n";
  }
  set_figure_formats({"png", "svg"});
  plot_training_curves(dir.string());
  set_figure_formats({"png"});
  EXPECT_EQ(decode(dir / "loss.png").w, 820);
  EXPECT_EQ(decode(dir / "metrics.png").w, 820);
  const std::string loss = read_text(dir / "loss.svg"), metrics = read_text(dir / "metrics.svg");
  EXPECT_NE(loss.find(">train_loss</text>"), std::string::npos);
  EXPECT_NE(loss.find(">val_loss</text>"), std::string::npos);
  EXPECT_NE(metrics.find(">val_f1</text>"), std::string::npos);
  // Empty fields are epochs without validation, not non-finite values.
  EXPECT_EQ(metrics.find("non-finite"), std::string::npos);
  EXPECT_THROW(plot_training_curves((dir / "absent").string()), Error);
}
