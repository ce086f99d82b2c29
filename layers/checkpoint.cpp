#include "layers/checkpoint.h"

#include <set>
#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/random.h"
#include "engine/safetensors.h"
#include "layers/optimizer.h"

namespace strata {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// A prefix as callers give it ("model" or "model."), without its trailing dot: names are prefix + "." + name.
std::string scope(const std::string& prefix) {
  return !prefix.empty() && prefix.back() == '.' ? prefix.substr(0, prefix.size() - 1) : prefix;
}

// Files written before prefixes lost their trailing dot carry a double dot ("model..conv.weight",
// "optimizer..type"): read as one.
std::string undouble(const std::string& key) {
  const size_t at = key.find("..");
  return at == std::string::npos ? key : key.substr(0, at) + key.substr(at + 1);
}
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// The tensors under `prefix.`, with the prefix removed.
std::map<std::string, Tensor> under(const std::map<std::string, Tensor>& all, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  const std::string p = scope(prefix) + ".";
  for (const auto& [n, t] : all)
    if (starts_with(n, p)) out.emplace(n.substr(p.size()), t);
  return out;
}

void list_into(std::ostringstream& os, const char* label, const std::vector<std::string>& names) {
  if (names.empty()) return;
  os << "\n  " << label << " (" << names.size() << "): ";
  for (size_t i = 0; i < names.size() && i < 12; ++i) os << (i ? ", " : "") << names[i];
  if (names.size() > 12) os << ", ...";
}

}  // namespace

bool NameMapping::ignored(const std::string& name) const {
  for (const std::string& pattern : ignore) {
    const bool suffix = !pattern.empty() && pattern[0] == '*';
    if (suffix ? ends_with(name, pattern.substr(1)) : starts_with(name, pattern))
      return true;
  }
  return false;
}

std::string NameMapping::map(const std::string& name) const {
  if (ignored(name)) return "";
  for (const auto& [from, to] : rename)
    if (starts_with(name, from)) return to + name.substr(from.size());
  return name;
}

void load_state_dict(Module& module, const std::map<std::string, Tensor>& tensors, const std::string& source,
                     const NameMapping& mapping) {
  std::map<std::string, Tensor> mine = module.state_dict();
  std::map<std::string, std::pair<std::string, Tensor>> theirs;  // module name -> (file name, tensor)
  for (const auto& [n, t] : tensors) {
    const std::string m = mapping.map(n);
    if (!m.empty()) theirs.emplace(m, std::make_pair(n, t));
  }
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [n, t] : mine) {
    const auto it = theirs.find(n);
    if (it == theirs.end()) {
      missing.push_back(n);
      continue;
    }
    const Tensor& src = it->second.second;
    if (src.shape() != t.shape() || src.dtype() != t.dtype())
      mismatched.push_back(str_cat(n, " is ", shape_str(t.shape()), " ", dtype_name(t.dtype()), " here, ",
                                   shape_str(src.shape()), " ", dtype_name(src.dtype()), " in the file",
                                   it->second.first == n ? "" : " (" + it->second.first + ")"));
  }
  for (const auto& [n, v] : theirs)
    if (!mine.count(n)) unexpected.push_back(v.first == n ? n : v.first + " -> " + n);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream os;
    os << source << ": does not fit this " << module.type() << " (" << mine.size() << " tensors here, "
       << theirs.size() << " in the file)";
    list_into(os, "missing from the file", missing);
    list_into(os, "unexpected in the file", unexpected);
    list_into(os, "shape or dtype differs", mismatched);
    throw Error(os.str());
  }
  NoGradGuard no_grad;
  for (auto& [n, t] : mine) {
    t.copy_(theirs.at(n).second);
    t.zero_grad();
  }
}

// ---- Checkpoint ------------------------------------------------------------------------
void Checkpoint::add_module(const std::string& prefix, const Module& module) {
  for (const auto& [n, t] : module.state_dict()) tensors[scope(prefix) + "." + n] = t;
}

void Checkpoint::add_optimizer(const std::string& prefix, const Optimizer& optimizer) {
  const std::string p = scope(prefix);
  for (const auto& [n, t] : optimizer.state()) tensors[p + "." + n] = t;
  metadata[p + ".type"] = optimizer.name();
  metadata[p + ".steps"] = std::to_string(optimizer.steps());
}

void Checkpoint::add_tensor(const std::string& name, const Tensor& t) { tensors["extra." + name] = t; }

void Checkpoint::set_rng(const Generator& gen) {
  metadata["rng_seed"] = std::to_string(gen.seed());
  metadata["rng_offset"] = std::to_string(gen.offset());
}

std::map<std::string, std::string> Checkpoint::file_metadata() const {
  std::map<std::string, std::string> meta = metadata;
  meta["format"] = "strata-checkpoint";
  meta["format_version"] = std::to_string(kFormatVersion);
  return meta;
}

