#include "apps/common/transforms.h"

#include <algorithm>
#include <cmath>

#include "apps/common/datasets.h"
#include "engine/error.h"

namespace strata {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Source coordinate of output pixel i when n_in pixels map onto n_out (pixel centres aligned).
double source_coord(int64_t i, int64_t n_in, int64_t n_out) {
  return (double(i) + 0.5) * double(n_in) / double(n_out) - 0.5;
}

Image resize_bilinear(const Image& img, int64_t h, int64_t w) {
  Image out{img.channels, h, w, std::vector<float>(size_t(img.channels * h * w))};
  std::vector<int64_t> x0(static_cast<size_t>(w)), x1(static_cast<size_t>(w));
  std::vector<float> fx(static_cast<size_t>(w));
  for (int64_t x = 0; x < w; ++x) {
    const double s = std::clamp(source_coord(x, img.width, w), 0.0, double(img.width - 1));
    x0[size_t(x)] = int64_t(s);
    x1[size_t(x)] = std::min(x0[size_t(x)] + 1, img.width - 1);
    fx[size_t(x)] = float(s - double(x0[size_t(x)]));
  }
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < h; ++y) {
      const double s = std::clamp(source_coord(y, img.height, h), 0.0, double(img.height - 1));
      const int64_t y0 = int64_t(s), y1 = std::min(y0 + 1, img.height - 1);
      const float fy = float(s - double(y0));
      for (int64_t x = 0; x < w; ++x) {
        const float a = img.at(c, y0, x0[size_t(x)]), b = img.at(c, y0, x1[size_t(x)]);
        const float d = img.at(c, y1, x0[size_t(x)]), e = img.at(c, y1, x1[size_t(x)]);
        const float top = a + (b - a) * fx[size_t(x)], bottom = d + (e - d) * fx[size_t(x)];
        out.at(c, y, x) = top + (bottom - top) * fy;
      }
    }
  return out;
}

// Area averaging (OpenCV's INTER_AREA): each output pixel is the mean of the
// source area it covers, partial pixels weighted by their overlap.
Image resize_area(const Image& img, int64_t h, int64_t w) {
  Image out{img.channels, h, w, std::vector<float>(size_t(img.channels * h * w), 0.f)};
  const double sy = double(img.height) / double(h), sx = double(img.width) / double(w);
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < h; ++y) {
      const double ya = double(y) * sy, yb = ya + sy;
      for (int64_t x = 0; x < w; ++x) {
        const double xa = double(x) * sx, xb = xa + sx;
        double sum = 0, area = 0;
        for (int64_t iy = int64_t(ya); iy < std::min<int64_t>(int64_t(std::ceil(yb)), img.height); ++iy) {
          const double wy = std::min(yb, double(iy + 1)) - std::max(ya, double(iy));
          for (int64_t ix = int64_t(xa); ix < std::min<int64_t>(int64_t(std::ceil(xb)), img.width); ++ix) {
            const double wx = std::min(xb, double(ix + 1)) - std::max(xa, double(ix));
            sum += wy * wx * img.at(c, iy, ix);
            area += wy * wx;
          }
        }
        out.at(c, y, x) = float(sum / std::max(area, 1e-12));
      }
    }
  return out;
}

}  // namespace

std::mt19937_64 sample_rng(uint64_t seed, uint64_t epoch, uint64_t index) {
  return std::mt19937_64(splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ index));
}

Image resize_image(const Image& img, int64_t height, int64_t width, Interp interp) {
  STRATA_CHECK(height > 0 && width > 0, "resize: target size ", height, " x ", width, " must be positive");
  if (height == img.height && width == img.width) return img;
  if (interp == Interp::nearest) {
    Image out{img.channels, height, width, std::vector<float>(size_t(img.channels * height * width))};
    for (int64_t c = 0; c < img.channels; ++c)
      for (int64_t y = 0; y < height; ++y)
        for (int64_t x = 0; x < width; ++x)
          out.at(c, y, x) = img.at(c, std::min(img.height - 1, y * img.height / height),
                                   std::min(img.width - 1, x * img.width / width));
    return out;
  }
  return interp == Interp::area ? resize_area(img, height, width) : resize_bilinear(img, height, width);
}

