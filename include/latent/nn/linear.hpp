// Linear: y = x Wᵀ + b over the last dimension, with PyTorch's parameter names, layout and init.
#pragma once

#include <string>

#include "../ops/linalg.hpp"
#include "init.hpp"
#include "module.hpp"

namespace latent::nn {

struct LinearOptions {
  index_t in_features = 0;
  index_t out_features = 0;
  bool bias = true;
};

/// weight [out_features, in_features] ~ U(±1/√in_features), bias [out_features] ~ U(±1/√in_features).
/// Input [..., in_features] → output [..., out_features].
template <Scalar T>
class Linear : public UnaryModule<T> {
  LinearOptions options_;  // declared first: the parameters below are built from it

 public:
  Tensor<T>& weight;
  Tensor<T>& bias;  // undefined when options.bias is false

  Linear(const LinearOptions& options, Rng& rng)
      : options_(validated(options)),
        weight(this->register_parameter("weight", Tensor<T>::empty({options.out_features, options.in_features}))),
        bias(this->register_parameter("bias", options.bias ? Tensor<T>::empty({options.out_features}) : Tensor<T>())) {
    init::default_layer_init_(weight, &bias, rng);
  }

  const LinearOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "Linear(in_features=" + std::to_string(options_.in_features) +
           ", out_features=" + std::to_string(options_.out_features) + ", bias=" + detail::bool_str(options_.bias) +
           ")";
  }

  Tensor<T> forward(const Tensor<T>& x) override {
    LATENT_CHECK(x.rank() >= 1 && x.shape().back() == options_.in_features, ShapeError,
                 repr() + ": input " + x.shape().str() + " has " + std::to_string(x.rank() ? x.shape().back() : 0) +
                     " features in its last dimension, expected " + std::to_string(options_.in_features));
    return linear(x, weight, bias);
  }

 private:
  static LinearOptions validated(const LinearOptions& o) {
    detail::check_positive("Linear", "in_features", o.in_features);
    detail::check_positive("Linear", "out_features", o.out_features);
    return o;
  }
};

}  // namespace latent::nn
