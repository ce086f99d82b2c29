#include "models/discriminator.h"

#include "engine/error.h"
#include "layers/registry.h"

namespace strata {

Discriminator::Discriminator(int dims, int64_t classes, int64_t width, double slope)
    : Module(dims == 1 ? "discriminator1d" : "discriminator2d"), dims_(dims), classes_(classes), width_(width),
      slope_(slope) {
  STRATA_CHECK(dims == 1 || dims == 2, "discriminator: dims must be 1 or 2, got ", dims);
  STRATA_CHECK(classes > 0 && width > 0, "discriminator: classes and width must be > 0");
  conv_ = register_module("conv", std::make_shared<ModuleList>());
  const int64_t widths[] = {classes, width, 2 * width, 4 * width, 8 * width, 1};
  for (int i = 0; i < 5; ++i) {
    if (dims == 1)
      conv_->add(std::make_shared<Conv1d>(widths[i], widths[i + 1], 4, Conv1dOptions{2, 1, 1, 1, false}));
    else
      conv_->add(std::make_shared<Conv2d>(widths[i], widths[i + 1], std::array<int64_t, 2>{4, 4},
                                          Conv2dOptions{{2, 2}, {1, 1}, {1, 1}, 1, false}));
  }
}

Tensor Discriminator::forward(const Tensor& x) {
  STRATA_CHECK(x.dim() == dims_ + 2 && x.size(1) == classes_, type(), ": expects (N, ", classes_,
               dims_ == 1 ? ", L)" : ", H, W)", " class maps, got ", shape_str(x.shape()));
  const int64_t min_size = 32;  // five stride-2 convolutions need at least 2^5 samples per axis
  for (int64_t d = 2; d < x.dim(); ++d)
    STRATA_CHECK(x.size(d) >= min_size, type(), ": each spatial size must be >= ", min_size, ", got ",
                 shape_str(x.shape()));
  Tensor y = x;
  for (size_t i = 0; i < 5; ++i) {
    y = (*conv_)[i](y);
    if (i < 4) y = leaky_relu(y, slope_);
  }
  if (dims_ == 1) {
    Upsample1dOptions o;
    o.size = x.size(2);
    o.mode = UpsampleMode::linear;
    return upsample1d(y, o);
  }
  Upsample2dOptions o;
  o.size = {x.size(2), x.size(3)};
  o.mode = UpsampleMode::linear;
  return upsample2d(y, o);
}

std::string Discriminator::describe() const { return str_cat(dims_, "-D, ", classes_, " classes, width ", width_); }

namespace {
ModulePtr make_discriminator(const Config& c, int dims) {
  return std::make_shared<Discriminator>(dims, c.require_int("classes", Bounds::at_least(1)),
                                         c.get_int("width", 64, Bounds::at_least(1)),
                                         c.get_double("slope", 0.2, Bounds::between(0, 1)));
}
}  // namespace

STRATA_REGISTER_MODULE("discriminator1d", [](const Config& c) { return make_discriminator(c, 1); });
STRATA_REGISTER_MODULE("discriminator2d", [](const Config& c) { return make_discriminator(c, 2); });

}  // namespace strata