LabelMap resize_labels(const LabelMap& m, int64_t height, int64_t width) {
  if (height == m.height && width == m.width) return m;
  LabelMap out{height, width, std::vector<int32_t>(size_t(height * width))};
  for (int64_t y = 0; y < height; ++y) {
    const int64_t sy = std::clamp<int64_t>(int64_t(std::floor(source_coord(y, m.height, height) + 0.5)), 0, m.height - 1);
    for (int64_t x = 0; x < width; ++x) {
      const int64_t sx = std::clamp<int64_t>(int64_t(std::floor(source_coord(x, m.width, width) + 0.5)), 0, m.width - 1);
      out.at(y, x) = m.at(sy, sx);
    }
  }
  return out;
}

Image hflip(const Image& img) {
  Image out = img;
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < img.height; ++y)
      for (int64_t x = 0; x < img.width; ++x) out.at(c, y, x) = img.at(c, y, img.width - 1 - x);
  return out;
}
LabelMap hflip(const LabelMap& m) {
  LabelMap out = m;
  for (int64_t y = 0; y < m.height; ++y)
    for (int64_t x = 0; x < m.width; ++x) out.at(y, x) = m.at(y, m.width - 1 - x);
  return out;
}
Image vflip(const Image& img) {
  Image out = img;
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < img.height; ++y)
      for (int64_t x = 0; x < img.width; ++x) out.at(c, y, x) = img.at(c, img.height - 1 - y, x);
  return out;
}
LabelMap vflip(const LabelMap& m) {
  LabelMap out = m;
  for (int64_t y = 0; y < m.height; ++y)
    for (int64_t x = 0; x < m.width; ++x) out.at(y, x) = m.at(m.height - 1 - y, x);
  return out;
}

Image transpose(const Image& img) {
  Image out{img.channels, img.width, img.height, std::vector<float>(img.data.size())};
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < out.height; ++y)
      for (int64_t x = 0; x < out.width; ++x) out.at(c, y, x) = img.at(c, x, y);
  return out;
}
LabelMap transpose(const LabelMap& m) {
  LabelMap out{m.width, m.height, std::vector<int32_t>(m.data.size())};
  for (int64_t y = 0; y < out.height; ++y)
    for (int64_t x = 0; x < out.width; ++x) out.at(y, x) = m.at(x, y);
  return out;
}

Image crop(const Image& img, int64_t top, int64_t left, int64_t height, int64_t width) {
  Image out{img.channels, height, width, std::vector<float>(size_t(img.channels * height * width), 0.f)};
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < height; ++y) {
      const int64_t sy = top + y;
      if (sy < 0 || sy >= img.height) continue;
      for (int64_t x = 0; x < width; ++x) {
        const int64_t sx = left + x;
        if (sx >= 0 && sx < img.width) out.at(c, y, x) = img.at(c, sy, sx);
      }
    }
  return out;
}
LabelMap crop(const LabelMap& m, int64_t top, int64_t left, int64_t height, int64_t width) {
  LabelMap out{height, width, std::vector<int32_t>(size_t(height * width), kIgnoreLabel)};
  for (int64_t y = 0; y < height; ++y) {
    const int64_t sy = top + y;
    if (sy < 0 || sy >= m.height) continue;
    for (int64_t x = 0; x < width; ++x) {
      const int64_t sx = left + x;
      if (sx >= 0 && sx < m.width) out.at(y, x) = m.at(sy, sx);
    }
  }
  return out;
}

