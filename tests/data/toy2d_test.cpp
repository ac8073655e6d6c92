// toy2d: each distribution's shape, determinism and statistics against its definition (analytic means, mode
// counts, supports), and the mixtures' centres.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <array>
#include <cmath>
#include <numbers>

using namespace latent;

namespace {
struct Moments {
  double mean_x = 0, mean_y = 0, mean_sq_norm = 0, mean_norm = 0;
};
Moments moments(const Tensor<float>& p) {
  Moments m;
  const auto n = static_cast<double>(p.size(0));
  for (std::int64_t i = 0; i < p.size(0); ++i) {
    const double x = p.at({i, 0}), y = p.at({i, 1});
    m.mean_x += x / n;
    m.mean_y += y / n;
    m.mean_sq_norm += (x * x + y * y) / n;
    m.mean_norm += std::sqrt(x * x + y * y) / n;
  }
  return m;
}
// Per-mode counts (nearest centre) and the largest distance to it, in units of the mixture's stddev.
struct Assignment {
  std::vector<std::int64_t> counts;
  double max_sigmas = 0, mean_distance = 0;
};
Assignment assign(const Tensor<float>& p, const data::GaussianMixture2d& m) {
  Assignment a{std::vector<std::int64_t>(m.centers.size()), 0, 0};
  for (std::int64_t i = 0; i < p.size(0); ++i) {
    std::size_t best = 0;
    double best_d = 1e300;
    for (std::size_t c = 0; c < m.centers.size(); ++c) {
      const double d = std::hypot(p.at({i, 0}) - m.centers[c][0], p.at({i, 1}) - m.centers[c][1]);
      if (d < best_d) best_d = d, best = c;
    }
    ++a.counts[best];
    a.max_sigmas = std::max(a.max_sigmas, best_d / m.stddev);
    a.mean_distance += best_d / static_cast<double>(p.size(0));
  }
  return a;
}
}  // namespace

TEST_CASE("toy2d gives [n,2] points, the same for the same seed, for every name", "[data][toy2d]") {
  REQUIRE(data::toy2d_names() == std::vector<std::string>{"swiss_roll", "moons", "8gaussians", "25gaussians", "checkerboard", "pinwheel"});
  for (const auto& name : data::toy2d_names()) {
    INFO(name);
    Rng a(9), b(9), c(10);
    const auto x = data::toy2d(name, 257, a);
    CHECK(x.shape() == Shape{257, 2});
    CHECK(x.to_vector() == data::toy2d(name, 257, b).to_vector());
    CHECK(x.to_vector() != data::toy2d(name, 257, c).to_vector());
    for (float v : x.to_vector()) CHECK((std::isfinite(v) && std::abs(v) < 6.0f));
    CHECK(data::toy2d(name, 0, a).shape() == Shape{0, 2});
  }
  Rng rng(0);
  CHECK_THROWS_WITH(data::toy2d("spiral", 10, rng),
                    "[latent.value] toy2d: unknown distribution 'spiral'; valid names: swiss_roll, moons, 8gaussians, 25gaussians, "
                    "checkerboard, pinwheel");
  CHECK_THROWS_WITH(data::toy2d("moons", -1, rng), "[latent.value] toy2d: n = -1 is negative");
  CHECK_THROWS_WITH(data::toy2d_mixture("moons"),
                    "[latent.value] toy2d_mixture: 'moons' is not a Gaussian mixture; mixtures: 8gaussians, 25gaussians");
}

TEST_CASE("toy2d_mixture gives FFJORD's 8-Gaussian ring and WGAN-GP's 25-Gaussian grid", "[data][toy2d]") {
  const auto ring = data::toy2d_mixture("8gaussians");
  REQUIRE(ring.centers.size() == 8);
  CHECK(ring.stddev == Approx(0.5 / 1.414));
  CHECK(ring.centers[0][0] == Approx(4.0 / 1.414));
  CHECK(ring.centers[0][1] == 0.0);
  for (const auto& c : ring.centers) CHECK(std::hypot(c[0], c[1]) == Approx(4.0 / 1.414));
  const auto grid = data::toy2d_mixture("25gaussians");
  REQUIRE(grid.centers.size() == 25);
  CHECK(grid.stddev == Approx(0.05 / 2.828));
  CHECK(grid.centers.front()[0] == Approx(-4.0 / 2.828));
  CHECK(grid.centers.back()[1] == Approx(4.0 / 2.828));
}

