// Element-wise ops and activations: first-order gradient checks in double precision (oracle: central
// differences, testing/gradcheck.hpp) for every differentiable op and broadcasting pattern, forward values
// against PyTorch 1.13 (torch.nn.functional, float64) or analytic identities, and dropout's mask.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include "ops_test_util.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

using namespace latent;
using namespace latent_test;

namespace {

}  // namespace

// ---- binary ops and broadcasting -----------------------------------------------------------------

TEST_CASE("add, sub, mul and div have correct gradients for equal shapes", "[ops][elementwise][gradcheck]") {
  const auto a = uniform({3, 4}, 1), b = uniform({3, 4}, 2, 0.5, 2.0);
  CHECK_GRADCHECK([](const Inputs& x) { return add(x[0], x[1]); }, {a, b});
  CHECK_GRADCHECK([](const Inputs& x) { return sub(x[0], x[1]); }, {a, b});
  CHECK_GRADCHECK([](const Inputs& x) { return mul(x[0], x[1]); }, {a, b});
  CHECK_GRADCHECK([](const Inputs& x) { return div(x[0], x[1]); }, {a, b});
}

TEST_CASE("binary ops reduce gradients over broadcast dimensions", "[ops][elementwise][gradcheck]") {
  struct Pattern {
    Shape a, b;
  };
  // [N,C] with [C]; [N,1] with [1,C]; a tensor with a rank-0 scalar (both sides); rank-3 against a rank-2 with ones;
  // two operands that both broadcast; [1] against [N,C].
  const std::vector<Pattern> patterns = {{{3, 4}, {4}}, {{3, 1}, {1, 4}},      {{3, 4}, {}},
                                         {{}, {2, 3}},  {{2, 3, 4}, {3, 1}},   {{2, 1, 4}, {1, 3, 1}},
                                         {{1}, {2, 3}}, {{2, 3, 4}, {2, 1, 1}}};
  std::uint64_t seed = 10;
  for (const auto& p : patterns) {
    INFO("shapes " << p.a.str() << " and " << p.b.str());
    const auto a = uniform(p.a, ++seed), b = uniform(p.b, ++seed, 0.5, 2.0);
    CHECK_GRADCHECK([](const Inputs& x) { return add(x[0], x[1]); }, {a, b});
    CHECK_GRADCHECK([](const Inputs& x) { return sub(x[0], x[1]); }, {a, b});
    CHECK_GRADCHECK([](const Inputs& x) { return mul(x[0], x[1]); }, {a, b});
    CHECK_GRADCHECK([](const Inputs& x) { return div(x[0], x[1]); }, {a, b});
    CHECK_GRADCHECK([](const Inputs& x) { return div(x[1], x[0]); }, {away_from_zero(p.a, seed + 100), b});
  }
}

TEST_CASE("a tensor combined with itself gets both gradients", "[ops][elementwise][gradcheck]") {
  CHECK_GRADCHECK([](const Inputs& x) { return mul(x[0], x[0]); }, {uniform({5}, 3)});
  CHECK_GRADCHECK([](const Inputs& x) { return div(x[0], add_scalar(mul(x[0], x[0]), 1.0)); }, {uniform({5}, 4)});
  CHECK_GRADCHECK([](const Inputs& x) { return sub(x[0], x[0]); }, {uniform({5}, 5)});
}

TEST_CASE("pow has correct gradients in base and exponent", "[ops][elementwise][gradcheck]") {
  const auto base = uniform({3, 4}, 20, 0.5, 2.0), exponent = uniform({3, 4}, 21, -1.5, 1.5);
  CHECK_GRADCHECK([](const Inputs& x) { return pow(x[0], x[1]); }, {base, exponent});
  // broadcast exponent [4] and a rank-0 base
  CHECK_GRADCHECK([](const Inputs& x) { return pow(x[0], x[1]); }, {base, uniform({4}, 22, -1.5, 1.5)});
  CHECK_GRADCHECK([](const Inputs& x) { return pow(x[0], x[1]); }, {uniform({}, 23, 0.5, 2.0), exponent});
}

