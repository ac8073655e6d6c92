// parallel_for with a work threshold: OpenMP when available and the work is large enough to pay for
// waking threads (tiny tensors must not), a plain loop otherwise. set_num_threads() for both OpenMP and Eigen.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
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

/// Threads a loop started here may use: 1 inside a parallel region (nested regions are not used).
inline int available_threads() {
#if LATENT_HAS_OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

/// What one fork and join of the OpenMP team costs on this machine, in nanoseconds: the median of 15 near-empty
/// parallel regions, measured once per process on first use (0 without OpenMP or with one thread). It is 3-4 µs on
/// 2-vCPU AMD cloud machines where a cache line takes ~500 ns to travel between the cores, 0.75 µs on an Intel Xeon
/// one; thresholds that only pay off when a team is cheap to wake scale with it.
inline double fork_join_ns() {
#if LATENT_HAS_OPENMP
  static const double ns = [] {
    if (omp_get_max_threads() < 2 || omp_in_parallel()) return 0.0;
    std::array<double, 15> times{};
    std::atomic<int> arrived{0};  // every thread of the team touches it, so the region cannot be optimized away
    for (int i = -5; i < int(times.size()); ++i) {  // 5 warm-up regions start the team
      const auto start = std::chrono::steady_clock::now();
#pragma omp parallel
      arrived.fetch_add(1, std::memory_order_relaxed);
      const auto stop = std::chrono::steady_clock::now();
      if (i >= 0) times[std::size_t(i)] = std::chrono::duration<double, std::nano>(stop - start).count();
    }
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    return times[times.size() / 2];
  }();
  return ns;
#else
  return 0.0;
#endif
}

namespace detail {
/// `per_ns` units per nanosecond of the measured fork/join, clamped to [lo, hi]: a threshold for splitting work over
/// threads that pays when the work outweighs waking the team and moving data between the cores.
inline std::int64_t fork_join_scaled(double per_ns, std::int64_t lo, std::int64_t hi) {
  return std::clamp(std::int64_t(per_ns * fork_join_ns()), lo, hi);
}
}  // namespace detail

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
