#include "apps/common/figure.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>

#include "engine/error.h"
#include "engine/file_io.h"

namespace fs = std::filesystem;

namespace strata {
namespace {

constexpr const char* kFontFamily = "DejaVu Sans";
constexpr double kPi = 3.14159265358979323846;

// Offsets of a line's reference point from its baseline, in font sizes (DejaVu Sans: cap height 0.73, descent 0.24).
double baseline_offset(VAlign v, double size) {
  switch (v) {
    case VAlign::top: return 0.76 * size;
    case VAlign::middle: return 0.37 * size;
    case VAlign::bottom: return -0.24 * size;
    case VAlign::baseline: break;
  }
  return 0;
}
double align_fraction(HAlign h) { return h == HAlign::left ? 0.0 : h == HAlign::center ? 0.5 : 1.0; }

void set_font(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, kFontFamily, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  // Unhinted metrics: text measures the same on every surface, so a layout made for PNG holds in SVG and PDF.
  cairo_font_options_t* o = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(o, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style(o, CAIRO_HINT_STYLE_NONE);
  cairo_font_options_set_antialias(o, CAIRO_ANTIALIAS_GRAY);
  cairo_set_font_options(cr, o);
  cairo_font_options_destroy(o);
}

void set_colour(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0); }

void set_stroke(cairo_t* cr, const Stroke& s) {
  set_colour(cr, s.colour);
  cairo_set_line_width(cr, s.width);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  const double w = std::max(1.0, s.width);
  std::vector<double> dashes;
  switch (s.dash) {
    case Dash::solid: break;
    case Dash::dashed: dashes = {3.7 * w, 1.6 * w}; break;
    case Dash::dotted: dashes = {1.0 * w, 1.65 * w}; break;
    case Dash::dash_dot: dashes = {6.4 * w, 1.6 * w, 1.0 * w, 1.6 * w}; break;
  }
  cairo_set_line_cap(cr, s.dash == Dash::dotted ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT);
  cairo_set_dash(cr, dashes.data(), int(dashes.size()), 0);
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::vector<std::string>& formats() {
  static std::vector<std::string> f{"png"};
  return f;
}

}  // namespace

std::string hex_colour(Rgb c) {
  char b[8];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", c[0], c[1], c[2]);
  return b;
}

std::optional<Rgb> parse_hex_colour(const std::string& text) {
  unsigned r = 0, g = 0, b = 0;
  char tail = 0;
  if (text.size() != 7 || std::sscanf(text.c_str(), "#%2x%2x%2x%c", &r, &g, &b, &tail) != 3) return std::nullopt;
  return Rgb{uint8_t(r), uint8_t(g), uint8_t(b)};
}

bool segment_hits(Point a, Point b, const Rect& r) {
  // Liang-Barsky: clip the parameter range of a + t (b - a), t in [0, 1], to the rectangle's four half-planes.
  double t0 = 0, t1 = 1;
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double p[4] = {-dx, dx, -dy, dy}, q[4] = {a.x - r.x, r.right() - a.x, a.y - r.y, r.bottom() - a.y};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0) t0 = std::max(t0, t);
    else t1 = std::min(t1, t);
    if (t0 > t1) return false;
  }
  return true;
}

TextSize measure_text(const std::string& s, double size, bool bold) {
  struct Context {
    cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t* cr = cairo_create(surface);
    ~Context() {
      cairo_destroy(cr);
      cairo_surface_destroy(surface);
    }
  };
  static thread_local Context c;
  set_font(c.cr, size, bold);
  cairo_text_extents_t e;
  cairo_text_extents(c.cr, s.c_str(), &e);
  return {e.x_advance, size};
}

uint32_t argb(Rgb c, double alpha) {
  const double a = std::clamp(alpha, 0.0, 1.0);
  const auto ch = [&](uint8_t v) { return uint32_t(std::lround(v * a)); };
  return uint32_t(std::lround(255 * a)) << 24 | ch(c[0]) << 16 | ch(c[1]) << 8 | ch(c[2]);
}

