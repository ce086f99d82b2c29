#include "apps/common/datasets.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_map>

#include "apps/common/figure.h"
#include "apps/common/output_plan.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace fs = std::filesystem;

namespace strata {
namespace {


// stem -> path of the image files directly in `dir`; two files of one stem are an error.
std::map<std::string, std::string> by_stem(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const std::string& f : image_files(dir)) {
    const std::string stem = fs::path(f).stem().string();
    const auto [it, fresh] = out.emplace(stem, f);
    STRATA_CHECK(fresh, dir, ": two images share the stem '", stem, "' (", fs::path(it->second).filename().string(),
                 ", ", fs::path(f).filename().string(), "); pairs are matched by stem");
  }
  return out;
}

std::string listing(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 10; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 10) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace

void require_folder(const std::string& dir, const std::string& what) {
  std::error_code ec;
  STRATA_CHECK(fs::exists(dir, ec), dir, ": no such folder (", what, ")");
  STRATA_CHECK(fs::is_directory(dir, ec), dir, ": is a file; ", what, " must be a folder");
}

std::vector<std::string> image_files(const std::string& path, bool recursive) {
  std::error_code ec;
  STRATA_CHECK(fs::exists(path, ec), path, ": no such file or folder");
  if (!fs::is_directory(path, ec)) {
    STRATA_CHECK(is_image_file(path), path, ": not an image file (PNG, JPEG, BMP, TIFF, TGA, GIF, PNM by extension)");
    return {path};
  }
  if (!recursive) return files_in(path, is_image_file);
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied))
    if (e.is_regular_file() && is_image_file(e.path().string())) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> files_in(const std::string& folder, const std::function<bool(const std::string&)>& keep) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (keep(it->path().string()) && it->is_regular_file(ec)) out.push_back(it->path().string());
  STRATA_CHECK(!ec, folder, ": cannot list the folder (", ec.message(), ")");
  std::sort(out.begin(), out.end());
  return out;
}

std::string key_masks_by_suffix(const std::map<std::string, std::string>& images,
                                std::map<std::string, std::string>& masks) {
  if (masks.size() != images.size() || masks.empty()) return "";
  for (const auto& [stem, path] : masks)
    if (images.count(stem)) return "";
  // The suffix from the first mask: its stem past the longest image stem it starts with.
  const std::string& first = masks.begin()->first;
  std::string suffix;
  bool found = false;
  for (const auto& [stem, path] : images)
    if (first.size() > stem.size() && first.compare(0, stem.size(), stem) == 0 &&
        (!found || first.size() - stem.size() < suffix.size()))
      suffix = first.substr(stem.size()), found = true;
  if (!found) return "";
  for (const auto& [stem, path] : images)
    if (!masks.count(stem + suffix)) return "";
  std::map<std::string, std::string> by_image;
  for (const auto& [stem, path] : masks) by_image[stem.substr(0, stem.size() - suffix.size())] = path;
  masks = std::move(by_image);
  return suffix;
}

std::vector<ImagePair> pairs_from_folders(const std::string& images, const std::string& masks) {
  require_folder(images, "data.images");
  require_folder(masks, "data.masks");
  const auto im = by_stem(images);
  auto ma = by_stem(masks);
  STRATA_CHECK(!im.empty(), images, ": holds no image files (PNG, JPEG, BMP, ...)");
  // Masks named after their image plus one suffix throughout (a_mask.png, CamVid's a_L.png) pair by that suffix
  // when no mask has an image's own stem.
  if (const std::string suffix = key_masks_by_suffix(im, ma); !suffix.empty())
    std::fprintf(stderr, "%s: masks paired with images by the suffix '%s' (%s for %s)\n", masks.c_str(),
                 suffix.c_str(), fs::path(ma.begin()->second).filename().string().c_str(),
                 fs::path(im.at(ma.begin()->first)).filename().string().c_str());
  std::vector<std::string> no_mask, no_image;
  std::vector<ImagePair> out;
  for (const auto& [stem, path] : im) {
    const auto it = ma.find(stem);
    if (it == ma.end()) no_mask.push_back(fs::path(path).filename().string());
    else out.push_back({path, it->second});
  }
  for (const auto& [stem, path] : ma)
    if (!im.count(stem)) no_image.push_back(fs::path(path).filename().string());
  std::string hint;  // a mask named after the first unpaired image plus something
  if (!no_mask.empty()) {
    const std::string stem = fs::path(no_mask.front()).stem().string();
    for (const auto& [mask_stem, path] : ma)
      if (mask_stem.size() > stem.size() && mask_stem.compare(0, stem.size(), stem) == 0 && !im.count(mask_stem)) {
        hint = str_cat(" (", fs::path(path).filename().string(), " is there: masks pair with images by stem, or by ",
                       "one suffix that every mask has)");
        break;
      }
  }
  STRATA_CHECK(no_mask.empty(), images, ": ", no_mask.size(), " image(s) without a mask of the same stem in ", masks,
               ": ", listing(no_mask), hint);
  STRATA_CHECK(no_image.empty(), masks, ": ", no_image.size(), " mask(s) without an image of the same stem in ", images,
               ": ", listing(no_image));
  return out;
}

