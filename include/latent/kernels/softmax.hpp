// Softmax and log-softmax along the middle axis of [outer, R, inner] (the last dimension when inner = 1),
// and the fused softmax + cross-entropy over rows of logits.
#pragma once

#include <cmath>
#include <cstdint>

#include "eigen.hpp"
#include "parallel.hpp"

namespace latent::kernels {

/// y = softmax(x) (or log_softmax when `log`) along R.
template <class T>
void softmax(bool log, const T* x, T* y, index_t outer, index_t R, index_t inner) {
  parallel_for(0, outer, outer * R * inner * 4, [&](index_t o) {
    const ConstArray2Map<T> in(x + o * R * inner, R, inner);
    Array2Map<T> out(y + o * R * inner, R, inner);
    if (inner == 1) {
      const T m = in.maxCoeff();
      if (log) {
        out = in - m;
        out -= std::log(out.exp().sum());
      } else {
        out = (in - m).exp();
        out /= out.sum();
      }
      return;
    }
    const Eigen::Array<T, 1, Eigen::Dynamic> m = in.colwise().maxCoeff();
    out = in.rowwise() - m;
    if (log) {
      const Eigen::Array<T, 1, Eigen::Dynamic> lse = out.exp().colwise().sum().log();
      out.rowwise() -= lse;
    } else {
      out = out.exp();
      const Eigen::Array<T, 1, Eigen::Dynamic> s = out.colwise().sum();
      out.rowwise() /= s;
    }
  });
}

/// Row-wise cross-entropy with integer targets on [N, C] logits, PyTorch semantics:
/// loss_n = -(1 - ε) log p[n, t_n] - ε/C Σ_c log p[n, c]; rows whose target == ignore_index give 0 and
/// are not counted. Writes log-probabilities to logp ([N, C]) and per-row losses to loss ([N]);
/// returns the number of counted rows.
template <class T>
index_t cross_entropy_rows(const T* logits, const std::int64_t* target, index_t N, index_t C, std::int64_t ignore_index,
                           T label_smoothing, T* logp, T* loss) {
  softmax<T>(true, logits, logp, N, C, 1);
  index_t count = 0;
  for (index_t n = 0; n < N; ++n) {
    const std::int64_t t = target[n];
    if (t == ignore_index) {
      loss[n] = T(0);
      continue;
    }
    ++count;
    const ConstArrayMap<T> row(logp + n * C, C);
    T l = -(T(1) - label_smoothing) * row(t);
    if (label_smoothing != T(0)) l -= label_smoothing / static_cast<T>(C) * row.sum();
    loss[n] = l;
  }
  return count;
}

}  // namespace latent::kernels