TEST_CASE("pow with tensor exponent: zero base and zero exponent give PyTorch's gradients, not NaN",
          "[ops][elementwise]") {
  // PyTorch 1.13: d/da = 0 where b = 0; d/db = 0 where a = 0 and b >= 0 (0^b is flat in b); otherwise the formulas
  auto a = from_vector<double>({0, 0, 2, 0}).set_requires_grad();
  auto b = from_vector<double>({2, 0, 0, -1}).set_requires_grad();
  const auto y = pow(a, b);
  CHECK(y.to_vector() == std::vector<double>{0, 1, 1, std::numeric_limits<double>::infinity()});
  sum(narrow(y, 0, 0, 3)).backward();  // (0^-1 has an infinite slope: 0 · ∞ is NaN there in PyTorch too)
  CHECK(a.grad().data()[0] == 0.0);
  CHECK(a.grad().data()[1] == 0.0);
  CHECK(a.grad().data()[2] == 0.0);
  CHECK(b.grad().data()[0] == 0.0);
  CHECK(b.grad().data()[1] == 0.0);
  CHECK(b.grad().data()[2] == Approx(std::log(2.0)).epsilon(1e-15));
}

TEST_CASE("pow with a scalar exponent has the gradient s x^(s-1)", "[ops][elementwise][gradcheck]") {
  const auto positive = uniform({2, 5}, 30, 0.3, 2.0);
  for (double s : {3.0, 2.0, 1.0, 0.5, -1.5, 2.7}) {
    INFO("exponent " << s);
    CHECK_GRADCHECK([s](const Inputs& x) { return pow(x[0], s); }, {positive});
  }
  // integer exponents are defined for negative bases
  for (double s : {2.0, 3.0, -2.0}) {
    INFO("exponent " << s);
    CHECK_GRADCHECK([s](const Inputs& x) { return pow(x[0], s); }, {away_from_zero({2, 5}, 31)});
  }
  // x^0 = 1: zero gradient (left absent, which means zero)
  auto x = positive.clone_detached().set_requires_grad();
  sum(pow(x, 0.0)).backward();
  CHECK((!x.grad().defined() || sum(abs(x.grad())).item() == 0.0));
}

TEST_CASE("every unary function has the right derivative", "[ops][elementwise][gradcheck]") {
  const Shape s{2, 3};
  const auto any = uniform(s, 40, -2, 2), positive = uniform(s, 41, 0.3, 3), nonzero = away_from_zero(s, 42);
  CHECK_GRADCHECK([](const Inputs& x) { return neg(x[0]); }, {any});
  CHECK_GRADCHECK([](const Inputs& x) { return exp(x[0]); }, {any});
  CHECK_GRADCHECK([](const Inputs& x) { return log(x[0]); }, {positive});
  CHECK_GRADCHECK([](const Inputs& x) { return sqrt(x[0]); }, {positive});
  CHECK_GRADCHECK([](const Inputs& x) { return rsqrt(x[0]); }, {positive});
  CHECK_GRADCHECK([](const Inputs& x) { return abs(x[0]); }, {nonzero});
  CHECK_GRADCHECK([](const Inputs& x) { return sin(x[0]); }, {any});
  CHECK_GRADCHECK([](const Inputs& x) { return cos(x[0]); }, {any});
  CHECK_GRADCHECK([](const Inputs& x) { return square(x[0]); }, {any});
  CHECK_GRADCHECK([](const Inputs& x) { return erf(x[0]); }, {any});
  CHECK_GRADCHECK([](const Inputs& x) { return log1p(x[0]); }, {uniform(s, 43, -0.7, 2)});
  CHECK_GRADCHECK([](const Inputs& x) { return expm1(x[0]); }, {any});
  CHECK_GRADCHECK([](const Inputs& x) { return reciprocal(x[0]); }, {nonzero});
  CHECK_GRADCHECK([](const Inputs& x) { return add_scalar(x[0], 2.5); }, {any});
  CHECK_GRADCHECK([](const Inputs& x) { return mul_scalar(x[0], -1.5); }, {any});
}

