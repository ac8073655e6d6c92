// SpectralNorm<Layer>: spectral normalisation of a layer's weight (Miyato et al. 2018), with the semantics and
// state_dict names of torch.nn.utils.spectral_norm: parameter weight_orig, buffers weight_u and weight_v.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "../autograd/grad_mode.hpp"
#include "../ops/ops.hpp"
#include "module.hpp"

namespace latent::nn {

/// torch.nn.utils.spectral_norm's arguments and defaults (dim = 0 suits Linear and Conv2d; ConvTranspose2d
/// keeps its output channels in dim 1).
struct SpectralNormOptions {
  int n_power_iterations = 1;
  double eps = 1e-12;
  int dim = 0;
};

/// Wraps a layer with a public `Tensor<T>& weight` (Linear, Conv2d, ConvTranspose2d, or a user's layer) and
/// computes it as W = W_orig / σ(W_orig) before each forward, where σ is the largest singular value of W_orig
/// reshaped to [size(dim), rest], estimated by power iteration:
///   v ← normalize(Wᵀ u),  u ← normalize(W v)   (n_power_iterations times per training forward, none in eval)
///   σ = uᵀ W v    (u and v held constant, so ∂σ/∂W = u vᵀ as in PyTorch)
/// state_dict, as PyTorch's: bias (when the layer has one), weight_orig, weight_u [size(dim)], weight_v [rest].
/// u and v are buffers, so a checkpoint restores the estimate; the wrapper takes over the layer's parameters,
/// which it reaches through layer().
template <Scalar T, class Layer>
  requires std::derived_from<Layer, UnaryModule<T>> && requires(Layer& l) {
    { l.weight } -> std::convertible_to<Tensor<T>&>;
  }
class SpectralNorm : public UnaryModule<T> {
  std::unique_ptr<Layer> layer_;
  SpectralNormOptions options_;
  index_t rows_ = 0, cols_ = 0;

 public:
  Tensor<T>& weight_orig;
  Tensor<T>& weight_u;
  Tensor<T>& weight_v;

  /// u and v start as normalised N(0, I) draws from `rng` (PyTorch's initialisation).
  SpectralNorm(std::unique_ptr<Layer> layer, Rng& rng, const SpectralNormOptions& options = {})
      : layer_(checked(std::move(layer))), options_(validated(options, layer_->weight)),
        weight_orig(register_bias_then(this, *layer_)), weight_u(this->register_buffer("weight_u", Tensor<T>())),
        weight_v(this->register_buffer("weight_v", Tensor<T>())) {
    const auto& w = layer_->weight;
    rows_ = w.size(options_.dim);
    cols_ = w.numel() / rows_;
    NoGradGuard no_grad;
    weight_u = normalized(randn<T>({rows_}, rng));
    weight_v = normalized(randn<T>({cols_}, rng));
  }

  Layer& layer() noexcept { return *layer_; }
  const SpectralNormOptions& options() const noexcept { return options_; }
  std::string repr() const override { return "SpectralNorm(" + layer_->repr() + ")"; }

  /// σ = uᵀ W v estimated from the current u, v and weight_orig (no power iteration; differentiable in it).
  Tensor<T> sigma() { return sigma_of(weight_orig); }
  /// The same estimate for another weight of weight_orig's shape.
  Tensor<T> sigma_of(const Tensor<T>& weight) { return matmul(weight_u, matmul(weight_matrix(weight), weight_v)); }

  /// The normalised weight W_orig / σ that forward() uses, after the power iterations of a training forward.
  Tensor<T> normalized_weight() {
    if (this->is_training() && options_.n_power_iterations > 0) power_iterate(options_.n_power_iterations);
    return div(weight_orig, sigma());
  }

  Tensor<T> forward(const Tensor<T>& x) override {
    // The layer computes with W_orig / σ in its weight slot; the slot gets weight_orig back afterwards, also
    // when the layer throws, so that parameters() and state_dict() always see the trained leaf.
    struct Restore {
      Tensor<T>& slot;
      Tensor<T> original;
      ~Restore() { slot = original; }
    } restore{layer_->weight, weight_orig};
    layer_->weight = normalized_weight();
    return layer_->forward(x);
  }

  /// Runs `iterations` power-iteration updates of u and v in place (no graph).
  void power_iterate(int iterations) {
    NoGradGuard no_grad;
    const Tensor<T> wm = weight_matrix(weight_orig);
    Tensor<T> u = weight_u, v = weight_v;
    for (int i = 0; i < iterations; ++i) {
      v = normalized(matmul(u, wm));   // Wᵀ u as a row vector
      u = normalized(matmul(wm, v));
    }
    weight_u.copy_(u);
    weight_v.copy_(v);
  }

 private:
  // W_orig as the [size(dim), rest] matrix of the power iteration.
  Tensor<T> weight_matrix(Tensor<T> w) const {
    if (options_.dim != 0) {
      Dims order{options_.dim};
      for (int d = 0; d < static_cast<int>(w.rank()); ++d)
        if (d != options_.dim) order.push_back(d);
      w = permute(w, order);
    }
    return reshape(w, Shape{rows_, cols_});
  }
  // x / max(‖x‖, eps), torch.nn.functional.normalize.
  Tensor<T> normalized(const Tensor<T>& x) const {
    const double norm = std::sqrt(static_cast<double>(sum(square(x)).item()));
    return mul_scalar(x, static_cast<T>(1.0 / std::max(norm, options_.eps)));
  }
  static std::unique_ptr<Layer> checked(std::unique_ptr<Layer> layer) {
    LATENT_CHECK(layer != nullptr, ValueError, "SpectralNorm: the layer must not be null");
    return layer;
  }
  static SpectralNormOptions validated(const SpectralNormOptions& o, const Tensor<T>& weight) {
    LATENT_CHECK(o.n_power_iterations >= 0, ValueError,
                 "SpectralNorm: n_power_iterations = " + std::to_string(o.n_power_iterations) + " must be >= 0");
    LATENT_CHECK(o.eps > 0, ValueError, "SpectralNorm: eps = " + detail::double_str(o.eps) + " must be positive");
    LATENT_CHECK(weight.defined() && weight.rank() >= 1 && o.dim >= 0 && o.dim < weight.rank(), ValueError,
                 "SpectralNorm: dim = " + std::to_string(o.dim) + " is not a dimension of the weight " +
                     (weight.defined() ? weight.shape().str() : std::string("(undefined)")));
    return o;
  }
  // PyTorch's order: the layer's other parameters (bias) stay, weight_orig is registered after them.
  static Tensor<T>& register_bias_then(SpectralNorm* self, Layer& layer) {
    for (const auto& [name, p] : layer.named_parameters(false))
      if (name != "weight") self->register_parameter(name, p);
    return self->register_parameter("weight_orig", layer.weight);
  }
};

/// spectral_norm(std::make_unique<Linear<float>>(...), rng): the wrapped layer (type deduced).
template <Scalar T, class Layer>
std::unique_ptr<SpectralNorm<T, Layer>> spectral_norm(std::unique_ptr<Layer> layer, Rng& rng, const SpectralNormOptions& options = {}) {
  return std::make_unique<SpectralNorm<T, Layer>>(std::move(layer), rng, options);
}

}  // namespace latent::nn
