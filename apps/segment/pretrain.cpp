// strata-segment pretrain: self-supervised pretraining of an encoder U-Net's
// encoder on unlabelled images, by masked-patch reconstruction; and
// strata-segment compare: the validation curves of several runs on one plot.
//
// Pretraining objective: the image is cut into patch x patch cells, a share
// `mask_ratio` of them is blanked (set to 0, the normalised mean colour, plus
// optional Gaussian noise elsewhere), and the same U-Net with C output channels
// is trained to paint the blanked cells back (mean squared error on the blanked
// pixels only, in normalised units). Filling a 16-pixel hole needs the context
// around it, so the encoder must learn edges, textures and object layout; the
// skips alone cannot copy what is not in the input. The decoder is thrown
// away: encoder.safetensors holds the encoder's tensors under torchvision's
// names, the file `model.encoder_weights` loads.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "apps/common/driver.h"
#include "apps/common/loader.h"
#include "apps/common/plot.h"
#include "apps/common/trainer.h"
#include "apps/segment/run.h"
#include "apps/segment/segment.h"
#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/safetensors.h"
#include "layers/checkpoint.h"
#include "layers/optimizer.h"
#include "layers/registry.h"
#include "models/encoder_unet.h"

namespace fs = std::filesystem;

namespace strata::segment {
namespace {

struct PretrainOptions {
  int64_t epochs = 30, batch = 8, patch = 16, panels_every = 5, workers = 2, prefetch = 2, samples_per_epoch = 0;
  double mask_ratio = 0.5, noise = 0.0, val_fraction = 0.05;
  uint64_t seed = 1;
  std::vector<std::string> folders;  // unlabelled image folders beside the config's training images
  std::vector<int64_t> crop;          // training crop of pretraining (default: data.augment.crop)
};

PretrainOptions pretrain_options(const Config& p, const Config& data) {
  PretrainOptions o;
  o.epochs = p.get_int("epochs", 30, Bounds::at_least(1));
  o.batch = p.get_int("batch", 8, Bounds::at_least(1));
  o.patch = p.get_int("patch", 16, Bounds::between(1, 4096));
  o.mask_ratio = p.get_double("mask_ratio", 0.5, Bounds{0, 1, true});
  o.noise = p.get_double("noise", 0.0, Bounds::between(0, 10));
  o.val_fraction = p.get_double("val_fraction", 0.05, Bounds::between(0, 0.5));
  o.seed = uint64_t(p.get_int("seed", 1, Bounds::at_least(0)));
  o.panels_every = p.get_int("panels_every", 5, Bounds::at_least(0));
  o.folders = p.get_string_list("images", {});
  o.crop = p.get_int_list("crop", {});
  STRATA_CHECK(o.crop.empty() || (o.crop.size() == 2 && o.crop[0] > 0 && o.crop[1] > 0), p.key_path("crop"),
               ": [height, width] in pixels");
  o.workers = data.get_int("workers", 2, Bounds::between(0, 64));
  o.prefetch = data.get_int("prefetch", 2, Bounds::between(1, 64));
  // Samples per epoch: pretrain's own key, else the data section's (what `train` uses), else one per image.
  o.samples_per_epoch =
      p.get_int("samples_per_epoch", data.get_int("samples_per_epoch", 0, Bounds::at_least(0)), Bounds::at_least(0));
  return o;
}

// The blanked cells of one sample: 1 where hidden, 0 where seen.
LabelMap patch_mask(int64_t height, int64_t width, int64_t patch, double ratio, std::mt19937_64& rng) {
  LabelMap m{height, width, std::vector<int32_t>(size_t(height * width), 0)};
  std::bernoulli_distribution hide(ratio);
  // A random grid offset, so cell borders are not always at the same pixels.
  std::uniform_int_distribution<int64_t> offset(0, patch - 1);
  const int64_t oy = offset(rng), ox = offset(rng);
  bool any = false;
  for (int64_t cy = -oy; cy < height; cy += patch)
    for (int64_t cx = -ox; cx < width; cx += patch) {
      if (!hide(rng)) continue;
      for (int64_t y = std::max<int64_t>(cy, 0); y < std::min(cy + patch, height); ++y)
        for (int64_t x = std::max<int64_t>(cx, 0); x < std::min(cx + patch, width); ++x) m.at(y, x) = 1;
      any = true;
    }
  if (!any) std::fill(m.data.begin(), m.data.begin() + std::min<int64_t>(patch, width), 1);  // never an empty target
  return m;
}

struct MaskedBatch {
  Tensor input, target, hidden;  // (N, C, H, W), (N, C, H, W), (N, 1, H, W) f32
};

MaskedBatch masked_batch(const std::vector<Sample>& samples, double noise, uint64_t seed) {
  STRATA_CHECK(!samples.empty(), "pretrain: an empty batch");
  const Image& a = samples[0].image;
  const int64_t n = int64_t(samples.size()), plane = a.height * a.width, c = a.channels;
  std::vector<float> in(size_t(n * c * plane)), clean(in.size()), hidden(size_t(n * plane));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.f, float(noise));
  for (int64_t i = 0; i < n; ++i) {
    const Sample& s = samples[size_t(i)];
    STRATA_CHECK(s.image.height == a.height && s.image.width == a.width, "pretrain: a batch needs images of one size; ",
                 "set data.size or data.augment.crop");
    for (int64_t j = 0; j < plane; ++j) hidden[size_t(i * plane + j)] = float(s.mask.data[size_t(j)]);
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < plane; ++j) {
        const size_t at = size_t((i * c + k) * plane + j);
        const float v = s.image.data[size_t(k * plane + j)];
        clean[at] = v;
        in[at] = s.mask.data[size_t(j)] ? 0.f : (noise > 0 ? v + gauss(rng) : v);
      }
  }
  return {Tensor::from_vector(in, {n, c, a.height, a.width}), Tensor::from_vector(clean, {n, c, a.height, a.width}),
          Tensor::from_vector(hidden, {n, 1, a.height, a.width})};
}

