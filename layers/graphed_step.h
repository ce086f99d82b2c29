// A training step recorded once as a CUDA graph and replayed after that, for
// models of many small kernels whose step the host cannot issue as fast as the
// GPU runs it (engine/cuda_graph.h).
//
//   Tensor x = ..., y = ..., loss;  // on the GPU; each call's batch copied into x and y first
//   GraphedStep step(optimizer, [&] {
//     optimizer.zero_grad();
//     loss = criterion((*model)(x), y);
//     loss.backward();
//     optimizer.step();
//   });
//   for (...) { x.copy_(batch); y.copy_(labels); step(); ... loss.item<float>() ... }
//
// The first call runs the step as it is (its convolutions choose their
// algorithms, the optimizer creates its state); the second captures it and
// replays the capture; every later call replays it. A replay reads the same
// tensors and writes the same tensors as the captured step, so the model,
// its parameters' gradients, the loss and the batch tensors keep their
// storage: copy new data into them, never assign new tensors. Each replay
// uses its own step's learning rate (schedules included) and Adam bias
// corrections (Optimizer::prepare_graphed_step). Needs a CUDA build and CUDA
// tensors; the step must not draw random numbers (dropout) or read values on
// the host. Index ranges (cross_entropy's class labels, gather) are checked
// on the host in the eager first call only: a replay does not check them.
#pragma once

#include <functional>
#include <memory>

#include "engine/allocator.h"
#include "layers/optimizer.h"

namespace strata {

namespace cuda {
class Graph;
}

class GraphedStep {
 public:
  GraphedStep(Optimizer& optimizer, std::function<void()> step);
  ~GraphedStep();
  GraphedStep(const GraphedStep&) = delete;
  GraphedStep& operator=(const GraphedStep&) = delete;

  void operator()();
  bool captured() const { return graph_ != nullptr; }
  // The captured step's device memory (zero before the capture).
  AllocatorStats memory() const;

 private:
  Optimizer& optimizer_;
  std::function<void()> step_;
  std::unique_ptr<cuda::Graph> graph_;
  bool warmed_up_ = false;
};

}  // namespace strata
