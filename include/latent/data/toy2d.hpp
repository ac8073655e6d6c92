// 2-D toy distributions of the normalizing-flow, diffusion and GAN literature (swiss roll, two moons, 8-Gaussian ring,
// 25-Gaussian grid, checkerboard, pinwheel), and the mixtures' mode centres and sigma for mode-coverage metrics.
//
// Definitions and scales follow FFJORD's lib/toy_data.py (Grathwohl et al., 2019), which the flow-matching papers
// reuse, and WGAN-GP's gan_toy.py (Gulrajani et al., 2017) for the 25-Gaussian grid; every support lies in about
// [-4, 4]^2:
//   swiss_roll   (t cos t, t sin t)/5 + N(0, 0.2^2) per coordinate, t = 1.5 pi (1 + 2u)         (sklearn noise 1, /5)
//   moons        sklearn make_moons(noise = 0.1), then *2 + (-1, -0.2): x in about [-3, 3], y in [-1.2, 1.8]
//   8gaussians   centres 4 (cos k pi/4, sin k pi/4) / 1.414 (radius 2.829), sigma = 0.5 / 1.414 = 0.354
//   25gaussians  centres (2i, 2j) / 2.828, i, j in -2..2 (spacing 0.707), sigma = 0.05 / 2.828 = 0.0177
//   checkerboard 8 squares of side 2 in [-4, 4]^2 where floor(x/2) + floor(y/2) is even, uniform within them
//   pinwheel     5 arms: f = (1 + 0.3 z1, 0.1 z2) rotated by -(2 pi k/5 + 0.25 exp f0), times 2
// Random draws go through latent::Rng in double precision, so a seed gives the same points everywhere.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <string_view>
#include <vector>

#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace latent::data {

/// The names toy2d accepts, in a fixed order.
inline const std::vector<std::string>& toy2d_names() {
  static const std::vector<std::string> names{"swiss_roll", "moons", "8gaussians", "25gaussians", "checkerboard", "pinwheel"};
  return names;
}

/// An isotropic Gaussian mixture with equal weights: the ground truth of the mode-coverage metrics (a sample "hits"
/// a mode when it lies within 3 stddev of its centre).
struct GaussianMixture2d {
  std::vector<std::array<double, 2>> centers;
  double stddev = 0;
};

namespace detail {
inline std::string toy2d_name_list() {
  std::string list;
  for (const auto& n : toy2d_names()) {
    if (!list.empty()) list += ", ";
    list += n;
  }
  return list;
}
}  // namespace detail

/// Mode centres and sigma of "8gaussians" and "25gaussians" (ValueError for any other name).
inline GaussianMixture2d toy2d_mixture(std::string_view name) {
  GaussianMixture2d m;
  if (name == "8gaussians") {
    // FFJORD's order: the four axis directions, then the four diagonals.
    const double d = 1.0 / std::sqrt(2.0), scale = 4.0 / 1.414;
    const double unit[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {d, d}, {d, -d}, {-d, d}, {-d, -d}};
    for (const auto& u : unit) m.centers.push_back({scale * u[0], scale * u[1]});
    m.stddev = 0.5 / 1.414;
  } else if (name == "25gaussians") {
    for (int i = -2; i <= 2; ++i)
      for (int j = -2; j <= 2; ++j) m.centers.push_back({2.0 * i / 2.828, 2.0 * j / 2.828});
    m.stddev = 0.05 / 2.828;
  } else {
    throw ValueError("toy2d_mixture: '" + std::string(name) + "' is not a Gaussian mixture; mixtures: 8gaussians, 25gaussians");
  }
  return m;
}

