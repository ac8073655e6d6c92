// C = alpha * op(A) * op(B) + beta * C on row-major memory, and its batched form: through OpenBLAS's sgemm/dgemm
// when the build found it (LATENT_HAVE_CBLAS, set by CMake), otherwise through Eigen's GEMM; float products that are
// not small go to latent's own kernel when the compiler targets AVX-512 (sgemm_avx512.hpp).
// op(A) is M x K (A is stored K x M when trans_a), op(B) is K x N, C is M x N.
//
// Why a BLAS when Eigen has GEMM: on AVX-512 Eigen 3.4's kernel peaks at ~73% of the FMA peak, OpenBLAS's at ~88%
// (benchmarks/gemm_bench.cpp). OpenBLAS is told to run single-threaded: latent splits large products over its own
// OpenMP threads (below), so the two thread pools never compete.
#pragma once

#include <algorithm>
#include <type_traits>

#include "eigen.hpp"
#include "parallel.hpp"
#include "sgemm_avx512.hpp"

#if LATENT_HAVE_CBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);  // declared here too: Debian's cblas.h may be another vendor's
#endif

namespace latent::kernels {

/// Which library computes large products: "openblas" or "eigen" (for benchmark reports and bug reports).
inline const char* gemm_backend() noexcept { return LATENT_HAVE_CBLAS ? "openblas" : "eigen"; }

namespace detail {
#if LATENT_HAVE_CBLAS
/// Below this many multiply-adds the call overhead of the BLAS outweighs its faster kernel.
inline constexpr index_t blas_threshold = 16 * 16 * 16;

inline void cblas_gemm(bool ta, bool tb, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
                       const float* B, index_t ldb, float beta, float* C, index_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K),
              alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}
inline void cblas_gemm(bool ta, bool tb, index_t M, index_t N, index_t K, double alpha, const double* A, index_t lda,
                       const double* B, index_t ldb, double beta, double* C, index_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K),
              alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

/// OpenBLAS computes each block on the calling thread (a thread-safe static runs this once per process).
inline void blas_single_threaded() {
  static const bool once = (openblas_set_num_threads(1), true);
  (void)once;
}
#endif

#if defined(__AVX512F__)
/// From this many multiply-adds on, float products go to latent's AVX-512 kernel (kernels/sgemm_avx512.hpp). On this
/// project's machine kind (AMD Zen 5) Debian's OpenBLAS 0.3.21 does not recognise the CPU and runs its AVX2 kernels
/// unless OPENBLAS_CORETYPE is set, which users do not do: measured one call at a time, warm, one thread, ours /
/// OpenBLAS in µs: 32^3 0.45 / 0.84, 64x64x32 1.45 / 3.03, W1's 128x400x20 products 11 / 22, 128x20x400 19 / 27,
/// W4's 2x128x256 4.1 / 7.6 and 256x128x2 1.9 / 3.7; the one loss was 256x2x128 (two columns), 6.9 / 5.7 (now a
/// matrix-vector product against two vectors, below). Even with OPENBLAS_CORETYPE=SkylakeX ours was ahead or within
/// 8% on all of these. So only products too small for either kernel's packing to pay (blas_threshold) stay with
/// OpenBLAS and Eigen. Without OpenBLAS, Eigen breaks even with ours near 40^3 (32^3: 69 against 66 GFLOP/s, 48^3:
/// 77 against 81).
#if LATENT_HAVE_CBLAS
inline constexpr index_t avx512_threshold = blas_threshold;
#else
inline constexpr index_t avx512_threshold = 48 * 48 * 48;
#endif
#endif

template <class T>
using StridedMap = Eigen::Map<Matrix<T>, 0, Eigen::OuterStride<>>;
template <class T>
using ConstStridedMap = Eigen::Map<const Matrix<T>, 0, Eigen::OuterStride<>>;

/// One thread's GEMM on a block: op(A) is M x K, op(B) K x N, C M x N, with leading dimensions.
template <class T>
void gemm_block(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda, const T* B,
                index_t ldb, T beta, T* C, index_t ldc) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const bool large = M * N * K >= avx512_threshold;
    // One row of C from a matrix with contiguous rows (x Wᵀ for one token), or one column (W x), at any size; two to
    // four rows or columns (an output layer of 2 features over a batch) from large products: matrix-vector products
    // against up to four vectors, which read the matrix once where sgemm_avx512 would pack it and fill 2 of 8 lanes.
    // On an Intel Xeon, one thread, warm: W4's output layer x Wᵀ (256 x 2 x 128) 6.9 -> 2.2 µs, and through the
    // unpacked kernel below its input gradient g W (256 x 128 x 2) 6.0 -> 3.9 µs and weight gradient gᵀ h
    // (2 x 128 x 256) 5.1 -> 2.1 µs; W4 at one thread 0.568 -> 0.551 ms (medians of 8 interleaved runs).
    if (M <= 4 && trans_b && (M == 1 ? !trans_a || lda == 1 : !trans_a && large))  // rows of A against B's rows
      return sgemv_rows_avx512(M, N, K, alpha, B, ldb, A, lda, beta, C, 1, ldc);
    if (N <= 4 && !trans_a && (N == 1 ? trans_b || ldb == 1 : trans_b && large))  // A's rows against rows of B
      return sgemv_rows_avx512(N, M, K, alpha, A, lda, B, ldb, beta, C, ldc, 1);
    if (large && !trans_b && (M <= 4 || K <= 4)) {  // few rows or a short sum: no packing (sgemm_unpacked_avx512)
      sgemm_unpacked_avx512(trans_a, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
    if (large && M > 1 && N > 1) {
      sgemm_avx512(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
  }
#endif
#if LATENT_HAVE_CBLAS
  // A product with one row or one column (batch-1 decoding, x Wᵀ for one token) is a matrix-vector product bound by
  // reading the matrix: Eigen's GEMV reads it once, while sgemm first packs (copies) it, doubling the traffic.
  if (M > 1 && N > 1 && M * N * K >= blas_threshold && std::max({M, N, K, lda, ldb, ldc}) < index_t{1} << 31) {
    blas_single_threaded();
    cblas_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  StridedMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) c.setZero();
  else if (beta != T(1)) c *= beta;
  if (K == 0) return;
  const ConstStridedMap<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const ConstStridedMap<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
  else if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
  else if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
  else c.noalias() += alpha * a.transpose() * b.transpose();
}
}  // namespace detail

/// Below gemm_split_threshold() multiply-adds a GEMM stays on one thread. Splitting pays when half the product takes
/// longer than waking the team and moving the operands into the other core's cache (and the result back). Both
/// costs are cache-line round trips between cores, so the threshold scales with the measured fork/join: 2500
/// multiply-adds per nanosecond of it, clamped to [2^20, 2^23]. On a 2-vCPU AMD Zen 5 cloud machine (fork/join
/// 3.3 µs) that is 8.2M: W4's 256x128x128 products (4.2M, 19 µs on one thread) ran slower split than whole, the step
/// 0.47-0.53 ms on 2 threads against 0.42 on one; W1's and W3's products (12-50M) still split.
inline constexpr index_t gemm_parallel_threshold = index_t{1} << 20;
inline constexpr index_t gemm_parallel_threshold_max = index_t{1} << 23;
inline index_t gemm_split_threshold() {
  static const index_t macs = detail::fork_join_scaled(2500.0, gemm_parallel_threshold, gemm_parallel_threshold_max);
  return macs;
}
/// A matrix-vector product (one row or one column of C) is bound by reading its matrix, not by arithmetic. Split
/// over threads, each thread reads its own fixed slice of the matrix; the slices are the same on every call, so during
/// decoding each core's L2 can keep its share of the weights instead of streaming all of them from L3 (W5 with the KV
/// cache on 2 cores of an Intel machine with 2 MiB L2: 7.4k -> 14.6k tokens/s). That pays only when reading half the
/// matrix takes longer than waking the team: from 40 elements per nanosecond of fork/join on (half the matrix read at
/// ~80 GB/s against one fork/join), but never below 2^15 elements (128 KiB of floats) and always from 2^18 (1 MiB:
/// a fork/join measured during a burst of load must not keep large products on one thread for good). On a 2-vCPU
/// AMD Zen 5 cloud machine a fork/join costs ~3.3 µs, so W5's matrices (16k-66k elements) stay on one thread:
/// split, they ran at 9-11k tokens/s against 15k.
inline constexpr index_t gemv_parallel_threshold = index_t{1} << 15;
inline constexpr index_t gemv_parallel_threshold_max = index_t{1} << 18;
inline index_t gemv_split_threshold() {
  static const index_t elements = detail::fork_join_scaled(40.0, gemv_parallel_threshold, gemv_parallel_threshold_max);
  return elements;
}

/// C = alpha op(A) op(B) + beta C. Large products are split into independent row (or column) blocks,
/// one single-threaded GEMM per thread: Eigen's own parallel GEMM (and OpenBLAS's) spin-waits between
/// threads, which collapses when another process holds a core.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, const T* B, T beta, T* C) {
  const index_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
#if LATENT_HAS_OPENMP
  const int threads = available_threads();
  const bool gemv = M == 1 || N == 1;
  if (threads > 1 && (gemv ? std::max(M, N) * K >= gemv_split_threshold() : M * N * K >= gemm_split_threshold())) {
    const bool by_rows = M >= N;
    const index_t extent = by_rows ? M : N;
    const index_t align = 16;  // keep blocks a multiple of a cache line of floats
    const index_t chunk = (extent / threads + align - 1) / align * align;
    const index_t parts = (extent + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (index_t p = 0; p < parts; ++p) {
      const index_t lo = p * chunk, len = std::min(chunk, extent - lo);
      if (by_rows)
        detail::gemm_block(trans_a, trans_b, len, N, K, alpha, trans_a ? A + lo : A + lo * K, lda, B, ldb, beta, C + lo * N, N);
      else
        detail::gemm_block(trans_a, trans_b, M, len, K, alpha, A, lda, trans_b ? B + lo * K : B + lo, ldb, beta, C + lo, N);
    }
    return;
  }
#endif
  detail::gemm_block(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, N);
}

/// Batched GEMM: for each b < batch, C[b] = alpha op(A[b]) op(B[b]) + beta C[b]. A batch stride of 0
/// broadcasts that operand. Small matrices are spread over threads by batch.
template <class T>
void gemm_batched(bool trans_a, bool trans_b, index_t batch, index_t M, index_t N, index_t K, T alpha, const T* A,
                  index_t stride_a, const T* B, index_t stride_b, T beta, T* C, index_t stride_c) {
  const index_t flops = M * N * K;
  if (batch == 1 || flops >= gemm_split_threshold()) {  // large matrices: gemm splits them over threads
    for (index_t i = 0; i < batch; ++i)
      gemm(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, B + i * stride_b, beta, C + i * stride_c);
    return;
  }
  parallel_for(0, batch, batch * flops, [&](index_t i) {
    gemm(trans_a, trans_b, M, N, K, alpha, A + i * stride_a, B + i * stride_b, beta, C + i * stride_c);
  });
}

}  // namespace latent::kernels

namespace latent::kernels {

/// Every row of the [rows, cols] matrix y becomes `row` (a bias before a beta = 1 GEMM).
template <class T>
void broadcast_rows(const T* row, T* y, index_t rows, index_t cols) {
  MatrixMap<T>(y, rows, cols).rowwise() = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(row, cols);
}

}  // namespace latent::kernels
