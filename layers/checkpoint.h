// Checkpoints: one safetensors file holding everything needed to resume or to
// predict. Tensor names:
//   <module prefix>.<parameter or buffer name>   e.g. model.down.0.conv1.weight
//   <optimizer prefix>.<slot>.<parameter name>    e.g. optim.exp_avg.down.0.conv1.weight
//   extra.<name>                                   app data (e.g. input normalisation)
// and string metadata: format "strata-checkpoint", format_version, step, epoch,
// rng_seed / rng_offset, the resolved YAML config, and app keys.
// save() writes a temporary file in the same folder and renames it.
//
// Loading checks names, shapes and dtypes and reports every difference at
// once ("missing: ...; unexpected: ...; shape: x is [3] here, [4] in the file").
// PyTorch state_dicts saved as safetensors load through a NameMapping
// (renamed prefixes, ignored keys); see docs/extending.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "layers/module.h"

namespace strata {

class Generator;
class Optimizer;

// How names in a file map onto a module's names. A file name is first checked
// against `ignore` (prefix or "*suffix" patterns: skipped), then the first
// `rename` pair whose `from` prefixes it replaces that prefix with `to`.
struct NameMapping {
  std::vector<std::pair<std::string, std::string>> rename;
  std::vector<std::string> ignore;
  std::string map(const std::string& file_name) const;  // "" when ignored
  bool ignored(const std::string& file_name) const;
};

// Copies `tensors` (names as in `module.state_dict()`, after `mapping`) into
// the module's parameters and buffers, converting nothing: every name must
// exist on both sides with equal shape and dtype, or the error lists all
// differences. `source` names the file in the message.
void load_state_dict(Module& module, const std::map<std::string, Tensor>& tensors, const std::string& source,
                     const NameMapping& mapping = {});

class Checkpoint {
 public:
  static constexpr int kFormatVersion = 1;

  // ---- writing ----------------------------------------------------------------
  void add_module(const std::string& prefix, const Module& module);
  void add_optimizer(const std::string& prefix, const Optimizer& optimizer);
  void add_tensor(const std::string& name, const Tensor& t);  // stored as extra.<name>
  void set(const std::string& key, const std::string& value) { metadata[key] = value; }
  void set_rng(const Generator& gen);
  void save(const std::string& path) const;
  std::string bytes() const;  // what save() writes (e.g. to broadcast a state to other processes)

  // ---- reading ----------------------------------------------------------------
  // Errors when the file is not a strata checkpoint or has a newer format.
  static Checkpoint load(const std::string& path);
  static Checkpoint from_bytes(const std::string& bytes, const std::string& source);
  void restore_module(const std::string& prefix, Module& module) const;
  void restore_optimizer(const std::string& prefix, Optimizer& optimizer) const;
  void restore_rng(Generator& gen) const;
  bool has_tensor(const std::string& name) const { return tensors.count("extra." + name) > 0; }
  const Tensor& tensor(const std::string& name) const;  // extra.<name>
  bool has(const std::string& key) const { return metadata.count(key) > 0; }
  const std::string& get(const std::string& key) const;
  // Parsed metadata; an entry that is absent or not entirely a number is an
  // error naming the file and the entry.
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;

  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string path;  // set by load()

 private:
  std::map<std::string, std::string> file_metadata() const;
  static Checkpoint from_safetensors(Safetensors st, const std::string& source);
};

}  // namespace strata
