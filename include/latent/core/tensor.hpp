// Tensor<T>: a cheap handle (shared storage + shape + offset + optional autograd state), like
// LibTorch's. Always row-major contiguous. Math lives in ops/; this file only holds data.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "scalar.hpp"
#include "shape.hpp"
#include "storage.hpp"

namespace latent {

namespace autograd {
template <class T>
struct Node;
}

template <Element T>
class Tensor;

namespace detail {
template <class T>
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  index_t offset = 0;  // in elements
  Shape shape;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl<T>> grad;            // accumulated gradient of a leaf
  std::shared_ptr<autograd::Node<T>> grad_fn;     // the op that produced this tensor, if recorded
};
}  // namespace detail

template <Element T>
class Tensor {
 public:
  using value_type = T;
  using Impl = detail::TensorImpl<T>;

  Tensor() = default;
  explicit Tensor(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

  /// A new tensor of `shape` with uninitialised contents.
  static Tensor empty(const Shape& shape) {
    auto impl = std::allocate_shared<Impl>(detail::PoolAllocator<Impl>{});
    impl->shape = shape;
    impl->storage = Storage::make(static_cast<std::size_t>(std::max<index_t>(shape.numel(), 1)) * sizeof(T));
    return Tensor(std::move(impl));
  }

  bool defined() const noexcept { return impl_ != nullptr; }
  const Shape& shape() const { return checked().shape; }
  int rank() const { return shape().rank(); }
  /// Size of dimension `d` (negative counts from the end).
  index_t size(int d) const { return shape()[wrap_dim(d, rank(), "size")]; }
  index_t numel() const { return shape().numel(); }

  T* data() const { return static_cast<T*>(checked().storage->data()) + impl_->offset; }
  std::vector<T> to_vector() const { return std::vector<T>(data(), data() + numel()); }

  /// The single value of a one-element tensor.
  T item() const {
    LATENT_CHECK(numel() == 1, ShapeError, "item: tensor " + shape().str() + " has " + std::to_string(numel()) + " elements, expected 1");
    return *data();
  }
  /// Element at a full multi-index (bounds-checked; for tests and small reads, not hot loops).
  T at(std::initializer_list<index_t> index) const {
    const Shape& s = shape();
    LATENT_CHECK(static_cast<int>(index.size()) == s.rank(), ShapeError,
                 "at: " + std::to_string(index.size()) + " indices for tensor " + s.str());
    index_t flat = 0;
    int d = 0;
    for (index_t i : index) {
      LATENT_CHECK(i >= 0 && i < s[d], ShapeError, "at: index " + std::to_string(i) + " out of range for dimension " + std::to_string(d) + " of " + s.str());
      flat = flat * s[d++] + i;
    }
    return data()[flat];
  }

  // ---- autograd state -------------------------------------------------------------------------
  bool requires_grad() const { return defined() && impl_->requires_grad; }
  /// Marks a leaf as requiring gradients (like PyTorch's requires_grad_()); returns *this.
  Tensor& set_requires_grad(bool on = true) {
    static_assert(Scalar<T>, "only floating-point tensors can require gradients");
    LATENT_CHECK(!checked().grad_fn || on, AutogradError, "set_requires_grad: cannot turn off requires_grad of a non-leaf tensor; use detach()");
    impl_->requires_grad = on;
    return *this;
  }
  bool is_leaf() const { return !checked().grad_fn; }
  const std::shared_ptr<autograd::Node<T>>& grad_fn() const { return checked().grad_fn; }
  /// Accumulated gradient of a leaf (undefined until a backward pass reaches it).
  Tensor grad() const { return Tensor(checked().grad); }
  void set_grad(const Tensor& g) { checked().grad = g.impl_; }

  /// Same data, no autograd history, requires_grad = false.
  Tensor detach() const {
    auto impl = std::allocate_shared<Impl>(detail::PoolAllocator<Impl>{});
    impl->storage = checked().storage;
    impl->offset = impl_->offset;
    impl->shape = impl_->shape;
    return Tensor(std::move(impl));
  }
  /// A copy with its own storage and no autograd history.
  Tensor clone_detached() const {
    Tensor out = empty(shape());
    std::memcpy(out.data(), data(), static_cast<std::size_t>(numel()) * sizeof(T));
    return out;
  }
  /// Copies `src`'s values into this tensor's storage (same numel), in place and without autograd.
  void copy_(const Tensor& src) {
    LATENT_CHECK(src.numel() == numel(), ShapeError, "copy_: source " + src.shape().str() + " into " + shape().str());
    std::memmove(data(), src.data(), static_cast<std::size_t>(numel()) * sizeof(T));
  }

  /// Reverse-mode differentiation from this tensor (defined in autograd/engine.hpp).
  /// A non-scalar output needs `grad_output` of its shape.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false, bool create_graph = false) const;

  /// Same storage and element count, another shape (no copy, no autograd): internal helper for views.
  Tensor view_as_shape(const Shape& s) const {
    auto impl = std::allocate_shared<Impl>(detail::PoolAllocator<Impl>{});
    impl->storage = checked().storage;
    impl->offset = impl_->offset;
    impl->shape = s;
    return Tensor(std::move(impl));
  }

  /// The `s.numel()` elements of the same storage from element `offset` of this contiguous tensor on, with shape s
  /// (no copy, no autograd): internal helper for tensors carved out of one allocation.
  Tensor view_at(index_t offset, const Shape& s) const {
    LATENT_CHECK(offset >= 0 && offset + s.numel() <= numel(), ShapeError,
                 "view_at: " + s.str() + " from element " + std::to_string(offset) + " of " + shape().str());
    Tensor out = view_as_shape(s);
    out.impl_->offset += offset;
    return out;
  }

  Impl* impl() const noexcept { return impl_.get(); }
  const std::shared_ptr<Impl>& impl_ptr() const noexcept { return impl_; }
  bool same(const Tensor& o) const noexcept { return impl_ == o.impl_; }
  bool shares_storage(const Tensor& o) const { return defined() && o.defined() && impl_->storage == o.impl_->storage; }

 private:
  Impl& checked() const {
    if (!impl_) throw ValueError("tensor is undefined (default-constructed or an absent gradient)");
    return *impl_;
  }
  std::shared_ptr<Impl> impl_;
};

}  // namespace latent
