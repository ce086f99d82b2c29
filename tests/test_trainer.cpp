// The shared trainer of the apps: metrics against hand-computed values, PNG
// plots that decode, and interrupt (Ctrl-C) + resume giving the weights of an
// uninterrupted run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>



#include "apps/common/cli.h"
#include "apps/common/metrics.h"
#include "apps/common/plot.h"
#include "apps/common/trainer.h"
#include "engine/autograd.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/layers.h"
#include "layers/optimizer.h"
#include "layers/weight_average.h"
#include "tests/test_util.h"

using namespace strata;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

TEST(Metrics, ConfusionMatrixScores) {
  ConfusionMatrix m(3);
  m.add({0, 0, 1, 1, 2, 2, 1}, {0, 1, 1, 1, 2, 0, 1}, /*ignore_index=*/-100);
  m.add({0, 2}, {2, 2}, 0);  // truth 0 is ignored here
  // truth x pred: [[1,1,0],[0,3,0],[1,0,2]]
  EXPECT_EQ(m.total(), 8);
  EXPECT_DOUBLE_EQ(m.accuracy(), 6.0 / 8);
  EXPECT_DOUBLE_EQ(m.precision(0), 0.5);
  EXPECT_DOUBLE_EQ(m.recall(1), 1.0);
  EXPECT_DOUBLE_EQ(m.f1(1), 2 * 0.75 / 1.75);
  EXPECT_DOUBLE_EQ(m.iou(0), 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.iou(2), 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.mean_iou(), (1.0 / 3 + 0.75 + 2.0 / 3) / 3);
  const double f0 = 0.5, f1 = 2 * 0.75 / 1.75, f2 = 2 * (2.0 / 3) / (1 + 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.f1_macro(), (f0 + f1 + f2) / 3);
  EXPECT_DOUBLE_EQ(m.f1_weighted(), (2 * f0 + 3 * f1 + 3 * f2) / 8);
  EXPECT_DOUBLE_EQ(m.f1_micro(), 0.75);
  EXPECT_DOUBLE_EQ(m.adjacent_accuracy({{1}, {0, 2}, {1}}), 7.0 / 8);  // (0 -> 1) counts as adjacent
  EXPECT_THROW(m.add({3}, {0}), Error);
  ConfusionMatrix b(2);
  b.add({1, 1, 1, 0, 0}, {1, 1, 0, 0, 1});
  EXPECT_DOUBLE_EQ(b.tpr(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(b.tnr(), 0.5);
}

TEST(Metrics, RocAucWithTies) {
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({1, 2, 3}, {0, 1, 1}), 1.0);
  EXPECT_TRUE(std::isnan(roc_auc({1, 2}, {1, 1})));
}

// A small regression model trained by the Trainer: data from (epoch, batch),
// dropout noise from the default generator.
class TinyTask {
 public:
  TinyTask() {
    manual_seed(17);
    model = std::make_shared<Sequential>();
    model->add(std::make_shared<Linear>(4, 16))
        .add(std::make_shared<ActivationLayer>(Activation::tanh))
        .add(std::make_shared<Dropout>(0.2))
        .add(std::make_shared<Linear>(16, 1));
    const Config oc = Config::parse("type: adam\nlr: 0.01\nschedule: {type: cosine}\n", "o.yaml");
    opt = make_optimizer(oc, model->named_parameters(), 12);
  }
  StepResult step(int64_t epoch, int64_t batch) {
    Generator data(uint64_t(1000 * epoch + batch));
    const Tensor x = Tensor::randn({8, 4}, DType::f32, &data);
    const Tensor y = sum(x, {1}, true) * 0.5;
    model->train();
    opt->zero_grad();
    const Tensor loss = mse_loss((*model)(x), y);
    loss.backward();
    opt->step();
    return {loss.item<float>(), 8};
  }
  std::map<std::string, double> validate() {
    ++validations;
    model->eval();
    Generator data(999);
    const Tensor x = Tensor::randn({32, 4}, DType::f32, &data);
    return {{"val_loss", mse_loss((*model)(x), sum(x, {1}, true) * 0.5).item<float>()}};
  }
  Trainer trainer(const fs::path& dir, std::function<void(int64_t)> after_step = nullptr) {
    TrainerOptions o = options;
    o.epochs = epochs;
    o.steps_per_epoch = 4;
    o.progress = false;
    return Trainer(
        o, dir.string(),
        [this, after_step](int64_t e, int64_t b) {
          const StepResult r = step(e, b);
          if (after_step) after_step(e * 4 + b);
          return r;
        },
        [this](int64_t) { return validate(); },
        [this](Checkpoint& ck) {
          ck.add_module("model", *model);
          ck.add_optimizer("optim", *opt);
        },
        [this](const Checkpoint& ck) {
          ck.restore_module("model", *model);
          ck.restore_optimizer("optim", *opt);
        });
  }
  std::shared_ptr<Sequential> model;
  std::unique_ptr<Optimizer> opt;
  TrainerOptions options;  // monitor and its mode; epochs and steps are the task's
  int64_t epochs = 3;
  int validations = 0;
};

// metrics.csv rows after its two header lines, split at commas (empty fields kept).
// The epoch rows of a metrics.csv (after its header).
static std::vector<std::vector<std::string>> csv_rows(const fs::path& csv) {
  std::ifstream f(csv);
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line.rfind("epoch,step,train_loss", 0), 0u) << line;
  std::vector<std::vector<std::string>> rows;
  while (std::getline(f, line)) {
    std::vector<std::string> row;
    size_t a = 0;
    for (size_t b; (b = line.find(',', a)) != std::string::npos; a = b + 1) row.push_back(line.substr(a, b - a));
    row.push_back(line.substr(a));
    rows.push_back(row);
  }
  return rows;
}