Figure::Figure(int width, int height) : w_(width), h_(height) {
  STRATA_CHECK(width > 0 && height > 0 && width <= 20000 && height <= 20000, "figure: size ", width, "x", height,
               " is outside 1..20000 pixels");
}

void Figure::polyline(const std::vector<Point>& points, const Stroke& stroke) {
  if (points.size() >= 2) ops_.push_back(Line{points, stroke});
}
void Figure::rect(const Rect& r, std::optional<Rgb> fill, std::optional<Stroke> edge) { ops_.push_back(Box{r, fill, edge}); }
void Figure::marker(Point at, Marker m, double size, Rgb colour, bool hollow) {
  if (m != Marker::none) ops_.push_back(Mark{at, m, size, colour, hollow});
}
void Figure::text(Point at, const std::string& s, const Font& font) {
  if (!s.empty()) ops_.push_back(Text{at, s, font});
}
void Figure::picture(const Rect& where, Picture p) {
  STRATA_CHECK(p.width > 0 && p.height > 0 && p.argb.size() == size_t(p.width) * size_t(p.height), "figure: a picture of ",
               p.width, "x", p.height, " holds ", p.argb.size(), " pixels");
  ops_.push_back(Image{where, std::move(p)});
}
void Figure::clip(const Rect& r) { ops_.push_back(Clip{r}); }
void Figure::unclip() { ops_.push_back(Clip{std::nullopt}); }

std::vector<std::string> Figure::texts() const {
  std::vector<std::string> out;
  for (const Op& op : ops_)
    if (const auto* t = std::get_if<Text>(&op)) out.push_back(t->s);
  return out;
}

void Figure::render(void* cairo, bool with_text) const {
  cairo_t* cr = static_cast<cairo_t*>(cairo);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  for (const Op& op : ops_) {
    if (const auto* l = std::get_if<Line>(&op)) {
      cairo_move_to(cr, l->points[0].x, l->points[0].y);
      for (size_t i = 1; i < l->points.size(); ++i) cairo_line_to(cr, l->points[i].x, l->points[i].y);
      set_stroke(cr, l->stroke);
      cairo_stroke(cr);
    } else if (const auto* b = std::get_if<Box>(&op)) {
      cairo_rectangle(cr, b->r.x, b->r.y, b->r.w, b->r.h);
      if (b->fill) {
        set_colour(cr, *b->fill);
        if (b->edge) cairo_fill_preserve(cr);
        else cairo_fill(cr);
      }
      if (b->edge) {
        set_stroke(cr, *b->edge);
        cairo_stroke(cr);
      }
    } else if (const auto* m = std::get_if<Mark>(&op)) {
      const double r = m->size / 2, x = m->at.x, y = m->at.y;
      switch (m->m) {
        case Marker::circle: cairo_arc(cr, x, y, r, 0, 2 * kPi); break;
        case Marker::square: cairo_rectangle(cr, x - 0.85 * r, y - 0.85 * r, 1.7 * r, 1.7 * r); break;
        case Marker::triangle:
          cairo_move_to(cr, x, y - r);
          cairo_line_to(cr, x + 0.95 * r, y + 0.75 * r);
          cairo_line_to(cr, x - 0.95 * r, y + 0.75 * r);
          cairo_close_path(cr);
          break;
        case Marker::diamond:
          cairo_move_to(cr, x, y - r);
          cairo_line_to(cr, x + 0.75 * r, y);
          cairo_line_to(cr, x, y + r);
          cairo_line_to(cr, x - 0.75 * r, y);
          cairo_close_path(cr);
          break;
        case Marker::none: break;
      }
      if (m->hollow) cairo_set_source_rgb(cr, 1, 1, 1);
      else set_colour(cr, m->colour);
      cairo_fill_preserve(cr);
      set_stroke(cr, Stroke{m->colour, 1.2});
      cairo_stroke(cr);
    } else if (const auto* t = std::get_if<Text>(&op)) {
      if (!with_text) continue;
      cairo_save(cr);
      set_font(cr, t->font.size, t->font.bold);
      set_colour(cr, t->font.colour);
      cairo_translate(cr, t->at.x, t->at.y);
      cairo_rotate(cr, -t->font.angle * kPi / 180);
      const double w = measure_text(t->s, t->font.size, t->font.bold).w;
      cairo_move_to(cr, -w * align_fraction(t->font.h), baseline_offset(t->font.v, t->font.size));
      cairo_show_text(cr, t->s.c_str());
      cairo_new_path(cr);
      cairo_restore(cr);
    } else if (const auto* im = std::get_if<Image>(&op)) {
      cairo_surface_t* s = cairo_image_surface_create_for_data(
          reinterpret_cast<unsigned char*>(const_cast<uint32_t*>(im->p.argb.data())), CAIRO_FORMAT_ARGB32, im->p.width,
          im->p.height, im->p.width * 4);
      cairo_save(cr);
      cairo_translate(cr, im->where.x, im->where.y);
      cairo_scale(cr, im->where.w / im->p.width, im->where.h / im->p.height);
      cairo_set_source_surface(cr, s, 0, 0);
      cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
      cairo_paint(cr);
      cairo_restore(cr);
      cairo_surface_destroy(s);
    } else if (const auto* c = std::get_if<Clip>(&op)) {
      cairo_reset_clip(cr);
      if (c->r) {
        cairo_rectangle(cr, c->r->x, c->r->y, c->r->w, c->r->h);
        cairo_clip(cr);
      }
    }
  }
}

