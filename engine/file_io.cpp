#include "engine/file_io.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "engine/error.h"

namespace fs = std::filesystem;

namespace strata {
namespace {

// "a file", "a directory", "a FIFO", ... for the messages.
std::string kind_of(const fs::file_status& s) {
  switch (s.type()) {
    case fs::file_type::regular: return "a file";
    case fs::file_type::directory: return "a directory";
    case fs::file_type::fifo: return "a FIFO (named pipe)";
    case fs::file_type::socket: return "a socket";
    case fs::file_type::block: return "a block device";
    case fs::file_type::character: return "a character device";
    case fs::file_type::symlink: return "a symbolic link";
    default: return "not a regular file";
  }
}

// The first existing ancestor of `p` that is not a directory, or "" when none.
std::string blocking_ancestor(const fs::path& p) {
  for (fs::path a = p; !a.empty() && a != a.root_path(); a = a.parent_path()) {
    std::error_code ec;
    const fs::file_status s = fs::status(a, ec);
    if (ec || !fs::exists(s)) continue;
    return fs::is_directory(s) ? "" : a.string();
  }
  return "";
}

}  // namespace

std::string lower_extension(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return e;
}

void require_input_file(const std::string& path, const std::string& what) {
  STRATA_CHECK(!path.empty(), "no ", what, " file given (empty path)");
  std::error_code ec;
  const fs::file_status s = fs::status(path, ec);
  if (!fs::exists(s)) {
    const std::string block = blocking_ancestor(fs::path(path).parent_path());
    STRATA_CHECK(block.empty(), path, ": no such ", what, " file (", block, " is a file, not a folder)");
    STRATA_FAIL(path, ": no such ", what, " file");
  }
  STRATA_CHECK(!fs::is_directory(s), path, ": is a directory; the ", what, " must be a file");
  STRATA_CHECK(fs::is_regular_file(s), path, ": is ", kind_of(s), ", not a regular ", what, " file");
  STRATA_CHECK(::access(path.c_str(), R_OK) == 0 || ::geteuid() == 0, path, ": cannot be read (permission denied)");
}

void create_directories_checked(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  const fs::file_status s = fs::status(dir, ec);
  if (fs::is_directory(s)) return;
  STRATA_CHECK(!fs::exists(s), dir, ": is ", kind_of(s), ", not a folder");
  const std::string block = blocking_ancestor(fs::path(dir));
  STRATA_CHECK(block.empty(), dir, ": cannot create the folder: ", block, " is a file, not a folder");
  fs::create_directories(dir, ec);
  STRATA_CHECK(!ec, dir, ": cannot create the folder: ", ec.message());
}

std::string output_target(const std::string& path) {
  STRATA_CHECK(!path.empty(), "no output file given (empty path)");
  std::error_code ec;
  fs::path target(path);
  if (fs::is_symlink(fs::symlink_status(target, ec))) {
    const fs::path link = fs::read_symlink(target, ec);
    STRATA_CHECK(!ec, path, ": cannot read the symbolic link: ", ec.message());
    target = link.is_absolute() ? link : fs::path(path).parent_path() / link;
  }
  const fs::file_status s = fs::status(target, ec);
  if (fs::exists(s)) {
    STRATA_CHECK(!fs::is_directory(s), path, ": is a directory; give a file name for the output");
    STRATA_CHECK(fs::is_regular_file(s), path, ": is ", kind_of(s),
                 "; strata writes outputs only over regular files (remove it or choose another path)");
  }
  create_directories_checked(target.parent_path().string());
  return target.string();
}

void write_file_atomic_via(const std::string& path, const std::function<bool(const std::string& tmp)>& body) {
  const std::string target = output_target(path);
  const std::string tmp = target + ".tmp";
  std::error_code ec;
  const fs::file_status ts = fs::symlink_status(tmp, ec);
  STRATA_CHECK(!fs::exists(ts) || fs::is_regular_file(ts), tmp, ": is ", kind_of(ts),
               "; strata needs this name for a temporary file");
  if (!body(tmp)) {
    fs::remove(tmp, ec);
    STRATA_FAIL(path, ": cannot write ", tmp, " (permission, or disk full?)");
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    STRATA_FAIL(path, ": cannot move ", tmp, " into place: ", why);
  }
}

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& body) {
  write_file_atomic_via(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out.good()) return false;
    body(out);
    out.flush();
    return out.good();
  });
}

}  // namespace strata
