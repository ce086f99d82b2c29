#include "layers/optimizer.h"

#include <cmath>
#include <set>
#include <utility>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "layers/data_parallel.h"

namespace strata {

// ---- schedules ---------------------------------------------------------------
double LrSchedule::factor(int64_t step) const {
  double f = 1;
  const double total = double(std::max<int64_t>(total_steps, 1));
  const double t = std::min(double(step), total);
  switch (kind) {
    case Kind::constant: break;
    case Kind::step: f = std::pow(gamma, double(step / std::max<int64_t>(step_size, 1))); break;
    case Kind::poly: f = std::pow(1.0 - t / total, power); break;
    case Kind::cosine: f = min_factor + (1 - min_factor) * 0.5 * (1 + std::cos(M_PI * t / total)); break;
  }
  if (warmup_steps > 0 && step < warmup_steps) f *= double(step + 1) / double(warmup_steps);
  return f;
}

LrSchedule LrSchedule::from_config(const Config& cfg, int64_t total_steps, const std::string& default_type) {
  LrSchedule s;
  const std::string type = cfg.get_choice("type", default_type, {"constant", "step", "poly", "cosine"});
  s.kind = type == "step" ? Kind::step : type == "poly" ? Kind::poly : type == "cosine" ? Kind::cosine : Kind::constant;
  s.total_steps = total_steps;
  if (s.kind == Kind::step) {
    s.step_size = cfg.get_int("step_size", 1000, Bounds::at_least(1));
    s.gamma = cfg.get_double("gamma", 0.1, Bounds::positive());
  }
  if (s.kind == Kind::poly) s.power = cfg.get_double("power", 0.9, Bounds::positive());
  if (s.kind == Kind::cosine) s.min_factor = cfg.get_double("min_factor", 0.0, Bounds::between(0, 1));
  s.warmup_steps = cfg.get_int("warmup_steps", 0, Bounds::at_least(0));
  return s;
}

// ---- the optimizer base ----------------------------------------------------------
void Optimizer::add_group(ParamGroup group) {
  STRATA_CHECK(group.lr >= 0, "optimizer: group '", group.name, "' has a negative learning rate ", group.lr);
  std::set<std::string> taken;
  for (const ParamGroup& g : groups_)
    for (const auto& [n, _] : g.params) taken.insert(n);
  for (const auto& [n, t] : group.params) {
    STRATA_CHECK(!taken.count(n), "optimizer: parameter '", n, "' is in two groups");
    STRATA_CHECK(is_floating(t.dtype()), "optimizer: parameter '", n, "' is not floating point");
  }
  groups_.push_back(std::move(group));
}

double Optimizer::lr(size_t group) const {
  STRATA_CHECK(group < groups_.size(), "optimizer: no parameter group ", group);
  return groups_[group].lr * schedule_.factor(steps_);
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (const ParamGroup& group : groups_)
    for (const auto& [_, p] : group.params) out.push_back(p);
  return out;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  const std::vector<Tensor> params = parameters();
  allreduce_gradients(params);  // data-parallel ranks: the average over the global batch (no-op on one)
  const double f = schedule_.factor(steps_);
  const bool graphed = std::exchange(graphed_next_, false);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    const void* device_values = graphed ? graph_values_[gi].raw_data() : nullptr;
    for (const auto& [name, p] : group.params) {
      const Tensor g = p.grad();
      if (!g.defined()) continue;
      STRATA_CHECK(g.shape() == p.shape() && g.device() == p.device(), "optimizer: gradient of '", name, "' is ",
                   shape_str(g.shape()), " on ", g.device().str(), ", the parameter ", shape_str(p.shape()), " on ",
                   p.device().str());
      STRATA_CHECK(p.is_contiguous(), "optimizer: parameter '", name, "' is not contiguous");
      ParamState& st = state_[name];
      if (st.slots.empty())
        for (size_t i = 0; i < slot_names().size(); ++i) st.slots.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
      ++st.steps;
      update(group, group.lr * f, p, g.contiguous(), st.slots, st.steps, device_values);
      p.storage()->bump_version();
    }
  }
  ++steps_;
  gradients_consumed(params);
}

