// Small helpers shared by the test suites.
#pragma once

#include <functional>
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

}  // namespace strata::test
