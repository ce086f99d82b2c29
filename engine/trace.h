// Op tracing, for exporting a computation (ONNX): while an OpTrace is alive on
// this thread, every differentiable op records what it did (its name, the
// tensors it read, the tensor it made, and the attributes it was called with)
// and computes as usual. The recording happens in autograd's record(), which
// every op calls; ops with attributes (stride, padding, dims, eps, ...) pass
// them with trace_attrs() just before. Ops that call other ops are recorded
// both ways; an exporter keeps what the output depends on. Grad mode does not
// matter: a trace under NoGradGuard records the same ops.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace strata {

struct TraceAttrs {
  std::map<std::string, std::vector<int64_t>> ints;
  std::map<std::string, std::vector<double>> floats;
  std::vector<Tensor> tensors;  // more inputs than record() sees (batch norm's running statistics)
};

struct TracedOp {
  std::string op;               // the name record() got: "conv2d", "add", "view", ...
  std::vector<Tensor> inputs;   // as record() got them (undefined for an absent bias)
  Tensor output;
  TraceAttrs attrs;
};

class OpTrace {
 public:
  OpTrace();
  ~OpTrace();
  OpTrace(const OpTrace&) = delete;
  OpTrace& operator=(const OpTrace&) = delete;
  const std::vector<TracedOp>& ops() const { return ops_; }

 private:
  friend void trace_record(const char* op, const std::vector<Tensor>& inputs, const Tensor& output);
  friend void trace_attrs(const char* op, TraceAttrs attrs);
  std::vector<TracedOp> ops_;
  std::string pending_op_;
  TraceAttrs pending_;
  OpTrace* previous_;
};

// True while an OpTrace is alive on this thread (one load of a thread-local pointer).
bool tracing();
// Attributes of the next record() of `op` on this thread; ignored when not tracing.
void trace_attrs(const char* op, TraceAttrs attrs);
// Called by record() for every op.
void trace_record(const char* op, const std::vector<Tensor>& inputs, const Tensor& output);

}  // namespace strata
