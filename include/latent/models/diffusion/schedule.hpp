// Noise schedules for discrete-time diffusion (linear, cosine, sigmoid) and NoiseTable, the ᾱ table with the
// quantities derived from it: α_t, σ_t, SNR, log-SNR λ, and the conversions between the ε, x0 and v targets.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "../../core/error.hpp"
#include "../../ops/ops.hpp"
#include "../../optim/optimizer.hpp"
#include "../concepts.hpp"

namespace latent::schedule {

namespace detail {
inline std::string num(double v) { return optim::detail::format_number(v); }
/// Nichol & Dhariwal's guard: β_t = 1 − ᾱ_t/ᾱ_{t−1} is clipped at 0.999 so the last steps do not reach ᾱ = 0.
inline std::vector<double> clip_betas(std::vector<double> alpha_bar, double max_beta = 0.999) {
  double prev = 1.0, clipped = 1.0;
  for (double& a : alpha_bar) {
    const double beta = std::min(1.0 - a / prev, max_beta);
    prev = a;
    clipped *= 1.0 - beta;
    a = clipped;
  }
  return alpha_bar;
}
}  // namespace detail

/// Ho et al. (2020): β linear from beta_start to beta_end over the T steps; ᾱ_t = ∏_{s≤t} (1 − β_s).
struct Linear {
  double beta_start = 1e-4;
  double beta_end = 0.02;
  std::vector<double> alpha_bars(std::int64_t steps) const {
    LATENT_CHECK(beta_start > 0 && beta_start <= beta_end && beta_end < 1, ValueError,
                 "schedule::Linear: need 0 < beta_start <= beta_end < 1, got beta_start = " + detail::num(beta_start) +
                     ", beta_end = " + detail::num(beta_end));
    std::vector<double> out(static_cast<std::size_t>(steps));
    double a = 1.0;
    for (std::int64_t i = 0; i < steps; ++i) {
      const double beta = steps == 1 ? beta_start : beta_start + (beta_end - beta_start) * double(i) / double(steps - 1);
      a *= 1.0 - beta;
      out[static_cast<std::size_t>(i)] = a;
    }
    return out;
  }
  std::string name() const { return "linear"; }
};

/// Nichol & Dhariwal (2021): ᾱ(t) = f(t)/f(0), f(t) = cos²(π/2 · (t/T + s)/(1 + s)), β clipped at 0.999.
struct Cosine {
  double s = 0.008;
  std::vector<double> alpha_bars(std::int64_t steps) const {
    LATENT_CHECK(s >= 0, ValueError, "schedule::Cosine: s = " + detail::num(s) + " must be >= 0");
    auto f = [&](double t) { return std::pow(std::cos((t + s) / (1 + s) * std::numbers::pi / 2), 2); };
    std::vector<double> out(static_cast<std::size_t>(steps));
    for (std::int64_t i = 0; i < steps; ++i) out[static_cast<std::size_t>(i)] = f(double(i + 1) / double(steps)) / f(0);
    return detail::clip_betas(std::move(out));
  }
  std::string name() const { return "cosine"; }
};

/// Jabri et al. (2022) / Chen (2023): ᾱ(t) = (σ(e/τ) − σ((t(e − b) + b)/τ)) / (σ(e/τ) − σ(b/τ)), σ the logistic
/// function, t = i/T; β clipped at 0.999.
struct Sigmoid {
  double start = -3.0;
  double end = 3.0;
  double tau = 1.0;
  std::vector<double> alpha_bars(std::int64_t steps) const {
    LATENT_CHECK(start < end && tau > 0, ValueError,
                 "schedule::Sigmoid: need start < end and tau > 0, got start = " + detail::num(start) + ", end = " +
                     detail::num(end) + ", tau = " + detail::num(tau));
    auto sig = [](double z) { return 1 / (1 + std::exp(-z)); };
    const double hi = sig(end / tau), lo = sig(start / tau);
    std::vector<double> out(static_cast<std::size_t>(steps));
    for (std::int64_t i = 0; i < steps; ++i) {
      const double t = double(i + 1) / double(steps);
      out[static_cast<std::size_t>(i)] = (hi - sig((t * (end - start) + start) / tau)) / (hi - lo);
    }
    return detail::clip_betas(std::move(out));
  }
  std::string name() const { return "sigmoid"; }
};

}  // namespace latent::schedule

