// Second-order gradient checks (gradgradcheck: the vector-Jacobian product vᵀ ∂f/∂x, computed with
// create_graph, differentiated again and compared with central differences) for the ops gradient penalties
// (WGAN-GP, R1) go through. Linear ops are composed with a cube, so that their vector-Jacobian product depends
// on x and the backward rules' own backward rules are exercised.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include "ops_test_util.hpp"

#include <vector>

using namespace latent;
using namespace latent_test;

namespace {
Tensor<double> cube(const Tensor<double>& y) { return mul(y, mul(y, y)); }
}  // namespace

TEST_CASE("second order: add, sub, mul and div, with broadcasting", "[ops][second_order]") {
  const auto a = uniform({3, 4}, 1), b = uniform({4}, 2, 0.5, 2.0), s = uniform({}, 3, 0.5, 2.0);
  CHECK_GRADGRADCHECK([](const Inputs& x) { return cube(add(x[0], x[1])); }, {a, b});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return cube(sub(x[0], x[1])); }, {a, b});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return mul(x[0], x[1]); }, {a, b});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return div(x[0], x[1]); }, {a, b});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return div(x[0], x[1]); }, {a, s});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return mul(x[0], x[1]); }, {uniform({3, 1}, 4), uniform({1, 4}, 5)});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return add(mul_scalar(x[0], 2.0), add_scalar(x[0], 1.0)); }, {a});
}

TEST_CASE("second order: pow, sqrt, rsqrt, exp, log and the other unary functions", "[ops][second_order]") {
  const auto positive = uniform({2, 3}, 10, 0.5, 2.0), any = uniform({2, 3}, 11, -1.5, 1.5),
             nonzero = away_from_zero({2, 3}, 12);
  CHECK_GRADGRADCHECK([](const Inputs& x) { return pow(x[0], x[1]); }, {positive, any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return pow(x[0], 3.0); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return pow(x[0], 2.0); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return pow(x[0], -1.5); }, {positive});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return sqrt(x[0]); }, {positive});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return rsqrt(x[0]); }, {positive});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return exp(x[0]); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return log(x[0]); }, {positive});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return cube(neg(x[0])); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return cube(abs(x[0])); }, {nonzero});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return sin(x[0]); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return cos(x[0]); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return square(x[0]); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return erf(x[0]); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return log1p(x[0]); }, {positive});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return expm1(x[0]); }, {any});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return reciprocal(x[0]); }, {nonzero});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return cube(clamp(x[0], -1.0, 1.0)); },
                      {from_vector<double>({-2.0, -0.7, 0.3, 0.8, 1.6})});
  CHECK_GRADGRADCHECK([](const Inputs& x) { return 2.0 / x[0] - x[0] / 3.0 + (1.0 - x[0]); }, {nonzero});
}

TEST_CASE("second order: every activation", "[ops][second_order]") {
  const auto x = away_from_zero({3, 4}, 20, 0.1, 3.0);
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(relu(v[0])); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(leaky_relu(v[0], 0.2)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return gelu(v[0]); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return gelu(v[0], GeluApproximation::tanh); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return silu(v[0]); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return sigmoid(v[0]); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return tanh(v[0]); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return softplus(v[0]); }, {x});
}

