#include "engine/distributed.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/error.h"
#include "engine/parallel.h"

#ifdef STRATA_WITH_MPI
#include <mpi.h>
#endif

namespace strata::dist {
namespace {

struct World {
  bool initialised = false;
  int rank = 0, size = 1;
  std::string host;
  double seconds = 0;
  int64_t calls = 0;
};

World& world() {
  static World w;
  return w;
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

[[maybe_unused]] int launcher_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* s = std::getenv(v)) return std::max(1, std::atoi(s));
  return 1;
}

std::string hostname() {
  char buf[256] = "";
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// Times one collective into comm_seconds().
struct Timed {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  ~Timed() {
    world().seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++world().calls;
  }
};

#ifdef STRATA_WITH_MPI
void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  STRATA_FAIL(what, " failed on ", where(), ": ", std::string(msg, size_t(len)));
}

template <typename T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <>
MPI_Datatype mpi_type<int64_t>() { return MPI_INT64_T; }

// Deterministic sum: a reduce-scatter by all-to-all (rank r receives every
// rank's r-th chunk and adds them in rank order), then an all-gather of the
// reduced chunks. It moves 2 (N-1)/N of the data per rank, as a ring does.
template <typename T>
void ordered_allreduce(T* data, int64_t n) {
  const int N = world().size;
  if (N == 1 || n == 0) return;
  Timed timed;
  std::vector<int> counts(static_cast<size_t>(N)), displs(static_cast<size_t>(N));
  for (int r = 0; r < N; ++r) {
    const int64_t b = n * r / N, e = n * (r + 1) / N;
    STRATA_CHECK(e - b < (int64_t(1) << 31), "allreduce: chunk of ", e - b, " elements is too large for MPI");
    counts[size_t(r)] = int(e - b);
    displs[size_t(r)] = int(b);
  }
  const int me = world().rank, mine = counts[size_t(me)];
  std::vector<T> pieces(size_t(mine) * size_t(N));
  std::vector<int> recv_counts(static_cast<size_t>(N), mine), recv_displs(static_cast<size_t>(N));
  for (int r = 0; r < N; ++r) recv_displs[size_t(r)] = r * mine;
  check(MPI_Alltoallv(data, counts.data(), displs.data(), mpi_type<T>(), pieces.data(), recv_counts.data(),
                      recv_displs.data(), mpi_type<T>(), MPI_COMM_WORLD),
        "MPI_Alltoallv");
  T* out = data + displs[size_t(me)];
  for (int i = 0; i < mine; ++i) {
    T acc = pieces[size_t(i)];
    for (int r = 1; r < N; ++r) acc = acc + pieces[size_t(r) * size_t(mine) + size_t(i)];
    out[i] = acc;
  }
  check(MPI_Allgatherv(MPI_IN_PLACE, 0, mpi_type<T>(), data, counts.data(), displs.data(), mpi_type<T>(),
                       MPI_COMM_WORLD),
        "MPI_Allgatherv");
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}
#endif

}  // namespace

int init(int* argc, char*** argv) {
  World& w = world();
  if (w.initialised) return w.size;
  w.initialised = true;
  w.host = hostname();
  if (!launched_by_mpi()) return 1;
#ifdef STRATA_WITH_MPI
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  std::atexit(finalize_at_exit);
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  // Errors come back as return codes (and become strata errors naming the rank).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  std::fprintf(stderr, "strata: rank %d of %d on %s (pid %d, %d threads)\n", w.rank, w.size, w.host.c_str(),
               int(getpid()), num_threads());
#else
  (void)argc;
  (void)argv;
  STRATA_CHECK(launcher_size() == 1, "this strata build has no MPI (configured with STRATA_MPI=OFF or without "
                                     "libopenmpi-dev) but was started by an MPI launcher with ",
               launcher_size(), " ranks; rebuild with MPI or run one process");
#endif
  return w.size;
}

int rank() { return world().rank; }
int size() { return world().size; }
const std::string& host() {
  if (world().host.empty()) world().host = hostname();
  return world().host;
}
std::string where() {
  if (world().size == 1) return "";
  return str_cat("rank ", world().rank, " of ", world().size, " on ", host());
}

#ifdef STRATA_WITH_MPI
void allreduce_sum(float* data, int64_t n) { ordered_allreduce(data, n); }
void allreduce_sum(double* data, int64_t n) { ordered_allreduce(data, n); }
void allreduce_sum(int64_t* data, int64_t n) { ordered_allreduce(data, n); }

