#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/common/datasets.h"
#include "apps/welllog/curve_map.h"
#include "apps/welllog/las.h"
#include "apps/welllog/run.h"
#include "apps/welllog/text.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace fs = std::filesystem;

namespace strata::welllog {

Columns columns_of(const Config& data) {
  Columns c;
  c.well = data.get_string("well_column", c.well);
  c.depth = data.get_string("depth_column", c.depth);
  c.label = data.get_string("label_column", c.label);
  c.bad_values = data.get_choice("bad_values", c.bad_values, {"error", "missing"});
  return c;
}

bool looks_like_las(const std::string& path) {
  if (lower_extension(path) == ".las") return true;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    const size_t p = line.find_first_not_of(" \t\r\xEF\xBB\xBF");
    if (p == std::string::npos || line[p] == '#') continue;
    return line[p] == '~';
  }
  return false;
}

namespace {

std::string require_file(const Config& c, const std::string& key, const std::string& path) {
  STRATA_CHECK(fs::exists(path), c.key_path(key), ": no file '", path, "' (give the path relative to where you run ",
               "the app, or override it: ", c.key_path(key), "=PATH)");
  return path;
}

// Wells the preprocessing can use; the others are reported and left out.

}  // namespace

std::vector<Well> usable_wells(const Preprocessing& pre, std::vector<Well> wells) {
  std::vector<Well> out;
  for (Well& w : wells) {
    std::string why;
    if (pre.usable(w, &why))
      out.push_back(std::move(w));
    else
      std::fprintf(stderr, "strata-welllog: leaving out %s (data.missing.curve: drop_well)\n", why.c_str());
  }
  return out;
}


std::vector<std::string> well_files(const std::string& path, bool las_only) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return {path};
  const std::vector<std::string> files = files_in(path, [&](const std::string& f) {
    const std::string ext = lower_extension(f);
    return ext == ".las" || (!las_only && ext == ".csv");
  });
  STRATA_CHECK(!files.empty(), path, ": a folder without a ", las_only ? ".las file" : ".las or .csv file");
  return files;
}

std::vector<Well> load_wells_from_file(const std::string& path, const Config& data, bool read_labels) {
  std::vector<Well> wells;
  const Columns columns = columns_of(data);
  for (const std::string& f : well_files(path)) {
    require_input_file(f, "well data");
    std::vector<Well> read = looks_like_las(f) ? std::vector<Well>{well_from_las(f, read_labels ? columns.label : "")}
                                              : wells_from_table(read_csv(f), columns, read_labels);
    for (Well& w : read) wells.push_back(std::move(w));
  }
  CurveMap::from_config(data).apply(wells);
  return wells;
}

std::vector<Well> load_unlabelled_wells(const Config& data, const std::vector<Well>& labelled) {
  std::vector<Well> wells;
  for (const std::string& path : data.get_string_list("unlabelled", {})) {
    STRATA_CHECK(fs::exists(path), data.key_path("unlabelled"), ": no file '", path, "'");
    for (Well& w : load_wells_from_file(path, data, false)) {
      for (const Well& l : labelled)
        STRATA_CHECK(l.name != w.name, data.key_path("unlabelled"), ": ", path, ": well '", w.name,
                     "' is also a labelled well of the training data");
      w.codes.clear();
      wells.push_back(std::move(w));
    }
  }
  return wells;
}

std::vector<Well> load_wells(const Config& data) {
  const std::string source = data.get_choice("source", "csv", {"csv", "las", "synthetic"});
  const Config syn = data.section("synthetic");
  const CurveMap curve_map = CurveMap::from_config(data);
  std::vector<Well> wells;
  if (source == "synthetic") {
    data.mark_known("path");
    data.mark_known("paths");
    wells = synthetic_gamma_wells(SyntheticOptions::from_config(syn));
  } else if (source == "las") {
    const std::string label = data.get_string("label_column", Columns{}.label);  // the curve of label codes
    for (const std::string& p : data.get_string_list("paths", {}))
      for (const std::string& f : well_files(require_file(data, "paths", p), true))
        wells.push_back(well_from_las(f, label));
    STRATA_CHECK(!wells.empty(), data.key_path("paths"), ": list at least one LAS file");
  } else {
    const std::string path = require_file(data, "path", data.require_string("path"));
    wells = wells_from_table(read_csv(path), columns_of(data), true);
  }
  curve_map.apply(wells);
  return wells;
}

}  // namespace strata::welllog
