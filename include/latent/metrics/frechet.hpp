// The Fréchet distance between two sets of feature vectors, each summarised by a Gaussian (the FID of Heusel et al.
// 2017 when the features are Inception's; here any [N, F] features, e.g. metrics::DigitClassifier::features).
#pragma once

#include <string>
#include <vector>

#include "../autograd/grad_mode.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../ops/ops.hpp"
#define LATENT_INSIDE_METRICS
#include "detail/frechet_kernel.hpp"
#undef LATENT_INSIDE_METRICS

namespace latent::metrics {

/// The mean [F] and covariance [F, F] (divided by N − 1, as numpy.cov) of the rows of x [N, F], in double.
struct FeatureMoments {
  Tensor<double> mean;
  Tensor<double> covariance;
};

/// The moments of the rows of feats [N, F] (N >= 2), computed in double.
template <Scalar T>
FeatureMoments feature_moments(const Tensor<T>& feats, const char* who = "feature_moments") {
  NoGradGuard no_grad;
  LATENT_CHECK(feats.rank() == 2, ShapeError, std::string(who) + ": features " + feats.shape().str() + " must be [N, F]");
  LATENT_CHECK(feats.size(0) >= 2, ValueError,
               std::string(who) + ": features " + feats.shape().str() + " need at least 2 rows for a covariance");
  const index_t n = feats.size(0), f = feats.size(1);
  const auto values = feats.to_vector();
  auto x = from_vector<double>(std::vector<double>(values.begin(), values.end()), Shape{n, f});
  FeatureMoments m;
  m.mean = mean(x, 0);
  const auto centred = sub(x, reshape(m.mean, Shape{1, f}));
  m.covariance = mul_scalar(matmul(transpose(centred, 0, 1), centred), 1.0 / double(n - 1));
  return m;
}

/// d² = ‖μa − μb‖² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½) between Gaussians with the given moments. (A template only so
/// that the eigensolver is compiled where it is used, not in every file that includes <latent/latent.hpp>.)
template <class = void>
double frechet_distance(const FeatureMoments& a, const FeatureMoments& b) {
  LATENT_CHECK(a.mean.numel() == b.mean.numel(), ShapeError,
               "frechet_distance: feature sizes " + std::to_string(a.mean.numel()) + " and " + std::to_string(b.mean.numel()) + " differ");
  const index_t f = a.mean.numel();
  double d2 = 0, trace = 0;
  for (index_t i = 0; i < f; ++i) {
    const double diff = a.mean.data()[i] - b.mean.data()[i];
    d2 += diff * diff;
    trace += a.covariance.data()[i * f + i] + b.covariance.data()[i * f + i];
  }
  return d2 + trace - 2 * detail::trace_sqrt_product(a.covariance.data(), b.covariance.data(), f);
}

/// The Fréchet distance between feature sets feats_a [N, F] and feats_b [M, F] (N, M >= 2), each summarised by its
/// mean and covariance (N − 1 normalisation), computed in double. 0 for identical sets; it is biased upwards for
/// small N (the FID convention: compare figures only at equal N).
template <Scalar T>
double frechet_distance(const Tensor<T>& feats_a, const Tensor<T>& feats_b) {
  LATENT_CHECK(feats_a.rank() == 2 && feats_b.rank() == 2 && feats_a.size(1) == feats_b.size(1), ShapeError,
               "frechet_distance: features " + feats_a.shape().str() + " and " + feats_b.shape().str() +
                   " must be [N, F] and [M, F]");
  return frechet_distance(feature_moments(feats_a, "frechet_distance"), feature_moments(feats_b, "frechet_distance"));
}

}  // namespace latent::metrics
