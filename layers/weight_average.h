// WeightAverage: an exponential moving average of a model's weights (Polyak
// averaging; timm's ModelEma).
//
// After each optimiser step, update() folds the trained model into the
// average: a <- d a + (1 - d) w for every parameter and floating-point buffer
// (batch-norm running statistics are averaged too), integer buffers (counters)
// are copied. The decay ramps up as d = min(decay, (1 + t) / (10 + t)) after
// t steps, so the average forgets the random initialisation within the first
// few hundred steps instead of dragging it along.
//
// The average is a second instance of the trained model's architecture (the
// caller builds it from the same config), starts as a copy of the trained
// weights, never requires gradients and stays in eval mode. It is the model
// that validation, eval and predict use; save_model_state() in
// apps/common/trainer.h stores it as "model." and the trained weights as
// "trained_model.", so a checkpoint predicts with the average and --resume
// continues both.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "config/config.h"
#include "layers/module.h"

namespace strata {

class WeightAverage {
 public:
  // `trained` must outlive this object (its tensors are read at each update); `average` has its architecture.
  WeightAverage(const Module& trained, ModulePtr average, double decay);

  // Folds the trained weights in; `steps` is the number of optimiser steps taken so far (>= 1).
  void update(int64_t steps);
  Module& model() const { return *average_; }
  double decay() const { return decay_; }
  // The decay update(steps) uses.
  double decay_at(int64_t steps) const;

  // The average train.ema asks for (a decay in (0, 1); 0 or absent: none, nullptr), of `trained`, with
  // `build` making the second instance of its architecture (called only when there is an average).
  static std::unique_ptr<WeightAverage> from_config(const Config& train, const Module& trained,
                                                    const std::function<ModulePtr()>& build);

 private:
  ModulePtr average_;
  double decay_;
  // Each parameter and buffer of the average beside the trained model's, found once (tensors are handles).
  std::vector<std::pair<Tensor, Tensor>> entries_;
};

}  // namespace strata
