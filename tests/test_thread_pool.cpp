// The CPU thread pool: every index of a loop runs exactly once, on any thread
// count, with threads held up, from several callers at once, nested, and when
// a body throws.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "kernels/cpu/thread_pool.h"

using namespace strata;

namespace {

// Restores the thread count a test changed.
struct ThreadCount {
  int saved = num_threads();
  explicit ThreadCount(int n) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(saved); }
};

// How often parallel_for visited each index of [0, n).
std::vector<int> visits(int64_t n, bool parallel = true) {
  std::vector<std::atomic<int>> count(static_cast<size_t>(n));
  cpu::parallel_for(n, parallel, [&](int64_t begin, int64_t end) {
    EXPECT_LE(0, begin);
    EXPECT_LT(begin, end);
    EXPECT_LE(end, n);
    for (int64_t i = begin; i < end; ++i) count[size_t(i)].fetch_add(1);
  });
  std::vector<int> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = count[size_t(i)].load();
  return out;
}

}  // namespace

TEST(ThreadPool, EveryIndexRunsOnceForEveryThreadCountAndSize) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadCount tc(threads);
    EXPECT_EQ(num_threads(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 8, 9, 31, 32, 33, 1000, 100003}) {
      const std::vector<int> v = visits(n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(v[size_t(i)], 1) << "threads " << threads << " n " << n << " i " << i;
    }
  }
}

TEST(ThreadPool, ASerialLoopIsOneCallOnTheCaller) {
  ThreadCount tc(4);
  int calls = 0;
  const std::thread::id caller = std::this_thread::get_id();
  cpu::parallel_for(1000, false, [&](int64_t begin, int64_t end) {
    ++calls;
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 1000);
    EXPECT_EQ(std::this_thread::get_id(), caller);
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, ChunksOfAHeldUpThreadAreTakenByTheOthers) {
  // The chunk that starts the loop (the caller's first) is held up until every
  // other chunk has run: the others must go to the other threads, and the loop
  // must still finish with every index once.
  ThreadCount tc(4);
  const int64_t n = 64;
  std::vector<std::atomic<int>> count(n);
  std::atomic<int64_t> done{0};
  std::mutex mu;
  std::set<std::thread::id> workers;
  cpu::parallel_for(n, true, [&](int64_t begin, int64_t end) {
    if (begin == 0) {
      const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (done.load() < n - end && std::chrono::steady_clock::now() < limit)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    } else {
      std::lock_guard lock(mu);
      workers.insert(std::this_thread::get_id());
    }
    for (int64_t i = begin; i < end; ++i) count[size_t(i)].fetch_add(1);
    done.fetch_add(end - begin);
  });
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(count[size_t(i)].load(), 1) << i;
  EXPECT_EQ(done.load(), n);
  EXPECT_GE(workers.size(), 1u);
}

TEST(ThreadPool, PerThreadScratchIsSetUpOncePerThreadThatWorks) {
  ThreadCount tc(3);
  std::atomic<int> bodies{0};
  std::vector<std::atomic<int>> count(997);
  cpu::parallel_chunks(997, true, [&](cpu::Chunks& chunks) {
    bodies.fetch_add(1);
    std::vector<int> scratch(16, 0);  // what a kernel keeps per thread
    for (int64_t b, e; chunks.next(b, e);)
      for (int64_t i = b; i < e; ++i) {
        ++scratch[size_t(i % 16)];
        count[size_t(i)].fetch_add(1);
      }
  });
  EXPECT_GE(bodies.load(), 1);
  EXPECT_LE(bodies.load(), 3);
  for (auto& c : count) EXPECT_EQ(c.load(), 1);
}

TEST(ThreadPool, ALoopInsideALoopRunsSeriallyOnItsThread) {
  ThreadCount tc(2);
  const int64_t outer = 8, inner = 50;
  std::vector<std::atomic<int>> count(outer * inner);
  cpu::parallel_for(outer, true, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const std::thread::id self = std::this_thread::get_id();
      cpu::parallel_for(inner, true, [&](int64_t ib, int64_t ie) {
        EXPECT_EQ(std::this_thread::get_id(), self);
        for (int64_t i = ib; i < ie; ++i) count[size_t(o * inner + i)].fetch_add(1);
      });
    }
  });
  for (auto& c : count) EXPECT_EQ(c.load(), 1);
}

TEST(ThreadPool, SeveralCallersAtOnceEachGetTheirWholeLoop) {
  ThreadCount tc(2);
  constexpr int kCallers = 4, kLoops = 200;
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      for (int loop = 0; loop < kLoops; ++loop) {
        const int64_t n = 100 + c * 17 + loop % 7;
        const std::vector<int> v = visits(n);
        for (int x : v) wrong += x != 1;
      }
    });
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPool, AnExceptionInABodyReachesTheCallerAndThePoolStaysUsable) {
  ThreadCount tc(3);
  EXPECT_THROW(cpu::parallel_for(1000, true,
                                 [](int64_t begin, int64_t end) {
                                   if (begin <= 500 && 500 < end) throw std::runtime_error("chunk failed");
                                 }),
               std::runtime_error);
  const std::vector<int> v = visits(1000);
  for (int x : v) EXPECT_EQ(x, 1);
}