void allreduce_max(int64_t* data, int64_t n) {
  if (world().size == 1 || n == 0) return;
  Timed timed;
  check(MPI_Allreduce(MPI_IN_PLACE, data, int(n), MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
}

void broadcast(std::string& bytes, int root) {
  if (world().size == 1) return;
  Timed timed;
  int64_t len = int64_t(bytes.size());
  check(MPI_Bcast(&len, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
  bytes.resize(size_t(len));
  // In pieces below 2 GiB (MPI counts are int).
  const int64_t piece = int64_t(1) << 30;
  for (int64_t off = 0; off < len; off += piece)
    check(MPI_Bcast(bytes.data() + off, int(std::min(piece, len - off)), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

std::vector<std::string> allgather(const std::string& bytes) {
  const int N = world().size;
  if (N == 1) return {bytes};
  Timed timed;
  STRATA_CHECK(bytes.size() < (size_t(1) << 31), "allgather: ", bytes.size(), " bytes is too large");
  int len = int(bytes.size());
  std::vector<int> lens(static_cast<size_t>(N)), displs(static_cast<size_t>(N));
  check(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
  int64_t total = 0;
  for (int r = 0; r < N; ++r) displs[size_t(r)] = int(total), total += lens[size_t(r)];
  STRATA_CHECK(total < (int64_t(1) << 31), "allgather: ", total, " bytes in all is too large");
  std::string all(size_t(total), '\0');
  check(MPI_Allgatherv(bytes.data(), len, MPI_BYTE, all.data(), lens.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD),
        "MPI_Allgatherv");
  std::vector<std::string> out;
  for (int r = 0; r < N; ++r) out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(lens[size_t(r)])));
  return out;
}

void barrier() {
  if (world().size == 1) return;
  Timed timed;
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void abort_job(int code) {
  if (world().size == 1) return;
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
}
#else
void allreduce_sum(float*, int64_t) {}
void allreduce_sum(double*, int64_t) {}
void allreduce_sum(int64_t*, int64_t) {}
void allreduce_max(int64_t*, int64_t) {}
void broadcast(std::string&, int) {}
std::vector<std::string> allgather(const std::string& bytes) { return {bytes}; }
void barrier() {}
void abort_job(int) {}
#endif

std::vector<double> gather_in_order(const std::vector<double>& mine) {
  if (size() == 1) return mine;
  const std::vector<std::string> parts =
      allgather(std::string(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(double)));
  std::vector<double> out;
  for (const std::string& p : parts) {
    const size_t at = out.size();
    out.resize(at + p.size() / sizeof(double));
    std::memcpy(out.data() + at, p.data(), p.size());
  }
  return out;
}

bool any(bool flag) {
  int64_t v = flag ? 1 : 0;
  allreduce_max(&v, 1);
  return v != 0;
}

double comm_seconds() { return world().seconds; }
int64_t comm_calls() { return world().calls; }

namespace {

// Global batches of an epoch of `count` samples on n ranks: a last batch too small to give every rank a sample
// joins the one before.
int64_t steps_of(int64_t count, int64_t per_rank_batch, int64_t n) {
  const int64_t g = per_rank_batch * n;
  const int64_t steps = (count + g - 1) / g;
  return steps > 1 && count - (steps - 1) * g < n ? steps - 1 : steps;
}

}  // namespace

int64_t global_steps(int64_t count, int64_t per_rank_batch) {
  const int64_t n = size();
  STRATA_CHECK(per_rank_batch > 0, "batch size must be > 0, got ", per_rank_batch);
  STRATA_CHECK(count >= n, "an epoch of ", count, " samples cannot give each of ", n,
               " ranks a sample; use fewer ranks or more samples per epoch");
  return steps_of(count, per_rank_batch, n);
}

Span shard(int64_t step, int64_t per_rank_batch, int64_t count, int r, int n) {
  const int64_t g = per_rank_batch * n, steps = steps_of(count, per_rank_batch, n);
  STRATA_CHECK(step >= 0 && step < steps, "batch ", step, " is past the end of an epoch of ", steps, " batches");
  Span s;
  s.global_begin = step * g;
  s.global_end = step + 1 == steps ? count : s.global_begin + g;
  const int64_t len = s.global_end - s.global_begin;
  s.begin = s.global_begin + len * r / n;
  s.end = s.global_begin + len * (r + 1) / n;
  return s;
}

Span shard(int64_t step, int64_t per_rank_batch, int64_t count) {
  return shard(step, per_rank_batch, count, rank(), size());
}

Span split(int64_t n) {
  Span s;
  s.global_end = n;
  s.begin = n * rank() / size();
  s.end = n * (rank() + 1) / size();
  return s;
}

}  // namespace strata::dist
