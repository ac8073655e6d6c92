// GAN<Generator, Discriminator, Loss>: adversarial training with the standard losses (minimax, non-saturating,
// least-squares, hinge, Wasserstein), the WGAN-GP and R1 gradient penalties, n critic steps and an EMA generator.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../autograd/engine.hpp"
#include "../autograd/grad_mode.hpp"
#include "../nn/module.hpp"
#include "../ops/ops.hpp"
#include "../optim/ema.hpp"
#include "../optim/optimizer.hpp"
#include "concepts.hpp"
#define LATENT_INSIDE_MODELS
#include "detail/conditioning.hpp"
#undef LATENT_INSIDE_MODELS

namespace latent {

// The adversarial losses, each a pair (discriminator loss, generator loss) of batch means over the
// discriminator's logits r = D(x) on real data and f = D(G(z)) on generated data.

/// Goodfellow et al. 2014: D minimises −log σ(r) − log(1 − σ(f)) = softplus(−r) + softplus(f);
/// G minimises log(1 − σ(f)) = −softplus(f) (saturates when D wins).
struct MinimaxLoss {
  static std::string name() { return "minimax"; }
  template <Scalar T>
  Tensor<T> discriminator(const Tensor<T>& real, const Tensor<T>& fake) const {
    return add(mean(softplus(neg(real))), mean(softplus(fake)));
  }
  template <Scalar T>
  Tensor<T> generator(const Tensor<T>& fake) const { return neg(mean(softplus(fake))); }
};

/// The same discriminator; G minimises −log σ(f) = softplus(−f) (Goodfellow et al.'s practical choice).
struct NonSaturatingLoss {
  static std::string name() { return "non_saturating"; }
  template <Scalar T>
  Tensor<T> discriminator(const Tensor<T>& real, const Tensor<T>& fake) const { return MinimaxLoss{}.discriminator(real, fake); }
  template <Scalar T>
  Tensor<T> generator(const Tensor<T>& fake) const { return mean(softplus(neg(fake))); }
};

/// LSGAN (Mao et al. 2017, a = 0, b = c = 1): D minimises ½(r − 1)² + ½f²; G minimises ½(f − 1)².
struct LeastSquaresLoss {
  static std::string name() { return "least_squares"; }
  template <Scalar T>
  Tensor<T> discriminator(const Tensor<T>& real, const Tensor<T>& fake) const {
    return mul_scalar(add(mean(square(add_scalar(real, T(-1)))), mean(square(fake))), T(0.5));
  }
  template <Scalar T>
  Tensor<T> generator(const Tensor<T>& fake) const { return mul_scalar(mean(square(add_scalar(fake, T(-1)))), T(0.5)); }
};

/// Hinge (Lim & Ye 2017; SAGAN, BigGAN): D minimises relu(1 − r) + relu(1 + f); G minimises −f.
struct HingeLoss {
  static std::string name() { return "hinge"; }
  template <Scalar T>
  Tensor<T> discriminator(const Tensor<T>& real, const Tensor<T>& fake) const {
    return add(mean(relu(add_scalar(neg(real), T(1)))), mean(relu(add_scalar(fake, T(1)))));
  }
  template <Scalar T>
  Tensor<T> generator(const Tensor<T>& fake) const { return neg(mean(fake)); }
};

/// Wasserstein (Arjovsky et al. 2017): the critic minimises f − r; G minimises −f. Pair it with the gradient
/// penalty (GANOptions::gradient_penalty = 10: WGAN-GP) to keep the critic about 1-Lipschitz.
struct WassersteinLoss {
  static std::string name() { return "wasserstein"; }
  template <Scalar T>
  Tensor<T> discriminator(const Tensor<T>& real, const Tensor<T>& fake) const { return sub(mean(fake), mean(real)); }
  template <Scalar T>
  Tensor<T> generator(const Tensor<T>& fake) const { return neg(mean(fake)); }
};

/// A pair of adversarial losses over the discriminator's logits [B] on real and on generated data.
template <class L, class T>
concept AdversarialLoss = requires(const L& l, const Tensor<T>& real, const Tensor<T>& fake) {
  { l.discriminator(real, fake) } -> std::same_as<Tensor<T>>;
  { l.generator(fake) } -> std::same_as<Tensor<T>>;
  { L::name() } -> std::convertible_to<std::string>;
};

struct GANOptions {
  index_t latent_dim = 0;        ///< noise z ~ N(0, I) of [B, latent_dim]; required
  int critic_steps = 1;          ///< discriminator steps per generator step (WGAN: 5)
  double gradient_penalty = 0;   ///< WGAN-GP's λ (10): λ E(‖∇D(x̂)‖ − 1)², x̂ = εx + (1 − ε)G(z), ε ~ U(0, 1)
  double r1_gamma = 0;           ///< R1 (Mescheder et al. 2018): γ/2 E‖∇D(x)‖² on real data
  double ema_decay = 0.999;      ///< EMA of the generator's weights (with warm-up), updated after each generator step
  bool sample_with_ema = true;   ///< sample with the EMA weights once they have been updated
};

/// The losses of one train_step (the discriminator's is the last critic step's, penalties included).
struct GANStepLosses {
  double discriminator = 0;
  double generator = 0;
  double penalty = 0;  ///< the gradient-penalty part of `discriminator`
};

namespace gan_detail {
template <Scalar T>
T module_scalar_probe(const nn::Module<T>*);
template <class M>
using module_scalar_t = decltype(module_scalar_probe(static_cast<M*>(nullptr)));
}  // namespace gan_detail

/// A GAN over data x [B, ...]: generator G(z), discriminator D(x) -> logits, trained by alternating
/// `critic_steps` discriminator steps and one generator step, each with its own optimizer (TTUR: give them
/// different learning rates). Owns both players, registered as the children "generator" and
/// "discriminator" (state_dict "generator.0.weight", ...); the EMA of the generator is ema().
///   GAN<nn::MLP<float>, nn::MLP<float>, HingeLoss> gan(std::move(g), std::move(d), {}, {.latent_dim = 2});
///   optim::Adam<float> g_opt(gan.generator().parameters(), {.lr = 1e-4, .betas = {0.5, 0.999}});
///   optim::Adam<float> d_opt(gan.discriminator().parameters(), {.lr = 4e-4, .betas = {0.5, 0.999}});
///   for (...) gan.train_step([&] { return next_batch(); }, g_opt, d_opt, rng);
///   auto x = gan.sample(1000, rng);
template <class G, class D, class Loss = NonSaturatingLoss>
  requires Generator<G, gan_detail::module_scalar_t<G>> && Discriminator<D, gan_detail::module_scalar_t<G>> &&
           std::derived_from<D, nn::Module<gan_detail::module_scalar_t<G>>> &&
           AdversarialLoss<Loss, gan_detail::module_scalar_t<G>>
class GAN : public nn::Module<gan_detail::module_scalar_t<G>> {
 public:
  using T = gan_detail::module_scalar_t<G>;

