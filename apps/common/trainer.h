// The shared training loop of the task apps.
//
// The app supplies what is task-specific as callbacks: one optimisation step
// for (epoch, batch), a validation pass returning named metrics, and what to
// put in / take out of a checkpoint (model, optimizers, normalisation, ...).
// The trainer owns the rest:
//   * epochs of steps_per_epoch steps, a progress bar (epoch, step, loss,
//     samples/s, the epoch's ETA and the whole run's) on stderr, and with each epoch's line the share of the
//     step time spent waiting for data when the step reports it;
//   * after each epoch: validation, a row in <out>/metrics.csv (plain CSV: a header
//     epoch,step,train_loss,<metrics>,seconds, then a row an epoch; pandas.read_csv reads it as it is),
//     loss.png and metrics.png redrawn, best.safetensors
//     when the monitored metric improves, last.safetensors always, early
//     stopping after `patience` epochs without improvement;
//   * Ctrl-C (SIGINT): the current step finishes, last.safetensors records the
//     exact position, and run() returns with interrupted = true;
//   * resume(path): restores the app state, the default generator and the
//     position, so N steps straight and k steps + resume give identical
//     weights on the CPU, provided the step callback draws its data from
//     (epoch, batch) and random numbers from the default generator;
//   * data-parallel training (started by mpirun; docs/distributed.md): every
//     rank runs this loop on its own part of each global batch (the loaders
//     shard, Optimizer::step averages the gradients); the ranks start from
//     rank 0's state and take it again before each validation (batch-norm
//     statistics); rank 0 alone writes the run folder (other ranks write
//     into the scratch folder prepare_run_dir gave them) and prints progress; one rank's Ctrl-C (or mpirun's SIGTERM) stops all at
//     the same step; a checkpoint of N ranks resumes on M.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "apps/common/cli.h"
#include "config/config.h"
#include "engine/device.h"
#include "layers/checkpoint.h"
#include "layers/module.h"
#include "layers/optimizer.h"
#include "layers/weight_average.h"

namespace strata {

struct TrainerOptions {
  int64_t epochs = 10;
  int64_t steps_per_epoch = 1;
  std::string monitor = "val_loss";  // metric that picks best.safetensors
  bool maximize = false;             // higher is better for `monitor`
  int64_t patience = 0;              // validations without improvement before stopping; 0: never
  bool progress = true;
  // Validate after the first epoch, every val_every-th and the last; other epochs log the training
  // loss only, and a validation monitor picks among the validated epochs.
  int64_t val_every = 1;
  // The loader's worker threads (data.workers; -1: not known). When a whole epoch's steps waited for data at
  // least half of their time and the machine has more cores than workers, the trainer says once to raise it.
  int64_t data_workers = -1;
  // Keys: epochs, monitor, monitor_mode (auto | min | max; auto minimises a monitor whose
  // name ends in "loss" and maximises any other), patience, progress, val_every. steps_per_epoch
  // comes from the data.
  // `default_epochs`: train.epochs when the config names none (an app's own default).
  static TrainerOptions from_config(const Config& train, int64_t default_epochs = 10);
};

struct StepResult {
  double loss = 0;
  int64_t samples = 0;
  double data_wait = 0;  // seconds of the step spent waiting for the data loader
};

struct TrainSummary {
  int64_t epochs_run = 0, steps = 0;
  double best = 0;
  int64_t best_epoch = -1;
  bool interrupted = false, stopped_early = false;
};

// loss.png (the *loss columns) and metrics.png (the others) of a run folder, from its metrics.csv, in the formats of
// figure_formats(); the Trainer redraws them after every epoch. An empty field is an epoch without that value.
void plot_training_curves(const std::string& run_dir);

class Trainer {
 public:
  using StepFn = std::function<StepResult(int64_t epoch, int64_t batch)>;
  using ValidateFn = std::function<std::map<std::string, double>(int64_t epoch)>;
  using SaveFn = std::function<void(Checkpoint&)>;
  using LoadFn = std::function<void(const Checkpoint&)>;

  Trainer(TrainerOptions options, std::string out_dir, StepFn step, ValidateFn validate, SaveFn save, LoadFn load);
  ~Trainer();

