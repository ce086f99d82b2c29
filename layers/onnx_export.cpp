#include "layers/onnx_export.h"

#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/trace.h"

#ifdef STRATA_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#endif

namespace strata {

#ifndef STRATA_WITH_ONNX

bool onnx_export_available() { return false; }

void export_onnx(const Module&, const ExportFn&, const Tensor&, const OnnxExportOptions&, const std::string& path) {
  STRATA_FAIL(path, ": this strata was built without ONNX (libonnx-dev and libprotobuf-dev were not found when it ",
              "was configured); run scripts/install_deps.sh and build again");
}

#else

bool onnx_export_available() { return true; }

namespace {

using Attrs = TraceAttrs;

const std::vector<int64_t>& ints(const Attrs& a, const std::string& key, const std::string& op) {
  const auto it = a.ints.find(key);
  STRATA_CHECK(it != a.ints.end(), "export_onnx: op ", op, " was traced without its attribute ", key);
  return it->second;
}
double float_attr(const Attrs& a, const std::string& key, const std::string& op) {
  const auto it = a.floats.find(key);
  STRATA_CHECK(it != a.floats.end() && !it->second.empty(), "export_onnx: op ", op, " was traced without ", key);
  return it->second[0];
}

// Builds the graph: names of values, initializers, nodes.
class GraphWriter {
 public:
  GraphWriter(onnx::GraphProto* g, std::map<const TensorImpl*, std::string> param_names)
      : g_(g), param_names_(std::move(param_names)) {}

  // The name of a value computed by the graph, or of a constant (an initializer, written once).
  std::string constant(const Tensor& t) {
    const TensorImpl* key = &t.impl();
    if (const auto it = names_.find(key); it != names_.end()) return it->second;
    const auto p = param_names_.find(key);
    const std::string name = p != param_names_.end() ? p->second : "";
    onnx::TensorProto* init = initializer(onnx::TensorProto::FLOAT, t.shape(), name);
    const std::vector<float> v = t.to(Device::cpu()).to(DType::f32).contiguous().to_vector<float>();
    init->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return remember(t, init->name());
  }
  // The name of a condition (u8 in strata, bool in ONNX): a value computed by the graph, or a bool initializer.
  std::string condition(const Tensor& t) {
    if (const auto it = names_.find(&t.impl()); it != names_.end()) return it->second;
    onnx::TensorProto* init = initializer(onnx::TensorProto::BOOL, t.shape());
    for (uint8_t b : t.to(Device::cpu()).contiguous().to_vector<uint8_t>()) init->add_int32_data(b != 0);
    return remember(t, init->name());
  }
  std::string int64s(const std::vector<int64_t>& v) {
    onnx::TensorProto* init = initializer(onnx::TensorProto::INT64, {int64_t(v.size())});
    for (int64_t x : v) init->add_int64_data(x);
    return init->name();
  }
  std::string int64_scalar(int64_t v) {
    onnx::TensorProto* init = initializer(onnx::TensorProto::INT64, {});
    init->add_int64_data(v);
    return init->name();
  }
  std::string scalar(float v) {
    onnx::TensorProto* init = initializer(onnx::TensorProto::FLOAT, {});
    init->add_float_data(v);
    return init->name();
  }
  void name_value(const Tensor& t, const std::string& name) { names_[&t.impl()] = name; }
  std::string fresh() { return std::string("v").append(std::to_string(values_++)); }

  onnx::NodeProto* node(const std::string& type, const std::vector<std::string>& in, const std::string& out) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(type);
    n->set_name(type + "_" + std::to_string(g_->node_size()));
    for (const std::string& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, float v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }

 private:
  // A new initializer of `type` and `shape`, named `name` or const_K.
  onnx::TensorProto* initializer(int type, const Shape& shape, const std::string& name = "") {
    onnx::TensorProto* init = g_->add_initializer();
    init->set_name(name.empty() ? "const_" + std::to_string(constants_++) : name);
    for (int64_t d : shape) init->add_dims(d);
    init->set_data_type(type);
    return init;
  }
  // `t` is written as `name` from now on; kept alive while the graph is built.
  const std::string& remember(const Tensor& t, const std::string& name) {
    keep_.push_back(t);
    return names_[&t.impl()] = name;
  }

