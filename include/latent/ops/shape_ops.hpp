// Shape and indexing ops: reshape/view/flatten/squeeze/unsqueeze (no copy), permute/transpose,
// narrow/select, index_select/gather/embedding, cat/stack/split/chunk, expand. Each with its gradient.
#pragma once

#include <initializer_list>
#include <vector>

#include "../kernels/copy.hpp"
#include "reduce.hpp"

namespace latent {
namespace ops_detail {

// reshape: dx = reshape(g, x.shape)
template <class T>
void reshape_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = reshape(g, n.inputs[0].shape());
}

}  // namespace ops_detail

/// Same elements in another shape (no copy: shares storage). One dimension may be -1 (inferred).
template <Element T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  LATENT_CHECK(shape.numel() == x.numel(), ShapeError,
               "reshape: cannot reshape " + x.shape().str() + " (" + std::to_string(x.numel()) + " elements) into " + shape.str() + " (" +
                   std::to_string(shape.numel()) + " elements)");
  Tensor<T> out = x.view_as_shape(shape);
  if constexpr (Scalar<T>) {
    // Every rule in this file reads only its inputs' shapes: the nodes keep stand-ins (Node::keep_shape_only), so
    // that an activation reshaped, permuted or sliced is not held by the view's node until the backward.
    if (auto* node = autograd::make_node(out, "reshape", &ops_detail::reshape_backward<T>, {x})) node->keep_shape_only(0);
  }
  return out;
}
/// reshape with an inferred dimension: view(x, {B, -1}).
template <Element T>
Tensor<T> view(const Tensor<T>& x, std::initializer_list<index_t> dims) {
  Shape requested;
  int infer = -1;
  index_t known = 1;
  int i = 0;
  for (index_t d : dims) {
    if (d == -1) {
      LATENT_CHECK(infer < 0, ShapeError, "view: more than one -1");
      infer = i;
      requested.push_back(1);
    } else {
      requested.push_back(d);
      known *= d;
    }
    ++i;
  }
  if (infer >= 0) {
    LATENT_CHECK(known > 0 && x.numel() % known == 0, ShapeError,
                 "view: cannot view " + x.shape().str() + " (" + std::to_string(x.numel()) + " elements) with an inferred dimension");
    requested[infer] = x.numel() / known;
  }
  return reshape(x, requested);
}

/// Merges dimensions start..end (inclusive) into one.
template <Element T>
Tensor<T> flatten(const Tensor<T>& x, int start = 0, int end = -1) {
  if (x.rank() == 0) return reshape(x, Shape{1});
  start = wrap_dim(start, x.rank(), "flatten");
  end = wrap_dim(end, x.rank(), "flatten");
  LATENT_CHECK(start <= end, ShapeError, "flatten: start " + std::to_string(start) + " > end " + std::to_string(end));
  Shape s;
  for (int i = 0; i < start; ++i) s.push_back(x.shape()[i]);
  s.push_back(x.shape().prod(start, end + 1));
  for (int i = end + 1; i < x.rank(); ++i) s.push_back(x.shape()[i]);
  return reshape(x, s);
}
/// Inserts a dimension of size 1 at `dim` (negative counts from the end of the result).
template <Element T>
Tensor<T> unsqueeze(const Tensor<T>& x, int dim) {
  dim = wrap_dim(dim, x.rank() + 1, "unsqueeze");
  Shape s = x.shape();
  s.insert(dim, 1);
  return reshape(x, s);
}
namespace ops_detail {
/// Ops that index along a dimension need one: a 0-d tensor has none (PyTorch refuses them too).
inline void check_has_dims(const char* op, const char* what, const Shape& s) {
  LATENT_CHECK(s.rank() >= 1, ShapeError, std::string(op) + ": " + what + " " + s.str() + " is zero-dimensional");
}
}  // namespace ops_detail

/// Removes dimension `dim`, which must have size 1 (a 0-d tensor is returned as it is, as in PyTorch).
template <Element T>
Tensor<T> squeeze(const Tensor<T>& x, int dim) {
  dim = wrap_dim(dim, x.rank(), "squeeze");
  if (x.rank() == 0) return x;
  LATENT_CHECK(x.shape()[dim] == 1, ShapeError,
               "squeeze: dimension " + std::to_string(dim) + " of " + x.shape().str() + " has size " + std::to_string(x.shape()[dim]) + ", not 1");
  Shape s = x.shape();
  s.erase(dim);
  return reshape(x, s);
}

