// Views, copies, joining, splitting and indexing, with their backward rules.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/op_util.h"

namespace strata {

// ---- helpers (engine/op_util.h) ---------------------------------------------

namespace detail {

Tensor make_view(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = x.dtype();
  return Tensor(std::move(impl));
}

Tensor raw_expand(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const size_t lead = shape.size() - x.shape().size();
  Shape strides(shape.size(), 0);
  for (size_t i = 0; i < x.shape().size(); ++i)
    strides[lead + i] = x.shape()[i] == 1 && shape[lead + i] != 1 ? 0 : x.strides()[i];
  return make_view(x, shape, strides, x.offset());
}

Tensor raw_permute(const Tensor& x, const std::vector<int64_t>& dims) {
  Shape shape(dims.size()), strides(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    shape[i] = x.shape()[dims[i]];
    strides[i] = x.strides()[dims[i]];
  }
  return make_view(x, shape, strides, x.offset());
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  STRATA_CHECK(a.device() == b.device(), op, ": tensors on different devices: ", a.device(), " (shape ",
               shape_str(a.shape()), ") and ", b.device(), " (shape ", shape_str(b.shape()), ")");
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  STRATA_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch: ", a.dtype(), " (shape ", shape_str(a.shape()),
               ") and ", b.dtype(), " (shape ", shape_str(b.shape()), "); convert one with to()");
}

void check_floating(const char* op, const Tensor& x) {
  STRATA_CHECK(is_floating(x.dtype()), op, ": expected a floating-point tensor (f32 or f64), got ", x.dtype(),
               " of shape ", shape_str(x.shape()));
}

std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    out.resize(ndim);
    std::iota(out.begin(), out.end(), 0);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  STRATA_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": a dimension is repeated");
  return out;
}

Shape keepdim_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape s = shape;
  for (int64_t d : dims) s[d] = 1;
  return s;
}

void check_index_range(const char* op, const Tensor& index, int64_t size) {
  // A CUDA graph's capture cannot read the range on the host; its step was checked when it ran eagerly first.
  if (index.numel() == 0 || capturing_graph()) return;
  // Straight to the kernels: min() / max() are built on gather, which calls this.
  const Tensor flat = index.to(DType::i64).contiguous();
  TensorDesc d;
  d.ndim = 1;
  d.shape[0] = flat.numel();
  d.strides[0] = 1;
  Tensor lo = make_tensor({}, DType::i64, index.device()), hi = make_tensor({}, DType::i64, index.device());
  backend_for(index.device()).reduce(DType::i64, ReduceOp::min, flat.raw_data(), d, 0, lo.raw_data());
  backend_for(index.device()).reduce(DType::i64, ReduceOp::max, flat.raw_data(), d, 0, hi.raw_data());
  const int64_t low = lo.item<int64_t>(), high = hi.item<int64_t>();
  STRATA_CHECK(low >= 0 && high < size, op, ": index ", (low < 0 ? low : high),
               " is out of range for a dimension of size ", size);
}

AxisSplit split_at(const Shape& shape, int64_t dim) {
  AxisSplit s;
  for (int64_t i = 0; i < int64_t(shape.size()); ++i) {
    if (i < dim) s.outer *= shape[i];
    else if (i == dim) s.D = shape[i];
    else s.inner *= shape[i];
  }
  return s;
}

}  // namespace detail

using namespace detail;

// ---- views ---------------------------------------------------------------

