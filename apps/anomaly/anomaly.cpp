#include "apps/anomaly/anomaly.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "apps/common/datasets.h"
#include "apps/common/idx.h"
#include "apps/common/plot.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"

namespace fs = std::filesystem;

namespace strata::anomaly {

int64_t ImageSet::count(int64_t label) const { return int64_t(std::count(labels.begin(), labels.end(), label)); }

void ImageSet::add(Image img, int64_t label, std::string name) {
  images.push_back(std::move(img));
  labels.push_back(label);
  names.push_back(std::move(name));
}

namespace {

const char* const kFmnistClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// Keeps at most `limit` entries of `set` (0: all), chosen by `seed`, in their original order.
ImageSet limited(ImageSet set, int64_t limit, uint64_t seed) {
  if (limit <= 0 || int64_t(set.size()) <= limit) return set;
  std::vector<size_t> idx(set.size());
  std::iota(idx.begin(), idx.end(), size_t(0));
  std::mt19937_64 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(size_t(limit));
  std::sort(idx.begin(), idx.end());
  ImageSet out;
  for (size_t i : idx) out.add(std::move(set.images[i]), set.labels[i], std::move(set.names[i]));
  return out;
}

}  // namespace

Shape AnomalyData::input_shape(const Config& data) {
  const std::string source = data.get_choice("source", "fmnist", {"fmnist", "folders"});
  if (source == "fmnist") return {1, 28, 28};
  const int64_t channels = data.get_int("channels", 1, Bounds::between(1, 3));
  STRATA_CHECK(channels != 2, "data.channels must be 1 (grey) or 3 (RGB), got 2");
  const std::vector<int64_t> size = data.get_int_list("size", {});
  STRATA_CHECK(size.size() == 2 && size[0] > 0 && size[1] > 0,
               "data.size: [height, width] is required for image folders (every image is resized to it), got ",
               size.size(), " numbers");
  return {channels, size[0], size[1]};
}

AnomalyData::AnomalyData(const Config& data, const Shape& input) : input_(input) {
  source_ = data.get_choice("source", "fmnist", {"fmnist", "folders"});
  tf_ = TransformOptions::from_config(data, input[0]);
  STRATA_CHECK(tf_.mean.empty() && !tf_.per_image && tf_.noise == 0 && tf_.crop.empty() &&
                   tf_.scale == std::vector<double>({1, 1}),
               "data.normalize, data.augment.crop, data.augment.scale and data.augment.noise are not used by "
               "strata-anomaly: the autoencoder reconstructs the whole image, at data.size, with pixels in [0, 1]");
  tf_.size = {input[1], input[2]};
  const uint64_t split_seed = uint64_t(data.get_int("split_seed", 1, Bounds::at_least(0)));
  const int64_t limit_train = data.get_int("limit_train", 0, Bounds::at_least(0));
  const int64_t limit_val = data.get_int("limit_val", 0, Bounds::at_least(0));
  const int64_t limit_test = data.get_int("limit_test", 0, Bounds::at_least(0));
  if (source_ == "fmnist") {
    // Without data.root: the data root's copy (scripts/get_data.sh fashion-mnist) when there is one, else the
    // Debian package's (apt-get install dataset-fashion-mnist).
    std::string fallback = "/usr/share/datasets/fashion-mnist";
    if (!data.has("root")) {
      const fs::path mine = fs::path(Config::data_root()) / "fashion-mnist";
      if (fs::is_directory(mine)) fallback = mine.string();
    }
    root_ = data.get_string("root", fallback);
    const int64_t k = data.require_int("normal_class", Bounds::between(0, 9));
    const double val_fraction = data.get_double("val_fraction", 0.1, Bounds{0, 1, true});
    STRATA_CHECK(val_fraction < 1, "data.val_fraction must be below 1 (the rest trains), got ", val_fraction);
    ImageSet all = read_fmnist_split(true, k);
    // A seeded split of the training file by image: val_fraction of every class is held out.
    std::vector<size_t> idx(all.size());
    std::iota(idx.begin(), idx.end(), size_t(0));
    std::mt19937_64 rng(split_seed);
    std::shuffle(idx.begin(), idx.end(), rng);
    const size_t n_val = size_t(std::llround(val_fraction * double(all.size())));
    std::vector<char> held(all.size(), 0);
    for (size_t i = 0; i < n_val; ++i) held[idx[i]] = 1;
    for (size_t i = 0; i < all.size(); ++i) {
      if (held[i]) val_.add(std::move(all.images[i]), all.labels[i], std::move(all.names[i]));
      else if (all.labels[i] == 0) train_.add(std::move(all.images[i]), 0, std::move(all.names[i]));
    }
    test_ = read_fmnist_split(false, k);
  } else {
    const std::string train_dir = data.get_string("train", ""), val_dir = data.get_string("val", ""),
                      test_dir = data.get_string("test", "");
    STRATA_CHECK(!train_dir.empty(), "data.train: the folder of normal training images is required");
    STRATA_CHECK(!val_dir.empty(),
                 "data.val: a folder with normal/ and anomalous/ images is required (the threshold is chosen on it)");
    require_folder(train_dir, "data.train");
    STRATA_CHECK(!fs::exists(fs::path(train_dir) / "anomalous"), "data.train: ", train_dir,
                 " has an anomalous/ subfolder; the autoencoder trains on normal images only (put them in "
                 "data.train, or in its normal/ subfolder)");
    const std::string normal_dir =
        fs::is_directory(fs::path(train_dir) / "normal") ? (fs::path(train_dir) / "normal").string() : train_dir;
    for (const std::string& f : image_files(normal_dir, true)) train_.add(load_image(f, input_), 0, f);
    STRATA_CHECK(train_.size() > 0, "data.train: ", normal_dir, " holds no image files (PNG, JPEG, BMP, ...)");
    val_ = labelled_folder(val_dir, input_);
    if (!test_dir.empty()) test_ = labelled_folder(test_dir, input_);
  }
  train_ = limited(std::move(train_), limit_train, split_seed + 1);
  val_ = limited(std::move(val_), limit_val, split_seed + 2);
  test_ = limited(std::move(test_), limit_test, split_seed + 3);
  STRATA_CHECK(val_.count(0) > 0 && val_.count(1) > 0, "the validation set needs normal and anomalous images (it has ",
               val_.count(0), " normal, ", val_.count(1), " anomalous): the threshold is chosen on it");
}

ImageSet AnomalyData::read_fmnist_split(bool train_file, int64_t normal_class) const {
  const std::string prefix = train_file ? "train" : "t10k";
  const auto path = [&](const std::string& kind) {
    const fs::path base = fs::path(root_) / (prefix + "-" + kind + "-idx" + (kind == "images" ? "3" : "1") + "-ubyte");
    if (fs::exists(base)) return base.string();
    const std::string gz = base.string() + ".gz";
    STRATA_CHECK(fs::exists(gz), "data.root: ", root_, " has neither ", base.filename().string(), " nor ",
                 fs::path(gz).filename().string(),
                 " (scripts/get_data.sh fashion-mnist, or apt-get install dataset-fashion-mnist)");
    return gz;
  };
  const std::string ip = path("images"), lp = path("labels");
  const IdxArray im = read_idx(ip), la = read_idx(lp);
  STRATA_CHECK(im.dims.size() == 3 && im.dims[1] == 28 && im.dims[2] == 28, ip,
               ": expected N x 28 x 28 images, the header says ", im.dims.size(), " dimensions");
  STRATA_CHECK(la.dims.size() == 1, lp, ": expected one label per image, the header says ", la.dims.size(),
               " dimensions");
  STRATA_CHECK(la.dims[0] == im.dims[0], lp, ": ", la.dims[0], " labels for ", im.dims[0], " images in ", ip);
  ImageSet out;
  const int64_t plane = 28 * 28;
  for (int64_t i = 0; i < im.dims[0]; ++i) {
    const int64_t c = la.data[size_t(i)];
    STRATA_CHECK(c < 10, lp, ": label ", c, " of image ", i, " is not a Fashion-MNIST class (0-9)");
    Image img{1, 28, 28, std::vector<float>(size_t(plane))};
    for (int64_t j = 0; j < plane; ++j) img.data[size_t(j)] = float(im.data[size_t(i * plane + j)]) / 255.0f;
    out.add(std::move(img), c == normal_class ? 0 : 1,
            str_cat("fashion-mnist ", train_file ? "train" : "test", " #", i, " (", kFmnistClasses[c], ")"));
  }
  return out;
}

ImageSet AnomalyData::labelled_folder(const std::string& folder, const Shape& input) {
  require_folder(folder, "labelled folder");
  ImageSet out;
  for (const auto& [sub, label] : {std::pair<const char*, int64_t>{"normal", 0}, {"anomalous", 1}}) {
    const fs::path dir = fs::path(folder) / sub;
    STRATA_CHECK(fs::is_directory(dir), folder, ": has no ", sub,
                 "/ subfolder (a labelled set holds normal/ and anomalous/ folders of images)");
    for (const std::string& f : image_files(dir.string(), true)) out.add(load_image(f, input), label, f);
  }
  STRATA_CHECK(out.size() > 0, folder, ": normal/ and anomalous/ hold no image files");
  return out;
}

Image AnomalyData::load_image(const std::string& path, const Shape& input) {
  Image img = read_image(path, input[0]);
  if (img.height == input[1] && img.width == input[2]) return img;
  return resize_image(img, input[1], input[2], img.height > input[1] || img.width > input[2] ? Interp::area : Interp::bilinear);
}

Image AnomalyData::sample(const Image& img, std::mt19937_64* rng) const {
  if (!rng) return img;
  return apply_transforms(Sample{img, {}}, tf_, rng).image;
}

std::string AnomalyData::describe() const {
  return str_cat(source_ == "fmnist" ? "Fashion-MNIST" : "image folders", ": ", train_.size(), " normal training, ",
                 val_.size(), " validation (", val_.count(1), " anomalous), ", test_.size(), " test (", test_.count(1),
                 " anomalous) images of ", shape_str(input_));
}

// ---- loss and scores -----------------------------------------------------------

LossOptions LossOptions::from_config(const Config& loss) {
  LossOptions o;
  o.reconstruction = loss.get_choice("reconstruction", "mse", {"mse", "l1", "bce"});
  o.kl_weight = loss.get_double("kl_weight", 1, Bounds::at_least(0));
  o.transforms_per_image = loss.get_int("transforms_per_image", 2, Bounds::between(1, 8));
  STRATA_CHECK(8 % o.transforms_per_image == 0,
               "loss.transforms_per_image must be 1, 2, 4 or 8, got ", o.transforms_per_image);
  return o;
}

Tensor autoencoder_loss(const Autoencoder::Output& out, const Tensor& x, const LossOptions& o) {
  const double n = double(x.size(0));
  const Tensor& r = out.reconstruction;
  Tensor rec = o.reconstruction == "mse" ? mse_loss(r, x, Reduction::sum)
               : o.reconstruction == "l1" ? l1_loss(r, x, Reduction::sum)
                                          : bce(r, x, Tensor(), Reduction::sum);
  Tensor loss = rec * (1.0 / n);
  if (out.logvar.defined() && o.kl_weight > 0) loss = loss + gaussian_kl(out.mean, out.logvar) * o.kl_weight;
  return loss;
}

Tensor training_loss(Autoencoder& model, const Tensor& x, const LossOptions& o) {
  Tensor loss = autoencoder_loss(model.run(x), x, o);
  if (model.has_transform_head()) {
    const Autoencoder::TransformBatch t = model.transform_batch(x, o.transforms_per_image);
    loss = loss + cross_entropy(t.logits, t.target);
  }
  return loss;
}

ScoreOptions ScoreOptions::from_config(const Config& score) {
  ScoreOptions o;
  o.error = score.get_choice("error", "mse", {"mse", "l1"});
  o.reduce = score.get_choice("reduce", "mean", {"mean", "sum"});
  o.vae = score.get_choice("vae", "reconstruction", {"reconstruction", "elbo"});
  o.terms = score.get_string_list("terms", {"error"});
  STRATA_CHECK(!o.terms.empty(), "score.terms: name at least one term (error, latent, transforms)");
  for (size_t i = 0; i < o.terms.size(); ++i) {
    const std::string& t = o.terms[i];
    STRATA_CHECK(t == "error" || t == "latent" || t == "transforms", "score.terms: '", t,
                 "' is not a term (error, latent, transforms)");
    STRATA_CHECK(std::find(o.terms.begin(), o.terms.begin() + std::ptrdiff_t(i), t) == o.terms.begin() + std::ptrdiff_t(i),
                 "score.terms: '", t, "' is named twice");
  }
  return o;
}

bool ScoreOptions::uses(const std::string& term) const {
  return std::find(terms.begin(), terms.end(), term) != terms.end();
}

std::string ScoreOptions::describe() const {
  const std::string err = str_cat(error, " ", reduce == "mean" ? "averaged" : "summed", " over pixels",
                                  vae == "elbo" ? " (VAE: negative ELBO)" : "");
  const auto name = [&](const std::string& t) {
    return t == "error" ? (combined() ? "log " + err : err)
           : t == "latent" ? std::string(combined() ? "log " : "") + "latent Mahalanobis distance"
                           : std::string("transform head's negative log-likelihood");
  };
  if (!combined()) return name(terms[0]);
  std::string d = "sum of standardised terms: ";
  for (size_t i = 0; i < terms.size(); ++i) d += (i ? ", " : "") + name(terms[i]);
  return d;
}

void ScoreCalibration::save(Checkpoint& ck) const {
  if (latent_mean.defined()) {
    ck.add_tensor("anomaly.latent_mean", latent_mean);
    ck.add_tensor("anomaly.latent_whitening", latent_whitening);
  }
  if (!term_mean.empty()) {  // as text, every digit kept: a loaded model scores exactly as in training
    const auto text = [](const std::vector<double>& v) {
      std::string s;
      char buf[64];
      for (double x : v) {
        std::snprintf(buf, sizeof buf, "%.17g", x);
        s += (s.empty() ? "" : ",") + std::string(buf);
      }
      return s;
    };
    ck.set("anomaly.term_mean", text(term_mean));
    ck.set("anomaly.term_sd", text(term_sd));
  }
}

ScoreCalibration ScoreCalibration::load(const Checkpoint& ck, const ScoreOptions& o) {
  ScoreCalibration c;
  const auto need = [&](const std::string& name) -> const Tensor& {
    STRATA_CHECK(ck.has_tensor(name), ck.path, ": the score (", o.describe(), ") needs ", name,
                 ", which this checkpoint does not hold; use the best.safetensors of a finished run");
    return ck.tensor(name);
  };
  if (o.uses("latent")) {
    // A weights-only file (export --format safetensors) carries them flattened to f64.
    c.latent_mean = need("anomaly.latent_mean").to(DType::f32).contiguous().reshape({1, -1});
    const int64_t dim = c.latent_mean.size(1);
    const Tensor& w = need("anomaly.latent_whitening");
    STRATA_CHECK(w.numel() == dim * dim, ck.path, ": anomaly.latent_whitening holds ", w.numel(), " values, not ", dim,
                 " x ", dim);
    c.latent_whitening = w.to(DType::f32).contiguous().reshape({dim, dim});
  }
  if (o.combined()) {
    const auto numbers = [&](const std::string& key) {
      STRATA_CHECK(ck.has(key), ck.path, ": the score (", o.describe(), ") needs ", key,
                   ", which this checkpoint does not hold; use the best.safetensors of a finished run");
      std::vector<double> v;
      std::stringstream in(ck.get(key));
      for (std::string item; std::getline(in, item, ',');) {
        char* end = nullptr;
        v.push_back(std::strtod(item.c_str(), &end));
        STRATA_CHECK(end && *end == 0 && !item.empty() && std::isfinite(v.back()), ck.path, ": ", key, " holds '",
                     item, "', not a number");
      }
      STRATA_CHECK(v.size() == o.terms.size(), ck.path, ": ", key, " holds ", v.size(), " terms, the score names ",
                   o.terms.size());
      return v;
    };
    c.term_mean = numbers("anomaly.term_mean");
    c.term_sd = numbers("anomaly.term_sd");
  }
  return c;
}

Tensor stack_images(const std::vector<Image>& images, size_t begin, size_t end) {
  const Image& a = images[begin];
  const size_t per = a.data.size();
  std::vector<float> x((end - begin) * per);
  for (size_t i = begin; i < end; ++i) {
    STRATA_CHECK(images[i].data.size() == per, "images of different sizes in one batch");
    std::copy(images[i].data.begin(), images[i].data.end(), x.begin() + std::ptrdiff_t((i - begin) * per));
  }
  return Tensor::from_vector(x, {int64_t(end - begin), a.channels, a.height, a.width});
}

Tensor reconstruction_error(const Autoencoder::Output& out, const Tensor& x, const ScoreOptions& o, bool elbo) {
  const Tensor diff = out.reconstruction - x;
  const Tensor err = (o.error == "mse" ? diff * diff : abs(diff)).reshape({x.size(0), -1});
  return elbo || o.reduce == "sum" ? sum(err, {1}) : mean(err, {1});
}

Tensor kl_term(const Autoencoder::Output& out) {
  return sum((out.mean * out.mean + exp(out.logvar) - out.logvar - 1.0).reshape({out.mean.size(0), -1}) * 0.5, {1});
}

namespace {

// A term's value as it is added: errors and distances span decades, so they add as logarithms.
constexpr double kLogFloor = 1e-12;
bool logged(const std::string& term) { return term != "transforms"; }
double as_added(const std::string& term, double value) { return logged(term) ? std::log(value + kLogFloor) : value; }

// The lower-triangular K with K K^T = a (a symmetric positive definite, n x n, row-major), in double.
std::vector<double> cholesky(const std::vector<double>& a, int64_t n) {
  std::vector<double> l(size_t(n * n), 0);
  for (int64_t j = 0; j < n; ++j) {
    double d = a[size_t(j * n + j)];
    for (int64_t k = 0; k < j; ++k) d -= l[size_t(j * n + k)] * l[size_t(j * n + k)];
    STRATA_CHECK(d > 0, "the latent covariance is not positive definite");
    l[size_t(j * n + j)] = std::sqrt(d);
    for (int64_t i = j + 1; i < n; ++i) {
      double v = a[size_t(i * n + j)];
      for (int64_t k = 0; k < j; ++k) v -= l[size_t(i * n + k)] * l[size_t(j * n + k)];
      l[size_t(i * n + j)] = v / l[size_t(j * n + j)];
    }
  }
  return l;
}

// The inverse of a lower-triangular matrix (n x n, row-major), by forward substitution; lower-triangular too.
std::vector<double> lower_inverse(const std::vector<double>& k, int64_t n) {
  std::vector<double> m(size_t(n * n), 0);
  for (int64_t j = 0; j < n; ++j) {
    m[size_t(j * n + j)] = 1 / k[size_t(j * n + j)];
    for (int64_t i = j + 1; i < n; ++i) {
      double v = 0;
      for (int64_t q = j; q < i; ++q) v += k[size_t(i * n + q)] * m[size_t(q * n + j)];
      m[size_t(i * n + j)] = -v / k[size_t(i * n + i)];
    }
  }
  return m;
}

}  // namespace

std::vector<Tensor> score_terms(Autoencoder& model, const Autoencoder::Output& out, const Tensor& x,
                                const ScoreOptions& o, const ScoreCalibration& c) {
  const bool elbo = o.vae == "elbo" && model.options().variational;
  std::vector<Tensor> terms;
  for (const std::string& t : o.terms) {
    if (t == "error") {
      const Tensor error = reconstruction_error(out, x, o, elbo);
      terms.push_back(elbo ? error + kl_term(out) : error);
    } else if (t == "latent") {
      STRATA_CHECK(c.latent_mean.defined(), "score.terms latent: the latent Gaussian has not been fitted");
      const Tensor d = out.mean.reshape({x.size(0), -1}) - c.latent_mean.to(x.device());
      const Tensor w = matmul(d, c.latent_whitening.to(x.device()));
      terms.push_back(sum(w * w, {1}));
    } else {
      STRATA_CHECK(model.has_transform_head(), "score.terms transforms needs a model with a transform head "
                                               "(model.transform_head: channels, e.g. 16)");
      terms.push_back(model.transform_nll(x));
    }
  }
  return terms;
}

Tensor anomaly_scores(Autoencoder& model, const Autoencoder::Output& out, const Tensor& x, const ScoreOptions& o,
                      const ScoreCalibration& c) {
  std::vector<Tensor> terms = score_terms(model, out, x, o, c);
  if (!o.combined()) return terms[0];
  Tensor score;
  for (size_t j = 0; j < terms.size(); ++j) {
    const Tensor v = logged(o.terms[j]) ? log(terms[j] + kLogFloor) : terms[j];
    const Tensor z = (v - c.term_mean[j]) * (1.0 / c.term_sd[j]);
    score = j == 0 ? z : score + z;
  }
  return score;
}

std::vector<std::vector<double>> term_values(Autoencoder& model, const std::vector<Image>& images,
                                             const ScoreOptions& o, const ScoreCalibration& c, int64_t batch,
                                             std::vector<Image>* recon) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  std::vector<std::vector<double>> values(o.terms.size());
  if (recon) recon->clear();
  for (size_t b = 0; b < images.size(); b += size_t(batch)) {
    const size_t e = std::min(images.size(), b + size_t(batch));
    const Tensor x = stack_images(images, b, e).to(model.device());
    const Autoencoder::Output out = model.run(x);
    const std::vector<Tensor> terms = score_terms(model, out, x, o, c);
    for (size_t j = 0; j < terms.size(); ++j)
      for (float v : terms[j].to_vector<float>()) values[j].push_back(double(v));
    if (recon) {
      const std::vector<float> r = out.reconstruction.to_vector<float>();
      const size_t per = images[b].data.size();
      for (size_t i = b; i < e; ++i) {
        Image img = images[i];
        std::copy(r.begin() + std::ptrdiff_t((i - b) * per), r.begin() + std::ptrdiff_t((i - b + 1) * per),
                  img.data.begin());
        recon->push_back(std::move(img));
      }
    }
  }
  if (was_training) model.train();
  return values;
}

