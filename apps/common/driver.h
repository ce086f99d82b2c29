// The training recipe of every app, written once.
//
// An app describes its task as a Task: what its part of the config means (data, loss, metrics), one
// training sample, one batch's loss, a validation pass, and the report on the best model. The driver owns
// the rest, and train_task's body reads in this order, top to bottom:
//   1. the config (--config FILE, then the key.sub=value overrides);
//   2. the task reads its data and options (every error before any file is written);
//   3. train.*: epochs, monitor (the task's default when the config names none), device, seed;
//   4. the model, built from `model:`, then its pretrained weights (model.encoder_weights), on the device;
//   5. the optimizer over the whole run's steps, and the weight average (train.ema);
//   6. the run folder (--out, --force, --resume) with config.yaml;
//   7. the loader: the task's samples in the task's epoch order, made by data.workers threads;
//   8. the Trainer: steps, validation, best / last checkpoints, resume, Ctrl-C, MPI;
//   9. the task's report on the best model, which may add entries (a threshold) to best.safetensors.
// Every training runs through fit() with a Learner (what a step updates, what a checkpoint holds): train_task's
// OneModelLearner, strata-segment pretrain's (the same with its repainting loss), the well-log members'.
// Commands that train something else (strata-segment pretrain, the well-log ensembles and cross-validation)
// use the same pieces: read_train_config, train_options, open_run, fit.
//
// The trained model's commands (eval, predict, export) are a TrainedTask run by eval_task, predict_task and
// export_task.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/export.h"
#include "apps/common/loader.h"
#include "apps/common/trainer.h"
#include "config/config.h"
#include "engine/device.h"
#include "layers/checkpoint.h"
#include "layers/optimizer.h"
#include "layers/weight_average.h"
#include "layers/module.h"
#include "layers/registry.h"

namespace strata {

// What a task's training data looks like to the driver.
struct TrainingPlan {
  int64_t size = 0;               // training samples (indices 0 .. size-1 for Task::sample)
  int64_t samples_per_epoch = 0;  // 0: size
  int64_t batch = 1;              // per rank
  uint64_t seed = 1;              // model initialisation, sample order and augmentation
  int64_t workers = 2, prefetch = 2;
};

class Task {
 public:
  virtual ~Task() = default;

  // "strata-faults": the prefix of its messages.
  virtual std::string app() const = 0;
  // The checkpoint entry that holds the run's resolved config ("faults.config").
  virtual std::string config_entry() const = 0;
  // train.monitor when the config names none ("val_ap").
  virtual std::string default_monitor() const = 0;

