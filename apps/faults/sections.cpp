#include "apps/faults/sections.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "apps/common/datasets.h"
#include "apps/common/image_io.h"
#include "apps/common/transforms.h"
#include "apps/common/npy.h"
#include "apps/faults/faults.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/random.h"

namespace fs = std::filesystem;

namespace strata::faults {

void warn_missing(const std::string& path, int64_t samples, int64_t sections) {
  if (samples == 0) return;
  std::fprintf(stderr,
               "%s: warning: %s: %lld NaN, infinite or undefined (1e30) sample(s) in %lld section(s), read as missing (0 after "
               "standardisation, like a blank)\n",
               "strata-faults", path.c_str(), static_cast<long long>(samples), static_cast<long long>(sections));
}

SectionSet synthetic_set(const SynthOptions& o, uint64_t seed, int64_t count) {
  SectionSet s;
  s.sections.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    std::mt19937_64 rng = sample_rng(seed, 0, uint64_t(i));
    s.sections[size_t(i)] = generate_section(o, rng);
    s.names.push_back(str_cat("synthetic_", seed, "_", i));
  }
  return s;
}

bool has_ext(const std::string& path, const char* ext) {
  return lower_extension(path) == ext;
}

SectionFile read_section_file(const std::string& path) {
  if (!has_ext(path, ".npy")) {
    Image img = read_image(path, 1);
    return {img.height, img.width, std::move(img.data), {img.height, img.width}};
  }
  NpyArray a = read_npy(path);
  STRATA_CHECK(std::find(a.shape.begin(), a.shape.end(), 0) == a.shape.end(), path,
               ": the array holds no value (shape ", shape_str(a.shape), ")");
  // A 2-D array as it is (a single trace or a single sample row included); more dimensions of which all but two
  // are 1 (a batch or channel axis of one) as those two.
  std::vector<int64_t> dims = a.shape;
  if (dims.size() != 2) std::erase(dims, int64_t(1));
  STRATA_CHECK(dims.size() == 2, path, ": a section is a 2-D array (samples x traces); this one has shape ",
               shape_str(a.shape));
  return {dims[0], dims[1], std::move(a.data), a.shape};
}

std::vector<std::string> section_files(const std::string& folder_or_file) {
  if (fs::is_regular_file(folder_or_file)) {
    const std::string& f = folder_or_file;
    if (is_image_file(f) || has_ext(f, ".npy")) return {f};
    STRATA_CHECK(!has_ext(f, ".su"), f, ": a Seismic Unix file (its traces have no SEG-Y file headers) is not read; "
                                        "write it as SEG-Y (SU's segyhdrs and segywrite, or segyio) and predict that");
    // A SEG-Y file's text header begins with 'C' (EBCDIC 0xC3 or ASCII) and is 3,200 bytes.
    char first = 0;
    std::ifstream(f, std::ios::binary).read(&first, 1);
    STRATA_CHECK(!((first == '\xC3' || first == 'C') && fs::file_size(f) > 3600), f,
                 ": looks like a SEG-Y file; name it .sgy or .segy to predict it as one");
    STRATA_FAIL(f, ": not a SEG-Y file (.sgy, .segy), a section image (PNG, TIFF, ...) or a .npy array");
  }
  require_folder(folder_or_file, "input");
  return files_in(folder_or_file, [](const std::string& f) { return is_image_file(f) || has_ext(f, ".npy"); });
}

SectionSet folder_set(const std::string& dir) {
  require_folder(dir, "labelled sections folder");
  const fs::path images = fs::path(dir) / "images", masks = fs::path(dir) / "masks";
  STRATA_CHECK(fs::is_directory(images) && fs::is_directory(masks), dir,
               ": want images/ (sections) and masks/ (fault labels, 255 or 1 on faults) subfolders");
  std::map<std::string, std::string> mask_of, image_of;
  for (const std::string& m : section_files(masks.string())) mask_of[fs::path(m).stem().string()] = m;
  const std::vector<std::string> image_paths = section_files(images.string());
  for (const std::string& p : image_paths) image_of[fs::path(p).stem().string()] = p;
  // Masks named after their section plus one suffix throughout (s1_mask.png, s1_faults.npy) pair by it.
  if (const std::string suffix = key_masks_by_suffix(image_of, mask_of); !suffix.empty())
    std::fprintf(stderr, "%s: masks paired with sections by the suffix '%s'\n", masks.string().c_str(), suffix.c_str());
  SectionSet s;
  std::vector<std::string> unpaired;
  for (const std::string& img_path : image_paths) {
    const std::string stem = fs::path(img_path).stem().string();
    const auto it = mask_of.find(stem);
    if (it == mask_of.end()) {
      unpaired.push_back(fs::path(img_path).filename().string());
      continue;
    }
    SectionFile img = read_section_file(img_path);
    const bool npy_mask = has_ext(it->second, ".npy");
    std::vector<float> mask;
    int64_t mh = 0, mw = 0;
    if (npy_mask) {
      SectionFile m = read_section_file(it->second);
      mh = m.height, mw = m.width, mask = std::move(m.values);
      const auto bad = std::find_if(mask.begin(), mask.end(), [](float v) { return !std::isfinite(v); });
      STRATA_CHECK(bad == mask.end(), it->second, ": the fault mask holds ", *bad, " at value ", bad - mask.begin(),
                   " (row ", (bad - mask.begin()) / std::max<int64_t>(mw, 1), "); a mask is 1 on faults and 0 elsewhere");
    } else {
      const LabelMap m = read_label_map(it->second);
      mh = m.height, mw = m.width;
      for (int32_t v : m.data) mask.push_back(v > 127 ? 1.f : 0.f);
    }
    STRATA_CHECK(mh == img.height && mw == img.width, it->second, ": ", mh, " x ", mw, " mask for a ", img.height,
                 " x ", img.width, " section ", img_path);
    SynthSection sec;
    sec.height = img.height;
    sec.width = img.width;
    sec.seismic = std::move(img.values);
    const size_t missing = standardise_section(sec.seismic);
    warn_missing(img_path, int64_t(missing), missing > 0);
    sec.label.resize(mask.size());
    for (size_t i = 0; i < mask.size(); ++i) sec.label[i] = mask[i] > 0.5f ? 1 : 0;
    s.sections.push_back(std::move(sec));
    s.names.push_back(stem);
  }
  STRATA_CHECK(unpaired.empty(), images.string(), ": ", unpaired.size(), " section(s) without a mask of the same stem in ",
               masks.string(), " (", unpaired.front(), unpaired.size() > 1 ? ", ..." : "", ")");
  STRATA_CHECK(!s.sections.empty(), dir, ": no section / mask pairs (PNG or .npy)");
  return s;
}

}  // namespace strata::faults
