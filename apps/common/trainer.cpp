#include "apps/common/trainer.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include "apps/common/plot.h"
#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/cudnn_conv.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/random.h"
#include "layers/data_parallel.h"

namespace strata {
namespace fs = std::filesystem;

int64_t usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()));
}

std::string data_workers_hint(double data_wait, double step_seconds, int64_t workers, int64_t cores) {
  if (workers < 1 || workers >= cores || step_seconds < 1 || data_wait < 0.5 * step_seconds) return "";
  return str_cat("the training steps waited for data ", int(100 * data_wait / step_seconds + 0.5),
                 "% of their time with data.workers ", workers, " on ", cores,
                 " cores: raise data.workers (e.g. data.workers=", std::min<int64_t>(cores, 16), ") to feed them");
}

namespace {

std::atomic<bool>* active_stop_flag = nullptr;

extern "C" void on_sigint(int) {
  if (active_stop_flag) active_stop_flag->store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

std::string format_duration(double seconds) {
  char buf[32];
  const int s = int(seconds + 0.5);
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", s / 3600, s / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
  return buf;
}

std::string scratch_path;

void remove_scratch() {
  std::error_code ec;
  if (!scratch_path.empty()) fs::remove_all(scratch_path, ec);
}

}  // namespace

namespace {

// `what` names the setting in errors (train.device, --device).
Device device_named(const std::string& name, const std::string& what) {
  if (name == "cpu") return Device::cpu();
  if (name != "cuda") {
    const bool numbered = name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() < 9 &&
                          name.find_first_not_of("0123456789", 5) == std::string::npos;
    STRATA_CHECK(numbered, what, ": '", name, "': expected cpu, cuda or cuda:N");
    STRATA_CHECK(name == "cuda:0", what, ": ", name, ": strata runs on one GPU, cuda:0; choose the card with ",
                 "CUDA_VISIBLE_DEVICES=", name.substr(5));
  }
  STRATA_CHECK(dist::size() == 1, what, ": ", name, ": data-parallel runs (", dist::size(),
               " ranks) use the CPU; run on one GPU with one process");
#if defined(STRATA_WITH_CUDA)
  STRATA_CHECK(backend_available(Device::cuda(0)), what, ": ", name,
               ", but no CUDA device is usable here; use the CPU (device cpu)");
#else
  STRATA_CHECK(backend_available(Device::cuda(0)), what, ": ", name,
               ", but this build has no CUDA backend (configure with nvcc found, or -DSTRATA_CUDA=ON); use the CPU ",
               "(device cpu)");
#endif
  return Device::cuda(0);
}

}  // namespace

Device train_device(const Config& train) {
  const Device device = device_named(train.get_string("device", "cpu"), train.key_path("device"));
  cuda::set_deterministic(train.get_bool("deterministic", cuda::deterministic()));
  const std::string precision =
      train.get_choice("precision", cuda::precision() == cuda::Precision::bf16 ? "bf16" : "fp32", {"fp32", "bf16"});
  STRATA_CHECK(precision == "fp32" || device.is_cuda(), train.key_path("precision"),
               ": bf16 (mixed precision) runs on a GPU (train.device: cuda); the CPU trains in fp32");
  cuda::set_precision(cuda::parse_precision(precision));
  return device;
}

Device command_device(const AppArgs& a) {
  const auto it = a.values.find("--device");
  return it == a.values.end() ? Device::cpu() : device_named(it->second, "--device");
}

std::string device_label(Device device) { return device.is_cpu() ? "CPU" : device.str(); }

const std::string& rank_scratch_dir() {
  if (scratch_path.empty()) {
    scratch_path = (fs::temp_directory_path() / str_cat("strata-rank", dist::rank(), "-", ::getpid())).string();
    create_directories_checked(scratch_path);
    std::atexit(remove_scratch);
  }
  return scratch_path;
}

TrainerOptions TrainerOptions::from_config(const Config& c, int64_t default_epochs) {
  TrainerOptions o;
  o.epochs = c.get_int("epochs", default_epochs, Bounds::at_least(1));
  o.monitor = c.get_string("monitor", "val_loss");
  // auto: a loss is minimised, any other metric (accuracy, IoU, AP, F1, AUROC) maximised.
  const std::string mode = c.get_choice("monitor_mode", "auto", {"auto", "min", "max"});
  const bool is_loss = o.monitor.size() >= 4 && o.monitor.compare(o.monitor.size() - 4, 4, "loss") == 0;
  o.maximize = mode == "max" || (mode == "auto" && !is_loss);
  o.patience = c.get_int("patience", 0, Bounds::at_least(0));
  o.progress = c.get_bool("progress", true);
  o.val_every = c.get_int("val_every", 1, Bounds::at_least(1));
  return o;
}

Trainer::Trainer(TrainerOptions options, std::string out_dir, StepFn step, ValidateFn validate, SaveFn save,
                 LoadFn load)
    : o_(std::move(options)), out_(std::move(out_dir)), step_(std::move(step)), validate_(std::move(validate)),
      save_(std::move(save)), load_(std::move(load)) {
  STRATA_CHECK(o_.steps_per_epoch > 0, "trainer: steps_per_epoch must be > 0 (is the training set empty?)");
  // Data-parallel ranks other than 0 write into their scratch folder (apps pass one from prepare_run_dir).
  if (!dist::is_main() && out_.rfind(rank_scratch_dir(), 0) != 0) out_ = (fs::path(rank_scratch_dir()) / "run").string();
  create_directories_checked(out_);
  best_ = o_.maximize ? -1e300 : 1e300;
}

Trainer::~Trainer() {
  if (active_stop_flag == &stop_requested_) active_stop_flag = nullptr;
}

Checkpoint Trainer::state(int64_t epoch, int64_t batch) const {
  Checkpoint ck;
  save_(ck);
  ck.set_rng(default_generator());
  ck.set("trainer.epoch", std::to_string(epoch));
  ck.set("trainer.batch", std::to_string(batch));
  ck.set("trainer.steps", std::to_string(steps_));
  ck.set("trainer.stale_epochs", std::to_string(stale_epochs_));
  ck.set("trainer.best_epoch", std::to_string(best_epoch_));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", best_);
  ck.set("trainer.best", buf);
  std::snprintf(buf, sizeof buf, "%.17g", partial_loss_);
  ck.set("trainer.partial_loss", buf);
  ck.set("trainer.partial_samples", std::to_string(partial_samples_));
  ck.set("trainer.monitor", o_.monitor);
  ck.set("trainer.world_size", std::to_string(dist::size()));
  ck.set("strata.version", strata_version());
  ck.set("strata.commit", strata_commit());
  return ck;
}

void Trainer::write_checkpoint(const std::string& name, int64_t epoch, int64_t batch) {
  // Every rank writes into its own folder: rank 0 the run folder, the others a private scratch folder
  // (prepare_run_dir), so what an app does after training (reload best.safetensors, ...) works on all.
  Checkpoint ck = state(epoch, batch);
  if (on_best_ && name == "best.safetensors") on_best_(ck);
  ck.save((fs::path(out_) / name).string());
  commit_run_dir();  // a run --force replaced can go now that this one has a checkpoint
}

void Trainer::sync_from_main() {
  if (!dist::active()) return;
  NoGradGuard no_grad;
  std::string bytes;
  Checkpoint ck;
  if (dist::is_main()) {
    save_(ck);
    bytes = ck.bytes();
  }
  dist::broadcast(bytes);
  if (!dist::is_main()) load_(Checkpoint::from_bytes(bytes, "the state broadcast by rank 0"));
}

void Trainer::resume(const std::string& path) {
  // Rank 0 reads the file and sends it to the others (they need not see the same file system).
  Checkpoint ck;
  if (!dist::active()) {
    ck = Checkpoint::load(path);
  } else {
    std::string bytes;
    if (dist::is_main()) bytes = Checkpoint::load(path).bytes();
    dist::broadcast(bytes);
    ck = Checkpoint::from_bytes(bytes, path);
  }
  STRATA_CHECK(ck.has("trainer.epoch"), path, ": not a training checkpoint (no trainer position); use it with eval "
                                              "or predict");
  load_(ck);
  ck.restore_rng(default_generator());
  start_epoch_ = ck.get_int("trainer.epoch");
  start_batch_ = ck.get_int("trainer.batch");
  steps_ = ck.get_int("trainer.steps");
  stale_epochs_ = ck.get_int("trainer.stale_epochs");
  best_epoch_ = ck.get_int("trainer.best_epoch");
  best_ = ck.get_double("trainer.best");
  partial_loss_ = ck.get_double("trainer.partial_loss");
  partial_samples_ = ck.get_int("trainer.partial_samples");
  // A checkpoint of an N-rank run resumes on M ranks: a global batch holds batch x N samples, so a position
  // inside an epoch moves to the first global batch that starts at or after the same sample.
  const int64_t saved_world = ck.has("trainer.world_size") ? ck.get_int("trainer.world_size") : 1;
  if (saved_world != dist::size() && start_batch_ > 0) {
    // In units of per-rank batches (the per-rank batch is the config's, the same on any number of ranks).
    const int64_t done = start_batch_ * saved_world, now = (done + dist::size() - 1) / dist::size();
    if (dist::is_main())
      std::fprintf(stderr, "%s: written by %lld ranks, resumed on %d: epoch %lld continues at batch %lld of the new "
                           "size%s\n", path.c_str(), static_cast<long long>(saved_world), dist::size(),
                   static_cast<long long>(start_epoch_ + 1), static_cast<long long>(now),
                   done % dist::size() ? " (the few samples in between are skipped)" : "");
    start_batch_ = now;
  }
  STRATA_CHECK(start_batch_ <= o_.steps_per_epoch, path, ": stopped at batch ", start_batch_, " but an epoch now has ",
               o_.steps_per_epoch, " steps (did the data change?)");
}

std::string metrics_csv_header(std::istream& csv) {
  std::string line;
  while (std::getline(csv, line) && !line.empty() && line[0] == '#') {
  }
  return line;
}

void Trainer::log_epoch(int64_t epoch, double train_loss, const std::map<std::string, double>& metrics,
                        double seconds) {
  const fs::path csv = fs::path(out_) / "metrics.csv";
  const bool fresh = !fs::exists(csv);
  std::ofstream f(csv, std::ios::app);
  STRATA_CHECK(f.good(), csv.string(), ": cannot write");
  if (fresh) {
    f << "epoch,step,train_loss";
    for (const auto& [k, _] : metrics) f << "," << k;
    f << ",seconds\n";
  }
  char buf[64];
  f << epoch << "," << steps_;
  std::snprintf(buf, sizeof buf, ",%.6g", train_loss);
  f << buf;
  for (const auto& [_, v] : metrics) {
    std::snprintf(buf, sizeof buf, ",%.6g", v);
    f << buf;
  }
  if (metrics.empty() && !fresh) {
    // An epoch without validation (train.val_every): empty fields under the header's metric columns.
    std::ifstream r(csv);
    const std::string line = metrics_csv_header(r);  // epoch,step,train_loss,<metrics>,seconds
    const auto columns = std::count(line.begin(), line.end(), ',') + 1;
    f << std::string(size_t(std::max<std::ptrdiff_t>(columns - 4, 0)), ',');
  }
  std::snprintf(buf, sizeof buf, ",%.1f\n", seconds);
  f << buf;
}

void Trainer::redraw_plots() const {
  if (dist::is_main()) plot_training_curves(out_);
}

void plot_training_curves(const std::string& run_dir) {
  const fs::path csv = fs::path(run_dir) / "metrics.csv";
  std::ifstream f(csv);
  STRATA_CHECK(f.good(), csv.string(), ": cannot read (a run folder has metrics.csv)");
  std::string line = metrics_csv_header(f);
  std::vector<std::string> cols;
  std::stringstream header(line);
  for (std::string c; std::getline(header, c, ',');) cols.push_back(c);
  // One series per column; an empty field (an epoch without validation) is no point at all, so the curve joins
  // the epochs that have one.
  std::vector<Series> columns(cols.size());
  for (size_t i = 0; i < cols.size(); ++i) columns[i].name = cols[i];
  while (std::getline(f, line)) {
    std::stringstream row(line);
    std::string v;
    if (!std::getline(row, v, ',')) continue;
    const double epoch = std::strtod(v.c_str(), nullptr);
    for (size_t i = 1; std::getline(row, v, ',') && i < cols.size(); ++i) {
      if (v.empty()) continue;
      columns[i].x.push_back(epoch);
      columns[i].y.push_back(std::strtod(v.c_str(), nullptr));
    }
  }
  std::vector<Series> losses, metrics;
  for (size_t i = 1; i < cols.size(); ++i) {
    if (cols[i] == "step" || cols[i] == "seconds") continue;
    (cols[i].find("loss") != std::string::npos ? losses : metrics).push_back(std::move(columns[i]));
  }
  LinePlotOptions by_epoch;
  by_epoch.integer_x = true;
  if (!losses.empty()) line_plot((fs::path(run_dir) / "loss.png").string(), "loss", "epoch", "loss", losses, by_epoch);
  if (!metrics.empty())
    line_plot((fs::path(run_dir) / "metrics.png").string(), "validation metrics", "epoch", "", metrics, by_epoch);
}

TrainSummary Trainer::run() {
  TrainSummary summary;
  std::atomic<bool>* previous_flag = active_stop_flag;
  active_stop_flag = &stop_requested_;
  auto previous_handler = std::signal(SIGINT, on_sigint);
  // mpirun turns Ctrl-C into SIGTERM to every rank (then SIGKILL after odls_base_sigkill_timeout seconds).
  auto previous_term = dist::active() ? std::signal(SIGTERM, on_sigint) : SIG_DFL;
  struct Restore {
    std::atomic<bool>* flag;
    void (*handler)(int);
    void (*term)(int);
    ~Restore() {
      active_stop_flag = flag;
      std::signal(SIGINT, handler);
      if (dist::active()) std::signal(SIGTERM, term);
    }
  } restore{previous_flag, previous_handler, previous_term};

  // Data-parallel ranks start from rank 0's state (parameters, buffers, optimizer), fresh or resumed; the
  // interrupted epoch's partial loss sum is counted once, on rank 0.
  sync_from_main();
  if (!dist::is_main()) partial_loss_ = 0, partial_samples_ = 0;
  const bool show = o_.progress && dist::is_main();  // other ranks print errors only
  const bool tty = show && isatty(2);
  // Sums over ranks of a loss sum and its sample count (the epoch's train loss over the global batch).
  auto global_loss = [](double loss_sum, int64_t samples) {
    double v[2] = {loss_sum, double(samples)};
    dist::allreduce_sum(v, 2);
    return std::pair<double, int64_t>(v[0], int64_t(v[1]));
  };
  double epoch_seconds_sum = 0;  // of the whole epochs this process ran (the progress line's run ETA)
  int64_t epochs_timed = 0;
  for (int64_t epoch = start_epoch_; epoch < o_.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t first = epoch == start_epoch_ ? start_batch_ : 0;
    double loss_sum = epoch == start_epoch_ ? partial_loss_ : 0;
    int64_t samples = epoch == start_epoch_ ? partial_samples_ : 0, run_samples = 0;
    double data_wait = 0, step_seconds = 0;
    const double sync_before = gradient_sync_seconds();
    double last_report = tty ? -1.0 : 0.0;  // seconds into the epoch of the last progress output
    for (int64_t batch = first; batch < o_.steps_per_epoch; ++batch) {
      // Every rank stops at the same step (one rank's Ctrl-C stops all).
      if (dist::active() ? dist::any(stop_requested_) : stop_requested_.load()) {
        std::tie(partial_loss_, partial_samples_) = global_loss(loss_sum, samples);
        write_checkpoint("last.safetensors", epoch, batch);
        if (tty) std::fputc('\n', stderr);
        std::fprintf(stderr, "interrupted in epoch %lld after batch %lld/%lld: saved %s/last.safetensors; continue "
                             "with --resume %s/last.safetensors\n",
                     static_cast<long long>(epoch + 1), static_cast<long long>(batch),
                     static_cast<long long>(o_.steps_per_epoch), out_.c_str(), out_.c_str());
        summary.interrupted = true;
        summary.steps = steps_;
        return summary;
      }
      const auto step_start = std::chrono::steady_clock::now();
      const StepResult r = step_(epoch, batch);
      step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
      data_wait += r.data_wait;
      STRATA_CHECK(std::isfinite(r.loss), "training diverged: loss is ", r.loss, " at epoch ", epoch + 1, ", batch ",
                   batch, " (lower the learning rate, or check the inputs for NaN)");
      loss_sum += r.loss * double(std::max<int64_t>(r.samples, 1));
      samples += std::max<int64_t>(r.samples, 1);
      run_samples += r.samples;
      ++steps_;
      if (show) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int64_t done = batch + 1 - first, left = o_.steps_per_epoch - batch - 1;
        // A terminal gets the bar redrawn in place (at most 10 times a second); a log file or CI gets a
        // line every 30 s of a long epoch, then the epoch's summary line below.
        const double since = secs - last_report;
        const bool last = batch + 1 == o_.steps_per_epoch;
        if (tty ? (since >= 0.1 || last) : (since >= 30 && !last)) {
          last_report = secs;
          const int width = 24, filled = int(width * (batch + 1) / o_.steps_per_epoch);
          // The run's ETA: this epoch's rest, then the epochs after it at the mean time of the epochs this
          // process finished (validation included), or at this epoch's step rate before the first ends.
          const double epoch_eta = secs / double(done) * double(left);
          const double per_epoch = epochs_timed > 0 ? epoch_seconds_sum / double(epochs_timed)
                                                    : secs / double(done) * double(o_.steps_per_epoch);
          const double run_eta = epoch_eta + per_epoch * double(o_.epochs - epoch - 1);
          std::fprintf(stderr, "%sepoch %lld/%lld [%s%s] %lld/%lld loss %.4f %.1f samples/s ETA %s, run %s%s",
                       tty ? "\r" : "", static_cast<long long>(epoch + 1), static_cast<long long>(o_.epochs),
                       std::string(size_t(filled), '#').c_str(), std::string(size_t(width - filled), '.').c_str(),
                       static_cast<long long>(batch + 1), static_cast<long long>(o_.steps_per_epoch),
                       loss_sum / double(samples), double(run_samples * dist::size()) / std::max(secs, 1e-9),
                       format_duration(epoch_eta).c_str(), format_duration(run_eta).c_str(), tty ? "" : "\n");
        }
      }
    }
    partial_loss_ = 0;
    partial_samples_ = 0;
    if (tty) std::fputc('\n', stderr);
    std::tie(loss_sum, samples) = global_loss(loss_sum, samples);
    const double train_loss = loss_sum / double(std::max<int64_t>(samples, 1));
    const double sync_seconds = gradient_sync_seconds() - sync_before;
    sync_from_main();  // buffers (batch-norm running statistics) as rank 0 has them, for validation and checkpoints
    // train.val_every: the first epoch (it names metrics.csv's columns), every val_every-th and the last; also
    // any epoch a rank has no metrics.csv for yet (a resume into a fresh folder). Validation is collective under
    // data parallelism, so every rank decides alike.
    const bool no_csv = !fs::exists(fs::path(out_) / "metrics.csv");
    const bool validated = o_.val_every == 1 || epoch == 0 || (epoch + 1) % o_.val_every == 0 ||
                           epoch + 1 == o_.epochs || (dist::active() ? dist::any(no_csv) : no_csv);
    std::map<std::string, double> metrics;
    if (validated) metrics = validate_(epoch);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log_epoch(epoch + 1, train_loss, metrics, seconds);
    if (first == 0) epoch_seconds_sum += seconds, ++epochs_timed;
    redraw_plots();
    metrics.emplace("train_loss", train_loss);
    const auto it = metrics.find(o_.monitor);
    STRATA_CHECK(it != metrics.end() || !validated, "trainer: monitor '", o_.monitor,
                 "' is not among the metrics of this app");
    // A validation monitor is compared (and counts towards patience) on validated epochs only.
    const bool compared = it != metrics.end();
    const bool better = compared && (o_.maximize ? it->second > best_ : it->second < best_);
    if (better) {
      best_ = it->second;
      best_epoch_ = epoch + 1;
      stale_epochs_ = 0;
      write_checkpoint("best.safetensors", epoch + 1, 0);
    } else if (compared) {
      ++stale_epochs_;
    }
    write_checkpoint("last.safetensors", epoch + 1, 0);
    if (show) {
      // "train_loss 0.41, val_iou 0.77 (best)"; a train_loss monitor is named once, and the
      // validation loss (when there is one) follows it so that the line still shows validation.
      const char* mark = better ? " (best)" : "";
      char monitored[160] = "";
      const auto val_loss = metrics.find("val_loss");
      if (compared && o_.monitor != "train_loss")
        std::snprintf(monitored, sizeof monitored, ", %s %.4f%s", o_.monitor.c_str(), it->second, mark);
      else if (val_loss != metrics.end())
        std::snprintf(monitored, sizeof monitored, "%s, val_loss %.4f", mark, val_loss->second);
      else
        std::snprintf(monitored, sizeof monitored, "%s", mark);
      char waited[64] = "";
      if (data_wait > 0)
        std::snprintf(waited, sizeof waited, ", data wait %.1f%% of step time", 100 * data_wait / std::max(step_seconds, 1e-9));
      char synced[64] = "";
      if (dist::active())
        std::snprintf(synced, sizeof synced, ", gradient allreduce %.1f%%", 100 * sync_seconds / std::max(step_seconds, 1e-9));
      std::fprintf(stderr, "epoch %lld: train_loss %.4f%s (%.1f s%s%s)\n", static_cast<long long>(epoch + 1),
                   train_loss, monitored, seconds, waited, synced);
    }
    // Once per run, where the loader cannot keep up and the machine has cores to spare (a GPU machine).
    if (first == 0 && !workers_hint_given_ && dist::is_main()) {
      const std::string hint = data_workers_hint(data_wait, step_seconds, o_.data_workers, usable_cores());
      if (!hint.empty()) std::fprintf(stderr, "note: %s\n", hint.c_str());
      workers_hint_given_ = !hint.empty();
    }
    summary.epochs_run = epoch + 1;
    if (o_.patience > 0 && stale_epochs_ >= o_.patience) {
      summary.stopped_early = true;
      break;
    }
  }
  summary.steps = steps_;
  summary.best = best_;
  summary.best_epoch = best_epoch_;
  return summary;
}

