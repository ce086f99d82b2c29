// strata-tiny: trains a two-layer perceptron on a synthetic two-spiral set
// with the engine's autograd and plain SGD with momentum, printing the loss as
// it falls. Needs no data download; it is the README's first command until
// the task apps exist.
//   x: (N, 2) points, y: (N,) labels in {0, 1}
//   logits = relu(x W1 + b1) W2 + b2;  loss = mean NLL(log_softmax(logits))
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"

using namespace strata;

namespace {

struct Spirals {
  Tensor x, y;
};

// Two interleaved spirals with a little noise.
Spirals make_spirals(int64_t n_per_class, Generator& gen) {
  const Tensor noise = Tensor::randn({2 * n_per_class, 2}, DType::f32, &gen, 0, 0.08);
  const std::vector<float> nv = noise.to_vector<float>();
  std::vector<float> xs;
  std::vector<int64_t> ys;
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < n_per_class; ++i) {
      const double t = 0.25 + 3.0 * double(i) / double(n_per_class);  // radius and angle grow together
      const double angle = 2.2 * t + M_PI * double(c);
      const int64_t k = c * n_per_class + i;
      xs.push_back(float(t * std::cos(angle) / 3.0 + nv[2 * k]));
      xs.push_back(float(t * std::sin(angle) / 3.0 + nv[2 * k + 1]));
      ys.push_back(c);
    }
  return {Tensor::from_vector(xs, {2 * n_per_class, 2}), Tensor::from_vector(ys, {2 * n_per_class})};
}

Tensor init_weight(int64_t fan_in, int64_t fan_out, Generator& gen) {
  const double bound = 1.0 / std::sqrt(double(fan_in));  // PyTorch's Linear default range
  Tensor w = Tensor::rand({fan_in, fan_out}, DType::f32, &gen, -bound, bound);
  w.requires_grad_();
  return w;
}

}  // namespace

int main() {
  Generator gen(2024);
  const Spirals data = make_spirals(200, gen);
  const int64_t hidden = 64;
  std::vector<Tensor> params = {init_weight(2, hidden, gen), Tensor::zeros({hidden}), init_weight(hidden, 2, gen),
                                Tensor::zeros({2})};
  params[1].requires_grad_();
  params[3].requires_grad_();
  std::vector<Tensor> velocity;
  for (const Tensor& p : params) velocity.push_back(Tensor::zeros(p.shape()));

  auto forward = [&](const Tensor& x) {
    const Tensor h = maximum(add(matmul(x, params[0]), params[1]), Tensor::scalar(0));
    return add(matmul(h, params[2]), params[3]);
  };
  const Tensor target = data.y.unsqueeze(1);

  std::printf("strata-tiny: 2-layer MLP on two spirals (%lld points), %d CPU threads\n",
              (long long)data.x.size(0), num_threads());
  const double lr = 0.1, momentum = 0.9;
  const int steps = 1500;
  double first_loss = 0, last_loss = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step <= steps; ++step) {
    const Tensor logp = log_softmax(forward(data.x), 1);
    const Tensor loss = neg(mean(gather(logp, 1, target)));
    for (const Tensor& p : params) p.zero_grad();
    loss.backward();
    last_loss = loss.item<float>();
    if (step == 0) first_loss = last_loss;
    if (step % 150 == 0) std::printf("step %5d  loss %.4f\n", step, last_loss);
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      velocity[i].mul_(momentum).add_(params[i].grad());
      params[i].add_(velocity[i], -lr);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  NoGradGuard no_grad;
  const double accuracy =
      mean(eq(argmax(forward(data.x), 1), data.y).to(DType::f32)).item<float>();
  std::printf("loss fell from %.4f to %.4f in %d steps (%.2f s); training accuracy %.1f%%\n", first_loss, last_loss,
              steps, seconds, 100 * accuracy);
  return last_loss < first_loss ? 0 : 1;
}
