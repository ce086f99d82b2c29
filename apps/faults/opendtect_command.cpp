// strata-faults opendtect: the ExternalAttrib protocol on stdin / stdout (-g, -c), and `opendtect install`,
// which writes the wrapper script the plugin is given and runs it the way the plugin does.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "apps/faults/opendtect.h"
#include "apps/faults/run.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace fs = std::filesystem;

namespace strata::faults {
namespace {

constexpr const char* kApp = "strata-faults";
constexpr const char* kWrapperName = "strata-faults-attribute.sh";

std::string this_binary() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  STRATA_CHECK(!ec, "opendtect: cannot find this program's own path (/proc/self/exe: ", ec.message(), ")");
  return exe.string();
}

// The user documentation's OpendTect section as a file:// URL (the plugin opens Help with the desktop's
// browser), when the page is beside the binary: build/bin/../../docs or PREFIX/bin/../share/doc/strata.
std::string help_url() {
  const fs::path bin = fs::path(this_binary()).parent_path();
  for (const fs::path& page : {bin / ".." / ".." / "docs" / "faults.md", bin / ".." / "share" / "doc" / "strata" / "faults.md"}) {
    std::error_code ec;
    if (!fs::is_regular_file(page, ec)) continue;
    std::string url = "file://";
    for (char c : fs::canonical(page, ec).string()) url += c == ' ' ? std::string("%20") : std::string(1, c);
    return url + "#opendtect";
  }
  return "";
}

SeisInfoLayout layout_flag(const AppArgs& a) {
  try {
    return parse_seisinfo_layout(a.values.count("--seisinfo") ? a.values.at("--seisinfo") : "auto");
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

// Runs `script -g` as the plugin does on Linux (fork + execve of /bin/sh with only IFS and PATH set) and returns
// what it printed; errors carry the exit status and what it wrote to stderr.
std::string run_as_the_plugin(const std::string& script) {
  int out[2], err[2];
  STRATA_CHECK(::pipe(out) == 0 && ::pipe(err) == 0, "opendtect install: cannot make a pipe: ", std::strerror(errno));
  const pid_t pid = ::fork();
  STRATA_CHECK(pid >= 0, "opendtect install: cannot start /bin/sh: ", std::strerror(errno));
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::close(out[0]), ::close(out[1]), ::close(err[0]), ::close(err[1]);
    const char* argv[] = {"/bin/sh", script.c_str(), "-g", nullptr};
    const char* envp[] = {"IFS= \t\n", "PATH=/usr/bin:/bin:/usr/sbin:/sbin", nullptr};
    ::execve(argv[0], const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    ::_exit(127);
  }
  ::close(out[1]), ::close(err[1]);
  const auto drain = [](int fd) {
    std::string s;
    char b[4096];
    for (ssize_t n; (n = ::read(fd, b, sizeof b)) > 0 || (n < 0 && errno == EINTR);)
      if (n > 0) s.append(b, size_t(n));
    ::close(fd);
    return s;
  };
  const std::string printed = drain(out[0]), complaint = drain(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  STRATA_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "opendtect install: ", script, " -g, run as OpendTect ",
               "runs it (only IFS and PATH set), failed (", WIFEXITED(status) ? "exit status " : "signal ",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), "): ", complaint);
  return printed;
}

// The attribute predicts the sections through each trace's window with a 2-D model.
void refuse_volume_model(const Model& m) {
  STRATA_CHECK(!m.volume, "opendtect: the attribute runs a 2-D model; a 3-D model (", m.net->type(),
               ") predicts SEG-Y cubes: strata-faults predict --input survey.sgy, then import the output in OpendTect");
}

// The checkpoint config's opendtect section: what the attribute asks the plugin for and how it shares sections.
struct AttributeSettings {
  int64_t step_out, z_margin;
  ServeOptions serve;
};
AttributeSettings attribute_settings(const Config& cfg) {
  const Config od = cfg.section("opendtect");
  AttributeSettings s{od.get_int("step_out", 32, Bounds::between(1, 1024)),
                      od.get_int("z_margin", 32, Bounds::between(0, 4096)), {}};
  s.serve.context = od.get_int("context", s.serve.context, Bounds::between(0, 1024));
  return s;
}

}  // namespace

int opendtect_command(const AppArgs& a) {
  const bool describe = a.switches.count("-g") > 0, compute = a.values.count("-c") > 0;
  STRATA_CHECK(describe != compute, "opendtect: give -g (print the attribute's parameters) or -c PARAMS (compute), "
                                    "as OpendTect's ExternalAttrib plugin does");
  const SeisInfoLayout layout = layout_flag(a);
  Model m = load_model(a.checkpoint, a.overrides);
  refuse_volume_model(m);
  const AttributeSettings settings = attribute_settings(m.cfg);
  check_overrides_read(m.cfg, a.overrides, "opendtect");
  if (describe) {
    std::printf("%s\n", url_quote(opendtect_parameters(settings.step_out, settings.z_margin, help_url())).c_str());
    return 0;
  }
  std::ios::sync_with_stdio(false);
  InferenceMode inference;  // the model's weights stay as loaded for every trace
  const ServeCounts n = opendtect_serve(*m.net, m.tiles, m.period, a.values.at("-c"), 0, std::cout, layout,
                                       settings.serve);
  std::fprintf(stderr, "%s: opendtect: computed %lld traces (%lld sections predicted, %lld taken from neighbouring "
               "traces' sections)\n", kApp, static_cast<long long>(n.traces), static_cast<long long>(n.predicted),
               static_cast<long long>(n.reused));
  return 0;
}

int opendtect_install_command(const AppArgs& a) {
  const SeisInfoLayout layout = layout_flag(a);
  // A readable strata-faults checkpoint and overrides -c reads, or the error now rather than inside OpendTect.
  const Model m = load_model(a.checkpoint, a.overrides);
  refuse_volume_model(m);
  attribute_settings(m.cfg);
  check_overrides_read(m.cfg, a.overrides, "opendtect install");
  const std::string dir = a.values.at("--dir");
  create_directories_checked(dir);
  const fs::path script = fs::absolute(fs::path(dir) / kWrapperName).lexically_normal();
  const std::string checkpoint = fs::canonical(a.checkpoint).string();
  write_file_atomic(script.string(), [&](std::ostream& f) {
    f << opendtect_wrapper_script(fs::canonical(this_binary()).string(), checkpoint, layout, a.overrides);
  });
  fs::permissions(script, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  const std::string json = url_unquote(run_as_the_plugin(script.string()));
  STRATA_CHECK(json.find("\"Fault probability\"") != std::string::npos, "opendtect install: ", script.string(),
               " -g printed no attribute parameters: ", json);
  std::printf("wrote %s (checkpoint %s, SeisInfo %s); it answers -g in OpendTect's bare environment.\n"
              "In OpendTect: Analysis > Attributes, attribute type External Attribute; Interpreter: /bin/sh; External "
              "File: %s\n",
              script.c_str(), checkpoint.c_str(), seisinfo_layout_name(layout), script.c_str());
  if (script.string().find(' ') != std::string::npos)
    std::printf("note: the path holds a space; the plugin passes it to /bin/sh in quotes it does not remove on "
                "Linux: install into a folder whose path has no spaces if OpendTect cannot start it\n");
  return 0;
}

}  // namespace strata::faults