std::vector<double> combine_terms(const std::vector<std::vector<double>>& terms, const ScoreOptions& o,
                                  const ScoreCalibration& c) {
  if (!o.combined()) return terms.at(0);
  STRATA_CHECK(c.term_mean.size() == terms.size(), "combined score: the terms' spread has not been fitted");
  std::vector<double> score(terms[0].size(), 0);
  for (size_t j = 0; j < terms.size(); ++j)
    for (size_t i = 0; i < score.size(); ++i) score[i] += (as_added(o.terms[j], terms[j][i]) - c.term_mean[j]) / c.term_sd[j];
  return score;
}

std::vector<double> score_images(Autoencoder& model, const std::vector<Image>& images, const ScoreOptions& o,
                                 const ScoreCalibration& c, int64_t batch, std::vector<Image>* recon) {
  return combine_terms(term_values(model, images, o, c, batch, recon), o, c);
}

ShrunkCovariance shrunk_covariance(const std::vector<double>& rows, int64_t n, int64_t dim) {
  STRATA_CHECK(n >= 1 && dim >= 1 && int64_t(rows.size()) == n * dim, "shrunk_covariance: ", rows.size(),
               " values for ", n, " rows of ", dim);
  ShrunkCovariance r{std::vector<double>(size_t(dim), 0), std::vector<double>(size_t(dim * dim), 0)};
  std::vector<double>& mean = r.mean;
  std::vector<double>& cov = r.cov;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t a = 0; a < dim; ++a) mean[size_t(a)] += rows[size_t(i * dim + a)] / double(n);
  double fourth = 0;  // the sum over rows of |x_i|^4, x_i the centred row
  std::vector<double> x(static_cast<size_t>(dim));
  for (int64_t i = 0; i < n; ++i) {
    double norm2 = 0;
    for (int64_t a = 0; a < dim; ++a) {
      x[size_t(a)] = rows[size_t(i * dim + a)] - mean[size_t(a)];
      norm2 += x[size_t(a)] * x[size_t(a)];
    }
    for (int64_t a = 0; a < dim; ++a)
      for (int64_t b = 0; b <= a; ++b) cov[size_t(a * dim + b)] += x[size_t(a)] * x[size_t(b)] / double(n);
    fourth += norm2 * norm2;
  }
  double trace = 0, frobenius2 = 0;  // of the sample covariance S
  for (int64_t a = 0; a < dim; ++a) {
    trace += cov[size_t(a * dim + a)];
    for (int64_t b = 0; b < a; ++b) {
      cov[size_t(b * dim + a)] = cov[size_t(a * dim + b)];
      frobenius2 += 2 * cov[size_t(a * dim + b)] * cov[size_t(a * dim + b)];
    }
    frobenius2 += cov[size_t(a * dim + a)] * cov[size_t(a * dim + a)];
  }
  // The intensity: the rows' spread around S (beta) against S's distance from mu I (delta), both per dimension.
  const double mu = trace / double(dim);
  const double delta = (frobenius2 - 2 * mu * trace + double(dim) * mu * mu) / double(dim);
  const double beta = std::min(delta, std::max(0.0, (fourth / double(n) - frobenius2) / (double(dim) * double(n))));
  const double shrink = delta > 0 ? beta / delta : 1.0;
  for (int64_t a = 0; a < dim; ++a)
    for (int64_t b = 0; b < dim; ++b) cov[size_t(a * dim + b)] = (1 - shrink) * cov[size_t(a * dim + b)] + (a == b ? shrink * mu : 0.0);
  r.shrinkage = shrink;
  return r;
}