  // Reads and checks the task's part of `cfg` and loads its training and validation data. Called before the
  // run folder exists, so an error leaves nothing behind.
  virtual TrainingPlan prepare(Config& cfg) = 0;
  // The model of `model_cfg` (build_module; a task that needs a model family checks it here).
  virtual ModulePtr build_model(const Config& model_cfg) const;
  // After the run folder is made: the task's own files in it and its start-of-training line on stderr.
  virtual void start(const std::string& out, const Module& model, Device device) = 0;
  // The sample indices of one epoch (default: seeded permutations of 0 .. size-1, end to end).
  virtual std::vector<int64_t> epoch_order(int64_t epoch, const TrainingPlan& plan) const;
  // Training sample `index`, drawn with `rng`. Runs on loader threads: it reads the task, never changes it.
  virtual Sample sample(int64_t index, std::mt19937_64& rng) const = 0;
  // The loss of one batch; `model` is in training mode and on `device`.
  virtual Tensor loss(Module& model, std::vector<Sample> batch, Device device) = 0;
  // A step that a CUDA graph records once and replays (train.cuda_graph): graph_batch makes on the host every
  // tensor the loss reads, and graph_loss computes the loss from them once they are on the device, with no copy
  // to or from the host and no value read on the host. A task that can (graph_ready true) overrides all three;
  // otherwise graph_ready says why not.
  virtual bool graph_ready(std::string* why_not) const;
  virtual std::vector<Tensor> graph_batch(std::vector<Sample> batch);
  virtual Tensor graph_loss(Module& model, const std::vector<Tensor>& on_device);
  // Validation metrics of `model` (the weight average when the run keeps one), named as metrics.csv's
  // columns; `out` is the run folder (for panels). The model is in eval mode.
  virtual std::map<std::string, double> validate(Module& model, int64_t epoch, const std::string& out) = 0;
  // Entries each best.safetensors carries beside the model, chosen on the validation that made it best.
  virtual void decorate_best(Checkpoint&) {}
  // After training, once: `best` holds best.safetensors' model (eval mode) and `best_ck` that checkpoint,
  // which is saved again after this returns (the task may add entries). The report goes into `out`.
  virtual void finish(const std::string& out, Module& best, Checkpoint& best_ck) = 0;
};

// `APP train` for a task. Returns the exit status (0, or 130 when interrupted by Ctrl-C).
int train_task(Task& task, const AppArgs& a);

// What one training step updates and what a checkpoint of the run holds. train_task's learner is one model with
// its optimizer (and weight average) fed by the loader (OneModelLearner); a training of several networks at
// once (the well-log model and its adversarial discriminator) is a Learner of its own. Every one runs through
// fit().
class Learner {
 public:
  virtual ~Learner() = default;
  virtual StepResult step(int64_t epoch, int64_t batch) = 0;
  virtual void save(Checkpoint& ck) const = 0;
  virtual void load(const Checkpoint& ck) = 0;
};

// One model, one optimizer and optionally its weight average; each step takes the loader's batch (epoch, index),
// computes `loss` in training mode and takes an optimizer step. Checkpoints: save_model_state's entries, the
// resolved config text under `config_key`.
class OneModelLearner : public Learner {
 public:
  using LossFn = std::function<Tensor(Module& model, std::vector<Sample> batch, int64_t epoch, int64_t index)>;
  OneModelLearner(Module& model, Optimizer& optimizer, WeightAverage* average, Loader& loader, LossFn loss,
                  std::string config_key, std::string config_text);
  ~OneModelLearner() override;
  StepResult step(int64_t epoch, int64_t batch) override;
  void save(Checkpoint& ck) const override { save_(ck); }
  void load(const Checkpoint& ck) override { load_(ck); }

  // train.cuda_graph: from here on each step is `task`'s graph_batch copied into the same tensors on `device`
  // and a CUDA graph of zero_grad, graph_loss, backward and the optimizer step, recorded on the second step and
  // replayed after that (layers/graphed_step.h). A batch of another shape (an epoch's shorter last one) steps
  // eagerly; a step the graph cannot hold (random numbers in the model) is reported once and steps eagerly.
  void use_cuda_graph(Task& task, Device device);
  // Steps replayed from the graph so far (0 before the recording and without use_cuda_graph).
  int64_t replayed_steps() const;

 private:
  struct Graphed;
  StepResult graphed_step(std::vector<Sample> batch, double wait);
  // zero_grad, the task's graph_loss of `on_device`, backward and the optimizer step: the recorded step's body,
  // and a step taken eagerly.
  Tensor train_on(const std::vector<Tensor>& on_device);

