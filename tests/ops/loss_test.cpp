// Losses: gradient checks in double against central differences for every loss, reduction and option,
// and forward values against PyTorch 1.13 (torch.nn.functional, float64) or a hand-written formula.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include "ops_test_util.hpp"

#include <cmath>
#include <limits>
#include <vector>

using namespace latent;
using namespace latent_test;

// ---- gradients -----------------------------------------------------------------------------------

TEST_CASE("mse_loss and l1_loss have correct gradients for every reduction", "[ops][loss][gradcheck]") {
  const auto input = uniform({3, 4}, 1), target = uniform({3, 4}, 2);
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    INFO("reduction " << static_cast<int>(r));
    CHECK_GRADCHECK([r](const Inputs& v) { return mse_loss(v[0], v[1], r); }, {input, target});
    // targets shifted by ±0.3 keep input - target away from l1's kink at 0
    CHECK_GRADCHECK([r](const Inputs& v) { return l1_loss(v[0], v[1], r); }, {input, add_scalar(input, 0.3)});
    CHECK_GRADCHECK([r](const Inputs& v) { return l1_loss(v[0], v[1], r); }, {input, add_scalar(input, -0.3)});
  }
}

TEST_CASE("binary_cross_entropy has correct gradients in input and target", "[ops][loss][gradcheck]") {
  const auto p = uniform({3, 4}, 3, 0.05, 0.95), y = uniform({3, 4}, 4, 0, 1);
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    INFO("reduction " << static_cast<int>(r));
    CHECK_GRADCHECK([r](const Inputs& v) { return binary_cross_entropy(v[0], v[1], r); }, {p, y});
  }
}

TEST_CASE("binary_cross_entropy_with_logits has correct gradients in logits and target", "[ops][loss][gradcheck]") {
  const auto x = uniform({3, 4}, 5, -4, 4), y = uniform({3, 4}, 6, 0, 1);
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    INFO("reduction " << static_cast<int>(r));
    CHECK_GRADCHECK([r](const Inputs& v) { return binary_cross_entropy_with_logits(v[0], v[1], r); }, {x, y});
  }
  // saturated logits: the gradient is sigmoid(x) - y, finite
  CHECK_GRADCHECK([](const Inputs& v) { return binary_cross_entropy_with_logits(v[0], v[1]); },
                  {from_vector<double>({-40.0, 40.0, 25.0}), from_vector<double>({1.0, 0.0, 0.5})});
}

TEST_CASE("cross_entropy has correct gradients for every option", "[ops][loss][gradcheck]") {
  const auto logits = uniform({4, 5}, 7, -2, 2);
  const auto target = from_vector<std::int64_t>({3, 0, 4, 3});
  const auto with_ignored = from_vector<std::int64_t>({3, -100, 4, 1});
  const std::vector<CrossEntropyOptions> options = {
      {},
      {.reduction = Reduction::sum},
      {.reduction = Reduction::none},
      {.label_smoothing = 0.1},
      {.label_smoothing = 0.25, .reduction = Reduction::none},
      {.label_smoothing = 0.3, .reduction = Reduction::sum},
  };
  for (const auto& o : options) {
    INFO("label_smoothing " << o.label_smoothing << " reduction " << static_cast<int>(o.reduction));
    CHECK_GRADCHECK([&](const Inputs& v) { return cross_entropy(v[0], target, o); }, {logits});
    CHECK_GRADCHECK([&](const Inputs& v) { return cross_entropy(v[0], with_ignored, o); }, {logits});
  }
  // a custom ignore_index that is also a valid class
  const CrossEntropyOptions ignore_one{.ignore_index = 3, .label_smoothing = 0.1};
  CHECK_GRADCHECK([&](const Inputs& v) { return cross_entropy(v[0], target, ignore_one); }, {logits});
  // [B, T, C] logits with [B, T] targets (sequence models)
  const auto seq_target = from_vector<std::int64_t>({0, 2, 1, 1, 0, 2}, {2, 3});
  CHECK_GRADCHECK([&](const Inputs& v) { return cross_entropy(v[0], seq_target); }, {uniform({2, 3, 3}, 8, -2, 2)});
  CHECK_GRADCHECK([&](const Inputs& v) { return cross_entropy(v[0], seq_target, {.reduction = Reduction::none}); },
                  {uniform({2, 3, 3}, 9, -2, 2)});
}