void Figure::write_svg(const std::string& path) const {
  // cairo draws the shapes and pictures; the text goes in as <text> elements on top (no figure draws over text).
  std::string svg;
  {
    std::ostringstream body;
    cairo_surface_t* s = cairo_svg_surface_create_for_stream(
        [](void* closure, const unsigned char* data, unsigned int n) {
          static_cast<std::ostringstream*>(closure)->write(reinterpret_cast<const char*>(data), n);
          return CAIRO_STATUS_SUCCESS;
        },
        &body, w_, h_);
    cairo_svg_surface_set_document_unit(s, CAIRO_SVG_UNIT_PX);
    cairo_t* cr = cairo_create(s);
    render(cr, false);
    const cairo_status_t status = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    cairo_surface_destroy(s);
    STRATA_CHECK(status == CAIRO_STATUS_SUCCESS, path, ": cairo could not draw the figure: ", cairo_status_to_string(status));
    svg = body.str();
  }
  std::ostringstream text;
  text << "<g font-family=\"" << kFontFamily << ", sans-serif\">\n";
  for (const Op& op : ops_) {
    const auto* t = std::get_if<Text>(&op);
    if (!t) continue;
    const char* anchor = t->font.h == HAlign::left ? "start" : t->font.h == HAlign::center ? "middle" : "end";
    char head[256];
    std::snprintf(head, sizeof head, "<text transform=\"translate(%.2f %.2f) rotate(%g)\" y=\"%.2f\" font-size=\"%g\"%s",
                  t->at.x, t->at.y, -t->font.angle, baseline_offset(t->font.v, t->font.size), t->font.size,
                  t->font.bold ? " font-weight=\"bold\"" : "");
    text << head << " text-anchor=\"" << anchor << "\" fill=\"" << hex_colour(t->font.colour) << "\">" << xml_escape(t->s)
         << "</text>\n";
  }
  text << "</g>\n";
  const size_t end = svg.rfind("</svg>");
  STRATA_CHECK(end != std::string::npos, path, ": cairo's SVG has no closing </svg>");
  svg.insert(end, text.str());
  write_file_atomic(path, [&](std::ostream& f) { f << svg; });
}