// The batch's tensors on `device`.
MaskedBatch on(Device device, MaskedBatch b) {
  b.input = b.input.to(device), b.target = b.target.to(device), b.hidden = b.hidden.to(device);
  return b;
}

// Mean squared error over the hidden pixels (all channels).
Tensor masked_mse(const Tensor& out, const MaskedBatch& b) {
  const double count = std::max(double(sum(b.hidden).item<float>()) * double(out.size(1)), 1.0);
  return div(sum(mul(pow(sub(out, b.target), 2.0), b.hidden)), count);
}

// The images of `folders` (recursively) and of the config's training pairs, without duplicates.
std::vector<std::string> unlabelled_images(const SegmentData& data, const std::vector<std::string>& folders) {
  std::vector<std::string> files;
  for (const ImagePair& p : data.train()) files.push_back(p.image);
  for (const std::string& f : folders) {
    const std::vector<std::string> more = image_files(f, true);
    STRATA_CHECK(!more.empty(), f, ": holds no image files (PNG, JPEG, BMP, ...) for pretraining");
    files.insert(files.end(), more.begin(), more.end());
  }
  std::vector<std::string> unique;
  std::set<std::string> seen;
  for (const std::string& f : files) {
    std::error_code ec;
    const std::string key = fs::weakly_canonical(f, ec).string();
    if (seen.insert(key.empty() ? f : key).second) unique.push_back(f);
  }
  return unique;
}

