// Batch norm, dropout, activations and losses. Activations are single
// kernels with hand-written derivatives; batch norm, cross-entropy and
// BCE-with-logits are fused kernels where the backend has them (CPU and CUDA)
// and compositions of engine ops elsewhere; dropout and the other losses are
// compositions of engine ops (autograd derives their backward), except BCE,
// whose stable closed-form gradient is written out. The fused kernels have no
// double backward.
#include <cmath>
#include <optional>

#include "engine/nn_ops.h"
#include "engine/op_util.h"
#include "engine/random.h"

namespace strata {

using namespace detail;

// ---- activations --------------------------------------------------------

namespace {

// y_suffices: the derivative can be read from y alone (the sign or range of x
// is visible in y), so x need not be kept alive for the backward pass.
Tensor activate(const char* name, const Tensor& x, Activation a, ActParams p = {}, bool y_suffices = false) {
  check_floating(name, x);
  if (tracing()) trace_attrs(name, {{}, {{"alpha", {p.alpha}}, {"threshold", {p.threshold}}}, {}});
  const Tensor xc = x.contiguous();
  Tensor y = make_tensor(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).activation(x.dtype(), a, p, xc.raw_data(), y.raw_data(), y.numel());
  return record(name, y, {x},
                [a, p, y_suffices, sx = y_suffices ? Saved() : Saved(xc), sy = Saved(y)](const Tensor& gy) -> Grads {
                  const Tensor gyc = gy.contiguous();
                  Tensor gx = make_tensor(gyc.shape(), gyc.dtype(), gyc.device());
                  const Tensor& yv = sy.get();
                  const Tensor& xv = y_suffices ? yv : sx.get();
                  backend_for(gy.device()).activation_backward(gy.dtype(), a, p, xv.raw_data(), yv.raw_data(),
                                                               gyc.raw_data(), gx.raw_data(), gx.numel());
                  return {gx};
                });
}

}  // namespace

Tensor relu(const Tensor& x) { return activate("relu", x, Activation::relu, {}, true); }
Tensor leaky_relu(const Tensor& x, double slope) {
  return activate("leaky_relu", x, Activation::leaky_relu, {slope}, slope >= 0);
}
Tensor relu6(const Tensor& x) { return activate("relu6", x, Activation::relu6, {}, true); }
Tensor elu(const Tensor& x, double alpha) { return activate("elu", x, Activation::elu, {alpha}, alpha > 0); }
Tensor sigmoid(const Tensor& x) { return activate("sigmoid", x, Activation::sigmoid, {}, true); }
Tensor tanh(const Tensor& x) { return activate("tanh", x, Activation::tanh, {}, true); }
Tensor silu(const Tensor& x) { return activate("silu", x, Activation::silu, {}); }

Tensor softplus(const Tensor& x, double beta, double threshold) {
  STRATA_CHECK(beta > 0, "softplus: beta must be positive, got ", beta);
  return activate("softplus", x, Activation::softplus, {beta, threshold});
}

// ---- batch norm and dropout -------------------------------------------------

namespace {

void update_running_stats(const Tensor& running_mean, const Tensor& running_var, const Tensor& mu, const Tensor& var,
                          double momentum, int64_t count) {
  if (!running_mean.defined() || !running_var.defined()) return;
  NoGradGuard no_grad;
  Tensor rm = running_mean, rv = running_var;
  const int64_t C = rm.numel();
  rm.mul_(1 - momentum).add_(mu.detach().reshape({C}), momentum);
  // The running variance is unbiased, as PyTorch keeps it.
  rv.mul_(1 - momentum).add_(var.detach().reshape({C}), momentum * double(count) / double(count - 1));
}

// Batch norm on the backend's fused kernel: one pass for the statistics, one
// for y, and a backward of two passes that saves only x and two per-channel
// vectors. With `act` (ReLU or ReLU6), the kernel that also applies it (and
// keeps the scale and shift it used, two more per-channel vectors, from which
// the backward recomputes where the activation passed). Undefined when the
// backend has no such kernel or a tensor's dtype differs from x's.
Tensor fused_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                        const Tensor& bias, bool training, double momentum, double eps,
                        std::optional<Activation> act) {
  const bool with_act = act.has_value();
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined() && t->dtype() != x.dtype()) return Tensor();
  Backend& be = backend_for(x.device());
  const DType t = x.dtype();
  const int64_t outer = x.shape()[0], C = x.shape()[1], inner = x.numel() / std::max<int64_t>(outer * C, 1);
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor mu = training ? make_tensor({C}, t, x.device()) : running_mean.detach().contiguous();
  Tensor var = training ? make_tensor({C}, t, x.device()) : running_var.detach().contiguous();
  Tensor invstd = make_tensor({C}, t, x.device());
  Tensor scale_shift = with_act ? make_tensor({2 * C}, t, x.device()) : Tensor();
  Tensor y = make_tensor(x.shape(), t, x.device());
  auto ptr = [](const Tensor& v) -> const void* { return v.defined() ? v.raw_data() : nullptr; };
  const bool ran = with_act ? be.batch_norm_relu_forward(t, xc.raw_data(), outer, C, inner, training, eps, ptr(wc),
                                                         ptr(bc), mu.raw_data(), var.raw_data(), invstd.raw_data(),
                                                         y.raw_data(), scale_shift.raw_data(), *act)
                             : be.batch_norm_forward(t, xc.raw_data(), outer, C, inner, training, eps, ptr(wc),
                                                     ptr(bc), mu.raw_data(), var.raw_data(), invstd.raw_data(),
                                                     y.raw_data());
  if (!ran) return Tensor();
  if (training) update_running_stats(running_mean, running_var, mu, var, momentum, outer * inner);
  const bool need_x = x.requires_grad();
  const bool need_w = weight.defined() && weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  const char* name = !with_act ? "batch_norm" : *act == Activation::relu6 ? "batch_norm_relu6" : "batch_norm_relu";
  if (tracing()) trace_attrs(name, {{{"training", {training ? 1 : 0}}}, {{"epsilon", {eps}}}, {running_mean, running_var}});
  return record(name, y, {x, weight, bias},
                [=, sx = Saved(xc), smu = Saved(mu), sis = Saved(invstd), sw = wc.defined() ? Saved(wc) : Saved(),
                 sss = with_act ? Saved(scale_shift) : Saved()](const Tensor& gy) -> Grads {
                  const Tensor gyc = gy.contiguous();
                  const Tensor w = wc.defined() ? sw.get() : Tensor();
                  Tensor gx = need_x ? make_tensor(gyc.shape(), t, gyc.device()) : Tensor();
                  Tensor gw = make_tensor({C}, t, gyc.device()), gb = make_tensor({C}, t, gyc.device());
                  Backend& bb = backend_for(gyc.device());
                  const void* wp = w.defined() ? w.raw_data() : nullptr;
                  void* gxp = need_x ? gx.raw_data() : nullptr;
                  if (with_act)
                    bb.batch_norm_relu_backward(t, sx.get().raw_data(), gyc.raw_data(), outer, C, inner, training,
                                                smu.get().raw_data(), sis.get().raw_data(), wp,
                                                sss.get().raw_data(), *act, gxp, gw.raw_data(), gb.raw_data());
                  else
                    bb.batch_norm_backward(t, sx.get().raw_data(), gyc.raw_data(), outer, C, inner, training, eps,
                                           smu.get().raw_data(), sis.get().raw_data(), wp, gxp, gw.raw_data(),
                                           gb.raw_data());
                  return {gx, need_w ? gw : Tensor(), need_b ? gb : Tensor()};
                });
}

