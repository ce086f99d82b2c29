// Module base, layers, registry, YAML configs, optimizers and checkpoints.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <fstream>

#include "tests/test_util.h"
#include "engine/autograd.h"
#include "config/config.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/safetensors.h"
#include "layers/checkpoint.h"
#include "layers/layers.h"
#include "layers/optimizer.h"
#include "layers/registry.h"
#include "models/unet.h"

using namespace strata;
using strata::test::error_of;
namespace fs = std::filesystem;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// ---- configs ------------------------------------------------------------------
TEST(Config, TypedReadsDefaultsAndResolvedDump) {
  const Config c = Config::parse("model:\n  depth: 3\n  name: unet\nlr: 0.5\nflags: [1, 2]\n", "run.yaml");
  const Config m = c.section("model");
  EXPECT_EQ(m.get_int("depth", 4), 3);
  EXPECT_EQ(m.get_int("base", 16), 16);  // default, recorded
  EXPECT_EQ(m.get_string("name", ""), "unet");
  EXPECT_DOUBLE_EQ(c.get_double("lr", 1.0, Bounds::positive()), 0.5);
  EXPECT_EQ(c.get_int_list("flags", {}), (std::vector<int64_t>{1, 2}));
  EXPECT_NO_THROW(c.check_unknown_keys());
  const std::string dump = c.dump();
  EXPECT_TRUE(has(dump, "base: 16")) << dump;
  EXPECT_TRUE(has(dump, "version: 1")) << dump;
  // The dump reads back to the same values.
  const Config again = Config::parse(dump, "dump");
  EXPECT_EQ(again.section("model").get_int("base", 0), 16);
}

TEST(Config, ErrorsNameFileKeyPathAndProblem) {
  const Config c = Config::parse("model:\n  dept: 3\n  depth: deep\n  rate: -1\n  kind: resnet\n", "cfg/run.yaml");
  const Config m = c.section("model");
  std::string e = error_of([&] { m.get_int("depth", 4); });
  EXPECT_TRUE(has(e, "cfg/run.yaml: model.depth: must be an integer, got 'deep'")) << e;
  e = error_of([&] { m.get_double("rate", 1, Bounds::positive()); });
  EXPECT_TRUE(has(e, "cfg/run.yaml: model.rate: must be > 0, got -1")) << e;
  e = error_of([&] { m.get_choice("kind", "unet", {"unet", "vgg"}); });
  EXPECT_TRUE(has(e, "model.kind: 'resnet' is not one of: unet, vgg")) << e;
  EXPECT_FALSE(has(e, "did you mean")) << e;
  e = error_of([&] { m.get_choice("kind", "unet", {"unet", "resnet18"}); });
  EXPECT_TRUE(has(e, "'resnet' is not one of: unet, resnet18 (did you mean 'resnet18'?)")) << e;
  e = error_of([&] { m.require_string("encoder"); });
  EXPECT_TRUE(has(e, "model.encoder: is required but missing")) << e;
  e = error_of([&] { c.check_unknown_keys(); });
  EXPECT_TRUE(has(e, "cfg/run.yaml: unknown key 'model.dept'")) << e;
  EXPECT_TRUE(has(e, "known keys in 'model'")) << e;
  EXPECT_TRUE(has(e, "'model.dept' (did you mean 'model.depth'?)")) << e;
  e = error_of([&] { Config::parse("a: [1,\n", "broken.yaml"); });
  EXPECT_TRUE(has(e, "broken.yaml: not valid YAML")) << e;
  e = error_of([&] { Config::parse("version: 7\n", "new.yaml"); });
  EXPECT_TRUE(has(e, "config format 7")) << e;
  e = error_of([&] { Config::load("/nonexistent/strata.yaml"); });
  EXPECT_TRUE(has(e, "/nonexistent/strata.yaml: no such config file")) << e;
}