// Normalised (C, H, W) -> displayable HWC in [0, 1].
Panel display(const Image& img, const TransformOptions& tf, const std::string& title) {
  const int64_t plane = img.height * img.width, c = img.channels;
  Panel p{title, img.height, img.width, c, std::vector<float>(size_t(plane * c))};
  for (int64_t k = 0; k < c; ++k) {
    // Per-image standardised inputs have no stored statistics: shown as mean 0.5, two standard deviations to an edge.
    const double mean = tf.per_image ? 0.5 : tf.mean.empty() ? 0 : tf.mean[size_t(k)];
    const double sd = tf.per_image ? 0.25 : tf.std.empty() ? 1 : tf.std[size_t(k)];
    for (int64_t j = 0; j < plane; ++j) p.pixels[size_t(j * c + k)] = float(img.data[size_t(k * plane + j)] * sd + mean);
  }
  return p;
}

// One validation pass of pretraining: the masked loss over the held-out images (weighted by their hidden pixels),
// and with `panels` a figure of the first three: input with hidden cells blank | cells repainted | image.
double validate_repainting(Module& model, size_t count, const std::function<Sample(size_t)>& sample, Device device,
                           const TransformOptions& tf, const std::string& panels) {
  model.eval();
  NoGradGuard no_grad;
  double total = 0, weight = 0;
  std::vector<std::vector<Panel>> rows;
  const auto image_of = [](const Tensor& t) {
    const Tensor c = t.contiguous();  // (1, C, H, W)
    return Image{c.size(1), c.size(2), c.size(3), c.to_vector<float>()};
  };
  for (size_t i = 0; i < count; ++i) {
    const MaskedBatch mb = on(device, masked_batch({sample(i)}, 0.0, 0));
    const Tensor recon = model(mb.input);
    const double hidden = sum(mb.hidden).item<float>();
    total += masked_mse(recon, mb).item<float>() * hidden;
    weight += hidden;
    if (panels.empty() || rows.size() >= 3) continue;
    // The loss sees only the hidden cells, so the network's output elsewhere means nothing: show the input with
    // its hidden cells painted from the output.
    Image input = image_of(mb.input), painted = input;
    const Image out = image_of(recon);
    const std::vector<float> mask = mb.hidden.contiguous().to_vector<float>();
    const int64_t plane = painted.height * painted.width;
    for (int64_t k = 0; k < painted.channels; ++k)
      for (int64_t j = 0; j < plane; ++j)
        if (mask[size_t(j)] > 0) painted.data[size_t(k * plane + j)] = out.data[size_t(k * plane + j)];
    rows.push_back({display(input, tf, "input, hidden cells blank"), display(painted, tf, "cells repainted"),
                    display(image_of(mb.target), tf, "image")});
  }
  if (!rows.empty()) image_panels(panels, rows, 256);
  return total / std::max(weight, 1.0);
}

}  // namespace