namespace ops_detail {
// permute: dx = permute(g, inverse permutation)
template <class T>
void permute_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  Dims inverse;
  for (int k = 0; k < n.inputs[0].rank(); ++k) inverse.push_back(0);
  for (int k = 0; k < n.inputs[0].rank(); ++k) inverse[static_cast<int>(n.ints[static_cast<std::size_t>(k)])] = k;
  grads[0] = permute(g, inverse);
}
}  // namespace ops_detail

/// Reorders dimensions: output dimension k is input dimension dims[k] (copies into row-major order).
template <Element T>
Tensor<T> permute(const Tensor<T>& x, const Dims& dims) {
  const int r = x.rank();
  LATENT_CHECK(dims.size() == r, ShapeError, "permute: " + dims.str() + " for tensor " + x.shape().str());
  std::array<int, Shape::max_rank> perm{};
  std::array<index_t, Shape::max_rank> in_shape{};
  bool seen[Shape::max_rank] = {};
  bool identity = true;
  Shape out_shape;
  for (int k = 0; k < r; ++k) {
    const int d = wrap_dim(dims[k], r, "permute");
    LATENT_CHECK(!seen[d], ShapeError, "permute: dimension " + std::to_string(d) + " repeated in " + dims.str());
    seen[d] = true;
    perm[static_cast<std::size_t>(k)] = d;
    identity = identity && d == k;
    out_shape.push_back(x.shape()[d]);
    in_shape[static_cast<std::size_t>(k)] = x.shape()[k];
  }
  if (identity) return x;
  auto out = Tensor<T>::empty(out_shape);
  kernels::permute(x.data(), in_shape, perm, r, out.data());
  if constexpr (Scalar<T>) {
    if (auto* node = autograd::make_node(out, "permute", &ops_detail::permute_backward<T>, {x})) {
      for (int k = 0; k < r; ++k) node->ints[static_cast<std::size_t>(k)] = perm[static_cast<std::size_t>(k)];
      node->keep_shape_only(0);
    }
  }
  return out;
}
/// Swaps two dimensions.
template <Element T>
Tensor<T> transpose(const Tensor<T>& x, int dim0, int dim1) {
  dim0 = wrap_dim(dim0, x.rank(), "transpose");
  dim1 = wrap_dim(dim1, x.rank(), "transpose");
  Dims d;
  for (int k = 0; k < x.rank(); ++k) d.push_back(k == dim0 ? dim1 : k == dim1 ? dim0 : k);
  return permute(x, d);
}

namespace ops_detail {
template <Scalar T>
Tensor<T> narrow_pad(const Tensor<T>& g, int dim, index_t start, const Shape& full_shape);

// narrow: dx = g placed at [start, start+len) in zeros
template <class T>
void narrow_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = narrow_pad(g, static_cast<int>(n.ints[0]), n.ints[1], n.inputs[0].shape());
}
// narrow_pad is linear in g: its gradient is the narrow of the incoming gradient
template <class T>
void narrow_pad_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = narrow(g, static_cast<int>(n.ints[0]), n.ints[1], n.inputs[0].shape()[static_cast<int>(n.ints[0])]);
}

template <Scalar T>
Tensor<T> narrow_pad(const Tensor<T>& g, int dim, index_t start, const Shape& full_shape) {
  auto out = zeros<T>(full_shape);
  const Shape& s = g.shape();
  kernels::block_copy(g.data(), out.data(), s.prod(0, dim), full_shape[dim], start, s[dim], s.prod(dim + 1, s.rank()), true);
  if (auto* node = autograd::make_node(out, "narrow_backward", &narrow_pad_backward<T>, {g})) {
    node->keep_shape_only(0);
    node->ints[0] = dim;
    node->ints[1] = start;
  }
  return out;
}
}  // namespace ops_detail