namespace {

// Strides that view x's memory with `shape`, or an empty vector when x's
// strides do not allow it (each group of merged dims must be contiguous).
Shape view_strides(const Tensor& x, const Shape& shape) {
  if (x.numel() == 0 || x.dim() == 0) return contiguous_strides(shape);
  Shape out(shape.size());
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = x.strides().back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    tensor_numel *= x.shape()[d];
    if (d == 0 || (x.shape()[d - 1] != 1 && x.strides()[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return {};
      if (d > 0) {
        chunk_base_stride = x.strides()[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return {};
  return out;
}

// Resolves one -1 in a requested shape.
Shape infer_shape(const Shape& requested, int64_t numel, const char* op) {
  Shape s = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      STRATA_CHECK(infer < 0, op, ": only one dimension can be -1 in ", shape_str(requested));
      infer = int64_t(i);
    } else {
      STRATA_CHECK(s[i] >= 0, op, ": invalid size ", s[i], " in ", shape_str(requested));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    STRATA_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(requested),
                 " is invalid for a tensor of ", numel, " elements");
    s[infer] = numel / known;
  }
  STRATA_CHECK(shape_numel(s) == numel, op, ": shape ", shape_str(requested), " is invalid for a tensor of ",
               numel, " elements");
  return s;
}

Tensor record_reshape_like(const char* name, Tensor out, const Tensor& x) {
  return record(name, std::move(out), {x}, [s = x.shape()](const Tensor& g) -> Grads { return {g.reshape(s)}; });
}

}  // namespace

Tensor view(const Tensor& x, const Shape& requested) {
  const Shape shape = infer_shape(requested, x.numel(), "view");
  const Shape strides = view_strides(x, shape);
  STRATA_CHECK(!strides.empty() || shape.empty(), "view: a tensor of shape ", shape_str(x.shape()), " and strides ",
               shape_str(x.strides()), " cannot be viewed as ", shape_str(shape), "; use reshape()");
  return record_reshape_like("view", make_view(x, shape, strides, x.offset()), x);
}

Tensor reshape(const Tensor& x, const Shape& requested) {
  const Shape shape = infer_shape(requested, x.numel(), "reshape");
  if (shape == x.shape()) return x;
  const Shape strides = view_strides(x, shape);
  if (!strides.empty() || shape.empty()) return view(x, shape);
  return view(contiguous(x), shape);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  STRATA_CHECK(int64_t(dims.size()) == x.dim(), "permute: ", dims.size(), " dims given for a ", x.dim(),
               "-D tensor");
  std::vector<int64_t> d(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    d[i] = wrap_dim(dims[i], x.dim(), "permute");
    STRATA_CHECK(!seen[d[i]], "permute: dimension ", d[i], " repeated");
    seen[d[i]] = true;
    inverse[d[i]] = int64_t(i);
  }
  if (tracing()) trace_attrs("permute", {{{"perm", d}}, {}, {}});
  return record("permute", raw_permute(x, d), {x}, [inverse](const Tensor& g) -> Grads { return {permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  if (x.dim() == 0) return x;
  std::vector<int64_t> dims(x.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(d0, x.dim(), "transpose")], dims[wrap_dim(d1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  const int64_t d = wrap_dim(dim, x.dim(), "slice");
  const int64_t given_start = start, given_end = end;  // an exporter keeps negative ones: they follow the size
  STRATA_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = x.shape()[d];
  auto clamp_index = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clamp_index(start);
  end = std::max(start, clamp_index(end));
  Shape shape = x.shape(), strides = x.strides();
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  Tensor out = make_view(x, shape, strides, x.offset() + start * x.strides()[d]);
  if (tracing())
    trace_attrs("slice", {{{"axes", {d}}, {"starts", {given_start}}, {"ends", {given_end}}, {"steps", {step}}}, {}, {}});
  return record("slice", out, {x}, [s = x.shape(), d, start, end, step](const Tensor& g) -> Grads {
    Tensor gx = Tensor::zeros(s, g.dtype(), g.device());
    slice(gx, d, start, end, step).copy_(g);
    return {gx};
  });
}

Tensor expand(const Tensor& x, const Shape& requested) {
  STRATA_CHECK(requested.size() >= size_t(x.dim()), "expand: cannot expand shape ", shape_str(x.shape()), " to ",
               shape_str(requested), " (fewer dimensions)");
  Shape shape = requested;
  const size_t lead = shape.size() - x.shape().size();
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t have = i < lead ? 1 : x.shape()[i - lead];
    if (shape[i] == -1) {
      STRATA_CHECK(i >= lead, "expand: -1 is not allowed for a new leading dimension in ", shape_str(requested));
      shape[i] = have;
    }
    STRATA_CHECK(have == shape[i] || have == 1, "expand: cannot expand shape ", shape_str(x.shape()), " to ",
                 shape_str(requested), " (dimension ", i, ": ", have, " vs ", shape[i], ")");
  }
  if (shape == x.shape()) return x;
  return record("expand", raw_expand(x, shape), {x},
                [s = x.shape()](const Tensor& g) -> Grads { return {sum_to(g, s)}; });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  const int64_t stride = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  if (tracing()) trace_attrs("unsqueeze", {{{"axis", {d}}}, {}, {}});  // the axis, where unit sizes make it ambiguous
  return record_reshape_like("unsqueeze", make_view(x, shape, strides, x.offset()), x);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  if (x.dim() == 0) return x;
  const int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.shape()[d] != 1) return x;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  if (tracing()) trace_attrs("squeeze", {{{"axis", {d}}}, {}, {}});
  return record_reshape_like("squeeze", make_view(x, shape, strides, x.offset()), x);
}

// ---- copies ------------------------------------------------------------

namespace {
Tensor raw_copy(const Tensor& x, DType dtype) {
  Tensor y = make_tensor(x.shape(), dtype, x.device());
  backend_for(x.device()).copy(x.dtype(), x.raw_data(), x.desc(), dtype, y.raw_data(), y.desc());
  return y;
}
}  // namespace

Tensor clone(const Tensor& x) {
  return record("clone", raw_copy(x, x.dtype()), {x}, [](const Tensor& g) -> Grads { return {g}; });
}

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

Tensor to_dtype(const Tensor& x, DType dtype) {
  Tensor y = raw_copy(x, dtype);
  if (!is_floating(dtype)) return y;  // integer results carry no gradient
  return record("to_dtype", y, {x}, [from = x.dtype()](const Tensor& g) -> Grads { return {g.to(from)}; });
}

Tensor to_device(const Tensor& x, Device device) {
  const Tensor src = x.contiguous();
  Tensor y = make_tensor(x.shape(), x.dtype(), device);
  const size_t nbytes = size_t(x.numel()) * dtype_size(x.dtype());
  if (src.device().is_cpu()) {
    backend_for(device).copy_from_host(y.raw_data(), src.raw_data(), nbytes);
  } else if (device.is_cpu()) {
    backend_for(src.device()).copy_to_host(y.raw_data(), src.raw_data(), nbytes);
  } else {
    return to_device(to_device(x, Device::cpu()), device);
  }
  return record("to_device", y, {x}, [from = x.device()](const Tensor& g) -> Grads { return {g.to(from)}; });
}

// ---- joining and splitting ---------------------------------------------

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  STRATA_CHECK(!tensors.empty(), "cat: expected at least one tensor");
  const Tensor& first = tensors[0];
  const int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_same_device("cat", first, t);
    check_same_dtype("cat", first, t);
    STRATA_CHECK(t.dim() == first.dim(), "cat: tensor ", i, " has shape ", shape_str(t.shape()), ", tensor 0 has ",
                 shape_str(first.shape()), " (different number of dimensions)");
    for (int64_t k = 0; k < t.dim(); ++k)
      STRATA_CHECK(k == d || t.shape()[k] == first.shape()[k], "cat: tensor ", i, " has shape ",
                   shape_str(t.shape()), ", tensor 0 has ", shape_str(first.shape()),
                   " (sizes must match except in dimension ", d, ")");
    shape[d] += t.shape()[d];
  }
  Tensor out = make_tensor(shape, first.dtype(), first.device());
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    Shape part_shape = shape;
    part_shape[d] = t.shape()[d];
    const Tensor part = make_view(out, part_shape, out.strides(), at * out.strides()[d]);
    backend_for(out.device()).copy(t.dtype(), t.raw_data(), t.desc(), out.dtype(), part.raw_data(), part.desc());
    sizes.push_back(t.shape()[d]);
    at += t.shape()[d];
  }
  if (tracing()) trace_attrs("cat", {{{"axis", {d}}}, {}, {}});
  return record("cat", out, tensors, [sizes, d](const Tensor& g) -> Grads { return split(g, sizes, d); });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  STRATA_CHECK(!tensors.empty(), "stack: expected at least one tensor");
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (size_t i = 0; i < tensors.size(); ++i) {
    STRATA_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
                 shape_str(tensors[i].shape()), ", tensor 0 has ", shape_str(tensors[0].shape()));
    expanded.push_back(unsqueeze(tensors[i], d));
  }
  return cat(expanded, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    STRATA_CHECK(s >= 0, "split: negative size ", s);
    total += s;
  }
  STRATA_CHECK(total == x.shape()[d], "split: sizes add up to ", total, " but dimension ", d, " has size ",
               x.shape()[d]);
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int64_t s : sizes) {
    parts.push_back(slice(x, d, at, at + s));
    at += s;
  }
  return parts;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  STRATA_CHECK(split_size > 0, "split: split_size must be positive, got ", split_size);
  const int64_t n = x.shape()[wrap_dim(dim, x.dim(), "split")];
  std::vector<int64_t> sizes;
  for (int64_t at = 0; at < n; at += split_size) sizes.push_back(std::min(split_size, n - at));
  return split(x, sizes, dim);
}

// ---- indexing ----------------------------------------------------------

namespace {
Tensor as_index(const Tensor& index, const char* op) {
  STRATA_CHECK(index.dtype() == DType::i64 || index.dtype() == DType::i32, op,
               ": index must be i32 or i64, got ", index.dtype());
  return index.to(DType::i64).contiguous();
}
}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  const int64_t d = wrap_dim(dim, x.dim(), "gather");
  check_same_device("gather", x, index);
  STRATA_CHECK(index.dim() == x.dim(), "gather: index has shape ", shape_str(index.shape()), ", input has ",
               shape_str(x.shape()), " (same number of dimensions needed)");
  for (int64_t k = 0; k < x.dim(); ++k)
    STRATA_CHECK(k == d || index.shape()[k] == x.shape()[k], "gather: index shape ", shape_str(index.shape()),
                 " must match input shape ", shape_str(x.shape()), " except in dimension ", d);
  const Tensor idx = as_index(index, "gather");
  check_index_range("gather", idx, x.shape()[d]);
  const Tensor xc = x.contiguous();
  const AxisSplit s = split_at(x.shape(), d);
  Tensor out = make_tensor(index.shape(), x.dtype(), x.device());
  backend_for(x.device()).gather(x.dtype(), xc.raw_data(), s.outer, s.D, s.inner, idx.data<int64_t>(),
                                 index.shape()[d], out.raw_data());
  return record("gather", out, {x}, [xs = x.shape(), d, si = Saved(idx)](const Tensor& g) -> Grads {
    const Tensor& ix = si.get();
    Tensor gx = Tensor::zeros(xs, g.dtype(), g.device());
    const Tensor gc = g.contiguous();
    const AxisSplit s = split_at(xs, d);
    backend_for(g.device()).scatter_add(g.dtype(), gx.raw_data(), s.outer, s.D, s.inner, ix.data<int64_t>(),
                                        ix.shape()[d], gc.raw_data());
    return {gx};
  });
}

