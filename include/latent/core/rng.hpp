// Rng: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) with our
// own uniform/normal/bernoulli/categorical/permutation, so that a seed gives the same numbers with
// every compiler and standard library (std::normal_distribution does not).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "error.hpp"

namespace latent {

class Rng {
 public:
  /// The whole state, for checkpoints: resuming from it continues the exact same stream.
  struct State {
    std::uint64_t seed = 0;
    std::uint64_t counter = 0;  // blocks of four 32-bit outputs consumed
    std::uint32_t index = 4;    // next unused output of the current block (4 = none left)
  };

  explicit Rng(std::uint64_t seed = 0) { state_.seed = seed; }

  State state() const noexcept { return state_; }
  void set_state(const State& s) {
    LATENT_CHECK(s.index <= 4, ValueError, "Rng::set_state: index " + std::to_string(s.index) + " > 4");
    state_ = s;
    if (state_.index < 4) refill(state_.counter - 1);
  }
  std::uint64_t seed() const noexcept { return state_.seed; }

  /// Next raw 32-bit output.
  std::uint32_t next_u32() {
    if (state_.index >= 4) {
      refill(state_.counter++);
      state_.index = 0;
    }
    return block_[state_.index++];
  }
  std::uint64_t next_u64() {
    const std::uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }

  /// Uniform in [0, 1): 24 random bits for float, 53 for double.
  template <class T = float>
  T uniform() {
    if constexpr (sizeof(T) == 4) return static_cast<T>(next_u32() >> 8) * T(1.0 / 16777216.0);
    else return static_cast<T>(next_u64() >> 11) * T(1.0 / 9007199254740992.0);
  }
  template <class T = float>
  T uniform(T low, T high) { return low + (high - low) * uniform<T>(); }

  /// Standard normal by Box–Muller, computed in double; one draw uses two uniforms.
  template <class T = float>
  T normal() {
    const double u1 = 1.0 - uniform<double>();  // (0, 1]
    const double u2 = uniform<double>();
    return static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
  }
  template <class T = float>
  T normal(T mean, T stddev) { return mean + stddev * normal<T>(); }

  /// Fills `out` with standard normals, both Box–Muller outputs used (same stream as pairs of normal()).
  template <class T>
  void fill_normal(std::span<T> out, T mean = T(0), T stddev = T(1)) {
    std::size_t i = 0;
    for (; i + 1 < out.size(); i += 2) {
      const double u1 = 1.0 - uniform<double>(), u2 = uniform<double>();
      const double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * std::numbers::pi * u2;
      out[i] = mean + stddev * static_cast<T>(r * std::cos(a));
      out[i + 1] = mean + stddev * static_cast<T>(r * std::sin(a));
    }
    if (i < out.size()) out[i] = mean + stddev * normal<T>();
  }
  template <class T>
  void fill_uniform(std::span<T> out, T low = T(0), T high = T(1)) {
    for (T& v : out) v = uniform<T>(low, high);
  }

  /// True with probability p.
  bool bernoulli(double p) {
    LATENT_CHECK(p >= 0.0 && p <= 1.0, ValueError, "Rng::bernoulli: p = " + std::to_string(p) + " is not in [0, 1]");
    return uniform<double>() < p;
  }

  /// Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).
  std::uint64_t below(std::uint64_t n) {
    LATENT_CHECK(n > 0, ValueError, "Rng::below: n must be positive");
    if (n <= 0xFFFFFFFFull) {
      const std::uint32_t bound = static_cast<std::uint32_t>(n);
      std::uint64_t m = std::uint64_t{next_u32()} * bound;
      auto low = static_cast<std::uint32_t>(m);
      if (low < bound) {
        const std::uint32_t threshold = static_cast<std::uint32_t>(-bound) % bound;
        while (low < threshold) {
          m = std::uint64_t{next_u32()} * bound;
          low = static_cast<std::uint32_t>(m);
        }
      }
      return m >> 32;
    }
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t x;
    do x = next_u64(); while (x >= limit);
    return x % n;
  }
  /// Uniform integer in [low, high).
  std::int64_t randint(std::int64_t low, std::int64_t high) {
    LATENT_CHECK(high > low, ValueError, "Rng::randint: empty range [" + std::to_string(low) + ", " + std::to_string(high) + ")");
    return low + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(high - low)));
  }

  /// Index drawn with probability proportional to weights[i] (non-negative, not all zero).
  template <class T>
  std::size_t categorical(std::span<const T> weights) {
    double total = 0;
    for (T w : weights) {
      LATENT_CHECK(w >= T(0) && std::isfinite(static_cast<double>(w)), ValueError, "Rng::categorical: weights must be finite and non-negative");
      total += static_cast<double>(w);
    }
    LATENT_CHECK(total > 0, ValueError, "Rng::categorical: all weights are zero");
    const double u = uniform<double>() * total;
    double acc = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      acc += static_cast<double>(weights[i]);
      if (u < acc) return i;
    }
    for (std::size_t i = weights.size(); i-- > 0;)  // u landed on the rounding edge: last non-zero
      if (weights[i] > T(0)) return i;
    return 0;
  }

  /// A uniformly random permutation of 0..n-1 (Fisher–Yates).
  std::vector<std::int64_t> permutation(std::int64_t n) {
    std::vector<std::int64_t> p(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
    for (std::int64_t i = n - 1; i > 0; --i) std::swap(p[static_cast<std::size_t>(i)], p[below(static_cast<std::uint64_t>(i + 1))]);
    return p;
  }

 /// One Philox4x32-10 block: the bijection of Salmon et al. applied to `counter` under `key`.
  static std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key) {
    auto [c0, c1, c2, c3] = counter;
    auto [k0, k1] = key;
    for (int round = 0; round < 10; ++round) {
      const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c0, p1 = std::uint64_t{0xCD9E8D57u} * c2;
      const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0, n1 = static_cast<std::uint32_t>(p1);
      const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1, n3 = static_cast<std::uint32_t>(p0);
      c0 = n0, c1 = n1, c2 = n2, c3 = n3;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    return {c0, c1, c2, c3};
  }

 private:
  // Block `counter` of the stream: counter in words 0-1, zero in words 2-3, the seed as the key.
  void refill(std::uint64_t counter) {
    block_ = philox4x32_10({static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32), 0, 0},
                           {static_cast<std::uint32_t>(state_.seed), static_cast<std::uint32_t>(state_.seed >> 32)});
  }

  State state_;
  std::array<std::uint32_t, 4> block_{};
};

}  // namespace latent
