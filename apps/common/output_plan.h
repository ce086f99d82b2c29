// Every file a command is about to write, checked before the first byte is
// written: an output that is one of the command's inputs (symlinks and hard
// links resolved) or that two inputs would both write (a.png and a.jpg both
// giving a.png; x.png's overlay x_overlay.png beside an input x_overlay.png)
// is an error naming both, so a prediction never replaces a user's file and
// the count a command prints is the count it wrote.
//
//   OutputPlan plan(inputs);        the files the command reads
//   plan.add(out, source);          `out` will be written from `source`
//   ... write every planned file ...
#pragma once

#include <map>
#include <string>
#include <vector>

namespace strata {

class OutputPlan {
 public:
  explicit OutputPlan(const std::vector<std::string>& inputs);

  // Records that `output` is written from the input `source` (named in messages); throws strata::Error when
  // `output` is an input or another source already writes it.
  void add(const std::string& output, const std::string& source);
  size_t size() const { return claimed_.size(); }

 private:
  std::map<std::string, std::string> inputs_;   // canonical path -> the path as given
  std::map<std::string, std::string> claimed_;  // canonical output path -> the source that writes it
};

// Throws when `output` is `input` or a file `input` names (the one-input, one-output commands).
void refuse_output_onto_input(const std::string& output, const std::string& input);

// Whether a predict command writes its one input's result to the file --output names rather than into a folder:
// one input given as a file, and an --output that is not a folder and ends in one of `extensions` (lower case,
// with the dot; the output's case aside).
bool output_names_a_file(const std::string& input, size_t inputs, const std::string& output,
                         const std::vector<std::string>& extensions);
// Where an input's outputs go, less their suffix: OUTPUT/<the input's stem>, or, when --output names a file,
// that file's path less its extension (its companions, NAME_overlay.png, go beside it).
std::string output_stem(const std::string& output, const std::string& input, bool output_is_a_file);

// The path with links and ".." resolved as far as it exists (the key the checks above compare).
std::string canonical_key(const std::string& path);

}  // namespace strata