TEST(Config, UnknownKeysSuggestTheOneKnownKeyATypoAway) {
  const auto unknown_error = [](const std::string& yaml) {
    const Config c = Config::parse(yaml, "t.yaml");
    const Config t = c.section("train");
    for (const char* k : {"epochs", "batch", "lr", "seed", "steps_per_epoch"}) t.get_int(k, 1);
    return error_of([&] { c.check_unknown_keys(); });
  };
  // A swapped pair, a missing letter, another case: each names its key.
  EXPECT_TRUE(has(unknown_error("train: {ephocs: 3}\n"), "'train.ephocs' (did you mean 'train.epochs'?)"));
  EXPECT_TRUE(has(unknown_error("train: {bach: 3}\n"), "(did you mean 'train.batch'?)"));
  EXPECT_TRUE(has(unknown_error("train: {Seed: 3}\n"), "(did you mean 'train.seed'?)"));
  EXPECT_TRUE(has(unknown_error("trian: {epochs: 3}\n"), "'trian' (did you mean 'train'?)"));
  // Every unknown key gets its own suggestion.
  const std::string two = unknown_error("train: {epoch: 3, steps_per_epch: 2}\n");
  EXPECT_TRUE(has(two, "'train.epoch' (did you mean 'train.epochs'?), 'train.steps_per_epch' (did you mean "
                       "'train.steps_per_epoch'?)")) << two;
  // Nothing near, or two known keys equally near: no guess.
  const std::string far = unknown_error("train: {momentum: 3}\n");
  EXPECT_TRUE(has(far, "unknown key 'train.momentum' (known keys in 'train'")) << far;
  EXPECT_FALSE(has(far, "did you mean")) << far;
  const Config c = Config::parse("m: {lrr: 1, ad: 2}\n", "t.yaml");
  for (const char* k : {"lr", "ab", "ac"}) c.section("m").get_int(k, 1);
  const std::string tie = error_of([&] { c.check_unknown_keys(); });
  EXPECT_TRUE(has(tie, "'m.lrr' (did you mean 'm.lr'?)")) << tie;
  EXPECT_TRUE(has(tie, "'m.ad' (known keys in 'm'")) << tie;  // 'ab' and 'ac' are both one letter away
  EXPECT_FALSE(has(tie, "'m.ad' (did you mean")) << tie;
}

TEST(Config, TabIndentationIsNamed) {
  const fs::path f = fs::temp_directory_path() / ("strata_tab_" + std::to_string(getpid()) + ".yaml");
  std::ofstream(f) << "train:\n  epochs: 3\n\tbatch: 4\n";
  const std::string e = error_of([&] { Config::load(f.string()); });
  EXPECT_TRUE(has(e, "not valid YAML")) << e;
  EXPECT_TRUE(has(e, "line 3 is indented with a tab")) << e;
  fs::remove(f);
}

TEST(Config, CommandLineOverrides) {
  Config c = Config::parse("train:\n  lr: 0.1\nmodel:\n  layers:\n    - {type: relu}\n", "x.yaml");
  c.apply_overrides({"train.lr=1e-3", "train.epochs=5", "model.layers.0.type=tanh", "data.sizes=[2, 3]"});
  EXPECT_DOUBLE_EQ(c.section("train").get_double("lr", 0), 1e-3);
  EXPECT_EQ(c.section("train").get_int("epochs", 1), 5);
  EXPECT_EQ(c.section("model").section_list("layers")[0].get_string("type", ""), "tanh");
  EXPECT_EQ(c.section("data").get_int_list("sizes", {}), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(has(error_of([&] { c.apply_override("train.lr"); }), "expected key.sub=value"));
  const std::string e = error_of([&] { c.apply_override("train.lr.x=1"); });
  EXPECT_TRUE(has(e, "override 'train.lr.x=1': train.lr is '1e-3', not a map")) << e;
  // An override of a key nobody reads is caught like a typo in the file.
  c.apply_override("train.lrr=2");
  EXPECT_TRUE(has(error_of([&] { c.check_unknown_keys(); }), "'train.lrr'"));
}

// ---- modules and the registry ------------------------------------------------------------
TEST(Module, NamesCountsModesAndSummary) {
  auto seq = std::make_shared<Sequential>();
  seq->add(std::make_shared<Conv2d>(3, 8, std::array<int64_t, 2>{3, 3}))
      .add(std::make_shared<BatchNorm>(2, 8))
      .add(std::make_shared<ActivationLayer>(Activation::relu))
      .add(std::make_shared<GlobalAvgPool>(true))
      .add(std::make_shared<Linear>(8, 2));
  const auto params = seq->named_parameters();
  ASSERT_EQ(params.size(), 6u);
  EXPECT_EQ(params[0].first, "0.weight");
  EXPECT_EQ(params[5].first, "4.bias");
  EXPECT_EQ(seq->named_buffers()[0].first, "1.running_mean");
  EXPECT_EQ(seq->parameter_count(), 3 * 8 * 9 + 8 + 16 + 16 + 2);
  seq->eval();
  EXPECT_FALSE((*seq)[1]->training());
  seq->train();
  EXPECT_TRUE((*seq)[1]->training());
  const std::string table = seq->summary({2, 3, 10, 10});
  EXPECT_TRUE(has(table, "[2, 8, 8, 8]")) << table;
  EXPECT_TRUE(has(table, "[2, 2]")) << table;
  EXPECT_TRUE(has(table, "parameters: 258")) << table;
  EXPECT_TRUE(seq->training());  // summary restores the mode
}

TEST(Module, InitialisationIsSeededAndPyTorchScaled) {
  Generator a(7), b(7);
  Conv2d c1(4, 6, {3, 3}, {}, true, &a), c2(4, 6, {3, 3}, {}, true, &b);
  EXPECT_EQ(c1.weight.to_vector<float>(), c2.weight.to_vector<float>());
  const double bound = 1.0 / std::sqrt(4.0 * 9.0);
  double lo = 1, hi = -1;
  for (float v : c1.weight.to_vector<float>()) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.8 * bound);  // 216 draws cover the range
  EXPECT_GT(hi, 0.8 * bound);
}