TEST(Trainer, MonitorModeMinimisesLossesAndMaximisesScores) {
  auto maximize = [](const std::string& yaml) { return TrainerOptions::from_config(Config::parse(yaml)).maximize; };
  EXPECT_FALSE(maximize("epochs: 1"));  // val_loss
  EXPECT_FALSE(maximize("monitor: train_loss"));
  EXPECT_TRUE(maximize("monitor: val_miou"));
  EXPECT_TRUE(maximize("monitor: val_ap"));
  EXPECT_TRUE(maximize("monitor: train_loss\nmonitor_mode: max"));
  EXPECT_FALSE(maximize("monitor: val_miou\nmonitor_mode: min"));
  EXPECT_THROW(maximize("monitor_mode: lowest"), Error);
}

// best.safetensors is the epoch the monitor ranks first: with train_loss, the lowest training loss in metrics.csv.
TEST(Trainer, TrainLossMonitorKeepsTheEpochOfLowestTrainingLoss) {
  TinyTask task;
  task.options = TrainerOptions::from_config(Config::parse("monitor: train_loss"));
  const fs::path dir = test::fresh_path("trainer", "train_loss_monitor");
  const TrainSummary s = task.trainer(dir).run();
  std::ifstream f(dir / "metrics.csv");
  std::string line;
  std::getline(f, line);  // header: epoch,step,train_loss,...
  EXPECT_EQ(line.rfind("epoch,step,train_loss", 0), 0u) << line;
  std::vector<double> losses;
  while (std::getline(f, line)) {
    const size_t a = line.find(',', line.find(',') + 1);
    losses.push_back(std::stod(line.substr(a + 1)));
  }
  ASSERT_EQ(losses.size(), 3u);
  const auto lowest = std::min_element(losses.begin(), losses.end());
  EXPECT_EQ(s.best_epoch, 1 + (lowest - losses.begin()));
  EXPECT_NEAR(s.best, *lowest, 1e-5 * std::abs(*lowest));
  EXPECT_LT(*lowest, losses.front());  // the task learns, so the first epoch is not the best
  fs::remove_all(dir);
}

