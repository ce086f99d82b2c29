// Data-parallel training (engine/distributed.h, layers/data_parallel.h, the
// loader's sharding, the trainer across world sizes). The suite runs as one
// process (ctest: test_distributed) and under `mpirun -np 2` (ctest:
// distributed_2_ranks); cases that need several ranks skip, saying so, on one.
//
// Every case runs its collectives before it asserts anything, so a failing
// rank never leaves another waiting in a collective.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <sstream>

#include "apps/common/loader.h"
#include "apps/common/trainer.h"
#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/checkpoint.h"
#include "layers/data_parallel.h"
#include "layers/layers.h"
#include "layers/optimizer.h"
#include "models/unet.h"

using namespace strata;
namespace fs = std::filesystem;

namespace {

// ---- sharding (pure: any rank of any world size) ------------------------------

TEST(Shard, EverySampleExactlyOncePerEpochForAnyWorldSize) {
  for (int n : {1, 2, 3, 5}) {
    for (int64_t batch : {1, 3, 4}) {
      for (int64_t count = n; count <= 41; ++count) {
        SCOPED_TRACE(::testing::Message() << "ranks " << n << ", batch " << batch << ", count " << count);
        const int64_t g = batch * n;
        int64_t steps = (count + g - 1) / g;
        if (steps > 1 && count - (steps - 1) * g < n) --steps;
        std::vector<int> seen(size_t(count), 0);
        int64_t expected_begin = 0;
        for (int64_t s = 0; s < steps; ++s) {
          for (int r = 0; r < n; ++r) {
            const dist::Span span = dist::shard(s, batch, count, r, n);
            ASSERT_EQ(span.begin, expected_begin) << "rank pieces are contiguous, in rank order";
            ASSERT_GE(span.size(), 1) << "every rank has a sample in every step";
            if (s + 1 < steps) {
              ASSERT_EQ(span.size(), batch) << "full global batches give each rank `batch`";
            }
            for (int64_t p = span.begin; p < span.end; ++p) ++seen[size_t(p)];
            expected_begin = span.end;
          }
        }
        ASSERT_EQ(expected_begin, count);
        for (int64_t p = 0; p < count; ++p) ASSERT_EQ(seen[size_t(p)], 1) << "position " << p;
        if (n == 1) {
          ASSERT_EQ(steps, (count + batch - 1) / batch) << "one process: the batches as before";
        }
      }
    }
  }
}

TEST(Shard, SplitCoversEveryItemOnce) {
  // On this process: split() of the world it runs in; the pieces of all ranks tile [0, n).
  const dist::Span s = dist::split(10);
  EXPECT_EQ(s.begin, 10 * dist::rank() / dist::size());
  EXPECT_EQ(s.end, 10 * (dist::rank() + 1) / dist::size());
}

TEST(CheckpointBytes, RoundTripThroughMemory) {
  Checkpoint ck;
  ck.add_tensor("w", Tensor::from_vector(std::vector<float>{1.5f, -2.f, 3.25f}, {3}));
  ck.set("trainer.epoch", "4");
  const Checkpoint back = Checkpoint::from_bytes(ck.bytes(), "memory");
  EXPECT_EQ(back.get_int("trainer.epoch"), 4);
  EXPECT_EQ(back.tensor("w").to_vector<float>(), (std::vector<float>{1.5f, -2.f, 3.25f}));
  EXPECT_THROW(Checkpoint::from_bytes("not a checkpoint", "memory"), Error);
}

// ---- collectives --------------------------------------------------------------

// Rank r's value of element i: magnitudes that make the order of summation visible in float.
float value(int r, int64_t i) { return (r % 2 ? -1.f : 1.f) * (i % 3 == 0 ? 1e8f : 1.f) + float(r) * 0.37f + float(i); }

TEST(Collectives, AllreduceSumsInRankOrderAndBroadcastAndAllgatherAgree) {
  const int n = dist::size(), me = dist::rank();
  std::vector<float> x(7);
  for (int64_t i = 0; i < 7; ++i) x[size_t(i)] = value(me, i);
  dist::allreduce_sum(x.data(), 7);
  std::string b = me == 0 ? std::string("from rank 0\0with a zero", 23) : std::string("other");
  dist::broadcast(b);
  const std::vector<std::string> all = dist::allgather(std::string(size_t(me + 1), char('a' + me)));
  int64_t counts[2] = {me, 1};
  dist::allreduce_sum(counts, 2);

  for (int64_t i = 0; i < 7; ++i) {
    float expected = value(0, i);
    for (int r = 1; r < n; ++r) expected = expected + value(r, i);
    EXPECT_EQ(std::memcmp(&x[size_t(i)], &expected, sizeof(float)), 0) << "element " << i << ": " << x[size_t(i)]
                                                                      << " vs " << expected;
  }
  EXPECT_EQ(b, std::string("from rank 0\0with a zero", 23));
  ASSERT_EQ(int(all.size()), n);
  for (int r = 0; r < n; ++r) EXPECT_EQ(all[size_t(r)], std::string(size_t(r + 1), char('a' + r)));
  EXPECT_EQ(counts[0], int64_t(n) * (n - 1) / 2);
  EXPECT_EQ(counts[1], n);
}

// ---- data-parallel steps against micro-batches ----------------------------------

struct Replica {
  std::shared_ptr<UNet> model;
  std::unique_ptr<Optimizer> opt;
};

Replica make_replica(bool batchnorm) {
  manual_seed(5);  // the same initial weights everywhere
  UNetOptions o;
  o.in_channels = 1;
  o.classes = 3;
  o.base = 4;
  o.depth = 2;
  o.batchnorm = batchnorm;
  Replica r{std::make_shared<UNet>(o), nullptr};
  r.opt = make_optimizer(Config::parse("type: adam\nlr: 0.01\n", "opt.yaml"), r.model->named_parameters(), 10);
  r.model->train();
  return r;
}

// Global batch `step` of 2 x ranks images: samples [first, first + count).
void batch_of(int64_t step, int64_t first, int64_t count, Tensor& x, Tensor& y) {
  Generator g(uint64_t(100 + step));
  const int64_t global = 2 * dist::size();
  const Tensor xs = Tensor::randn({global, 1, 16, 16}, DType::f32, &g);
  const Tensor ys = Tensor::rand({global, 16, 16}, DType::f32, &g, 0, 2.999).to(DType::i64);  // classes 0..2
  x = xs.narrow(0, first, count).contiguous();
  y = ys.narrow(0, first, count).contiguous();
}

// Three Adam steps on N ranks (per-rank batch 2) and, on every rank, the same
// three steps on one process accumulating N micro-batches of 2 (gradients
// divided by N as the allreduce does). Returns the largest difference of any
// parameter and whether all are bitwise equal.
std::pair<double, bool> steps_against_micro_batches(bool batchnorm) {
  const int n = dist::size(), me = dist::rank();
  Replica dp = make_replica(batchnorm), ref = make_replica(batchnorm);
  for (int64_t step = 0; step < 3; ++step) {
    Tensor x, y;
    batch_of(step, 2 * me, 2, x, y);
    dp.opt->zero_grad();
    cross_entropy((*dp.model)(x), y).backward();
    dp.opt->step();  // averages the gradients over the ranks

    NoGradientSync local;  // the reference runs on this process alone
    ref.opt->zero_grad();
    for (int r = 0; r < n; ++r) {
      batch_of(step, 2 * r, 2, x, y);
      cross_entropy((*ref.model)(x), y).backward();  // accumulates: ((g0 + g1) + g2) ...
    }
    for (const Tensor& p : ref.model->parameters()) {
      Tensor g = p.grad();
      float* v = g.data<float>();
      for (int64_t i = 0; i < g.numel(); ++i) v[i] = v[i] / float(n);
    }
    ref.opt->step();
  }
  double worst = 0;
  bool bitwise = true;
  const std::vector<Tensor> a = dp.model->parameters(), b = ref.model->parameters();
  for (size_t k = 0; k < a.size(); ++k) {
    const std::vector<float> va = a[k].to_vector<float>(), vb = b[k].to_vector<float>();
    bitwise = bitwise && std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
    for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, double(std::abs(va[i] - vb[i])));
  }
  return {worst, bitwise};
}