/// Elements start..start+length-1 along `dim` (a copy).
template <Element T>
Tensor<T> narrow(const Tensor<T>& x, int dim, index_t start, index_t length) {
  ops_detail::check_has_dims("narrow", "input", x.shape());
  dim = wrap_dim(dim, x.rank(), "narrow");
  const Shape& s = x.shape();
  LATENT_CHECK(start >= 0 && length >= 0 && start + length <= s[dim], ShapeError,
               "narrow: [" + std::to_string(start) + ", " + std::to_string(start + length) + ") is outside dimension " + std::to_string(dim) +
                   " of " + s.str());
  if (start == 0 && length == s[dim]) return x;
  Shape os = s;
  os[dim] = length;
  auto out = Tensor<T>::empty(os);
  kernels::block_copy(x.data(), out.data(), s.prod(0, dim), s[dim], start, length, s.prod(dim + 1, s.rank()), false);
  if constexpr (Scalar<T>) {
    if (auto* node = autograd::make_node(out, "narrow", &ops_detail::narrow_backward<T>, {x})) {
      node->keep_shape_only(0);
      node->ints[0] = dim;
      node->ints[1] = start;
    }
  }
  return out;
}
/// The slice at `index` along `dim`, with that dimension removed.
template <Element T>
Tensor<T> select(const Tensor<T>& x, int dim, index_t index) {
  ops_detail::check_has_dims("select", "input", x.shape());
  dim = wrap_dim(dim, x.rank(), "select");
  const index_t n = x.shape()[dim];
  LATENT_CHECK(index >= -n && index < n, ShapeError,
               "select: index " + std::to_string(index) + " out of range for dimension " + std::to_string(dim) + " of " + x.shape().str());
  return squeeze(narrow(x, dim, index < 0 ? index + n : index, 1), dim);
}

namespace ops_detail {
inline void check_indices(const char* op, const Tensor<std::int64_t>& index, index_t size, const Shape& input) {
  const std::int64_t* p = index.data();
  for (index_t i = 0; i < index.numel(); ++i)
    LATENT_CHECK(p[i] >= 0 && p[i] < size, ValueError,
                 std::string(op) + ": index " + std::to_string(p[i]) + " out of range [0, " + std::to_string(size) + ") for input " + input.str());
}

template <Scalar T>
Tensor<T> index_add_zeros(const Tensor<T>& src, int dim, const Tensor<std::int64_t>& index, const Shape& full_shape);

// index_select: dx = index_add of g into zeros
template <class T>
void index_select_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = index_add_zeros(g, static_cast<int>(n.ints[0]), n.saved_index, n.inputs[0].shape());
}
template <class T>
void index_add_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = index_select(g, static_cast<int>(n.ints[0]), n.saved_index);
}

/// zeros(full_shape) with src added at rows index[k] along dim (the adjoint of index_select).
template <Scalar T>
Tensor<T> index_add_zeros(const Tensor<T>& src, int dim, const Tensor<std::int64_t>& index, const Shape& full_shape) {
  auto out = zeros<T>(full_shape);
  const Shape& s = src.shape();
  kernels::index_add(src.data(), index.data(), out.data(), s.prod(0, dim), full_shape[dim], s[dim], s.prod(dim + 1, s.rank()));
  if (auto* node = autograd::make_node(out, "index_select_backward", &index_add_backward<T>, {src})) {
    node->keep_shape_only(0);
    node->ints[0] = dim;
    node->saved_index = index;
  }
  return out;
}
}  // namespace ops_detail

/// Rows index[k] along `dim` (index is 1-D).
template <Scalar T>
Tensor<T> index_select(const Tensor<T>& x, int dim, const Tensor<std::int64_t>& index) {
  ops_detail::check_has_dims("index_select", "input", x.shape());
  dim = wrap_dim(dim, x.rank(), "index_select");
  LATENT_CHECK(index.rank() == 1, ShapeError, "index_select: index " + index.shape().str() + " must be 1-D");
  const Shape& s = x.shape();
  ops_detail::check_indices("index_select", index, s[dim], s);
  Shape os = s;
  os[dim] = index.numel();
  auto out = Tensor<T>::empty(os);
  kernels::index_select(x.data(), index.data(), out.data(), s.prod(0, dim), s[dim], index.numel(), s.prod(dim + 1, s.rank()));
  if (auto* node = autograd::make_node(out, "index_select", &ops_detail::index_select_backward<T>, {x})) {
    node->keep_shape_only(0);
    node->ints[0] = dim;
    node->saved_index = index;
  }
  return out;
}

