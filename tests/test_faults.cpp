// strata-faults: SEG-Y read (every sample format, both byte orders, sorted
// and unsorted) and write (headers copied, read back), the bad files' errors,
// the synthetic generator, matching a survey, fault scores on hand-made
// sections, tiled against untiled prediction, and the app end to end.
// SEG-Y cases read ../shared/data/seismic/segy (or $STRATA_DATA/seismic/segy)
// and skip loudly without it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numbers>
#include <numeric>
#include <random>
#include <sstream>
#include <tuple>

#include "apps/common/image_io.h"
#include "apps/common/npy.h"
#include "apps/common/transforms.h"
#include "apps/faults/faults.h"
#include "apps/faults/opendtect.h"
#include "apps/faults/sections.h"
#include "apps/faults/segy.h"
#include "apps/faults/synth.h"
#include "engine/random.h"
#include "layers/checkpoint.h"
#include "layers/layers.h"
#include "layers/registry.h"
#include "tests/segy_fixture.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::faults;
using strata::test::error_of;

namespace {

fs::path segy_dir() {
  const char* env = std::getenv("STRATA_DATA");
  const fs::path data = env ? fs::path(env) : fs::path(STRATA_SOURCE_DIR) / ".." / "shared" / "data";
  return data / "seismic" / "segy";
}

#define REQUIRE_SEGY_DATA()                                                                                    \
  if (!fs::is_regular_file(segy_dir() / "f3.sgy"))                                                            \
  GTEST_SKIP() << "SKIPPED LOUDLY: " << segy_dir() << " is absent (shared data folder; set STRATA_DATA=DIR)"

std::string seg(const char* name) { return (segy_dir() / name).string(); }

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("strata_faults_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

// ---------------------------------------------------------------------------
// SEG-Y

TEST(Segy, ReadsEveryFormatAndByteOrderAlike) {
  REQUIRE_SEGY_DATA();
  const SegyVolume f3(seg("f3.sgy")), lsb(seg("f3-lsb.sgy"));
  EXPECT_EQ(f3.format(), 3);
  EXPECT_FALSE(f3.little_endian());
  EXPECT_TRUE(lsb.little_endian());
  EXPECT_EQ(f3.samples(), 75);
  EXPECT_EQ(f3.traces(), 414);
  EXPECT_EQ(f3.inlines().size(), 23u);
  EXPECT_EQ(f3.crosslines().size(), 18u);
  EXPECT_EQ(f3.inlines().front(), 111);
  EXPECT_EQ(f3.crosslines().front(), 875);
  EXPECT_EQ(f3.sorting(), "inline");
  EXPECT_DOUBLE_EQ(f3.interval_ms(), 4.0);
  for (int64_t i : {int64_t(0), int64_t(200), int64_t(413)}) {
    EXPECT_EQ(f3.trace(i), lsb.trace(i)) << i;
    EXPECT_EQ(f3.trace_header(i), lsb.trace_header(i)) << i;
  }
  // f3 in IBM float, IEEE float and int8 (segyio's test files: the int16 values as floats, and cast to int8).
  const SegyVolume ibm(seg("Format1msb.sgy")), ieee(seg("Format5msb.sgy")), i8(seg("Format8msb.sgy"));
  EXPECT_EQ(ibm.format_name(), "IBM float");
  EXPECT_EQ(ieee.format_name(), "IEEE float");
  EXPECT_EQ(i8.format_name(), "int8");
  for (int64_t i : {int64_t(0), int64_t(100), int64_t(413)}) {
    const std::vector<float> ref = f3.trace(i), a = ibm.trace(i), b = ieee.trace(i), c = i8.trace(i);
    ASSERT_EQ(a.size(), 75u);
    EXPECT_EQ(a, ref) << i;
    EXPECT_EQ(b, ref) << i;
    for (size_t k = 0; k < ref.size(); ++k)
      ASSERT_EQ(c[k], float(static_cast<int8_t>(static_cast<int16_t>(ref[k])))) << i << " " << k;
  }
  double energy = 0;
  for (float v : f3.trace(100)) energy += double(v) * v;
  EXPECT_GT(energy, 0);
  // The inline section equals the traces of that inline, one per column.
  const SegyVolume::Section s = f3.section("inline", 5);
  ASSERT_EQ(s.width, 18);
  for (int64_t t = 0; t < s.width; ++t) {
    const std::vector<float> tr = f3.trace(s.trace_index[size_t(t)]);
    for (int64_t z = 0; z < s.samples; ++z) ASSERT_EQ(s.data[size_t(z * s.width + t)], tr[size_t(z)]);
  }
  EXPECT_EQ(f3.section("crossline", 0).width, 23);
  EXPECT_EQ(f3.sections("inline"), 23);
}

TEST(Segy, BadFilesNameTheFileAndTheProblem) {
  REQUIRE_SEGY_DATA();
  const auto err = [](const std::string& p) { return error_of([&] { SegyVolume v(p); }); };
  EXPECT_NE(err(seg("broken.sgy")).find("truncated"), std::string::npos) << err(seg("broken.sgy"));
  EXPECT_NE(err(seg("broken.sgy")).find("broken.sgy"), std::string::npos);
  EXPECT_NE(err(seg("text.sgy")).find("no traces"), std::string::npos) << err(seg("text.sgy"));
  EXPECT_NE(err(seg("small-ps.sgy")).find("pre-stack"), std::string::npos) << err(seg("small-ps.sgy"));
  const fs::path d = fresh_dir("bad");
  const std::string f3 = bytes_of(segy_dir() / "f3.sgy");
  std::ofstream(d / "cut.sgy", std::ios::binary).write(f3.data(), std::streamsize(f3.size() - 100));
  EXPECT_NE(err((d / "cut.sgy").string()).find("truncated"), std::string::npos) << err((d / "cut.sgy").string());
  std::ofstream(d / "short.sgy", std::ios::binary).write(f3.data(), 1000);
  EXPECT_NE(err((d / "short.sgy").string()).find("not SEG-Y"), std::string::npos);
  std::string junk = f3;
  junk[3224] = 0x7f;  // sample format code 0x7fxx: no format in either byte order
  junk[3225] = 0x33;
  std::ofstream(d / "junk.sgy", std::ios::binary) << junk;
  EXPECT_NE(err((d / "junk.sgy").string()).find("sample format"), std::string::npos) << err((d / "junk.sgy").string());
  EXPECT_NE(err((d / "absent.sgy").string()).find("absent.sgy"), std::string::npos);
  EXPECT_NE(err(d.string()).find("directory"), std::string::npos) << err(d.string());
  fs::remove_all(d);
}

TEST(Segy, UnsortedTracesLandOnTheSameGrid) {
  REQUIRE_SEGY_DATA();
  // f3 with its traces in a shuffled order: the geometry comes from the headers, not the order.
  const std::string f3 = bytes_of(segy_dir() / "f3.sgy");
  const size_t trace_bytes = 240 + 75 * 2, n = 414;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(3);
  std::shuffle(order.begin(), order.end(), rng);
  std::string shuffled = f3.substr(0, 3600);
  for (size_t i : order) shuffled += f3.substr(3600 + i * trace_bytes, trace_bytes);
  const fs::path d = fresh_dir("unsorted");
  std::ofstream(d / "u.sgy", std::ios::binary) << shuffled;
  const SegyVolume a(seg("f3.sgy")), b((d / "u.sgy").string());
  EXPECT_EQ(b.sorting(), "unsorted");
  EXPECT_EQ(a.inlines(), b.inlines());
  EXPECT_EQ(a.crosslines(), b.crosslines());
  for (int64_t k : {0, 7, 22}) EXPECT_EQ(a.section("inline", k).data, b.section("inline", k).data) << k;
  EXPECT_EQ(a.section("crossline", 3).data, b.section("crossline", 3).data);
  fs::remove_all(d);
}

TEST(Segy, GridAtOtherHeaderBytes) {
  // A cube whose inline / crossline numbers sit at bytes 9 / 21 (189 / 193 zero) reads as a 2-D line by default,
  // and its description names the bytes that make it the cube; with them it is the same cube as the original.
  const fs::path d = fresh_dir("segy_bytes");
  test::write_test_segy(d / "std.sgy", 4, 6, 40);
  std::string bytes = bytes_of(d / "std.sgy");
  const size_t trace_bytes = 240 + 40 * 4;
  for (size_t t = 0; t < 24; ++t) {
    const size_t h = 3600 + t * trace_bytes;
    bytes.replace(h + 8, 4, bytes.substr(h + 188, 4));
    bytes.replace(h + 20, 4, bytes.substr(h + 192, 4));
    bytes.replace(h + 188, 8, std::string(8, '\0'));
  }
  std::ofstream(d / "moved.sgy", std::ios::binary) << bytes;
  const SegyVolume standard((d / "std.sgy").string()), as_line((d / "moved.sgy").string());
  EXPECT_TRUE(as_line.is_line());
  EXPECT_NE(as_line.describe().find("header bytes 9 / 21 lay its traces on a grid of 4 x 6: for a cube, set "
                                    "segy.inline_byte=9 segy.crossline_byte=21"),
            std::string::npos)
      << as_line.describe();
  EXPECT_EQ(standard.describe().find("header bytes"), std::string::npos);
  const SegyVolume cube((d / "moved.sgy").string(), SegyOptions{9, 21});
  EXPECT_FALSE(cube.is_line());
  EXPECT_EQ(cube.inlines(), standard.inlines());
  EXPECT_EQ(cube.crosslines(), standard.crosslines());
  EXPECT_EQ(cube.section("crossline", 2).data, standard.section("crossline", 2).data);
  // A byte inside a field is named with its key.
  EXPECT_NE(error_of([&] { SegyVolume((d / "moved.sgy").string(), SegyOptions{10, 21}); })
                .find("trace header byte 10 (segy.inline_byte) is not the first byte of a header field"),
            std::string::npos);
  fs::remove_all(d);
}

TEST(Segy, Int32Int16LinesAndCrosslineSorting) {
  // Files written byte by byte (tests/segy_fixture.h): int32 and int16 samples, a 2-D line with inline
  // numbers, a 2-D line without any (every trace at one position), and f3 re-sorted by crossline.
  const fs::path d = fresh_dir("kinds");
  test::write_test_segy(d / "i32.sgy", 3, 5, 20, 1, 2);
  test::write_test_segy(d / "i16.sgy", 3, 5, 20, 1, 3);
  for (const char* name : {"i32.sgy", "i16.sgy"}) {
    const SegyVolume v((d / name).string());
    EXPECT_EQ(v.format_name(), std::string(name) == "i32.sgy" ? "int32" : "int16");
    EXPECT_EQ(v.inlines().size(), 3u);
    EXPECT_EQ(v.sorting(), "inline");
    const std::vector<float> t = v.trace(v.trace_at(2, 4));
    for (int s = 0; s < 20; ++s) ASSERT_EQ(t[size_t(s)], std::lround(test::test_segy_value(2, 4, s) * 1000)) << name;
  }
  test::write_test_segy(d / "line.sgy", 1, 30, 16);
  const SegyVolume line((d / "line.sgy").string());
  EXPECT_TRUE(line.is_line());
  EXPECT_EQ(line.sections("inline"), 1);
  EXPECT_EQ(line.section("crossline", 0).width, 30);
  test::write_test_segy(d / "bare.sgy", 1, 12, 16, 1, 5, true);
  const SegyVolume bare((d / "bare.sgy").string());
  EXPECT_TRUE(bare.is_line());
  EXPECT_EQ(bare.sorting(), "line");
  const SegyVolume::Section bs = bare.section("inline", 0);
  ASSERT_EQ(bs.width, 12);
  for (int64_t t = 0; t < 12; ++t) EXPECT_EQ(bs.trace_index[size_t(t)], t);  // file order
  EXPECT_EQ(bs.data[size_t(3 * 12 + 7)], test::test_segy_value(0, 7, 3));
  if (fs::is_regular_file(segy_dir() / "f3.sgy")) {
    const std::string f3 = bytes_of(segy_dir() / "f3.sgy");
    const size_t trace_bytes = 240 + 75 * 2;
    std::string by_xl = f3.substr(0, 3600);
    for (size_t xl = 0; xl < 18; ++xl)
      for (size_t il = 0; il < 23; ++il) by_xl += f3.substr(3600 + (il * 18 + xl) * trace_bytes, trace_bytes);
    std::ofstream(d / "xl.sgy", std::ios::binary) << by_xl;
    const SegyVolume a(seg("f3.sgy")), b((d / "xl.sgy").string());
    EXPECT_EQ(b.sorting(), "crossline");
    for (int64_t k : {0, 11, 22}) EXPECT_EQ(a.section("inline", k).data, b.section("inline", k).data) << k;
  }
  fs::remove_all(d);
}

TEST(Segy, WrittenFileKeepsEveryHeaderAndReadsBack) {
  REQUIRE_SEGY_DATA();
  const fs::path d = fresh_dir("write");
  for (const char* name : {"f3.sgy", "f3-lsb.sgy", "Format1msb.sgy"}) {
    const SegyVolume in(seg(name));
    const std::string out = (d / (std::string("p_") + name)).string();
    {
      SegyWriter w(in, out);
      // Traces in reverse order, values that identify the trace and sample.
      for (int64_t i = in.traces() - 1; i >= 0; --i) {
        std::vector<float> v(size_t(in.samples()));
        for (int64_t z = 0; z < in.samples(); ++z) v[size_t(z)] = float(i) + float(z) / 128.f;
        w.write(i, v.data());
      }
      w.close();
    }
    const SegyVolume back(out);
    EXPECT_EQ(back.format(), 5) << name;
    EXPECT_FALSE(back.little_endian());
    EXPECT_EQ(back.samples(), in.samples());
    EXPECT_EQ(back.traces(), in.traces());
    EXPECT_EQ(back.inlines(), in.inlines());
    EXPECT_EQ(back.crosslines(), in.crosslines());
    EXPECT_EQ(back.interval_ms(), in.interval_ms());
    EXPECT_EQ(back.text_bytes(), in.text_bytes());
    std::array<char, 400> bin_in = in.binary_header(), bin_back = back.binary_header();
    EXPECT_NE(bin_in[25], bin_back[25]) << "the format code changes (unless the input was IEEE already)";
    bin_in[24] = bin_back[24] = 0;  // bytes 3225-3226: the sample format, the one field that differs
    bin_in[25] = bin_back[25] = 0;
    EXPECT_EQ(bin_in, bin_back) << name;
    for (int64_t i = 0; i < in.traces(); ++i) {
      ASSERT_EQ(back.trace_header(i), in.trace_header(i)) << name << " trace " << i;
      const std::vector<float> v = back.trace(i);
      ASSERT_EQ(v[3], float(i) + 3.f / 128.f) << name << " trace " << i;
    }
  }
  // A writer that does not write every trace leaves no output behind.
  {
    const SegyVolume in(seg("small.sgy"));
    SegyWriter w(in, (d / "partial.sgy").string());
    std::vector<float> v(size_t(in.samples()), 1.f);
    w.write(0, v.data());
    EXPECT_NE(error_of([&] { w.close(); }).find("24 of 25 traces were not written"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(d / "partial.sgy"));
  const SegyVolume in(seg("small.sgy"));
  EXPECT_NE(error_of([&] { SegyWriter w(in, seg("small.sgy")); }).find("overwrite the input"), std::string::npos);
  fs::remove_all(d);
}

TEST(Segy, NewCubeReadsBackWithItsGeometry) {
  const fs::path d = fresh_dir("new_cube");
  std::vector<float> v(size_t(3 * 5 * 7));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i) / 4.f - 3.f;
  write_segy_cube((d / "c.sgy").string(), v, 3, 5, 7, 2.0, {"a test cube"});
  const SegyVolume back((d / "c.sgy").string());
  EXPECT_EQ(back.format(), 5);
  EXPECT_EQ(back.traces(), 15);
  EXPECT_EQ(back.samples(), 7);
  EXPECT_EQ(back.interval_ms(), 2.0);
  EXPECT_EQ(back.inlines(), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(back.crosslines(), (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(back.sorting(), "inline");
  EXPECT_EQ(back.text_bytes().substr(0, 15), "C 1 a test cube");
  for (int64_t il = 0; il < 3; ++il)
    for (int64_t xl = 0; xl < 5; ++xl) {
      const std::vector<float> t = back.trace(back.trace_at(il, xl));
      ASSERT_EQ(t, std::vector<float>(v.begin() + (il * 5 + xl) * 7, v.begin() + (il * 5 + xl + 1) * 7)) << il << " " << xl;
    }
  // The grid's diagonals: 3 + 5 - 1 of each, the inline index increasing along every one.
  EXPECT_EQ(back.sections("diagonal"), 7);
  EXPECT_EQ(back.sections("antidiagonal"), 7);
  const auto cells = [&](const std::string& direction, int64_t k) {
    std::vector<std::pair<int64_t, int64_t>> out;
    const SegyVolume::Section s = back.section(direction, k);
    EXPECT_EQ(s.data.size(), size_t(s.width * 7));
    for (int64_t t = 0; t < s.width; ++t) {
      const int64_t i = s.trace_index[size_t(t)];
      EXPECT_EQ(s.data[size_t(3 * s.width + t)], v[size_t(i * 7 + 3)]);  // sample 3 of that trace
      out.emplace_back(i / 5, i % 5);                                     // (inline, crossline) index
    }
    return out;
  };
  using Cells = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(cells("diagonal", 0), (Cells{{2, 0}}));  // crossline - inline = -2
  EXPECT_EQ(cells("diagonal", 3), (Cells{{0, 1}, {1, 2}, {2, 3}}));
  EXPECT_EQ(cells("diagonal", 6), (Cells{{0, 4}}));
  EXPECT_EQ(cells("antidiagonal", 0), (Cells{{0, 0}}));  // inline + crossline = 0
  EXPECT_EQ(cells("antidiagonal", 4), (Cells{{0, 4}, {1, 3}, {2, 2}}));
  EXPECT_EQ(cells("antidiagonal", 6), (Cells{{2, 4}}));
  EXPECT_NE(error_of([&] { back.section("diagonal", 7); }).find("diagonal section 7 of 7"), std::string::npos);
  EXPECT_NE(error_of([&] { back.sections("oblique"); }).find("not inline, crossline, diagonal or antidiagonal"),
            std::string::npos);
  EXPECT_NE(error_of([&] { write_segy_cube((d / "bad.sgy").string(), v, 3, 5, 6, 2.0, {}); }).find("105 samples for 3 x 5"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(d / "bad.sgy"));
  fs::remove_all(d);
}

TEST(Sections, LabelledFoldersPairByStemOrByOneSuffix) {
  const fs::path d = fresh_dir("pairs");
  fs::create_directories(d / "images");
  fs::create_directories(d / "masks");
  const std::vector<float> section(8 * 6, 0.5f), mask(8 * 6, 0.f);
  for (const char* s : {"a", "b"}) {
    write_npy((d / "images" / (std::string(s) + ".npy")).string(), {8, 6}, section);
    write_npy((d / "masks" / (std::string(s) + "_faults.npy")).string(), {8, 6}, mask);
  }
  const SectionSet set = folder_set(d.string());
  ASSERT_EQ(set.sections.size(), 2u);
  EXPECT_EQ(set.names, (std::vector<std::string>{"a", "b"}));
  fs::rename(d / "masks" / "b_faults.npy", d / "masks" / "b.npy");  // one mask of its section's own stem
  EXPECT_NE(error_of([&] { folder_set(d.string()); }).find("1 section(s) without a mask of the same stem"),
            std::string::npos);
  fs::remove_all(d);
}

TEST(Npy, RoundTripOtherDtypesAndErrors) {
  const fs::path d = fresh_dir("npy");
  const std::vector<float> v{1.5f, -2.f, 3.25f, 0.f, 7.f, -8.5f};
  write_npy((d / "a.npy").string(), {2, 3}, v);
  const NpyArray a = read_npy((d / "a.npy").string());
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data, v);
  // Big-endian int16 in Fortran order, as a hand-written version-1 header: [[1, 2, 3], [4, 5, 6]].
  std::string header = "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string f = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + '\0' + header;
  for (int v16 : {1, 4, 2, 5, 3, 6}) f += std::string{char(0), char(v16)};
  std::ofstream(d / "b.npy", std::ios::binary) << f;
  EXPECT_EQ(read_npy((d / "b.npy").string()).data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  std::ofstream(d / "cut.npy", std::ios::binary) << f.substr(0, f.size() - 3);
  EXPECT_NE(error_of([&] { read_npy((d / "cut.npy").string()); }).find("truncated"), std::string::npos);
  std::ofstream(d / "text.npy") << "hello";
  EXPECT_NE(error_of([&] { read_npy((d / "text.npy").string()); }).find("not a .npy file"), std::string::npos);
  std::string c = f;
  c.replace(c.find(">i2"), 3, "<c8");
  std::ofstream(d / "complex.npy", std::ios::binary) << c;
  EXPECT_NE(error_of([&] { read_npy((d / "complex.npy").string()); }).find("not supported"), std::string::npos);
  fs::remove_all(d);
}

// ---------------------------------------------------------------------------
// The generator

namespace {

// Mean 0 and variance 1, as the generator promises.
void expect_standardised(const std::vector<float>& x) {
  double mean = 0, var = 0;
  for (float v : x) mean += v;
  mean /= double(x.size());
  for (float v : x) var += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 0, 1e-4);
  EXPECT_NEAR(var / double(x.size()), 1, 1e-3);
}

}  // namespace

TEST(Synthetic, DeterministicStandardisedAndLabelled) {
  SynthOptions o;
  o.faults = {2, 3};
  o.throw_samples = {6, 10};
  std::mt19937_64 r1 = sample_rng(5, 2, 7), r2 = sample_rng(5, 2, 7), r3 = sample_rng(5, 2, 8);
  const SynthSection a = generate_section(o, r1), b = generate_section(o, r2), c = generate_section(o, r3);
  EXPECT_EQ(a.seismic, b.seismic);
  EXPECT_EQ(a.label, b.label);
  EXPECT_NE(a.seismic, c.seismic);
  ASSERT_EQ(a.seismic.size(), size_t(128 * 128));
  expect_standardised(a.seismic);
  // Two or three faults with throws of 6-10 samples: each labelled on many rows, one or two pixels a row.
  int64_t labelled = 0, rows = 0;
  for (int64_t z = 0; z < 128; ++z) {
    int64_t in_row = 0;
    for (int64_t x = 0; x < 128; ++x) in_row += a.label[size_t(z * 128 + x)];
    labelled += in_row;
    rows += in_row > 0;
  }
  EXPECT_GT(rows, 64);
  EXPECT_LT(labelled, 128 * 3 * 3);
  for (uint8_t v : a.label) ASSERT_LE(v, 1);
  // No faults: no labels.
  o.faults = {0, 0};
  std::mt19937_64 r4 = sample_rng(5, 2, 9);
  const SynthSection none = generate_section(o, r4);
  EXPECT_EQ(std::accumulate(none.label.begin(), none.label.end(), 0), 0);
  EXPECT_EQ(none.faults, 0);
}

TEST(Synthetic, CubeIsOneEarthModelLabelledOnItsFaultSurfaces) {
  SynthOptions o;
  o.height = 40;
  o.width = 32;
  o.faults = {1, 1};
  o.throw_samples = {6, 8};
  o.snr = {1e5, 1e5};  // no noise: the faults alone break the reflectors
  o.gain = {0, 0};
  std::mt19937_64 r1 = sample_rng(3, 1, 0), r2 = sample_rng(3, 1, 0);
  const SynthCube a = generate_cube(o, 24, r1), b = generate_cube(o, 24, r2);
  EXPECT_EQ(a.seismic, b.seismic);
  EXPECT_EQ(a.label, b.label);
  ASSERT_EQ(a.seismic.size(), size_t(24 * 32 * 40));
  ASSERT_EQ(a.label.size(), a.seismic.size());
  EXPECT_EQ(a.faults, 1);
  expect_standardised(a.seismic);
  // One fault surface across the cube: labelled on some inlines (all, unless it strikes along them), a thin
  // sheet (under an eighth of the samples).
  int64_t inlines_with = 0, labelled = 0;
  for (int64_t y = 0; y < 24; ++y) {
    int64_t n = 0;
    for (int64_t i = 0; i < 32 * 40; ++i) n += a.label[size_t(y * 32 * 40 + i)];
    inlines_with += n > 0;
    labelled += n;
  }
  EXPECT_GT(inlines_with, 0);
  EXPECT_LT(labelled, int64_t(a.label.size()) / 8);
  // Neighbouring traces are alike away from the fault (one continuous model), in both directions.
  const auto trace = [&](int64_t y, int64_t x) { return &a.seismic[size_t((y * 32 + x) * 40)]; };
  double along_inline = 0, along_crossline = 0, total = 0;
  for (int64_t y = 1; y < 24; ++y)
    for (int64_t x = 1; x < 32; ++x)
      for (int64_t z = 0; z < 40; ++z) {
        along_inline += std::pow(trace(y, x)[z] - trace(y, x - 1)[z], 2);
        along_crossline += std::pow(trace(y, x)[z] - trace(y - 1, x)[z], 2);
        total += std::pow(trace(y, x)[z], 2);
      }
  EXPECT_LT(along_inline, 0.5 * total);
  EXPECT_LT(along_crossline, 0.5 * total);
  // No faults: no labels.
  o.faults = {0, 0};
  std::mt19937_64 r3 = sample_rng(3, 1, 1);
  const SynthCube none = generate_cube(o, 8, r3);
  EXPECT_EQ(std::accumulate(none.label.begin(), none.label.end(), 0), 0);
}

TEST(Synthetic, TrainingFaultsChangeOnlyTheFaultCountOfTrainingSections) {
  SynthOptions o;
  o.faults = {0, 4};
  // Without data.train_faults the training sections are the held-out sections' generator.
  const SynthOptions same = training_options(o, Config::parse("sections_per_epoch: 8\n"));
  EXPECT_EQ(same.faults.lo, 0);
  EXPECT_EQ(same.faults.hi, 4);
  const SynthOptions t = training_options(o, Config::parse("train_faults: [5, 5]\n"));
  EXPECT_EQ(t.faults.lo, 5);
  EXPECT_EQ(t.faults.hi, 5);
  SynthOptions expected = o;
  expected.faults = {5, 5};
  EXPECT_EQ(t.describe(), expected.describe());
  EXPECT_EQ(o.faults.hi, 4);  // the held-out generator is left alone
  for (uint64_t i = 0; i < 4; ++i) {
    std::mt19937_64 rng = sample_rng(3, 0, i);
    EXPECT_EQ(generate_section(t, rng).faults, 5);
  }
  const auto err = [](const char* yaml) {
    return error_of([&] { training_options(SynthOptions{}, Config::parse(yaml)); });
  };
  EXPECT_NE(err("train_faults: [6, 2]\n").find("train_faults: want [low, high] with low <= high"), std::string::npos)
      << err("train_faults: [6, 2]\n");
  EXPECT_NE(err("train_faults: [0, 80]\n").find("80 is outside [0, 50]"), std::string::npos)
      << err("train_faults: [0, 80]\n");
}

namespace {

// Flat layers and nothing else: no faults, folds, gain, mute or noise; every trace the same.
SynthOptions flat_layers() {
  SynthOptions o;
  o.faults = {0, 0};
  o.fold_bumps = {0, 0};
  o.shear = {0, 0};
  o.snr = {1e5, 1e5};
  o.gain = {0, 0};
  o.mute = 0;
  o.mode = "section";
  return o;
}

std::vector<double> column(const SynthSection& s, int64_t x, int64_t z0 = 0, int64_t z1 = -1) {
  std::vector<double> c;
  for (int64_t z = z0; z < (z1 < 0 ? s.height : z1); ++z) c.push_back(s.seismic[size_t(z * s.width + x)]);
  return c;
}

double rms_of(const std::vector<double>& v) {
  double a = 0;
  for (double x : v) a += x * x;
  return std::sqrt(a / double(v.size()));
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) d += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  return d / std::sqrt(na * nb);
}

// One normal fault of a constant 10-sample throw at `dip`, no folds, no gain, almost no noise.
SynthOptions one_clean_fault(double dip) {
  SynthOptions o;
  o.faults = {1, 1};
  o.dip = {dip, dip};
  o.throw_samples = {10, 10};
  o.reverse_fraction = 0;
  o.fold_bumps = {0, 0};
  o.shear = {0, 0};
  o.snr = {1e5, 1e5};
  o.gain = {0, 0};
  return o;
}

}  // namespace

TEST(Synthetic, FaultOffsetsTheReflectorsAcrossIt) {
  // One vertical-ish fault with a large constant throw, no noise, no folds: traces right beside the fault on
  // either side are shifted copies of each other by about the throw.
  SynthOptions o = one_clean_fault(89.9);
  o.phase = {0, 0};
  o.mixed_wavelet = 0;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    std::mt19937_64 rng = sample_rng(11, 0, seed);
    const SynthSection s = generate_section(o, rng);
    int64_t fx = -1;
    for (int64_t x = 0; x < 128 && fx < 0; ++x)
      if (s.label[size_t(64 * 128 + x)]) fx = x;
    if (fx < 4 || fx > 123) continue;  // fault outside the middle row (elliptical tips): try another
    double best = -2;
    int64_t best_shift = 0;
    for (int64_t sh = -14; sh <= 14; ++sh) {
      const double c = correlation(column(s, fx - 3, 30, 98), column(s, fx + 3, 30 + sh, 98 + sh));
      if (c > best) best = c, best_shift = sh;
    }
    EXPECT_GE(std::abs(best_shift), 5) << "seed " << seed << ": reflectors line up across the fault";
    EXPECT_GT(best, 0.8);
    return;
  }
  FAIL() << "no seed put the fault across the middle row";
}

TEST(Synthetic, AntialiasBlendsTheTraceTheFaultCuts) {
  // A vertical fault, no noise or folds: every trace on one side is the same. Point sampled, the labelled trace
  // is a copy of one neighbour; with antialias = 4 it is a blend of its two neighbours in quarters, weighted by
  // how much of its bin lies on each side of the plane, so where the plane passes shows in the data.
  SynthOptions o = one_clean_fault(90);  // exactly vertical: where the plane cuts a bin is the same on every row
  o.mute = 0;
  int64_t tested = 0, blended = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    for (int64_t n : {1, 4}) {
      o.antialias = n;
      std::mt19937_64 rng = sample_rng(12, 0, seed);
      const SynthSection s = generate_section(o, rng);
      int64_t fx = -1, count = 0;
      for (int64_t x = 0; x < 128; ++x)
        if (s.label[size_t(64 * 128 + x)]) fx = x, ++count;
      if (count != 1 || fx < 2 || fx > 125) break;  // tips, or the plane between two traces: another seed
      // Least-squares weight of the left neighbour in the labelled trace, over rows 40-88.
      double num = 0, den = 0, resid = 0, diff = 0;
      for (int64_t z = 40; z < 88; ++z) {
        const double l = s.seismic[size_t(z * 128 + fx - 1)], r = s.seismic[size_t(z * 128 + fx + 1)];
        const double m = s.seismic[size_t(z * 128 + fx)];
        num += (m - r) * (l - r);
        den += (l - r) * (l - r);
        diff = std::max(diff, std::abs(l - r));
      }
      ASSERT_GT(diff, 0.5) << "seed " << seed << ": a throw of 10 samples must change the traces across the fault";
      const double alpha = num / den;
      for (int64_t z = 40; z < 88; ++z) {
        const double l = s.seismic[size_t(z * 128 + fx - 1)], r = s.seismic[size_t(z * 128 + fx + 1)];
        resid = std::max(resid, std::abs(s.seismic[size_t(z * 128 + fx)] - (alpha * l + (1 - alpha) * r)));
      }
      EXPECT_LT(resid, 1e-3) << "seed " << seed << ", antialias " << n;
      if (n == 1) {
        EXPECT_TRUE(std::abs(alpha) < 1e-3 || std::abs(alpha - 1) < 1e-3) << "seed " << seed << ": " << alpha;
      } else {
        // The four positions sit at -3/8, -1/8, 1/8, 3/8 of a trace; the plane is within half a trace of the
        // centre, so unless it passes in the outer eighth, one to three of them lie on each side.
        const double quarters = alpha * 4;
        EXPECT_NEAR(quarters, std::round(quarters), 1e-3) << "seed " << seed;
        EXPECT_GE(quarters, -1e-3);
        EXPECT_LE(quarters, 4 + 1e-3);
        blended += std::round(quarters) >= 1 && std::round(quarters) <= 3;
      }
      ++tested;
    }
  }
  EXPECT_GE(tested, 8) << "too few seeds put a single labelled trace on the middle row";
  EXPECT_GE(blended, tested / 4) << "the labelled trace should mostly be a blend";
}

TEST(Synthetic, VarietyIsOffByDefaultAndTrainingSectionsTakeIt) {
  // A config without the variety keys generates what SynthOptions{} does, and naming the defaults changes nothing.
  const SynthOptions plain = SynthOptions::from_config(Config::parse("faults: [2, 4]\n"));
  const SynthOptions named = SynthOptions::from_config(
      Config::parse("faults: [2, 4]\nwavelets: [ricker]\nreflector_variation: [0, 0]\nlistric: 0\nfault_zone: [0, 0]\n"
                    "truncated: 0\ncoherent_noise: 0\ndense_reflectivity: 0\nattenuation: 0\nclip: 0\n"));
  for (uint64_t i = 0; i < 3; ++i) {
    std::mt19937_64 r1 = sample_rng(4, 0, i), r2 = sample_rng(4, 0, i);
    const SynthSection a = generate_section(plain, r1), b = generate_section(named, r2);
    EXPECT_EQ(a.seismic, b.seismic);
    EXPECT_EQ(a.label, b.label);
  }
  // data.train_synthetic: the training generator takes its keys over data.synthetic's, the held-out one is left
  // alone, and train_faults still applies.
  const Config data = Config::parse(
      "synthetic: {faults: [0, 4], period: [6, 12]}\n"
      "train_faults: [0, 8]\n"
      "train_synthetic: {wavelets: [ricker, ormsby, morlet], listric: 0.4, fault_zone: [0, 3], period: [5, 14]}\n");
  const SynthOptions o = SynthOptions::from_config(data.section("synthetic"));
  const SynthOptions t = training_options(o, data);
  EXPECT_EQ(t.wavelets, (std::vector<std::string>{"ricker", "ormsby", "morlet"}));
  EXPECT_EQ(t.listric, 0.4);
  EXPECT_EQ(t.fault_zone.hi, 3);
  EXPECT_EQ(t.period.lo, 5);
  EXPECT_EQ(t.faults.hi, 8);
  EXPECT_EQ(t.snr.lo, o.snr.lo);  // not named: data.synthetic's
  EXPECT_EQ(o.wavelets, std::vector<std::string>{"ricker"});
  EXPECT_EQ(o.period.hi, 12);
  EXPECT_NE(t.describe().find("wavelets ricker ormsby morlet"), std::string::npos) << t.describe();
  // The plain training sections (data.train_synthetic.share < 1): train_faults only.
  const SynthOptions plain_training = training_options(o, data, false);
  EXPECT_EQ(plain_training.wavelets, std::vector<std::string>{"ricker"});
  EXPECT_EQ(plain_training.faults.hi, 8);
  EXPECT_EQ(plain_training.period.lo, 6);
  EXPECT_EQ(training_share(data), 1);
  EXPECT_EQ(training_share(Config::parse("train_synthetic: {listric: 0.2, share: 0.25}\n")), 0.25);
  EXPECT_EQ(training_share(Config::parse("train_faults: [0, 8]\n")), 1);
  // share 0 turns the variety off: the training sections are those of the same config without it, draw for draw
  // (a share strictly between 0 and 1 mixes the two kinds).
  const std::string plain_data = "synthetic: {faults: [0, 4], period: [6, 12]}\ntrain_faults: [0, 8]\n";
  const auto with_share = [&](const char* share) {
    return training_sections(o, Config::parse(plain_data + "train_synthetic: {wavelets: [morlet], fault_zone: [2, 3], "
                                              "share: " + share + "}\n"));
  };
  const TrainingSections ref = training_sections(o, Config::parse(plain_data)), off = with_share("0"),
                         mixed = with_share("0.5");
  int differing = 0;
  for (uint64_t i = 0; i < 6; ++i) {
    std::mt19937_64 r1 = sample_rng(5, 0, i), r2 = sample_rng(5, 0, i), r3 = sample_rng(5, 0, i);
    const SynthSection a = ref.draw(r1), b = off.draw(r2), c = mixed.draw(r3);
    EXPECT_EQ(a.seismic, b.seismic);
    EXPECT_EQ(a.label, b.label);
    differing += a.seismic != c.seismic;
  }
  EXPECT_GT(differing, 0);
  const auto err = [](const char* yaml) {
    return error_of([&] { training_options(SynthOptions{}, Config::parse(yaml)); });
  };
  EXPECT_NE(err("train_synthetic: {height: 64}\n").find("train_synthetic.height: training sections have"),
            std::string::npos)
      << err("train_synthetic: {height: 64}\n");
  EXPECT_NE(err("train_synthetic: {wavelets: [ricker, klauder]}\n").find("unknown wavelet 'klauder'"),
            std::string::npos)
      << err("train_synthetic: {wavelets: [ricker, klauder]}\n");
  EXPECT_NE(err("train_synthetic: {listrc: 0.2}\n").find("train_synthetic.listrc: not a key of data.synthetic"),
            std::string::npos)
      << err("train_synthetic: {listrc: 0.2}\n");
  EXPECT_NE(err("train_synthetic: {listric: 2}\n").find("train_synthetic.listric: must be in [0, 1], got 2"), std::string::npos)
      << err("train_synthetic: {listric: 2}\n");
  EXPECT_NE(error_of([] { training_share(Config::parse("train_synthetic: {share: 1.5}\n")); })
                .find("train_synthetic.share: must be in [0, 1], got 1.5"),
            std::string::npos);
}

TEST(Synthetic, WaveletFamiliesKeepTheirPeriodAndDiffer) {
  // Every family carries its energy around 1 / period; Ormsby and Morlet wavelets are not Rickers.
  SynthOptions o = flat_layers();
  o.period = {10, 10};
  o.phase = {0, 0};
  o.mixed_wavelet = 0;
  std::vector<std::vector<float>> first;
  for (const char* family : {"ricker", "ormsby", "morlet"}) {
    o.wavelets = {family};
    double weighted = 0, total = 0;
    for (uint64_t i = 0; i < 4; ++i) {
      std::mt19937_64 rng = sample_rng(21, 0, i);
      const SynthSection s = generate_section(o, rng);
      if (i == 0) first.push_back(s.seismic);
      const std::vector<double> c = column(s, 64);
      for (int64_t f = 1; f < 64; ++f) {  // amplitude spectrum of the trace by a direct DFT
        double re = 0, im = 0;
        for (size_t k = 0; k < c.size(); ++k) {
          re += c[k] * std::cos(2 * M_PI * double(f) * double(k) / double(c.size()));
          im -= c[k] * std::sin(2 * M_PI * double(f) * double(k) / double(c.size()));
        }
        const double power = re * re + im * im, freq = double(f) / double(c.size());
        weighted += power * freq;
        total += power;
      }
    }
    const double centroid_period = total / weighted;
    EXPECT_GT(centroid_period, 6.0) << family;
    EXPECT_LT(centroid_period, 14.0) << family;
  }
  EXPECT_NE(first[0], first[1]);
  EXPECT_NE(first[0], first[2]);
}

// Where a wavelet's energy lies against its middle sample (zero time), in samples: the centroid of its envelope
// squared, w^2 + H(w)^2 (H: the Hilbert transform over the wavelet's length, as the generator rotates phases).
double envelope_centroid(const std::vector<double>& w) {
  const int64_t n = int64_t(w.size());
  std::vector<double> re(size_t(n), 0.0), im(size_t(n), 0.0);  // its spectrum W_k
  for (int64_t k = 0; k < n; ++k)
    for (int64_t s = 0; s < n; ++s) {
      re[size_t(k)] += w[size_t(s)] * std::cos(2 * M_PI * double(k * s) / double(n));
      im[size_t(k)] -= w[size_t(s)] * std::sin(2 * M_PI * double(k * s) / double(n));
    }
  double moment = 0, total = 0;
  for (int64_t t = 0; t < n; ++t) {
    double h = 0;  // H(w)(t) = sum over k of Re(-i sign(k) W_k e^(2 pi i k t / n)) / n
    for (int64_t k = 1; k < n; ++k) {
      const double sign = k <= (n - 1) / 2 ? 1 : -1, a = 2 * M_PI * double(k * t) / double(n);
      h += sign * (re[size_t(k)] * std::sin(a) + im[size_t(k)] * std::cos(a)) / double(n);
    }
    const double e2 = w[size_t(t)] * w[size_t(t)] + h * h;
    moment += e2 * double(t - (n - 1) / 2);
    total += e2;
  }
  return moment / total;
}

TEST(Synthetic, MixedWaveletsOfOnePhaseOrCentredStayOnZeroTime) {
  // Every section's wavelet a blend of two of random periods and phases (-90 to 90 degrees). With one phase for
  // both (mixed_phase: shared) the blend's energy stays centred on zero time, where the reflector is; with a phase
  // each (independent) it leans up to a sample or more to one side in some of them; centred draws the same
  // wavelets as independent and moves each blend back, its energy (and so its shape) unchanged.
  SynthOptions o;
  o.wavelets = {"ricker", "ormsby", "morlet"};
  o.period = {5, 18};
  o.phase = {-90, 90};
  o.mixed_wavelet = 1;
  const auto energy = [](const std::vector<double>& w) {
    double e = 0;
    for (double v : w) e += v * v;
    return e;
  };
  double worst_shared = 0, worst_independent = 0, worst_centred = 0;
  for (uint64_t i = 0; i < 24; ++i) {
    std::vector<double> independent;
    for (const char* mode : {"shared", "independent", "centred"}) {
      o.mixed_phase = mode;
      std::mt19937_64 rng = sample_rng(31, 0, i);
      const std::vector<double> w = section_wavelet(o, rng);
      ASSERT_EQ(w.size() % 2, 1u);
      double& worst = o.mixed_phase == "shared" ? worst_shared
                      : o.mixed_phase == "centred" ? worst_centred
                                                   : worst_independent;
      worst = std::max(worst, std::abs(envelope_centroid(w)));
      if (o.mixed_phase == "independent") independent = w;
      if (o.mixed_phase == "centred") {
        EXPECT_NEAR(energy(w), energy(independent), 1e-9 * energy(independent)) << "wavelet " << i;
        EXPECT_GE(w.size(), independent.size() + 8) << "padded on both sides, so nothing wraps";
      }
    }
  }
  EXPECT_LT(worst_shared, 0.05);
  EXPECT_LT(worst_centred, 0.05);
  EXPECT_GT(worst_independent, 0.5);
  o.mixed_phase = "independent";
  EXPECT_EQ(o.describe().find("mixed wavelets of one phase"), std::string::npos) << o.describe();
  EXPECT_EQ(o.describe().find("mixed wavelets centred"), std::string::npos) << o.describe();
  o.mixed_phase = "shared";
  EXPECT_NE(o.describe().find("mixed wavelets of one phase"), std::string::npos) << o.describe();
  o.mixed_phase = "centred";
  EXPECT_NE(o.describe().find("mixed wavelets centred"), std::string::npos) << o.describe();
  std::printf("largest envelope centroid off zero time: shared %.3f, centred %.3f, independent %.3f samples\n",
              worst_shared, worst_centred, worst_independent);
  o.mixed_wavelet = 0;  // a single wavelet is centred either way
  std::mt19937_64 rng = sample_rng(31, 0, 0);
  EXPECT_LT(std::abs(envelope_centroid(section_wavelet(o, rng))), 0.05);
  std::string what;
  try {
    SynthOptions::from_config(Config::parse("mixed_phase: both\n"));
  } catch (const std::exception& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("mixed_phase: want independent, shared or centred, got 'both'"), std::string::npos) << what;
}

TEST(Synthetic, AttenuationLengthensTheWaveletWithDepth) {
  // The centroid period of the bottom quarter of the traces against the top quarter's, over 16 sections (flat
  // layers: every trace of one is the same) and 16 cubes: about 1 without attenuation, about the stretch between
  // the quarters' depths (2^(7/8) / 2^(1/8) = 1.68 for a stretch of 2) with it.
  SynthOptions o = flat_layers();
  o.height = 256;
  o.width = 32;
  o.period = {8, 8};
  o.phase = {0, 0};
  o.mixed_wavelet = 0;
  o.dense_reflectivity = 1;
  o.attenuation_stretch = {2, 2};
  const int64_t q = o.height / 4;
  for (const double share : {0.0, 1.0}) {
    o.attenuation = share;
    TraceSpectrum top(q), bottom(q), cube_top(q), cube_bottom(q);
    for (uint64_t i = 0; i < 16; ++i) {
      std::mt19937_64 rng = sample_rng(71, 0, i);
      const SynthSection s = generate_section(o, rng);  // row-major: a trace's samples lie `width` apart
      ASSERT_TRUE(top.add(&s.seismic[0], s.width));
      ASSERT_TRUE(bottom.add(&s.seismic[size_t((s.height - q) * s.width)], s.width));
      std::mt19937_64 cube_rng = sample_rng(71, 1, i);
      const SynthCube c = generate_cube(o, 1, cube_rng);  // trace by trace
      ASSERT_TRUE(cube_top.add(&c.seismic[0]));
      ASSERT_TRUE(cube_bottom.add(&c.seismic[size_t(c.height - q)]));
    }
    for (const double r : {bottom.centroid_period() / top.centroid_period(),
                           cube_bottom.centroid_period() / cube_top.centroid_period()}) {
      if (share == 0) {
        EXPECT_NEAR(r, 1.0, 0.1);
      } else {
        EXPECT_GT(r, 1.45);
        EXPECT_LT(r, 1.95);
      }
    }
  }
  EXPECT_NE(o.describe().find("attenuation 1 stretch [2, 2]"), std::string::npos) << o.describe();
}

TEST(Synthetic, ClippedSectionsAndCubesHaveFlatPeaksAndStayStandardised) {
  // With clip 1 every section and cube is clipped at one standard deviation and standardised again: mean 0,
  // standard deviation 1, and a large share of its samples at the two extremes (a Gaussian-like amplitude has about
  // 30% of its samples beyond one standard deviation). Without it, hardly any sample shares the extreme value.
  SynthOptions o;
  o.clip_level = {1, 1};
  const auto flat_share = [](const std::vector<float>& v) {
    const float top = *std::max_element(v.begin(), v.end()), bottom = *std::min_element(v.begin(), v.end());
    int64_t at = 0;
    for (float x : v) at += (x >= top - 1e-5f || x <= bottom + 1e-5f);
    return double(at) / double(v.size());
  };
  const auto moments = [](const std::vector<float>& v) {
    double m = 0, q = 0;
    for (float x : v) m += x, q += double(x) * x;
    m /= double(v.size());
    return std::pair{m, std::sqrt(q / double(v.size()) - m * m)};
  };
  for (const double share : {0.0, 1.0}) {
    o.clip = share;
    for (uint64_t i = 0; i < 4; ++i) {
      std::mt19937_64 rng = sample_rng(83, 0, i), cube_rng = sample_rng(83, 1, i);
      const SynthSection s = generate_section(o, rng);
      o.height = o.width = 64;
      const SynthCube c = generate_cube(o, 8, cube_rng);
      o.height = o.width = 128;
      for (const std::vector<float>* v : {&s.seismic, &c.seismic}) {
        const auto [mean, sd] = moments(*v);
        EXPECT_NEAR(mean, 0, 1e-3);
        EXPECT_NEAR(sd, 1, 1e-3);
        if (share == 0)
          EXPECT_LT(flat_share(*v), 0.01);
        else
          EXPECT_GT(flat_share(*v), 0.1);
      }
    }
  }
  EXPECT_NE(o.describe().find("clipped 1 at [1, 1] sd"), std::string::npos) << o.describe();
  // Sections are the same as before the keys existed when clip is 0, however clip_level is set.
  SynthOptions plain, levels;
  levels.clip_level = {2, 5};
  std::mt19937_64 r1 = sample_rng(84, 0, 0), r2 = sample_rng(84, 0, 0);
  EXPECT_EQ(generate_section(plain, r1).seismic, generate_section(levels, r2).seismic);
}

TEST(Synthetic, DenseReflectivityPutsAReflectorAtEverySample) {
  // Without noise, folds or faults a trace is the reflectivity convolved with the wavelet; at a short period
  // (3 samples) the trace shows the reflectivity's sparseness: layers of 8-12 samples leave most of it near zero,
  // a coefficient at every sample leaves little of it so.
  SynthOptions o = flat_layers();
  o.period = {3, 3};
  o.phase = {0, 0};
  o.mixed_wavelet = 0;
  o.layer_thickness = {8, 12};
  for (const double share : {0.0, 1.0}) {
    o.dense_reflectivity = share;
    std::mt19937_64 rng = sample_rng(81, 0, 0);
    const SynthSection s = generate_section(o, rng);
    const std::vector<double> c = column(s, 64);
    const double quiet = double(std::count_if(c.begin(), c.end(), [](double v) { return std::abs(v) < 0.1; })) /
                         double(c.size());
    if (share == 0)
      EXPECT_GT(quiet, 0.4);
    else
      EXPECT_LT(quiet, 0.25);
  }
}

TEST(Synthetic, ListricFaultsFlattenWithDepth) {
  // One constant-throw fault at 75 degrees: planar, its label moves the same number of traces every row; listric,
  // it moves farther per row at depth than near the top.
  for (const double share : {0.0, 1.0}) {
    SynthOptions o = one_clean_fault(75);
    o.mode = "section";
    o.mute = 0;
    o.listric = share;
    o.listric_curvature = {2, 2};
    int64_t tested = 0;
    for (uint64_t seed = 0; seed < 16 && tested < 3; ++seed) {
      std::mt19937_64 rng = sample_rng(31, 0, seed);
      const SynthSection s = generate_section(o, rng);
      const auto where = [&](int64_t z) {  // mean labelled x of a row
        double sum = 0;
        int64_t n = 0;
        for (int64_t x = 0; x < 128; ++x)
          if (s.label[size_t(z * 128 + x)]) sum += double(x), ++n;
        return n ? sum / double(n) : std::nan("");
      };
      const double top = where(40) - where(20), bottom = where(110) - where(90);
      if (std::isnan(top) || std::isnan(bottom) || std::abs(where(90) - 64) > 50) continue;  // tips or edges
      if (share == 0) {
        EXPECT_NEAR(std::abs(top), std::abs(bottom), 1.5) << "seed " << seed;
      } else {
        EXPECT_GT(std::abs(bottom), 1.5 * std::abs(top) + 1) << "seed " << seed << ": top " << top << " bottom " << bottom;
      }
      ++tested;
    }
    EXPECT_EQ(tested, 3) << "too few seeds put the fault across rows 20-110 (listric " << share << ")";
  }
}

TEST(Synthetic, FaultZonesDimTheReflectorsBesideThePlane) {
  // A vertical fault in flat layers: with a zone of 4 samples the traces beside it are fainter than those 20
  // traces away; without, they are as strong.
  for (const double zone : {0.0, 4.0}) {
    SynthOptions o = one_clean_fault(90);
    o.mode = "section";
    o.mute = 0;
    o.fault_zone = {zone, zone};
    double ratio_sum = 0;
    int64_t tested = 0;
    for (uint64_t seed = 0; seed < 24 && tested < 4; ++seed) {
      std::mt19937_64 rng = sample_rng(41, 0, seed);
      const SynthSection s = generate_section(o, rng);
      int64_t fx = -1, count = 0;
      for (int64_t x = 0; x < 128; ++x)
        if (s.label[size_t(64 * 128 + x)]) fx = x, ++count;
      if (count != 1 || fx < 24 || fx > 103) continue;
      // Rows where the fault is labelled the whole way (a constant profile through the section).
      const double near = rms_of(column(s, fx - 1, 40, 88)) + rms_of(column(s, fx + 1, 40, 88));
      const double far = rms_of(column(s, fx - 20, 40, 88)) + rms_of(column(s, fx + 20, 40, 88));
      ratio_sum += near / far;
      ++tested;
    }
    ASSERT_GE(tested, 2) << "too few seeds put the fault in the middle (zone " << zone << ")";
    const double ratio = ratio_sum / double(tested);
    if (zone == 0)
      EXPECT_GT(ratio, 0.85);
    else
      EXPECT_LT(ratio, 0.8);
  }
}

TEST(Synthetic, TruncatedFaultsEndAgainstAnOlderFault) {
  // Two faults per section: when the younger one exists only on one side of the older one, about a quarter of
  // the labelled samples go (half of the younger fault's, on average).
  SynthOptions o;
  o.faults = {2, 2};
  o.mode = "section";
  o.mute = 0;
  double labelled[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    o.truncated = i;
    for (uint64_t seed = 0; seed < 96; ++seed) {
      std::mt19937_64 rng = sample_rng(51, 0, seed);
      const SynthSection s = generate_section(o, rng);
      labelled[i] += std::accumulate(s.label.begin(), s.label.end(), 0.0);
    }
  }
  EXPECT_LT(labelled[1], 0.9 * labelled[0]) << labelled[1] << " vs " << labelled[0];
  EXPECT_GT(labelled[1], 0.45 * labelled[0]) << labelled[1] << " vs " << labelled[0];
}

TEST(Synthetic, CoherentNoiseCrossesTheLayersWithoutLabels) {
  // Flat layers give identical traces; coherent noise events make them differ and label nothing.
  SynthOptions o = flat_layers();
  for (const double share : {0.0, 1.0}) {
    o.coherent_noise = share;
    double spread = 0;
    for (uint64_t seed = 0; seed < 4; ++seed) {
      std::mt19937_64 rng = sample_rng(61, 0, seed);
      const SynthSection s = generate_section(o, rng);
      EXPECT_EQ(std::accumulate(s.label.begin(), s.label.end(), 0), 0);
      const std::vector<double> a = column(s, 10);
      for (int64_t x = 11; x < 128; ++x) {
        const std::vector<double> b = column(s, x);
        for (size_t k = 0; k < a.size(); ++k) spread = std::max(spread, std::abs(a[k] - b[k]));
      }
    }
    if (share == 0)
      EXPECT_LT(spread, 1e-3);
    else
      EXPECT_GT(spread, 0.3);
  }
}

TEST(Synthetic, ReflectorAmplitudesVaryAlongTheReflectors) {
  // Flat layers: with reflector_variation the traces keep their shape (the same reflectors) but not their
  // strength.
  SynthOptions o = flat_layers();
  o.reflector_variation = {0.5, 0.5};
  double lowest_corr = 1, strength_ratio = 1;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    std::mt19937_64 rng = sample_rng(71, 0, seed);
    const SynthSection s = generate_section(o, rng);
    double lo = 1e9, hi = 0;
    for (int64_t x = 0; x < 128; x += 8) {
      const std::vector<double> c = column(s, x);
      lo = std::min(lo, rms_of(c));
      hi = std::max(hi, rms_of(c));
      lowest_corr = std::min(lowest_corr, correlation(c, column(s, (x + 8) % 128)));
    }
    strength_ratio = std::max(strength_ratio, hi / lo);
  }
  EXPECT_GT(strength_ratio, 1.3);
  EXPECT_GT(lowest_corr, 0.6);
}

TEST(Synthetic, MatchEstimatesTheSurvey) {
  REQUIRE_SEGY_DATA();
  const SegyVolume f3(seg("f3.sgy"));
  const SurveyStats st = survey_stats(f3);
  EXPECT_DOUBLE_EQ(st.interval_ms, 4.0);
  // F3's North Sea data peak at about 25-40 Hz: a period of 6-10 samples at 4 ms.
  EXPECT_GT(st.dominant_hz, 15);
  EXPECT_LT(st.dominant_hz, 50);
  EXPECT_GT(st.noise_fraction, 0);
  EXPECT_LT(st.noise_fraction, 0.8);
  SynthOptions o;
  const std::string said = o.match(f3);
  EXPECT_NE(said.find("dominant frequency"), std::string::npos);
  EXPECT_LE(o.period.lo, st.dominant_period);
  EXPECT_GE(o.period.hi, st.dominant_period);
  // segyio's small.sgy holds ramps (each sample its inline.crossline.sample number), not seismic: nothing to match.
  EXPECT_NE(error_of([&] { survey_stats(SegyVolume(seg("small.sgy"))); })
                .find("small.sgy: the traces' power lies at their lowest frequencies"),
            std::string::npos);
}

TEST(Synthetic, MatchReadsTheNoiseOfAnySurvey) {
  // A reflector series that carries on from trace to trace under noise of its own, of equal energy: half the
  // energy is noise, read from neighbouring traces on the grid, however many traces the survey has.
  const fs::path d = fresh_dir("match_noise");
  std::mt19937_64 rng(5);
  std::normal_distribution<float> noise(0.f, std::sqrt(0.5f));  // a unit sine's energy is 0.5 a sample
  const int64_t samples = 100;
  const auto survey = [&](const std::string& name, int64_t inlines, int64_t crosslines) {
    std::vector<float> data(size_t(inlines * crosslines * samples));
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = std::sin(2 * std::numbers::pi_v<float> * float(int64_t(i) % samples) / 10.f) + noise(rng);
    write_segy_cube((d / name).string(), data, inlines, crosslines, samples, 4, {"sine under noise"});
    return SegyVolume((d / name).string());
  };
  for (const auto& [name, inlines, crosslines] :
       {std::tuple{"small.sgy", int64_t(20), int64_t(20)}, {"large.sgy", 64, 64}, {"line.sgy", 1, 4500}}) {
    const SegyVolume v = survey(name, inlines, crosslines);
    EXPECT_EQ(v.is_line(), inlines == 1) << name;
    EXPECT_NEAR(neighbour_correlation(v), 0.5, 0.05) << name;
    const SurveyStats st = survey_stats(v);
    EXPECT_NEAR(st.noise_fraction, 0.5, 0.05) << name;
    EXPECT_NEAR(st.dominant_period, 10, 0.5) << name;
    SynthOptions o;
    o.match(v);
    EXPECT_LE(o.snr.lo, 1);  // signal / noise amplitude about 1, inside the range drawn
    EXPECT_GE(o.snr.hi, 1);
  }
  fs::remove_all(d);
}

TEST(Synthetic, MissingSamplesAreLeftOutOfMatchingAndStandardisation) {
  // Dead traces ("no data" written as NaN or infinity) would make every estimate NaN: they are left out and
  // counted, and the estimates are those of the other traces.
  const fs::path d = fresh_dir("match_nan");
  test::write_test_segy(d / "clean.sgy", 4, 6, 40);
  std::string bytes = bytes_of(d / "clean.sgy");
  const size_t trace_bytes = 240 + 40 * 4;
  const auto poke = [&](size_t trace, size_t sample, uint32_t word) {
    test::put_be(bytes, 3600 + trace * trace_bytes + 240 + sample * 4, word, 4);
  };
  poke(7, 3, 0x7fc00000u);   // NaN
  poke(15, 0, 0xff800000u);  // -infinity
  poke(20, 39, 0x7149f2cau); // 1e30, OpendTect's undefined value
  std::ofstream(d / "holed.sgy", std::ios::binary) << bytes;
  const SurveyStats clean = survey_stats(SegyVolume((d / "clean.sgy").string()));
  const SurveyStats holed = survey_stats(SegyVolume((d / "holed.sgy").string()));
  EXPECT_EQ(clean.skipped_traces, 0);
  EXPECT_EQ(holed.skipped_traces, 3);
  for (double v : {holed.dominant_period, holed.kurtosis, holed.noise_fraction}) EXPECT_TRUE(std::isfinite(v));
  EXPECT_EQ(holed.dominant_period, clean.dominant_period);
  SynthOptions o;
  EXPECT_NE(o.match(SegyVolume((d / "holed.sgy").string())).find("3 trace(s) with NaN, infinite or undefined (1e30) samples left out"),
            std::string::npos);
  // Every trace dead: an error that says so.
  for (size_t t = 0; t < 24; ++t) poke(t, 0, 0x7fc00000u);
  std::ofstream(d / "dead.sgy", std::ios::binary) << bytes;
  EXPECT_NE(error_of([&] { survey_stats(SegyVolume((d / "dead.sgy").string())); }).find("NaN, infinite or undefined"),
            std::string::npos);
  // A section: the same rule, and the finite samples standardised as they would be alone.
  std::vector<float> section = {1.f, 1e30f, 2.f, -1e30f, 4.f, std::numeric_limits<float>::quiet_NaN(), 8.f};
  std::vector<float> alone = {1.f, 2.f, 4.f, 8.f};
  EXPECT_EQ(standardise_section(section), 3u);
  EXPECT_EQ(standardise_section(alone), 0u);
  const std::vector<float> expect = {alone[0], 0.f, alone[1], 0.f, alone[2], 0.f, alone[3]};
  for (size_t i = 0; i < section.size(); ++i) EXPECT_FLOAT_EQ(section[i], expect[i]) << i;
  fs::remove_all(d);
}

// ---------------------------------------------------------------------------
// Scores

TEST(FaultScoresTest, PerfectShiftedAndUninformativePredictions) {
  const int64_t h = 40, w = 40;
  std::vector<uint8_t> label(size_t(h * w), 0);
  for (int64_t z = 0; z < h; ++z) label[size_t(z * w + 20)] = 1;  // a vertical fault at column 20
  std::vector<float> exact(label.begin(), label.end()), shifted(size_t(h * w), 0.f), flat(size_t(h * w), 0.3f);
  for (int64_t z = 0; z < h; ++z) shifted[size_t(z * w + 21)] = 1.f;
  FaultScores a(1), b(1), c(1);
  a.add(exact, label, h, w);
  b.add(shifted, label, h, w);
  c.add(flat, label, h, w);
  EXPECT_NEAR(a.strict().ap, 1.0, 1e-12);
  EXPECT_NEAR(a.strict().auroc, 1.0, 1e-12);
  EXPECT_NEAR(a.strict().best_f1, 1.0, 1e-12);
  EXPECT_NEAR(a.strict().iou, 1.0, 1e-12);
  // One sample off: nothing right exactly, everything right within one sample.
  EXPECT_LT(b.strict().ap, 0.05);
  EXPECT_NEAR(b.tolerant().ap, 1.0, 1e-12);
  EXPECT_NEAR(b.tolerant().best_f1, 1.0, 1e-12);
  // A constant probability: precision = the fault share at every recall, AUROC 0.5.
  EXPECT_NEAR(c.strict().ap, 1.0 / w, 1e-9);
  EXPECT_NEAR(c.strict().auroc, 0.5, 1e-9);
  // merge = one set
  FaultScores m(1);
  m.merge(a);
  m.merge(c);
  FaultScores both(1);
  both.add(exact, label, h, w);
  both.add(flat, label, h, w);
  EXPECT_EQ(m.strict().ap, both.strict().ap);
  EXPECT_EQ(m.tolerant().best_f1, both.tolerant().best_f1);
}

TEST(FaultScoresTest, ProbabilityCountsCountEachLevelAndTheMaximum) {
  ProbabilityCounts c({0.2, 0.5});
  const std::vector<float> a{0.1f, 0.2f, 0.49f, 0.5f}, b{0.9f, std::numeric_limits<float>::quiet_NaN(), 0.f, 0.3f};
  c.add(a);
  c.add(b);
  EXPECT_EQ(c.samples(), 8);
  EXPECT_EQ(c.at_least(0), 5);  // 0.2, 0.49, 0.5, 0.9, 0.3: a level counts from itself up
  EXPECT_EQ(c.at_least(1), 2);  // 0.5, 0.9; NaN reaches none
  EXPECT_FLOAT_EQ(c.max(), 0.9f);
  EXPECT_EQ(c.describe(), "max 0.9; of 8 samples, 5 (62.50%) >= 0.2, 2 (25.00%) >= 0.5");
  EXPECT_EQ(ProbabilityCounts({0.5}).describe(), "max 0; of 0 samples, 0 (0.00%) >= 0.5");
  EXPECT_THROW(ProbabilityCounts({0.5, 0.2}), Error);
  EXPECT_THROW(ProbabilityCounts({0.0}), Error);
}

// ---------------------------------------------------------------------------
// Tiled prediction

TEST(Synthetic, TraceSpectrumPeriods) {
  const int64_t n = 128;
  // A cosine of 8 cycles (period 16 samples) through the Hann taper: its power at the frequencies 7, 8 and 9
  // (1 : 4 : 1), nowhere else, so both periods are 16. Two equal cosines of periods 8 and 32 (frequencies 16 and
  // 4): the power-weighted mean frequency is 10, a centroid period of 12.8.
  std::vector<float> tone(static_cast<size_t>(n)), pair(static_cast<size_t>(n)), strided(static_cast<size_t>(3 * n), 0.f);
  for (int64_t k = 0; k < n; ++k) {
    tone[size_t(k)] = float(std::cos(2 * M_PI * double(k) / 16 + 0.3));
    pair[size_t(k)] = float(std::cos(2 * M_PI * double(k) / 8) + std::cos(2 * M_PI * double(k) / 32 + 1));
    strided[size_t(3 * k + 1)] = tone[size_t(k)];  // the middle trace of a 128 x 3 section
  }
  TraceSpectrum a(n), b(n), c(n), empty(n);
  ASSERT_TRUE(a.add(tone.data()));
  EXPECT_DOUBLE_EQ(a.peak_period(), 16);
  EXPECT_NEAR(a.centroid_period(), 16, 1e-6);
  ASSERT_TRUE(b.add(pair.data()));
  EXPECT_NEAR(b.centroid_period(), 12.8, 1e-6);
  ASSERT_TRUE(c.add(strided.data() + 1, 3));
  EXPECT_NEAR(c.centroid_period(), 16, 1e-6);
  EXPECT_NEAR(section_period(strided, n, 3), 16, 1e-6);  // the zero traces add no power
  // A section wider than kPeriodTraces is measured on every k-th trace, k = ceil(width / kPeriodTraces): here every
  // third of 1030, which carry the period-16 tone, while the others carry a period of 8.
  const int64_t wide = 1030;
  std::vector<float> section(static_cast<size_t>(n * wide));
  for (int64_t k = 0; k < n; ++k)
    for (int64_t t = 0; t < wide; ++t)
      section[size_t(k * wide + t)] = float(std::cos(2 * M_PI * double(k) / (t % 3 == 0 ? 16 : 8)));
  EXPECT_NEAR(section_period(section, n, wide), 16, 1e-6);
  // A trace with a missing sample adds nothing; with nothing added both periods are 0.
  tone[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(c.add(tone.data()));
  EXPECT_EQ(c.traces(), 1);
  EXPECT_NEAR(c.centroid_period(), 16, 1e-6);
  EXPECT_EQ(empty.peak_period(), 0);
  EXPECT_EQ(empty.centroid_period(), 0);
}

TEST(Synthetic, TraceSpectrumOfLongTracesAndOfTrends) {
  // A trace longer than kSpectrumWindow is measured in windows of it: a period-16 tone over 5,000 samples gives 16
  // as a window of it alone does (the windows' spectra are alike), and in time linear in the samples.
  const int64_t n = 5000;
  std::vector<float> tone(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) tone[size_t(k)] = float(std::cos(2 * M_PI * double(k) / 16 + 0.3));
  TraceSpectrum whole(n), window(kSpectrumWindow);
  ASSERT_TRUE(whole.add(tone.data()));
  ASSERT_TRUE(window.add(tone.data()));
  EXPECT_NEAR(whole.centroid_period(), 16, 0.01);
  EXPECT_NEAR(whole.centroid_period(), window.centroid_period(), 1e-3);
  EXPECT_NEAR(whole.wavelet_period(), whole.centroid_period(), 0);
  // A missing sample past the first window still leaves the trace out.
  tone[size_t(n - 3)] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(whole.add(tone.data()));
  EXPECT_EQ(whole.traces(), 1);
  // A ramp (a test pattern's sample numbers) or a cosine of one cycle has its power at the lowest frequencies: a
  // centroid period near the trace's length, which is no wavelet's, so no period to match. Two cycles are one.
  const int64_t m = 50;
  std::vector<float> ramp(static_cast<size_t>(m)), slow(static_cast<size_t>(m)), fast(static_cast<size_t>(m));
  for (int64_t k = 0; k < m; ++k) {
    ramp[size_t(k)] = 1.2f + 1e-5f * float(k);
    slow[size_t(k)] = float(std::cos(2 * M_PI * double(k) / double(m)));
    fast[size_t(k)] = float(std::cos(2 * M_PI * double(k) / 25));
  }
  for (const auto* trace : {&ramp, &slow}) {
    TraceSpectrum t(m);
    ASSERT_TRUE(t.add(trace->data()));
    EXPECT_GT(t.centroid_period(), double(m) / kMinWaveletCycles);
    EXPECT_EQ(t.wavelet_period(), 0);
    EXPECT_EQ(section_period(*trace, m, 1), 0);
  }
  TraceSpectrum f(m);
  ASSERT_TRUE(f.add(fast.data()));
  EXPECT_NEAR(f.wavelet_period(), 25, 1.5);
  // So a section of ramps is predicted at its own sampling, whatever the reference.
  const PeriodMatch match{16.9};
  EXPECT_EQ(match.scale(section_period(ramp, m, 1)), 1.0);
}

namespace {

// A section of h x w samples of unit Gaussian noise from `seed`.
std::vector<float> gaussian_section(int64_t h, int64_t w, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> x(size_t(h * w));
  for (float& v : x) v = g(rng);
  return x;
}

}  // namespace

TEST(PredictSection, ResampleTimeKeepsTheSignalAtItsNewSampling) {
  const int64_t h = 120, w = 2;
  std::vector<float> ramp(size_t(h * w)), wave(size_t(h * w)), flat(size_t(h * w), 3.5f);
  for (int64_t z = 0; z < h; ++z)
    for (int64_t t = 0; t < w; ++t) {
      ramp[size_t(z * w + t)] = float(z);
      wave[size_t(z * w + t)] = float(std::cos(2 * M_PI * double(z) / 40 + double(t)));  // period 40, 3 cycles
    }
  // Halving: output sample i lies at 2 i + 0.5 of the input; a ramp's triangle-weighted mean there is exactly
  // that, away from the mirrored borders. Doubling back interpolates linearly: the ramp again.
  const std::vector<float> half = resample_time(ramp, h, w, h / 2), back = resample_time(half, h / 2, w, h);
  for (int64_t i = 2; i < h / 2 - 2; ++i) ASSERT_NEAR(half[size_t(i * w + 1)], 2 * i + 0.5, 1e-4) << i;
  for (int64_t z = 4; z < h - 4; ++z) ASSERT_NEAR(back[size_t(z * w)], z, 1e-4) << z;
  for (float v : resample_time(flat, h, w, 37)) ASSERT_NEAR(v, 3.5f, 1e-5);
  // A cosine keeps its cycles: period 20 after halving, and halving then doubling returns it.
  const std::vector<float> wave_half = resample_time(wave, h, w, h / 2);
  EXPECT_NEAR(section_period(wave_half, h / 2, w), 20, 0.5);
  const std::vector<float> wave_back = resample_time(wave_half, h / 2, w, h);
  for (int64_t z = 4; z < h - 4; ++z)
    for (int64_t t = 0; t < w; ++t) ASSERT_NEAR(wave_back[size_t(z * w + t)], wave[size_t(z * w + t)], 0.05) << z;
  EXPECT_THROW(resample_time(wave, h, w + 1, 60), Error);
  // PeriodMatch: only sections of longer periods than the reference are shrunk, to the reference.
  EXPECT_EQ(PeriodMatch{}.scale(40), 1.0);
  EXPECT_EQ(PeriodMatch{16}.scale(12), 1.0);
  EXPECT_DOUBLE_EQ(PeriodMatch{16}.scale(40), 0.4);
}

TEST(PredictSection, TilesBlendToTheWholeSectionPrediction) {
  manual_seed(4);
  // A small receptive field (5 x 5): tiles with overlap see everything a pixel depends on, so the blend must
  // give the untiled prediction everywhere, seams included.
  const ModulePtr shallow = build_module(Config::parse(R"(
type: sequential
layers:
  - {type: conv2d, in_channels: 1, out_channels: 4, kernel: 3, padding: 1}
  - {type: relu}
  - {type: conv2d, in_channels: 4, out_channels: 1, kernel: 3, padding: 1}
)"));
  const int64_t h = 90, w = 230;
  const std::vector<float> x = gaussian_section(h, w, 1);
  const std::vector<float> whole = predict_section(*shallow, x, h, w, {512, 32});
  const std::vector<float> tiled = predict_section(*shallow, x, h, w, {64, 16});
  for (size_t i = 0; i < whole.size(); ++i) ASSERT_NEAR(whole[i], tiled[i], 1e-5) << i;
  // A U-Net (large receptive field): tiles see less context near their edges; the ramped blend keeps the
  // tiled prediction close to the untiled one away from the section's borders.
  const ModulePtr unet = build_module(
      Config::parse("{type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 2, batchnorm: false}"));
  const std::vector<float> uw = predict_section(*unet, x, h, w, {512, 32});
  const std::vector<float> ut = predict_section(*unet, x, h, w, {96, 40});
  double spread = 0, worst = 0;
  float lo = 1, hi = 0;
  for (float v : uw) lo = std::min(lo, v), hi = std::max(hi, v);
  spread = hi - lo;
  for (int64_t z = 12; z < h - 12; ++z)
    for (int64_t t = 12; t < w - 12; ++t) worst = std::max(worst, double(std::abs(uw[size_t(z * w + t)] - ut[size_t(z * w + t)])));
  EXPECT_GT(spread, 0.01);
  EXPECT_LT(worst, 0.1 * spread) << "worst " << worst << " of a spread of " << spread;
}

namespace {

// A section (h x w, row-major) seen in a mirror: trace t becomes trace w - 1 - t.
std::vector<float> mirror_traces(const std::vector<float>& v, int64_t h, int64_t w) {
  std::vector<float> m(v.size());
  for (int64_t z = 0; z < h; ++z)
    for (int64_t t = 0; t < w; ++t) m[size_t(z * w + t)] = v[size_t(z * w + w - 1 - t)];
  return m;
}

}  // namespace

TEST(PredictSection, MirrorTtaAveragesTheSectionAndItsMirrorImage) {
  manual_seed(5);
  const ModulePtr unet = build_module(
      Config::parse("{type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 2, batchnorm: false}"));
  const int64_t h = 70, w = 150;
  const std::vector<float> x = gaussian_section(h, w, 2);
  const auto mirror = [&](const std::vector<float>& v) { return mirror_traces(v, h, w); };
  const std::vector<float> mirrored = mirror(x);
  TileOptions plain{96, 32}, tta{96, 32};
  tta.tta = true;
  const std::vector<float> p = predict_section(*unet, x, h, w, plain);
  const std::vector<float> pm = mirror(predict_section(*unet, mirrored, h, w, plain));
  const std::vector<float> t = predict_section(*unet, x, h, w, tta);
  const std::vector<float> tm = mirror(predict_section(*unet, mirrored, h, w, tta));
  double differs = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    ASSERT_NEAR(t[i], 0.5f * (p[i] + pm[i]), 1e-5) << i;
    ASSERT_NEAR(t[i], tm[i], 1e-5) << i;  // mirror in, mirror out: the same probabilities
    differs = std::max(differs, double(std::abs(p[i] - pm[i])));
  }
  EXPECT_GT(differs, 1e-3) << "an untrained U-Net is not mirror-symmetric; the test would show nothing";
}

// inference.time_views: the mean of the section's predictions at each share of its samples in time, each on top
// of the volume's own time scale (inference.match_period), and each put back on the section's samples.
TEST(PredictSection, TimeViewsAverageTheSectionResampledInTime) {
  manual_seed(7);
  const int64_t h = 70, w = 52;
  const std::vector<float> x = gaussian_section(h, w, 4);
  const ModulePtr unet = build_module(
      Config::parse("{type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 2, batchnorm: false}"));
  for (const double time_scale : {1.0, 0.8}) {
    SCOPED_TRACE("time_scale " + std::to_string(time_scale));
    TileOptions one{96, 32}, views{96, 32};
    one.time_scale = views.time_scale = time_scale;
    views.time_views = {1, 0.7, 1.5};
    const std::vector<float> p = predict_section(*unet, x, h, w, views);
    std::vector<float> mean(p.size(), 0.f);
    for (const double v : views.time_views) {
      const int64_t rh = std::llround(double(h) * time_scale * v);
      TileOptions as_is{96, 32};
      const std::vector<float> q =
          resample_time(predict_section(*unet, resample_time(x, h, w, rh), rh, w, as_is), rh, w, h);
      for (size_t i = 0; i < q.size(); ++i) mean[i] += q[i] / float(views.time_views.size());
    }
    ASSERT_EQ(p.size(), size_t(h * w));
    double differs = 0;
    const std::vector<float> single = predict_section(*unet, x, h, w, one);
    for (size_t i = 0; i < p.size(); ++i) {
      ASSERT_NEAR(p[i], mean[i], 1e-5) << i;
      differs = std::max(differs, double(std::abs(p[i] - single[i])));
    }
    EXPECT_GT(differs, 1e-4) << "the resampled views should predict otherwise than the section alone";
  }
  // The option's checks.
  EXPECT_EQ(TileOptions::from_config(Config::parse("{}")).time_views, std::vector<double>{1});
  EXPECT_EQ(TileOptions::from_config(Config::parse("{time_views: [1, 0.7]}")).time_views, (std::vector<double>{1, 0.7}));
  for (const char* bad : {"{time_views: []}", "{time_views: [1, 0.2]}", "{time_views: [5]}", "{time_views: [0]}"})
    EXPECT_THROW(TileOptions::from_config(Config::parse(bad)), Error) << bad;
}

TEST(PredictSection, ShiftedViewsLineUpWithTheSection) {
  manual_seed(6);
  const int64_t h = 45, w = 77;
  const std::vector<float> x = gaussian_section(h, w, 3);
  // A pointwise network: every view, shifted or mirrored, must give each sample the same probability, so any
  // view put back one sample off would show.
  const ModulePtr pointwise = build_module(Config::parse(R"(
type: sequential
layers:
  - {type: conv2d, in_channels: 1, out_channels: 3, kernel: 1}
  - {type: relu}
  - {type: conv2d, in_channels: 3, out_channels: 1, kernel: 1}
)"));
  const std::vector<float> plain = predict_section(*pointwise, x, h, w, {64, 16});
  for (const bool tta : {false, true})
    for (const std::array<int64_t, 2> shift : {std::array<int64_t, 2>{1, 1}, {0, 5}, {3, 0}, {17, 9}}) {
      TileOptions o{64, 16};
      o.tta = tta;
      o.shift = shift;
      const std::vector<float> p = predict_section(*pointwise, x, h, w, o);
      for (size_t i = 0; i < p.size(); ++i)
        ASSERT_NEAR(p[i], plain[i], 1e-6) << "tta " << tta << ", shift " << shift[0] << "," << shift[1] << ", sample " << i;
    }
  // A U-Net is not shift-invariant (pooling, strided upsampling): the shifted view is another prediction. With
  // the shift along depth only, the frame stays symmetric left-right, so mirror in, mirror out holds for all
  // four views together.
  const ModulePtr unet = build_module(
      Config::parse("{type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 2, batchnorm: false}"));
  TileOptions one{96, 32}, shifted{96, 32};
  shifted.shift = {1, 1};
  const std::vector<float> a = predict_section(*unet, x, h, w, one), b = predict_section(*unet, x, h, w, shifted);
  double differs = 0;
  for (size_t i = 0; i < a.size(); ++i) differs = std::max(differs, double(std::abs(a[i] - b[i])));
  EXPECT_GT(differs, 1e-4) << "the shifted view should meet the network's grid differently";
  const auto mirror = [&](const std::vector<float>& v) { return mirror_traces(v, h, w); };
  TileOptions four{96, 32};
  four.tta = true;
  four.shift = {2, 0};
  const std::vector<float> f = predict_section(*unet, x, h, w, four), fm = mirror(predict_section(*unet, mirror(x), h, w, four));
  for (size_t i = 0; i < f.size(); ++i) ASSERT_NEAR(f[i], fm[i], 1e-5) << i;
  // The option's checks.
  EXPECT_EQ(TileOptions::from_config(Config::parse("{shift: [1, 2]}")).shift, (std::array<int64_t, 2>{1, 2}));
  EXPECT_EQ(TileOptions::from_config(Config::parse("{}")).shift, (std::array<int64_t, 2>{0, 0}));
  for (const char* bad : {"{shift: [1]}", "{shift: [1, 2, 3]}", "{shift: [-1, 0]}", "{shift: [0, 64]}"})
    EXPECT_THROW(TileOptions::from_config(Config::parse(bad)), Error) << bad;
}

// A cube (inlines x crosslines x samples, traces contiguous) mirrored along both trace axes.
std::vector<float> mirror_cube(const std::vector<float>& v, int64_t ni, int64_t nj, int64_t nk) {
  std::vector<float> m(v.size());
  for (int64_t i = 0; i < ni; ++i)
    for (int64_t j = 0; j < nj; ++j)
      for (int64_t k = 0; k < nk; ++k)
        m[size_t((i * nj + j) * nk + k)] = v[size_t(((ni - 1 - i) * nj + nj - 1 - j) * nk + k)];
  return m;
}

TEST(PredictCube, TilesBlendToTheWholeCubePrediction) {
  manual_seed(5);
  // One 3 x 3 x 3 convolution: tiles with overlap see everything a voxel depends on, so the blend must give the
  // untiled prediction everywhere, seams included.
  Conv3dOptions same;
  same.same = true;
  Conv3d conv(1, 1, {3, 3, 3}, same);
  const int64_t ni = 21, nj = 40, nk = 35;
  const std::vector<float> x = gaussian_section(ni * nj, nk, 2);
  TileOptions whole, tiled;
  whole.volume_tile = 128;
  tiled.volume_tile = 24, tiled.volume_overlap = 8;
  const std::vector<float> a = predict_cube(conv, x, ni, nj, nk, whole), b = predict_cube(conv, x, ni, nj, nk, tiled);
  ASSERT_EQ(a.size(), x.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5) << i;
  // With tta, the mean with the mirrored cube's prediction: the same for a cube and its mirror image.
  const ModulePtr unet = build_module(Config::parse("{type: unet3d, base: 2, depth: 2, batchnorm: false}"));
  TileOptions tta = tiled;
  tta.tta = true;
  const std::vector<float> p = predict_cube(*unet, x, ni, nj, nk, tta);
  const std::vector<float> pm =
      mirror_cube(predict_cube(*unet, mirror_cube(x, ni, nj, nk), ni, nj, nk, tta), ni, nj, nk);
  for (size_t i = 0; i < p.size(); ++i) ASSERT_NEAR(p[i], pm[i], 1e-5) << i;
  EXPECT_NE(p, predict_cube(*unet, x, ni, nj, nk, tiled));
  for (const char* bad : {"{volume_tile: 8}", "{volume_tile: 32, volume_overlap: 17}"})
    EXPECT_THROW(TileOptions::from_config(Config::parse(bad)), Error) << bad;
}

// A cube's sections stacked with their neighbours: the weights checked; a trace the mean of the defined samples of
// the traces present, renormalised; on a cube of known values, each direction's neighbours one grid step across
// the section (a diagonal's two sections away), read once while the sections are visited in order; and the
// neighbouring traces' correlation that decides whether a cube is stacked.
TEST(PredictCube, SectionsStackWithTheirNeighboursAcross) {
  EXPECT_EQ(TileOptions::from_config(Config::parse("{}")).neighbour_weights, (std::vector<float>{1, 2, 1}));
  EXPECT_EQ(TileOptions::from_config(Config::parse("{neighbour_weights: [1]}")).neighbour_weights,
            std::vector<float>{1});
  for (const char* bad : {"{neighbour_weights: [1, 2]}", "{neighbour_weights: []}", "{neighbour_weights: [1, -1, 1]}",
                          "{neighbour_weights: [1, 0, 1]}", "{neighbour_weights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}"})
    EXPECT_THROW(TileOptions::from_config(Config::parse(bad)), Error) << bad;

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a{1, 2, nan}, b{3, nan, nan}, c{5, 6, 1e30f};
  std::vector<float> out(3);
  stack_neighbours({a.data(), b.data(), c.data()}, {1, 2, 1}, 3, out.data());
  EXPECT_FLOAT_EQ(out[0], (1 + 6 + 5) / 4.f);
  EXPECT_FLOAT_EQ(out[1], (2 + 6) / 2.f);  // b missing here: a and c alone
  EXPECT_TRUE(std::isnan(out[2]));         // nothing defined
  stack_neighbours({nullptr, b.data(), c.data()}, {1, 2, 1}, 3, out.data());
  EXPECT_FLOAT_EQ(out[0], (6 + 5) / 3.f);  // no trace on one side

  // Trace (a, b) holds the samples 1000 a + b and 100000 + 1000 a + b.
  const int64_t ni = 5, nx = 7;
  std::vector<float> cube;
  for (int64_t i = 0; i < ni; ++i)
    for (int64_t j = 0; j < nx; ++j) cube.insert(cube.end(), {float(1000 * i + j), float(100000 + 1000 * i + j)});
  const fs::path d = fresh_dir("stack");
  write_segy_cube((d / "cube.sgy").string(), cube, ni, nx, 2, 4, {"stack test"});
  const SegyVolume vol((d / "cube.sgy").string());
  const std::map<std::string, std::array<int64_t, 2>> across{
      {"inline", {1, 0}}, {"crossline", {0, 1}}, {"diagonal", {1, -1}}, {"antidiagonal", {1, 1}}};
  for (const auto& [direction, step] : across) {
    SCOPED_TRACE(direction);
    StackedSections sections(vol, direction, {1, 2, 1});
    std::vector<float> stacked;
    for (int64_t k = 0; k < vol.sections(direction); ++k) {
      const SegyVolume::Section s = sections.read(k, stacked);
      const SegyVolume::Section plain = vol.section(direction, k);
      EXPECT_EQ(s.data, plain.data);
      EXPECT_EQ(s.trace_index, plain.trace_index);
      ASSERT_EQ(stacked.size(), plain.data.size());
      for (int64_t t = 0; t < s.width; ++t) {
        const int64_t trace = s.trace_index[size_t(t)];
        const int64_t i = trace / nx, j = trace % nx;  // the cube is written inline-major
        double sum = 0, weight = 0;
        for (const int64_t dd : {-1, 0, 1}) {
          const int64_t ni_ = i + dd * step[0], nj_ = j + dd * step[1];
          if (ni_ < 0 || ni_ >= ni || nj_ < 0 || nj_ >= nx) continue;
          sum += (dd == 0 ? 2 : 1) * double(1000 * ni_ + nj_);
          weight += dd == 0 ? 2 : 1;
        }
        EXPECT_NEAR(stacked[size_t(t)], sum / weight, 1e-3) << k << " " << t;
        EXPECT_NEAR(stacked[size_t(s.width + t)], 100000 + sum / weight, 1e-2) << k << " " << t;
      }
    }
  }
  // The correlation that decides: 1 for a trace and its double, -1 against its negative; about 0 between
  // independent noise and S / (S + N) for a signal under noise of its own; a pair with a missing sample or a
  // constant trace left out. The cube above: every pair alike.
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> signal(256), other(256), third(256);
  for (size_t i = 0; i < signal.size(); ++i) signal[i] = normal(rng), other[i] = normal(rng), third[i] = normal(rng);
  NeighbourCorrelation alike, independent, noisy, skipped;
  std::vector<float> twice(signal), negative(signal);
  for (float& v : twice) v = 2 * v + 5;
  for (float& v : negative) v = -v;
  alike.add(signal.data(), twice.data(), 256);
  EXPECT_NEAR(alike.mean(), 1, 1e-9);
  alike.add(signal.data(), negative.data(), 256);
  EXPECT_NEAR(alike.mean(), 0, 1e-9);  // (1 - 1) / 2
  independent.add(signal.data(), other.data(), 256);
  EXPECT_LT(std::fabs(independent.mean()), 0.2);
  std::vector<float> here(256), there(256);
  for (size_t i = 0; i < here.size(); ++i) here[i] = 2 * signal[i] + other[i], there[i] = 2 * signal[i] + third[i];
  noisy.add(here.data(), there.data(), 256);
  EXPECT_NEAR(noisy.mean(), 0.8, 0.1);  // S / (S + N) = 4 / 5
  std::vector<float> gap(signal), flat(256, 3.f);
  gap[7] = nan;
  skipped.add(gap.data(), signal.data(), 256);
  skipped.add(flat.data(), signal.data(), 256);
  EXPECT_EQ(skipped.pairs(), 0);
  EXPECT_EQ(skipped.mean(), 1);
  EXPECT_NEAR(neighbour_correlation(vol), 1, 1e-6);
  // The gate: weights where the correlation is below stack_below_correlation (1: always, 0: never) and the noise
  // differs from trace to trace, (1 - c1) / (1 - c2) at least stack_min_independence (0: whatever the noise).
  TileOptions gate = TileOptions::from_config(Config::parse("{}"));
  EXPECT_EQ(gate.stack_below_correlation, 0.95);
  EXPECT_EQ(gate.stack_min_independence, 0.4);
  EXPECT_TRUE(gate.stack_measured());
  const NeighbourCorrelations white{0.7, 0.68}, smoothed{0.9, 0.66}, clean{0.99, 0.97};
  EXPECT_NEAR(white.independence(), 0.9375, 1e-12);
  EXPECT_NEAR(smoothed.independence(), 0.1 / 0.34, 1e-12);
  EXPECT_EQ(NeighbourCorrelations{}.independence(), 1);
  EXPECT_EQ(gate.stack_weights(white), (std::vector<float>{1, 2, 1}));
  EXPECT_EQ(gate.stack_decision(white), StackDecision::stacked);
  EXPECT_EQ(gate.stack_weights(smoothed), std::vector<float>{1});
  EXPECT_EQ(gate.stack_decision(smoothed), StackDecision::smoothed_noise);
  EXPECT_EQ(gate.stack_weights(clean), std::vector<float>{1});
  EXPECT_EQ(gate.stack_decision(clean), StackDecision::clean);
  gate.stack_min_independence = 0;
  EXPECT_EQ(gate.stack_weights(smoothed), (std::vector<float>{1, 2, 1}));
  gate.stack_below_correlation = 1;
  EXPECT_FALSE(gate.stack_measured());
  EXPECT_EQ(gate.stack_weights(clean), (std::vector<float>{1, 2, 1}));
  gate.stack_below_correlation = 0;
  EXPECT_EQ(gate.stack_weights({-0.5, -0.5}), std::vector<float>{1});
  EXPECT_THROW(TileOptions::from_config(Config::parse("{stack_below_correlation: 1.5}")), Error);
  EXPECT_THROW(TileOptions::from_config(Config::parse("{stack_min_independence: -0.1}")), Error);

  // {1} reads each section alone, as does a 2-D line whatever the weights.
  StackedSections alone(vol, "inline", {1});
  std::vector<float> stacked;
  EXPECT_EQ(alone.read(2, stacked).data, stacked);
  fs::remove_all(d);
}

// ---------------------------------------------------------------------------
// The app

namespace {

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string faults_bin() { return std::string(STRATA_BIN_DIR) + "/strata-faults"; }

// report.csv row of `tolerance` (0 or the config's): the named column.
double report_value(const fs::path& csv, int tolerance, const std::string& column) {
  std::istringstream in(bytes_of(csv));
  std::string header, line;
  std::getline(in, header);
  std::vector<std::string> names;
  for (std::stringstream h(header); std::getline(h, line, ',');) names.push_back(line);
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    for (std::stringstream r(line); std::getline(r, header, ',');) cells.push_back(header);
    if (cells.size() > 1 && std::stoi(cells[1]) == tolerance)
      for (size_t i = 0; i < names.size() && i < cells.size(); ++i)
        if (names[i] == column) return std::stod(cells[i]);
  }
  return NAN;
}

const char* kTinyConfig = R"(
data:
  synthetic: {height: 48, width: 48, faults: [1, 2], throw: [4, 10], snr: [8, 20]}
  sections_per_epoch: 48
  val_sections: 6
  test_sections: 6
  workers: 1
model: {type: unet2d, in_channels: 1, classes: 1, base: 4, depth: 2}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 2, batch: 8, progress: false}
report: {panels: 2}
inference: {tile: 64, overlap: 16}
)";

}  // namespace

TEST(FaultsApp, TrainEvalGeneratePredictEndToEnd) {
  const fs::path d = fresh_dir("app");
  std::ofstream(d / "cfg.yaml") << kTinyConfig;
  const std::string bin = faults_bin(), log = " > " + (d / "log.txt").string() + " 2>&1";
  ASSERT_EQ(run(bin + " train --config " + (d / "cfg.yaml").string() + " --out " + (d / "run").string() + log), 0)
      << bytes_of(d / "log.txt");
  for (const char* f : {"best.safetensors", "last.safetensors", "metrics.csv", "loss.png", "config.yaml",
                        "val/report.csv", "val/pr.png", "val/panels.png", "test/report.csv", "test/pr.png"})
    EXPECT_TRUE(fs::is_regular_file(d / "run" / f)) << f;
  const double ap = report_value(d / "run" / "test" / "report.csv", 0, "ap");
  const double ap_tol = report_value(d / "run" / "test" / "report.csv", 1, "ap");
  EXPECT_GT(ap, 0.0);
  EXPECT_GE(ap_tol, ap);  // within a sample can only find more

  // eval without --data regenerates the same held-out sections: the training report's numbers.
  const std::string ckpt = (d / "run" / "best.safetensors").string();
  ASSERT_EQ(run(bin + " eval --checkpoint " + ckpt + " --out " + (d / "eval").string() + log), 0) << bytes_of(d / "log.txt");
  EXPECT_NEAR(report_value(d / "eval" / "report.csv", 0, "ap"), ap, 1e-9);
  // generate writes those sections as PNG pairs; eval --data on them agrees up to the 16-bit rounding and clip.
  ASSERT_EQ(run(bin + " generate --config " + (d / "cfg.yaml").string() + " --output " + (d / "gen").string() +
                " --count 6" + log),
            0)
      << bytes_of(d / "log.txt");
  EXPECT_TRUE(fs::is_regular_file(d / "gen" / "panels.png"));
  EXPECT_TRUE(fs::is_regular_file(d / "gen" / "images" / "section_5.png"));
  ASSERT_EQ(run(bin + " eval --checkpoint " + ckpt + " --data " + (d / "gen").string() + " --out " +
                (d / "eval_png").string() + log),
            0)
      << bytes_of(d / "log.txt");
  EXPECT_NEAR(report_value(d / "eval_png" / "report.csv", 0, "ap"), ap, 0.05);

  // The same sections as .npy arrays (float32 sections, 0 / 1 masks) score as the generator's own.
  fs::create_directories(d / "npy" / "images");
  fs::create_directories(d / "npy" / "masks");
  for (int i = 0; i < 6; ++i) {
    std::mt19937_64 rng = sample_rng(2002, 0, uint64_t(i));
    const SynthSection s = generate_section(SynthOptions::from_config(Config::parse(
                                                "{height: 48, width: 48, faults: [1, 2], throw: [4, 10], snr: [8, 20]}")),
                                            rng);
    write_npy((d / "npy" / "images" / ("s" + std::to_string(i) + ".npy")).string(), {48, 48}, s.seismic);
    write_npy((d / "npy" / "masks" / ("s" + std::to_string(i) + ".npy")).string(), {48, 48},
              std::vector<float>(s.label.begin(), s.label.end()));
  }
  ASSERT_EQ(run(bin + " eval --checkpoint " + ckpt + " --data " + (d / "npy").string() + " --out " +
                (d / "eval_npy").string() + log),
            0)
      << bytes_of(d / "log.txt");
  EXPECT_NEAR(report_value(d / "eval_npy" / "report.csv", 0, "ap"), ap, 1e-6);
  ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "npy" / "images" / "s0.npy").string() +
                " --output " + (d / "pred_npy").string() + log),
            0)
      << bytes_of(d / "log.txt");
  EXPECT_EQ(read_npy((d / "pred_npy" / "s0_prob.npy").string()).shape, (std::vector<int64_t>{48, 48}));

  // Time sampling (inference.match_period): the checkpoint holds its training sections' reference period. A
  // section of three times s0's period is predicted shrunk in time to the reference and its probabilities
  // stretched back, as predict_section on the resampled section gives them; a cube of long periods, the same
  // with one time scale for the cube. With the key false both are predicted as they are.
  {
    const Checkpoint ck = Checkpoint::load(ckpt);
    ASSERT_TRUE(ck.has("faults.period"));
    const double reference = std::stod(ck.get("faults.period"));
    EXPECT_GT(reference, 4);
    EXPECT_LT(reference, 20);
    const Config cfg = Config::parse(ck.get("faults.config"));
    const ModulePtr net = build_module(cfg.section("model"));
    ck.restore_module("model.", *net);
    const TileOptions tiles = TileOptions::from_config(cfg.section("inference"));
    const auto shrunk_prediction = [&](const std::vector<float>& x, int64_t height, int64_t width, double scale) {
      const int64_t h = std::llround(double(height) * scale);
      return resample_time(predict_section(*net, resample_time(x, height, width, h), h, width, tiles), h, width, height);
    };
    std::vector<float> x = resample_time(read_npy((d / "npy" / "images" / "s0.npy").string()).data, 48, 48, 144);
    fs::create_directories(d / "long");
    write_npy((d / "long" / "long.npy").string(), {144, 48}, x);
    for (const char* match : {"false", "true"})
      ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "long").string() + " --output " +
                    (d / (std::string("long_") + match)).string() + " inference.match_period=" + match + log),
                0)
          << bytes_of(d / "log.txt");
    EXPECT_NE(bytes_of(d / "log.txt").find("1 of 1 sections predicted resampled in time"), std::string::npos)
        << bytes_of(d / "log.txt");
    standardise_section(x);
    const double period = section_period(x, 144, 48);
    ASSERT_GT(period, reference);
    const std::vector<float> want = shrunk_prediction(x, 144, 48, reference / period),
                             got = read_npy((d / "long_true" / "long_prob.npy").string()).data,
                             plain = read_npy((d / "long_false" / "long_prob.npy").string()).data;
    ASSERT_EQ(got.size(), want.size());
    ASSERT_EQ(plain.size(), want.size());
    double moved = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-5) << i;
      moved = std::max(moved, double(std::fabs(got[i] - plain[i])));
    }
    EXPECT_GT(moved, 0.01);

    ASSERT_EQ(run(bin + " generate --config " + (d / "cfg.yaml").string() + " --output " + (d / "long_cube").string() +
                  " --cubes 1 data.synthetic.period=[28,34]" + log),
              0)
        << bytes_of(d / "log.txt");
    const std::string cube = (d / "long_cube" / "cube_0.sgy").string();
    for (const char* match : {"false", "true"})
      ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + cube + " --output " +
                    (d / (std::string("long_cube_") + match + ".sgy")).string() +
                    " --direction inline 'inference.neighbour_weights=[1]' inference.match_period=" + match + log),
                0)
          << bytes_of(d / "log.txt");
    EXPECT_NE(bytes_of(d / "log.txt").find("sections predicted resampled in time"), std::string::npos)
        << bytes_of(d / "log.txt");
    const SegyVolume vol(cube), out((d / "long_cube_true.sgy").string()), out_plain((d / "long_cube_false.sgy").string());
    TraceSpectrum spectrum(vol.samples());  // as predict measures a cube: every k-th trace, up to 512 of them
    ASSERT_EQ(kPeriodTraces, 512);
    for (int64_t i = 0; i < vol.traces(); i += (vol.traces() + 511) / 512) spectrum.add(vol.trace(i).data());
    const double cube_scale = reference / spectrum.centroid_period();
    ASSERT_LT(cube_scale, 1);
    moved = 0;
    for (int64_t k = 0; k < vol.sections("inline"); ++k) {
      SegyVolume::Section sec = vol.section("inline", k);
      standardise_section(sec.data);
      const std::vector<float> p = shrunk_prediction(sec.data, sec.samples, sec.width, cube_scale);
      for (int64_t t = 0; t < sec.width; ++t) {
        const std::vector<float> trace = out.trace(sec.trace_index[size_t(t)]),
                                 plain_trace = out_plain.trace(sec.trace_index[size_t(t)]);
        for (int64_t z = 0; z < sec.samples; ++z) {
          ASSERT_NEAR(trace[size_t(z)], p[size_t(z * sec.width + t)], 1e-5) << k << " " << t << " " << z;
          moved = std::max(moved, double(std::fabs(trace[size_t(z)] - plain_trace[size_t(z)])));
        }
      }
    }
    EXPECT_GT(moved, 0.01);
  }

  // Section images in, probability PNGs out.
  ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "gen" / "images").string() + " --output " +
                (d / "pred").string() + log),
            0)
      << bytes_of(d / "log.txt");
  EXPECT_TRUE(fs::is_regular_file(d / "pred" / "section_0_prob.png"));
  EXPECT_TRUE(fs::is_regular_file(d / "pred" / "section_0_overlay.png"));
  EXPECT_NE(bytes_of(d / "log.txt").find("fault probability: max "), std::string::npos) << bytes_of(d / "log.txt");

  // A cube with PNGs of 70 sections: one PNG each, and an overview of 12 of them side by side (all 70 would make
  // a figure wider than the figure code draws).
  {
    test::write_test_segy(d / "wide.sgy", 70, 40, 24);
    std::string sections;
    for (int i = 0; i < 70; ++i) sections += (i ? "," : "") + std::to_string(i);
    ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "wide.sgy").string() + " --output " +
                  (d / "wide_faults.sgy").string() + " --png " + (d / "wide_png").string() + " --sections " +
                  sections + " inference.tta=false 'inference.shift=[0, 0]'" + log),
              0)
        << bytes_of(d / "log.txt");
    EXPECT_TRUE(fs::is_regular_file(d / "wide_png" / "wide_inline_69.png"));
    const ImageInfo one = image_info((d / "wide_png" / "wide_inline_0.png").string());
    const ImageInfo overview = image_info((d / "wide_png" / "wide_inline_overview.png").string());
    EXPECT_LT(overview.width, 12 * one.width);
    EXPECT_GT(overview.width, 3 * one.width);
  }

  // A folder of SEG-Y files (2-D lines and a cube): each into the --output folder under its own name, as
  // predicting it alone writes it; --output naming a file is refused.
  {
    const std::string one_view = " inference.tta=false 'inference.shift=[0, 0]'";
    fs::create_directories(d / "surveys");
    test::write_test_segy(d / "surveys" / "line_a.sgy", 1, 48, 40);
    test::write_test_segy(d / "surveys" / "cube_b.segy", 3, 36, 40);
    std::ofstream(d / "surveys" / "notes.txt") << "not seismic\n";
    ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "surveys").string() + " --output " +
                  (d / "surveys_faults").string() + one_view + log),
              0)
        << bytes_of(d / "log.txt");
    for (const char* f : {"line_a.sgy", "cube_b.segy"}) {
      const fs::path alone = d / (std::string("alone_") + f);
      ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "surveys" / f).string() + " --output " +
                    alone.string() + one_view + log),
                0)
          << bytes_of(d / "log.txt");
      EXPECT_EQ(bytes_of(d / "surveys_faults" / f), bytes_of(alone)) << f;
    }
    EXPECT_FALSE(fs::exists(d / "surveys_faults" / "notes.txt"));
    std::ofstream(d / "taken.sgy") << "x";
    EXPECT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "surveys").string() + " --output " +
                  (d / "taken.sgy").string() + log),
              1);
    EXPECT_NE(bytes_of(d / "log.txt").find("holds SEG-Y files, so --output names a folder"), std::string::npos)
        << bytes_of(d / "log.txt");
    EXPECT_EQ(bytes_of(d / "taken.sgy"), "x");
  }

  // A labelled synthetic cube: predicted on inlines, crosslines, both (the chance either marks a sample) and all
  // four directions (the inlines' and the diagonals' sections stacked here and predicted one by one as .npy files),
  // and scored by eval as it is predicted. One view of each section (no mirror or shift) in every command, which
  // the checks compare among themselves: a quarter of the work (the sanitizer build runs this test too).
  {
    // Every section stacked with its neighbours (inference.stack_below_correlation=1: this clean cube's traces
    // correlate too well for the default to stack it, checked below).
    const std::string one_view = " inference.tta=false 'inference.shift=[0, 0]' inference.stack_below_correlation=1";
    ASSERT_EQ(run(bin + " generate --config " + (d / "cfg.yaml").string() + " --output " + (d / "cubes").string() +
                  " --cubes 1" + log),
              0)
        << bytes_of(d / "log.txt");
    const std::string cube = (d / "cubes" / "cube_0.sgy").string(), labels = (d / "cubes" / "cube_0_faults.sgy").string();
    std::map<std::string, std::vector<float>> prob;
    for (const char* direction : {"inline", "crossline", "both", "all"}) {
      const fs::path out = d / (std::string("cube_") + direction + ".sgy");
      ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + cube + " --output " + out.string() +
                    " --direction " + direction + one_view + log),
                0)
          << bytes_of(d / "log.txt");
      const SegyVolume back(out.string());
      ASSERT_EQ(back.traces(), 48 * 48);
      for (int64_t i = 0; i < back.traces(); ++i) {
        const std::vector<float> t = back.trace(i);
        prob[direction].insert(prob[direction].end(), t.begin(), t.end());
      }
    }
    EXPECT_NE(prob["inline"], prob["crossline"]);
    for (size_t i = 0; i < prob["both"].size(); ++i)
      ASSERT_NEAR(prob["both"][i], 1.f - (1.f - prob["inline"][i]) * (1.f - prob["crossline"][i]), 1e-6f) << i;
    const SegyVolume vol(cube);
    ASSERT_EQ(vol.traces(), 48 * 48);
    const int64_t samples = vol.samples();
    // A section as predict stacks it by default: each trace with the traces one grid step across the section on
    // either side, weighted 1 / 2 / 1 (renormalised where a neighbour lies outside the cube). The step across an
    // inline is the next inline, across a diagonal (inline and crossline index rising together) (1, -1), across
    // an antidiagonal (1, 1).
    std::vector<std::array<int64_t, 2>> cell_of(size_t(vol.traces()));
    for (int64_t a = 0; a < 48; ++a)
      for (int64_t b = 0; b < 48; ++b) cell_of[size_t(vol.trace_at(a, b))] = {a, b};
    const std::map<std::string, std::array<int64_t, 2>> across{
        {"inline", {1, 0}}, {"crossline", {0, 1}}, {"diagonal", {1, -1}}, {"antidiagonal", {1, 1}}};
    const auto stacked = [&](const std::string& direction, int64_t k) {
      SegyVolume::Section s = vol.section(direction, k);
      for (int64_t t = 0; t < s.width; ++t) {
        const auto [a, b] = cell_of[size_t(s.trace_index[size_t(t)])];
        std::vector<float> sum(size_t(samples), 0.f);
        float weight = 0;
        for (const int64_t step : {-1, 0, 1}) {
          const int64_t na = a + step * across.at(direction)[0], nb = b + step * across.at(direction)[1];
          if (na < 0 || na >= 48 || nb < 0 || nb >= 48) continue;
          const float w = step == 0 ? 2.f : 1.f;
          const std::vector<float> tr = vol.trace(vol.trace_at(na, nb));
          for (int64_t z = 0; z < samples; ++z) sum[size_t(z)] += w * tr[size_t(z)];
          weight += w;
        }
        for (int64_t z = 0; z < samples; ++z) s.data[size_t(z * s.width + t)] = sum[size_t(z)] / weight;
      }
      return s;
    };
    // "inline": every inline section stacked and predicted as a section file.
    {
      const fs::path in = d / "sections_inline", out = d / "pred_inline";
      fs::create_directories(in);
      for (int64_t k = 0; k < 48; ++k) {
        const SegyVolume::Section s = stacked("inline", k);
        write_npy((in / ("s" + std::to_string(k) + ".npy")).string(), {s.samples, s.width}, s.data);
      }
      ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + in.string() + " --output " + out.string() +
                    one_view + log),
                0)
          << bytes_of(d / "log.txt");
      double unstacked_change = 0;
      // A cube's inlines predicted with `settings`, every trace's probabilities in file order.
      const auto inlines = [&](const std::string& cube_path, const std::string& settings) {
        const fs::path o = d / "cube_inline.sgy";
        EXPECT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + cube_path + " --output " + o.string() +
                      " --direction inline" + settings + log),
                  0)
            << bytes_of(d / "log.txt");
        std::vector<float> all;
        const SegyVolume back(o.string());
        for (int64_t i = 0; i < back.traces(); ++i) {
          const std::vector<float> t = back.trace(i);
          all.insert(all.end(), t.begin(), t.end());
        }
        return all;
      };
      const std::string plain_view = " inference.tta=false 'inference.shift=[0, 0]'";
      const std::vector<float> alone = inlines(cube, " 'inference.neighbour_weights=[1]'" + one_view);
      ASSERT_EQ(alone.size(), prob["inline"].size());
      // By default this cube is predicted unstacked: its neighbouring traces correlate above 0.95.
      EXPECT_EQ(inlines(cube, plain_view), alone);
      EXPECT_NE(bytes_of(d / "log.txt").find("(at least 0.95): each section predicted alone"), std::string::npos)
          << bytes_of(d / "log.txt");
      EXPECT_GT(neighbour_correlation(vol), 0.95);
      // A cube of the same generator under white noise is stacked by default, and not with
      // inference.stack_below_correlation=0.
      ASSERT_EQ(run(bin + " generate --config " + (d / "cfg.yaml").string() + " --output " +
                    (d / "noisy_cubes").string() + " --cubes 1 'data.synthetic.snr=[0.5,0.5]' " +
                    "'data.synthetic.noise_smooth=[0,0]'" + log),
                0)
          << bytes_of(d / "log.txt");
      const std::string noisy_cube = (d / "noisy_cubes" / "cube_0.sgy").string();
      EXPECT_LT(neighbour_correlation(SegyVolume(noisy_cube)), 0.95);
      EXPECT_GT(NeighbourCorrelations::of(SegyVolume(noisy_cube)).independence(), 0.8);
      const std::vector<float> noisy_alone = inlines(noisy_cube, plain_view + " 'inference.neighbour_weights=[1]'");
      EXPECT_NE(inlines(noisy_cube, plain_view), noisy_alone);
      EXPECT_NE(bytes_of(d / "log.txt").find("noise that differs from trace to trace; each section predicted stacked"),
                std::string::npos)
          << bytes_of(d / "log.txt");
      EXPECT_EQ(inlines(noisy_cube, plain_view + " inference.stack_below_correlation=0"), noisy_alone);
      // Under noise smoothed across traces, which neighbours share, each section is predicted alone, unless
      // inference.stack_min_independence=0.
      ASSERT_EQ(run(bin + " generate --config " + (d / "cfg.yaml").string() + " --output " +
                    (d / "smooth_cubes").string() + " --cubes 1 'data.synthetic.snr=[0.5,0.5]' " +
                    "'data.synthetic.noise_smooth=[2,2]'" + log),
                0)
          << bytes_of(d / "log.txt");
      const std::string smooth_cube = (d / "smooth_cubes" / "cube_0.sgy").string();
      const NeighbourCorrelations smooth = NeighbourCorrelations::of(SegyVolume(smooth_cube));
      EXPECT_LT(smooth.one, 0.95);
      EXPECT_LT(smooth.independence(), 0.4);
      const std::vector<float> smooth_alone = inlines(smooth_cube, plain_view + " 'inference.neighbour_weights=[1]'");
      EXPECT_EQ(inlines(smooth_cube, plain_view), smooth_alone);
      EXPECT_NE(bytes_of(d / "log.txt").find("noise smoothed across traces (independence"), std::string::npos)
          << bytes_of(d / "log.txt");
      EXPECT_NE(inlines(smooth_cube, plain_view + " inference.stack_min_independence=0"), smooth_alone);
      for (int64_t k = 0; k < 48; ++k) {
        const std::vector<float> p = read_npy((out / ("s" + std::to_string(k) + "_prob.npy")).string()).data;
        const std::vector<int64_t> traces = vol.section_traces("inline", k);
        ASSERT_EQ(p.size(), size_t(samples * 48));
        for (int64_t t = 0; t < 48; ++t)
          for (int64_t z = 0; z < samples; ++z) {
            const size_t i = size_t(traces[size_t(t)] * samples + z);
            ASSERT_NEAR(prob["inline"][i], p[size_t(z * 48 + t)], 1e-5f) << k << " " << t << " " << z;
            unstacked_change = std::max(unstacked_change, double(std::fabs(alone[i] - prob["inline"][i])));
          }
      }
      EXPECT_GT(unstacked_change, 0.01);  // stacking changes the prediction
    }
    // "all": the diagonals' sections of 8 traces or more, each stacked and predicted as a section file, and where
    // both diagonals through a trace were predicted, the pairs' chances that neither marks a sample averaged
    // geometrically, 3/4 on the inline and crossline pair; elsewhere the inline and crossline decide.
    {
      std::vector<float> diagonal_pair(size_t(vol.traces() * samples), 1.f);
      std::vector<int> diagonals(size_t(vol.traces()), 0);
      int64_t diagonal_sections = 0;
      for (const char* direction : {"diagonal", "antidiagonal"}) {
        const fs::path in = d / (std::string("sections_") + direction), out = d / (std::string("pred_") + direction);
        fs::create_directories(in);
        std::vector<SegyVolume::Section> kept;
        for (int64_t k = 0; k < vol.sections(direction); ++k) {
          SegyVolume::Section s = stacked(direction, k);
          if (s.width < 8) continue;
          write_npy((in / ("s" + std::to_string(kept.size()) + ".npy")).string(), {s.samples, s.width}, s.data);
          kept.push_back(std::move(s));
        }
        ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + in.string() + " --output " + out.string() +
                      one_view + log),
                  0)
            << bytes_of(d / "log.txt");
        for (size_t j = 0; j < kept.size(); ++j) {
          const SegyVolume::Section& s = kept[j];
          const std::vector<float> p = read_npy((out / ("s" + std::to_string(j) + "_prob.npy")).string()).data;
          ASSERT_EQ(p.size(), size_t(s.samples * s.width));
          for (int64_t t = 0; t < s.width; ++t) {
            const int64_t trace = s.trace_index[size_t(t)];
            ++diagonals[size_t(trace)];
            for (int64_t z = 0; z < samples; ++z)
              diagonal_pair[size_t(trace * samples + z)] *= 1.f - p[size_t(z * s.width + t)];
          }
        }
        diagonal_sections += int64_t(kept.size());
      }
      EXPECT_EQ(diagonal_sections, 2 * (2 * 48 - 1 - 2 * 7));  // all but the 7 shortest at each end
      double largest_change = 0;
      int64_t corner_traces = 0;
      for (int64_t trace = 0; trace < vol.traces(); ++trace) {
        corner_traces += diagonals[size_t(trace)] < 2;
        for (int64_t z = 0; z < samples; ++z) {
          const size_t i = size_t(trace * samples + z);
          const float pair = (1.f - prob["inline"][i]) * (1.f - prob["crossline"][i]);
          const float want = diagonals[size_t(trace)] < 2
                                 ? 1.f - pair
                                 : 1.f - std::pow(pair, 0.75f) * std::pow(diagonal_pair[i], 0.25f);
          ASSERT_NEAR(prob["all"][i], want, 1e-5f) << trace << " " << z;
          largest_change = std::max(largest_change, double(std::fabs(prob["all"][i] - prob["both"][i])));
        }
      }
      EXPECT_EQ(corner_traces, 4 * 28);  // 1 + 2 + ... + 7 traces in each corner
      EXPECT_GT(largest_change, 0.01);  // the diagonals change the prediction
    }
    const SegyVolume lab(labels);
    int64_t faults = 0;
    for (int64_t i = 0; i < lab.traces(); ++i)
      for (float v : lab.trace(i)) faults += v > 0.5f;
    EXPECT_GT(faults, 0);
    ASSERT_EQ(run(bin + " eval --checkpoint " + ckpt + " --data " + cube + " --labels " + labels +
                  " --direction both --out " + (d / "eval_cube").string() + one_view + log),
              0)
        << bytes_of(d / "log.txt");
    EXPECT_EQ(report_value(d / "eval_cube" / "report.csv", 0, "fault_pixels"), double(faults));
    EXPECT_EQ(report_value(d / "eval_cube" / "report.csv", 0, "pixels"), double(48 * 48 * 48));
    EXPECT_GT(report_value(d / "eval_cube" / "report.csv", 0, "ap"), 0.0);
    EXPECT_TRUE(fs::is_regular_file(d / "eval_cube" / "panels.png"));
    EXPECT_EQ(run(bin + " eval --checkpoint " + ckpt + " --data " + cube + log), 2);  // no --labels
    EXPECT_NE(bytes_of(d / "log.txt").find("needs --labels"), std::string::npos) << bytes_of(d / "log.txt");
    EXPECT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + cube + " --output " +
                  (d / "x.sgy").string() + " --direction diagonal" + log),
              2);
    EXPECT_NE(bytes_of(d / "log.txt").find("want all, both, inline or crossline"), std::string::npos);
  }

  // The ExternalAttrib protocol from a file on stdin (40-byte SeisInfo, told apart by the default --seisinfo auto);
  // tests/test_opendtect.cpp drives the installed wrapper as the plugin itself does.
  {
    ASSERT_EQ(run(bin + " opendtect --checkpoint " + ckpt + " -g > " + (d / "g.txt").string() + " 2>&1"), 0);
    const std::string json = url_unquote(bytes_of(d / "g.txt"));
    for (const char* key : {"\"Output\":[\"Fault probability\"]", "\"StepOut\"", "\"ZSampMargin\"", "\"Select\""})
      EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
    // A synthetic section as a 3 x 48 survey (the same line on 3 inlines); three traces with a step-out of 1
    // inline and 8 crosslines around them, as the plugin sends them; Selection 0 = the inline section alone.
    std::mt19937_64 rng = sample_rng(9, 0, 0);
    SynthOptions so;
    so.height = 40;
    so.width = 48;
    const SynthSection sec = generate_section(so, rng);
    const int32_t nrinl = 3, nrcrl = 17, ns = 40;
    std::string in;
    const auto put = [&](const void* p, size_t n) { in.append(static_cast<const char*>(p), n); };
    const int32_t si_ints[5] = {nrinl * nrcrl, 1, 1, nrinl, nrcrl};
    const float si_floats[5] = {0.004f, 25, 25, 1, 1};
    put(si_ints, 20);
    put(si_floats, 20);
    const Checkpoint ck = Checkpoint::load(ckpt);
    const Config cfg = Config::parse(ck.get("faults.config"));
    const ModulePtr net = build_module(cfg.section("model"));
    ck.restore_module("model.", *net);
    const TileOptions tiles = TileOptions::from_config(cfg.section("inference"));
    std::vector<float> expected;
    const std::vector<int32_t> centres{8, 20, 39};
    for (int32_t c : centres) {
      const int32_t ti[4] = {ns, 0, 1, c};
      put(ti, 16);
      std::vector<float> window(size_t(ns * nrcrl));  // the inline section the attribute should see
      for (int32_t il = 0; il < nrinl; ++il)
        for (int32_t k = 0; k < nrcrl; ++k) {
          const int32_t x = c - nrcrl / 2 + k;
          for (int32_t z = 0; z < ns; ++z) {
            // 1e30, OpendTect's undefined value in its files, is missing: left out of the standardisation and 0
            // after it (the plugin itself sends 0 for undefined samples).
            const float v = x >= 0 && x < 48 ? sec.seismic[size_t(z * 48 + x)] : 1e30f;
            put(&v, 4);
            if (il == 0)
              window[size_t(z * nrcrl + k)] = x >= 0 && x < 48 ? v : std::numeric_limits<float>::quiet_NaN();
          }
        }
      standardise(window);
      const std::vector<float> p = predict_section(*net, window, ns, nrcrl, tiles);
      for (int32_t z = 0; z < ns; ++z) expected.push_back(p[size_t(z * nrcrl + nrcrl / 2)]);
    }
    std::ofstream(d / "in.bin", std::ios::binary) << in;
    const std::string params = url_quote("{\"Select\": {\"Selection\": 0}}");
    ASSERT_EQ(run(bin + " opendtect --checkpoint " + ckpt + " -c '" + params + "' < " + (d / "in.bin").string() +
                  " > " + (d / "out.bin").string() + " 2> " + (d / "od.log").string()),
              0)
        << bytes_of(d / "od.log");
    const std::string out = bytes_of(d / "out.bin");
    ASSERT_EQ(out.size(), expected.size() * 4) << bytes_of(d / "od.log");
    std::vector<float> got(expected.size());
    std::memcpy(got.data(), out.data(), out.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-6) << i;
    EXPECT_NE(bytes_of(d / "od.log").find("computed 3 traces"), std::string::npos);
    // A stream cut inside a trace's samples is an error, not a silent partial answer.
    std::ofstream(d / "cut.bin", std::ios::binary) << in.substr(0, in.size() - 10);
    EXPECT_EQ(run(bin + " opendtect --checkpoint " + ckpt + " -c '" + params + "' < " + (d / "cut.bin").string() +
                  " > /dev/null 2> " + (d / "od.log").string()),
              1);
    EXPECT_NE(bytes_of(d / "od.log").find("input ended inside the samples of trace 2"), std::string::npos)
        << bytes_of(d / "od.log");
  }

  if (!fs::is_regular_file(segy_dir() / "f3.sgy")) {
    fs::remove_all(d);
    GTEST_SKIP() << "SKIPPED LOUDLY (SEG-Y part): " << segy_dir() << " is absent (set STRATA_DATA=DIR)";
  }
  // data.match: the generator's ranges from a real survey, printed, and recorded in the written config.
  ASSERT_EQ(run(bin + " generate --config " + (d / "cfg.yaml").string() + " --output " + (d / "gen_f3").string() +
                " --count 2 data.match=" + seg("f3.sgy") + log),
            0)
      << bytes_of(d / "log.txt");
  EXPECT_NE(bytes_of(d / "log.txt").find("dominant frequency"), std::string::npos) << bytes_of(d / "log.txt");
  // SEG-Y in, SEG-Y out: the input's headers and geometry, probabilities in [0, 1].
  for (const char* direction : {"inline", "crossline"}) {
    const fs::path out = d / (std::string("f3_faults_") + direction + ".sgy");
    ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + seg("f3-lsb.sgy") + " --output " +
                  out.string() + " --direction " + direction + " --png " + (d / "png").string() + " --sections 0,3" + log),
              0)
        << bytes_of(d / "log.txt");
    const SegyVolume in(seg("f3-lsb.sgy")), back(out.string());
    EXPECT_EQ(back.traces(), in.traces());
    EXPECT_EQ(back.samples(), in.samples());
    EXPECT_EQ(back.inlines(), in.inlines());
    EXPECT_EQ(back.crosslines(), in.crosslines());
    EXPECT_EQ(back.text_bytes(), in.text_bytes());
    ProbabilityCounts counts({0.2, 0.5});
    for (int64_t i = 0; i < in.traces(); ++i) {
      ASSERT_EQ(back.trace_header(i), in.trace_header(i)) << i;
      const std::vector<float> trace = back.trace(i);
      for (float p : trace) ASSERT_TRUE(p >= 0 && p <= 1) << p;
      counts.add(trace);
    }
    // The summary predict prints is the one of the file it wrote.
    EXPECT_NE(bytes_of(d / "log.txt").find("fault probability: " + counts.describe()), std::string::npos)
        << counts.describe() << " in " << bytes_of(d / "log.txt");
    EXPECT_TRUE(fs::is_regular_file(d / "png" / (std::string("f3-lsb_") + direction + "_3.png")));
  }
  fs::remove_all(d);
}

