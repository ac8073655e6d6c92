// Kernels of optim/ other than Adam's (kernels/adam.hpp): the SGD update, gradient norms, scaling and
// clamping for clip_grad_norm_/clip_grad_value_, and the EMA interpolation and swap. In place, no allocation.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "eigen.hpp"
#include "parallel.hpp"

namespace latent::kernels {

/// The scalars of one SGD step, computed in double by optim/sgd.hpp and rounded to T (as torch rounds its
/// Python-float scalars).
template <class T>
struct SgdStep {
  T neg_lr;
  T weight_decay;
  T momentum;
  T one_minus_dampening;
  bool nesterov;
};

namespace detail {

// torch 1.13's _single_tensor_sgd, op for op. d = g (+ wd p):
//   no momentum:   p ← p + (−lr) d                                  param.add_(d_p, alpha=-lr)
//   first step:    b ← d                                            buf = torch.clone(d_p)
//   later steps:   b ← b μ + (1 − dampening) d                      buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
//   then           p ← p + (−lr)(d + μ b)  (nesterov)  or  p + (−lr) b
template <class T, class Grad>
void sgd_block(ArrayMap<T>& p, const Grad& d, T* buffer, bool first, const SgdStep<T>& s) {
  if (!buffer) {
    p = p + s.neg_lr * d;
    return;
  }
  ArrayMap<T> b(buffer, p.size());
  if (first) b = d;
  else b = b * s.momentum + s.one_minus_dampening * d;
  if (s.nesterov) p = p + s.neg_lr * (d + s.momentum * b);
  else p = p + s.neg_lr * b;
}

}  // namespace detail

/// One SGD step over n elements in place. `momentum_buffer` is null without momentum; `first` says the
/// buffer is being created by this step (it then takes the gradient, undampened, as in torch).
template <class T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, bool first, index_t n, const SgdStep<T>& s) {
  constexpr index_t block = 4096;
  const index_t blocks = (n + block - 1) / block;
  parallel_for(0, blocks, n * 8, [&](index_t i) {
    const index_t begin = i * block, len = std::min(block, n - begin);
    ArrayMap<T> p(param + begin, len);
    const ConstArrayMap<T> g(grad + begin, len);
    T* b = momentum_buffer ? momentum_buffer + begin : nullptr;
    // torch adds the decay term only when weight_decay != 0.
    if (s.weight_decay != T(0)) detail::sgd_block(p, g + s.weight_decay * p, b, first, s);
    else detail::sgd_block(p, g, b, first, s);
  });
}

/// ‖x‖_p of n elements, accumulated in double: p = 2 (Euclidean), 1, +inf (max |x|) or any other p > 0.
template <class T>
double lp_norm(const T* x, index_t n, double p) {
  if (n == 0) return 0.0;
  const ConstArrayMap<T> a(x, n);
  if (p == std::numeric_limits<double>::infinity()) return static_cast<double>(a.abs().maxCoeff());
  if (p == 2.0) return std::sqrt(a.template cast<double>().square().sum());
  if (p == 1.0) return a.template cast<double>().abs().sum();
  return std::pow(a.template cast<double>().abs().pow(p).sum(), 1.0 / p);
}

/// x ← x s
template <class T>
void scale_inplace(T* x, index_t n, T s) {
  ArrayMap<T> a(x, n);
  a *= s;
}

/// x ← min(max(x, low), high), NaN staying NaN (torch.clamp_).
template <class T>
void clamp_inplace(T* x, index_t n, T low, T high) {
  ArrayMap<T> a(x, n);
  a = (a < low).select(low, (a > high).select(high, a));  // comparisons with NaN are false: NaN stays
}

/// a ← lerp(a, b, w), torch's lerp_ formula: a + w (b − a) for w < 0.5, else b − (b − a)(1 − w).
template <class T>
void lerp_inplace(T* a, const T* b, index_t n, T w) {
  ArrayMap<T> x(a, n);
  const ConstArrayMap<T> y(b, n);
  if (std::abs(w) < T(0.5)) x = x + w * (y - x);
  else x = y - (y - x) * (T(1) - w);
}

/// Exchanges the contents of a and b (n elements each).
template <class T>
void swap_contents(T* a, T* b, index_t n) {
  ArrayMap<T> x(a, n), y(b, n);
  x.swap(y);
}

}  // namespace latent::kernels
