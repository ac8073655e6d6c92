// matmul (2-D, batched, broadcasting batch dimensions, 1-D vectors) and linear(x, W, b) = x Wᵀ + b with
// the bias fused into the GEMM; gelu_linear, the product of an activation that keeps the activation's input only.
// Transposes in gradients are GEMM flags, never copies.
#pragma once

#include "../kernels/gemm.hpp"
#include "activation.hpp"
#include "shape_ops.hpp"

namespace latent {
namespace ops_detail {

template <Scalar T>
Tensor<T> mm(const Tensor<T>& a, const Tensor<T>& b, bool ta, bool tb, bool batched);

/// The gradient `grad` of one operand of a product, brought to that operand's shape: summed over a batch the operand
/// was broadcast along, or (an operand read as a matrix) given back its leading dimensions.
template <class T>
Tensor<T> fit_operand(const Tensor<T>& grad, const Tensor<T>& input, bool batched) {
  if (grad.shape() == input.shape()) return grad;
  return batched ? sum(grad, 0, true) : reshape(grad, input.shape());
}

// C = op(A) op(B):  d op(A) = G op(B)ᵀ,  d op(B) = op(A)ᵀ G   (transposed back when the operand was)
template <class T>
void mm_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& a = n.inputs[0];
  const Tensor<T>& b = n.inputs[1];
  const bool ta = n.ints[0] != 0, tb = n.ints[1] != 0, batched = n.ints[2] != 0;
  if (n.needs_grad(0)) grads[0] = fit_operand(ta ? mm(b, g, tb, true, batched) : mm(g, b, false, !tb, batched), a, batched);
  if (n.needs_grad(1)) grads[1] = fit_operand(tb ? mm(g, a, true, ta, batched) : mm(a, g, !ta, false, batched), b, batched);
}

/// C = op(A) op(B), one graph node whatever the operands' ranks (a matmul of [1,1] matrices costs one node, not the
/// four that reshapes around a batched product would record).
/// - batched: A and B are 3-D [Ba, ., .] and [Bb, ., .] with Ba == Bb or one of them 1 (broadcast); C is [B, M, N].
/// - not batched: each operand is read as the matrix [rows, last dimension], its leading dimensions flattened into
///   rows; C keeps A's leading dimensions ([..., N]) when A is not transposed and is [M, N] when it is.
template <Scalar T>
Tensor<T> mm(const Tensor<T>& a, const Tensor<T>& b, bool ta, bool tb, bool batched) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const index_t ca = sa.back(), ra = batched ? sa[1] : sa.prod(0, sa.rank() - 1);
  const index_t cb = sb.back(), rb = batched ? sb[1] : sb.prod(0, sb.rank() - 1);
  const index_t M = ta ? ca : ra, K = ta ? ra : ca, N = tb ? rb : cb;
  Tensor<T> out;
  if (batched) {
    const index_t batch = std::max(sa[0], sb[0]);
    out = Tensor<T>::empty({batch, M, N});
    kernels::gemm_batched(ta, tb, batch, M, N, K, T(1), a.data(), sa[0] == 1 ? 0 : M * K, b.data(), sb[0] == 1 ? 0 : K * N,
                          T(0), out.data(), M * N);
  } else {
    Shape os = ta ? Shape{M, N} : sa;
    os[os.rank() - 1] = N;
    out = Tensor<T>::empty(os);
    kernels::gemm(ta, tb, M, N, K, T(1), a.data(), b.data(), T(0), out.data());
  }
  if (auto* node = autograd::make_node(out, "matmul", &mm_backward<T>, {a, b})) {
    node->ints[0] = ta;
    node->ints[1] = tb;
    node->ints[2] = batched;
  }
  return out;
}

}  // namespace ops_detail

/// Matrix product with PyTorch's rules: [M,K] x [K,N]; [...,M,K] x [...,K,N] with broadcast batch
/// dimensions; a 1-D operand is a vector (its dimension is removed from the result).
template <Scalar T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
  LATENT_CHECK(a.rank() >= 1 && b.rank() >= 1, ShapeError, "matmul: " + a.shape().str() + " x " + b.shape().str() + ": operands must have rank >= 1");
  {  // checked on the caller's shapes, before vectors are turned into matrices
    const index_t K = a.shape().back(), Kb = b.rank() == 1 ? b.shape()[0] : b.shape()[b.rank() - 2];
    LATENT_CHECK(K == Kb, ShapeError,
                 "matmul: " + a.shape().str() + " x " + b.shape().str() + ": inner dimensions " + std::to_string(K) + " and " +
                     std::to_string(Kb) + " differ");
  }
  if (a.rank() == 1 && b.rank() == 1) return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, 1)), Shape{});  // dot product
  if (a.rank() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.rank() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const index_t M = sa[sa.rank() - 2], K = sa.back(), N = sb.back();
  if (b.rank() == 2) {  // [..., M, K] x [K, N]: one GEMM over all rows
    return ops_detail::mm(a, b, false, false, false);
  }
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(ba, bb, "matmul");
  } catch (const ShapeError&) {
    throw ShapeError("matmul: " + sa.str() + " x " + sb.str() + ": batch dimensions " + ba.str() + " and " + bb.str() + " do not broadcast");
  }
  const index_t B = batch.numel();
  auto as3 = [&](const Tensor<T>& x, const Shape& xb, index_t rows, index_t cols) {
    if (xb.numel() == 1) return reshape(x, Shape{1, rows, cols});
    Shape full = batch;
    full.push_back(rows);
    full.push_back(cols);
    return reshape(expand(x, full), Shape{B, rows, cols});
  };
  Shape os = batch;
  os.push_back(M);
  os.push_back(N);
  return reshape(ops_detail::mm(as3(a, ba, M, K), as3(b, bb, K, N), false, false, true), os);
}

