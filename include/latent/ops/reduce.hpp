// Reductions with keepdim: sum, mean, var, max, min, argmax, argmin, logsumexp over one dimension,
// several, or all; and sum_to, which reduces a broadcast gradient back to an input's shape.
#pragma once

#include <array>
#include <string>

#include "../kernels/reduce.hpp"
#include "elementwise.hpp"

namespace latent {
namespace ops_detail {

struct ReduceGeometry {
  index_t outer, R, inner;
  Shape keep, drop;  // output shape with the dimension kept as 1, and removed
};

/// Which dimensions `dims` names (wrapped), rejecting a dimension listed twice as PyTorch does.
inline std::array<bool, Shape::max_rank> dim_mask(const Shape& s, const Dims& dims, const char* op) {
  std::array<bool, Shape::max_rank> mask{};
  for (int d : dims) {
    const int w = wrap_dim(d, s.rank(), op);
    LATENT_CHECK(!mask[static_cast<std::size_t>(w)], ShapeError,
                 std::string(op) + ": dimension " + std::to_string(w) + " repeated in " + dims.str() + " for " + s.str());
    mask[static_cast<std::size_t>(w)] = true;
  }
  return mask;
}

inline ReduceGeometry reduce_geometry(const Shape& s, int dim) {
  ReduceGeometry g{s.prod(0, dim), s[dim], s.prod(dim + 1, s.rank()), s, s};
  g.keep[dim] = 1;
  g.drop.erase(dim);
  return g;
}

// sum over one dimension: dx = expand(g with the dimension restored as 1, x.shape)
template <class T>
void sum_dim_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = expand(reshape(g, n.shape), n.inputs[0].shape());
}
// logsumexp: dx = g e^{x - y}
template <class T>
void logsumexp_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T> y = reshape(n.output_tensor(), n.shape);
  grads[0] = mul(reshape(g, n.shape), exp(sub(n.inputs[0], y)));
}

template <Scalar T>
Tensor<T> reduce_dim(kernels::Reduce op, const Tensor<T>& x, int dim, bool keepdim, const char* name) {
  dim = wrap_dim(dim, x.rank(), name);
  if (x.rank() == 0) dim = 0;
  const Shape& s = x.shape();
  ReduceGeometry g = x.rank() == 0 ? ReduceGeometry{1, 1, 1, s, s} : reduce_geometry(s, dim);
  LATENT_CHECK(g.R > 0 || op == kernels::Reduce::sum || op == kernels::Reduce::mean, ShapeError,
               std::string(name) + ": cannot reduce an empty dimension " + std::to_string(dim) + " of " + s.str());
  auto out = Tensor<T>::empty(keepdim ? g.keep : g.drop);
  kernels::reduce(op, x.data(), out.data(), g.outer, g.R, g.inner);
  auto backward = op == kernels::Reduce::logsumexp ? &logsumexp_backward<T> : &sum_dim_backward<T>;
  if (auto* node = autograd::make_node(out, name, backward, {x})) {
    node->shape = g.keep;
    node->reads_output = op == kernels::Reduce::logsumexp;
    if (!node->reads_output) node->keep_shape_only(0);  // sum and mean read only x's shape
  }
  return out;
}

}  // namespace ops_detail

/// Sum over dimension `dim`.
template <Scalar T>
Tensor<T> sum(const Tensor<T>& x, int dim, bool keepdim) {
  return ops_detail::reduce_dim(kernels::Reduce::sum, x, dim, keepdim, "sum");
}

/// Sum over several dimensions. Adjacent dimensions that are both summed (or both kept) are merged first, so that a
/// bias gradient's sum over {0, 2, 3} of [N, C, H, W] is two passes over [N, C, H·W] rather than three, the first of
/// them over rows of H·W elements instead of W.
template <Scalar T>
Tensor<T> sum(const Tensor<T>& x, const Dims& dims, bool keepdim) {
  const auto reduce_dim = ops_detail::dim_mask(x.shape(), dims, "sum");
  Shape merged, keep_shape, drop_shape;
  std::array<bool, Shape::max_rank> merged_reduced{};
  for (int d = 0; d < x.rank(); ++d) {
    const bool reduced = reduce_dim[static_cast<std::size_t>(d)];
    keep_shape.push_back(reduced ? 1 : x.shape()[d]);
    if (!reduced) drop_shape.push_back(x.shape()[d]);
    if (d > 0 && reduced == reduce_dim[static_cast<std::size_t>(d - 1)]) {
      merged[merged.rank() - 1] *= x.shape()[d];
    } else {
      merged_reduced[static_cast<std::size_t>(merged.rank())] = reduced;
      merged.push_back(x.shape()[d]);
    }
  }
  Tensor<T> y = merged.rank() == x.rank() ? x : reshape(x, merged);
  for (int d = merged.rank() - 1; d >= 0; --d)
    if (merged_reduced[static_cast<std::size_t>(d)]) y = sum(y, d, true);
  return reshape(y, keepdim ? keep_shape : drop_shape);
}

/// Sum of all elements, a 0-dimensional tensor.
template <Scalar T>
Tensor<T> sum(const Tensor<T>& x) {
  return sum(reshape(x, Shape{x.numel()}), 0, false);
}