// train.val_every: validation after epoch 1, every n-th and the last; other epochs log empty metric fields,
// and a validation monitor chooses among the validated epochs only.
TEST(Trainer, ValEveryValidatesTheFirstEveryNthAndTheLastEpoch) {
  EXPECT_EQ(TrainerOptions::from_config(Config::parse("epochs: 2")).val_every, 1);
  EXPECT_THROW(TrainerOptions::from_config(Config::parse("val_every: 0")), Error);
  TinyTask task;
  task.epochs = 7;
  task.options = TrainerOptions::from_config(Config::parse("val_every: 3"));
  const fs::path dir = test::fresh_path("trainer", "val_every");
  const TrainSummary s = task.trainer(dir).run();
  EXPECT_EQ(s.epochs_run, 7);
  EXPECT_EQ(task.validations, 4);  // epochs 1, 3, 6, 7
  const std::vector<std::vector<std::string>> rows = csv_rows(dir / "metrics.csv");
  ASSERT_EQ(rows.size(), 7u);
  double best = 1e300;
  int64_t best_epoch = 0;
  for (size_t e = 0; e < rows.size(); ++e) {
    ASSERT_EQ(rows[e].size(), 5u) << "epoch,step,train_loss,val_loss,seconds";
    const bool validated = e == 0 || e == 2 || e == 5 || e == 6;
    EXPECT_EQ(rows[e][3].empty(), !validated) << "epoch " << e + 1;
    EXPECT_FALSE(rows[e][2].empty());
    if (validated && std::stod(rows[e][3]) < best) best = std::stod(rows[e][3]), best_epoch = int64_t(e) + 1;
  }
  EXPECT_EQ(s.best_epoch, best_epoch);
  EXPECT_NEAR(s.best, best, 1e-5 * best);
  // A train_loss monitor is still compared every epoch.
  TinyTask by_loss;
  by_loss.epochs = 7;
  by_loss.options = TrainerOptions::from_config(Config::parse("val_every: 3\nmonitor: train_loss"));
  const fs::path dir2 = test::fresh_path("trainer", "val_every_train_loss");
  const TrainSummary s2 = by_loss.trainer(dir2).run();
  const std::vector<std::vector<std::string>> rows2 = csv_rows(dir2 / "metrics.csv");
  ASSERT_EQ(rows2.size(), 7u);
  const auto lowest = std::min_element(rows2.begin(), rows2.end(), [](const auto& a, const auto& b) {
    return std::stod(a[2]) < std::stod(b[2]);
  });
  EXPECT_EQ(s2.best_epoch, 1 + (lowest - rows2.begin()));
  EXPECT_EQ(by_loss.validations, 4);
  fs::remove_all(dir);
  fs::remove_all(dir2);
}

// A loader that keeps the steps waiting gets one note per run to raise data.workers, where the machine has cores
// to spare; none when the workers are enough, the wait is short, or there are no more cores.
TEST(Trainer, SaysOnceToRaiseDataWorkersWhenStepsWaitForData) {
  EXPECT_EQ(data_workers_hint(0.9, 2.0, 2, 2), "");   // as many workers as cores
  EXPECT_EQ(data_workers_hint(0.9, 2.0, 0, 16), "");  // samples made on the training thread
  EXPECT_EQ(data_workers_hint(0.9, 2.0, 2, 16), "");  // under half of the step time
  EXPECT_EQ(data_workers_hint(0.4, 0.5, 2, 16), "");  // too little time to judge
  const std::string hint = data_workers_hint(1.5, 2.0, 2, 16);
  EXPECT_THAT(hint, HasSubstr("75% of their time with data.workers 2 on 16 cores"));
  EXPECT_THAT(hint, HasSubstr("data.workers=16"));
  EXPECT_THAT(data_workers_hint(1.5, 2.0, 2, 64), HasSubstr("data.workers=16"));  // a suggestion within reason
  EXPECT_GE(usable_cores(), 1);

  // Through the trainer: steps of 0.1 s that report 0.09 s of waiting, 12 steps an epoch, 2 epochs.
  const auto run = [](int64_t workers) {
    TrainerOptions o;
    o.epochs = 2;
    o.steps_per_epoch = 12;
    o.progress = false;
    o.monitor = "train_loss";
    o.data_workers = workers;
    const fs::path dir = test::fresh_path("trainer", "workers_hint");
    Trainer t(
        o, dir.string(),
        [](int64_t, int64_t) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          return StepResult{1.0, 1, 0.09};
        },
        [](int64_t) { return std::map<std::string, double>{}; }, [](Checkpoint&) {}, [](const Checkpoint&) {});
    testing::internal::CaptureStderr();
    t.run();
    const std::string err = testing::internal::GetCapturedStderr();
    fs::remove_all(dir);
    return err;
  };
  if (usable_cores() > 1) {
    const std::string err = run(1);
    EXPECT_THAT(err, HasSubstr("raise data.workers"));
    EXPECT_EQ(err.find("raise data.workers"), err.rfind("raise data.workers")) << "said once per run:\n" << err;
  }
  EXPECT_THAT(run(usable_cores()), Not(HasSubstr("data.workers")));
  EXPECT_THAT(run(-1), Not(HasSubstr("data.workers")));  // workers not known
}