namespace {

// In-place separable Gaussian blur of an h x w field (edges clamped).
void gaussian_blur(std::span<float> f, int64_t h, int64_t w, double sigma) {
  const int64_t radius = std::max<int64_t>(1, int64_t(std::ceil(3 * sigma)));
  std::vector<float> k(size_t(2 * radius + 1));
  double total = 0;
  for (int64_t i = -radius; i <= radius; ++i) total += k[size_t(i + radius)] = float(std::exp(-0.5 * double(i * i) / (sigma * sigma)));
  for (float& v : k) v = float(v / total);
  std::vector<float> tmp(f.size());
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      float acc = 0;
      for (int64_t i = -radius; i <= radius; ++i) acc += k[size_t(i + radius)] * f[size_t(y * w + std::clamp(x + i, int64_t(0), w - 1))];
      tmp[size_t(y * w + x)] = acc;
    }
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      float acc = 0;
      for (int64_t i = -radius; i <= radius; ++i) acc += k[size_t(i + radius)] * tmp[size_t(std::clamp(y + i, int64_t(0), h - 1) * w + x)];
      f[size_t(y * w + x)] = acc;
    }
}

}  // namespace

Sample elastic(const Sample& s, double alpha, double sigma, std::mt19937_64& rng) {
  const int64_t h = s.image.height, w = s.image.width;
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> dx(size_t(h * w)), dy(size_t(h * w));
  for (float& v : dx) v = u(rng);
  for (float& v : dy) v = u(rng);
  gaussian_blur(dx, h, w, sigma);
  gaussian_blur(dy, h, w, sigma);
  // Smoothed uniform noise has a small spread; scale the field so its largest displacement is alpha pixels.
  float peak = 1e-12f;
  for (size_t i = 0; i < dx.size(); ++i) peak = std::max({peak, std::fabs(dx[i]), std::fabs(dy[i])});
  const float scale = float(alpha) / peak;
  Sample out{Image{s.image.channels, h, w, std::vector<float>(s.image.data.size(), 0.f)}, s.mask};
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const float sy = float(y) + scale * dy[size_t(y * w + x)], sx = float(x) + scale * dx[size_t(y * w + x)];
      if (s.labelled()) {
        const int64_t ny = std::lround(sy), nx = std::lround(sx);
        out.mask.at(y, x) = ny >= 0 && ny < h && nx >= 0 && nx < w ? s.mask.at(ny, nx) : kIgnoreLabel;
      }
      if (sy < 0 || sy > float(h - 1) || sx < 0 || sx > float(w - 1)) continue;
      const int64_t y0 = std::min<int64_t>(int64_t(sy), std::max<int64_t>(h - 2, 0));
      const int64_t x0 = std::min<int64_t>(int64_t(sx), std::max<int64_t>(w - 2, 0));
      const int64_t y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
      const float fy = sy - float(y0), fx = sx - float(x0);
      for (int64_t c = 0; c < s.image.channels; ++c) {
        const float top = s.image.at(c, y0, x0) + (s.image.at(c, y0, x1) - s.image.at(c, y0, x0)) * fx;
        const float bottom = s.image.at(c, y1, x0) + (s.image.at(c, y1, x1) - s.image.at(c, y1, x0)) * fx;
        out.image.at(c, y, x) = top + (bottom - top) * fy;
      }
    }
  return out;
}