// The shipped config, reduced to seconds (the full run is in docs/faults.md): the generator's variety in half
// of the training sections; the log says so, and the resolved config keeps only the keys given (so the run
// resumes from it), an override among them.
TEST(FaultsApp, ShippedConfigRunsReduced) {
  const fs::path d = fresh_dir("shipped");
  // A shipped config (faults_synthetic unless `config` names another) for one epoch of 16 sections into d/out
  // with `extra` overrides; its log is d/log.txt.
  const auto train_reduced = [&](const std::string& out, const std::string& extra,
                                 const std::string& config = "faults_synthetic") {
    return run(faults_bin() + " train --config " + std::string(STRATA_SOURCE_DIR) + "/configs/" + config +
               ".yaml --out " + (d / out).string() +
               " train.epochs=1 data.sections_per_epoch=16 data.val_sections=2 train.progress=false " + extra + " > " +
               (d / "log.txt").string() + " 2>&1");
  };
  ASSERT_EQ(train_reduced("run", "data.test_sections=2 'data.train_synthetic.wavelets=[ormsby, morlet]'"), 0)
      << bytes_of(d / "log.txt");
  EXPECT_TRUE(fs::is_regular_file(d / "run" / "best.safetensors"));
  EXPECT_NE(bytes_of(d / "log.txt").find("training generator (data.train_synthetic, 0.5 of the sections)"),
            std::string::npos)
      << bytes_of(d / "log.txt");
  // The training generator carries data.synthetic's keys (the shipped mixed_phase) beside its own.
  EXPECT_NE(bytes_of(d / "log.txt").find("wavelets ormsby morlet, mixed wavelets centred, dense reflectivity 0.3"),
            std::string::npos)
      << bytes_of(d / "log.txt");
  const Config resolved = Config::load((d / "run" / "config.yaml").string());
  EXPECT_EQ(resolved.section("data").section("train_synthetic").keys(),
            (std::vector<std::string>{"wavelets", "dense_reflectivity", "reflector_variation", "listric", "fault_zone",
                                      "truncated", "coherent_noise", "share"}));
  // share 0: plain training sections only, and the log says what they are.
  ASSERT_EQ(train_reduced("plain", "data.test_sections=0 data.train_synthetic.share=0"), 0) << bytes_of(d / "log.txt");
  EXPECT_EQ(bytes_of(d / "log.txt").find("training generator"), std::string::npos) << bytes_of(d / "log.txt");
  EXPECT_NE(bytes_of(d / "log.txt").find("training sections have [0, 10] faults (data.train_faults)"),
            std::string::npos)
      << bytes_of(d / "log.txt");
  // A network of other input channels or outputs: the key is named before training starts.
  EXPECT_NE(train_reduced("channels", "data.test_sections=0 model.in_channels=3"), 0);
  EXPECT_NE(bytes_of(d / "log.txt").find("model.in_channels is 3: strata-faults feeds the network one channel"),
            std::string::npos)
      << bytes_of(d / "log.txt");
  EXPECT_NE(train_reduced("classes", "data.test_sections=0 model.classes=2"), 0);
  EXPECT_NE(bytes_of(d / "log.txt").find("model.classes is 2: strata-faults trains one output"), std::string::npos)
      << bytes_of(d / "log.txt");
  EXPECT_FALSE(fs::exists(d / "classes" / "last.safetensors"));
  // A model type without those keys (the sequential network of faults_dense.yaml) trains and is not given them.
  ASSERT_EQ(train_reduced("dense", "data.test_sections=0", "faults_dense"), 0) << bytes_of(d / "log.txt");
  const Config dense_model = Config::load((d / "dense" / "config.yaml").string()).section("model");
  EXPECT_FALSE(dense_model.has("in_channels"));
  EXPECT_FALSE(dense_model.has("classes"));
  fs::remove_all(d);
}

