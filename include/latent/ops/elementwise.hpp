// Differentiable element-wise ops with NumPy broadcasting: + - * / pow neg exp log sqrt rsqrt abs
// clamp sin cos square erf log1p; scalar forms and operators; comparisons (no gradient) and where.
// Each backward rule is written with ops, so it is itself differentiable.
#pragma once

#include <cmath>
#include <numbers>
#include <type_traits>

#include "../autograd/engine.hpp"
#include "../core/checks.hpp"
#include "../core/factory.hpp"
#include "../kernels/elementwise.hpp"
#define LATENT_INSIDE_OPS
#include "detail/fwd.hpp"
#undef LATENT_INSIDE_OPS

namespace latent {
namespace ops_detail {

using kernels::Binary;
using kernels::Unary;
using kernels::UnaryScalar;

/// Element strides of `s` read as a tensor of broadcast shape `out` (0 along broadcast dimensions).
inline std::array<index_t, Shape::max_rank> broadcast_strides(const Shape& s, const Shape& out) {
  std::array<index_t, Shape::max_rank> st{};
  const auto own = s.strides();
  const int shift = out.rank() - s.rank();
  for (int i = 0; i < out.rank(); ++i) {
    const int j = i - shift;
    st[static_cast<std::size_t>(i)] = (j < 0 || s[j] == 1) ? 0 : own[static_cast<std::size_t>(j)];
  }
  return st;
}

/// out = a op b with broadcasting, no autograd.
template <Scalar T>
Tensor<T> binary_raw(Binary op, const Tensor<T>& a, const Tensor<T>& b, const char* name) {
  if (a.shape() == b.shape()) {
    auto out = Tensor<T>::empty(a.shape());
    kernels::binary(op, a.data(), b.data(), out.data(), a.numel());
    return out;
  }
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  auto out = Tensor<T>::empty(shape);
  std::array<index_t, Shape::max_rank> dims{};
  for (int i = 0; i < shape.rank(); ++i) dims[static_cast<std::size_t>(i)] = shape[i];
  kernels::binary_broadcast(op, a.data(), broadcast_strides(a.shape(), shape), b.data(), broadcast_strides(b.shape(), shape),
                            out.data(), dims, shape.rank());
  return out;
}

template <Scalar T>
Tensor<T> unary_raw(Unary op, const Tensor<T>& x) {
  auto out = Tensor<T>::empty(x.shape());
  kernels::unary(op, x.data(), out.data(), x.numel());
  return out;
}

template <Scalar T>
Tensor<T> unary_scalar_raw(UnaryScalar op, const Tensor<T>& x, T s) {
  auto out = Tensor<T>::empty(x.shape());
  kernels::unary_scalar(op, x.data(), s, out.data(), x.numel());
  return out;
}

template <Scalar T>
Tensor<T> unary_op(Unary op, const Tensor<T>& x, const char* name);
template <Scalar T>
Tensor<T> unary_scalar_op(UnaryScalar op, const Tensor<T>& x, T s, const char* name);

// ---- binary rules ------------------------------------------------------------------------------
// add: da = g, db = g (reduced to each input's shape when it was broadcast)
template <class T>
void add_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  if (n.needs_grad(0)) grads[0] = sum_to(g, n.inputs[0].shape());
  if (n.needs_grad(1)) grads[1] = sum_to(g, n.inputs[1].shape());
}
// sub: da = g, db = -g
template <class T>
void sub_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  if (n.needs_grad(0)) grads[0] = sum_to(g, n.inputs[0].shape());
  if (n.needs_grad(1)) grads[1] = neg(sum_to(g, n.inputs[1].shape()));
}
// mul: da = g b, db = g a
template <class T>
void mul_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  if (n.needs_grad(0)) grads[0] = sum_to(mul(g, n.inputs[1]), n.inputs[0].shape());
  if (n.needs_grad(1)) grads[1] = sum_to(mul(g, n.inputs[0]), n.inputs[1].shape());
}
// div: da = g / b, db = -g a / b²
template <class T>
void div_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& a = n.inputs[0];
  const Tensor<T>& b = n.inputs[1];
  if (n.needs_grad(0)) grads[0] = sum_to(div(g, b), a.shape());
  if (n.needs_grad(1)) grads[1] = sum_to(neg(div(mul(g, a), mul(b, b))), b.shape());
}