TEST(Trainer, InterruptAndResumeMatchAStraightRun) {
  TinyTask straight;
  const fs::path straight_dir = test::fresh_path("trainer", "straight");
  const TrainSummary s = straight.trainer(straight_dir).run();
  EXPECT_EQ(s.steps, 12);
  EXPECT_FALSE(s.interrupted);

  const fs::path dir = test::fresh_path("trainer", "resumed");
  {
    TinyTask first;
    Trainer* self = nullptr;
    Trainer t = first.trainer(dir, [&](int64_t step) {
      if (step == 5) self->request_stop();  // mid-epoch, after epoch 1
    });
    self = &t;
    const TrainSummary r = t.run();
    EXPECT_TRUE(r.interrupted);
    EXPECT_EQ(r.steps, 6);
  }
  TinyTask second;  // a fresh process would start from here
  Trainer t = second.trainer(dir);
  t.resume((dir / "last.safetensors").string());
  const TrainSummary r = t.run();
  EXPECT_EQ(r.steps, 12);
  for (const auto& [n, w] : straight.model->state_dict())
    EXPECT_EQ(w.to_vector<float>(), second.model->state_dict().at(n).to_vector<float>()) << n;

  // metrics.csv: a header and one row per epoch (plain CSV), the same as the straight run's.
  auto read = [](const fs::path& p) {
    std::ifstream f(p);
    std::vector<std::string> lines;
    for (std::string l; std::getline(f, l);) lines.push_back(l.substr(0, l.rfind(',')));  // drop seconds
    return lines;
  };
  const auto a = read(straight_dir / "metrics.csv");
  const auto b = read(dir / "metrics.csv");
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0].rfind("epoch,step,train_loss,", 0), 0u) << b[0];
  EXPECT_EQ(a, b);
  for (const char* f : {"best.safetensors", "last.safetensors", "loss.png"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
}

// A 1x1 convolution + batch norm (parameters and floating-point buffers): x (N, 3, L) -> (N, 2, L).
std::shared_ptr<Sequential> conv_bn(uint64_t seed) {
  manual_seed(seed);
  auto m = std::make_shared<Sequential>();
  m->add(std::make_shared<Conv1d>(3, 2, 1)).add(std::make_shared<BatchNorm>(1, 2));
  return m;
}

TEST(WeightAverage, StartsAsACopyAndFoldsInWithTheRampedDecay) {
  auto trained = conv_bn(1);
  WeightAverage avg(*trained, conv_bn(2), 0.9);
  const auto t0 = trained->state_dict(), a0 = avg.model().state_dict();
  ASSERT_EQ(t0.size(), 6u);  // conv weight and bias; batch norm weight, bias, running mean and variance
  for (const auto& [n, w] : t0) EXPECT_EQ(w.to_vector<float>(), a0.at(n).to_vector<float>()) << n;
  EXPECT_FALSE(avg.model().training());

  // The decay ramps as (1 + t) / (10 + t) up to its cap.
  EXPECT_DOUBLE_EQ(avg.decay_at(1), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(avg.decay_at(80), 0.9);
  // A step that moves every trained entry by +1: after update(t), a = d a0 + (1 - d) (a0 + 1) = a0 + 1 - d.
  {
    NoGradGuard no_grad;
    for (auto& [n, w] : trained->state_dict()) Tensor(w).copy_(add(w, 1.0));
  }
  for (int64_t t : {1, 500}) {
    const auto before = avg.model().state_dict();
    std::map<std::string, std::vector<float>> b;
    for (const auto& [n, w] : before) b[n] = w.to_vector<float>();
    avg.update(t);
    const auto cur = trained->state_dict();
    const double d = avg.decay_at(t);
    for (const auto& [n, w] : avg.model().state_dict()) {
      const std::vector<float> got = w.to_vector<float>(), tr = cur.at(n).to_vector<float>();
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], d * b[n][i] + (1 - d) * tr[i], 1e-6) << n;
    }
  }
  EXPECT_FALSE(avg.model().parameters()[0].requires_grad());
}

