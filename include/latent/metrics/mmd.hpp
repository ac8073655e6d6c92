// Maximum mean discrepancy between two samples with a Gaussian (RBF) kernel whose bandwidth defaults to the median
// heuristic (Gretton et al. 2012), computed in double precision.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../autograd/grad_mode.hpp"
#include "../core/error.hpp"
#include "../ops/ops.hpp"

namespace latent::metrics {

struct MMDOptions {
  double bandwidth = 0.0;       ///< h in k(a, b) = exp(−‖a − b‖²/(2h²)); 0: the median heuristic
  index_t median_points = 1000; ///< the median heuristic uses the first this-many rows of each sample
  bool unbiased = false;        ///< true: the U-statistic (drops the diagonal terms); false: the V-statistic
};

struct MMDResult {
  double mmd2 = 0;       ///< squared MMD
  double bandwidth = 0;  ///< the h used
};

namespace mmd_detail {
/// The rows of x as a [N, D] double matrix (a sample of any row shape is flattened).
template <Scalar T>
Tensor<double> as_rows(const Tensor<T>& x, const char* who) {
  LATENT_CHECK(x.rank() >= 1 && x.size(0) > 0, ShapeError, std::string(who) + ": sample " + x.shape().str() + " has no rows");
  const index_t n = x.size(0), d = x.numel() / n;
  auto out = Tensor<double>::empty({n, d});
  const auto values = x.to_vector();
  std::copy(values.begin(), values.end(), out.data());
  return out;
}
/// ‖a_i − b_j‖² for all pairs: ‖a‖² + ‖b‖² − 2 a·b, clamped at 0 against rounding.
template <Scalar T>
Tensor<T> squared_distances(const Tensor<T>& a, const Tensor<T>& b) {
  const auto aa = sum(square(a), 1, true), bb = sum(square(b), 1, true);
  return clamp_min(add(sub(aa, mul_scalar(matmul(a, transpose(b, 0, 1)), T(2))), transpose(bb, 0, 1)), T(0));
}
}  // namespace mmd_detail

/// The median of the pairwise distances ‖z_i − z_j‖ (i < j) in the pooled first `max_points` rows of x and of y.
template <Scalar T>
double median_heuristic(const Tensor<T>& x, const Tensor<T>& y, index_t max_points = 1000) {
  NoGradGuard no_grad;
  const auto a = mmd_detail::as_rows(x, "median_heuristic"), b = mmd_detail::as_rows(y, "median_heuristic");
  LATENT_CHECK(a.size(1) == b.size(1), ShapeError,
               "median_heuristic: samples " + x.shape().str() + " and " + y.shape().str() + " have different row sizes");
  const auto z = cat<double>({narrow(a, 0, 0, std::min(a.size(0), max_points)), narrow(b, 0, 0, std::min(b.size(0), max_points))}, 0);
  const auto d2 = mmd_detail::squared_distances(z, z);
  const index_t n = z.size(0);
  std::vector<double> pairs;
  pairs.reserve(static_cast<std::size_t>(n * (n - 1) / 2));
  for (index_t i = 0; i < n; ++i)
    for (index_t j = i + 1; j < n; ++j) pairs.push_back(std::sqrt(d2.data()[i * n + j]));
  LATENT_CHECK(!pairs.empty(), ValueError, "median_heuristic: needs at least two points");
  const auto mid = pairs.begin() + static_cast<std::ptrdiff_t>(pairs.size() / 2);
  std::nth_element(pairs.begin(), mid, pairs.end());
  double median = *mid;
  if (pairs.size() % 2 == 0) median = (median + *std::max_element(pairs.begin(), mid)) / 2;
  return median;
}

/// MMD²(x, y) = E k(x, x') + E k(y, y') − 2 E k(x, y) with k(a, b) = exp(−‖a − b‖²/(2h²)), over the rows of x [N, ...]
/// and y [M, ...] (V-statistic by default: means over all pairs, diagonal included).
template <Scalar T>
MMDResult mmd(const Tensor<T>& x, const Tensor<T>& y, const MMDOptions& options = {}) {
  NoGradGuard no_grad;
  LATENT_CHECK(options.bandwidth >= 0, ValueError, "mmd: bandwidth must be >= 0 (0: median heuristic)");
  const auto a = mmd_detail::as_rows(x, "mmd"), b = mmd_detail::as_rows(y, "mmd");
  LATENT_CHECK(a.size(1) == b.size(1), ShapeError,
               "mmd: samples " + x.shape().str() + " and " + y.shape().str() + " have different row sizes");
  const double h = options.bandwidth > 0 ? options.bandwidth : median_heuristic(x, y, options.median_points);
  LATENT_CHECK(h > 0, ValueError, "mmd: the median heuristic gave bandwidth 0 (all points equal); pass a bandwidth");
  auto mean_kernel = [&](const Tensor<double>& p, const Tensor<double>& q, bool same) {
    const auto k = exp(mul_scalar(mmd_detail::squared_distances(p, q), -1.0 / (2 * h * h)));
    double total = sum(k).item();
    double count = double(p.size(0)) * double(q.size(0));
    if (same && options.unbiased) {
      total -= double(p.size(0));  // k(a, a) = 1
      count -= double(p.size(0));
    }
    return total / count;
  };
  if (options.unbiased)
    LATENT_CHECK(a.size(0) > 1 && b.size(0) > 1, ValueError, "mmd: the unbiased estimate needs two rows per sample");
  return {mean_kernel(a, a, true) + mean_kernel(b, b, true) - 2 * mean_kernel(a, b, false), h};
}

}  // namespace latent::metrics