ScoreCalibration fit_latent(Autoencoder& model, const ImageSet& train, const ScoreOptions& o) {
  ScoreCalibration c;
  if (!o.uses("latent")) return c;
  STRATA_CHECK(model.options().bottleneck == "dense",
               "score.terms latent needs a dense latent (a latent map has no Gaussian of its own here)");
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  const int64_t n = int64_t(train.size());
  STRATA_CHECK(n >= 2, "score.terms latent: needs at least two training images to fit the codes' Gaussian");
  std::vector<double> codes;
  int64_t dim = 0;
  for (size_t b = 0; b < train.size(); b += 256) {
    const size_t e = std::min(train.size(), b + 256);
    const Tensor x = stack_images(train.images, b, e).to(model.device());
    const Tensor z = model.run(x).mean;
    dim = z.numel() / z.size(0);
    for (float v : z.to_vector<float>()) codes.push_back(double(v));
  }
  if (was_training) model.train();
  ShrunkCovariance gauss = shrunk_covariance(codes, n, dim);
  std::vector<double>& cov = gauss.cov;
  double mu = 0;
  for (int64_t a = 0; a < dim; ++a) mu += cov[size_t(a * dim + a)] / double(dim);
  // A small ridge besides keeps the inverse finite when every code is alike.
  for (int64_t a = 0; a < dim; ++a) cov[size_t(a * dim + a)] += 1e-3 * std::max(mu, 1e-12);
  // cov = K K^T, so d^T cov^-1 d = |K^-1 d|^2: the whitening W = (K^-1)^T gives it as |d W|^2 for a row d.
  const std::vector<double> m = lower_inverse(cholesky(cov, dim), dim);
  std::vector<float> w(size_t(dim * dim));
  for (int64_t a = 0; a < dim; ++a)
    for (int64_t b = 0; b < dim; ++b) w[size_t(a * dim + b)] = float(m[size_t(b * dim + a)]);
  c.latent_mean = Tensor::from_vector(std::vector<float>(gauss.mean.begin(), gauss.mean.end()), {1, dim});
  c.latent_whitening = Tensor::from_vector(w, {dim, dim});
  return c;
}

