// Dropout: zeroes elements with probability p in training mode and scales the rest by 1/(1-p)
// (inverted dropout, PyTorch's semantics); the identity in evaluation mode.
#pragma once

#include <string>

#include "../ops/random.hpp"
#include "module.hpp"

namespace latent::nn {

struct DropoutOptions {
  double p = 0.5;
};

/// Randomness: the module owns an Rng seeded from the Rng passed to its constructor (one draw), so a
/// model built from a seeded Rng drops the same elements on every run, and two Dropout layers draw
/// independent masks. forward(x, rng) uses an explicit generator instead; generator() exposes the
/// owned one (e.g. to save and restore its state in a checkpoint).
template <Scalar T>
class Dropout : public UnaryModule<T> {
  DropoutOptions options_;
  Rng rng_;

 public:
  Dropout(const DropoutOptions& options, Rng& rng) : options_(validated(options)), rng_(rng.next_u64()) {}

  const DropoutOptions& options() const noexcept { return options_; }
  std::string repr() const override { return "Dropout(p=" + detail::double_str(options_.p) + ")"; }
  Rng& generator() noexcept { return rng_; }

  Tensor<T> forward(const Tensor<T>& x) override { return forward(x, rng_); }
  Tensor<T> forward(const Tensor<T>& x, Rng& rng) {
    return dropout(x, static_cast<T>(options_.p), rng, this->is_training());
  }

 private:
  static DropoutOptions validated(const DropoutOptions& o) {
    LATENT_CHECK(o.p >= 0.0 && o.p <= 1.0, ValueError, "Dropout: p = " + detail::double_str(o.p) + " is not in [0, 1]");
    return o;
  }
};

}  // namespace latent::nn
