#include "engine/tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace strata {

std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
std::ostream& operator<<(std::ostream& os, Device d) { return os << d.str(); }

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t lo = -std::max<int64_t>(ndim, 1), hi = std::max<int64_t>(ndim, 1) - 1;
  STRATA_CHECK(dim >= lo && dim <= hi, op, ": dimension ", dim, " out of range for a ", ndim,
               "-D tensor (expected ", lo, "..", hi, ")");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

// ---- Storage ---------------------------------------------------------------

namespace {
uint64_t next_storage_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

Storage::Storage(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), allocator_(&backend_for(device).allocator()), id_(next_storage_id()) {
  data_ = allocator_->allocate(nbytes);
}

Storage::~Storage() { allocator_->deallocate(data_, nbytes_); }

// ---- construction --------------------------------------------------------

Tensor make_tensor(const Shape& shape, DType dtype, Device device) {
  STRATA_CHECK(int(shape.size()) <= kMaxDims, "tensors have at most ", kMaxDims, " dimensions, got shape ",
               shape_str(shape));
  for (int64_t d : shape) STRATA_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) { return make_tensor(shape, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = make_tensor(shape, dtype, device);
  backend_for(device).fill(dtype, value, t.raw_data(), t.desc());
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1, dtype, device); }
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::arange(double start, double end, double step, DType dtype, Device device) {
  STRATA_CHECK(step != 0, "arange: step must be non-zero");
  const int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = start + double(i) * step;
  return from_vector(values, {n}, device).to(dtype);
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  STRATA_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
               " values do not fill shape ", shape_str(shape));
  Tensor t = make_tensor(shape, dtype_of<T>::value, device);
  backend_for(device).copy_from_host(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor Tensor::from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, Device);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);
template Tensor Tensor::from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&, Device);

namespace {
// A fresh tensor filled by `fill(backend, data, n, seed, offset)` from `gen`'s stream.
template <class Fill>
Tensor random_tensor(const char* op, const Shape& shape, DType dtype, Generator* gen, Device device, Fill&& fill) {
  STRATA_CHECK(is_floating(dtype), op, ": expected a floating-point dtype, got ", dtype);
  Tensor t = make_tensor(shape, dtype, device);
  Generator& g = gen ? *gen : default_generator();
  const uint64_t offset = g.advance(t.numel());
  fill(backend_for(device), t.raw_data(), t.numel(), g.seed(), offset);
  return t;
}
}  // namespace

Tensor Tensor::rand(const Shape& shape, DType dtype, Generator* gen, double lo, double hi, Device device) {
  return random_tensor("rand", shape, dtype, gen, device, [&](Backend& b, void* p, int64_t n, uint64_t s, uint64_t o) {
    b.random_uniform(dtype, p, n, s, o, lo, hi);
  });
}

