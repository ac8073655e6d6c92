// GAN<Generator, Discriminator, Loss>: adversarial training with the standard losses (minimax, non-saturating,
// least-squares, hinge, Wasserstein), the WGAN-GP and R1 gradient penalties, n critic steps, an EMA generator, and
// class labels into both players for conditional GANs.
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
/// real_label < 1 is one-sided label smoothing (Salimans et al. 2016): the real term becomes the binary cross-entropy
/// towards t = real_label, t·softplus(−r) + (1 − t)·softplus(r), so D is not pushed to infinite confidence on real data.
struct MinimaxLoss {
  double real_label = 1;
  static std::string name() { return "minimax"; }
  template <Scalar T>
  Tensor<T> discriminator(const Tensor<T>& real, const Tensor<T>& fake) const {
    if (real_label == 1) return add(mean(softplus(neg(real))), mean(softplus(fake)));
    LATENT_CHECK(real_label > 0 && real_label < 1, ValueError,
                 "GAN loss: real_label = " + nn::detail::double_str(real_label) + " must be in (0, 1]");
    const T t = static_cast<T>(real_label);
    return add(add(mul_scalar(mean(softplus(neg(real))), t), mul_scalar(mean(softplus(real)), T(1) - t)), mean(softplus(fake)));
  }
  template <Scalar T>
  Tensor<T> generator(const Tensor<T>& fake) const { return neg(mean(softplus(fake))); }
};

/// The same discriminator; G minimises −log σ(f) = softplus(−f) (Goodfellow et al.'s practical choice).
struct NonSaturatingLoss {
  double real_label = 1;  ///< < 1: one-sided label smoothing, as MinimaxLoss
  static std::string name() { return "non_saturating"; }
  template <Scalar T>
  Tensor<T> discriminator(const Tensor<T>& real, const Tensor<T>& fake) const {
    return MinimaxLoss{real_label}.discriminator(real, fake);
  }
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
  index_t num_classes = 0;       ///< > 0: class-conditional; both players are called with labels [B] in [0, num_classes)
  /// λ of the mode-seeking term (Mao et al. 2019, MSGAN) added to the generator's loss: λ / (m + 1e-5) with
  /// m = mean|G(z₁, y) − G(z₂, y)| / mean|z₁ − z₂| over pairs of the batch that share their label (conditional
  /// GANs otherwise tend to ignore z and draw one image per class). 0: off.
  double mode_seeking = 0;
};

/// A labelled real batch for a conditional GAN: x [B, ...] and labels [B].
template <Scalar T>
struct GANBatch {
  Tensor<T> x;
  Tensor<std::int64_t> labels;
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
/// Conditional (options.num_classes > 0; e.g. models::DCGANGenerator/Discriminator with the same num_classes):
/// the players are called as G(z, y) and D(x, y); train_step takes batches GANBatch{x, y}; the generated half of
/// each discriminator step, and the generator step, use the real batch's labels (so G is trained on the data's
/// label frequencies); sample(n, rng, labels) draws the given classes (uniformly random ones when omitted).
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

  /// n labels drawn uniformly from [0, num_classes) (conditional models only).
  Tensor<std::int64_t> random_labels(index_t n, Rng& rng) const {
    LATENT_CHECK(options_.num_classes > 0, ValueError, "GAN.random_labels: the model is unconditional (num_classes = 0)");
    return randint(0, options_.num_classes, {n}, rng);
  }

  /// G(z), or G(z, labels) for a conditional model.
  Tensor<T> generate(const Tensor<T>& z, const Tensor<std::int64_t>& labels = {}) {
    check_labels("generate", labels, z.size(0));
    if (!labels.defined()) return (*generator_)(z);
    if constexpr (requires(G& g, const Tensor<T>& zz, const Tensor<std::int64_t>& yy) { g(zz, yy); }) return (*generator_)(z, labels);
    else throw ValueError("GAN.generate: num_classes > 0 but the generator has no call G(z, labels)");
  }

  /// D's logits as [B] (it may return [B] or [B, 1]); labels [B] for a conditional model.
  Tensor<T> logits(const Tensor<T>& x, const Tensor<std::int64_t>& labels = {}) {
    check_labels("logits", labels, x.size(0));
    Tensor<T> out;
    if (!labels.defined()) out = (*discriminator_)(x);
    else if constexpr (requires(D& d, const Tensor<T>& xx, const Tensor<std::int64_t>& yy) { d(xx, yy); }) out = (*discriminator_)(x, labels);
    else throw ValueError("GAN.logits: num_classes > 0 but the discriminator has no call D(x, labels)");
    LATENT_CHECK(out.numel() == x.size(0) && (out.rank() == 1 || (out.rank() == 2 && out.size(1) == 1)), ShapeError,
                 "GAN: the discriminator maps " + x.shape().str() + " to " + out.shape().str() + "; expected [" +
                     std::to_string(x.size(0)) + "] or [" + std::to_string(x.size(0)) + ",1]");
    return reshape(out, Shape{x.size(0)});
  }