/// Embedding lookup: weight [V, D], integer ids of any shape → [..., D].
template <Scalar T>
Tensor<T> embedding(const Tensor<T>& weight, const Tensor<std::int64_t>& ids) {
  check_rank("embedding", "weight", weight.shape(), 2);
  ops_detail::check_indices("embedding", ids, weight.shape()[0], weight.shape());
  Shape os = ids.shape();
  os.push_back(weight.size(1));
  return reshape(index_select(weight, 0, reshape(ids, Shape{ids.numel()})), os);
}

namespace ops_detail {
template <Scalar T>
Tensor<T> scatter_add_zeros(const Tensor<T>& src, int dim, const Tensor<std::int64_t>& index, const Shape& full_shape);

template <class T>
void gather_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = scatter_add_zeros(g, static_cast<int>(n.ints[0]), n.saved_index, n.inputs[0].shape());
}
template <class T>
void scatter_add_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = gather(g, static_cast<int>(n.ints[0]), n.saved_index);
}

/// zeros(full_shape) with src[j] added at index[j] along dim (the adjoint of gather).
template <Scalar T>
Tensor<T> scatter_add_zeros(const Tensor<T>& src, int dim, const Tensor<std::int64_t>& index, const Shape& full_shape) {
  auto out = zeros<T>(full_shape);
  const Shape& s = index.shape();
  kernels::scatter_add(src.data(), index.data(), out.data(), s.prod(0, dim), full_shape[dim], s[dim], s.prod(dim + 1, s.rank()));
  if (auto* node = autograd::make_node(out, "gather_backward", &scatter_add_backward<T>, {src})) {
    node->keep_shape_only(0);
    node->ints[0] = dim;
    node->saved_index = index;
  }
  return out;
}
}  // namespace ops_detail

/// out[..., k, ...] = x[..., index[..., k, ...], ...] along `dim`. index has x's shape except along dim.
template <Scalar T>
Tensor<T> gather(const Tensor<T>& x, int dim, const Tensor<std::int64_t>& index) {
  ops_detail::check_has_dims("gather", "input", x.shape());
  dim = wrap_dim(dim, x.rank(), "gather");
  const Shape& s = x.shape();
  LATENT_CHECK(index.rank() == x.rank(), ShapeError, "gather: index " + index.shape().str() + " and input " + s.str() + " differ in rank");
  for (int d = 0; d < s.rank(); ++d)
    LATENT_CHECK(d == dim || index.shape()[d] == s[d], ShapeError,
                 "gather: index " + index.shape().str() + " must match input " + s.str() + " except in dimension " + std::to_string(dim));
  ops_detail::check_indices("gather", index, s[dim], s);
  auto out = Tensor<T>::empty(index.shape());
  const Shape& is = index.shape();
  kernels::gather(x.data(), index.data(), out.data(), is.prod(0, dim), s[dim], is[dim], is.prod(dim + 1, is.rank()));
  if (auto* node = autograd::make_node(out, "gather", &ops_detail::gather_backward<T>, {x})) {
    node->keep_shape_only(0);
    node->ints[0] = dim;
    node->saved_index = index;
  }
  return out;
}

namespace ops_detail {
// cat: input i gets the slice of g it filled
template <class T>
void cat_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const int dim = static_cast<int>(n.ints[0]);
  index_t start = 0;
  for (std::size_t i = 0; i < n.inputs.size(); ++i) {
    const index_t len = n.inputs[i].shape()[dim];
    if (n.needs_grad(i)) grads[i] = narrow(g, dim, start, len);
    start += len;
  }
}
}  // namespace ops_detail

/// Concatenates along `dim`; all other dimensions must agree.
template <Scalar T>
Tensor<T> cat(const std::vector<Tensor<T>>& xs, int dim = 0) {
  LATENT_CHECK(!xs.empty(), ValueError, "cat: no tensors given");
  const Shape& s0 = xs[0].shape();
  LATENT_CHECK(s0.rank() >= 1, ShapeError, "cat: tensor 0 " + s0.str() + " is zero-dimensional (stack it instead)");
  dim = wrap_dim(dim, s0.rank(), "cat");
  Shape os = s0;
  os[dim] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    LATENT_CHECK(s.rank() == s0.rank(), ShapeError, "cat: tensor " + std::to_string(i) + " " + s.str() + " and tensor 0 " + s0.str() + " differ in rank");
    for (int d = 0; d < s.rank(); ++d)
      LATENT_CHECK(d == dim || s[d] == s0[d], ShapeError,
                   "cat: tensor " + std::to_string(i) + " " + s.str() + " does not match tensor 0 " + s0.str() + " outside dimension " + std::to_string(dim));
    os[dim] += s[dim];
  }
  auto out = Tensor<T>::empty(os);
  const index_t outer = os.prod(0, dim), inner = os.prod(dim + 1, os.rank());
  index_t start = 0;
  for (const auto& x : xs) {
    kernels::block_copy(x.data(), out.data(), outer, os[dim], start, x.shape()[dim], inner, true);
    start += x.shape()[dim];
  }
  if (auto* node = autograd::make_node_n(out, "cat", &ops_detail::cat_backward<T>, xs)) {
    node->ints[0] = dim;
    for (std::size_t i = 0; i < xs.size(); ++i) node->keep_shape_only(i);
  }
  return out;
}
/// cat({a, b}, dim) without naming the scalar type.
template <Scalar T>
Tensor<T> cat(std::initializer_list<Tensor<T>> xs, int dim = 0) {
  return cat(std::vector<Tensor<T>>(xs), dim);
}

