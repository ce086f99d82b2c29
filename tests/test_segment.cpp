// The image pipeline (apps/common: image I/O, datasets, paired transforms, the
// loader) and strata-segment: bad images and masks, mask values and alignment
// through every transform, loader determinism for any worker count, metrics on
// hand-computed examples, a tiny set overfitted by the app, predict at odd sizes,
// and torchvision's MobileNetV2 / VGG16 loaded through the export script.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/test_util.h"
#include "apps/common/datasets.h"
#include "apps/common/image_io.h"
#include "apps/common/loader.h"
#include "apps/common/metrics.h"
#include "apps/common/transforms.h"
#include "apps/segment/run.h"
#include "apps/segment/segment.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/safetensors.h"
#include "layers/checkpoint.h"
#include "layers/layers.h"
#include "layers/registry.h"
#include "models/encoder_unet.h"

using namespace strata;
using strata::test::error_of;
using strata::test::slurp;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("strata_segment_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A c-channel image whose pixel values encode their position.
Image ramp(int64_t c, int64_t h, int64_t w) {
  Image img{c, h, w, std::vector<float>(size_t(c * h * w))};
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) img.at(k, y, x) = float((k * 7 + y * 3 + x) % 256) / 255.f;
  return img;
}

LabelMap blocks(int64_t h, int64_t w, int32_t classes) {
  LabelMap m{h, w, std::vector<int32_t>(size_t(h * w))};
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) m.at(y, x) = int32_t((y / 5 + x / 7) % classes);
  return m;
}

}  // namespace

// ---------------------------------------------------------------------------
// image I/O

TEST(ImageIo, PngRoundTripsGreyRgbAndSixteenBit) {
  const fs::path d = fresh_dir("io");
  const Image rgb = ramp(3, 13, 17);
  write_png((d / "rgb.png").string(), rgb);
  const Image back = read_image((d / "rgb.png").string(), 3);
  ASSERT_EQ(back.height, 13);
  ASSERT_EQ(back.width, 17);
  for (size_t i = 0; i < rgb.data.size(); ++i) EXPECT_NEAR(back.data[i], rgb.data[i], 0.5 / 255) << i;
  // RGB read as grey: BT.601 luminance; grey read as RGB: replicated.
  const Image grey = read_image((d / "rgb.png").string(), 1);
  EXPECT_NEAR(grey.at(0, 2, 3), 0.299 * back.at(0, 2, 3) + 0.587 * back.at(1, 2, 3) + 0.114 * back.at(2, 2, 3), 1e-6);
  write_png((d / "grey.png").string(), grey);
  const Image rep = read_image((d / "grey.png").string(), 3);
  EXPECT_EQ(rep.at(0, 4, 5), rep.at(2, 4, 5));
  // 16 bit: values survive to 1 / 65535.
  Image fine{1, 3, 4, std::vector<float>{0.f, 1e-4f, 0.5f, 1.f, 0.25f, 0.75f, 0.3333f, 0.1f, 0.9f, 0.01f, 0.99f, 0.5f}};
  write_png((d / "p16.png").string(), fine, 16);
  EXPECT_TRUE(image_info((d / "p16.png").string()).sixteen_bit);
  const Image fine_back = read_image((d / "p16.png").string(), 1);
  for (size_t i = 0; i < fine.data.size(); ++i) EXPECT_NEAR(fine_back.data[i], fine.data[i], 1.0 / 65535) << i;
  fs::remove_all(d);
}

