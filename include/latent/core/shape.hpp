// Shape: the dimensions of a row-major contiguous tensor (rank <= LATENT_MAX_RANK, stored inline),
// with numel, strides, dimension wrapping, broadcasting and the "[8,3,32,32]" spelling used in messages.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "../config.hpp"
#include "error.hpp"

namespace latent {

using index_t = std::int64_t;

class Shape {
 public:
  static constexpr int max_rank = LATENT_MAX_RANK;

  Shape() = default;
  Shape(std::initializer_list<index_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<index_t>& dims) { assign(dims.begin(), dims.end()); }
  template <class It>
  Shape(It first, It last) { assign(first, last); }

  int rank() const noexcept { return rank_; }
  index_t operator[](int i) const noexcept { return dims_[static_cast<std::size_t>(i)]; }
  index_t& operator[](int i) noexcept { return dims_[static_cast<std::size_t>(i)]; }
  const index_t* begin() const noexcept { return dims_.data(); }
  const index_t* end() const noexcept { return dims_.data() + rank_; }
  index_t back() const noexcept { return dims_[static_cast<std::size_t>(rank_ - 1)]; }

  index_t numel() const noexcept {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }

  void push_back(index_t d) {
    LATENT_CHECK(rank_ < max_rank, ShapeError, "rank " + std::to_string(rank_ + 1) + " exceeds LATENT_MAX_RANK");
    LATENT_CHECK(d >= 0, ShapeError, "negative dimension " + std::to_string(d));
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }
  void insert(int pos, index_t d) {
    push_back(d);
    for (int i = rank_ - 1; i > pos; --i) dims_[static_cast<std::size_t>(i)] = dims_[static_cast<std::size_t>(i - 1)];
    dims_[static_cast<std::size_t>(pos)] = d;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < rank_; ++i) dims_[static_cast<std::size_t>(i)] = dims_[static_cast<std::size_t>(i + 1)];
    dims_[static_cast<std::size_t>(--rank_)] = 0;  // no stale size past the rank (what s[0] of a 0-d shape reads)
  }

  /// Row-major strides in elements.
  std::array<index_t, max_rank> strides() const noexcept {
    std::array<index_t, max_rank> s{};
    index_t acc = 1;
    for (int i = rank_ - 1; i >= 0; --i) {
      s[static_cast<std::size_t>(i)] = acc;
      acc *= dims_[static_cast<std::size_t>(i)];
    }
    return s;
  }

  /// Product of dims in [first, last).
  index_t prod(int first, int last) const noexcept {
    index_t n = 1;
    for (int i = first; i < last; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }

  std::vector<index_t> vec() const { return {begin(), end()}; }

  friend bool operator==(const Shape& a, const Shape& b) noexcept {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }

  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ',';
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + "]";
  }

 private:
  template <class It>
  void assign(It first, It last) {
    rank_ = 0;
    for (; first != last; ++first) push_back(static_cast<index_t>(*first));
  }

  std::array<index_t, max_rank> dims_{};
  int rank_ = 0;
};

inline std::string to_string(const Shape& s) { return s.str(); }

/// A short list of dimension indices, stored inline: `permute(x, {0, 2, 1})`, `sum(x, {1, 2})`.
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int> dims) {
    for (int d : dims) push_back(d);
  }
  void push_back(int d) {
    LATENT_CHECK(n_ < Shape::max_rank, ShapeError, "more than LATENT_MAX_RANK dimensions listed");
    v_[static_cast<std::size_t>(n_++)] = d;
  }
  int size() const noexcept { return n_; }
  int operator[](int i) const noexcept { return v_[static_cast<std::size_t>(i)]; }
  int& operator[](int i) noexcept { return v_[static_cast<std::size_t>(i)]; }
  const int* begin() const noexcept { return v_.data(); }
  const int* end() const noexcept { return v_.data() + n_; }
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < n_; ++i) {
      if (i) s += ',';
      s += std::to_string(v_[static_cast<std::size_t>(i)]);
    }
    return s + ")";
  }

 private:
  std::array<int, Shape::max_rank> v_{};
  int n_ = 0;
};

/// Wraps a possibly negative dimension index into [0, rank); names the op on failure.
inline int wrap_dim(int dim, int rank, const char* op) {
  const int r = rank == 0 ? 1 : rank;
  LATENT_CHECK(dim >= -r && dim < r, ShapeError,
               std::string(op) + ": dimension " + std::to_string(dim) + " out of range for rank " + std::to_string(rank));
  return dim < 0 ? dim + r : dim;
}

/// NumPy/PyTorch broadcasting of two shapes; throws naming `op` when they do not broadcast.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int r = std::max(a.rank(), b.rank());
  Shape out;
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const index_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    LATENT_CHECK(da == db || da == 1 || db == 1, ShapeError,
                 std::string(op) + ": shapes " + a.str() + " and " + b.str() + " do not broadcast (dimension " +
                     std::to_string(i) + ": " + std::to_string(da) + " vs " + std::to_string(db) + ")");
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

}  // namespace latent