// A 3-D model (configs/faults_volume.yaml, reduced): trains on cubes, scores and predicts a SEG-Y cube whose
// sizes are not multiples of its tiles, and the routes that take sections say they need a 2-D model.
TEST(FaultsApp, VolumeModelTrainsOnCubesAndPredictsACube) {
  const fs::path d = fresh_dir("volume");
  const std::string bin = faults_bin(), log = " > " + (d / "log.txt").string() + " 2>&1";
  const std::string small = " data.synthetic.height=32 data.synthetic.width=32 model.base=4 model.depth=2";
  ASSERT_EQ(run(bin + " train --config " + std::string(STRATA_SOURCE_DIR) + "/configs/faults_volume.yaml --out " +
                (d / "run").string() + small +
                " train.epochs=2 data.cubes_per_epoch=4 data.val_cubes=1 data.test_cubes=1 data.workers=1"
                " train.progress=false" + log),
            0)
      << bytes_of(d / "log.txt");
  EXPECT_NE(bytes_of(d / "log.txt").find("unet3d, 4 cubes of 32 x 32 x 32 per epoch"), std::string::npos)
      << bytes_of(d / "log.txt");
  EXPECT_NE(bytes_of(d / "log.txt").find("test (1 held-out synthetic cubes)"), std::string::npos)
      << bytes_of(d / "log.txt");
  EXPECT_EQ(report_value(d / "run" / "test" / "report.csv", 0, "pixels"), 32.0 * 32 * 32);
  // Each epoch's validation has the scores within metrics.tolerance samples, as the 2-D model's has.
  const std::string metrics = bytes_of(d / "run" / "metrics.csv");
  EXPECT_NE(metrics.find("val_ap_tol"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("val_f1_tol"), std::string::npos) << metrics;
  const std::string ckpt = (d / "run" / "best.safetensors").string();
  ASSERT_EQ(run(bin + " generate --config " + (d / "run" / "config.yaml").string() + " --output " +
                (d / "cubes").string() + " --cubes 1 data.synthetic.height=40 data.synthetic.width=36" + log),
            0)
      << bytes_of(d / "log.txt");
  const std::string cube = (d / "cubes" / "cube_0.sgy").string(), labels = (d / "cubes" / "cube_0_faults.sgy").string();
  ASSERT_EQ(run(bin + " eval --checkpoint " + ckpt + " --data " + cube + " --labels " + labels + " --out " +
                (d / "eval").string() + log),
            0)
      << bytes_of(d / "log.txt");
  EXPECT_EQ(report_value(d / "eval" / "report.csv", 0, "pixels"), 40.0 * 36 * 36);
  const double ap = report_value(d / "eval" / "report.csv", 0, "ap");
  EXPECT_TRUE(ap > 0 && ap <= 1) << ap;
  // predict writes the cube's geometry; the probabilities are predict_cube's on the standardised cube (at its own
  // sampling here), whatever the direction asked (the network sees every direction at once).
  for (const char* direction : {"inline", "crossline"}) {
    const fs::path out = d / (std::string("p_") + direction + ".sgy");
    ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + cube + " --output " + out.string() +
                  " --direction " + direction + " inference.match_period=false" + log),
              0)
        << bytes_of(d / "log.txt");
  }
  const SegyVolume in(cube), a((d / "p_inline.sgy").string()), b((d / "p_crossline.sgy").string());
  ASSERT_EQ(a.traces(), 36 * 36);
  ASSERT_EQ(a.samples(), 40);
  std::vector<float> x;
  for (int64_t i = 0; i < in.traces(); ++i) {
    const std::vector<float> t = in.trace(i);
    x.insert(x.end(), t.begin(), t.end());
  }
  standardise_section(x);
  Checkpoint ck = Checkpoint::load(ckpt);
  ModulePtr net = build_module(Config::parse(ck.get("faults.config")).section("model"));
  ck.restore_module("model.", *net);
  TileOptions tiles = TileOptions::from_config(Config::parse(ck.get("faults.config")).section("inference"));
  const std::vector<float> want = predict_cube(*net, x, 36, 36, 40, tiles);
  for (int64_t i = 0; i < a.traces(); ++i) {
    const std::vector<float> ta = a.trace(i), tb = b.trace(i);
    for (int64_t z = 0; z < 40; ++z) {
      ASSERT_NEAR(ta[size_t(z)], want[size_t(i * 40 + z)], 1e-6) << i << " " << z;
      ASSERT_EQ(ta[size_t(z)], tb[size_t(z)]) << i << " " << z;
    }
  }
  // A cube of longer periods than the training cubes' is predicted resampled in time to their sampling, as a
  // 2-D model predicts a volume (inference.match_period), and written at its own.
  ASSERT_EQ(run(bin + " generate --config " + (d / "run" / "config.yaml").string() + " --output " +
                (d / "long").string() + " --cubes 1 data.synthetic.height=64 data.synthetic.width=36" +
                " 'data.synthetic.period=[28, 34]'" + log),
            0)
      << bytes_of(d / "log.txt");
  std::map<std::string, std::vector<float>> matched;
  for (const char* match : {"true", "false"}) {
    const fs::path out = d / (std::string("long_") + match + ".sgy");
    ASSERT_EQ(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "long" / "cube_0.sgy").string() +
                  " --output " + out.string() + " inference.match_period=" + match + log),
              0)
        << bytes_of(d / "log.txt");
    EXPECT_EQ(bytes_of(d / "log.txt").find("the cube predicted resampled in time") != std::string::npos,
              std::string(match) == "true")
        << bytes_of(d / "log.txt");
    const SegyVolume back(out.string());
    ASSERT_EQ(back.samples(), 64);
    for (int64_t i = 0; i < back.traces(); ++i) {
      const std::vector<float> t = back.trace(i);
      matched[match].insert(matched[match].end(), t.begin(), t.end());
    }
  }
  EXPECT_NE(matched["true"], matched["false"]);
  // Sections and the routes built on them name what a 3-D model takes.
  write_npy((d / "section.npy").string(), {40, 36}, std::vector<float>(40 * 36, 0.f));
  EXPECT_NE(run(bin + " predict --checkpoint " + ckpt + " --input " + (d / "section.npy").string() + " --output " +
                (d / "section_p.npy").string() + log),
            0);
  EXPECT_NE(bytes_of(d / "log.txt").find("a 3-D model (unet3d) predicts SEG-Y cubes"), std::string::npos)
      << bytes_of(d / "log.txt");
  EXPECT_NE(run(bin + " export --checkpoint " + ckpt + " --output " + (d / "m.onnx").string() + log), 0);
  EXPECT_NE(bytes_of(d / "log.txt").find("export writes the graph of a 2-D model"), std::string::npos)
      << bytes_of(d / "log.txt");
  EXPECT_NE(run(bin + " opendtect install --checkpoint " + ckpt + " --dir " + (d / "od").string() + log), 0);
  EXPECT_NE(bytes_of(d / "log.txt").find("the attribute runs a 2-D model"), std::string::npos)
      << bytes_of(d / "log.txt");
  fs::remove_all(d);
}