  /// WGAN-GP's penalty λ E(‖∇_x̂ D(x̂)‖₂ − 1)² at x̂ = εx + (1 − ε)x̃, ε ~ U(0, 1) per sample. The gradient is
  /// taken with create_graph, so the penalty's own gradient reaches D's parameters through ∇_x̂ D.
  Tensor<T> gradient_penalty(const Tensor<T>& real, const Tensor<T>& fake, Rng& rng, double lambda,
                             const Tensor<std::int64_t>& labels = {}) {
    check_pair("gradient_penalty", real, fake);
    Shape eps_shape{real.size(0)};  // [B, 1, ...]: one ε per sample
    for (index_t d = 1; d < real.rank(); ++d) eps_shape.push_back(index_t(1));
    const Tensor<T> eps = rand<T>(eps_shape, rng);
    Tensor<T> mixed = add(mul(eps, real.detach()), mul(add_scalar(neg(eps), T(1)), fake.detach())).detach();
    mixed.set_requires_grad(true);
    const Tensor<T> norms = input_gradient_norms(mixed, labels, /*squared=*/false);
    return mul_scalar(mean(square(add_scalar(norms, T(-1)))), static_cast<T>(lambda));
  }

  /// R1: γ/2 E‖∇_x D(x)‖² on real samples x (differentiable in D's parameters, as above).
  Tensor<T> r1_penalty(const Tensor<T>& real, double gamma, const Tensor<std::int64_t>& labels = {}) {
    Tensor<T> x = real.detach().clone_detached();
    x.set_requires_grad(true);
    return mul_scalar(mean(input_gradient_norms(x, labels, /*squared=*/true)), static_cast<T>(gamma / 2));
  }

  /// The discriminator's loss on a real batch and as many generated samples (G is not differentiated),
  /// plus the configured penalties; `penalty` receives the penalties' value when given.
  Tensor<T> discriminator_loss(const Tensor<T>& real, Rng& rng, double* penalty = nullptr) {
    return discriminator_loss(GANBatch<T>{real, {}}, rng, penalty);
  }
  /// The same for a labelled batch (conditional models): generated samples get the real batch's labels.
  Tensor<T> discriminator_loss(const GANBatch<T>& batch, Rng& rng, double* penalty = nullptr) {
    const Tensor<T>& real = batch.x;
    const Tensor<std::int64_t>& y = batch.labels;
    Tensor<T> fake;
    {
      NoGradGuard no_grad;
      fake = generate(noise(real.size(0), rng), y);
    }
    check_pair("discriminator_loss", real, fake);
    Tensor<T> l = loss_.discriminator(logits(real, y), logits(fake, y));
    Tensor<T> pen;
    if (options_.gradient_penalty > 0) pen = gradient_penalty(real, fake, rng, options_.gradient_penalty, y);
    if (options_.r1_gamma > 0) {
      const Tensor<T> r1 = r1_penalty(real, options_.r1_gamma, y);
      pen = pen.defined() ? add(pen, r1) : r1;
    }
    if (penalty) *penalty = pen.defined() ? static_cast<double>(pen.item()) : 0.0;
    return pen.defined() ? add(l, pen) : l;
  }

  /// The generator's loss on `batch` fresh samples (conditional: of the given labels [batch], else random ones).
  Tensor<T> generator_loss(index_t batch, Rng& rng, const Tensor<std::int64_t>& labels = {}) {
    Tensor<std::int64_t> y = options_.num_classes > 0 && !labels.defined() ? random_labels(batch, rng) : labels;
    if (options_.mode_seeking == 0 || batch < 2) return loss_.generator(logits(generate(noise(batch, rng), y), y));
    // Mode seeking: samples i and i + h (h = batch / 2) share the label of sample i and differ in z.
    const index_t h = batch / 2;
    if (y.defined()) {
      auto paired = Tensor<std::int64_t>::empty({2 * h});
      for (index_t i = 0; i < 2 * h; ++i) paired.data()[i] = y.data()[i % h];
      y = paired;
    }
    const Tensor<T> z = noise(2 * h, rng);
    const Tensor<T> x = generate(z, y);
    const Tensor<T> spread = div(mean(abs(sub(narrow(x, 0, 0, h), narrow(x, 0, h, h)))),
                                 mean(abs(sub(narrow(z, 0, 0, h), narrow(z, 0, h, h)))));
    const Tensor<T> term = mul_scalar(reciprocal(add_scalar(spread, T(1e-5))), static_cast<T>(options_.mode_seeking));
    return add(loss_.generator(logits(x, y)), term);
  }

