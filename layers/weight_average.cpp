#include "layers/weight_average.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace strata {

namespace {

// Checks that `average` has the trained model's entries (names, shapes, dtypes) in the same order.
void check_same_layout(const NamedTensors& trained, const NamedTensors& average, const char* what) {
  STRATA_CHECK(trained.size() == average.size(), "WeightAverage: the average has ", average.size(), " ", what, "s",
               " where the trained model has ", trained.size());
  for (size_t i = 0; i < trained.size(); ++i)
    STRATA_CHECK(trained[i].first == average[i].first && trained[i].second.shape() == average[i].second.shape() &&
                     trained[i].second.dtype() == average[i].second.dtype(),
                 "WeightAverage: the average is not the trained model's architecture: ", what, " '",
                 trained[i].first, "' differs (name, shape or dtype)");
}

}  // namespace

WeightAverage::WeightAverage(const Module& trained, ModulePtr average, double decay)
    : average_(std::move(average)), decay_(decay) {
  STRATA_CHECK(average_ != nullptr, "WeightAverage: no model for the average");
  STRATA_CHECK(decay_ > 0 && decay_ < 1, "WeightAverage: decay ", decay_, " is not in (0, 1)");
  const NamedTensors from = trained.named_parameters(), from_b = trained.named_buffers();
  const NamedTensors to = average_->named_parameters(), to_b = average_->named_buffers();
  check_same_layout(from, to, "parameter");
  check_same_layout(from_b, to_b, "buffer");
  average_->to(trained.device());  // each update reads the trained weights where they live
  for (size_t i = 0; i < to.size(); ++i) entries_.emplace_back(to[i].second, from[i].second);
  for (size_t i = 0; i < to_b.size(); ++i) entries_.emplace_back(to_b[i].second, from_b[i].second);
  NoGradGuard no_grad;
  average_->requires_grad_(false);
  for (auto& [a, w] : entries_) a.copy_(w);
  average_->eval();
}

double WeightAverage::decay_at(int64_t steps) const {
  const double t = double(std::max<int64_t>(steps, 0));
  return std::min(decay_, (1 + t) / (10 + t));
}

void WeightAverage::update(int64_t steps) {
  const double d = decay_at(steps);
  NoGradGuard no_grad;
  for (auto& [a, w] : entries_) {
    if (is_floating(a.dtype()))
      a.copy_(add(mul(a, d), mul(w, 1 - d)));
    else
      a.copy_(w);  // counters
  }
}

std::unique_ptr<WeightAverage> WeightAverage::from_config(const Config& train, const Module& trained,
                                                          const std::function<ModulePtr()>& build) {
  const double decay = train.get_double("ema", 0.0, Bounds::between(0, 0.99999));
  if (decay == 0) return nullptr;
  return std::make_unique<WeightAverage>(trained, build(), decay);
}

}  // namespace strata