void Checkpoint::save(const std::string& file) const { save_safetensors(file, tensors, file_metadata()); }

std::string Checkpoint::bytes() const { return safetensors_bytes(tensors, file_metadata()); }

Checkpoint Checkpoint::load(const std::string& file) {
  require_input_file(file, "checkpoint");
  return from_safetensors(load_safetensors(file), file);
}

Checkpoint Checkpoint::from_bytes(const std::string& bytes, const std::string& source) {
  return from_safetensors(parse_safetensors(bytes, source), source);
}

Checkpoint Checkpoint::from_safetensors(Safetensors st, const std::string& file) {
  const auto fmt = st.metadata.find("format");
  const bool weights = fmt != st.metadata.end() && fmt->second == "strata-weights";
  STRATA_CHECK(fmt != st.metadata.end() && (fmt->second == "strata-checkpoint" || weights), file,
               ": not a strata checkpoint (no format: strata-checkpoint in its metadata); for a plain state_dict "
               "use load_state_dict");
  Checkpoint c;
  for (auto& [k, v] : st.metadata) c.metadata[undouble(k)] = std::move(v);
  c.path = file;
  const int64_t version = c.has("format_version") ? c.get_int("format_version") : 0;
  STRATA_CHECK(version >= 1, file, ": entry 'format_version' is missing or below 1");
  STRATA_CHECK(version <= kFormatVersion, file, ": checkpoint format ", version, " is newer than this strata (",
               kFormatVersion, ")");
  // A weights-only export (`APP export --format safetensors`, the zoo) holds the model under its state_dict names,
  // and the other tensors predict needs in its metadata ("tensor.extra.NAME": comma-separated f64 values).
  // (PyTorch's batch-norm counters, num_batches_tracked, have no strata counterpart.)
  for (auto& [k, t] : st.tensors)
    if (!weights || !ends_with(k, ".num_batches_tracked")) c.tensors[weights ? "model." + k : undouble(k)] = std::move(t);
  if (weights)
    for (const auto& [k, v] : c.metadata) {
      if (k.rfind("tensor.", 0) != 0) continue;
      std::vector<double> values;
      std::stringstream list(v);
      for (std::string item; std::getline(list, item, ',');) {
        try {
          values.push_back(std::stod(item));
        } catch (const std::exception&) {
          STRATA_FAIL(file, ": entry '", k, "' holds '", item, "', not a number");
        }
      }
      c.tensors[k.substr(7)] = Tensor::from_vector(values, {int64_t(values.size())});
    }
  return c;
}

void Checkpoint::restore_module(const std::string& prefix, Module& module) const {
  const auto mine = under(tensors, prefix);
  STRATA_CHECK(!mine.empty(), path, ": holds no module '", scope(prefix), "'");
  load_state_dict(module, mine, path + " [" + prefix + "]");
}

void Checkpoint::restore_optimizer(const std::string& prefix, Optimizer& optimizer) const {
  const std::string p = scope(prefix);
  const auto type = metadata.find(p + ".type");
  STRATA_CHECK(type != metadata.end(), path, ": holds no optimizer '", p, "'");
  STRATA_CHECK(type->second == optimizer.name(), path, ": optimizer '", p, "' is ", type->second,
               ", this run uses ", optimizer.name());
  optimizer.load_state(under(tensors, prefix), get_int(p + ".steps"));
}

void Checkpoint::restore_rng(Generator& gen) const {
  gen.manual_seed(uint64_t(get_int("rng_seed")));
  gen.set_offset(uint64_t(get_int("rng_offset")));
}

const Tensor& Checkpoint::tensor(const std::string& name) const {
  const auto it = tensors.find("extra." + name);
  STRATA_CHECK(it != tensors.end(), path, ": holds no tensor '", name, "'");
  return it->second;
}

const std::string& Checkpoint::get(const std::string& key) const {
  const auto it = metadata.find(key);
  STRATA_CHECK(it != metadata.end(), path, ": has no '", key, "' entry");
  return it->second;
}

namespace {

// `text` parsed whole by `parse` (std::stoll, std::stod), or an error naming the file and entry.
template <class T, class Parse>
T parse_entry(const std::string& path, const std::string& key, const std::string& text, Parse parse, const char* what) {
  size_t used = 0;
  T value{};
  try {
    value = parse(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  STRATA_CHECK(used > 0 && used == text.size(), path, ": entry '", key, "' is not ", what, ": '", text, "'");
  return value;
}

}  // namespace

int64_t Checkpoint::get_int(const std::string& key) const {
  return parse_entry<int64_t>(path, key, get(key), [](const std::string& t, size_t* n) { return std::stoll(t, n); },
                              "an integer");
}

double Checkpoint::get_double(const std::string& key) const {
  return parse_entry<double>(path, key, get(key), [](const std::string& t, size_t* n) { return std::stod(t, n); },
                             "a number");
}

}  // namespace strata
