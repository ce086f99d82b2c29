// Synthetic seismic sections with fault labels, generated on the fly.
//
// A section is evaluated pointwise by inverse mapping, the way FaultSeg builds
// its cubes, but only on the plane that is asked for:
//   1. a 1-D reflectivity series of layers of random thickness and contrast;
//   2. folding: a vertical shift growing with depth, from Gaussian bumps and a
//      planar shear;
//   3. faults (younger than the folds): planes with a random dip, strike (cube
//      mode), centre, throw, sense (normal / reverse) and throw profile
//      (constant, growing with depth, or elliptical with tips); the hanging
//      wall slides along the dip; each point is moved back through the faults,
//      youngest first, then unfolded, and takes the reflectivity there;
//   4. convolution along time with a wavelet of random period and phase
//      (Ricker, or a family drawn from `wavelets`; sometimes two mixed),
//      band-limited noise (smoothed or wavelet-filtered) at a random SNR,
//      a smooth random gain, sometimes a muted top (zeros, no labels
//      there), standardised.
// Optional variety (all off by default, so sections are unchanged unless a
// config asks): a reflection coefficient at every sample instead of layers,
// reflectors whose amplitude varies along them, listric
// (curved) faults, fault zones (drag of the reflectors and dimmed amplitudes
// a few samples either side of the plane), faults that end against an older
// fault, coherent noise (straight and curved events crossing the
// layers: multiples, diffraction tails, migration swings), and attenuation
// (a wavelet whose period grows with depth, as absorption lengthens it), and
// clipped amplitudes (data scaled into a narrow integer range or saved from
// a clipped display: flat peaks and troughs).
// With antialias = n, each trace averages n positions across its bin (one
// trace wide), so a fault between two traces blends the trace it cuts.
// The label of a sample is 1 where a fault plane with a visible throw passes
// within half a sample of it in the section's plane: the fault traces.
//
// "section" mode draws 2-D faults striking across the section; "cube" mode
// draws 3-D faults of any strike and cuts a random inline or crossline of the
// cube, so apparent dips and widths vary as they do in a survey; "mixed"
// draws each section from one of the two at random.
// Every range lives in the config (data.synthetic.*); SynthOptions::match
// sets the wavelet, amplitude and noise ranges from a real survey.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "config/config.h"

namespace strata::faults {

class SegyVolume;

struct Range {
  double lo = 0, hi = 0;
  double draw(std::mt19937_64& rng) const;
  std::string str() const;
};

struct SynthOptions {
  int64_t height = 128, width = 128;  // samples x traces
  std::string mode = "section";       // section | cube | mixed (half of each)
  Range layer_thickness{1.5, 10};     // samples between reflectors
  Range fold_bumps{0, 4};             // Gaussian bumps (count)
  Range fold_amplitude{0, 12};        // samples, at the bottom of the section
  Range fold_width{0.1, 0.6};         // bump sigma, fraction of the width
  Range shear{-0.15, 0.15};           // planar dip at the bottom, samples per trace
  Range faults{0, 4};                 // faults per section (count)
  Range dip{50, 88};                  // degrees from horizontal, in samples x traces space
  Range throw_samples{2, 14};         // vertical throw at the fault's centre
  double reverse_fraction = 0.3;      // share of reverse faults
  double min_visible_throw = 1.0;     // no label where the throw is smaller
  Range period{6, 16};                // wavelet period in samples (1 / peak frequency)
  Range phase{-60, 60};               // wavelet phase rotation, degrees
  double mixed_wavelet = 0.3;         // share of sections with two wavelets mixed
  // a mixed wavelet's phases: one each (independent), one for both (shared), or one each with the blend moved
  // back onto zero time (centred)
  std::string mixed_phase = "independent";
  Range snr{1.5, 20};                 // signal / noise rms
  Range noise_smooth{0, 2};           // Gaussian sigma of the noise along time and traces (samples)
  double noise_wavelet = 0.5;         // share of sections whose noise is wavelet-filtered
  Range gain{0, 0.5};                 // rms of the smooth log-gain across traces and with depth
  double mute = 0.2;                  // share of sections with a muted (zero) top, as processed data often have
  double mute_depth = 0.25;           // the deepest mute, fraction of the height
  int64_t antialias = 1;              // positions averaged across each trace's bin (1: point sampling)
  // Variety (defaults: off).
  std::vector<std::string> wavelets{"ricker"};  // families drawn from per wavelet: ricker, ormsby, morlet
  double dense_reflectivity = 0;      // share of sections with a reflection coefficient at every sample
  Range reflector_variation{0, 0};    // rms of the log-amplitude varying along each reflector
  double listric = 0;                 // share of faults that flatten with depth
  Range listric_curvature{0.5, 2};    // how fast: cot(dip) grows by e^(k z / height)
  Range fault_zone{0, 0};             // samples either side of a fault with drag and dimmed amplitudes
  double truncated = 0;               // share of faults (after the first) that end against an older fault
  double coherent_noise = 0;          // share of sections with 1-4 coherent noise events
  Range coherent_amplitude{0.5, 2};   // their amplitude against the reflectivity's rms
  double attenuation = 0;             // share of sections whose wavelet lengthens with depth
  Range attenuation_stretch{1.3, 2};  // its period at the bottom against the top
  double clip = 0;                    // share of sections (or cubes) whose amplitudes are clipped
  Range clip_level{1, 3};             // where: standard deviations of the standardised section

  // Keys of data.synthetic read over `defaults` (data.train_synthetic: over data.synthetic).
  static SynthOptions from_config(const Config& synthetic);
  static SynthOptions from_config(const Config& synthetic, const SynthOptions& defaults);