void fill_gaps(double* v, int64_t n) {
  int64_t prev = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(v[i])) continue;
    if (prev < 0) {
      std::fill_n(v, i, v[i]);
    } else if (i - prev > 1) {
      const double a = v[prev], b = v[i];
      for (int64_t j = prev + 1; j < i; ++j) v[j] = a + (b - a) * double(j - prev) / double(i - prev);
    }
    prev = i;
  }
  if (prev >= 0) std::fill(v + prev + 1, v + n, v[prev]);
}

RowStats nan_trimmed_stats(const double* row, int64_t n, double fraction) {
  std::vector<double> valid;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isnan(row[i])) valid.push_back(row[i]);
  std::sort(valid.begin(), valid.end());
  const int64_t k = int64_t(valid.size()), cut = trimmed_count(k, fraction), kept = k - 2 * cut;
  RowStats st{std::nan(""), std::nan(""), k};
  if (kept == 0) return st;
  double s = 0, s2 = 0;
  for (int64_t i = cut; i < k - cut; ++i) s += valid[size_t(i)];
  st.mean = s / double(kept);
  for (int64_t i = cut; i < k - cut; ++i) s2 += (valid[size_t(i)] - st.mean) * (valid[size_t(i)] - st.mean);
  st.sd = std::sqrt(s2 / double(kept));
  return st;
}

