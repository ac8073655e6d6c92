// Likelihood bookkeeping: nats ↔ bits per dimension, the ELBO and IWAE bounds from importance log-weights,
// and a batch mean with its standard error (how precise a reported bound is).
#pragma once

#include <cmath>
#include <numbers>
#include <string>

#include "../ops/ops.hpp"

namespace latent::metrics {

/// −log p(x) in nats over `dims` dimensions → bits per dimension: nats / (dims · ln 2).
inline double nats_to_bits_per_dim(double nats, index_t dims) {
  LATENT_CHECK(dims > 0, ValueError, "nats_to_bits_per_dim: dims = " + std::to_string(dims) + " must be positive");
  return nats / (static_cast<double>(dims) * std::numbers::ln2);
}
/// Bits per dimension → nats per example over `dims` dimensions.
inline double bits_per_dim_to_nats(double bits_per_dim, index_t dims) {
  LATENT_CHECK(dims > 0, ValueError, "bits_per_dim_to_nats: dims = " + std::to_string(dims) + " must be positive");
  return bits_per_dim * static_cast<double>(dims) * std::numbers::ln2;
}

/// From log-weights log w_i = log p(x, z_i) − log q(z_i | x), [k, B] with z_i ~ q: the IWAE bound per example
/// [B], log (1/k) Σ_i w_i, computed with log-sum-exp (Burda et al. 2016).
template <Scalar T>
Tensor<T> iwae_from_log_weights(const Tensor<T>& log_weights) {
  LATENT_CHECK(log_weights.rank() == 2, ShapeError,
               "iwae_from_log_weights: log_weights " + log_weights.shape().str() + " must be [k, B]");
  return add_scalar(logsumexp(log_weights, 0), -static_cast<T>(std::log(static_cast<double>(log_weights.size(0)))));
}
/// The ELBO estimate per example [B] from the same log-weights: (1/k) Σ_i log w_i.
template <Scalar T>
Tensor<T> elbo_from_log_weights(const Tensor<T>& log_weights) {
  LATENT_CHECK(log_weights.rank() == 2, ShapeError,
               "elbo_from_log_weights: log_weights " + log_weights.shape().str() + " must be [k, B]");
  return mean(log_weights, 0);
}

/// A mean over examples with its standard error (sample standard deviation / √n).
struct MeanWithError {
  double mean = 0;
  double standard_error = 0;
};
template <Scalar T>
MeanWithError mean_with_error(const Tensor<T>& values) {
  const index_t n = values.numel();
  LATENT_CHECK(n > 0, ValueError, "mean_with_error: no values");
  double s = 0, s2 = 0;
  for (index_t i = 0; i < n; ++i) s += static_cast<double>(values.data()[i]);
  const double m = s / static_cast<double>(n);
  for (index_t i = 0; i < n; ++i) s2 += std::pow(static_cast<double>(values.data()[i]) - m, 2);
  const double sd = n > 1 ? std::sqrt(s2 / static_cast<double>(n - 1)) : 0.0;
  return {m, sd / std::sqrt(static_cast<double>(n))};
}

}  // namespace latent::metrics
