// Command lines of the task apps (GUIDE section 6):
//   APP train   --config F [--out DIR] [--resume CHECKPOINT] [--force] [key.sub=value ...]
//   APP eval    --checkpoint F [--data PATH] [--out DIR] [key.sub=value ...]
//   APP predict --checkpoint F --input F --output F [key.sub=value ...]
// Each app describes its commands and their flags in an AppSpec; a flag that
// does not belong to the command, a missing required flag or a value-less
// flag is an error that prints the command's usage. `APP --help`, `APP -h`
// and `APP COMMAND --help` print the usage and exit 0.
//
// Validation boundary: everything on the command line is checked here, once.
// Overrides are checked again after the command has read its config
// (check_overrides_read), so an override the command does not use is an error.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "engine/error.h"

namespace strata {

struct FlagSpec {
  std::string name;   // "--config"
  std::string value;  // "FILE"; "" for a switch (e.g. --force)
  std::string help;
  bool required = false;
};

struct CommandSpec {
  std::string name;  // train | eval | predict | ...
  std::string summary;
  std::vector<FlagSpec> flags;
  bool overrides = true;  // accepts key.sub=value
};

struct AppSpec {
  std::string name;     // strata-welllog
  std::string summary;  // one line
  std::vector<CommandSpec> commands;
  std::string footer;  // configs, where the keys are documented
  std::string usage() const;
  std::string usage(const std::string& command) const;
};

// The standard flags of the three app commands, for AppSpecs to start from.
CommandSpec train_command_spec(const std::string& summary);
CommandSpec eval_command_spec(const std::string& summary, const std::string& data_help);
CommandSpec predict_command_spec(const std::string& summary, const std::string& input_help,
                                 const std::string& output_help);

struct AppArgs {
  std::string command;
  std::string config, out, resume, checkpoint, data, input, output;  // the standard flags' values
  bool force = false;                                                // --force
  std::map<std::string, std::string> values;                         // every flag with a value, by name
  std::set<std::string> switches;                                    // value-less flags given
  std::vector<std::string> overrides;                                // key.sub=value
  bool help = false;                                                 // --help / -h: print usage, exit 0
  bool version = false;                                              // --version: print build_description()
  bool has(const std::string& flag) const { return values.count(flag) || switches.count(flag); }
};

// "strata 0.1.0 (commit abc1234, Release; CUDA backend on, MPI on)": what --version prints.
std::string build_description();
// The version and source commit alone, for checkpoints and run folders ("0.1.0", "abc1234").
const char* strata_version();
const char* strata_commit();

// A command line that does not fit the app's commands and flags (exit status 2, as argparse and click use).
class UsageError : public Error {
 public:
  using Error::Error;
};

// STRATA_CHECK for what the command line gives (a flag's value out of its choices): a UsageError.
#define STRATA_USAGE_CHECK(cond, ...) \
  do {                                \
    if (!(cond)) throw ::strata::UsageError(::strata::str_cat(__VA_ARGS__)); \
  } while (0)

// Flags take their value as the next word or after '=' (--out DIR, --out=DIR).
// Throws UsageError (with the usage appended) on bad input.
AppArgs parse_app_args(int argc, char** argv, const AppSpec& spec);

// Runs `body`. A usage error becomes "APP: message" and the usage on stderr
// and exit status 2; every other error (strata::Error, filesystem errors,
// out-of-memory, any std::exception) "APP: message" and exit status 1; never
// "terminate called".
int run_app(const AppSpec& spec, int (*body)(const AppArgs&), int argc, char** argv);

// Errors unless every override names a key that `cfg`'s readers asked for
// (call it after the command has read its whole configuration): `eval` and
// `predict` read only part of a checkpoint's config, and an override of a key
// they do not read would otherwise be ignored in silence.
void check_overrides_read(const Config& cfg, const std::vector<std::string>& overrides, const std::string& command);

// The run folder of `train`: --out, or with --resume alone the folder of the checkpoint (the run continues
// where it was), or runs/<default_name>.
std::string train_run_dir(const AppArgs& a, const std::string& default_name);
// The run a checkpoint belongs to: its folder, or for an ensemble member's (RUN/member_J/last.safetensors, no
// config.yaml of its own beside it) the ensemble's run folder RUN.
std::string resumed_run_folder(const std::string& checkpoint);

// Makes the run folder of `train` and returns the folder this process writes the run into: `out`, or on
// data-parallel ranks other than 0 a private scratch folder (removed at exit), so that rank 0 alone writes
// the run. Call it after the config and data have been validated, so an error leaves nothing behind.
//   * a new or empty folder is created and marked as a run folder (.strata-run);
//   * a folder holding a previous run (best / last checkpoint, metrics.csv) is refused unless --force
//     replaces it: the old run is then set aside (.NAME.replaced beside it), deleted by commit_run_dir when
//     the new run writes its first checkpoint and put back by restore_run_dir when it fails before;
//   * a non-empty folder strata did not write (no marker) is refused, --force or not;
//   * --resume continues in the checkpoint's own folder; into another folder only when that one is empty.
std::string prepare_run_dir(const std::string& out, const AppArgs& a);
// The new run has a checkpoint: the run --force set aside is deleted (no-op otherwise).
void commit_run_dir();
// The new run failed: the run --force set aside is put back (no-op otherwise). run_app calls it on errors.
void restore_run_dir();

// The folder this process writes a command's outputs into: `out`, or on a
// data-parallel rank other than 0 a private scratch folder (so that rank 0
// alone writes; eval under mpirun scores a share of the set on each rank).
std::string rank_output_dir(const std::string& out);

}  // namespace strata