TEST(WeightAverage, RejectsADifferentArchitectureAndABadDecay) {
  auto trained = conv_bn(1);
  auto other = std::make_shared<Sequential>();
  other->add(std::make_shared<Conv1d>(3, 4, 1)).add(std::make_shared<BatchNorm>(1, 4));
  EXPECT_THAT([&] { WeightAverage(*trained, other, 0.9); },
              ::testing::ThrowsMessage<Error>(HasSubstr("not the trained model's architecture: parameter '0.weight' differs")));
  EXPECT_THROW(WeightAverage(*trained, conv_bn(2), 1.0), Error);
  EXPECT_THROW(WeightAverage(*trained, conv_bn(2), 0.0), Error);
}

TEST(WeightAverage, CheckpointsHoldTheAverageAsModelAndResumeRestoresBoth) {
  auto trained = conv_bn(1);
  const Config oc = Config::parse("type: adam\nlr: 0.1\n", "o.yaml");
  auto opt = make_optimizer(oc, trained->named_parameters(), 10);
  WeightAverage avg(*trained, conv_bn(2), 0.5);
  for (int step = 0; step < 3; ++step) {
    Generator data{uint64_t(step)};
    opt->zero_grad();
    const Tensor x = Tensor::randn({8, 3, 5}, DType::f32, &data);
    mse_loss((*trained)(x), Tensor::zeros({8, 2, 5})).backward();
    opt->step();
    avg.update(opt->steps());
  }
  Checkpoint ck;
  save_model_state(*trained, *opt, "test.config", "x", &avg)(ck);
  const auto trained_w = trained->state_dict().at("0.weight").to_vector<float>();
  const auto avg_w = avg.model().state_dict().at("0.weight").to_vector<float>();
  ASSERT_NE(trained_w, avg_w);
  // "model." (what eval and predict load) is the average; "trained_model." the trained weights.
  auto as_model = conv_bn(5), as_trained = conv_bn(6);
  ck.restore_module("model.", *as_model);
  ck.restore_module("trained_model.", *as_trained);
  EXPECT_EQ(as_model->state_dict().at("0.weight").to_vector<float>(), avg_w);
  EXPECT_EQ(as_trained->state_dict().at("0.weight").to_vector<float>(), trained_w);

  auto trained2 = conv_bn(3);
  auto opt2 = make_optimizer(oc, trained2->named_parameters(), 10);
  WeightAverage avg2(*trained2, conv_bn(4), 0.5);
  load_model_state(*trained2, *opt2, &avg2)(ck);
  EXPECT_EQ(trained2->state_dict().at("0.weight").to_vector<float>(), trained_w);
  EXPECT_EQ(avg2.model().state_dict().at("0.weight").to_vector<float>(), avg_w);
  EXPECT_EQ(opt2->steps(), 3);
}