namespace latent {

/// How a sampler with S < T steps picks its timesteps (see NoiseTable::timesteps).
enum class TimestepSpacing { uniform, log_snr };

/// The ᾱ table of a schedule with T steps and what follows from it. Timestep i ∈ [0, T) means ᾱ_i (after i + 1
/// noising steps); x_i = α_i x0 + σ_i ε with α_i = √ᾱ_i, σ_i = √(1 − ᾱ_i); SNR_i = ᾱ_i/(1 − ᾱ_i); λ_i = log(α_i/σ_i).
/// The "previous" of timestep 0 is the clean data, ᾱ = 1 (see alpha_bar_at(-1)).
class NoiseTable {
 public:
  NoiseTable() = default;
  template <NoiseSchedule S>
  NoiseTable(const S& schedule, std::int64_t steps) : name_(schedule.name()) {
    LATENT_CHECK(steps >= 1, ValueError, "NoiseTable: steps = " + std::to_string(steps) + " must be >= 1");
    alpha_bar_ = schedule.alpha_bars(steps);
    LATENT_CHECK(static_cast<std::int64_t>(alpha_bar_.size()) == steps, ValueError,
                 "NoiseTable: schedule '" + name_ + "' gave " + std::to_string(alpha_bar_.size()) + " values for " +
                     std::to_string(steps) + " steps");
    double prev = 1.0;
    for (std::size_t i = 0; i < alpha_bar_.size(); ++i) {
      LATENT_CHECK(alpha_bar_[i] > 0 && alpha_bar_[i] < prev, ValueError,
                   "NoiseTable: schedule '" + name_ + "': alpha_bar[" + std::to_string(i) + "] = " +
                       schedule::detail::num(alpha_bar_[i]) + " must be in (0, " + schedule::detail::num(prev) + ")");
      prev = alpha_bar_[i];
    }
  }

  std::int64_t steps() const noexcept { return static_cast<std::int64_t>(alpha_bar_.size()); }
  const std::string& name() const noexcept { return name_; }
  const std::vector<double>& alpha_bars() const noexcept { return alpha_bar_; }

  /// ᾱ at timestep t ∈ [−1, T − 1]: t = −1 is the clean data (ᾱ = 1); between integers in [0, T − 1] the log-SNR is
  /// interpolated linearly (samplers may visit fractional timesteps; the network sees continuous time).
  double alpha_bar_at(double t) const {
    LATENT_CHECK(t == -1 || (t >= 0 && t <= double(steps() - 1)), ValueError,
                 "NoiseTable: timestep " + schedule::detail::num(t) + " is not -1 or in [0, " +
                     std::to_string(steps() - 1) + "]");
    if (t < 0) return 1.0;
    const auto i = static_cast<std::size_t>(t);
    const double frac = t - double(i);
    if (frac == 0) return alpha_bar_[i];
    const double lambda = (1 - frac) * table_log_snr(i) + frac * table_log_snr(i + 1);
    return 1 / (1 + std::exp(-2 * lambda));  // ᾱ = SNR/(1 + SNR), SNR = e^{2λ}
  }
  /// β_i = 1 − ᾱ_i/ᾱ_{i−1}.
  double beta(std::int64_t i) const { return 1.0 - alpha_bar_at(double(i)) / alpha_bar_at(double(i - 1)); }
  double alpha(double t) const { return std::sqrt(alpha_bar_at(t)); }
  double sigma(double t) const { return std::sqrt(1.0 - alpha_bar_at(t)); }
  double snr(double t) const { return alpha_bar_at(t) / (1.0 - alpha_bar_at(t)); }
  double log_snr(double t) const { return std::log(alpha(t) / sigma(t)); }  // λ_t = log(α/σ), half of log SNR

