// The layer zoo. Every layer is a Module over the ops of engine/nn_ops.h, with
// PyTorch's parameter names, shapes and default initialisation, so a PyTorch
// state_dict loads name for name:
//   conv / linear weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's
//   kaiming_uniform(a=sqrt(5)) and its bias rule); batch norm weight 1, bias 0,
//   running mean 0, running var 1.
// Random initialisation draws from `gen` (nullptr: the default generator), so
// a seeded generator gives the same model on every machine.
// Each layer registers itself under its YAML `type:` name in its .cpp file
// (layers/registry.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/nn_ops.h"
#include "layers/module.h"

namespace strata {

class Generator;

// ---- convolutions: x (N, C, L) or (N, C, H, W) ------------------------------
class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel, Conv1dOptions options = {}, bool bias = true,
         Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // (K, C / groups, k), (K) or undefined
  Conv1dOptions options;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel, Conv2dOptions options = {},
         bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // (K, C / groups, R, S), (K) or undefined
  Conv2dOptions options;
};

class ConvTranspose1d : public Module {
 public:
  ConvTranspose1d(int64_t in_channels, int64_t out_channels, int64_t kernel, ConvTranspose1dOptions options = {},
                  bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // (C, K / groups, k), (K)
  ConvTranspose1dOptions options;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel,
                  ConvTranspose2dOptions options = {}, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // (C, K / groups, R, S), (K)
  ConvTranspose2dOptions options;
};

// ---- volumes: x (N, C, D, H, W) ------------------------------------------------
class Conv3d : public Module {
 public:
  Conv3d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> kernel, Conv3dOptions options = {},
         bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // (K, C, T, R, S), (K) or undefined
  Conv3dOptions options;
};

// The transposed convolution of stride = kernel (conv_transpose3d_blocks): a U-Net's upsampling of volumes.
class ConvTranspose3d : public Module {
 public:
  ConvTranspose3d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> kernel, bool bias = true,
                  Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;  // (C, K, T, R, S), (K)
};

// x (N, in) or (N, ..., in): y = x W^T + b with W (out, in).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias;
};

// Batch norm over the channel axis of (N, C, L) (spatial_dims 1), (N, C, H, W)
// (spatial_dims 2) or (N, C, D, H, W) (spatial_dims 3); buffers running_mean, running_var.
class BatchNorm : public Module {
 public:
  BatchNorm(int spatial_dims, int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Tensor weight, bias, running_mean, running_var;
  int spatial_dims;
  double eps, momentum;
  // Training statistics over all data-parallel ranks (sync_batch_norm) when
  // there are several; set by convert_sync_batchnorm / sync_batchnorm: true.
  bool sync = false;
  // A ReLU or ReLU6 after the normalisation, in the same kernel where the
  // backend has one (batch_norm_relu); no parameter of its own, so
  // checkpoints are alike.
  std::optional<Activation> act;

 private:
  Tensor forward_planes(const Tensor& x);  // (N, C), (N, C, L) or (N, C, H, W)
};

// ---- activations --------------------------------------------------------------
class ActivationLayer : public Module {
 public:
  // param: slope (leaky_relu), alpha (elu), beta (softplus); ignored otherwise.
  ActivationLayer(Activation kind, double param = 0);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Activation kind;
  double param;
};

// softmax / log-softmax over `dim` (default: the channel axis).
class Softmax : public Module {
 public:
  explicit Softmax(bool log = false, int64_t dim = 1);
  Tensor forward(const Tensor& x) override;
  bool log;
  int64_t dim;
};

// ---- pooling and resampling ---------------------------------------------------
class Pool : public Module {
 public:
  enum class Kind { max, avg };
  Pool(Kind kind, int spatial_dims, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride = {0, 0},
       std::array<int64_t, 2> padding = {0, 0}, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Kind kind;
  int spatial_dims;
  Pool2dOptions options;  // for 1-D the second entries are used; for 3-D (max only, stride = kernel) the
                          // depth window is kernel[0] too
};

// (N, C, ...) -> (N, C, 1...) mean over the spatial axes; flatten=true gives (N, C).
class GlobalAvgPool : public Module {
 public:
  explicit GlobalAvgPool(bool flatten = false);
  Tensor forward(const Tensor& x) override;
  bool flatten;
};

class Upsample : public Module {
 public:
  Upsample(int spatial_dims, double scale, UpsampleMode mode = UpsampleMode::nearest, bool align_corners = false);
  // To a fixed size instead of by a factor.
  static std::shared_ptr<Upsample> to_size(int spatial_dims, std::array<int64_t, 2> size, UpsampleMode mode,
                                           bool align_corners = false);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  int spatial_dims;
  double scale;
  std::array<int64_t, 2> size{0, 0};
  UpsampleMode mode;
  bool align_corners;
};

// ---- regularisation and shape ---------------------------------------------------
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  double p;
  Generator* gen;
};

// Flattens dims [start_dim, end_dim] (default: all but the batch axis).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1);
  Tensor forward(const Tensor& x) override;
  int64_t start_dim, end_dim;
};

// Reshapes every sample: (N, ...) -> (N, shape...). One entry may be -1.
class Reshape : public Module {
 public:
  explicit Reshape(Shape shape);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Shape shape;
};

class Identity : public Module {
 public:
  Identity() : Module("identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// Children named "0", "1", ... applied in order.
class Sequential : public Module {
 public:
  Sequential() : Module("sequential") {}
  explicit Sequential(const std::vector<ModulePtr>& layers);
  Sequential& add(ModulePtr layer);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  const ModulePtr& operator[](size_t i) const { return layers_.at(i); }

 private:
  std::vector<ModulePtr> layers_;
};

// Holds children named "0", "1", ... that the owner calls itself (the levels
// of a U-Net); it has no forward of its own.
class ModuleList : public Module {
 public:
  ModuleList() : Module("module_list") {}
  ModuleList& add(ModulePtr m);
  Tensor forward(const Tensor& x) override;  // an error: a ModuleList is not callable
  size_t size() const { return items_.size(); }
  Module& operator[](size_t i) const { return *items_.at(i); }

 private:
  std::vector<ModulePtr> items_;
};

}  // namespace strata