TEST_CASE("second order: sum, mean, var, logsumexp, max", "[ops][second_order]") {
  const auto x = uniform({3, 4}, 30);
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(sum(v[0], 1)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(sum(v[0], Dims{0, 1}, true)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(mean(v[0], 0, true)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(mean(v[0])); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return var(v[0], 1); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return var(v[0], 0, 0, true); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return logsumexp(v[0], 1); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(max(v[0], 1)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(sum_to(v[0], Shape{4})); }, {x});
}

TEST_CASE("second order: shape ops (reshape, permute, narrow, cat, index_select, gather, expand, where)",
          "[ops][second_order]") {
  const auto x = uniform({2, 3, 4}, 40);
  const auto rows = from_vector<std::int64_t>({2, 0, 2});
  const auto idx = from_vector<std::int64_t>({3, 0, 1, 1, 2, 2}, {2, 3, 1});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(reshape(v[0], Shape{6, 4})); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(permute(v[0], {2, 0, 1})); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(transpose(v[0], 0, 2)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(narrow(v[0], 2, 1, 2)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(select(v[0], 1, 2)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(cat({v[0], v[1]}, 1)); }, {x, uniform({2, 1, 4}, 41)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(stack({v[0], v[0]}, 1)); }, {x});
  CHECK_GRADGRADCHECK([&](const Inputs& v) { return cube(index_select(v[0], 1, rows)); }, {x});
  CHECK_GRADGRADCHECK([&](const Inputs& v) { return cube(embedding(v[0], rows)); }, {uniform({3, 4}, 42)});
  CHECK_GRADGRADCHECK([&](const Inputs& v) { return cube(gather(v[0], 2, idx)); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(expand(v[0], Shape{2, 3, 4})); }, {uniform({3, 1}, 43)});
  const auto cond = gt(uniform({3, 4}, 44), 0.0);
  CHECK_GRADGRADCHECK([&](const Inputs& v) { return cube(where(cond, v[0], v[1])); },
                      {uniform({3, 4}, 45), uniform({4}, 46)});
}

TEST_CASE("second order: matmul and linear", "[ops][second_order]") {
  CHECK_GRADGRADCHECK([](const Inputs& v) { return matmul(v[0], v[1]); }, {uniform({3, 4}, 50), uniform({4, 2}, 51)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return matmul(v[0], v[1]); },
                      {uniform({2, 1, 3, 4}, 52), uniform({3, 4, 2}, 53)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return matmul(v[0], v[1]); },
                      {uniform({2, 3, 4}, 54), uniform({4, 2}, 55)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return matmul(v[0], v[1]); }, {uniform({4}, 56), uniform({2, 4, 3}, 57)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(matmul(v[0], transpose(v[0], 0, 1))); }, {uniform({3, 2}, 58)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return linear(v[0], v[1], v[2]); },
                      {uniform({5, 4}, 59), uniform({3, 4}, 60), uniform({3}, 61)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return linear(v[0], v[1]); },
                      {uniform({2, 2, 4}, 62), uniform({3, 4}, 63)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(linear(v[0], v[1], v[2])); },
                      {uniform({2, 4}, 64), uniform({3, 4}, 65), uniform({3}, 66)});
}

TEST_CASE("second order: softmax and log_softmax", "[ops][second_order]") {
  const auto x = uniform({3, 4}, 70, -2, 2);
  for (int dim : {0, -1}) {
    INFO("dim " << dim);
    CHECK_GRADGRADCHECK([dim](const Inputs& v) { return softmax(v[0], dim); }, {x});
    CHECK_GRADGRADCHECK([dim](const Inputs& v) { return log_softmax(v[0], dim); }, {x});
  }
}

TEST_CASE("second order: losses", "[ops][second_order]") {
  const auto input = uniform({3, 4}, 80), target = uniform({3, 4}, 81);
  CHECK_GRADGRADCHECK([](const Inputs& v) { return mse_loss(v[0], v[1]); }, {input, target});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return mse_loss(v[0], v[1], Reduction::none); }, {input, target});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return cube(l1_loss(v[0], v[1])); }, {input, add_scalar(input, 0.3)});
  const auto y01 = uniform({3, 4}, 82, 0, 1);
  CHECK_GRADGRADCHECK([](const Inputs& v) { return binary_cross_entropy_with_logits(v[0], v[1]); },
                      {uniform({3, 4}, 83, -3, 3), y01});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return binary_cross_entropy_with_logits(v[0], v[1], Reduction::none); },
                      {uniform({3, 4}, 84, -3, 3), y01});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return binary_cross_entropy(v[0], v[1]); },
                      {uniform({3, 4}, 85, 0.1, 0.9), y01});
  const auto classes = from_vector<std::int64_t>({2, 0, -100, 3});
  const auto logits = uniform({4, 5}, 86, -2, 2);
  CHECK_GRADGRADCHECK([&](const Inputs& v) { return cross_entropy(v[0], classes); }, {logits});
  CHECK_GRADGRADCHECK(
      [&](const Inputs& v) {
        return cross_entropy(v[0], classes, {.label_smoothing = 0.2, .reduction = Reduction::none});
      },
      {logits});
  CHECK_GRADGRADCHECK([&](const Inputs& v) { return cross_entropy(v[0], classes, {.reduction = Reduction::sum}); },
                      {logits});
  CHECK_GRADGRADCHECK([&](const Inputs& v) { return cube(nll_loss(v[0], classes)); }, {logits});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return gaussian_nll_loss(v[0], v[1], v[2]); },
                      {input, target, uniform({3, 4}, 87, 0.3, 2)});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return kl_normal(v[0], v[1]); }, {input, target});
}

TEST_CASE("second order: layer_norm, group_norm and batch_norm", "[ops][second_order]") {
  const auto x = uniform({3, 4}, 90, -2, 2), w = uniform({4}, 91, 0.5, 1.5), b = uniform({4}, 92);
  CHECK_GRADGRADCHECK([](const Inputs& v) { return layer_norm(v[0], 1, v[1], v[2]); }, {x, w, b});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return layer_norm(v[0], 1); }, {x});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return group_norm(v[0], 2, v[1], v[2]); },
                      {uniform({2, 4, 2}, 93, -2, 2), w, b});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return batch_norm(v[0], {}, {}, v[1], v[2], true); }, {x, w, b});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return batch_norm(v[0], {}, {}, {}, {}, true); },
                      {uniform({2, 4, 3}, 94, -2, 2)});
}

TEST_CASE("second order: dropout with a fixed mask", "[ops][second_order]") {
  CHECK_GRADGRADCHECK(
      [](const Inputs& v) {
        Rng rng(3);
        return cube(dropout(v[0], 0.4, rng));
      },
      {uniform({3, 4}, 95)});
}
