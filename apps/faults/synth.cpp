#include "apps/faults/synth.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>

#include "apps/faults/segy.h"
#include "engine/error.h"

namespace strata::faults {
namespace {

constexpr double kPi = std::numbers::pi;

Range get_range(const Config& c, const std::string& key, Range fallback, Bounds b) {
  if (!c.has(key)) return fallback;
  const std::vector<double> v = c.get_double_list(key, {});
  STRATA_CHECK(v.size() == 2 && v[0] <= v[1], c.key_path(key), ": want [low, high] with low <= high");
  for (double x : v)
    STRATA_CHECK(x >= b.lo && x <= b.hi, c.key_path(key), ": ", x, " is outside [", b.lo, ", ", b.hi, "]");
  return {v[0], v[1]};
}

constexpr Bounds kFaultCount{0, 50, false};  // faults per section

int64_t draw_count(const Range& r, std::mt19937_64& rng) {
  return std::uniform_int_distribution<int64_t>(int64_t(std::lround(r.lo)), int64_t(std::lround(r.hi)))(rng);
}

// The discrete Fourier transform of `w`, summed directly: wavelets are short.
std::vector<std::complex<double>> dft(const std::vector<double>& w) {
  const int64_t n = int64_t(w.size());
  std::vector<std::complex<double>> spec(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k)
    for (int64_t t = 0; t < n; ++t) spec[size_t(k)] += w[size_t(t)] * std::polar(1.0, -2 * kPi * double(k * t) / double(n));
  return spec;
}

// The Hilbert transform of `w` over its own length: its spectrum times -i sign(frequency).
std::vector<double> hilbert(const std::vector<double>& w) {
  const int64_t n = int64_t(w.size());
  const std::vector<std::complex<double>> spec = dft(w);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    std::complex<double> h = 0;
    for (int64_t k = 1; k < n; ++k) {
      const double sign = k <= (n - 1) / 2 ? 1 : -1;
      h += spec[size_t(k)] * std::complex<double>(0, -sign) * std::polar(1.0, 2 * kPi * double(k * t) / double(n));
    }
    out[size_t(t)] = h.real() / double(n);
  }
  return out;
}

// `w` rotated by `phase_deg` degrees: cos(phase) w + sin(phase) H(w).
std::vector<double> rotate_phase(const std::vector<double>& w, double phase_deg) {
  if (phase_deg == 0) return w;
  const std::vector<double> h = hilbert(w);
  const double ph = phase_deg * kPi / 180;
  std::vector<double> out(w.size());
  for (size_t t = 0; t < w.size(); ++t) out[t] = std::cos(ph) * w[t] + std::sin(ph) * h[t];
  return out;
}

// Where `w`'s energy lies against its middle sample (zero time), in samples: the centroid of its squared
// envelope, w^2 + H(w)^2.
double envelope_centroid(const std::vector<double>& w) {
  const std::vector<double> h = hilbert(w);
  const int64_t n = int64_t(w.size());
  double moment = 0, total = 0;
  for (int64_t t = 0; t < n; ++t) {
    const double e2 = w[size_t(t)] * w[size_t(t)] + h[size_t(t)] * h[size_t(t)];
    moment += e2 * double(t - (n - 1) / 2);
    total += e2;
  }
  return total > 0 ? moment / total : 0;
}

// `w` moved later by `delay` samples (any fraction) through its spectrum, padded first so that nothing wraps
// around; the result stays odd in length with zero time in the middle.
std::vector<double> delayed(const std::vector<double>& w, double delay) {
  const int64_t pad = int64_t(std::ceil(std::abs(delay))) + 4;
  const int64_t n = int64_t(w.size()) + 2 * pad;
  std::vector<double> padded(static_cast<size_t>(n), 0.0);
  std::copy(w.begin(), w.end(), padded.begin() + pad);
  const std::vector<std::complex<double>> spec = dft(padded);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    std::complex<double> v = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double f = double(k <= (n - 1) / 2 ? k : k - n);  // signed frequency (n is odd: no Nyquist bin)
      v += spec[size_t(k)] * std::polar(1.0, 2 * kPi * (double(k * t) - f * delay) / double(n));
    }
    out[size_t(t)] = v.real() / double(n);
  }
  return out;
}

// A zero-phase wavelet and the phase (degrees) it is to be rotated by.
struct Wavelet {
  std::vector<double> w;
  double phase = 0;
};

// Ricker wavelet of `period` samples (zero phase).
std::vector<double> ricker(double period) {
  const int64_t half = int64_t(std::ceil(1.6 * period));
  const int64_t n = 2 * half + 1;
  std::vector<double> w(static_cast<size_t>(n));
  const double f = 1.0 / period;
  for (int64_t i = 0; i < n; ++i) {
    const double a = kPi * f * double(i - half);
    w[size_t(i)] = (1 - 2 * a * a) * std::exp(-a * a);
  }
  return w;
}

// Scales a wavelet to a peak of 1 (a Ricker's).
std::vector<double> peak_one(std::vector<double> w) {
  double peak = 0;
  for (double v : w) peak = std::max(peak, std::abs(v));
  for (double& v : w) v /= std::max(peak, 1e-12);
  return w;
}

// Ormsby wavelet: a zero-phase trapezoidal band-pass with corners f1 < f2 < f3 < f4 around the peak frequency
// 1 / period (random, within the Nyquist frequency), Hann-tapered; flatter-topped and longer-ringing than a
// Ricker of the same period.
std::vector<double> ormsby(double period, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  const double fp = 1.0 / period;
  const double f1 = fp * (0.2 + 0.25 * u(rng)), f2 = fp * (0.5 + 0.3 * u(rng)), f3 = fp * (1.2 + 0.4 * u(rng));
  const double f4 = std::min(fp * (1.8 + 0.8 * u(rng)), 0.48);
  const auto term = [](double f, double t) {  // pi f^2 sinc^2(f t)
    const double x = kPi * f * t;
    const double sinc = x == 0 ? 1 : std::sin(x) / x;
    return kPi * f * f * sinc * sinc;
  };
  const int64_t half = int64_t(std::ceil(2.5 * period));
  std::vector<double> w(size_t(2 * half + 1));
  for (int64_t i = -half; i <= half; ++i) {
    const double t = double(i);
    const double taper = 0.5 + 0.5 * std::cos(kPi * t / double(half + 1));
    w[size_t(i + half)] =
        taper * ((term(f4, t) - term(f3, t)) / std::max(f4 - f3, 1e-9) - (term(f2, t) - term(f1, t)) / (f2 - f1));
  }
  return peak_one(std::move(w));
}

// Morlet (Gabor) wavelet: a cosine of `period` samples under a Gaussian of 0.45-1 period: from a Ricker-like
// pulse to one with several side lobes.
std::vector<double> morlet(double period, std::mt19937_64& rng) {
  const double sigma = period * std::uniform_real_distribution<double>(0.45, 1.0)(rng);
  const int64_t half = int64_t(std::ceil(3 * sigma));
  std::vector<double> w(size_t(2 * half + 1));
  for (int64_t i = -half; i <= half; ++i)
    w[size_t(i + half)] = std::cos(2 * kPi * double(i) / period) * std::exp(-0.5 * double(i * i) / (sigma * sigma));
  return peak_one(std::move(w));
}

