// The apps' driver (apps/common/driver.h) with a task of its own: points in the plane, labelled by which side of
// a line they lie, and a linear model. Checks what train_task promises every app: the run folder and its files,
// the task's default monitor recorded in the config, the task's hooks called in order, Ctrl-C and --resume
// giving the weights of an uninterrupted run, errors before any file, and load_trained's round trip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "apps/common/driver.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "tests/test_util.h"

using namespace strata;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

// x: (x0, x1) uniform in [-1, 1]^2; label 1 where x0 + 0.5 x1 > 0.1.
class LineTask : public Task {
 public:
  int64_t interrupt_at_step = -1;  // raise SIGINT (as Ctrl-C would) during this step
  int64_t steps = 0, validations = 0, finishes = 0, started = 0;
  bool fail_in_prepare = false;

  std::string app() const override { return "strata-line"; }
  std::string config_entry() const override { return "line.config"; }
  std::string default_monitor() const override { return "val_accuracy"; }

  TrainingPlan prepare(Config& cfg) override {
    STRATA_CHECK(!fail_in_prepare, "line: the data is unreadable");
    const Config data = cfg.section("data");
    TrainingPlan plan;
    plan.size = data.get_int("points", 64, Bounds::at_least(1));
    plan.batch = cfg.section("train").get_int("batch", 8, Bounds::at_least(1));
    plan.seed = uint64_t(cfg.section("train").get_int("seed", 1, Bounds::at_least(0)));
    plan.workers = 0;
    points_ = make_points(plan.size, 7);
    val_ = make_points(32, 8);
    return plan;
  }

  void start(const std::string& out, const Module& model, Device) override {
    EXPECT_TRUE(fs::is_regular_file(fs::path(out) / "config.yaml")) << "start() comes after the run folder";
    ++started;
    start_weights.clear();
    for (const auto& [name, p] : model.named_parameters()) {
      const std::vector<float> v = p.to_vector<float>();
      start_weights.insert(start_weights.end(), v.begin(), v.end());
    }
  }
  std::vector<float> start_weights;  // the model's parameters when training starts

  Sample sample(int64_t index, std::mt19937_64&) const override { return points_[size_t(index)]; }

  Tensor loss(Module& model, std::vector<Sample> batch, Device device) override {
    if (steps++ == interrupt_at_step) std::raise(SIGINT);
    Tensor x, y;
    stack(batch, x, y);
    return bce_with_logits(model(x.to(device)), y.to(device));
  }

  std::map<std::string, double> validate(Module& model, int64_t, const std::string&) override {
    EXPECT_FALSE(model.training()) << "validation sees the model in eval mode";
    ++validations;
    return {{"val_accuracy", accuracy(model, val_)}};
  }

  void decorate_best(Checkpoint& ck) override { ck.set("line.validations", std::to_string(validations)); }

  void finish(const std::string& out, Module& best, Checkpoint& best_ck) override {
    ++finishes;
    best_ck.set("line.final_accuracy", std::to_string(accuracy(best, val_)));
  }

  double val_accuracy(Module& model) const { return accuracy(model, val_); }

  double accuracy(Module& model, const std::vector<Sample>& set) const {
    NoGradGuard no_grad;
    Tensor x, y;
    stack(set, x, y);
    const std::vector<float> logit = model(x).to_vector<float>(), label = y.to_vector<float>();
    double right = 0;
    for (size_t i = 0; i < logit.size(); ++i) right += (logit[i] > 0) == (label[i] > 0.5f);
    return right / double(logit.size());
  }

 private:
  static std::vector<Sample> make_points(int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<Sample> s;
    for (int64_t i = 0; i < n; ++i) {
      const float a = u(rng), b = u(rng);
      s.push_back(Sample{Image{2, 1, 1, {a, b}}, LabelMap{1, 1, {a + 0.5f * b > 0.1f ? 1 : 0}}});
    }
    return s;
  }
  // x: (N, 2); y: (N, 1)
  static void stack(const std::vector<Sample>& batch, Tensor& x, Tensor& y) {
    std::vector<float> xv, yv;
    for (const Sample& s : batch) {
      xv.insert(xv.end(), s.image.data.begin(), s.image.data.end());
      yv.push_back(float(s.mask.data[0]));
    }
    const int64_t n = int64_t(batch.size());
    x = Tensor::from_vector(xv, {n, 2});
    y = Tensor::from_vector(yv, {n, 1});
  }
  std::vector<Sample> points_, val_;
};

AppArgs train_args(const fs::path& dir, const std::string& extra_yaml = "") {
  fs::create_directories(dir);
  const fs::path cfg = dir / "line.yaml";
  std::ofstream(cfg) << "model: {type: linear, in_features: 2, out_features: 1}\n"
                        "optimizer: {type: sgd, lr: 0.5}\n"
                        "train: {epochs: 4, batch: 8, progress: false}\n"
                        "data: {points: 64}\n"
                     << extra_yaml;
  AppArgs a;
  a.command = "train";
  a.config = cfg.string();
  a.out = (dir / "run").string();
  return a;
}

