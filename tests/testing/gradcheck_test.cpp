// gradcheck and gradgradcheck themselves: they pass correct rules, and they catch a wrong first derivative,
// a first derivative without history (so no second order), and a rule that forgets an input. The faulty ops
// are written here with autograd::make_node, exactly as a user would write their own op.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <string>
#include <vector>

using namespace latent;

namespace {
using Inputs = std::vector<Tensor<double>>;

// y = x³ with a selectable backward rule.
enum class Rule { right, wrong_factor, no_history };

template <Rule R>
void cube_backward(autograd::Node<double>& n, const Tensor<double>& g, autograd::TensorList<double>& grads) {
  const Tensor<double>& x = n.inputs[0];
  if constexpr (R == Rule::right) {
    grads[0] = mul(g, mul_scalar(mul(x, x), 3.0));
  } else if constexpr (R == Rule::wrong_factor) {
    grads[0] = mul(g, mul_scalar(mul(x, x), 2.9));  // off by 3%
  } else {
    NoGradGuard raw;  // right values, but the result carries no graph: its own derivative is lost
    grads[0] = mul(g, mul_scalar(mul(x, x), 3.0));
  }
}

template <Rule R>
Tensor<double> cube_op(const Tensor<double>& x) {
  Tensor<double> y;
  {
    NoGradGuard raw;
    y = mul(x, mul(x, x));
  }
  autograd::make_node(y, "cube", &cube_backward<R>, {x});
  return y;
}

// y = a * b whose rule only returns the gradient of a.
void forgetful_mul_backward(autograd::Node<double>& n, const Tensor<double>& g, autograd::TensorList<double>& grads) {
  if (n.needs_grad(0)) grads[0] = mul(g, n.inputs[1]);
}
Tensor<double> forgetful_mul(const Tensor<double>& a, const Tensor<double>& b) {
  Tensor<double> y;
  {
    NoGradGuard raw;
    y = mul(a, b);
  }
  autograd::make_node(y, "forgetful_mul", &forgetful_mul_backward, {a, b});
  return y;
}
}  // namespace

TEST_CASE("gradcheck passes a correct rule and reports ok", "[testing][gradcheck]") {
  const auto x = from_vector<double>({0.5, -1.0, 2.0});
  const auto r = gradcheck([](const Inputs& v) { return cube_op<Rule::right>(v[0]); }, {x});
  CHECK(r.ok);
  CHECK(static_cast<bool>(r));
  CHECK(r.max_abs_error < 1e-8);
  CHECK(r.report.rfind("gradcheck: ok", 0) == 0);
  const auto rr = gradgradcheck([](const Inputs& v) { return cube_op<Rule::right>(v[0]); }, {x});
  CHECK(rr.ok);
  CHECK(rr.report.rfind("gradgradcheck: ok", 0) == 0);
}

TEST_CASE("gradcheck catches a wrong derivative and says where", "[testing][gradcheck]") {
  const auto x = from_vector<double>({0.5, -1.0, 2.0});
  const auto r = gradcheck([](const Inputs& v) { return cube_op<Rule::wrong_factor>(v[0]); }, {x});
  CHECK_FALSE(r.ok);
  // the worst element is x = 2: analytic 2.9 * 4 = 11.6 against 12
  CHECK(r.worst_input == 0);
  CHECK(r.worst_element == 2);
  CHECK(r.worst_output == 2);
  CHECK(r.analytic == Approx(11.6).epsilon(1e-12));
  CHECK(r.numeric == Approx(12.0).epsilon(1e-8));
  CHECK(r.report.rfind("gradcheck: FAILED, worst at input 0 element 2 output 2: analytic 11.6, numeric 12", 0) == 0);
}

TEST_CASE("gradcheck catches a rule that leaves an input without gradient", "[testing][gradcheck]") {
  const auto r = gradcheck([](const Inputs& v) { return forgetful_mul(v[0], v[1]); },
                           {from_vector<double>({1.0, 2.0}), from_vector<double>({3.0, 4.0})});
  CHECK_FALSE(r.ok);
  CHECK(r.worst_input == 1);
  CHECK(r.analytic == 0.0);
  // only the input that requires grad is checked: the forgotten one is then not looked at
  const auto only_a = gradcheck([](const Inputs& v) { return forgetful_mul(v[0], v[1]); },
                                {from_vector<double>({1.0, 2.0}).set_requires_grad(), from_vector<double>({3.0, 4.0})});
  CHECK(only_a.ok);
}

TEST_CASE("gradgradcheck catches a first derivative that carries no history", "[testing][gradcheck]") {
  const auto x = from_vector<double>({0.5, -1.0, 2.0});
  // first order is right...
  CHECK(gradcheck([](const Inputs& v) { return cube_op<Rule::no_history>(v[0]); }, {x}).ok);
  // ...but the second derivative 6x is missing
  const auto r = gradgradcheck([](const Inputs& v) { return cube_op<Rule::no_history>(v[0]); }, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.report.rfind("gradgradcheck: FAILED", 0) == 0);
  CHECK(r.analytic == 0.0);
}

TEST_CASE("gradcheck leaves the caller's tensors untouched and accepts inputs with history", "[testing][gradcheck]") {
  auto x = from_vector<double>({0.5, -1.0});
  const auto before = x.to_vector();
  CHECK(gradcheck([](const Inputs& v) { return exp(v[0]); }, {x}).ok);
  CHECK_FALSE(x.requires_grad());
  CHECK(x.to_vector() == before);
  // an input computed from another tensor is checked as an independent variable
  auto w = from_vector<double>({1.0, 2.0}).set_requires_grad();
  const auto derived = mul_scalar(w, 3.0);
  CHECK(gradcheck([](const Inputs& v) { return mul(v[0], v[1]); },
                  {derived, from_vector<double>({2.0, 5.0}).set_requires_grad()})
            .ok);
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("gradcheck handles outputs that do not depend on an input and constant outputs", "[testing][gradcheck]") {
  const auto a = from_vector<double>({1.0, 2.0}), b = from_vector<double>({3.0});
  CHECK(gradcheck([](const Inputs& v) { return exp(v[0]); }, {a, b}).ok);
  CHECK(gradcheck([](const Inputs&) { return ones<double>({2}); }, {a}).ok);
  CHECK(gradgradcheck([](const Inputs& v) { return mul_scalar(v[0], 2.0); }, {a}).ok);
}

TEST_CASE("gradcheck's tolerances decide", "[testing][gradcheck]") {
  const auto x = from_vector<double>({2.0});
  // the 3% error passes with rtol = 5%, fails with the default 0.1%
  CHECK(gradcheck([](const Inputs& v) { return cube_op<Rule::wrong_factor>(v[0]); }, {x}, {.rtol = 0.05}).ok);
  CHECK_FALSE(gradcheck([](const Inputs& v) { return cube_op<Rule::wrong_factor>(v[0]); }, {x}).ok);
}