// The Python that runs scripts/faults_*_generator.py: the project's .venv, else the system's; empty when it cannot
// import numpy.
std::string numpy_python() {
  const std::string venv = std::string(STRATA_SOURCE_DIR) + "/.venv/bin/python";
  const std::string python = fs::exists(venv) ? venv : "python3";
  return run(python + " -c 'import numpy' > /dev/null 2>&1") == 0 ? python : "";
}

// scripts/faults_WHICH_generator.py OUT ARGS, its output in `log`; true when it succeeds (the log printed if not).
bool run_generator(const std::string& python, const std::string& which, const fs::path& out, const std::string& args,
                   const fs::path& log) {
  const int rc = run(python + " " + STRATA_SOURCE_DIR + "/scripts/faults_" + which + "_generator.py " + out.string() +
                     " " + args + " > " + log.string() + " 2>&1");
  if (rc != 0) ADD_FAILURE() << "faults_" << which << "_generator.py failed:\n" << bytes_of(log);
  return rc == 0;
}

// A cube the generator scripts write (their shared write_segy): size^3, inline-sorted, IEEE floats at 4 ms.
void expect_generated_cube(const SegyVolume& v, int64_t size) {
  EXPECT_EQ(v.samples(), size);
  EXPECT_EQ(int64_t(v.inlines().size()), size);
  EXPECT_EQ(int64_t(v.crosslines().size()), size);
  EXPECT_EQ(v.sorting(), "inline");
  EXPECT_EQ(v.format(), 5);
  EXPECT_DOUBLE_EQ(v.interval_ms(), 4.0);
}