void fit_term_spread(ScoreCalibration& c, const std::vector<std::vector<double>>& terms,
                     const std::vector<int64_t>& labels, const ScoreOptions& o) {
  c.term_mean.clear();
  c.term_sd.clear();
  if (!o.combined()) return;
  for (size_t j = 0; j < terms.size(); ++j) {
    STRATA_CHECK(terms[j].size() == labels.size(), "fit_term_spread: ", terms[j].size(), " values for ",
                 labels.size(), " labels");
    std::vector<double> v;  // the term as it is added, over the normal images
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == 0) v.push_back(as_added(o.terms[j], terms[j][i]));
    STRATA_CHECK(v.size() >= 2, "a combined score needs at least two normal validation images to weigh its terms");
    double m = 0, ss = 0;
    for (double x : v) m += x / double(v.size());
    for (double x : v) ss += (x - m) * (x - m);
    c.term_mean.push_back(m);
    c.term_sd.push_back(std::max(std::sqrt(ss / double(v.size() - 1)), 1e-12));
  }
}

// ---- thresholds --------------------------------------------------------------

namespace {

void check_scored(const std::vector<double>& scores, const std::vector<int64_t>& labels, const char* what) {
  STRATA_CHECK(scores.size() == labels.size(), what, ": ", scores.size(), " scores for ", labels.size(), " labels");
  int64_t pos = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    STRATA_CHECK(labels[i] == 0 || labels[i] == 1, what, ": label ", labels[i], " is not 0 (normal) or 1 (anomalous)");
    STRATA_CHECK(std::isfinite(scores[i]), what, ": score ", i, " is ", scores[i],
                 " (the model produced a non-finite reconstruction)");
    pos += labels[i];
  }
  STRATA_CHECK(pos > 0 && pos < int64_t(labels.size()), what, ": needs normal and anomalous images, got ",
               int64_t(labels.size()) - pos, " normal and ", pos, " anomalous");
}