// dlib's sabotage check: backward adds into existing parameter gradients.
TEST(Module, BackwardAccumulatesIntoExistingGradients) {
  UNet net(UNetOptions{1, 2, 3, 4, 2});
  const Tensor x = Tensor::randn({2, 2, 16});
  sum(net(x)).backward();
  std::map<std::string, std::vector<float>> first;
  for (auto& [n, p] : net.named_parameters()) first[n] = p.grad().to_vector<float>();
  for (auto& [n, p] : net.named_parameters()) p.set_grad(Tensor::full(p.shape(), 1000.0));
  sum(net(x)).backward();
  for (auto& [n, p] : net.named_parameters()) {
    const auto g = p.grad().to_vector<float>();
    for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], 1000.0f + first[n][i], 1e-2) << n;
  }
  net.zero_grad();
  for (auto& [n, p] : net.named_parameters()) EXPECT_FALSE(p.grad().defined()) << n;
}

TEST(Registry, BuildsLayersAndModelsFromYaml) {
  const Config c = Config::parse(R"(
model:
  type: sequential
  layers:
    - {type: conv1d, in_channels: 2, out_channels: 4, kernel: 3, same: true}
    - {type: batchnorm1d, num_features: 4}
    - {type: leaky_relu, slope: 0.2}
    - {type: max_pool1d, kernel: 2}
    - {type: upsample1d, scale: 2, mode: linear}
    - {type: flatten}
    - {type: linear, in_features: 64, out_features: 3}
unet: {type: unet2d, in_channels: 1, classes: 1}
)",
                                 "reg.yaml");
  const ModulePtr seq = build_module(c.section("model"));
  const ModulePtr unet = build_module(c.section("unet"));
  c.check_unknown_keys();
  EXPECT_EQ(seq->forward(Tensor::randn({5, 2, 16})).shape(), (Shape{5, 3}));
  EXPECT_EQ(unet->parameter_count(), 1943761);
  const Config bad = Config::parse("model: {type: conv9d}\n", "bad.yaml");
  const std::string e = error_of([&] { build_module(bad.section("model")); });
  EXPECT_TRUE(has(e, "bad.yaml: model.type: unknown module type 'conv9d'")) << e;
  EXPECT_TRUE(has(e, "unet_mobilenetv2")) << e;  // lists what exists
  const Config near = Config::parse("model: {type: unet2}\n", "near.yaml");
  EXPECT_TRUE(has(error_of([&] { build_module(near.section("model")); }),
                  "unknown module type 'unet2' (did you mean 'unet2d'?)"));
  const Config typo = Config::parse("model: {type: linear, in_features: 2, out_feature: 3}\n", "typo.yaml");
  EXPECT_TRUE(has(error_of([&] { build_module(typo.section("model")); }), "model.out_features: is required"));
}

