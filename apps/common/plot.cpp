#include "apps/common/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/error.h"

namespace strata {
namespace {

constexpr double kTitleFont = 15, kCaptionFont = 11;
const Rgb kCaptionColour{90, 90, 90};

void title_text(Figure& f, double x, double y, const std::string& s, HAlign h = HAlign::center) {
  Font font{kTitleFont};
  font.h = h, font.v = VAlign::top;
  f.text({x, y}, s, font);
}

void caption(Figure& f, double x, double y, const std::string& s) {
  Font font{kCaptionFont, false, kCaptionColour};
  font.v = VAlign::top;
  f.text({x, y}, s, font);
}

std::string non_finite_note(int64_t n, const char* what) {
  return n == 0 ? "" : str_cat(n, " non-finite ", what, n == 1 ? "" : "s", " not drawn");
}

// Whether series b runs on top of series a: the same x values and y within a thousandth of the plot's range.
bool coincides(const Series& a, const Series& b, double y_range) {
  if (a.x.size() != b.x.size() || a.x.size() < 2) return false;
  for (size_t i = 0; i < a.x.size(); ++i) {
    if (a.x[i] != b.x[i]) return false;
    const bool fa = std::isfinite(a.y[i]), fb = std::isfinite(b.y[i]);
    if (fa != fb || (fa && std::abs(a.y[i] - b.y[i]) > 1e-3 * y_range)) return false;
  }
  return true;
}

}  // namespace

double probability_scale(double top) {
  // Below 0.01 the map holds nothing worth showing: stretching it would paint noise as if it were a finding.
  if (!(top >= 0.01) || top >= 0.5) return 1.0;
  const double mag = std::pow(10.0, std::floor(std::log10(top)) - 1);
  return std::min(1.0, std::ceil(top / mag - 1e-9) * mag);
}

// ---- line plots --------------------------------------------------------------

Figure line_figure(const std::string& title, const std::string& x_label, const std::string& y_label,
                   const std::vector<Series>& series, const LinePlotOptions& o) {
  constexpr int W = 820, H = 500;
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  int64_t skipped = 0;
  const auto usable = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && (!o.log_y || y > 0); };
  for (const Series& s : series) {
    STRATA_CHECK(s.x.size() == s.y.size(), "plot '", title, "': series '", s.name, "' has ", s.x.size(), " x and ",
                 s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], s.y[i])) {
        ++skipped;
        continue;
      }
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
    }
  }
  if (xlo > xhi) xlo = 0, xhi = 1, ylo = o.log_y ? 0.1 : 0, yhi = 1;  // nothing to draw: empty axes
  if (o.y_lo && o.y_hi) ylo = *o.y_lo, yhi = *o.y_hi;
  if (xhi == xlo) xlo -= 0.5, xhi += 0.5;
  if (yhi == ylo) ylo -= o.log_y ? ylo / 2 : 0.5, yhi += o.log_y ? yhi : 0.5;
  Scale xs{xlo, xhi}, ys{ylo, yhi, o.log_y};
  // Margins as matplotlib's: 3% of the range on x, 5% on y (a factor on a log axis), so no curve lies on the frame.
  const double xpad = 0.03 * (xhi - xlo);
  xs.lo -= xpad, xs.hi += xpad;
  if (o.log_y) ys.lo /= 1.25, ys.hi *= 1.25;
  else ys.lo -= 0.05 * (yhi - ylo), ys.hi += 0.05 * (yhi - ylo);

  const Ticks xt = nice_ticks(xs.lo, xs.hi, 8, o.integer_x), yt = nice_ticks(ys.lo, ys.hi, 6, false, o.log_y);
  const double left = frame_left_margin(yt, !y_label.empty()) + 4, top = 40;
  const double bottom = frame_bottom_margin(!x_label.empty()) + (skipped ? 18 : 0);
  Axes axes{{left, top, W - left - 20, H - top - bottom}, xs, ys};

  // Styles: the palette's colours; a series that runs on top of an earlier one dashed, with hollow markers.
  std::vector<LegendEntry> entries;
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    LegendEntry e;
    e.name = s.name;
    // Past the palette's 12 colours the line style changes, so no two series look alike.
    constexpr Dash cycle[] = {Dash::solid, Dash::dashed, Dash::dotted, Dash::dash_dot};
    e.stroke = Stroke{s.colour.value_or(palette_colour(int64_t(k))), 1.8, s.dash.value_or(cycle[(k / 12) % 4])};
    bool hidden = false;
    for (size_t j = 0; j < k; ++j) hidden = hidden || coincides(series[j], s, yhi - ylo);
    if (hidden && !s.dash) e.stroke.dash = Dash::dashed;
    int64_t finite = 0;
    for (size_t i = 0; i < s.x.size(); ++i) finite += usable(s.x[i], s.y[i]);
    if ((finite <= 60 && s.x.size() > 2) || finite == 1) {
      constexpr Marker shapes[] = {Marker::circle, Marker::square, Marker::triangle, Marker::diamond};
      e.marker = shapes[k % 4];
      e.hollow = hidden;
    }
    entries.push_back(e);
  }

  // Pixel curves, then the legend where it covers none of them (outside, on the right, when every place would).
  std::vector<std::vector<Point>> curves;
  const auto pixel_curves = [&] {
    curves.clear();
    for (const Series& s : series) {
      std::vector<Point> c;
      for (size_t i = 0; i < s.x.size(); ++i)
        if (usable(s.x[i], s.y[i])) c.push_back({axes.px(s.x[i]), axes.py(s.y[i])});
      curves.push_back(std::move(c));
    }
  };
  pixel_curves();
  std::optional<Rect> legend;
  if (!entries.empty()) {
    const TextSize size = legend_size(entries);
    legend = place_legend(axes.area, size, curves);
    if (!legend) {
      axes.area.w -= size.w + 16;
      legend = Rect{axes.area.right() + 12, axes.area.y, size.w, size.h};
      pixel_curves();
    }
  }

  Figure f(W, H);
  draw_grid(f, axes, xt, yt);
  f.clip(axes.area);
  for (size_t k = 0; k < series.size(); ++k) {
    // Consecutive drawable points are joined (a metric recorded every few epochs has no points between).
    f.polyline(curves[k], entries[k].stroke);
    if (entries[k].marker != Marker::none)
      for (const Point& p : curves[k]) f.marker(p, entries[k].marker, entries[k].hollow ? 8 : 6, entries[k].stroke.colour, entries[k].hollow);
  }
  f.unclip();
  draw_frame(f, axes, xt, yt, x_label, y_label);
  if (legend) draw_legend(f, *legend, entries);
  title_text(f, axes.area.x + axes.area.w / 2, 12, title);
  if (skipped) caption(f, 10, H - 18, non_finite_note(skipped, "value"));
  return f;
}