TEST_CASE("scalar operators differentiate like their tensor forms", "[ops][elementwise][gradcheck]") {
  const auto a = away_from_zero({4}, 50);
  CHECK_GRADCHECK([](const Inputs& x) { return x[0] + 2.0; }, {a});
  CHECK_GRADCHECK([](const Inputs& x) { return 2.0 + x[0]; }, {a});
  CHECK_GRADCHECK([](const Inputs& x) { return x[0] - 2.0; }, {a});
  CHECK_GRADCHECK([](const Inputs& x) { return 2.0 - x[0]; }, {a});
  CHECK_GRADCHECK([](const Inputs& x) { return 3.0 * x[0]; }, {a});
  CHECK_GRADCHECK([](const Inputs& x) { return x[0] / 3.0; }, {a});
  CHECK_GRADCHECK([](const Inputs& x) { return 3.0 / x[0]; }, {a});
  CHECK_GRADCHECK([](const Inputs& x) { return -x[0]; }, {a});
  CHECK_GRADCHECK([](const Inputs& x) { return x[0] * x[1] - x[0] / x[1] + x[1]; }, {a, away_from_zero({4}, 51)});
}

TEST_CASE("clamp, clamp_min and clamp_max pass the gradient inside the range only", "[ops][elementwise][gradcheck]") {
  // values at least 0.2 away from the kinks at -1 and 1, on both sides of each
  const auto x = from_vector<double>({-2.0, -1.3, -0.8, -0.1, 0.4, 0.8, 1.2, 2.5});
  CHECK_GRADCHECK([](const Inputs& v) { return clamp(v[0], -1.0, 1.0); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return clamp_min(v[0], -1.0); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return clamp_max(v[0], 1.0); }, {x});
}

TEST_CASE("clamp lets the gradient through at the bounds, as PyTorch does", "[ops][elementwise]") {
  auto x = from_vector<double>({-2.0, -1.0, 0.0, 1.0, 2.0}).set_requires_grad();
  sum(clamp(x, -1.0, 1.0)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 1, 1, 0});
  CHECK(clamp(x, -1.0, 1.0).to_vector() == std::vector<double>{-1, -1, 0, 1, 1});
}

TEST_CASE("where routes the gradient by the condition, with broadcasting", "[ops][elementwise][gradcheck]") {
  const auto a = uniform({3, 4}, 60), b = uniform({4}, 61);
  const auto cond = gt(uniform({3, 4}, 62), 0.0);
  CHECK_GRADCHECK([&cond](const Inputs& x) { return where(cond, x[0], x[1]); }, {a, b});
  CHECK_GRADCHECK([&cond](const Inputs& x) { return where(cond, x[1], x[0]); }, {a, b});
  // a [3,1] condition broadcast against [3,4] and a rank-0 alternative
  const auto row_cond = from_vector<double>({1, 0, 1}, {3, 1});
  CHECK_GRADCHECK([&row_cond](const Inputs& x) { return where(row_cond, x[0], x[1]); }, {a, uniform({}, 63)});
  auto c = where(row_cond, a, scalar_tensor<double>(7.0));
  CHECK(c.shape() == Shape{3, 4});
  CHECK(c.at({1, 2}) == 7.0);
  CHECK(c.at({2, 3}) == a.at({2, 3}));
}

// ---- activations ---------------------------------------------------------------------------------