void Optimizer::prepare_graphed_step() {
  const double f = schedule_.factor(steps_);
  graph_values_.resize(groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& group = groups_[gi];
    if (group.params.empty()) continue;
    const Tensor& first = group.params.front().second;
    STRATA_CHECK(first.device().is_cuda(), "optimizer: a graphed step needs CUDA parameters; '",
                 group.params.front().first, "' is on ", first.device().str());
    int64_t stepped = -1;
    for (const auto& [name, p] : group.params) {
      const auto it = state_.find(name);
      STRATA_CHECK(it != state_.end() && it->second.steps > 0, "optimizer: parameter '", name,
                   "' has not been stepped yet: run one step eagerly before capturing one in a graph");
      STRATA_CHECK(stepped < 0 || it->second.steps == stepped, "optimizer: parameter '", name, "' has taken ",
                   it->second.steps, " steps and others ", stepped,
                   ": a graph's step updates every parameter of a group together");
      STRATA_CHECK(p.dtype() == first.dtype() && p.device() == first.device(), "optimizer: parameter '", name,
                   "' differs in dtype or device from '", group.params.front().first, "' in its group");
      stepped = it->second.steps;
    }
    const std::vector<double> values = graph_values(group, group.lr * f, stepped + 1);
    Tensor& dst = graph_values_[gi];
    if (!dst.defined() || dst.dtype() != first.dtype() || dst.device() != first.device() ||
        dst.numel() != int64_t(values.size()))
      dst = Tensor::zeros({int64_t(values.size())}, first.dtype(), first.device());
    NoGradGuard no_grad;
    dst.copy_(Tensor::from_vector(values, {int64_t(values.size())}));
  }
  graphed_next_ = true;
  graph_prepared_at_ = steps_;
}

void Optimizer::abandon_graphed_step() {
  graphed_next_ = false;
  if (steps_ == graph_prepared_at_ + 1) {  // the failed capture's step() counted a step that never ran
    for (const ParamGroup& group : groups_)
      for (const auto& [name, p] : group.params) --state_[name].steps;
    --steps_;
  }
  graph_prepared_at_ = -1;
}

void Optimizer::count_replayed_step() {
  graphed_next_ = false;  // the replay was the step the values were written for
  for (const ParamGroup& group : groups_)
    for (const auto& [name, p] : group.params) ++state_[name].steps;
  ++steps_;
}

void Optimizer::zero_grad() {
  gradients_consumed(parameters());
  for (const ParamGroup& group : groups_)
    for (const auto& [_, p] : group.params) p.zero_grad();
}

std::map<std::string, Tensor> Optimizer::state() const {
  std::map<std::string, Tensor> out;
  const std::vector<std::string> slots = slot_names();
  for (const auto& [name, st] : state_) {
    for (size_t i = 0; i < st.slots.size(); ++i) out.emplace(slots[i] + "." + name, st.slots[i]);
    out.emplace("step." + name, Tensor::scalar(double(st.steps), DType::i64));
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state, int64_t steps) {
  NoGradGuard no_grad;
  const std::vector<std::string> slots = slot_names();
  std::map<std::string, ParamState> loaded;
  std::set<std::string> used;
  for (const ParamGroup& group : groups_)
    for (const auto& [name, p] : group.params) {
      const auto step_it = state.find("step." + name);
      if (step_it == state.end()) continue;  // never updated (e.g. frozen)
      used.insert(step_it->first);
      ParamState st;
      st.steps = step_it->second.to(DType::i64).item<int64_t>();
      for (const std::string& slot : slots) {
        const auto it = state.find(slot + "." + name);
        STRATA_CHECK(it != state.end(), "optimizer state: '", slot, ".", name, "' is missing");
        STRATA_CHECK(it->second.shape() == p.shape(), "optimizer state: '", slot, ".", name, "' is ",
                     shape_str(it->second.shape()), ", the parameter ", shape_str(p.shape()));
        used.insert(it->first);
        st.slots.push_back(it->second.to(p.dtype()).to(p.device()).contiguous().clone());
      }
      loaded.emplace(name, std::move(st));
    }
  for (const auto& [k, _] : state)
    STRATA_CHECK(used.count(k), "optimizer state: '", k, "' belongs to no parameter of this ", name(), " optimizer");
  state_ = std::move(loaded);
  steps_ = steps;
}

// ---- SGD ------------------------------------------------------------------------------
Sgd::Sgd(double momentum, double dampening, bool nesterov)
    : momentum_(momentum), dampening_(dampening), nesterov_(nesterov) {
  STRATA_CHECK(momentum >= 0, "sgd: momentum must be >= 0, got ", momentum);
  STRATA_CHECK(!nesterov || (momentum > 0 && dampening == 0), "sgd: Nesterov needs momentum > 0 and no dampening");
}

std::vector<std::string> Sgd::slot_names() const {
  return momentum_ != 0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{};
}

void Sgd::update(const ParamGroup& group, double lr, const Tensor& p, const Tensor& g,
                 std::vector<Tensor>& slots, int64_t param_step, const void* device_values) {
  SgdParams s{lr, momentum_, dampening_, group.weight_decay, nesterov_, param_step == 1, device_values};
  backend_for(p.device()).sgd_update(p.dtype(), s, p.raw_data(), g.raw_data(),
                                     slots.empty() ? nullptr : slots[0].raw_data(), p.numel());
}

// ---- Adam / AdamW ------------------------------------------------------------------------
Adam::Adam(double beta1, double beta2, double eps, bool decoupled)
    : beta1_(beta1), beta2_(beta2), eps_(eps), decoupled_(decoupled) {
  STRATA_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "adam: betas must be in [0, 1), got ", beta1,
               ", ", beta2);
  STRATA_CHECK(eps > 0, "adam: eps must be > 0, got ", eps);
}