std::vector<ImagePair> pairs_from_list(const std::string& list_file) {
  require_input_file(list_file, "list");
  std::ifstream f(list_file);
  const fs::path base = fs::path(list_file).parent_path();
  std::vector<ImagePair> out;
  std::map<std::string, int64_t> line_of;  // canonical image path -> the line that lists it
  bool rerooted = false;
  std::string line;
  for (int64_t n = 1; std::getline(f, line); ++n) {
    if (n == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream in(line);
    std::string image, mask, extra;
    if (!(in >> image)) continue;  // blank line
    if (image[0] == '#') continue;
    STRATA_CHECK(static_cast<bool>(in >> mask) && !(in >> extra), list_file, ":", n,
                 ": expected 'IMAGE MASK' (two paths separated by spaces), got '", line, "'");
    // An absolute path that exists is read as it is. SegNet's lists carry absolute paths of the machine they
    // were made on: one that does not exist here is looked for under the list's folder (said once).
    const auto resolve = [&](const std::string& p) {
      const fs::path given(p);
      if (!given.is_absolute()) {
        const fs::path local = base / given;
        STRATA_CHECK(fs::exists(local), list_file, ":", n, ": no file '", p, "' (looked for ", local.string(), ")");
        return local.string();
      }
      if (fs::exists(given)) return p;
      fs::path local = base / given.relative_path();
      if (!fs::exists(local)) local = base / given.parent_path().filename() / given.filename();  // .../train/x.png
      STRATA_CHECK(fs::exists(local), list_file, ":", n, ": no file '", p, "' (nor ", local.string(),
                   " under the list's folder)");
      if (!rerooted)
        std::fprintf(stderr, "%s:%lld: '%s' does not exist here; absolute paths that do not exist are read under "
                             "the list's folder (%s)\n", list_file.c_str(), static_cast<long long>(n), p.c_str(),
                     local.string().c_str());
      rerooted = true;
      return local.string();
    };
    ImagePair pair{resolve(image), resolve(mask)};
    const auto [it, fresh] = line_of.emplace(canonical_key(pair.image), n);
    STRATA_CHECK(fresh, list_file, ":", n, ": lists the image ", image, " again (first on line ", it->second,
                 "); a duplicate would be drawn twice as often, or land on both sides of a split");
    out.push_back(std::move(pair));
  }
  STRATA_CHECK(!out.empty(), list_file, ": lists no image / mask pairs");
  return out;
}

bool write_pair_list(const std::string& list_file, const std::vector<ImagePair>& pairs) {
  const fs::path base = fs::weakly_canonical(fs::absolute(fs::path(list_file)).parent_path());
  std::vector<std::pair<std::string, std::string>> lines;
  for (const ImagePair& p : pairs) {
    if (p.mask.empty()) return false;
    const auto rel = [&](const std::string& path) { return fs::weakly_canonical(fs::absolute(path)).lexically_relative(base).generic_string(); };
    lines.emplace_back(rel(p.image), rel(p.mask));
    for (const std::string& s : {lines.back().first, lines.back().second})
      if (s.empty() || std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); })) return false;
  }
  write_file_atomic(list_file, [&](std::ostream& f) {
    for (const auto& [image, mask] : lines) f << image << ' ' << mask << '\n';
  });
  return true;
}

std::pair<std::vector<ImagePair>, std::vector<ImagePair>> split_by_fraction(const std::vector<ImagePair>& pairs,
                                                                             double fraction, uint64_t seed) {
  STRATA_CHECK(fraction >= 0 && fraction < 1, "data.val_fraction: ", fraction, " is not in [0, 1)");
  const size_t n = pairs.size();
  size_t k = size_t(std::llround(fraction * double(n)));
  if (fraction > 0 && n > 1) k = std::clamp<size_t>(k, 1, n - 1);
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t(0));
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 11);
  std::shuffle(idx.begin(), idx.end(), rng);
  std::vector<bool> is_val(n, false);
  for (size_t i = 0; i < k; ++i) is_val[idx[i]] = true;
  std::pair<std::vector<ImagePair>, std::vector<ImagePair>> out;
  for (size_t i = 0; i < n; ++i) (is_val[i] ? out.second : out.first).push_back(pairs[i]);
  return out;
}

namespace {

uint32_t colour_key(const Rgb& c) { return uint32_t(c[0]) << 16 | uint32_t(c[1]) << 8 | c[2]; }

}  // namespace

