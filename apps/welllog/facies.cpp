#include "apps/welllog/facies.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "apps/welllog/trained.h"
#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "layers/checkpoint.h"
#include "layers/data_parallel.h"
#include "layers/registry.h"

namespace strata::welllog {
namespace {

// A generator for the random choices of (seed, epoch, batch): independent of
// how many steps ran before, so an interrupted and resumed run draws the same.
std::mt19937_64 stream(uint64_t seed, int64_t epoch, int64_t batch) {
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(epoch), uint32_t(batch + 1), 0x5eedu};
  return std::mt19937_64(seq);
}

// The model of `section` with the input channels and classes the data gives (recorded in the run's config).
ModulePtr build_sized(Config section, int64_t in_channels, int64_t classes) {
  if (in_channels > 0) section.set("in_channels", in_channels);
  section.set("classes", classes);
  return build_module(section);
}

}  // namespace

HungOptions HungOptions::from_config(const Config& t) {
  HungOptions o;
  o.mode = t.get_choice("mode", o.mode, {"supervised", "adversarial", "semi"});
  o.lambda_adv = t.get_double("lambda_adv", o.lambda_adv, Bounds::at_least(0));
  o.lambda_semi = t.get_double("lambda_semi", o.lambda_semi, Bounds::at_least(0));
  o.t_semi = t.get_double("t_semi", o.t_semi, Bounds::between(0, 1));
  o.lambda_semi_adv = t.get_double("lambda_semi_adv", o.lambda_semi_adv, Bounds::at_least(0));
  o.semi_start = t.get_int("semi_start", o.semi_start, Bounds::at_least(0));
  o.semi_targets = t.get_choice("semi_targets", o.semi_targets, {"self", "clean"});
  o.semi_confidence = t.get_choice("semi_confidence", o.semi_confidence, {"discriminator", "softmax"});
  o.lambda_consistency = t.get_double("lambda_consistency", o.lambda_consistency, Bounds::at_least(0));
  o.consistency_rampup = t.get_int("consistency_rampup", o.consistency_rampup, Bounds::at_least(0));
  return o;
}

