// Losses with PyTorch's definitions and defaults (reduction = mean): mse, l1, bce, bce_with_logits,
// cross_entropy (integer targets, ignore_index, label smoothing), nll, gaussian_nll, and the KL
// divergence of a diagonal Gaussian to N(0, I).
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>

#include "activation.hpp"
#include "softmax.hpp"

namespace latent {

enum class Reduction { mean, sum, none };

namespace ops_detail {
template <Scalar T>
Tensor<T> reduce_loss(const Tensor<T>& elementwise, Reduction r) {
  switch (r) {
    case Reduction::mean: return mean(elementwise);
    case Reduction::sum: return sum(elementwise);
    case Reduction::none: break;
  }
  return elementwise;
}
}  // namespace ops_detail

/// mean((input - target)²)
template <Scalar T>
Tensor<T> mse_loss(const Tensor<T>& input, const Tensor<T>& target, Reduction reduction = Reduction::mean) {
  check_same_shape("mse_loss", "input", input.shape(), "target", target.shape());
  const Tensor<T> d = sub(input, target);
  return ops_detail::reduce_loss(mul(d, d), reduction);
}

/// mean(|input - target|)
template <Scalar T>
Tensor<T> l1_loss(const Tensor<T>& input, const Tensor<T>& target, Reduction reduction = Reduction::mean) {
  check_same_shape("l1_loss", "input", input.shape(), "target", target.shape());
  return ops_detail::reduce_loss(abs(sub(input, target)), reduction);
}

namespace ops_detail {
// ℓ(p, y) = -(y log p + (1 - y) log(1 - p)), logs clamped at -100:
// dp = g (p - y) / max(p (1 - p), 1e-12)  (PyTorch's rule: finite where a sigmoid saturated to exactly 0 or 1),
// dy = g (log(1 - p) - log p)  with the same clamped logs as the forward.
template <class T>
void bce_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& p = n.inputs[0];
  const Tensor<T>& y = n.inputs[1];
  if (n.needs_grad(0))
    grads[0] = is_grad_enabled() ? div(mul(g, sub(p, y)), clamp_min(mul(p, T(1) - p), T(1e-12)))  // create_graph: ops
                                 : binary_raw(Binary::mul, g, binary_raw(Binary::bce_grad, p, y, n.name), n.name);
  if (n.needs_grad(1)) grads[1] = mul(g, sub(clamp_min(log(T(1) - p), T(-100)), clamp_min(log(p), T(-100))));
}
}  // namespace ops_detail

/// -(y log p + (1 - y) log(1 - p)) on probabilities p, logs clamped at -100 as PyTorch does.
template <Scalar T>
Tensor<T> binary_cross_entropy(const Tensor<T>& p, const Tensor<T>& y, Reduction reduction = Reduction::mean) {
  check_same_shape("binary_cross_entropy", "input", p.shape(), "target", y.shape());
  const kernels::ConstArrayMap<T> pv(p.data(), p.numel());
  // The smallest and largest value with NaN propagated (NaN fails both comparisons): vectorized, where Eigen's all()
  // of a comparison runs element by element (W1's 100k probabilities: 18 µs against 69).
  if (p.numel() > 0 &&
      !(pv.template minCoeff<Eigen::PropagateNaN>() >= T(0) && pv.template maxCoeff<Eigen::PropagateNaN>() <= T(1))) {
    index_t i = 0;
    while (pv[i] >= T(0) && pv[i] <= T(1)) ++i;
    throw ValueError("binary_cross_entropy: input " + std::to_string(pv[i]) + " at index " + std::to_string(i) +
                     " is not in [0, 1] (use binary_cross_entropy_with_logits for logits)");
  }
  Tensor<T> elementwise = ops_detail::binary_raw(kernels::Binary::bce, p, y, "binary_cross_entropy");
  autograd::make_node(elementwise, "binary_cross_entropy", &ops_detail::bce_backward<T>, {p, y});
  return ops_detail::reduce_loss(elementwise, reduction);
}

namespace ops_detail {
// ℓ(x, y) = max(x, 0) - x y + log(1 + e^{-|x|}):  dx = g (σ(x) - y),  dy = -g x
template <class T>
void bce_logits_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const Tensor<T>& y = n.inputs[1];
  if (n.needs_grad(0)) grads[0] = mul(g, sub(sigmoid(x), y));
  if (n.needs_grad(1)) grads[1] = neg(mul(g, x));
}
}  // namespace ops_detail

/// Numerically stable BCE on logits: max(x, 0) - x y + log(1 + e^{-|x|}).
template <Scalar T>
Tensor<T> binary_cross_entropy_with_logits(const Tensor<T>& logits, const Tensor<T>& target, Reduction reduction = Reduction::mean) {
  check_same_shape("binary_cross_entropy_with_logits", "input", logits.shape(), "target", target.shape());
  Tensor<T> elementwise;
  {
    NoGradGuard raw;
    elementwise = add(sub(relu(logits), mul(logits, target)), log1p(exp(neg(abs(logits)))));
  }
  autograd::make_node(elementwise, "binary_cross_entropy_with_logits", &ops_detail::bce_logits_backward<T>, {logits, target});
  return ops_detail::reduce_loss(elementwise, reduction);
}