void check_batch_norm(const char* op, const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                      const Tensor& weight, const Tensor& bias, bool training) {
  check_floating(op, x);
  STRATA_CHECK(x.dim() >= 2 && x.dim() <= 4, op, ": input must be (N, C), (N, C, L) or (N, C, H, W), got shape ",
               shape_str(x.shape()));
  const int64_t C = x.shape()[1];
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias}) {
    if (!t->defined()) continue;
    check_same_device(op, x, *t);
    STRATA_CHECK(t->dim() == 1 && t->numel() == C, op, ": parameters and running statistics must have shape [", C,
                 "] for input ", shape_str(x.shape()), ", got ", shape_str(t->shape()));
  }
  STRATA_CHECK(!training || x.numel() / std::max<int64_t>(C, 1) > 1, op,
               ": training needs more than one value per channel, input ", shape_str(x.shape()));
  STRATA_CHECK(training || (running_mean.defined() && running_var.defined()), op,
               ": evaluation mode needs running_mean and running_var");
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_batch_norm("batch_norm", x, running_mean, running_var, weight, bias, training);
  if (Tensor y = fused_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, std::nullopt);
      y.defined())
    return y;

  // Composed from engine ops (a backend without a fused kernel); autograd derives the backward.
  const int64_t C = x.shape()[1];
  Shape per_channel(x.dim(), 1);
  per_channel[1] = C;
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  Tensor mu, var;
  if (training) {
    mu = mean(x, dims, true);
    var = mean(pow(sub(x, mu), 2.0), dims, true);  // biased, for normalising
    update_running_stats(running_mean, running_var, mu, var, momentum, x.numel() / std::max<int64_t>(C, 1));
  } else {
    mu = running_mean.reshape(per_channel);
    var = running_var.reshape(per_channel);
  }
  Tensor y = div(sub(x, mu), sqrt(add(var, eps)));
  if (weight.defined()) y = mul(y, weight.reshape(per_channel));
  if (bias.defined()) y = add(y, bias.reshape(per_channel));
  return y;
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum, double eps, Activation act) {
  STRATA_CHECK(act == Activation::relu || act == Activation::relu6,
               "batch_norm_relu: the activation must be relu or relu6");
  check_batch_norm("batch_norm_relu", x, running_mean, running_var, weight, bias, training);
  if (Tensor y = fused_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, act);
      y.defined())
    return y;
  const Tensor y = batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
  return act == Activation::relu6 ? relu6(y) : relu(y);
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  STRATA_CHECK(p >= 0 && p <= 1, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0) return x;
  check_floating("dropout", x);
  if (p == 1) return mul(x, 0.0);
  const Tensor u = Tensor::rand(x.shape(), x.dtype(), gen, 0, 1, x.device());
  const Tensor keep = ge(u, p).to(x.dtype());
  return mul(x, mul(keep, 1.0 / (1.0 - p)));
}