TEST(ThreadPool, ThreadCountChangesBetweenLoops) {
  ThreadCount tc(1);
  std::set<std::thread::id> seen;
  std::mutex mu;
  auto record = [&](int64_t, int64_t) {
    std::lock_guard lock(mu);
    seen.insert(std::this_thread::get_id());
  };
  cpu::parallel_for(64, true, record);
  EXPECT_EQ(seen.size(), 1u);
  set_num_threads(3);
  EXPECT_EQ(num_threads(), 3);
  for (int i = 0; i < 50; ++i) cpu::parallel_for(3000, true, record);
  EXPECT_LE(seen.size(), 3u);
  EXPECT_THROW(set_num_threads(0), std::exception);
}

TEST(ThreadPool, ManyShortLoopsInARow) {
  // Back-to-back loops exercise the hand-over between spinning and sleeping.
  ThreadCount tc(2);
  int64_t total = 0;
  for (int loop = 0; loop < 20000; ++loop) {
    std::atomic<int64_t> sum{0};
    cpu::parallel_for(16, true, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum += i;
    });
    total += sum.load();
    if (loop % 5000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the workers sleep
  }
  EXPECT_EQ(total, int64_t(20000) * 120);
}

namespace {

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return Tensor::randn(shape, DType::f32, &g);
}

// A forward and backward pass through the kernel families (direct / Winograd, depthwise and 1x1 convolutions,
// batch norm + ReLU6, pooling, upsampling, cross-entropy): the output, the loss and every gradient.
std::vector<std::vector<float>> forward_backward() {
  Tensor x = random_tensor({4, 8, 48, 48}, 1), w1 = random_tensor({16, 8, 3, 3}, 2),
         dw = random_tensor({16, 1, 3, 3}, 3), w2 = random_tensor({5, 16, 1, 1}, 4);
  Tensor gamma = Tensor::ones({16}), beta = Tensor::zeros({16});
  for (Tensor* t : {&x, &w1, &dw, &w2, &gamma, &beta}) t->requires_grad_();
  Tensor mean = Tensor::zeros({16}), var = Tensor::ones({16});
  Conv2dOptions same;
  same.padding = {1, 1};
  Conv2dOptions depthwise = same;
  depthwise.groups = 16;
  Tensor h = conv2d(x, w1, Tensor(), same);
  h = batch_norm_relu(conv2d(h, dw, Tensor(), depthwise), mean, var, gamma, beta, true, 0.1, 1e-5,
                      Activation::relu6);
  Pool2dOptions pool;
  pool.kernel = {2, 2};
  pool.stride = {2, 2};
  Upsample2dOptions up;
  up.scale = {2, 2};
  up.mode = UpsampleMode::linear;
  h = upsample2d(max_pool2d(h, pool), up);
  Tensor logits = conv2d(h, w2);
  std::vector<int64_t> labels(4 * 48 * 48);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = int64_t((i * 7 + i / 13) % 5);
  Tensor target = Tensor::from_vector<int64_t>(labels, {4, 48, 48});
  Tensor loss = cross_entropy(logits, target);
  loss.backward();
  return {logits.to_vector<float>(), loss.to_vector<float>(), x.grad().to_vector<float>(), w1.grad().to_vector<float>(),
          dw.grad().to_vector<float>(), w2.grad().to_vector<float>(), gamma.grad().to_vector<float>(),
          beta.grad().to_vector<float>()};
}

}  // namespace

TEST(ThreadPool, ResultsKeepTheirBitsWhenThreadsAreHeldUp) {
  // More threads than cores, and two more busy threads: the OS keeps pausing the pool's threads mid-loop, so
  // chunks move between threads from run to run. Every result must be the single-threaded one, bit for bit.
  std::vector<std::vector<float>> one;
  {
    ThreadCount tc(1);
    one = forward_backward();
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 2; ++i)
    busy.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  ThreadCount tc(4);
  for (int run = 0; run < 5; ++run) {
    const std::vector<std::vector<float>> many = forward_backward();
    ASSERT_EQ(many.size(), one.size());
    for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(many[i], one[i]) << "result " << i << ", run " << run;
  }
  stop = true;
  for (std::thread& t : busy) t.join();

  // Beside the busy threads the workers kept off the caller's core; once the cores are free again (the shared
  // period is 50 ms) a worker takes the process's CPU mask back as it wakes for the next loop. On a loaded
  // machine (other tests beside this one) a loop may still see the cores shared, so it is tried a few times.
  cpu_set_t mine;
  ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
  const auto every_thread_has_the_process_mask = [&](int& threads) {
    threads = 0;
    bool all = true;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
      cpu_set_t theirs;
      if (sched_getaffinity(pid_t(std::stol(entry.path().filename().string())), sizeof theirs, &theirs) != 0) continue;
      all = all && CPU_EQUAL(&theirs, &mine);
      ++threads;
    }
    return all;
  };
  bool restored = false;
  int threads = 0;
  for (int attempt = 0; attempt < 30 && !restored; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt == 0 ? 150 : 60));
    visits(64);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // every woken worker past its first step
    restored = every_thread_has_the_process_mask(threads);
  }
  EXPECT_TRUE(restored) << "a pool thread kept a narrowed CPU mask after the cores were free";
  EXPECT_GE(threads, 4);
}
