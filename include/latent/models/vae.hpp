// VAE<Encoder, Decoder, Likelihood>: a variational autoencoder with a diagonal-Gaussian posterior, the
// reparameterisation trick, the ELBO with analytic KL (β, KL warm-up) and the IWAE bound; the likelihoods.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <memory>
#include <numbers>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../nn/module.hpp"
#include "../ops/ops.hpp"
#include "concepts.hpp"

namespace latent {

/// q(z | x) = N(mean, diag(exp(logvar))), each [B, latent_dim]: what the ready-made encoders return (the
/// Encoder concept of concepts.hpp asks only for members mean and logvar).
template <Scalar T>
struct DiagonalGaussian {
  Tensor<T> mean;
  Tensor<T> logvar;
};

/// p(x | z) given the decoder's output reshaped to params [N, P, D] and data x [N, D]: log_prob gives
/// log p(x | z) per row [N] (in nats), mean the expected value [N, D], sample a draw [N, D].
template <class L, class T>
concept Likelihood = requires(const L& l, const Tensor<T>& params, const Tensor<T>& x, Rng& rng) {
  { l.params_per_dim() } -> std::convertible_to<index_t>;
  { l.log_prob(params, x) } -> std::same_as<Tensor<T>>;
  { l.mean(params) } -> std::same_as<Tensor<T>>;
  { l.sample(params, rng) } -> std::same_as<Tensor<T>>;
};

namespace vae_detail {
template <class T>
Tensor<T> first_param(const Tensor<T>& params) {  // [N, P, D] -> [N, D]
  return reshape(narrow(params, 1, 0, 1), Shape{params.size(0), params.size(2)});
}
}  // namespace vae_detail

/// Binary data, one logit per dimension: log p(x | z) = Σ x ℓ − softplus(ℓ) (x may be any value in [0, 1],
/// which is the continuous relaxation PyTorch's VAE example trains on).
struct BernoulliLikelihood {
  index_t params_per_dim() const { return 1; }
  template <Scalar T>
  Tensor<T> log_prob(const Tensor<T>& params, const Tensor<T>& x) const {
    return neg(sum(binary_cross_entropy_with_logits(vae_detail::first_param(params), x, Reduction::none), 1));
  }
  template <Scalar T>
  Tensor<T> mean(const Tensor<T>& params) const { return sigmoid(vae_detail::first_param(params)); }
  template <Scalar T>
  Tensor<T> sample(const Tensor<T>& params, Rng& rng) const {
    NoGradGuard no_grad;
    const Tensor<T> p = mean(params);
    std::vector<T> v(static_cast<std::size_t>(p.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = rng.bernoulli(static_cast<double>(p.data()[i])) ? T(1) : T(0);
    return from_vector<T>(v, p.shape());
  }
};

struct GaussianLikelihoodOptions {
  bool learned_variance = false;  // true: the decoder gives mean and log-variance per dimension (P = 2)
  double variance = 1.0;          // the fixed variance when not learned
};

/// Continuous data: log N(x; μ, σ²) = −½ ((x − μ)²/σ² + log σ² + log 2π) summed over dimensions, with σ²
/// fixed or given by the decoder as a log-variance (params[:, 1]).
class GaussianLikelihood {
 public:
  explicit GaussianLikelihood(const GaussianLikelihoodOptions& options = {}) : options_(options) {
    LATENT_CHECK(options.variance > 0 && std::isfinite(options.variance), ValueError,
                 "GaussianLikelihood: variance = " + nn::detail::double_str(options.variance) + " must be positive");
  }
  const GaussianLikelihoodOptions& options() const noexcept { return options_; }
  index_t params_per_dim() const { return options_.learned_variance ? 2 : 1; }

  template <Scalar T>
  Tensor<T> log_prob(const Tensor<T>& params, const Tensor<T>& x) const {
    const T log_2pi = std::log(T(2) * std::numbers::pi_v<T>);
    const Tensor<T> diff = sub(x, vae_detail::first_param(params));
    if (!options_.learned_variance) {
      const T var = static_cast<T>(options_.variance);
      const Tensor<T> sq = sum(square(diff), 1);
      return add_scalar(mul_scalar(sq, T(-0.5) / var), T(-0.5) * static_cast<T>(x.size(1)) * (std::log(var) + log_2pi));
    }
    const Tensor<T> logvar = reshape(narrow(params, 1, 1, 1), x.shape());
    const Tensor<T> terms = add(mul(square(diff), exp(neg(logvar))), add_scalar(logvar, log_2pi));
    return mul_scalar(sum(terms, 1), T(-0.5));
  }
  template <Scalar T>
  Tensor<T> mean(const Tensor<T>& params) const { return vae_detail::first_param(params); }
  template <Scalar T>
  Tensor<T> sample(const Tensor<T>& params, Rng& rng) const {
    NoGradGuard no_grad;
    const Tensor<T> mu = mean(params);
    Tensor<T> stddev = full<T>(mu.shape(), static_cast<T>(std::sqrt(options_.variance)));
    if (options_.learned_variance) stddev = exp(mul_scalar(reshape(narrow(params, 1, 1, 1), mu.shape()), T(0.5)));
    return add(mu, mul(stddev, randn<T>(mu.shape(), rng)));
  }

 private:
  GaussianLikelihoodOptions options_;
};

/// 8-bit data (x in [0, 1] on the grid k/255): a 256-way softmax per dimension, params [N, 256, D].
/// log p(x | z) is an exact discrete log-probability, so −log p / (D ln 2) is bits per dimension.
struct CategoricalLikelihood {
  static constexpr index_t levels = 256;
  index_t params_per_dim() const { return levels; }

  /// round(255 x) as class indices [N, 1, D]; x outside [0, 1] is an error.
  template <Scalar T>
  static Tensor<std::int64_t> targets(const Tensor<T>& x) {
    auto idx = Tensor<std::int64_t>::empty(Shape{x.size(0), 1, x.size(1)});
    const T* xs = x.data();
    for (index_t i = 0; i < x.numel(); ++i) {
      LATENT_CHECK(xs[i] >= T(0) && xs[i] <= T(1), ValueError,
                   "CategoricalLikelihood: data value " + nn::detail::double_str(static_cast<double>(xs[i])) +
                       " at index " + std::to_string(i) + " is outside [0, 1]");
      idx.data()[i] = std::lround(static_cast<double>(xs[i]) * (levels - 1));
    }
    return idx;
  }
  template <Scalar T>
  Tensor<T> log_prob(const Tensor<T>& params, const Tensor<T>& x) const {
    const Tensor<T> picked = gather(log_softmax(params, 1), 1, targets(x));  // [N, 1, D]
    return sum(picked, Dims{1, 2});
  }
  /// The expected value Σ_k p_k k/255.
  template <Scalar T>
  Tensor<T> mean(const Tensor<T>& params) const {
    const Tensor<T> grid = reshape(linspace<T>(T(0), T(1), levels), Shape{1, levels, 1});
    return sum(mul(softmax(params, 1), grid), 1);
  }
  template <Scalar T>
  Tensor<T> sample(const Tensor<T>& params, Rng& rng) const {
    NoGradGuard no_grad;
    const index_t n = params.size(0), d = params.size(2);
    const Tensor<T> probs = contiguous_probs(params);  // [N, D, 256]
    std::vector<T> v(static_cast<std::size_t>(n * d));
    for (index_t i = 0; i < n * d; ++i)
      v[static_cast<std::size_t>(i)] =
          static_cast<T>(rng.categorical(std::span<const T>(probs.data() + i * levels, levels))) / T(levels - 1);
    return from_vector<T>(v, Shape{n, d});
  }

 private:
  template <Scalar T>
  static Tensor<T> contiguous_probs(const Tensor<T>& params) {
    return reshape(permute(softmax(params, 1), Dims{0, 2, 1}), Shape{params.size(0) * params.size(2), levels});
  }
};

/// The KL weight schedule and checks of a VAE. β scales the KL term (β-VAE); with kl_warmup_steps > 0 the
/// weight rises linearly from 0 to β over that many steps (Bowman et al. 2016).
struct VAEOptions {
  double beta = 1.0;
  std::int64_t kl_warmup_steps = 0;
};

/// The terms of the ELBO for one batch, per example (in nats): log p(x | z) at one posterior sample, the
/// analytic KL(q(z|x) ‖ N(0, I)), and the sample z.
template <Scalar T>
struct ElboTerms {
  Tensor<T> reconstruction;  // [B]  log p(x | z), z ~ q(z | x)
  Tensor<T> kl;              // [B]  KL(q(z | x) ‖ p(z)), analytic
  Tensor<T> z;               // [B, latent_dim]
  /// ELBO = E_q[log p(x|z)] − KL per example [B] (a lower bound on log p(x)).
  Tensor<T> elbo() const { return sub(reconstruction, kl); }
};

/// KL(N(μ, e^logvar) ‖ N(0, I)) per row: −½ Σ_j (1 + logvar_j − μ_j² − e^{logvar_j}), [B, L] -> [B].
template <Scalar T>
Tensor<T> gaussian_kl(const Tensor<T>& mean, const Tensor<T>& logvar) {
  check_same_shape("gaussian_kl", "mean", mean.shape(), "logvar", logvar.shape());
  LATENT_CHECK(mean.rank() == 2, ShapeError, "gaussian_kl: mean " + mean.shape().str() + " must be [B, latent_dim]");
  return mul_scalar(sum(sub(add_scalar(logvar, T(1)), add(square(mean), exp(logvar))), 1), T(-0.5));
}

/// z = μ + e^{logvar/2} ε with ε ~ N(0, I) from `rng`: differentiable in μ and logvar.
template <Scalar T>
Tensor<T> reparameterize(const Tensor<T>& mean, const Tensor<T>& logvar, Rng& rng) {
  check_same_shape("reparameterize", "mean", mean.shape(), "logvar", logvar.shape());
  return add(mean, mul(exp(mul_scalar(logvar, T(0.5))), randn<T>(mean.shape(), rng)));
}

namespace vae_detail {
template <Scalar T>
T module_scalar_probe(const nn::Module<T>*);
/// The scalar type T of a Module<T>.
template <class M>
using module_scalar_t = decltype(module_scalar_probe(static_cast<M*>(nullptr)));

/// labels repeated `times` times: [B] -> [times·B], row r = labels[r mod B].
inline Tensor<std::int64_t> repeat_labels(const Tensor<std::int64_t>& labels, index_t times) {
  if (!labels.defined()) return labels;
  const index_t b = labels.numel();
  auto out = Tensor<std::int64_t>::empty(Shape{times * b});
  for (index_t r = 0; r < times * b; ++r) out.data()[r] = labels.data()[r % b];
  return out;
}
}  // namespace vae_detail

/// A VAE over data x [B, ...]: encoder q(z|x) = N(μ(x), diag σ²(x)), prior p(z) = N(0, I), decoder p(x|z)
/// given by the Likelihood from the decoder's output. Owns its encoder and decoder, registered as the
/// children "encoder" and "decoder" (state_dict names "encoder.fc1.weight", ...). Every method takes optional
/// labels [B] for conditional parts (a conditional VAE); randomness always comes from an explicit Rng.
template <class Enc, class Dec, class Lik = BernoulliLikelihood>
  requires Encoder<Enc, vae_detail::module_scalar_t<Enc>> && Decoder<Dec, vae_detail::module_scalar_t<Enc>> &&
           std::derived_from<Dec, nn::Module<vae_detail::module_scalar_t<Enc>>> &&
           Likelihood<Lik, vae_detail::module_scalar_t<Enc>>
class VAE : public nn::Module<vae_detail::module_scalar_t<Enc>> {
 public:
  using T = vae_detail::module_scalar_t<Enc>;
  using Labels = Tensor<std::int64_t>;

  VAE(std::unique_ptr<Enc> encoder, std::unique_ptr<Dec> decoder, Lik likelihood = {}, const VAEOptions& options = {})
      : encoder_(std::move(encoder)), decoder_(std::move(decoder)), likelihood_(std::move(likelihood)),
        options_(validated(options)) {
    LATENT_CHECK(encoder_ && decoder_, ValueError, "VAE: encoder and decoder must not be null");
    this->register_module("encoder", *encoder_);
    this->register_module("decoder", *decoder_);
  }

  std::string repr() const override {
    return "VAE(encoder=" + encoder_->repr() + ", decoder=" + decoder_->repr() +
           ", beta=" + nn::detail::double_str(options_.beta) +
           ", kl_warmup_steps=" + std::to_string(options_.kl_warmup_steps) + ")";
  }

  Enc& encoder() noexcept { return *encoder_; }
  Dec& decoder() noexcept { return *decoder_; }
  const Lik& likelihood() const noexcept { return likelihood_; }
  const VAEOptions& options() const noexcept { return options_; }
  index_t latent_dim() const { return decoder_->latent_dim(); }

  /// q(z | x): mean and log-variance [B, latent_dim].
  DiagonalGaussian<T> encode(const Tensor<T>& x, const Labels& labels = {}) {
    LATENT_CHECK(x.rank() >= 2, ShapeError, "VAE::encode: input " + x.shape().str() + " must be [B, ...]");
    check_labels("encode", x.size(0), labels);
    auto q = [&] {
      if constexpr (requires { encoder_->encode(x, labels); }) {
        if constexpr (requires { encoder_->encode(x); }) {
          if (!labels.defined()) return encoder_->encode(x);
        }
        return encoder_->encode(x, labels);
      } else {
        LATENT_CHECK(!labels.defined(), ValueError, "VAE::encode: labels given, but " + encoder_->repr() + " is not conditional");
        return encoder_->encode(x);
      }
    }();
    DiagonalGaussian<T> out{q.mean, q.logvar};
    LATENT_CHECK(out.mean.rank() == 2 && out.mean.shape() == out.logvar.shape() && out.mean.size(0) == x.size(0) &&
                     out.mean.size(1) == latent_dim(),
                 ShapeError,
                 "VAE::encode: encoder gave mean " + out.mean.shape().str() + " and logvar " + out.logvar.shape().str() +
                     " for input " + x.shape().str() + ", expected [" + std::to_string(x.size(0)) + "," +
                     std::to_string(latent_dim()) + "] each");
    return out;
  }

  /// The decoder's raw output (the likelihood's parameters) for z [B, latent_dim].
  Tensor<T> decode(const Tensor<T>& z, const Labels& labels = {}) {
    LATENT_CHECK(z.rank() == 2 && z.size(1) == latent_dim(), ShapeError,
                 "VAE::decode: z " + z.shape().str() + " must be [B, " + std::to_string(latent_dim()) + "]");
    check_labels("decode", z.size(0), labels);
    if constexpr (requires { decoder_->decode(z, labels); }) {
      if constexpr (requires { decoder_->decode(z); }) {
        if (!labels.defined()) return decoder_->decode(z);
      }
      return decoder_->decode(z, labels);
    } else {
      LATENT_CHECK(!labels.defined(), ValueError, "VAE::decode: labels given, but " + decoder_->repr() + " is not conditional");
      return decoder_->decode(z);
    }
  }

  /// log p(x | z) per row [N] for the decoder output `out` of N rows and data x [N, ...].
  Tensor<T> log_likelihood(const Tensor<T>& out, const Tensor<T>& x) const {
    const index_t n = x.size(0), d = x.numel() / std::max<index_t>(n, 1), p = likelihood_.params_per_dim();
    LATENT_CHECK(out.rank() >= 2 && out.size(0) == n && out.numel() == n * p * d &&
                     (out.rank() != x.rank() || out.size(1) == p * x.size(1)),
                 ShapeError,
                 "VAE: decoder output " + out.shape().str() + " does not fit data " + x.shape().str() + " with " +
                     std::to_string(p) + " likelihood parameter(s) per dimension (expected dimension 1 of size " +
                     std::to_string(p * (x.rank() >= 2 ? x.size(1) : 1)) + ")");
    return likelihood_.log_prob(reshape(out, Shape{n, p, d}), reshape(x, Shape{n, d}));
  }

  /// The KL weight at optimisation step `step` (0-based): β · min(1, step / kl_warmup_steps).
  double kl_weight(std::int64_t step) const {
    if (options_.kl_warmup_steps <= 0) return options_.beta;
    return options_.beta * std::min(1.0, static_cast<double>(step) / static_cast<double>(options_.kl_warmup_steps));
  }

  /// One-sample ELBO terms per example (reconstruction at z ~ q(z|x), analytic KL).
  ElboTerms<T> elbo_terms(const Tensor<T>& x, Rng& rng, const Labels& labels = {}) {
    const DiagonalGaussian<T> q = encode(x, labels);
    Tensor<T> z = reparameterize(q.mean, q.logvar, rng);
    Tensor<T> rec = log_likelihood(decode(z, labels), x);
    return {rec, gaussian_kl(q.mean, q.logvar), z};
  }

  /// The training loss at step `step`: mean over the batch of −log p(x|z) + w(step) · KL, w = kl_weight(step).
  /// With β = 1 after warm-up this is the negative ELBO per example, in nats.
  Tensor<T> loss(const Tensor<T>& x, Rng& rng, std::int64_t step = 0, const Labels& labels = {}) {
    const ElboTerms<T> t = elbo_terms(x, rng, labels);
    const T w = static_cast<T>(kl_weight(step));
    return mean(sub(mul_scalar(t.kl, w), t.reconstruction));
  }

  /// The importance-weighted bound (Burda et al. 2016) per example [B]:
  ///   L_k = log (1/k) Σ_i p(x | z_i) p(z_i) / q(z_i | x),  z_i ~ q(z | x),
  /// with L_1 = ELBO (in expectation), L_k ≤ L_{k+1} ≤ log p(x). The k samples are decoded in batches of at
  /// most `max_rows` rows and combined with log-sum-exp. Differentiable (the IWAE objective); evaluate it
  /// under NoGradGuard.
  Tensor<T> iwae_bound(const Tensor<T>& x, index_t k, Rng& rng, const Labels& labels = {}, index_t max_rows = 8192) {
    LATENT_CHECK(k >= 1, ValueError, "VAE::iwae_bound: k = " + std::to_string(k) + " must be positive");
    LATENT_CHECK(max_rows >= 1, ValueError, "VAE::iwae_bound: max_rows = " + std::to_string(max_rows) + " must be positive");
    const DiagonalGaussian<T> q = encode(x, labels);
    const index_t b = x.size(0);
    const index_t rows_per_example = std::max<index_t>(1, std::min<index_t>(k, max_rows));
    const index_t examples_per_chunk = std::max<index_t>(1, max_rows / rows_per_example);
    std::vector<Tensor<T>> bounds;
    for (index_t e0 = 0; e0 < b; e0 += examples_per_chunk) {
      const index_t eb = std::min(examples_per_chunk, b - e0);
      const Tensor<T> mu = narrow(q.mean, 0, e0, eb), lv = narrow(q.logvar, 0, e0, eb);
      const Tensor<T> xb = narrow(x, 0, e0, eb);
      const Labels yb = labels.defined() ? narrow(labels, 0, e0, eb) : labels;
      std::vector<Tensor<T>> partial;  // log Σ_{i in chunk} w_i, [eb] each
      for (index_t s0 = 0; s0 < k; s0 += rows_per_example) {
        const index_t ks = std::min(rows_per_example, k - s0);
        partial.push_back(logsumexp(log_weights(xb, mu, lv, yb, ks, rng), 0));
      }
      const Tensor<T> total = partial.size() == 1 ? partial[0] : logsumexp(stack(partial, 0), 0);
      bounds.push_back(add_scalar(total, -static_cast<T>(std::log(static_cast<double>(k)))));
    }
    return bounds.size() == 1 ? bounds[0] : cat(bounds, 0);
  }

  /// log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x) for k samples of every example: [k, B].
  Tensor<T> log_weights(const Tensor<T>& x, const Tensor<T>& mu, const Tensor<T>& logvar, const Labels& labels, index_t k,
                        Rng& rng) {
    const index_t b = x.size(0), l = mu.size(1);
    const Tensor<T> eps = randn<T>(Shape{k, b, l}, rng);
    const Tensor<T> z = add(unsqueeze(mu, 0), mul(unsqueeze(exp(mul_scalar(logvar, T(0.5))), 0), eps));  // [k, B, L]
    const Tensor<T> z_rows = reshape(z, Shape{k * b, l});
    const Tensor<T> out = decode(z_rows, vae_detail::repeat_labels(labels, k));
    std::vector<std::int64_t> rep(static_cast<std::size_t>(k * b));
    for (index_t r = 0; r < k * b; ++r) rep[static_cast<std::size_t>(r)] = r % b;
    const Tensor<T> x_rows = index_select(x, 0, from_vector<std::int64_t>(rep, Shape{k * b}));
    const Tensor<T> log_px = reshape(log_likelihood(out, x_rows), Shape{k, b});
    // log p(z) − log q(z|x) = Σ_j ½ (logvar_j + ε_j² − z_j²): the log 2π terms cancel and (z − μ)²/σ² = ε².
    const Tensor<T> log_ratio = mul_scalar(sum(add(unsqueeze(logvar, 0), sub(square(eps), square(z))), 2), T(0.5));
    return add(log_px, log_ratio);
  }

  /// Draws n latents from the prior N(0, I) and returns the likelihood's mean [n, C, ...] (the usual
  /// picture of samples); `labels` [n] for a conditional decoder.
  Tensor<T> sample(index_t n, Rng& rng, const Labels& labels = {}) {
    LATENT_CHECK(n >= 1, ValueError, "VAE::sample: n = " + std::to_string(n) + " must be positive");
    NoGradGuard no_grad;
    return decoded_mean(randn<T>(Shape{n, latent_dim()}, rng), labels);
  }

  /// x → the likelihood's mean at the posterior mean of z: the deterministic reconstruction, shaped like x.
  Tensor<T> reconstruct(const Tensor<T>& x, const Labels& labels = {}) {
    NoGradGuard no_grad;
    return reshape(decoded_mean(encode(x, labels).mean, labels), x.shape());
  }

  /// The posterior means of x0 and x1 (each [1, ...]) joined by `steps` evenly spaced points, decoded:
  /// [steps, C, ...]. `label` (optional, [1]) conditions every point.
  Tensor<T> interpolate(const Tensor<T>& x0, const Tensor<T>& x1, index_t steps, const Labels& label = {}) {
    LATENT_CHECK(steps >= 2, ValueError, "VAE::interpolate: steps = " + std::to_string(steps) + " must be at least 2");
    LATENT_CHECK(x0.rank() >= 2 && x0.size(0) == 1 && x0.shape() == x1.shape(), ShapeError,
                 "VAE::interpolate: inputs " + x0.shape().str() + " and " + x1.shape().str() + " must both be [1, ...]");
    NoGradGuard no_grad;
    const Tensor<T> z0 = encode(x0, label).mean, z1 = encode(x1, label).mean;
    const Tensor<T> t = reshape(linspace<T>(T(0), T(1), steps), Shape{steps, 1});
    const Tensor<T> z = add(mul(sub(ones<T>(t.shape()), t), z0), mul(t, z1));
    return decoded_mean(z, vae_detail::repeat_labels(label, steps));
  }

  /// The decoded likelihood mean for given latents [N, latent_dim]: [N, C, ...] (dimension 1 of the decoder
  /// output divided by the parameters per dimension).
  Tensor<T> decoded_mean(const Tensor<T>& z, const Labels& labels = {}) {
    const Tensor<T> out = decode(z, labels);
    const index_t n = out.size(0), p = likelihood_.params_per_dim(), d = out.numel() / (n * p);
    Shape shape = out.shape();
    shape[1] = out.size(1) / p;
    return reshape(likelihood_.mean(reshape(out, Shape{n, p, d})), shape);
  }

 private:
  static VAEOptions validated(const VAEOptions& o) {
    LATENT_CHECK(o.beta >= 0 && std::isfinite(o.beta), ValueError,
                 "VAE: beta = " + nn::detail::double_str(o.beta) + " must be non-negative");
    LATENT_CHECK(o.kl_warmup_steps >= 0, ValueError,
                 "VAE: kl_warmup_steps = " + std::to_string(o.kl_warmup_steps) + " must be non-negative");
    return o;
  }
  static void check_labels(const char* what, index_t batch, const Labels& labels) {
    if (!labels.defined()) return;
    LATENT_CHECK(labels.rank() == 1 && labels.size(0) == batch, ShapeError,
                 std::string("VAE::") + what + ": labels " + labels.shape().str() + " must be [" + std::to_string(batch) + "]");
  }

  std::unique_ptr<Enc> encoder_;
  std::unique_ptr<Dec> decoder_;
  Lik likelihood_;
  VAEOptions options_;
};

}  // namespace latent