  /// The timestep in [0, T − 1] whose log-SNR is λ (clamped to the table's range).
  double timestep_of_log_snr(double lambda) const {
    if (lambda >= table_log_snr(0)) return 0;
    for (std::size_t i = 0; i + 1 < alpha_bar_.size(); ++i)
      if (lambda >= table_log_snr(i + 1))
        return double(i) + (table_log_snr(i) - lambda) / (table_log_snr(i) - table_log_snr(i + 1));
    return double(steps() - 1);
  }

  /// S timesteps for an S-step sampler, from T − 1 down to 0:
  ///   uniform: evenly spaced in t and rounded to integers (S = T gives every timestep);
  ///   log_snr: evenly spaced in λ (Lu et al. 2022), fractional; many more steps at low noise, where fine structure
  ///            is decided, which is what few-step ODE samplers need.
  /// Both end at timestep 0: the last step jumps from there to the data, and a jump from a noisier timestep replaces
  /// the data by its posterior mean at that noise level, which visibly shrinks fine structure.
  std::vector<double> timesteps(std::int64_t sample_steps, TimestepSpacing spacing = TimestepSpacing::uniform) const {
    LATENT_CHECK(sample_steps >= 1 && sample_steps <= steps(), ValueError,
                 "NoiseTable: sample steps = " + std::to_string(sample_steps) + " must be in [1, " +
                     std::to_string(steps()) + "]");
    if (sample_steps == 1) return {double(steps() - 1)};
    std::vector<double> out;
    const double lo = table_log_snr(alpha_bar_.size() - 1), hi = table_log_snr(0);
    for (std::int64_t k = 0; k < sample_steps; ++k) {
      const double frac = double(k) / double(sample_steps - 1);  // 0 at the noisiest step, 1 at timestep 0
      if (spacing == TimestepSpacing::uniform)
        out.push_back(double(std::llround(double(steps() - 1) * (1 - frac))));
      else
        out.push_back(k == 0 ? double(steps() - 1) : k + 1 == sample_steps ? 0.0 : timestep_of_log_snr(lo + frac * (hi - lo)));
    }
    return out;
  }

 private:
  double table_log_snr(std::size_t i) const { return 0.5 * std::log(alpha_bar_[i] / (1 - alpha_bar_[i])); }

  std::string name_;
  std::vector<double> alpha_bar_;
};

/// What the network predicts: the noise ε, the clean data x0, or the velocity v = α ε − σ x0 (Salimans & Ho 2022).
enum class Prediction { epsilon, x0, v };

inline std::string to_string(Prediction p) {
  switch (p) {
    case Prediction::epsilon: return "epsilon";
    case Prediction::x0: return "x0";
    case Prediction::v: return "v";
  }
  return "?";
}

/// Converts a network output at x_t (with α = √ᾱ, σ = √(1 − ᾱ), per-row or scalar) to the ε it implies:
///   from x0: ε = (x_t − α x0)/σ;  from v: ε = σ x_t + α v  (since x_t = α x0 + σ ε and v = α ε − σ x0).
template <Scalar T>
Tensor<T> epsilon_from(Prediction p, const Tensor<T>& output, const Tensor<T>& x_t, const Tensor<T>& alpha,
                       const Tensor<T>& sigma) {
  switch (p) {
    case Prediction::epsilon: return output;
    case Prediction::x0: return div(sub(x_t, mul(alpha, output)), sigma);
    case Prediction::v: return add(mul(sigma, x_t), mul(alpha, output));
  }
  return output;
}
/// x0 from ε: x0 = (x_t − σ ε)/α.
template <Scalar T>
Tensor<T> x0_from_epsilon(const Tensor<T>& eps, const Tensor<T>& x_t, const Tensor<T>& alpha, const Tensor<T>& sigma) {
  return div(sub(x_t, mul(sigma, eps)), alpha);
}
/// The training target for prediction p given the clean data and the noise.
template <Scalar T>
Tensor<T> prediction_target(Prediction p, const Tensor<T>& x0, const Tensor<T>& eps, const Tensor<T>& alpha,
                            const Tensor<T>& sigma) {
  switch (p) {
    case Prediction::epsilon: return eps;
    case Prediction::x0: return x0;
    case Prediction::v: return sub(mul(alpha, eps), mul(sigma, x0));
  }
  return eps;
}

}  // namespace latent