FaciesTrainer::FaciesTrainer(const Config& root, const Preprocessing& pre, std::vector<Sample> labelled,
                             std::vector<Sample> unlabelled, int64_t epochs, uint64_t seed, const std::string& mode,
                             int64_t member)
    : pre_(pre), labelled_(std::move(labelled)), unlabelled_(std::move(unlabelled)), seed_(seed) {
  const Config train = root.section("train");
  device_ = train_device(train);
  hung_ = HungOptions::from_config(train);
  if (!mode.empty()) hung_.mode = mode;
  const Config data = root.section("data");
  win_.window = data.get_int("window", win_.window, Bounds::at_least(8));
  win_.stride = data.get_int("stride", win_.stride, Bounds::at_least(1));
  win_.jitter = data.get_bool("jitter", win_.jitter);
  win_.batch = train.get_int("batch", win_.batch, Bounds::at_least(1));
  win_.input_noise = train.get_double("input_noise", 0.0, Bounds::at_least(0));
  win_.curve_dropout = train.get_double("curve_dropout", 0.0, Bounds::between(0, 1));
  win_.stretch = train.get_double("stretch", 0.0, Bounds::between(0, 1));
  STRATA_CHECK(win_.curve_dropout == 0 || !pre_.indicators.empty(), train.key_path("curve_dropout"),
               " needs curves with a missing indicator (data.missing.indicator) to drop");
  clip_ = train.get_double("clip_grad_norm", 0.0, Bounds::at_least(0));
  const std::string weighting = train.get_choice("class_weights", "none", {"none", "balanced"});
  STRATA_CHECK(!labelled_.empty(), "welllog: no labelled well to train on");

  auto windows_of = [&](const std::vector<Sample>& set) {
    std::vector<Window> out;
    for (size_t i = 0; i < set.size(); ++i)
      for (int64_t s : window_starts(set[i].length, win_.window, win_.stride)) out.push_back({i, s});
    return out;
  };
  windows_l_ = windows_of(labelled_);
  windows_u_ = windows_of(unlabelled_);
  // An epoch is one pass over the labelled windows, or a fixed number of
  // steps (train.steps_per_epoch) cycling through them, so that runs with few
  // labelled wells get the same number of updates as runs with many.
  const int64_t fixed_steps = train.get_int("steps_per_epoch", 0, Bounds::at_least(0));
  fixed_steps_ = fixed_steps > 0;
  steps_per_epoch_ = fixed_steps > 0 ? fixed_steps : dist::global_steps(int64_t(windows_l_.size()), win_.batch);

  const int64_t k = pre_.classes();
  if (weighting == "balanced") {
    std::vector<double> count(size_t(k), 0);
    double total = 0;
    for (const Sample& s : labelled_)
      for (int64_t y : s.y)
        if (y >= 0) count[size_t(y)] += 1, total += 1;
    std::vector<float> w(static_cast<size_t>(k));
    for (int64_t c = 0; c < k; ++c) w[size_t(c)] = count[size_t(c)] > 0 ? float(total / (double(k) * count[size_t(c)])) : 0.f;
    class_weight_ = Tensor::from_vector(w, {k}).to(device_);
  }

  const int64_t total_steps = epochs * steps_per_epoch_;
  model_ = build_sized(root.section("model"), pre_.channels(), k);
  init_network(root, member, *model_);  // model.init_from; the weight average starts from these weights too
  model_->to(device_);
  opt_ = make_optimizer(root.section("optimizer"), model_->named_parameters(), total_steps);
  average_ = WeightAverage::from_config(train, *model_, [&] { return build_sized(root.section("model"), pre_.channels(), k); });
  // The discriminator is built in every mode so its config is always checked;
  // only the adversarial modes train and save it.
  const Config dcfg = root.section("discriminator");
  Config dmodel = dcfg.section("model");
  if (!dmodel.has("type")) dmodel.set("type", std::string("discriminator1d"));
  disc_ = build_sized(dmodel, 0, k);
  disc_->to(device_);
  // Hung et al.'s discriminator optimizer unless the config says otherwise.
  opt_d_ = make_optimizer(dcfg.section("optimizer"), disc_->named_parameters(), total_steps,
                          {.type = "adam", .lr = 1e-4, .betas = {0.9, 0.99}, .schedule = "poly"});
  model_->train();
}

void FaciesTrainer::batch_tensors(const std::vector<Sample>& set, const std::vector<Window>& windows, Tensor& x,
                                  Tensor& y, Tensor& valid, std::mt19937_64* drop, std::mt19937_64* stretch) const {
  const int64_t b = int64_t(windows.size()), c = pre_.channels(), w = win_.window;
  std::vector<float> xv(size_t(b * c * w), 0.f), mv(size_t(b * w), 0.f);
  std::vector<int64_t> yv(size_t(b * w), -100);
  for (int64_t i = 0; i < b; ++i) {
    const Sample& s = set[windows[size_t(i)].sample];
    const int64_t start = windows[size_t(i)].start;
    int64_t n = std::min(w, s.length - start);
    if (stretch && win_.stretch > 0) {
      n = w;
      resample_window(s, start, std::exp(std::uniform_real_distribution<double>(-1, 1)(*stretch) *
                                         std::log1p(win_.stretch)),
                      &xv[size_t(i * c * w)], &yv[size_t(i * w)], &mv[size_t(i * w)]);
    } else {
      for (int64_t ch = 0; ch < c; ++ch)
        std::copy_n(s.x.begin() + (ch * s.length + start), n, xv.begin() + (i * c + ch) * w);
      std::copy_n(s.y.begin() + start, n, yv.begin() + i * w);
      std::fill_n(mv.begin() + i * w, n, 1.f);
    }
    if (drop && win_.curve_dropout > 0) {
      const int64_t ncurves = int64_t(pre_.curves.size());
      for (size_t k = 0; k < pre_.indicators.size(); ++k) {
        if (std::uniform_real_distribution<double>(0, 1)(*drop) >= win_.curve_dropout) continue;
        const auto curve = std::find(pre_.curves.begin(), pre_.curves.end(), pre_.indicators[k]) - pre_.curves.begin();
        std::fill_n(xv.begin() + (i * c + curve) * w, w, 0.f);  // the fill of a missing curve (training mean)
        std::fill_n(xv.begin() + (i * c + ncurves + int64_t(k)) * w, n, 1.f);
      }
    }
  }
  x = Tensor::from_vector(xv, {b, c, w});
  y = Tensor::from_vector(yv, {b, w});
  valid = Tensor::from_vector(mv, {b, 1, w});
}