// numpy.quantile's default (linear) on ascending values.
double quantile_of(const std::vector<double>& ascending, double q) {
  const double pos = q * double(ascending.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, ascending.size() - 1);
  return ascending[lo] + (pos - double(lo)) * (ascending[hi] - ascending[lo]);
}

}  // namespace

std::vector<RatePoint> rate_curve(const std::vector<double>& scores, const std::vector<int64_t>& labels) {
  check_scored(scores, labels, "rate curve");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  int64_t pos = 0;
  for (int64_t l : labels) pos += l;
  const int64_t neg = int64_t(labels.size()) - pos;
  std::vector<RatePoint> out;
  int64_t pos_at_or_below = 0, neg_at_or_below = 0;  // scores <= threshold: called normal
  for (size_t i = 0; i < order.size();) {
    const double t = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == t; ++i) (labels[order[i]] ? pos_at_or_below : neg_at_or_below)++;
    out.push_back({t, double(pos - pos_at_or_below) / double(pos), double(neg_at_or_below) / double(neg)});
  }
  return out;
}

ThresholdPolicy ThresholdPolicy::from_config(const Config& threshold) {
  ThresholdPolicy p;
  p.rule = threshold.get_choice("rule", "tpr1_quantile", {"tpr1_quantile", "youden", "fpr", "tpr"});
  p.quantile = threshold.get_double("quantile", 0.9, Bounds::between(0, 1));
  p.target = threshold.get_double("target", p.rule == "tpr" ? 0.95 : 0.05, Bounds::between(0, 1));
  return p;
}

