// The backward engine: accumulation, graph reuse, create_graph, the functional grad() and misuse errors.
// Oracles are analytic derivatives of small polynomials.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

using namespace latent;

TEST_CASE("a tensor used twice receives the sum of both gradients", "[autograd]") {
  auto x = from_vector<double>({1, 2, 3}).set_requires_grad();
  auto y = sum(x * x + x);  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{3, 5, 7});
}

TEST_CASE("gradients accumulate across backward calls until cleared", "[autograd]") {
  auto x = from_vector<double>({2}).set_requires_grad();
  sum(x * x).backward();
  sum(x * x).backward();
  CHECK(x.grad().item() == 8.0);
  x.set_grad(Tensor<double>());
  sum(mul_scalar(x, 3.0)).backward();
  CHECK(x.grad().item() == 3.0);
}

TEST_CASE("retain_graph allows a second backward through the same graph", "[autograd]") {
  auto x = from_vector<double>({3}).set_requires_grad();
  auto y = sum(exp(x));
  y.backward(Tensor<double>(), true);
  y.backward();
  CHECK(x.grad().item() == Approx(2 * std::exp(3.0)).epsilon(1e-14));
}

TEST_CASE("a second backward through a freed graph is an error", "[autograd][errors]") {
  auto x = from_vector<double>({3}).set_requires_grad();
  auto y = sum(exp(x));
  y.backward();
  CHECK_THROWS_WITH(y.backward(), "[latent.autograd] backward through 'sum' a second time: its saved tensors were freed; "
                                  "pass retain_graph = true to the first backward");
}

TEST_CASE("backward of a non-scalar needs a gradient of its shape", "[autograd][errors]") {
  auto x = from_vector<double>({1, 2}).set_requires_grad();
  auto y = x * x;
  CHECK_THROWS_WITH(y.backward(), "[latent.autograd] backward: output [2] is not a scalar; pass a grad_output of its shape");
  CHECK_THROWS_WITH(y.backward(ones<double>({3})), "[latent.shape] backward: grad_output [3] does not match output [2]");
  y.backward(from_vector<double>({1, 10}));
  CHECK(x.grad().to_vector() == std::vector<double>{2, 40});
  CHECK_THROWS_WITH(zeros<double>({1}).backward(), "[latent.autograd] backward: the tensor does not require grad and has no grad_fn");
}

TEST_CASE("create_graph makes the gradient differentiable (d²/dx² x³ = 6x)", "[autograd]") {
  auto x = from_vector<double>({2, -1}).set_requires_grad();
  auto y = sum(x * x * x);
  auto g = grad<double>({y}, {x}, {}, true)[0];
  CHECK(g.requires_grad());
  CHECK(g.to_vector() == std::vector<double>{12, 3});
  auto g2 = grad<double>({sum(g)}, {x})[0];
  CHECK(g2.to_vector() == std::vector<double>{12, -6});
}

TEST_CASE("grad() returns gradients without touching .grad", "[autograd]") {
  auto x = from_vector<double>({1, 2}).set_requires_grad();
  auto w = from_vector<double>({3, 4}).set_requires_grad();
  auto y = sum(x * w);
  auto gs = grad<double>({y}, {x, w});
  CHECK(gs[0].to_vector() == std::vector<double>{3, 4});
  CHECK(gs[1].to_vector() == std::vector<double>{1, 2});
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("grad() reports inputs the outputs do not depend on", "[autograd][errors]") {
  auto x = from_vector<double>({1}).set_requires_grad();
  auto unused = from_vector<double>({1}).set_requires_grad();
  CHECK_THROWS_WITH(grad<double>({sum(x * x)}, {unused}),
                    "[latent.autograd] grad: input 0 [1] was not used to compute the outputs (pass allow_unused = true)");
  auto gs = grad<double>({sum(x * x)}, {unused}, {}, false, true);
  CHECK_FALSE(gs[0].defined());
}

TEST_CASE("grad() of an intermediate tensor", "[autograd]") {
  auto x = from_vector<double>({1, 2}).set_requires_grad();
  auto h = x * x;  // dy/dh = 3
  auto y = sum(mul_scalar(h, 3.0));
  auto g = grad<double>({y}, {h})[0];
  CHECK(g.to_vector() == std::vector<double>{3, 3});
}

TEST_CASE("NoGradGuard records nothing; detach cuts the graph", "[autograd]") {
  auto x = from_vector<double>({1}).set_requires_grad();
  {
    NoGradGuard no_grad;
    auto y = x * x;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
  }
  CHECK(is_grad_enabled());
  auto z = x.detach() * x;  // only the second factor carries gradient
  sum(z).backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("leaf bookkeeping errors are explicit", "[autograd][errors]") {
  auto x = from_vector<double>({1}).set_requires_grad();
  auto y = x * x;
  CHECK_THROWS_WITH(y.set_requires_grad(false),
                    "[latent.autograd] set_requires_grad: cannot turn off requires_grad of a non-leaf tensor; use detach()");
  CHECK_FALSE(y.is_leaf());
  CHECK(x.is_leaf());
}

TEST_CASE("a deep chain of ops backpropagates without recursion", "[autograd]") {
  auto x = from_vector<double>({1.0}).set_requires_grad();
  Tensor<double> y = x;
  for (int i = 0; i < 20000; ++i) y = add_scalar(y, 1e-4);
  sum(y).backward();
  CHECK(x.grad().item() == 1.0);
  CHECK(y.item() == Approx(3.0).epsilon(1e-9));
}

TEST_CASE("a gradient flowing to two leaves is not shared between them", "[autograd]") {
  auto a = from_vector<double>({1, 1}).set_requires_grad();
  auto b = from_vector<double>({1, 1}).set_requires_grad();
  sum(a + b).backward();
  // Scaling one leaf's gradient in place (as clip_grad_norm_ does) must not change the other.
  a.grad().data()[0] = 100;
  CHECK(b.grad().at({0}) == 1.0);
}