  onnx::GraphProto* g_;
  std::map<const TensorImpl*, std::string> param_names_;
  std::unordered_map<const TensorImpl*, std::string> names_;
  std::vector<Tensor> keep_;
  int64_t constants_ = 0, values_ = 0;
};

// A reshape as ONNX writes it best: Unsqueeze / Squeeze of one unit dimension, else Reshape whose leading
// dimensions that do not change are 0 (copied from the input, so a symbolic batch stays symbolic).
void emit_view(GraphWriter& w, const Shape& in, const Shape& out, const std::string& x, const std::string& y) {
  const auto one_unit_apart = [](const Shape& longer, const Shape& shorter) -> int64_t {
    if (longer.size() != shorter.size() + 1) return -1;
    for (size_t d = 0; d < longer.size(); ++d) {
      if (longer[d] != 1) continue;
      Shape s = longer;
      s.erase(s.begin() + std::ptrdiff_t(d));
      if (s == shorter) return int64_t(d);
    }
    return -1;
  };
  if (const int64_t d = one_unit_apart(out, in); d >= 0) {
    w.node("Unsqueeze", {x, w.int64s({d})}, y);
    return;
  }
  if (const int64_t d = one_unit_apart(in, out); d >= 0) {
    w.node("Squeeze", {x, w.int64s({d})}, y);
    return;
  }
  std::vector<int64_t> target(out.begin(), out.end());
  for (size_t d = 0; d < target.size() && d < in.size() && target[d] == in[d]; ++d) target[d] = 0;
  w.node("Reshape", {x, w.int64s(target)}, y);
}

// Pieces of the run-time subgraphs (missing values, sliding windows), all along the last axis: each returns its
// node's one output, named afresh.
struct Nodes {
  GraphWriter& w;
  std::string operator()(const std::string& type, const std::vector<std::string>& in) {
    const std::string y = w.fresh();
    w.node(type, in, y);
    return y;
  }
  std::string cast(const std::string& x, int64_t to) {
    const std::string y = w.fresh();
    GraphWriter::attr(w.node("Cast", {x}, y), "to", to);
    return y;
  }
  std::string sum_last(const std::string& x) {  // ReduceSum over the last axis, kept
    const std::string y = w.fresh();
    GraphWriter::attr(w.node("ReduceSum", {x, w.int64s({-1})}, y), "keepdims", int64_t(1));
    return y;
  }
  // Dimensions [start, end) of x's shape (to its end when end is 0), int64.
  std::string shape(const std::string& x, int64_t start, int64_t end = 0) {
    const std::string y = w.fresh();
    onnx::NodeProto* n = w.node("Shape", {x}, y);
    GraphWriter::attr(n, "start", start);
    if (end != 0) GraphWriter::attr(n, "end", end);
    return y;
  }
  std::string concat(const std::vector<std::string>& in) {  // along axis 0 (shapes, index lists)
    const std::string y = w.fresh();
    GraphWriter::attr(w.node("Concat", in, y), "axis", int64_t(0));
    return y;
  }
  // 0, step, 2 step, ... below `limit`, a [1] int64 value.
  std::string range(const std::string& limit, int64_t step = 1) {
    return (*this)("Range", {w.int64_scalar(0), (*this)("Squeeze", {limit, w.int64s({0})}), w.int64_scalar(step)});
  }
  // The row sorted ascending along the last axis (TopK of all n, smallest first): values and positions.
  std::pair<std::string, std::string> sorted(const std::string& x, const std::string& n) {
    const std::string values = w.fresh(), positions = w.fresh();
    onnx::NodeProto* topk = w.node("TopK", {x, n}, values);
    topk->add_output(positions);
    GraphWriter::attr(topk, "axis", int64_t(-1));
    GraphWriter::attr(topk, "largest", int64_t(0));
    GraphWriter::attr(topk, "sorted", int64_t(1));
    return {values, positions};
  }
};

// fill_gaps: with c the number of values at or before each sample (CumSum of the valid mask), the sample's left
// neighbour is the valid value of rank c - 1 and its right one of rank c (c - 1 for a valid sample), both clamped
// to the row's valid ranks; the valid positions in order come from a TopK of (position, or position + n when
// NaN). Then a + (b - a) * (i - left) / (right - left), or a where left == right (the ends, and valid samples).
void emit_fill_gaps(GraphWriter& w, const std::string& x, const std::string& y) {
  Nodes g{w};
  const int64_t i64 = onnx::TensorProto::INT64, f32 = onnx::TensorProto::FLOAT;
  const std::string valid = g("Not", {g("IsNaN", {x})}), counts = g.cast(valid, i64);
  const std::string before = g("CumSum", {counts, w.int64_scalar(-1)}), total = g.sum_last(counts);
  const std::string n = g.shape(x, -1), at = g.cast(g.range(n), f32);
  const std::string key = g("Where", {valid, at, g("Add", {at, g.cast(n, f32)})});
  const std::string order = g.sorted(key, n).second;
  const std::string one = w.int64s({1}), zero = w.int64s({0});
  const std::string last = g("Max", {g("Sub", {total, one}), zero});
  const std::string left_rank = g("Max", {g("Sub", {before, one}), zero});
  const std::string right_rank = g("Min", {g("Where", {valid, g("Sub", {before, one}), before}), last});
  const auto gather = [&](const std::string& data, const std::string& index) {
    const std::string out = w.fresh();
    GraphWriter::attr(w.node("GatherElements", {data, index}, out), "axis", int64_t(-1));
    return out;
  };
  const std::string left = gather(order, left_rank), right = gather(order, right_rank);
  const std::string a = gather(x, left), b = gather(x, right);
  const std::string span = g.cast(g("Sub", {right, left}), f32);
  const std::string t = g("Div", {g("Sub", {at, g.cast(left, f32)}), g("Max", {span, w.scalar(1)})});
  w.node("Add", {a, g("Mul", {g("Sub", {b, a}), t})}, y);
}

// The windows of window_starts along the last axis of x, read at run time: w = min(window, L); starts are
// Range(0, L - w, stride) and L - w; positions starts[i] + j.
struct Windows {
  std::string length, width, starts, count, j, positions;  // [1], [1], [nw], [1], [w], [nw, w]
};
Windows emit_windows(GraphWriter& w, const std::string& x, int64_t window, int64_t stride) {
  Nodes g{w};
  Windows r;
  r.length = g.shape(x, -1);
  r.width = g("Min", {r.length, w.int64s({window})});
  const std::string last = g("Sub", {r.length, r.width});
  r.starts = g.concat({g.range(last, stride), last});
  r.count = g("Shape", {r.starts});
  r.j = g.range(r.width);
  r.positions = g("Add", {g("Unsqueeze", {r.starts, w.int64s({1})}), g("Unsqueeze", {r.j, w.int64s({0})})});
  return r;
}

// sliding_windows: Gather along L gives (N, C, nw, w); the windows then become the batch (N * nw, C, w).
void emit_sliding_windows(GraphWriter& w, const std::string& x, int64_t window, int64_t stride, const std::string& y) {
  Nodes g{w};
  const Windows win = emit_windows(w, x, window, stride);
  const std::string gathered = w.fresh(), moved = w.fresh();
  GraphWriter::attr(w.node("Gather", {x, win.positions}, gathered), "axis", int64_t(2));
  GraphWriter::attr(w.node("Transpose", {gathered}, moved), "perm", std::vector<int64_t>{0, 2, 1, 3});
  w.node("Reshape", {moved, g.concat({w.int64s({-1}), g.shape(x, 1, 2), win.width})}, y);
}

// overlap_add: each window's values times the triangle min(j + 1, w - j), scattered with add to their positions
// along L (ScatterElements, reduction add), divided by the triangles' sum at each position.
void emit_overlap_add(GraphWriter& w, const std::string& p, const std::string& like, int64_t window, int64_t stride,
                      const std::string& y) {
  Nodes g{w};
  const int64_t f32 = onnx::TensorProto::FLOAT;
  const Windows win = emit_windows(w, like, window, stride);
  const std::string classes = g.shape(p, 1, 2);
  const std::string p4 = g("Reshape", {p, g.concat({w.int64s({-1}), win.count, classes, win.width})});  // N nw K w
  const std::string j = g.cast(win.j, f32);
  const std::string taper = g("Min", {g("Add", {j, w.scalar(1)}), g("Sub", {g.cast(win.width, f32), j})});
  const std::string moved = w.fresh();
  GraphWriter::attr(w.node("Transpose", {g("Mul", {p4, taper})}, moved), "perm", std::vector<int64_t>{0, 2, 1, 3});
  const std::string batch = g.shape(p4, 0, 1);
  const std::string flat = g("Reshape", {moved, g.concat({batch, classes, w.int64s({-1})})});  // (N, K, nw * w)
  const std::string at = g("Reshape", {win.positions, w.int64s({-1})});
  const auto scatter_add = [&](const std::string& shape, const std::string& index, const std::string& values) {
    const std::string zeros = g("ConstantOfShape", {shape}), out = w.fresh();
    onnx::NodeProto* n = w.node("ScatterElements", {zeros, index, values}, out);
    GraphWriter::attr(n, "axis", int64_t(-1));
    GraphWriter::attr(n, "reduction", std::string("add"));
    return out;
  };
  const std::string everywhere = g("Expand", {at, g("Shape", {flat})});
  const std::string acc = scatter_add(g.concat({batch, classes, win.length}), everywhere, flat);
  const std::string tapers = g("Reshape", {g("Expand", {g("Unsqueeze", {taper, w.int64s({0})}),
                                                        g.concat({win.count, win.width})}),  // one triangle a window
                                           w.int64s({-1})});
  w.node("Div", {acc, scatter_add(win.length, at, tapers)}, y);
}

// nan_trimmed_stats: NaN become +inf, so a TopK of the row puts the k valid values first, in order; ranks
// [cut, k - cut) are kept (cut = k * per_million / 1e6 in integers); their mean in two passes and their population
// standard deviation, concatenated along the last axis. 0 / 0 gives NaN where nothing is kept.
void emit_nan_trimmed_stats(GraphWriter& w, const std::string& x, int64_t per_million, const std::string& y) {
  Nodes g{w};
  const int64_t i64 = onnx::TensorProto::INT64, f32 = onnx::TensorProto::FLOAT;
  const std::string valid = g("Not", {g("IsNaN", {x})}), k = g.sum_last(g.cast(valid, i64));
  const std::string n = g.shape(x, -1), positions = g.range(n);
  const std::string inf = w.scalar(std::numeric_limits<float>::infinity());
  const std::string values = g.sorted(g("Where", {valid, x, inf}), n).first;
  const std::string cut = g("Div", {g("Mul", {k, w.int64s({per_million})}), w.int64s({1000000})});
  const std::string end = g("Sub", {k, cut});
  const std::string keep = g("And", {g("GreaterOrEqual", {positions, cut}), g("Less", {positions, end})});
  const std::string kept = g.cast(g("Sub", {end, cut}), f32), none = w.scalar(0);
  const auto kept_mean = [&](const std::string& v) {
    return g("Div", {g.sum_last(g("Where", {keep, v, none})), kept});
  };
  const std::string first = kept_mean(values);
  const std::string mean = g("Add", {first, kept_mean(g("Sub", {values, first}))});
  const std::string d = g("Sub", {values, mean});
  const std::string sd = g("Sqrt", {kept_mean(g("Mul", {d, d}))});
  GraphWriter::attr(w.node("Concat", {mean, sd}, y), "axis", int64_t(-1));
}

// One traced op as ONNX nodes writing `y`; `in` holds the names of its inputs ("" for an absent one).
void emit(GraphWriter& w, const TracedOp& op, const std::vector<std::string>& in, const std::string& y) {
  const std::string& k = op.op;
  const Attrs& a = op.attrs;
  static const std::map<std::string, std::string> same{
      {"add", "Add"},   {"sub", "Sub"},     {"mul", "Mul"},     {"div", "Div"},     {"maximum", "Max"},
      {"minimum", "Min"}, {"neg", "Neg"},   {"exp", "Exp"},     {"log", "Log"},     {"sqrt", "Sqrt"},
      {"abs", "Abs"},   {"relu", "Relu"},   {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"matmul", "MatMul"},
      {"clone", "Identity"}};
  if (const auto it = same.find(k); it != same.end()) {
    if (k == "sub" || k == "div" || k == "add" || k == "mul" || k == "maximum" || k == "minimum" || k == "matmul")
      w.node(it->second, {in[0], in[1]}, y);
    else
      w.node(it->second, {in[0]}, y);
    return;
  }
  if (k == "pow") {
    if (in.size() == 2) w.node("Pow", {in[0], in[1]}, y);
    else w.node("Pow", {in[0], w.scalar(float(float_attr(a, "exponent", k)))}, y);
  } else if (k == "relu6") {
    w.node("Clip", {in[0], w.scalar(0), w.scalar(6)}, y);
  } else if (k == "clamp") {
    w.node("Clip", {in[0], w.scalar(float(float_attr(a, "min", k))), w.scalar(float(float_attr(a, "max", k)))}, y);
  } else if (k == "leaky_relu") {
    GraphWriter::attr(w.node("LeakyRelu", {in[0]}, y), "alpha", float(float_attr(a, "alpha", k)));
  } else if (k == "elu") {
    GraphWriter::attr(w.node("Elu", {in[0]}, y), "alpha", float(float_attr(a, "alpha", k)));
  } else if (k == "softplus") {
    const float beta = float(float_attr(a, "alpha", k));
    if (beta == 1.f) {
      w.node("Softplus", {in[0]}, y);
    } else {
      const std::string scaled = w.fresh(), soft = w.fresh();
      w.node("Mul", {in[0], w.scalar(beta)}, scaled);
      w.node("Softplus", {scaled}, soft);
      w.node("Div", {soft, w.scalar(beta)}, y);
    }
  } else if (k == "silu") {
    const std::string s = w.fresh();
    w.node("Sigmoid", {in[0]}, s);
    w.node("Mul", {in[0], s}, y);
  } else if (k == "conv2d" || k == "conv_transpose2d") {
    std::vector<std::string> inputs{in[0], in[1]};
    if (!in[2].empty()) inputs.push_back(in[2]);
    onnx::NodeProto* n = w.node(k == "conv2d" ? "Conv" : "ConvTranspose", inputs, y);
    const Shape& ws = op.inputs[1].shape();
    GraphWriter::attr(n, "kernel_shape", std::vector<int64_t>{ws[2], ws[3]});
    for (const char* key : {"strides", "pads", "dilations"}) GraphWriter::attr(n, key, ints(a, key, k));
    GraphWriter::attr(n, "group", ints(a, "group", k)[0]);
    if (k == "conv_transpose2d") GraphWriter::attr(n, "output_padding", ints(a, "output_padding", k));
  } else if (k == "max_pool2d" || k == "avg_pool2d") {
    onnx::NodeProto* n = w.node(k == "max_pool2d" ? "MaxPool" : "AveragePool", {in[0]}, y);
    for (const char* key : {"kernel_shape", "strides", "pads"}) GraphWriter::attr(n, key, ints(a, key, k));
    GraphWriter::attr(n, "ceil_mode", ints(a, "ceil_mode", k)[0]);
    if (k == "avg_pool2d") GraphWriter::attr(n, "count_include_pad", ints(a, "count_include_pad", k)[0]);
  } else if (k == "upsample2d") {
    const bool linear = ints(a, "linear", k)[0] != 0, corners = ints(a, "align_corners", k)[0] != 0;
    const std::vector<int64_t>& sizes = ints(a, "sizes", k);
    const auto scales = a.floats.at("scales");
    onnx::NodeProto* n;
    if (!a.tensors.empty()) {  // the size of another value, read at run time: N, C of the input, H, W of that
      const std::string nc = w.fresh(), hw = w.fresh(), target = w.fresh();
      GraphWriter::attr(w.node("Shape", {in[0]}, nc), "end", int64_t(2));
      GraphWriter::attr(w.node("Shape", {w.constant(a.tensors[0])}, hw), "start", int64_t(-2));
      GraphWriter::attr(w.node("Concat", {nc, hw}, target), "axis", int64_t(0));
      n = w.node("Resize", {in[0], "", "", target}, y);
    } else if (sizes[0] > 0) {
      const Shape& s = op.inputs[0].shape();
      n = w.node("Resize", {in[0], "", "", w.int64s({s[0], s[1], sizes[0], sizes[1]})}, y);
    } else {
      // scales: float32 [1, 1, sh, sw], a Constant node before the Resize that reads it
      const std::string name = w.fresh();
      onnx::NodeProto* c = w.node("Constant", {}, name);
      onnx::AttributeProto* v = c->add_attribute();
      v->set_name("value");
      v->set_type(onnx::AttributeProto::TENSOR);
      onnx::TensorProto* tp = v->mutable_t();
      tp->set_data_type(onnx::TensorProto::FLOAT);
      tp->add_dims(4);
      for (double f : {1.0, 1.0, scales[0], scales[1]}) tp->add_float_data(float(f));
      n = w.node("Resize", {in[0], "", name}, y);
    }
    GraphWriter::attr(n, "mode", std::string(linear ? "linear" : "nearest"));
    GraphWriter::attr(n, "coordinate_transformation_mode",
                      std::string(!linear ? "asymmetric" : corners ? "align_corners" : "half_pixel"));
    if (!linear) GraphWriter::attr(n, "nearest_mode", std::string("floor"));
  } else if (k == "batch_norm" || k == "batch_norm_relu" || k == "batch_norm_relu6") {
    STRATA_CHECK(ints(a, "training", k)[0] == 0, "export_onnx: batch norm in training mode; call eval() first");
    STRATA_CHECK(a.tensors.size() == 2, "export_onnx: batch norm traced without its running statistics");
    const int64_t C = op.inputs[0].shape()[1];
    const std::string scale = in[1].empty() ? w.constant(Tensor::ones({C})) : in[1];
    const std::string shift = in[2].empty() ? w.constant(Tensor::zeros({C})) : in[2];
    const std::string bn = k == "batch_norm" ? y : w.fresh();
    onnx::NodeProto* n =
        w.node("BatchNormalization", {in[0], scale, shift, w.constant(a.tensors[0]), w.constant(a.tensors[1])}, bn);
    GraphWriter::attr(n, "epsilon", float(float_attr(a, "epsilon", k)));
    if (k == "batch_norm_relu") w.node("Relu", {bn}, y);
    if (k == "batch_norm_relu6") w.node("Clip", {bn, w.scalar(0), w.scalar(6)}, y);
  } else if (k == "softmax" || k == "log_softmax") {
    GraphWriter::attr(w.node(k == "softmax" ? "Softmax" : "LogSoftmax", {in[0]}, y), "axis", ints(a, "axis", k)[0]);
  } else if (k == "cat") {
    GraphWriter::attr(w.node("Concat", in, y), "axis", ints(a, "axis", k)[0]);
  } else if ((k == "unsqueeze" || k == "squeeze") && a.ints.count("axis")) {
    // The axis as traced: with unit sizes about (a batch of one, one channel) the shapes alone do not tell it.
    w.node(k == "unsqueeze" ? "Unsqueeze" : "Squeeze", {in[0], w.int64s(ints(a, "axis", k))}, y);
  } else if (k == "view" || k == "unsqueeze" || k == "squeeze" || k == "flatten" || k == "reshape") {
    emit_view(w, op.inputs[0].shape(), op.output.shape(), in[0], y);
  } else if (k == "permute") {
    GraphWriter::attr(w.node("Transpose", {in[0]}, y), "perm", ints(a, "perm", k));
  } else if (k == "slice") {
    w.node("Slice", {in[0], w.int64s(ints(a, "starts", k)), w.int64s(ints(a, "ends", k)), w.int64s(ints(a, "axes", k)),
                     w.int64s(ints(a, "steps", k))},
           y);
  } else if (k == "pad_to_multiple") {
    // pads = [0] * (rank + 2) ++ (m - size % m) % m for the axes after N and C, read from the input at run time
    const int64_t rank = int64_t(op.inputs[0].shape().size()), m = ints(a, "multiple", k)[0];
    const std::string size = w.fresh(), rest = w.fresh(), short_by = w.fresh(), extra = w.fresh(), pads = w.fresh();
    const std::string mm = w.int64s({m});
    GraphWriter::attr(w.node("Shape", {in[0]}, size), "start", int64_t(2));
    w.node("Mod", {size, mm}, rest);
    w.node("Sub", {mm, rest}, short_by);
    w.node("Mod", {short_by, mm}, extra);
    GraphWriter::attr(w.node("Concat", {w.int64s(std::vector<int64_t>(size_t(rank + 2), 0)), extra}, pads), "axis",
                      int64_t(0));
    w.node("Pad", {in[0], pads}, y);
  } else if (k == "crop_like") {
    const int64_t rank = int64_t(op.inputs[0].shape().size());
    std::vector<int64_t> axes;
    for (int64_t d = 2; d < rank; ++d) axes.push_back(d);
    const std::string ends = w.fresh();
    GraphWriter::attr(w.node("Shape", {w.constant(a.tensors[0])}, ends), "start", int64_t(2));
    w.node("Slice", {in[0], w.int64s(std::vector<int64_t>(axes.size(), 0)), ends, w.int64s(axes)}, y);
  } else if (k == "lt" || k == "le" || k == "gt" || k == "ge" || k == "eq") {
    static const std::map<std::string, std::string> kCompare = {
        {"lt", "Less"}, {"le", "LessOrEqual"}, {"gt", "Greater"}, {"ge", "GreaterOrEqual"}, {"eq", "Equal"}};
    w.node(kCompare.at(k), {in[0], in[1]}, y);
  } else if (k == "ne") {
    const std::string same = w.fresh();
    w.node("Equal", {in[0], in[1]}, same);
    w.node("Not", {same}, y);
  } else if (k == "is_nan") {
    w.node("IsNaN", {in[0]}, y);
  } else if (k == "where") {
    STRATA_CHECK(!a.tensors.empty(), "export_onnx: where was traced without its condition");
    w.node("Where", {w.condition(a.tensors[0]), in[0], in[1]}, y);
  } else if (k == "sliding_windows") {
    emit_sliding_windows(w, in[0], ints(a, "window", k)[0], ints(a, "stride", k)[0], y);
  } else if (k == "overlap_add") {
    STRATA_CHECK(!a.tensors.empty(), "export_onnx: overlap_add was traced without the windowed input");
    emit_overlap_add(w, in[0], w.constant(a.tensors[0]), ints(a, "window", k)[0], ints(a, "stride", k)[0], y);
  } else if (k == "fill_gaps") {
    emit_fill_gaps(w, in[0], y);
  } else if (k == "nan_trimmed_stats") {
    emit_nan_trimmed_stats(w, in[0], ints(a, "per_million", k)[0], y);
  } else if (k == "flip") {
    w.node("Slice", {in[0], w.int64s({-1}), w.int64s({std::numeric_limits<int64_t>::min()}),
                     w.int64s({ints(a, "axis", k)[0]}), w.int64s({-1})},
           y);
  } else if (k == "expand") {
    const Shape& s = op.output.shape();
    w.node("Expand", {in[0], w.int64s(std::vector<int64_t>(s.begin(), s.end()))}, y);
  } else if (k == "sum") {
    GraphWriter::attr(w.node("ReduceSum", {in[0], w.int64s(ints(a, "axes", k))}, y), "keepdims",
                      ints(a, "keepdims", k)[0]);
  } else if (k == "mean") {
    onnx::NodeProto* n = w.node("ReduceMean", {in[0]}, y);
    GraphWriter::attr(n, "axes", ints(a, "axes", k));
    GraphWriter::attr(n, "keepdims", ints(a, "keepdims", k)[0]);
  } else {
    STRATA_FAIL("export_onnx: the op '", k, "' has no ONNX form here (add it to layers/onnx_export.cpp)");
  }
}

void set_type(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape,
              const std::vector<std::string>& dims) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* s = t->mutable_shape();
  for (size_t d = 0; d < shape.size(); ++d) {
    onnx::TensorShapeProto_Dimension* dim = s->add_dim();
    if (d < dims.size() && !dims[d].empty()) dim->set_dim_param(dims[d]);
    else dim->set_dim_value(shape[d]);
  }
}

}  // namespace