TEST_CASE("nll_loss has correct gradients", "[ops][loss][gradcheck]") {
  const auto log_probs = uniform({4, 3}, 10, -3, 0);
  const auto target = from_vector<std::int64_t>({2, 0, 1, -100});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    INFO("reduction " << static_cast<int>(r));
    CHECK_GRADCHECK([&](const Inputs& v) { return nll_loss(v[0], target, -100, r); }, {log_probs});
  }
  CHECK_GRADCHECK(
      [&](const Inputs& v) {
        return nll_loss(v[0], from_vector<std::int64_t>({2, 0, 1, 1}), 0);
      },
      {log_probs});
}

TEST_CASE("gaussian_nll_loss has correct gradients in input, target and variance", "[ops][loss][gradcheck]") {
  const auto input = uniform({3, 2}, 11), target = uniform({3, 2}, 12), var = uniform({3, 2}, 13, 0.2, 2);
  for (bool full : {false, true}) {
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
      INFO("full " << full << " reduction " << static_cast<int>(r));
      const GaussianNllOptions o{.full = full, .reduction = r};
      CHECK_GRADCHECK([o](const Inputs& v) { return gaussian_nll_loss(v[0], v[1], v[2], o); }, {input, target, var});
    }
  }
  // one variance per row, as [N] or [N, 1] (PyTorch's homoscedastic forms)
  CHECK_GRADCHECK([](const Inputs& v) { return gaussian_nll_loss(v[0], v[1], v[2]); },
                  {input, target, uniform({3}, 14, 0.2, 2)});
  CHECK_GRADCHECK([](const Inputs& v) { return gaussian_nll_loss(v[0], v[1], v[2]); },
                  {input, target, uniform({3, 1}, 15, 0.2, 2)});
}

TEST_CASE("kl_normal has correct gradients in mu and logvar", "[ops][loss][gradcheck]") {
  CHECK_GRADCHECK([](const Inputs& v) { return kl_normal(v[0], v[1]); }, {uniform({3, 4}, 16), uniform({3, 4}, 17)});
}

// ---- forward values ------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("regression losses match PyTorch", "[ops][loss]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  const auto p = from_vector<T>({T(0.2), T(0.9), T(0.5)}), y = from_vector<T>({T(0), T(1), T(0.3)});
  CHECK(static_cast<double>(mse_loss(p, y).item()) == Approx(0.03).epsilon(tol));
  CHECK(static_cast<double>(mse_loss(p, y, Reduction::sum).item()) == Approx(0.09).epsilon(tol));
  CHECK(mse_loss(p, y, Reduction::none).shape() == Shape{3});
  CHECK(static_cast<double>(l1_loss(p, y).item()) == Approx(0.5 / 3).epsilon(tol));
  CHECK(static_cast<double>(l1_loss(p, y, Reduction::sum).item()) == Approx(0.5).epsilon(tol));
  CHECK(mse_loss(p, y).shape() == Shape{});
}

TEMPLATE_TEST_CASE("binary cross-entropy losses match PyTorch, including saturated inputs", "[ops][loss]", float,
                   double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  const auto p = from_vector<T>({T(0.2), T(0.9), T(0.5)}), y = from_vector<T>({T(0), T(1), T(0.3)});
  CHECK(static_cast<double>(binary_cross_entropy(p, y).item()) == Approx(0.34055041584399376).epsilon(tol));
  const auto none = binary_cross_entropy(p, y, Reduction::none);
  CHECK(static_cast<double>(none.data()[0]) == Approx(0.2231435513142097).epsilon(tol));
  CHECK(static_cast<double>(none.data()[1]) == Approx(0.10536051565782628).epsilon(tol));
  // log is clamped at -100: p = 0 with target 1 costs 100, not infinity
  CHECK(static_cast<double>(binary_cross_entropy(from_vector<T>({T(0)}), from_vector<T>({T(1)})).item()) ==
        Approx(100.0).epsilon(tol));
  CHECK(binary_cross_entropy(from_vector<T>({T(1)}), from_vector<T>({T(1)})).item() == T(0));
  const auto logits = from_vector<T>({T(-2), T(0.5), T(30)});
  CHECK(static_cast<double>(binary_cross_entropy_with_logits(logits, y).item()) ==
        Approx(7.200334998407723).epsilon(tol));
  const auto e = binary_cross_entropy_with_logits(logits, y, Reduction::none);
  CHECK(static_cast<double>(e.data()[0]) == Approx(0.1269280110429726).epsilon(tol));
  CHECK(static_cast<double>(e.data()[1]) == Approx(0.4740769841801067).epsilon(tol));
  CHECK(static_cast<double>(e.data()[2]) == Approx(21.000000000000092).epsilon(tol));
  // huge logits stay finite
  const auto big = binary_cross_entropy_with_logits(from_vector<T>({T(-1000), T(1000)}), from_vector<T>({T(1), T(0)}),
                                                    Reduction::none);
  CHECK(big.data()[0] == T(1000));
  CHECK(big.data()[1] == T(1000));
}