int pretrain_command(const AppArgs& a) {
  Config cfg = read_train_config(a);
  const std::string run_dir = train_run_dir(a, fs::path(a.config).stem().string() + "_pretrain");
  const TaskSpec task = TaskSpec::from_config(cfg);
  const Config data_cfg = cfg.section("data");
  const SegmentData data(data_cfg, task);
  PretrainOptions po = pretrain_options(cfg.section("pretrain"), data_cfg);
  if (a.values.count("--images")) {
    std::stringstream list(a.values.at("--images"));
    for (std::string f; std::getline(list, f, ',');)
      if (!f.empty()) po.folders.push_back(f);
  }
  const std::vector<std::string> files = unlabelled_images(data, po.folders);
  // A seeded hold-out of the unlabelled images scores the reconstruction; validation labels are never read.
  std::vector<ImagePair> all;
  for (const std::string& f : files) all.push_back({f, ""});
  auto [train, val] = po.val_fraction > 0 && all.size() >= 2 ? split_by_fraction(all, po.val_fraction, po.seed)
                                                              : std::pair{all, std::vector<ImagePair>{}};
  if (val.empty() && all.size() >= 2 && po.val_fraction > 0) val.push_back(train.back()), train.pop_back();
  STRATA_CHECK(!train.empty(), "pretrain: no images to pretrain on");

  // The network: the config's model with C output channels and no starting weights.
  const Config model_cfg = cfg.section("model");
  for (const std::string& k : model_cfg.keys()) model_cfg.mark_known(k);
  const bool progress = cfg.section("train").get_bool("progress", true);
  const Device device = train_device(cfg.section("train"));
  for (const char* k : {"loss", "train", "inference", "optimizer"}) mark_section_known(cfg, k);  // train's sections
  Config net_cfg = model_cfg.detached();  // the run's config keeps the model it will train
  net_cfg.set("classes", int64_t(task.channels));
  net_cfg.set("freeze_encoder", false);
  manual_seed(po.seed);
  const ModulePtr model = build_module(net_cfg);
  model->to(device);
  auto* unet = dynamic_cast<EncoderUNet*>(model.get());
  STRATA_CHECK(unet != nullptr, cfg.origin(), ": pretrain trains the encoder of an encoder U-Net (model.type ",
               "unet_vgg16 or unet_mobilenetv2); ", model_cfg.get_string("type", "?"), " has no separate encoder");
  const int64_t per_epoch = po.samples_per_epoch > 0 ? po.samples_per_epoch : int64_t(train.size());
  TrainerOptions topt;
  topt.epochs = po.epochs;
  topt.monitor = "val_loss";
  topt.maximize = false;
  topt.steps_per_epoch = dist::global_steps(per_epoch, po.batch);  // global batches (batch per rank)
  topt.progress = progress;
  topt.data_workers = po.workers;
  const Config opt_cfg = cfg.section("pretrain").has("optimizer") ? cfg.section("pretrain").section("optimizer")
                                                                  : cfg.section("optimizer");
  auto opt = make_optimizer(opt_cfg, model->named_parameters(), topt.epochs * topt.steps_per_epoch);

  const std::string out = open_run(cfg, run_dir, a);  // rank 0: run_dir; other ranks: a scratch folder
  const std::string config_text = cfg.dump();
  std::fprintf(stderr,
               "strata-segment pretrain: %zu unlabelled images (%zu held out for the reconstruction loss), %s; "
               "%g of %lldx%lld cells hidden, %s -> %s\n",
               train.size(), val.size(), model->describe().c_str(), po.mask_ratio, static_cast<long long>(po.patch),
               static_cast<long long>(po.patch), device_label(device).c_str(), out.c_str());

  TransformOptions tf = data.transforms();
  if (!po.crop.empty()) tf.crop = po.crop;
  const auto make = [&](const ImagePair& p, std::mt19937_64* rng, std::mt19937_64& mask_rng) {
    Sample s = data.decoded(p);  // image only: the pair has no mask
    s = apply_transforms(std::move(s), tf, rng);
    s.mask = patch_mask(s.image.height, s.image.width, po.patch, po.mask_ratio, mask_rng);
    return s;
  };
  const int64_t n_train = int64_t(train.size());
  Loader loader([&](int64_t epoch) { return shuffled_epoch(po.seed, epoch, n_train, per_epoch); },
                [&](int64_t index, std::mt19937_64& rng) { return make(train[size_t(index)], &rng, rng); }, po.batch,
                po.seed, po.workers, po.prefetch);
  // Validation: fixed masks (seeded by index), evaluation transforms, one image at a time.
  const auto val_sample = [&](size_t i) {
    std::mt19937_64 rng = sample_rng(po.seed ^ 0x5eedULL, 0, i);
    return make(val[i], nullptr, rng);
  };
  // The loss sees only the hidden cells; the masks' noise is drawn per step from (epoch, batch).
  OneModelLearner learner(
      *model, *opt, nullptr, loader,
      [&](Module& m, std::vector<Sample> samples, int64_t epoch, int64_t b) {
        const MaskedBatch mb =
            on(device, masked_batch(samples, po.noise, sample_rng(po.seed, uint64_t(epoch), uint64_t(b))()));
        return masked_mse(m(mb.input), mb);
      },
      "segment.pretrain_config", config_text);
  const TrainSummary s = fit(learner, topt, out, [&](int64_t epoch) {
    std::map<std::string, double> m;
    if (val.empty()) return m;
    const bool panels =
        po.panels_every > 0 && ((epoch + 1) % po.panels_every == 0 || epoch == 0 || epoch + 1 == po.epochs);
    char name[40];
    std::snprintf(name, sizeof name, "epoch_%03lld.png", static_cast<long long>(epoch + 1));
    m["val_loss"] = validate_repainting(*model, val.size(), val_sample, device, tf,
                                        panels ? (fs::path(out) / "panels" / name).string() : "");
    model->train();
    return m;
  }, a.resume);
  if (s.interrupted) return 130;
  print_train_summary("strata-segment pretrain", s, topt.monitor);
  // The best network's encoder, under torchvision's names.
  const std::string best = (fs::path(out) / (val.empty() ? "last.safetensors" : "best.safetensors")).string();
  Checkpoint::load(best).restore_module("model.", *model);
  const std::string weights = (fs::path(out) / "encoder.safetensors").string();
  save_safetensors(weights, unet->encoder().state_dict(),
                   {{"format", "torchvision"},
                    {"strata.objective", "masked-patch reconstruction"},
                    {"strata.model", model_cfg.get_string("type", "")},
                    {"strata.images", std::to_string(files.size())}});
  std::fprintf(stderr, "strata-segment pretrain: wrote %s; train with it:\n  strata-segment train --config %s "
               "model.encoder_weights=%s\n", weights.c_str(), a.config.c_str(), weights.c_str());
  return 0;
}