Wavelet ricker_with_phase(double period, double phase_deg) { return {ricker(period), phase_deg}; }

// One wavelet of a family drawn from o.wavelets, with its phase.
Wavelet draw_wavelet(const SynthOptions& o, std::mt19937_64& rng) {
  const std::string& family =
      o.wavelets.size() == 1 ? o.wavelets[0]
                             : o.wavelets[size_t(std::uniform_int_distribution<size_t>(0, o.wavelets.size() - 1)(rng))];
  // The Ricker keeps the draws of the generator before the families (in the compiler's argument order), so a
  // config without `wavelets` generates the sections it always did.
  if (family == "ricker") return ricker_with_phase(o.period.draw(rng), o.phase.draw(rng));
  const double period = o.period.draw(rng), phase = o.phase.draw(rng);
  return {family == "ormsby" ? ormsby(period, rng) : morlet(period, rng), phase};
}

// Convolves each column (trace) of a height x width section with `w` (centred), in place. Rows are computed
// whole: each output sample still sums its terms in the order k = -half .. half, so the result does not depend
// on the loop order, and the inner loop runs along a row.
void convolve_time(std::vector<double>& s, int64_t height, int64_t width, const std::vector<double>& w) {
  const int64_t half = int64_t(w.size()) / 2;
  std::vector<double> out(s.size(), 0.0);
  for (int64_t z = 0; z < height; ++z) {
    double* o = &out[size_t(z * width)];
    // Taps whose source row z - k lies inside the section.
    for (int64_t k = std::max(-half, z - height + 1); k <= std::min(half, z); ++k) {
      const double wk = w[size_t(k + half)];
      const double* in = &s[size_t((z - k) * width)];
      for (int64_t x = 0; x < width; ++x) o[x] += wk * in[x];
    }
  }
  s.swap(out);
}

// `w` stretched in time by `factor` (linear interpolation), its peak kept.
std::vector<double> stretched(const std::vector<double>& w, double factor) {
  const double half = double(w.size() / 2);
  const int64_t out_half = int64_t(std::ceil(half * factor));
  std::vector<double> out(size_t(2 * out_half + 1), 0.0);
  for (int64_t i = -out_half; i <= out_half; ++i) {
    const double src = double(i) / factor + half;
    const int64_t j = int64_t(std::floor(src));
    const double f = src - double(j);
    const auto at = [&](int64_t k) { return k >= 0 && k < int64_t(w.size()) ? w[size_t(k)] : 0.0; };
    out[size_t(i + out_half)] = (1 - f) * at(j) + f * at(j + 1);
  }
  return out;
}

// convolve_time with a wavelet whose period grows with depth from `w`'s at the top to `stretch` times it at the
// bottom: the section convolved with the wavelet stretched by stretch^(k/3), k = 0..3, and each row blended
// linearly between the two stretches nearest its depth. stretch 1 is convolve_time.
void convolve_time_varying(std::vector<double>& s, int64_t height, int64_t width, const std::vector<double>& w,
                           double stretch) {
  if (stretch == 1) return convolve_time(s, height, width, w);
  constexpr int kLevels = 4;
  std::vector<std::vector<double>> level(kLevels, s);
  for (int k = 0; k < kLevels; ++k)
    convolve_time(level[size_t(k)], height, width, stretched(w, std::pow(stretch, double(k) / (kLevels - 1))));
  for (int64_t z = 0; z < height; ++z) {
    const double u = double(z) / double(std::max<int64_t>(height - 1, 1)) * (kLevels - 1);
    const int k = std::min(int(u), kLevels - 2);
    const double f = u - double(k);
    for (int64_t x = 0; x < width; ++x) {
      const size_t i = size_t(z * width + x);
      s[i] = (1 - f) * level[size_t(k)][i] + f * level[size_t(k + 1)][i];
    }
  }
}

std::vector<double> gaussian_kernel(double sigma) {
  if (sigma < 0.3) return {1.0};
  const int64_t half = int64_t(std::ceil(3 * sigma));
  std::vector<double> k(size_t(2 * half + 1));
  double sum = 0;
  for (int64_t i = -half; i <= half; ++i) sum += k[size_t(i + half)] = std::exp(-0.5 * double(i * i) / (sigma * sigma));
  for (double& v : k) v /= sum;
  return k;
}

// Separable smoothing along time (sz) and traces (sx), edges clamped. As in convolve_time, each output sample
// sums its taps in order i = -half .. half, and the inner loops run along rows.
void smooth(std::vector<double>& s, int64_t height, int64_t width, double sz, double sx) {
  const auto pass = [&](const std::vector<double>& k, bool along_time) {
    if (k.size() == 1) return;
    const int64_t half = int64_t(k.size()) / 2;
    std::vector<double> out(s.size(), 0.0);
    for (int64_t z = 0; z < height; ++z) {
      double* o = &out[size_t(z * width)];
      for (int64_t i = -half; i <= half; ++i) {
        const double ki = k[size_t(i + half)];
        if (along_time) {
          const double* in = &s[size_t(std::clamp<int64_t>(z + i, 0, height - 1) * width)];
          for (int64_t x = 0; x < width; ++x) o[x] += ki * in[x];
        } else {
          const double* in = &s[size_t(z * width)];
          // Columns whose neighbour x + i is inside the row, then the clamped edges.
          const int64_t lo = std::clamp<int64_t>(-i, 0, width), hi = std::clamp<int64_t>(width - i, lo, width);
          for (int64_t x = 0; x < lo; ++x) o[x] += ki * in[0];
          for (int64_t x = lo; x < hi; ++x) o[x] += ki * in[x + i];
          for (int64_t x = hi; x < width; ++x) o[x] += ki * in[width - 1];
        }
      }
    }
    s.swap(out);
  };
  pass(gaussian_kernel(sz), true);
  pass(gaussian_kernel(sx), false);
}

double rms(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s / double(std::max<size_t>(v.size(), 1)));
}

// A smooth random curve of n points with rms `sigma` (log-gain), from a few random cosines.
std::vector<double> smooth_curve(int64_t n, double sigma, std::mt19937_64& rng) {
  std::vector<double> c(size_t(n), 0.0);
  if (sigma <= 0) return c;
  std::normal_distribution<double> g;
  std::uniform_real_distribution<double> u(0, 2 * kPi);
  for (int k = 1; k <= 3; ++k) {
    const double a = g(rng) * sigma / std::sqrt(3.0), ph = u(rng);
    for (int64_t i = 0; i < n; ++i) c[size_t(i)] += a * std::cos(ph + kPi * k * double(i) / double(std::max<int64_t>(n, 2)));
  }
  return c;
}