// ---- optimizers --------------------------------------------------------------------------
TEST(Optimizer, SchedulesFollowTheirFormulas) {
  LrSchedule s;
  s.kind = LrSchedule::Kind::poly;
  s.total_steps = 100;
  EXPECT_NEAR(s.factor(50), std::pow(0.5, 0.9), 1e-12);
  s.kind = LrSchedule::Kind::cosine;
  s.min_factor = 0.1;
  EXPECT_NEAR(s.factor(100), 0.1, 1e-12);
  EXPECT_NEAR(s.factor(50), 0.55, 1e-12);
  s.kind = LrSchedule::Kind::step;
  s.step_size = 10;
  s.gamma = 0.5;
  EXPECT_NEAR(s.factor(25), 0.25, 1e-12);
  s.kind = LrSchedule::Kind::constant;
  s.warmup_steps = 4;
  EXPECT_NEAR(s.factor(0), 0.25, 1e-12);
  EXPECT_NEAR(s.factor(3), 1.0, 1e-12);
  EXPECT_NEAR(s.factor(9), 1.0, 1e-12);
}

TEST(Optimizer, GroupsGetTheirOwnRatesAndFrozenParametersStay) {
  UNet net(UNetOptions{1, 1, 2, 4, 1});
  net.child("down")->requires_grad_(false);
  const Config c = Config::parse("type: sgd\nlr: 0.1\ngroups: [{match: head., lr_scale: 10}]\n", "o.yaml");
  auto opt = make_optimizer(c, net.named_parameters(), 100);
  ASSERT_EQ(opt->groups().size(), 2u);
  EXPECT_DOUBLE_EQ(opt->lr(0), 0.1);
  EXPECT_DOUBLE_EQ(opt->lr(1), 1.0);
  EXPECT_EQ(opt->groups()[1].params.size(), 2u);
  const auto frozen_before = net.state_dict().at("down.0.conv1.weight").to_vector<float>();
  const auto head_before = net.state_dict().at("head.weight").to_vector<float>();
  sum(net(Tensor::randn({2, 1, 8}))).backward();
  opt->step();
  EXPECT_EQ(net.state_dict().at("down.0.conv1.weight").to_vector<float>(), frozen_before);
  EXPECT_NE(net.state_dict().at("head.weight").to_vector<float>(), head_before);
  const Config none = Config::parse("groups: [{match: nothing.}]\n", "o.yaml");
  EXPECT_TRUE(has(error_of([&] { make_optimizer(none, net.named_parameters(), 1); }), "selects no trainable"));
}

TEST(Optimizer, ClipGradNormScalesToTheLimit) {
  Tensor a = Tensor::zeros({2}).requires_grad_(), b = Tensor::zeros({1}).requires_grad_();
  a.set_grad(Tensor::from_vector<float>({3, 0}, {2}));
  b.set_grad(Tensor::from_vector<float>({4}, {1}));
  EXPECT_NEAR(clip_grad_norm({a, b}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(a.grad().to_vector<float>()[0], 0.6, 1e-5);
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 0.8, 1e-5);
  EXPECT_NEAR(clip_grad_norm({a, b}, 10.0), 1.0, 1e-5);  // under the limit: unchanged
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 0.8, 1e-5);
}

// ---- checkpoints ----------------------------------------------------------------------------
namespace {
// Trains `steps` Adam steps of a small U-Net on batches drawn from gen.
void train_steps(UNet& net, Optimizer& opt, Generator& gen, int steps) {
  for (int i = 0; i < steps; ++i) {
    const Tensor x = Tensor::randn({2, 1, 16}, DType::f32, &gen);
    const Tensor y = Tensor::rand({2, 2, 16}, DType::f32, &gen);
    opt.zero_grad();
    bce_with_logits(net(x), y).backward();
    opt.step();
  }
}
}  // namespace

