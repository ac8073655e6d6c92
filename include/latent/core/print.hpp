// operator<< for Shape and Tensor: a PyTorch-like summary ("tensor([[1, 2], [3, 4]], shape=[2,2], float32)").
#pragma once

#include <ostream>

#include "tensor.hpp"

namespace latent {

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

/// Prints up to `edge` leading and trailing entries per dimension, like torch's summarised repr.
template <Element T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  constexpr index_t edge = 3;
  const Shape& s = t.shape();
  const auto strides = s.strides();
  auto rec = [&](auto& self, int dim, index_t offset) -> void {
    if (dim == s.rank()) {
      os << t.data()[offset];
      return;
    }
    os << '[';
    const index_t n = s[dim];
    for (index_t i = 0; i < n; ++i) {
      if (n > 2 * edge && i == edge) {
        os << "..., ";
        i = n - edge;
      }
      self(self, dim + 1, offset + i * strides[static_cast<std::size_t>(dim)]);
      if (i + 1 < n) os << ", ";
    }
    os << ']';
  };
  os << "tensor(";
  rec(rec, 0, 0);
  os << ", shape=" << s.str() << ", " << type_name<T>();
  if (t.requires_grad()) os << ", requires_grad";
  return os << ')';
}

}  // namespace latent