ThresholdChoice choose_threshold(const std::vector<double>& scores, const std::vector<int64_t>& labels,
                                 const ThresholdPolicy& p) {
  const std::vector<RatePoint> curve = rate_curve(scores, labels);
  ThresholdChoice c;
  char buf[256];
  if (p.rule == "tpr1_quantile") {
    double best = 0;
    for (const RatePoint& r : curve) best = std::max(best, r.tpr);
    std::vector<double> at;
    for (const RatePoint& r : curve)
      if (r.tpr == best) at.push_back(r.threshold);
    c.threshold = quantile_of(at, p.quantile);
    std::snprintf(buf, sizeof buf, "the %.3g quantile of the %zu validation thresholds at which TPR is %.4g",
                  p.quantile, at.size(), best);
    c.how = buf;
    if (best < 1)
      c.warning = str_cat("no validation threshold reaches TPR 1 (an anomalous image scores lowest of all); used the "
                          "thresholds at the highest TPR reached, ",
                          best);
  } else if (p.rule == "youden") {
    size_t arg = 0;
    for (size_t i = 1; i < curve.size(); ++i)
      if (curve[i].tpr + curve[i].tnr > curve[arg].tpr + curve[arg].tnr) arg = i;
    c.threshold = curve[arg].threshold;
    std::snprintf(buf, sizeof buf, "Youden's J = TPR + TNR - 1 = %.4f at its maximum on validation",
                  curve[arg].tpr + curve[arg].tnr - 1);
    c.how = buf;
  } else if (p.rule == "fpr") {
    size_t i = 0;
    while (i + 1 < curve.size() && 1 - curve[i].tnr > p.target) ++i;
    c.threshold = curve[i].threshold;
    std::snprintf(buf, sizeof buf, "the lowest validation threshold with false-positive rate <= %.4g (%.4f)",
                  p.target, 1 - curve[i].tnr);
    c.how = buf;
  } else {
    size_t i = curve.size() - 1;
    while (i > 0 && curve[i].tpr < p.target) --i;
    c.threshold = curve[i].threshold;
    std::snprintf(buf, sizeof buf, "the highest validation threshold with true-positive rate >= %.4g (%.4f)",
                  p.target, curve[i].tpr);
    c.how = buf;
    if (curve[i].tpr < p.target)
      c.warning = str_cat("no validation threshold reaches TPR ", p.target, "; used the lowest, TPR ", curve[i].tpr);
  }
  return c;
}

