#include "apps/common/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/error.h"
#include "engine/file_io.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>

namespace strata {

Canvas::Canvas(int width, int height, Rgb bg) : w_(width), h_(height), px_(size_t(width) * size_t(height) * 3) {
  STRATA_CHECK(width > 0 && height > 0, "canvas: size must be positive, got ", width, "x", height);
  for (size_t i = 0; i < px_.size(); i += 3) px_[i] = bg[0], px_[i + 1] = bg[1], px_[i + 2] = bg[2];
}

void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
  uint8_t* p = &px_[(size_t(y) * size_t(w_) + size_t(x)) * 3];
  p[0] = c[0], p[1] = c[1], p[2] = c[2];
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Rgb c) {
  for (int y = std::max(0, y0); y < std::min(h_, y1); ++y)
    for (int x = std::max(0, x0); x < std::min(w_, x1); ++x) set(x, y, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, int thickness) {
  const double len = std::max(std::abs(x1 - x0), std::abs(y1 - y0));
  const int steps = std::max(1, int(std::ceil(len)));
  const int r0 = -(thickness - 1) / 2, r1 = thickness / 2;
  for (int i = 0; i <= steps; ++i) {
    const double t = double(i) / steps;
    const int x = int(std::lround(x0 + t * (x1 - x0))), y = int(std::lround(y0 + t * (y1 - y0)));
    for (int dy = r0; dy <= r1; ++dy)
      for (int dx = r0; dx <= r1; ++dx) set(x + dx, y + dy, c);
  }
}

void Canvas::text(int x, int y, const std::string& s, Rgb c, int scale) {
  // stb_easy_font emits axis-aligned quads (4 vertices of 16 bytes: x, y, z, colour).
  static thread_local std::vector<char> buffer(1 << 18);
  const int quads = stb_easy_font_print(0, 0, const_cast<char*>(s.c_str()), nullptr, buffer.data(), int(buffer.size()));
  for (int q = 0; q < quads; ++q) {
    const float* v0 = reinterpret_cast<const float*>(&buffer[size_t(q) * 64]);
    const float* v2 = reinterpret_cast<const float*>(&buffer[size_t(q) * 64 + 32]);
    fill_rect(x + int(v0[0]) * scale, y + int(v0[1]) * scale, x + int(v2[0]) * scale, y + int(v2[1]) * scale, c);
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  return stb_easy_font_width(const_cast<char*>(s.c_str())) * scale;
}

void Canvas::save_png(const std::string& path) const {
  write_file_atomic_via(path, [&](const std::string& tmp) {
    return stbi_write_png(tmp.c_str(), w_, h_, 3, px_.data(), w_ * 3) != 0;
  });
}

namespace {

const Rgb kBlack{0, 0, 0}, kGrey{200, 200, 200};

std::string tick_text(double v) {
  char buf[32];
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5)) std::snprintf(buf, sizeof buf, "%.1e", v);
  else std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// About n "nice" tick values (1, 2, 5 x 10^k steps) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int n) {
  const double raw = (hi - lo) / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(std::abs(v) < 1e-12 * step ? 0 : v);
  return t;
}

}  // namespace

Rgb class_colour(int64_t c) {
  static const Rgb palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
                                {0, 0, 128},    {128, 128, 0}};
  return palette[size_t(c) % std::size(palette)];
}