namespace {

// Runs `f(row, n)` over every row of x along its last axis, on a host copy in double; the result in x's dtype and
// device, `width` values a row.
template <class F>
Tensor map_rows(const Tensor& x, const char* op, int64_t width, F f) {
  STRATA_CHECK(is_floating(x.dtype()), op, ": needs a floating-point tensor, got ", dtype_name(x.dtype()));
  STRATA_CHECK(x.dim() >= 1 && x.shape().back() > 0, op, ": needs a non-empty last axis, got ", shape_str(x.shape()));
  const int64_t n = x.shape().back();
  std::vector<double> v = x.to(Device::cpu()).to(DType::f64).contiguous().to_vector<double>();
  const int64_t rows = int64_t(v.size()) / n;
  std::vector<double> out(size_t(rows * width));
  for (int64_t r = 0; r < rows; ++r) f(v.data() + r * n, n, out.data() + r * width);
  Shape s = x.shape();
  s.back() = width;
  return Tensor::from_vector(out, s).to(x.dtype()).to(x.device());
}

}  // namespace

Tensor is_nan(const Tensor& x) {
  Tensor out = ne(x, x);
  if (tracing()) trace_record("is_nan", {x}, out);  // after ne's record, for the same output
  return out;
}

Tensor fill_gaps(const Tensor& x) {
  Tensor out;
  {
    NoGradGuard no_grad;
    out = map_rows(x, "fill_gaps", x.shape().empty() ? 0 : x.shape().back(), [](double* row, int64_t n, double* y) {
      fill_gaps(row, n);
      std::copy_n(row, n, y);
    });
  }
  if (tracing()) trace_record("fill_gaps", {x}, out);
  return out;
}