TEST(Trainer, CtrlCSavesAndStopsCleanly) {
  const fs::path dir = test::fresh_path("trainer", "sigint");
  TinyTask task;
  Trainer t = task.trainer(dir, [](int64_t step) {
    if (step == 2) std::raise(SIGINT);
  });
  const TrainSummary r = t.run();
  EXPECT_TRUE(r.interrupted);
  EXPECT_EQ(r.steps, 3);
  const Checkpoint ck = Checkpoint::load((dir / "last.safetensors").string());
  EXPECT_EQ(ck.get_int("trainer.batch"), 3);
  EXPECT_EQ(ck.get_int("trainer.epoch"), 0);
  EXPECT_EQ(std::signal(SIGINT, SIG_DFL), SIG_DFL);  // the handler was removed again
}

AppSpec test_spec() {
  AppSpec s;
  s.name = "app";
  s.summary = "a test app";
  s.commands = {train_command_spec("trains"), eval_command_spec("scores", "labelled data"),
                predict_command_spec("predicts", "input", "output")};
  s.footer = "config keys: docs/app.md";
  return s;
}

AppArgs parse(std::vector<const char*> args) {
  args.insert(args.begin(), "app");
  return parse_app_args(int(args.size()), const_cast<char**>(args.data()), test_spec());
}

std::string parse_error(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Cli, ParsesCommandsFlagsAndOverrides) {
  const AppArgs a = parse({"train", "--config", "c.yaml", "train.lr=0.1", "--out", "runs/x", "--force"});
  EXPECT_EQ(a.command, "train");
  EXPECT_EQ(a.config, "c.yaml");
  EXPECT_EQ(a.out, "runs/x");
  EXPECT_TRUE(a.force);
  EXPECT_EQ(a.overrides, std::vector<std::string>{"train.lr=0.1"});
  EXPECT_THAT(parse_error({"predict", "--checkpoint", "b.safetensors", "--colour"}),
              HasSubstr("'--colour' is not a flag of predict"));
  EXPECT_THAT(parse_error({"predict", "--checkpoint", "b.safetensors"}), HasSubstr("predict needs --input"));
}

TEST(Cli, FlagValuesAfterAnEqualsSign) {
  const AppArgs a = parse({"train", "--config=c.yaml", "--out=runs/a=b", "train.lr=0.1", "--force"});
  EXPECT_EQ(a.config, "c.yaml");
  EXPECT_EQ(a.out, "runs/a=b");  // the first '=' separates
  EXPECT_EQ(a.overrides, std::vector<std::string>{"train.lr=0.1"});
  EXPECT_THAT(parse_error({"train", "--config=c.yaml", "--force=yes"}), HasSubstr("--force takes no value"));
  EXPECT_THAT(parse_error({"train", "--config="}), HasSubstr("--config= has an empty value"));
  EXPECT_THAT(parse_error({"train", "--config=c.yaml", "--colour=red"}), HasSubstr("'--colour' is not a flag"));
}

TEST(Cli, VersionNamesTheBuild) {
  EXPECT_TRUE(parse({"--version"}).version);
  EXPECT_THAT(build_description(), HasSubstr(std::string("strata ") + strata_version() + " (commit "));
  EXPECT_THAT(build_description(), HasSubstr("CUDA backend"));
}

TEST(Cli, FlagsOfAnotherCommandAreErrors) {
  // eval --input used to be ignored, and eval scored the config's data instead.
  EXPECT_THAT(parse_error({"eval", "--checkpoint", "b.safetensors", "--input", "x.csv"}),
              HasSubstr("'--input' is not a flag of eval (it belongs to: predict)"));
  EXPECT_THAT(parse_error({"train", "--config", "c.yaml", "--output", "o"}), HasSubstr("not a flag of train"));
  EXPECT_THAT(parse_error({"train", "--config", "c.yaml", "--config", "d.yaml"}), HasSubstr("--config is given twice"));
  EXPECT_THAT(parse_error({"train", "--config"}), HasSubstr("--config needs a value"));
  EXPECT_THAT(parse_error({"train", "--config", "c.yaml", "stray"}), HasSubstr("unexpected argument 'stray'"));
  EXPECT_THAT(parse_error({"train", "--config", "c.yaml", "--resume", "l.safetensors", "--force"}),
              HasSubstr("contradict"));
  EXPECT_THAT(parse_error({"fit"}), HasSubstr("unknown command 'fit'"));
}

