// Rng: the Philox4x32-10 known-answer vectors of Random123, and the distributions built on it.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

using latent::Rng;

TEST_CASE("philox4x32_10 matches the Random123 known-answer vectors", "[rng]") {
  using A4 = std::array<std::uint32_t, 4>;
  CHECK(Rng::philox4x32_10({0, 0, 0, 0}, {0, 0}) == A4{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(Rng::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
        A4{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(Rng::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}) ==
        A4{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("a seeded Rng starts with the Philox block of counter 0", "[rng]") {
  Rng rng(0);
  CHECK(rng.next_u32() == 0x6627e8d5u);
  CHECK(rng.next_u32() == 0xe169c58du);
  CHECK(rng.next_u32() == 0xbc57ac4cu);
  CHECK(rng.next_u32() == 0x9b00dbd8u);
}

TEST_CASE("restoring an Rng state continues the same stream", "[rng]") {
  Rng a(123);
  for (int i = 0; i < 7; ++i) a.next_u32();  // stop mid-block
  const Rng::State saved = a.state();
  std::vector<float> first;
  for (int i = 0; i < 20; ++i) first.push_back(a.normal<float>());
  Rng b(999);
  b.set_state(saved);
  for (int i = 0; i < 20; ++i) CHECK(b.normal<float>() == first[static_cast<std::size_t>(i)]);
}

TEST_CASE("uniform and normal draws have the right moments", "[rng]") {
  Rng rng(7);
  const int n = 200000;
  double su = 0, su2 = 0, sn = 0, sn2 = 0;
  float lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    const float u = rng.uniform<float>();
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    su += u;
    su2 += double(u) * u;
    const double z = rng.normal<double>();
    sn += z;
    sn2 += z * z;
  }
  CHECK(lo >= 0.0f);
  CHECK(hi < 1.0f);
  // Standard errors at n = 2e5: mean 0.00065 (uniform), 0.0022 (normal); 5 sigma bounds.
  CHECK(std::abs(su / n - 0.5) < 0.0033);
  CHECK(std::abs(su2 / n - su / n * su / n - 1.0 / 12) < 0.002);
  CHECK(std::abs(sn / n) < 0.011);
  CHECK(std::abs(sn2 / n - 1.0) < 0.016);
}

TEST_CASE("fill_normal uses both Box-Muller outputs", "[rng]") {
  Rng a(5), b(5);
  std::vector<double> v(4);
  a.fill_normal<double>(v);
  const double u1 = 1.0 - b.uniform<double>(), u2 = b.uniform<double>();
  const double r = std::sqrt(-2.0 * std::log(u1));
  CHECK(v[0] == Approx(r * std::cos(2 * std::numbers::pi * u2)).epsilon(1e-15));
  CHECK(v[1] == Approx(r * std::sin(2 * std::numbers::pi * u2)).epsilon(1e-15));
}

TEST_CASE("permutation, randint and categorical", "[rng]") {
  Rng rng(11);
  auto p = rng.permutation(1000);
  std::vector<std::int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  CHECK(sorted == iota);
  CHECK(p != iota);

  std::array<int, 6> counts{};
  for (int i = 0; i < 60000; ++i) {
    const auto v = rng.randint(-2, 4);
    REQUIRE(v >= -2);
    REQUIRE(v < 4);
    counts[static_cast<std::size_t>(v + 2)]++;
  }
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);  // sd ≈ 91: 5.5 sigma

  const std::vector<double> w{1, 0, 3};
  std::array<int, 3> hits{};
  for (int i = 0; i < 40000; ++i) hits[rng.categorical<double>(w)]++;
  CHECK(hits[1] == 0);
  CHECK(std::abs(hits[0] - 10000) < 500);  // p = 1/4, sd ≈ 87
}

TEST_CASE("Rng rejects bad arguments with clear errors", "[rng][errors]") {
  Rng rng(1);
  CHECK_THROWS_WITH(rng.bernoulli(1.5), "[latent.value] Rng::bernoulli: p = 1.500000 is not in [0, 1]");
  CHECK_THROWS_WITH(rng.randint(3, 3), "[latent.value] Rng::randint: empty range [3, 3)");
  const std::vector<float> zero{0.0f, 0.0f};
  CHECK_THROWS_WITH(rng.categorical<float>(zero), "[latent.value] Rng::categorical: all weights are zero");
}
