// strata-welllog commands: train (cross-validation experiments and / or the
// final model), eval, predict and export, and the readers of the wells they
// take. See docs/welllog.md for the config keys.
#pragma once

#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/metrics.h"
#include "apps/welllog/cv.h"
#include "apps/welllog/trained.h"
#include "apps/welllog/wells.h"
#include "config/config.h"
#include "layers/checkpoint.h"

namespace strata::welllog {

// Wells named by the `data:` section: `source: csv` (path, well_column,
// depth_column, label_column), `source: las` (paths: a list of LAS files or
// folders of them) or `source: synthetic` (the gamma-ray generator).
std::vector<Well> load_wells(const Config& data);
// The wells of data.unlabelled (CSV tables or LAS files, labels never read): new wells of the field, which
// semi-supervised training learns from; a well named like one of `labelled` is an error.
std::vector<Well> load_unlabelled_wells(const Config& data, const std::vector<Well>& labelled);
// A CSV table or a LAS file (by extension .las or a first '~' line) given on
// the command line, or a folder of them, read with the column names of `data`.
std::vector<Well> load_wells_from_file(const std::string& path, const Config& data, bool read_labels);
// The well files `path` names: itself, or a folder's .las and .csv files (.las only with `las_only`; not its
// subfolders), sorted by name. A folder without one is an error.
std::vector<std::string> well_files(const std::string& path, bool las_only = false);

// The table columns of `data` (well_column, depth_column, label_column, bad_values).
Columns columns_of(const Config& data);
// A LAS file: by its extension, or a first line that is not a comment starting with '~'.
bool looks_like_las(const std::string& path);

// Wells the preprocessing can use; the others are reported on stderr and left out.
std::vector<Well> usable_wells(const Preprocessing& pre, std::vector<Well> wells);

int train_command(const AppArgs& a);
int eval_command(const AppArgs& a);
int predict_command(const AppArgs& a);
int export_command(const AppArgs& a);

}  // namespace strata::welllog
