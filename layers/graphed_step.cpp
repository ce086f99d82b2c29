#include "layers/graphed_step.h"

#include <utility>

#include "engine/error.h"
#if defined(STRATA_WITH_CUDA)
#include "engine/cuda_graph.h"
#endif

namespace strata {

#if defined(STRATA_WITH_CUDA)

GraphedStep::GraphedStep(Optimizer& optimizer, std::function<void()> step)
    : optimizer_(optimizer), step_(std::move(step)) {}

GraphedStep::~GraphedStep() = default;

void GraphedStep::operator()() {
  if (!warmed_up_) {
    step_();
    warmed_up_ = true;
    return;
  }
  if (!graph_) {
    optimizer_.prepare_graphed_step();
    try {
      graph_ = std::make_unique<cuda::Graph>(step_);  // the captured step() counts the step
    } catch (...) {
      optimizer_.abandon_graphed_step();
      throw;
    }
  } else {
    optimizer_.prepare_graphed_step();
    optimizer_.count_replayed_step();
  }
  graph_->replay();
}

AllocatorStats GraphedStep::memory() const { return graph_ ? graph_->pool_stats() : AllocatorStats{}; }

#else

namespace cuda {
class Graph {};  // never made without CUDA
}  // namespace cuda

GraphedStep::GraphedStep(Optimizer& optimizer, std::function<void()> step)
    : optimizer_(optimizer), step_(std::move(step)) {
  STRATA_FAIL("GraphedStep: CUDA graphs need a CUDA build of strata (STRATA_CUDA=ON)");
}

GraphedStep::~GraphedStep() = default;
void GraphedStep::operator()() {}
AllocatorStats GraphedStep::memory() const { return {}; }

#endif

}  // namespace strata