Tensor nan_trimmed_stats(const Tensor& x, double fraction) {
  STRATA_CHECK(fraction >= 0 && fraction < 0.5, "nan_trimmed_stats: fraction must be in [0, 0.5), got ", fraction);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = map_rows(x, "nan_trimmed_stats", 2, [fraction](const double* row, int64_t n, double* y) {
      const RowStats st = nan_trimmed_stats(row, n, fraction);
      y[0] = st.mean;
      y[1] = st.sd;
    });
  }
  if (tracing()) {
    trace_attrs("nan_trimmed_stats", {{{"per_million", {trim_per_million(fraction)}}}, {}, {}});
    trace_record("nan_trimmed_stats", {x}, out);
  }
  return out;
}

std::vector<int64_t> window_starts(int64_t length, int64_t window, int64_t stride) {
  STRATA_CHECK(window > 0 && stride > 0, "window and stride must be > 0");
  std::vector<int64_t> s;
  if (length <= window) return {0};
  for (int64_t p = 0; p + window <= length; p += stride) s.push_back(p);
  if (s.back() + window < length) s.push_back(length - window);
  return s;
}

Tensor sliding_windows(const Tensor& x, int64_t window, int64_t stride) {
  STRATA_CHECK(x.dim() == 3, "sliding_windows: expects (N, C, L), got ", shape_str(x.shape()));
  const int64_t n = x.shape()[0], c = x.shape()[1], length = x.shape()[2], w = std::min(window, length);
  const std::vector<int64_t> starts = window_starts(length, window, stride);
  const int64_t nw = int64_t(starts.size());
  std::vector<int64_t> index;  // (N * nw, C, w) positions along L, gathered from x expanded to that batch
  for (int64_t s : starts)
    for (int64_t j = 0; j < w; ++j) index.push_back(s + j);
  Tensor out;
  {
    NoGradGuard no_grad;
    const Tensor at = Tensor::from_vector(index, {1, nw, 1, w}, x.device()).expand({n, nw, c, w});
    out = gather(x.unsqueeze(1).expand({n, nw, c, length}), 3, at.contiguous()).reshape({n * nw, c, w});
  }
  if (tracing()) {
    trace_attrs("sliding_windows", {{{"window", {window}}, {"stride", {stride}}}, {}, {}});
    trace_record("sliding_windows", {x}, out);
  }
  return out;
}