TransformOptions TransformOptions::from_config(const Config& data, int64_t channels) {
  TransformOptions o;
  o.size = data.get_int_list("size", {});
  STRATA_CHECK(o.size.empty() || (o.size.size() == 2 && o.size[0] > 0 && o.size[1] > 0), data.origin(), ": ",
               data.key_path("size"), ": expected [height, width] of positive sizes");
  o.resize = data.get_choice("resize", "auto", {"auto", "bilinear", "area"});
  const Config aug = data.section("augment");
  o.scale = aug.get_double_list("scale", {1.0, 1.0});
  STRATA_CHECK(o.scale.size() == 2 && o.scale[0] > 0 && o.scale[0] <= o.scale[1], aug.origin(), ": ",
               aug.key_path("scale"), ": expected [low, high] with 0 < low <= high");
  o.crop = aug.get_int_list("crop", {});
  STRATA_CHECK(o.crop.empty() || (o.crop.size() == 2 && o.crop[0] > 0 && o.crop[1] > 0), aug.origin(), ": ",
               aug.key_path("crop"), ": expected [height, width] of positive sizes");
  o.class_crop = aug.get_double("class_crop", 0.0, Bounds::between(0, 1));
  STRATA_CHECK(o.class_crop == 0 || !o.crop.empty(), aug.origin(), ": ", aug.key_path("class_crop"),
               ": centres a crop, so it needs one (data.augment.crop)");
  o.hflip = aug.get_double("hflip", 0.0, Bounds::between(0, 1));
  o.vflip = aug.get_double("vflip", 0.0, Bounds::between(0, 1));
  o.transpose = aug.get_double("transpose", 0.0, Bounds::between(0, 1));
  STRATA_CHECK(o.transpose == 0 || !o.crop.empty() || (o.size.size() == 2 && o.size[0] == o.size[1]),
               aug.origin(), ": ", aug.key_path("transpose"),
               ": a transposed sample is width x height, so it needs a crop (data.augment.crop) or a square "
               "data.size to keep every sample of a batch the same shape");
  const Config el = aug.section("elastic");
  o.elastic_alpha = el.get_double("alpha", 0.0, Bounds::between(0, 1000));
  o.elastic_sigma = el.get_double("sigma", 10.0, Bounds{0, 1000, true});
  o.elastic_p = el.get_double("p", 0.5, Bounds::between(0, 1));
  o.brightness = aug.get_double("brightness", 0.0, Bounds::between(0, 1));
  o.contrast = aug.get_double("contrast", 0.0, Bounds::between(0, 1));
  o.saturation = aug.get_double("saturation", 0.0, Bounds::between(0, 1));
  o.gamma = aug.get_double("gamma", 0.0, Bounds::between(0, 4));
  const Config blur = aug.section("blur");
  o.blur_p = blur.get_double("p", 0.0, Bounds::between(0, 1));
  o.blur_sigma = blur.get_double_list("sigma", {0.5, 1.5});
  STRATA_CHECK(o.blur_sigma.size() == 2 && o.blur_sigma[0] > 0 && o.blur_sigma[0] <= o.blur_sigma[1] &&
                   o.blur_sigma[1] <= 20,
               blur.origin(), ": ", blur.key_path("sigma"), ": expected [low, high] with 0 < low <= high <= 20 pixels");
  o.noise = aug.get_double("noise", 0.0, Bounds::between(0, 1));
  if (data.is_scalar("normalize")) {
    const std::string preset = data.get_choice("normalize", "none", {"none", "imagenet", "per_image"});
    o.per_image = preset == "per_image";
    if (preset == "imagenet") {
      STRATA_CHECK(channels == 3, data.origin(), ": ", data.key_path("normalize"),
                   ": imagenet statistics are for 3-channel images, the model takes ", channels);
      o.mean = {0.485, 0.456, 0.406};
      o.std = {0.229, 0.224, 0.225};
      return o;
    }
    return o;
  }
  const Config norm = data.section("normalize");
  o.mean = norm.get_double_list("mean", {});
  o.std = norm.get_double_list("std", {});
  STRATA_CHECK(o.mean.size() == o.std.size() && (o.mean.empty() || int64_t(o.mean.size()) == channels),
               data.origin(), ": ", data.key_path("normalize"), ": mean and std need one value per channel (",
               channels, "), or write normalize: imagenet / per_image / none");
  for (double s : o.std)
    STRATA_CHECK(s > 0, data.origin(), ": ", norm.key_path("std"), ": every std must be > 0");
  return o;
}

