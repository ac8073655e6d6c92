// Samplers for discrete-time diffusion: DDPM (ancestral), DDIM with η, Euler and Heun on the probability-flow ODE,
// DPM-Solver++(2M). Each runs any number of steps S ≤ T over NoiseTable::timesteps(S) and calls an ε-predictor.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../../autograd/grad_mode.hpp"
#include "../../core/factory.hpp"
#include "../../core/rng.hpp"
#include "schedule.hpp"

namespace latent {

/// ε̂(x, timestep): the noise a model predicts in x at a timestep in [0, T − 1] (fractional with log-SNR spacing).
template <Scalar T>
using EpsilonFn = std::function<Tensor<T>(const Tensor<T>& x, double timestep)>;

enum class Sampler { ddpm, ddim, euler, heun, dpm_solver_2m };

inline std::string to_string(Sampler s) {
  switch (s) {
    case Sampler::ddpm: return "ddpm";
    case Sampler::ddim: return "ddim";
    case Sampler::euler: return "euler";
    case Sampler::heun: return "heun";
    case Sampler::dpm_solver_2m: return "dpm_solver_2m";
  }
  return "?";
}
/// "ddpm", "ddim", "euler", "heun", "dpm_solver_2m" (also "dpm++2m"); ValueError names the choices otherwise.
inline Sampler sampler_from_string(const std::string& name) {
  for (Sampler s : {Sampler::ddpm, Sampler::ddim, Sampler::euler, Sampler::heun, Sampler::dpm_solver_2m})
    if (to_string(s) == name) return s;
  if (name == "dpm++2m") return Sampler::dpm_solver_2m;
  throw ValueError("sampler: unknown sampler '" + name + "' (choose ddpm, ddim, euler, heun or dpm_solver_2m)");
}

struct SamplerOptions {
  Sampler sampler = Sampler::ddpm;
  std::int64_t steps = 0;  ///< number of denoising steps S; 0 means all T of the table
  double eta = 0.0;        ///< DDIM only: 0 is deterministic DDIM, 1 has DDPM's posterior variance
  /// Default: uniform for DDPM, DDIM or S = T (as in the DDPM and DDIM papers), log-SNR spacing for the ODE solvers
  /// with S < T (as DPM-Solver does; see NoiseTable::timesteps). On the 2-D sets DDIM-50 lands within 0.013 C2ST of
  /// DDPM-1000 with uniform spacing but 0.021–0.027 behind with log-SNR spacing (examples/diffusion_2d --compare).
  std::optional<TimestepSpacing> spacing = std::nullopt;
  /// > 0: every x0̂ the sampler forms is clamped to [−c, c] (DDPM's clip_denoised, diffusers' clip_sample) by
  /// replacing ε̂ with (x − α clamp(x0̂))/σ; for data scaled to [−1, 1], c = 1 stops strong guidance from pushing
  /// the trajectories off the data range (speckled or blown-out images). 0: no clamping. run_sampler() only.
  double clip_denoised = 0;
  /// Called after each step with (steps done, S); e.g. a progress bar.
  std::function<void(std::int64_t, std::int64_t)> on_step = {};
};

namespace samplers_detail {
template <Scalar T>
Tensor<T> affine(const Tensor<T>& a, double ca, const Tensor<T>& b, double cb) {  // ca a + cb b
  return add(mul_scalar(a, static_cast<T>(ca)), mul_scalar(b, static_cast<T>(cb)));
}
inline TimestepSpacing spacing(const SamplerOptions& o, const NoiseTable& table, std::int64_t steps) {
  if (o.spacing) return *o.spacing;
  const bool uniform = o.sampler == Sampler::ddpm || o.sampler == Sampler::ddim || steps == table.steps();
  return uniform ? TimestepSpacing::uniform : TimestepSpacing::log_snr;
}
inline void report(const SamplerOptions& o, std::int64_t done, std::int64_t total) {
  if (o.on_step) o.on_step(done, total);
}
}  // namespace samplers_detail

/// DDIM (Song et al. 2021) from timestep t to the previous one p of the S-step grid:
///   x0̂ = (x − σ_t ε̂)/α_t,  x_p = α_p x0̂ + √(1 − ᾱ_p − s²) ε̂ + s z,
///   s = η √((1 − ᾱ_p)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_p).   η = 0: deterministic; η = 1: DDPM's posterior variance.
template <Scalar T>
Tensor<T> sample_ddim(const NoiseTable& table, const EpsilonFn<T>& eps_fn, Tensor<T> x, std::int64_t steps, double eta,
                      Rng& rng, const SamplerOptions& options = {}) {
  NoGradGuard no_grad;
  LATENT_CHECK(eta >= 0, ValueError, "sample_ddim: eta = " + schedule::detail::num(eta) + " must be >= 0");
  const auto ts = table.timesteps(steps, samplers_detail::spacing(options, table, steps));
  for (std::size_t k = 0; k < ts.size(); ++k) {
    const double t = ts[k], p = k + 1 < ts.size() ? ts[k + 1] : -1.0;
    const double ab_t = table.alpha_bar_at(t), ab_p = table.alpha_bar_at(p);
    const auto eps = eps_fn(x, t);
    const auto x0 = samplers_detail::affine(x, 1 / std::sqrt(ab_t), eps, -std::sqrt(1 - ab_t) / std::sqrt(ab_t));
    const double s = eta * std::sqrt((1 - ab_p) / (1 - ab_t) * (1 - ab_t / ab_p));
    x = samplers_detail::affine(x0, std::sqrt(ab_p), eps, std::sqrt(std::max(0.0, 1 - ab_p - s * s)));
    if (s > 0) x = add(x, mul_scalar(randn<T>(x.shape(), rng), static_cast<T>(s)));
    samplers_detail::report(options, std::int64_t(k) + 1, std::int64_t(ts.size()));
  }
  return x;
}

/// DDPM ancestral sampling (Ho et al. 2020) with the exact posterior q(x_p | x_t, x0̂) between grid steps t > p:
///   mean = √ᾱ_p β/(1 − ᾱ_t) x0̂ + √(ᾱ_t/ᾱ_p) (1 − ᾱ_p)/(1 − ᾱ_t) x_t,  variance β̃ = (1 − ᾱ_p)/(1 − ᾱ_t) β,
///   β = 1 − ᾱ_t/ᾱ_p. With S = T this is the original sampler (variance "fixed small").
template <Scalar T>
Tensor<T> sample_ddpm(const NoiseTable& table, const EpsilonFn<T>& eps_fn, Tensor<T> x, std::int64_t steps, Rng& rng,
                      const SamplerOptions& options = {}) {
  NoGradGuard no_grad;
  const auto ts = table.timesteps(steps, samplers_detail::spacing(options, table, steps));
  for (std::size_t k = 0; k < ts.size(); ++k) {
    const double t = ts[k], p = k + 1 < ts.size() ? ts[k + 1] : -1.0;
    const double ab_t = table.alpha_bar_at(t), ab_p = table.alpha_bar_at(p), beta = 1 - ab_t / ab_p;
    const auto eps = eps_fn(x, t);
    const auto x0 = samplers_detail::affine(x, 1 / std::sqrt(ab_t), eps, -std::sqrt(1 - ab_t) / std::sqrt(ab_t));
    x = samplers_detail::affine(x0, std::sqrt(ab_p) * beta / (1 - ab_t), x,
                                std::sqrt(ab_t / ab_p) * (1 - ab_p) / (1 - ab_t));
    const double variance = (1 - ab_p) / (1 - ab_t) * beta;
    if (variance > 0) x = add(x, mul_scalar(randn<T>(x.shape(), rng), static_cast<T>(std::sqrt(variance))));
    samplers_detail::report(options, std::int64_t(k) + 1, std::int64_t(ts.size()));
  }
  return x;
}

/// Euler (heun = false) or Heun (heun = true; Karras et al. 2022) on the probability-flow ODE in the variables
/// y = x/α and s = σ/α = √((1 − ᾱ)/ᾱ), where it reads dy/ds = ε̂(α y, t). The last step (to s = 0) is an Euler step,
/// so Heun costs 2S − 1 network calls.
template <Scalar T>
Tensor<T> sample_ode(const NoiseTable& table, const EpsilonFn<T>& eps_fn, Tensor<T> x, std::int64_t steps, bool heun,
                     const SamplerOptions& options = {}) {
  NoGradGuard no_grad;
  const auto ts = table.timesteps(steps, samplers_detail::spacing(options, table, steps));
  auto s_of = [&](double t) { return std::sqrt((1 - table.alpha_bar_at(t)) / table.alpha_bar_at(t)); };
  Tensor<T> y = mul_scalar(x, static_cast<T>(1 / table.alpha(ts[0])));
  for (std::size_t k = 0; k < ts.size(); ++k) {
    const double t = ts[k], p = k + 1 < ts.size() ? ts[k + 1] : -1.0;
    const double ds = s_of(p) - s_of(t);
    const auto eps = eps_fn(mul_scalar(y, static_cast<T>(table.alpha(t))), t);
    auto y_next = add(y, mul_scalar(eps, static_cast<T>(ds)));
    if (heun && p >= 0) {
      const auto eps_next = eps_fn(mul_scalar(y_next, static_cast<T>(table.alpha(p))), p);
      y_next = add(y, mul_scalar(add(eps, eps_next), static_cast<T>(ds / 2)));
    }
    y = y_next;
    samplers_detail::report(options, std::int64_t(k) + 1, std::int64_t(ts.size()));
  }
  return y;  // s = 0: y = x0
}

/// DPM-Solver++(2M) (Lu et al. 2022), multistep second order in the data prediction D = x0̂, with λ = log(α/σ),
/// h = λ_p − λ_t:  x_p = (σ_p/σ_t) x − α_p (e^{−h} − 1) D',  D' = (1 + 1/(2r)) D_t − 1/(2r) D_prev, r = h_prev/h
/// (D' = D_t on the first step). The last step, to the data (λ = ∞), returns D_t (first order, as diffusers'
/// lower_order_final).
template <Scalar T>
Tensor<T> sample_dpm_solver_2m(const NoiseTable& table, const EpsilonFn<T>& eps_fn, Tensor<T> x, std::int64_t steps,
                               const SamplerOptions& options = {}) {
  NoGradGuard no_grad;
  const auto ts = table.timesteps(steps, samplers_detail::spacing(options, table, steps));
  Tensor<T> d_prev;
  double h_prev = 0;
  for (std::size_t k = 0; k < ts.size(); ++k) {
    const double t = ts[k], p = k + 1 < ts.size() ? ts[k + 1] : -1.0;
    const auto eps = eps_fn(x, t);
    const auto d = samplers_detail::affine(x, 1 / table.alpha(t), eps, -table.sigma(t) / table.alpha(t));
    if (p < 0) {
      x = d;
    } else {
      const double h = table.log_snr(p) - table.log_snr(t);
      Tensor<T> d_used = d;
      if (d_prev.defined()) {
        const double r = h_prev / h;
        d_used = samplers_detail::affine(d, 1 + 1 / (2 * r), d_prev, -1 / (2 * r));
      }
      x = samplers_detail::affine(x, table.sigma(p) / table.sigma(t), d_used, -table.alpha(p) * std::expm1(-h));
      h_prev = h;
      d_prev = d;
    }
    samplers_detail::report(options, std::int64_t(k) + 1, std::int64_t(ts.size()));
  }
  return x;
}

/// (Each sampler takes its timestep spacing and on_step callback from `options`; options.sampler only picks the
/// automatic spacing.)
/// Runs the sampler of `options` from x_T (usually N(0, I)) and returns x_0.
template <Scalar T>
Tensor<T> run_sampler(const NoiseTable& table, const EpsilonFn<T>& eps_fn, Tensor<T> x_T, const SamplerOptions& options,
                      Rng& rng) {
  const std::int64_t steps = options.steps == 0 ? table.steps() : options.steps;
  LATENT_CHECK(options.clip_denoised >= 0, ValueError,
               "run_sampler: clip_denoised = " + schedule::detail::num(options.clip_denoised) + " must be >= 0 (0: off)");
  const EpsilonFn<T> clipped = [&](const Tensor<T>& x, double t) {
    const double alpha = table.alpha(t), sigma = table.sigma(t);
    const auto c = static_cast<T>(options.clip_denoised);
    const auto x0 = clamp(samplers_detail::affine(x, 1 / alpha, eps_fn(x, t), -sigma / alpha), -c, c);
    return samplers_detail::affine(x, 1 / sigma, x0, -alpha / sigma);
  };
  const EpsilonFn<T>& eps = options.clip_denoised > 0 ? clipped : eps_fn;
  switch (options.sampler) {
    case Sampler::ddpm: return sample_ddpm(table, eps, std::move(x_T), steps, rng, options);
    case Sampler::ddim: return sample_ddim(table, eps, std::move(x_T), steps, options.eta, rng, options);
    case Sampler::euler: return sample_ode(table, eps, std::move(x_T), steps, false, options);
    case Sampler::heun: return sample_ode(table, eps, std::move(x_T), steps, true, options);
    case Sampler::dpm_solver_2m: return sample_dpm_solver_2m(table, eps, std::move(x_T), steps, options);
  }
  return x_T;
}

}  // namespace latent
