// Data movement: permuted copies (transpose), block copies along a dimension (narrow/cat), and the
// indexed reads and scatter-adds behind index_select/gather/embedding and their gradients.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "eigen.hpp"
#include "parallel.hpp"

namespace latent::kernels {

/// out[i0..ir] = in[...] where out's dimension k is in's dimension perm[k]. `in_shape` has rank r.
template <class T, std::size_t R>
void permute(const T* in, const std::array<index_t, R>& in_shape, const std::array<int, R>& perm, int rank, T* out) {
  std::array<index_t, R> in_strides{}, shape{}, strides{};
  index_t acc = 1;
  for (int i = rank - 1; i >= 0; --i) {
    in_strides[i] = acc;
    acc *= in_shape[i];
  }
  for (int k = 0; k < rank; ++k) {
    shape[k] = in_shape[perm[k]];
    strides[k] = in_strides[perm[k]];
  }
  if (acc == 0) return;
  // The last two output dimensions as a (strided) matrix copy; an odometer over the rest.
  if (rank == 1) {
    std::memcpy(out, in, static_cast<std::size_t>(acc) * sizeof(T));
    return;
  }
  const index_t rows = shape[rank - 2], cols = shape[rank - 1];
  const index_t rs = strides[rank - 2], cs = strides[rank - 1];
  const index_t outer = acc / (rows * cols);
  parallel_for(0, outer, acc, [&](index_t o) {
    index_t rem = o, off = 0;
    for (int k = rank - 3; k >= 0; --k) {
      off += (rem % shape[k]) * strides[k];
      rem /= shape[k];
    }
    using Strided = Eigen::Map<const Matrix<T>, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
    MatrixMap<T>(out + o * rows * cols, rows, cols) = Strided(in + off, rows, cols, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(rs, cs));
  });
}

/// Copies the [outer, len, inner] block starting at `start` of a [outer, D, inner] tensor into a
/// dense [outer, len, inner] buffer (narrow), or the reverse direction when `scatter` (cat, pad).
template <class T>
void block_copy(const T* src, T* dst, index_t outer, index_t D, index_t start, index_t len, index_t inner, bool scatter) {
  const std::size_t bytes = static_cast<std::size_t>(len * inner) * sizeof(T);
  for (index_t o = 0; o < outer; ++o) {
    if (scatter) std::memcpy(dst + (o * D + start) * inner, src + o * len * inner, bytes);
    else std::memcpy(dst + o * len * inner, src + (o * D + start) * inner, bytes);
  }
}

/// out[o, k, i] = in[o, index[k], i]   (in: [outer, D, inner], out: [outer, K, inner])
template <class T>
void index_select(const T* in, const std::int64_t* index, T* out, index_t outer, index_t D, index_t K, index_t inner) {
  for (index_t o = 0; o < outer; ++o)
    for (index_t k = 0; k < K; ++k)
      std::memcpy(out + (o * K + k) * inner, in + (o * D + index[k]) * inner, static_cast<std::size_t>(inner) * sizeof(T));
}

/// acc[o, index[k], i] += src[o, k, i]
template <class T>
void index_add(const T* src, const std::int64_t* index, T* acc, index_t outer, index_t D, index_t K, index_t inner) {
  for (index_t o = 0; o < outer; ++o)
    for (index_t k = 0; k < K; ++k)
      ArrayMap<T>(acc + (o * D + index[k]) * inner, inner) += ConstArrayMap<T>(src + (o * K + k) * inner, inner);
}

/// gather along the middle axis: out[o, k, i] = in[o, index[o, k, i], i]
/// (in: [outer, D, inner], index/out: [outer, K, inner]); scatter_add is its adjoint.
template <class T>
void gather(const T* in, const std::int64_t* index, T* out, index_t outer, index_t D, index_t K, index_t inner) {
  for (index_t o = 0; o < outer; ++o)
    for (index_t k = 0; k < K; ++k)
      for (index_t i = 0; i < inner; ++i) {
        const index_t j = (o * K + k) * inner + i;
        out[j] = in[(o * D + index[j]) * inner + i];
      }
}
template <class T>
void scatter_add(const T* src, const std::int64_t* index, T* acc, index_t outer, index_t D, index_t K, index_t inner) {
  for (index_t o = 0; o < outer; ++o)
    for (index_t k = 0; k < K; ++k)
      for (index_t i = 0; i < inner; ++i) {
        const index_t j = (o * K + k) * inner + i;
        acc[(o * D + index[j]) * inner + i] += src[j];
      }
}

}  // namespace latent::kernels
