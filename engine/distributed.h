// Data-parallel processes on MPI (docs/distributed.md).
//
// A process started by mpirun (or srun / mpiexec: OMPI_COMM_WORLD_SIZE,
// PMI_SIZE or PMIX_RANK in its environment) joins the world group in
// dist::init(); any other process is a group of one, and every call below is
// then a no-op or a copy, so code written for N ranks runs unchanged on one.
// Builds without MPI (cmake -DSTRATA_MPI=OFF) have only the group of one and
// refuse to start under a launcher with more than one rank.
//
// The collectives are blocking and are called from one thread (the training
// loop's). allreduce_sum is deterministic: whatever the MPI library, element
// i of the result is (((x_0 + x_1) + x_2) + ... + x_{N-1}) summed in rank
// order, the order in which one process accumulates N micro-batches, so N
// ranks and one rank with N micro-batches agree to the bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::dist {

// Joins the world group when started by an MPI launcher (idempotent), and logs
// "strata: rank R of N on HOST (pid P, T threads)" on stderr. Returns the
// world size. MPI is finalised at exit.
int init(int* argc = nullptr, char*** argv = nullptr);

int rank();
int size();
inline bool is_main() { return rank() == 0; }
inline bool active() { return size() > 1; }
const std::string& host();
// "rank 1 of 2 on host" (for messages); "" in a group of one.
std::string where();

// Element-wise sum over ranks, in rank order (see above), result on every rank.
void allreduce_sum(float* data, int64_t n);
void allreduce_sum(double* data, int64_t n);
void allreduce_sum(int64_t* data, int64_t n);
void allreduce_max(int64_t* data, int64_t n);
// True on every rank when `flag` is true on any.
bool any(bool flag);
// Root's bytes on every rank (resized to the root's length).
void broadcast(std::string& bytes, int root = 0);
// Every rank's bytes, in rank order.
std::vector<std::string> allgather(const std::string& bytes);
// Every rank's values laid end to end in rank order (e.g. per-sample scores of
// each rank's share of a validation set: the whole set's, in its order).
std::vector<double> gather_in_order(const std::vector<double>& mine);
void barrier();
// Ends every rank of the job with `code` (MPI_Abort); returns only in a group of one.
void abort_job(int code);

// Seconds spent in the collectives above since start, and calls made (for the
// trainer's communication share and the benchmarks).
double comm_seconds();
int64_t comm_calls();

// ---- data sharding (DistributedSampler, without padding) ---------------------
// An epoch of `count` samples in a fixed global order is cut into global
// batches of per_rank_batch x size() samples; rank r takes the r-th of size()
// contiguous, near-equal pieces of each. When the last global batch would hold
// fewer samples than there are ranks it joins the one before, so every rank
// has at least one sample in every step and every sample is used exactly once
// per epoch across ranks. With one rank: batches of per_rank_batch, the last
// one short, as before.
struct Span {
  int64_t begin = 0, end = 0;   // positions in the epoch's order, this rank's piece
  int64_t global_begin = 0, global_end = 0;  // the whole global batch
  int64_t size() const { return end - begin; }
  int64_t global_size() const { return global_end - global_begin; }
};
int64_t global_steps(int64_t count, int64_t per_rank_batch);
Span shard(int64_t step, int64_t per_rank_batch, int64_t count);
Span shard(int64_t step, int64_t per_rank_batch, int64_t count, int rank, int size);  // any rank / size (tests)

// This rank's contiguous part [begin, end) of n items (e.g. validation samples).
Span split(int64_t n);

}  // namespace strata::dist