  // Estimates the survey's dominant period, amplitude tails and noise level
  // and narrows the wavelet and noise ranges around them; returns what it
  // estimated, one line per item.
  std::string match(const SegyVolume& survey);
  std::string describe() const;
};

struct SynthSection {
  int64_t height = 0, width = 0;
  std::vector<float> seismic;   // height x width, row-major (time down)
  std::vector<uint8_t> label;   // 1 on a fault trace
  int64_t faults = 0;
};

SynthSection generate_section(const SynthOptions& o, std::mt19937_64& rng);

// The wavelet a section or cube is convolved with, drawn as generate_section and generate_cube draw it: one of
// o.wavelets at a random period and phase, and in a share o.mixed_wavelet of them a blend with a second one
// (centred; odd length, zero time at the middle sample).
std::vector<double> section_wavelet(const SynthOptions& o, std::mt19937_64& rng);

// A whole cube of one earth model (faults of any strike, as cube mode draws them), for scoring a model the way
// a survey is predicted: height samples x width crosslines x `inlines` inlines. The label is 1 where a fault
// surface with a visible throw passes within half a sample in 3-D. Wavelet, noise (smoothed along time,
// crosslines and inlines alike) and gain are drawn once for the cube; mutes and coherent noise events are
// drawn for sections only.
struct SynthCube {
  int64_t height = 0, width = 0, inlines = 0;
  std::vector<float> seismic;   // inline-major: (inline, crossline, sample), each trace contiguous
  std::vector<uint8_t> label;
  int64_t faults = 0;
};
SynthCube generate_cube(const SynthOptions& o, int64_t inlines, std::mt19937_64& rng);

// The generator of the training sections: `o` with data.train_faults (faults per training section), when the
// data section sets it, in place of data.synthetic.faults, and with any key of data.train_synthetic (a map of
// data.synthetic's keys but the section size) in place of data.synthetic's. Validation and test
// sections keep `o`: more faults per training section is more of the rare class in every step (oversampling),
// and more variety in training is a model that holds on other generators, while the held-out sections still
// describe the data.
// variety = false: data.train_faults alone (the plain training sections when data.train_synthetic.share < 1).
SynthOptions training_options(const SynthOptions& o, const Config& data, bool variety = true);
// data.train_synthetic.share (default 1): the share of training sections drawn from the generator with
// data.train_synthetic's keys; the rest are drawn without them.
double training_share(const Config& data);

// The generator of the training sections as training draws them: a share of the sections from `varied`
// (data.train_synthetic's keys), the rest from `plain`.
struct TrainingSections {
  SynthOptions varied, plain;
  double share = 1;
  // One section; with a share strictly between 0 and 1 the choice takes one draw from `rng` first, so a section
  // is the same whatever draws before it. A share of 0 or 1 draws nothing: such a config's sections are those of
  // the same config without the other kind.
  SynthSection draw(std::mt19937_64& rng) const;
  // One cube of `inlines` inlines (a 3-D model's training sample), chosen between the two as draw() chooses.
  SynthCube draw_cube(int64_t inlines, std::mt19937_64& rng) const;
};
TrainingSections training_sections(const SynthOptions& o, const Config& data);

// Traces longer than this are measured in windows of this many samples overlapping by half (the last one ending at
// the trace's end), their spectra summed, so a trace costs in proportion to its samples (a direct DFT of a whole
// trace of N samples costs N^2: seconds a trace for the 60,000 samples of a long record).
constexpr int64_t kSpectrumWindow = 1024;
// A centroid period is a wavelet's only when at least this many cycles fit the window it was measured on; a longer
// one is a trend, a ramp or a step (test patterns, unstacked headers read as samples), not a wavelet.
constexpr double kMinWaveletCycles = 1.5;

// The spectrum of traces of one length, summed over the traces added: each window demeaned and tapered (Hann)
// before a direct DFT. survey_stats takes a survey's dominant period from its amplitude; predict compares the
// centroid period of its power with the training sections' (faults.h, PeriodMatch).
class TraceSpectrum {
 public:
  explicit TraceSpectrum(int64_t samples);
  // One trace of `samples` values `stride` apart; returns false, adding nothing, when a sample is missing (NaN,
  // infinite or undefined: segy.h, missing_sample).
  bool add(const float* trace, int64_t stride = 1);
  int64_t traces() const { return traces_; }
  // Samples per cycle at the largest summed amplitude (0 before a trace).
  double peak_period() const;
  // Samples per cycle at the power-weighted mean frequency, the zero frequency left out (0 without power).
  double centroid_period() const;
  // The centroid period where it is a wavelet's (kMinWaveletCycles fit the window), otherwise 0.
  double wavelet_period() const;

 private:
  int64_t length_, n_;  // the trace's samples, the window's
  std::vector<double> taper_, cos_, sin_;  // cos_ / sin_ of 2 pi j / n for j < n
  std::vector<double> amplitude_, power_, d_;
  int64_t traces_ = 0;
};

// What a survey's traces look like, for match() and the docs.
struct SurveyStats {
  double dominant_period = 0;  // samples
  double dominant_hz = 0;
  double interval_ms = 0;
  double kurtosis = 0;
  double noise_fraction = 0;   // share of the energy not coherent between neighbouring traces
  int64_t skipped_traces = 0;  // traces left out for missing samples (segy.h: missing_sample)
  std::string warning;         // segy.h: incoherence_warning, "" for a survey whose traces correlate
};
SurveyStats survey_stats(const SegyVolume& v);

}  // namespace strata::faults