MaskSpec MaskSpec::from_config(const Config& mask, int64_t classes, const std::vector<Rgb>& palette) {
  MaskSpec m;
  m.mode = mask.get_choice("mode", classes <= 2 ? "binary" : "index", {"binary", "index", "colour", "color"});
  if (m.mode == "color") m.mode = "colour";
  m.threshold = mask.get_int("threshold", 127, Bounds::between(0, 65534));
  m.ignore = mask.get_int("ignore", -1, Bounds::between(-1, 65535));
  m.classes = classes;
  const std::string ignore_colour = mask.get_string("ignore_colour", "");
  if (!ignore_colour.empty()) {
    m.ignore_colour = parse_hex_colour(ignore_colour);
    STRATA_CHECK(m.ignore_colour.has_value(), mask.origin(), ": ", mask.key_path("ignore_colour"), ": '",
                 ignore_colour, "' is not a colour; write #RRGGBB (quoted in YAML)");
  }
  if (m.mode == "colour") {
    STRATA_CHECK(int64_t(palette.size()) == classes, mask.origin(), ": ", mask.key_path("mode"),
                 ": colour masks are read through the palette, which needs one colour for each of the ", classes,
                 " classes (it has ", palette.size(), ")");
    for (size_t a = 0; a < palette.size(); ++a) {
      for (size_t b = 0; b < a; ++b)
        STRATA_CHECK(palette[a] != palette[b], mask.origin(), ": ", mask.key_path("mode"), ": classes ", b, " and ",
                     a, " have the same palette colour ", hex_colour(palette[a]),
                     ", so colour masks cannot tell them apart");
      STRATA_CHECK(palette[a] != m.ignore_colour, mask.origin(), ": ",
                   mask.key_path("ignore_colour"), " ", ignore_colour, " is the palette colour of class ", a);
    }
    m.colours = palette;
  } else {
    STRATA_CHECK(ignore_colour.empty(), mask.origin(), ": ", mask.key_path("ignore_colour"),
                 " is read with mode: colour; mode ", m.mode, " ignores a value with data.mask.ignore");
  }
  return m;
}

LabelMap MaskSpec::read_colours(const std::string& path, int64_t height, int64_t width) const {
  const Image img = read_image(path, 3);
  STRATA_CHECK(img.height == height && img.width == width, path, ": the mask is ", img.width, " x ", img.height,
               " but its image is ", width, " x ", height, " (width x height)");
  std::unordered_map<uint32_t, int32_t> class_of;
  for (size_t c = 0; c < colours.size(); ++c) class_of.emplace(colour_key(colours[c]), int32_t(c));
  if (ignore_colour) class_of.emplace(colour_key(*ignore_colour), kIgnoreLabel);
  const int64_t plane = height * width;
  const auto level = [](float v) { return uint8_t(std::lround(v * 255.f)); };
  LabelMap m{height, width, std::vector<int32_t>(size_t(plane))};
  for (int64_t i = 0; i < plane; ++i) {
    const Rgb colour{level(img.data[size_t(i)]), level(img.data[size_t(plane + i)]),
                     level(img.data[size_t(2 * plane + i)])};
    const auto it = class_of.find(colour_key(colour));
    STRATA_CHECK(it != class_of.end(), path, ": pixel (x ", i % width, ", y ", i / width, ") has the colour ",
                 hex_colour(colour), ", which is no class's in the palette",
                 ignore_colour ? std::string() : std::string(" (data.mask.ignore_colour leaves a colour out)"),
                 "; masks saved as JPEG change colours at edges: save them as PNG");
    m.data[size_t(i)] = it->second;
  }
  return m;
}

LabelMap MaskSpec::read(const std::string& path, int64_t height, int64_t width) const {
  if (mode == "colour") return read_colours(path, height, width);
  LabelMap m = read_label_map(path);
  STRATA_CHECK(m.height == height && m.width == width, path, ": the mask is ", m.width, " x ", m.height,
               " but its image is ", width, " x ", height, " (width x height)");
  if (mode == "binary") {
    // A label mask stored as 0 / 1 (or 0 / k at or below the threshold) would read as all background.
    int32_t top = 0;
    bool two_level = true;
    for (int32_t v : m.data) {
      if (v != 0 && top != 0 && v != top) two_level = false;
      if (v != 0 && top == 0) top = v;
    }
    STRATA_CHECK(!(two_level && top > 0 && top <= threshold), path, ": the mask holds only the values 0 and ", top,
                 ", none above data.mask.threshold ", threshold, ", so every pixel would be background; for a 0 / ",
                 top, " mask set data.mask.threshold=", top - 1);
  }
  for (size_t i = 0; i < m.data.size(); ++i) {
    int32_t& v = m.data[i];
    if (mode == "binary") {
      v = v > threshold ? 1 : 0;
    } else if (v == ignore) {
      v = kIgnoreLabel;
    } else {
      STRATA_CHECK(v >= 0 && v < classes, path, ": class index ", v, " at pixel (x ", int64_t(i) % width, ", y ",
                   int64_t(i) / width, ") is not below the class count ", classes,
                   ignore >= 0 ? str_cat(" nor the ignore value ", ignore) : std::string(" (set data.mask.ignore?)"));
    }
  }
  return m;
}

}  // namespace strata
