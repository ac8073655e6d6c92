// MLP: Linear layers with an activation between them, built on Sequential, so its state_dict names
// are those of the PyTorch nn.Sequential(Linear, act, Linear, ...) it mirrors ("0.weight", "2.weight").
#pragma once

#include <string>
#include <vector>

#include "activation.hpp"
#include "container.hpp"
#include "linear.hpp"

namespace latent::nn {

struct MLPOptions {
  index_t in = 0;
  std::vector<index_t> hidden = {};  // widths of the hidden layers; empty for a single Linear
  index_t out = 0;
  Activation activation = Activation::relu;
  bool bias = true;
};

/// in → hidden[0] → act → hidden[1] → act → … → out, no activation after the last Linear.
/// Parameters are initialised as PyTorch's Linear, layer by layer in order.
template <Scalar T>
class MLP : public Sequential<T> {
  MLPOptions options_;

 public:
  MLP(const MLPOptions& options, Rng& rng) : options_(validated(options)) {
    index_t width = options_.in;
    for (index_t h : options_.hidden) {
      this->template emplace<Linear<T>>(LinearOptions{.in_features = width, .out_features = h, .bias = options_.bias},
                                        rng);
      this->push_back(make_activation<T>(options_.activation));
      width = h;
    }
    this->template emplace<Linear<T>>(
        LinearOptions{.in_features = width, .out_features = options_.out, .bias = options_.bias}, rng);
  }

  const MLPOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "MLP" + Sequential<T>::repr().substr(10);
  }  // "MLP(Linear(...), ReLU(), ...)"

 private:
  static MLPOptions validated(const MLPOptions& o) {
    detail::check_positive("MLP", "in", o.in);
    detail::check_positive("MLP", "out", o.out);
    for (index_t h : o.hidden) detail::check_positive("MLP", "hidden width", h);
    return o;
  }
};

}  // namespace latent::nn
