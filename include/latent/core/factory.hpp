// Creating tensors: zeros/ones/full/arange/linspace/rand/randn/randint and from a std::vector or a
// matrix-like object (anything with rows(), cols() and m(i, j), e.g. an Eigen matrix).
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "rng.hpp"
#include "tensor.hpp"

namespace latent {

template <Element T>
Tensor<T> empty(const Shape& shape) { return Tensor<T>::empty(shape); }

template <Element T>
Tensor<T> full(const Shape& shape, T value) {
  auto t = Tensor<T>::empty(shape);
  std::fill_n(t.data(), t.numel(), value);
  return t;
}
template <Element T>
Tensor<T> zeros(const Shape& shape) { return full<T>(shape, T(0)); }
template <Element T>
Tensor<T> ones(const Shape& shape) { return full<T>(shape, T(1)); }
/// A 0-dimensional tensor holding `value`.
template <Element T>
Tensor<T> scalar_tensor(T value) { return full<T>(Shape{}, value); }

template <Element T>
Tensor<T> zeros_like(const Tensor<T>& x) { return zeros<T>(x.shape()); }
template <Element T>
Tensor<T> ones_like(const Tensor<T>& x) { return ones<T>(x.shape()); }

/// start, start+step, ... up to (excluding) end, like torch.arange.
template <Element T>
Tensor<T> arange(T start, T end, T step = T(1)) {
  LATENT_CHECK(step != T(0), ValueError, "arange: step must be non-zero");
  const double n = std::ceil((static_cast<double>(end) - static_cast<double>(start)) / static_cast<double>(step));
  const index_t count = n > 0 ? static_cast<index_t>(n) : 0;
  auto t = Tensor<T>::empty({count});
  for (index_t i = 0; i < count; ++i) t.data()[i] = static_cast<T>(start + static_cast<T>(i) * step);
  return t;
}
template <Element T>
Tensor<T> arange(T end) { return arange<T>(T(0), end, T(1)); }

/// `steps` evenly spaced values from start to end inclusive, like torch.linspace.
template <Scalar T>
Tensor<T> linspace(T start, T end, index_t steps) {
  LATENT_CHECK(steps >= 0, ValueError, "linspace: steps = " + std::to_string(steps) + " is negative");
  auto t = Tensor<T>::empty({steps});
  const T step = steps > 1 ? (end - start) / static_cast<T>(steps - 1) : T(0);
  // Symmetric evaluation as PyTorch does: the first half from start, the second half from end.
  for (index_t i = 0; i < steps; ++i)
    t.data()[i] = i < steps / 2 ? start + step * static_cast<T>(i) : end - step * static_cast<T>(steps - 1 - i);
  return t;
}

/// Uniform in [low, high).
template <Scalar T>
Tensor<T> rand(const Shape& shape, Rng& rng, T low = T(0), T high = T(1)) {
  auto t = Tensor<T>::empty(shape);
  rng.fill_uniform(std::span<T>(t.data(), static_cast<std::size_t>(t.numel())), low, high);
  return t;
}
/// Normal with the given mean and standard deviation.
template <Scalar T>
Tensor<T> randn(const Shape& shape, Rng& rng, T mean = T(0), T stddev = T(1)) {
  auto t = Tensor<T>::empty(shape);
  rng.fill_normal(std::span<T>(t.data(), static_cast<std::size_t>(t.numel())), mean, stddev);
  return t;
}
template <Scalar T>
Tensor<T> randn_like(const Tensor<T>& x, Rng& rng) { return randn<T>(x.shape(), rng); }
template <Scalar T>
Tensor<T> rand_like(const Tensor<T>& x, Rng& rng) { return rand<T>(x.shape(), rng); }

/// Integers uniform in [low, high).
inline Tensor<std::int64_t> randint(std::int64_t low, std::int64_t high, const Shape& shape, Rng& rng) {
  auto t = Tensor<std::int64_t>::empty(shape);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.randint(low, high);
  return t;
}

/// Copies `values` into a new tensor of `shape` (default: 1-D of values.size()).
template <Element T>
Tensor<T> from_vector(const std::vector<T>& values, const Shape& shape) {
  LATENT_CHECK(static_cast<index_t>(values.size()) == shape.numel(), ShapeError,
               "from_vector: " + std::to_string(values.size()) + " values for shape " + shape.str() + " (" +
                   std::to_string(shape.numel()) + " elements)");
  auto t = Tensor<T>::empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}
template <Element T>
Tensor<T> from_vector(const std::vector<T>& values) {
  return from_vector<T>(values, Shape{static_cast<index_t>(values.size())});
}

/// Copies any matrix-like object (rows(), cols(), m(i, j)), e.g. an Eigen matrix, into a [rows, cols] tensor.
template <Element T, class Matrix>
Tensor<T> from_matrix(const Matrix& m) {
  const index_t rows = static_cast<index_t>(m.rows()), cols = static_cast<index_t>(m.cols());
  auto t = Tensor<T>::empty({rows, cols});
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) t.data()[i * cols + j] = static_cast<T>(m(i, j));
  return t;
}

}  // namespace latent