std::vector<double> Sgd::graph_values(const ParamGroup&, double lr, int64_t) const { return {lr}; }

void Adam::update(const ParamGroup& group, double lr, const Tensor& p, const Tensor& g,
                  std::vector<Tensor>& slots, int64_t param_step, const void* device_values) {
  AdamParams a;
  a.lr = lr;
  a.beta1 = beta1_;
  a.beta2 = beta2_;
  a.eps = eps_;
  a.weight_decay = group.weight_decay;
  a.bias_correction1 = 1 - std::pow(beta1_, double(param_step));
  a.bias_correction2 = 1 - std::pow(beta2_, double(param_step));
  a.decoupled = decoupled_;
  a.device_coefficients = device_values;
  backend_for(p.device()).adam_update(p.dtype(), a, p.raw_data(), g.raw_data(), slots[0].raw_data(),
                                      slots[1].raw_data(), p.numel());
}

// The coefficients adam_coefficients computes from lr and the bias corrections (kernels/optimizer.h).
std::vector<double> Adam::graph_values(const ParamGroup& group, double lr, int64_t param_step) const {
  const double bias_correction1 = 1 - std::pow(beta1_, double(param_step));
  const double bias_correction2 = 1 - std::pow(beta2_, double(param_step));
  return {lr / bias_correction1, std::sqrt(bias_correction2), lr * group.weight_decay};
}

// ---- construction from config ----------------------------------------------------------------
std::unique_ptr<Optimizer> make_optimizer(const Config& cfg, const NamedTensors& params, int64_t total_steps,
                                          const OptimizerDefaults& defaults) {
  const std::string type = cfg.get_choice("type", defaults.type, {"sgd", "adam", "adamw"});
  const double lr = cfg.get_double("lr", defaults.lr > 0 ? defaults.lr : type == "sgd" ? 0.01 : 1e-3, Bounds::positive());
  const double wd = cfg.get_double("weight_decay", type == "adamw" ? 0.01 : 0.0, Bounds::at_least(0));
  std::unique_ptr<Optimizer> opt;
  if (type == "sgd") {
    opt = std::make_unique<Sgd>(cfg.get_double("momentum", 0.0, Bounds::between(0, 1)),
                                cfg.get_double("dampening", 0.0, Bounds::between(0, 1)), cfg.get_bool("nesterov", false));
  } else {
    const std::vector<double> betas = cfg.get_double_list("betas", defaults.betas);
    STRATA_CHECK(betas.size() == 2, cfg.origin(), ": ", cfg.key_path("betas"), ": must be a list of two numbers");
    opt = std::make_unique<Adam>(betas[0], betas[1], cfg.get_double("eps", 1e-8, Bounds::positive()),
                                 type == "adamw");
  }

  struct Rule {
    std::string match;
    ParamGroup group;
  };
  std::vector<Rule> rules;
  for (const Config& g : cfg.section_list("groups")) {
    const std::string match = g.require_string("match");
    rules.push_back({match, {match, {}, lr * g.get_double("lr_scale", 1.0, Bounds::at_least(0)),
                             g.get_double("weight_decay", wd, Bounds::at_least(0))}});
  }
  ParamGroup rest{"default", {}, lr, wd};
  for (const auto& [name, t] : params) {
    if (!t.requires_grad()) continue;  // frozen
    bool placed = false;
    for (Rule& r : rules)
      if (name.rfind(r.match, 0) == 0) {
        r.group.params.emplace_back(name, t);
        placed = true;
        break;
      }
    if (!placed) rest.params.emplace_back(name, t);
  }
  if (!rest.params.empty()) opt->add_group(std::move(rest));
  for (Rule& r : rules) {
    STRATA_CHECK(!r.group.params.empty(), cfg.origin(), ": ", cfg.key_path("groups"), ": match '", r.match,
                 "' selects no trainable parameter");
    opt->add_group(std::move(r.group));
  }
  opt->set_schedule(LrSchedule::from_config(cfg.section("schedule"), total_steps, defaults.schedule));
  return opt;
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  allreduce_gradients(params);  // the norm of the averaged gradient, the same on every rank
  double total_sq = 0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) total_sq += sum(mul(g, g)).to(DType::f64).item<double>();
  }
  const double norm = std::sqrt(total_sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (g.defined()) g.mul_(scale);
    }
  }
  return norm;
}

}  // namespace strata
