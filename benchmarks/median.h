// The benchmarks' timing rule: the median of `repeats` runs of fn in milliseconds, after two warm-up runs.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace strata {

inline double median_ms(const std::function<void()>& fn, int repeats) {
  fn();
  fn();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace strata
