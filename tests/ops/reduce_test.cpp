// Reductions (sum, mean, var, logsumexp, max/min, argmax/argmin, sum_to) and softmax/log_softmax:
// gradient checks in double against central differences, forward values against PyTorch 1.13 (float64)
// or analytic identities (softmax rows sum to 1, logsumexp(c, c) = c + log 2).
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include "ops_test_util.hpp"

#include <cmath>
#include <limits>
#include <vector>

using namespace latent;
using namespace latent_test;

TEST_CASE("sum and mean over one dimension have correct gradients", "[ops][reduce][gradcheck]") {
  const auto x = uniform({2, 3, 4}, 1);
  for (int dim : {0, 1, 2, -1}) {
    for (bool keepdim : {false, true}) {
      INFO("dim " << dim << " keepdim " << keepdim);
      CHECK_GRADCHECK([=](const Inputs& v) { return sum(v[0], dim, keepdim); }, {x});
      CHECK_GRADCHECK([=](const Inputs& v) { return mean(v[0], dim, keepdim); }, {x});
    }
  }
  // a rank-0 tensor reduces over its one element
  CHECK_GRADCHECK([](const Inputs& v) { return sum(v[0], 0); }, {uniform({}, 2)});
}

TEST_CASE("sum and mean over several dimensions and over everything have correct gradients",
          "[ops][reduce][gradcheck]") {
  const auto x = uniform({2, 3, 4}, 3);
  for (bool keepdim : {false, true}) {
    INFO("keepdim " << keepdim);
    CHECK_GRADCHECK([=](const Inputs& v) { return sum(v[0], Dims{0, 2}, keepdim); }, {x});
    CHECK_GRADCHECK([=](const Inputs& v) { return mean(v[0], Dims{0, 2}, keepdim); }, {x});
    CHECK_GRADCHECK([=](const Inputs& v) { return mean(v[0], Dims{-1, 1}, keepdim); }, {x});
  }
  CHECK_GRADCHECK([](const Inputs& v) { return sum(v[0]); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return mean(v[0]); }, {x});
}

TEST_CASE("sum over adjacent dimensions (merged into one pass) matches its definition, with correct gradients",
          "[ops][reduce][gradcheck]") {
  // [N, C, H, W] over {0, 2, 3} (a bias gradient: H and W merged), {1, 2} (a middle run), {0, 1} and everything.
  const auto x = uniform({2, 3, 4, 5}, 7);
  const auto at = [&](index_t n, index_t c, index_t h, index_t w) { return x.data()[((n * 3 + c) * 4 + h) * 5 + w]; };
  for (const Dims& dims : {Dims{0, 2, 3}, Dims{1, 2}, Dims{0, 1}, Dims{3, 2, 1, 0}})
    for (bool keepdim : {false, true}) {
      INFO("dims " << dims.str() << " keepdim " << keepdim);
      const auto mask = [&](int d) {
        for (int e : dims)
          if (e == d) return true;
        return false;
      };
      Shape kept, dropped;
      for (int d = 0; d < 4; ++d) {
        kept.push_back(mask(d) ? 1 : x.shape()[d]);
        if (!mask(d)) dropped.push_back(x.shape()[d]);
      }
      const auto y = sum(x, dims, keepdim);
      CHECK(y.shape() == (keepdim ? kept : dropped));
      std::vector<double> expected(static_cast<std::size_t>(kept.numel()), 0.0);
      for (index_t n = 0; n < 2; ++n)
        for (index_t c = 0; c < 3; ++c)
          for (index_t h = 0; h < 4; ++h)
            for (index_t w = 0; w < 5; ++w) {
              const index_t o = (((mask(0) ? 0 : n) * kept[1] + (mask(1) ? 0 : c)) * kept[2] + (mask(2) ? 0 : h)) * kept[3] + (mask(3) ? 0 : w);
              expected[static_cast<std::size_t>(o)] += at(n, c, h, w);
            }
      for (std::size_t i = 0; i < expected.size(); ++i) CHECK(y.data()[i] == Approx(expected[i]).epsilon(1e-14));
      CHECK_GRADCHECK([=](const Inputs& v) { return sum(v[0], dims, keepdim); }, {x});
    }
  // Rows of contiguous values (the last dimension), more rows than one block of the kernel, and mean alike.
  const auto rows = uniform({300, 7}, 8);
  const auto s = sum(rows, 1), m = mean(rows, -1);
  for (index_t r = 0; r < 300; ++r) {
    double total = 0;
    for (index_t k = 0; k < 7; ++k) total += rows.data()[r * 7 + k];
    CHECK(s.data()[r] == Approx(total).epsilon(1e-14));
    CHECK(m.data()[r] == Approx(total / 7).epsilon(1e-14));
  }
}