template <Scalar T>
Tensor<T> binary_op(Binary op, const Tensor<T>& a, const Tensor<T>& b, const char* name,
                    typename autograd::Node<T>::BackwardFn backward) {
  Tensor<T> out = binary_raw(op, a, b, name);
  if (auto* node = autograd::make_node(out, name, backward, {a, b})) {
    node->reads_output = op == Binary::pow;  // pow_backward reads y
    if (op == Binary::add || op == Binary::sub) {  // their rules read only the shapes
      node->keep_shape_only(0);
      node->keep_shape_only(1);
    }
  }
  return out;
}

// ---- unary rules -------------------------------------------------------------------------------
template <class T>
Tensor<T> constant_like(const Tensor<T>& x, T value) {
  return full<T>(x.shape(), value);
}

/// Whether a plain backward's rule may write its result over the incoming gradient g: nothing else refers to g or
/// its storage (no other node's pending gradient, no leaf's .grad, no caller's tensor), so an elementwise rule needs
/// no new tensor of g's size, one less at the peak of a backward pass through large activations.
template <class T>
bool overwritable(const Tensor<T>& g) {
  return !is_grad_enabled() && g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1;
}

// The derivative of each unary function as ops on x (and the output y), times g.
template <class T>
void unary_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const auto op = static_cast<Unary>(n.ints[0]);
  const bool fused = !is_grad_enabled();  // plain backward: one kernel; create_graph: composable ops
  auto fused_grad = [&](Binary rule, const Tensor<T>& arg) {
    // over g when it may be (silu's and tanh-GELU's rules use their output as scratch: never in place)
    if (rule != Binary::silu_grad && rule != Binary::gelu_tanh_grad && arg.shape() == g.shape() && overwritable(g)) {
      kernels::binary(rule, g.data(), arg.data(), g.data(), g.numel());
      grads[0] = g;
    } else {
      grads[0] = binary_raw(rule, g, arg, n.name);
    }
  };
  switch (op) {
    case Unary::neg: grads[0] = neg(g); break;
    case Unary::exp: grads[0] = mul(g, n.output_tensor()); break;
    case Unary::log: grads[0] = div(g, x); break;
    case Unary::sqrt: grads[0] = div(mul_scalar(g, T(0.5)), n.output_tensor()); break;
    case Unary::rsqrt: {  // d x^(-1/2) = -1/2 y³
      const Tensor<T> y = n.output_tensor();
      grads[0] = mul(mul_scalar(g, T(-0.5)), mul(y, mul(y, y)));
      break;
    }
    case Unary::abs: grads[0] = mul(g, unary_raw(Unary::sign, x)); break;
    case Unary::sin: grads[0] = mul(g, cos(x)); break;
    case Unary::cos: grads[0] = neg(mul(g, sin(x))); break;
    case Unary::square: grads[0] = mul(g, mul_scalar(x, T(2))); break;
    case Unary::erf: {  // d erf(x) = 2/√π e^{-x²}
      grads[0] = mul(g, mul_scalar(exp(neg(mul(x, x))), T(2) / std::sqrt(std::numbers::pi_v<T>)));
      break;
    }
    case Unary::log1p: grads[0] = div(g, add_scalar(x, T(1))); break;
    case Unary::expm1: grads[0] = mul(g, add_scalar(n.output_tensor(), T(1))); break;
    case Unary::reciprocal: {
      const Tensor<T> y = n.output_tensor();
      grads[0] = neg(mul(g, mul(y, y)));
      break;
    }
    case Unary::relu:  // y > 0 exactly where x > 0: written with y, so that x can be freed
      if (fused) fused_grad(Binary::relu_grad, n.output_tensor());
      else grads[0] = mul(g, unary_raw(Unary::step, n.output_tensor()));
      break;
    case Unary::sigmoid:
      if (fused) fused_grad(Binary::sigmoid_grad, n.output_tensor());
      else {
        const Tensor<T> y = n.output_tensor();
        grads[0] = mul(g, mul(y, unary_scalar_op(UnaryScalar::rsub, y, T(1), "rsub")));
      }
      break;
    case Unary::tanh:
      if (fused) fused_grad(Binary::tanh_grad, n.output_tensor());
      else {
        const Tensor<T> y = n.output_tensor();
        grads[0] = mul(g, unary_scalar_op(UnaryScalar::rsub, mul(y, y), T(1), "rsub"));
      }
      break;
    case Unary::silu:  // s (1 + x (1 - s)), s = sigmoid(x)
      if (fused) fused_grad(Binary::silu_grad, x);
      else {
        const Tensor<T> s = unary_op(Unary::sigmoid, x, "sigmoid");
        grads[0] = mul(g, mul(s, add_scalar(mul(x, unary_scalar_op(UnaryScalar::rsub, s, T(1), "rsub")), T(1))));
      }
      break;
    case Unary::softplus:  // sigmoid(x)
      if (fused) fused_grad(Binary::softplus_grad, x);
      else grads[0] = mul(g, unary_op(Unary::sigmoid, x, "sigmoid"));
      break;
    case Unary::gelu:  // Φ(x) + x φ(x)
      if (fused) fused_grad(Binary::gelu_grad, x);
      else {
        const Tensor<T> cdf = mul_scalar(add_scalar(unary_op(Unary::erf, mul_scalar(x, T(std::numbers::sqrt2 / 2)), "erf"), T(1)), T(0.5));
        const Tensor<T> pdf = mul_scalar(exp(mul_scalar(mul(x, x), T(-0.5))), T(1 / std::sqrt(2 * std::numbers::pi)));
        grads[0] = mul(g, add(cdf, mul(x, pdf)));
      }
      break;
    case Unary::gelu_tanh:  // ½(1 + t) + ½ x (1 - t²) c (1 + 3k x²), t = tanh(c (x + k x³))
      if (fused) fused_grad(Binary::gelu_tanh_grad, x);
      else {
        const T c = T(0.79788456080286535588), k = T(0.044715);
        const Tensor<T> x2 = mul(x, x);
        const Tensor<T> t = unary_op(Unary::tanh, mul_scalar(add(x, mul_scalar(mul(x2, x), k)), c), "tanh");
        const Tensor<T> d1 = mul_scalar(add_scalar(t, T(1)), T(0.5));
        const Tensor<T> d2 = mul(mul_scalar(x, T(0.5) * c), mul(unary_scalar_op(UnaryScalar::rsub, mul(t, t), T(1), "rsub"), add_scalar(mul_scalar(x2, 3 * k), T(1))));
        grads[0] = mul(g, add(d1, d2));
      }
      break;
    case Unary::sign:
    case Unary::step: break;  // piecewise constant: zero gradient
  }
}

