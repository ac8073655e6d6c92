// gradcheck / gradgradcheck: compare autograd's Jacobian with central differences in double
// precision, and report the worst element. Public: users check their own ops with it.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "../ops/ops.hpp"

namespace latent {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-5;  // pass when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  std::size_t worst_input = 0;
  index_t worst_element = 0;
  index_t worst_output = 0;
  double analytic = 0, numeric = 0;
  std::string report;  // one line, "gradcheck: ok" or where and how it failed
  explicit operator bool() const { return ok; }
};

using DifferentiableFunction = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

namespace testing_detail {
/// Private leaf copies of the inputs, so that a check neither perturbs nor marks the caller's tensors and
/// an input with history (a non-leaf) is differentiated as the independent variable it stands for.
/// The copies of the inputs that require grad (all of them when none does) require grad; `diff` lists them.
inline std::vector<Tensor<double>> leaf_copies(const std::vector<Tensor<double>>& inputs, std::vector<std::size_t>& diff) {
  bool any = false;
  for (const auto& t : inputs) any = any || t.requires_grad();
  std::vector<Tensor<double>> copies;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    copies.push_back(inputs[i].clone_detached());
    if (!any || inputs[i].requires_grad()) {
      copies.back().set_requires_grad();
      diff.push_back(i);
    }
  }
  return copies;
}
}  // namespace testing_detail

/// Checks d f(inputs) / d inputs for every input that requires grad (all of them when none does).
/// f sees leaf copies of the inputs; the caller's tensors are left untouched.
template <class F>
GradcheckResult gradcheck(F&& f, const std::vector<Tensor<double>>& given, const GradcheckOptions& o = {}) {
  std::vector<std::size_t> diff;
  std::vector<Tensor<double>> inputs = testing_detail::leaf_copies(given, diff);
  std::vector<Tensor<double>> wrt;
  for (std::size_t i : diff) wrt.push_back(inputs[i]);

  const Tensor<double> y0 = f(inputs);
  const index_t out_n = y0.numel();
  GradcheckResult result;

  // Analytic rows of the Jacobian: one backward per output element.
  std::vector<std::vector<Tensor<double>>> rows(static_cast<std::size_t>(out_n));
  for (index_t j = 0; j < out_n; ++j) {
    Tensor<double> y = f(inputs);
    LATENT_CHECK(y.shape() == y0.shape(), ShapeError, "gradcheck: the function returned " + y.shape().str() + " then " + y0.shape().str());
    auto seed = zeros<double>(y.shape());
    seed.data()[j] = 1;
    if (!y.requires_grad()) {
      rows[static_cast<std::size_t>(j)].assign(wrt.size(), Tensor<double>());
      continue;
    }
    rows[static_cast<std::size_t>(j)] = grad<double>({y}, wrt, {seed}, false, true);
  }

  // Numeric columns by central differences (grad mode stays on: f may itself differentiate, as in
  // gradgradcheck).
  for (std::size_t w = 0; w < wrt.size(); ++w) {
    double* x = wrt[w].data();
    for (index_t k = 0; k < wrt[w].numel(); ++k) {
      const double saved = x[k];
      x[k] = saved + o.eps;
      const Tensor<double> yp = f(inputs).clone_detached();
      x[k] = saved - o.eps;
      const Tensor<double> ym = f(inputs).clone_detached();
      x[k] = saved;
      for (index_t j = 0; j < out_n; ++j) {
        const double numeric = (yp.data()[j] - ym.data()[j]) / (2 * o.eps);
        const Tensor<double>& g = rows[static_cast<std::size_t>(j)][w];
        const double analytic = g.defined() ? g.data()[k] : 0.0;
        const double err = std::abs(analytic - numeric);
        const bool pass = err <= o.atol + o.rtol * std::abs(numeric);
        if ((!pass && result.ok) || (pass == result.ok && err > result.max_abs_error)) {
          result.worst_input = diff[w];
          result.worst_element = k;
          result.worst_output = j;
          result.analytic = analytic;
          result.numeric = numeric;
          result.max_abs_error = err;
        }
        if (!pass) result.ok = false;
      }
    }
  }
  std::ostringstream s;
  s.precision(10);
  s << (result.ok ? "gradcheck: ok" : "gradcheck: FAILED") << ", worst at input " << result.worst_input << " element "
    << result.worst_element << " output " << result.worst_output << ": analytic " << result.analytic << ", numeric "
    << result.numeric << ", |error| " << result.max_abs_error;
  result.report = s.str();
  return result;
}

/// Second order: checks the gradient of the vector-Jacobian product vᵀ ∂f/∂x (computed with
/// create_graph) with respect to x, for a fixed random v.
template <class F>
GradcheckResult gradgradcheck(F&& f, const std::vector<Tensor<double>>& given, const GradcheckOptions& o = {}, std::uint64_t seed = 1234) {
  std::vector<std::size_t> diff;
  const std::vector<Tensor<double>> inputs = testing_detail::leaf_copies(given, diff);
  const Shape out_shape = f(inputs).shape();
  Rng rng(seed);
  const Tensor<double> v = randn<double>(out_shape, rng);
  auto vjp = [&](const std::vector<Tensor<double>>& xs) {
    std::vector<Tensor<double>> wrt;
    for (std::size_t i : diff) wrt.push_back(xs[i]);
    const Tensor<double> y = f(xs);
    std::vector<Tensor<double>> parts;
    if (!y.requires_grad()) {
      for (const auto& x : wrt) parts.push_back(zeros<double>(Shape{x.numel()}));
      return cat(parts, 0);
    }
    const auto g = grad<double>({y}, wrt, {v}, true, true);
    for (std::size_t i = 0; i < wrt.size(); ++i)
      parts.push_back(g[i].defined() ? reshape(g[i], Shape{wrt[i].numel()}) : zeros<double>(Shape{wrt[i].numel()}));
    return cat(parts, 0);
  };
  GradcheckResult r = gradcheck(vjp, inputs, o);
  r.report = "grad" + r.report;
  return r;
}

}  // namespace latent