Tensor overlap_add(const Tensor& windows, const Tensor& like, int64_t window, int64_t stride) {
  STRATA_CHECK(windows.dim() == 3 && like.dim() == 3, "overlap_add: expects (N * nw, K, W) and (N, C, L), got ",
               shape_str(windows.shape()), " and ", shape_str(like.shape()));
  const int64_t n = like.shape()[0], length = like.shape()[2], w = std::min(window, length);
  const std::vector<int64_t> starts = window_starts(length, window, stride);
  const int64_t nw = int64_t(starts.size()), k = windows.shape()[1];
  STRATA_CHECK(windows.shape()[0] == n * nw && windows.shape()[2] == w, "overlap_add: ", shape_str(windows.shape()),
               " are not the ", nw, " windows of ", w, " of each of ", n, " inputs of length ", length);
  const std::vector<double> p = windows.to(Device::cpu()).to(DType::f64).contiguous().to_vector<double>();
  std::vector<double> acc(size_t(n * k * length), 0.0), weight(size_t(length), 0.0);
  for (int64_t i = 0; i < nw; ++i)
    for (int64_t j = 0; j < w; ++j) weight[size_t(starts[size_t(i)] + j)] += double(std::min(j + 1, w - j));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < nw; ++i)
      for (int64_t c = 0; c < k; ++c)
        for (int64_t j = 0; j < w; ++j)
          acc[size_t((b * k + c) * length + starts[size_t(i)] + j)] +=
              double(std::min(j + 1, w - j)) * p[size_t(((b * nw + i) * k + c) * w + j)];
  for (size_t i = 0; i < acc.size(); ++i) acc[i] /= weight[i % size_t(length)];
  Tensor y = Tensor::from_vector(acc, {n, k, length}).to(windows.dtype()).to(windows.device());
  if (tracing()) {
    trace_attrs("overlap_add", {{{"window", {window}}, {"stride", {stride}}}, {}, {like}});
    trace_record("overlap_add", {windows}, y);
  }
  return y;
}

Tensor flip(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim(), "flip");
  const int64_t n = x.shape()[d];
  std::vector<int64_t> reversed(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) reversed[size_t(i)] = n - 1 - i;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = index_select(x, d, Tensor::from_vector(reversed, {n}, x.device()));
  }
  if (tracing()) trace_attrs("flip", {{{"axis", {d}}}, {}, {}});
  return record("flip", out, {x}, [d](const Tensor& g) -> Grads { return {flip(g, d)}; });
}

Tensor pad_to_multiple(const Tensor& x, int64_t multiple) {
  STRATA_CHECK(multiple > 0, "pad_to_multiple: multiple must be positive, got ", multiple);
  STRATA_CHECK(x.dim() >= 3, "pad_to_multiple: expects (N, C, ...) input, got shape ", shape_str(x.shape()));
  bool padded = false;
  for (int64_t d = 2; d < x.dim(); ++d) padded = padded || x.shape()[d] % multiple != 0;
  if (!padded && !tracing()) return x;
  Tensor out = x;
  {
    NoGradGuard no_grad;
    for (int64_t d = 2; d < x.dim(); ++d) {
      const int64_t extra = (multiple - x.shape()[d] % multiple) % multiple;
      if (extra == 0) continue;
      Shape zeros = out.shape();
      zeros[size_t(d)] = extra;
      out = cat({out, Tensor::zeros(zeros, x.dtype(), x.device())}, d);
    }
    if (!padded) out = x.clone();  // tracing: the op needs an output of its own
  }
  if (tracing()) trace_attrs("pad_to_multiple", {{{"multiple", {multiple}}}, {}, {}});
  return record("pad_to_multiple", out, {x}, [s = x.shape()](const Tensor& g) -> Grads {
    Tensor gx = g;
    for (size_t d = 2; d < s.size(); ++d) gx = slice(gx, int64_t(d), 0, s[d]);
    return {gx.contiguous()};
  });
}

