// Files at the boundary: every path a user names is checked here, so that a
// directory where a file is expected, a parent that is a file, or a FIFO / device
// at an output path becomes a strata::Error naming the path, never a
// std::filesystem exception or a destroyed special file.
//
//   require_input_file(path, what)   an existing regular file (or a link to one)
//   output_target(path)              where an output named `path` is written:
//                                    a symlink is followed to its target, an
//                                    existing directory, FIFO, socket or device
//                                    is refused, and the parent folder is created
//   write_file_atomic(path, body)    body writes into <target>.tmp, which is then
//                                    renamed over the target: readers never see
//                                    a half-written file
//   create_directories_checked(dir)  mkdir -p with errors naming the blocking path
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace strata {

// `what` names the role in the message ("checkpoint", "config", "input").
void require_input_file(const std::string& path, const std::string& what);

// The file name's extension in lower case, with its dot (".png" for "A.PNG"; "" for none).
std::string lower_extension(const std::string& path);

// Returns the path the output is written to (the target of a symlink).
std::string output_target(const std::string& path);

void create_directories_checked(const std::string& dir);

// Opens <target>.tmp in binary mode, runs `body`, checks the stream, renames.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& body);

// write_file_atomic for writers that take a file name (stb_image_write, ...):
// `body` writes the file at the given temporary path and returns false on failure.
void write_file_atomic_via(const std::string& path, const std::function<bool(const std::string& tmp)>& body);

}  // namespace strata
