// Small helpers shared by the test suites.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "engine/error.h"

namespace strata::test {

// The message of the strata::Error that f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// strata_test_<suite>_<name> under the temporary directory, removed if an earlier run left it behind: for a
// folder the code under test must create itself (a run folder).
inline std::filesystem::path fresh_path(const std::string& suite, const std::string& name) {
  const std::filesystem::path p = std::filesystem::temp_directory_path() / ("strata_test_" + suite + "_" + name);
  std::filesystem::remove_all(p);
  return p;
}

// The same folder, created empty: for files a test writes itself.
inline std::filesystem::path fresh_dir(const std::string& suite, const std::string& name) {
  const std::filesystem::path p = fresh_path(suite, name);
  std::filesystem::create_directories(p);
  return p;
}

// A file's whole contents (empty when it cannot be read): a log to show beside a failed assertion.
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace strata::test