void normalize(Image& img, const std::vector<double>& mean, const std::vector<double>& std) {
  if (mean.empty()) return;
  const int64_t plane = img.height * img.width;
  for (int64_t c = 0; c < img.channels; ++c) {
    const float m = float(mean[size_t(c)]), inv = float(1.0 / std[size_t(c)]);
    float* p = img.data.data() + c * plane;
    for (int64_t i = 0; i < plane; ++i) p[i] = (p[i] - m) * inv;
  }
}

size_t standardise(std::span<float> values) {
  double mean = 0, var = 0;
  size_t finite = 0;
  for (float v : values)
    if (std::isfinite(v)) mean += v, ++finite;
  mean /= double(std::max<size_t>(finite, 1));
  for (float v : values)
    if (std::isfinite(v)) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / double(std::max<size_t>(finite, 1)));
  for (float& v : values) v = sd > 0 && std::isfinite(v) ? float((v - mean) / sd) : 0.f;
  return values.size() - finite;
}

void standardise(Image& img) {
  const size_t plane = size_t(img.height * img.width);
  for (int64_t c = 0; c < img.channels; ++c) standardise(std::span<float>(img.data).subspan(size_t(c) * plane, plane));
}

namespace {

struct Pixel {
  int64_t y, x;
};

// A pixel of a class drawn uniformly from the classes the map holds (ignored pixels left out), the pixel
// uniform among that class's; {-1, -1} when every pixel is ignored.
Pixel pixel_of_a_class(const LabelMap& m, std::mt19937_64& rng) {
  std::vector<int32_t> classes;
  for (int32_t v : m.data)
    if (v != kIgnoreLabel && std::find(classes.begin(), classes.end(), v) == classes.end()) classes.push_back(v);
  if (classes.empty()) return {-1, -1};
  std::sort(classes.begin(), classes.end());  // the draw depends on the map, not on the order pixels show classes
  const int32_t label = classes[size_t(std::uniform_int_distribution<size_t>(0, classes.size() - 1)(rng))];
  const auto count = std::count(m.data.begin(), m.data.end(), label);
  auto k = std::uniform_int_distribution<int64_t>(0, count - 1)(rng);
  for (size_t i = 0; i < m.data.size(); ++i)
    if (m.data[i] == label && k-- == 0) return {int64_t(i) / m.width, int64_t(i) % m.width};
  return {-1, -1};  // not reached: k < count
}

}  // namespace

