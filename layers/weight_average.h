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

#include "engine/config.h"
#include "layers/module.h"

namespace strata {

class WeightAverage {
 public:
  // `trained` must outlive this object; `average` has its architecture.
  WeightAverage(const Module& trained, ModulePtr average, double decay);

  // Folds the trained weights in; `steps` is the number of optimiser steps taken so far (>= 1).
  void update(int64_t steps);
  Module& model() const { return *average_; }
  double decay() const { return decay_; }
  // The decay update(steps) uses.
  double decay_at(int64_t steps) const;

  // train.ema: the decay (0 < d < 1), or 0 / absent for no average.
  static double decay_from_config(const Config& train);

 private:
  const Module& trained_;
  ModulePtr average_;
  double decay_;
};

}  // namespace strata
