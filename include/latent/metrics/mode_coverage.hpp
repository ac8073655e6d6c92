// Mode coverage of samples from a 2-D Gaussian mixture, the protocol of VEEGAN (Srivastava et al. 2017) and
// PacGAN (Lin et al. 2018): modes covered, fraction of high-quality samples, reverse KL to the uniform mode histogram.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../core/checks.hpp"
#include "../core/tensor.hpp"

namespace latent::metrics {

struct ModeCoverageOptions {
  double radius_stddevs = 3.0;  ///< a sample is high quality within this many σ of its nearest centre
  /// A mode is covered when it holds at least this fraction of the samples' expected share n / K (PacGAN's
  /// 2-D protocol counts a mode with at least 20 of 2500 samples, i.e. 0.2 of 100 expected per 25 modes).
  double min_share = 0.2;
};

struct ModeCoverage {
  std::int64_t modes_covered = 0;
  std::int64_t num_modes = 0;
  double high_quality = 0;          ///< fraction of samples within radius_stddevs·σ of their nearest centre
  double reverse_kl = 0;            ///< KL(p̂ ‖ uniform) = Σ_k p̂_k log(K p̂_k), p̂ = histogram of high-quality samples
  std::vector<std::int64_t> counts; ///< high-quality samples assigned to each mode
};

/// Assigns each sample [N, 2] to its nearest centre; it counts for that mode when it lies within
/// radius_stddevs · stddev of it. With no high-quality sample the KL is +infinity.
template <Scalar T>
ModeCoverage mode_coverage(const Tensor<T>& samples, const std::vector<std::array<double, 2>>& centers, double stddev,
                           const ModeCoverageOptions& options = {}) {
  check_rank("mode_coverage", "samples", samples.shape(), 2);
  LATENT_CHECK(samples.size(1) == 2, ShapeError, "mode_coverage: samples " + samples.shape().str() + " must be [N, 2]");
  LATENT_CHECK(!centers.empty(), ValueError, "mode_coverage: no mode centres");
  LATENT_CHECK(stddev > 0 && std::isfinite(stddev), ValueError, "mode_coverage: stddev = " + std::to_string(stddev) + " must be positive");
  LATENT_CHECK(options.radius_stddevs > 0, ValueError,
               "mode_coverage: radius_stddevs = " + std::to_string(options.radius_stddevs) + " must be positive");
  LATENT_CHECK(options.min_share >= 0, ValueError, "mode_coverage: min_share = " + std::to_string(options.min_share) + " must be >= 0");
  const std::vector<T> x = samples.to_vector();
  const index_t n = samples.size(0);
  const std::size_t k = centers.size();
  const double radius2 = std::pow(options.radius_stddevs * stddev, 2);
  ModeCoverage r;
  r.num_modes = static_cast<std::int64_t>(k);
  r.counts.assign(k, 0);
  std::int64_t good = 0;
  for (index_t i = 0; i < n; ++i) {
    const double px = static_cast<double>(x[2 * i]), py = static_cast<double>(x[2 * i + 1]);
    double best = std::numeric_limits<double>::infinity();
    std::size_t best_k = 0;
    for (std::size_t c = 0; c < k; ++c) {
      const double d2 = (px - centers[c][0]) * (px - centers[c][0]) + (py - centers[c][1]) * (py - centers[c][1]);
      if (d2 < best) best = d2, best_k = c;
    }
    if (best <= radius2) ++r.counts[best_k], ++good;
  }
  r.high_quality = n > 0 ? static_cast<double>(good) / static_cast<double>(n) : 0.0;
  const double threshold = options.min_share * static_cast<double>(n) / static_cast<double>(k);
  for (auto c : r.counts) r.modes_covered += (c > 0 && static_cast<double>(c) >= threshold) ? 1 : 0;
  if (good == 0) {
    r.reverse_kl = std::numeric_limits<double>::infinity();
  } else {
    for (auto c : r.counts)
      if (c > 0) {
        const double p = static_cast<double>(c) / static_cast<double>(good);
        r.reverse_kl += p * std::log(static_cast<double>(k) * p);
      }
  }
  return r;
}

}  // namespace latent::metrics