// Where a point lies against a fault: signed distance `side` (hanging wall: > 0), along-dip and along-strike
// coordinates w, q from the fault's centre, and the local unit normal n and down-dip vector v.
struct FaultFrame {
  double side, w, q;
  double nx, ny, nz, vx, vy, vz;
};

struct Fault {
  double cx, cy, cz;          // a point of the plane
  double nx, ny, nz;          // unit normal (hanging wall: dot(p - c, n) > 0)
  double vx, vy, vz;          // unit down-dip vector
  double sx, sy;              // unit strike vector (horizontal)
  double slip;                // along-dip slip at the centre (signed: + normal, - reverse)
  int profile;                // 0 constant, 1 growing with depth, 2 elliptical
  double half_dip, half_strike;  // extents of the elliptical / constant patch along dip and strike
  double sin_dip;
  // Listric faults: the horizontal distance of the fault from its centre's vertical grows as
  // cot(dip) e^(k dz / height) per sample of depth dz (k = 0: a plane).
  double curvature = 0, cot_dip = 0, cos_az = 0, sin_az = 0, height = 1;
  // A fault zone: drag (the hanging wall slips less, the footwall a little, within `zone` samples of the plane)
  // and dimmed reflectors there.
  double zone = 0, drag = 0, dim = 0;
  // Ends against the older fault `stop_at` (-1: does not), existing only on its `stop_side`.
  int64_t stop_at = -1;
  double stop_side = 1;

  FaultFrame frame(double px, double py, double pz) const {
    const double dx = px - cx, dy = py - cy, dz = pz - cz;
    if (curvature == 0)
      return {dx * nx + dy * ny + dz * nz, dx * vx + dy * vy + dz * vz, dx * sx + dy * sy, nx, ny, nz, vx, vy, vz};
    const double a = dx * cos_az + dy * sin_az, e = std::exp(curvature * dz / height);
    const double slope = cot_dip * e, trace = cot_dip * height / curvature * (e - 1);
    const double norm = std::sqrt(1 + slope * slope);
    FaultFrame f{(a - trace) / norm, 0, dx * sx + dy * sy,
                 cos_az / norm, sin_az / norm, -slope / norm, slope * cos_az / norm, slope * sin_az / norm, 1 / norm};
    f.w = dx * f.vx + dy * f.vy + dz * f.vz;
    return f;
  }
  // Slip at a point (along-dip and along-strike coordinates from the centre).
  double slip_at(double w, double q) const {
    if (profile == 0) return std::abs(w) <= half_dip && std::abs(q) <= half_strike ? slip : 0;
    if (profile == 1) return slip * std::clamp(0.5 + 0.5 * w / half_dip, 0.0, 1.0);
    const double r = 1 - (w / half_dip) * (w / half_dip) - (q / half_strike) * (q / half_strike);
    return r > 0 ? slip * std::sqrt(r) : 0;
  }
};

// Smooth variation of the reflectors' log-amplitude along them: a few plane waves over the restored position,
// slow along the layers (a wavelength of 0.7-4 section widths) and changing every 5-30 samples across them, so
// each reflector brightens and dims along its length and its neighbours do so differently.
struct AmplitudeField {
  double sigma = 0;
  struct Wave {
    double kx, ky, kz, phase, weight;
  };
  std::vector<Wave> waves;
  AmplitudeField() = default;
  AmplitudeField(double rms, double width, bool cube, std::mt19937_64& rng) : sigma(rms) {
    std::uniform_real_distribution<double> u(0, 1);
    std::normal_distribution<double> g;
    for (int i = 0; i < 4; ++i) {
      const double k = 2 * kPi / (width * (0.7 + 3.3 * u(rng))), az = cube ? u(rng) * 2 * kPi : 0.0;
      waves.push_back({k * std::cos(az), k * std::sin(az), 2 * kPi / (5 + 25 * u(rng)), u(rng) * 2 * kPi, g(rng) / 2});
    }
  }
  double operator()(double x, double y, double z) const {
    if (sigma == 0) return 1;
    double s = 0;
    for (const Wave& w : waves) s += w.weight * std::cos(w.kx * x + w.ky * y + w.kz * z + w.phase);
    return std::exp(sigma * s);
  }
};

// Coherent noise: events that cross the layers (straight: multiples, migration swings; parabolic: diffraction
// tails), over part of the section's width, added to the reflectivity before the wavelet so they look like
// reflections.
void add_coherent_noise(std::vector<double>& s, int64_t H, int64_t W, const Range& amplitude, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  const double level = rms(s);
  const int64_t events = 1 + int64_t(u(rng) * 4);
  for (int64_t e = 0; e < events; ++e) {
    const double a = amplitude.draw(rng) * level * (u(rng) < 0.5 ? -1 : 1);
    const bool straight = u(rng) < 0.5;
    const double x0 = u(rng) * double(W), z0 = u(rng) * double(H);
    const double slope = (0.2 + 2.8 * u(rng)) * (u(rng) < 0.5 ? -1 : 1);  // samples per trace
    const double bend = (0.004 + 0.04 * u(rng)) * (u(rng) < 0.5 ? -1 : 1);
    double xa = u(rng) * double(W), xb = u(rng) * double(W);
    if (xa > xb) std::swap(xa, xb);
    xa = std::min(xa, 0.4 * double(W));  // at least 40% of the width
    xb = std::max(xb, xa + 0.4 * double(W));
    for (int64_t x = int64_t(std::ceil(xa)); x < std::min<int64_t>(W, int64_t(xb)); ++x) {
      const double d = double(x) - x0, z = straight ? z0 + slope * d : z0 + bend * d * d;
      const int64_t k = int64_t(std::floor(z));
      if (k < 0 || k + 1 >= H) continue;
      const double f = z - double(k);
      s[size_t(k * W + x)] += a * (1 - f);
      s[size_t((k + 1) * W + x)] += a * f;
    }
  }
}

