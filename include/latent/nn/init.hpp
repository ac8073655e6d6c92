// Parameter initialisation with torch.nn.init's formulas and names (uniform_, normal_, kaiming_*,
// xavier_*), drawing from an explicit Rng; the layers' defaults are PyTorch's.
#pragma once

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "../core/factory.hpp"
#include "module.hpp"

namespace latent::nn::init {

enum class Nonlinearity { linear, conv, sigmoid, tanh, relu, leaky_relu, selu };
enum class FanMode { fan_in, fan_out };

/// torch.nn.init.calculate_gain: the factor that keeps activations' variance across a layer.
/// linear/conv/sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2 / (1 + slope²)) (slope 0.01 unless given), selu 3/4.
inline double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param = std::nullopt) {
  switch (nonlinearity) {
    case Nonlinearity::linear:
    case Nonlinearity::conv:
    case Nonlinearity::sigmoid:
      return 1.0;
    case Nonlinearity::tanh:
      return 5.0 / 3.0;
    case Nonlinearity::relu:
      return std::sqrt(2.0);
    case Nonlinearity::leaky_relu: {
      const double slope = param.value_or(0.01);
      return std::sqrt(2.0 / (1.0 + slope * slope));
    }
    case Nonlinearity::selu:
      return 0.75;
  }
  return 1.0;
}

/// (fan_in, fan_out) = (size(1) · receptive field, size(0) · receptive field), receptive field = the
/// product of the dimensions after the first two, as PyTorch computes it. For a ConvTranspose2d
/// weight [in, out, kh, kw] this makes fan_in = out · kh · kw, which is what PyTorch uses there too.
template <Scalar T>
std::pair<index_t, index_t> calculate_fan_in_and_fan_out(const Tensor<T>& t) {
  LATENT_CHECK(t.rank() >= 2, ValueError,
               "calculate_fan_in_and_fan_out: tensor " + t.shape().str() + " has fewer than 2 dimensions");
  const index_t receptive = t.shape().prod(2, t.rank());
  return {t.shape()[1] * receptive, t.shape()[0] * receptive};
}

/// Fills with U(a, b).
template <Scalar T>
Tensor<T>& uniform_(Tensor<T>& t, Rng& rng, double a = 0.0, double b = 1.0) {
  LATENT_CHECK(a <= b, ValueError,
               "uniform_: a = " + nn::detail::double_str(a) + " > b = " + nn::detail::double_str(b));
  rng.fill_uniform(std::span<T>(t.data(), static_cast<std::size_t>(t.numel())), static_cast<T>(a), static_cast<T>(b));
  return t;
}
/// Fills with N(mean, std²).
template <Scalar T>
Tensor<T>& normal_(Tensor<T>& t, Rng& rng, double mean = 0.0, double std = 1.0) {
  LATENT_CHECK(std >= 0.0, ValueError, "normal_: std = " + nn::detail::double_str(std) + " is negative");
  rng.fill_normal(std::span<T>(t.data(), static_cast<std::size_t>(t.numel())), static_cast<T>(mean),
                  static_cast<T>(std));
  return t;
}
template <Scalar T>
Tensor<T>& constant_(Tensor<T>& t, double value) {
  std::fill_n(t.data(), t.numel(), static_cast<T>(value));
  return t;
}
template <Scalar T>
Tensor<T>& zeros_(Tensor<T>& t) {
  return constant_(t, 0.0);
}
template <Scalar T>
Tensor<T>& ones_(Tensor<T>& t) {
  return constant_(t, 1.0);
}

namespace detail {
template <Scalar T>
double fan(const Tensor<T>& t, FanMode mode, const char* op) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  const index_t f = mode == FanMode::fan_in ? fan_in : fan_out;
  LATENT_CHECK(f > 0, ValueError, std::string(op) + ": tensor " + t.shape().str() + " has a zero fan");
  return static_cast<double>(f);
}
}  // namespace detail

/// He et al. (2015): U(-bound, bound), bound = gain · √(3 / fan), gain = calculate_gain(nonlinearity, a).
/// PyTorch's Linear/Conv weights use a = √5 (leaky_relu), which gives bound = 1 / √fan_in.
template <Scalar T>
Tensor<T>& kaiming_uniform_(Tensor<T>& t, Rng& rng, double a = 0.0, FanMode mode = FanMode::fan_in,
                            Nonlinearity nonlinearity = Nonlinearity::leaky_relu) {
  const double bound =
      std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(detail::fan(t, mode, "kaiming_uniform_"));
  return uniform_(t, rng, -bound, bound);
}
/// He et al. (2015): N(0, std²), std = gain / √fan.
template <Scalar T>
Tensor<T>& kaiming_normal_(Tensor<T>& t, Rng& rng, double a = 0.0, FanMode mode = FanMode::fan_in,
                           Nonlinearity nonlinearity = Nonlinearity::leaky_relu) {
  return normal_(t, rng, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(detail::fan(t, mode, "kaiming_normal_")));
}
/// Glorot & Bengio (2010): U(-a, a), a = gain · √(6 / (fan_in + fan_out)).
template <Scalar T>
Tensor<T>& xavier_uniform_(Tensor<T>& t, Rng& rng, double gain = 1.0) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(t, rng, -bound, bound);
}
/// Glorot & Bengio (2010): N(0, std²), std = gain · √(2 / (fan_in + fan_out)).
template <Scalar T>
Tensor<T>& xavier_normal_(Tensor<T>& t, Rng& rng, double gain = 1.0) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, rng, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)));
}

/// PyTorch's default for Linear, Conv2d and ConvTranspose2d: weight kaiming_uniform_(a = √5), i.e.
/// U(±1/√fan_in), then bias U(±1/√fan_in) with the weight's fan_in (in that order of draws).
template <Scalar T>
void default_layer_init_(Tensor<T>& weight, Tensor<T>* bias, Rng& rng) {
  kaiming_uniform_(weight, rng, std::sqrt(5.0));
  if (bias && bias->defined()) {
    const double bound = 1.0 / std::sqrt(detail::fan(weight, FanMode::fan_in, "default_layer_init_"));
    uniform_(*bias, rng, -bound, bound);
  }
}

}  // namespace latent::nn::init