void line_plot(const std::string& path, const std::string& title, const std::string& x_label,
               const std::string& y_label, const std::vector<Series>& series, bool log_y) {
  const int W = 900, H = 560, left = 110, right = 30, top = 50, bottom = 70;
  Canvas cv(W, H);
  double xlo = 1e300, xhi = -1e300, ylo = 1e300, yhi = -1e300;
  auto ty = [&](double y) { return log_y ? std::log10(std::max(y, 1e-30)) : y; };
  for (const Series& s : series) {
    STRATA_CHECK(s.x.size() == s.y.size(), path, ": series '", s.name, "' has ", s.x.size(), " x and ", s.y.size(),
                 " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      ylo = std::min(ylo, ty(s.y[i])), yhi = std::max(yhi, ty(s.y[i]));
    }
  }
  if (xlo > xhi) xlo = 0, xhi = 1, ylo = 0, yhi = 1;  // nothing to draw: empty axes
  if (xhi == xlo) xhi = xlo + 1;
  if (yhi == ylo) yhi = ylo + 1;
  const double pad = 0.05 * (yhi - ylo);
  ylo -= pad, yhi += pad;
  const int pw = W - left - right, ph = H - top - bottom;
  auto px = [&](double x) { return left + (x - xlo) / (xhi - xlo) * pw; };
  auto py = [&](double y) { return top + ph - (ty(y) - ylo) / (yhi - ylo) * ph; };
  for (double t : nice_ticks(ylo, yhi, 6)) {
    const double y = top + ph - (t - ylo) / (yhi - ylo) * ph;
    cv.line(left, y, left + pw, y, kGrey);
    const std::string label = tick_text(log_y ? std::pow(10.0, t) : t);
    cv.text(left - 8 - Canvas::text_width(label), int(y) - 6, label, kBlack);
  }
  for (double t : nice_ticks(xlo, xhi, 8)) {
    const double x = px(t);
    cv.line(x, top + ph, x, top + ph + 5, kBlack);
    const std::string label = tick_text(t);
    cv.text(int(x) - Canvas::text_width(label) / 2, top + ph + 10, label, kBlack);
  }
  cv.line(left, top, left, top + ph, kBlack, 2);
  cv.line(left, top + ph, left + pw, top + ph, kBlack, 2);
  int legend_w = 200;  // the legend, top right, as wide as its longest name
  for (const Series& s : series) legend_w = std::max(legend_w, Canvas::text_width(s.name) + 40);
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const Rgb c = class_colour(int64_t(k));
    // Consecutive finite points are joined across missing values (a metric recorded every few epochs).
    size_t last = s.x.size(), finite = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      if (last < s.x.size()) cv.line(px(s.x[last]), py(s.y[last]), px(s.x[i]), py(s.y[i]), c, 2);
      last = i;
      ++finite;
    }
    if (finite == 1) cv.fill_rect(int(px(s.x[last])) - 3, int(py(s.y[last])) - 3, int(px(s.x[last])) + 4, int(py(s.y[last])) + 4, c);
  }
  // The legend on white, in the right-hand corner (top or bottom) that hides fewer points of the curves.
  const int lx = std::max(left + 10, left + pw - legend_w), lh = 8 + int(series.size()) * 20;
  const auto hidden = [&](int y0) {
    int n = 0;
    for (const Series& s : series)
      for (size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.y[i]) && px(s.x[i]) >= lx - 6 && py(s.y[i]) >= y0 && py(s.y[i]) <= y0 + lh) ++n;
    return n;
  };
  const int legend_top = hidden(top + 6) <= hidden(top + ph - lh - 6) ? top + 6 : top + ph - lh - 6;
  if (!series.empty()) cv.fill_rect(lx - 6, legend_top, left + pw - 2, legend_top + lh, Rgb{255, 255, 255});
  for (size_t k = 0; k < series.size(); ++k) {
    const int ly = legend_top + 4 + int(k) * 20;
    cv.fill_rect(lx, ly + 4, lx + 24, ly + 8, class_colour(int64_t(k)));
    cv.text(lx + 32, ly, series[k].name, kBlack);
  }
  cv.text((W - Canvas::text_width(title, 3)) / 2, 12, title, kBlack, 3);
  cv.text(left + (pw - Canvas::text_width(x_label)) / 2, H - 30, x_label, kBlack);
  cv.text(8, top - 30, y_label + (log_y ? " (log)" : ""), kBlack);
  cv.save_png(path);
}

