// metrics: MMD against hand-computed values, the median heuristic, and the classifier two-sample test on identical
// and on separated distributions.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>

using namespace latent;

TEST_CASE("mmd matches a hand-computed value", "[metrics]") {
  // x = {(0,0), (1,0)}, y = {(0,1)}, h = 1, k = exp(−d²/2). Pairwise d²: x-x {0, 1}, x-y {1, 2}, y-y {0}.
  // MMD² (V-statistic) = (2 + 2e^{−1/2})/4 + 1 − 2 (e^{−1/2} + e^{−1})/2 = 1.5 − 0.5 e^{−1/2} − e^{−1}.
  const auto x = from_vector<float>({0, 0, 1, 0}, {2, 2}), y = from_vector<float>({0, 1}, {1, 2});
  const auto r = metrics::mmd(x, y, {.bandwidth = 1.0});
  CHECK(r.mmd2 == Approx(1.5 - 0.5 * std::exp(-0.5) - std::exp(-1.0)).epsilon(1e-12));
  CHECK(r.bandwidth == 1.0);
  // Unbiased (diagonal dropped) with y = {(0,1), (0,2)}: e^{−1/2} + e^{−1/2} − 2 mean(e^{−1/2}, e^{−2}, e^{−1}, e^{−5/2}).
  const auto y2 = from_vector<float>({0, 1, 0, 2}, {2, 2});
  const auto u = metrics::mmd(x, y2, {.bandwidth = 1.0, .unbiased = true});
  CHECK(u.mmd2 == Approx(2 * std::exp(-0.5) - (std::exp(-0.5) + std::exp(-2.0) + std::exp(-1.0) + std::exp(-2.5)) / 2).epsilon(1e-12));
  // The median heuristic: pooled distances {1, 1, √2} have median 1, so the default gives the same value.
  CHECK(metrics::median_heuristic(x, y) == 1.0);
  CHECK(metrics::mmd(x, y).mmd2 == Approx(r.mmd2).epsilon(1e-12));
  CHECK(metrics::mmd(x, x).mmd2 == Approx(0).margin(1e-12));
  REQUIRE_THROWS_WITH(metrics::mmd(x, from_vector<float>({0, 1, 2}, {1, 3})),
                      "[latent.shape] mmd: samples [2,2] and [1,3] have different row sizes");
}

TEST_CASE("mmd grows with the distance between two Gaussians", "[metrics]") {
  Rng rng(0);
  const auto a = randn<float>({500, 2}, rng), b = randn<float>({500, 2}, rng);
  const auto shifted = add_scalar(randn<float>({500, 2}, rng), 1.0f);
  const double same = metrics::mmd(a, b, {.unbiased = true}).mmd2, apart = metrics::mmd(a, shifted, {.unbiased = true}).mmd2;
  CHECK(std::abs(same) < 0.01);  // unbiased estimate of 0; its sd at n = 500 is a few 1e-3
  CHECK(apart > 0.1);
}

TEST_CASE("c2st is near 0.5 on identical distributions and near 1 on separated ones", "[metrics]") {
  Rng rng(1);
  const auto a = randn<float>({1000, 2}, rng), b = randn<float>({1000, 2}, rng);
  const auto same = metrics::c2st(a, b, {.epochs = 20});
  CHECK(same.test_rows == 600);
  // Chance accuracy on 600 held-out rows has sd 0.02; 3 sd.
  CHECK(same.accuracy == Approx(0.5).margin(0.06));
  const auto far = add_scalar(randn<float>({1000, 2}, rng), 4.0f);
  CHECK(metrics::c2st(a, far, {.epochs = 20}).accuracy > 0.98);  // overlap of N(0,1) and N(4,1) in 2-D: < 1%
  // A ring against a Gaussian of the same mean and covariance: only a nonlinear classifier tells them apart.
  auto ring = Tensor<float>::empty({1000, 2});
  for (index_t i = 0; i < 1000; ++i) {
    const float angle = rng.uniform<float>(0.0f, 6.2831853f);
    ring.data()[2 * i] = std::sqrt(2.0f) * std::cos(angle);
    ring.data()[2 * i + 1] = std::sqrt(2.0f) * std::sin(angle);
  }
  CHECK(metrics::c2st(ring, a, {.epochs = 20}).accuracy > 0.75);
  // Seeded: the same options give the same accuracy.
  CHECK(metrics::c2st(a, b, {.epochs = 5, .seed = 3}).accuracy == metrics::c2st(a, b, {.epochs = 5, .seed = 3}).accuracy);
}
