// Diffusion<Net, Schedule>: a discrete-time denoising diffusion model (DDPM) around a Denoiser network: training loss
// with ε / x0 / v targets and uniform or min-SNR-γ weights, class conditioning with classifier-free guidance, an EMA
// of the weights used for sampling, and sampling with any sampler of samplers.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../../core/state_dict.hpp"
#include "../concepts.hpp"
#include "samplers.hpp"
#include "schedule.hpp"
#define LATENT_INSIDE_MODELS
#include "../detail/conditioning.hpp"
#undef LATENT_INSIDE_MODELS

namespace latent {

/// How the per-example loss is weighted over timesteps.
enum class LossWeighting {
  uniform,  ///< plain MSE on the prediction target
  min_snr,  ///< Hang et al. (2023): the x0-space weight min(SNR, γ), expressed for the chosen target
};

struct DiffusionOptions {
  std::int64_t timesteps = 1000;  ///< T
  Prediction prediction = Prediction::epsilon;
  LossWeighting weighting = LossWeighting::uniform;
  double min_snr_gamma = 5.0;       ///< γ of min-SNR weighting
  std::int64_t num_classes = 0;     ///< > 0: class-conditional; the network sees labels in [0, num_classes]
  double label_dropout = 0.1;       ///< probability of replacing a label by the null class in training
  double ema_decay = 0.999;         ///< EMA of the weights (with warm-up); updated by train_step() / update_ema()
  bool sample_with_ema = true;      ///< sample with the EMA weights once they have been updated at least once
};

struct DiffusionSampleOptions {
  Sampler sampler = Sampler::ddpm;
  std::int64_t steps = 0;        ///< 0: all T timesteps
  double eta = 0.0;              ///< DDIM's η
  std::optional<TimestepSpacing> spacing = std::nullopt;  ///< default: see SamplerOptions
  double guidance_scale = 1.0;   ///< classifier-free guidance scale (conditional models with labels)
  double clip_denoised = 0;      ///< > 0: clamp every x0̂ to [−c, c] (see SamplerOptions::clip_denoised)
  std::function<void(std::int64_t, std::int64_t)> on_step = {};  ///< (steps done, total), e.g. a progress bar
};

/// A diffusion model over a Denoiser `Net` (which it refers to, not owns) and a NoiseSchedule:
///   x_t = α_t x0 + σ_t ε,  the network sees (x_t, (t + 1)/T, labels) and predicts ε, x0 or v.
///   Diffusion<nn::TimeMLP<float>, schedule::Cosine> model(net, {.timesteps = 1000});
///   for (...) model.train_step(batch, opt, rng);          // loss, backward, optimizer step, EMA update
///   auto x = model.sample({2000, 2}, rng, {.sampler = Sampler::dpm_solver_2m, .steps = 50});
template <class Net, NoiseSchedule Schedule = schedule::Linear, Scalar T = float>
  requires Denoiser<Net, T>
class Diffusion {
 public:
  Diffusion(Net& net, const DiffusionOptions& options = {}, const Schedule& schedule = {})
      : net_(net), options_(validated(options)), table_(schedule, options.timesteps),
        conditioning_{options.num_classes, options.label_dropout, "Diffusion"} {
    conditioning_.validate();
    ema_ = models_detail::make_ema<T>(net_, options_.ema_decay);
  }
  Diffusion(const Diffusion&) = delete;
  Diffusion& operator=(const Diffusion&) = delete;

  Net& net() noexcept { return net_; }
  const DiffusionOptions& options() const noexcept { return options_; }
  const NoiseTable& table() const noexcept { return table_; }
  optim::EMA<T>& ema() noexcept { return *ema_; }
  std::vector<Tensor<T>> parameters() const { return net_.parameters(); }