/// n points [n,2] of the named distribution (see the top of this file for the definitions and scales).
inline Tensor<float> toy2d(std::string_view name, std::int64_t n, Rng& rng) {
  LATENT_CHECK(n >= 0, ValueError, "toy2d: n = " + std::to_string(n) + " is negative");
  auto out = Tensor<float>::empty({n, 2});
  float* p = out.data();
  const auto set = [p](std::int64_t i, double x, double y) {
    p[2 * i] = static_cast<float>(x);
    p[2 * i + 1] = static_cast<float>(y);
  };
  constexpr double pi = std::numbers::pi;

  if (name == "swiss_roll") {
    for (std::int64_t i = 0; i < n; ++i) {
      const double t = 1.5 * pi * (1.0 + 2.0 * rng.uniform<double>());
      const double ex = rng.normal<double>(), ey = rng.normal<double>();
      set(i, (t * std::cos(t) + ex) / 5.0, (t * std::sin(t) + ey) / 5.0);
    }
  } else if (name == "moons") {
    // sklearn: n/2 points evenly spaced along the outer half circle, the rest along the inner one, shuffled, plus
    // N(0, 0.1^2) noise; FFJORD then maps them by 2 v + (-1, -0.2).
    const std::int64_t n_outer = n / 2, n_inner = n - n_outer;
    const auto angle = [](std::int64_t k, std::int64_t count) {
      return count > 1 ? std::numbers::pi * static_cast<double>(k) / static_cast<double>(count - 1) : 0.0;
    };
    const auto order = rng.permutation(n);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t k = order[static_cast<std::size_t>(i)];
      double x, y;
      if (k < n_outer) {
        const double a = angle(k, n_outer);
        x = std::cos(a), y = std::sin(a);
      } else {
        const double a = angle(k - n_outer, n_inner);
        x = 1.0 - std::cos(a), y = 1.0 - std::sin(a) - 0.5;
      }
      x += 0.1 * rng.normal<double>();
      y += 0.1 * rng.normal<double>();
      set(i, 2.0 * x - 1.0, 2.0 * y - 0.2);
    }
  } else if (name == "8gaussians" || name == "25gaussians") {
    const GaussianMixture2d m = toy2d_mixture(name);
    for (std::int64_t i = 0; i < n; ++i) {
      const auto& c = m.centers[static_cast<std::size_t>(rng.below(m.centers.size()))];
      const double ex = rng.normal<double>(), ey = rng.normal<double>();
      set(i, c[0] + m.stddev * ex, c[1] + m.stddev * ey);
    }
  } else if (name == "checkerboard") {
    for (std::int64_t i = 0; i < n; ++i) {
      const double x1 = 4.0 * rng.uniform<double>() - 2.0;
      const double lower = rng.uniform<double>() - 2.0 * static_cast<double>(rng.below(2));
      const auto column = static_cast<std::int64_t>(std::floor(x1));
      const double x2 = lower + static_cast<double>(((column % 2) + 2) % 2);  // Python's floor(x1) % 2
      set(i, 2.0 * x1, 2.0 * x2);
    }
  } else if (name == "pinwheel") {
    // FFJORD: equal class counts in random order (here: arm = permutation index mod 5).
    constexpr double radial_std = 0.3, tangential_std = 0.1, rate = 0.25;
    const auto order = rng.permutation(n);
    for (std::int64_t i = 0; i < n; ++i) {
      const auto arm = static_cast<double>(order[static_cast<std::size_t>(i)] % 5);
      const double f0 = 1.0 + radial_std * rng.normal<double>(), f1 = tangential_std * rng.normal<double>();
      const double a = 2.0 * pi * arm / 5.0 + rate * std::exp(f0);
      // (f0, f1) times the matrix [[cos a, -sin a], [sin a, cos a]] from the left: einsum("ti,tij->tj").
      set(i, 2.0 * (f0 * std::cos(a) + f1 * std::sin(a)), 2.0 * (-f0 * std::sin(a) + f1 * std::cos(a)));
    }
  } else {
    throw ValueError("toy2d: unknown distribution '" + std::string(name) + "'; valid names: " + detail::toy2d_name_list());
  }
  return out;
}

}  // namespace latent::data