void FaciesTrainer::resample_window(const Sample& s, int64_t start, double scale, float* x, int64_t* y,
                                    float* valid) const {
  // The window covers `scale` times its length of the well, centred where the
  // unstretched window is but kept inside the well where it fits; output
  // sample j reads the well at (fractional) depth index p.
  const int64_t c = pre_.channels(), w = win_.window;
  const double span = scale * double(w);
  double first = double(start) + 0.5 * double(w) - 0.5 * span;
  if (span <= double(s.length)) first = std::clamp(first, 0.0, double(s.length) - span);
  for (int64_t j = 0; j < w; ++j) {
    const double p = first + (double(j) + 0.5) * scale - 0.5;
    if (p < -0.5 || p > double(s.length) - 0.5) continue;  // beyond the well: padding, masked out
    const double q = std::clamp(p, 0.0, double(s.length - 1));
    const int64_t lo = std::min(int64_t(q), s.length - 1), hi = std::min(lo + 1, s.length - 1);
    const float t = float(q - double(lo));
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* curve = s.x.data() + ch * s.length;
      x[ch * w + j] = curve[lo] + t * (curve[hi] - curve[lo]);
    }
    y[j] = s.y[size_t(t < 0.5f ? lo : hi)];
    valid[j] = 1.f;
  }
}

FaciesTrainer::Window FaciesTrainer::jittered(const std::vector<Sample>& set, Window wdw, std::mt19937_64& r) const {
  const int64_t len = set[wdw.sample].length;
  if (win_.jitter && len > win_.window) {
    const int64_t shift = std::uniform_int_distribution<int64_t>(-win_.stride / 2, win_.stride / 2)(r);
    wdw.start = std::clamp<int64_t>(wdw.start + shift, 0, len - win_.window);
  }
  return wdw;
}

