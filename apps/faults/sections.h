// Seismic sections as strata-faults reads them: sets of sections with fault labels (generated, or a labelled
// folder of images / .npy arrays), and single section files for predict.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "apps/faults/synth.h"

namespace strata::faults {

// Sections with their fault labels and names, as eval and the training report score them.
struct SectionSet {
  std::vector<SynthSection> sections;
  std::vector<std::string> names;
};

// `count` sections of the generator `o`, section i drawn from sample_rng(seed, 0, i): the same set on every run.
SectionSet synthetic_set(const SynthOptions& o, uint64_t seed, int64_t count);

// A labelled folder: images/ (sections: grey images or .npy) and masks/ (faults: > 127 in an image, > 0.5 in
// a .npy), paired by stem; sections standardised.
SectionSet folder_set(const std::string& dir);

// Whether `path` ends in `ext` (".npy"), in any letter case.
bool has_ext(const std::string& path, const char* ext);

// A section file: a grey image (any bit depth) or a 2-D .npy array (a 3-D one with a dimension of 1 too).
struct SectionFile {
  int64_t height = 0, width = 0;
  std::vector<float> values;
  std::vector<int64_t> shape;  // as stored: a .npy's shape (axes of 1 included), an image's {height, width}
};
SectionFile read_section_file(const std::string& path);

// Section files of a folder (or one file): images and .npy arrays, sorted.
std::vector<std::string> section_files(const std::string& folder_or_file);

// Missing samples in an input (NaN, infinite or OpendTect's undefined 1e30: dead traces, a writer's "no data"):
// standardise_section() leaves them out of the statistics and sets them to 0, as a blank; one warning per input
// says how many there were.
void warn_missing(const std::string& path, int64_t samples, int64_t sections);

}  // namespace strata::faults
