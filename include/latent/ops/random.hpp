// Random ops with an explicit Rng: dropout (inverted scaling, PyTorch's semantics).
#pragma once

#include "elementwise.hpp"

namespace latent {

/// Zeroes each element with probability p and scales the rest by 1/(1-p) when `training`;
/// the identity otherwise. The gradient uses the same mask.
template <Scalar T>
Tensor<T> dropout(const Tensor<T>& x, T p, Rng& rng, bool training = true) {
  LATENT_CHECK(p >= T(0) && p <= T(1), ValueError, "dropout: p = " + std::to_string(p) + " is not in [0, 1]");
  if (!training || p == T(0)) return x;
  if (p == T(1)) return mul_scalar(x, T(0));
  auto mask = Tensor<T>::empty(x.shape());
  const T scale = T(1) / (T(1) - p);
  T* m = mask.data();
  for (index_t i = 0; i < mask.numel(); ++i) m[i] = rng.uniform<T>() < p ? T(0) : scale;
  return mul(x, mask);
}

}  // namespace latent
