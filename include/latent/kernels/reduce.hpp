// Reductions over the middle axis of a [outer, R, inner] block (any single dimension of a contiguous
// tensor): sum, mean, max, min, logsumexp, variance, argmax/argmin, and sum over rows of a matrix.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "eigen.hpp"
#include "parallel.hpp"

namespace latent::kernels {

enum class Reduce { sum, mean, max, min, logsumexp };

/// y[o, i] = reduce_r x[o, r, i]; y has outer * inner elements.
template <class T>
void reduce(Reduce op, const T* x, T* y, index_t outer, index_t R, index_t inner) {
  auto run = [&](index_t o) {
    const ConstArray2Map<T> block(x + o * R * inner, R, inner);
    Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>> out(y + o * inner, inner);
    switch (op) {
      case Reduce::sum: out = block.colwise().sum(); break;
      case Reduce::mean: out = block.colwise().sum() / static_cast<T>(R); break;
      case Reduce::max: out = block.colwise().maxCoeff(); break;
      case Reduce::min: out = block.colwise().minCoeff(); break;
      case Reduce::logsumexp: {
        out = block.colwise().maxCoeff();
        for (index_t i = 0; i < inner; ++i) {
          const T m = std::isfinite(out(i)) ? out(i) : T(0);  // all -inf column: stays -inf
          out(i) = m + std::log((block.col(i) - m).exp().sum());
        }
        break;
      }
    }
  };
  if (inner == 1 && outer == 1) {
    run(0);
    return;
  }
  if (inner == 1 && (op == Reduce::sum || op == Reduce::mean)) {  // rows of R contiguous values, in blocks of rows
    constexpr index_t rows = 256;
    parallel_for(0, (outer + rows - 1) / rows, outer * R, [&](index_t b) {
      const index_t o = b * rows, n = std::min(rows, outer - o);
      ArrayMap<T> out(y + o, n);
      out = ConstArray2Map<T>(x + o * R, n, R).rowwise().sum();
      if (op == Reduce::mean) out /= static_cast<T>(R);
    });
    return;
  }
  parallel_for(0, outer, outer * R * inner, run);
}

/// Variance over the middle axis with Bessel's correction `correction` (1 = unbiased, like torch.var).
template <class T>
void variance(const T* x, T* y, index_t outer, index_t R, index_t inner, index_t correction) {
  parallel_for(0, outer, outer * R * inner * 2, [&](index_t o) {
    const ConstArray2Map<T> block(x + o * R * inner, R, inner);
    Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>> out(y + o * inner, inner);
    const Eigen::Array<T, 1, Eigen::Dynamic> mean = block.colwise().sum() / static_cast<T>(R);
    const T denom = static_cast<T>(std::max<index_t>(R - correction, 0));
    out = (block.rowwise() - mean).square().colwise().sum() / denom;
  });
}

/// Index of the max (or min) along the middle axis; the first one on ties, like PyTorch.
template <class T>
void argreduce(bool is_max, const T* x, std::int64_t* y, index_t outer, index_t R, index_t inner) {
  for (index_t o = 0; o < outer; ++o)
    for (index_t i = 0; i < inner; ++i) {
      const T* p = x + o * R * inner + i;
      index_t best = 0;
      T value = p[0];
      for (index_t r = 1; r < R; ++r) {
        const T v = p[r * inner];
        if (is_max ? (v > value || (std::isnan(v) && !std::isnan(value))) : (v < value || (std::isnan(v) && !std::isnan(value)))) {
          value = v;
          best = r;
        }
      }
      y[o * inner + i] = best;
    }
}

/// Sum of all elements, accumulated in double for float inputs.
template <class T>
double sum_all(const T* x, index_t n) {
  return ConstArrayMap<T>(x, n).template cast<double>().sum();
}

}  // namespace latent::kernels