  GAN(std::unique_ptr<G> generator, std::unique_ptr<D> discriminator, Loss loss = {}, const GANOptions& options = {})
      : generator_(std::move(generator)), discriminator_(std::move(discriminator)), loss_(std::move(loss)),
        options_(validated(options)) {
    LATENT_CHECK(generator_ && discriminator_, ValueError, "GAN: generator and discriminator must not be null");
    this->register_module("generator", *generator_);
    this->register_module("discriminator", *discriminator_);
    ema_ = models_detail::make_ema<T>(*generator_, options_.ema_decay);
  }

  std::string repr() const override {
    return "GAN(generator=" + generator_->repr() + ", discriminator=" + discriminator_->repr() + ", loss=" + Loss::name() +
           ", critic_steps=" + std::to_string(options_.critic_steps) +
           ", gradient_penalty=" + nn::detail::double_str(options_.gradient_penalty) +
           ", r1_gamma=" + nn::detail::double_str(options_.r1_gamma) + ")";
  }

  G& generator() noexcept { return *generator_; }
  D& discriminator() noexcept { return *discriminator_; }
  const Loss& loss() const noexcept { return loss_; }
  const GANOptions& options() const noexcept { return options_; }
  optim::EMA<T>& ema() noexcept { return *ema_; }

  /// z ~ N(0, I) [n, latent_dim].
  Tensor<T> noise(index_t n, Rng& rng) const { return randn<T>({n, options_.latent_dim}, rng); }