std::vector<float> weights_of(const fs::path& checkpoint, const std::string& prefix = "model.") {
  const Checkpoint ck = Checkpoint::load(checkpoint.string());
  std::vector<float> w;
  for (const auto& [name, t] : ck.tensors)
    if (name.rfind(prefix, 0) == 0) {
      const std::vector<float> v = t.to_vector<float>();
      w.insert(w.end(), v.begin(), v.end());
    }
  return w;
}

}  // namespace

TEST(Driver, TrainsATaskIntoARunFolderWithItsMonitorAndReport) {
  const fs::path d = test::fresh_path("driver", "train");
  LineTask task;
  ASSERT_EQ(train_task(task, train_args(d)), 0);
  const fs::path run = d / "run";
  for (const char* f : {"best.safetensors", "last.safetensors", "metrics.csv", "config.yaml", ".strata-run"})
    EXPECT_TRUE(fs::exists(run / f)) << f;
  EXPECT_EQ(task.started, 1);
  EXPECT_EQ(task.validations, 4);
  EXPECT_EQ(task.finishes, 1);
  EXPECT_EQ(task.steps, 4 * 8);  // 64 points in batches of 8, 4 epochs
  // The task's default monitor is recorded in the run's config and picked best.safetensors.
  const Config saved = Config::load((run / "config.yaml").string());
  EXPECT_EQ(saved.section("train").get_string("monitor", ""), "val_accuracy");
  const Checkpoint best = Checkpoint::load((run / "best.safetensors").string());
  EXPECT_TRUE(best.has("line.config"));
  EXPECT_TRUE(best.has("line.validations"));  // decorate_best, at the validation that made it best
  ASSERT_TRUE(best.has("line.final_accuracy"));  // finish(), saved into best.safetensors
  EXPECT_GE(best.get_double("line.final_accuracy"), 0.9) << "a linear model separates a line";

  // load_trained: the best model from the checkpoint alone, in eval mode, scoring what finish() scored.
  TrainedModel t = load_trained((run / "best.safetensors").string(), "strata-line", "line.config", {});
  EXPECT_FALSE(t.model->training());
  EXPECT_EQ(std::to_string(task.val_accuracy(*t.model)), best.get("line.final_accuracy"));
  const std::string line_checkpoint = (run / "best.safetensors").string();
  EXPECT_THAT(test::error_of([&] { load_trained(line_checkpoint, "strata-other", "other.config", {}); }),
              HasSubstr("a strata-line checkpoint, not a strata-other one (run it with strata-line)"));
  // A checkpoint of no app (a module's weights alone) says which entry it lacks.
  const std::string bare_path = (d / "bare.safetensors").string();
  Checkpoint().save(bare_path);
  EXPECT_THAT(test::error_of([&] { load_trained(bare_path, "strata-other", "other.config", {}); }),
              HasSubstr("not a strata-other checkpoint (no other.config entry)"));
  fs::remove_all(d);
}

TEST(Driver, InterruptedAndResumedRunEndsWithTheWeightsOfAStraightOne) {
  const fs::path d = test::fresh_path("driver", "resume");
  LineTask straight;
  ASSERT_EQ(train_task(straight, train_args(d / "a")), 0);

  LineTask first;
  first.interrupt_at_step = 13;  // in epoch 2: the step finishes, last.safetensors records the position
  const AppArgs b = train_args(d / "b");
  ASSERT_EQ(train_task(first, b), 130);
  EXPECT_EQ(first.finishes, 0) << "no report for an interrupted run";
  LineTask second;
  AppArgs resume = b;
  resume.resume = (fs::path(b.out) / "last.safetensors").string();
  ASSERT_EQ(train_task(second, resume), 0);
  EXPECT_EQ(first.steps + second.steps, straight.steps);
  EXPECT_EQ(weights_of(d / "a" / "run" / "last.safetensors"), weights_of(d / "b" / "run" / "last.safetensors"));
  EXPECT_EQ(weights_of(d / "a" / "run" / "best.safetensors"), weights_of(d / "b" / "run" / "best.safetensors"));
  fs::remove_all(d);
}

TEST(Driver, ErrorsComeBeforeAnyFileOfTheRun) {
  const fs::path d = test::fresh_path("driver", "errors");
  {
    LineTask task;
    task.fail_in_prepare = true;
    EXPECT_THROW(train_task(task, train_args(d / "data")), Error);
    EXPECT_FALSE(fs::exists(d / "data" / "run"));
  }
  {
    LineTask task;  // an unknown key is found before the run folder is made
    EXPECT_THROW(train_task(task, train_args(d / "key", "trian: {epochs: 2}\n")), Error);
    EXPECT_FALSE(fs::exists(d / "key" / "run"));
    EXPECT_EQ(task.started, 0);
  }
  {
    LineTask task;  // model.encoder_weights names weights for a model without a separate encoder
    AppArgs with = train_args(d / "weights");
    with.overrides = {"model.encoder_weights=w.safetensors"};
    EXPECT_THROW(train_task(task, with), Error);
    EXPECT_FALSE(fs::exists(d / "weights" / "run"));
  }
  fs::remove_all(d);
}