// ---------------------------------------------------------------------------
// compare

namespace {

struct RunCurves {
  std::string name;
  std::vector<std::string> cols;
  std::vector<std::vector<double>> values;
  const std::vector<double>* col(const std::string& c) const {
    const auto it = std::find(cols.begin(), cols.end(), c);
    return it == cols.end() ? nullptr : &values[size_t(it - cols.begin())];
  }
};

RunCurves read_run(const std::string& dir) {
  const fs::path csv = fs::path(dir) / "metrics.csv";
  std::ifstream f(csv);
  STRATA_CHECK(f.good(), csv.string(), ": cannot read (compare takes run folders written by strata-segment train)");
  RunCurves r;
  r.name = fs::path(dir).filename().empty() ? fs::path(dir).parent_path().filename().string()
                                            : fs::path(dir).filename().string();
  std::string line = metrics_csv_header(f);
  STRATA_CHECK(line.rfind("epoch,step,", 0) == 0, csv.string(), ": not a strata metrics file (header: ", line, ")");
  std::stringstream header(line);
  for (std::string c; std::getline(header, c, ',');) r.cols.push_back(c);
  r.values.resize(r.cols.size());
  int64_t row = 0;
  while (std::getline(f, line)) {
    ++row;
    std::stringstream cells(line);
    size_t i = 0;
    for (std::string v; std::getline(cells, v, ',') && i < r.cols.size(); ++i) {
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      STRATA_CHECK(!v.empty() && end && *end == 0, csv.string(), ": row ", row, ", column ", r.cols[i], ": '", v,
                   "' is not a number");
      r.values[i].push_back(d);
    }
    STRATA_CHECK(i == r.cols.size(), csv.string(), ": row ", row, " has ", i, " cells for ", r.cols.size(), " columns");
  }
  STRATA_CHECK(row > 0, csv.string(), ": no epochs yet");
  for (const char* need : {"epoch", "seconds", "train_loss"})
    STRATA_CHECK(r.col(need), csv.string(), ": no '", need, "' column");
  return r;
}

}  // namespace