TEST_CASE("binary_cross_entropy has a finite gradient at p = 0 and p = 1, as PyTorch", "[ops][loss]") {
  // PyTorch: d/dp = (p - y) / max(p (1 - p), 1e-12). A sigmoid saturating to exactly 1 in float must not give NaN.
  auto p = from_vector<double>({0, 1, 0, 1}).set_requires_grad();
  const auto y = from_vector<double>({0, 1, 1, 0});
  binary_cross_entropy(p, y, Reduction::sum).backward();
  CHECK(p.grad().to_vector() == std::vector<double>{0, 0, -1e12, 1e12});
  auto logits = from_vector<float>({30, -30}).set_requires_grad();
  const auto probs = sigmoid(logits);
  REQUIRE(probs.data()[0] == 1.0f);  // saturated in float
  binary_cross_entropy(probs, from_vector<float>({0, 1})).backward();
  CHECK(std::isfinite(logits.grad().data()[0]));
  CHECK(std::isfinite(logits.grad().data()[1]));
}

TEMPLATE_TEST_CASE("cross_entropy matches PyTorch and the label-smoothing formula", "[ops][loss]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-14;
  const std::vector<double> raw{1.0, 2.0, 0.5, 0.0, -1.0, 3.0};
  std::vector<T> raw_t(raw.begin(), raw.end());
  const auto x = from_vector<T>(raw_t, {2, 3});
  const auto t = from_vector<std::int64_t>({2, 0});
  CHECK(static_cast<double>(cross_entropy(x, t).item()) == Approx(2.515126343932687).epsilon(tol));
  CHECK(static_cast<double>(cross_entropy(x, t, {.reduction = Reduction::sum}).item()) ==
        Approx(5.030252687865374).epsilon(tol));
  CHECK(static_cast<double>(cross_entropy(x, t, {.label_smoothing = 0.1}).item()) ==
        Approx(2.4484596772660208).epsilon(tol));
  const auto none = cross_entropy(x, t, {.label_smoothing = 0.2, .reduction = Reduction::none});
  REQUIRE(none.shape() == Shape{2});
  CHECK(static_cast<double>(none.data()[0]) == Approx(1.8310354507746116).epsilon(tol));
  CHECK(static_cast<double>(none.data()[1]) == Approx(2.932550570424096).epsilon(tol));
  // hand formula: (1 - ε) (-log p_t) + ε mean_c (-log p_c), log p = x - logsumexp(x)
  const double eps = 0.2;
  for (int n = 0; n < 2; ++n) {
    const double* row = raw.data() + 3 * n;
    const double lse = std::log(std::exp(row[0]) + std::exp(row[1]) + std::exp(row[2]));
    double smooth = 0;
    for (int c = 0; c < 3; ++c) smooth += -(row[c] - lse) / 3;
    const double expected = (1 - eps) * -(row[t.data()[n]] - lse) + eps * smooth;
    CHECK(static_cast<double>(none.data()[n]) == Approx(expected).epsilon(tol));
  }
  // ignored rows count neither in the sum nor in the mean's denominator
  CHECK(static_cast<double>(cross_entropy(x, from_vector<std::int64_t>({2, -100}), {.label_smoothing = 0.1}).item()) ==
        Approx(1.8977021174412783).epsilon(tol));
  CHECK(static_cast<double>(cross_entropy(x, from_vector<std::int64_t>({2, 1}), {.ignore_index = 1}).item()) ==
        Approx(1.964368784107945).epsilon(tol));
  CHECK(cross_entropy(x, from_vector<std::int64_t>({2, -100}), {.reduction = Reduction::none}).data()[1] == T(0));
  // all rows ignored: 0 / 0, NaN like PyTorch
  CHECK(std::isnan(cross_entropy(x, from_vector<std::int64_t>({-100, -100})).item()));
  // huge logits do not overflow
  const auto big = cross_entropy(from_vector<T>({T(1000), T(0)}, {1, 2}), from_vector<std::int64_t>({1}));
  CHECK(static_cast<double>(big.item()) == Approx(1000.0).epsilon(tol));
  // [B, T, C] logits: the mean over all B T positions
  const auto seq = cross_entropy(reshape(x, Shape{1, 2, 3}), from_vector<std::int64_t>({2, 0}, {1, 2}));
  CHECK(static_cast<double>(seq.item()) == Approx(2.515126343932687).epsilon(tol));
  CHECK(cross_entropy(reshape(x, Shape{1, 2, 3}), from_vector<std::int64_t>({2, 0}, {1, 2}),
                      {.reduction = Reduction::none})
            .shape() == Shape{1, 2});
}