namespace {

// The trained half of LineTask: records what the driver calls, in order.
class TrainedLine : public TrainedTask {
 public:
  std::vector<std::string> calls;
  std::string eval_out;

  const Config& load(const std::string& checkpoint, const std::vector<std::string>& overrides) override {
    calls.push_back("load");
    t_.emplace(load_trained(checkpoint, "strata-line", "line.config", overrides));
    return t_->cfg;
  }
  void prepare(const std::string& command, const AppArgs&) override {
    calls.push_back("prepare " + command);
    t_->cfg.section("data").get_int("points", 64, Bounds::at_least(1));  // what an app reads for its data
  }
  void to(Device) override { calls.push_back("to"); }
  void evaluate(const std::string& out, const AppArgs&) override {
    calls.push_back("evaluate");
    EXPECT_TRUE(fs::is_directory(out)) << "the driver makes eval's folder";
    eval_out = out;
  }
  void predict(const AppArgs&) override { calls.push_back("predict"); }
  AppExport export_graph() override {
    calls.push_back("export_graph");
    AppExport e;
    e.model = t_->model.get();
    e.example = Tensor::rand({3, 2});
    e.graph = [this](const Tensor& x) { return std::vector<Tensor>{sigmoid((*t_->model)(x))}; };
    e.onnx.input_name = "points";
    e.onnx.output_names = {"probability"};
    return e;
  }

 private:
  std::optional<TrainedModel> t_;
};

}  // namespace

TEST(Driver, EvalPredictAndExportRunTheTrainedTaskInOrder) {
  const fs::path d = test::fresh_path("driver", "trained");
  LineTask task;
  ASSERT_EQ(train_task(task, train_args(d)), 0);
  AppArgs a;
  a.checkpoint = (d / "run" / "best.safetensors").string();
  a.overrides = {"data.points=10"};

  TrainedLine eval;
  a.command = "eval";
  ASSERT_EQ(eval_task(eval, a), 0);
  EXPECT_EQ(eval.calls, (std::vector<std::string>{"load", "prepare eval", "to", "evaluate"}));
  EXPECT_EQ(fs::path(eval.eval_out), d / "run" / "eval") << "default: beside the checkpoint";

  TrainedLine predict;
  a.command = "predict";
  ASSERT_EQ(predict_task(predict, a), 0);
  EXPECT_EQ(predict.calls, (std::vector<std::string>{"load", "prepare predict", "to", "predict"}));

  TrainedLine exported;
  a.command = "export";
  a.output = (d / "line.safetensors").string();
  a.values["--format"] = "safetensors";
  ASSERT_EQ(export_task(exported, "strata-line", a), 0);
  EXPECT_EQ(exported.calls, (std::vector<std::string>{"load", "prepare export", "export_graph"}));
  EXPECT_TRUE(fs::exists(d / "line.safetensors"));

  // An override no step reads is a mistyped key: an error before anything is scored or written.
  TrainedLine typo;
  a.command = "eval";
  a.overrides = {"data.pionts=10"};
  EXPECT_THROW(eval_task(typo, a), Error);
  EXPECT_EQ(typo.calls, (std::vector<std::string>{"load", "prepare eval"}));
  fs::remove_all(d);
}

TEST(Driver, InitFromStartsTrainingFromATrainedModel) {
  const fs::path d = test::fresh_path("driver", "init_from");
  LineTask first;
  ASSERT_EQ(train_task(first, train_args(d / "a")), 0);
  const fs::path trained = d / "a" / "run" / "best.safetensors";
  // The second run starts from exactly the first one's best weights.
  LineTask second;
  AppArgs b = train_args(d / "b");
  b.overrides = {"model.init_from=" + trained.string()};
  ASSERT_EQ(train_task(second, b), 0);
  const auto sorted = [](std::vector<float> v) {  // parameter order against the checkpoint's name order
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(second.start_weights), sorted(weights_of(trained)));
  EXPECT_NE(sorted(first.start_weights), sorted(weights_of(trained)));
  // A model of another shape: an error naming the tensor, before any file of the run.
  LineTask third;
  AppArgs c = train_args(d / "c");
  c.overrides = {"model.init_from=" + trained.string(), "model.in_features=3"};
  EXPECT_THROW(train_task(third, c), Error);
  EXPECT_FALSE(fs::exists(d / "c" / "run"));
  fs::remove_all(d);
}