TEST(ImageIo, BadFilesAreErrorsNamingTheFile) {
  const fs::path d = fresh_dir("bad");
  std::ofstream(d / "empty.png");
  std::ofstream(d / "text.png") << "this is not an image\n";
  write_png((d / "ok.png").string(), ramp(1, 20, 20));
  {
    std::ifstream in(d / "ok.png", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(d / "truncated.png", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  fs::create_directories(d / "folder.png");
  const auto err = [&](const char* name) { return error_of([&] { read_image((d / name).string(), 1); }); };
  EXPECT_THAT(err("empty.png"), HasSubstr("empty.png: the image file is empty"));
  EXPECT_THAT(err("text.png"), HasSubstr("text.png: cannot decode the image"));
  EXPECT_THAT(err("truncated.png"), HasSubstr("truncated.png: cannot decode the image"));
  EXPECT_THAT(err("folder.png"), HasSubstr("folder.png: is a directory"));
  EXPECT_THAT(err("absent.png"), HasSubstr("absent.png: no such image file"));
  fs::remove_all(d);
}

// TIFF fixtures written by tifffile (tests/reference/make_tiff_fixtures.py): 37 x 23 pixels whose values follow
// the formulas below, in every layout, compression, predictor, sample format and byte order the reader supports.
namespace {

std::string tiff(const char* name) { return std::string(STRATA_SOURCE_DIR) + "/tests/reference/tiff/" + name; }

double u8_at(int64_t c, int64_t y, int64_t x) { return double((x * 7 + y * 13 + c * 50) % 256); }
double u16_at(int64_t c, int64_t y, int64_t x) { return double((x * 1031 + y * 2053 + c * 9000) % 65536); }
double real_at(int64_t c, int64_t y, int64_t x) { return (double(x) - 2.0 * double(y) + 0.25 * double(c)) / 7.0; }

// read_image(path, 0) against expected(c, y, x) mapped by [black, white] to [0, 1].
void expect_image(const std::string& path, int64_t channels, const std::function<double(int64_t, int64_t, int64_t)>& v,
                  double black, double white, double tol) {
  SCOPED_TRACE(path);
  const Image img = read_image(path, 0);
  ASSERT_EQ(img.channels, channels);
  ASSERT_EQ(img.height, 23);
  ASSERT_EQ(img.width, 37);
  int64_t bad = 0;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < 23; ++y)
      for (int64_t x = 0; x < 37; ++x)
        if (std::abs(img.at(c, y, x) - (v(c, y, x) - black) / (white - black)) > tol && bad++ < 3)
          ADD_FAILURE() << "c " << c << " y " << y << " x " << x << ": " << img.at(c, y, x) << " against "
                        << (v(c, y, x) - black) / (white - black);
  EXPECT_EQ(bad, 0);
}

}  // namespace

TEST(ImageIo, TiffLayoutsCompressionsAndSampleFormats) {
  const double f8 = 1e-6, f16 = 1e-6;
  expect_image(tiff("u8_grey_strips.tif"), 1, u8_at, 0, 255, f8);
  expect_image(tiff("u8_rgb_lzw_predictor_be.tif"), 3, u8_at, 0, 255, f8);
  expect_image(tiff("u8_rgba_deflate_tiles.tif"), 3, u8_at, 0, 255, f8);  // alpha dropped
  expect_image(tiff("u16_grey_packbits_be.tif"), 1, u16_at, 0, 65535, f16);
  expect_image(tiff("u16_rgb_planar_lzw_predictor.tif"), 3, u16_at, 0, 65535, f16);
  expect_image(tiff("u32_grey_deflate.tif"), 1,
               [](int64_t, int64_t y, int64_t x) { return double(x * 100003 + y * 7000001); }, 0, 4294967295.0, 1e-6);
  // Signed and floating-point samples: their range maps to [0, 1] (values in [0, 1] stay as they are).
  const auto i16 = [](int64_t c, int64_t y, int64_t x) { return u16_at(c, y, x) - 32768; };
  double lo = 1e9, hi = -1e9, rlo = 1e9, rhi = -1e9;
  for (int64_t y = 0; y < 23; ++y)
    for (int64_t x = 0; x < 37; ++x) {
      lo = std::min(lo, i16(0, y, x)), hi = std::max(hi, i16(0, y, x));
      rlo = std::min(rlo, real_at(0, y, x)), rhi = std::max(rhi, real_at(0, y, x));
    }
  expect_image(tiff("i16_grey_lzw_predictor_be.tif"), 1, i16, lo, hi, 1e-6);
  expect_image(tiff("f32_grey_lzw_float_predictor.tif"), 1, real_at, rlo, rhi, 1e-6);
  expect_image(tiff("f64_grey_deflate_float_predictor_be_tiles.tif"), 1, real_at, rlo, rhi, 1e-6);
  expect_image(tiff("f32_unit_grey_bigtiff.tif"), 1, u8_at, 0, 255, 1e-6);
  expect_image(tiff("bits1_packbits.tif"), 1, [](int64_t, int64_t y, int64_t x) { return (x + y) % 3 == 0 ? 1.0 : 0.0; },
               0, 1, 0);
  // White is zero: shown inverted, as every viewer shows it.
  expect_image(tiff("u8_grey_white_is_zero.tif"), 1, [](int64_t c, int64_t y, int64_t x) { return 255 - u8_at(c, y, x); },
               0, 255, f8);
  // A colour palette: the colours as an image, the indices as a label map.
  const auto colour = [](int64_t c, int64_t y, int64_t x) {
    const int64_t i = (x / 5 + y / 4) % 7;
    return double(c == 0 ? i * 257 : c == 1 ? (255 - i) * 257 : (i * 3 % 256) * 257);
  };
  expect_image(tiff("u8_palette.tif"), 3, colour, 0, 65535, 1e-6);
  const LabelMap labels = read_label_map(tiff("u8_palette.tif"));
  ASSERT_EQ(labels.width, 37);
  for (int64_t y = 0; y < 23; ++y)
    for (int64_t x = 0; x < 37; ++x) ASSERT_EQ(labels.at(y, x), (x / 5 + y / 4) % 7) << y << " " << x;
  // Integer samples read as labels exactly; 16-bit ones too.
  const LabelMap wide = read_label_map(tiff("u16_grey_packbits_be.tif"));
  EXPECT_EQ(wide.at(22, 36), int32_t(u16_at(0, 22, 36)));
  EXPECT_THAT(error_of([] { read_label_map(tiff("f32_grey_lzw_float_predictor.tif")); }),
              HasSubstr("a mask must hold whole-number labels; this floating-point image holds"));
  // Sizes without decoding; a stack reads its first page and says how many it holds.
  const ImageInfo info = image_info(tiff("u16_rgb_planar_lzw_predictor.tif"));
  EXPECT_EQ(info.width, 37);
  EXPECT_EQ(info.height, 23);
  EXPECT_EQ(info.channels, 3);
  EXPECT_TRUE(info.sixteen_bit);
  EXPECT_TRUE(is_image_file("a/B.TIFF") && is_image_file("b.tif"));
  testing::internal::CaptureStderr();
  expect_image(tiff("u8_stack.tif"), 1, u8_at, 0, 255, f8);
  read_image(tiff("u8_stack.tif"), 1);
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_THAT(said, HasSubstr("u8_stack.tif holds 3 images (a stack); its first is read"));
  EXPECT_EQ(said.find("holds 3"), said.rfind("holds 3")) << "said twice: " << said;
}

TEST(ImageIo, TiffRefusalsNameTheFileAndWhatItHolds) {
  EXPECT_THAT(error_of([] { read_image(tiff("refused_jpeg.tif"), 3); }),
              HasSubstr("refused_jpeg.tif: TIFF compression JPEG is not read"));
  EXPECT_THAT(error_of([] { read_image(tiff("refused_cmyk.tif"), 3); }),
              HasSubstr("refused_cmyk.tif: TIFF colour space CMYK is not read"));
  // Corrupt copies: truncated, an offset past the end, a loop of directories, a decompression bomb's header.
  const fs::path d = fresh_dir("tiff_bad");
  const std::string bytes = slurp(tiff("u16_rgb_planar_lzw_predictor.tif"));
  const auto write = [&](const char* name, const std::string& b) {
    std::ofstream(d / name, std::ios::binary) << b;
    return (d / name).string();
  };
  const std::string half = write("half.tif", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(error_of([&] { read_image(half, 0); }), HasSubstr("half.tif: "));
  // A little-endian classic TIFF's first directory: its offset and entry count.
  const auto u32_at = [](const std::string& b, size_t i) {
    return uint32_t(uint8_t(b[i])) | uint32_t(uint8_t(b[i + 1])) << 8 | uint32_t(uint8_t(b[i + 2])) << 16 |
           uint32_t(uint8_t(b[i + 3])) << 24;
  };
  const auto entries = [&](const std::string& b) {
    const uint32_t at = u32_at(b, 4);
    return uint32_t(uint8_t(b[at])) | uint32_t(uint8_t(b[at + 1])) << 8;
  };
  std::string looped = bytes;  // the first directory's "next" offset pointing back at itself
  const uint32_t ifd = u32_at(looped, 4);
  for (int k = 0; k < 4; ++k) looped[ifd + 2 + entries(looped) * 12 + uint32_t(k)] = looped[4 + size_t(k)];
  EXPECT_THAT(error_of([&] { read_image(write("loop.tif", looped), 0); }), HasSubstr("form a loop"));
  std::string huge = slurp(tiff("u8_grey_strips.tif"));  // width 37 -> 2^31 - 1
  const uint32_t huge_ifd = u32_at(huge, 4);
  for (uint32_t i = 0; i < entries(huge); ++i) {
    const size_t e = huge_ifd + 2 + i * 12;
    const uint32_t tag = uint32_t(uint8_t(huge[e])) | uint32_t(uint8_t(huge[e + 1])) << 8;
    if (tag == 256) huge.replace(e + 2, 10, std::string("\x04\x00\x01\x00\x00\x00\xff\xff\xff\x7f", 10));
  }
  EXPECT_THAT(error_of([&] { read_image(write("huge.tif", huge), 0); }),
              HasSubstr("pixels is over the limit of"));
  std::ofstream(d / "text.tif") << "II* but nothing else";
  EXPECT_THAT(error_of([&] { read_image((d / "text.tif").string(), 0); }), HasSubstr("text.tif: "));
  fs::remove_all(d);
}

// Every fixture with bytes overwritten at random: each read either decodes or is a strata::Error (under the ASan
// build, also without reading or writing out of bounds).
TEST(ImageIo, TiffCorruptBytesAreErrorsNotCrashes) {
  const fs::path d = fresh_dir("tiff_fuzz");
  const int64_t limit = max_image_pixels();
  set_max_image_pixels(1 << 16);
  std::mt19937 rng(7);
  int64_t decoded = 0, refused = 0;
  for (const auto& e : fs::directory_iterator(std::string(STRATA_SOURCE_DIR) + "/tests/reference/tiff")) {
    const std::string bytes = slurp(e.path().string());
    for (int trial = 0; trial < 60; ++trial) {
      std::string b = bytes;
      const int flips = 1 + int(rng() % 4);
      // Half the trials hit the header and directories (the first and last 256 bytes), half anywhere.
      for (int k = 0; k < flips; ++k) {
        size_t at = rng() % b.size();
        if (trial % 2 == 0) at = rng() % 2 ? rng() % std::min<size_t>(256, b.size()) : b.size() - 1 - rng() % std::min<size_t>(256, b.size());
        b[at] = char(rng() % 4 == 0 ? 0xff : rng() % 256);
      }
      const std::string path = (d / "f.tif").string();
      std::ofstream(path, std::ios::binary | std::ios::trunc) << b;
      try {
        const Image img = read_image(path, 0);
        for (const float v : img.data) ASSERT_TRUE(std::isfinite(v)) << e.path() << " trial " << trial;
        ++decoded;
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  set_max_image_pixels(limit);
  EXPECT_GT(decoded, 0);
  EXPECT_GT(refused, 0);
  fs::remove_all(d);
}

// ---------------------------------------------------------------------------
// datasets and masks

TEST(Datasets, FoldersPairByStemAndListUnpairedFiles) {
  const fs::path d = fresh_dir("pairs");
  fs::create_directories(d / "im");
  fs::create_directories(d / "ma");
  for (const char* s : {"a", "b", "c"}) write_png((d / "im" / (std::string(s) + ".png")).string(), ramp(1, 8, 8));
  for (const char* s : {"a", "b", "c"}) write_png((d / "ma" / (std::string(s) + ".bmp.png")).string(), ramp(1, 8, 8));
  // Every mask is its image's stem plus one suffix (.bmp here, as _mask or CamVid's _L): paired by it.
  auto by_suffix = pairs_from_folders((d / "im").string(), (d / "ma").string());
  ASSERT_EQ(by_suffix.size(), 3u);
  EXPECT_EQ(fs::path(by_suffix[2].image).filename(), "c.png");
  EXPECT_EQ(fs::path(by_suffix[2].mask).filename(), "c.bmp.png");
  // One mask without the suffix: nothing is paired by it, and the message points at the named mask.
  fs::rename(d / "ma" / "a.bmp.png", d / "ma" / "a.png");
  EXPECT_THAT(error_of([&] { pairs_from_folders((d / "im").string(), (d / "ma").string()); }),
              HasSubstr("2 image(s) without a mask of the same stem in " + (d / "ma").string() +
                        ": b.png, c.png (b.bmp.png is there: masks pair with images by stem, or by one suffix that "
                        "every mask has)"));
  // Stems that share no suffix: every file unpaired, each listed.
  fs::rename(d / "ma" / "a.png", d / "ma" / "a_x.png");
  fs::rename(d / "ma" / "b.bmp.png", d / "ma" / "b_y.png");
  EXPECT_THAT(error_of([&] { pairs_from_folders((d / "im").string(), (d / "ma").string()); }),
              HasSubstr("3 image(s) without a mask of the same stem"));
  fs::remove_all(d / "ma");
  fs::create_directories(d / "ma");
  for (const char* s : {"a", "b"}) write_png((d / "ma" / (std::string(s) + ".png")).string(), ramp(1, 8, 8));
  std::ofstream(d / "ma" / "a.jpg");  // two masks of stem a
  EXPECT_THAT(error_of([&] { pairs_from_folders((d / "im").string(), (d / "ma").string()); }),
              HasSubstr("two images share the stem 'a'"));
  fs::remove(d / "ma" / "a.jpg");
  EXPECT_THAT(error_of([&] { pairs_from_folders((d / "im").string(), (d / "ma").string()); }),
              HasSubstr("1 image(s) without a mask of the same stem in"));
  write_png((d / "ma" / "c.png").string(), ramp(1, 8, 8));
  const auto pairs = pairs_from_folders((d / "im").string(), (d / "ma").string());
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(fs::path(pairs[1].mask).filename(), "b.png");
  // List files: paths relative to the list's folder.
  std::ofstream(d / "list.txt") << "im/a.png ma/a.png\n\nim/b.png ma/b.png\n";
  EXPECT_EQ(pairs_from_list((d / "list.txt").string()).size(), 2u);
  std::ofstream(d / "bad.txt") << "im/a.png\n";
  EXPECT_THAT(error_of([&] { pairs_from_list((d / "bad.txt").string()); }), HasSubstr("bad.txt:1: expected 'IMAGE MASK'"));
  std::ofstream(d / "missing.txt") << "im/a.png ma/zzz.png\n";
  EXPECT_THAT(error_of([&] { pairs_from_list((d / "missing.txt").string()); }), HasSubstr("no file 'ma/zzz.png'"));
  // A written list (a run's split) reads back as the same files, from a list in another folder.
  fs::create_directories(d / "run");
  ASSERT_TRUE(write_pair_list((d / "run" / "split.txt").string(), pairs));
  const auto back = pairs_from_list((d / "run" / "split.txt").string());
  ASSERT_EQ(back.size(), pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_TRUE(fs::equivalent(back[i].image, pairs[i].image)) << back[i].image;
    EXPECT_TRUE(fs::equivalent(back[i].mask, pairs[i].mask)) << back[i].mask;
  }
  // Paths with a space cannot be listed: nothing is written.
  EXPECT_FALSE(write_pair_list((d / "run" / "spaced.txt").string(), {{(d / "im" / "a b.png").string(), pairs[0].mask}}));
  EXPECT_FALSE(fs::exists(d / "run" / "spaced.txt"));
  // A seeded split by file: same seed, same split; every file on one side.
  const auto [tr, va] = split_by_fraction(pairs, 0.3, 4);
  EXPECT_EQ(tr.size() + va.size(), 3u);
  EXPECT_EQ(va.size(), 1u);
  EXPECT_EQ(split_by_fraction(pairs, 0.3, 4).second[0].image, va[0].image);
  fs::remove_all(d);
}

TEST(Datasets, MaskSizeAndClassIndexAreCheckedWithFileAndValue) {
  const fs::path d = fresh_dir("masks");
  LabelMap m{6, 5, std::vector<int32_t>(30, 1)};
  m.at(2, 3) = 11;  // void
  write_label_png((d / "m.png").string(), m);
  MaskSpec spec;
  spec.mode = "index";
  spec.classes = 11;
  EXPECT_THAT(error_of([&] { spec.read((d / "m.png").string(), 6, 5); }),
              HasSubstr("m.png: class index 11 at pixel (x 3, y 2) is not below the class count 11"));
  spec.ignore = 11;
  const LabelMap r = spec.read((d / "m.png").string(), 6, 5);
  EXPECT_EQ(r.at(2, 3), kIgnoreLabel);
  EXPECT_EQ(r.at(0, 0), 1);
  EXPECT_THAT(error_of([&] { spec.read((d / "m.png").string(), 5, 6); }),
              HasSubstr("m.png: the mask is 5 x 6 but its image is 6 x 5"));
  MaskSpec binary;  // pixel > 127 is class 1
  LabelMap grey{1, 3, {0, 127, 128}};
  write_label_png((d / "b.png").string(), grey);
  EXPECT_EQ(binary.read((d / "b.png").string(), 1, 3).data, (std::vector<int32_t>{0, 0, 1}));
  fs::remove_all(d);
}

TEST(Datasets, ColourMasksAreReadThroughThePalette) {
  // A mask drawn in the class colours (CamVid's original labels, most annotation tools' exports): each colour is the
  // class whose palette colour it is, ignore_colour is left out, any other colour is an error naming it.
  const fs::path d = fresh_dir("colour_masks");
  const std::vector<std::array<uint8_t, 3>> palette{{128, 128, 128}, {128, 0, 0}, {192, 192, 128}};
  Image rgb{3, 2, 3, std::vector<float>(18)};
  const std::array<std::array<uint8_t, 3>, 6> px{{{128, 128, 128}, {128, 0, 0}, {192, 192, 128},
                                                  {0, 0, 0}, {128, 0, 0}, {128, 128, 128}}};
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t c = 0; c < 3; ++c) rgb.data[size_t(c * 6 + i)] = float(px[size_t(i)][size_t(c)]) / 255.f;
  write_png((d / "m.png").string(), rgb);
  const auto spec_of = [&](const std::string& yaml, const std::vector<std::array<uint8_t, 3>>& colours) {
    return MaskSpec::from_config(Config::parse(yaml, "data.mask"), 3, colours);
  };
  const MaskSpec spec = spec_of("{mode: colour, ignore_colour: '#000000'}", palette);
  EXPECT_EQ(spec.read((d / "m.png").string(), 2, 3).data, (std::vector<int32_t>{0, 1, 2, kIgnoreLabel, 1, 0}));
  EXPECT_EQ(spec_of("{mode: color, ignore_colour: '#000000'}", palette).mode, "colour");
  EXPECT_THAT(error_of([&] { spec_of("{mode: colour}", palette).read((d / "m.png").string(), 2, 3); }),
              HasSubstr("m.png: pixel (x 0, y 1) has the colour #000000, which is no class's in the palette"));
  EXPECT_THAT(error_of([&] { spec.read((d / "m.png").string(), 3, 2); }),
              HasSubstr("m.png: the mask is 3 x 2 but its image is 2 x 3"));
  // The palette must tell the classes apart, and ignore_colour belongs to colour masks.
  EXPECT_THAT(error_of([&] { spec_of("{mode: colour}", {{1, 2, 3}, {1, 2, 3}, {4, 5, 6}}); }),
              HasSubstr("classes 0 and 1 have the same palette colour #010203"));
  EXPECT_THAT(error_of([&] { spec_of("{mode: colour, ignore_colour: '#808080'}", palette); }),
              HasSubstr("is the palette colour of class 0"));
  EXPECT_THAT(error_of([&] { spec_of("{mode: index, ignore_colour: '#000000'}", palette); }),
              HasSubstr("is read with mode: colour"));
  EXPECT_THAT(error_of([&] { spec_of("{mode: colour, ignore_colour: black}", palette); }),
              HasSubstr("'black' is not a colour"));
  // An index mask of such colours names the mode that reads it.
  MaskSpec index;
  index.mode = "index";
  index.classes = 3;
  EXPECT_THAT(error_of([&] { index.read((d / "m.png").string(), 2, 3); }), HasSubstr("data.mask.mode: colour"));
  fs::remove_all(d);
}

TEST(Transforms, ClassMixPastesHalfTheClassesOfAnotherSample) {
  // `from` holds classes 0-3 in four column bands and one ignored pixel; `onto` is class 5 everywhere. After the
  // mix, each pixel is from's (image and label) exactly where from's label is one of the pasted classes, onto's
  // elsewhere; the pasted classes are two of the four, and draws differ between streams.
  const int64_t h = 6, w = 8;
  Sample from{Image{2, h, w, std::vector<float>(size_t(2 * h * w))}, LabelMap{h, w, std::vector<int32_t>(size_t(h * w))}};
  for (int64_t i = 0; i < h * w; ++i) {
    from.mask.data[size_t(i)] = int32_t((i % w) / 2);
    from.image.data[size_t(i)] = float(i);
    from.image.data[size_t(h * w + i)] = -float(i);
  }
  from.mask.data[3] = kIgnoreLabel;
  const Sample plain{Image{2, h, w, std::vector<float>(size_t(2 * h * w), 0.5f)},
                     LabelMap{h, w, std::vector<int32_t>(size_t(h * w), 5)}};
  std::set<std::set<int32_t>> drawn;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Sample onto = plain;
    std::mt19937_64 rng(seed);
    segment::class_mix(onto, from, rng);
    std::set<int32_t> pasted;
    for (int64_t i = 0; i < h * w; ++i) {
      const int32_t v = onto.mask.data[size_t(i)];
      if (v != 5) pasted.insert(v);
      const bool from_here = v != 5;
      ASSERT_EQ(v, from_here ? from.mask.data[size_t(i)] : 5) << i;
      ASSERT_EQ(onto.image.data[size_t(i)], from_here ? float(i) : 0.5f) << i;
      ASSERT_EQ(onto.image.data[size_t(h * w + i)], from_here ? -float(i) : 0.5f) << i;
    }
    EXPECT_EQ(pasted.size(), 2u);
    for (int64_t i = 0; i < h * w; ++i) {  // a pasted class is pasted whole, the ignored pixel never
      if (pasted.count(from.mask.data[size_t(i)])) {
        EXPECT_EQ(onto.mask.data[size_t(i)], from.mask.data[size_t(i)]);
      }
    }
    EXPECT_EQ(onto.mask.data[3], 5);
    drawn.insert(pasted);
  }
  EXPECT_GT(drawn.size(), 3u);
  // A sample of one class pastes it; one of ignored pixels only pastes nothing; sizes must agree.
  Sample one = from;
  std::fill(one.mask.data.begin(), one.mask.data.end(), 2);
  Sample onto = plain;
  std::mt19937_64 rng(1);
  segment::class_mix(onto, one, rng);
  EXPECT_EQ(onto.mask.data, one.mask.data);
  std::fill(one.mask.data.begin(), one.mask.data.end(), kIgnoreLabel);
  onto = plain;
  segment::class_mix(onto, one, rng);
  EXPECT_EQ(onto.mask.data, plain.mask.data);
  Sample small{Image{2, 2, 2, std::vector<float>(8)}, LabelMap{2, 2, std::vector<int32_t>(4)}};
  EXPECT_THAT(error_of([&] { segment::class_mix(onto, small, rng); }), HasSubstr("two labelled samples of one size"));
}

// ---------------------------------------------------------------------------
// transforms

TEST(Transforms, MasksKeepTheirLabelSetThroughResizeScaleAndCrop) {
  Sample s{ramp(3, 60, 80), blocks(60, 80, 4)};
  TransformOptions o;
  o.size = {45, 61};
  o.scale = {0.6, 1.7};
  o.crop = {50, 50};
  o.hflip = o.vflip = 0.5;
  o.brightness = o.contrast = 0.2;
  o.elastic_alpha = 6;
  o.elastic_sigma = 4;
  o.elastic_p = 0.5;
  for (uint64_t i = 0; i < 30; ++i) {
    std::mt19937_64 rng = sample_rng(3, 0, i);
    const Sample t = apply_transforms(s, o, &rng);
    ASSERT_EQ(t.mask.height, 50);
    ASSERT_EQ(t.image.height, 50);
    std::set<int32_t> seen(t.mask.data.begin(), t.mask.data.end());
    for (int32_t v : seen) EXPECT_TRUE(v == kIgnoreLabel || (v >= 0 && v < 4)) << v;
  }
  // Area resizing averages: a 2x2 block of 0 and 1 becomes 0.5.
  Image checker{1, 4, 4, {0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0}};
  const Image half = resize_image(checker, 2, 2, Interp::area);
  for (float v : half.data) EXPECT_FLOAT_EQ(v, 0.5f);
}

TEST(Transforms, ElasticDeformationMovesImageAndMaskTogether) {
  // Label l everywhere has image value (l + 1) / 10 and blocks are wide: after a smooth deformation, pixels
  // whose label is kept (not ignored) mostly still carry their label's value (bilinear blends only at edges).
  LabelMap m{64, 64, std::vector<int32_t>(64 * 64)};
  for (int64_t y = 0; y < 64; ++y)
    for (int64_t x = 0; x < 64; ++x) m.at(y, x) = int32_t((y / 16 + x / 16) % 4);
  Image img{1, 64, 64, std::vector<float>(m.data.size())};
  for (size_t i = 0; i < m.data.size(); ++i) img.data[i] = float(m.data[i] + 1) / 10.f;
  std::mt19937_64 rng = sample_rng(4, 0, 0);
  const Sample t = elastic(Sample{img, m}, 5.0, 6.0, rng);
  int64_t agree = 0, labelled = 0, moved = 0;
  for (size_t i = 0; i < t.mask.data.size(); ++i) {
    if (t.mask.data[i] == kIgnoreLabel) continue;
    ++labelled;
    agree += std::fabs(t.image.data[i] - float(t.mask.data[i] + 1) / 10.f) < 1e-4f;
    moved += t.mask.data[i] != m.data[i];
  }
  EXPECT_GT(moved, 100);                      // it did deform
  EXPECT_GT(double(agree), 0.8 * double(labelled));  // and image and mask moved together
}

TEST(Transforms, ImageAndMaskMoveTogetherThroughFlipsAndCrops) {
  // The image's one channel is its label / 10: after any flips and crop the two still agree pixel for pixel
  // (padding: image 0, label ignored).
  LabelMap m = blocks(37, 53, 5);
  Image img{1, 37, 53, std::vector<float>(m.data.size())};
  for (size_t i = 0; i < m.data.size(); ++i) img.data[i] = float(m.data[i] + 1) / 10.f;
  TransformOptions o;
  o.crop = {40, 30};  // taller than the image: padded rows
  o.hflip = o.vflip = 0.5;
  o.transpose = 0.5;  // the crop stays 40 x 30 either way
  int flips = 0;
  for (uint64_t i = 0; i < 20; ++i) {
    std::mt19937_64 rng = sample_rng(1, 2, i);
    const Sample t = apply_transforms(Sample{img, m}, o, &rng);
    for (int64_t y = 0; y < 40; ++y)
      for (int64_t x = 0; x < 30; ++x) {
        const int32_t l = t.mask.at(y, x);
        EXPECT_FLOAT_EQ(t.image.at(0, y, x), l == kIgnoreLabel ? 0.f : float(l + 1) / 10.f) << y << "," << x;
      }
    flips += t.image.at(0, 1, 0) != img.at(0, 0, 0);
  }
  EXPECT_GT(flips, 0);
  // hflip moves column x to width-1-x in both.
  const LabelMap f = hflip(m);
  EXPECT_EQ(f.at(3, 0), m.at(3, 52));
  EXPECT_FLOAT_EQ(hflip(img).at(0, 3, 0), img.at(0, 3, 52));
  // transpose moves (y, x) to (x, y) in both, and hflip after it is a quarter turn.
  const LabelMap tm = transpose(m);
  const Image ti = transpose(img);
  ASSERT_EQ(tm.height, 53);
  ASSERT_EQ(tm.width, 37);
  ASSERT_EQ(ti.height, 53);
  ASSERT_EQ(ti.width, 37);
  for (int64_t y = 0; y < 37; ++y)
    for (int64_t x = 0; x < 53; ++x) {
      ASSERT_EQ(tm.at(x, y), m.at(y, x));
      ASSERT_FLOAT_EQ(ti.at(0, x, y), img.at(0, y, x));
    }
  EXPECT_EQ(transpose(tm).data, m.data);
  EXPECT_EQ(hflip(tm).at(0, 0), m.at(36, 0));  // clockwise: the bottom-left corner comes to the top left
}

TEST(Transforms, ClassCropCentresOnRareClassesAndDrawsNothingWhenOff) {
  // A 100 x 100 map of class 0 with one 2 x 2 "pole" of class 3 near a corner; 20 x 20 crops. Uniform crops
  // hold the pole about (20 / 81)^2 = 6% of the time; class-centred crops draw class 0 or 3 with even odds, so
  // about half of them are centred on the pole and hold it whole.
  LabelMap m{100, 100, std::vector<int32_t>(100 * 100, 0)};
  for (int64_t y = 90; y < 92; ++y)
    for (int64_t x = 5; x < 7; ++x) m.at(y, x) = 3;
  m.at(0, 0) = kIgnoreLabel;  // ignored pixels are never a class to centre on
  Image img{1, 100, 100, std::vector<float>(m.data.size(), 0.5f)};
  TransformOptions o;
  o.crop = {20, 20};
  const auto pole_pixels = [](const LabelMap& c) { return std::count(c.data.begin(), c.data.end(), 3); };
  int uniform = 0, centred = 0, whole = 0;
  for (uint64_t i = 0; i < 400; ++i) {
    std::mt19937_64 a = sample_rng(7, 0, i);
    uniform += pole_pixels(apply_transforms(Sample{img, m}, o, &a).mask) > 0;
    TransformOptions c = o;
    c.class_crop = 1;
    std::mt19937_64 b = sample_rng(7, 0, i);
    const Sample t = apply_transforms(Sample{img, m}, c, &b);
    ASSERT_EQ(t.mask.height, 20);
    ASSERT_EQ(t.mask.width, 20);
    const auto n = pole_pixels(t.mask);
    centred += n > 0;
    whole += n == 4;
  }
  EXPECT_LT(uniform, 60);
  EXPECT_GT(whole, 160);  // a crop centred on the pole holds all of it
  EXPECT_LT(centred, 240);
  // In a config it needs a crop to centre, and is a probability.
  EXPECT_THROW(TransformOptions::from_config(Config::parse("augment: {class_crop: 0.5}\n"), 1), Error);
  EXPECT_THROW(TransformOptions::from_config(Config::parse("augment: {class_crop: 2, crop: [8, 8]}\n"), 1), Error);
  EXPECT_EQ(TransformOptions::from_config(Config::parse("augment: {class_crop: 0.5, crop: [8, 8]}\n"), 1).class_crop,
            0.5);
  // A map with every pixel ignored falls back to a uniform crop.
  TransformOptions on = o;
  on.class_crop = 1;
  LabelMap none{100, 100, std::vector<int32_t>(100 * 100, kIgnoreLabel)};
  std::mt19937_64 r = sample_rng(7, 0, 0);
  EXPECT_EQ(apply_transforms(Sample{img, none}, on, &r).image.height, 20);
  // Unlabelled samples draw nothing for it: with or without the option, the same crop and flip.
  on.hflip = o.hflip = 0.5;
  const Image distinct = ramp(1, 100, 100);
  for (uint64_t i = 0; i < 10; ++i) {
    std::mt19937_64 x = sample_rng(9, 1, i), y = sample_rng(9, 1, i);
    EXPECT_EQ(apply_transforms(Sample{distinct, {}}, on, &x).image.data,
              apply_transforms(Sample{distinct, {}}, o, &y).image.data);
  }
}

TEST(Transforms, TransposeDrawsAllEightSymmetriesAndNothingWhenOff) {
  // A 4 x 4 image with distinct values: hflip, vflip and transpose together give the 8 symmetries of the
  // square, each at some index of 200 samples.
  Image img{1, 4, 4, std::vector<float>(16)};
  for (int i = 0; i < 16; ++i) img.data[size_t(i)] = float(i);
  TransformOptions o;
  o.hflip = o.vflip = o.transpose = 0.5;
  std::set<std::vector<float>> seen;
  for (uint64_t i = 0; i < 200; ++i) {
    std::mt19937_64 rng = sample_rng(5, 0, i);
    seen.insert(apply_transforms(Sample{img, {}}, o, &rng).image.data);
  }
  EXPECT_EQ(seen.size(), 8u);
  // Off (the default), no draw is made: the flips see the same random stream as before the option existed.
  TransformOptions flips;
  flips.hflip = flips.vflip = 0.5;
  for (uint64_t i = 0; i < 20; ++i) {
    std::mt19937_64 a = sample_rng(6, 1, i), b = sample_rng(6, 1, i);
    const Sample ta = apply_transforms(Sample{img, {}}, flips, &a);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    Image expect = img;
    if (unit(b) < 0.5) expect = hflip(expect);
    if (unit(b) < 0.5) expect = vflip(expect);
    EXPECT_EQ(ta.image.data, expect.data) << i;
  }
  // Bounds: a probability.
  EXPECT_THROW(TransformOptions::from_config(Config::parse("augment: {transpose: 1.5, crop: [8, 8]}\n"), 1), Error);
  // A non-square sample would change shape: it needs a crop or a square size.
  EXPECT_THROW(TransformOptions::from_config(Config::parse("size: [32, 48]\naugment: {transpose: 0.5}\n"), 1), Error);
  EXPECT_THROW(TransformOptions::from_config(Config::parse("augment: {transpose: 0.5}\n"), 1), Error);
  EXPECT_EQ(TransformOptions::from_config(Config::parse("size: [32, 32]\naugment: {transpose: 0.5}\n"), 1).transpose, 0.5);
  EXPECT_EQ(TransformOptions::from_config(Config::parse("augment: {transpose: 0.5, crop: [16, 24]}\n"), 1).transpose, 0.5);
}

// ---------------------------------------------------------------------------
// loader

TEST(Loader, SameBatchesForAnyWorkerCountAndAfterAResume) {
  const auto order = [](int64_t epoch) {
    std::vector<int64_t> o(23);
    for (int64_t i = 0; i < 23; ++i) o[size_t(i)] = (i * 7 + epoch) % 23;
    return o;
  };
  const auto make = [](int64_t index, std::mt19937_64& rng) {
    Image img{1, 1, 3, {float(index), float(rng() % 1000), float(rng() % 1000)}};
    return Sample{img, {}};
  };
  const auto run = [&](int64_t workers, int64_t from_batch) {
    Loader l(order, make, 4, 9, workers, 2);
    std::vector<float> seen;
    for (int64_t e = 0; e < 2; ++e)
      for (int64_t b = e == 0 ? from_batch : 0; b < l.batches_per_epoch(23); ++b)
        for (const Sample& s : l.batch(e, b)) seen.insert(seen.end(), s.image.data.begin(), s.image.data.end());
    return seen;
  };
  const std::vector<float> one = run(0, 0);
  EXPECT_EQ(one.size(), size_t(2 * 23 * 3));
  EXPECT_EQ(run(1, 0), one);
  EXPECT_EQ(run(3, 0), one);
  const std::vector<float> resumed = run(3, 2);  // epoch 0 from batch 2
  EXPECT_TRUE(std::equal(resumed.begin(), resumed.end(), one.begin() + 2 * 4 * 3));
}

TEST(Loader, AWorkerErrorReachesTheCaller) {
  Loader l([](int64_t) { return std::vector<int64_t>{0, 1, 2}; },
           [](int64_t i, std::mt19937_64&) -> Sample {
             STRATA_CHECK(i != 1, "broken.png: cannot decode the image");
             return Sample{Image{1, 1, 1, {0.f}}, {}};
           },
           3, 1, 2);
  EXPECT_THAT(error_of([&] { l.batch(0, 0); }), HasSubstr("broken.png"));
}

// ---------------------------------------------------------------------------
// metrics

TEST(SegmentMetrics, HandComputedBinaryExample) {
  // truth    1 1 0 0 | 1 0     predicted 1 0 0 1 | 1 0 (ignored pixel at the end)
  ConfusionMatrix cm(2);
  cm.add({1, 1, 0, 0, 1, 0, kIgnoreLabel}, {1, 0, 0, 1, 1, 0, 1}, kIgnoreLabel);
  EXPECT_EQ(cm.total(), 6);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 4.0 / 6.0);
  // class 1: TP 2, FP 1, FN 1 -> IoU 2 / 4; class 0: TP 2, FP 1, FN 1 -> 2 / 4 (Keras BinaryIoU convention)
  EXPECT_DOUBLE_EQ(cm.iou(1), 0.5);
  EXPECT_DOUBLE_EQ(cm.iou(0), 0.5);
  EXPECT_DOUBLE_EQ(cm.mean_iou(), 0.5);
  EXPECT_DOUBLE_EQ(cm.precision(1), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(cm.recall(1), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(cm.f1(1), 2.0 / 3.0);
}

// ---------------------------------------------------------------------------
// the app

namespace {

// Bright disks (class 1) on a noisy darker background, odd sizes.
void write_disk_set(const fs::path& d, int n, int64_t h, int64_t w, uint64_t seed) {
  fs::create_directories(d / "images");
  fs::create_directories(d / "masks");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < n; ++i) {
    Image img{1, h, w, std::vector<float>(size_t(h * w))};
    LabelMap m{h, w, std::vector<int32_t>(size_t(h * w))};
    const double cy = h * (0.25 + 0.5 * u(rng)), cx = w * (0.25 + 0.5 * u(rng)), r = 4 + 6 * u(rng);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const bool in = (y - cy) * (y - cy) + (x - cx) * (x - cx) < r * r;
        m.at(y, x) = in ? 255 : 0;
        img.at(0, y, x) = float((in ? 0.75 : 0.3) + 0.1 * (u(rng) - 0.5));
      }
    write_png((d / "images" / (std::to_string(i) + ".png")).string(), img);
    write_label_png((d / "masks" / (std::to_string(i) + ".png")).string(), m);
  }
}

const char* kDiskConfig =
    "version: 1\n"
    "class_names: [background, disk]\n"
    "data: {images: IMAGES, masks: MASKS, val_fraction: 0.25, channels: 1, workers: 2,\n"
    "       augment: {hflip: 0.5}, normalize: {mean: [0.5], std: [0.25]}}\n"
    "model: {type: unet2d, in_channels: 1, classes: 1, base: 8, depth: 2}\n"
    "train: {epochs: 30, batch: 4, seed: 3, panels_every: 0, progress: false}\n"
    "optimizer: {type: adam, lr: 0.01}\n";

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  return s.replace(s.find(from), from.size(), to);
}

}  // namespace

TEST(SegmentApp, OverfitsATinySetAndPredictsAtTheInputSize) {
  const fs::path d = fresh_dir("app");
  write_disk_set(d / "set", 8, 32, 32, 5);
  std::ofstream(d / "disk.yaml") << replaced(replaced(kDiskConfig, "IMAGES", (d / "set" / "images").string()), "MASKS",
                                             (d / "set" / "masks").string());
  AppArgs train;
  train.command = "train";
  train.config = (d / "disk.yaml").string();
  train.out = (d / "run").string();
  ASSERT_EQ(segment::train_command(train), 0);
  // The best checkpoint on the training images themselves (overfitting).
  std::ofstream(d / "all.txt") << [&] {
    std::string s;
    for (int i = 0; i < 8; ++i) s += "set/images/" + std::to_string(i) + ".png set/masks/" + std::to_string(i) + ".png\n";
    return s;
  }();
  AppArgs eval;
  eval.command = "eval";
  eval.checkpoint = (d / "run" / "best.safetensors").string();
  eval.data = (d / "all.txt").string();
  eval.out = (d / "eval").string();
  ASSERT_EQ(segment::eval_command(eval), 0);
  std::ifstream metrics(d / "eval" / "metrics.csv");
  std::string line;
  double accuracy = 0;
  while (std::getline(metrics, line))
    if (line.rfind("accuracy,", 0) == 0) accuracy = std::stod(line.substr(9));
  EXPECT_GT(accuracy, 0.99);
  EXPECT_TRUE(fs::exists(d / "run" / "loss.png"));
  EXPECT_TRUE(fs::exists(d / "run" / "panels" / "best.png"));
  // predict: an odd-sized image gets a mask of exactly its size, 0 / 255, an overlay and a 16-bit probability map.
  write_disk_set(d / "odd", 1, 333, 517, 8);
  AppArgs p;
  p.command = "predict";
  p.checkpoint = eval.checkpoint;
  p.input = (d / "odd" / "images").string();
  p.output = (d / "pred").string();
  p.switches.insert("--probabilities");
  ASSERT_EQ(segment::predict_command(p), 0);
  const ImageInfo mask = image_info((d / "pred" / "0.png").string());
  EXPECT_EQ(mask.width, 517);
  EXPECT_EQ(mask.height, 333);
  const LabelMap values = read_label_map((d / "pred" / "0.png").string());
  for (int32_t v : values.data) ASSERT_TRUE(v == 0 || v == 255) << v;
  EXPECT_EQ(image_info((d / "pred" / "0_overlay.png").string()).channels, 3);
  EXPECT_TRUE(image_info((d / "pred" / "0_prob.png").string()).sixteen_bit);
  fs::remove_all(d);
}

TEST(SegmentApp, InterruptedAndResumedRunEqualsAStraightOne) {
  // Ctrl-C at whatever batch it lands on, then --resume: the final weights equal those of an uninterrupted run
  // bit for bit (the loader's streams are keyed by (seed, epoch, sample), the trainer restores the position).
  // Also with a weight average (train.ema), whose checkpoints hold the average as "model." and the trained
  // weights as "trained_model.": both must continue exactly.
  for (const std::string ema : {"", "train.ema=0.9"}) {
    SCOPED_TRACE(ema.empty() ? "no weight average" : ema);
    const fs::path d = fresh_dir("resume");
    write_disk_set(d / "set", 8, 32, 32, 5);
    std::string cfg = replaced(replaced(kDiskConfig, "IMAGES", (d / "set" / "images").string()), "MASKS",
                               (d / "set" / "masks").string());
    cfg = replaced(cfg, "epochs: 30", "epochs: 4");
    cfg = replaced(cfg, "augment: {hflip: 0.5}", "augment: {hflip: 0.5, crop: [24, 24], scale: [0.8, 1.2]}");
    std::ofstream(d / "disk.yaml") << cfg;
    const auto train = [&](const std::string& out, const std::string& resume) {
      AppArgs a;
      a.command = "train";
      a.config = (d / "disk.yaml").string();
      a.out = (d / out).string();
      a.resume = resume;
      a.overrides = {"data.samples_per_epoch=24"};
      if (!ema.empty()) a.overrides.push_back(ema);
      return segment::train_command(a);
    };
    ASSERT_EQ(train("straight", ""), 0);
    // A SIGINT that arrives after the trainer has put its own handler back is ignored, not fatal.
    auto previous = std::signal(SIGINT, SIG_IGN);
    std::atomic<bool> finished{false};
    std::thread interrupter([&] {
      while (!finished && !fs::exists(d / "cut" / "last.safetensors"))
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // lands at some later batch: any must do
      if (!finished) kill(getpid(), SIGINT);
    });
    const int rc = train("cut", "");
    finished = true;
    interrupter.join();
    std::signal(SIGINT, previous);
    EXPECT_TRUE(rc == 130 || rc == 0);
    if (rc == 130) {
      ASSERT_EQ(train("cut", (d / "cut" / "last.safetensors").string()), 0);
    }
    const Checkpoint a = Checkpoint::load((d / "straight" / "last.safetensors").string());
    const Checkpoint b = Checkpoint::load((d / "cut" / "last.safetensors").string());
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    size_t trained = 0;
    for (const auto& [name, t] : a.tensors) {
      if (name.rfind("model.", 0) != 0 && name.rfind("trained_model.", 0) != 0) continue;
      trained += name.rfind("trained_model.", 0) == 0;
      ASSERT_TRUE(b.tensors.count(name)) << name;
      EXPECT_EQ(t.to(DType::f64).to_vector<double>(), b.tensors.at(name).to(DType::f64).to_vector<double>()) << name;
    }
    EXPECT_EQ(trained > 0, !ema.empty());  // the trained weights are stored apart exactly when there is an average
    if (!ema.empty()) {  // and the average is not the trained weights
      bool differs = false;
      for (const auto& [name, t] : a.tensors)
        if (name.rfind("model.", 0) == 0 && a.tensors.count("trained_" + name))
          differs |= t.to(DType::f64).to_vector<double>() !=
                     a.tensors.at("trained_" + name).to(DType::f64).to_vector<double>();
      EXPECT_TRUE(differs);
    }
    fs::remove_all(d);
  }
}

// ---------------------------------------------------------------------------
// torchvision encoders through scripts/export_torchvision_weights.py

namespace {

void check_torchvision_stages(const std::string& arch, int64_t size) {
  if (std::system("/usr/bin/python3 -c 'import torch, torchvision' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "SKIPPED LOUDLY: python3-torch / python3-torchvision are not installed "
                    "(scripts/install_deps.sh --torch)";
  const fs::path d = fresh_dir("tv_" + arch);
  const std::string cmd = "/usr/bin/python3 " + std::string(STRATA_SOURCE_DIR) +
                          "/tests/reference/torchvision_stages.py " + arch + " " + std::to_string(size) + " '" +
                          d.string() + "' > '" + (d / "log.txt").string() + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "torchvision_stages.py failed; see " << (d / "log.txt");
  Config cfg = Config::parse(arch == "mobilenet_v2" ? "type: unet_mobilenetv2\nclasses: 1\n"
                                                    : "type: unet_vgg16\nclasses: 1\nbatchnorm: " +
                                                          std::string(arch == "vgg16_bn" ? "true" : "false") + "\n");
  cfg.set("encoder_weights", (d / "weights.safetensors").string());
  const ModulePtr m = build_module(cfg);
  load_pretrained_weights(cfg, *m);
  m->eval();
  auto& unet = dynamic_cast<EncoderUNet&>(*m);
  const Safetensors ref = load_safetensors((d / "stages.safetensors").string());
  NoGradGuard no_grad;
  const std::vector<Tensor> stages = unet.encoder().stages(ref.tensors.at("input"));
  ASSERT_EQ(stages.size(), 5u);
  for (size_t i = 0; i < stages.size(); ++i) {
    const Tensor& want = ref.tensors.at("stage" + std::to_string(i));
    ASSERT_EQ(stages[i].shape(), want.shape()) << "stage " << i;
    const std::vector<float> a = stages[i].to_vector<float>(), b = want.to_vector<float>();
    double max_abs = 0, max_ref = 0;
    for (size_t j = 0; j < a.size(); ++j) {
      max_abs = std::max(max_abs, double(std::fabs(a[j] - b[j])));
      max_ref = std::max(max_ref, double(std::fabs(b[j])));
    }
    std::printf("%s stage %zu: max |strata - torchvision| = %.3g (max |torchvision| %.3g)\n", arch.c_str(), i, max_abs,
                max_ref);
    EXPECT_LE(max_abs, 1e-4 * std::max(max_ref, 1.0)) << arch << " stage " << i;
  }
  fs::remove_all(d);
}

}  // namespace

TEST(TorchvisionEncoders, MobileNetV2StagesMatch) { check_torchvision_stages("mobilenet_v2", 96); }
TEST(TorchvisionEncoders, Vgg16StagesMatch) { check_torchvision_stages("vgg16", 64); }
TEST(TorchvisionEncoders, Vgg16BnStagesMatch) { check_torchvision_stages("vgg16_bn", 64); }

// The shipped membrane config, reduced to one short epoch (the full run is in docs/segment.md); needs
// ../shared/data/membrane (or $STRATA_DATA/membrane) and skips loudly without it.
TEST(SegmentApp, MembraneConfigRunsReduced) {
  const char* env = std::getenv("STRATA_DATA");
  const fs::path data = env ? fs::path(env) : fs::path(STRATA_SOURCE_DIR) / ".." / "shared" / "data";
  if (!fs::is_directory(data / "membrane" / "image"))
    GTEST_SKIP() << "SKIPPED LOUDLY: " << (data / "membrane") << " is absent (shared data folder; set STRATA_DATA=DIR)";
  const fs::path d = fresh_dir("membrane");
  AppArgs a;
  a.command = "train";
  a.config = (fs::path(STRATA_SOURCE_DIR) / "configs" / "segment_membrane.yaml").string();
  a.out = (d / "run").string();
  a.overrides = {"data.images=" + (data / "membrane" / "image").string(),
                 "data.masks=" + (data / "membrane" / "label").string(), "train.epochs=1",
                 "data.samples_per_epoch=8", "train.progress=false"};
  ASSERT_EQ(segment::train_command(a), 0);
  EXPECT_TRUE(fs::exists(d / "run" / "best.safetensors"));
  EXPECT_TRUE(fs::exists(d / "run" / "panels" / "epoch_001.png"));
  EXPECT_TRUE(fs::exists(d / "run" / "val_metrics.csv"));
  const Checkpoint ck = Checkpoint::load((d / "run" / "best.safetensors").string());
  const Config saved = Config::parse(ck.get("segment.config"));
  EXPECT_EQ(saved.section("data").get_double("val_fraction", 0), 0.3);  // the reference's 70 / 30 split
  fs::remove_all(d);
}

// ---------------------------------------------------------------------------
// multi-class losses, class weights, pretraining and the run comparison

TEST(SegmentLoss, FrequencyWeightsMatchHandComputedValues) {
  segment::ClassFrequencies f;
  f.pixels = {10, 30, 0, 60};
  f.image_pixels = {100, 100, 0, 60};
  f.total = 100;
  // inverse_frequency: total / (K n_c); an absent class gets 0.
  const std::vector<double> inv = segment::frequency_weights(f, "inverse_frequency");
  ASSERT_EQ(inv.size(), 4u);
  EXPECT_DOUBLE_EQ(inv[0], 2.5);
  EXPECT_DOUBLE_EQ(inv[1], 100.0 / 120.0);
  EXPECT_DOUBLE_EQ(inv[2], 0.0);
  EXPECT_DOUBLE_EQ(inv[3], 100.0 / 240.0);
  // median_frequency: f = n_c / pixels of images holding c = 0.1, 0.3, 1.0; median 0.3.
  const std::vector<double> med = segment::frequency_weights(f, "median_frequency");
  EXPECT_DOUBLE_EQ(med[0], 3.0);
  EXPECT_DOUBLE_EQ(med[1], 1.0);
  EXPECT_DOUBLE_EQ(med[2], 0.0);
  EXPECT_DOUBLE_EQ(med[3], 0.3);
}

TEST(SegmentLoss, FocalWithGammaZeroIsCrossEntropyAndMatchesItsFormula) {
  Generator gen(4);
  const int64_t k = 3;
  const Tensor logits = mul(Tensor::randn({2, k, 4, 5}, DType::f32, &gen), 2.0);
  std::vector<int64_t> y(2 * 4 * 5);
  for (size_t i = 0; i < y.size(); ++i) y[i] = i % 7 == 3 ? -100 : int64_t(i * 5 % 3);
  segment::Batch b;
  b.labels = Tensor::from_vector(y, {2, 4, 5});
  b.pixels = int64_t(std::count_if(y.begin(), y.end(), [](int64_t v) { return v >= 0; }));
  segment::TaskSpec task;
  task.binary = false;
  task.classes = k;
  for (const std::vector<double>& weights : {std::vector<double>{}, std::vector<double>{0.5, 2.0, 1.25}}) {
    segment::LossOptions ce, focal;
    ce.type = "cross_entropy";
    focal.type = "focal";
    focal.gamma = 0.0;
    ce.class_weights = focal.class_weights = weights;
    ce.class_weight_mode = focal.class_weight_mode = weights.empty() ? "none" : "list";
    const Tensor a = logits.clone().requires_grad_(true), c = logits.clone().requires_grad_(true);
    const Tensor la = segment::segment_loss(a, b, task, ce), lc = segment::segment_loss(c, b, task, focal);
    EXPECT_NEAR(la.item<float>(), lc.item<float>(), 1e-6);
    la.backward();
    lc.backward();
    const std::vector<float> ga = a.grad().to_vector<float>(), gc = c.grad().to_vector<float>();
    for (size_t i = 0; i < ga.size(); ++i) ASSERT_NEAR(ga[i], gc[i], 1e-6) << i;
    // gamma 2 against the formula in double: sum -w_t (1 - p_t)^2 log p_t / sum w_t.
    focal.gamma = 2.0;
    const double got = segment::segment_loss(logits, b, task, focal).item<float>();
    const std::vector<float> z = logits.contiguous().to_vector<float>();
    double num = 0, den = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t j = 0; j < 20; ++j) {
        const int64_t t = y[size_t(n * 20 + j)];
        if (t < 0) continue;
        double mx = -1e30, s = 0;
        for (int64_t q = 0; q < k; ++q) mx = std::max(mx, double(z[size_t((n * k + q) * 20 + j)]));
        for (int64_t q = 0; q < k; ++q) s += std::exp(double(z[size_t((n * k + q) * 20 + j)]) - mx);
        const double logp = double(z[size_t((n * k + t) * 20 + j)]) - mx - std::log(s);
        const double w = weights.empty() ? 1.0 : weights[size_t(t)];
        num += -w * std::pow(1 - std::exp(logp), 2.0) * logp;
        den += w;
      }
    EXPECT_NEAR(got, num / den, 1e-5 * std::max(1.0, num / den));
    EXPECT_LT(got, la.item<float>());  // easy pixels count less
  }
}

TEST(SegmentLoss, DiceIsTheMeanOverPresentClassesOfEachClassDiceOverTheBatch) {
  // 4 classes, class 3 absent from the labels, class 2 on 3 pixels only, some pixels ignored.
  Generator gen(7);
  const int64_t n = 2, k = 4, h = 3, w = 5, plane = h * w;
  const Tensor logits = mul(Tensor::randn({n, k, h, w}, DType::f32, &gen), 1.5);
  std::vector<int64_t> y(size_t(n * plane));
  for (size_t i = 0; i < y.size(); ++i) y[i] = i % 9 == 4 ? -100 : int64_t(i % 2);
  y[3] = y[17] = y[26] = 2;
  segment::Batch b;
  b.labels = Tensor::from_vector(y, {n, h, w});
  b.pixels = int64_t(std::count_if(y.begin(), y.end(), [](int64_t v) { return v >= 0; }));
  segment::TaskSpec task;
  task.binary = false;
  task.classes = k;
  segment::LossOptions ce, dice;
  ce.type = dice.type = "cross_entropy";
  dice.dice = 0.75;
  // The Dice term in double: softmax probabilities of labelled pixels, per-class sums over the batch.
  const auto term = [&](const std::vector<float>& z) {
    std::vector<double> inter(size_t(k), 0), psum(size_t(k), 0), tsum(size_t(k), 0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < plane; ++j) {
        const int64_t t = y[size_t(i * plane + j)];
        if (t < 0) continue;
        double mx = -1e30, s = 0;
        for (int64_t q = 0; q < k; ++q) mx = std::max(mx, double(z[size_t((i * k + q) * plane + j)]));
        for (int64_t q = 0; q < k; ++q) s += std::exp(double(z[size_t((i * k + q) * plane + j)]) - mx);
        for (int64_t q = 0; q < k; ++q) {
          const double p = std::exp(double(z[size_t((i * k + q) * plane + j)]) - mx) / s;
          psum[size_t(q)] += p;
          if (q == t) inter[size_t(q)] += p, tsum[size_t(q)] += 1;
        }
      }
    double total = 0;
    int present = 0;
    for (int64_t q = 0; q < k; ++q)
      if (tsum[size_t(q)] > 0) total += 1 - (2 * inter[size_t(q)] + 1) / (psum[size_t(q)] + tsum[size_t(q)] + 1), ++present;
    EXPECT_EQ(present, 3);
    return total / present;
  };
  const std::vector<float> z = logits.contiguous().to_vector<float>();
  const Tensor a = logits.clone().requires_grad_(true), c = logits.clone().requires_grad_(true);
  const Tensor la = segment::segment_loss(a, b, task, ce), ld = segment::segment_loss(c, b, task, dice);
  EXPECT_NEAR(ld.item<float>() - la.item<float>(), 0.75 * term(z), 1e-5);
  // Its gradient against central differences of the double formula.
  la.backward();
  ld.backward();
  const std::vector<float> ga = a.grad().to_vector<float>(), gd = c.grad().to_vector<float>();
  for (size_t i : {size_t(0), size_t(3), size_t(2 * plane + 3), size_t(3 * plane + 7), size_t((k + 2) * plane + 2)}) {
    std::vector<float> up = z, down = z;
    up[i] += 1e-2f;
    down[i] -= 1e-2f;
    const double numeric = 0.75 * (term(up) - term(down)) / 2e-2;
    EXPECT_NEAR(gd[i] - ga[i], numeric, 1e-3) << i;
  }
}

namespace {

// Three classes in blocks (index masks), label 9 = void in one corner; RGB images whose colour gives the class.
void write_block_set(const fs::path& d, int n, int64_t h, int64_t w, uint64_t seed) {
  fs::create_directories(d / "images");
  fs::create_directories(d / "masks");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::ofstream list(d / "list.txt");
  for (int i = 0; i < n; ++i) {
    Image img{3, h, w, std::vector<float>(size_t(3 * h * w))};
    LabelMap m{h, w, std::vector<int32_t>(size_t(h * w))};
    const int64_t oy = int64_t(u(rng) * 6), ox = int64_t(u(rng) * 6);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        // class 2 is rare (small squares): weighting must boost it
        const int32_t c = ((y + oy) % 12 < 3 && (x + ox) % 12 < 3) ? 2 : ((y + oy) / 8 + (x + ox) / 8) % 2;
        m.at(y, x) = y < 2 && x < 2 ? 9 : c;
        for (int64_t k = 0; k < 3; ++k) img.at(k, y, x) = float(0.2 + 0.3 * (k == c) + 0.05 * (u(rng) - 0.5));
      }
    write_png((d / "images" / (std::to_string(i) + ".png")).string(), img);
    write_label_png((d / "masks" / (std::to_string(i) + ".png")).string(), m);
    list << "images/" << i << ".png masks/" << i << ".png\n";
  }
}

const char* kBlockConfig =
    "version: 1\n"
    "class_names: [red, green, blue]\n"
    "palette: ['#ff0000', '#00ff00', '#0000ff']\n"
    "data: {train_list: SET/list.txt, val_list: SET/list.txt, channels: 3, workers: 2,\n"
    "       mask: {mode: index, ignore: 9}, augment: {hflip: 0.5}}\n"
    "model: {type: unet2d, in_channels: 3, classes: 3, base: 8, depth: 2}\n"
    "loss: {type: focal, gamma: 1.0, class_weights: median_frequency}\n"
    "train: {epochs: 3, batch: 4, seed: 3, panels_every: 0, panel_epochs: [2], progress: false}\n"
    "optimizer: {type: adam, lr: 0.01}\n";

std::map<std::string, double> metrics_of(const fs::path& csv) {
  std::map<std::string, double> m;
  std::ifstream f(csv);
  std::string line;
  while (std::getline(f, line)) {
    const size_t comma = line.find(',');
    if (comma == std::string::npos || line[0] == '#' || line.rfind("metric,", 0) == 0) continue;
    m[line.substr(0, comma)] = std::stod(line.substr(comma + 1));
  }
  return m;
}

// `train` arguments of kBlockConfig on a block set of n images of h x w written under d.
AppArgs block_training(const fs::path& d, int n, int64_t h, int64_t w, uint64_t seed) {
  write_block_set(d / "set", n, h, w, seed);
  std::string cfg = kBlockConfig;
  for (size_t p; (p = cfg.find("SET/")) != std::string::npos;) cfg.replace(p, 3, (d / "set").string());
  std::ofstream(d / "blocks.yaml") << cfg;
  AppArgs train;
  train.command = "train";
  train.config = (d / "blocks.yaml").string();
  train.out = (d / "run").string();
  return train;
}

}  // namespace

// A validation set of many images (CamVid's 101) still ends the run with a readable panels/best.png: its first 16
// images, not a figure tens of thousands of pixels tall (which the figure code refuses, failing the run).
TEST(SegmentApp, BestPanelsOfALargeValidationSetShowTheFirstSixteen) {
  const fs::path d = fresh_dir("many_val");
  AppArgs train = block_training(d, 90, 16, 16, 5);
  train.overrides = {"train.epochs=1", "train.panel_epochs=[1]", "data.samples_per_epoch=8"};
  ASSERT_EQ(segment::train_command(train), 0);
  const ImageInfo one = image_info((d / "run" / "panels" / "epoch_001.png").string());  // panel_images: 3 rows
  const ImageInfo best = image_info((d / "run" / "panels" / "best.png").string());
  EXPECT_EQ(metrics_of(d / "run" / "val_metrics.csv").at("images"), 90);  // every image scored
  EXPECT_GT(best.height, 4 * one.height);
  EXPECT_LT(best.height, 7 * one.height);
  // train.panel_images is bounded the same way.
  train.overrides = {"train.panel_images=17"};
  EXPECT_THAT(error_of([&] { segment::train_command(train); }), HasSubstr("panel_images"));
  fs::remove_all(d);
}

// A final model on every labelled image: data.train_list names several list files (SegNet's train.txt and
// val.txt), data.val_fraction: 0 leaves no validation, and the best checkpoint is then the lowest training loss.
TEST(SegmentApp, TrainsOnSeveralListsWithoutValidation) {
  const fs::path d = fresh_dir("train_plus_val");
  write_block_set(d / "set", 6, 16, 16, 7);
  {
    std::ifstream all(d / "set" / "list.txt");
    std::ofstream a(d / "set" / "a.txt"), b(d / "set" / "b.txt");
    std::string line;
    for (int i = 0; std::getline(all, line); ++i) (i < 4 ? a : b) << line << "\n";
  }
  const std::string set = (d / "set").string();
  const auto data_of = [&](const std::string& lists) {
    return Config::parse("train_list: [" + lists + "]\nval_fraction: 0\nchannels: 3\nmask: {mode: index, ignore: 9}\n");
  };
  const Config model = Config::parse("version: 1\nclass_names: [red, green, blue]\nmodel: {classes: 3, in_channels: 3}\n");
  const segment::TaskSpec task = segment::TaskSpec::from_config(model);
  const segment::SegmentData data(data_of(set + "/a.txt, " + set + "/b.txt"), task);
  ASSERT_EQ(data.train().size(), 6u);
  EXPECT_TRUE(data.val().empty());
  EXPECT_NE(data.train()[0].image, data.train()[4].image);
  // An image in two of the lists is refused, naming both.
  const std::string twice = error_of([&] { segment::SegmentData(data_of(set + "/a.txt, " + set + "/list.txt"), task); });
  EXPECT_THAT(twice, HasSubstr("is in both " + set + "/a.txt and " + set + "/list.txt"));
  EXPECT_THAT(error_of([&] { segment::SegmentData(data_of(""), task); }), HasSubstr("empty list"));

  std::string cfg = kBlockConfig;
  cfg.replace(cfg.find("train_list: SET/list.txt, val_list: SET/list.txt"),
              std::string("train_list: SET/list.txt, val_list: SET/list.txt").size(),
              "train_list: [" + set + "/a.txt, " + set + "/b.txt], val_fraction: 0");
  std::ofstream(d / "final.yaml") << cfg;
  AppArgs train;
  train.command = "train";
  train.config = (d / "final.yaml").string();
  train.out = (d / "run").string();
  ASSERT_EQ(segment::train_command(train), 0);
  EXPECT_TRUE(fs::exists(d / "run" / "best.safetensors"));
  EXPECT_FALSE(fs::exists(d / "run" / "val_metrics.csv"));
  const Checkpoint best = Checkpoint::load((d / "run" / "best.safetensors").string());
  EXPECT_EQ(best.get("trainer.monitor"), "train_loss");
  fs::remove_all(d);
}

TEST(SegmentApp, MultiClassRunResolvesWeightsAndComparesRuns) {
  const fs::path d = fresh_dir("multiclass");
  AppArgs train = block_training(d, 6, 32, 40, 2);
  ASSERT_EQ(segment::train_command(train), 0);
  // The weights were computed from the training labels and written into the run's config as numbers.
  const Config saved = Config::load((d / "run" / "config.yaml").string());
  const std::vector<double> w = saved.section("loss").get_double_list("class_weights", {});
  ASSERT_EQ(w.size(), 3u);
  EXPECT_GT(w[2], 2 * w[0]);  // the rare class weighs most
  // {from, power}: the same weights raised to the power, written as numbers (so a resumed run does not raise
  // them again).
  AppArgs soft = train;
  soft.out = (d / "soft").string();
  soft.overrides = {"loss.class_weights={from: median_frequency, power: 0.5}", "train.epochs=1"};
  ASSERT_EQ(segment::train_command(soft), 0);
  const std::vector<double> ws =
      Config::load((d / "soft" / "config.yaml").string()).section("loss").get_double_list("class_weights", {});
  ASSERT_EQ(ws.size(), 3u);
  for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(ws[c], std::sqrt(w[c]), 1e-12) << c;
  EXPECT_FALSE(fs::exists(d / "run" / "panels" / "epoch_001.png"));  // panels_every 0: none but the chosen
  EXPECT_TRUE(fs::exists(d / "run" / "panels" / "epoch_002.png"));   // train.panel_epochs
  EXPECT_FALSE(fs::exists(d / "run" / "panels" / "epoch_003.png"));
  const auto m = metrics_of(d / "run" / "val_metrics.csv");
  ASSERT_TRUE(m.count("class_accuracy"));
  EXPECT_GE(m.at("class_accuracy"), 0.0);
  EXPECT_LE(m.at("class_accuracy"), 1.0);
  // eval at the images' own size and at the model's size agree here (no data.size: they are the same inputs).
  for (const char* res : {"model", "full"}) {
    AppArgs eval;
    eval.command = "eval";
    eval.checkpoint = (d / "run" / "best.safetensors").string();
    eval.out = (d / (std::string("eval_") + res)).string();
    eval.overrides = {std::string("inference.resolution=") + res};
    ASSERT_EQ(segment::eval_command(eval), 0);
  }
  EXPECT_EQ(metrics_of(d / "eval_model" / "metrics.csv"), metrics_of(d / "eval_full" / "metrics.csv"));
  // SegNet's folder layout (test/ beside testannot/) scores the same images as the list; two such sets are refused.
  fs::create_directories(d / "held");
  fs::copy(d / "set" / "images", d / "held" / "test");
  fs::copy(d / "set" / "masks", d / "held" / "testannot");
  AppArgs held;
  held.command = "eval";
  held.checkpoint = (d / "run" / "best.safetensors").string();
  held.data = (d / "held").string();
  held.out = (d / "eval_held").string();
  ASSERT_EQ(segment::eval_command(held), 0);
  EXPECT_EQ(metrics_of(d / "eval_held" / "metrics.csv"), metrics_of(d / "eval_model" / "metrics.csv"));
  fs::copy(d / "set" / "images", d / "held" / "val");
  fs::copy(d / "set" / "masks", d / "held" / "valannot");
  EXPECT_THAT(error_of([&] { segment::eval_command(held); }), HasSubstr("holds several labelled sets (test/ and val/"));
  // compare: a second run, then the table and plots of both.
  train.out = (d / "run2").string();
  train.overrides = {"optimizer.lr=0.003"};
  ASSERT_EQ(segment::train_command(train), 0);
  AppArgs cmp;
  cmp.command = "compare";
  cmp.values["--runs"] = (d / "run").string() + "," + (d / "run2").string();
  cmp.values["--loss-target"] = "1000";  // every run reaches it at epoch 1
  cmp.output = (d / "cmp").string();
  ASSERT_EQ(segment::compare_command(cmp), 0);
  for (const char* f : {"val_loss_by_epoch.png", "val_loss_by_time.png", "val_miou_by_epoch.png"})
    EXPECT_TRUE(fs::exists(d / "cmp" / f)) << f;
  std::ifstream csv(d / "cmp" / "compare.csv");
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(csv, line)) rows.push_back(line);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_THAT(rows[2], ::testing::StartsWith("run,3,"));
  EXPECT_THAT(rows[2], HasSubstr(",1000,1,"));
  EXPECT_THAT(rows[3], ::testing::StartsWith("run2,3,"));
  fs::remove_all(d);
}

TEST(SegmentPretrain, WritesAnEncoderThatModelEncoderWeightsLoads) {
  const fs::path d = fresh_dir("pretrain");
  write_block_set(d / "set", 6, 32, 32, 3);
  write_block_set(d / "extra", 4, 32, 32, 4);  // an unlabelled folder (its masks are images too: all are used)
  std::string cfg = kBlockConfig;
  for (size_t p; (p = cfg.find("SET/")) != std::string::npos;) cfg.replace(p, 3, (d / "set").string());
  cfg = replaced(cfg, "type: unet2d, in_channels: 3, classes: 3, base: 8, depth: 2",
                 "type: unet_mobilenetv2, in_channels: 3, classes: 3, width: 0.25");
  cfg += "pretrain: {epochs: 2, batch: 4, patch: 8, mask_ratio: 0.5, val_fraction: 0.2}\n";
  std::ofstream(d / "blocks.yaml") << cfg;
  AppArgs a;
  a.command = "pretrain";
  a.config = (d / "blocks.yaml").string();
  a.out = (d / "pre").string();
  a.values["--images"] = (d / "extra" / "images").string();
  a.overrides = {"data.samples_per_epoch=12"};  // a training key of the data section: pretrain's epoch size too
  ASSERT_EQ(segment::pretrain_command(a), 0);
  const fs::path weights = d / "pre" / "encoder.safetensors";
  ASSERT_TRUE(fs::exists(weights));
  const Safetensors st = load_safetensors(weights.string());
  ASSERT_FALSE(st.tensors.empty());
  for (const auto& [name, t] : st.tensors) EXPECT_EQ(name.rfind("features.", 0), 0u) << name;  // torchvision names
  EXPECT_TRUE(fs::exists(d / "pre" / "panels" / "epoch_001.png"));
  // The pretraining loss is a number per epoch.
  std::ifstream metrics(d / "pre" / "metrics.csv");
  std::string line;
  int rows = 0;
  while (std::getline(metrics, line)) {
    if (!std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    ++rows;
    if (rows == 1) {
      EXPECT_THAT(line, ::testing::StartsWith("1,3,"));  // 12 samples per epoch in batches of 4
    }
  }
  EXPECT_EQ(rows, 2);
  // model.encoder_weights starts a segmentation model from exactly these tensors.
  Config model = Config::parse(
      "type: unet_mobilenetv2\nin_channels: 3\nclasses: 3\nwidth: 0.25\nencoder_weights: " + weights.string() + "\n");
  const ModulePtr net = build_module(model);
  load_pretrained_weights(model, *net);
  const auto sd = dynamic_cast<EncoderUNet&>(*net).encoder().state_dict();
  for (const auto& [name, t] : st.tensors) {
    ASSERT_TRUE(sd.count(name)) << name;
    EXPECT_EQ(t.to_vector<float>(), sd.at(name).contiguous().to_vector<float>()) << name;
  }
  // A model without a separate encoder is refused before any work.
  a.out = (d / "pre2").string();
  a.overrides = {"model.type=unet2d"};
  EXPECT_THAT(error_of([&] { segment::pretrain_command(a); }), HasSubstr("has no separate encoder"));
  EXPECT_FALSE(fs::exists(d / "pre2"));
  fs::remove_all(d);
}

TEST(Transforms, SaturationJitterKeepsGreyPixelsAndTheMask) {
  // A grey ramp stays exactly grey under any saturation factor; a coloured image changes; the mask never does.
  Image grey{3, 8, 8, std::vector<float>(3 * 64)};
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 8; ++x)
      for (int64_t k = 0; k < 3; ++k) grey.at(k, y, x) = float(y * 8 + x) / 64.f;
  Image colour = ramp(3, 8, 8);
  const LabelMap m = blocks(8, 8, 3);
  TransformOptions o;
  o.saturation = 0.5;
  for (uint64_t i = 0; i < 5; ++i) {
    std::mt19937_64 rng = sample_rng(1, 0, i);
    const Sample g = apply_transforms(Sample{grey, m}, o, &rng);
    for (size_t j = 0; j < grey.data.size(); ++j) ASSERT_NEAR(g.image.data[j], grey.data[j], 1e-6) << j;
    EXPECT_EQ(g.mask.data, m.data);
    std::mt19937_64 rng2 = sample_rng(1, 0, i);
    const Sample c = apply_transforms(Sample{colour, m}, o, &rng2);
    EXPECT_NE(c.image.data, colour.data);
    for (float v : c.image.data) ASSERT_TRUE(v >= 0.f && v <= 1.f) << v;
  }
}

TEST(Transforms, PerImageNormalizationUndoesAnyBrightnessAndContrast) {
  // Each channel to mean 0 and standard deviation 1, so a x + b (a > 0) of an image normalises to the same values:
  // what makes a model indifferent to the exposure of a new microscope or scanner.
  const Image img = ramp(2, 9, 7);
  Image shifted = img;
  for (float& v : shifted.data) v = 0.4f * v + 0.3f;
  TransformOptions o = TransformOptions::from_config(Config::parse("normalize: per_image\n"), 2);
  ASSERT_TRUE(o.per_image);
  EXPECT_TRUE(o.mean.empty());
  const Image a = apply_transforms(Sample{img, {}}, o, nullptr).image;
  const Image b = apply_transforms(Sample{shifted, {}}, o, nullptr).image;
  for (int64_t c = 0; c < 2; ++c) {
    double sum = 0, sq = 0;
    for (int64_t y = 0; y < 9; ++y)
      for (int64_t x = 0; x < 7; ++x) {
        sum += a.at(c, y, x);
        sq += double(a.at(c, y, x)) * a.at(c, y, x);
        ASSERT_NEAR(a.at(c, y, x), b.at(c, y, x), 1e-4) << c << " " << y << " " << x;
      }
    EXPECT_NEAR(sum / 63, 0.0, 1e-5);
    EXPECT_NEAR(sq / 63, 1.0, 1e-4);
  }
  // A flat channel becomes zeros rather than amplified rounding noise.
  Image flat{1, 4, 4, std::vector<float>(16, 0.7f)};
  standardise(flat);
  for (float v : flat.data) EXPECT_EQ(v, 0.f);
  EXPECT_THROW(TransformOptions::from_config(Config::parse("normalize: per_pixel\n"), 1), Error);
}

TEST(Transforms, StandardiseReadsNaNAndInfinityAsMissing) {
  // A seismic section with dead samples: the statistics are those of the finite values, which are standardised
  // exactly as they would be alone, and each missing value becomes 0 (the mean).
  std::vector<float> finite = {1.f, 2.f, 4.f, 8.f, -3.f, 0.5f};
  std::vector<float> holed = finite;
  holed.insert(holed.begin() + 2, std::numeric_limits<float>::quiet_NaN());
  holed.insert(holed.begin() + 5, std::numeric_limits<float>::infinity());
  holed.push_back(-std::numeric_limits<float>::infinity());
  EXPECT_EQ(standardise(std::span<float>(finite)), 0u);
  EXPECT_EQ(standardise(std::span<float>(holed)), 3u);
  const std::vector<float> expect = {finite[0], finite[1], 0.f, finite[2], finite[3], 0.f, finite[4], finite[5], 0.f};
  ASSERT_EQ(holed.size(), expect.size());
  for (size_t i = 0; i < holed.size(); ++i) EXPECT_FLOAT_EQ(holed[i], expect[i]) << i;
  // Nothing but missing values: all 0, not NaN.
  std::vector<float> dead(5, std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(standardise(std::span<float>(dead)), 5u);
  for (float v : dead) EXPECT_EQ(v, 0.f);
}

TEST(Transforms, GammaBlurAndNoiseChangeTheImageOnlyAndDrawNothingWhenOff) {
  const Image img = ramp(1, 24, 24);
  const LabelMap m = blocks(24, 24, 3);
  const auto variance = [](const Image& im) {
    double sum = 0, sq = 0;
    for (float v : im.data) sum += v, sq += double(v) * v;
    const double n = double(im.data.size());
    return sq / n - (sum / n) * (sum / n);
  };
  // Gamma: values stay in [0, 1] and keep their order (a monotone map).
  TransformOptions g;
  g.gamma = 1.0;
  bool changed = false;
  for (uint64_t i = 0; i < 8; ++i) {
    std::mt19937_64 rng = sample_rng(2, 0, i);
    const Sample t = apply_transforms(Sample{img, m}, g, &rng);
    EXPECT_EQ(t.mask.data, m.data);
    changed = changed || t.image.data != img.data;
    for (size_t j = 0; j < img.data.size(); ++j) {
      ASSERT_TRUE(t.image.data[j] >= 0.f && t.image.data[j] <= 1.f);
      if (j > 0 && img.data[j] > img.data[j - 1]) {
        ASSERT_GE(t.image.data[j], t.image.data[j - 1]);
      }
    }
  }
  EXPECT_TRUE(changed);
  // Blur (p = 1): the mean is kept away from the clamped borders, the variance of a checkerboard falls.
  Image checker{1, 24, 24, std::vector<float>(576)};
  for (int64_t y = 0; y < 24; ++y)
    for (int64_t x = 0; x < 24; ++x) checker.at(0, y, x) = float((x + y) % 2);
  TransformOptions b = TransformOptions::from_config(Config::parse("augment: {blur: {sigma: [1, 2], p: 1}}\n"), 1);
  std::mt19937_64 rb = sample_rng(3, 0, 0);
  const Sample tb = apply_transforms(Sample{checker, m}, b, &rb);
  EXPECT_EQ(tb.mask.data, m.data);
  EXPECT_LT(variance(tb.image), 0.1 * variance(checker));
  EXPECT_NEAR(tb.image.at(0, 12, 12), 0.5f, 0.05f);
  // Noise: adds variance to a flat image, on average nothing to its mean; the mask is untouched.
  Image flat{1, 24, 24, std::vector<float>(576, 0.5f)};
  TransformOptions n;
  n.noise = 0.2;
  double added = 0;
  for (uint64_t i = 0; i < 8; ++i) {
    std::mt19937_64 rng = sample_rng(4, 0, i);
    const Sample t = apply_transforms(Sample{flat, m}, n, &rng);
    EXPECT_EQ(t.mask.data, m.data);
    added += variance(t.image);
  }
  EXPECT_GT(added / 8, 0.001);
  // Off (the default), none of the three draws: flips see the stream they saw before the options existed.
  TransformOptions flips;
  flips.hflip = 0.5;
  for (uint64_t i = 0; i < 20; ++i) {
    std::mt19937_64 a = sample_rng(6, 1, i), c = sample_rng(6, 1, i);
    apply_transforms(Sample{img, m}, flips, &a);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    unit(c);
    EXPECT_EQ(a(), c()) << i;
  }
  // Bounds, each naming its key.
  for (const char* bad : {"augment: {gamma: -0.5}\n", "augment: {gamma: 5}\n", "augment: {noise: 2}\n",
                          "augment: {blur: {sigma: [2, 1], p: 0.5}}\n", "augment: {blur: {sigma: [0, 1]}}\n",
                          "augment: {blur: {p: 1.5}}\n"}) {
    EXPECT_THROW(TransformOptions::from_config(Config::parse(bad), 1), Error) << bad;
  }
}

// scripts/camvid_sequence_split.sh on a CamVid-shaped folder: every frame of the held sequence goes to the
// validation list, every other training or validation frame to the training list, and strata reads both back.
TEST(SegmentApp, CamvidSequenceSplitHoldsOutAWholeSequence) {
  const fs::path d = fresh_dir("camvid_split");
  const std::vector<std::pair<std::string, std::vector<std::string>>> lists = {
      {"train", {"0001TP_006690", "0001TP_006720", "0006R0_f00930", "0016E5_00390"}},
      {"val", {"0016E5_07959", "0016E5_07961"}}};
  for (const auto& [split, stems] : lists) {
    fs::create_directories(d / "camvid" / split);
    fs::create_directories(d / "camvid" / (split + "annot"));
    std::ofstream list(d / "camvid" / (split + ".txt"));
    for (const std::string& s : stems) {
      std::ofstream(d / "camvid" / split / (s + ".png")) << "x";
      std::ofstream(d / "camvid" / (split + "annot") / (s + ".png")) << "x";
      list << split << "/" << s << ".png " << split << "annot/" << s << ".png\n";
    }
  }
  const std::string script = (fs::path(STRATA_SOURCE_DIR) / "scripts" / "camvid_sequence_split.sh").string();
  const auto split = [&](const std::string& held, const fs::path& out) {
    return std::system(("bash '" + script + "' --data '" + (d / "camvid").string() + "' --held " + held + " '" +
                        out.string() + "' > '" + (d / "log.txt").string() + "' 2>&1")
                           .c_str());
  };
  const auto stems_of = [](const std::vector<ImagePair>& pairs) {
    std::set<std::string> out;
    for (const ImagePair& p : pairs) {
      EXPECT_EQ(fs::path(p.image).filename(), fs::path(p.mask).filename());
      EXPECT_NE(p.mask.find("annot"), std::string::npos) << p.mask;
      out.insert(fs::path(p.image).stem().string());
    }
    return out;
  };
  ASSERT_EQ(split("0016E5", d / "out"), 0) << slurp(d / "log.txt");
  EXPECT_EQ(stems_of(pairs_from_list((d / "out" / "val_seq.txt").string())),
            (std::set<std::string>{"0016E5_00390", "0016E5_07959", "0016E5_07961"}));
  EXPECT_EQ(stems_of(pairs_from_list((d / "out" / "train_seq.txt").string())),
            (std::set<std::string>{"0001TP_006690", "0001TP_006720", "0006R0_f00930"}));
  // A sequence the data does not hold is an error that names the ones it does.
  EXPECT_NE(split("Seq05VD", d / "none"), 0);
  EXPECT_THAT(slurp(d / "log.txt"), HasSubstr("0001TP 0006R0 0016E5"));
  fs::remove_all(d);
}

// The shipped CamVid config, reduced to one short epoch on 8 training images and 4 validation images (the full
// run is in docs/segment.md); needs ../shared/data/camvid (or $STRATA_DATA/camvid) and skips loudly without it.
TEST(SegmentApp, CamvidConfigRunsReduced) {
  const char* env = std::getenv("STRATA_DATA");
  const fs::path data = env ? fs::path(env) : fs::path(STRATA_SOURCE_DIR) / ".." / "shared" / "data";
  if (!fs::exists(data / "camvid" / "train.txt"))
    GTEST_SKIP() << "SKIPPED LOUDLY: " << (data / "camvid") << " is absent (shared data folder; set STRATA_DATA=DIR)";
  // As shipped, the config is the final model: it trains on SegNet's training and validation lists together,
  // with no validation set.
  if (!env) setenv("STRATA_DATA", data.c_str(), 1);  // the config's ${STRATA_DATA}
  const Config shipped = Config::load((fs::path(STRATA_SOURCE_DIR) / "configs" / "segment_camvid.yaml").string());
  const segment::SegmentData every(shipped.section("data"), segment::TaskSpec::from_config(shipped));
  if (!env) unsetenv("STRATA_DATA");
  size_t labelled = 0;
  for (const char* name : {"train.txt", "val.txt"}) {
    std::ifstream in(data / "camvid" / name);
    for (std::string line; std::getline(in, line);) labelled += line.find_first_not_of(" \t\r") != std::string::npos;
  }
  EXPECT_EQ(every.train().size(), labelled);
  EXPECT_TRUE(every.val().empty());

  const fs::path d = fresh_dir("camvid");
  // The first lines of the lists, in a folder whose image folders link to the data's (list paths are relative
  // to the list's folder).
  for (const char* sub : {"train", "trainannot", "val", "valannot"})
    fs::create_directory_symlink(fs::absolute(data / "camvid" / sub), d / sub);
  for (const auto& [name, n] : {std::pair{"train.txt", 8}, std::pair{"val.txt", 4}}) {
    std::ifstream in(data / "camvid" / name);
    std::ofstream out(d / name);
    std::string line;
    for (int i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
  }
  AppArgs a;
  a.command = "train";
  a.config = (fs::path(STRATA_SOURCE_DIR) / "configs" / "segment_camvid.yaml").string();
  a.out = (d / "run").string();
  a.overrides = {"data.train_list=" + (d / "train.txt").string(), "data.val_list=" + (d / "val.txt").string(),
                 "train.epochs=1", "train.progress=false", "loss.class_weights=median_frequency"};
  ASSERT_EQ(segment::train_command(a), 0);
  const auto m = metrics_of(d / "run" / "val_metrics.csv");
  EXPECT_EQ(m.at("images"), 4);
  for (const char* k : {"accuracy", "class_accuracy", "miou", "iou_Bicyclist", "loss"}) EXPECT_TRUE(m.count(k)) << k;
  // The run's config holds the 11 weights computed from the 8 training label maps.
  const Config saved = Config::load((d / "run" / "config.yaml").string());
  EXPECT_EQ(saved.section("loss").get_double_list("class_weights", {}).size(), 11u);
  // Predictions at the labels' full size, in the class-index range.
  AppArgs p;
  p.command = "predict";
  p.checkpoint = (d / "run" / "best.safetensors").string();
  p.input = (data / "camvid" / "val" / "0016E5_07959.png").string();
  if (!fs::exists(p.input)) p.input = (data / "camvid" / "val").string();
  p.output = (d / "pred").string();
  ASSERT_EQ(segment::predict_command(p), 0);
  for (const auto& e : fs::directory_iterator(d / "pred")) {
    const std::string name = e.path().filename().string();
    if (name.find("_overlay") != std::string::npos) continue;
    const LabelMap labels = read_label_map(e.path().string());
    EXPECT_EQ(labels.width, 480);
    EXPECT_EQ(labels.height, 360);
    for (int32_t v : labels.data) ASSERT_TRUE(v >= 0 && v < 11) << v;
    break;
  }
  fs::remove_all(d);
}

// ---------------------------------------------------------------------------
// test-time views

namespace {

// The mean of views, each the network's logits of a transformed input mapped back.
Image mean_of(const std::vector<Image>& views) {
  Image m = views.front();
  for (size_t i = 0; i < m.data.size(); ++i) {
    float s = 0;
    for (const Image& v : views) s += v.data[i];
    m.data[i] = s / float(views.size());
  }
  return m;
}

float max_abs_difference(const Image& a, const Image& b) {
  EXPECT_EQ(a.data.size(), b.data.size());
  float d = 0;
  for (size_t i = 0; i < a.data.size(); ++i) d = std::max(d, std::abs(a.data[i] - b.data[i]));
  return d;
}

}  // namespace

TEST(SegmentInference, FlipsAndScalesAverageTheViewsMappedBack) {
  Generator gen(5);
  Conv2d conv(3, 4, {3, 3}, Conv2dOptions{.padding = {1, 1}}, true, &gen);  // not mirror-symmetric
  const Image x = ramp(3, 24, 32);
  segment::InferenceOptions plain;
  const auto one = [&](const Image& in) { return segment::predict_logits(conv, in, plain); };
  const Image single = one(x);

  segment::InferenceOptions mirror = plain;
  mirror.tta = segment::InferenceOptions::Flips::hflip;
  const Image h = segment::predict_logits(conv, x, mirror);
  EXPECT_LT(max_abs_difference(h, mean_of({single, hflip(one(hflip(x)))})), 1e-6f);
  EXPECT_GT(max_abs_difference(h, single), 1e-3f) << "the mirrored view changed nothing";

  segment::InferenceOptions four = plain;
  four.tta = segment::InferenceOptions::Flips::all;
  EXPECT_LT(max_abs_difference(segment::predict_logits(conv, x, four),
                               mean_of({single, hflip(one(hflip(x))), vflip(one(vflip(x))),
                                        hflip(vflip(one(hflip(vflip(x)))))})),
            1e-6f);

  // Scales: the input resized (bilinear), the logits resized back to the input's size; flips inside each scale.
  segment::InferenceOptions scaled = mirror;
  scaled.scales = {0.5, 1.0, 1.3};
  // Resized as the exported graph does (ONNX Resize, linear, half-pixel): floor(f * size) by the scale, then to size.
  const auto resized = [](const Image& im, Upsample2dOptions u) {
    u.mode = UpsampleMode::linear;
    const Tensor t = upsample2d(Tensor::from_vector(im.data, {1, im.channels, im.height, im.width}), u);
    return Image{im.channels, t.size(2), t.size(3), t.to_vector<float>()};
  };
  const auto at = [&](double f) {
    const Image in = resized(x, Upsample2dOptions{.scale = {f, f}});
    EXPECT_EQ(in.height, int64_t(std::floor(f * 24)));
    return resized(mean_of({one(in), hflip(one(hflip(in)))}), Upsample2dOptions{.size = {24, 32}});
  };
  const Image s = segment::predict_logits(conv, x, scaled);
  ASSERT_EQ(s.height, 24);
  ASSERT_EQ(s.width, 32);
  EXPECT_LT(max_abs_difference(s, mean_of({at(0.5), h, at(1.3)})), 1e-6f);
  EXPECT_GT(max_abs_difference(s, h), 1e-3f) << "the other scales changed nothing";
}

TEST(SegmentInference, ConfigReadsFlipsAndScalesAndNamesTheChoices) {
  const auto parse = [](const std::string& text) {
    return segment::InferenceOptions::from_config(Config::parse(text, "inf.yaml").section("inference"));
  };
  EXPECT_EQ(parse("inference: {}").tta, segment::InferenceOptions::Flips::none);
  EXPECT_EQ(parse("inference: {}").scales, std::vector<double>{1.0});
  EXPECT_EQ(parse("inference: {tta: true}").tta, segment::InferenceOptions::Flips::all);
  const segment::InferenceOptions o = parse("inference: {tta: hflip, scales: [0.75, 1, 1.25]}");
  EXPECT_EQ(o.tta, segment::InferenceOptions::Flips::hflip);
  EXPECT_EQ(o.scales, (std::vector<double>{0.75, 1, 1.25}));
  EXPECT_THAT(error_of([&] { parse("inference: {tta: mirror}"); }),
              HasSubstr("inference.tta: 'mirror' is not one of: false, true, hflip"));
  EXPECT_THAT(error_of([&] { parse("inference: {scales: []}"); }),
              HasSubstr("inference.scales: give at least one factor"));
  EXPECT_THAT(error_of([&] { parse("inference: {scales: [1, 8]}"); }),
              HasSubstr("inference.scales: 8 is outside [0.25, 4]"));
}
