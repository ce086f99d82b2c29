// For the suites that need a CUDA device (the emulator's, or a GPU in the nvcc
// build): register RequireCudaDevice once, and where there is no device every
// test of the binary skips with one line saying why.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "engine/cuda_device.h"

namespace strata::test {

class RequireCudaDevice : public ::testing::Environment {
 public:
  explicit RequireCudaDevice(std::string what) : what_(std::move(what)) {}
  void SetUp() override {
    if (cuda::device_count() == 0)
      GTEST_SKIP() << "SKIPPED: no CUDA device on this machine; the " << what_
                   << " tests need a GPU here (the emulator build runs them everywhere)";
  }

 private:
  std::string what_;
};

}  // namespace strata::test