TEST_CASE("var has correct gradients (unbiased and biased, keepdim, all elements)", "[ops][reduce][gradcheck]") {
  const auto x = uniform({3, 4}, 4);
  for (int dim : {0, 1}) {
    for (index_t correction : {0, 1}) {
      INFO("dim " << dim << " correction " << correction);
      CHECK_GRADCHECK([=](const Inputs& v) { return var(v[0], dim, correction); }, {x});
      CHECK_GRADCHECK([=](const Inputs& v) { return var(v[0], dim, correction, true); }, {x});
    }
  }
  CHECK_GRADCHECK([](const Inputs& v) { return var(v[0]); }, {x});
}

TEST_CASE("logsumexp has correct gradients", "[ops][reduce][gradcheck]") {
  const auto x = uniform({3, 4}, 5, -3, 3);
  CHECK_GRADCHECK([](const Inputs& v) { return logsumexp(v[0], 0); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return logsumexp(v[0], 1); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return logsumexp(v[0], -1, true); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return logsumexp(v[0], 1); }, {uniform({2, 3}, 6, 500, 502)});
}

TEST_CASE("max and min pass the gradient to the selected element", "[ops][reduce][gradcheck]") {
  const auto x = uniform({3, 4, 2}, 7);  // continuous random values: no ties
  for (int dim : {0, 1, 2}) {
    for (bool keepdim : {false, true}) {
      INFO("dim " << dim << " keepdim " << keepdim);
      CHECK_GRADCHECK([=](const Inputs& v) { return max(v[0], dim, keepdim); }, {x});
      CHECK_GRADCHECK([=](const Inputs& v) { return min(v[0], dim, keepdim); }, {x});
    }
  }
  CHECK_GRADCHECK([](const Inputs& v) { return max(v[0]); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return min(v[0]); }, {x});
}

TEST_CASE("sum_to reduces a broadcast tensor to a shape and has the gradient of expand", "[ops][reduce][gradcheck]") {
  const auto x = uniform({2, 3, 4}, 8);
  CHECK_GRADCHECK([](const Inputs& v) { return sum_to(v[0], Shape{3, 1}); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return sum_to(v[0], Shape{4}); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return sum_to(v[0], Shape{}); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return sum_to(v[0], Shape{2, 1, 4}); }, {x});
  const auto y = sum_to(from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}), Shape{1, 3});
  CHECK(y.shape() == Shape{1, 3});
  CHECK(y.to_vector() == std::vector<double>{5, 7, 9});
}

TEST_CASE("softmax and log_softmax have correct gradients along the first and last dimension",
          "[ops][softmax][gradcheck]") {
  const auto x = uniform({3, 4}, 9, -2, 2);
  for (int dim : {0, 1, -1}) {
    INFO("dim " << dim);
    CHECK_GRADCHECK([=](const Inputs& v) { return softmax(v[0], dim); }, {x});
    CHECK_GRADCHECK([=](const Inputs& v) { return log_softmax(v[0], dim); }, {x});
  }
  const auto x3 = uniform({2, 3, 2}, 10, -2, 2);
  CHECK_GRADCHECK([](const Inputs& v) { return softmax(v[0], 1); }, {x3});
  CHECK_GRADCHECK([](const Inputs& v) { return log_softmax(v[0], 1); }, {x3});
}

