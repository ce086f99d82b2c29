// Command lines of the task apps (GUIDE section 6):
//   APP train   --config F [--out DIR] [--resume CHECKPOINT] [key.sub=value ...]
//   APP eval    --checkpoint F [--data PATH] [--out DIR] [key.sub=value ...]
//   APP predict --checkpoint F --input F --output F [key.sub=value ...]
// Unknown flags and missing required ones are errors that print the usage.
#pragma once

#include <string>
#include <vector>

namespace strata {

struct AppArgs {
  std::string command;  // train | eval | predict
  std::string config, out, resume, checkpoint, data, input, output;
  std::vector<std::string> overrides;  // key.sub=value
};

// Throws strata::Error with `usage` appended on bad input.
AppArgs parse_app_args(int argc, char** argv, const std::string& usage);

// Runs `body` and turns a strata::Error into "APP: message" on stderr and exit code 1.
int run_app(const char* app, int (*body)(const AppArgs&), int argc, char** argv, const std::string& usage);

}  // namespace strata
