// Training-step workloads of BENCHMARKS.md, written with latent's public API as a user would:
//   W1_vae_step   MLP VAE on 784-dim inputs (batch 128): forward, summed BCE + KL, backward, Adam step
//   W4_ddpm_step  DDPM ε-prediction on 2-D points (batch 256): sample t and ε, build x_t and the time
//                 embedding, forward, MSE, backward, Adam step (small layers: per-op costs show)
// Figures: median ms per step over the timed steps after 5 warm-up steps (bench_common.hpp), reported as the
// benchmark's time and the counter median_ms. compare/torch_workloads.{cpp,py} are the LibTorch and PyTorch twins.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <latent/latent.hpp>
#include <latent/nn/linear.hpp>
#include <latent/optim/adam.hpp>

#include "bench_common.hpp"
#include "bench_workload.hpp"

namespace latent_bench {
namespace {

using latent::index_t;
using latent::Tensor;

// ---- W1: MLP VAE ------------------------------------------------------------------------------------------------
// PyTorch's examples/vae: 784 → 400 (ReLU) → μ, log σ² (20 each); 20 → 400 (ReLU) → 784 (sigmoid).
class Vae : public latent::nn::Module<float> {
 public:
  explicit Vae(latent::Rng& rng)
      : fc1({.in_features = 784, .out_features = 400}, rng),
        fc21({.in_features = 400, .out_features = 20}, rng),
        fc22({.in_features = 400, .out_features = 20}, rng),
        fc3({.in_features = 20, .out_features = 400}, rng),
        fc4({.in_features = 400, .out_features = 784}, rng) {
    register_module("fc1", fc1);
    register_module("fc21", fc21);
    register_module("fc22", fc22);
    register_module("fc3", fc3);
    register_module("fc4", fc4);
  }

  /// Summed BCE reconstruction + KL(q(z|x) || N(0, I)) for the batch x.
  Tensor<float> loss(const Tensor<float>& x, latent::Rng& rng) {
    const Tensor<float> h = latent::relu(fc1(x));
    const Tensor<float> mu = fc21(h), logvar = fc22(h);
    const Tensor<float> z =
        latent::add(mu, latent::mul(latent::randn_like(mu, rng), latent::exp(latent::mul_scalar(logvar, 0.5f))));
    const Tensor<float> recon = latent::sigmoid(fc4(latent::relu(fc3(z))));
    return latent::add(latent::binary_cross_entropy(recon, x, latent::Reduction::sum), latent::kl_normal(mu, logvar));
  }

  latent::nn::Linear<float> fc1, fc21, fc22, fc3, fc4;
};

class W1VaeStep {
 public:
  W1VaeStep()
      : rng_(0), model_(rng_), x_(latent::rand<float>({128, 784}, rng_)), opt_(model_.parameters(), {.lr = 1e-3}) {}

  float step() {
    const Tensor<float> loss = model_.loss(x_, rng_);
    opt_.zero_grad();
    loss.backward();
    opt_.step();
    return loss.item();
  }

 private:
  latent::Rng rng_;
  Vae model_;
  Tensor<float> x_;
  latent::optim::Adam<float> opt_;
};

// ---- W4: DDPM denoiser on 2-D points ------------------------------------------------------------------------------
// ε-prediction: x_t = √ᾱ_t x₀ + √(1-ᾱ_t) ε, loss = ‖ε̂(x_t, t) - ε‖² (mean), with T = 1000 linear betas
// 1e-4…0.02 and ε̂ = MLP 66 → 128 → 128 → 128 → 2 (SiLU) on [x_t, sin(t fᵢ), cos(t fᵢ)], fᵢ = e^{-ln(10⁴) i/32}.
class Denoiser : public latent::nn::Module<float> {
 public:
  explicit Denoiser(latent::Rng& rng)
      : fc1({.in_features = 66, .out_features = 128}, rng),
        fc2({.in_features = 128, .out_features = 128}, rng),
        fc3({.in_features = 128, .out_features = 128}, rng),
        fc4({.in_features = 128, .out_features = 2}, rng) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
    register_module("fc3", fc3);
    register_module("fc4", fc4);
  }
  Tensor<float> forward(const Tensor<float>& x) {
    return fc4(latent::silu(fc3(latent::silu(fc2(latent::silu(fc1(x)))))));
  }

