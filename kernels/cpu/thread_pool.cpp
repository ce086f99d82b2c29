#include "kernels/cpu/thread_pool.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace strata::cpu {

// What a worker reads once it holds a chunk; written before the loop is published.
struct Job {
  detail::RegionFn fn = nullptr;
  void* ctx = nullptr;
  int64_t n = 0;
  int chunks = 0, threads = 0;
  // Where the caller was when it published the loop; read by workers before they hold a chunk, so atomic.
  std::atomic<int> caller_cpu{-1};
  std::mutex error_mu;
  std::exception_ptr error;
};

namespace {

// A thread's share of a loop, one atomic word: the loop's generation (32 bits),
// the share's next chunk (16) and its end (16). Claiming is one compare-and-swap;
// a word of an older loop never matches, so a late thread cannot take a chunk of
// a loop that has finished.
constexpr int kChunksPerThread = 4;
constexpr int kMaxThreads = 65535 / kChunksPerThread;

uint64_t pack(uint32_t gen, uint32_t next, uint32_t end) { return (uint64_t(gen) << 32) | (next << 16) | end; }
uint32_t gen_of(uint64_t w) { return uint32_t(w >> 32); }
uint32_t next_of(uint64_t w) { return uint32_t(w >> 16) & 0xffff; }
uint32_t end_of(uint64_t w) { return uint32_t(w) & 0xffff; }

struct alignas(64) Share {
  std::atomic<uint64_t> word{0};
};

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_all(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return end != v && x >= 0 ? int(std::min<long>(x, 1 << 30)) : fallback;
}

int default_threads() {
  for (const char* name : {"STRATA_NUM_THREADS", "OMP_NUM_THREADS"})
    if (const int n = env_int(name, 0); n > 0) return std::min(n, kMaxThreads);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::clamp(CPU_COUNT(&set), 1, kMaxThreads);
  return std::clamp(int(std::thread::hardware_concurrency()), 1, kMaxThreads);
}

// Spinning: how long a waiting thread polls before it sleeps, and the shorter
// poll it uses for a while after it found itself descheduled mid-spin (a gap
// between two polls far longer than a poll takes).
const int64_t kSpinNs = int64_t(env_int("STRATA_SPIN_US", 100)) * 1000;
constexpr int64_t kShortSpinNs = 2'000;
constexpr int64_t kPreemptedGapNs = 50'000;
constexpr int64_t kSharedCoresNs = 50'000'000;
std::atomic<int64_t> g_short_spin_until{0};

// The other sign of shared cores: the scheduler took the core from a thread of ours for another runnable
// thread (an involuntary context switch), twice within kSharedCoresNs. Alone that happens a few times a second
// (kernel threads, timers); beside a busy process, every few milliseconds, and mostly while a thread works,
// where the spin-gap test above cannot see it. Each thread checks its own count after a loop's chunks.
std::atomic<int64_t> g_last_preemption{0};

void note_preemptions(long& seen) {
  rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) != 0 || ru.ru_nivcsw == seen) return;
  seen = ru.ru_nivcsw;
  const int64_t t = now_ns();
  if (t - g_last_preemption.exchange(t, std::memory_order_relaxed) < kSharedCoresNs)
    g_short_spin_until.store(t + kSharedCoresNs, std::memory_order_relaxed);
}

bool cores_shared() { return now_ns() < g_short_spin_until.load(std::memory_order_relaxed); }

// While the cores are shared, a worker keeps off the caller's core. Three runnable threads on two cores put two
// on one core, and the scheduler, placing a woken worker, often chose the caller's: both threads of a step then
// shared one core while the other process had the other (a U-Net 2D step beside one busy process: the worker
// woke on the caller's core in 40% of the loops, and the step got 1.0-1.1 cores). Kept off it, the worker shares
// with the other process and the step gets 1.3 cores of the ideal 1.33. The process's own CPU mask is restored
// once the cores are no longer shared; alone nothing changes.
class OffCallerCore {
 public:
  void update(int caller_cpu) {
    if (!cores_shared()) return restore();
    if (caller_cpu < 0 || caller_cpu == excluded_) return;
    if (excluded_ < 0 && sched_getaffinity(0, sizeof mask_, &mask_) != 0) return;
    if (!CPU_ISSET(caller_cpu, &mask_) || CPU_COUNT(&mask_) < 2) return;
    cpu_set_t set = mask_;
    CPU_CLR(caller_cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) == 0) excluded_ = caller_cpu;
  }
  void restore() {
    if (excluded_ < 0) return;
    sched_setaffinity(0, sizeof mask_, &mask_);
    excluded_ = -1;
  }

 private:
  cpu_set_t mask_{};  // the thread's mask before it was narrowed
  int excluded_ = -1;
};