void export_onnx(const Module& names, const ExportFn& fn, const Tensor& example, const OnnxExportOptions& o,
                 const std::string& path) {
  STRATA_CHECK(o.input_dims.empty() || o.input_dims.size() == size_t(example.dim()), "export_onnx: ",
               o.input_dims.size(), " dimension names for a ", example.dim(), "-D input");
  std::vector<Tensor> outputs;
  OpTrace trace;
  {
    NoGradGuard no_grad;
    outputs = fn(example);
  }
  const std::vector<TracedOp>& ops = trace.ops();

  // Which traced values depend on the input (the rest are constants), and the op that made each (the last one:
  // an op built from other ops records after them, for the same output).
  std::unordered_set<const TensorImpl*> live{&example.impl()};
  std::unordered_map<const TensorImpl*, size_t> made_by;
  for (size_t i = 0; i < ops.size(); ++i) {
    bool depends = false;
    for (const Tensor& t : ops[i].inputs) depends = depends || (t.defined() && live.count(&t.impl()));
    for (const Tensor& t : ops[i].attrs.tensors) depends = depends || (t.defined() && live.count(&t.impl()));
    if (depends) {
      live.insert(&ops[i].output.impl());
      made_by[&ops[i].output.impl()] = i;
    }
  }
  // The ops the outputs need, in trace order.
  std::vector<bool> needed(ops.size(), false);
  std::vector<const TensorImpl*> todo;
  for (const Tensor& t : outputs) {
    STRATA_CHECK(t.defined() && live.count(&t.impl()), "export_onnx: an output does not depend on the input");
    todo.push_back(&t.impl());
  }
  while (!todo.empty()) {
    const TensorImpl* v = todo.back();
    todo.pop_back();
    const auto it = made_by.find(v);
    if (it == made_by.end() || needed[it->second]) continue;
    needed[it->second] = true;
    for (const Tensor& t : ops[it->second].inputs)
      if (t.defined() && live.count(&t.impl())) todo.push_back(&t.impl());
    for (const Tensor& t : ops[it->second].attrs.tensors)  // a size read from another value
      if (t.defined() && live.count(&t.impl())) todo.push_back(&t.impl());
  }

  std::map<const TensorImpl*, std::string> param_names;
  for (const auto& [name, t] : names.named_parameters()) param_names[&t.impl()] = name;
  for (const auto& [name, t] : names.named_buffers()) param_names[&t.impl()] = name;

  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("strata");
  model.set_model_version(1);
  if (!o.doc.empty()) model.set_doc_string(o.doc);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  for (const auto& [k, v] : o.metadata) {
    onnx::StringStringEntryProto* e = model.add_metadata_props();
    e->set_key(k);
    e->set_value(v);
  }
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(o.graph_name);
  GraphWriter w(g, param_names);
  w.name_value(example, o.input_name);
  set_type(g->add_input(), o.input_name, example.shape(), o.input_dims);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!needed[i]) continue;
    std::vector<std::string> in;
    for (const Tensor& t : ops[i].inputs) in.push_back(t.defined() ? w.constant(t) : "");
    const std::string y = w.fresh();
    emit(w, ops[i], in, y);
    w.name_value(ops[i].output, y);
  }
  // Outputs, named; a dimension of the size of the input's symbolic dimension at the same index takes its name.
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string name = i < o.output_names.size() ? o.output_names[i]
                                                       : (i == 0 ? std::string("output") : "output_" + std::to_string(i));
    w.node("Identity", {w.constant(outputs[i])}, name);
    std::vector<std::string> dims;
    for (size_t d = 0; d < outputs[i].shape().size(); ++d)
      dims.push_back(d < o.input_dims.size() && outputs[i].shape()[d] == example.shape()[d] ? o.input_dims[d] : "");
    set_type(g->add_output(), name, outputs[i].shape(), dims);
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    STRATA_FAIL(path, ": the exported graph fails ONNX's checker: ", e.what());
  }
  write_file_atomic(path, [&](std::ostream& f) {
    STRATA_CHECK(model.SerializeToOstream(&f), path, ": cannot serialise the ONNX model");
  });
}

#endif

}  // namespace strata