void FaciesTrainer::labelled_batch(int64_t epoch, int64_t batch, Tensor& x, Tensor& y, Tensor& valid) const {
  // This epoch's window order and jitter (the same for every batch of the epoch).
  std::mt19937_64 rng = stream(seed_, epoch, -1);
  std::vector<size_t> order(windows_l_.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<Window> lw;
  std::vector<std::mt19937_64::result_type> jitter_seeds(order.size());
  for (auto& js : jitter_seeds) js = rng();
  // This rank's piece of global batch `batch` (the whole batch on one process); with
  // train.steps_per_epoch the epoch cycles through the windows, so it has no end.
  const int64_t epoch_size = fixed_steps_ ? steps_per_epoch_ * win_.batch * dist::size() : int64_t(order.size());
  const dist::Span span = dist::shard(batch, win_.batch, epoch_size);
  set_step_samples(span.size(), span.global_size());
  for (size_t j = size_t(span.begin); j < size_t(span.end); ++j) {
    const size_t i = j % order.size();
    std::mt19937_64 r(jitter_seeds[i] + j / order.size());
    lw.push_back(jittered(labelled_, windows_l_[order[i]], r));
  }
  std::mt19937_64 drop_rng = stream(seed_ ^ 0xd509u, epoch, batch);
  std::mt19937_64 stretch_rng = stream(seed_ ^ 0x57e7c4u, epoch, batch);
  batch_tensors(labelled_, lw, x, y, valid, &drop_rng, &stretch_rng);
}

StepResult FaciesTrainer::step(int64_t epoch, int64_t batch) {
  Tensor x, y, valid;
  labelled_batch(epoch, batch, x, y, valid);
  // Batches and noise are drawn on the host (the same numbers on every device), then moved.
  x = x.to(device_), y = y.to(device_), valid = valid.to(device_);
  Generator noise_gen(seed_ ^ 0x9e3779b97f4a7c15ull ^ (uint64_t(dist::rank()) * 0x632be59bd9b4e019ull));
  noise_gen.set_offset(uint64_t(epoch) << 40 | uint64_t(batch) << 24);  // a function of (epoch, batch)
  auto add_noise = [&](Tensor& t) {
    if (win_.input_noise > 0)
      t = add(t, Tensor::randn(t.shape(), DType::f32, &noise_gen, 0, win_.input_noise).to(device_));
  };
  add_noise(x);
  terms_ = {};

  const bool adversarial = hung_.mode != "supervised";
  const bool semi = hung_.mode == "semi" && !windows_u_.empty();
  const int64_t step_index = opt_->steps();

  // ---- segmentation network --------------------------------------------
  opt_->zero_grad();
  if (adversarial) disc_->requires_grad_(false);
  const Tensor logits = (*model_)(x);
  Tensor loss = cross_entropy(logits, y, class_weight_, -100);
  terms_.ce = loss.item<float>();
  Tensor prob_l, prob_u, xu, valid_u;
  if (adversarial) {
    prob_l = softmax(logits, 1);
    const Tensor d = (*disc_)(prob_l);
    const Tensor adv = bce_with_logits(d, Tensor::ones(d.shape(), DType::f32, device_), valid);
    terms_.adv = adv.item<float>();
    loss = add(loss, mul(adv, hung_.lambda_adv));
  }
  if (semi) {
    std::mt19937_64 r = stream(seed_, epoch, batch);
    std::vector<Window> uw;  // of the global batch's draws, this rank's piece
    for (int64_t i = 0; i < win_.batch * dist::size(); ++i) {
      const size_t pick = std::uniform_int_distribution<size_t>(0, windows_u_.size() - 1)(r);
      const Window w = jittered(unlabelled_, windows_u_[pick], r);
      if (i / win_.batch == dist::rank()) uw.push_back(w);
    }
    const bool clean_targets = hung_.semi_targets == "clean";
    const bool semi_ce_on = step_index >= hung_.semi_start && hung_.lambda_semi > 0;
    const bool consistency_on = hung_.lambda_consistency > 0;
    Tensor yu_unused, xu_clean;
    if (clean_targets || consistency_on) {
      // The teacher reads the windows as they are; S the same windows with
      // curve dropout and noise, as the labelled ones.
      Tensor valid_unused;
      if (semi_ce_on || consistency_on) batch_tensors(unlabelled_, uw, xu_clean, yu_unused, valid_unused);
      std::mt19937_64 drop_rng = stream(seed_ ^ 0x5e41d509u, epoch, batch);
      batch_tensors(unlabelled_, uw, xu, yu_unused, valid_u, &drop_rng);
    } else {
      batch_tensors(unlabelled_, uw, xu, yu_unused, valid_u);  // unlabelled y is all -100 by construction
    }
    xu = xu.to(device_), valid_u = valid_u.to(device_);
    if (xu_clean.defined()) xu_clean = xu_clean.to(device_);
    add_noise(xu);
    // The clean teacher's logits on the unlabelled windows (no gradient).
    Tensor teacher_logits;
    auto teacher_pass = [&] {
      if (teacher_logits.defined()) return teacher_logits;
      NoGradGuard no_grad;
      Module& teacher = model();
      const bool was_training = teacher.training();
      teacher.eval();
      teacher_logits = teacher(xu_clean);
      teacher.train(was_training);
      return teacher_logits;
    };
    const Tensor logits_u = (*model_)(xu);
    prob_u = softmax(logits_u, 1);
    const Tensor d_u = (*disc_)(prob_u);
    const Tensor semi_adv = bce_with_logits(d_u, Tensor::ones(d_u.shape(), DType::f32, device_), valid_u);
    terms_.semi_adv = semi_adv.item<float>();
    loss = add(loss, mul(semi_adv, hung_.lambda_semi_adv));
    if (semi_ce_on) {
      // Self-taught targets: argmax of the prediction where D trusts it.
      std::vector<float> conf, mask;
      std::vector<int64_t> pseudo;
      {
        NoGradGuard no_grad;
        Tensor targets = logits_u, teacher_d = d_u;
        if (clean_targets) {
          targets = teacher_pass();
          teacher_d = (*disc_)(softmax(targets, 1));
        }
        conf = (hung_.semi_confidence == "softmax" ? max(softmax(targets, 1), 1) : sigmoid(teacher_d))
                   .to_vector<float>();
        mask = valid_u.to_vector<float>();
        pseudo = argmax(targets, 1).to_vector<int64_t>();
      }
      for (size_t i = 0; i < pseudo.size(); ++i) {
        if (conf[i] > hung_.t_semi && mask[i] > 0)
          ++terms_.confident;
        else
          pseudo[i] = -100;
      }
      if (terms_.confident > 0) {
        const Tensor target = Tensor::from_vector(pseudo, {logits_u.size(0), logits_u.size(2)}).to(device_);
        const Tensor semi_ce = cross_entropy(logits_u, target, Tensor(), -100);
        terms_.semi = semi_ce.item<float>();
        loss = add(loss, mul(semi_ce, hung_.lambda_semi));
      }
    }
    if (consistency_on) {
      const Tensor target = softmax(teacher_pass(), 1);
      const Tensor diff = sub(prob_u, target);
      const Tensor per_sample = mul(sum(mul(diff, diff), {1}, true), valid_u);
      const double count = std::max(1.0, double(sum(valid_u).item<float>()));
      const Tensor consistency = div(sum(per_sample), count);
      terms_.consistency = consistency.item<float>();
      double ramp = 1.0;
      if (hung_.consistency_rampup > 0 && step_index < hung_.consistency_rampup) {
        const double t = double(step_index) / double(hung_.consistency_rampup);
        ramp = std::exp(-5.0 * (1.0 - t) * (1.0 - t));
      }
      loss = add(loss, mul(consistency, hung_.lambda_consistency * ramp));
    }
  }
  loss.backward();
  if (clip_ > 0) clip_grad_norm(model_->parameters(), clip_);
  opt_->step();
  if (average_) average_->update(opt_->steps());

  // ---- discriminator ----------------------------------------------------
  if (adversarial) {
    disc_->requires_grad_(true);
    opt_d_->zero_grad();
    Tensor fake = prob_l.detach(), fake_valid = valid;
    if (prob_u.defined()) {
      fake = cat({fake, prob_u.detach()}, 0);
      fake_valid = cat({valid, valid_u}, 0);
    }
    const Tensor d_fake = (*disc_)(fake);
    const Tensor loss_fake = bce_with_logits(d_fake, Tensor::zeros(d_fake.shape(), DType::f32, device_), fake_valid);
    Tensor onehot;
    {
      NoGradGuard no_grad;
      const Tensor known = ge(y, 0.0);
      const Tensor idx = where(known, y, Tensor::zeros(y.shape(), DType::i64, device_));
      onehot = mul(permute(one_hot(idx, pre_.classes(), DType::f32), {0, 2, 1}), valid).contiguous();
    }
    const Tensor d_real = (*disc_)(onehot);
    const Tensor loss_real = bce_with_logits(d_real, Tensor::ones(d_real.shape(), DType::f32, device_), valid);
    const Tensor loss_d = mul(add(loss_fake, loss_real), 0.5);
    terms_.d = loss_d.item<float>();
    loss_d.backward();
    opt_d_->step();
  }
  return {loss.item<float>(), x.size(0)};
}

void FaciesTrainer::save(Checkpoint& ck) const {
  add_model_weights(ck, *model_, average_.get());
  ck.add_optimizer("optimizer.", *opt_);
  if (hung_.mode != "supervised") {
    ck.add_module("discriminator.", *disc_);
    ck.add_optimizer("discriminator_optimizer.", *opt_d_);
  }
}

void FaciesTrainer::load(const Checkpoint& ck) {
  restore_model_weights(ck, *model_, average_.get());
  ck.restore_optimizer("optimizer.", *opt_);
  if (hung_.mode != "supervised") {
    ck.restore_module("discriminator.", *disc_);
    ck.restore_optimizer("discriminator_optimizer.", *opt_d_);
  }
}

std::vector<float> predict_probs(Module& model, const Sample& s, int64_t classes, int64_t window, int64_t stride) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  const int64_t c = int64_t(s.x.size()) / std::max<int64_t>(s.length, 1), n = s.length;
  std::vector<float> out(size_t(classes * n), 0.f);
  if (window <= 0 || n <= window) {
    const Tensor p = softmax(model(Tensor::from_vector(s.x, {1, c, n}).to(model.device())), 1);
    out = p.contiguous().to_vector<float>();
  } else {
    // The windows as one batch, blended back with triangular weights (engine/ops.h; an export does the same).
    const int64_t step = std::max<int64_t>(1, stride);
    const Tensor x = Tensor::from_vector(s.x, {1, c, n});
    const Tensor p = softmax(model(sliding_windows(x, window, step).to(model.device())), 1);
    out = overlap_add(p, x, window, step).contiguous().to_vector<float>();
  }
  model.train(was_training);
  return out;
}