TEST(FaultsApp, SecondGeneratorWritesLabelledCubesThatReadAsSurveys) {
  // scripts/faults_second_generator.py: cubes the SEG-Y reader takes as 3-D surveys, labels of 0 / 1 marking fault
  // planes, each cube its own and the same again from the same seed.
  const std::string src = STRATA_SOURCE_DIR;
  const std::string python = numpy_python();
  if (python.empty()) GTEST_SKIP() << "SKIPPED LOUDLY (numpy): not importable; scripts/install_deps.sh --onnx";
  const fs::path d = fresh_dir("second_generator");
  for (const char* out : {"a", "b"}) ASSERT_TRUE(run_generator(python, "second", d / out, "2 7 40", d / "log.txt"));
  EXPECT_EQ(bytes_of(d / "a" / "cube_1.sgy"), bytes_of(d / "b" / "cube_1.sgy"));
  EXPECT_NE(bytes_of(d / "a" / "cube_0.sgy"), bytes_of(d / "a" / "cube_1.sgy"));
  // A boundary's reflection lies on the sample nearest it (10.3 -> 10, 10.7 -> 11), so the data's faults are where
  // the labels put them; a difference of neighbouring samples would put both on sample 11.
  ASSERT_EQ(run("cd " + src + "/scripts && " + python +
                " -c 'import numpy as np, faults_second_generator as g\n"
                "for b in (10.3, 10.7): print(int(np.argmax(np.abs(g.centred_reflectivity("
                "lambda z: (z >= b).astype(float), np.arange(20.0))))))' > " +
                (d / "peaks.txt").string() + " 2>&1"),
            0)
      << bytes_of(d / "peaks.txt");
  EXPECT_EQ(bytes_of(d / "peaks.txt"), "10\n11\n");
  // --below moves the reflections (and the data's faults) half a sample down and leaves the labels as they are.
  ASSERT_TRUE(run_generator(python, "second", d / "c", "1 7 40 --below", d / "log.txt"));
  EXPECT_EQ(bytes_of(d / "a" / "cube_0_faults.sgy"), bytes_of(d / "c" / "cube_0_faults.sgy"));
  EXPECT_NE(bytes_of(d / "a" / "cube_0.sgy"), bytes_of(d / "c" / "cube_0.sgy"));
  for (const char* name : {"cube_0", "cube_1"}) {
    const SegyVolume seismic((d / "a" / (std::string(name) + ".sgy")).string());
    const SegyVolume labels((d / "a" / (std::string(name) + "_faults.sgy")).string());
    for (const SegyVolume* v : {&seismic, &labels}) expect_generated_cube(*v, 40);
    double sum = 0, squares = 0, faults = 0;
    for (int64_t t = 0; t < seismic.traces(); ++t) {
      for (const float x : seismic.trace(t)) {
        sum += x;
        squares += double(x) * x;
      }
      for (const float l : labels.trace(t)) {
        EXPECT_TRUE(l == 0.0f || l == 1.0f) << l;
        faults += l;
      }
    }
    const double n = double(seismic.traces() * seismic.samples());
    EXPECT_NEAR(sum / n, 0.0, 1e-3) << name;          // standardised
    EXPECT_NEAR(squares / n, 1.0, 1e-3) << name;
    EXPECT_GT(faults / n, 0.005) << name;             // 2-5 planes of about one sample across a 40^3 cube
    EXPECT_LT(faults / n, 0.2) << name;
  }
}