TEST_CASE("activations have correct gradients", "[ops][activation][gradcheck]") {
  const auto x = away_from_zero({3, 4}, 70, 0.1, 3.0);
  CHECK_GRADCHECK([](const Inputs& v) { return relu(v[0]); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return leaky_relu(v[0]); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return leaky_relu(v[0], 0.2); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return gelu(v[0]); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return gelu(v[0], GeluApproximation::tanh); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return silu(v[0]); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return sigmoid(v[0]); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return tanh(v[0]); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return softplus(v[0]); }, {x});
}

TEST_CASE("softplus is differentiable on both sides of its linear threshold", "[ops][activation][gradcheck]") {
  CHECK_GRADCHECK([](const Inputs& v) { return softplus(v[0]); },
                  {from_vector<double>({-30.0, -5.0, 5.0, 19.5, 20.5, 40.0})});
}

TEST_CASE("activation gradients at 0 follow PyTorch (relu 0, leaky_relu slope, abs 0)", "[ops][activation]") {
  auto x = from_vector<double>({0.0}).set_requires_grad();
  CHECK(grad<double>({sum(relu(x))}, {x})[0].item() == 0.0);
  CHECK(grad<double>({sum(leaky_relu(x, 0.2))}, {x})[0].item() == 0.2);
  CHECK(grad<double>({sum(abs(x))}, {x})[0].item() == 0.0);
  CHECK(grad<double>({sum(gelu(x))}, {x})[0].item() == 0.5);
  CHECK(grad<double>({sum(silu(x))}, {x})[0].item() == 0.5);
  CHECK(grad<double>({sum(sigmoid(x))}, {x})[0].item() == 0.25);
  CHECK(grad<double>({sum(tanh(x))}, {x})[0].item() == 1.0);
}

// A plain backward's activation rules write over the incoming gradient when nothing else refers to it. Oracle: the
// derivatives written out. Cases where it must not: one gradient handed to two rules (add passes g to both
// operands), a gradient that is a leaf's .grad as well, and a caller's grad_output.
TEST_CASE("activation rules that overwrite their incoming gradient leave shared gradients intact", "[ops][activation]") {
  const std::vector<double> xs = {-2.0, -0.5, 0.25, 1.5, -1.0, 3.0};
  auto x = from_vector<double>(xs).set_requires_grad();
  const auto c = from_vector<double>({1.0, 2.0, -1.0, 0.5, 3.0, -2.0});
  // a = 2x; out = Σ c ⊙ (relu(a) + leaky_relu(a, 0.1) + sigmoid(a)): the same gradient reaches all three rules
  const auto a = mul_scalar(x, 2.0);
  sum(mul(add(add(relu(a), leaky_relu(a, 0.1)), sigmoid(a)), c)).backward();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double ai = 2 * xs[i], sg = 1 / (1 + std::exp(-ai));
    const double expected = 2 * c.to_vector()[i] * ((ai > 0 ? 1.0 : 0.0) + (ai > 0 ? 1.0 : 0.1) + sg * (1 - sg));
    CHECK(x.grad().to_vector()[i] == Approx(expected).epsilon(1e-14));
  }
  // y = relu(x) + x: add hands the same gradient to relu's rule and to x's .grad
  auto x2 = from_vector<double>(xs).set_requires_grad();
  sum(add(relu(x2), x2)).backward();
  for (std::size_t i = 0; i < xs.size(); ++i) CHECK(x2.grad().to_vector()[i] == (xs[i] > 0 ? 2.0 : 1.0));
  // the caller's grad_output stays as it was
  auto x3 = from_vector<double>(xs).set_requires_grad();
  const auto g = from_vector<double>({1.0, 1.0, 1.0, 1.0, 1.0, 1.0});
  const auto d = grad<double>({leaky_relu(x3, 0.1)}, {x3}, {g})[0];
  CHECK(g.to_vector() == std::vector<double>(6, 1.0));
  for (std::size_t i = 0; i < xs.size(); ++i) CHECK(d.to_vector()[i] == (xs[i] > 0 ? 1.0 : 0.1));
}