std::vector<int64_t> argmax_classes(const std::vector<float>& probs, int64_t classes, int64_t length) {
  std::vector<int64_t> out(size_t(length), 0);
  for (int64_t j = 0; j < length; ++j) {
    float best = probs[size_t(j)];
    for (int64_t k = 1; k < classes; ++k)
      if (probs[size_t(k * length + j)] > best) best = probs[size_t(k * length + j)], out[size_t(j)] = k;
  }
  return out;
}

std::vector<float> predict_probs(const std::vector<Module*>& ensemble, const Sample& s, int64_t classes,
                                 int64_t window, int64_t stride) {
  STRATA_CHECK(!ensemble.empty(), "predict_probs: the ensemble has no member");
  std::vector<float> mean = predict_probs(*ensemble[0], s, classes, window, stride);
  for (size_t j = 1; j < ensemble.size(); ++j) {
    const std::vector<float> p = predict_probs(*ensemble[j], s, classes, window, stride);
    for (size_t i = 0; i < mean.size(); ++i) mean[i] += p[i];
  }
  const float scale = 1.0f / float(ensemble.size());
  for (float& v : mean) v *= scale;
  return mean;
}

ConfusionMatrix evaluate(Module& model, const std::vector<Sample>& samples, int64_t classes, int64_t window,
                         int64_t stride, std::vector<std::vector<int64_t>>* predictions) {
  return evaluate(std::vector<Module*>{&model}, samples, classes, window, stride, predictions);
}

