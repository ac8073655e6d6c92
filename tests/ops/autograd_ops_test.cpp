// Autograd behaviour seen through the ops (the engine itself is tested in tests/autograd/): accumulation over
// two backward passes, detach, NoGradGuard, create_graph results with history, the fused plain backward
// agreeing with the composable one, and a WGAN-GP gradient penalty whose gradient with respect to the
// critic's weights matches central differences.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include "ops_test_util.hpp"

#include <functional>
#include <string>
#include <vector>

using namespace latent;
using namespace latent_test;

namespace {

/// One op from every family, each from x [4, 3] (values in (-1, 1)) to some tensor.
std::vector<std::pair<std::string, std::function<Tensor<double>(const Tensor<double>&)>>> op_zoo() {
  const auto w = uniform({2, 3}, 100), b = uniform({2}, 101);
  const auto classes = from_vector<std::int64_t>({0, 2, 1, 2});
  return {
      {"add", [](const Tensor<double>& x) { return add(x, x); }},
      {"mul broadcast",
       [](const Tensor<double>& x) {
         return mul(x, from_vector<double>({1, 2, 3}));
       }},
      {"pow", [](const Tensor<double>& x) { return pow(x, 3.0); }},
      {"exp", [](const Tensor<double>& x) { return exp(x); }},
      {"gelu", [](const Tensor<double>& x) { return gelu(x); }},
      {"gelu tanh", [](const Tensor<double>& x) { return gelu(x, GeluApproximation::tanh); }},
      {"silu", [](const Tensor<double>& x) { return silu(x); }},
      {"sigmoid", [](const Tensor<double>& x) { return sigmoid(x); }},
      {"tanh", [](const Tensor<double>& x) { return tanh(x); }},
      {"softplus", [](const Tensor<double>& x) { return softplus(x); }},
      {"relu", [](const Tensor<double>& x) { return relu(x); }},
      {"leaky_relu", [](const Tensor<double>& x) { return leaky_relu(x, 0.1); }},
      {"sum", [](const Tensor<double>& x) { return sum(x, 1); }},
      {"var", [](const Tensor<double>& x) { return var(x, 0); }},
      {"logsumexp", [](const Tensor<double>& x) { return logsumexp(x, 1); }},
      {"max", [](const Tensor<double>& x) { return max(x, 0); }},
      {"permute", [](const Tensor<double>& x) { return transpose(x, 0, 1); }},
      {"narrow", [](const Tensor<double>& x) { return narrow(x, 1, 1, 2); }},
      {"gather",
       [](const Tensor<double>& x) {
         return gather(x, 1, from_vector<std::int64_t>({0, 2, 1, 1}, {4, 1}));
       }},
      {"cat",
       [](const Tensor<double>& x) {
         return cat({x, x}, 1);
       }},
      {"matmul", [](const Tensor<double>& x) { return matmul(x, transpose(x, 0, 1)); }},
      {"linear", [w, b](const Tensor<double>& x) { return linear(x, w, b); }},
      {"softmax", [](const Tensor<double>& x) { return softmax(x, 1); }},
      {"log_softmax", [](const Tensor<double>& x) { return log_softmax(x, 0); }},
      {"layer_norm", [](const Tensor<double>& x) { return layer_norm(x, 1); }},
      {"batch_norm", [](const Tensor<double>& x) { return batch_norm(x, {}, {}, {}, {}, true); }},
      {"cross_entropy",
       [classes](const Tensor<double>& x) { return cross_entropy(x, classes, {.label_smoothing = 0.1}); }},
      {"bce_with_logits",
       [](const Tensor<double>& x) {
         return binary_cross_entropy_with_logits(x, zeros<double>({4, 3}));
       }},
      {"mse",
       [](const Tensor<double>& x) {
         return mse_loss(x, ones<double>({4, 3}));
       }},
  };
}
/// A scalar from any output, weighting its elements so that no gradient is trivially zero.
Tensor<double> weighted_sum(const Tensor<double>& y) {
  return sum(mul(y, reshape(arange<double>(1.0, static_cast<double>(y.numel()) + 1.0), y.shape())));
}
}  // namespace