// The earth model of one section or cube: a reflectivity series along depth, folds and faults (and, when the
// config asks, varying reflector amplitudes). The constructor draws from `rng` (and `g`, whose cached second
// value is part of the stream) in a fixed order, so a config's sections stay the same.
class Geology {
 public:
  Geology(const SynthOptions& o, bool cube, std::mt19937_64& rng, std::normal_distribution<double>& g)
      : o_(o), H_(o.height), W_(o.width) {
    std::uniform_real_distribution<double> u01(0, 1);
    const double W = double(W_);
    // 1. Reflectivity over a depth range wide enough for every shift below.
    const double margin = o.fold_amplitude.hi + std::abs(o.shear.hi) * W + std::abs(o.shear.lo) * W +
                          2 * o.throw_samples.hi / std::sin(o.dip.lo * kPi / 180) + 8;
    z0_ = -int64_t(std::ceil(margin));
    const int64_t z1 = H_ + int64_t(std::ceil(margin));
    refl_.assign(size_t(z1 - z0_ + 1), 0.0);
    if (o.dense_reflectivity > 0 && u01(rng) < o.dense_reflectivity) {
      // A reflection coefficient at every sample, uniform in [-1, 1] (as FaultSeg's generator draws them).
      for (double& r : refl_) r = 2 * u01(rng) - 1;
    } else {
      // Sparse reflectors: layer boundaries with random contrast; a random background trend of thickness.
      const Range thick = o.layer_thickness;
      double z = double(z0_) + thick.draw(rng) * u01(rng);
      double imp = g(rng);
      while (z < double(z1)) {
        const double next_imp = 0.6 * imp + 0.8 * g(rng);
        const double r = (next_imp - imp) / 2;
        const int64_t k = int64_t(std::floor(z));
        const double f = z - double(k);  // split between the two samples (sub-sample position)
        if (k - z0_ >= 0 && k + 1 - z0_ < int64_t(refl_.size())) {
          refl_[size_t(k - z0_)] += r * (1 - f);
          refl_[size_t(k + 1 - z0_)] += r * f;
        }
        imp = next_imp;
        z += thick.draw(rng);
      }
    }
    // 2. Folding: vertical shift = depth factor x (bumps + planar shear).
    const int64_t nb = draw_count(o.fold_bumps, rng);
    for (int64_t i = 0; i < nb; ++i)
      bumps_.push_back({o.fold_amplitude.draw(rng) * (u01(rng) < 0.5 ? -1 : 1), u01(rng) * W,
                        cube ? u01(rng) * W : 0.0, o.fold_width.draw(rng) * W});
    shear_x_ = o.shear.draw(rng);
    shear_y_ = cube ? o.shear.draw(rng) : 0.0;
    depth_power_ = 0.5 + u01(rng);  // folds grow with depth, at a random rate
    // 3. Faults. Cube: any strike; sections: striking across the section.
    const int64_t nf = draw_count(o.faults, rng);
    for (int64_t i = 0; i < nf; ++i) {
      Fault f{};
      const double dip = o.dip.draw(rng) * kPi / 180;
      const double az = cube ? u01(rng) * 2 * kPi : (u01(rng) < 0.5 ? 0.0 : kPi);  // dip direction
      f.cx = (0.1 + 0.8 * u01(rng)) * W;
      f.cy = cube ? (0.1 + 0.8 * u01(rng)) * W : 0.0;
      f.cz = (0.2 + 0.6 * u01(rng)) * double(H_);
      f.nx = std::sin(dip) * std::cos(az);
      f.ny = std::sin(dip) * std::sin(az);
      f.nz = -std::cos(dip);
      f.vx = std::cos(dip) * std::cos(az);
      f.vy = std::cos(dip) * std::sin(az);
      f.vz = std::sin(dip);
      f.sx = -std::sin(az);
      f.sy = std::cos(az);
      f.sin_dip = std::sin(dip);
      const double thr = o.throw_samples.draw(rng);
      f.slip = thr / f.sin_dip * (u01(rng) < o.reverse_fraction ? -1 : 1);
      f.profile = int(u01(rng) * 3) % 3;
      f.half_dip = (0.5 + 0.7 * u01(rng)) * double(H_) / f.sin_dip;
      f.half_strike = (0.4 + 0.8 * u01(rng)) * W;
      if (f.profile == 0) f.half_dip *= 2;  // constant: through most of the section
      // Variety draws happen only when asked for, so the sections of a config without them stay the same.
      if (o.listric > 0 && u01(rng) < o.listric) {
        f.curvature = o.listric_curvature.draw(rng);
        f.cot_dip = std::cos(dip) / std::sin(dip);
        f.cos_az = std::cos(az);
        f.sin_az = std::sin(az);
        f.height = double(H_);
      }
      if (o.fault_zone.hi > 0) {
        f.zone = o.fault_zone.draw(rng);
        f.drag = 0.25 * u01(rng);
        f.dim = 0.2 + 0.6 * u01(rng);
      }
      if (o.truncated > 0 && i > 0 && u01(rng) < o.truncated) {
        f.stop_at = std::uniform_int_distribution<int64_t>(0, i - 1)(rng);
        f.stop_side = u01(rng) < 0.5 ? -1 : 1;
      }
      faults_.push_back(f);
    }
  }

  int64_t faults() const { return int64_t(faults_.size()); }

  // Moves a point back through the faults, youngest first, then unfolds it; returns its reflectivity. With a
  // label pointer, marks the point where a plane with a visible throw passes close to it: `near(frame)` says
  // what close is (within half a sample in a section's plane, or in 3-D).
  template <class Near>
  double value_at(double px, double py, double pz, uint8_t* label, const Near& near) const {
    double gain = 1;
    for (int64_t k = int64_t(faults_.size()) - 1; k >= 0; --k) {
      const Fault& f = faults_[size_t(k)];
      const FaultFrame fr = f.frame(px, py, pz);
      const double slip = f.slip_at(fr.w, fr.q);
      const bool visible = std::abs(slip) * f.sin_dip >= o_.min_visible_throw;
      if (f.stop_at >= 0) {
        // A fault that ends against an older one: its hanging wall is bounded by the older plane, which takes
        // up the slip there (and is a fault trace there, even where the older fault's own throw is small).
        const FaultFrame older = faults_[size_t(f.stop_at)].frame(px, py, pz);
        if (label && visible && fr.side > 0 && near(older)) *label = 1;
        if (older.side * f.stop_side < 0) continue;
      }
      if (label && visible && near(fr)) *label = 1;
      if (slip == 0) continue;
      double moved = fr.side > 0 ? slip : 0;
      if (f.zone > 0) {
        const double close = std::exp(-std::abs(fr.side) / f.zone);
        moved = fr.side > 0 ? slip * (1 - f.drag * close) : slip * f.drag * close;
        gain *= 1 - f.dim * std::exp(-0.5 * fr.side * fr.side / (f.zone * f.zone));
      }
      if (moved != 0) {
        px -= moved * fr.vx;
        py -= moved * fr.vy;
        pz -= moved * fr.vz;
      }
    }
    const double z = pz - fold_shift(px, py, pz);
    return gain * amplitude(px, py, z) * reflectivity(z);  // exactly the reflectivity without zones and variation
  }

  AmplitudeField amplitude;  // drawn after the geometry (a section first draws which plane it cuts)

 private:
  struct Bump {
    double a, cx, cy, sigma;
  };
  double reflectivity(double z) const {
    const double p = z - double(z0_);
    const int64_t k = std::clamp<int64_t>(int64_t(std::floor(p)), 0, int64_t(refl_.size()) - 2);
    const double f = std::clamp(p - double(k), 0.0, 1.0);
    return refl_[size_t(k)] * (1 - f) + refl_[size_t(k + 1)] * f;
  }
  double fold_shift(double x, double y, double z) const {
    double s = shear_x_ * (x - double(W_) / 2.0) + shear_y_ * (y - double(W_) / 2.0);
    for (const Bump& b : bumps_) {
      const double d2 = (x - b.cx) * (x - b.cx) + (y - b.cy) * (y - b.cy);
      s += b.a * std::exp(-0.5 * d2 / (b.sigma * b.sigma));
    }
    return s * std::pow(std::clamp(z / double(H_), 0.0, 1.5), depth_power_);
  }