// Polls ready() until it holds (true) or the spin is used up (false).
template <class Ready>
bool spin_until(Ready&& ready) {
  if (ready()) return true;
  if (kSpinNs == 0) return false;
  const int64_t start = now_ns();
  const int64_t budget = cores_shared() ? kShortSpinNs : kSpinNs;
  int64_t last = start;
  for (int i = 1;; ++i) {
    cpu_relax();
    if (ready()) return true;
    if ((i & 15) == 0) {
      const int64_t t = now_ns();
      if (t - last > kPreemptedGapNs) {
        g_short_spin_until.store(t + kSharedCoresNs, std::memory_order_relaxed);
        return ready();
      }
      if (t - start > budget) return ready();
      last = t;
    }
  }
}

thread_local bool t_in_region = false;

class Pool {
 public:
  Pool() : threads_(default_threads()) {}

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void set_threads(int n) {
    std::lock_guard lock(run_mu_);
    if (n == threads_.load()) return;
    stop_workers();
    threads_.store(n);
  }

  // Runs the loop on the pool's threads; false (nothing run) while another caller holds the pool or with one
  // thread, and the caller runs it serially.
  bool try_run(int64_t n, detail::RegionFn fn, void* ctx);

  // Claims the next chunk of loop `gen` from share s, or -1.
  int64_t claim(uint32_t gen, int s) {
    std::atomic<uint64_t>& word = shares_[s].word;
    uint64_t w = word.load(std::memory_order_acquire);
    while (gen_of(w) == gen && next_of(w) < end_of(w))
      if (word.compare_exchange_weak(w, w + (uint64_t(1) << 16), std::memory_order_acq_rel)) return next_of(w);
    return -1;
  }

  // The next chunk for a thread that works on share `slice` and started at `self`.
  int64_t claim_any(uint32_t gen, int self, int& slice) {
    const int t = job_.threads;
    for (;;) {
      const int64_t c = claim(gen, slice);
      if (c >= 0) return c;
      slice = (slice + 1) % t;
      if (slice == self) return -1;
    }
  }

  uint32_t gen() const { return gen_.load(std::memory_order_acquire); }
  Job& job() { return job_; }

 private:
  void start_workers();
  void stop_workers();
  void worker(int self, uint32_t seen);
  void run_body(Chunks& chunks);
  void finish(int taken);

  std::mutex run_mu_;  // one loop at a time; a second caller runs its loop serially
  std::atomic<int> threads_;
  std::vector<std::thread> workers_;
  std::unique_ptr<Share[]> shares_;
  std::atomic<bool> stop_{false};
  uint32_t last_gen_ = 0;
  Job job_;
  alignas(64) std::atomic<uint32_t> gen_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  alignas(64) std::atomic<uint32_t> done_{0};
  std::atomic<bool> caller_asleep_{false};
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: a loop may run during static destruction
  return *p;
}

}  // namespace

struct PoolAccess {
  static Chunks make(Job* job, int self, int slice, int64_t first) {
    Chunks c;
    c.job_ = job;
    c.self_ = self;
    c.slice_ = slice;
    c.first_ = first;
    return c;
  }
  static Chunks serial(int64_t n) {
    Chunks c;
    c.serial_end_ = n;
    return c;
  }
  static int taken(const Chunks& c) { return c.taken_; }
};

bool Chunks::next(int64_t& begin, int64_t& end) {
  if (serial_end_ >= 0) {
    if (taken_ > 0 || serial_end_ == 0) return false;
    taken_ = 1;
    begin = 0;
    end = serial_end_;
    return true;
  }
  int64_t c = first_;
  first_ = -1;
  if (c < 0) c = pool().claim_any(pool().gen(), self_, slice_);
  if (c < 0) return false;
  ++taken_;
  begin = job_->n * c / job_->chunks;
  end = job_->n * (c + 1) / job_->chunks;
  return true;
}