TEST(DataParallel, RanksMatchOneProcessWithMicroBatchesBitForBit) {
  if (!dist::active()) GTEST_SKIP() << "needs several ranks: run under mpirun -np 2 (ctest: distributed_2_ranks)";
  const auto [worst, bitwise] = steps_against_micro_batches(false);
  EXPECT_TRUE(bitwise) << "largest difference " << worst;
}

TEST(DataParallel, BatchNormPerRankMatchesMicroBatchesWithinFloatTolerance) {
  if (!dist::active()) GTEST_SKIP() << "needs several ranks: run under mpirun -np 2 (ctest: distributed_2_ranks)";
  // Per-rank batch-norm statistics over 2 images are the micro-batch's statistics.
  const auto [worst, bitwise] = steps_against_micro_batches(true);
  EXPECT_LT(worst, 1e-6) << (bitwise ? "bitwise equal" : "not bitwise equal");
}

TEST(DataParallel, SyncBatchNormMatchesOneProcessOnTheWholeGlobalBatch) {
  if (!dist::active()) GTEST_SKIP() << "needs several ranks: run under mpirun -np 2 (ctest: distributed_2_ranks)";
  // Two SGD steps of a batch-norm U-Net: N ranks with global statistics (2 images each) against one process
  // with the whole global batch of 2N images. Without synchronisation the statistics of 2 images differ from
  // those of 2N and the weights would part visibly.
  const int n = dist::size(), me = dist::rank();
  auto run = [&](bool distributed) {
    Replica r = make_replica(true);
    r.opt = make_optimizer(Config::parse("type: sgd\nlr: 0.1\n", "opt.yaml"), r.model->named_parameters(), 10);
    if (distributed) {
      EXPECT_GT(convert_sync_batchnorm(*r.model), 0);
    }
    std::unique_ptr<NoGradientSync> local;
    if (!distributed) local = std::make_unique<NoGradientSync>();
    for (int64_t step = 0; step < 2; ++step) {
      Tensor x, y;
      if (distributed) {
        batch_of(step, 2 * me, 2, x, y);
      } else {
        batch_of(step, 0, 2 * n, x, y);
      }
      r.opt->zero_grad();
      cross_entropy((*r.model)(x), y).backward();
      r.opt->step();
    }
    std::vector<float> all;
    for (const Tensor& t : r.model->parameters())
      for (float v : t.to_vector<float>()) all.push_back(v);
    for (const auto& [_, b] : r.model->named_buffers())
      if (is_floating(b.dtype()))
        for (float v : b.to_vector<float>()) all.push_back(v);
    return all;
  };
  const std::vector<float> dp = run(true), whole = run(false);
  ASSERT_EQ(dp.size(), whole.size());
  double worst = 0;
  for (size_t i = 0; i < dp.size(); ++i) worst = std::max(worst, double(std::abs(dp[i] - whole[i])));
  EXPECT_LT(worst, 2e-5) << "parameters and running statistics";
}

