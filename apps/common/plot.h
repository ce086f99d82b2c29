// The figures the apps write, on the cairo layer of figure.h:
//
//   line_plot       curves (loss and metrics by epoch, PR / ROC, rates against a threshold, score histograms):
//                   a legend where it covers no data, markers and dashes that keep coinciding curves apart,
//                   integer ticks for epochs, non-finite values skipped and counted in a caption
//   confusion_plot  row-normalised heat map with counts or shares, rotated column names, a colour bar
//   image_panels    a grid of images (photos, label maps, colour-mapped values with a colour bar, seismic with a
//                   probability overlay), each at its own aspect, optionally with axes in data units
//
// Each writes the formats of figure_formats() (report.formats) beside the given path's stem.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/figure.h"
#include "apps/common/metrics.h"

namespace strata {

struct Series {
  Series() = default;
  Series(std::string name, std::vector<double> x, std::vector<double> y, std::optional<Rgb> colour = std::nullopt,
         std::optional<Dash> dash = std::nullopt)
      : name(std::move(name)), x(std::move(x)), y(std::move(y)), colour(colour), dash(dash) {}
  std::string name;
  std::vector<double> x, y;
  std::optional<Rgb> colour;  // default: the palette's colour for its position
  std::optional<Dash> dash;   // default: solid, or dashed where it coincides with an earlier series
};

struct LinePlotOptions {
  bool log_y = false;
  bool integer_x = false;  // whole-number ticks (epochs)
  // Fixed y range (both set): rates and shares on [0, 1] whatever the data.
  std::optional<double> y_lo, y_hi;
};

// The figure, not yet written (tests read its layout and texts).
Figure line_figure(const std::string& title, const std::string& x_label, const std::string& y_label,
                   const std::vector<Series>& series, const LinePlotOptions& options = {});
void line_plot(const std::string& path, const std::string& title, const std::string& x_label,
               const std::string& y_label, const std::vector<Series>& series, const LinePlotOptions& options = {});

Figure confusion_figure(const std::string& title, const ConfusionMatrix& m, const std::vector<std::string>& labels = {});
void confusion_plot(const std::string& path, const std::string& title, const ConfusionMatrix& m,
                    const std::vector<std::string>& labels = {});

// Pixel i of an axis sits at value first + i * step (trace numbers, time in ms).
struct PanelAxis {
  std::string label;  // empty: no axis drawn
  double first = 0, step = 1;
};

// An image: height x width x channels (1 or 3) floats, rows top to bottom.
//   channels 3: RGB in [0, 1] (clamped).
//   channels 1: values drawn through `map` over [lo, hi]; with a non-empty `bar` a colour bar labelled so.
// An overlay (height x width values, e.g. fault probability) is blended over the image through `overlay_map`,
// transparent at 0 and 85% opaque at overlay_hi and above; values at or below overlay_floor are not drawn.
// With overlay_bar set, the colour bar shows the overlay's scale instead of the image's.
struct Panel {
  Panel() = default;
  Panel(std::string title, int64_t height, int64_t width, int64_t channels, std::vector<float> pixels)
      : title(std::move(title)), height(height), width(width), channels(channels), pixels(std::move(pixels)) {}
  std::string title;
  int64_t height = 0, width = 0, channels = 1;
  std::vector<float> pixels;
  Colormap map = Colormap::grey;
  double lo = 0, hi = 1;
  std::string bar;
  std::vector<float> overlay;
  Colormap overlay_map = Colormap::hot;
  double overlay_hi = 1, overlay_floor = 0;
  std::string overlay_bar;
  PanelAxis x, y;
};

// rows x columns grid; each panel drawn with its longer side about `cell` pixels, and `legend` (class colours of
// label-map panels) right of the grid. Non-finite values are drawn grey and counted in the figure's caption.
Figure panels_figure(const std::vector<std::vector<Panel>>& rows, int cell = 256,
                     const std::vector<LegendEntry>& legend = {});
void image_panels(const std::string& path, const std::vector<std::vector<Panel>>& rows, int cell = 256,
                  const std::vector<LegendEntry>& legend = {});

// A colour for class c of a label map (a fixed, distinguishable palette).
inline Rgb class_colour(int64_t c) { return palette_colour(c); }

// The upper end of a colour scale for values whose maximum is `top` in [0, 1]: top rounded up to two significant
// digits when it lies in [0.01, 0.5), so faint probabilities stay visible (figures say when they rescale); else 1.
double probability_scale(double top);

}  // namespace strata