// ---- losses ---------------------------------------------------------------

namespace {

Tensor reduce_loss(const Tensor& per_element, Reduction r) {
  switch (r) {
    case Reduction::none: return per_element;
    case Reduction::sum: return sum(per_element);
    case Reduction::mean: return mean(per_element);
  }
  return per_element;
}

void check_loss_pair(const char* op, const Tensor& input, const Tensor& target) {
  check_floating(op, input);
  check_same_device(op, input, target);
  check_same_dtype(op, input, target);
  STRATA_CHECK(input.shape() == target.shape(), op, ": input ", shape_str(input.shape()), " and target ",
               shape_str(target.shape()), " must have the same shape");
}

// A weight tensor broadcast to the input's shape and dtype (undefined stays undefined).
Tensor weight_like(const char* op, const Tensor& w, const Tensor& input) {
  if (!w.defined()) return w;
  check_same_device(op, input, w);
  check_same_dtype(op, input, w);
  broadcast_shapes(w.shape(), input.shape(), op);
  return w.detach();
}

}  // namespace

Tensor bce(const Tensor& prob, const Tensor& target, const Tensor& weight, Reduction reduction) {
  const char* op = "bce";
  check_loss_pair(op, prob, target);
  const Tensor t = target.detach(), w = weight_like(op, weight, prob);
  Tensor loss;
  {
    NoGradGuard no_grad;
    const Tensor p = prob.detach();
    // -(t log p + (1 - t) log(1 - p)), each log clamped at -100 as in PyTorch.
    const Tensor floor = Tensor::scalar(-100.0, p.dtype(), p.device());
    const Tensor lp = maximum(log(p), floor), l1p = maximum(log(sub(1.0, p)), floor);
    loss = neg(add(mul(t, lp), mul(sub(1.0, t), l1p)));
    if (w.defined()) loss = mul(loss, w);
  }
  loss = record("bce", loss, {prob}, [sp = Saved(prob.detach()), t, w](const Tensor& g) -> Grads {
    const Tensor& p = sp.get();
    // d/dp = (p - t) / max(p (1 - p), 1e-12): finite at p = 0 and 1.
    Tensor gp = div(sub(p, t), clamp(mul(p, sub(1.0, p)), 1e-12, INFINITY));
    if (w.defined()) gp = mul(gp, w);
    return {mul(gp, g)};
  });
  return reduce_loss(loss, reduction);
}