TEST_CASE("gradients of leaves accumulate over two backward passes through every op", "[ops][autograd]") {
  for (const auto& [name, op] : op_zoo()) {
    INFO(name);
    auto x = uniform({4, 3}, 1).set_requires_grad();
    weighted_sum(op(x)).backward();
    const auto once = x.grad().clone_detached();
    weighted_sum(op(x)).backward();
    bool doubled = true;
    for (index_t i = 0; i < once.numel(); ++i)
      doubled = doubled && x.grad().data()[i] == Approx(2 * once.data()[i]).epsilon(1e-14);
    CHECK(doubled);
  }
}

TEST_CASE("the plain backward and the create_graph backward of every op agree", "[ops][autograd]") {
  // Activations use a fused kernel when no graph is built and composable ops otherwise: both must give the same
  // numbers.
  for (const auto& [name, op] : op_zoo()) {
    INFO(name);
    auto x = uniform({4, 3}, 2).set_requires_grad();
    const auto plain = grad<double>({weighted_sum(op(x))}, {x})[0];
    const auto with_graph = grad<double>({weighted_sum(op(x))}, {x}, {}, true)[0];
    bool same = true;
    for (index_t i = 0; i < plain.numel(); ++i)
      same = same && plain.data()[i] == Approx(with_graph.data()[i]).epsilon(1e-12).margin(1e-14);
    CHECK(same);
  }
}

TEST_CASE("create_graph gives gradients with a grad_fn; a plain backward gives none", "[ops][autograd]") {
  for (const auto& [name, op] : op_zoo()) {
    INFO(name);
    auto x = uniform({4, 3}, 3).set_requires_grad();
    const auto g = grad<double>({weighted_sum(op(x))}, {x}, {}, true)[0];
    const bool linear_in_x = name == "add" || name == "mul broadcast" || name == "sum" || name == "permute" ||
                             name == "narrow" || name == "gather" || name == "cat" || name == "relu" ||
                             name == "leaky_relu" || name == "max" || name == "linear";
    // ops that are linear (or piecewise linear) in x have a constant gradient: it may or may not carry history
    if (!linear_in_x) {
      CHECK(g.requires_grad());
      CHECK(g.grad_fn() != nullptr);
    }
    const auto plain = grad<double>({weighted_sum(op(x))}, {x})[0];
    CHECK_FALSE(plain.requires_grad());
    CHECK(plain.grad_fn() == nullptr);
  }
  // backward(create_graph) leaves a differentiable .grad on the leaf
  auto x = uniform({3}, 4).set_requires_grad();
  sum(exp(x)).backward(Tensor<double>(), false, true);
  REQUIRE(x.grad().requires_grad());
  auto xg = x.grad();
  x.set_grad(Tensor<double>());
  sum(xg).backward();  // d/dx Σ e^x = e^x
  CHECK(x.grad().to_vector() == exp(x).to_vector());
}

TEST_CASE("detach stops gradients inside op compositions", "[ops][autograd]") {
  auto x = uniform({4, 3}, 5).set_requires_grad();
  // d/dx Σ x ⊙ detach(x) = detach(x): the detached factor is a constant
  sum(mul(x, x.detach())).backward();
  CHECK(x.grad().to_vector() == x.to_vector());
  // layer_norm with detached statistics is an affine map of x: gradient (x̂ weights) / σ
  auto y = uniform({2, 4}, 6).set_requires_grad();
  const auto m = mean(y, 1, true).detach(), s = sqrt(add_scalar(var(y, 1, 0, true), 1e-5)).detach();
  sum(div(sub(y, m), s)).backward();
  for (index_t i = 0; i < 2; ++i)
    for (index_t j = 0; j < 4; ++j) CHECK(y.grad().at({i, j}) == Approx(1.0 / s.at({i, 0})).epsilon(1e-14));
  // nothing flows into a detached branch
  auto z = uniform({3}, 7).set_requires_grad();
  const auto out = add(mul_scalar(z, 2.0), exp(z).detach());
  CHECK(grad<double>({sum(out)}, {z})[0].to_vector() == std::vector<double>{2, 2, 2});
  CHECK_FALSE(exp(z).detach().requires_grad());
}

