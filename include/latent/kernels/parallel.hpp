// parallel_for with a work threshold: OpenMP when available and the work is large enough to pay for
// waking threads (tiny tensors must not), a plain loop otherwise. set_num_threads() for both OpenMP and Eigen.
#pragma once

#include <cstdint>

#include "../config.hpp"
#include "eigen.hpp"
#if LATENT_HAS_OPENMP
#include <omp.h>
#endif

namespace latent {

/// Number of threads latent's kernels (and Eigen's GEMM) may use.
inline void set_num_threads(int n) {
  if (n < 1) n = 1;
#if LATENT_HAS_OPENMP
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(n);
}
inline int num_threads() {
#if LATENT_HAS_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

namespace kernels {

/// Below this many scalar operations a loop stays on one thread.
inline constexpr std::int64_t parallel_threshold = 1 << 17;

/// Calls fn(i) for i in [begin, end), in parallel when `work` (total scalar operations) is large.
template <class Fn>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t work, Fn&& fn) {
#if LATENT_HAS_OPENMP
  if (work >= parallel_threshold && end - begin > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = begin; i < end; ++i) fn(i);
    return;
  }
#else
  (void)work;
#endif
  for (std::int64_t i = begin; i < end; ++i) fn(i);
}

}  // namespace kernels
}  // namespace latent