// ---- forward values ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("activations match PyTorch's values", "[ops][activation]", float, double) {
  using T = TestType;
  // float: a few ulps of the float64 reference; double: a few ulps of double
  const double tol = std::is_same_v<T, float> ? 2e-7 : 1e-15;
  const auto x = from_vector<T>({T(-3), T(-0.5), T(0), T(1), T(2.5)});
  auto check = [&](const Tensor<T>& y, const std::vector<double>& expected) {
    REQUIRE(y.numel() == static_cast<index_t>(expected.size()));
    for (std::size_t i = 0; i < expected.size(); ++i) {
      INFO("element " << i);
      CHECK(static_cast<double>(y.data()[i]) == Approx(expected[i]).epsilon(tol).margin(tol));
    }
  };
  check(gelu(x), {-0.00404969409489031, -0.15426876936299344, 0.0, 0.841344746068543, 2.4844758366855597});
  check(gelu(x, GeluApproximation::tanh),
        {-0.0036373920817729943, -0.15428599017485606, 0.0, 0.8411919906082768, 2.484915733910001});
  check(silu(x), {-0.14227761953270035, -0.1887703343990727, 0.0, 0.7310585786300049, 2.3103545499468914});
  check(sigmoid(x), {0.04742587317756678, 0.3775406687981454, 0.5, 0.7310585786300049, 0.9241418199787566});
  check(tanh(x), {-0.9950547536867305, -0.46211715726000974, 0.0, 0.7615941559557649, 0.9866142981514303});
  check(erf(x), {-0.9999779095030014, -0.5204998778130465, 0.0, 0.8427007929497149, 0.999593047982555});
  check(leaky_relu(x), {-0.03, -0.005, 0.0, 1.0, 2.5});
  check(relu(x), {0, 0, 0, 1, 2.5});
  check(softplus(from_vector<T>({T(-30), T(-1), T(0), T(1), T(19), T(21), T(30)})),
        {9.357622968839737e-14, 0.31326168751822286, 0.6931471805599453, 1.3132616875182228, 19.000000005602796, 21.0,
         30.0});
  CHECK(static_cast<double>(gelu(from_vector<T>({T(1)})).item()) == Approx(0.8413447460685429).epsilon(tol));
}

TEMPLATE_TEST_CASE("unary functions match the standard library", "[ops][elementwise]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 4e-7 : 4e-16;  // a few ulps relative
  const std::vector<T> v{T(0.25), T(0.5), T(1.5), T(3)};
  const auto x = from_vector<T>(v);
  auto check = [&](const Tensor<T>& y, double (*f)(double)) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      INFO("x = " << v[i]);
      CHECK(static_cast<double>(y.data()[i]) == Approx(f(static_cast<double>(v[i]))).epsilon(tol));
    }
  };
  check(exp(x), [](double a) { return std::exp(a); });
  check(log(x), [](double a) { return std::log(a); });
  check(sqrt(x), [](double a) { return std::sqrt(a); });
  check(rsqrt(x), [](double a) { return 1 / std::sqrt(a); });
  check(sin(x), [](double a) { return std::sin(a); });
  check(cos(x), [](double a) { return std::cos(a); });
  check(square(x), [](double a) { return a * a; });
  check(log1p(x), [](double a) { return std::log1p(a); });
  check(expm1(x), [](double a) { return std::expm1(a); });
  check(reciprocal(x), [](double a) { return 1 / a; });
  check(neg(x), [](double a) { return -a; });
  check(pow(x, T(3)), [](double a) { return a * a * a; });
  check(pow(x, T(-0.5)), [](double a) { return 1 / std::sqrt(a); });
  // log1p and expm1 keep full relative precision near 0, where log(1 + x) and exp(x) - 1 lose it
  const auto tiny = from_vector<T>({T(1e-10)});
  CHECK(static_cast<double>(log1p(tiny).item()) == Approx(std::log1p(static_cast<double>(T(1e-10)))).epsilon(tol));
  CHECK(static_cast<double>(expm1(tiny).item()) == Approx(std::expm1(static_cast<double>(T(1e-10)))).epsilon(tol));
}