// ---- forward values ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("sum, mean and var match PyTorch", "[ops][reduce]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  const auto x = from_vector<T>({1, 5, 2, 4, 0, 3}, {2, 3});
  CHECK(sum(x, 0).to_vector() == std::vector<T>{5, 5, 5});
  CHECK(sum(x, 1).to_vector() == std::vector<T>{8, 7});
  CHECK(sum(x, 1, true).shape() == Shape{2, 1});
  CHECK(sum(x, 0).shape() == Shape{3});
  CHECK(sum(x).shape() == Shape{});
  CHECK(sum(x).item() == T(15));
  CHECK(sum(x, Dims{0, 1}).item() == T(15));
  CHECK(sum(x, Dims{0, 1}, true).shape() == Shape{1, 1});
  auto close = [&](const Tensor<T>& y, const std::vector<double>& expected) {
    REQUIRE(y.numel() == static_cast<index_t>(expected.size()));
    for (std::size_t i = 0; i < expected.size(); ++i)
      CHECK(static_cast<double>(y.data()[i]) == Approx(expected[i]).epsilon(tol));
  };
  close(mean(x, 1), {8.0 / 3, 7.0 / 3});
  CHECK(mean(x).item() == T(2.5));
  CHECK(mean(from_vector<T>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2}), Dims{0, 2}).to_vector() == std::vector<T>{3.5, 5.5});
  // torch.var: unbiased by default
  close(var(x, 0), {4.5, 12.5, 0.5});
  close(var(x, 1), {4.333333333333333, 4.333333333333333});
  close(var(x, 1, 0), {2.888888888888889, 2.888888888888889});
  close(var(x), {3.5});
  CHECK(var(x, 1, 1, true).shape() == Shape{2, 1});
  close(var(from_vector<T>({1, 2, 3, 4})), {5.0 / 3.0});
}

TEMPLATE_TEST_CASE("logsumexp is stable for large and very negative values", "[ops][reduce]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  const auto x = from_vector<T>({1000, 1000, -1000, -1000, 1, 2}, {3, 2});
  const auto y = logsumexp(x, 1);
  CHECK(static_cast<double>(y.data()[0]) == Approx(1000 + std::log(2.0)).epsilon(tol));
  CHECK(static_cast<double>(y.data()[1]) == Approx(-1000 + std::log(2.0)).epsilon(tol));
  CHECK(static_cast<double>(y.data()[2]) == Approx(2 + std::log1p(std::exp(-1.0))).epsilon(tol));
  const auto z = logsumexp(from_vector<T>({1, 5, 2, 4, 0, 3}, {2, 3}), 0);
  CHECK(static_cast<double>(z.data()[0]) == Approx(4.048587351573742).epsilon(tol));
  CHECK(static_cast<double>(z.data()[1]) == Approx(5.006715348489118).epsilon(tol));
  CHECK(static_cast<double>(z.data()[2]) == Approx(3.313261687518223).epsilon(tol));
  // all -inf gives -inf (log 0), like PyTorch
  const T inf = std::numeric_limits<T>::infinity();
  CHECK(logsumexp(from_vector<T>({-inf, -inf}), 0).item() == -inf);
  // the gradient is softmax, also for large values (float: e^{x - y} inherits the rounding of y = 1000.69, ulp 6e-5)
  auto big = from_vector<T>({1000, 1000}).set_requires_grad();
  logsumexp(big, 0).backward();
  const double grad_tol = std::is_same_v<T, float> ? 1e-4 : 1e-12;
  CHECK(static_cast<double>(big.grad().data()[0]) == Approx(0.5).epsilon(grad_tol));
  CHECK(static_cast<double>(big.grad().data()[1]) == Approx(0.5).epsilon(grad_tol));
}

TEMPLATE_TEST_CASE("argmax and argmin return the first index on ties, like PyTorch", "[ops][reduce]", float, double) {
  using T = TestType;
  const auto x = from_vector<T>({1, 3, 3, 0, 2, 0, 0, 1, 4, 4, 4, 4}, {3, 4});
  CHECK(argmax(x, 1).to_vector() == std::vector<std::int64_t>{1, 0, 0});
  CHECK(argmin(x, 1).to_vector() == std::vector<std::int64_t>{3, 1, 0});
  CHECK(argmax(x, 0).to_vector() == std::vector<std::int64_t>{2, 2, 2, 2});
  CHECK(argmin(x, 0).to_vector() == std::vector<std::int64_t>{0, 1, 1, 0});
  CHECK(argmax(x, 1, true).shape() == Shape{3, 1});
  CHECK(argmax(x, -1).shape() == Shape{3});
  CHECK(max(x, 1).to_vector() == std::vector<T>{3, 2, 4});
  CHECK(min(x, 0).to_vector() == std::vector<T>{1, 0, 0, 0});
  CHECK(max(x, 0, true).shape() == Shape{1, 4});
  CHECK(max(x).item() == T(4));
  CHECK(min(x).item() == T(0));
  CHECK(max(x).shape() == Shape{});
  // NaN wins the max, as in PyTorch
  const T nan = std::numeric_limits<T>::quiet_NaN();
  CHECK(argmax(from_vector<T>({1, nan, 5}), 0).item() == 1);
}

