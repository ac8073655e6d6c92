// Normalisation, functional forms: layer_norm, group_norm, batch_norm (with running statistics).
// Written with differentiable ops, so second-order gradients (penalties through a normalised
// critic) come for free.
#pragma once

#include "shape_ops.hpp"

namespace latent {

namespace ops_detail {
/// (x - mean) / sqrt(var + eps) over `dims` (biased variance).
template <Scalar T>
Tensor<T> normalize(const Tensor<T>& x, const Dims& dims, double eps) {
  const Tensor<T> centered = sub(x, mean(x, dims, true));
  const Tensor<T> v = mean(mul(centered, centered), dims, true);
  return mul(centered, rsqrt(add_scalar(v, static_cast<T>(eps))));
}
}  // namespace ops_detail

/// Normalises over the last `normalized_dims` dimensions, then y = x̂ ⊙ weight + bias (either may be
/// undefined). weight/bias have the shape of those dimensions.
template <Scalar T>
Tensor<T> layer_norm(const Tensor<T>& x, int normalized_dims, const Tensor<T>& weight = {}, const Tensor<T>& bias = {}, double eps = 1e-5) {
  LATENT_CHECK(normalized_dims >= 1 && normalized_dims <= x.rank(), ShapeError,
               "layer_norm: cannot normalise the last " + std::to_string(normalized_dims) + " dimensions of " + x.shape().str());
  Dims dims;
  Shape affine;
  for (int d = x.rank() - normalized_dims; d < x.rank(); ++d) {
    dims.push_back(d);
    affine.push_back(x.shape()[d]);
  }
  if (weight.defined()) check_same_shape("layer_norm", "weight", weight.shape(), "normalized shape", affine);
  if (bias.defined()) check_same_shape("layer_norm", "bias", bias.shape(), "normalized shape", affine);
  Tensor<T> y = ops_detail::normalize(x, dims, eps);
  if (weight.defined()) y = mul(y, weight);
  if (bias.defined()) y = add(y, bias);
  return y;
}

namespace ops_detail {
/// weight/bias of shape [C] viewed as [1, C, 1, ...] for an input of rank r.
template <Scalar T>
Tensor<T> channel_view(const Tensor<T>& t, int rank) {
  Shape s{1, t.numel()};
  for (int i = 2; i < rank; ++i) s.push_back(1);
  return reshape(t, s);
}
}  // namespace ops_detail

/// Group normalisation of x [N, C, ...] with `groups` groups of C / groups channels.
template <Scalar T>
Tensor<T> group_norm(const Tensor<T>& x, index_t groups, const Tensor<T>& weight = {}, const Tensor<T>& bias = {}, double eps = 1e-5) {
  LATENT_CHECK(x.rank() >= 2, ShapeError, "group_norm: input " + x.shape().str() + " must be [N, C, ...]");
  const index_t N = x.shape()[0], C = x.shape()[1];
  LATENT_CHECK(groups > 0 && C % groups == 0, ShapeError,
               "group_norm: " + std::to_string(C) + " channels of input " + x.shape().str() + " are not divisible into " + std::to_string(groups) + " groups");
  if (weight.defined()) check_same_shape("group_norm", "weight", weight.shape(), "channels", Shape{C});
  if (bias.defined()) check_same_shape("group_norm", "bias", bias.shape(), "channels", Shape{C});
  Tensor<T> y = reshape(ops_detail::normalize(reshape(x, Shape{N, groups, x.numel() / (N * groups)}), {2}, eps), x.shape());
  if (weight.defined()) y = mul(y, ops_detail::channel_view(weight, x.rank()));
  if (bias.defined()) y = add(y, ops_detail::channel_view(bias, x.rank()));
  return y;
}

/// Batch normalisation of x [N, C] or [N, C, ...]. In training, normalises with the batch statistics
/// and updates running_mean/running_var in place (momentum as in PyTorch, unbiased running variance);
/// in evaluation, uses the running statistics. Undefined running tensors mean none are tracked.
template <Scalar T>
Tensor<T> batch_norm(const Tensor<T>& x, const Tensor<T>& running_mean, const Tensor<T>& running_var, const Tensor<T>& weight,
                     const Tensor<T>& bias, bool training, double momentum = 0.1, double eps = 1e-5) {
  LATENT_CHECK(x.rank() >= 2, ShapeError, "batch_norm: input " + x.shape().str() + " must be [N, C, ...]");
  const index_t C = x.shape()[1];
  for (const Tensor<T>* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined()) check_same_shape("batch_norm", "parameter", t->shape(), "channels", Shape{C});
  LATENT_CHECK(running_mean.defined() == running_var.defined(), ValueError,
               "batch_norm: running_mean and running_var must be given together (or neither)");
  Dims dims{0};
  for (int d = 2; d < x.rank(); ++d) dims.push_back(d);
  Tensor<T> y;
  if (training || !running_mean.defined()) {
    const index_t count = x.numel() / C;
    LATENT_CHECK(count > 1 || !training, ValueError, "batch_norm: training needs more than one value per channel, got input " + x.shape().str());
    const Tensor<T> m = mean(x, dims, true);
    const Tensor<T> centered = sub(x, m);
    const Tensor<T> v = mean(mul(centered, centered), dims, true);
    y = mul(centered, rsqrt(add_scalar(v, static_cast<T>(eps))));
    if (training && running_mean.defined()) {
      NoGradGuard no_grad;
      const T mom = static_cast<T>(momentum);
      const T unbias = static_cast<T>(count) / static_cast<T>(count - 1);
      const Tensor<T> new_mean = add(mul_scalar(running_mean, T(1) - mom), mul_scalar(reshape(m, Shape{C}), mom));
      const Tensor<T> new_var = add(mul_scalar(running_var, T(1) - mom), mul_scalar(reshape(v, Shape{C}), mom * unbias));
      const_cast<Tensor<T>&>(running_mean).copy_(new_mean);
      const_cast<Tensor<T>&>(running_var).copy_(new_var);
    }
  } else {
    const Tensor<T> m = ops_detail::channel_view(running_mean, x.rank());
    const Tensor<T> v = ops_detail::channel_view(running_var, x.rank());
    y = mul(sub(x, m), rsqrt(add_scalar(v, static_cast<T>(eps))));
  }
  if (weight.defined()) y = mul(y, ops_detail::channel_view(weight, x.rank()));
  if (bias.defined()) y = add(y, ops_detail::channel_view(bias, x.rank()));
  return y;
}

}  // namespace latent
