#include "apps/common/driver.h"

#include <cstdio>
#include <filesystem>

#include "apps/common/figure.h"
#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/random.h"
#include "layers/graphed_step.h"
#include "layers/optimizer.h"
#include "layers/weight_average.h"
#include "models/encoder_unet.h"

namespace fs = std::filesystem;

namespace strata {

ModulePtr Task::build_model(const Config& model_cfg) const { return build_module(model_cfg); }

std::vector<int64_t> Task::epoch_order(int64_t epoch, const TrainingPlan& plan) const {
  return shuffled_epoch(plan.seed, epoch, plan.size, plan.samples_per_epoch);
}

void apply_figure_formats(const Config& cfg) {
  set_figure_formats(cfg.section("report").get_string_list("formats", {"png"}));
}

Config read_train_config(const AppArgs& a) {
  STRATA_CHECK(!a.config.empty(), "train needs --config FILE");
  Config cfg = Config::load(a.config);
  cfg.apply_overrides(a.overrides);
  apply_figure_formats(cfg);
  return cfg;
}

TrainerOptions train_options(const Config& cfg, const std::string& default_monitor, int64_t default_epochs) {
  Config train = cfg.section("train");
  if (!train.has("monitor")) train.set("monitor", default_monitor);
  return TrainerOptions::from_config(train, default_epochs);
}

ModulePtr build_for_training(const Task& task, const Config& model_cfg, Device device) {
  ModulePtr model = task.build_model(model_cfg);
  load_pretrained_weights(model_cfg, *model);
  // model.init_from: every weight from a trained model of the same architecture (a run's best.safetensors, a zoo
  // file), to fine-tune it on new data; a missing or differently shaped tensor is an error naming it.
  if (model_cfg.has("init_from")) {
    const std::string from = model_cfg.get_string("init_from", "");
    if (!from.empty()) {
      Checkpoint::load(from).restore_module("model.", *model);
      std::fprintf(stderr, "%s: model weights from %s (model.init_from)\n", task.app().c_str(), from.c_str());
    }
  }
  model->to(device);
  return model;
}

std::string open_run(const Config& cfg, const std::string& run_dir, const AppArgs& a) {
  cfg.check_unknown_keys();
  const std::string out = prepare_run_dir(run_dir, a);  // rank 0: run_dir; other ranks: a scratch folder
  cfg.save((fs::path(out) / "config.yaml").string(),
           str_cat("strata ", strata_version(), " (commit ", strata_commit(), "); metrics.csv format ",
                   kMetricsFormat, ": epoch,step,train_loss,<validation metrics>,seconds"));
  return out;
}

bool Task::graph_ready(std::string* why_not) const {
  if (why_not) *why_not = "this app's training step is not written for a CUDA graph";
  return false;
}

std::vector<Tensor> Task::graph_batch(std::vector<Sample>) {
  STRATA_FAIL(app(), ": graph_batch is not implemented");
}

Tensor Task::graph_loss(Module&, const std::vector<Tensor>&) { STRATA_FAIL(app(), ": graph_loss is not implemented"); }

int train_task(Task& task, const AppArgs& a) {
  Config cfg = read_train_config(a);
  const std::string run_dir = train_run_dir(a, fs::path(a.config).stem().string());
  TrainingPlan plan = task.prepare(cfg);
  if (plan.samples_per_epoch <= 0) plan.samples_per_epoch = plan.size;
  STRATA_CHECK(plan.size > 0, cfg.origin(), ": no training samples");

  const Config train = cfg.section("train");
  TrainerOptions topt = train_options(cfg, task.default_monitor());
  topt.steps_per_epoch = dist::global_steps(plan.samples_per_epoch, plan.batch);  // global batches (batch per rank)
  topt.data_workers = plan.workers;
  const Device device = train_device(train);
  const bool cuda_graph = train.get_bool("cuda_graph", false);
  if (cuda_graph) {
#if !defined(STRATA_WITH_CUDA)
    STRATA_FAIL(train.key_path("cuda_graph"), " needs a CUDA build of strata (STRATA_CUDA=ON)");
#endif
    STRATA_CHECK(device.is_cuda(), train.key_path("cuda_graph"), " records the training step on the GPU: it needs ",
                 train.key_path("device"), ": cuda");
    STRATA_CHECK(dist::size() == 1, train.key_path("cuda_graph"),
                 " is for one process: a data-parallel step exchanges gradients between processes");
    std::string why;
    STRATA_CHECK(task.graph_ready(&why), train.key_path("cuda_graph"), ": ", why);
  }

  manual_seed(plan.seed);
  const ModulePtr model = build_for_training(task, cfg.section("model"), device);
  auto opt = make_optimizer(cfg.section("optimizer"), model->named_parameters(), topt.epochs * topt.steps_per_epoch);
  // train.ema: validation, checkpoints and eval / predict use the average.
  const auto average = WeightAverage::from_config(train, *model, [&] { return task.build_model(cfg.section("model")); });
  Module& predictor = average ? average->model() : *model;

  const std::string out = open_run(cfg, run_dir, a);
  task.start(out, *model, device);

  Loader loader([&](int64_t epoch) { return task.epoch_order(epoch, plan); },
                [&](int64_t index, std::mt19937_64& rng) { return task.sample(index, rng); }, plan.batch, plan.seed,
                plan.workers, plan.prefetch);
  OneModelLearner learner(
      *model, *opt, average.get(), loader,
      [&](Module& m, std::vector<Sample> batch, int64_t, int64_t) { return task.loss(m, std::move(batch), device); },
      task.config_entry(), cfg.dump());
  if (cuda_graph) learner.use_cuda_graph(task, device);
  const TrainSummary summary = fit(
      learner, topt, out,
      [&](int64_t epoch) {
        predictor.eval();
        std::map<std::string, double> m;
        {
          InferenceMode inference;  // the weights stay as they are until the next step
          m = task.validate(predictor, epoch, out);
        }
        model->train();
        return m;
      },
      a.resume, [&](Checkpoint& ck) { task.decorate_best(ck); });
  if (cuda_graph)
    std::fprintf(stderr, "%s: %lld training steps replayed from a CUDA graph (train.cuda_graph)\n",
                 task.app().c_str(), static_cast<long long>(learner.replayed_steps()));
  if (summary.interrupted) return 130;
  print_train_summary(task.app(), summary, topt.monitor);

  const std::string best_path = (fs::path(out) / "best.safetensors").string();
  Checkpoint best_ck = Checkpoint::load(best_path);
  best_ck.restore_module("model.", *model);
  model->eval();
  const auto entries = best_ck.metadata;
  {
    InferenceMode inference;
    task.finish(out, *model, best_ck);
  }
  if (best_ck.metadata != entries) best_ck.save(best_path);
  return 0;
}

OneModelLearner::OneModelLearner(Module& model, Optimizer& optimizer, WeightAverage* average, Loader& loader,
                                 LossFn loss, std::string config_key, std::string config_text)
    : model_(model),
      optimizer_(optimizer),
      average_(average),
      loader_(loader),
      loss_(std::move(loss)),
      save_(save_model_state(model, optimizer, std::move(config_key), std::move(config_text), average)),
      load_(load_model_state(model, optimizer, average)) {}

StepResult OneModelLearner::step(int64_t epoch, int64_t index) {
  double wait = 0;
  std::vector<Sample> batch = loader_.batch(epoch, index, &wait);
  const int64_t n = int64_t(batch.size());
  model_.train();
  if (graph_) return graphed_step(std::move(batch), wait);
  optimizer_.zero_grad();
  const Tensor l = loss_(model_, std::move(batch), epoch, index);
  l.backward();
  optimizer_.step();
  if (average_) average_->update(optimizer_.steps());
  return StepResult{l.item<float>(), n, wait};
}

struct OneModelLearner::Graphed {
  Task& task;
  Device device;
  std::vector<Tensor> inputs;  // on the device; each step's batch is copied into them
  Tensor loss;                 // the recorded step's loss
  std::unique_ptr<GraphedStep> step;
  bool warmed_up = false;      // the first step ran (eagerly)
  bool eager_only = false;     // the step could not be recorded
  int64_t replayed = 0;
};

OneModelLearner::~OneModelLearner() = default;

void OneModelLearner::use_cuda_graph(Task& task, Device device) {
  graph_ = std::make_unique<Graphed>(Graphed{task, device, {}, Tensor(), nullptr, false, false, 0});
}

int64_t OneModelLearner::replayed_steps() const { return graph_ ? graph_->replayed : 0; }

Tensor OneModelLearner::train_on(const std::vector<Tensor>& on_device) {
  optimizer_.zero_grad();
  Tensor l = graph_->task.graph_loss(model_, on_device);
  l.backward();
  optimizer_.step();
  return l;
}

StepResult OneModelLearner::graphed_step(std::vector<Sample> batch, double wait) {
  Graphed& g = *graph_;
  const int64_t n = int64_t(batch.size());
  std::vector<Tensor> host = g.task.graph_batch(std::move(batch));
  bool fits = !g.eager_only;  // the graph's inputs take this batch (not one of another shape)
  if (!g.step) {
    for (const Tensor& t : host) g.inputs.push_back(t.to(g.device));
    g.step = std::make_unique<GraphedStep>(optimizer_, [this] { graph_->loss = train_on(graph_->inputs); });
  } else if (fits) {
    for (size_t i = 0; fits && i < host.size(); ++i) fits = host[i].shape() == g.inputs[i].shape();
    if (fits)
      for (size_t i = 0; i < host.size(); ++i) g.inputs[i].copy_(host[i]);
  }
  Tensor loss;
  if (fits) {
    // GraphedStep's first call runs eagerly (algorithm searches, optimizer state), its second records and replays.
    const bool recording = g.warmed_up && !g.step->captured();
    try {
      (*g.step)();
      loss = g.loss;
      if (g.warmed_up) ++g.replayed;
      g.warmed_up = true;
    } catch (const Error& e) {
      if (!recording) throw;
      // The recording failed and left the engine as it was: this step and every later one run eagerly.
      std::fprintf(stderr, "warning: train.cuda_graph: the training step cannot be recorded as a CUDA graph (%s); "
                   "it runs eagerly\n", e.what());
      g.eager_only = true;
    }
  }
  if (!loss.defined()) {
    std::vector<Tensor> inputs;
    for (const Tensor& t : host) inputs.push_back(t.to(g.device));
    loss = train_on(inputs);
  }
  if (average_) average_->update(optimizer_.steps());
  return StepResult{loss.item<float>(), n, wait};
}

TrainSummary fit(Learner& learner, const TrainerOptions& options, const std::string& out,
                 const Trainer::ValidateFn& validate, const std::string& resume, const Trainer::SaveFn& on_best) {
  Trainer trainer(
      options, out, [&](int64_t epoch, int64_t batch) { return learner.step(epoch, batch); }, validate,
      [&](Checkpoint& ck) { learner.save(ck); }, [&](const Checkpoint& ck) { learner.load(ck); });
  if (on_best) trainer.on_best(on_best);
  if (!resume.empty()) trainer.resume(resume);
  return trainer.run();
}

namespace {

void load_and_prepare(TrainedTask& t, const std::string& command, const AppArgs& a) {
  STRATA_CHECK(!a.checkpoint.empty(), command, " needs --checkpoint FILE");
  const Config& cfg = t.load(a.checkpoint, a.overrides);
  apply_figure_formats(cfg);
  t.prepare(command, a);
  check_overrides_read(cfg, a.overrides, command);
}

}  // namespace

int eval_task(TrainedTask& t, const AppArgs& a) {
  load_and_prepare(t, "eval", a);
  t.to(command_device(a));
  const std::string out =
      rank_output_dir(!a.out.empty() ? a.out : (fs::path(a.checkpoint).parent_path() / "eval").string());
  create_directories_checked(out);
  // The weights stay as loaded from here on: each layer's derived filters are made once (engine/autograd.h).
  InferenceMode inference;
  t.evaluate(out, a);
  return 0;
}

int predict_task(TrainedTask& t, const AppArgs& a) {
  load_and_prepare(t, "predict", a);
  t.to(command_device(a));
  InferenceMode inference;
  t.predict(a);
  return 0;
}

bool SkippedInputs::attempt(const std::string& input, const std::function<void()>& predict_one) {
  try {
    predict_one();
    ++predicted_;
    return true;
  } catch (const Error& e) {
    if (inputs_ <= 1) throw;
    // Readers' messages begin with the file; others get its name in front.
    const std::string why = e.what();
    skipped_.push_back(why.starts_with(input) ? why : str_cat(input, ": ", why));
    std::fprintf(stderr, "skipped %s\n", skipped_.back().c_str());
    return false;
  }
}

void SkippedInputs::check() const {
  if (skipped_.empty()) return;
  constexpr size_t kNamed = 5;
  std::string list;
  for (size_t i = 0; i < std::min(skipped_.size(), kNamed); ++i) list += str_cat("\n  ", skipped_[i]);
  if (skipped_.size() > kNamed) list += str_cat("\n  and ", skipped_.size() - kNamed, " more (each reported above)");
  STRATA_FAIL(skipped_.size(), " of ", inputs_, " inputs could not be predicted and were skipped (", predicted_,
              " predicted):", list);
}

int export_task(TrainedTask& t, const std::string& app, const AppArgs& a) {
  load_and_prepare(t, "export", a);
  return run_export(a, app, t.export_graph());
}

void check_app_checkpoint(const Checkpoint& checkpoint, const std::string& path, const std::string& app,
                          const std::string& config_entry) {
  if (checkpoint.has(config_entry)) return;
  // The app that wrote it: its strata.app entry, else the APP of its APP.config entry.
  std::string other = checkpoint.has("strata.app") ? checkpoint.get("strata.app") : "";
  const std::string suffix = ".config";
  for (auto it = checkpoint.metadata.begin(); other.empty() && it != checkpoint.metadata.end(); ++it) {
    const std::string& key = it->first;
    if (key.ends_with(suffix) && key.find('.') == key.size() - suffix.size() && key != "zoo.config")
      other = "strata-" + key.substr(0, key.size() - suffix.size());
  }
  STRATA_CHECK(other.empty() || other == app, path, ": a ", other, " checkpoint, not a ", app, " one (run it with ",
               other, ")");
  STRATA_FAIL(path, ": not a ", app, " checkpoint (no ", config_entry, " entry)");
}

TrainedModel load_trained(const std::string& path, const std::string& app, const std::string& config_entry,
                          const std::vector<std::string>& overrides,
                          const std::function<ModulePtr(const Config&)>& build) {
  STRATA_CHECK(!path.empty(), "needs --checkpoint FILE");
  TrainedModel t{Checkpoint::load(path), Config::parse("{}"), nullptr};
  check_app_checkpoint(t.checkpoint, path, app, config_entry);
  t.cfg = Config::parse(t.checkpoint.get(config_entry), path + " [" + config_entry + "]");
  t.cfg.apply_overrides(overrides);
  t.model = build(t.cfg.section("model"));
  t.checkpoint.restore_module("model.", *t.model);
  t.model->eval();
  return t;
}

}  // namespace strata