Tensor Tensor::randn(const Shape& shape, DType dtype, Generator* gen, double mean, double std, Device device) {
  return random_tensor("randn", shape, dtype, gen, device, [&](Backend& b, void* p, int64_t n, uint64_t s, uint64_t o) {
    b.random_normal(dtype, p, n, s, o, mean, std);
  });
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

// ---- metadata --------------------------------------------------------------

TensorImpl& Tensor::impl() const {
  STRATA_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::numel() const { return shape_numel(shape()); }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

TensorDesc Tensor::desc() const {
  TensorDesc d;
  d.ndim = int(dim());
  for (int i = 0; i < d.ndim; ++i) {
    d.shape[i] = shape()[i];
    d.strides[i] = strides()[i];
  }
  return d;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + offset() * int64_t(dtype_size(dtype()));
}

template <class T>
T* Tensor::data() const {
  STRATA_CHECK(dtype() == dtype_of<T>::value, "data<", dtype_name(dtype_of<T>::value), ">: tensor has dtype ",
               dtype());
  return static_cast<T*>(raw_data());
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const Tensor c = to(dtype_of<T>::value).contiguous();
  std::vector<T> out(size_t(c.numel()));
  backend_for(c.device()).copy_to_host(out.data(), c.raw_data(), out.size() * sizeof(T));
  return out;
}

template <class T>
T Tensor::item() const {
  STRATA_CHECK(numel() == 1, "item: expected a one-element tensor, got shape ", shape_str(shape()));
  return to_vector<T>()[0];
}

#define STRATA_INSTANTIATE_ACCESS(T)                 \
  template T* Tensor::data<T>() const;               \
  template std::vector<T> Tensor::to_vector<T>() const; \
  template T Tensor::item<T>() const;
STRATA_INSTANTIATE_ACCESS(float)
STRATA_INSTANTIATE_ACCESS(double)
STRATA_INSTANTIATE_ACCESS(int32_t)
STRATA_INSTANTIATE_ACCESS(int64_t)
STRATA_INSTANTIATE_ACCESS(uint8_t)

// ---- views and copies: forwards to engine/ops ------------------------------

Tensor Tensor::view(const Shape& s) const { return strata::view(*this, s); }
Tensor Tensor::reshape(const Shape& s) const { return strata::reshape(*this, s); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return strata::permute(*this, dims); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return strata::transpose(*this, d0, d1); }
Tensor Tensor::t() const {
  STRATA_CHECK(dim() == 2, "t: expected a 2-D tensor, got shape ", shape_str(shape()));
  return transpose(0, 1);
}
Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  return strata::slice(*this, d, start, end, step);
}
Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  return strata::slice(*this, d, start, start + length);
}
Tensor Tensor::select(int64_t d, int64_t index) const {
  const int64_t dd = wrap_dim(d, dim(), "select");
  const int64_t n = size(dd);
  STRATA_CHECK(index >= -n && index < n, "select: index ", index, " out of range for dimension ", dd, " of size ",
               n);
  if (index < 0) index += n;
  return strata::slice(*this, dd, index, index + 1).squeeze(dd);
}
Tensor Tensor::unsqueeze(int64_t d) const { return strata::unsqueeze(*this, d); }
Tensor Tensor::squeeze(int64_t d) const { return strata::squeeze(*this, d); }
Tensor Tensor::squeeze() const {
  Shape s;
  for (int64_t d : shape())
    if (d != 1) s.push_back(d);
  return reshape(s);
}
Tensor Tensor::expand(const Shape& s) const { return strata::expand(*this, s); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int64_t s = wrap_dim(start_dim, dim(), "flatten"), e = wrap_dim(end_dim, dim(), "flatten");
  STRATA_CHECK(s <= e, "flatten: start_dim ", s, " is after end_dim ", e);
  Shape out(shape().begin(), shape().begin() + s);
  int64_t n = 1;
  for (int64_t i = s; i <= e; ++i) n *= shape()[i];
  out.push_back(n);
  out.insert(out.end(), shape().begin() + e + 1, shape().end());
  return reshape(out);
}
Tensor Tensor::contiguous() const { return strata::contiguous(*this); }
Tensor Tensor::clone() const { return strata::clone(*this); }
Tensor Tensor::to(Device d) const { return d == device() ? *this : to_device(*this, d); }
Tensor Tensor::to(DType t) const { return t == dtype() ? *this : to_dtype(*this, t); }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

// ---- autograd --------------------------------------------------------------

Tensor& Tensor::requires_grad_(bool value) {
  STRATA_CHECK(!value || is_floating(dtype()), "only floating-point tensors can require gradients; got a ",
               dtype(), " tensor of shape ", shape_str(shape()));
  STRATA_CHECK(is_leaf(), "requires_grad_: can only be set on a leaf tensor (this one was produced by '",
               grad_fn()->name(), "'); use detach() first");
  impl().requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) const {
  if (g.defined())
    STRATA_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad: gradient of shape ",
                 shape_str(g.shape()), " ", g.dtype(), " for a tensor of shape ", shape_str(shape()), " ", dtype());
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::zero_grad() const { impl().grad = nullptr; }

void Tensor::backward(const Tensor& grad, bool retain_graph) const { run_backward(*this, grad, retain_graph); }

// ---- in-place ----------------------------------------------------------