  /// D's logits as [B] (it may return [B] or [B, 1]).
  Tensor<T> logits(const Tensor<T>& x) {
    const Tensor<T> out = (*discriminator_)(x);
    LATENT_CHECK(out.numel() == x.size(0) && (out.rank() == 1 || (out.rank() == 2 && out.size(1) == 1)), ShapeError,
                 "GAN: the discriminator maps " + x.shape().str() + " to " + out.shape().str() + "; expected [" +
                     std::to_string(x.size(0)) + "] or [" + std::to_string(x.size(0)) + ",1]");
    return reshape(out, Shape{x.size(0)});
  }

  /// WGAN-GP's penalty λ E(‖∇_x̂ D(x̂)‖₂ − 1)² at x̂ = εx + (1 − ε)x̃, ε ~ U(0, 1) per sample. The gradient is
  /// taken with create_graph, so the penalty's own gradient reaches D's parameters through ∇_x̂ D.
  Tensor<T> gradient_penalty(const Tensor<T>& real, const Tensor<T>& fake, Rng& rng, double lambda) {
    check_pair("gradient_penalty", real, fake);
    Shape eps_shape{real.size(0)};  // [B, 1, ...]: one ε per sample
    for (index_t d = 1; d < real.rank(); ++d) eps_shape.push_back(index_t(1));
    const Tensor<T> eps = rand<T>(eps_shape, rng);
    Tensor<T> mixed = add(mul(eps, real.detach()), mul(add_scalar(neg(eps), T(1)), fake.detach())).detach();
    mixed.set_requires_grad(true);
    const Tensor<T> norms = input_gradient_norms(mixed, /*squared=*/false);
    return mul_scalar(mean(square(add_scalar(norms, T(-1)))), static_cast<T>(lambda));
  }

  /// R1: γ/2 E‖∇_x D(x)‖² on real samples x (differentiable in D's parameters, as above).
  Tensor<T> r1_penalty(const Tensor<T>& real, double gamma) {
    Tensor<T> x = real.detach().clone_detached();
    x.set_requires_grad(true);
    return mul_scalar(mean(input_gradient_norms(x, /*squared=*/true)), static_cast<T>(gamma / 2));
  }

  /// The discriminator's loss on a real batch and as many generated samples (G is not differentiated),
  /// plus the configured penalties; `penalty` receives the penalties' value when given.
  Tensor<T> discriminator_loss(const Tensor<T>& real, Rng& rng, double* penalty = nullptr) {
    Tensor<T> fake;
    {
      NoGradGuard no_grad;
      fake = (*generator_)(noise(real.size(0), rng));
    }
    check_pair("discriminator_loss", real, fake);
    Tensor<T> l = loss_.discriminator(logits(real), logits(fake));
    Tensor<T> pen;
    if (options_.gradient_penalty > 0) pen = gradient_penalty(real, fake, rng, options_.gradient_penalty);
    if (options_.r1_gamma > 0) {
      const Tensor<T> r1 = r1_penalty(real, options_.r1_gamma);
      pen = pen.defined() ? add(pen, r1) : r1;
    }
    if (penalty) *penalty = pen.defined() ? static_cast<double>(pen.item()) : 0.0;
    return pen.defined() ? add(l, pen) : l;
  }

  /// The generator's loss on `batch` fresh samples.
  Tensor<T> generator_loss(index_t batch, Rng& rng) { return loss_.generator(logits((*generator_)(noise(batch, rng)))); }

