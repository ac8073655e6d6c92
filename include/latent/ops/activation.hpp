// Activations: relu, leaky_relu, gelu (exact erf or tanh approximation), silu, sigmoid, tanh, softplus.
// Their plain backward is one fused kernel; under create_graph it is written with ops (second order).
#pragma once

#include "elementwise.hpp"

namespace latent {

template <Scalar T> Tensor<T> relu(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::relu, x, "relu"); }
template <Scalar T> Tensor<T> sigmoid(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::sigmoid, x, "sigmoid"); }
template <Scalar T> Tensor<T> tanh(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::tanh, x, "tanh"); }
/// x * sigmoid(x)
template <Scalar T> Tensor<T> silu(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::silu, x, "silu"); }
/// log(1 + e^x), linear above 20 (PyTorch's beta = 1, threshold = 20).
template <Scalar T> Tensor<T> softplus(const Tensor<T>& x) { return ops_detail::unary_op(kernels::Unary::softplus, x, "softplus"); }

enum class GeluApproximation { none, tanh };
/// x Φ(x); with GeluApproximation::tanh, PyTorch's approximate='tanh'.
template <Scalar T>
Tensor<T> gelu(const Tensor<T>& x, GeluApproximation approximate = GeluApproximation::none) {
  return approximate == GeluApproximation::none ? ops_detail::unary_op(kernels::Unary::gelu, x, "gelu")
                                                : ops_detail::unary_op(kernels::Unary::gelu_tanh, x, "gelu");
}
/// x where x > 0, negative_slope * x elsewhere (PyTorch default slope 0.01).
template <Scalar T>
Tensor<T> leaky_relu(const Tensor<T>& x, T negative_slope = T(0.01)) {
  return ops_detail::unary_scalar_op(kernels::UnaryScalar::leaky_relu, x, negative_slope, "leaky_relu");
}

}  // namespace latent
