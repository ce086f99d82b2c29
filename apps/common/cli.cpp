#include "apps/common/cli.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <new>
#include <cstdlib>
#include <unistd.h>
#include <system_error>

#include "apps/common/trainer.h"
#include "config/config.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "strata_commit.h"  // generated at build time (cmake/write_commit.cmake)

namespace fs = std::filesystem;

namespace strata {
namespace {

const CommandSpec* find_command(const AppSpec& spec, const std::string& name) {
  for (const CommandSpec& c : spec.commands)
    if (c.name == name) return &c;
  return nullptr;
}

std::string synopsis(const AppSpec& spec, const CommandSpec& c) {
  std::string s = "  " + spec.name + " " + c.name;
  for (const FlagSpec& f : c.flags) {
    const std::string flag = f.name + (f.value.empty() ? "" : " " + f.value);
    s += " " + (f.required ? flag : "[" + flag + "]");
  }
  if (c.overrides) s += " [key.sub=value ...]";
  return s + "\n";
}

}  // namespace

std::string AppSpec::usage() const {
  std::string s = name + ": " + summary + "\n\nusage:\n";
  for (const CommandSpec& c : commands) s += synopsis(*this, c);
  s += "  " + name + " COMMAND --help   the flags of one command\n";
  if (!footer.empty()) s += "\n" + footer + "\n";
  return s;
}

std::string AppSpec::usage(const std::string& command) const {
  const CommandSpec* c = find_command(*this, command);
  if (!c) return usage();
  std::string s = "usage:\n" + synopsis(*this, *c) + "\n" + c->summary + "\n\nflags:\n";
  const auto line = [&](std::string flag, const std::string& help) {
    flag.resize(std::max<size_t>(flag.size() + 2, 26), ' ');  // help in one column
    s += flag + help + "\n";
  };
  for (const FlagSpec& f : c->flags)
    line("  " + f.name + (f.value.empty() ? "" : " " + f.value), f.help + (f.required ? " (required)" : ""));
  if (c->overrides) line("  key.sub=value", "set a config key (YAML value), e.g. train.epochs=5");
  if (!footer.empty()) s += "\n" + footer + "\n";
  return s;
}

CommandSpec train_command_spec(const std::string& summary) {
  return {"train",
          summary,
          {{"--config", "FILE", "YAML config (configs/*.yaml); with --resume, default: the run's config.yaml"},
           {"--out", "DIR", "run folder (default runs/<config name>)"},
           {"--resume", "CHECKPOINT", "continue a run from its last.safetensors"},
           {"--force", "", "replace a previous run in the run folder"}}};
}

CommandSpec eval_command_spec(const std::string& summary, const std::string& data_help) {
  return {"eval",
          summary,
          {{"--checkpoint", "FILE", "a checkpoint written by train (best.safetensors)", true},
           {"--data", "PATH", data_help},
           {"--out", "DIR", "where metrics and plots go (default <checkpoint folder>/eval)"},
           {"--device", "DEV", "cpu (default) or cuda: where the model runs"}}};
}

CommandSpec predict_command_spec(const std::string& summary, const std::string& input_help,
                                 const std::string& output_help) {
  return {"predict",
          summary,
          {{"--checkpoint", "FILE", "a checkpoint written by train (best.safetensors)", true},
           {"--input", "PATH", input_help, true},
           {"--output", "PATH", output_help, true},
           {"--device", "DEV", "cpu (default) or cuda: where the model runs"}}};
}

const char* strata_version() { return STRATA_VERSION; }
const char* strata_commit() { return STRATA_COMMIT; }

std::string build_description() {
#ifdef STRATA_WITH_CUDA
  const char* cuda = "on";
#else
  const char* cuda = "off";
#endif
#ifdef STRATA_WITH_MPI
  const char* mpi = "on";
#else
  const char* mpi = "off";
#endif
  return str_cat("strata ", STRATA_VERSION, " (commit ", STRATA_COMMIT, ", ", STRATA_BUILD_TYPE, "; CUDA backend ",
                 cuda, ", MPI ", mpi, ")");
}

namespace {

AppArgs parse_words(int argc, char** argv, const AppSpec& spec) {
  AppArgs a;
  const std::string first = argc >= 2 ? argv[1] : "";
  if (first == "--version") {
    a.version = true;
    return a;
  }
  if (first == "--help" || first == "-h" || first == "help") {
    a.help = true;
    if (argc >= 3) a.command = argv[2];
    return a;
  }
  STRATA_CHECK(argc >= 2, "no command given\n\n", spec.usage());
  a.command = first;
  int i = 2;
  // A command of two words (strata-faults opendtect install) is taken before one of the first word alone.
  if (argc >= 3 && find_command(spec, first + " " + argv[2])) a.command = first + " " + argv[i++];
  const CommandSpec* cmd = find_command(spec, a.command);
  if (!cmd) {
    std::vector<std::string> names;
    for (const CommandSpec& c : spec.commands) names.push_back(c.name);
    const std::string near = nearest_name(a.command, names);
    STRATA_FAIL("unknown command '", a.command, "'", near.empty() ? "" : " (did you mean '" + near + "'?)", "\n\n",
                spec.usage());
  }
  const std::string usage = "\n\n" + spec.usage(a.command);
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    std::string attached;  // --flag=value
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      attached = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      STRATA_CHECK(!attached.empty(), arg, "= has an empty value", usage);
    }
    if (arg == "--help" || arg == "-h") {
      a.help = true;
      return a;
    }
    const FlagSpec* flag = nullptr;
    for (const FlagSpec& f : cmd->flags)
      if (f.name == arg) flag = &f;
    if (flag) {
      STRATA_CHECK(!a.has(arg), arg, " is given twice", usage);
      if (flag->value.empty()) {
        STRATA_CHECK(attached.empty(), arg, " takes no value", usage);
        a.switches.insert(arg);
        continue;
      }
      STRATA_CHECK(!attached.empty() || i + 1 < argc, arg, " needs a value (", flag->value, ")", usage);
      const std::string v = attached.empty() ? std::string(argv[++i]) : attached;
      STRATA_CHECK(!v.empty(), arg, " has an empty value; give ", flag->value, usage);
      a.values[arg] = v;
    } else if (arg.rfind("--", 0) == 0 || arg.rfind("-", 0) == 0) {
      std::string known;
      for (const CommandSpec& c : spec.commands)
        for (const FlagSpec& f : c.flags)
          if (f.name == arg) known += (known.empty() ? "" : ", ") + c.name;
      std::vector<std::string> flags;
      for (const FlagSpec& f : cmd->flags) flags.push_back(f.name);
      const std::string near = nearest_name(arg, flags);
      STRATA_FAIL("'", arg, "' is not a flag of ", a.command,
                  known.empty() ? std::string() : " (it belongs to: " + known + ")",
                  near.empty() ? std::string() : " (did you mean " + near + "?)", usage);
    } else if (arg.find('=') != std::string::npos) {
      STRATA_CHECK(cmd->overrides, a.command, " takes no key=value overrides ('", arg, "')", usage);
      STRATA_CHECK(arg.find('=') > 0, "override '", arg, "': no key before '='", usage);
      STRATA_CHECK(arg.find('=') + 1 < arg.size(), "override '", arg, "': empty value (write ", arg,
                   "VALUE; to use the default, leave the key out)", usage);
      a.overrides.push_back(arg);
    } else {
      STRATA_FAIL("unexpected argument '", arg, "' (flags start with --, config overrides are key.sub=value)", usage);
    }
  }
  for (const FlagSpec& f : cmd->flags)
    STRATA_CHECK(!f.required || a.has(f.name), a.command, " needs ", f.name, " ", f.value, usage);
  const auto get = [&](const char* flag) {
    const auto it = a.values.find(flag);
    return it == a.values.end() ? std::string() : it->second;
  };
  a.config = get("--config");
  a.out = get("--out");
  a.resume = get("--resume");
  a.checkpoint = get("--checkpoint");
  a.data = get("--data");
  a.input = get("--input");
  a.output = get("--output");
  a.force = a.switches.count("--force") > 0;
  if (a.command == "train") {
    STRATA_CHECK(!a.config.empty() || !a.resume.empty(), "train needs --config", usage);
    STRATA_CHECK(!(a.force && !a.resume.empty()), "--force and --resume contradict each other: --resume continues "
                 "the run in the folder, --force replaces it", usage);
  }
  return a;
}

}  // namespace