template <Scalar T>
Tensor<T> mean(const Tensor<T>& x, int dim, bool keepdim = false) {
  dim = wrap_dim(dim, x.rank(), "mean");
  const index_t n = x.rank() == 0 ? 1 : x.shape()[dim];
  return mul_scalar(sum(x, dim, keepdim), T(1) / static_cast<T>(n));
}
template <Scalar T>
Tensor<T> mean(const Tensor<T>& x, const Dims& dims, bool keepdim = false) {
  const auto reduced = ops_detail::dim_mask(x.shape(), dims, "mean");
  index_t n = 1;
  for (int d = 0; d < x.rank(); ++d)
    if (reduced[static_cast<std::size_t>(d)]) n *= x.shape()[d];
  return mul_scalar(sum(x, dims, keepdim), T(1) / static_cast<T>(n));
}
template <Scalar T>
Tensor<T> mean(const Tensor<T>& x) {
  return mul_scalar(sum(x), T(1) / static_cast<T>(x.numel()));
}

/// Variance over `dim` with Bessel's `correction` (1 = unbiased, torch.var's default).
template <Scalar T>
Tensor<T> var(const Tensor<T>& x, int dim, index_t correction = 1, bool keepdim = false) {
  dim = wrap_dim(dim, x.rank(), "var");
  const Tensor<T> centered = sub(x, mean(x, dim, true));
  const index_t n = x.rank() == 0 ? 1 : x.shape()[dim];
  return mul_scalar(sum(mul(centered, centered), dim, keepdim), T(1) / static_cast<T>(std::max<index_t>(n - correction, 0)));
}
template <Scalar T>
Tensor<T> var(const Tensor<T>& x, index_t correction = 1) {
  return var(reshape(x, Shape{x.numel()}), 0, correction, false);
}

/// log Σ exp(x) over `dim`, computed stably.
template <Scalar T>
Tensor<T> logsumexp(const Tensor<T>& x, int dim, bool keepdim = false) {
  return ops_detail::reduce_dim(kernels::Reduce::logsumexp, x, dim, keepdim, "logsumexp");
}

namespace ops_detail {
/// Index of the largest (or smallest) value along `dim`, first on ties; `name` is the op the user called.
template <Scalar T>
Tensor<std::int64_t> arg_extreme(const Tensor<T>& x, int dim, bool keepdim, bool is_max, const char* name) {
  dim = wrap_dim(dim, x.rank(), name);
  if (x.rank() == 0) return zeros<std::int64_t>(Shape{});  // a 0-d tensor is its own extreme, at index 0
  LATENT_CHECK(x.size(dim) > 0, ShapeError, std::string(name) + ": empty dimension " + std::to_string(dim) + " of " + x.shape().str());
  const auto g = reduce_geometry(x.shape(), dim);
  auto out = Tensor<std::int64_t>::empty(keepdim ? g.keep : g.drop);
  kernels::argreduce(is_max, x.data(), out.data(), g.outer, g.R, g.inner);
  return out;
}
/// The extreme values along `dim`, gathered at their index so that the gradient goes to that element.
template <Scalar T>
Tensor<T> extreme(const Tensor<T>& x, int dim, bool keepdim, bool is_max, const char* name) {
  const Tensor<std::int64_t> index = arg_extreme(x, dim, true, is_max, name);
  if (x.rank() == 0) return x;
  const Tensor<T> values = gather(x, dim, index);
  return keepdim ? values : reshape(values, reduce_geometry(x.shape(), wrap_dim(dim, x.rank(), name)).drop);
}
}  // namespace ops_detail

/// Index of the largest value along `dim` (first on ties).
template <Scalar T>
Tensor<std::int64_t> argmax(const Tensor<T>& x, int dim, bool keepdim = false) {
  return ops_detail::arg_extreme(x, dim, keepdim, true, "argmax");
}
template <Scalar T>
Tensor<std::int64_t> argmin(const Tensor<T>& x, int dim, bool keepdim = false) {
  return ops_detail::arg_extreme(x, dim, keepdim, false, "argmin");
}

/// Largest value along `dim`; the gradient goes to the (first) maximal element, as in PyTorch.
template <Scalar T>
Tensor<T> max(const Tensor<T>& x, int dim, bool keepdim = false) {
  return ops_detail::extreme(x, dim, keepdim, true, "max");
}
template <Scalar T>
Tensor<T> min(const Tensor<T>& x, int dim, bool keepdim = false) {
  return ops_detail::extreme(x, dim, keepdim, false, "min");
}
/// Largest / smallest of all elements (0-dimensional).
template <Scalar T>
Tensor<T> max(const Tensor<T>& x) { return max(reshape(x, Shape{x.numel()}), 0); }
template <Scalar T>
Tensor<T> min(const Tensor<T>& x) { return min(reshape(x, Shape{x.numel()}), 0); }

/// Sums a broadcast tensor back to `shape` (the gradient rule of broadcasting).
template <Scalar T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int lead = x.rank() - shape.rank();
  LATENT_CHECK(lead >= 0, ShapeError, "sum_to: cannot reduce " + x.shape().str() + " to " + shape.str());
  Dims dims;
  for (int i = 0; i < x.rank(); ++i) {
    if (i < lead) dims.push_back(i);
    else if (shape[i - lead] == 1 && x.shape()[i] != 1) dims.push_back(i);
    else LATENT_CHECK(shape[i - lead] == x.shape()[i], ShapeError, "sum_to: cannot reduce " + x.shape().str() + " to " + shape.str());
  }
  if (dims.size() == 0) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

}  // namespace latent
