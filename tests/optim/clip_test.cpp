// clip_grad_norm_ and clip_grad_value_ semantics beyond the torch reference vectors
// (optim_reference_test.cpp): skipped parameters, no-op cases, float, NaN handling and errors.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace latent;

TEMPLATE_TEST_CASE("clip_grad_norm_ scales all gradients by max_norm / (total + 1e-6)", "[optim][clip]", float, double) {
  using T = TestType;
  auto a = zeros<T>({2}).set_requires_grad();
  auto b = zeros<T>({1}).set_requires_grad();
  auto c = zeros<T>({3}).set_requires_grad();  // no gradient: ignored
  a.set_grad(from_vector<T>({T(3), T(0)}));
  b.set_grad(from_vector<T>({T(4)}));
  // Total 2-norm of (3, 0, 4) = 5 (exact); coefficient 1 / (5 + 1e-6) in T, as torch computes it.
  const T total = optim::clip_grad_norm_(std::vector<Tensor<T>>{a, b, c}, 1.0);
  CHECK(total == T(5));
  const T coef = T(1) / (T(5) + T(1e-6));
  CHECK(a.grad().to_vector() == std::vector<T>{T(3) * coef, T(0)});
  CHECK(b.grad().to_vector() == std::vector<T>{T(4) * coef});
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("clip_grad_norm_ leaves small gradients alone and returns 0 without gradients", "[optim][clip]") {
  auto a = zeros<double>({2}).set_requires_grad();
  CHECK(optim::clip_grad_norm_(std::vector<Tensor<double>>{a}, 1.0) == 0.0);
  a.set_grad(from_vector<double>({0.3, -0.4}));
  CHECK(optim::clip_grad_norm_(std::vector<Tensor<double>>{a}, 1.0) == Approx(0.5).epsilon(1e-15));
  CHECK(a.grad().to_vector() == std::vector<double>{0.3, -0.4});
  // Infinity norm and 1-norm of the same gradient.
  CHECK(optim::clip_grad_norm_(std::vector<Tensor<double>>{a}, 1.0, std::numeric_limits<double>::infinity()) == 0.4);
  CHECK(optim::clip_grad_norm_(std::vector<Tensor<double>>{a}, 1.0, 1.0) == Approx(0.7).epsilon(1e-15));
}

TEST_CASE("clip_grad_norm_ with a NaN gradient spreads NaN, or throws with error_if_nonfinite", "[optim][clip][errors]") {
  auto a = zeros<double>({2}).set_requires_grad();
  a.set_grad(from_vector<double>({std::nan(""), 1.0}));
  CHECK_THROWS_WITH(optim::clip_grad_norm_(std::vector<Tensor<double>>{a}, 1.0, 2.0, true),
                    "[latent.value] clip_grad_norm_: the total norm of order 2 of the gradients is nan, so it cannot be clipped "
                    "(error_if_nonfinite = true)");
  CHECK(a.grad().at({1}) == 1.0);  // untouched by the throwing call
  CHECK(std::isnan(optim::clip_grad_norm_(std::vector<Tensor<double>>{a}, 1.0)));
  CHECK(std::isnan(a.grad().at({1})));  // torch multiplies by the NaN coefficient too
}

TEST_CASE("clip_grad_value_ clamps every gradient element", "[optim][clip]") {
  auto a = zeros<float>({4}).set_requires_grad();
  auto b = zeros<float>({1}).set_requires_grad();
  a.set_grad(from_vector<float>({-3.0f, -0.5f, 0.25f, 7.0f}));
  optim::clip_grad_value_(std::vector<Tensor<float>>{a, b}, 1.0);
  CHECK(a.grad().to_vector() == std::vector<float>{-1.0f, -0.5f, 0.25f, 1.0f});
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("clipping rejects bad arguments", "[optim][clip][errors]") {
  std::vector<Tensor<double>> none;
  CHECK_THROWS_WITH(optim::clip_grad_norm_(none, -1.0), "[latent.value] clip_grad_norm_: max_norm = -1 must be >= 0");
  CHECK_THROWS_WITH(optim::clip_grad_norm_(none, 1.0, 0.0), "[latent.value] clip_grad_norm_: norm_type = 0 must be > 0 (or infinity)");
  CHECK_THROWS_WITH(optim::clip_grad_value_(none, -0.5), "[latent.value] clip_grad_value_: clip_value = -0.5 must be >= 0");
}
