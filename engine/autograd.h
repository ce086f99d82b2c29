// Reverse-mode automatic differentiation over a dynamic graph.
//
// Every differentiable op computes its output and then calls record(), which
// (when grad mode is on and some input requires grad) attaches a Node holding
// the op's backward rule: a function from the output gradient to one gradient
// per input. Rules are written beside their forward in engine/ops_*.cpp and
// are themselves made of tensor ops, so they run on any device. backward()
// walks the graph in topological order, sums gradients arriving at the same
// node, accumulates into leaves, and frees each node's saved tensors unless
// retain_graph is set. Higher-order gradients are not supported.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace strata {

// Grad mode is per thread and on by default.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Prediction with fixed weights: autograd records nothing (as NoGradGuard), and
// while a guard lives on this thread the weights of its convolutions are taken
// to stay as they are, so kernels may keep what they derive from them (the
// CPU's Winograd-transformed filters, derived once per layer instead of once per
// call: a prediction of many sections or tiles runs faster). Weights written
// through the engine meanwhile (in-place ops, an optimizer step) are noticed by
// their version and derived again; writing them through raw_data() inside the
// guard is not allowed. Only parameters (tensors that require grad) are named.
// What was kept is released when the last guard of the process ends. The apps'
// eval, predict and validation (apps/common/driver.cpp) and the OpendTect
// attribute run inside one.
class InferenceMode {
 public:
  InferenceMode();
  ~InferenceMode();
  InferenceMode(const InferenceMode&) = delete;
  InferenceMode& operator=(const InferenceMode&) = delete;

 private:
  NoGradGuard no_grad_;
};
// True while an InferenceMode lives on this thread.
bool inference_mode();

// A tensor kept for the backward pass. It holds the data only (no history),
// and get() fails if the data was modified in place after it was saved.
class Saved {
 public:
  Saved() = default;
  explicit Saved(const Tensor& t);
  const Tensor& get() const;

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const Tensor& grad_output)>;

class Node {
 public:
  Node(std::string name, const std::vector<Tensor>& inputs, BackwardFn fn);
  const std::string& name() const { return name_; }
  bool released() const { return !fn_; }

 private:
  friend void run_backward(const Tensor&, const Tensor&, bool);
  // Where the gradient of input i goes: the node that produced it, or the leaf
  // itself; neither when the input does not require grad.
  struct Edge {
    std::shared_ptr<Node> fn;
    std::weak_ptr<TensorImpl> leaf;
    bool active = false;
    Shape shape;
    DType dtype = DType::f32;
  };
  std::string name_;
  std::vector<Edge> edges_;
  BackwardFn fn_;
};

// Attaches the backward rule `fn` of op `name` to `out` when grad mode is on
// and any of `inputs` requires grad; returns `out`.
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn);

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace strata