void Figure::write(const std::string& path) const {
  const std::string ext = lower_extension(path);
  if (ext == ".svg") return write_svg(path);
  STRATA_CHECK(ext == ".png" || ext == ".pdf", path, ": a figure is written as .png, .svg or .pdf");
  write_file_atomic_via(path, [&](const std::string& tmp) {
    cairo_surface_t* s = ext == ".png" ? cairo_image_surface_create(CAIRO_FORMAT_RGB24, w_, h_)
                                       : cairo_pdf_surface_create(tmp.c_str(), w_, h_);
    cairo_t* cr = cairo_create(s);
    render(cr, true);
    bool ok = cairo_status(cr) == CAIRO_STATUS_SUCCESS;
    cairo_destroy(cr);
    if (ext == ".png") ok = ok && cairo_surface_write_to_png(s, tmp.c_str()) == CAIRO_STATUS_SUCCESS;
    cairo_surface_finish(s);
    ok = ok && cairo_surface_status(s) == CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(s);
    return ok;
  });
}

void Figure::save(const std::string& path) const {
  for (const std::string& f : figure_formats()) write(fs::path(path).replace_extension("." + f).string());
}

void set_figure_formats(const std::vector<std::string>& list, const std::string& setting) {
  STRATA_CHECK(!list.empty(), setting, ": name at least one of png, svg, pdf");
  for (const std::string& f : list)
    STRATA_CHECK(f == "png" || f == "svg" || f == "pdf", setting, ": '", f, "' is not one of png, svg, pdf");
  formats() = list;
}
const std::vector<std::string>& figure_formats() { return formats(); }

// ---- colour ----------------------------------------------------------------

Rgb colour_at(Colormap map, double t) {
  // Each map as evenly spaced stops (matplotlib's and ColorBrewer's published colours), interpolated linearly.
  static const std::vector<uint32_t> stops[] = {
      {0x000000, 0xffffff},
      {0x000004, 0x180f3d, 0x440f76, 0x721f81, 0x9e2f7f, 0xcd4071, 0xf1605d, 0xfd9668, 0xfeca8d, 0xfcfdbf},
      {0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6, 0x4292c6, 0x2171b5, 0x08519c, 0x08306b},
      {0xffff33, 0xffd700, 0xffa500, 0xff6a00, 0xe31a1c, 0xb00026, 0x800026},
  };
  const std::vector<uint32_t>& s = stops[size_t(map)];
  const double u = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * double(s.size() - 1);
  const size_t i = std::min(size_t(u), s.size() - 2);
  const double f = u - double(i);
  Rgb out;
  for (int c = 0; c < 3; ++c) {
    const double a = double((s[i] >> (16 - 8 * c)) & 0xff), b = double((s[i + 1] >> (16 - 8 * c)) & 0xff);
    out[size_t(c)] = uint8_t(std::lround(a + f * (b - a)));
  }
  return out;
}

Rgb palette_colour(int64_t k) {
  static const Rgb p[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},   {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
                          {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}, {0, 0, 128},     {128, 128, 0}};
  return p[size_t(k) % std::size(p)];
}

Rgb text_colour_on(Rgb b) {
  const double luminance = 0.299 * b[0] + 0.587 * b[1] + 0.114 * b[2];
  return luminance < 140 ? Rgb{255, 255, 255} : Rgb{0, 0, 0};
}

// ---- axes ------------------------------------------------------------------

namespace {

std::string tick_label(double v, int decimals) {
  char b[32];
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-4)) std::snprintf(b, sizeof b, "%.0e", v);
  else std::snprintf(b, sizeof b, "%.*f", decimals, std::abs(v) < 1e-12 ? 0.0 : v);
  return b;
}

}  // namespace

Ticks nice_ticks(double lo, double hi, int target, bool integer, bool log) {
  Ticks t;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return t;
  if (log && lo > 0) {
    const int a = int(std::floor(std::log10(lo) + 1e-9)), b = int(std::ceil(std::log10(hi) - 1e-9));
    const bool fill = b - a < 3;  // few decades: 2 and 5 between the powers of ten
    for (int k = a; k <= b; ++k)
      for (double m : fill ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
        const double v = m * std::pow(10.0, k);
        if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
        t.at.push_back(v);
        t.text.push_back(tick_label(v, std::max(0, -k)));
      }
    return t;
  }
  const double raw = (hi - lo) / std::max(1, target), mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  if (integer) step = std::max(1.0, std::round(step));
  const int decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + 1e-9 * step; k += 1) {
    t.at.push_back(k * step);
    t.text.push_back(tick_label(k * step, decimals));
  }
  return t;
}