namespace {
void check_inplace(const Tensor& t, const char* op) {
  STRATA_CHECK(!(grad_enabled() && t.requires_grad()), op,
               ": in-place operation on a tensor that requires grad (shape ", shape_str(t.shape()),
               "); wrap it in NoGradGuard or use detach()");
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  backend_for(device()).fill(dtype(), value, raw_data(), desc());
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0); }

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  STRATA_CHECK(src.device() == device() || src.is_contiguous(), "copy_: a non-contiguous source on another device");
  Tensor s = src.device() == device() ? src : src.detach().to(device());
  const Shape b = broadcast_shapes(shape(), s.shape(), "copy_");
  STRATA_CHECK(b == shape(), "copy_: source of shape ", shape_str(s.shape()), " cannot be broadcast to ",
               shape_str(shape()));
  Tensor e = s.detach().expand(shape());
  backend_for(device()).copy(e.dtype(), e.raw_data(), e.desc(), dtype(), raw_data(), desc());
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  STRATA_CHECK(other.dtype() == dtype(), "add_: dtype mismatch: ", dtype(), " and ", other.dtype());
  STRATA_CHECK(other.device() == device(), "add_: tensors on different devices: ", device(), " and ",
               other.device());
  const Shape b = broadcast_shapes(shape(), other.shape(), "add_");
  STRATA_CHECK(b == shape(), "add_: operand of shape ", shape_str(other.shape()), " cannot be broadcast to ",
               shape_str(shape()));
  NoGradGuard no_grad;
  Tensor o = other.expand(shape());
  if (alpha != 1) o = mul(o, alpha);
  backend_for(device()).binary(dtype(), BinaryOp::add, raw_data(), desc(), o.raw_data(), o.desc(), raw_data(),
                               desc());
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_inplace(*this, "mul_");
  NoGradGuard no_grad;
  Tensor s = Tensor::scalar(value, dtype(), device()).expand(shape());
  backend_for(device()).binary(dtype(), BinaryOp::mul, raw_data(), desc(), s.raw_data(), s.desc(), raw_data(),
                               desc());
  storage()->bump_version();
  return *this;
}

// ---- printing ----------------------------------------------------------

namespace {

constexpr int64_t kSummariseAbove = 1000;  // elements
constexpr int64_t kEdgeItems = 3;

struct PrintFormat {
  bool floating = false, scientific = false;
  int width = 1;
};

std::string format_value(double v, const PrintFormat& f) {
  std::ostringstream os;
  if (!f.floating) {
    os << int64_t(v);
  } else if (std::isnan(v) || std::isinf(v)) {
    os << (std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
  } else if (f.scientific) {
    os << std::scientific << std::setprecision(4) << v;
  } else {
    os << std::fixed << std::setprecision(4) << v;
  }
  return os.str();
}

void print_rec(std::ostream& os, const std::vector<double>& v, const Shape& shape, const Shape& strides,
               int64_t base, size_t d, bool summarise, const PrintFormat& f, int indent) {
  if (d == shape.size()) {
    std::string s = format_value(v[base], f);
    os << std::string(std::max<int>(0, f.width - int(s.size())), ' ') << s;
    return;
  }
  os << '[';
  const int64_t n = shape[d];
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdgeItems;
    }
    print_rec(os, v, shape, strides, base + i * strides[d], d + 1, summarise, f, indent + 1);
    if (i + 1 < n) {
      if (d + 1 == shape.size()) os << ", ";
      else os << ',' << std::string(shape.size() - d - 1, '\n') << std::string(indent + 1, ' ');
    }
  }
  os << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> v = to_vector<double>();
  PrintFormat f;
  f.floating = is_floating(dtype());
  double max_abs = 0, min_abs = INFINITY;
  for (double x : v)
    if (std::isfinite(x)) {
      max_abs = std::max(max_abs, std::abs(x));
      if (x != 0) min_abs = std::min(min_abs, std::abs(x));
    }
  f.scientific = f.floating && (max_abs >= 1e5 || (min_abs < 1e-4 && min_abs != INFINITY));
  for (double x : v) f.width = std::max<int>(f.width, int(format_value(x, f).size()));
  std::ostringstream os;
  os << "tensor(";
  print_rec(os, v, shape(), contiguous_strides(shape()), 0, 0, numel() > kSummariseAbove, f, 7);
  os << ", shape=" << shape_str(shape()) << ", dtype=" << dtype();
  if (!device().is_cpu()) os << ", device=" << device();
  if (requires_grad()) os << (grad_fn() ? ", grad_fn=" + grad_fn()->name() : ", requires_grad=true");
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace strata
