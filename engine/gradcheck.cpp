#include "engine/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/op_util.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace strata {

GradCheckResult gradcheck(const GradCheckFn& f, const std::vector<Tensor>& inputs, const GradCheckOptions& opt) {
  GradCheckResult result;
  for (const Tensor& x : inputs)
    STRATA_CHECK(x.device().is_cpu() && x.is_leaf(), "gradcheck: inputs must be CPU leaf tensors");

  Generator gen(opt.seed);
  const Tensor probe = f(inputs);
  const Tensor weights = Tensor::randn(probe.shape(), probe.dtype(), &gen);
  auto loss = [&]() -> double {
    NoGradGuard no_grad;
    return sum(mul(f(inputs), weights)).to(DType::f64).item<double>();
  };

  for (const Tensor& x : inputs) x.zero_grad();
  sum(mul(f(inputs), weights)).backward();

  int64_t total = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    const Tensor g = x.grad();
    const std::vector<double> analytic =
        g.defined() ? g.to_vector<double>() : std::vector<double>(size_t(x.numel()), 0.0);
    const Tensor alias = x.detach();  // perturbed in place, outside autograd
    for (int64_t i = 0; i < x.numel(); ++i) {
      ++total;
      // Element i in logical order -> storage position.
      int64_t rem = i, pos = x.offset();
      for (int64_t d = x.dim() - 1; d >= 0; --d) {
        pos += (rem % x.shape()[d]) * x.strides()[d];
        rem /= x.shape()[d];
      }
      Tensor elem = detail::make_view(alias, {}, {}, pos);
      const double orig = elem.item<double>();
      elem.fill_(orig + opt.step);
      const double up = loss();
      elem.fill_(orig - opt.step);
      const double down = loss();
      elem.fill_(orig);
      const double mid = loss();
      const double numeric = (up - down) / (2 * opt.step);
      const double right = (up - mid) / opt.step, left = (mid - down) / opt.step;
      if (std::abs(right - left) > opt.kink_tol * std::max({std::abs(right), std::abs(left), 1.0})) {
        ++result.skipped_kinks;
        continue;
      }
      ++result.checked;
      const double a = analytic[size_t(i)];
      const double scale = std::max({std::abs(a), std::abs(numeric), 1.0});
      const double err = std::abs(a - numeric) / scale;
      result.max_error = std::max(result.max_error, err);
      if (err > opt.tol && result.ok) {
        result.ok = false;
        std::ostringstream os;
        os << "input " << k << " element " << i << ": analytic " << a << " vs numeric " << numeric
           << " (relative error " << err << " > " << opt.tol << ")";
        result.message = os.str();
      }
    }
  }
  if (total > 0 && double(result.skipped_kinks) > opt.max_kink_fraction * double(total)) {
    result.ok = false;
    std::ostringstream os;
    os << result.skipped_kinks << " of " << total << " points skipped as kinks (more than "
       << opt.max_kink_fraction * 100 << "%): move the inputs away from the non-differentiable points";
    if (!result.message.empty()) os << "; also " << result.message;
    result.message = os.str();
  }
  if (result.ok) {
    std::ostringstream os;
    os << "checked " << result.checked << " points, skipped " << result.skipped_kinks << " kinks, max error "
       << result.max_error;
    result.message = os.str();
  }
  return result;
}

}  // namespace strata
