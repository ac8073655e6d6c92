// What the op tests share: seeded inputs and the gradient-check macros. Every check goes through one instantiation
// of gradcheck/gradgradcheck (a std::function), which keeps compile times down; on failure the report names the
// worst element.
#pragma once

#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cstdint>
#include <vector>

namespace latent_test {

using Inputs = std::vector<latent::Tensor<double>>;

/// Uniform values in [low, high) from a fixed seed.
inline latent::Tensor<double> uniform(const latent::Shape& s, std::uint64_t seed, double low = -1, double high = 1) {
  latent::Rng rng(seed);
  return latent::rand<double>(s, rng, low, high);
}

/// Uniform magnitudes in [low, high) with random signs: inputs that stay away from a kink at 0.
inline latent::Tensor<double> away_from_zero(const latent::Shape& s, std::uint64_t seed, double low = 0.2,
                                             double high = 1.5) {
  latent::Rng rng(seed);
  auto t = latent::rand<double>(s, rng, low, high);
  for (latent::index_t i = 0; i < t.numel(); ++i)
    if (rng.uniform<double>() < 0.5) t.data()[i] = -t.data()[i];
  return t;
}

/// Weights the elements of y by distinct values 1, 2, ...: a gradient check then sees any mix-up of positions, and
/// a normalised output (whose plain sum has a zero gradient) still gets a non-trivial one.
inline latent::Tensor<double> weighted(const latent::Tensor<double>& y) {
  auto w = latent::arange<double>(1.0, static_cast<double>(y.numel()) + 1.0);
  return latent::mul(y, latent::reshape(w, y.shape()));
}

inline latent::GradcheckResult run_gradcheck(const latent::DifferentiableFunction& f, const Inputs& inputs) {
  return latent::gradcheck(f, inputs);
}
inline latent::GradcheckResult run_gradgradcheck(const latent::DifferentiableFunction& f, const Inputs& inputs) {
  return latent::gradgradcheck(f, inputs);
}

}  // namespace latent_test

#define CHECK_GRADCHECK(...)                                     \
  do {                                                           \
    const auto result_ = ::latent_test::run_gradcheck(__VA_ARGS__); \
    INFO(result_.report);                                        \
    CHECK(result_.ok);                                           \
  } while (false)

#define CHECK_GRADGRADCHECK(...)                                     \
  do {                                                               \
    const auto result_ = ::latent_test::run_gradgradcheck(__VA_ARGS__); \
    INFO(result_.report);                                            \
    CHECK(result_.ok);                                               \
  } while (false)