TEST(DataParallel, ReplicasStayIdenticalAcrossRanks) {
  Replica dp = make_replica(true);
  for (int64_t step = 0; step < 2; ++step) {
    Tensor x, y;
    batch_of(step, 2 * dist::rank(), 2, x, y);
    dp.opt->zero_grad();
    cross_entropy((*dp.model)(x), y).backward();
    dp.opt->step();
  }
  std::string mine;
  for (const Tensor& p : dp.model->parameters()) {
    const std::vector<float> v = p.to_vector<float>();
    mine.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  }
  const std::vector<std::string> all = dist::allgather(mine);
  for (size_t r = 1; r < all.size(); ++r) EXPECT_TRUE(all[r] == all[0]) << "rank " << r << " differs from rank 0";
}

// ---- the loader's shards --------------------------------------------------------

TEST(DataParallel, LoaderGivesEachRankADisjointShareAndTheUnionIsTheEpoch) {
  const int64_t n = 23, batch = 3;
  auto order = [&](int64_t epoch) { return shuffled_epoch(7, epoch, n, n); };
  Loader loader(order,
                [](int64_t index, std::mt19937_64& rng) {
                  Sample s;
                  s.image.channels = s.image.height = 1;
                  s.image.width = 2;
                  s.image.data = {float(index), float(rng() % 1000003)};  // the index and the sample's own draw
                  return s;
                },
                batch, 11, 2);
  std::string mine;
  const int64_t steps = loader.batches_per_epoch(n);
  for (int64_t e = 0; e < 2; ++e)
    for (int64_t b = 0; b < steps; ++b)
      for (const Sample& s : loader.batch(e, b)) {
        const int64_t v[4] = {e, b, int64_t(s.image.data[0]), int64_t(s.image.data[1])};
        mine.append(reinterpret_cast<const char*>(v), sizeof v);
      }
  const std::vector<std::string> all = dist::allgather(mine);

  // What one process with batch 3 x ranks sees, in order: the epoch's order, sample p drawn with sample_rng(11, e, p).
  for (int64_t e = 0; e < 2; ++e) {
    const std::vector<int64_t> ord = order(e);
    std::vector<int> seen(size_t(n), 0);
    int64_t position = 0;
    for (int64_t b = 0; b < steps; ++b)
      for (const std::string& rank_rows : all)
        for (size_t k = 0; k + 4 * sizeof(int64_t) <= rank_rows.size(); k += 4 * sizeof(int64_t)) {
          int64_t v[4];
          std::memcpy(v, rank_rows.data() + k, sizeof v);
          if (v[0] != e || v[1] != b) continue;
          ASSERT_LT(position, n);
          EXPECT_EQ(v[2], ord[size_t(position)]) << "epoch " << e << " position " << position;
          std::mt19937_64 rng = sample_rng(11, uint64_t(e), uint64_t(position));
          EXPECT_EQ(v[3], int64_t(rng() % 1000003)) << "sample drawn with its global position's stream";
          ++seen[size_t(v[2])];
          ++position;
        }
    EXPECT_EQ(position, n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[size_t(i)], 1) << "sample " << i << " in epoch " << e;
  }
}