void line_plot(const std::string& path, const std::string& title, const std::string& x_label,
               const std::string& y_label, const std::vector<Series>& series, const LinePlotOptions& options) {
  line_figure(title, x_label, y_label, series, options).save(path);
}

// ---- confusion matrix --------------------------------------------------------

Figure confusion_figure(const std::string& title, const ConfusionMatrix& m, const std::vector<std::string>& labels) {
  const int k = int(m.classes());
  const double cell = std::clamp(560.0 / k, 34.0, 80.0), font = cell < 44 ? 10.5 : 12;
  const auto label = [&](int c) { return c < int(labels.size()) ? labels[size_t(c)] : std::to_string(c); };
  // Counts when they fit in a cell; otherwise (segmentation: millions of pixels) each cell is the share of its row,
  // the true class's samples, in percent. Column names are rotated when any is wider than a cell.
  bool counts_fit = true;
  double widest = 0;
  for (int t = 0; t < k; ++t) {
    widest = std::max(widest, measure_text(label(t), 12).w);
    for (int p = 0; p < k; ++p) counts_fit = counts_fit && measure_text(std::to_string(m.count(t, p)), font).w <= cell - 6;
  }
  const bool rotate = widest > cell - 4;
  const double header = rotate ? 0.71 * widest + 16 : 22;
  const double left = 16 + 13 + 10 + widest + 8, top = 44 + header + 20;
  const double bar_w = 16, bar_room = 14 + bar_w + colour_bar_width(0, 100, "% of the true class");
  const int W = int(left + k * cell + bar_room + 12), H = int(top + k * cell + 54);
  Figure f(W, H);

  for (int t = 0; t < k; ++t) {
    const int64_t row = m.true_count(t);
    for (int p = 0; p < k; ++p) {
      const double share = row ? double(m.count(t, p)) / double(row) : 0.0;
      const Rgb c = colour_at(Colormap::blues, share);
      const Rect r{left + p * cell, top + t * cell, cell, cell};
      f.rect(r, c);
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.1f", 100 * share);
      Font v{font, false, text_colour_on(c)};
      v.h = HAlign::center, v.v = VAlign::middle;
      f.text({r.x + cell / 2, r.y + cell / 2}, counts_fit ? std::to_string(m.count(t, p)) : std::string(pct), v);
    }
    Font row_name{12};
    row_name.h = HAlign::right, row_name.v = VAlign::middle;
    f.text({left - 8, top + t * cell + cell / 2}, label(t), row_name);
  }
  f.rect({left, top, k * cell, k * cell}, std::nullopt, Stroke{{40, 40, 40}, 1});
  for (int p = 0; p < k; ++p) {
    Font col{12};
    col.v = VAlign::middle;
    if (rotate) col.angle = 45, col.h = HAlign::left;
    else col.h = HAlign::center;
    f.text({left + p * cell + cell / 2 - (rotate ? 4 : 0), top - (rotate ? 10 : 12)}, label(p), col);
  }
  Font axis{13};
  axis.h = HAlign::center, axis.v = VAlign::top;
  f.text({left + k * cell / 2, top - header - 20}, "predicted class", axis);
  axis.angle = 90;
  f.text({16, top + k * cell / 2}, "true class", axis);
  draw_colour_bar(f, {left + k * cell + 14, top, bar_w, k * cell}, Colormap::blues, 0, 100, "% of the true class");
  title_text(f, 12, 12, title, HAlign::left);
  char acc[128];
  std::snprintf(acc, sizeof acc, "accuracy %.3f, n = %lld%s", m.accuracy(), static_cast<long long>(m.total()),
                counts_fit ? "; cells: counts, shaded by the share of the true class" : "; cells: % of the true class");
  caption(f, left, top + k * cell + 14, acc);
  return f;
}

