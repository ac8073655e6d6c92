// Element-wise kernels on Eigen array maps: unary functions, unary-with-scalar, binary (same shape,
// scalar-broadcast and general strided broadcasting), and the fused derivative formulas that
// activations' backward passes use when no second-order graph is needed.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "eigen.hpp"
#include "parallel.hpp"

namespace latent::kernels {

enum class Unary {
  neg, exp, log, sqrt, rsqrt, abs, sign, sin, cos, tanh, sigmoid, relu, square, erf, log1p, expm1,
  reciprocal, softplus, silu, gelu, gelu_tanh, step  // step: 1 where x > 0, else 0
};

namespace detail {
/// What an element costs, in simple operations (an add, a multiply, a comparison), for deciding whether an
/// element-wise op is worth splitting over threads. A transcendental function (Eigen's vectorized exp, log, erf,
/// tanh, logistic: tens of instructions per vector) is counted as 16, a division or a square root as 4. Measured on
/// an Intel Xeon (AVX-512, one thread, 100k floats in L2): a multiply 0.10 ns per element, a log 0.53, BCE's two
/// logs 1.19.
inline constexpr index_t simple_cost = 1, divide_cost = 4, transcendental_cost = 16;

inline index_t element_cost(Unary op) {
  switch (op) {
    case Unary::exp: case Unary::log: case Unary::sin: case Unary::cos: case Unary::tanh: case Unary::sigmoid:
    case Unary::erf: case Unary::log1p: case Unary::expm1: case Unary::softplus: case Unary::silu: case Unary::gelu:
    case Unary::gelu_tanh:
      return transcendental_cost;
    case Unary::sqrt: case Unary::rsqrt: case Unary::reciprocal:
      return divide_cost;
    default:
      return simple_cost;
  }
}

/// Element-wise work (elements x element_cost) from which an op is split over the threads: when its time on one thread
/// (~0.03 ns per unit of work) is about ten fork/joins, 333 units per nanosecond of the measured fork/join
/// (fork_join_ns()), clamped to [2^17, 2^21]. On an Intel Xeon (fork/join 0.75 µs) that is 250k: a transcendental
/// function splits from 16k elements (W4's SiLU on 256 x 128); on an AMD Zen 5 cloud machine (3.3 µs), 1.1M, from
/// 69k elements (W1's BCE on 100k, two logs per element). W3's and W3b's exact GELU and its gradient (393k and 3.1M
/// elements) split on both.
inline index_t elementwise_split_work() {
  static const index_t work = fork_join_scaled(333.0, index_t{1} << 17, index_t{1} << 21);
  return work;
}
/// A simple op (an add, a copy) splits only from 1M elements (4 MiB of floats per operand) whatever the fork/join
/// costs: it is bound by memory, and its operands were usually just written by the calling thread, so the other
/// core would first fetch its half of them from the first core's cache, which costs about what it saves.
inline constexpr index_t simple_split_elements = index_t{1} << 20;

/// Whether n elements of this cost are worth splitting over threads (see elementwise_split_work()).
inline bool split_pays(index_t n, index_t cost) {
  // available_threads() first: elementwise_split_work() measures a fork/join once, which needs a team
  return available_threads() > 1 && n * cost >= elementwise_split_work() && (cost != simple_cost || n >= simple_split_elements);
}

/// Calls fn(begin, count) on [0, n) of an output y: once with the whole range, or, when the split pays
/// (split_pays), on one run per thread. Each run but the first starts where y is 64-byte aligned: Eigen computes the
/// elements before its first aligned packet and after its last one with scalar code (the standard library's exp and
/// log rather than its vectorized approximations), so runs that break only at aligned addresses give the results of
/// one whole call, bit for bit.
template <class T, class Fn>
void for_each_run(const T* y, index_t n, index_t cost, Fn&& fn) {
  if (!split_pays(n, cost)) {
    fn(index_t{0}, n);
    return;
  }
  const index_t threads = available_threads();
  constexpr index_t line = 64 / index_t{sizeof(T)};
  const auto address = reinterpret_cast<std::uintptr_t>(y);
  const index_t head = index_t((64 - address % 64) % 64 / sizeof(T));  // elements before the first aligned one
  const index_t run = (n / threads + line - 1) / line * line;
  const auto bound = [&](index_t r) { return r == 0 ? index_t{0} : r == threads ? n : std::min(n, head + r * run); };
  parallel_for(0, threads, n * cost, [&](index_t r) {
    const index_t begin = bound(r), end = bound(r + 1);
    if (end > begin) fn(begin, end - begin);
  });
}

/// unary() on one run of elements.
template <class T>
void unary_run(Unary op, const T* x, T* y, index_t n) {
  const ConstArrayMap<T> a(x, n);
  ArrayMap<T> o(y, n);
  constexpr T half = T(0.5), one = T(1);
  constexpr T inv_sqrt2 = T(0.70710678118654752440), sqrt_2_over_pi = T(0.79788456080286535588);
  switch (op) {
    case Unary::neg: o = -a; break;
    case Unary::exp: o = a.exp(); break;
    case Unary::log: o = a.log(); break;
    case Unary::sqrt: o = a.sqrt(); break;
    case Unary::rsqrt: o = a.rsqrt(); break;
    case Unary::abs: o = a.abs(); break;
    case Unary::sign: o = a.sign(); break;
    case Unary::sin: o = a.sin(); break;
    case Unary::cos: o = a.cos(); break;
    case Unary::tanh: o = a.tanh(); break;
    case Unary::sigmoid: o = a.logistic(); break;
    case Unary::relu: o = a.max(T(0)); break;
    case Unary::square: o = a.square(); break;
    case Unary::erf: o = a.erf(); break;
    case Unary::log1p: o = a.log1p(); break;
    case Unary::expm1: o = a.expm1(); break;
    case Unary::reciprocal: o = a.inverse(); break;
    // softplus(x) = log(1 + e^x), with PyTorch's threshold: x > 20 gives x.
    case Unary::softplus: o = (a > T(20)).select(a, a.max(T(0)) + (-a.abs()).exp().log1p()); break;
    case Unary::silu: o = a * a.logistic(); break;
    // gelu(x) = x Φ(x) = x (1 + erf(x / √2)) / 2
    case Unary::gelu: o = half * a * (one + (a * inv_sqrt2).erf()); break;
    // tanh approximation: x (1 + tanh(√(2/π) (x + 0.044715 x³))) / 2
    case Unary::gelu_tanh: o = half * a * (one + (sqrt_2_over_pi * (a + T(0.044715) * a.cube())).tanh()); break;
    case Unary::step: o = (a > T(0)).template cast<T>(); break;
  }
}
}  // namespace detail

/// y = f(x) for n elements (y may alias x), split over threads when the work is large (detail::for_each_run).
template <class T>
void unary(Unary op, const T* x, T* y, index_t n) {
  detail::for_each_run(y, n, detail::element_cost(op),
                       [&](index_t begin, index_t count) { detail::unary_run(op, x + begin, y + begin, count); });
}

enum class UnaryScalar { add, mul, rsub, pow, rpow, clamp_min, clamp_max, leaky_relu, gt, lt, ge, le, eq, ne };

namespace detail {
/// unary_scalar() on one run of elements.
template <class T>
void unary_scalar_run(UnaryScalar op, const T* x, T s, T* y, index_t n) {
  const ConstArrayMap<T> a(x, n);
  ArrayMap<T> o(y, n);
  switch (op) {
    case UnaryScalar::add: o = a + s; break;
    case UnaryScalar::mul: o = a * s; break;
    case UnaryScalar::rsub: o = s - a; break;
    case UnaryScalar::pow:
      if (s == T(2)) o = a.square();
      else if (s == T(0.5)) o = a.sqrt();
      else if (s == T(1)) o = a;
      else o = a.pow(s);
      break;
    case UnaryScalar::rpow: o = Eigen::Array<T, Eigen::Dynamic, 1>::Constant(n, s).pow(a); break;
    case UnaryScalar::clamp_min: o = a.max(s); break;
    case UnaryScalar::clamp_max: o = a.min(s); break;
    case UnaryScalar::leaky_relu: o = (a > T(0)).select(a, s * a); break;
    case UnaryScalar::gt: o = (a > s).template cast<T>(); break;
    case UnaryScalar::lt: o = (a < s).template cast<T>(); break;
    case UnaryScalar::ge: o = (a >= s).template cast<T>(); break;
    case UnaryScalar::le: o = (a <= s).template cast<T>(); break;
    case UnaryScalar::eq: o = (a == s).template cast<T>(); break;
    case UnaryScalar::ne: o = (a != s).template cast<T>(); break;
  }
}

/// A power (but pow by 2, 0.5 and 1: a square, a square root and a copy in unary_scalar_run) costs a transcendental
/// function; the other scalar ops are simple.
template <class T>
index_t element_cost(UnaryScalar op, T s) {
  const bool power = (op == UnaryScalar::pow && s != T(2) && s != T(0.5) && s != T(1)) || op == UnaryScalar::rpow;
  return power ? transcendental_cost : simple_cost;
}
}  // namespace detail

/// y = f(x, s) for n elements; rsub = s - x, rpow = s^x, comparisons give 1 or 0. Split over threads when the work
/// is large (detail::for_each_run).
template <class T>
void unary_scalar(UnaryScalar op, const T* x, T s, T* y, index_t n) {
  detail::for_each_run(y, n, detail::element_cost(op, s),
                       [&](index_t begin, index_t count) { detail::unary_scalar_run(op, x + begin, s, y + begin, count); });
}

/// Binary ops. The *_grad entries are fused backward formulas g ⊙ f'(·): the first operand is the
/// incoming gradient g, the second what the derivative needs (x, or the output y where noted).
enum class Binary {
  add, sub, mul, div, pow, maximum, minimum, gt, lt, ge, le, eq, ne,
  relu_grad,       // g * (x > 0)
  sigmoid_grad,    // g * y (1 - y), y = sigmoid(x)
  tanh_grad,       // g * (1 - y²), y = tanh(x)
  silu_grad,       // g * s (1 + x (1 - s)), s = sigmoid(x)
  gelu_grad,       // g * (Φ(x) + x φ(x))
  gelu_tanh_grad,  // g * d/dx of the tanh approximation
  softplus_grad,   // g * sigmoid(x) (x <= 20), g (x > 20)
  bce,             // -(y max(log p, -100) + (1 - y) max(log(1 - p), -100)), a = p, b = y
  bce_grad,        // (p - y) / max(p (1 - p), 1e-12), a = p, b = y
};

namespace detail {
/// Evaluates op on array expressions (both arrays, or one a scalar).
template <class T, class A, class B>
void binary_expr_eval(Binary op, const A& a, const B& b, ArrayMap<T>& o) {
  constexpr T half = T(0.5), one = T(1);
  constexpr T inv_sqrt2 = T(0.70710678118654752440), inv_sqrt_2pi = T(0.39894228040143267794);
  constexpr T c = T(0.79788456080286535588), k = T(0.044715);
  switch (op) {
    case Binary::add: o = a + b; break;
    case Binary::sub: o = a - b; break;
    case Binary::mul: o = a * b; break;
    case Binary::div: o = a / b; break;
    case Binary::pow: o = a.pow(b); break;
    case Binary::maximum: o = a.max(b); break;
    case Binary::minimum: o = a.min(b); break;
    case Binary::gt: o = (a > b).template cast<T>(); break;
    case Binary::lt: o = (a < b).template cast<T>(); break;
    case Binary::ge: o = (a >= b).template cast<T>(); break;
    case Binary::le: o = (a <= b).template cast<T>(); break;
    case Binary::eq: o = (a == b).template cast<T>(); break;
    case Binary::ne: o = (a != b).template cast<T>(); break;
    case Binary::relu_grad: o = (b > T(0)).select(a, T(0)); break;
    case Binary::sigmoid_grad: o = a * b * (one - b); break;
    case Binary::tanh_grad: o = a * (one - b.square()); break;
    case Binary::silu_grad: {
      o = b.logistic();
      o = a * o * (one + b * (one - o));
      break;
    }
    case Binary::gelu_grad: o = a * (half * (one + (b * inv_sqrt2).erf()) + b * inv_sqrt_2pi * (-half * b.square()).exp()); break;
    case Binary::gelu_tanh_grad: {
      o = (c * (b + k * b.cube())).tanh();  // t
      o = a * (half * (one + o) + half * b * (one - o.square()) * c * (one + T(3) * k * b.square()));
      break;
    }
    case Binary::softplus_grad: o = (b > T(20)).select(a, a * b.logistic()); break;
    case Binary::bce: o = -(b * a.log().max(T(-100)) + (one - b) * (one - a).log().max(T(-100))); break;
    case Binary::bce_grad: o = (a - b) / (a * (one - a)).max(T(1e-12)); break;
  }
}
}  // namespace detail

namespace detail {
inline index_t element_cost(Binary op) {
  switch (op) {
    case Binary::pow: case Binary::silu_grad: case Binary::gelu_grad: case Binary::gelu_tanh_grad:
    case Binary::softplus_grad: case Binary::bce:
      return transcendental_cost;
    case Binary::div: case Binary::bce_grad:
      return divide_cost;
    default:
      return simple_cost;
  }
}
}  // namespace detail

/// y = a op b, all n elements (y may alias a or b, except for the fused grads that reuse y), split over threads
/// when the work is large (detail::for_each_run).
template <class T>
void binary(Binary op, const T* a, const T* b, T* y, index_t n) {
  detail::for_each_run(y, n, detail::element_cost(op), [&](index_t begin, index_t count) {
    const ConstArrayMap<T> x1(a + begin, count), x2(b + begin, count);
    ArrayMap<T> o(y + begin, count);
    detail::binary_expr_eval<T>(op, x1, x2, o);
  });
}

/// out = g where ref > 0, else slope · g: the gradient of leaky_relu, ref its input (or its output when slope >= 0).
/// out may alias g.
template <class T>
void leaky_relu_grad(const T* g, const T* ref, T slope, T* out, index_t n) {
  const ConstArrayMap<T> gm(g, n), r(ref, n);
  ArrayMap<T>(out, n) = (r > T(0)).select(gm, gm * slope);
}

/// General broadcasting: out has `shape` (rank r); a and b are read with element strides sa, sb
/// (0 along broadcast dimensions). Dimensions are merged where possible and the innermost run is an
/// Eigen expression (array-array, scalar-array or array-scalar).
template <class T, std::size_t R>
void binary_broadcast(Binary op, const T* a, const std::array<index_t, R>& sa, const T* b, const std::array<index_t, R>& sb,
                      T* y, const std::array<index_t, R>& shape, int rank) {
  // Merge adjacent dimensions that are contiguous in a, b and out alike.
  std::array<index_t, R> d{}, s1{}, s2{};
  int m = 0;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] == 1) continue;
    if (m > 0 && s1[m - 1] == sa[i] * shape[i] && s2[m - 1] == sb[i] * shape[i]) {
      d[m - 1] *= shape[i];
      s1[m - 1] = sa[i];
      s2[m - 1] = sb[i];
    } else {
      d[m] = shape[i], s1[m] = sa[i], s2[m] = sb[i];
      ++m;
    }
  }
  if (m == 0) {  // a single element
    d[0] = 1, s1[0] = 0, s2[0] = 0, m = 1;
  }
  const index_t inner = d[m - 1];
  index_t outer = 1;
  for (int i = 0; i < m - 1; ++i) outer *= d[i];
  auto run = [&](index_t o) {
    index_t rem = o, oa = 0, ob = 0;
    for (int i = m - 2; i >= 0; --i) {
      const index_t idx = rem % d[i];
      rem /= d[i];
      oa += idx * s1[i];
      ob += idx * s2[i];
    }
    ArrayMap<T> out(y + o * inner, inner);
    const T* pa = a + oa;
    const T* pb = b + ob;
    const index_t ia = s1[m - 1], ib = s2[m - 1];
    if (ia == 1 && ib == 1) {
      detail::binary_expr_eval<T>(op, ConstArrayMap<T>(pa, inner), ConstArrayMap<T>(pb, inner), out);
    } else if (ia == 0 && ib == 1) {
      detail::binary_expr_eval<T>(op, Eigen::Array<T, Eigen::Dynamic, 1>::Constant(inner, *pa), ConstArrayMap<T>(pb, inner), out);
    } else if (ia == 1 && ib == 0) {
      detail::binary_expr_eval<T>(op, ConstArrayMap<T>(pa, inner), Eigen::Array<T, Eigen::Dynamic, 1>::Constant(inner, *pb), out);
    } else {
      detail::binary_expr_eval<T>(op, Eigen::Array<T, Eigen::Dynamic, 1>::Constant(inner, *pa),
                                  Eigen::Array<T, Eigen::Dynamic, 1>::Constant(inner, *pb), out);
    }
  };
  // Rows over threads under the rule of the same-shape ops (detail::split_pays).
  if (!detail::split_pays(outer * inner, detail::element_cost(op))) {
    for (index_t o = 0; o < outer; ++o) run(o);
    return;
  }
  parallel_for(0, outer, outer * inner * detail::element_cost(op), run);
}

/// y = where(c != 0, a, b) elementwise (same shapes).
template <class T>
void where(const T* c, const T* a, const T* b, T* y, index_t n) {
  ArrayMap<T>(y, n) = (ConstArrayMap<T>(c, n) != T(0)).select(ConstArrayMap<T>(a, n), ConstArrayMap<T>(b, n));
}

template <class T>
void fill(T* y, index_t n, T value) {
  ArrayMap<T>(y, n).setConstant(value);
}

/// y += alpha * x
template <class T>
void axpy(T alpha, const T* x, T* y, index_t n) {
  ArrayMap<T>(y, n) += alpha * ConstArrayMap<T>(x, n);
}

}  // namespace latent::kernels