double average_precision(const std::vector<double>& scores, const std::vector<int64_t>& labels) {
  const std::vector<RatePoint> curve = rate_curve(scores, labels);
  int64_t pos = 0;
  for (int64_t l : labels) pos += l;
  const int64_t neg = int64_t(labels.size()) - pos;
  // Walk thresholds from the highest score down: each step calls one more distinct score anomalous.
  double ap = 0, prev_recall = 0;
  for (size_t i = curve.size(); i-- > 0;) {
    // Threshold just below score i: scores >= curve[i].threshold are anomalous.
    const double tpr = i == 0 ? 1.0 : curve[i - 1].tpr, fpr = i == 0 ? 1.0 : 1 - curve[i - 1].tnr;
    const double tp = tpr * double(pos), fp = fpr * double(neg);
    const double precision = tp + fp > 0 ? tp / (tp + fp) : 1;
    ap += (tpr - prev_recall) * precision;
    prev_recall = tpr;
  }
  return ap;
}

Report make_report(const std::vector<double>& scores, const std::vector<int64_t>& labels, double threshold,
                   double level) {
  const std::vector<RatePoint> curve = rate_curve(scores, labels);
  Report r;
  r.threshold = threshold;
  r.level = level;
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool called = scores[i] > threshold;
    if (labels[i]) (called ? tp : fn)++;
    else (called ? fp : tn)++;
  }
  r.anomalous = tp + fn;
  r.normal = tn + fp;
  r.tpr = double(tp) / double(tp + fn);
  r.tnr = double(tn) / double(tn + fp);
  r.precision = tp + fp > 0 ? double(tp) / double(tp + fp) : 0;
  r.f1 = r.precision + r.tpr > 0 ? 2 * r.precision * r.tpr / (r.precision + r.tpr) : 0;
  r.auroc = roc_auc(scores, labels);
  r.ap = average_precision(scores, labels);
  for (const RatePoint& p : curve)
    if (p.tpr > level && p.tnr > level) {
      if (!r.has_interval) r.interval_lo = p.threshold;
      r.has_interval = true;
      r.interval_hi = p.threshold;
    }
  return r;
}

std::string Report::str() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%lld normal, %lld anomalous; threshold %.6g: TPR %.4f, TNR %.4f, precision %.4f, F1 %.4f\n"
                "AUROC %.4f, average precision %.4f\n",
                static_cast<long long>(normal), static_cast<long long>(anomalous), threshold, tpr, tnr, precision, f1,
                auroc, ap);
  std::string s = buf;
  if (has_interval)
    std::snprintf(buf, sizeof buf, "TPR and TNR both above %.2f for thresholds in [%.6g, %.6g]\n", level, interval_lo,
                  interval_hi);
  else
    std::snprintf(buf, sizeof buf, "no threshold gives TPR and TNR both above %.2f\n", level);
  return s + buf;
}

void write_report_csv(const std::string& path, const Report& r, const std::string& set_name) {
  write_file_atomic(path, [&](std::ostream& f) {
    f.precision(8);
    f << "# strata anomaly report v1 (" << set_name << ")\nmetric,value\n"
      << "normal," << r.normal << "\nanomalous," << r.anomalous << "\nthreshold," << r.threshold << "\ntpr," << r.tpr
      << "\ntnr," << r.tnr << "\nprecision," << r.precision << "\nf1," << r.f1 << "\nauroc," << r.auroc << "\nap,"
      << r.ap << "\ninterval_level," << r.level << "\n";
    if (r.has_interval) f << "interval_lo," << r.interval_lo << "\ninterval_hi," << r.interval_hi << "\n";
    else f << "interval_lo,\ninterval_hi,\n";
  });
}

// ---- figures -----------------------------------------------------------------

namespace {
// A marked value across the plot: a dashed dark line.
Series vertical(const std::string& name, double x, double y0, double y1) {
  return {name, {x, x}, {y0, y1}, Rgb{60, 60, 60}, Dash::dashed};
}
LinePlotOptions unit_y() {
  LinePlotOptions o;
  o.y_lo = 0, o.y_hi = 1;
  return o;
}
}  // namespace

void rates_plot(const std::string& path, const std::string& title, const std::vector<double>& scores,
                const std::vector<int64_t>& labels, double threshold) {
  const std::vector<RatePoint> curve = rate_curve(scores, labels);
  Series tpr{"TPR", {}, {}}, tnr{"TNR", {}, {}};
  for (const RatePoint& p : curve) {
    tpr.x.push_back(p.threshold);
    tpr.y.push_back(p.tpr);
    tnr.x.push_back(p.threshold);
    tnr.y.push_back(p.tnr);
  }
  line_plot(path, title, "threshold (anomaly score)", "rate", {tpr, tnr, vertical("chosen threshold", threshold, 0, 1)},
            unit_y());
}