struct CrossEntropyOptions {
  std::int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::mean;
};

namespace ops_detail {
/// The target distribution of cross-entropy per row: (1 - ε) one-hot + ε / C, zero on ignored rows,
/// divided by the number of counted rows for the mean.
template <Scalar T>
Tensor<T> cross_entropy_target(const Tensor<std::int64_t>& target, index_t C, const CrossEntropyOptions& o, T scale) {
  const index_t N = target.numel();
  auto dist = Tensor<T>::empty({N, C});
  const T eps = static_cast<T>(o.label_smoothing);
  for (index_t n = 0; n < N; ++n) {
    T* row = dist.data() + n * C;
    const std::int64_t t = target.data()[n];
    const bool ignored = t == o.ignore_index;
    kernels::fill(row, C, ignored ? T(0) : eps / static_cast<T>(C) * scale);
    if (!ignored) row[t] += (T(1) - eps) * scale;
  }
  return dist;
}

// loss = Σ_n w_n Σ_c -q[n,c] log softmax(x)[n,c]  ⇒  dx[n,:] = g w_n (softmax(x[n,:]) Σ_c q[n,c] - q[n,:])
// With q the (scaled) target distribution: Σ_c q = w_n, so dx = g (w_n softmax(x) - q).
template <class T>
void cross_entropy_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& logits = n.inputs[0];
  const Tensor<T>& q = n.saved[0];           // [N, C] target distribution, already scaled
  const Tensor<T>& row_weight = n.saved[1];  // [N, 1] Σ_c q
  const Tensor<T> x = reshape(logits, q.shape());
  const Tensor<T> gr = g.rank() == 0 ? g : reshape(g, Shape{q.shape()[0], 1});  // reduction none: per-row gradient
  grads[0] = reshape(mul(gr, sub(mul(row_weight, softmax(x, 1)), q)), logits.shape());
}
}  // namespace ops_detail

/// Cross-entropy of logits [N, C] (or [..., C]) against integer class targets [N] (or [...]), fused
/// with log-softmax. ignore_index rows contribute nothing and are not counted in the mean.
template <Scalar T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const Tensor<std::int64_t>& target, const CrossEntropyOptions& options = {}) {
  LATENT_CHECK(logits.rank() >= 1, ShapeError, "cross_entropy: logits " + logits.shape().str() + " must have a class dimension");
  const index_t C = logits.shape().back(), N = logits.numel() / std::max<index_t>(C, 1);
  LATENT_CHECK(target.numel() == N && target.rank() == logits.rank() - 1, ShapeError,
               "cross_entropy: logits " + logits.shape().str() + " and target " + target.shape().str() + " differ (target must be logits' shape without the class dimension)");
  LATENT_CHECK(options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0, ValueError,
               "cross_entropy: label_smoothing " + std::to_string(options.label_smoothing) + " is not in [0, 1]");
  for (index_t n = 0; n < N; ++n) {
    const std::int64_t t = target.data()[n];
    LATENT_CHECK(t == options.ignore_index || (t >= 0 && t < C), ValueError,
                 "cross_entropy: target " + std::to_string(t) + " at index " + std::to_string(n) + " is not a class in [0, " + std::to_string(C) + ")");
  }
  auto logp = Tensor<T>::empty({N, C});
  auto rows = Tensor<T>::empty({N});
  const index_t count = kernels::cross_entropy_rows(logits.data(), target.data(), N, C, options.ignore_index,
                                                    static_cast<T>(options.label_smoothing), logp.data(), rows.data());
  Tensor<T> out;
  T scale = T(1);
  switch (options.reduction) {
    case Reduction::mean:
      scale = count > 0 ? T(1) / static_cast<T>(count) : std::numeric_limits<T>::quiet_NaN();
      out = scalar_tensor<T>(static_cast<T>(kernels::sum_all(rows.data(), N)) * scale);
      break;
    case Reduction::sum: out = scalar_tensor<T>(static_cast<T>(kernels::sum_all(rows.data(), N))); break;
    case Reduction::none: out = reshape(rows, target.shape()); break;
  }
  if (auto* node = autograd::make_node(out, "cross_entropy", &ops_detail::cross_entropy_backward<T>, {logits})) {
    Tensor<T> q = ops_detail::cross_entropy_target<T>(target, C, options, scale);
    Tensor<T> w = Tensor<T>::empty({N, 1});
    for (index_t n = 0; n < N; ++n) w.data()[n] = target.data()[n] == options.ignore_index ? T(0) : scale;
    node->saved.push_back(q);
    node->saved.push_back(w);
  }
  return out;
}