Sample apply_transforms(Sample s, const TransformOptions& o, std::mt19937_64* rng) {
  const auto resize_to = [&](int64_t h, int64_t w) {
    if (h == s.image.height && w == s.image.width) return;
    const bool shrink = h * w < s.image.height * s.image.width;
    const Interp interp = o.resize == "area" || (o.resize == "auto" && shrink) ? Interp::area : Interp::bilinear;
    s.image = resize_image(s.image, h, w, interp);
    if (s.labelled()) s.mask = resize_labels(s.mask, h, w);
  };
  if (!o.size.empty()) resize_to(o.size[0], o.size[1]);
  if (rng) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    if (o.scale[1] > o.scale[0] || o.scale[0] != 1.0) {
      const double f = o.scale[0] + (o.scale[1] - o.scale[0]) * unit(*rng);
      resize_to(std::max<int64_t>(1, std::llround(double(s.image.height) * f)),
                std::max<int64_t>(1, std::llround(double(s.image.width) * f)));
    }
    // Transposed before the crop, so that a crop of [h, w] stays [h, w]. No draw when off: the random
    // streams of configs without it are those of earlier versions.
    if (o.transpose > 0 && unit(*rng) < o.transpose) {
      s.image = transpose(s.image);
      if (s.labelled()) s.mask = transpose(s.mask);
    }
    if (!o.crop.empty()) {
      const int64_t ch = o.crop[0], cw = o.crop[1];
      // Only labelled samples draw here, and only when class_crop is on: other random streams are unchanged.
      const Pixel centre = o.class_crop > 0 && s.labelled() && unit(*rng) < o.class_crop
                               ? pixel_of_a_class(s.mask, *rng)
                               : Pixel{-1, -1};
      // Smaller sides are centred with padding; larger ones are placed around the centre pixel as far as the
      // side allows, or, without one (at < 0), at a uniform offset.
      const auto offset = [&](int64_t n, int64_t c, int64_t at) {
        if (n <= c) return -(c - n) / 2;
        if (at >= 0) return std::clamp<int64_t>(at - c / 2, 0, n - c);
        return int64_t(unit(*rng) * double(n - c + 1)) % (n - c + 1);
      };
      const int64_t top = offset(s.image.height, ch, centre.y), left = offset(s.image.width, cw, centre.x);
      s.image = crop(s.image, top, left, ch, cw);
      if (s.labelled()) s.mask = crop(s.mask, top, left, ch, cw);
    }
    if (o.hflip > 0 && unit(*rng) < o.hflip) {
      s.image = hflip(s.image);
      if (s.labelled()) s.mask = hflip(s.mask);
    }
    if (o.vflip > 0 && unit(*rng) < o.vflip) {
      s.image = vflip(s.image);
      if (s.labelled()) s.mask = vflip(s.mask);
    }
    if (o.elastic_alpha > 0 && unit(*rng) < o.elastic_p) s = elastic(s, o.elastic_alpha, o.elastic_sigma, *rng);
    if (o.brightness > 0 || o.contrast > 0) {
      const float b = float((2 * unit(*rng) - 1) * o.brightness);
      const float c = float(1 + (2 * unit(*rng) - 1) * o.contrast);
      double mean = 0;
      for (float v : s.image.data) mean += v;
      const float m = float(mean / double(std::max<size_t>(s.image.data.size(), 1)));
      for (float& v : s.image.data) v = std::clamp((v - m) * c + m + b, 0.f, 1.f);
    }
    if (o.saturation > 0 && s.image.channels == 3) {
      // Each pixel moved towards (factor < 1) or away from (> 1) its own grey (Rec. 601 luma).
      const float f = float(1 + (2 * unit(*rng) - 1) * o.saturation);
      const int64_t plane = s.image.height * s.image.width;
      float* r = s.image.data.data();
      float* g = r + plane;
      float* bl = g + plane;
      for (int64_t i = 0; i < plane; ++i) {
        const float grey = 0.299f * r[i] + 0.587f * g[i] + 0.114f * bl[i];
        r[i] = std::clamp(grey + (r[i] - grey) * f, 0.f, 1.f);
        g[i] = std::clamp(grey + (g[i] - grey) * f, 0.f, 1.f);
        bl[i] = std::clamp(grey + (bl[i] - grey) * f, 0.f, 1.f);
      }
    }
    // Each of the three below draws nothing when off, so configs without them keep their random streams.
    if (o.gamma > 0) {
      const double e = std::exp((2 * unit(*rng) - 1) * std::log1p(o.gamma));
      for (float& v : s.image.data) v = float(std::pow(double(std::clamp(v, 0.f, 1.f)), e));
    }
    if (o.blur_p > 0 && unit(*rng) < o.blur_p) {
      const double sigma = o.blur_sigma[0] + (o.blur_sigma[1] - o.blur_sigma[0]) * unit(*rng);
      const size_t plane = size_t(s.image.height * s.image.width);
      for (int64_t c = 0; c < s.image.channels; ++c)
        gaussian_blur(std::span<float>(s.image.data).subspan(size_t(c) * plane, plane), s.image.height,
                      s.image.width, sigma);
    }
    if (o.noise > 0) {
      const float sd = float(o.noise * unit(*rng));
      if (sd > 0) {
        std::normal_distribution<float> gauss(0.f, sd);
        for (float& v : s.image.data) v += gauss(*rng);
      }
    }
  }
  if (o.per_image)
    standardise(s.image);
  else
    normalize(s.image, o.mean, o.std);
  return s;
}

}  // namespace strata