void confusion_plot(const std::string& path, const std::string& title, const ConfusionMatrix& m,
                    const std::vector<std::string>& labels) {
  const int k = int(m.classes()), cell = std::max(40, std::min(90, 720 / k)), left = 130;
  auto label = [&](int c) { return c < int(labels.size()) ? labels[size_t(c)] : std::to_string(c); };
  // Counts when they fit in a cell; otherwise (segmentation: millions of pixels) each cell is the share of its
  // row, the true class's pixels, in percent. Column names wider than a cell go on two staggered lines.
  bool counts_fit = true, labels_fit = true;
  for (int t = 0; t < k; ++t) {
    labels_fit = labels_fit && Canvas::text_width(label(t)) <= cell - 4;
    for (int p = 0; p < k; ++p) counts_fit = counts_fit && Canvas::text_width(std::to_string(m.count(t, p))) <= cell - 4;
  }
  const int top = labels_fit ? 80 : 102;
  const int W = left + k * cell + 30, H = top + k * cell + 70;
  Canvas cv(W, H);
  for (int t = 0; t < k; ++t) {
    const int64_t row = m.true_count(t);
    for (int p = 0; p < k; ++p) {
      const double f = row ? double(m.count(t, p)) / double(row) : 0.0;
      const Rgb c{uint8_t(255 - 200 * f), uint8_t(255 - 150 * f), 255};
      const int x = left + p * cell, y = top + t * cell;
      cv.fill_rect(x, y, x + cell - 1, y + cell - 1, c);
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.1f", 100 * f);
      const std::string n = counts_fit ? std::to_string(m.count(t, p)) : std::string(pct);
      cv.text(x + (cell - Canvas::text_width(n)) / 2, y + cell / 2 - 7, n, f > 0.6 ? Rgb{255, 255, 255} : kBlack);
    }
    cv.text(left - 10 - Canvas::text_width(label(t)), top + t * cell + cell / 2 - 7, label(t), kBlack);
  }
  // Column names on two staggered lines when they are wider than a cell.
  for (int p = 0; p < k; ++p)
    cv.text(left + p * cell + (cell - Canvas::text_width(label(p))) / 2, top - 22 - (labels_fit || p % 2 == 0 ? 0 : 22),
            label(p), kBlack);
  cv.text(8, top - (labels_fit ? 22 : 44), "truth \\ pred", kBlack);
  char acc[96];
  std::snprintf(acc, sizeof acc, "accuracy %.3f, n = %lld%s", m.accuracy(), static_cast<long long>(m.total()),
                counts_fit ? "" : "; cells: % of the true class");
  cv.text(left, top + k * cell + 20, acc, kBlack);
  cv.text(8, 12, title, kBlack, 3);
  cv.save_png(path);
}

void image_panels(const std::string& path, const std::vector<std::vector<Panel>>& rows, int cell) {
  STRATA_CHECK(!rows.empty(), path, ": no panels to draw");
  size_t cols = 0;
  for (const auto& r : rows) cols = std::max(cols, r.size());
  const int title_h = 30, gap = 10;
  const int W = int(cols) * (cell + gap) + gap, H = int(rows.size()) * (cell + title_h + gap) + gap;
  Canvas cv(W, H);
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const Panel& p = rows[r][c];
      STRATA_CHECK(p.channels == 1 || p.channels == 3, path, ": panel '", p.title, "' has ", p.channels, " channels");
      STRATA_CHECK(int64_t(p.pixels.size()) == p.height * p.width * p.channels, path, ": panel '", p.title,
                   "' has ", p.pixels.size(), " values for ", p.height, "x", p.width, "x", p.channels);
      const int x0 = gap + int(c) * (cell + gap), y0 = gap + int(r) * (cell + title_h + gap);
      cv.text(x0, y0, p.title, kBlack);
      const double s = double(cell) / double(std::max(p.height, p.width));
      for (int y = 0; y < int(std::ceil(double(p.height) * s)); ++y)
        for (int x = 0; x < int(std::ceil(double(p.width) * s)); ++x) {
          const int64_t sy = std::min<int64_t>(p.height - 1, int64_t(y / s)), sx = std::min<int64_t>(p.width - 1, int64_t(x / s));
          Rgb v;
          for (int ch = 0; ch < 3; ++ch) {
            const float f = p.pixels[size_t((sy * p.width + sx) * p.channels + (p.channels == 3 ? ch : 0))];
            v[size_t(ch)] = uint8_t(std::lround(255.0 * std::clamp(double(f), 0.0, 1.0)));
          }
          cv.set(x0 + x, y0 + title_h + y, v);
        }
    }
  cv.save_png(path);
}

}  // namespace strata