template <Scalar T>
Tensor<T> unary_op(Unary op, const Tensor<T>& x, const char* name) {
  Tensor<T> out = unary_raw(op, x);
  if (auto* node = autograd::make_node(out, name, &unary_backward<T>, {x})) {
    node->ints[0] = static_cast<index_t>(op);
    // the rules written with the output y alone: x is not needed
    node->reads_output = op == Unary::exp || op == Unary::sqrt || op == Unary::rsqrt || op == Unary::expm1 ||
                         op == Unary::reciprocal || op == Unary::sigmoid || op == Unary::tanh || op == Unary::relu;
    if (node->reads_output || op == Unary::neg) node->keep_shape_only(0);
  }
  return out;
}

// Unary with a scalar argument: add (g), mul (g s), rsub (-g), pow (g s x^(s-1)), rpow (g y ln s),
// clamp (g where inside), leaky_relu (g where x > 0 else g s). Comparisons have no gradient.
template <class T>
void unary_scalar_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const T s = static_cast<T>(n.reals[0]);
  switch (static_cast<UnaryScalar>(n.ints[0])) {
    case UnaryScalar::add: grads[0] = g; break;
    case UnaryScalar::mul: grads[0] = mul_scalar(g, s); break;
    case UnaryScalar::rsub: grads[0] = neg(g); break;
    case UnaryScalar::pow:
      if (s == T(0)) break;
      grads[0] = mul(g, mul_scalar(s == T(2) ? x : unary_scalar_op(UnaryScalar::pow, x, s - T(1), "pow"), s));
      break;
    case UnaryScalar::rpow: grads[0] = mul(g, mul_scalar(n.output_tensor(), std::log(s))); break;
    case UnaryScalar::clamp_min: grads[0] = mul(g, unary_scalar_raw(UnaryScalar::ge, x, s)); break;
    case UnaryScalar::clamp_max: grads[0] = mul(g, unary_scalar_raw(UnaryScalar::le, x, s)); break;
    case UnaryScalar::leaky_relu: {
      // slope where x <= 0, 1 where x > 0: step(x) (1 - s) + s; with s >= 0, y > 0 exactly where x > 0, and the
      // rule reads y so that x can be freed
      const Tensor<T> ref = s >= T(0) ? n.output_tensor() : x;
      if (!is_grad_enabled()) {  // plain backward: one pass, over g when it may be
        const Tensor<T> out = overwritable(g) ? g : Tensor<T>::empty(g.shape());
        kernels::leaky_relu_grad(g.data(), ref.data(), s, out.data(), g.numel());
        grads[0] = out;
        break;
      }
      Tensor<T> factor = unary_raw(Unary::step, ref);
      kernels::unary_scalar(UnaryScalar::mul, factor.data(), T(1) - s, factor.data(), factor.numel());
      kernels::unary_scalar(UnaryScalar::add, factor.data(), s, factor.data(), factor.numel());
      grads[0] = mul(g, factor);
      break;
    }
    default: break;  // comparisons
  }
}

