// Reductions: sum, mean, var, max/min, argmax/argmin, and sum_to (the
// reduction behind every broadcasting backward rule).
#include "engine/op_util.h"

namespace strata {

using namespace detail;

namespace {

// x viewed as (kept dims..., reduced dims...) and reduced by `op`; result has
// the kept dims only (keepdim reshapes it afterwards).
Tensor reduce_forward(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, DType out_dtype) {
  std::vector<int64_t> order;
  Shape kept_shape;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) {
      order.push_back(d);
      kept_shape.push_back(x.shape()[d]);
    }
  const int kept = int(order.size());
  order.insert(order.end(), dims.begin(), dims.end());
  const Tensor src = x.dtype() == out_dtype ? x : x.detach().to(out_dtype);
  const Tensor permuted = raw_permute(src, order);
  Tensor out = make_tensor(kept_shape, out_dtype, x.device());
  backend_for(x.device()).reduce(out_dtype, op, permuted.raw_data(), permuted.desc(), kept, out.raw_data());
  return out;
}

Tensor finish_keepdim(const Tensor& out, const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  return keepdim ? out.detach().reshape(keepdim_shape(shape, dims)) : out;
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= shape[d];
  return n;
}

Tensor arg_forward(ArgReduceOp op, const Tensor& x, int64_t dim, bool keepdim, const char* name) {
  const int64_t d = wrap_dim(dim, x.dim(), name);
  STRATA_CHECK(x.dim() == 0 || x.shape()[d] > 0, name, ": reduction over an empty dimension of shape ",
               shape_str(x.shape()));
  std::vector<int64_t> order;
  Shape kept_shape;
  for (int64_t k = 0; k < x.dim(); ++k)
    if (k != d) {
      order.push_back(k);
      kept_shape.push_back(x.shape()[k]);
    }
  const int kept = int(order.size());
  if (x.dim() > 0) order.push_back(d);
  const Tensor permuted = raw_permute(x, order);
  Tensor out = make_tensor(kept_shape, DType::i64, x.device());
  backend_for(x.device()).arg_reduce(x.dtype(), op, permuted.raw_data(), permuted.desc(), kept,
                                     out.data<int64_t>());
  return x.dim() > 0 && keepdim ? out.reshape(keepdim_shape(x.shape(), {d})) : out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int64_t> dims = normalize_dims(dims_in, x.dim(), "sum");
  const DType out_dtype = is_floating(x.dtype()) ? x.dtype() : DType::i64;
  Tensor out = finish_keepdim(reduce_forward(ReduceOp::sum, x, dims, out_dtype), x.shape(), dims, keepdim);
  if (tracing()) trace_attrs("sum", {{{"axes", dims}, {"keepdims", {keepdim ? 1 : 0}}}, {}, {}});
  return record("sum", out, {x}, [s = x.shape(), dims](const Tensor& g) -> Grads {
    return {g.reshape(keepdim_shape(s, dims)).expand(s)};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_floating("mean", x);
  const std::vector<int64_t> dims = normalize_dims(dims_in, x.dim(), "mean");
  Tensor out = finish_keepdim(reduce_forward(ReduceOp::mean, x, dims, x.dtype()), x.shape(), dims, keepdim);
  if (tracing()) trace_attrs("mean", {{{"axes", dims}, {"keepdims", {keepdim ? 1 : 0}}}, {}, {}});
  return record("mean", out, {x}, [s = x.shape(), dims](const Tensor& g) -> Grads {
    return {div(g.reshape(keepdim_shape(s, dims)), double(reduced_count(s, dims))).expand(s)};
  });
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, int64_t correction, bool keepdim) {
  check_floating("var", x);
  const std::vector<int64_t> dims = normalize_dims(dims_in, x.dim(), "var");
  const Tensor centered = sub(x, mean(x, dims, true));
  return div(sum(mul(centered, centered), dims, keepdim), double(reduced_count(x.shape(), dims) - correction));
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_forward(ArgReduceOp::argmax, x, dim, keepdim, "argmax");
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_forward(ArgReduceOp::argmin, x, dim, keepdim, "argmin");
}
Tensor argmax(const Tensor& x) { return argmax(x.reshape({-1}), 0); }
Tensor argmin(const Tensor& x) { return argmin(x.reshape({-1}), 0); }

// The value at the arg-index, so the gradient flows to exactly that element.
Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, x.dim(), "max");
  if (x.dim() == 0) return x;
  const Tensor out = gather(x, d, argmax(x, d, true));
  return keepdim ? out : out.squeeze(d);
}
Tensor min(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, x.dim(), "min");
  if (x.dim() == 0) return x;
  const Tensor out = gather(x, d, argmin(x, d, true));
  return keepdim ? out : out.squeeze(d);
}
Tensor max(const Tensor& x) {
  STRATA_CHECK(x.numel() > 0, "max: reduction over an empty tensor");
  return max(x.reshape({-1}), 0);
}
Tensor min(const Tensor& x) {
  STRATA_CHECK(x.numel() > 0, "min: reduction over an empty tensor");
  return min(x.reshape({-1}), 0);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  STRATA_CHECK(shape.size() <= size_t(x.dim()), "sum_to: cannot reduce shape ", shape_str(x.shape()), " to ",
               shape_str(shape));
  const size_t lead = x.shape().size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < x.shape().size(); ++i) {
    if (i < lead) {
      dims.push_back(int64_t(i));
    } else if (shape[i - lead] == 1 && x.shape()[i] != 1) {
      dims.push_back(int64_t(i));
    } else {
      STRATA_CHECK(shape[i - lead] == x.shape()[i], "sum_to: cannot reduce shape ", shape_str(x.shape()), " to ",
                   shape_str(shape));
    }
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace strata