double Axes::px(double v) const {
  const double f = x.log ? (std::log10(v) - std::log10(x.lo)) / (std::log10(x.hi) - std::log10(x.lo))
                         : (v - x.lo) / (x.hi - x.lo);
  return area.x + (x.reversed ? 1 - f : f) * area.w;
}

double Axes::py(double v) const {
  const double f = y.log ? (std::log10(v) - std::log10(y.lo)) / (std::log10(y.hi) - std::log10(y.lo))
                         : (v - y.lo) / (y.hi - y.lo);
  return area.y + (y.reversed ? f : 1 - f) * area.h;
}

namespace {
constexpr double kTickFont = 12, kLabelFont = 13, kTickLength = 4, kTickGap = 3;
const Rgb kGridColour{224, 224, 224};
}  // namespace

void draw_grid(Figure& f, const Axes& a, const Ticks& xt, const Ticks& yt) {
  for (double v : xt.at) f.line({a.px(v), a.area.y}, {a.px(v), a.area.bottom()}, Stroke{kGridColour, 0.8});
  for (double v : yt.at) f.line({a.area.x, a.py(v)}, {a.area.right(), a.py(v)}, Stroke{kGridColour, 0.8});
}

double frame_left_margin(const Ticks& yt, bool y_label) {
  double w = 0;
  for (const std::string& s : yt.text) w = std::max(w, measure_text(s, kTickFont).w);
  return kTickLength + kTickGap + w + (y_label ? 8 + kLabelFont : 0) + 8;
}

double frame_bottom_margin(bool x_label) { return kTickLength + kTickGap + kTickFont + (x_label ? 8 + kLabelFont : 0) + 6; }

void draw_frame(Figure& f, const Axes& a, const Ticks& xt, const Ticks& yt, const std::string& x_label,
                const std::string& y_label) {
  const Stroke spine{{40, 40, 40}, 1};
  f.rect(a.area, std::nullopt, spine);
  const Font tick{kTickFont, false, {30, 30, 30}};
  for (size_t i = 0; i < xt.at.size(); ++i) {
    const double x = a.px(xt.at[i]);
    f.line({x, a.area.bottom()}, {x, a.area.bottom() + kTickLength}, spine);
    Font t = tick;
    t.h = HAlign::center, t.v = VAlign::top;
    f.text({x, a.area.bottom() + kTickLength + kTickGap}, xt.text[i], t);
  }
  double widest = 0;
  for (size_t i = 0; i < yt.at.size(); ++i) {
    const double y = a.py(yt.at[i]);
    f.line({a.area.x - kTickLength, y}, {a.area.x, y}, spine);
    Font t = tick;
    t.h = HAlign::right, t.v = VAlign::middle;
    f.text({a.area.x - kTickLength - kTickGap, y}, yt.text[i], t);
    widest = std::max(widest, measure_text(yt.text[i], kTickFont).w);
  }
  Font label{kLabelFont};
  label.h = HAlign::center;
  label.v = VAlign::top;
  f.text({a.area.x + a.area.w / 2, a.area.bottom() + kTickLength + kTickGap + kTickFont + 8}, x_label, label);
  label.angle = 90;
  label.v = VAlign::bottom;
  f.text({a.area.x - kTickLength - kTickGap - widest - 8, a.area.y + a.area.h / 2}, y_label, label);
}

// ---- colour bar and legend -------------------------------------------------

double colour_bar_width(double lo, double hi, const std::string& label) {
  double w = 0;
  for (const std::string& s : nice_ticks(lo, hi, 5).text) w = std::max(w, measure_text(s, kTickFont).w);
  return kTickLength + kTickGap + w + (label.empty() ? 0 : 6 + kLabelFont) + 4;
}

