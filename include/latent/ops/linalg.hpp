// matmul (2-D, batched, broadcasting batch dimensions, 1-D vectors) and linear(x, W, b) = x Wᵀ + b with
// the bias fused into the GEMM. Transposes in gradients are GEMM flags, never copies.
#pragma once

#include "../kernels/gemm.hpp"
#include "shape_ops.hpp"

namespace latent {
namespace ops_detail {

template <Scalar T>
Tensor<T> mm3(const Tensor<T>& a, const Tensor<T>& b, bool ta, bool tb);

/// Gradient of one operand of C = op(A) op(B), summed over a batch that operand was broadcast along.
template <class T>
Tensor<T> batch_reduce(const Tensor<T>& grad, const Tensor<T>& input) {
  return grad.shape()[0] == input.shape()[0] ? grad : sum(grad, 0, true);
}

// C = op(A) op(B):  d op(A) = G op(B)ᵀ,  d op(B) = op(A)ᵀ G   (transposed back when the operand was)
template <class T>
void mm3_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& a = n.inputs[0];
  const Tensor<T>& b = n.inputs[1];
  const bool ta = n.ints[0] != 0, tb = n.ints[1] != 0;
  if (n.needs_grad(0)) grads[0] = batch_reduce(ta ? mm3(b, g, tb, true) : mm3(g, b, false, !tb), a);
  if (n.needs_grad(1)) grads[1] = batch_reduce(tb ? mm3(g, a, true, ta) : mm3(a, g, !ta, false), b);
}

/// Batched product of 3-D tensors [Ba, ., .] x [Bb, ., .] with Ba == Bb or one of them 1 (broadcast).
template <Scalar T>
Tensor<T> mm3(const Tensor<T>& a, const Tensor<T>& b, bool ta, bool tb) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const index_t M = ta ? sa[2] : sa[1], K = ta ? sa[1] : sa[2];
  const index_t Kb = tb ? sb[2] : sb[1], N = tb ? sb[1] : sb[2];
  const index_t batch = std::max(sa[0], sb[0]);
  auto out = Tensor<T>::empty({batch, M, N});
  kernels::gemm_batched(ta, tb, batch, M, N, K, T(1), a.data(), sa[0] == 1 ? 0 : M * K, b.data(), sb[0] == 1 ? 0 : Kb * N, T(0),
                        out.data(), M * N);
  if (auto* node = autograd::make_node(out, "matmul", &mm3_backward<T>, {a, b})) {
    node->ints[0] = ta;
    node->ints[1] = tb;
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
    Shape os = sa;
    os[os.rank() - 1] = N;
    return reshape(ops_detail::mm3(reshape(a, Shape{1, sa.prod(0, sa.rank() - 1), K}), reshape(b, Shape{1, K, N}), false, false), os);
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
  return reshape(ops_detail::mm3(as3(a, ba, M, K), as3(b, bb, K, N), false, false), os);
}

namespace ops_detail {
// y = x Wᵀ + b:  dx = g W,  dW = gᵀ x,  db = Σ_rows g
template <class T>
void linear_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& x = n.inputs[0];
  const Tensor<T>& w = n.inputs[1];
  const index_t in = w.shape()[1], out = w.shape()[0], rows = x.shape().prod(0, x.rank() - 1);
  const Tensor<T> g3 = reshape(g, Shape{1, rows, out});
  if (n.needs_grad(0)) grads[0] = reshape(mm3(g3, reshape(w, Shape{1, out, in}), false, false), x.shape());
  if (n.needs_grad(1)) grads[1] = reshape(mm3(g3, reshape(x, Shape{1, rows, in}), true, false), w.shape());
  if (n.inputs.size() > 2 && n.needs_grad(2)) grads[2] = sum(reshape(g, Shape{rows, out}), 0);
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

}  // namespace latent