TEMPLATE_TEST_CASE("nll_loss of log_softmax equals cross_entropy, as in PyTorch", "[ops][loss]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-14;
  const auto x = from_vector<T>({1, 2, T(0.5), 0, -1, 3}, {2, 3});
  const auto lp = log_softmax(x, 1);
  CHECK(static_cast<double>(nll_loss(lp, from_vector<std::int64_t>({2, 0})).item()) ==
        Approx(2.515126343932687).epsilon(tol));
  CHECK(static_cast<double>(nll_loss(lp, from_vector<std::int64_t>({2, -100})).item()) ==
        Approx(1.964368784107945).epsilon(tol));
  const auto none = nll_loss(lp, from_vector<std::int64_t>({2, 0}), -100, Reduction::none);
  REQUIRE(none.shape() == Shape{2});
  CHECK(static_cast<double>(none.data()[1]) == Approx(3.0658839037574293).epsilon(tol));
}

TEMPLATE_TEST_CASE("gaussian_nll_loss matches PyTorch, including the clamp and the variance shapes", "[ops][loss]",
                   float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
  const auto input = from_vector<T>({T(0.5), 1, 2, -1}, {2, 2}), target = from_vector<T>({0, T(1.5), 1, 0}, {2, 2});
  // the last variance 1e-9 is clamped to eps = 1e-6
  const auto var = from_vector<T>({T(0.5), 2, 1, T(1e-9)}, {2, 2});
  const auto none = gaussian_nll_loss(input, target, var, {.reduction = Reduction::none});
  const std::vector<double> expected{-0.09657359027997264, 0.40907359027997264, 0.5, 499993.092244721};
  for (int i = 0; i < 4; ++i)
    CHECK(static_cast<double>(none.data()[i]) == Approx(expected[static_cast<std::size_t>(i)]).epsilon(tol));
  CHECK(static_cast<double>(gaussian_nll_loss(input, target, var).item()) == Approx(124998.47618618025).epsilon(tol));
  CHECK(static_cast<double>(gaussian_nll_loss(input, target, var, {.full = true}).item()) ==
        Approx(124999.39512471347).epsilon(tol));
  // var [N] for input [N, D] is one variance per row (PyTorch unsqueezes it to [N, 1]), not one per column
  const auto per_row = gaussian_nll_loss(input, target, from_vector<T>({T(0.5), 2}), {.reduction = Reduction::none});
  const std::vector<double> expected_rows{-0.09657359027997264, -0.09657359027997264, 0.5965735902799727,
                                          0.5965735902799727};
  REQUIRE(per_row.shape() == Shape{2, 2});
  for (int i = 0; i < 4; ++i)
    CHECK(static_cast<double>(per_row.data()[i]) == Approx(expected_rows[static_cast<std::size_t>(i)]).epsilon(tol));
  const auto column =
      gaussian_nll_loss(input, target, from_vector<T>({T(0.5), 2}, {2, 1}), {.reduction = Reduction::none});
  CHECK(column.to_vector() == per_row.to_vector());
}

TEMPLATE_TEST_CASE("kl_normal is zero for the standard normal and matches the closed form", "[ops][loss]", float,
                   double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  CHECK(kl_normal(zeros<T>({3, 2}), zeros<T>({3, 2})).item() == T(0));
  // KL(N(1, e^0.5) || N(0, 1)) = ½ (e^0.5 + 1 - 1 - 0.5), summed over elements
  const double one = 0.5 * (std::exp(0.5) + 1.0 - 1.0 - 0.5);
  CHECK(static_cast<double>(kl_normal(ones<T>({2}), full<T>({2}, T(0.5))).item()) == Approx(2 * one).epsilon(tol));
}
