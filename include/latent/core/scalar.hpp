// The element types a Tensor holds: float and double are differentiable Scalars; int64 holds indices.
#pragma once

#include <concepts>
#include <cstdint>

namespace latent {

/// Floating-point element types: float in practice, double in gradient checks.
template <class T>
concept Scalar = std::same_as<T, float> || std::same_as<T, double>;

/// Every element type a Tensor may hold.
template <class T>
concept Element = Scalar<T> || std::same_as<T, std::int64_t>;

template <class T>
constexpr const char* type_name() {
  if constexpr (std::same_as<T, float>) return "float32";
  else if constexpr (std::same_as<T, double>) return "float64";
  else return "int64";
}

}  // namespace latent
