// Tensor metadata, views, copies, conversions, printing and error messages.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/ops.h"

using namespace strata;

namespace {
Tensor iota(const Shape& shape, DType dtype = DType::f32) {
  return Tensor::arange(0, double(shape_numel(shape)), 1, dtype).reshape(shape);
}
// Expects `fn` to throw strata::Error whose message contains every fragment.
template <class Fn>
void expect_error(Fn&& fn, std::initializer_list<const char*> fragments) {
  try {
    fn();
    FAIL() << "expected strata::Error";
  } catch (const Error& e) {
    for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Tensor, FactoriesAndMetadata) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), DType::f32);
  EXPECT_TRUE(z.device().is_cpu());
  EXPECT_TRUE(z.is_contiguous());
  for (float v : z.to_vector<float>()) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(Tensor::full({2}, 2.5, DType::f64).to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(Tensor::arange(1, 7, 2).to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 5}));
  EXPECT_EQ(Tensor::scalar(4, DType::i32).item<int32_t>(), 4);
  EXPECT_EQ(Tensor::scalar(4).dim(), 0);
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8})
    EXPECT_EQ(sum(Tensor::ones({3}, t)).to(DType::f64).item<double>(), 3.0) << dtype_name(t);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor x = iota({2, 3, 4});
  Tensor t = x.transpose(0, 2);  // (4, 3, 2)
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.storage(), x.storage());
  // t[i, j, k] == x[k, j, i]
  const auto tv = t.contiguous().to_vector<float>();
  EXPECT_EQ(tv[(3 * 3 + 1) * 2 + 1], float((1 * 3 + 1) * 4 + 3));

  Tensor s = x.slice(2, 1, 4, 2);  // columns 1 and 3
  EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(s.contiguous().to_vector<float>()[0], 1.0f);
  EXPECT_EQ(s.contiguous().to_vector<float>()[1], 3.0f);
  EXPECT_EQ(x.slice(1, -2, 100).shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(x.select(1, -1).shape(), (Shape{2, 4}));
  EXPECT_EQ(x.select(1, -1).to_vector<float>()[0], 8.0f);
  EXPECT_EQ(x.narrow(0, 1, 1).shape(), (Shape{1, 3, 4}));

  Tensor r = x.reshape({6, -1});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.storage(), x.storage());  // a view, no copy
  Tensor rt = t.reshape({-1});           // not viewable: copies
  EXPECT_NE(rt.storage(), x.storage());
  EXPECT_EQ(rt.to_vector<float>()[1], 12.0f);

  Tensor e = Tensor::arange(0, 3, 1, DType::f32).reshape({3, 1}).expand({3, 4});
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  EXPECT_EQ(e.contiguous().to_vector<float>()[5], 1.0f);
  EXPECT_EQ(x.unsqueeze(1).shape(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(x.unsqueeze(1).squeeze(1).shape(), x.shape());
  EXPECT_EQ(x.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(x.permute({2, 0, 1}).shape(), (Shape{4, 2, 3}));
}

TEST(Tensor, ViewOfNonContiguousFailsClearly) {
  Tensor t = iota({3, 4}).t();
  expect_error([&] { t.view({12}); }, {"view", "[4, 3]", "reshape"});
  EXPECT_EQ(t.view({4, 3, 1}).shape(), (Shape{4, 3, 1}));  // adding a unit dim is fine
}

TEST(Tensor, ConversionsAndCopies) {
  Tensor x = Tensor::from_vector<float>({1.5f, -2.5f, 3.0f}, {3});
  EXPECT_EQ(x.to(DType::i32).to_vector<int32_t>(), (std::vector<int32_t>{1, -2, 3}));
  EXPECT_EQ(x.to(DType::f64).dtype(), DType::f64);
  Tensor c = x.clone();
  c.fill_(7);
  EXPECT_EQ(x.to_vector<float>()[0], 1.5f);
  Tensor y = Tensor::zeros({2, 3});
  y.copy_(x);  // broadcast source
  EXPECT_EQ(y.to_vector<float>()[4], -2.5f);
  y.add_(Tensor::ones({3}), 2.0);
  EXPECT_EQ(y.to_vector<float>()[0], 3.5f);
  y.mul_(2);
  EXPECT_EQ(y.to_vector<float>()[0], 7.0f);
  EXPECT_EQ(x.to(Device::cpu()).storage(), x.storage());
}

TEST(Tensor, Printing) {
  Tensor x = Tensor::from_vector<float>({1, -2.5, 3, 4}, {2, 2});
  EXPECT_EQ(x.str(), "tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]], shape=[2, 2], dtype=f32)");
  EXPECT_EQ(Tensor::arange(0, 3).str(), "tensor([0, 1, 2], shape=[3], dtype=i64)");
  const std::string big = Tensor::zeros({2000}).str();
  EXPECT_NE(big.find("..."), std::string::npos);
  EXPECT_LT(big.size(), 200u);
  Tensor w = Tensor::ones({2});
  w.requires_grad_();
  EXPECT_NE(mul(w, 2.0).str().find("grad_fn=mul"), std::string::npos);
}

TEST(Tensor, ClearErrors) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  expect_error([&] { add(a, b); }, {"add", "[2, 3]", "[4]", "cannot be broadcast"});
  expect_error([&] { add(a, Tensor::zeros({2, 3}, DType::f64)); }, {"add", "dtype mismatch", "f32", "f64"});
  expect_error([&] { matmul(a, Tensor::zeros({2, 3})); }, {"matmul", "[2, 3]", "cannot be multiplied"});
  expect_error([&] { Tensor::zeros({2}, DType::i64).requires_grad_(); }, {"floating-point", "i64"});
  expect_error([&] { exp(Tensor::zeros({2}, DType::i32)); }, {"exp", "floating-point", "i32"});
  expect_error([&] { a.reshape({5, -1}); }, {"reshape", "[5, -1]", "6 elements"});
  expect_error([&] { a.transpose(0, 2); }, {"transpose", "dimension 2 out of range"});
  expect_error([&] { Tensor::zeros({1}, DType::f32, Device::cuda(0)); }, {"cuda:0", "not available"});
  expect_error([&] { register_backend(DeviceType::cpu, nullptr); }, {"CPU backend cannot be replaced"});
  expect_error([&] { Tensor().shape(); }, {"undefined tensor"});
  expect_error([&] { cat({a, Tensor::zeros({2, 3, 1})}, 0); }, {"cat", "[2, 3, 1]"});
  expect_error([&] { gather(a, 1, Tensor::full({2, 3}, 3, DType::i64)); }, {"gather", "index 3", "size 3"});
}

// A second device stood in by a host-memory backend: ops that mix devices must
// name both, and to(device) must move data and gradients across.
TEST(Tensor, MixingDevices) {
  register_backend(DeviceType::cuda, &cpu_backend());
  Tensor a = Tensor::ones({2, 3});
  Tensor b = Tensor::ones({2, 3}, DType::f32, Device::cuda(0));
  EXPECT_EQ(b.device(), Device::cuda(0));
  expect_error([&] { add(a, b); }, {"add", "different devices", "cpu", "cuda:0", "[2, 3]"});
  expect_error([&] { matmul(a, b.t()); }, {"matmul", "different devices"});
  expect_error([&] { a.add_(b); }, {"add_", "different devices"});
  a.requires_grad_();
  Tensor moved = a.to(Device::cuda(0));
  EXPECT_EQ(moved.device(), Device::cuda(0));
  sum(mul(moved, b)).backward();
  EXPECT_EQ(a.grad().device(), Device::cpu());
  EXPECT_EQ(a.grad().to_vector<float>(), std::vector<float>(6, 1.0f));
  register_backend(DeviceType::cuda, nullptr);
}
