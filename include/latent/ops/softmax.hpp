// softmax and log_softmax along any dimension.
#pragma once

#include "../kernels/softmax.hpp"
#include "shape_ops.hpp"

namespace latent {
namespace ops_detail {

// softmax: dx = y ⊙ (g - Σ g ⊙ y)
template <class T>
void softmax_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const int dim = static_cast<int>(n.ints[0]);
  const Tensor<T> y = n.output_tensor();
  grads[0] = mul(y, sub(g, sum(mul(g, y), dim, true)));
}
// log_softmax: dx = g - e^y Σ g
template <class T>
void log_softmax_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const int dim = static_cast<int>(n.ints[0]);
  grads[0] = sub(g, mul(exp(n.output_tensor()), sum(g, dim, true)));
}

template <Scalar T>
Tensor<T> softmax_impl(const Tensor<T>& x, int dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  dim = wrap_dim(dim, x.rank(), name);
  auto out = Tensor<T>::empty(x.shape());
  if (x.numel() > 0) {
    const Shape& s = x.shape();
    const index_t R = x.rank() == 0 ? 1 : s[dim];
    kernels::softmax(log, x.data(), out.data(), x.rank() == 0 ? 1 : s.prod(0, dim), R, x.rank() == 0 ? 1 : s.prod(dim + 1, s.rank()));
  }
  if (auto* node = autograd::make_node(out, name, log ? &log_softmax_backward<T> : &softmax_backward<T>, {x})) {
    node->ints[0] = dim;
    node->reads_output = true;
    node->keep_shape_only(0);  // both rules read only y
  }
  return out;
}

}  // namespace ops_detail

template <Scalar T>
Tensor<T> softmax(const Tensor<T>& x, int dim = -1) { return ops_detail::softmax_impl(x, dim, false); }
template <Scalar T>
Tensor<T> log_softmax(const Tensor<T>& x, int dim = -1) { return ops_detail::softmax_impl(x, dim, true); }

}  // namespace latent