TEMPLATE_TEST_CASE("broadcasting forward values follow NumPy's rule", "[ops][elementwise]", float, double) {
  using T = TestType;
  const auto a = from_vector<T>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(add(a, from_vector<T>({10, 20, 30})).to_vector() == std::vector<T>{11, 22, 33, 14, 25, 36});
  CHECK(mul(from_vector<T>({1, 2}, {2, 1}), from_vector<T>({1, 10, 100}, {1, 3})).to_vector() ==
        std::vector<T>{1, 10, 100, 2, 20, 200});
  CHECK(sub(a, scalar_tensor<T>(1)).to_vector() == std::vector<T>{0, 1, 2, 3, 4, 5});
  const auto d = div(scalar_tensor<T>(12), from_vector<T>({1, 2, 3, 4}, {2, 1, 2}));
  CHECK(d.shape() == Shape{2, 1, 2});
  CHECK(d.to_vector() == std::vector<T>{12, 6, 4, 3});
  const auto p = pow(from_vector<T>({2, 3}, {2, 1}), from_vector<T>({0, 1, 2}));
  CHECK(p.shape() == Shape{2, 3});
  CHECK(p.to_vector() == std::vector<T>{1, 2, 4, 1, 3, 9});
  // a rank-0 with a rank-0 stays rank 0
  CHECK(add(scalar_tensor<T>(1), scalar_tensor<T>(2)).shape() == Shape{});
  CHECK((T(10) - a).to_vector() == std::vector<T>{9, 8, 7, 6, 5, 4});
  CHECK((T(12) / from_vector<T>({3, 4})).to_vector() == std::vector<T>{4, 3});
}

TEMPLATE_TEST_CASE("comparisons and sign give 0/1 (or -1/0/1) in the input's type", "[ops][elementwise]", float,
                   double) {
  using T = TestType;
  const auto a = from_vector<T>({-1, 0, 2}), b = from_vector<T>({0, 0, 1});
  CHECK(gt(a, b).to_vector() == std::vector<T>{0, 0, 1});
  CHECK(lt(a, b).to_vector() == std::vector<T>{1, 0, 0});
  CHECK(ge(a, b).to_vector() == std::vector<T>{0, 1, 1});
  CHECK(le(a, b).to_vector() == std::vector<T>{1, 1, 0});
  CHECK(eq(a, b).to_vector() == std::vector<T>{0, 1, 0});
  CHECK(ne(a, b).to_vector() == std::vector<T>{1, 0, 1});
  CHECK(gt(a, T(0)).to_vector() == std::vector<T>{0, 0, 1});
  CHECK(le(a, T(0)).to_vector() == std::vector<T>{1, 1, 0});
  CHECK(eq(a, T(2)).to_vector() == std::vector<T>{0, 0, 1});
  CHECK(sign(a).to_vector() == std::vector<T>{-1, 0, 1});
  // comparisons broadcast and record no history
  auto x = from_vector<T>({1, 2}).set_requires_grad();
  const auto m = gt(x, from_vector<T>({1.5}, {1, 1}));
  CHECK(m.shape() == Shape{1, 2});
  CHECK_FALSE(m.requires_grad());
  CHECK_FALSE(sign(x).requires_grad());
}

TEMPLATE_TEST_CASE("softplus stays finite and exact for large |x|", "[ops][activation]", float, double) {
  using T = TestType;
  const auto y = softplus(from_vector<T>({T(-80), T(100), T(1000)}));
  // log(1 + e^-80) = e^-80 to within e^-160: still a normal float
  CHECK(static_cast<double>(y.data()[0]) == Approx(std::exp(-80.0)).epsilon(1e-5));
  CHECK(y.data()[1] == T(100));
  CHECK(y.data()[2] == T(1000));
  const auto s = sigmoid(from_vector<T>({T(-1000), T(1000)}));
  CHECK(s.data()[0] == T(0));
  CHECK(s.data()[1] == T(1));
}