namespace {

// The per-element BCE-with-logits on the backend's fused kernel; undefined when
// the backend has none or a weight would broadcast the loss beyond the input's shape.
Tensor fused_bce_with_logits(const Tensor& logits, const Tensor& t, const Tensor& w, const Tensor& pw) {
  for (const Tensor* v : {&w, &pw})
    if (v->defined() && broadcast_shapes(v->shape(), logits.shape(), "bce_with_logits") != logits.shape())
      return Tensor();
  const Tensor x = logits.detach().contiguous(), tc = t.contiguous();
  auto full = [&](const Tensor& v) { return v.defined() ? v.expand(x.shape()).contiguous() : Tensor(); };
  auto ptr = [](const Tensor& v) -> const void* { return v.defined() ? v.raw_data() : nullptr; };
  const Tensor wc = full(w), pwc = full(pw);
  Tensor loss = make_tensor(x.shape(), x.dtype(), x.device());
  if (!backend_for(x.device())
           .bce_with_logits_forward(x.dtype(), x.raw_data(), tc.raw_data(), ptr(wc), ptr(pwc), x.numel(),
                                    loss.raw_data()))
    return Tensor();
  return record("bce_with_logits", loss, {logits}, [sx = Saved(x), tc, wc, pwc, ptr](const Tensor& g) -> Grads {
    const Tensor& xv = sx.get();
    const Tensor gc = g.contiguous();
    Tensor gx = make_tensor(xv.shape(), xv.dtype(), xv.device());
    backend_for(xv.device())
        .bce_with_logits_backward(xv.dtype(), xv.raw_data(), tc.raw_data(), ptr(wc), ptr(pwc), gc.raw_data(),
                                  xv.numel(), gx.raw_data());
    return {gx};
  });
}

}  // namespace

Tensor bce_with_logits(const Tensor& logits, const Tensor& target, const Tensor& weight, const Tensor& pos_weight,
                       Reduction reduction) {
  const char* op = "bce_with_logits";
  check_loss_pair(op, logits, target);
  const Tensor t = target.detach(), w = weight_like(op, weight, logits), pw = weight_like(op, pos_weight, logits);
  if (Tensor loss = fused_bce_with_logits(logits, t, w, pw); loss.defined()) return reduce_loss(loss, reduction);
  Tensor loss;
  {
    NoGradGuard no_grad;
    const Tensor x = logits.detach();
    // (1 - t) x + lw softplus(-x), lw = 1 + (pos_weight - 1) t; softplus(-x) = log(1 + e^-|x|) + max(-x, 0).
    const Tensor sp = add(log(add(exp(neg(abs(x))), 1.0)), clamp(neg(x), 0, INFINITY));
    const Tensor lw = pw.defined() ? add(mul(sub(pw, 1.0), t), 1.0) : Tensor();
    loss = add(mul(sub(1.0, t), x), lw.defined() ? mul(lw, sp) : sp);
    if (w.defined()) loss = mul(loss, w);
  }
  loss = record("bce_with_logits", loss, {logits}, [sx = Saved(logits.detach()), t, w, pw](const Tensor& g) -> Grads {
    // d/dx = (1 - t) - lw sigmoid(-x) = sigmoid(x) - t without pos_weight.
    const Tensor s = sigmoid(sx.get());
    Tensor gx = pw.defined() ? sub(sub(1.0, t), mul(add(mul(sub(pw, 1.0), t), 1.0), sub(1.0, s))) : sub(s, t);
    if (w.defined()) gx = mul(gx, w);
    return {mul(gx, g)};
  });
  return reduce_loss(loss, reduction);
}

