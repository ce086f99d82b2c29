#include "layers/data_parallel.h"

#include <chrono>
#include <cstring>
#include <map>
#include <memory>

#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "layers/layers.h"
#include "layers/module.h"

namespace strata {
namespace {

struct SyncState {
  // Gradients averaged since the last step, by address; the weak pointer tells a gradient that was freed
  // (and whose address a new one may take) from a live one.
  std::map<const TensorImpl*, std::weak_ptr<TensorImpl>> averaged;
  int64_t local = 0, global = 0;        // this step's sample shares (0: equal)
  bool paused = false;                  // a NoGradientSync lives
  double seconds = 0;
};

SyncState& state() {
  static SyncState s;
  return s;
}

// Sums the gradients of one bucket (same dtype) over the ranks and divides by
// the world size; `scale` (!= 1 for unequal shares) weights this rank's part.
template <typename T>
void reduce_bucket(const std::vector<Tensor>& grads, double scale) {
  int64_t n = 0;
  for (const Tensor& g : grads) n += g.numel();
  std::vector<T> buf(static_cast<size_t>(n));
  std::vector<Tensor> host(grads.size());
  int64_t off = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    host[i] = grads[i].to(Device::cpu()).contiguous();
    std::memcpy(buf.data() + off, host[i].data<T>(), size_t(host[i].numel()) * sizeof(T));
    off += host[i].numel();
  }
  if (scale != 1)
    for (T& v : buf) v = T(v * scale);
  dist::allreduce_sum(buf.data(), n);
  const T world = T(dist::size());
  for (T& v : buf) v = v / world;
  off = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    const bool in_place = host[i].same(grads[i]);
    std::memcpy(host[i].data<T>(), buf.data() + off, size_t(host[i].numel()) * sizeof(T));
    if (!in_place) {
      Tensor g = grads[i];
      g.copy_(host[i]);
    }
    off += host[i].numel();
  }
}

bool was_averaged(const Tensor& g) {
  const auto it = state().averaged.find(g.impl_ptr().get());
  return it != state().averaged.end() && !it->second.expired();
}

}  // namespace

void set_step_samples(int64_t local, int64_t global) {
  state().local = local;
  state().global = global;
}

NoGradientSync::NoGradientSync() : previous_(state().paused) { state().paused = true; }
NoGradientSync::~NoGradientSync() { state().paused = previous_; }

double gradient_sync_seconds() { return state().seconds; }

void gradients_consumed(const std::vector<Tensor>& params) {
  if (!dist::active()) return;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) state().averaged.erase(g.impl_ptr().get());
  }
}

void allreduce_gradients(const std::vector<Tensor>& params, int64_t bucket_bytes) {
  if (!dist::active() || params.empty() || state().paused) return;
  const auto t0 = std::chrono::steady_clock::now();
  NoGradGuard no_grad;
  SyncState& st = state();
  // Which parameters have a gradient on some rank and still need averaging:
  // 1 = has a gradient here, agreed by max over ranks. A gradient already
  // averaged this step counts as absent on every rank (all ranks agree on it,
  // since they average the same parameters at the same calls).
  std::vector<int64_t> has(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor g = params[i].grad();
    if (g.defined() && !was_averaged(g)) has[i] = 1;
  }
  dist::allreduce_max(has.data(), int64_t(has.size()));
  double scale = 1;
  if (st.global > 0 && st.local * dist::size() != st.global) scale = double(st.local) * dist::size() / double(st.global);

  std::vector<Tensor> bucket;
  int64_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    if (bucket.front().dtype() == DType::f64) reduce_bucket<double>(bucket, scale);
    else reduce_bucket<float>(bucket, scale);
    bucket.clear();
    bytes = 0;
  };
  for (size_t k = params.size(); k-- > 0;) {  // reverse order: the order backward finishes them
    if (!has[k]) continue;
    const Tensor& p = params[k];
    Tensor g = p.grad();
    if (!g.defined()) {  // unused here this step, used on another rank
      g = Tensor::zeros(p.shape(), p.dtype(), p.device());
      p.set_grad(g);
    }
    STRATA_CHECK(g.dtype() == DType::f32 || g.dtype() == DType::f64, "allreduce_gradients: gradients of dtype ",
                 g.dtype(), " are not supported");
    if (!bucket.empty() && (bucket.front().dtype() != g.dtype() || bytes >= bucket_bytes)) flush();
    bucket.push_back(g);
    bytes += g.numel() * int64_t(dtype_size(g.dtype()));
  }
  flush();
  for (size_t k = 0; k < params.size(); ++k)
    if (has[k]) st.averaged[params[k].grad().impl_ptr().get()] = params[k].grad().impl_ptr();
  st.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

namespace {

// Sum over ranks of a tensor's values (a copy; any float dtype, any device).
Tensor summed_over_ranks(const Tensor& x) {
  Tensor host = x.detach().to(Device::cpu()).to(DType::f64).contiguous().clone();
  dist::allreduce_sum(host.data<double>(), host.numel());
  return host.to(x.dtype()).to(x.device());
}

}  // namespace

Tensor allreduce_sum(const Tensor& x) {
  if (!dist::active()) return x;
  Tensor out = summed_over_ranks(x);
  // Every rank's loss depends on the sum, so the gradient of each rank's input is the sum of the gradients.
  return record("allreduce_sum", out, {x}, [](const Tensor& g) { return Grads{summed_over_ranks(g)}; });
}

Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double momentum, double eps) {
  STRATA_CHECK(x.dim() >= 2 && x.dim() <= 4, "sync_batch_norm: input must be (N, C), (N, C, L) or (N, C, H, W), got ",
               shape_str(x.shape()));
  const int64_t C = x.shape()[1];
  Shape per_channel(size_t(x.dim()), 1);
  per_channel[1] = C;
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  const double local_count = double(x.numel() / std::max<int64_t>(C, 1));
  // [sum x, sum x^2, count] of this rank, summed over the ranks in one message.
  const Tensor stats = allreduce_sum(cat({sum(x, dims), sum(mul(x, x), dims),
                                          Tensor::full({1}, local_count, x.dtype(), x.device())}, 0));
  const double count = stats.narrow(0, 2 * C, 1).to(DType::f64).item<double>();
  STRATA_CHECK(count > 1, "sync_batch_norm: training needs more than one value per channel over all ranks, input ",
               shape_str(x.shape()));
  const Tensor mu = div(stats.narrow(0, 0, C), count);
  const Tensor var = relu(sub(div(stats.narrow(0, C, C), count), mul(mu, mu)));  // biased, for normalising
  if (running_mean.defined() && running_var.defined()) {
    NoGradGuard no_grad;
    Tensor rm = running_mean, rv = running_var;
    rm.mul_(1 - momentum).add_(mu.detach(), momentum);
    rv.mul_(1 - momentum).add_(var.detach(), momentum * count / (count - 1));  // unbiased, as PyTorch keeps it
  }
  Tensor y = div(sub(x, mu.reshape(per_channel)), sqrt(add(var.reshape(per_channel), eps)));
  if (weight.defined()) y = mul(y, weight.reshape(per_channel));
  if (bias.defined()) y = add(y, bias.reshape(per_channel));
  return y;
}

int64_t convert_sync_batchnorm(Module& model) {
  int64_t n = 0;
  for (const auto& [_, m] : model.named_modules())
    if (auto* bn = dynamic_cast<BatchNorm*>(m)) bn->sync = true, ++n;
  return n;
}

}  // namespace strata