TEST(Checkpoint, ResumeGivesIdenticalWeights) {
  const fs::path dir = test::fresh_dir("layers", "resume");
  const Config oc = Config::parse("type: adam\nlr: 0.01\nschedule: {type: cosine}\n", "o.yaml");
  Generator init_a(1), init_b(1);
  manual_seed(3);
  UNet straight(UNetOptions{1, 1, 2, 4, 2});
  auto opt_s = make_optimizer(oc, straight.named_parameters(), 6);
  Generator data_s(42);
  train_steps(straight, *opt_s, data_s, 6);

  manual_seed(3);
  UNet first(UNetOptions{1, 1, 2, 4, 2});
  auto opt_f = make_optimizer(oc, first.named_parameters(), 6);
  Generator data_f(42);
  train_steps(first, *opt_f, data_f, 4);
  Checkpoint ck;
  ck.add_module("model", first);
  ck.add_optimizer("optim", *opt_f);
  ck.set_rng(data_f);
  ck.set("step", "4");
  ck.save((dir / "ck.safetensors").string());

  manual_seed(99);  // a different initialisation, overwritten by the checkpoint
  UNet resumed(UNetOptions{1, 1, 2, 4, 2});
  auto opt_r = make_optimizer(oc, resumed.named_parameters(), 6);
  const Checkpoint loaded = Checkpoint::load((dir / "ck.safetensors").string());
  loaded.restore_module("model", resumed);
  loaded.restore_optimizer("optim", *opt_r);
  Generator data_r;
  loaded.restore_rng(data_r);
  EXPECT_EQ(loaded.get_int("step"), 4);
  EXPECT_EQ(opt_r->steps(), 4);
  train_steps(resumed, *opt_r, data_r, 2);
  for (const auto& [n, t] : straight.state_dict())
    EXPECT_EQ(t.to_vector<float>(), resumed.state_dict().at(n).to_vector<float>()) << n;
}

TEST(Checkpoint, MismatchesAreListedExactly) {
  const fs::path dir = test::fresh_dir("layers", "mismatch");
  UNet small(UNetOptions{1, 1, 2, 4, 2});
  Checkpoint ck;
  ck.add_module("model", small);
  ck.save((dir / "small.safetensors").string());
  const Checkpoint loaded = Checkpoint::load((dir / "small.safetensors").string());
  UNet deeper(UNetOptions{1, 1, 2, 4, 3});
  std::string e = error_of([&] { loaded.restore_module("model", deeper); });
  EXPECT_TRUE(has(e, "small.safetensors [model]: does not fit this unet1d (92 tensors here, 66 in the file)")) << e;
  EXPECT_TRUE(has(e, "missing from the file (26): dec.2.bn1.bias")) << e;
  UNet more_classes(UNetOptions{1, 1, 3, 4, 2});
  e = error_of([&] { loaded.restore_module("model", more_classes); });
  EXPECT_TRUE(has(e, "shape or dtype differs (2): head.bias is [3] f32 here, [2] f32 in the file, head.weight is "
                     "[3, 4, 1] f32 here, [2, 4, 1] f32 in the file")) << e;
  save_safetensors((dir / "plain.safetensors").string(), {{"x", Tensor::zeros({1})}});
  EXPECT_TRUE(has(error_of([&] { Checkpoint::load((dir / "plain.safetensors").string()); }),
                  "not a strata checkpoint"));
  EXPECT_TRUE(fs::exists(dir / "small.safetensors"));
  for (const auto& entry : fs::directory_iterator(dir))  // the temporary file was renamed away
    EXPECT_EQ(entry.path().extension(), ".safetensors") << entry.path();
}