template <Scalar T>
Tensor<T> unary_scalar_op(UnaryScalar op, const Tensor<T>& x, T s, const char* name) {
  Tensor<T> out = unary_scalar_raw(op, x, s);
  if (auto* node = autograd::make_node(out, name, &unary_scalar_backward<T>, {x})) {
    node->ints[0] = static_cast<index_t>(op);
    node->reals[0] = static_cast<double>(s);
    node->reads_output = op == UnaryScalar::rpow || (op == UnaryScalar::leaky_relu && s >= T(0));
    // rules that read only the shape of x, or (leaky_relu) the output
    if (op == UnaryScalar::add || op == UnaryScalar::mul || op == UnaryScalar::rsub || (op == UnaryScalar::leaky_relu && s >= T(0)))
      node->keep_shape_only(0);
  }
  return out;
}

}  // namespace ops_detail

// ---- public API ---------------------------------------------------------------------------------

template <Scalar T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  return ops_detail::binary_op(kernels::Binary::add, a, b, "add", &ops_detail::add_backward<T>);
}
template <Scalar T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  return ops_detail::binary_op(kernels::Binary::sub, a, b, "sub", &ops_detail::sub_backward<T>);
}
template <Scalar T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  return ops_detail::binary_op(kernels::Binary::mul, a, b, "mul", &ops_detail::mul_backward<T>);
}
template <Scalar T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  return ops_detail::binary_op(kernels::Binary::div, a, b, "div", &ops_detail::div_backward<T>);
}

namespace ops_detail {
// pow(a, b) with tensor exponent: da = g b a^(b-1), db = g y ln a. As in PyTorch, da = 0 where b = 0 and
// db = 0 where a = 0 and b >= 0 (the formulas give 0 · ∞ there; 0^b is flat in b).
template <class T>
void pow_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& a = n.inputs[0];
  const Tensor<T>& b = n.inputs[1];
  const Tensor<T> zero = scalar_tensor<T>(T(0));
  if (n.needs_grad(0))
    grads[0] = sum_to(mul(g, where(unary_scalar_raw(UnaryScalar::eq, b, T(0)), zero, mul(b, pow(a, add_scalar(b, T(-1)))))), a.shape());
  if (n.needs_grad(1)) {
    const Tensor<T> flat = mul(unary_scalar_raw(UnaryScalar::eq, a, T(0)), unary_scalar_raw(UnaryScalar::ge, b, T(0)));
    grads[1] = sum_to(mul(g, where(flat, zero, mul(n.output_tensor(), unary_op(Unary::log, a, "log")))), b.shape());
  }
}
}  // namespace ops_detail