void confusion_plot(const std::string& path, const std::string& title, const ConfusionMatrix& m,
                    const std::vector<std::string>& labels) {
  confusion_figure(title, m, labels).save(path);
}

// ---- image panels ------------------------------------------------------------

namespace {

constexpr double kPanelTitle = 13, kBarWidth = 14;

// The panel's colour at source pixel i; `bad` counts non-finite values.
Rgb panel_colour(const Panel& p, size_t i, int64_t& bad) {
  Rgb c;
  if (p.channels == 3) {
    for (int ch = 0; ch < 3; ++ch) {
      const float v = p.pixels[3 * i + size_t(ch)];
      if (!std::isfinite(v)) return ++bad, Rgb{128, 128, 128};
      c[size_t(ch)] = uint8_t(std::lround(255.0 * std::clamp(double(v), 0.0, 1.0)));
    }
  } else {
    const float v = p.pixels[i];
    if (!std::isfinite(v)) return ++bad, Rgb{128, 128, 128};
    c = colour_at(p.map, p.hi > p.lo ? (v - p.lo) / (p.hi - p.lo) : 0.0);
  }
  if (!p.overlay.empty()) {
    const float q = p.overlay[i];
    if (std::isfinite(q) && q > p.overlay_floor) {
      const double t = std::min(1.0, double(q) / p.overlay_hi), a = 0.85 * t;
      const Rgb o = colour_at(p.overlay_map, t);
      for (int ch = 0; ch < 3; ++ch) c[size_t(ch)] = uint8_t(std::lround((1 - a) * c[size_t(ch)] + a * o[size_t(ch)]));
    } else if (!std::isfinite(q)) {
      ++bad;
    }
  }
  return c;
}

// The panel resampled to w x h display pixels: nearest source pixel when enlarging, the mean of the covered
// source pixels when shrinking (so a large seismic section does not alias).
Picture panel_picture(const Panel& p, int w, int h, int64_t& bad) {
  std::vector<Rgb> src(size_t(p.height * p.width));
  for (size_t i = 0; i < src.size(); ++i) src[i] = panel_colour(p, i, bad);
  Picture out{w, h, std::vector<uint32_t>(size_t(w) * size_t(h))};
  const double sy = double(p.height) / h, sx = double(p.width) / w;
  for (int y = 0; y < h; ++y) {
    const int64_t y0 = std::min<int64_t>(p.height - 1, int64_t(y * sy));
    const int64_t y1 = std::max(y0 + 1, std::min<int64_t>(p.height, int64_t(std::ceil((y + 1) * sy))));
    for (int x = 0; x < w; ++x) {
      const int64_t x0 = std::min<int64_t>(p.width - 1, int64_t(x * sx));
      const int64_t x1 = std::max(x0 + 1, std::min<int64_t>(p.width, int64_t(std::ceil((x + 1) * sx))));
      double acc[3] = {0, 0, 0};
      for (int64_t yy = y0; yy < y1; ++yy)
        for (int64_t xx = x0; xx < x1; ++xx)
          for (int c = 0; c < 3; ++c) acc[c] += src[size_t(yy * p.width + xx)][size_t(c)];
      const double n = double((y1 - y0) * (x1 - x0));
      out.argb[size_t(y) * size_t(w) + size_t(x)] =
          argb({uint8_t(std::lround(acc[0] / n)), uint8_t(std::lround(acc[1] / n)), uint8_t(std::lround(acc[2] / n))});
    }
  }
  return out;
}

struct PanelLayout {
  double img_w = 0, img_h = 0;  // display size of the image
  double left = 0, below = 0, right = 0;  // room for the y axis, the x axis, the colour bar
  Ticks xt, yt;
  double width() const { return left + img_w + right; }
  double height() const { return kPanelTitle + 8 + img_h + below; }
};

PanelLayout layout_of(const Panel& p, int cell) {
  PanelLayout l;
  const double s = double(cell) / double(std::max(p.height, p.width));
  l.img_w = std::max(1.0, std::round(double(p.width) * s)), l.img_h = std::max(1.0, std::round(double(p.height) * s));
  const auto ticks = [](const PanelAxis& a, int64_t n, int target) {
    const double lo = a.first, hi = a.first + a.step * double(n - 1);
    return nice_ticks(std::min(lo, hi), std::max(lo, hi), target, std::abs(a.step) >= 1 && a.step == std::round(a.step));
  };
  if (!p.y.label.empty()) l.yt = ticks(p.y, p.height, 5), l.left = frame_left_margin(l.yt, true);
  if (!p.x.label.empty()) l.xt = ticks(p.x, p.width, std::max(2, int(l.img_w / 90))), l.below = frame_bottom_margin(true);
  const bool overlay_bar = !p.overlay.empty() && !p.overlay_bar.empty();
  if (overlay_bar) l.right = 10 + kBarWidth + colour_bar_width(0, p.overlay_hi, p.overlay_bar);
  else if (!p.bar.empty()) l.right = 10 + kBarWidth + colour_bar_width(p.lo, p.hi, p.bar);
  return l;
}

}  // namespace