void roc_plot(const std::string& path, const std::string& title, const std::vector<double>& scores,
              const std::vector<int64_t>& labels) {
  const std::vector<RatePoint> curve = rate_curve(scores, labels);
  Series roc{str_cat("ROC (AUC ", std::round(roc_auc(scores, labels) * 1e4) / 1e4, ")"), {1}, {1}};
  for (const RatePoint& p : curve) {
    roc.x.push_back(1 - p.tnr);
    roc.y.push_back(p.tpr);
  }
  line_plot(path, title, "false-positive rate", "true-positive rate",
            {roc, Series{"chance", {0, 1}, {0, 1}, Rgb{150, 150, 150}, Dash::dotted}}, unit_y());
}

void histogram_plot(const std::string& path, const std::string& title, const std::vector<double>& scores,
                    const std::vector<int64_t>& labels, double threshold) {
  // Bins over the 0.5 % .. 99.5 % range of all scores (a few far outliers would squash the rest); share per bin.
  std::vector<double> sorted = scores;
  std::sort(sorted.begin(), sorted.end());
  const double lo = quantile_of(sorted, 0.005), hi = std::max(quantile_of(sorted, 0.995), lo + 1e-12);
  const int bins = 40;
  std::vector<double> counts[2] = {std::vector<double>(bins, 0), std::vector<double>(bins, 0)};
  double totals[2] = {0, 0};
  for (size_t i = 0; i < scores.size(); ++i) {
    const int b = std::clamp(int((scores[i] - lo) / (hi - lo) * bins), 0, bins - 1);
    counts[labels[i]][size_t(b)] += 1;
    totals[labels[i]] += 1;
  }
  std::vector<Series> series;
  double top = 0;
  for (int l : {0, 1}) {
    Series s{l ? "anomalous" : "normal", {}, {}};
    for (int b = 0; b < bins; ++b) {  // a step outline
      const double y = totals[l] > 0 ? counts[l][size_t(b)] / totals[l] : 0;
      s.x.insert(s.x.end(), {lo + (hi - lo) * b / bins, lo + (hi - lo) * (b + 1) / bins});
      s.y.insert(s.y.end(), {y, y});
      top = std::max(top, y);
    }
    series.push_back(std::move(s));
  }
  if (threshold >= lo && threshold <= hi) series.push_back(vertical("threshold", threshold, 0, top));
  line_plot(path, title, "anomaly score", "share of images per bin", series);
}

void case_panels(const std::string& path, Autoencoder& model, const ImageSet& set, const std::vector<double>& scores,
                 int64_t per_group) {
  std::vector<size_t> order(set.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  struct Group {
    const char* title;
    int64_t label;
    bool highest;
  };
  const Group groups[] = {{"normal: lowest", 0, false},
                          {"normal: highest", 0, true},
                          {"anomaly: highest", 1, true},
                          {"anomaly: lowest", 1, false}};
  std::vector<size_t> picked;
  std::vector<std::string> captions;
  for (const Group& g : groups) {
    std::vector<size_t> of;
    for (size_t i : order)
      if (set.labels[i] == g.label) of.push_back(i);
    if (g.highest) std::reverse(of.begin(), of.end());
    for (size_t k = 0; k < of.size() && int64_t(k) < per_group; ++k) {
      picked.push_back(of[k]);
      captions.push_back(g.title);
    }
  }
  if (picked.empty()) return;
  std::vector<Image> inputs, recon;
  for (size_t i : picked) inputs.push_back(set.images[i]);
  term_values(model, inputs, ScoreOptions{}, ScoreCalibration{}, 256, &recon);  // the reconstructions
  // Error maps share one scale (the largest error shown) so they compare.
  float top = 1e-6f;
  for (size_t k = 0; k < inputs.size(); ++k)
    for (size_t j = 0; j < inputs[k].data.size(); ++j)
      top = std::max(top, std::fabs(inputs[k].data[j] - recon[k].data[j]));
  std::vector<std::vector<Panel>> rows;
  for (size_t k = 0; k < picked.size(); ++k) {
    const Image& x = inputs[k];
    const auto to_panel = [&](const std::string& title, const Image& img) {
      Panel p{title, x.height, x.width, img.channels, {}};
      p.pixels.resize(img.data.size());
      const int64_t plane = x.height * x.width;
      for (int64_t c = 0; c < img.channels; ++c)
        for (int64_t i = 0; i < plane; ++i) p.pixels[size_t(i * img.channels + c)] = img.data[size_t(c * plane + i)];
      return p;
    };
    Image err{1, x.height, x.width, std::vector<float>(size_t(x.height * x.width), 0)};
    for (int64_t c = 0; c < x.channels; ++c)
      for (int64_t i = 0; i < x.height * x.width; ++i)
        err.data[size_t(i)] += std::fabs(x.data[size_t(c * x.height * x.width + i)] -
                                         recon[k].data[size_t(c * x.height * x.width + i)]) /
                               float(x.channels);
    char score_text[64];
    std::snprintf(score_text, sizeof score_text, "score %.4g", scores[picked[k]]);
    Panel error = to_panel(score_text, err);
    error.map = Colormap::magma;
    error.hi = top;
    error.bar = "|input - reconstruction|";
    rows.push_back({to_panel(captions[k], x), to_panel("reconstruction", recon[k]), error});
  }
  image_panels(path, rows, 160);
}

}  // namespace strata::anomaly
