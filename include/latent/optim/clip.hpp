// Gradient clipping with torch.nn.utils' semantics: clip_grad_norm_ (one norm over all gradients, the
// 1e-6 in the clip coefficient) and clip_grad_value_. Both work in place on the parameters' .grad.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../kernels/optim.hpp"
#include "optimizer.hpp"

namespace latent::optim {

/// Scales the gradients of `params` so that their total norm is at most max_norm, and returns the total
/// norm before clipping. As torch: total = ‖(‖g_1‖_p, ‖g_2‖_p, ...)‖_p over the parameters that have a
/// gradient (p = norm_type, +inf for the max-norm), every gradient is multiplied by
/// min(1, max_norm / (total + 1e-6)), and the result is 0 when no parameter has a gradient.
/// With error_if_nonfinite, a NaN or infinite total throws instead of spreading into the gradients.
template <Scalar T>
T clip_grad_norm_(const std::vector<Tensor<T>>& params, double max_norm, double norm_type = 2.0,
                  bool error_if_nonfinite = false) {
  LATENT_CHECK(max_norm >= 0.0, ValueError, "clip_grad_norm_: max_norm = " + detail::format_number(max_norm) + " must be >= 0");
  LATENT_CHECK(norm_type > 0.0, ValueError,
               "clip_grad_norm_: norm_type = " + detail::format_number(norm_type) + " must be > 0 (or infinity)");
  const bool is_inf = norm_type == std::numeric_limits<double>::infinity();
  // Each gradient's norm is rounded to T, as torch's per-tensor norms are tensors of the gradient's dtype.
  double accumulated = 0.0;  // max of the norms (inf) or sum of their p-th powers
  bool any = false;
  for (const Tensor<T>& p : params) {
    const Tensor<T> g = p.grad();
    if (!g.defined()) continue;
    any = true;
    const double n = static_cast<double>(static_cast<T>(kernels::lp_norm(g.data(), g.numel(), norm_type)));
    if (is_inf) accumulated = std::max(accumulated, n);
    else if (norm_type == 2.0) accumulated += n * n;
    else accumulated += std::pow(n, norm_type);
    if (std::isnan(n)) accumulated = n;  // std::max drops NaN
  }
  if (!any) return T(0);
  const T total = static_cast<T>(is_inf ? accumulated : norm_type == 2.0 ? std::sqrt(accumulated) : std::pow(accumulated, 1.0 / norm_type));
  LATENT_CHECK(!error_if_nonfinite || std::isfinite(total), ValueError,
               "clip_grad_norm_: the total norm of order " + detail::format_number(norm_type) + " of the gradients is " +
                   detail::format_number(static_cast<double>(total)) + ", so it cannot be clipped (error_if_nonfinite = true)");
  const T coef = static_cast<T>(max_norm) / (total + static_cast<T>(1e-6));
  if (coef >= T(1)) return total;  // torch multiplies by the clamped coefficient 1: a no-op
  for (const Tensor<T>& p : params) {  // coef < 1, or NaN (which torch's clamp keeps)
    const Tensor<T> g = p.grad();
    if (g.defined()) kernels::scale_inplace(g.data(), g.numel(), coef);
  }
  return total;
}

/// Clamps every gradient element of `params` to [-clip_value, clip_value] (torch.nn.utils.clip_grad_value_).
template <Scalar T>
void clip_grad_value_(const std::vector<Tensor<T>>& params, double clip_value) {
  LATENT_CHECK(clip_value >= 0.0, ValueError,
               "clip_grad_value_: clip_value = " + detail::format_number(clip_value) + " must be >= 0");
  const T c = static_cast<T>(clip_value);
  for (const Tensor<T>& p : params) {
    const Tensor<T> g = p.grad();
    if (g.defined()) kernels::clamp_inplace(g.data(), g.numel(), -c, c);
  }
}

}  // namespace latent::optim