template <Scalar T>
Tensor<T> pow(const Tensor<T>& a, const Tensor<T>& b) {
  return ops_detail::binary_op(kernels::Binary::pow, a, b, "pow", &ops_detail::pow_backward<T>);
}
template <Scalar T>
Tensor<T> pow(const Tensor<T>& x, T exponent) { return ops_detail::unary_scalar_op(kernels::UnaryScalar::pow, x, exponent, "pow"); }

template <Scalar T>
Tensor<T> add_scalar(const Tensor<T>& x, T s) { return ops_detail::unary_scalar_op(kernels::UnaryScalar::add, x, s, "add"); }
template <Scalar T>
Tensor<T> mul_scalar(const Tensor<T>& x, T s) { return ops_detail::unary_scalar_op(kernels::UnaryScalar::mul, x, s, "mul"); }

template <Scalar T> Tensor<T> neg(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::neg, x, "neg"); }
template <Scalar T> Tensor<T> exp(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::exp, x, "exp"); }
template <Scalar T> Tensor<T> log(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::log, x, "log"); }
template <Scalar T> Tensor<T> sqrt(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::sqrt, x, "sqrt"); }
template <Scalar T> Tensor<T> rsqrt(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::rsqrt, x, "rsqrt"); }
template <Scalar T> Tensor<T> abs(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::abs, x, "abs"); }
template <Scalar T> Tensor<T> sin(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::sin, x, "sin"); }
template <Scalar T> Tensor<T> cos(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::cos, x, "cos"); }
template <Scalar T> Tensor<T> square(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::square, x, "square"); }
template <Scalar T> Tensor<T> erf(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::erf, x, "erf"); }
template <Scalar T> Tensor<T> log1p(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::log1p, x, "log1p"); }
template <Scalar T> Tensor<T> expm1(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::expm1, x, "expm1"); }
template <Scalar T> Tensor<T> reciprocal(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::reciprocal, x, "reciprocal"); }
/// -1, 0 or 1 (no gradient).
template <Scalar T> Tensor<T> sign(const Tensor<T>& x) { return ops_detail::unary_raw(kernels::Unary::sign, x); }

/// Clamps to [low, high]; the gradient passes where low <= x <= high, as in PyTorch.
template <Scalar T>
Tensor<T> clamp(const Tensor<T>& x, T low, T high) {
  LATENT_CHECK(!(low > high), ValueError, "clamp: min " + std::to_string(low) + " > max " + std::to_string(high));
  return ops_detail::unary_scalar_op(kernels::UnaryScalar::clamp_max, ops_detail::unary_scalar_op(kernels::UnaryScalar::clamp_min, x, low, "clamp"), high, "clamp");
}
template <Scalar T>
Tensor<T> clamp_min(const Tensor<T>& x, T low) { return ops_detail::unary_scalar_op(kernels::UnaryScalar::clamp_min, x, low, "clamp_min"); }
template <Scalar T>
Tensor<T> clamp_max(const Tensor<T>& x, T high) { return ops_detail::unary_scalar_op(kernels::UnaryScalar::clamp_max, x, high, "clamp_max"); }