Figure panels_figure(const std::vector<std::vector<Panel>>& rows, int cell, const std::vector<LegendEntry>& legend) {
  STRATA_CHECK(!rows.empty(), "image panels: no panels to draw");
  size_t cols = 0;
  for (const auto& r : rows) cols = std::max(cols, r.size());
  std::vector<std::vector<PanelLayout>> layouts(rows.size());
  std::vector<double> col_w(cols, 0), row_h(rows.size(), 0);
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const Panel& p = rows[r][c];
      STRATA_CHECK(p.channels == 1 || p.channels == 3, "panel '", p.title, "' has ", p.channels, " channels (1 or 3)");
      STRATA_CHECK(p.height > 0 && p.width > 0 && int64_t(p.pixels.size()) == p.height * p.width * p.channels, "panel '",
                   p.title, "' has ", p.pixels.size(), " values for ", p.height, "x", p.width, "x", p.channels);
      STRATA_CHECK(p.overlay.empty() || int64_t(p.overlay.size()) == p.height * p.width, "panel '", p.title,
                   "': overlay of ", p.overlay.size(), " values for ", p.height, "x", p.width);
      layouts[r].push_back(layout_of(p, cell));
      col_w[c] = std::max(col_w[c], layouts[r][c].width());
      row_h[r] = std::max(row_h[r], layouts[r][c].height());
    }
  constexpr double gap = 18, margin = 12;
  double W = margin, H = margin;
  for (double w : col_w) W += w + gap;
  for (double h : row_h) H += h + gap;
  // Room for the legend, the caption and titles longer than their panel.
  const double grid_w = W;
  if (!legend.empty()) {
    const TextSize size = legend_size(legend);
    W += size.w + margin;
    H = std::max(H, margin + kPanelTitle + 8 + size.h + gap);
  }
  H += 16;
  for (size_t r = 0; r < rows.size(); ++r)
    if (!rows[r].empty()) W = std::max(W, margin + measure_text(rows[r].back().title, kPanelTitle).w + 2 * margin);
  Figure f(int(std::ceil(W)), int(std::ceil(H)));
  int64_t bad = 0;
  double y = margin;
  for (size_t r = 0; r < rows.size(); ++r) {
    double x = margin;
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const Panel& p = rows[r][c];
      const PanelLayout& l = layouts[r][c];
      const Rect img{x + l.left, y + kPanelTitle + 8, l.img_w, l.img_h};
      Font t{kPanelTitle};
      t.v = VAlign::top;
      f.text({img.x, y}, p.title, t);
      f.picture(img, panel_picture(p, int(l.img_w), int(l.img_h), bad));
      if (!p.x.label.empty() || !p.y.label.empty()) {
        // Axes in data units: pixel centres at first + i * step.
        const auto scale = [](const PanelAxis& a, int64_t n) {
          const double lo = a.first - 0.5 * a.step, hi = a.first + (double(n) - 0.5) * a.step;
          return Scale{std::min(lo, hi), std::max(lo, hi), false, a.step < 0};
        };
        Axes a{img, scale(p.x, p.width), scale(p.y, p.height)};
        a.y.reversed = !a.y.reversed;  // rows run downwards
        draw_frame(f, a, l.xt, l.yt, p.x.label, p.y.label);
      }
      const Rect bar{img.right() + 10, img.y, kBarWidth, img.h};
      if (!p.overlay.empty() && !p.overlay_bar.empty()) {
        draw_colour_bar(f, bar, p.overlay_map, 0, p.overlay_hi, p.overlay_bar);
      } else if (!p.bar.empty()) {
        draw_colour_bar(f, bar, p.map, p.lo, p.hi, p.bar);
      }
      x += col_w[c] + gap;
    }
    y += row_h[r] + gap;
  }
  if (!legend.empty()) {
    const TextSize size = legend_size(legend);
    draw_legend(f, {grid_w, margin + kPanelTitle + 8, size.w, size.h}, legend);
  }
  if (bad) caption(f, margin, H - 18, str_cat(bad, " non-finite value", bad == 1 ? "" : "s", " drawn grey"));
  return f;
}

void image_panels(const std::string& path, const std::vector<std::vector<Panel>>& rows, int cell,
                  const std::vector<LegendEntry>& legend) {
  panels_figure(rows, cell, legend).save(path);
}

}  // namespace strata