Tensor crop_like(const Tensor& y, const Tensor& like) {
  STRATA_CHECK(y.dim() >= 3 && like.dim() == y.dim(), "crop_like: expects (N, C, ...) tensors of the same rank, got ",
               shape_str(y.shape()), " and ", shape_str(like.shape()));
  bool cropped = false;
  for (int64_t d = 2; d < y.dim(); ++d) {
    STRATA_CHECK(like.shape()[d] <= y.shape()[d], "crop_like: cannot crop ", shape_str(y.shape()), " to the size of ",
                 shape_str(like.shape()));
    cropped = cropped || like.shape()[d] != y.shape()[d];
  }
  if (!cropped && !tracing()) return y;
  Tensor out = y;  // a view of y, as slice gives
  {
    NoGradGuard no_grad;
    for (int64_t d = 2; d < y.dim(); ++d) out = slice(out, d, 0, like.shape()[d]);
  }
  if (tracing()) trace_attrs("crop_like", {{}, {}, {like}});
  return record("crop_like", out, {y}, [s = y.shape()](const Tensor& g) -> Grads {
    Tensor gy = Tensor::zeros(s, g.dtype(), g.device());
    Tensor part = gy;
    for (size_t d = 2; d < s.size(); ++d) part = slice(part, int64_t(d), 0, g.shape()[d]);
    part.copy_(g);
    return {gy};
  });
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const int64_t d = wrap_dim(dim, x.dim(), "index_select");
  check_same_device("index_select", x, index);
  STRATA_CHECK(index.dim() == 1, "index_select: index must be 1-D, got shape ", shape_str(index.shape()));
  const Tensor idx = as_index(index, "index_select");
  check_index_range("index_select", idx, x.shape()[d]);
  const Tensor xc = x.contiguous();
  const AxisSplit s = split_at(x.shape(), d);
  Shape shape = x.shape();
  shape[d] = idx.numel();
  Tensor out = make_tensor(shape, x.dtype(), x.device());
  backend_for(x.device()).index_select(x.dtype(), xc.raw_data(), s.outer, s.D, s.inner, idx.data<int64_t>(),
                                       idx.numel(), out.raw_data());
  return record("index_select", out, {x}, [xs = x.shape(), d, si = Saved(idx)](const Tensor& g) -> Grads {
    const Tensor& ix = si.get();
    Tensor gx = Tensor::zeros(xs, g.dtype(), g.device());
    const Tensor gc = g.contiguous();
    const AxisSplit s = split_at(xs, d);
    backend_for(g.device()).index_add(g.dtype(), gx.raw_data(), s.outer, s.D, s.inner, ix.data<int64_t>(),
                                      ix.numel(), gc.raw_data());
    return {gx};
  });
}

Tensor one_hot(const Tensor& index, int64_t num_classes, DType dtype) {
  STRATA_CHECK(num_classes > 0, "one_hot: num_classes must be positive, got ", num_classes);
  const Tensor idx = as_index(index, "one_hot");
  check_index_range("one_hot", idx, num_classes);
  Shape shape = index.shape();
  shape.push_back(num_classes);
  Tensor out = make_tensor(shape, dtype, index.device());
  backend_for(index.device()).one_hot(dtype, idx.data<int64_t>(), idx.numel(), num_classes, out.raw_data());
  return out;
}

}  // namespace strata
