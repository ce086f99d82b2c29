// The CPU backend's threads: one pool, the calling thread plus (threads - 1)
// workers, running one loop at a time.
//
// A loop over [0, n) is cut into a few chunks per thread. Each thread starts on
// its own share (the same split a static schedule gives, so a thread keeps
// touching the same memory from call to call) and, when it is done, takes the
// chunks other threads have not started. A thread that the OS has paused (the
// machine is busy with other work) therefore holds back at most the chunk it
// is in, not its whole share.
//
// Waiting threads spin for a short while (new work usually follows within
// microseconds) and then sleep. When the cores are shared with other work (a
// thread found it was descheduled while spinning, or the scheduler preempted
// our threads twice within 50 ms) they spin much less for a while, so that a
// waiting thread leaves its core to the thread it waits for, and workers keep
// off the caller's core, so that the step's threads do not end up sharing one
// core while the other work has its own. STRATA_SPIN_US sets the spin
// (default 100 microseconds; 0 always sleeps).
//
// Which thread runs a chunk never changes results: every kernel writes each
// output from one chunk only and reduces in an order fixed by the shape.
#pragma once

#include <cstdint>
#include <type_traits>

namespace strata::cpu {

// Threads of the pool (STRATA_NUM_THREADS, else OMP_NUM_THREADS, else the
// cores this process may run on), and a new count.
int pool_threads();
void set_pool_threads(int n);

// The chunks of one loop as one thread sees them: next() hands out the next
// [begin, end) this thread should run, false when none is left.
class Chunks {
 public:
  bool next(int64_t& begin, int64_t& end);

 private:
  friend struct PoolAccess;
  struct Job* job_ = nullptr;
  int self_ = 0, slice_ = 0;
  int64_t first_ = -1;  // a chunk claimed before the body was entered
  int64_t serial_end_ = -1;
  int taken_ = 0;
};

namespace detail {
using RegionFn = void (*)(void* ctx, Chunks& chunks);
void run_region(int64_t n, bool parallel, RegionFn fn, void* ctx);
}  // namespace detail

// Runs body(chunks) once on each thread that gets a chunk of [0, n): the form
// for loops that set up per-thread scratch once and then walk their chunks.
// Serial (one call on the calling thread) when `parallel` is false, n < 2, or
// when called from inside another parallel loop.
template <class Body>
void parallel_chunks(int64_t n, bool parallel, Body&& body) {
  using B = std::remove_reference_t<Body>;
  detail::run_region(
      n, parallel, [](void* ctx, Chunks& chunks) { (*static_cast<B*>(ctx))(chunks); },
      const_cast<void*>(static_cast<const void*>(&body)));
}

// Calls fn(begin, end) over [0, n) in chunks, in parallel when `parallel`.
template <class Fn>
void parallel_for(int64_t n, bool parallel, Fn&& fn) {
  parallel_chunks(n, parallel, [&fn](Chunks& chunks) {
    int64_t begin, end;
    while (chunks.next(begin, end)) fn(begin, end);
  });
}

}  // namespace strata::cpu
