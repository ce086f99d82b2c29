#include "engine/autograd.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <unordered_map>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/profile.h"
#include "engine/trace.h"
#include "kernels/cpu/filter_cache.h"

namespace strata {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

namespace {
thread_local int t_inference_depth = 0;
std::atomic<int> g_inference_guards{0};
}  // namespace

InferenceMode::InferenceMode() {
  ++t_inference_depth;
  ++g_inference_guards;
}
InferenceMode::~InferenceMode() {
  --t_inference_depth;
  if (--g_inference_guards == 0) cpu::clear_filter_cache();
}
bool inference_mode() { return t_inference_depth > 0; }

Saved::Saved(const Tensor& t) : tensor_(t.detach()), version_(t.version()) {}

const Tensor& Saved::get() const {
  STRATA_CHECK(tensor_.version() == version_,
               "a tensor saved for backward (shape ", shape_str(tensor_.shape()),
               ") was modified by an in-place operation after it was saved (version ", tensor_.version(),
               ", saved at ", version_, ")");
  return tensor_;
}

Node::Node(std::string name, const std::vector<Tensor>& inputs, BackwardFn fn)
    : name_(std::move(name)), fn_(std::move(fn)) {
  edges_.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    Edge e;
    if (in.defined() && in.requires_grad()) {
      e.active = true;
      e.shape = in.shape();
      e.dtype = in.dtype();
      if (in.grad_fn()) e.fn = in.grad_fn();
      else e.leaf = in.impl_ptr();
    }
    edges_.push_back(std::move(e));
  }
}

Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn) {
  if (tracing()) trace_record(name, inputs, out);
  if (!grad_enabled()) return out;
  const bool any = std::any_of(inputs.begin(), inputs.end(),
                               [](const Tensor& t) { return t.defined() && t.requires_grad(); });
  if (!any) return out;
  out.impl().grad_fn = std::make_shared<Node>(name, inputs, std::move(fn));
  out.impl().requires_grad = true;
  return out;
}

namespace {

void accumulate_into_leaf(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad) {
    leaf.grad = g.clone().impl_ptr();  // own copy: never alias a graph buffer
  } else {
    Tensor(leaf.grad).add_(g);
  }
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
  STRATA_CHECK(root.requires_grad(), "backward: the tensor (shape ", shape_str(root.shape()),
               ") does not require grad and has no grad_fn");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    STRATA_CHECK(root.numel() == 1, "backward: grad can be omitted only for a one-element output, got shape ",
                 shape_str(root.shape()));
    grad = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  STRATA_CHECK(grad.shape() == root.shape(), "backward: gradient shape ", shape_str(grad.shape()),
               " does not match the output shape ", shape_str(root.shape()));
  STRATA_CHECK(grad.dtype() == root.dtype(), "backward: gradient dtype ", grad.dtype(),
               " does not match the output dtype ", root.dtype());
  STRATA_CHECK(grad.device() == root.device(), "backward: gradient is on ", grad.device(),
               ", the output on ", root.device());

  NoGradGuard no_grad;
  if (!root.grad_fn()) {  // a leaf: its gradient is `grad`
    accumulate_into_leaf(root.impl(), grad);
    return;
  }

  // Count, for every node reachable from the root, how many edges point at it.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{root.grad_fn().get()};
  pending[root.grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    STRATA_CHECK(!n->released(), "backward through the graph a second time: the saved tensors of '", n->name(),
                 "' were freed by the first backward; pass retain_graph=true to keep them");
    for (const auto& e : n->edges_) {
      if (!e.fn) continue;
      auto [it, inserted] = pending.try_emplace(e.fn.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(e.fn.get());
    }
  }

  // Kahn's algorithm: a node runs once all gradients flowing into it are summed.
  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = grad;
  // Gradients for a leaf used several times are summed first and then added
  // to its .grad once, so an existing .grad sees exactly one addition.
  std::map<std::shared_ptr<TensorImpl>, Tensor> leaf_grads;
  std::vector<std::shared_ptr<Node>> ready{root.grad_fn()};
  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    // A node whose every incoming gradient was undefined (e.g. the index
    // input of gather) still runs, so that the counts of its inputs go down.
    Tensor g;
    if (auto it = grads.find(node.get()); it != grads.end()) {
      g = std::move(it->second);
      grads.erase(it);
    }
    Grads input_grads(node->edges_.size());
    if (g.defined()) {
      try {
        if (profile::enabled()) {
          profile::wait_for_devices();
          const auto t0 = std::chrono::steady_clock::now();
          input_grads = node->fn_(g);
          profile::wait_for_devices();
          profile::add("bwd " + node->name() + " " + shape_str(g.shape()),
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        } else {
          input_grads = node->fn_(g);
        }
      } catch (const Error& err) {
        STRATA_FAIL("in the backward of '", node->name(), "': ", err.what());
      }
      STRATA_CHECK(input_grads.size() == node->edges_.size(), "backward rule of '", node->name(), "' returned ",
                   input_grads.size(), " gradients for ", node->edges_.size(), " inputs");
    }
    for (size_t i = 0; i < node->edges_.size(); ++i) {
      const auto& e = node->edges_[i];
      const Tensor& gi = input_grads[i];
      if (!e.active) continue;
      if (gi.defined()) {
        STRATA_CHECK(gi.shape() == e.shape && gi.dtype() == e.dtype, "backward rule of '", node->name(),
                     "' produced a gradient of shape ", shape_str(gi.shape()), " ", gi.dtype(), " for input ", i,
                     " of shape ", shape_str(e.shape), " ", e.dtype);
      }
      if (e.fn) {
        if (gi.defined()) {
          auto [it, inserted] = grads.try_emplace(e.fn.get(), gi);
          if (!inserted) it->second = add(it->second, gi);
        }
        if (--pending[e.fn.get()] == 0) ready.push_back(e.fn);
      } else if (gi.defined()) {
        if (auto leaf = e.leaf.lock()) {
          auto [it, inserted] = leaf_grads.try_emplace(leaf, gi);
          if (!inserted) it->second = add(it->second, gi);
        }
      }
    }
    if (!retain_graph) node->fn_ = nullptr;  // frees the saved tensors
  }
  for (auto& [leaf, g] : leaf_grads) accumulate_into_leaf(*leaf, g);
}

}  // namespace strata