namespace ops_detail {
// y = x Wᵀ + b:  dx = g W,  dW = gᵀ x,  db = Σ_rows g
template <class T>
void linear_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const Tensor<T>& w = n.inputs[1];
  if (n.needs_grad(0)) grads[0] = mm(g, w, false, false, false);  // [..., out] x [out, in] -> x's shape
  if (n.needs_grad(1)) grads[1] = mm(g, x, true, false, false);   // [rows, out]ᵀ x [rows, in] -> [out, in]
  if (n.inputs.size() > 2 && n.needs_grad(2)) {
    const index_t rows = x.shape().prod(0, x.rank() - 1), out = w.shape()[0];
    grads[2] = sum(reshape(g, Shape{rows, out}), 0);
  }
}
}  // namespace ops_detail

/// y = x Wᵀ + b for x [..., in], W [out, in], b [out] (optional: pass an undefined tensor).
template <Scalar T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>()) {
  check_rank("linear", "weight", weight.shape(), 2);
  const index_t out_features = weight.shape()[0], in_features = weight.shape()[1];
  LATENT_CHECK(x.rank() >= 1 && x.shape().back() == in_features, ShapeError,
               "linear: input " + x.shape().str() + " x weight " + weight.shape().str() + ": input has " +
                   std::to_string(x.rank() ? x.shape().back() : 0) + " features, weight expects " + std::to_string(in_features));
  if (bias.defined())
    LATENT_CHECK(bias.rank() == 1 && bias.shape()[0] == out_features, ShapeError,
                 "linear: bias " + bias.shape().str() + " does not match weight " + weight.shape().str());
  Shape os = x.shape();
  os[os.rank() - 1] = out_features;
  auto y = Tensor<T>::empty(os);
  const index_t rows = x.shape().prod(0, x.rank() - 1);
  if (bias.defined()) {
    kernels::broadcast_rows(bias.data(), y.data(), rows, out_features);
    kernels::gemm(false, true, rows, out_features, in_features, T(1), x.data(), weight.data(), T(1), y.data());
  } else {
    kernels::gemm(false, true, rows, out_features, in_features, T(1), x.data(), weight.data(), T(0), y.data());
  }
  if (bias.defined()) autograd::make_node(y, "linear", &ops_detail::linear_backward<T>, {x, weight, bias});
  else autograd::make_node(y, "linear", &ops_detail::linear_backward<T>, {x, weight});
  return y;
}

namespace ops_detail {
/// y = act(h) Wᵀ + b, act gelu or gelu_tanh: the node keeps h and recomputes a = act(h) in the backward,
///   dW = gᵀ a,  db = Σ_rows g,  dh = act'(h) ⊙ (g W)  (exact GELU: in place over g W, one hidden-sized temporary).
template <class T>
void activation_linear_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& h = n.inputs[0];
  const Tensor<T>& w = n.inputs[1];
  const auto act = static_cast<kernels::Unary>(n.ints[0]);
  if (n.needs_grad(1)) grads[1] = mm(g, unary_op(act, h, n.name), true, false, false);  // an op: create_graph reaches h
  if (n.inputs.size() > 2 && n.needs_grad(2)) grads[2] = sum(reshape(g, Shape{h.shape().prod(0, h.rank() - 1), w.shape()[0]}), 0);
  if (n.needs_grad(0)) {
    // the activation's own rule applied to dL/da = g W: its fused kernel (in place over g W, which nothing else
    // holds, where the rule allows it), or its ops under create_graph
    autograd::Node<T> activation;
    activation.name = n.name;
    activation.inputs.push_back(h);
    activation.ints[0] = static_cast<index_t>(act);
    const Tensor<T> da = mm(g, w, false, false, false);
    autograd::TensorList<T> dh;
    dh.resize(1);
    unary_backward(activation, da, dh);
    grads[0] = dh[0];
  }
}

template <Scalar T>
Tensor<T> activation_linear(kernels::Unary act, const char* name, const Tensor<T>& h, const Tensor<T>& weight, const Tensor<T>& bias) {
  Tensor<T> y;
  {
    NoGradGuard no_grad;  // act(h) lives only as long as the product needs it
    y = linear(unary_raw(act, h), weight, bias);
  }
  if (auto* node = bias.defined() ? autograd::make_node(y, name, &activation_linear_backward<T>, {h, weight, bias})
                                  : autograd::make_node(y, name, &activation_linear_backward<T>, {h, weight}))
    node->ints[0] = static_cast<index_t>(act);
  return y;
}
}  // namespace ops_detail

/// linear(gelu(h, approximate), W, b) as one graph node that keeps h but not gelu(h): the backward computes gelu(h)
/// again. A transformer MLP's hidden activations are its largest saved tensors, and this halves them (on W3's
/// char-GPT, 6 of the 40 MiB a training step holds at its peak) for one more pass of the GELU over h in the backward.
/// Same values and gradients (of any order) as the composition.
template <Scalar T>
Tensor<T> gelu_linear(const Tensor<T>& h, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                      GeluApproximation approximate = GeluApproximation::none) {
  return ops_detail::activation_linear(approximate == GeluApproximation::none ? kernels::Unary::gelu : kernels::Unary::gelu_tanh,
                                       "gelu_linear", h, weight, bias);
}

}  // namespace latent