void add_model_weights(Checkpoint& ck, const Module& model, const WeightAverage* average) {
  ck.add_module("model.", average ? average->model() : model);
  if (average) ck.add_module("trained_model.", model);
}

void restore_model_weights(const Checkpoint& ck, Module& model, WeightAverage* average) {
  ck.restore_module(average ? "trained_model." : "model.", model);
  if (average) ck.restore_module("model.", average->model());
}

Trainer::SaveFn save_model_state(const Module& model, const Optimizer& optimizer, std::string config_key,
                                 std::string config_text, const WeightAverage* average) {
  return [&model, &optimizer, average, key = std::move(config_key), text = std::move(config_text)](Checkpoint& ck) {
    add_model_weights(ck, model, average);
    ck.add_optimizer("optimizer.", optimizer);
    ck.set(key, text);
  };
}

Trainer::LoadFn load_model_state(Module& model, Optimizer& optimizer, WeightAverage* average) {
  return [&model, &optimizer, average](const Checkpoint& ck) {
    restore_model_weights(ck, model, average);
    ck.restore_optimizer("optimizer.", optimizer);
  };
}

void print_train_summary(const std::string& app, const TrainSummary& s, const std::string& monitor) {
  std::fprintf(stderr, "%s: trained %lld epoch%s (%lld step%s); best %s %.4f at epoch %lld\n", app.c_str(),
               static_cast<long long>(s.epochs_run), s.epochs_run == 1 ? "" : "s", static_cast<long long>(s.steps),
               s.steps == 1 ? "" : "s", monitor.c_str(), s.best, static_cast<long long>(s.best_epoch));
}

}  // namespace strata
