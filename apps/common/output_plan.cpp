#include "apps/common/output_plan.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "engine/error.h"
#include "engine/file_io.h"

namespace fs = std::filesystem;

namespace strata {

std::string canonical_key(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? fs::absolute(path).lexically_normal().string() : p.string();
}

namespace {

// True when `a` and `b` are the same existing file (hard links included).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec) && !ec;
}

}  // namespace

OutputPlan::OutputPlan(const std::vector<std::string>& inputs) {
  for (const std::string& in : inputs) inputs_.emplace(canonical_key(in), in);
}

void OutputPlan::add(const std::string& output, const std::string& source) {
  const std::string key = canonical_key(output);
  const auto in = inputs_.find(key);
  STRATA_CHECK(in == inputs_.end(), output, ": the output of ", source, " would overwrite the input ", in->second,
               "; write the outputs to another folder (--output)");
  std::error_code ec;
  if (fs::exists(key, ec))
    for (const auto& [k, given] : inputs_)
      STRATA_CHECK(!same_file(k, key), output, ": the output of ", source, " is the same file as the input ", given,
                   " (a hard link); write the outputs to another folder (--output)");
  const auto [it, fresh] = claimed_.emplace(key, source);
  STRATA_CHECK(fresh, output, ": both ", it->second, " and ", source,
               " would write this file (outputs are named by the input's stem); rename one of them or predict them "
               "separately");
}

void refuse_output_onto_input(const std::string& output, const std::string& input) {
  OutputPlan plan({input});
  plan.add(output, input);
}

bool output_names_a_file(const std::string& input, size_t inputs, const std::string& output,
                         const std::vector<std::string>& extensions) {
  std::error_code ec;
  return inputs == 1 && fs::is_regular_file(input, ec) && !fs::is_directory(output, ec) &&
         std::find(extensions.begin(), extensions.end(), lower_extension(output)) != extensions.end();
}

std::string output_stem(const std::string& output, const std::string& input, bool output_is_a_file) {
  if (output_is_a_file) return (fs::path(output).parent_path() / fs::path(output).stem()).string();
  return (fs::path(output) / fs::path(input).stem()).string();
}

}  // namespace strata
