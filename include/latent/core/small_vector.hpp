// SmallVector<T, N>: the first N elements live inline, more spill to a std::vector. Used by autograd
// nodes so that recording an op with a few inputs never allocates.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

namespace latent::detail {

template <class T, std::size_t N>
class SmallVector {
 public:
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](std::size_t i) noexcept { return i < N ? inline_[i] : heap_[i - N]; }
  const T& operator[](std::size_t i) const noexcept { return i < N ? inline_[i] : heap_[i - N]; }

  void push_back(T value) {
    if (size_ < N) inline_[size_] = std::move(value);
    else heap_.push_back(std::move(value));
    ++size_;
  }
  /// Grows or shrinks to n elements; new ones are value-initialised.
  void resize(std::size_t n) {
    for (std::size_t i = n; i < size_ && i < N; ++i) inline_[i] = T();
    if (n > N) heap_.resize(n - N);
    else heap_.clear();
    for (std::size_t i = size_; i < n && i < N; ++i) inline_[i] = T();
    size_ = n;
  }
  void clear() { resize(0); }

 private:
  std::array<T, N> inline_{};
  std::vector<T> heap_;
  std::size_t size_ = 0;
};

}  // namespace latent::detail
