// rotary_embedding(x, offset, base): rotary position embeddings (RoPE, Su et al. 2021) of queries or keys
// [..., T, D], in the rotate-half layout of GPT-NeoX / Hugging Face Llama, with its backward (the inverse rotation).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "../autograd/function.hpp"
#include "../core/checks.hpp"
#include "../core/tensor.hpp"

namespace latent {
namespace ops_detail {

/// Rotates every pair (x[i], x[i + D/2]) of each row of x [..., T, D] by the angle sign·(offset + t)·θ_i,
/// θ_i = base^(−2i/D), into out (may not alias x). Angles are computed in double, then rounded to T.
template <class T>
void rope_rows(const T* x, T* out, index_t slices, index_t T_len, index_t D, index_t offset, double base, double sign) {
  const index_t half = D / 2;
  std::vector<T> cos_t(static_cast<std::size_t>(T_len * half)), sin_t(cos_t.size());
  for (index_t t = 0; t < T_len; ++t)
    for (index_t i = 0; i < half; ++i) {
      const double theta = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(D));
      const double angle = sign * static_cast<double>(offset + t) * theta;
      cos_t[static_cast<std::size_t>(t * half + i)] = static_cast<T>(std::cos(angle));
      sin_t[static_cast<std::size_t>(t * half + i)] = static_cast<T>(std::sin(angle));
    }
  for (index_t s = 0; s < slices; ++s)
    for (index_t t = 0; t < T_len; ++t) {
      const T* xr = x + (s * T_len + t) * D;
      T* yr = out + (s * T_len + t) * D;
      const T* c = cos_t.data() + t * half;
      const T* sn = sin_t.data() + t * half;
      for (index_t i = 0; i < half; ++i) {
        const T x1 = xr[i], x2 = xr[i + half];
        yr[i] = x1 * c[i] - x2 * sn[i];
        yr[i + half] = x2 * c[i] + x1 * sn[i];
      }
    }
}

template <class T>
Tensor<T> rope_signed(const Tensor<T>& x, index_t offset, double base, double sign);

// y = R(φ) x with R a rotation per pair ⇒ dx = R(φ)ᵀ g = R(−φ) g: the same op with the opposite sign, so the
// backward is itself differentiable (gradients of gradients) and linear.
template <class T>
void rope_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  if (n.needs_grad(0)) grads[0] = rope_signed(g, n.ints[0], n.reals[0], -n.reals[1]);
}

template <class T>
Tensor<T> rope_signed(const Tensor<T>& x, index_t offset, double base, double sign) {
  const int r = x.rank();
  const index_t T_len = x.shape()[r - 2], D = x.shape()[r - 1];
  auto out = Tensor<T>::empty(x.shape());
  if (x.numel() > 0) rope_rows(x.data(), out.data(), x.numel() / (T_len * D), T_len, D, offset, base, sign);
  if (auto* node = autograd::make_node(out, "rotary_embedding", &rope_backward<T>, {x})) {
    node->keep_shape_only(0);  // a rotation: its adjoint reads only g
    node->ints[0] = offset;
    node->reals[0] = base;
    node->reals[1] = sign;
  }
  return out;
}

}  // namespace ops_detail

/// Rotary position embedding of x [..., T, D] (D even), row t being the token at position offset + t:
///   y[i] = x[i] cos(p θ_i) − x[i + D/2] sin(p θ_i),  y[i + D/2] = x[i + D/2] cos(p θ_i) + x[i] sin(p θ_i),
///   θ_i = base^(−2i/D), i < D/2, p = offset + t.
/// Applied to queries and keys before attention, it makes q·k depend on the positions only through their
/// difference. offset = the number of tokens already in a KV cache when decoding incrementally.
template <Scalar T>
Tensor<T> rotary_embedding(const Tensor<T>& x, index_t offset = 0, double base = 10000.0) {
  LATENT_CHECK(x.rank() >= 2 && x.shape().back() % 2 == 0, ShapeError,
               "rotary_embedding: input " + x.shape().str() + " must be [..., length, dim] with an even dim");
  LATENT_CHECK(offset >= 0, ValueError, "rotary_embedding: offset = " + std::to_string(offset) + " must be >= 0");
  LATENT_CHECK(base > 1.0 && std::isfinite(base), ValueError,
               "rotary_embedding: base = " + std::to_string(base) + " must be a finite number > 1");
  return ops_detail::rope_signed(x, offset, base, 1.0);
}

}  // namespace latent