// ---- dropout -------------------------------------------------------------------------------------

TEST_CASE("dropout has the gradient of its mask (same Rng seed in the function)", "[ops][random][gradcheck]") {
  // f re-seeds the Rng on every call, so every evaluation (analytic and numeric) uses the same mask.
  CHECK_GRADCHECK(
      [](const Inputs& x) {
        Rng rng(99);
        return dropout(x[0], 0.3, rng);
      },
      {uniform({4, 5}, 80)});
}

TEMPLATE_TEST_CASE("dropout zeroes about p of the elements and scales the rest by 1/(1-p)", "[ops][random]", float,
                   double) {
  using T = TestType;
  Rng rng(5);
  const auto x = ones<T>({100, 100});
  const auto y = dropout(x, T(0.25), rng);
  index_t zeros_count = 0, scaled_count = 0;
  for (index_t i = 0; i < y.numel(); ++i) {
    const T v = y.data()[i];
    if (v == T(0))
      ++zeros_count;
    else if (v == T(1) / (T(1) - T(0.25)))
      ++scaled_count;
  }
  CHECK(zeros_count + scaled_count == y.numel());
  // 10000 Bernoulli(0.25) draws: standard deviation 43, so 2500 ± 250 is over 5 sigma
  CHECK(zeros_count > 2250);
  CHECK(zeros_count < 2750);
  // evaluation mode and p = 0 are the identity (same tensor), p = 1 zeroes everything
  CHECK(dropout(x, T(0.25), rng, false).same(x));
  CHECK(dropout(x, T(0), rng).same(x));
  CHECK(sum(dropout(x, T(1), rng)).item() == T(0));
  // the same seed gives the same mask
  Rng r1(11), r2(11);
  CHECK(dropout(x, T(0.5), r1).to_vector() == dropout(x, T(0.5), r2).to_vector());
}

TEST_CASE("broadcast binary ops over large tensors (the threaded path) match element-wise loops",
          "[ops][elementwise]") {
  // A simple op is split over threads from kernels::detail::simple_split_elements (1M) elements: 600 x 7 x 250.
  const int saved = num_threads();
  set_num_threads(2);
  Rng rng(9);
  const auto a = randn<double>({600, 1, 250}, rng), b = randn<double>({7, 1}, rng);
  const auto y = sub(a, b);  // [600, 7, 250]
  REQUIRE(y.shape() == Shape{600, 7, 250});
  REQUIRE(y.numel() >= kernels::detail::simple_split_elements);
  bool exact = true;
  for (index_t i = 0; i < 600; i += 7)
    for (index_t j = 0; j < 7; ++j)
      for (index_t k = 0; k < 250; k += 3) exact = exact && y.at({i, j, k}) == a.at({i, 0, k}) - b.at({j, 0});
  CHECK(exact);
  // and the gradient reduces over the broadcast dimensions exactly: each b_j receives -(number of elements) = -150000
  auto bg = b.clone_detached().set_requires_grad();
  sum(sub(a, bg)).backward();
  CHECK(bg.grad().to_vector() == std::vector<double>(7, -150000.0));
  set_num_threads(saved);
}