/// Negative log-likelihood of log-probabilities [N, C] at integer targets [N], ignore_index as above.
template <Scalar T>
Tensor<T> nll_loss(const Tensor<T>& log_probs, const Tensor<std::int64_t>& target, std::int64_t ignore_index = -100,
                   Reduction reduction = Reduction::mean) {
  check_rank("nll_loss", "input", log_probs.shape(), 2);
  const index_t N = log_probs.shape()[0], C = log_probs.shape()[1];
  LATENT_CHECK(target.rank() == 1 && target.numel() == N, ShapeError,
               "nll_loss: input " + log_probs.shape().str() + " and target " + target.shape().str() + " differ in batch size");
  auto safe = Tensor<std::int64_t>::empty({N, 1});
  auto keep = Tensor<T>::empty({N, 1});
  index_t count = 0;
  for (index_t n = 0; n < N; ++n) {
    const std::int64_t t = target.data()[n];
    const bool ignored = t == ignore_index;
    LATENT_CHECK(ignored || (t >= 0 && t < C), ValueError,
                 "nll_loss: target " + std::to_string(t) + " at index " + std::to_string(n) + " is not a class in [0, " + std::to_string(C) + ")");
    safe.data()[n] = ignored ? 0 : t;
    keep.data()[n] = ignored ? T(0) : T(1);
    count += ignored ? 0 : 1;
  }
  const Tensor<T> picked = neg(mul(gather(log_probs, 1, safe), keep));
  switch (reduction) {
    case Reduction::mean: return mul_scalar(sum(picked), T(1) / static_cast<T>(count));
    case Reduction::sum: return sum(picked);
    case Reduction::none: break;
  }
  return reshape(picked, Shape{N});
}

struct GaussianNllOptions {
  bool full = false;  // add the constant ½ log 2π
  double eps = 1e-6;  // variances are clamped to at least eps (the clamp passes gradients, as in PyTorch)
  Reduction reduction = Reduction::mean;
};

/// ½ (log max(var, eps) + (input - target)² / max(var, eps)) [+ ½ log 2π]. var has input's shape, or (one
/// variance shared by the last dimension, as PyTorch) input's shape without the last dimension, or with it as 1.
template <Scalar T>
Tensor<T> gaussian_nll_loss(const Tensor<T>& input, const Tensor<T>& target, const Tensor<T>& variance, const GaussianNllOptions& o = {}) {
  check_same_shape("gaussian_nll_loss", "input", input.shape(), "target", target.shape());
  Tensor<T> var = variance;
  if (!(var.shape() == input.shape())) {
    const Shape& s = input.shape();
    const bool one_short = s.rank() >= 1 && var.rank() == s.rank() - 1 && std::equal(var.shape().begin(), var.shape().end(), s.begin());
    const bool last_one = s.rank() >= 1 && var.rank() == s.rank() && var.shape().back() == 1 &&
                          std::equal(var.shape().begin(), var.shape().end() - 1, s.begin());
    LATENT_CHECK(one_short || last_one, ShapeError,
                 "gaussian_nll_loss: var " + var.shape().str() + " does not fit input " + s.str() +
                     " (expected the input's shape, or it without the last dimension, or with the last dimension 1)");
    if (one_short) var = unsqueeze(var, -1);
  }
  {
    const T* v = var.data();
    for (index_t i = 0; i < var.numel(); ++i)
      LATENT_CHECK(v[i] >= T(0), ValueError, "gaussian_nll_loss: var has a negative entry " + std::to_string(v[i]) + " at index " + std::to_string(i));
  }
  Tensor<T> shift;
  {
    NoGradGuard raw;
    shift = sub(clamp_min(var, static_cast<T>(o.eps)), var);
  }
  const Tensor<T> v = add(var, shift);  // clamped value, identity gradient
  const Tensor<T> d = sub(input, target);
  Tensor<T> loss = mul_scalar(add(log(v), div(mul(d, d), v)), T(0.5));
  if (o.full) loss = add_scalar(loss, static_cast<T>(0.5 * std::log(2 * std::numbers::pi)));
  return ops_detail::reduce_loss(loss, o.reduction);
}

/// KL(N(mu, e^logvar) || N(0, I)) = -½ Σ (1 + logvar - mu² - e^logvar), summed over all elements
/// (as in PyTorch's VAE example; divide by the batch for a per-example value).
template <Scalar T>
Tensor<T> kl_normal(const Tensor<T>& mu, const Tensor<T>& logvar) {
  check_same_shape("kl_normal", "mu", mu.shape(), "logvar", logvar.shape());
  return mul_scalar(sum(sub(add_scalar(logvar, T(1)), add(mul(mu, mu), exp(logvar)))), T(-0.5));
}

}  // namespace latent