// Names are PREFIX.NAME whether the prefix is given with its dot or without; files written with the double dot of
// earlier versions ("model..head.weight", "optimizer..type") still load.
TEST(Checkpoint, OneDotBetweenPrefixAndNameAndOldDoubleDotFilesLoad) {
  const fs::path dir = test::fresh_dir("layers", "dots");
  manual_seed(5);
  UNet net(UNetOptions{1, 1, 2, 4, 2});
  const Config oc = Config::parse("type: adam\nlr: 0.01\n", "o.yaml");
  auto opt = make_optimizer(oc, net.named_parameters(), 4);
  Generator data(1);
  train_steps(net, *opt, data, 2);
  Checkpoint ck;
  ck.add_module("model.", net);
  ck.add_optimizer("optimizer.", *opt);
  for (const auto& [name, t] : ck.tensors) EXPECT_EQ(name.find(".."), std::string::npos) << name;
  EXPECT_TRUE(ck.tensors.count("model.head.weight"));
  EXPECT_TRUE(ck.metadata.count("optimizer.type"));
  // The same state as an earlier version wrote it.
  std::map<std::string, Tensor> legacy;
  for (const auto& [name, t] : ck.tensors) legacy[name.substr(0, name.find('.')) + "." + name.substr(name.find('.'))] = t;
  std::map<std::string, std::string> meta{{"format", "strata-checkpoint"}, {"format_version", "1"},
                                          {"optimizer..type", ck.metadata.at("optimizer.type")},
                                          {"optimizer..steps", ck.metadata.at("optimizer.steps")}};
  ASSERT_TRUE(legacy.count("model..head.weight"));
  save_safetensors((dir / "old.safetensors").string(), legacy, meta);
  const Checkpoint old = Checkpoint::load((dir / "old.safetensors").string());
  manual_seed(77);
  UNet restored(UNetOptions{1, 1, 2, 4, 2});
  auto opt_r = make_optimizer(oc, restored.named_parameters(), 4);
  old.restore_module("model.", restored);
  old.restore_optimizer("optimizer", *opt_r);
  EXPECT_EQ(opt_r->steps(), 2);
  for (const auto& [n, t] : net.state_dict())
    EXPECT_EQ(t.to_vector<float>(), restored.state_dict().at(n).to_vector<float>()) << n;
}

// F16 on disk, f32 in memory: values as numpy's float16 rounds them (to nearest, ties to even), subnormals, the
// largest half, and 65519 rounding down to it. A tensor holding a value half precision cannot (a batch norm's
// running variance of 190,944) stays F32, exactly; infinities alone do not keep a tensor F32.
TEST(Safetensors, HalfPrecisionRoundsToNearestEvenAndKeepsLargeTensorsExact) {
  const fs::path dir = test::fresh_dir("layers", "half");
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v{1.0f, -2.5f, 0.1f, 1.0f / 3, 65504.f, 65519.f, 5.9604645e-08f, 1e-9f, 2049.f, 2051.f, inf};
  const std::vector<float> want{1.0f, -2.5f, 0.0999755859375f, 0.333251953125f, 65504.f, 65504.f,
                                5.9604645e-08f, 0.f, 2048.f, 2052.f, inf};
  const std::vector<float> big{0.1f, 190944.25f, -65520.f};
  save_safetensors((dir / "h.safetensors").string(),
                   {{"x", Tensor::from_vector(v, {11})}, {"y_var", Tensor::from_vector(big, {3})}}, {}, true);
  EXPECT_EQ(fs::file_size(dir / "h.safetensors") % 8, 2u);  // 22 + 12 data bytes after an 8-aligned header
  const Safetensors st = load_safetensors((dir / "h.safetensors").string());
  EXPECT_EQ(st.at("x").dtype(), DType::f32);
  EXPECT_EQ(st.at("x").to_vector<float>(), want);
  EXPECT_EQ(st.at("y_var").to_vector<float>(), big);
}

// The Python reader in tests/reference opens a strata checkpoint.
TEST(Checkpoint, ReadableFromPython) {
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "SKIPPED LOUDLY: /usr/bin/python3 with numpy is not installed (scripts/install_deps.sh --torch)";
  const fs::path dir = test::fresh_dir("layers", "python");
  UNet net(UNetOptions{1, 1, 5, 4, 2});
  Checkpoint ck;
  ck.add_module("model", net);
  ck.set("config", "model: {type: unet1d}\n");
  ck.save((dir / "ck.safetensors").string());
  const std::string out = (dir / "listing.txt").string();
  const std::string cmd = "/usr/bin/python3 " STRATA_SOURCE_DIR "/tests/reference/safetensors_io.py " +
                          (dir / "ck.safetensors").string() + " > " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream f(out);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(has(text, "meta format = 'strata-checkpoint'")) << text;
  EXPECT_TRUE(has(text, "model.head.weight float32 [5, 4, 1]")) << text;
  EXPECT_TRUE(has(text, "model.down.0.bn1.running_var float32 [4]")) << text;
}
