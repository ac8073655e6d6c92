// Anomaly mode: NaN/Inf in an op's output or in a backward rule's gradients throws, naming the op; off by
// default and when the guard ends.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <limits>
#include <thread>

using namespace latent;

TEST_CASE("anomaly mode names the op whose forward output is NaN", "[autograd][anomaly]") {
  const auto x = from_vector<double>({1, 2, 3, -1}, {4});
  autograd::AnomalyGuard anomaly;
  REQUIRE_THROWS_WITH(log(x), "[latent.value] anomaly: log produced NaN at index 3 of [4]");
  // Checked even when nothing is recorded (no input requires grad, or grad mode off).
  NoGradGuard no_grad;
  REQUIRE_THROWS_AS(log(x), ValueError);
}

TEST_CASE("strict anomaly mode reports a forward Inf with its position in a matrix", "[autograd][anomaly]") {
  auto a = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  a.set_requires_grad(true);
  const auto b = from_vector<float>({1, 1, 1, 1, 0, 1}, {2, 3});
  {
    autograd::AnomalyGuard anomaly;  // default: forward infinities pass (ops make them on purpose)
    CHECK(std::isinf(div(a, b).at({1, 1})));
  }
  autograd::AnomalyGuard strict(true, /*forward_inf=*/true);
  REQUIRE_THROWS_WITH(div(a, b), "[latent.value] anomaly: div produced Inf at index [1,1] of [2,3]");
}

TEST_CASE("anomaly mode accepts binary_cross_entropy at saturated probabilities", "[autograd][anomaly]") {
  // BCE takes log(0) = -Inf internally and clamps it at -100 as PyTorch does: not an anomaly; loss = 100.
  auto p = from_vector<double>({0}, {1});
  p.set_requires_grad(true);
  autograd::AnomalyGuard anomaly;
  const auto loss = binary_cross_entropy(p, from_vector<double>({1}, {1}));
  CHECK(loss.item() == Approx(100.0));
  REQUIRE_NOTHROW(loss.backward());
}

TEST_CASE("anomaly mode names the backward rule that produced an infinite gradient", "[autograd][anomaly]") {
  // d sqrt(x)/dx = 1 / (2 sqrt(x)) is +Inf at x = 0, while sqrt(0) = 0 is finite.
  auto x = from_vector<double>({4, 0}, {2});
  x.set_requires_grad(true);
  autograd::AnomalyGuard anomaly;
  const auto y = sum(sqrt(x));
  REQUIRE_THROWS_WITH(y.backward(), "[latent.value] anomaly: gradient for input 0 has Inf at index 1 of [2] in the backward of sqrt");
}

TEST_CASE("anomaly mode checks the gradients of the second input and of create_graph backward", "[autograd][anomaly]") {
  // d(a/b)/db = -a / b^2: with b = 1e-200 the quotient is 1 but b^2 underflows to 0, so the gradient is -Inf.
  auto a = from_vector<double>({1e-200}, {1});
  auto b = from_vector<double>({1e-200}, {1});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  autograd::AnomalyGuard anomaly;
  const auto q = sum(div(a, b));
  REQUIRE(q.item() == 1.0);
  REQUIRE_THROWS_WITH(grad<double>({q}, {a, b}, {}, /*create_graph=*/true),
                      "[latent.value] anomaly: gradient for input 1 has Inf at index 0 of [1] in the backward of div");
}

TEST_CASE("anomaly mode does not flag infinities a rule masks internally", "[autograd][anomaly]") {
  // pow's rule computes b a^(b-1), which is Inf at a = 0 for b = 0, then replaces it with 0 where b = 0.
  auto a = from_vector<double>({0, 2}, {2});
  auto b = from_vector<double>({0, 3}, {2});
  a.set_requires_grad(true);
  autograd::AnomalyGuard anomaly;
  const auto y = sum(pow(a, b));
  REQUIRE_NOTHROW(y.backward());
  CHECK(a.grad().to_vector() == std::vector<double>{0, 12});  // analytic: 0 where b = 0; 3 * 2^2 = 12
}

TEST_CASE("anomaly mode is off by default, per thread, and restored by the guard", "[autograd][anomaly]") {
  const auto x = from_vector<double>({-1}, {1});
  REQUIRE_FALSE(autograd::is_anomaly_enabled());
  CHECK(std::isnan(log(x).item()));  // off: NaN flows through silently, as in PyTorch
  {
    autograd::AnomalyGuard on;
    REQUIRE(autograd::is_anomaly_enabled());
    {
      autograd::AnomalyGuard off(false);
      CHECK(std::isnan(log(x).item()));
      // Another thread has its own setting (off).
      bool other_thread_enabled = true;
      std::thread([&] { other_thread_enabled = autograd::is_anomaly_enabled(); }).join();
      CHECK_FALSE(other_thread_enabled);
    }
    REQUIRE_THROWS_AS(log(x), ValueError);
  }
  REQUIRE_FALSE(autograd::is_anomaly_enabled());
  autograd::set_detect_anomaly(true);
  REQUIRE_THROWS_AS(sqrt(x), ValueError);
  autograd::set_detect_anomaly(false);
  CHECK(std::isnan(sqrt(x).item()));
}

TEST_CASE("anomaly mode passes finite training steps unchanged", "[autograd][anomaly]") {
  // The same loss and gradient with and without anomaly mode: the checks only read.
  auto run = [](bool anomaly_on) {
    autograd::AnomalyGuard anomaly(anomaly_on);
    auto w = from_vector<double>({0.5, -0.25, 2.0}, {3});
    w.set_requires_grad(true);
    const auto loss = mean(square(tanh(mul(w, from_vector<double>({1, 2, 3}, {3})))));
    loss.backward();
    return std::make_pair(loss.item(), w.grad().to_vector());
  };
  CHECK(run(true) == run(false));
}
