// Engine-core CPU benchmarks with their yardsticks measured in the same run:
//   matmul 1024^3 f32 through the Tensor API   vs  plain Eigen GEMM (Eigen's own threads)
//   add of 16M f32 through the Tensor API      vs  std::memcpy of the same bytes
// Prints the ratios and the targets (80% of Eigen, 50% of memcpy bandwidth).
// Bandwidth counts bytes read plus written: add moves 3 x 64 MiB, memcpy 2 x 64 MiB.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstring>
#include <iostream>
#include <map>
#include <vector>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"

using namespace strata;

namespace {

constexpr int64_t kGemmN = 1024;
constexpr int64_t kAddN = int64_t(1) << 24;

void BM_MatmulTensor(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = Tensor::randn({n, n}), b = Tensor::randn({n, n});
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).raw_data());
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_MatmulEigen(benchmark::State& state) {
  const int64_t n = state.range(0);
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Mat a = Mat::Random(n, n), b = Mat::Random(n, n), c(n, n);
  Eigen::setNbThreads(num_threads());
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  Eigen::setNbThreads(1);  // the engine keeps Eigen single-threaded inside its own tiles
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_AddTensor(benchmark::State& state) {
  Tensor a = Tensor::randn({kAddN}), b = Tensor::randn({kAddN});
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b).raw_data());
  state.counters["GB/s"] = benchmark::Counter(3.0 * 4 * kAddN, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_Memcpy(benchmark::State& state) {
  std::vector<float> src(kAddN, 1.0f), dst(kAddN, 0.0f);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), sizeof(float) * kAddN);
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * 4 * kAddN, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

BENCHMARK(BM_MatmulTensor)->Arg(kGemmN)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_MatmulEigen)->Arg(kGemmN)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_AddTensor)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// Console output as usual, plus the counters kept for the ratio lines.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs)
      for (const auto& [name, counter] : r.counters) values[r.benchmark_name() + " " + name] = counter.value;
  }
  std::map<std::string, double> values;
};

void print_ratio(const char* what, double ours, double base, double target, const char* unit) {
  const double ratio = ours / base;
  std::cout << what << ": " << ours / 1e9 << " vs " << base / 1e9 << " " << unit << " = " << ratio * 100 << "% (target "
            << target * 100 << "%: " << (ratio >= target ? "met" : "NOT met") << ")\n";
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::cout << "strata bench_core: " << num_threads() << " threads\n";
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto& v = reporter.values;
  const std::string mt = "BM_MatmulTensor/" + std::to_string(kGemmN) + "/min_time:2.000/real_time GFLOP/s";
  const std::string me = "BM_MatmulEigen/" + std::to_string(kGemmN) + "/min_time:2.000/real_time GFLOP/s";
  const std::string at = "BM_AddTensor/min_time:2.000/real_time GB/s";
  const std::string mc = "BM_Memcpy/min_time:2.000/real_time GB/s";
  if (v.count(mt) && v.count(me)) print_ratio("matmul 1024^3 f32, Tensor API vs Eigen", v[mt], v[me], 0.8, "GFLOP/s");
  if (v.count(at) && v.count(mc)) print_ratio("add 16M f32, Tensor API vs memcpy", v[at], v[mc], 0.5, "GB/s");
  benchmark::Shutdown();
  return 0;
}
