// Activation modules (ReLU, LeakyReLU, GELU, SiLU, Tanh, Sigmoid, Softplus) and Flatten/Identity:
// parameter-free UnaryModules wrapping ops/, so they can sit in a Sequential.
#pragma once

#include <cmath>
#include <memory>
#include <string>

#include "../ops/activation.hpp"
#include "../ops/shape_ops.hpp"
#include "module.hpp"

namespace latent::nn {

template <Scalar T>
class ReLU : public UnaryModule<T> {
 public:
  std::string repr() const override { return "ReLU()"; }
  Tensor<T> forward(const Tensor<T>& x) override { return relu(x); }
};

struct LeakyReLUOptions {
  double negative_slope = 0.01;
};
template <Scalar T>
class LeakyReLU : public UnaryModule<T> {
  LeakyReLUOptions options_;

 public:
  explicit LeakyReLU(const LeakyReLUOptions& options = {}) : options_(options) {
    LATENT_CHECK(std::isfinite(options.negative_slope), ValueError,
                 "LeakyReLU: negative_slope = " + detail::double_str(options.negative_slope) + " is not finite");
  }
  const LeakyReLUOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "LeakyReLU(negative_slope=" + detail::double_str(options_.negative_slope) + ")";
  }
  Tensor<T> forward(const Tensor<T>& x) override { return leaky_relu(x, static_cast<T>(options_.negative_slope)); }
};

struct GELUOptions {
  GeluApproximation approximate = GeluApproximation::none;
};
/// x Φ(x) (exact, erf), or PyTorch's approximate='tanh'.
template <Scalar T>
class GELU : public UnaryModule<T> {
  GELUOptions options_;

 public:
  explicit GELU(const GELUOptions& options = {}) : options_(options) {}
  const GELUOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return options_.approximate == GeluApproximation::tanh ? "GELU(approximate='tanh')" : "GELU(approximate='none')";
  }
  Tensor<T> forward(const Tensor<T>& x) override { return gelu(x, options_.approximate); }
};

template <Scalar T>
class SiLU : public UnaryModule<T> {
 public:
  std::string repr() const override { return "SiLU()"; }
  Tensor<T> forward(const Tensor<T>& x) override { return silu(x); }
};

template <Scalar T>
class Tanh : public UnaryModule<T> {
 public:
  std::string repr() const override { return "Tanh()"; }
  Tensor<T> forward(const Tensor<T>& x) override { return tanh(x); }
};

template <Scalar T>
class Sigmoid : public UnaryModule<T> {
 public:
  std::string repr() const override { return "Sigmoid()"; }
  Tensor<T> forward(const Tensor<T>& x) override { return sigmoid(x); }
};

struct SoftplusOptions {
  double beta = 1.0;
};
/// (1/β) log(1 + e^{βx}), linear where βx > 20 (PyTorch's threshold = 20).
template <Scalar T>
class Softplus : public UnaryModule<T> {
  SoftplusOptions options_;

 public:
  explicit Softplus(const SoftplusOptions& options = {}) : options_(options) {
    LATENT_CHECK(options.beta > 0.0 && std::isfinite(options.beta), ValueError,
                 "Softplus: beta = " + detail::double_str(options.beta) + " must be positive and finite");
  }
  const SoftplusOptions& options() const noexcept { return options_; }
  std::string repr() const override { return "Softplus(beta=" + detail::double_str(options_.beta) + ", threshold=20)"; }
  Tensor<T> forward(const Tensor<T>& x) override {
    if (options_.beta == 1.0) return softplus(x);
    const T beta = static_cast<T>(options_.beta);
    return mul_scalar(softplus(mul_scalar(x, beta)), T(1) / beta);
  }
};

struct FlattenOptions {
  int start_dim = 1;
  int end_dim = -1;
};
/// Merges dimensions start_dim..end_dim (PyTorch's defaults keep the batch dimension: [N, C, H, W] → [N, C·H·W]).
template <Scalar T>
class Flatten : public UnaryModule<T> {
  FlattenOptions options_;

 public:
  explicit Flatten(const FlattenOptions& options = {}) : options_(options) {}
  const FlattenOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "Flatten(start_dim=" + std::to_string(options_.start_dim) + ", end_dim=" + std::to_string(options_.end_dim) +
           ")";
  }
  Tensor<T> forward(const Tensor<T>& x) override { return flatten(x, options_.start_dim, options_.end_dim); }
};

/// Returns its input: a placeholder that keeps Sequential indices (and state_dict names) stable.
template <Scalar T>
class Identity : public UnaryModule<T> {
 public:
  std::string repr() const override { return "Identity()"; }
  Tensor<T> forward(const Tensor<T>& x) override { return x; }
};

/// The activations an MLP can be built with (PyTorch defaults: LeakyReLU slope 0.01, exact GELU).
enum class Activation { relu, leaky_relu, gelu, gelu_tanh, silu, tanh, sigmoid, softplus };

/// A new activation module of kind `a`.
template <Scalar T>
std::unique_ptr<UnaryModule<T>> make_activation(Activation a) {
  switch (a) {
    case Activation::relu:
      return std::make_unique<ReLU<T>>();
    case Activation::leaky_relu:
      return std::make_unique<LeakyReLU<T>>();
    case Activation::gelu:
      return std::make_unique<GELU<T>>();
    case Activation::gelu_tanh:
      return std::make_unique<GELU<T>>(GELUOptions{.approximate = GeluApproximation::tanh});
    case Activation::silu:
      return std::make_unique<SiLU<T>>();
    case Activation::tanh:
      return std::make_unique<Tanh<T>>();
    case Activation::sigmoid:
      return std::make_unique<Sigmoid<T>>();
    case Activation::softplus:
      return std::make_unique<Softplus<T>>();
  }
  throw ValueError("make_activation: unknown activation " + std::to_string(static_cast<int>(a)));
}

}  // namespace latent::nn