  /// critic_steps discriminator updates (each on a new batch from next_real()), then one generator update on a
  /// batch of the same size and an EMA update.
  template <class GOpt, class DOpt>
  GANStepLosses train_step(const std::function<Tensor<T>()>& next_real, GOpt& g_opt, DOpt& d_opt, Rng& rng) {
    GANStepLosses out;
    index_t batch = 0;
    for (int k = 0; k < options_.critic_steps; ++k) {
      const Tensor<T> real = next_real();
      batch = real.size(0);
      auto l = discriminator_loss(real, rng, &out.penalty);
      d_opt.zero_grad();
      l.backward();
      d_opt.step();
      out.discriminator = static_cast<double>(l.item());
    }
    auto lg = generator_loss(batch, rng);
    g_opt.zero_grad();
    lg.backward();
    g_opt.step();
    update_ema();
    out.generator = static_cast<double>(lg.item());
    return out;
  }
  /// Moves the EMA towards the generator's weights; call after each generator step in your own loop.
  void update_ema() { ema_->update(); }

  /// n samples G(z), with the EMA weights when options().sample_with_ema and the EMA has been updated.
  Tensor<T> sample(index_t n, Rng& rng) {
    NoGradGuard no_grad;
    const auto guard = models_detail::swap_in_ema(*ema_, options_.sample_with_ema);
    return (*generator_)(noise(n, rng));
  }

  /// The generator's weights used for sampling (EMA averages when used), under the generator's own names.
  StateDict sampling_state_dict() { return models_detail::sampling_state_dict<T>(*generator_, *ema_, options_.sample_with_ema); }

 private:
  // ‖∇_x Σ D(x)‖ per sample (or its square), as a differentiable function of D's parameters.
  Tensor<T> input_gradient_norms(const Tensor<T>& x, bool squared) {
    const Tensor<T> out = logits(x);
    const Tensor<T> g = latent::grad<T>({sum(out)}, {x}, {}, /*create_graph=*/true)[0];
    Dims rest;
    for (int d = 1; d < static_cast<int>(g.rank()); ++d) rest.push_back(d);
    const Tensor<T> sq = rest.size() == 0 ? square(g) : sum(square(g), rest);
    // +1e-12 keeps the square root's derivative finite at a zero gradient.
    return squared ? sq : sqrt(add_scalar(sq, T(1e-12)));
  }
  static void check_pair(const char* what, const Tensor<T>& real, const Tensor<T>& fake) {
    LATENT_CHECK(real.shape() == fake.shape(), ShapeError,
                 std::string("GAN.") + what + ": real batch " + real.shape().str() + " and generated batch " + fake.shape().str() +
                     " differ in shape");
  }
  static GANOptions validated(const GANOptions& o) {
    LATENT_CHECK(o.latent_dim > 0, ValueError, "GAN: latent_dim = " + std::to_string(o.latent_dim) + " must be positive");
    LATENT_CHECK(o.critic_steps >= 1, ValueError, "GAN: critic_steps = " + std::to_string(o.critic_steps) + " must be >= 1");
    LATENT_CHECK(o.gradient_penalty >= 0, ValueError,
                 "GAN: gradient_penalty = " + nn::detail::double_str(o.gradient_penalty) + " must be >= 0");
    LATENT_CHECK(o.r1_gamma >= 0, ValueError, "GAN: r1_gamma = " + nn::detail::double_str(o.r1_gamma) + " must be >= 0");
    LATENT_CHECK(o.ema_decay >= 0 && o.ema_decay <= 1, ValueError,
                 "GAN: ema_decay = " + nn::detail::double_str(o.ema_decay) + " must be in [0, 1]");
    return o;
  }

  std::unique_ptr<G> generator_;
  std::unique_ptr<D> discriminator_;
  Loss loss_;
  GANOptions options_;
  std::unique_ptr<optim::EMA<T>> ema_;
};

}  // namespace latent