  latent::nn::Linear<float> fc1, fc2, fc3, fc4;
};

class W4DdpmStep {
 public:
  static constexpr index_t batch = 256, points = 8192, steps = 1000, half_dim = 32;

  W4DdpmStep()
      : rng_(0),
        model_(rng_),
        data_(latent::randn<float>({points, 2}, rng_)),
        sqrt_alpha_bar_(latent::empty<float>({steps})),
        sqrt_one_minus_alpha_bar_(latent::empty<float>({steps})),
        freqs_(latent::empty<float>({1, half_dim})),
        opt_(model_.parameters(), {.lr = 1e-3}) {
    double alpha_bar = 1;
    for (index_t i = 0; i < steps; ++i) {
      alpha_bar *= 1 - (1e-4 + (0.02 - 1e-4) * static_cast<double>(i) / static_cast<double>(steps - 1));
      sqrt_alpha_bar_.data()[i] = static_cast<float>(std::sqrt(alpha_bar));
      sqrt_one_minus_alpha_bar_.data()[i] = static_cast<float>(std::sqrt(1 - alpha_bar));
    }
    for (index_t i = 0; i < half_dim; ++i)
      freqs_.data()[i] =
          static_cast<float>(std::exp(-std::log(10000.0) * static_cast<double>(i) / static_cast<double>(half_dim)));
  }

  float step() {
    const Tensor<std::int64_t> idx = latent::randint(0, points, {batch}, rng_);
    const Tensor<std::int64_t> t = latent::randint(0, steps, {batch}, rng_);
    const Tensor<float> eps = latent::randn<float>({batch, 2}, rng_);
    const Tensor<float> x0 = latent::index_select(data_, 0, idx);
    const Tensor<float> a = latent::reshape(latent::index_select(sqrt_alpha_bar_, 0, t), {batch, 1});
    const Tensor<float> s = latent::reshape(latent::index_select(sqrt_one_minus_alpha_bar_, 0, t), {batch, 1});
    const Tensor<float> x_t = latent::add(latent::mul(a, x0), latent::mul(s, eps));
    auto t_float = latent::empty<float>({batch, 1});
    for (index_t i = 0; i < batch; ++i) t_float.data()[i] = static_cast<float>(t.data()[i]);
    const Tensor<float> args = latent::mul(t_float, freqs_);  // [batch, 32]
    const Tensor<float> input = latent::cat(std::vector<Tensor<float>>{x_t, latent::sin(args), latent::cos(args)}, 1);
    const Tensor<float> loss = latent::mse_loss(model_.forward(input), eps);
    opt_.zero_grad();
    loss.backward();
    opt_.step();
    return loss.item();
  }

 private:
  latent::Rng rng_;
  Denoiser model_;
  Tensor<float> data_, sqrt_alpha_bar_, sqrt_one_minus_alpha_bar_, freqs_;
  latent::optim::Adam<float> opt_;
};

void W1_vae_step(benchmark::State& state) { run_steps<W1VaeStep>(state, w1_samples); }
void W4_ddpm_step(benchmark::State& state) { run_steps<W4DdpmStep>(state, w4_samples); }
BENCHMARK(W1_vae_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W4_ddpm_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

bool run_workload(const std::string& name, int steps) {
  if (name == "W1") return run_untimed<W1VaeStep>(steps);
  if (name == "W4") return run_untimed<W4DdpmStep>(steps);
  return false;
}

}  // namespace latent_bench