ConfusionMatrix evaluate(const std::vector<Module*>& ensemble, const std::vector<Sample>& samples, int64_t classes,
                         int64_t window, int64_t stride, std::vector<std::vector<int64_t>>* predictions) {
  ConfusionMatrix m(classes);
  for (const Sample& s : samples) {
    const std::vector<int64_t> pred = argmax_classes(predict_probs(ensemble, s, classes, window, stride), classes,
                                                     s.length);
    m.add(s.y, pred, -100);
    if (predictions) predictions->push_back(pred);
  }
  return m;
}

std::vector<std::vector<int64_t>> seg2016_adjacent_codes() {
  // Facies 1 SS, 2 CSiS, 3 FSiS, 4 SiSh, 5 MS, 6 WS, 7 D, 8 PS, 9 BS (contest notebook).
  return {{2}, {1, 3}, {2}, {5}, {4, 6}, {5, 7}, {6, 8}, {6, 7, 9}, {7, 8}};
}

std::vector<std::vector<int64_t>> adjacent_classes(const Config& data, const Preprocessing& pre) {
  if (!data.has("adjacent")) {
    data.mark_known("adjacent");
    return {};
  }
  const Config adj = data.section("adjacent");
  std::vector<std::vector<int64_t>> out(size_t(pre.classes()));
  for (const std::string& key : adj.keys()) {
    char* end = nullptr;
    const long long code = std::strtoll(key.c_str(), &end, 10);
    const int64_t k = *end == '\0' ? pre.class_of(code) : -1;
    STRATA_CHECK(k >= 0, adj.key_path(key), ": '", key, "' is not one of data.classes");
    for (int64_t other : adj.get_int_list(key, {})) {
      const int64_t j = pre.class_of(other);
      STRATA_CHECK(j >= 0, adj.key_path(key), ": ", other, " is not one of data.classes");
      out[size_t(k)].push_back(j);
    }
  }
  return out;
}

}  // namespace strata::welllog
