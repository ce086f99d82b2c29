// Labelled image sets for segmentation (and unlabelled ones for prediction
// and anomaly detection):
//   pairs_from_folders  data.images + data.masks, paired by file stem (the
//                       extensions may differ); an unpaired file is an error
//                       that lists it
//   pairs_from_list     SegNet-style list files: one "image mask" pair per
//                       line, paths relative to the list's folder
//   write_pair_list     the other way: pairs to such a list file (a run's
//                       split, to be fed back as data.train_list / val_list)
//   image_files         the images in a folder (optionally recursive) or a file
//   files_in            a folder's files of one kind, sorted (the apps' folder inputs)
//   split_by_fraction   a seeded split by file (data.val_fraction)
// Masks (MaskSpec, data.mask): `binary` (pixel > threshold is class 1) or
// `index` (the pixel is the class index; `ignore` marks pixels left out of the
// loss and every metric). A mask whose size differs from its image, or an index
// >= classes that is not the ignore value, is an error naming the file and value.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/common/figure.h"
#include "apps/common/image_io.h"
#include "config/config.h"

namespace strata {

struct ImagePair {
  std::string image, mask;  // mask "" when unlabelled
};

std::vector<ImagePair> pairs_from_folders(const std::string& images, const std::string& masks);
// When no mask has an image's own stem and every mask's stem is its image's stem plus one suffix S (a_mask for a,
// CamVid's a_L for a): re-keys `masks` by their images' stems and returns S; else leaves them and returns "". Both
// maps: file stem -> path.
std::string key_masks_by_suffix(const std::map<std::string, std::string>& images,
                                std::map<std::string, std::string>& masks);
std::vector<ImagePair> pairs_from_list(const std::string& list_file);
// Writes `pairs` as a list file that pairs_from_list reads back, each path relative to the list's folder. Returns
// false and writes nothing when a path holds whitespace (the format separates the two paths by spaces) or a pair has
// no mask.
bool write_pair_list(const std::string& list_file, const std::vector<ImagePair>& pairs);
std::vector<std::string> image_files(const std::string& folder_or_file, bool recursive = false);
// The files of `folder` (not of its subfolders) whose path `keep` accepts, sorted by name; a folder that cannot be
// listed is an error naming it.
std::vector<std::string> files_in(const std::string& folder, const std::function<bool(const std::string&)>& keep);
// Errors unless `dir` is an existing folder; `what` names the role (data.images).
void require_folder(const std::string& dir, const std::string& what);

// (train, val): round(fraction * n) files to validation, at least 1 when
// fraction > 0 and n > 1, chosen by `seed`; each side keeps the input order.
std::pair<std::vector<ImagePair>, std::vector<ImagePair>> split_by_fraction(const std::vector<ImagePair>& pairs,
                                                                             double fraction, uint64_t seed);

// The label of a pixel left out of the loss and the metrics, inside strata.
constexpr int32_t kIgnoreLabel = -1;

struct MaskSpec {
  std::string mode = "binary";  // binary | index | colour
  int64_t threshold = 127;      // binary: value > threshold is class 1
  int64_t classes = 2;          // index: values 0 .. classes-1
  int64_t ignore = -1;          // index: this value is ignored (-1: none)
  // colour: an RGB mask drawn in the class colours, colours[c] for class c (the config's palette); pixels of
  // ignore_colour are ignored.
  std::vector<Rgb> colours;
  std::optional<Rgb> ignore_colour;
  // data.mask: {mode, threshold, ignore, ignore_colour}; `classes` comes from the model, `palette` (one colour a
  // class) from the config.
  static MaskSpec from_config(const Config& mask, int64_t classes, const std::vector<Rgb>& palette = {});
  // Reads and checks a mask for an image of `height` x `width`; ignored
  // pixels become kIgnoreLabel.
  LabelMap read(const std::string& path, int64_t height, int64_t width) const;

 private:
  LabelMap read_colours(const std::string& path, int64_t height, int64_t width) const;
};

}  // namespace strata