  /// critic_steps discriminator updates (each on a new batch from next_real()), then one generator update on a
  /// batch of the same size and an EMA update.
  template <class GOpt, class DOpt>
  GANStepLosses train_step(const std::function<Tensor<T>()>& next_real, GOpt& g_opt, DOpt& d_opt, Rng& rng) {
    return train_step(std::function<GANBatch<T>()>([&] { return GANBatch<T>{next_real(), {}}; }), g_opt, d_opt, rng);
  }
  /// The same with labelled batches (conditional models); the generator step uses the last batch's labels.
  template <class GOpt, class DOpt>
  GANStepLosses train_step(const std::function<GANBatch<T>()>& next_real, GOpt& g_opt, DOpt& d_opt, Rng& rng) {
    GANStepLosses out;
    GANBatch<T> real;
    for (int k = 0; k < options_.critic_steps; ++k) {
      real = next_real();
      auto l = discriminator_loss(real, rng, &out.penalty);
      d_opt.zero_grad();
      l.backward();
      d_opt.step();
      out.discriminator = static_cast<double>(l.item());
    }
    auto lg = generator_loss(real.x.size(0), rng, real.labels);
    g_opt.zero_grad();
    lg.backward();
    g_opt.step();
    update_ema();
    out.generator = static_cast<double>(lg.item());
    return out;
  }
  /// Moves the EMA towards the generator's weights; call after each generator step in your own loop.
  void update_ema() { ema_->update(); }

  /// n samples G(z), with the EMA weights when options().sample_with_ema and the EMA has been updated;
  /// conditional: of the classes `labels` [n] (uniformly random classes when undefined).
  Tensor<T> sample(index_t n, Rng& rng, const Tensor<std::int64_t>& labels = {}) {
    NoGradGuard no_grad;
    const Tensor<std::int64_t> y = options_.num_classes > 0 && !labels.defined() ? random_labels(n, rng) : labels;
    const auto guard = models_detail::swap_in_ema(*ema_, options_.sample_with_ema);
    return generate(noise(n, rng), y);
  }

  /// The generator's weights used for sampling (EMA averages when used), under the generator's own names.
  StateDict sampling_state_dict() { return models_detail::sampling_state_dict<T>(*generator_, *ema_, options_.sample_with_ema); }

 private:
  // ‖∇_x Σ D(x)‖ per sample (or its square), as a differentiable function of D's parameters.
  Tensor<T> input_gradient_norms(const Tensor<T>& x, const Tensor<std::int64_t>& labels, bool squared) {
    const Tensor<T> out = logits(x, labels);
    const Tensor<T> g = latent::grad<T>({sum(out)}, {x}, {}, /*create_graph=*/true)[0];
    Dims rest;
    for (int d = 1; d < static_cast<int>(g.rank()); ++d) rest.push_back(d);
    const Tensor<T> sq = rest.size() == 0 ? square(g) : sum(square(g), rest);
    // +1e-12 keeps the square root's derivative finite at a zero gradient.
    return squared ? sq : sqrt(add_scalar(sq, T(1e-12)));
  }
  // Labels come exactly when the model is conditional: [n] ids in [0, num_classes).
  void check_labels(const char* what, const Tensor<std::int64_t>& labels, index_t n) const {
    const std::string who = std::string("GAN.") + what;
    if (options_.num_classes == 0) {
      LATENT_CHECK(!labels.defined(), ValueError, who + ": labels given to an unconditional GAN (num_classes = 0)");
      return;
    }
    LATENT_CHECK(labels.defined(), ValueError,
                 who + ": a conditional GAN (num_classes = " + std::to_string(options_.num_classes) + ") needs labels");
    LATENT_CHECK(labels.rank() == 1 && labels.size(0) == n, ShapeError,
                 who + ": labels " + labels.shape().str() + " do not match a batch of " + std::to_string(n));
    const std::int64_t* id = labels.data();
    for (index_t i = 0; i < n; ++i)
      LATENT_CHECK(id[i] >= 0 && id[i] < options_.num_classes, ValueError,
                   who + ": label " + std::to_string(id[i]) + " at index " + std::to_string(i) + " is not in [0, " +
                       std::to_string(options_.num_classes) + ")");
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
    LATENT_CHECK(o.num_classes >= 0, ValueError, "GAN: num_classes = " + std::to_string(o.num_classes) + " must be >= 0");
    LATENT_CHECK(o.r1_gamma >= 0, ValueError, "GAN: r1_gamma = " + nn::detail::double_str(o.r1_gamma) + " must be >= 0");
    LATENT_CHECK(o.mode_seeking >= 0, ValueError,
                 "GAN: mode_seeking = " + nn::detail::double_str(o.mode_seeking) + " must be >= 0");
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
