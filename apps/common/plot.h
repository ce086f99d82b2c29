// PNG figures without a plotting library: a small RGB canvas with lines,
// rectangles and text (stb_easy_font glyphs), written by stb_image_write.
//
//   line_plot       loss / metric curves, several named series, axes with ticks
//   confusion_plot  row-normalised heat map with counts, labelled axes
//   image_panels    a grid of grayscale or RGB images with titles
//                   (input / truth / prediction panels)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/metrics.h"

namespace strata {

using Rgb = std::array<uint8_t, 3>;

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return w_; }
  int height() const { return h_; }
  void set(int x, int y, Rgb c);
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c);  // [x0, x1) x [y0, y1), clipped
  void line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1);
  // Text with its top-left corner at (x, y); scale 1 glyphs are about 6x7 pixels.
  void text(int x, int y, const std::string& s, Rgb c, int scale = 2);
  static int text_width(const std::string& s, int scale = 2);
  // Writes a PNG; errors name the path.
  void save_png(const std::string& path) const;

 private:
  int w_, h_;
  std::vector<uint8_t> px_;
};

struct Series {
  std::string name;
  std::vector<double> x, y;
};

// One colour per series (a fixed palette), legend in the top-right corner.
void line_plot(const std::string& path, const std::string& title, const std::string& x_label,
               const std::string& y_label, const std::vector<Series>& series, bool log_y = false);

void confusion_plot(const std::string& path, const std::string& title, const ConfusionMatrix& m,
                    const std::vector<std::string>& labels = {});

// An image: height x width x channels (1 or 3) floats in [0, 1] (clamped).
struct Panel {
  std::string title;
  int64_t height = 0, width = 0, channels = 1;
  std::vector<float> pixels;
};
// rows x columns grid; each panel is scaled by an integer factor to about `cell` pixels.
void image_panels(const std::string& path, const std::vector<std::vector<Panel>>& rows, int cell = 256);

// A colour for class c of a label map (a fixed, distinguishable palette).
Rgb class_colour(int64_t c);

}  // namespace strata
