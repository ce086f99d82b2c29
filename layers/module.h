// Module: the base of every layer and model.
//
// A module owns named parameters (trainable leaves), named buffers (state that
// is saved but not trained, e.g. batch-norm running statistics) and named child
// modules. Names compose with dots, as PyTorch's state_dict does:
// `down.0.conv1.weight`. A subclass registers everything in its constructor:
//
//   weight_ = register_parameter("weight", kaiming_uniform(...));
//   conv_   = register_module("conv", std::make_shared<Conv2d>(...));
//
// and implements forward(). Tensors are handles, so the members a subclass
// keeps and the registered entries are the same tensors; to(device) moves
// their storage in place, so those handles stay valid.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace strata {

class Module;
using ModulePtr = std::shared_ptr<Module>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  explicit Module(std::string type) : type_(std::move(type)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // x -> y. Modules with several outputs (a VAE's mean and log-variance) add
  // their own methods; forward() is the one a Sequential or a trainer calls.
  virtual Tensor forward(const Tensor& x) = 0;
  // forward(), and the bookkeeping summary() needs. Call modules this way.
  Tensor operator()(const Tensor& x);

  // The registry name of this kind of module ("conv2d", "unet2d").
  const std::string& type() const { return type_; }
  // A one-line description of the configuration, e.g. "16->32, k3, s1, p1".
  virtual std::string describe() const { return ""; }

  // ---- parameters, buffers, children (recursive, registration order) --------
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  // Parameters and buffers: what a checkpoint saves.
  std::map<std::string, Tensor> state_dict() const;
  // This module (name "") and every descendant.
  std::vector<std::pair<std::string, Module*>> named_modules();
  ModulePtr child(const std::string& name) const;  // direct child; error when absent
  int64_t parameter_count(bool trainable_only = false) const;

  // ---- modes and placement -------------------------------------------------
  virtual void train(bool on = true);  // recursive; a model may keep parts in eval (a frozen encoder)
  void eval() { train(false); }
  bool training() const { return training_; }
  // Moves every parameter and buffer to `device` in place; gradients are dropped.
  void to(Device device);
  Device device() const;  // of the first parameter or buffer (CPU if none)
  void zero_grad();
  // Freezes (false) or unfreezes every parameter of this subtree.
  void requires_grad_(bool on);

  // A table of every module a forward pass on zeros of `input_shape` calls:
  // name, type, output shape and parameter count, with the totals. Runs in
  // eval mode without gradients and restores the mode.
  std::string summary(const Shape& input_shape);

 protected:
  // Registers (and returns) a parameter; it becomes a leaf that requires grad.
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, ModulePtr m);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;

  std::string type_;
  bool training_ = true;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
};

}  // namespace strata