TEST(FaultsApp, ThirdGeneratorWritesClippedLabelledCubesThatReadAsSurveys) {
  // scripts/faults_third_generator.py: cubes the SEG-Y reader takes as 3-D surveys, the same again from the same
  // seed, amplitudes standardised and then clipped to [-1, 1] (a large share of samples on the two flat tops), and
  // labels of 0 / 1 marking five to eight fault planes.
  const std::string python = numpy_python();
  if (python.empty()) GTEST_SKIP() << "SKIPPED LOUDLY (numpy): not importable; scripts/install_deps.sh --onnx";
  const fs::path d = fresh_dir("third_generator");
  for (const char* out : {"a", "b"}) ASSERT_TRUE(run_generator(python, "third", d / out, "2 11 48", d / "log.txt"));
  EXPECT_EQ(bytes_of(d / "a" / "cube_1.sgy"), bytes_of(d / "b" / "cube_1.sgy"));
  EXPECT_EQ(bytes_of(d / "a" / "cube_1_faults.sgy"), bytes_of(d / "b" / "cube_1_faults.sgy"));
  EXPECT_NE(bytes_of(d / "a" / "cube_0.sgy"), bytes_of(d / "a" / "cube_1.sgy"));
  for (const char* name : {"cube_0", "cube_1"}) {
    const SegyVolume seismic((d / "a" / (std::string(name) + ".sgy")).string());
    const SegyVolume labels((d / "a" / (std::string(name) + "_faults.sgy")).string());
    for (const SegyVolume* v : {&seismic, &labels}) expect_generated_cube(*v, 48);
    double flat = 0, faults = 0;
    for (int64_t t = 0; t < seismic.traces(); ++t) {
      for (const float x : seismic.trace(t)) {
        EXPECT_LE(std::abs(x), 1.0f);
        flat += std::abs(x) == 1.0f;
      }
      for (const float l : labels.trace(t)) {
        EXPECT_TRUE(l == 0.0f || l == 1.0f) << l;
        faults += l;
      }
    }
    const double n = double(seismic.traces() * seismic.samples());
    EXPECT_GT(flat / n, 0.15) << name;   // beyond one standard deviation before clipping
    EXPECT_LT(flat / n, 0.45) << name;
    EXPECT_GT(faults / n, 0.01) << name;
    EXPECT_LT(faults / n, 0.3) << name;
  }
}