namespace {

void Pool::run_body(Chunks& chunks) {
  try {
    job_.fn(job_.ctx, chunks);
  } catch (...) {
    std::lock_guard lock(job_.error_mu);
    if (!job_.error) job_.error = std::current_exception();
  }
}

void Pool::finish(int taken) {
  if (taken == 0) return;
  const uint32_t now = done_.fetch_add(uint32_t(taken), std::memory_order_seq_cst) + uint32_t(taken);
  if (now == uint32_t(job_.chunks) && caller_asleep_.load(std::memory_order_seq_cst)) futex_wake_all(done_);
}

// `seen` is the generation when the worker was started: a worker that starts
// late must still see every later loop (and the stop) as new.
void Pool::worker(int self, uint32_t seen) {
  t_in_region = true;  // a loop inside a loop runs serially
  long preempted = 0;  // involuntary context switches seen so far
  OffCallerCore placement;
  for (;;) {
    if (!spin_until([&] { return gen_.load(std::memory_order_acquire) != seen; })) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      while (gen_.load(std::memory_order_seq_cst) == seen) futex_wait(gen_, seen);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    seen = gen_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_relaxed)) return;
    placement.update(job_.caller_cpu.load(std::memory_order_relaxed));
    int slice = self;
    const int64_t first = claim_any(seen, self, slice);
    if (first < 0) continue;
    Chunks chunks = PoolAccess::make(&job_, self, slice, first);
    run_body(chunks);
    finish(PoolAccess::taken(chunks));
    note_preemptions(preempted);
  }
}

void Pool::start_workers() {
  shares_ = std::make_unique<Share[]>(size_t(threads_));
  stop_.store(false, std::memory_order_relaxed);
  const uint32_t seen = gen_.load(std::memory_order_relaxed);
  for (int t = 1; t < threads_; ++t) workers_.emplace_back([this, t, seen] { worker(t, seen); });
}

void Pool::stop_workers() {
  if (workers_.empty()) return;
  stop_.store(true, std::memory_order_relaxed);
  gen_.fetch_add(1, std::memory_order_seq_cst);
  futex_wake_all(gen_);
  for (std::thread& w : workers_) w.join();
  workers_.clear();
  last_gen_ = gen_.load();
}

bool Pool::try_run(int64_t n, detail::RegionFn fn, void* ctx) {
  std::unique_lock lock(run_mu_, std::try_to_lock);
  if (!lock.owns_lock() || threads_ == 1) return false;
  if (workers_.empty()) start_workers();

  const int t = threads_;
  const int chunks = int(std::min<int64_t>(n, int64_t(t) * kChunksPerThread));
  const uint32_t gen = ++last_gen_;
  job_.fn = fn;
  job_.ctx = ctx;
  job_.n = n;
  job_.chunks = chunks;
  job_.threads = t;
  job_.caller_cpu.store(sched_getcpu(), std::memory_order_relaxed);
  job_.error = nullptr;
  done_.store(0, std::memory_order_relaxed);
  caller_asleep_.store(false, std::memory_order_relaxed);
  for (int s = 0; s < t; ++s)
    shares_[s].word.store(pack(gen, uint32_t(int64_t(chunks) * s / t), uint32_t(int64_t(chunks) * (s + 1) / t)),
                          std::memory_order_relaxed);
  gen_.store(gen, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(gen_);

  // The caller works on share 0, then helps with the others.
  t_in_region = true;
  int slice = 0;
  const int64_t first = claim_any(gen, 0, slice);
  if (first >= 0) {
    Chunks mine = PoolAccess::make(&job_, 0, slice, first);
    run_body(mine);
    finish(PoolAccess::taken(mine));
  }
  t_in_region = false;
  thread_local long preempted = 0;
  note_preemptions(preempted);

  const uint32_t all = uint32_t(chunks);
  if (!spin_until([&] { return done_.load(std::memory_order_acquire) == all; })) {
    caller_asleep_.store(true, std::memory_order_seq_cst);
    for (uint32_t d; (d = done_.load(std::memory_order_seq_cst)) != all;) futex_wait(done_, d);
  }
  if (job_.error) std::rethrow_exception(job_.error);
  return true;
}

}  // namespace

int pool_threads() { return pool().threads(); }

void set_pool_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    throw std::invalid_argument("set_num_threads: expected 1 to " + std::to_string(kMaxThreads) + " threads, got " +
                                std::to_string(n));
  pool().set_threads(n);
}

namespace detail {

void run_region(int64_t n, bool parallel, RegionFn fn, void* ctx) {
  if (n <= 0) return;
  if (parallel && n >= 2 && !t_in_region && pool().try_run(n, fn, ctx)) return;
  Chunks chunks = PoolAccess::serial(n);
  fn(ctx, chunks);
}

}  // namespace detail

}  // namespace strata::cpu