  // Continues from a last.safetensors (or any checkpoint this trainer wrote).
  void resume(const std::string& checkpoint_path);
  TrainSummary run();
  // Adds task entries to each best.safetensors as it is written (after the validation that made it best).
  void on_best(SaveFn decorate) { on_best_ = std::move(decorate); }
  // Makes run() stop after the current step (what Ctrl-C does).
  void request_stop() { stop_requested_ = true; }

  const std::string& out_dir() const { return out_; }

 private:
  Checkpoint state(int64_t epoch, int64_t batch) const;
  void write_checkpoint(const std::string& name, int64_t epoch, int64_t batch);
  // Data-parallel ranks take rank 0's state (save_ there, load_ on the others); no-op on one process.
  void sync_from_main();
  void log_epoch(int64_t epoch, double train_loss, const std::map<std::string, double>& metrics, double seconds);
  void redraw_plots() const;

  TrainerOptions o_;
  std::string out_;
  StepFn step_;
  ValidateFn validate_;
  SaveFn save_;
  LoadFn load_;
  SaveFn on_best_;
  int64_t start_epoch_ = 0, start_batch_ = 0, steps_ = 0, stale_epochs_ = 0, best_epoch_ = -1;
  double best_ = 0, partial_loss_ = 0;  // partial_loss_: loss sum of the interrupted epoch so far
  int64_t partial_samples_ = 0;
  bool workers_hint_given_ = false;
  std::atomic<bool> stop_requested_{false};
};

// The cores this process may run on (its CPU affinity), at least 1.
int64_t usable_cores();
// The trainer's hint after an epoch whose steps took `step_seconds` and waited `data_wait` of them for data,
// or "" when there is none to give: the wait is at least half of at least a second of steps, and `workers`
// (data.workers, >= 1) is below `cores`.
std::string data_workers_hint(double data_wait, double step_seconds, int64_t workers, int64_t cores);

// The model part of a checkpoint: "model." is what eval and predict load (the weight average when there is
// one); beside an average, "trained_model." holds the trained weights, which --resume continues from.
void add_model_weights(Checkpoint& ck, const Module& model, const WeightAverage* average);
void restore_model_weights(const Checkpoint& ck, Module& model, WeightAverage* average);

// The checkpoint callbacks of an app that trains one model (saved under "model.") with one optimizer
// ("optimizer."), its resolved config text stored under `config_key` (e.g. "faults.config"). With a weight
// average (train.ema) "model." holds the average, which eval and predict load, and "trained_model." the
// trained weights, which --resume continues from.
Trainer::SaveFn save_model_state(const Module& model, const Optimizer& optimizer, std::string config_key,
                                 std::string config_text, const WeightAverage* average = nullptr);
Trainer::LoadFn load_model_state(Module& model, Optimizer& optimizer, WeightAverage* average = nullptr);

// The private folder a data-parallel rank other than 0 writes its copies of
// the run's files into (removed at exit); rank 0 writes the run folder.
const std::string& rank_scratch_dir();

// Where an app trains: `train.device` is cpu (the default), cuda or cuda:N. cuda needs a build with the CUDA
// backend (nvcc) and a usable device, and runs on one process; each case is an error naming the key.
// `train.deterministic: true` makes GPU runs bit-reproducible (cuDNN's deterministic convolution algorithms only;
// default off, or STRATA_DETERMINISTIC); CPU runs always are. `train.precision: bf16` trains convolutions and
// matrix products in mixed precision on a GPU (engine/cudnn_conv.h; an error on the CPU), default fp32.
Device train_device(const Config& train);
// The same choice from eval's and predict's --device flag (cpu when absent).
Device command_device(const AppArgs& a);
// "CPU" or "cuda:0", for the apps' start-of-training line.
std::string device_label(Device device);

// The version of metrics.csv's layout, recorded in each run's config.yaml.
constexpr int kMetricsFormat = 1;

// The header line of a metrics.csv (epoch,step,...), read past any '#' line before it (the version line of
// runs written by older strata).
std::string metrics_csv_header(std::istream& csv);

// "APP: trained N epochs (S steps); best MONITOR VALUE at epoch E" on stderr.
void print_train_summary(const std::string& app, const TrainSummary& s, const std::string& monitor);

}  // namespace strata
