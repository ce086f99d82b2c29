#include "apps/common/cli.h"

#include <cstdio>
#include <map>

#include "engine/error.h"

namespace strata {

AppArgs parse_app_args(int argc, char** argv, const std::string& usage) {
  STRATA_CHECK(argc >= 2, "no command given\n", usage);
  AppArgs a;
  a.command = argv[1];
  STRATA_CHECK(a.command == "train" || a.command == "eval" || a.command == "predict", "unknown command '", a.command,
               "'\n", usage);
  const std::map<std::string, std::string AppArgs::*> flags = {
      {"--config", &AppArgs::config}, {"--out", &AppArgs::out},       {"--resume", &AppArgs::resume},
      {"--checkpoint", &AppArgs::checkpoint}, {"--data", &AppArgs::data}, {"--input", &AppArgs::input},
      {"--output", &AppArgs::output}};
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto f = flags.find(arg);
    if (f != flags.end()) {
      STRATA_CHECK(i + 1 < argc, arg, " needs a value\n", usage);
      a.*(f->second) = argv[++i];
    } else if (arg.rfind("--", 0) != 0 && arg.find('=') != std::string::npos) {
      a.overrides.push_back(arg);
    } else {
      STRATA_FAIL("unknown argument '", arg, "'\n", usage);
    }
  }
  if (a.command == "train") STRATA_CHECK(!a.config.empty() || !a.resume.empty(), "train needs --config\n", usage);
  if (a.command == "eval") STRATA_CHECK(!a.checkpoint.empty(), "eval needs --checkpoint\n", usage);
  if (a.command == "predict")
    STRATA_CHECK(!a.checkpoint.empty() && !a.input.empty() && !a.output.empty(),
                 "predict needs --checkpoint, --input and --output\n", usage);
  return a;
}

int run_app(const char* app, int (*body)(const AppArgs&), int argc, char** argv, const std::string& usage) {
  try {
    return body(parse_app_args(argc, argv, usage));
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s\n", app, e.what());
    return 1;
  }
}

}  // namespace strata