TEST_CASE("max over a dimension sends the gradient of a tie to the first maximum", "[ops][reduce]") {
  auto x = from_vector<double>({1, 3, 3, 2}).set_requires_grad();
  max(x, 0).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 0, 0});
}

TEMPLATE_TEST_CASE("softmax rows sum to 1 and log_softmax is its log", "[ops][softmax]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  Rng rng(3);
  const auto x = randn<T>({4, 5}, rng, T(0), T(3));
  for (int dim : {0, 1}) {
    const auto p = softmax(x, dim);
    const auto lp = log_softmax(x, dim);
    const auto s = sum(p, dim);
    for (index_t i = 0; i < s.numel(); ++i) CHECK(static_cast<double>(s.data()[i]) == Approx(1.0).epsilon(tol));
    for (index_t i = 0; i < p.numel(); ++i) {
      CHECK(p.data()[i] > T(0));
      CHECK(static_cast<double>(lp.data()[i]) ==
            Approx(std::log(static_cast<double>(p.data()[i]))).epsilon(tol * 10).margin(tol));
    }
  }
  // invariant to a shift; stable for huge logits
  const auto a = softmax(from_vector<T>({1, 2, 3}));
  const auto b = softmax(from_vector<T>({1001, 1002, 1003}));
  for (int i = 0; i < 3; ++i)
    CHECK(static_cast<double>(a.data()[i]) == Approx(static_cast<double>(b.data()[i])).epsilon(tol));
  CHECK(static_cast<double>(a.data()[2]) ==
        Approx(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0))).epsilon(tol));
  const auto l = log_softmax(from_vector<T>({-1000, 0}));
  CHECK(static_cast<double>(l.data()[0]) == Approx(-1000.0).epsilon(tol));
  CHECK(l.data()[1] == T(0));
  // a middle dimension of a rank-3 tensor
  const auto m = softmax(from_vector<T>({0, 0, 0, 0, std::log(T(3)), 0}, {1, 2, 3}), 1);
  CHECK(static_cast<double>(m.at({0, 0, 1})) == Approx(0.25).epsilon(tol));
  CHECK(static_cast<double>(m.at({0, 1, 1})) == Approx(0.75).epsilon(tol));
  CHECK(static_cast<double>(m.at({0, 0, 0})) == Approx(0.5).epsilon(tol));
}

TEST_CASE("reductions and softmax over large tensors (the threaded paths) agree with plain loops",
          "[ops][reduce][softmax]") {
  // [40, 300, 5]: 60000 elements, above the threading threshold. Oracle: loops in double over the float input.
  Rng rng(21);
  const auto x = randn<float>({40, 300, 5}, rng);
  const auto s = sum(x, 1), m = max(x, 1), l = logsumexp(x, 1), v = var(x, 1), p = softmax(x, 1);
  double worst_sum = 0, worst_lse = 0, worst_var = 0, worst_softmax = 0;
  bool max_exact = true;
  for (index_t o = 0; o < 40; ++o)
    for (index_t i = 0; i < 5; ++i) {
      double acc = 0, hi = -1e300, sq = 0;
      for (index_t r = 0; r < 300; ++r) {
        const double e = x.at({o, r, i});
        acc += e;
        hi = std::max(hi, e);
      }
      double lse = 0;
      for (index_t r = 0; r < 300; ++r) {
        const double e = x.at({o, r, i});
        lse += std::exp(e - hi);
        sq += (e - acc / 300) * (e - acc / 300);
      }
      for (index_t r = 0; r < 300; ++r)
        worst_softmax = std::max(worst_softmax, std::abs(p.at({o, r, i}) - std::exp(x.at({o, r, i}) - hi) / lse));
      worst_sum = std::max(worst_sum, std::abs(s.at({o, i}) - acc));
      worst_lse = std::max(worst_lse, std::abs(l.at({o, i}) - (hi + std::log(lse))));
      worst_var = std::max(worst_var, std::abs(v.at({o, i}) - sq / 299));
      max_exact = max_exact && static_cast<double>(m.at({o, i})) == hi;
    }
  // float accumulation of 300 values of size ~1: errors of a few 1e-6 relative to sums of size ~20
  CHECK(worst_sum < 1e-4);
  CHECK(worst_lse < 1e-5);
  CHECK(worst_var < 1e-5);
  CHECK(worst_softmax < 1e-7);
  CHECK(max_exact);
}
