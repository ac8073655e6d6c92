// rotary_embedding: the rotation by hand for a 2-D head, the relative-position identity of RoPE, gradcheck and
// gradgradcheck, and its errors.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/ops/rope.hpp>

#include <cmath>

using namespace latent;

TEST_CASE("rotary_embedding rotates each pair by position times frequency", "[ops][rope]") {
  // D = 4: θ_0 = 1, θ_1 = 10000^(-1/2) = 0.01; pairs (x0, x2) and (x1, x3). Oracle: the formula evaluated by hand.
  const auto x = from_vector<double>({1, 2, 3, 4, 1, 2, 3, 4, -1, 0.5, 2, 1}, Shape{1, 3, 4});
  const auto y = rotary_embedding(x, 5);
  for (index_t t = 0; t < 3; ++t) {
    const double p = 5.0 + double(t);
    for (index_t i = 0; i < 2; ++i) {
      const double a = p * (i == 0 ? 1.0 : 0.01);
      const double x1 = x.at({0, t, i}), x2 = x.at({0, t, i + 2});
      CHECK(y.at({0, t, i}) == Approx(x1 * std::cos(a) - x2 * std::sin(a)).epsilon(1e-14));
      CHECK(y.at({0, t, i + 2}) == Approx(x2 * std::cos(a) + x1 * std::sin(a)).epsilon(1e-14));
    }
  }
  // Position 0 is the identity.
  const auto y0 = rotary_embedding(narrow(x, 1, 0, 1), 0);
  for (index_t i = 0; i < 4; ++i) CHECK(y0.data()[i] == x.data()[i]);
}

TEST_CASE("rotary_embedding makes q·k depend only on the distance between positions", "[ops][rope]") {
  // Analytic identity: <R(m) q, R(n) k> = <q, R(n - m) k>, so shifting both positions leaves the product unchanged.
  Rng rng(7);
  const auto q = randn<double>({1, 1, 16}, rng), k = randn<double>({1, 1, 16}, rng);
  auto dot = [&](index_t m, index_t n) {
    const auto a = rotary_embedding(q, m), b = rotary_embedding(k, n);
    double s = 0;
    for (index_t i = 0; i < 16; ++i) s += a.data()[i] * b.data()[i];
    return s;
  };
  CHECK(dot(3, 7) == Approx(dot(103, 107)).epsilon(1e-10));
  CHECK(dot(0, 2) == Approx(dot(50, 52)).epsilon(1e-10));
  CHECK(std::abs(dot(3, 7) - dot(3, 8)) > 1e-6);  // ... and does depend on the distance
}

TEST_CASE("rotary_embedding passes gradcheck and gradgradcheck", "[ops][rope][gradcheck]") {
  Rng rng(8);
  const auto x = randn<double>({2, 3, 5, 6}, rng);
  auto f = [](const std::vector<Tensor<double>>& in) { return rotary_embedding(in[0], 4); };
  const auto r = gradcheck(f, {x});
  INFO(r.report);
  CHECK(r.ok);
  const auto r2 = gradgradcheck(f, {x});
  INFO(r2.report);
  CHECK(r2.ok);
}

TEST_CASE("rotary_embedding rejects odd head sizes and negative offsets", "[ops][rope][errors]") {
  REQUIRE_THROWS_WITH(rotary_embedding(zeros<float>({2, 3, 5})),
                      "[latent.shape] rotary_embedding: input [2,3,5] must be [..., length, dim] with an even dim");
  REQUIRE_THROWS_WITH(rotary_embedding(zeros<float>({2, 4}), -1), "[latent.value] rotary_embedding: offset = -1 must be >= 0");
}
