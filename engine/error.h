// Errors are values with context. Every check that guards user input throws
// strata::Error with a message that names the operation and the offending
// shapes / dtypes / devices, so the boundary where bad input enters reports it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace strata {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <class T, class... Rest>
void append_all(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append_all(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one string.
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::append_all(os, args...);
  return os.str();
}

}  // namespace strata

// STRATA_CHECK(cond, parts...): throws strata::Error("parts...") when cond is false.
#define STRATA_CHECK(cond, ...)                                        \
  do {                                                                 \
    if (!(cond)) throw ::strata::Error(::strata::str_cat(__VA_ARGS__)); \
  } while (0)

#define STRATA_FAIL(...) throw ::strata::Error(::strata::str_cat(__VA_ARGS__))