TEST_CASE("8gaussians and 25gaussians fill every mode evenly with the stated sigma", "[data][toy2d]") {
  for (const char* name : {"8gaussians", "25gaussians"}) {
    INFO(name);
    Rng rng(2024);
    const auto mixture = data::toy2d_mixture(name);
    const std::int64_t n = 10000;
    const auto a = assign(data::toy2d(name, n, rng), mixture);
    const double expected = static_cast<double>(n) / static_cast<double>(mixture.centers.size());
    // Multinomial counts: sd = sqrt(n p (1-p)) <= 30; 5 sd bounds.
    for (auto count : a.counts) CHECK(std::abs(static_cast<double>(count) - expected) < 5 * std::sqrt(expected));
    // Distance to the centre is Rayleigh(sigma): mean sigma sqrt(pi/2), sd of the mean 0.655 sigma / 100; 5 sd.
    CHECK(a.mean_distance == Approx(mixture.stddev * std::sqrt(std::numbers::pi / 2)).margin(5 * 0.655 * mixture.stddev / 100));
    CHECK(a.max_sigmas < 5.5);  // P(Rayleigh > 5.5 sigma) = 2.7e-7 per point
  }
}

TEST_CASE("moons match sklearn's make_moons(noise=0.1) mapped by 2v + (-1, -0.2)", "[data][toy2d]") {
  Rng rng(5);
  const std::int64_t n = 4000;
  const auto p = data::toy2d("moons", n, rng);
  // The two half circles' cos and sin terms cancel between the moons (equal counts): mean exactly (0, 0.3) before
  // noise of sd 0.2 per coordinate, so 5 sd of the mean is 5 * 0.2 / sqrt(4000) = 0.016.
  const auto m = moments(p);
  CHECK(m.mean_x == Approx(0.0).margin(0.016));
  CHECK(m.mean_y == Approx(0.3).margin(0.016));
  float lo_x = 1e9f, hi_x = -1e9f, lo_y = 1e9f, hi_y = -1e9f;
  for (std::int64_t i = 0; i < n; ++i) {
    lo_x = std::min(lo_x, p.at({i, 0})), hi_x = std::max(hi_x, p.at({i, 0}));
    lo_y = std::min(lo_y, p.at({i, 1})), hi_y = std::max(hi_y, p.at({i, 1}));
  }
  // Noise-free ranges x in [-3, 3], y in [-1.2, 1.8]; 4000 draws of sd-0.2 noise reach between 0.3 and 1.2 beyond.
  CHECK(lo_x < -3.0f);
  CHECK(lo_x > -4.2f);
  CHECK(hi_x > 3.0f);
  CHECK(hi_x < 4.2f);
  CHECK(lo_y < -1.2f);
  CHECK(lo_y > -2.4f);
  CHECK(hi_y > 1.8f);
  CHECK(hi_y < 3.0f);
}

TEST_CASE("checkerboard points lie uniformly in the 8 dark squares of [-4,4]^2", "[data][toy2d]") {
  Rng rng(8);
  const std::int64_t n = 8000;
  const auto p = data::toy2d("checkerboard", n, rng);
  std::array<std::int64_t, 16> counts{};
  for (std::int64_t i = 0; i < n; ++i) {
    const auto cx = static_cast<int>(std::floor(p.at({i, 0}) / 2.0f)), cy = static_cast<int>(std::floor(p.at({i, 1}) / 2.0f));
    REQUIRE(cx >= -2);
    REQUIRE(cx <= 1);
    REQUIRE(cy >= -2);
    REQUIRE(cy <= 1);
    CHECK((cx + cy) % 2 == 0);
    ++counts[static_cast<std::size_t>(4 * (cx + 2) + cy + 2)];
  }
  // 8 squares of 1000 expected points each (binomial sd 30); 5 sd.
  for (std::size_t k = 0; k < 16; ++k)
    if (counts[k]) CHECK(std::abs(counts[k] - 1000) < 150);
}

TEST_CASE("swiss_roll and pinwheel have their definitions' radii", "[data][toy2d]") {
  Rng rng(12);
  // swiss_roll: |p| = |t (cos t, sin t) + e| / 5 with t ~ U[1.5 pi, 4.5 pi], e ~ N(0, I): E|p| ~ (3 pi + E[1/(2t)]) / 5
  // = (3 pi + ln 3 / (6 pi)) / 5 = 1.8966; sd of the mean 0.544 / sqrt(4000) = 0.0086, so a 0.04 margin.
  const auto roll = moments(data::toy2d("swiss_roll", 4000, rng));
  CHECK(roll.mean_norm == Approx((3 * std::numbers::pi + std::log(3.0) / (6 * std::numbers::pi)) / 5).margin(0.04));
  // pinwheel: |p|^2 = 4 (f0^2 + f1^2), f0 ~ N(1, 0.3^2), f1 ~ N(0, 0.1^2): E = 4 (1 + 0.09 + 0.01) = 4.4, sd of the
  // mean 2.45 / sqrt(5000) = 0.035; five arms at equal angles average to the origin (sd 0.021 per coordinate).
  const auto wheel = moments(data::toy2d("pinwheel", 5000, rng));
  CHECK(wheel.mean_sq_norm == Approx(4.4).margin(0.17));
  CHECK(wheel.mean_x == Approx(0.0).margin(0.1));
  CHECK(wheel.mean_y == Approx(0.0).margin(0.1));
}