TEST(Cli, TyposOfFlagsAndCommandsNameTheNearestOne) {
  EXPECT_THAT(parse_error({"train", "--confg", "c.yaml"}),
              HasSubstr("'--confg' is not a flag of train (did you mean --config?)"));
  EXPECT_THAT(parse_error({"predict", "--checkpoint", "b.safetensors", "--inptu", "x"}),
              HasSubstr("(did you mean --input?)"));
  EXPECT_THAT(parse_error({"trian"}), HasSubstr("unknown command 'trian' (did you mean 'train'?)"));
  EXPECT_THAT(parse_error({"fit"}), Not(HasSubstr("did you mean")));
  EXPECT_THAT(parse_error({"train", "--colour"}), Not(HasSubstr("did you mean")));
}

int body_that_fails(const AppArgs&) { throw Error("the data is unreadable"); }
int body_that_succeeds(const AppArgs&) { return 0; }

int run_with(std::vector<const char*> args, int (*body)(const AppArgs&)) {
  args.insert(args.begin(), "app");
  return run_app(test_spec(), body, int(args.size()), const_cast<char**>(args.data()));
}

TEST(Cli, UsageErrorsExitWith2AndOtherErrorsWith1) {
  // argparse's and click's convention: 2 for a command line that does not fit, 1 for a failure of the work.
  EXPECT_THROW(parse({"predict", "--checkpoint", "b.safetensors", "--colour"}), UsageError);
  EXPECT_EQ(run_with({"predict", "--checkpoint", "b.safetensors", "--colour"}, body_that_succeeds), 2);
  EXPECT_EQ(run_with({"fit"}, body_that_succeeds), 2);
  EXPECT_EQ(run_with({"train", "--config", "c.yaml"}, body_that_fails), 1);
  EXPECT_EQ(run_with({"train", "--config", "c.yaml"}, body_that_succeeds), 0);
  EXPECT_EQ(run_with({"--help"}, body_that_fails), 0);
  // An override the command does not read is a usage error too.
  const Config cfg = Config::parse("inference: {window: 3}\n");
  cfg.section("inference").get_int("window", 1);
  EXPECT_THROW(check_overrides_read(cfg, {"train.epochs=3"}, "predict"), UsageError);
}

TEST(Cli, EmptyOverrideValueIsAnError) {
  EXPECT_THAT(parse_error({"train", "--config", "c.yaml", "train.epochs="}), HasSubstr("empty value"));
  EXPECT_THAT(parse_error({"train", "--config", "c.yaml", "=3"}), HasSubstr("no key before '='"));
}

TEST(Cli, HelpForTheAppAndEachCommand) {
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_TRUE(parse({"-h"}).help);
  const AppArgs c = parse({"predict", "--help"});
  EXPECT_TRUE(c.help);
  EXPECT_EQ(c.command, "predict");
  const std::string all = test_spec().usage();
  EXPECT_THAT(all, HasSubstr("app train [--config FILE]"));
  EXPECT_THAT(all, HasSubstr("app predict --checkpoint FILE --input PATH --output PATH"));
  EXPECT_THAT(all, HasSubstr("docs/app.md"));
  const std::string one = test_spec().usage("eval");
  EXPECT_THAT(one, HasSubstr("--data PATH"));
  EXPECT_THAT(one, HasSubstr("(required)"));
  EXPECT_THAT(one, Not(HasSubstr("--input")));
  // Each flag's help, and the overrides', starts in one column.
  const std::string train = test_spec().usage("train");
  std::istringstream flags(train.substr(train.find("flags:\n") + 7));
  int lines = 0;
  for (std::string l; std::getline(flags, l) && !l.empty(); ++lines)
    EXPECT_EQ(l.find_first_not_of(' ', l.find("  ", 2)), 26u) << l;
  EXPECT_EQ(lines, 5);  // --config, --out, --resume, --force, key.sub=value
}