// Sections come from (seed, epoch, index) in the loader's workers: one run of 2 epochs and a run of 1 epoch
// resumed for the second give the same weights, bit for bit. The resume reads the run's own config.yaml, as the
// error message and docs tell users to (every default written out).
TEST(FaultsApp, ResumeGivesTheUninterruptedWeights) {
  const fs::path d = fresh_dir("resume");
  std::ofstream(d / "cfg.yaml") << kTinyConfig;
  const std::string bin = faults_bin(), cfg = " --config " + (d / "cfg.yaml").string(),
                    log = " > " + (d / "log.txt").string() + " 2>&1", quick = " data.test_sections=0 data.workers=2";
  ASSERT_EQ(run(bin + " train" + cfg + " --out " + (d / "a").string() + quick + log), 0) << bytes_of(d / "log.txt");
  ASSERT_EQ(run(bin + " train" + cfg + " --out " + (d / "b").string() + quick + " train.epochs=1" + log), 0)
      << bytes_of(d / "log.txt");
  ASSERT_EQ(run(bin + " train --config " + (d / "b" / "config.yaml").string() + " --out " + (d / "b").string() +
                " --resume " + (d / "b" / "last.safetensors").string() + " train.epochs=2" + log),
            0)
      << bytes_of(d / "log.txt");
  const auto weights = [](const fs::path& ckpt) {
    const Checkpoint ck = Checkpoint::load(ckpt.string());
    const ModulePtr net = build_module(Config::parse(ck.get("faults.config")).section("model"));
    ck.restore_module("model.", *net);
    return net->state_dict();
  };
  const auto a = weights(d / "a" / "last.safetensors"), b = weights(d / "b" / "last.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_EQ(t.to_vector<float>(), b.at(name).to_vector<float>()) << name;
  fs::remove_all(d);
}
