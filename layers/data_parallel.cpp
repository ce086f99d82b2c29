#include "layers/data_parallel.h"

#include <chrono>
#include <cstring>
#include <mutex>
#include <set>

#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/error.h"

namespace strata {
namespace {

struct SyncState {
  std::set<const TensorImpl*> averaged;  // gradients averaged since the last step
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
    if (g.defined() && !st.averaged.count(g.impl_ptr().get())) has[i] = 1;
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
    if (has[k]) st.averaged.insert(params[k].grad().impl_ptr().get());
  st.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace strata