// ---- checkpoints across world sizes ---------------------------------------------
//
// WriteMidEpoch (run with STRATA_TEST_RESUME_DIR set, on N ranks) trains a
// small regression through the shared Trainer and Loader with per-rank batch
// 4, stops after 3 global batches and leaves last.safetensors there;
// ResumeMidEpoch (on M ranks, the same variable) resumes it and checks that
// the rest of the epoch continues where it stopped: from the first global
// batch at or after the stopping sample, every later sample once. ctest runs
// 2 -> 1 and 1 -> 2.

struct Regression {
  static constexpr int64_t kSamples = 40, kBatch = 4;
  std::shared_ptr<Linear> model;
  std::unique_ptr<Optimizer> opt;
  Loader loader;
  std::vector<int64_t> positions;  // the epoch-0 positions this rank trained on
  std::function<void()> after_step;

  Regression()
      : loader([](int64_t e) { return shuffled_epoch(3, e, kSamples, kSamples); },
               [](int64_t index, std::mt19937_64&) {
                 Sample s;
                 s.image.channels = s.image.height = 1;
                 s.image.width = 1;
                 s.image.data = {float(index)};
                 return s;
               },
               kBatch, 3, 1) {
    manual_seed(2);
    model = std::make_shared<Linear>(1, 1);
    opt = make_optimizer(Config::parse("type: sgd\nlr: 0.001\n", "o.yaml"), model->named_parameters(), 100);
  }

  // The shared Trainer over this task, writing into `dir`.
  std::unique_ptr<Trainer> trainer(const std::string& dir, int64_t epochs) {
    TrainerOptions o;
    o.epochs = epochs;
    o.steps_per_epoch = loader.batches_per_epoch(kSamples);
    o.progress = false;
    return std::make_unique<Trainer>(
        o, dir, [this](int64_t e, int64_t b) { return step(e, b); },
        [](int64_t) { return std::map<std::string, double>{{"val_loss", 0.0}}; },
        [this](Checkpoint& ck) {
          ck.add_module("model.", *model);
          ck.add_optimizer("optimizer.", *opt);
        },
        [this](const Checkpoint& ck) {
          ck.restore_module("model.", *model);
          ck.restore_optimizer("optimizer.", *opt);
        });
  }