  Module& model_;
  Optimizer& optimizer_;
  WeightAverage* average_;
  Loader& loader_;
  LossFn loss_;
  Trainer::SaveFn save_;
  Trainer::LoadFn load_;
  std::unique_ptr<Graphed> graph_;
};

// Trains `learner` with the Trainer into `out`: `validate` after the epochs train.val_every names, best and last
// checkpoints, --resume from `resume` (empty: a fresh run), Ctrl-C and MPI. `on_best` adds entries to each
// best.safetensors as it is written.
TrainSummary fit(Learner& learner, const TrainerOptions& options, const std::string& out,
                 const Trainer::ValidateFn& validate, const std::string& resume = "",
                 const Trainer::SaveFn& on_best = nullptr);

// Sets the formats every figure of the command is written in from report.formats (default [png]; png, svg, pdf).
void apply_figure_formats(const Config& cfg);

// --config with its overrides applied (an error naming the flag when --config is missing).
Config read_train_config(const AppArgs& a);
// train.* as the Trainer reads it, with `default_monitor` (and `default_epochs`) recorded in the config when it
// names none.
TrainerOptions train_options(const Config& cfg, const std::string& default_monitor, int64_t default_epochs = 10);
// The model of `model_cfg` with its starting weights loaded, on `device`: a pretrained encoder
// (model.encoder_weights) and / or every weight of a trained model of the same architecture (model.init_from).
ModulePtr build_for_training(const Task& task, const Config& model_cfg, Device device);
// Checks every key of `cfg` was read, makes the run folder (prepare_run_dir: the folder this process
// writes into) and saves the resolved config there as config.yaml, its first line a comment naming the
// strata version, the commit and the metrics.csv format.
std::string open_run(const Config& cfg, const std::string& run_dir, const AppArgs& a);

// The other half of an app: what its trained model does in eval, predict and export. The driver runs the steps
// these commands share (eval_task, predict_task, export_task): the checkpoint loaded with the command's overrides,
// the model moved to --device, the check that every override was read (an unused one is a mistyped key), eval's
// output folder; the app reads its data, scores, predicts and describes its export graph.
class TrainedTask {
 public:
  virtual ~TrainedTask() = default;
  // Loads `checkpoint` (with `overrides` applied to its config) and returns the config.
  virtual const Config& load(const std::string& checkpoint, const std::vector<std::string>& overrides) = 0;
  // Reads everything `command` ("eval", "predict" or "export") takes from the config, the flags and eval's data
  // (--data, or the config's own test set), before the driver checks the overrides and anything is written.
  virtual void prepare(const std::string& command, const AppArgs& a) = 0;
  virtual void to(Device device) = 0;
  // Scores the prepared data; the report goes into `out` (which the driver has created).
  virtual void evaluate(const std::string& out, const AppArgs& a) = 0;
  // Predicts --input into --output.
  virtual void predict(const AppArgs& a) = 0;
  // The graph, example input and metadata the export writes.
  virtual AppExport export_graph() = 0;
};

// A folder predicted one input at a time, as a batch job should be: an input that fails with an Error (a file that
// cannot be read or decoded, data the model cannot use) is reported on stderr and skipped, and the others are
// still predicted. After the last one, check() throws an Error naming the skipped inputs, so the command exits 1
// with every other output written. With a single input nothing is caught: its error is the command's.
class SkippedInputs {
 public:
  explicit SkippedInputs(size_t inputs) : inputs_(inputs) {}
  // Runs `predict_one` for `input`; false when it failed and the input was skipped.
  bool attempt(const std::string& input, const std::function<void()>& predict_one);
  size_t predicted() const { return predicted_; }
  void check() const;

 private:
  size_t inputs_, predicted_ = 0;
  std::vector<std::string> skipped_;  // "input: why"
};

// `APP eval`: load, prepare, --device, overrides checked, then evaluate into --out (default <checkpoint
// folder>/eval; a data-parallel rank other than 0 writes to its scratch folder).
int eval_task(TrainedTask& t, const AppArgs& a);
// `APP predict`: load, prepare, --device, overrides checked, predict.
int predict_task(TrainedTask& t, const AppArgs& a);
// `APP export`: load, prepare, overrides checked, then --format / --output through run_export.
int export_task(TrainedTask& t, const std::string& app, const AppArgs& a);
// An app's eval, predict and export commands on a fresh TrainedTask of type T.
template <class T>
int eval_with(const AppArgs& a) {
  T t;
  return eval_task(t, a);
}
template <class T>
int predict_with(const AppArgs& a) {
  T t;
  return predict_task(t, a);
}
template <class T>
int export_with(const std::string& app, const AppArgs& a) {
  T t;
  return export_task(t, app, a);
}

// A trained model from a checkpoint alone, for eval, predict and export.
struct TrainedModel {
  Checkpoint checkpoint;
  Config cfg;  // the run's resolved config with the command's overrides applied
  ModulePtr model;
};
// Throws unless the checkpoint read from `path` is `app`'s (it holds `config_entry`); another app's checkpoint
// is named as such ("a strata-welllog checkpoint, not a strata-segment one").
void check_app_checkpoint(const Checkpoint& checkpoint, const std::string& path, const std::string& app,
                          const std::string& config_entry);
// Loads `path`, checks it is `app`'s (check_app_checkpoint), applies `overrides`, builds the model with
// `build` and restores its weights ("model."); the model is in eval mode on the CPU.
TrainedModel load_trained(const std::string& path, const std::string& app, const std::string& config_entry,
                          const std::vector<std::string>& overrides,
                          const std::function<ModulePtr(const Config&)>& build = build_module);

}  // namespace strata