  const SynthOptions& o_;
  int64_t H_, W_, z0_ = 0;
  std::vector<double> refl_;
  std::vector<Bump> bumps_;
  double shear_x_ = 0, shear_y_ = 0, depth_power_ = 1;
  std::vector<Fault> faults_;
};

// `s` less its mean, over its standard deviation, as floats.
std::vector<float> standardised(const std::vector<double>& s, double mean) {
  double var = 0;
  for (double v : s) var += (v - mean) * (v - mean);
  const double sd = std::max(std::sqrt(var / double(s.size())), 1e-12);
  std::vector<float> out(s.size());
  for (size_t i = 0; i < s.size(); ++i) out[i] = float((s[i] - mean) / sd);
  return out;
}

// A share o.clip of sections (or cubes) with their standardised amplitudes clipped at o.clip_level standard
// deviations and standardised again, as predict standardises what it reads. Draws nothing when o.clip is 0, so
// such configs generate the sections they always did.
void clip_amplitudes(const SynthOptions& o, std::vector<float>& v, std::mt19937_64& rng) {
  if (o.clip <= 0) return;
  std::uniform_real_distribution<double> u01(0, 1);
  if (u01(rng) >= o.clip) return;
  const float level = float(o.clip_level.draw(rng));
  std::vector<double> clipped(v.size());
  double mean = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    clipped[i] = std::clamp(v[i], -level, level);
    mean += clipped[i];
  }
  v = standardised(clipped, mean / double(v.size()));
}

// How much the section's wavelet lengthens from top to bottom: 1 (no attenuation) unless the section is drawn
// with it. Draws nothing when o.attenuation is 0, so such configs generate the sections they always did.
double attenuation_stretch(const SynthOptions& o, std::mt19937_64& rng) {
  if (o.attenuation <= 0) return 1;
  std::uniform_real_distribution<double> u01(0, 1);
  if (u01(rng) >= o.attenuation) return 1;
  return o.attenuation_stretch.draw(rng);
}

}  // namespace

std::vector<double> section_wavelet(const SynthOptions& o, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u01(0, 1);
  const Wavelet first = draw_wavelet(o, rng);
  if (!(u01(rng) < o.mixed_wavelet)) return rotate_phase(first.w, first.phase);
  const Wavelet second = draw_wavelet(o, rng);
  const double mix = 0.3 + 0.4 * u01(rng);
  // Two wavelets of one phase add up to a wavelet of that phase, whose envelope is symmetric about zero time
  // as each one's is. Of two phases the sum's envelope leans to one side: its reflections, and the fault
  // breaks in them, sit up to a few samples off the reflectors and faults that made them.
  // `centred` keeps a phase each and moves the blend so that its energy is back on zero time.
  const bool shared = o.mixed_phase == "shared";
  const std::vector<double> a = shared ? first.w : rotate_phase(first.w, first.phase);
  const std::vector<double> b = shared ? second.w : rotate_phase(second.w, second.phase);
  std::vector<double> m(std::max(a.size(), b.size()), 0.0);
  const auto add = [&](const std::vector<double>& v, double c) {
    const size_t off = (m.size() - v.size()) / 2;
    for (size_t i = 0; i < v.size(); ++i) m[off + i] += c * v[i];
  };
  add(a, 1 - mix);
  add(b, mix);
  if (shared) return rotate_phase(m, first.phase);
  if (o.mixed_phase == "centred") return delayed(m, -envelope_centroid(m));
  return m;
}

