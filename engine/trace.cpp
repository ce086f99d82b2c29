#include "engine/trace.h"

namespace strata {
namespace {
thread_local OpTrace* active = nullptr;
}  // namespace

OpTrace::OpTrace() : previous_(active) { active = this; }
OpTrace::~OpTrace() { active = previous_; }

bool tracing() { return active != nullptr; }

void trace_attrs(const char* op, TraceAttrs attrs) {
  if (!active) return;
  active->pending_op_ = op;
  active->pending_ = std::move(attrs);
}

void trace_record(const char* op, const std::vector<Tensor>& inputs, const Tensor& output) {
  if (!active) return;
  TracedOp t{op, inputs, output, {}};
  if (active->pending_op_ == op) {
    t.attrs = std::move(active->pending_);
    active->pending_ = {};
    active->pending_op_.clear();
  }
  active->ops_.push_back(std::move(t));
}

}  // namespace strata