/// Stacks equally shaped tensors along a new dimension `dim`.
template <Scalar T>
Tensor<T> stack(const std::vector<Tensor<T>>& xs, int dim = 0) {
  LATENT_CHECK(!xs.empty(), ValueError, "stack: no tensors given");
  std::vector<Tensor<T>> expanded;
  expanded.reserve(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    LATENT_CHECK(xs[i].shape() == xs[0].shape(), ShapeError,
                 "stack: tensor " + std::to_string(i) + " " + xs[i].shape().str() + " and tensor 0 " + xs[0].shape().str() + " differ");
    expanded.push_back(unsqueeze(xs[i], dim));
  }
  return cat(expanded, dim);
}
/// stack({a, b}, dim) without naming the scalar type.
template <Scalar T>
Tensor<T> stack(std::initializer_list<Tensor<T>> xs, int dim = 0) {
  return stack(std::vector<Tensor<T>>(xs), dim);
}

/// Pieces of `size` along `dim` (the last may be smaller).
template <Scalar T>
std::vector<Tensor<T>> split(const Tensor<T>& x, index_t size, int dim = 0) {
  ops_detail::check_has_dims("split", "input", x.shape());
  dim = wrap_dim(dim, x.rank(), "split");
  LATENT_CHECK(size > 0, ValueError, "split: size " + std::to_string(size) + " must be positive");
  std::vector<Tensor<T>> parts;
  for (index_t start = 0; start < x.shape()[dim]; start += size)
    parts.push_back(narrow(x, dim, start, std::min(size, x.shape()[dim] - start)));
  return parts;
}
/// `chunks` pieces of equal size along `dim` (the last may be smaller), like torch.chunk.
template <Scalar T>
std::vector<Tensor<T>> chunk(const Tensor<T>& x, index_t chunks, int dim = 0) {
  ops_detail::check_has_dims("chunk", "input", x.shape());
  LATENT_CHECK(chunks > 0, ValueError, "chunk: chunks " + std::to_string(chunks) + " must be positive");
  dim = wrap_dim(dim, x.rank(), "chunk");
  const index_t n = x.shape()[dim];
  return split(x, std::max<index_t>((n + chunks - 1) / chunks, 1), dim);
}

namespace ops_detail {
// expand: dx = sum_to(g, x.shape)
template <class T>
void expand_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  grads[0] = sum_to(g, n.inputs[0].shape());
}
}  // namespace ops_detail

/// Broadcasts x to `shape` (materialised copy).
template <Scalar T>
Tensor<T> expand(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const Shape b = broadcast_shapes(x.shape(), shape, "expand");
  LATENT_CHECK(b == shape, ShapeError, "expand: " + x.shape().str() + " cannot be expanded to " + shape.str());
  auto out = Tensor<T>::empty(shape);
  std::array<index_t, Shape::max_rank> dims{}, no_strides{};
  for (int i = 0; i < shape.rank(); ++i) dims[static_cast<std::size_t>(i)] = shape[i];
  const T zero = T(0);
  kernels::binary_broadcast(kernels::Binary::add, x.data(), ops_detail::broadcast_strides(x.shape(), shape), &zero, no_strides, out.data(),
                            dims, shape.rank());
  if (auto* node = autograd::make_node(out, "expand", &ops_detail::expand_backward<T>, {x})) node->keep_shape_only(0);
  return out;
}

}  // namespace latent
