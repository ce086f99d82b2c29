// Figures drawn with cairo. A Figure records lines, rectangles, markers, text
// and images in pixel coordinates (y down) and renders them to each requested
// format from the one recording:
//   PNG  anti-aliased, text in DejaVu Sans (fontconfig picks the face)
//   SVG  shapes and images through cairo; text as <text> elements, so labels
//        can be searched and edited (cairo itself would outline the glyphs)
//   PDF  through cairo, fonts embedded
// Above the Figure: the pieces every plot shares, namely nice tick values, a
// frame with axes, colour maps and colour bars, and legend placement that
// keeps a legend off the data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace strata {

using Rgb = std::array<uint8_t, 3>;

struct Point {
  double x = 0, y = 0;
};

struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
  bool contains(Point p) const { return p.x >= x && p.x <= right() && p.y >= y && p.y <= bottom(); }
};

// Whether the segment a-b passes through r (an end inside counts).
bool segment_hits(Point a, Point b, const Rect& r);

enum class Dash { solid, dashed, dotted, dash_dot };
enum class Marker { none, circle, square, triangle, diamond };
enum class HAlign { left, center, right };
enum class VAlign { top, middle, baseline, bottom };

struct Stroke {
  Rgb colour{0, 0, 0};
  double width = 1;
  Dash dash = Dash::solid;
};

struct Font {
  double size = 12;  // pixels
  bool bold = false;
  Rgb colour{0, 0, 0};
  HAlign h = HAlign::left;
  VAlign v = VAlign::baseline;
  double angle = 0;  // degrees, counter-clockwise (90: reads upwards, as a y-axis label)
};

// Width and height (cap height plus descent) of one line of text in pixels.
struct TextSize {
  double w = 0, h = 0;
};
TextSize measure_text(const std::string& s, double size, bool bold = false);

// A picture at its display size, cairo's layout: 32-bit premultiplied ARGB, rows top to bottom.
struct Picture {
  int width = 0, height = 0;
  std::vector<uint32_t> argb;
};
uint32_t argb(Rgb c, double alpha = 1.0);
// A colour as '#rrggbb' text, and the colour of '#RRGGBB' text (either case; nothing for any other text).
std::string hex_colour(Rgb c);
std::optional<Rgb> parse_hex_colour(const std::string& text);

class Figure {
 public:
  Figure(int width, int height);
  int width() const { return w_; }
  int height() const { return h_; }

  void polyline(const std::vector<Point>& points, const Stroke& stroke);
  void line(Point a, Point b, const Stroke& stroke) { polyline({a, b}, stroke); }
  void rect(const Rect& r, std::optional<Rgb> fill, std::optional<Stroke> edge = std::nullopt);
  // A marker of `size` pixels across; hollow markers are white inside.
  void marker(Point at, Marker m, double size, Rgb colour, bool hollow = false);
  void text(Point at, const std::string& s, const Font& font);
  void picture(const Rect& where, Picture p);
  // Drawing after clip() stays inside r until unclip().
  void clip(const Rect& r);
  void unclip();

  // Writes `path` with its extension replaced by each of figure_formats() (".png" when only PNG is asked for).
  void save(const std::string& path) const;
  // Writes one file; its extension (.png, .svg, .pdf) names the format.
  void write(const std::string& path) const;

  // Every string drawn, in order (tests look labels up here).
  std::vector<std::string> texts() const;

 private:
  struct Line {
    std::vector<Point> points;
    Stroke stroke;
  };
  struct Box {
    Rect r;
    std::optional<Rgb> fill;
    std::optional<Stroke> edge;
  };
  struct Mark {
    Point at;
    Marker m;
    double size;
    Rgb colour;
    bool hollow;
  };
  struct Text {
    Point at;
    std::string s;
    Font font;
  };
  struct Image {
    Rect where;
    Picture p;
  };
  struct Clip {
    std::optional<Rect> r;
  };
  using Op = std::variant<Line, Box, Mark, Text, Image, Clip>;
  void render(void* cairo, bool with_text) const;
  void write_svg(const std::string& path) const;

  int w_, h_;
  std::vector<Op> ops_;
};

// The formats Figure::save writes, for the whole process (as matplotlib's savefig.format): "png", "svg", "pdf".
// Unknown names are errors that name `setting` (the config key or flag that gave them). Default: {"png"}.
void set_figure_formats(const std::vector<std::string>& formats, const std::string& setting = "report.formats");
const std::vector<std::string>& figure_formats();

// ---- colour ----------------------------------------------------------------

enum class Colormap {
  grey,     // black to white
  magma,    // perceptually uniform, dark to light, for errors
  blues,    // white to dark blue, for shares (confusion matrices)
  hot,      // transparent-friendly yellow to dark red (overlays)
};
// t in [0, 1] (clamped).
Rgb colour_at(Colormap map, double t);
// A colour for series or class k: matplotlib's tab10, then two more.
Rgb palette_colour(int64_t k);
// Black or white, whichever reads on `background`.
Rgb text_colour_on(Rgb background);

// ---- axes ------------------------------------------------------------------

struct Ticks {
  std::vector<double> at;
  std::vector<std::string> text;
};
// About `target` round values (1, 2, 5 x 10^k) covering [lo, hi], labelled with the decimals their step needs;
// `integer` keeps steps whole (epochs); `log` puts them on powers of ten (and 2, 5 between when few decades).
Ticks nice_ticks(double lo, double hi, int target, bool integer = false, bool log = false);

struct Scale {
  double lo = 0, hi = 1;
  bool log = false;
  bool reversed = false;  // depth and time grow downwards
};

// A plotting area and its data-to-pixel mapping.
struct Axes {
  Rect area;
  Scale x, y;
  double px(double v) const;
  double py(double v) const;
};

// Light grid lines at the ticks (drawn before the data).
void draw_grid(Figure& f, const Axes& a, const Ticks& xt, const Ticks& yt);
// The frame, tick marks and labels, and the axis labels (drawn after the data). The y label sits left of the
// widest tick label; empty labels are left out.
void draw_frame(Figure& f, const Axes& a, const Ticks& xt, const Ticks& yt, const std::string& x_label,
                const std::string& y_label);
// Room a frame needs outside its area: left (y tick labels and the y label) and bottom (x tick labels and label).
double frame_left_margin(const Ticks& yt, bool y_label);
double frame_bottom_margin(bool x_label);

// ---- colour bar and legend -------------------------------------------------

// A vertical colour bar in `bar` for values lo..hi through `map`, ticks and `label` on its right. Needs about
// colour_bar_width(...) pixels to the right of bar.x.
void draw_colour_bar(Figure& f, const Rect& bar, Colormap map, double lo, double hi, const std::string& label);
double colour_bar_width(double lo, double hi, const std::string& label);

struct LegendEntry {
  std::string name;
  Stroke stroke;
  Marker marker = Marker::none;
  bool hollow = false;
  std::optional<Rgb> patch;  // a filled square instead of a line (classes)
};
// The legend's size as draw_legend draws it.
TextSize legend_size(const std::vector<LegendEntry>& entries);
// Where a legend of `size` fits inside `plot` without covering any of `curves` (pixel polylines; a one-point
// curve is a marker): the first free place of the upper right, upper left, lower right, lower left corners, then
// the middles of the right, left, top and bottom edges and the centre (matplotlib's order for "best"). nullopt when
// every place covers data: the caller puts the legend outside the plot.
std::optional<Rect> place_legend(const Rect& plot, TextSize size, const std::vector<std::vector<Point>>& curves);
void draw_legend(Figure& f, const Rect& box, const std::vector<LegendEntry>& entries);

}  // namespace strata