int compare_command(const AppArgs& a) {
  std::vector<RunCurves> runs;
  std::stringstream list(a.values.at("--runs"));
  for (std::string d; std::getline(list, d, ',');)
    if (!d.empty()) runs.push_back(read_run(d));
  STRATA_CHECK(!runs.empty(), "compare: --runs names no run folders");
  double target = 0.7;
  if (a.values.count("--loss-target")) {
    const std::string& t = a.values.at("--loss-target");
    char* end = nullptr;
    target = std::strtod(t.c_str(), &end);
    STRATA_CHECK(!t.empty() && end && *end == 0 && std::isfinite(target) && target > 0, "compare: --loss-target '", t,
                 "' is not a positive number");
  }
  check_overrides_read(Config::parse("{}"), a.overrides, "compare");
  create_directories_checked(a.output);
  std::vector<Series> by_epoch, by_time, miou;
  write_file_atomic((fs::path(a.output) / "compare.csv").string(), [&](std::ostream& f) {
    f << "# strata segment compare v1\nrun,epochs,minutes,best_val_miou,best_epoch,loss_target,epoch_reaching_target,"
         "minutes_reaching_target\n";
    for (const RunCurves& r : runs) {
      const std::vector<double>& epoch = *r.col("epoch");
      std::vector<double> minutes;
      double t = 0;
      for (double s : *r.col("seconds")) minutes.push_back((t += s) / 60.0);
      const std::vector<double>* vl = r.col("val_loss");
      const std::vector<double>* mi = r.col("val_miou");
      if (vl) {
        by_epoch.push_back({r.name, epoch, *vl});
        by_time.push_back({r.name, minutes, *vl});
      }
      if (mi) miou.push_back({r.name, epoch, *mi});
      double best = std::nan(""), best_epoch = std::nan(""), reach_epoch = std::nan(""), reach_min = std::nan("");
      if (mi)
        for (size_t i = 0; i < mi->size(); ++i)
          if (std::isnan(best) || (*mi)[i] > best) best = (*mi)[i], best_epoch = epoch[i];
      if (vl)
        for (size_t i = 0; i < vl->size(); ++i)
          if ((*vl)[i] <= target) {
            reach_epoch = epoch[i];
            reach_min = minutes[i];
            break;
          }
      char buf[256];
      const auto num = [](double v, const char* fmt) {
        if (std::isnan(v)) return std::string("never");
        char b[32];
        std::snprintf(b, sizeof b, fmt, v);
        return std::string(b);
      };
      std::snprintf(buf, sizeof buf, "%s,%zu,%.1f,%s,%s,%g,%s,%s\n", r.name.c_str(), epoch.size(), minutes.back(),
                    num(best, "%.4f").c_str(), num(best_epoch, "%.0f").c_str(), target, num(reach_epoch, "%.0f").c_str(),
                    num(reach_min, "%.1f").c_str());
      f << buf;
      const std::string reached = std::isnan(reach_epoch)
                                      ? std::string("never")
                                      : "epoch " + num(reach_epoch, "%.0f") + ", " + num(reach_min, "%.1f") + " min";
      std::printf("%-28s %4zu epochs %7.1f min  best val mIoU %s (epoch %s)  val loss <= %g: %s\n", r.name.c_str(),
                  epoch.size(), minutes.back(), num(best, "%.4f").c_str(), num(best_epoch, "%.0f").c_str(), target,
                  reached.c_str());
    }
  });
  const fs::path o(a.output);
  LinePlotOptions epochs;
  epochs.integer_x = true;
  if (!by_epoch.empty()) {
    line_plot((o / "val_loss_by_epoch.png").string(), "validation loss", "epoch", "loss", by_epoch, epochs);
    line_plot((o / "val_loss_by_time.png").string(), "validation loss", "minutes of training", "loss", by_time);
  }
  if (!miou.empty()) line_plot((o / "val_miou_by_epoch.png").string(), "validation mean IoU", "epoch", "mIoU", miou, epochs);
  std::printf("wrote %s/{compare.csv, val_loss_by_epoch.png, val_loss_by_time.png, val_miou_by_epoch.png}\n",
              a.output.c_str());
  return 0;
}

}  // namespace strata::segment