void draw_colour_bar(Figure& f, const Rect& bar, Colormap map, double lo, double hi, const std::string& label) {
  const int h = std::max(2, int(std::lround(bar.h)));
  Picture p{1, h, std::vector<uint32_t>(size_t(h))};
  for (int i = 0; i < h; ++i) p.argb[size_t(i)] = argb(colour_at(map, 1.0 - (i + 0.5) / h));
  f.picture(bar, std::move(p));
  const Stroke spine{{40, 40, 40}, 1};
  f.rect(bar, std::nullopt, spine);
  if (!(hi > lo)) hi = lo + 1;
  const Ticks t = nice_ticks(lo, hi, 5);
  double widest = 0;
  Font font{kTickFont, false, {30, 30, 30}};
  font.v = VAlign::middle;
  for (size_t i = 0; i < t.at.size(); ++i) {
    const double y = bar.bottom() - (t.at[i] - lo) / (hi - lo) * bar.h;
    f.line({bar.right(), y}, {bar.right() + kTickLength, y}, spine);
    f.text({bar.right() + kTickLength + kTickGap, y}, t.text[i], font);
    widest = std::max(widest, measure_text(t.text[i], kTickFont).w);
  }
  Font l{kLabelFont};
  l.angle = 90, l.h = HAlign::center, l.v = VAlign::top;
  f.text({bar.right() + kTickLength + kTickGap + widest + 6, bar.y + bar.h / 2}, label, l);
}

namespace {
constexpr double kLegendFont = 12, kLegendRow = 19, kLegendSample = 26, kLegendPad = 7;
}

TextSize legend_size(const std::vector<LegendEntry>& entries) {
  double w = 0;
  for (const LegendEntry& e : entries) w = std::max(w, measure_text(e.name, kLegendFont).w);
  return {kLegendPad + kLegendSample + 6 + w + kLegendPad, 2 * kLegendPad + kLegendRow * double(entries.size()) - 4};
}

std::optional<Rect> place_legend(const Rect& plot, TextSize size, const std::vector<std::vector<Point>>& curves) {
  if (size.w + 16 > plot.w || size.h + 16 > plot.h) return std::nullopt;
  const double in = 8, l = plot.x + in, r = plot.right() - in - size.w, t = plot.y + in, b = plot.bottom() - in - size.h;
  const double cx = plot.x + (plot.w - size.w) / 2, cy = plot.y + (plot.h - size.h) / 2;
  const Point corners[] = {{r, t}, {l, t}, {r, b}, {l, b}, {r, cy}, {l, cy}, {cx, t}, {cx, b}, {cx, cy}};
  for (const Point c : corners) {
    const Rect box{c.x - 3, c.y - 3, size.w + 6, size.h + 6};  // a little air around the legend
    bool free = true;
    for (const auto& curve : curves) {
      if (curve.size() == 1) free = free && !box.contains(curve[0]);
      for (size_t i = 1; free && i < curve.size(); ++i) free = !segment_hits(curve[i - 1], curve[i], box);
      if (!free) break;
    }
    if (free) return Rect{c.x, c.y, size.w, size.h};
  }
  return std::nullopt;
}

void draw_legend(Figure& f, const Rect& box, const std::vector<LegendEntry>& entries) {
  f.rect(box, Rgb{255, 255, 255}, Stroke{{200, 200, 200}, 1});
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const double y = box.y + kLegendPad + kLegendRow * double(i) + (kLegendRow - 4) / 2, x = box.x + kLegendPad;
    if (e.patch) {
      f.rect({x + kLegendSample / 2 - 6, y - 6, 12, 12}, *e.patch, Stroke{{90, 90, 90}, 0.6});
    } else {
      f.line({x, y}, {x + kLegendSample, y}, e.stroke);
      f.marker({x + kLegendSample / 2, y}, e.marker, 7, e.stroke.colour, e.hollow);
    }
    Font font{kLegendFont};
    font.v = VAlign::middle;
    f.text({x + kLegendSample + 6, y}, e.name, font);
  }
}

}  // namespace strata
