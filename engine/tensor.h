// Tensor: a handle (shared pointer) to a strided view of shared storage.
// Copying a Tensor copies the handle; views (reshape, permute, slice, expand,
// ...) share storage with their base. Differentiable functions live in
// engine/ops.h; the members here that return tensors are thin forwards to them.
//
//   t.shape()    sizes                  t.strides()  element strides
//   t.offset()   first element's index  t.dtype(), t.device()
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "kernels/tensor_desc.h"

namespace strata {

using Shape = std::vector<int64_t>;
class Allocator;
class Node;
class Generator;

std::string shape_str(const Shape& s);

// A device allocation. The version counter is bumped by every in-place write,
// so autograd can tell when a tensor saved for backward was modified.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }
  // A number no other storage of the process has, before or after (from 1).
  uint64_t id() const { return id_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_;  // the one that allocated data_, kept for the free
  uint64_t version_ = 0;
  uint64_t id_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;
  int64_t offset = 0;
  DType dtype = DType::f32;
  bool requires_grad = false;       // leaf flag set by the user, or output of a recorded op
  std::shared_ptr<Node> grad_fn;    // null for leaves
  std::shared_ptr<TensorImpl> grad; // accumulated gradient of a leaf
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories ----------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());
  // [start, end) in steps of `step`.
  static Tensor arange(double start, double end, double step = 1, DType dtype = DType::i64,
                       Device device = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
  // Uniform in [lo, hi) / normal(mean, std) from `gen` (default: the global generator).
  static Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr, double lo = 0,
                     double hi = 1, Device device = Device::cpu());
  static Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr, double mean = 0,
                      double std = 1, Device device = Device::cpu());

  // ---- metadata -----------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const;
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  uint64_t version() const { return impl().storage->version(); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  TensorDesc desc() const;
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  // Pointer to the first element (any device); data<T>() checks the dtype.
  void* raw_data() const;
  template <class T> T* data() const;
  // Copies to host and returns the values in logical (row-major) order.
  template <class T> std::vector<T> to_vector() const;
  // The single element of a one-element tensor.
  template <class T> T item() const;

  // ---- views and copies (differentiable) ----------------------------------
  Tensor view(const Shape& shape) const;     // no copy; errors if strides do not allow it
  Tensor reshape(const Shape& shape) const;  // view when possible, else a copy
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor expand(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor detach() const;  // same storage, no history

  // ---- autograd -----------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf as needing a gradient; only floating-point tensors can.
  Tensor& requires_grad_(bool value = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  void zero_grad() const;  // drops the gradient
  // Reverse-mode gradient of this tensor w.r.t. every leaf that requires grad.
  // `grad` may be omitted only for a one-element tensor (it is then 1).
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  // ---- in-place (never recorded by autograd; forbidden on tensors that
  // require grad while grad mode is on) -------------------------------------
  Tensor& fill_(double value);
  Tensor& zero_();
  Tensor& copy_(const Tensor& src);  // broadcasts src to this shape, converts dtype
  Tensor& add_(const Tensor& other, double alpha = 1);
  Tensor& mul_(double value);

  std::string str() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// A tensor of `shape` with contiguous strides on fresh storage.
Tensor make_tensor(const Shape& shape, DType dtype, Device device);
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
// Wraps a possibly negative dimension index into [0, ndim); error names `op`.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace strata