double Range::draw(std::mt19937_64& rng) const {
  if (hi <= lo) return lo;
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

std::string Range::str() const { return str_cat("[", lo, ", ", hi, "]"); }

SynthOptions SynthOptions::from_config(const Config& c) { return from_config(c, SynthOptions{}); }

SynthOptions SynthOptions::from_config(const Config& c, const SynthOptions& defaults) {
  SynthOptions o = defaults;
  o.height = c.get_int("height", o.height, Bounds::between(16, 4096));
  o.width = c.get_int("width", o.width, Bounds::between(16, 4096));
  o.mode = c.get_choice("mode", o.mode, {"section", "cube", "mixed"});
  o.layer_thickness = get_range(c, "layer_thickness", o.layer_thickness, Bounds::between(0.5, 1000));
  o.fold_bumps = get_range(c, "fold_bumps", o.fold_bumps, Bounds::between(0, 50));
  o.fold_amplitude = get_range(c, "fold_amplitude", o.fold_amplitude, Bounds::between(0, 1000));
  o.fold_width = get_range(c, "fold_width", o.fold_width, Bounds::between(0.01, 10));
  o.shear = get_range(c, "shear", o.shear, Bounds::between(-5, 5));
  o.faults = get_range(c, "faults", o.faults, kFaultCount);
  o.dip = get_range(c, "dip", o.dip, Bounds::between(10, 90));
  o.throw_samples = get_range(c, "throw", o.throw_samples, Bounds::between(0, 1000));
  o.reverse_fraction = c.get_double("reverse_fraction", o.reverse_fraction, Bounds::between(0, 1));
  o.min_visible_throw = c.get_double("min_visible_throw", o.min_visible_throw, Bounds::between(0, 1000));
  o.period = get_range(c, "period", o.period, Bounds::between(2, 1000));
  o.phase = get_range(c, "phase", o.phase, Bounds::between(-180, 180));
  o.mixed_wavelet = c.get_double("mixed_wavelet", o.mixed_wavelet, Bounds::between(0, 1));
  o.mixed_phase = c.get_string("mixed_phase", o.mixed_phase);
  STRATA_CHECK(o.mixed_phase == "shared" || o.mixed_phase == "independent" || o.mixed_phase == "centred",
               c.key_path("mixed_phase"), ": want independent, shared or centred, got '", o.mixed_phase, "'");
  o.snr = get_range(c, "snr", o.snr, Bounds::between(0.01, 1e6));
  o.noise_smooth = get_range(c, "noise_smooth", o.noise_smooth, Bounds::between(0, 100));
  o.noise_wavelet = c.get_double("noise_wavelet", o.noise_wavelet, Bounds::between(0, 1));
  o.gain = get_range(c, "gain", o.gain, Bounds::between(0, 5));
  o.mute = c.get_double("mute", o.mute, Bounds::between(0, 1));
  o.mute_depth = c.get_double("mute_depth", o.mute_depth, Bounds::between(0, 0.9));
  o.antialias = c.get_int("antialias", o.antialias, Bounds::between(1, 16));
  o.wavelets = c.get_string_list("wavelets", o.wavelets);
  STRATA_CHECK(!o.wavelets.empty(), c.key_path("wavelets"), ": name at least one of ricker, ormsby, morlet");
  for (const std::string& w : o.wavelets)
    STRATA_CHECK(w == "ricker" || w == "ormsby" || w == "morlet", c.key_path("wavelets"), ": unknown wavelet '", w,
                 "' (ricker, ormsby, morlet)");
  o.dense_reflectivity = c.get_double("dense_reflectivity", o.dense_reflectivity, Bounds::between(0, 1));
  o.reflector_variation = get_range(c, "reflector_variation", o.reflector_variation, Bounds::between(0, 2));
  o.listric = c.get_double("listric", o.listric, Bounds::between(0, 1));
  o.listric_curvature = get_range(c, "listric_curvature", o.listric_curvature, Bounds::between(0.01, 5));
  o.fault_zone = get_range(c, "fault_zone", o.fault_zone, Bounds::between(0, 50));
  o.truncated = c.get_double("truncated", o.truncated, Bounds::between(0, 1));
  o.coherent_noise = c.get_double("coherent_noise", o.coherent_noise, Bounds::between(0, 1));
  o.coherent_amplitude = get_range(c, "coherent_amplitude", o.coherent_amplitude, Bounds::between(0, 100));
  o.attenuation = c.get_double("attenuation", o.attenuation, Bounds::between(0, 1));
  o.attenuation_stretch = get_range(c, "attenuation_stretch", o.attenuation_stretch, Bounds::between(1, 4));
  o.clip = c.get_double("clip", o.clip, Bounds::between(0, 1));
  o.clip_level = get_range(c, "clip_level", o.clip_level, Bounds::between(0.1, 100));
  return o;
}

SynthOptions training_options(const SynthOptions& o, const Config& data, bool variety) {
  SynthOptions t = o;
  if (variety && data.has("train_synthetic")) {
    const Config c = data.section("train_synthetic");
    for (const char* key : {"height", "width"})
      STRATA_CHECK(!c.has(key), c.key_path(key), ": training sections have data.synthetic's size (set it there)");
    // Read from a copy, so the resolved config keeps only the keys given here (the rest are data.synthetic's,
    // not repeated); a key the generator does not know is still an error.
    const Config given = c.detached();
    t = SynthOptions::from_config(given, o);
    for (const std::string& key : c.keys()) {
      if (key == "share") continue;  // training_share()
      STRATA_CHECK(given.was_read(key), c.key_path(key), ": not a key of data.synthetic");
      c.mark_known(key);
    }
  }
  t.faults = get_range(data, "train_faults", t.faults, kFaultCount);
  return t;
}

double training_share(const Config& data) {
  if (!data.has("train_synthetic")) return 1;
  return data.section("train_synthetic").get_double("share", 1, Bounds::between(0, 1));
}

TrainingSections training_sections(const SynthOptions& o, const Config& data) {
  return {training_options(o, data), training_options(o, data, false), training_share(data)};
}

namespace {
bool draws_varied(double share, std::mt19937_64& rng) {
  return share >= 1 || (share > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < share);
}
}  // namespace

SynthSection TrainingSections::draw(std::mt19937_64& rng) const {
  return generate_section(draws_varied(share, rng) ? varied : plain, rng);
}

SynthCube TrainingSections::draw_cube(int64_t inlines, std::mt19937_64& rng) const {
  return generate_cube(draws_varied(share, rng) ? varied : plain, inlines, rng);
}

std::string SynthOptions::describe() const {
  std::string d = str_cat(mode, " ", height, " x ", width, ", faults ", faults.str(), " dip ", dip.str(), " throw ",
                          throw_samples.str(), ", wavelet period ", period.str(), " phase ", phase.str(), ", snr ",
                          snr.str());
  if (wavelets != std::vector<std::string>{"ricker"}) {
    d += ", wavelets";
    for (const std::string& w : wavelets) d += " " + w;
  }
  if (mixed_wavelet > 0 && mixed_phase == "shared") d += ", mixed wavelets of one phase";
  if (mixed_wavelet > 0 && mixed_phase == "centred") d += ", mixed wavelets centred";
  if (dense_reflectivity > 0) d += str_cat(", dense reflectivity ", dense_reflectivity);
  if (reflector_variation.hi > 0) d += ", reflector variation " + reflector_variation.str();
  if (listric > 0) d += str_cat(", listric ", listric, " curvature ", listric_curvature.str());
  if (fault_zone.hi > 0) d += ", fault zones " + fault_zone.str();
  if (truncated > 0) d += str_cat(", truncated ", truncated);
  if (coherent_noise > 0) d += str_cat(", coherent noise ", coherent_noise, " amplitude ", coherent_amplitude.str());
  if (attenuation > 0) d += str_cat(", attenuation ", attenuation, " stretch ", attenuation_stretch.str());
  if (clip > 0) d += str_cat(", clipped ", clip, " at ", clip_level.str(), " sd");
  return d;
}

SynthSection generate_section(const SynthOptions& o, std::mt19937_64& rng) {
  const int64_t H = o.height, W = o.width;
  std::uniform_real_distribution<double> u01(0, 1);
  std::normal_distribution<double> g;
  const bool cube = o.mode == "cube" || (o.mode == "mixed" && u01(rng) < 0.5);
  // Cube mode: the section is a random inline (y fixed) or crossline (x fixed) of the cube.
  Geology geology(o, cube, rng, g);
  const bool inline_section = !cube || u01(rng) < 0.5;
  const double fixed = cube ? (0.2 + 0.6 * u01(rng)) * double(W) : 0.0;
  if (o.reflector_variation.hi > 0) geology.amplitude = AmplitudeField(o.reflector_variation.draw(rng), double(W), cube, rng);

  SynthSection out;
  out.height = H;
  out.width = W;
  out.faults = geology.faults();
  out.label.assign(size_t(H * W), 0);
  std::vector<double> s(size_t(H * W));
  // Within half a sample of a fault surface, measured in the section's plane.
  const auto on_plane = [&](const FaultFrame& p) {
    const double nu = inline_section ? p.nx : p.ny;
    const double in_plane = std::sqrt(nu * nu + p.nz * p.nz);
    return in_plane > 1e-6 && std::abs(p.side) / in_plane < 0.5;
  };
  const auto value_at = [&](double px, double py, double pz, uint8_t* label) {
    return geology.value_at(px, py, pz, label, on_plane);
  };
  // A trace stands for a bin one trace wide: with antialias = n it averages n positions across the bin, so a
  // fault passing between two traces blends the samples it cuts (as a real bin or a migrated section does) and
  // where the plane passes is visible in the data, not only in the label.
  const int64_t n_sub = o.antialias;
  for (int64_t z = 0; z < H; ++z)
    for (int64_t t = 0; t < W; ++t) {
      const auto at = [&](double dt, uint8_t* label) {
        const double x = double(t) + dt;
        return inline_section ? value_at(x, fixed, double(z), label) : value_at(fixed, x, double(z), label);
      };
      uint8_t* label = &out.label[size_t(z * W + t)];
      if (n_sub <= 1) {
        s[size_t(z * W + t)] = at(0.0, label);
        continue;
      }
      at(0.0, label);  // the label belongs to the trace's centre
      double sum = 0;
      for (int64_t i = 0; i < n_sub; ++i) sum += at((double(i) + 0.5) / double(n_sub) - 0.5, nullptr);
      s[size_t(z * W + t)] = sum / double(n_sub);
    }

  if (o.coherent_noise > 0 && u01(rng) < o.coherent_noise) add_coherent_noise(s, H, W, o.coherent_amplitude, rng);

  // 4. Wavelet, noise, gain, standardisation.
  const std::vector<double> w = section_wavelet(o, rng);
  const double stretch = attenuation_stretch(o, rng);
  convolve_time_varying(s, H, W, w, stretch);
  const double signal = std::max(rms(s), 1e-12);
  std::vector<double> noise(s.size());
  for (double& v : noise) v = g(rng);
  if (u01(rng) < o.noise_wavelet) convolve_time_varying(noise, H, W, w, stretch);
  smooth(noise, H, W, o.noise_smooth.draw(rng), o.noise_smooth.draw(rng));
  const double scale = signal / (o.snr.draw(rng) * std::max(rms(noise), 1e-12));
  const std::vector<double> gx = smooth_curve(W, o.gain.draw(rng), rng), gz = smooth_curve(H, o.gain.draw(rng), rng);
  double mean = 0;
  for (int64_t z = 0; z < H; ++z)
    for (int64_t t = 0; t < W; ++t) {
      double& v = s[size_t(z * W + t)];
      v = (v + scale * noise[size_t(z * W + t)]) * std::exp(gx[size_t(t)] + gz[size_t(z)]);
      mean += v;
    }
  // A muted top: a wavy line above which the section is zero (and unlabelled).
  if (u01(rng) < o.mute) {
    const double depth = o.mute_depth * double(H) * u01(rng);
    const std::vector<double> wave = smooth_curve(W, 0.3, rng);
    for (int64_t t = 0; t < W; ++t) {
      const int64_t top = std::clamp<int64_t>(int64_t(depth * (1 + wave[size_t(t)])), 0, H);
      for (int64_t z = 0; z < top; ++z) {
        mean -= s[size_t(z * W + t)];
        s[size_t(z * W + t)] = 0;
        out.label[size_t(z * W + t)] = 0;
      }
    }
  }
  out.seismic = standardised(s, mean / double(s.size()));
  clip_amplitudes(o, out.seismic, rng);
  return out;
}

SynthCube generate_cube(const SynthOptions& o, int64_t inlines, std::mt19937_64& rng) {
  STRATA_CHECK(inlines >= 1, "a synthetic cube needs at least one inline");
  const int64_t H = o.height, W = o.width, N = inlines;
  std::uniform_real_distribution<double> u01(0, 1);
  std::normal_distribution<double> g;
  Geology geology(o, true, rng, g);
  if (o.reflector_variation.hi > 0) geology.amplitude = AmplitudeField(o.reflector_variation.draw(rng), double(W), true, rng);
  // Inlines are spread over the model's footprint (W x W): a cube of fewer inlines is a strip of it.
  const double y0 = (double(W) - double(N)) / 2;
  const auto near = [](const FaultFrame& p) { return std::abs(p.side) < 0.5; };

  SynthCube out;
  out.height = H;
  out.width = W;
  out.inlines = N;
  out.faults = geology.faults();
  out.label.assign(size_t(N * W * H), 0);
  // Rendered and filtered one inline at a time as a section (samples x crosslines, row-major), then laid out
  // trace by trace.
  std::vector<std::vector<double>> s(size_t(N), std::vector<double>(size_t(H * W)));
  for (int64_t y = 0; y < N; ++y)
    for (int64_t z = 0; z < H; ++z)
      for (int64_t x = 0; x < W; ++x) {
        uint8_t* label = &out.label[size_t((y * W + x) * H + z)];
        const int64_t n_sub = o.antialias;
        if (n_sub <= 1) {
          s[size_t(y)][size_t(z * W + x)] = geology.value_at(double(x), y0 + double(y), double(z), label, near);
          continue;
        }
        geology.value_at(double(x), y0 + double(y), double(z), label, near);
        double sum = 0;  // the bin averaged across both trace directions
        for (int64_t i = 0; i < n_sub; ++i)
          for (int64_t j = 0; j < n_sub; ++j)
            sum += geology.value_at(double(x) + (double(i) + 0.5) / double(n_sub) - 0.5,
                                    y0 + double(y) + (double(j) + 0.5) / double(n_sub) - 0.5, double(z), nullptr, near);
        s[size_t(y)][size_t(z * W + x)] = sum / double(n_sub * n_sub);
      }

  // The rms over every inline's section.
  const auto cube_rms = [&](const std::vector<std::vector<double>>& sections) {
    double sum = 0;
    for (const std::vector<double>& sec : sections)
      for (double v : sec) sum += v * v;
    return std::max(std::sqrt(sum / double(N * W * H)), 1e-12);
  };
  const std::vector<double> w = section_wavelet(o, rng);
  const double stretch = attenuation_stretch(o, rng);
  for (std::vector<double>& sec : s) convolve_time_varying(sec, H, W, w, stretch);
  const double signal = cube_rms(s);
  std::vector<std::vector<double>> noise(size_t(N), std::vector<double>(size_t(H * W)));
  for (std::vector<double>& sec : noise)
    for (double& v : sec) v = g(rng);
  const bool wavelet_noise = u01(rng) < o.noise_wavelet;
  const double sz = o.noise_smooth.draw(rng), sx = o.noise_smooth.draw(rng);
  for (std::vector<double>& sec : noise) {
    if (wavelet_noise) convolve_time_varying(sec, H, W, w, stretch);
    smooth(sec, H, W, sz, sx);
  }
  if (const std::vector<double> k = gaussian_kernel(sx); k.size() > 1) {  // across inlines as across crosslines
    const int64_t half = int64_t(k.size()) / 2;
    std::vector<double> column(static_cast<size_t>(N));
    for (size_t i = 0; i < size_t(H * W); ++i) {
      for (int64_t y = 0; y < N; ++y) {
        double acc = 0;
        for (int64_t d = -half; d <= half; ++d) acc += k[size_t(d + half)] * noise[size_t(std::clamp<int64_t>(y + d, 0, N - 1))][i];
        column[size_t(y)] = acc;
      }
      for (int64_t y = 0; y < N; ++y) noise[size_t(y)][i] = column[size_t(y)];
    }
  }
  const double scale = signal / (o.snr.draw(rng) * cube_rms(noise));
  const double gain = o.gain.draw(rng);
  const std::vector<double> gx = smooth_curve(W, gain, rng), gy = smooth_curve(N, gain, rng),
                            gz = smooth_curve(H, o.gain.draw(rng), rng);
  std::vector<double> v(size_t(N * W * H));
  double mean = 0;
  for (int64_t y = 0; y < N; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t z = 0; z < H; ++z) {
        const size_t i = size_t(z * W + x);
        double& o_v = v[size_t((y * W + x) * H + z)];
        o_v = (s[size_t(y)][i] + scale * noise[size_t(y)][i]) * std::exp(gx[size_t(x)] + gy[size_t(y)] + gz[size_t(z)]);
        mean += o_v;
      }
  out.seismic = standardised(v, mean / double(v.size()));
  clip_amplitudes(o, out.seismic, rng);
  return out;
}

// ---------------------------------------------------------------------------
// Matching a real survey

TraceSpectrum::TraceSpectrum(int64_t samples)
    : length_(samples), n_(std::min(samples, kSpectrumWindow)), taper_(size_t(std::max<int64_t>(n_, 0))),
      cos_(taper_.size()), sin_(taper_.size()), amplitude_(size_t(std::max<int64_t>(n_, 0) / 2 + 1), 0.0),
      power_(amplitude_.size(), 0.0), d_(taper_.size()) {
  STRATA_CHECK(samples >= 1, "a trace spectrum needs samples, got ", samples);
  for (int64_t k = 0; k < n_; ++k) {
    taper_[size_t(k)] = 0.5 - 0.5 * std::cos(2 * kPi * (double(k) + 0.5) / double(n_));
    cos_[size_t(k)] = std::cos(2 * kPi * double(k) / double(n_));
    sin_[size_t(k)] = std::sin(2 * kPi * double(k) / double(n_));
  }
}

bool TraceSpectrum::add(const float* trace, int64_t stride) {
  for (int64_t k = 0; k < length_; ++k)
    if (missing_sample(trace[k * stride])) return false;
  const int64_t hop = std::max<int64_t>(1, n_ / 2);
  for (int64_t start = 0;; start = std::min(start + hop, length_ - n_)) {
    const float* w = trace + start * stride;
    double mean = 0;
    for (int64_t k = 0; k < n_; ++k) mean += w[k * stride];
    mean /= double(n_);
    for (int64_t k = 0; k < n_; ++k) d_[size_t(k)] = (w[k * stride] - mean) * taper_[size_t(k)];
    for (int64_t f = 1; f <= n_ / 2; ++f) {
      double re = 0, im = 0;
      for (int64_t k = 0, j = 0; k < n_; ++k, j = (j + f) % n_) {  // j = f k mod n
        re += d_[size_t(k)] * cos_[size_t(j)];
        im -= d_[size_t(k)] * sin_[size_t(j)];
      }
      amplitude_[size_t(f)] += std::sqrt(re * re + im * im);
      power_[size_t(f)] += re * re + im * im;
    }
    if (start + n_ >= length_) break;
  }
  ++traces_;
  return true;
}

double TraceSpectrum::peak_period() const {
  if (traces_ == 0) return 0;
  int64_t peak = 1;
  for (int64_t f = 1; f <= n_ / 2; ++f)
    if (amplitude_[size_t(f)] > amplitude_[size_t(peak)]) peak = f;
  return double(n_) / double(peak);
}

double TraceSpectrum::centroid_period() const {
  double sum = 0, moment = 0;
  for (int64_t f = 1; f <= n_ / 2; ++f) {
    sum += power_[size_t(f)];
    moment += double(f) * power_[size_t(f)];
  }
  return moment > 0 ? double(n_) * sum / moment : 0;
}

double TraceSpectrum::wavelet_period() const {
  const double period = centroid_period();
  return period * kMinWaveletCycles <= double(n_) ? period : 0;
}

SurveyStats survey_stats(const SegyVolume& v) {
  SurveyStats st;
  st.interval_ms = v.interval_ms();
  const int64_t n = v.samples();
  // The amplitude spectrum over (up to 2000) traces.
  const int64_t stride = std::max<int64_t>(1, v.traces() / 2000);
  TraceSpectrum spectrum(n);
  double m2 = 0, m4 = 0;
  int64_t count = 0, samples = 0;
  for (int64_t i = 0; i < v.traces(); i += stride) {
    const std::vector<float> tr = v.trace(i);
    // A trace with a missing sample (NaN, infinite, undefined: a dead trace, "no data") is left out.
    if (!spectrum.add(tr.data())) {
      ++st.skipped_traces;
      continue;
    }
    double mean = 0;
    for (float x : tr) mean += x;
    mean /= double(n);
    for (int64_t k = 0; k < n; ++k) {
      const double c2 = (tr[size_t(k)] - mean) * (tr[size_t(k)] - mean);
      m2 += c2;
      m4 += c2 * c2;
      ++samples;
    }
    ++count;
  }
  STRATA_CHECK(count > 0, v.path(), ": every trace read has NaN, infinite or undefined (1e30) samples; nothing to match");
  STRATA_CHECK(m2 > 0, v.path(), ": every trace is constant; nothing to match");
  const double var = m2 / double(samples);
  st.kurtosis = m4 / double(samples) / (var * var);
  STRATA_CHECK(spectrum.wavelet_period() > 0, v.path(), ": the traces' power lies at their lowest frequencies (a ",
               "centroid period of ", spectrum.centroid_period(), " samples, under ", kMinWaveletCycles,
               " cycles a trace): a ramp or a trend, not a seismic wavelet to match");
  st.dominant_period = spectrum.peak_period();
  st.dominant_hz = 1000.0 / (st.dominant_period * st.interval_ms);
  // The correlation of neighbouring traces estimates S / (S + N) for a laterally continuous signal.
  const double c1 = neighbour_correlation(v);
  st.noise_fraction = 1 - std::clamp(c1, 0.0, 1.0);
  st.warning = incoherence_warning(v, c1);
  return st;
}

std::string SynthOptions::match(const SegyVolume& survey) {
  const SurveyStats st = survey_stats(survey);
  period = {std::max(2.5, st.dominant_period * 0.7), std::max(3.0, st.dominant_period * 1.4)};
  // SNR from the coherent share: signal / noise energy = c / (1 - c); keep a wide range around it.
  const double c = 1 - st.noise_fraction;
  const double snr_est = std::sqrt(c / std::max(1 - c, 1e-3));
  snr = {std::max(0.5, snr_est * 0.5), std::max(1.0, snr_est * 3)};
  // Heavy amplitude tails (kurtosis over a Gaussian's 3) come from uneven gain: widen the gain range.
  gain = {0, std::clamp(0.15 * std::sqrt(std::max(st.kurtosis - 3, 0.0)), 0.2, 1.0)};
  const std::string skipped =
      st.skipped_traces == 0 ? ""
                             : str_cat("  ", st.skipped_traces, " trace(s) with NaN, infinite or undefined (1e30) samples left out\n");
  const std::string warning = st.warning.empty() ? "" : str_cat("  ", st.warning, "\n");
  return skipped + warning + str_cat("  sample interval ", st.interval_ms, " ms\n  dominant frequency ", st.dominant_hz, " Hz (period ",
                 st.dominant_period, " samples) -> wavelet period ", period.str(), "\n  amplitude kurtosis ",
                 st.kurtosis, " -> log-gain rms ", gain.str(), "\n  incoherent energy between neighbouring traces ",
                 st.noise_fraction, " (SNR about ", snr_est, ") -> snr ", snr.str(), "\n");
}

}  // namespace strata::faults