TEMPLATE_TEST_CASE("element-wise kernels split over threads give the single-thread results bit for bit",
                   "[ops][elementwise]", float, double) {
  using T = TestType;
  using kernels::Binary, kernels::Unary, kernels::UnaryScalar;
  const int saved = num_threads();
  set_num_threads(2);
  // A simple op splits from 1M elements, a transcendental one from a work threshold scaled by the measured fork/join
  // (at most 2^21 / 16 = 128k elements): an odd length above both, so that the last run is short and ends inside
  // a vector.
  const index_t split_work = kernels::detail::elementwise_split_work();
  REQUIRE(split_work <= index_t{1} << 21);
  const index_t n = std::max(kernels::detail::simple_split_elements, split_work) + 12345;
  Rng rng(17);
  const auto a = latent::rand<T>({n}, rng, T(0.05), T(0.95)), b = latent::rand<T>({n}, rng, T(0.05), T(0.95));
  const auto same = [](const std::vector<T>& x, const std::vector<T>& y) {
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
    return true;
  };
  // One kernel call on `threads` threads into an output `shift` elements past a 64-byte boundary: the runs start at
  // aligned addresses, and Eigen computes unaligned ends with scalar code (std::exp, not its vectorized exp).
  const auto with_threads = [&](int threads, index_t shift, auto&& kernel) {
    set_num_threads(threads);
    std::vector<T> buffer(static_cast<std::size_t>(n + 16));
    T* y = buffer.data();
    while (reinterpret_cast<std::uintptr_t>(y) % 64 != 0) ++y;
    kernel(y + shift);
    return std::vector<T>(y + shift, y + shift + n);
  };
  const auto agree = [&](auto&& kernel) {
    for (const index_t shift : {index_t{0}, index_t{3}})
      if (!same(with_threads(1, shift, kernel), with_threads(2, shift, kernel))) return false;
    return true;
  };
  for (int op = 0; op <= int(Unary::step); ++op) {
    INFO("unary op " << op);
    CHECK(agree([&](T* y) { kernels::unary(Unary(op), a.data(), y, n); }));
  }
  for (int op = 0; op <= int(Binary::bce_grad); ++op) {
    INFO("binary op " << op);
    CHECK(agree([&](T* y) { kernels::binary(Binary(op), a.data(), b.data(), y, n); }));
  }
  for (const auto& [op, s] : {std::pair{UnaryScalar::pow, T(1.7)}, std::pair{UnaryScalar::rpow, T(2.5)},
                              std::pair{UnaryScalar::mul, T(3)}}) {
    INFO("scalar op " << int(op));
    CHECK(agree([&](T* y) { kernels::unary_scalar(op, a.data(), s, y, n); }));
  }
#if LATENT_HAS_OPENMP
  // The split itself: two runs covering [0, n) once, the second starting at an aligned address; none for a
  // transcendental op just below its threshold.
  set_num_threads(2);
  std::vector<T> out(static_cast<std::size_t>(n));
  std::vector<std::pair<index_t, index_t>> runs(2, {-1, -1});
  kernels::detail::for_each_run(out.data(), n, kernels::detail::simple_cost, [&](index_t begin, index_t count) {
    runs[static_cast<std::size_t>(begin == 0 ? 0 : 1)] = {begin, count};
  });
  CHECK(runs[0].first == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(out.data() + runs[1].first) % 64 == 0);
  CHECK(runs[0].second == runs[1].first);
  CHECK(runs[1].first + runs[1].second == n);
  CHECK(std::abs(runs[0].second - runs[1].second) <= 4 * 64 / index_t{sizeof(T)});  // equal up to the alignment
  const index_t below = split_work / kernels::detail::transcendental_cost - 1;
  int calls = 0;
  kernels::detail::for_each_run(out.data(), below, kernels::detail::transcendental_cost, [&](index_t, index_t count) {
    ++calls;
    CHECK(count == below);
  });
  CHECK(calls == 1);
  calls = 0;  // a simple op below 1M elements stays whole even when its work passes the threshold
  kernels::detail::for_each_run(out.data(), kernels::detail::simple_split_elements - 1, kernels::detail::simple_cost,
                                [&](index_t, index_t) { ++calls; });
  CHECK(calls == 1);
#endif
  set_num_threads(saved);
}