// Comparisons: 1 where true, 0 where false, in the input's type; no gradient flows through them.
template <Scalar T> Tensor<T> gt(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw(kernels::Binary::gt, a, b, "gt"); }
template <Scalar T> Tensor<T> lt(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw(kernels::Binary::lt, a, b, "lt"); }
template <Scalar T> Tensor<T> ge(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw(kernels::Binary::ge, a, b, "ge"); }
template <Scalar T> Tensor<T> le(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw(kernels::Binary::le, a, b, "le"); }
template <Scalar T> Tensor<T> eq(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw(kernels::Binary::eq, a, b, "eq"); }
template <Scalar T> Tensor<T> ne(const Tensor<T>& a, const Tensor<T>& b) { return ops_detail::binary_raw(kernels::Binary::ne, a, b, "ne"); }
template <Scalar T> Tensor<T> gt(const Tensor<T>& a, T s) { return ops_detail::unary_scalar_raw(kernels::UnaryScalar::gt, a, s); }
template <Scalar T> Tensor<T> lt(const Tensor<T>& a, T s) { return ops_detail::unary_scalar_raw(kernels::UnaryScalar::lt, a, s); }
template <Scalar T> Tensor<T> ge(const Tensor<T>& a, T s) { return ops_detail::unary_scalar_raw(kernels::UnaryScalar::ge, a, s); }
template <Scalar T> Tensor<T> le(const Tensor<T>& a, T s) { return ops_detail::unary_scalar_raw(kernels::UnaryScalar::le, a, s); }
template <Scalar T> Tensor<T> eq(const Tensor<T>& a, T s) { return ops_detail::unary_scalar_raw(kernels::UnaryScalar::eq, a, s); }
template <Scalar T> Tensor<T> ne(const Tensor<T>& a, T s) { return ops_detail::unary_scalar_raw(kernels::UnaryScalar::ne, a, s); }

namespace ops_detail {
// where(c, a, b): da = where(c, g, 0), db = where(c, 0, g)
template <class T>
void where_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& c = n.inputs[0];
  const Tensor<T> zero = scalar_tensor<T>(T(0));
  if (n.needs_grad(1)) grads[1] = sum_to(where(c, g, zero), n.inputs[1].shape());
  if (n.needs_grad(2)) grads[2] = sum_to(where(c, zero, g), n.inputs[2].shape());
}
}  // namespace ops_detail

/// a where cond != 0, else b; all three broadcast together. Differentiable in a and b.
template <Scalar T>
Tensor<T> where(const Tensor<T>& cond, const Tensor<T>& a, const Tensor<T>& b) {
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  auto out = Tensor<T>::empty(shape);
  {
    NoGradGuard raw;
    const Tensor<T> c = cond.shape() == shape ? cond : expand(cond, shape);
    const Tensor<T> x = a.shape() == shape ? a : expand(a, shape);
    const Tensor<T> y = b.shape() == shape ? b : expand(b, shape);
    kernels::where(c.data(), x.data(), y.data(), out.data(), out.numel());
  }
  autograd::make_node(out, "where", &ops_detail::where_backward<T>, {cond, a, b});
  return out;
}

// ---- operators ----------------------------------------------------------------------------------
template <Scalar T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <Scalar T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <Scalar T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <Scalar T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <Scalar T> Tensor<T> operator-(const Tensor<T>& x) { return neg(x); }
template <Scalar T> Tensor<T> operator+(const Tensor<T>& x, std::type_identity_t<T> s) { return add_scalar(x, s); }
template <Scalar T> Tensor<T> operator+(std::type_identity_t<T> s, const Tensor<T>& x) { return add_scalar(x, s); }
template <Scalar T> Tensor<T> operator-(const Tensor<T>& x, std::type_identity_t<T> s) { return add_scalar(x, -s); }
template <Scalar T> Tensor<T> operator-(std::type_identity_t<T> s, const Tensor<T>& x) {
  return ops_detail::unary_scalar_op(kernels::UnaryScalar::rsub, x, s, "rsub");
}
template <Scalar T> Tensor<T> operator*(const Tensor<T>& x, std::type_identity_t<T> s) { return mul_scalar(x, s); }
template <Scalar T> Tensor<T> operator*(std::type_identity_t<T> s, const Tensor<T>& x) { return mul_scalar(x, s); }
template <Scalar T> Tensor<T> operator/(const Tensor<T>& x, std::type_identity_t<T> s) { return mul_scalar(x, T(1) / s); }
template <Scalar T> Tensor<T> operator/(std::type_identity_t<T> s, const Tensor<T>& x) { return mul_scalar(reciprocal(x), s); }

}  // namespace latent