  StepResult step(int64_t e, int64_t b) {
    const std::vector<Sample> batch = loader.batch(e, b);
    const dist::Span span = dist::shard(b, kBatch, kSamples);
    std::vector<float> xs;
    for (int64_t k = 0; k < int64_t(batch.size()); ++k) {
      xs.push_back(batch[size_t(k)].image.data[0] / float(kSamples));
      if (e == 0) positions.push_back(span.begin + k);
    }
    const Tensor x = Tensor::from_vector(xs, {int64_t(xs.size()), 1});
    opt->zero_grad();
    const Tensor loss = mse_loss((*model)(x), mul(x, 2.0));
    loss.backward();
    opt->step();
    if (after_step) after_step();
    return StepResult{loss.item<float>(), int64_t(xs.size())};
  }
};

const char* resume_dir() { return std::getenv("STRATA_TEST_RESUME_DIR"); }

TEST(DataParallel, WriteMidEpoch) {
  if (!resume_dir()) GTEST_SKIP() << "set STRATA_TEST_RESUME_DIR (ctest runs it as distributed_resume_*)";
  Regression task;
  const std::string dir = resume_dir();
  const std::unique_ptr<Trainer> trainer = task.trainer(dir, 2);
  int64_t steps = 0;
  task.after_step = [&] {
    if (++steps == 3) trainer->request_stop();
  };
  const TrainSummary s = trainer->run();
  EXPECT_TRUE(s.interrupted);
  if (dist::is_main()) {
    const Checkpoint ck = Checkpoint::load((fs::path(dir) / "last.safetensors").string());
    EXPECT_EQ(ck.get_int("trainer.batch"), 3);
    EXPECT_EQ(ck.get_int("trainer.world_size"), dist::size());
  }
}

TEST(DataParallel, ResumeMidEpoch) {
  if (!resume_dir()) GTEST_SKIP() << "set STRATA_TEST_RESUME_DIR (ctest runs it as distributed_resume_*)";
  const std::string dir = resume_dir();
  const Checkpoint written = Checkpoint::load((fs::path(dir) / "last.safetensors").string());
  const int64_t stopped_at = written.get_int("trainer.batch") * written.get_int("trainer.world_size") *
                             Regression::kBatch;  // samples of epoch 1 trained before the stop
  Regression task;
  const std::unique_ptr<Trainer> trainer = task.trainer((fs::path(dir) / "resumed").string(), 1);
  trainer->resume((fs::path(dir) / "last.safetensors").string());
  const TrainSummary s = trainer->run();
  const std::vector<int64_t>& positions = task.positions;
  std::string mine(reinterpret_cast<const char*>(positions.data()), positions.size() * sizeof(int64_t));
  const std::vector<std::string> all = dist::allgather(mine);
  // The weights every rank starts from are the checkpoint's.
  EXPECT_EQ(s.epochs_run, 1);
  std::vector<int64_t> after;
  for (const std::string& r : all) {
    const size_t k = r.size() / sizeof(int64_t);
    const size_t before = after.size();
    after.resize(before + k);
    std::memcpy(after.data() + before, r.data(), r.size());
  }
  std::sort(after.begin(), after.end());
  ASSERT_FALSE(after.empty());
  const int64_t global = Regression::kBatch * dist::size();
  EXPECT_GE(after.front(), stopped_at) << "no sample of the stopped epoch is trained twice";
  EXPECT_LT(after.front() - stopped_at, global) << "at most part of one global batch is skipped";
  EXPECT_EQ(after.front() % global, 0) << "the resume starts at a global batch";
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i], after.front() + int64_t(i)) << "every later sample once";
  EXPECT_EQ(after.back(), Regression::kSamples - 1);
}

}  // namespace

int main(int argc, char** argv) {
  dist::init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (!dist::is_main()) {  // one report: rank 0's (a failure on another rank still fails the exit code)
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int rc = RUN_ALL_TESTS();
  // Every rank's verdict decides the exit code of all.
  int64_t failed = rc != 0 ? 1 : 0;
  dist::allreduce_max(&failed, 1);
  return failed ? 1 : 0;
}
