// Optimizers (SGD, Adam, AdamW), learning-rate schedules and gradient clipping.
//
// An optimizer holds parameter groups, each with its own base learning rate
// and weight decay (a discriminator, or the "10x last layer" of Hung et al.,
// is a group). step() multiplies every group's base rate by the schedule's
// factor for the current step and applies one fused update kernel per
// parameter (kernels/optimizer.h, on the parameter's device). Parameters
// without a gradient (frozen, or unused this step) are skipped, as PyTorch does.
//
// State (momentum buffers, Adam moments, per-parameter step counts) is keyed
// by parameter name, so checkpoints are readable and survive reordering.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "layers/module.h"

namespace strata {

// factor(step) multiplies the base learning rate; step counts from 0.
//   constant: 1;  step: gamma^(step / step_size);  poly: (1 - step / total)^power;
//   cosine: min_factor + (1 - min_factor) (1 + cos(pi step / total)) / 2.
// With warmup_steps > 0 the factor ramps linearly from 1 / warmup_steps to the
// schedule's value over the first warmup_steps steps.
struct LrSchedule {
  enum class Kind { constant, step, poly, cosine };
  Kind kind = Kind::constant;
  int64_t total_steps = 0;  // poly, cosine
  int64_t step_size = 1;    // step
  double gamma = 0.1;       // step
  double power = 0.9;       // poly
  double min_factor = 0;    // cosine
  int64_t warmup_steps = 0;

  double factor(int64_t step) const;
  // Keys: type (constant | step | poly | cosine), step_size, gamma, power,
  // min_factor, warmup_steps; total_steps comes from the trainer.
  // `default_type`: the schedule when cfg names none.
  static LrSchedule from_config(const Config& cfg, int64_t total_steps, const std::string& default_type = "constant");
};

struct ParamGroup {
  std::string name;
  NamedTensors params;
  double lr = 1e-3;
  double weight_decay = 0;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Parameters may belong to one group only.
  void add_group(ParamGroup group);
  const std::vector<ParamGroup>& groups() const { return groups_; }
  void set_schedule(const LrSchedule& s) { schedule_ = s; }
  const LrSchedule& schedule() const { return schedule_; }

  // One update of every parameter that has a gradient, then steps() + 1. In
  // data-parallel training the gradients are first averaged over the ranks
  // (layers/data_parallel.h).
  void step();
  std::vector<Tensor> parameters() const;  // of every group, in order
  void zero_grad();
  int64_t steps() const { return steps_; }
  double lr(size_t group = 0) const;  // the rate the next step() will use

  // A step replayed from a CUDA graph (layers/graphed_step.h). prepare_graphed_step writes, on the device,
  // the rate and bias corrections of the step to come; the next step() (the one captured) has its updates read
  // them there when they run, so a replay takes the values written before it. count_replayed_step advances the
  // step counters as the replayed step() would have (and leaves the next step() an eager one). Every
  // parameter must have been stepped eagerly before (its state exists, and the captured step must not create
  // it) and as often as the others.
  void prepare_graphed_step();
  void count_replayed_step();
  // After a capture that failed: the counters as before it, and the next step() an eager one.
  void abandon_graphed_step();

  // Named state tensors ("<slot>.<param name>", e.g. "exp_avg.down.0.conv1.weight").
  std::map<std::string, Tensor> state() const;
  // Restores state() and the step count; names and shapes must match.
  void load_state(const std::map<std::string, Tensor>& state, int64_t steps);
  virtual std::string name() const = 0;

 protected:
  // Updates p in place from its gradient g; `slots` is this parameter's state
  // (created on first use with slot_names().size() zero tensors like p).
  // `device_values`: a graph's step (nullptr otherwise): graph_values(group, lr, param_step) on the device.
  virtual void update(const ParamGroup& group, double lr, const Tensor& p, const Tensor& g,
                      std::vector<Tensor>& slots, int64_t param_step, const void* device_values) = 0;
  virtual std::vector<std::string> slot_names() const = 0;
  // What a graph's update reads on the device (kernels/optimizer.h: device_lr, device_coefficients).
  virtual std::vector<double> graph_values(const ParamGroup& group, double lr, int64_t param_step) const = 0;

 private:
  struct ParamState {
    std::vector<Tensor> slots;
    int64_t steps = 0;
  };
  std::vector<ParamGroup> groups_;
  std::map<std::string, ParamState> state_;
  LrSchedule schedule_;
  int64_t steps_ = 0;
  bool graphed_next_ = false;        // the next step() is a graph's
  int64_t graph_prepared_at_ = -1;   // steps_ when prepare_graphed_step ran
  std::vector<Tensor> graph_values_;  // per group, on the parameters' device
};

class Sgd : public Optimizer {
 public:
  Sgd(double momentum = 0, double dampening = 0, bool nesterov = false);
  std::string name() const override { return "sgd"; }

 protected:
  void update(const ParamGroup& group, double lr, const Tensor& p, const Tensor& g,
              std::vector<Tensor>& slots, int64_t param_step, const void* device_values) override;
  std::vector<double> graph_values(const ParamGroup& group, double lr, int64_t param_step) const override;
  std::vector<std::string> slot_names() const override;

 private:
  double momentum_, dampening_;
  bool nesterov_;
};

// Adam (L2 weight decay) or, with decoupled = true, AdamW.
class Adam : public Optimizer {
 public:
  Adam(double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, bool decoupled = false);
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }

 protected:
  void update(const ParamGroup& group, double lr, const Tensor& p, const Tensor& g,
              std::vector<Tensor>& slots, int64_t param_step, const void* device_values) override;
  std::vector<double> graph_values(const ParamGroup& group, double lr, int64_t param_step) const override;
  std::vector<std::string> slot_names() const override { return {"exp_avg", "exp_avg_sq"}; }

 private:
  double beta1_, beta2_, eps_;
  bool decoupled_;
};

// Builds an optimizer for `params` from a config map:
//   type: sgd | adam | adamw;  lr;  weight_decay;  momentum, dampening, nesterov (sgd);
//   betas: [b1, b2], eps (adam, adamw);
//   groups: [{match: "head.", lr_scale: 10, weight_decay: 0}, ...]  parameters whose
//     name starts with `match` form that group (first match wins; the rest: "default");
//   schedule: {type: poly, power: 0.9, warmup_steps: 0, ...}  (LrSchedule::from_config).
// `defaults` are what an absent key means for this optimizer (a discriminator's Adam at 1e-4, say); the
// resolved values are recorded in the config, so a saved config shows them.
struct OptimizerDefaults {
  std::string type = "adam";
  double lr = 0;                    // 0: the type's own (sgd 0.01, adam / adamw 1e-3)
  std::vector<double> betas{0.9, 0.999};
  std::string schedule = "constant";
};
std::unique_ptr<Optimizer> make_optimizer(const Config& cfg, const NamedTensors& params, int64_t total_steps,
                                          const OptimizerDefaults& defaults = {});

// Scales all gradients so their global L2 norm is at most max_norm (PyTorch's
// clip_grad_norm_: factor max_norm / (norm + 1e-6) when norm > max_norm).
// Returns the norm before clipping.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace strata