namespace {

// Per-position weighted negative log-likelihood `per` and weights `w` on the
// backend's fused kernel (false when it has none). Targets are in range or
// ignore_index (checked by the caller).
bool fused_cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& class_weight,
                         int64_t ignore_index, Tensor& per, Tensor& w) {
  const Tensor x = logits.detach().contiguous(), tc = target.contiguous();
  const Tensor cw = class_weight.defined() ? class_weight.detach().contiguous() : Tensor();
  const int64_t outer = x.shape()[0], D = x.shape()[1], inner = x.numel() / std::max<int64_t>(outer * D, 1);
  const void* cwp = cw.defined() ? cw.raw_data() : nullptr;
  Tensor loss = make_tensor(tc.shape(), x.dtype(), x.device()), weight = make_tensor(tc.shape(), x.dtype(), x.device());
  Tensor lse = make_tensor(tc.shape(), x.dtype(), x.device());
  if (!backend_for(x.device())
           .cross_entropy_forward(x.dtype(), x.raw_data(), tc.data<int64_t>(), cwp, outer, D, inner, ignore_index,
                                  loss.raw_data(), weight.raw_data(), lse.raw_data()))
    return false;
  w = weight;
  per = record("cross_entropy", loss, {logits},
               [=, sx = Saved(x), slse = Saved(lse)](const Tensor& g) -> Grads {
                 const void* cwp = cw.defined() ? cw.raw_data() : nullptr;  // keeps cw alive with the node
                 const Tensor& xv = sx.get();
                 const Tensor gc = g.contiguous();
                 Tensor gx = make_tensor(xv.shape(), xv.dtype(), xv.device());
                 backend_for(xv.device())
                     .cross_entropy_backward(xv.dtype(), xv.raw_data(), tc.data<int64_t>(), cwp, outer, D, inner,
                                             ignore_index, slse.get().raw_data(), gc.raw_data(), gx.raw_data());
                 return {gx};
               });
  return true;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& class_weight, int64_t ignore_index,
                     Reduction reduction) {
  const char* op = "cross_entropy";
  check_floating(op, logits);
  check_same_device(op, logits, target);
  STRATA_CHECK(target.dtype() == DType::i64 || target.dtype() == DType::i32, op,
               ": target must hold class indices (i32 or i64), got ", target.dtype());
  STRATA_CHECK(logits.dim() >= 2, op, ": logits must be (N, C, ...), got shape ", shape_str(logits.shape()));
  Shape expect = logits.shape();
  expect.erase(expect.begin() + 1);
  STRATA_CHECK(target.shape() == expect, op, ": target ", shape_str(target.shape()), " does not match logits ",
               shape_str(logits.shape()), " (expected ", shape_str(expect), ")");
  const int64_t C = logits.shape()[1];
  const Tensor tgt = target.to(DType::i64);
  const Tensor valid = ne(tgt, Tensor::scalar(double(ignore_index), DType::i64, tgt.device()));
  const Tensor safe = where(valid, tgt, Tensor::scalar(0, DType::i64, tgt.device()));
  check_index_range(op, safe, C);
  if (class_weight.defined()) {
    check_same_device(op, logits, class_weight);
    check_same_dtype(op, logits, class_weight);
    STRATA_CHECK(class_weight.dim() == 1 && class_weight.numel() == C, op, ": class_weight must have shape [", C,
                 "], got ", shape_str(class_weight.shape()));
  }
  Tensor per, w;
  if (!fused_cross_entropy(logits, tgt, class_weight, ignore_index, per, w)) {
    const Tensor nll = neg(gather(log_softmax(logits, 1), 1, safe.unsqueeze(1)).squeeze(1));
    w = valid.to(logits.dtype());
    if (class_weight.defined())
      w = mul(w, index_select(class_weight.detach(), 0, safe.reshape({-1})).reshape(safe.shape()));
    per = mul(nll, w);
  }
  switch (reduction) {
    case Reduction::none: return per;
    case Reduction::sum: return sum(per);
    case Reduction::mean: return div(sum(per), sum(w));  // NaN when every target is ignored, as PyTorch
  }
  return per;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_loss_pair("mse_loss", input, target);
  return reduce_loss(pow(sub(input, target), 2.0), reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_loss_pair("l1_loss", input, target);
  return reduce_loss(abs(sub(input, target)), reduction);
}

Tensor dice_loss(const Tensor& prob, const Tensor& target, double smooth, Reduction reduction) {
  check_loss_pair("dice_loss", prob, target);
  STRATA_CHECK(prob.dim() >= 2, "dice_loss: input must be (N, ...), got shape ", shape_str(prob.shape()));
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < prob.dim(); ++d) dims.push_back(d);
  const Tensor t = target.detach();
  const Tensor inter = sum(mul(prob, t), dims), total = add(sum(prob, dims), sum(t, dims));
  const Tensor per_sample = sub(1.0, div(add(mul(inter, 2.0), smooth), add(total, smooth)));
  return reduce_loss(per_sample, reduction);
}

Tensor gaussian_kl(const Tensor& mu, const Tensor& logvar, Reduction reduction) {
  check_loss_pair("gaussian_kl", mu, logvar);
  const Tensor per = mul(add(sub(add(logvar, 1.0), pow(mu, 2.0)), neg(exp(logvar))), -0.5);
  switch (reduction) {
    case Reduction::none: return per;
    case Reduction::sum: return sum(per);
    case Reduction::mean: return div(sum(per), double(mu.dim() ? mu.shape()[0] : 1));
  }
  return per;
}

}  // namespace strata
