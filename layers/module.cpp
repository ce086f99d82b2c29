#include "layers/module.h"

#include <chrono>
#include <cstdio>
#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/profile.h"

namespace strata {
namespace {

// While summary() runs, operator() records each call here (per thread).
struct SummaryRecorder {
  struct Row {
    const Module* module;
    int depth;
    Shape output;
  };
  std::vector<Row> rows;
  int depth = 0;
};
thread_local SummaryRecorder* active_recorder = nullptr;

std::string with_thousands(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

Tensor Module::operator()(const Tensor& x) {
  SummaryRecorder* rec = active_recorder;
  if (!rec) {
    if (!profile::enabled() || !children_.empty()) return forward(x);
    // STRATA_PROFILE: leaf modules are the ops themselves; composites would count their children twice.
    profile::wait_for_devices();
    const auto t0 = std::chrono::steady_clock::now();
    Tensor y = forward(x);
    profile::wait_for_devices();
    profile::add("fwd " + type_ + " " + describe() + " " + shape_str(x.shape()),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return y;
  }
  const size_t row = rec->rows.size();
  rec->rows.push_back({this, rec->depth, {}});
  ++rec->depth;
  Tensor y = forward(x);
  --rec->depth;
  rec->rows[row].output = y.shape();
  return y;
}

void Module::check_new_name(const std::string& name) const {
  STRATA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_, ": invalid member name '", name,
               "' (non-empty, no dots)");
  auto taken = [&](const auto& members) {
    for (const auto& [n, _] : members)
      if (n == name) return true;
    return false;
  };
  STRATA_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_, ": '", name,
               "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name);
  STRATA_CHECK(t.defined(), type_, ": parameter '", name, "' is undefined");
  t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  STRATA_CHECK(t.defined(), type_, ": buffer '", name, "' is undefined");
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, ModulePtr m) {
  check_new_name(name);
  STRATA_CHECK(m != nullptr, type_, ": child module '", name, "' is null");
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  for (auto& [n, t] : named_parameters()) out.emplace(n, t);
  for (auto& [n, t] : named_buffers()) out.emplace(n, t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [n, c] : children_)
    for (auto& [sub, m] : c->named_modules()) out.emplace_back(sub.empty() ? n : n + "." + sub, m);
  return out;
}

ModulePtr Module::child(const std::string& name) const {
  for (const auto& [n, c] : children_)
    if (n == name) return c;
  STRATA_FAIL(type_, ": no child module '", name, "'");
}

int64_t Module::parameter_count(bool trainable_only) const {
  int64_t n = 0;
  for (const auto& [_, t] : named_parameters())
    if (!trainable_only || t.requires_grad()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, c] : children_) c->train(on);
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  auto move = [&](Tensor& t) {
    if (t.device() == device) return;
    const Tensor moved = t.detach().to(device);
    TensorImpl& impl = t.impl();
    impl.storage = moved.impl().storage;
    impl.strides = moved.strides();
    impl.offset = moved.offset();
    impl.grad.reset();
  };
  for (auto& [_, t] : params_) move(t);
  for (auto& [_, t] : buffers_) move(t);
  for (auto& [_, c] : children_) c->to(device);
}

Device Module::device() const {
  for (const auto& [_, t] : named_parameters()) return t.device();
  for (const auto& [_, t] : named_buffers()) return t.device();
  return Device::cpu();
}

void Module::zero_grad() {
  for (auto& [_, t] : named_parameters()) t.zero_grad();
}

void Module::requires_grad_(bool on) {
  for (auto& [_, t] : named_parameters()) {
    t.zero_grad();
    t.requires_grad_(on);
  }
}

std::string Module::summary(const Shape& input_shape) {
  SummaryRecorder rec;
  const bool was_training = training_;
  eval();
  {
    NoGradGuard no_grad;
    active_recorder = &rec;
    try {
      (*this)(Tensor::zeros(input_shape, DType::f32, device()));
    } catch (...) {
      active_recorder = nullptr;
      train(was_training);
      throw;
    }
    active_recorder = nullptr;
  }
  train(was_training);

  std::map<const Module*, std::string> names;
  for (auto& [n, m] : named_modules()) names.emplace(m, n.empty() ? "(model)" : n);
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof line, "%-44s %-22s %-24s %12s\n", "layer", "type", "output shape", "parameters");
  os << line << std::string(105, '-') << "\n";
  for (const auto& r : rec.rows) {
    const std::string name = std::string(size_t(2 * r.depth), ' ') + names[r.module];
    std::snprintf(line, sizeof line, "%-44s %-22s %-24s %12s\n", name.c_str(), r.module->type().c_str(),
                  shape_str(r.output).c_str(), with_thousands(r.module->parameter_count()).c_str());
    os << line;
  }
  os << std::string(105, '-') << "\n";
  os << "parameters: " << with_thousands(parameter_count()) << " (trainable "
     << with_thousands(parameter_count(true)) << "), input " << shape_str(input_shape) << "\n";
  return os.str();
}

}  // namespace strata