AppArgs parse_app_args(int argc, char** argv, const AppSpec& spec) {
  AppArgs a;
  try {
    a = parse_words(argc, argv, spec);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  if (a.command == "train" && a.config.empty() && !a.resume.empty()) {
    // --resume alone: the run's own resolved config, written in its run folder.
    const std::filesystem::path beside = std::filesystem::path(resumed_run_folder(a.resume)) / "config.yaml";
    STRATA_CHECK(std::filesystem::is_regular_file(beside), "train --resume ", a.resume, ": no --config given and no ",
                 beside.string(), " beside the checkpoint; give the run's config with --config");
    a.config = beside.string();
  }
  return a;
}

int run_app(const AppSpec& spec, int (*body)(const AppArgs&), int argc, char** argv) {
  const std::string name = spec.name;
  const char* app = name.c_str();
  // Errors go to this stream: stderr, kept open on the data-parallel ranks whose other output is silenced.
  FILE* err = stderr;
  std::string prefix = name;
  try {
    dist::init(&argc, &argv);
    if (dist::active()) {
      prefix = name + ": " + dist::where();
      if (!dist::is_main() && !std::getenv("STRATA_LOG_ALL_RANKS")) {
        // Ranks other than 0 log errors only (STRATA_LOG_ALL_RANKS=1 keeps their output).
        const int fd = ::dup(2);
        if (fd >= 0) err = ::fdopen(fd, "w");
        if (!err) err = stderr;
        std::fflush(stdout);
        std::fflush(stderr);
        if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr)) err = stderr;
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s\n", app, e.what());
    return 1;
  }
  app = prefix.c_str();
  int code = 1;
  try {
    const AppArgs a = parse_app_args(argc, argv, spec);
    if (a.help) {
      if (dist::is_main()) std::fputs((a.command.empty() ? spec.usage() : spec.usage(a.command)).c_str(), stdout);
      return 0;
    }
    if (a.version) {
      if (dist::is_main()) std::printf("%s %s\n", name.c_str(), build_description().c_str());
      return 0;
    }
    if (dist::active() && a.command != "train" && a.command != "pretrain" && a.command != "eval") {
      // Nothing to share out: rank 0 does the work, the others wait for it at exit.
      if (!dist::is_main()) return 0;
      std::fprintf(stderr, "%s: %s runs on rank 0 alone (data-parallel ranks share train, pretrain and eval)\n",
                   app, a.command.c_str());
    }
    return body(a);
  } catch (const UsageError& e) {
    std::fprintf(err, "%s: %s\n", app, e.what());
    return 2;
  } catch (const Error& e) {
    std::fprintf(err, "%s: %s\n", app, e.what());
  } catch (const fs::filesystem_error& e) {
    std::string paths = e.path1().string();
    if (!e.path2().empty()) paths += ", " + e.path2().string();
    std::fprintf(err, "%s: %s: %s\n", app, paths.c_str(), e.code().message().c_str());
  } catch (const std::bad_alloc&) {
    std::fprintf(err, "%s: out of memory: the input asks for more memory than this machine has (check sizes, "
                      "sample spacings and batch sizes)\n", app);
  } catch (const std::length_error& e) {
    std::fprintf(err, "%s: the input asks for an impossible size (%s); check sizes and sample spacings\n", app,
                 e.what());
  } catch (const std::exception& e) {
    std::fprintf(err, "%s: internal error: %s (please report it with the command line)\n", app, e.what());
  }
  restore_run_dir();
  // A failing rank ends the whole job (the others would wait for it in the next collective forever).
  if (dist::active()) {
    std::fprintf(err, "%s: stopping all %d ranks\n", app, dist::size());
    std::fflush(err);
    dist::abort_job(code);
  }
  return code;
}

void check_overrides_read(const Config& cfg, const std::vector<std::string>& overrides, const std::string& command) {
  std::vector<std::string> unread;
  for (const std::string& o : overrides) {
    const std::string key = o.substr(0, o.find('='));
    if (!cfg.was_read(key)) unread.push_back(key);
  }
  if (unread.empty()) return;
  std::string list;
  for (const std::string& k : unread) list += (list.empty() ? "" : ", ") + k;
  throw UsageError(str_cat(command, " does not use ", unread.size() == 1 ? "the key " : "the keys ", list,
                           " (an override of a key the command does not read would change nothing; training keys "
                           "apply to train only)"));
}

std::string rank_output_dir(const std::string& out) {
  if (dist::is_main()) return out;
  return (fs::path(rank_scratch_dir()) / fs::path(out).filename()).string();
}

namespace {

// Written into every run folder train creates; a folder without it holds files strata did not write.
constexpr const char* kRunMarker = ".strata-run";

// The previous run that --force set aside: restored when the new run fails before its first checkpoint.
struct SetAside {
  std::string out, backup;
};
SetAside& set_aside() {
  static SetAside s;
  return s;
}

std::string listing(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 6; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 6) s += str_cat(", ... (", names.size(), " in all)");
  return s;
}

std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::string resumed_run_folder(const std::string& checkpoint) {
  const fs::path folder = fs::path(checkpoint).parent_path().empty() ? fs::path(".") : fs::path(checkpoint).parent_path();
  std::error_code ec;
  const std::string name = fs::absolute(folder, ec).lexically_normal().filename().string();
  const bool member = name.rfind("member_", 0) == 0 && !fs::exists(folder / "config.yaml", ec) &&
                      fs::exists(folder / ".." / "config.yaml", ec);
  if (!member) return folder.string();
  // An ensemble member's folder: the ensemble's run, the folder above.
  if (folder == ".") return "..";
  return folder.parent_path().empty() ? std::string(".") : folder.parent_path().string();
}

std::string train_run_dir(const AppArgs& a, const std::string& default_name) {
  if (!a.out.empty()) return a.out;
  if (!a.resume.empty()) return resumed_run_folder(a.resume);
  return (fs::path("runs") / default_name).string();
}

std::string prepare_run_dir(const std::string& out, const AppArgs& a) {
  std::error_code ec;
  if (!dist::is_main()) return rank_scratch_dir();
  const fs::file_status s = fs::status(out, ec);
  STRATA_CHECK(!fs::exists(s) || fs::is_directory(s), out, ": the run folder exists and is not a folder");
  const std::vector<std::string> entries = fs::exists(s) ? entries_of(out) : std::vector<std::string>{};
  const bool marked = fs::exists(fs::path(out) / kRunMarker, ec);
  std::vector<std::string> run_files;
  for (const char* f : {"best.safetensors", "last.safetensors", "metrics.csv"})
    if (fs::exists(fs::path(out) / f, ec)) run_files.push_back(f);
  if (!a.resume.empty()) {
    const fs::path from = resumed_run_folder(a.resume);
    const bool own_folder = fs::exists(s) && fs::equivalent(from, out, ec) && !ec;
    // Resuming elsewhere starts a new folder: it must not hold another run or the user's files.
    STRATA_CHECK(own_folder || entries.empty(), out, ": --resume ", a.resume, " continues the run of ",
                 from.string(), ", but this folder is not empty (", listing(entries),
                 "); leave out --out to continue the run in its own folder, or give a new, empty folder");
  } else if (!entries.empty()) {
    STRATA_CHECK(run_files.empty() || a.force, out, ": holds a previous run (", listing(run_files),
                 "); continue it with --resume ", out, "/last.safetensors, replace it with --force, or train into "
                 "another folder with --out DIR");
    STRATA_CHECK(marked, out, ": is not empty (", listing(entries), ") and was not written by strata train (no ",
                 kRunMarker, "); a run never writes into a folder of other files: train into a new or empty folder "
                 "(--out DIR)");
    if (a.force && !run_files.empty()) {
      // Set the previous run aside; it is deleted once the new run has written its first checkpoint and put back
      // if the new run fails before (commit_run_dir / restore_run_dir).
      const fs::path path = fs::absolute(out).lexically_normal();
      const fs::path folder = path.filename().empty() ? path.parent_path() : path;
      const fs::path backup = folder.parent_path() / ("." + folder.filename().string() + ".replaced");
      fs::remove_all(backup, ec);
      fs::rename(folder, backup, ec);
      STRATA_CHECK(!ec, out, ": --force: cannot set the previous run aside as ", backup.string(), " (", ec.message(),
                   ")");
      set_aside() = {folder.string(), backup.string()};
      std::fprintf(stderr, "%s: --force: the previous run (%s) is set aside as %s and deleted when this run writes "
                           "its first checkpoint\n", out.c_str(), listing(run_files).c_str(), backup.c_str());
    }
  }
  create_directories_checked(out);
  if (!fs::exists(fs::path(out) / kRunMarker, ec))
    write_file_atomic((fs::path(out) / kRunMarker).string(),
                      [](std::ostream& f) {
                        f << "strata run folder v1: written by strata train\n"
                          << build_description() << "\n";
                      });
  return out;
}

void commit_run_dir() {
  SetAside& s = set_aside();
  if (s.backup.empty()) return;
  std::error_code ec;
  fs::remove_all(s.backup, ec);
  s = {};
}

void restore_run_dir() {
  SetAside& s = set_aside();
  if (s.backup.empty()) return;
  std::error_code ec;
  fs::remove_all(s.out, ec);
  fs::rename(s.backup, s.out, ec);
  if (ec)
    std::fprintf(stderr, "%s: the previous run could not be put back (%s); it is in %s\n", s.out.c_str(),
                 ec.message().c_str(), s.backup.c_str());
  else
    std::fprintf(stderr, "%s: the previous run is put back (this run failed before its first checkpoint)\n",
                 s.out.c_str());
  s = {};
}

}  // namespace strata