TEST(Cli, OverridesMustBeReadByTheCommand) {
  Config cfg = Config::parse("data: {path: a.csv}\ntrain: {epochs: 3}\n");
  cfg.apply_overrides({"data.path=b.csv", "train.epochs=5"});
  cfg.section("data").get_string("path", "");
  EXPECT_NO_THROW(check_overrides_read(cfg, {"data.path=b.csv"}, "predict"));
  try {
    check_overrides_read(cfg, {"data.path=b.csv", "train.epochs=5"}, "predict");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("predict does not use the key train.epochs"));
  }
}

TEST(Cli, RunFolderOfAFinishedRunIsNotOverwritten) {
  const fs::path dir = fs::temp_directory_path() / "strata_cli_run_dir";
  fs::remove_all(dir);
  AppArgs a;
  a.command = "train";
  EXPECT_NO_THROW(prepare_run_dir(dir.string(), a));  // absent: created
  EXPECT_TRUE(fs::is_directory(dir));
  std::ofstream(dir / "metrics.csv") << "epoch,step,train_loss,seconds\n";
  std::ofstream(dir / "best.safetensors") << "x";
  try {
    prepare_run_dir(dir.string(), a);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("holds a previous run (best.safetensors, metrics.csv)"));
    EXPECT_THAT(e.what(), HasSubstr("--force"));
  }
  EXPECT_TRUE(fs::exists(dir / "best.safetensors"));
  a.resume = (dir / "last.safetensors").string();
  EXPECT_NO_THROW(prepare_run_dir(dir.string(), a));  // --resume continues it
  a.resume.clear();
  a.force = true;
  const fs::path aside = dir.parent_path() / ".strata_cli_run_dir.replaced";
  EXPECT_NO_THROW(prepare_run_dir(dir.string(), a));  // --force sets it aside ...
  EXPECT_FALSE(fs::exists(dir / "metrics.csv"));
  EXPECT_TRUE(fs::exists(aside / "best.safetensors"));
  restore_run_dir();  // ... puts it back when the new run fails before its first checkpoint ...
  EXPECT_TRUE(fs::exists(dir / "best.safetensors"));
  EXPECT_FALSE(fs::exists(aside));
  EXPECT_NO_THROW(prepare_run_dir(dir.string(), a));
  commit_run_dir();  // ... and deletes it once the new run has one
  EXPECT_FALSE(fs::exists(aside));
  EXPECT_FALSE(fs::exists(dir / "best.safetensors"));
  std::ofstream(dir / "file") << "x";
  EXPECT_THROW(prepare_run_dir((dir / "file").string(), a), Error);
  fs::remove_all(dir);
}

TEST(Cli, RunFolderNeverTakesFilesStrataDidNotWrite) {
  const fs::path dir = fs::temp_directory_path() / "strata_cli_users_dir";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "config.yaml") << "mine: 1\n";
  AppArgs a;
  a.command = "train";
  for (const bool force : {false, true}) {
    a.force = force;
    try {
      prepare_run_dir(dir.string(), a);
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("is not empty (config.yaml) and was not written by strata train"));
    }
  }
  // --resume of a run elsewhere into it: refused too.
  a.force = false;
  a.resume = (fs::temp_directory_path() / "elsewhere" / "last.safetensors").string();
  EXPECT_THROW(prepare_run_dir(dir.string(), a), Error);
  fs::remove_all(dir);
}

TEST(Cli, TrainRunFolderOfAResumeIsTheCheckpointsFolder) {
  AppArgs a;
  a.command = "train";
  a.resume = "runs/exp/last.safetensors";
  EXPECT_EQ(train_run_dir(a, "config"), "runs/exp");
  a.resume = "last.safetensors";
  EXPECT_EQ(train_run_dir(a, "config"), ".");
  a.out = "elsewhere";
  EXPECT_EQ(train_run_dir(a, "config"), "elsewhere");
  a = AppArgs{};
  EXPECT_EQ(train_run_dir(a, "segment_membrane"), "runs/segment_membrane");
}