  /// The training loss on a batch of clean data x0 [N, ...] (labels [N] for a conditional model): uniform t,
  /// ε ~ N(0, I), weighted MSE between the network's output and the target. Label dropout applies.
  Tensor<T> loss(const Tensor<T>& x0, Rng& rng, const Tensor<std::int64_t>& labels = {}) {
    LATENT_CHECK(x0.rank() >= 1 && x0.size(0) > 0, ShapeError, "Diffusion.loss: data " + x0.shape().str() + " has no rows");
    const index_t n = x0.size(0);
    conditioning_.check(labels, n, "loss");
    auto alpha = Tensor<T>::empty(models_detail::row_shape(x0.shape()));
    auto sigma = Tensor<T>::empty(alpha.shape()), weight = Tensor<T>::empty(alpha.shape());
    auto t = Tensor<T>::empty({n});
    for (index_t i = 0; i < n; ++i) {
      const auto step = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(table_.steps())));
      alpha.data()[i] = static_cast<T>(table_.alpha(double(step)));
      sigma.data()[i] = static_cast<T>(table_.sigma(double(step)));
      weight.data()[i] = static_cast<T>(loss_weight(table_.snr(double(step))));
      t.data()[i] = static_cast<T>(network_time(double(step)));
    }
    const auto eps = randn<T>(x0.shape(), rng);
    const auto x_t = add(mul(alpha, x0), mul(sigma, eps));
    const auto out = net_(x_t, t, conditioning_.drop(labels, rng));
    const auto target = prediction_target(options_.prediction, x0, eps, alpha, sigma);
    if (options_.weighting == LossWeighting::uniform) return mse_loss(out, target);
    return mean(mul(weight, square(sub(out, target))));
  }

  /// One optimisation step: loss, zero_grad, backward, opt.step(), EMA update. Returns the loss value.
  template <class Optimizer>
  double train_step(const Tensor<T>& x0, Optimizer& opt, Rng& rng, const Tensor<std::int64_t>& labels = {}) {
    auto l = loss(x0, rng, labels);
    opt.zero_grad();
    l.backward();
    opt.step();
    update_ema();
    return static_cast<double>(l.item());
  }
  /// Moves the EMA towards the current weights; call after each optimizer step when writing your own loop.
  void update_ema() { ema_->update(); }

  /// ε̂ the network implies at x (a batch at timestep `step` ∈ [0, T − 1]), with guidance.
  Tensor<T> predict_epsilon(const Tensor<T>& x, double step, const Tensor<std::int64_t>& labels = {},
                            double guidance_scale = 1.0) {
    NoGradGuard no_grad;
    const auto t = models_detail::time_column<T>(x.size(0), network_time(step));
    const auto out = conditioning_.guided(net_, x, t, labels, guidance_scale);
    return epsilon_from(options_.prediction, out, x, scalar_tensor<T>(static_cast<T>(table_.alpha(step))),
                        scalar_tensor<T>(static_cast<T>(table_.sigma(step))));
  }

  /// Samples of `shape` (rows first), starting from N(0, I); `labels` [rows] for class-conditional samples.
  /// Uses the EMA weights when options().sample_with_ema and the EMA has been updated.
  Tensor<T> sample(const Shape& shape, Rng& rng, const DiffusionSampleOptions& o = {},
                   const Tensor<std::int64_t>& labels = {}) {
    LATENT_CHECK(shape.rank() >= 1 && shape[0] > 0, ShapeError, "Diffusion.sample: shape " + shape.str() + " has no rows");
    // A conditional model without labels samples unconditionally (null class).
    if (labels.defined() || conditioning_.num_classes == 0) conditioning_.check(labels, shape[0], "sample");
    const auto guard = models_detail::swap_in_ema(*ema_, options_.sample_with_ema);
    const EpsilonFn<T> eps_fn = [&](const Tensor<T>& x, double step) {
      return predict_epsilon(x, step, labels, o.guidance_scale);
    };
    return run_sampler<T>(table_, eps_fn, randn<T>(shape, rng),
                          {.sampler = o.sampler, .steps = o.steps, .eta = o.eta, .spacing = o.spacing, .clip_denoised = o.clip_denoised,
                           .on_step = o.on_step}, rng);
  }

  /// "net.<name>" for the weights, "ema.<...>" for the EMA state (EMA::state_dict()).
  StateDict state_dict() const { return models_detail::model_state_dict<T>(net_, *ema_); }
  /// The weights used for sampling (the EMA averages when they are used, else the weights), under the network's
  /// own names: what a PyTorch twin of the network loads.
  StateDict sampling_state_dict() requires requires(Net& n) { n.state_dict(); } {
    return models_detail::sampling_state_dict<T>(net_, *ema_, options_.sample_with_ema);
  }
  void load_state_dict(const StateDict& sd) requires requires(Net& n, const StateDict& s) { n.load_state_dict(s); } {
    net_.load_state_dict(sd.sub("net"));
    ema_->load_state_dict(sd.sub("ema"));
  }

  /// The time the network sees at timestep i: (i + 1)/T ∈ (0, 1].
  double network_time(double step) const { return (step + 1) / double(table_.steps()); }

  /// The weight of an example at signal-to-noise ratio snr (1 under uniform weighting). min-SNR-γ (Hang et al.
  /// 2023) weighs the x0 error by min(SNR, γ); in ε units that is min(SNR, γ)/SNR, in v units min(SNR, γ)/(SNR + 1).
  double loss_weight(double snr) const {
    if (options_.weighting == LossWeighting::uniform) return 1.0;
    const double clipped = std::min(snr, options_.min_snr_gamma);
    switch (options_.prediction) {
      case Prediction::epsilon: return clipped / snr;
      case Prediction::x0: return clipped;
      case Prediction::v: return clipped / (snr + 1);
    }
    return 1.0;
  }

 private:
  static DiffusionOptions validated(const DiffusionOptions& o) {
    LATENT_CHECK(o.timesteps >= 1, ValueError, "Diffusion: timesteps = " + std::to_string(o.timesteps) + " must be >= 1");
    LATENT_CHECK(o.min_snr_gamma > 0, ValueError,
                 "Diffusion: min_snr_gamma = " + optim::detail::format_number(o.min_snr_gamma) + " must be > 0");
    LATENT_CHECK(o.ema_decay >= 0 && o.ema_decay <= 1, ValueError,
                 "Diffusion: ema_decay = " + optim::detail::format_number(o.ema_decay) + " must be in [0, 1]");
    return o;
  }

  Net& net_;
  DiffusionOptions options_;
  NoiseTable table_;
  models_detail::Conditioning conditioning_;
  std::unique_ptr<optim::EMA<T>> ema_;
};

}  // namespace latent