TEST_CASE("NoGradGuard: no op records history, and recording resumes after the scope", "[ops][autograd]") {
  auto x = uniform({4, 3}, 8).set_requires_grad();
  {
    NoGradGuard no_grad;
    CHECK_FALSE(is_grad_enabled());
    for (const auto& [name, op] : op_zoo()) {
      INFO(name);
      const auto y = op(x);
      CHECK_FALSE(y.requires_grad());
      CHECK(y.grad_fn() == nullptr);
    }
    Rng rng(1);
    CHECK(dropout(x, 0.5, rng).grad_fn() == nullptr);
    CHECK(group_norm(reshape(x, Shape{2, 2, 3}), 2).grad_fn() == nullptr);
  }
  CHECK(is_grad_enabled());
  CHECK(exp(x).requires_grad());
  // inputs that do not require grad record nothing either
  const auto c = uniform({4, 3}, 9);
  for (const auto& [name, op] : op_zoo()) {
    INFO(name);
    CHECK(op(c).grad_fn() == nullptr);
  }
}

TEST_CASE("a WGAN-GP penalty has the right gradient with respect to the critic's weights",
          "[ops][autograd][gradcheck]") {
  // D(x) = linear(leaky_relu(linear(x, W1, b1), 0.2), W2, b2); penalty = mean_i (||∇_x D(x_i)||₂ - 1)².
  // Its gradient with respect to W1, b1, W2, b2 goes through the backward of every op (create_graph); the oracle
  // is central differences of the penalty itself. The random pre-activations stay away from the kink at 0.
  const auto x = uniform({5, 3}, 10, -2, 2);
  auto penalty = [x](const Inputs& p) {
    auto xi = x.clone_detached().set_requires_grad();
    const auto d = linear(leaky_relu(linear(xi, p[0], p[1]), 0.2), p[2], p[3]);
    const auto g = grad<double>({sum(d)}, {xi}, {}, true)[0];  // rows are ∇_x D(x_i): D acts row by row
    const auto norms = sqrt(sum(mul(g, g), 1));
    return mean(square(add_scalar(norms, -1.0)));
  };
  const Inputs params{uniform({4, 3}, 11), uniform({4}, 12), uniform({1, 4}, 13), uniform({1}, 14)};
  const auto r = gradcheck(penalty, params);
  INFO(r.report);
  CHECK(r.ok);  // b2 included: the penalty does not depend on it, and the absent gradient must match differences of 0
}

TEST_CASE("an R1 penalty through a smooth critic with layer_norm has the right weight gradients",
          "[ops][autograd][gradcheck]") {
  // D(x) = linear(gelu(layer_norm(linear(x, W1, b1), 1)), W2); R1 = ½ mean_i ||∇_x D(x_i)||².
  const auto x = uniform({4, 3}, 20, -2, 2);
  auto r1 = [x](const Inputs& p) {
    auto xi = x.clone_detached().set_requires_grad();
    const auto d = linear(gelu(layer_norm(linear(xi, p[0], p[1]), 1)), p[2]);
    const auto g = grad<double>({sum(d)}, {xi}, {}, true)[0];
    return mul_scalar(mean(sum(mul(g, g), 1)), 0.5);
  };
  const auto r = gradcheck(r1, {uniform({5, 3}, 21), uniform({5}, 22), uniform({1, 5}, 23)});
  INFO(r.report);
  CHECK(r.ok);
}
