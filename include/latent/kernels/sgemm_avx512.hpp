// latent's own single-precision GEMM for AVX-512 targets (Goto/BLIS structure: packed panels, a register-blocked
// microkernel) and its matrix-vector kernel; compiled only when the compiler targets AVX-512F, otherwise this header
// declares nothing.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

#include "eigen.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace latent::kernels {

namespace sgemm_detail {

// Blocking. C is row-major, so the microkernel vectorizes along N: a tile of C is MR rows x NR = 32 columns
// (2 zmm per row), 14 x 2 = 28 accumulators of the 32 zmm registers, leaving 2 for the B rows and one spare. Each
// k step is 2 loads of B, 14 broadcasts of A and 28 FMAs, so the FMA units (not the load ports) set the pace.
//   - An A micro-panel (MR x KC floats = 21 KiB at KC = 384) stays in L1 across the whole row of B micro-panels.
//   - The packed B block (KC x NC floats = 1.5 MiB) is streamed through once per A micro-panel, from L2 and L3, in
//     address order (the prefetchers follow it; the microkernel also prefetches 8 k steps ahead).
//   - A large KC makes the loads and stores of the C tile rare (once per KC k steps); a large NC makes the packing
//     of A rare (once per NC columns). On an AMD Zen 4 (1 MiB L2) KC in 256..768 and NC in 512..2048 measured within
//     noise of each other; smaller blocks were slower.
//   - On an Intel Sapphire-Rapids-class core (two 512-bit FMA ports, 2 MiB L2) the same code reaches 73-76% of the
//     register-only FMA peak: a loop of these 28 FMAs reaches ~91% with the 14 broadcasts from L1, ~88% with the
//     B loads too, ~81% with B streaming from L2. Unrolling k (2-8), KC 192-512, NC 256-2048, prefetch distance
//     4-16, tiles 12x32 / 8x48 / 6x64, huge pages for the pack buffers and prefetching the next B block were all
//     within 3%; the BLIS loop order (A block in L2, B micro-panel in L1) was 15-20% slower. OpenBLAS and LibTorch
//     reach the same level there.
inline constexpr int mr = 14;
inline constexpr int nr = 32;
inline constexpr index_t kc_block = 384;
inline constexpr index_t nc_block = 1024;
inline constexpr int prefetch_distance = 8;  // k steps
inline constexpr index_t c_prefetch_steps = 32;

/// A 64-byte aligned scratch buffer per thread that grows once and is reused: gemm_block runs on several OpenMP
/// threads at once, and a training step must not allocate in its steady state.
struct PackBuffer {
  float* data = nullptr;
  std::size_t capacity = 0;  // floats
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { std::free(data); }
  float* get(std::size_t n) {
    if (n > capacity) {
      std::free(data);
      const std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data) {
        capacity = 0;
        throw std::bad_alloc();
      }
      capacity = bytes / sizeof(float);
    }
    return data;
  }
};

inline __mmask16 tail_mask(index_t n) {  // the first min(max(n, 0), 16) lanes
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

/// In-place transpose of a 16 x 16 block held in 16 registers (three rounds of shuffles: 2x2, 4x4, then 128-bit
/// lanes). Packing uses it wherever the source runs along k but the packed layout runs across k.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // r[4i + j], 128-bit lane L: column 4L + j of rows 4i .. 4i + 3.
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88), u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
    const __m512 v0 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
    t[j] = _mm512_shuffle_f32x4(u0, v0, 0x88);       // column j
    t[4 + j] = _mm512_shuffle_f32x4(u1, v1, 0x88);   // column 4 + j
    t[8 + j] = _mm512_shuffle_f32x4(u0, v0, 0xDD);   // column 8 + j
    t[12 + j] = _mm512_shuffle_f32x4(u1, v1, 0xDD);  // column 12 + j
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

/// Packs `rows` (<= width) strips of a matrix whose strips run along k (strip s starts at src + s * ld, element k at
/// [k]) into dst[k * width + s] for k < kc, zero-padding strips rows .. width - 1 (width <= 32); the transposes go
/// 16 strips x 16 k at a time.
inline void pack_across(const float* src, index_t ld, index_t rows, index_t kc, int width, float* dst) {
  for (int s0 = 0; s0 < width; s0 += 16) {
    const int w = std::min(16, width - s0);
    const index_t live = std::clamp<index_t>(rows - s0, 0, w);
    const __mmask16 store_mask = tail_mask(w);
    index_t k = 0;
    for (; k + 16 <= kc; k += 16) {
      __m512 r[16];
      for (int s = 0; s < 16; ++s) r[s] = s < live ? _mm512_loadu_ps(src + (s0 + s) * ld + k) : _mm512_setzero_ps();
      transpose16(r);
      for (int t = 0; t < 16; ++t) _mm512_mask_storeu_ps(dst + (k + t) * width + s0, store_mask, r[t]);
    }
    if (k < kc) {
      const __mmask16 km = tail_mask(kc - k);
      __m512 r[16];
      for (int s = 0; s < 16; ++s)
        r[s] = s < live ? _mm512_maskz_loadu_ps(km, src + (s0 + s) * ld + k) : _mm512_setzero_ps();
      transpose16(r);
      for (index_t t = 0; t < kc - k; ++t) _mm512_mask_storeu_ps(dst + (k + t) * width + s0, store_mask, r[t]);
    }
  }
}

/// Packs a matrix whose rows run across (row k at src + k * ld, `cols` (<= width) valid values) into
/// dst[k * width + j], zero-padding columns cols .. width - 1: a copy with masked tails.
inline void pack_along(const float* src, index_t ld, index_t cols, index_t kc, int width, float* dst) {
  for (index_t k = 0; k < kc; ++k) {
    const float* s = src + k * ld;
    float* d = dst + k * width;
    for (int j = 0; j < width; j += 16) {
      const index_t live = std::clamp<index_t>(cols - j, 0, 16);
      _mm512_mask_storeu_ps(d + j, tail_mask(width - j), _mm512_maskz_loadu_ps(tail_mask(live), s + j));
    }
  }
}

/// The vector operations of the microkernel for 16 lanes (zmm) and for 8 (ymm): a tile whose last columns fit in 8
/// lanes uses ymm, because on cores that split a 512-bit FMA into two 256-bit halves (AMD Zen 4) a ymm FMA costs
/// half as much, so a narrow N edge (N = 65, N = 100) wastes half as many lanes.
struct Zmm {
  using V = __m512;
  static constexpr int lanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V load(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, __mmask16 m, V v) { _mm512_mask_storeu_ps(p, m, v); }
};
struct Ymm {
  using V = __m256;
  static constexpr int lanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V load(__mmask16 m, const float* p) { return _mm256_maskz_loadu_ps(__mmask8(m), p); }
  static void store(float* p, __mmask16 m, V v) { _mm256_mask_storeu_ps(p, __mmask8(m), v); }
};

/// C[0:ROWS, 0:cols] = alpha * (Ap Bp) + beta * C for one ROWS x (NV vectors) tile (ROWS <= MR), Ap packed k-major
/// with MR values per k, Bp packed k-major with NR values per k. beta == 0 never reads C (so NaN in C is
/// overwritten). ROWS is a template parameter so that a short panel issues only its own FMAs: the M edge costs no
/// wasted work.
template <class Vec, int NV, int ROWS>
void microkernel(index_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C, index_t ldc,
                 index_t cols, float alpha, float beta) {
  using V = typename Vec::V;
  constexpr int lanes = Vec::lanes;
  V acc[ROWS][NV];
#pragma GCC unroll 14
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = Vec::zero();

  // One k step: NV rows of B, ROWS broadcasts of A. The packed B rows stream from L2 (or L3), so they are
  // prefetched a few steps ahead (both cache lines of a 32-float row).
  auto step = [&] {
    V b[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) b[v] = Vec::load(Bp + v * lanes);
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(Bp + prefetch_distance * nr + v * 16), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; ++i) {
      const V a = Vec::set1(Ap[i]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = Vec::fmadd(a, b[v], acc[i][v]);
    }
    Ap += mr;
    Bp += nr;
  };
  // The C tile is cold (it was last touched a whole B block ago): fetch it during the last k steps, late enough that
  // the streaming B rows do not evict it again before the stores.
  const index_t k_prefetch = std::max<index_t>(kc - c_prefetch_steps, 0);
  for (index_t k = 0; k < k_prefetch; ++k) step();
#pragma GCC unroll 14
  for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + v * lanes), _MM_HINT_T0);
  for (index_t k = k_prefetch; k < kc; ++k) step();

  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) mask[v] = tail_mask(cols - lanes * v);
  const V va = Vec::set1(alpha), vb = Vec::set1(beta);
#pragma GCC unroll 14
  for (int i = 0; i < ROWS; ++i) {
    float* c = C + i * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      V r = Vec::mul(va, acc[i][v]);
      if (beta != 0.0f) r = Vec::fmadd(vb, Vec::load(mask[v], c + lanes * v), r);
      Vec::store(c + lanes * v, mask[v], r);
    }
  }
}

/// C = beta C (M x N, leading dimension ldc) without reading C when beta == 0: a product with K = 0 or alpha = 0,
/// whose operands are not read (as in the BLAS).
inline void scale_c(index_t M, index_t N, float beta, float* C, index_t ldc) {
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

using Microkernel = void (*)(index_t, const float*, const float*, float*, index_t, index_t, float, float);

template <class Vec, int NV, int... R>
constexpr std::array<Microkernel, mr> kernel_row(std::integer_sequence<int, R...>) {
  return {&microkernel<Vec, NV, R + 1>...};
}
/// microkernels[w][ROWS - 1] for tiles of up to 8 (w = 0), 16 (w = 1) and 32 (w = 2) columns.
inline constexpr std::array<std::array<Microkernel, mr>, 3> microkernels = {
    kernel_row<Ymm, 1>(std::make_integer_sequence<int, mr>{}),
    kernel_row<Zmm, 1>(std::make_integer_sequence<int, mr>{}),
    kernel_row<Zmm, 2>(std::make_integer_sequence<int, mr>{})};

}  // namespace sgemm_detail

/// C = alpha op(A) op(B) + beta C on row-major memory (op(A) M x K, op(B) K x N, leading dimensions lda, ldb, ldc),
/// the contract of detail::gemm_block. beta == 0 overwrites C without reading it.
inline void sgemm_avx512(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A,
                         index_t lda, const float* B, index_t ldb, float beta, float* C, index_t ldc) {
  using namespace sgemm_detail;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
  thread_local PackBuffer a_buffer, b_buffer;
  const index_t kc_max = std::min(K, kc_block);
  const index_t nc_max = (std::min(N, nc_block) + nr - 1) / nr * nr;
  float* const Ap = a_buffer.get(std::size_t(mr * kc_max));
  float* const Bp = b_buffer.get(std::size_t(nc_max * kc_max));

  for (index_t jc = 0; jc < N; jc += nc_block) {
    const index_t nc = std::min(nc_block, N - jc);
    for (index_t pc = 0; pc < K; pc += kc_block) {
      const index_t kc = std::min(kc_block, K - pc);
      const float beta_block = pc == 0 ? beta : 1.0f;
      // B block op(B)[pc : pc + kc, jc : jc + nc] as micro-panels of NR columns, each kc x NR k-major.
      for (index_t jr = 0; jr < nc; jr += nr) {
        const index_t cols = std::min<index_t>(nr, nc - jr);
        float* dst = Bp + jr * kc;
        if (trans_b)
          pack_across(B + (jc + jr) * ldb + pc, ldb, cols, kc, nr, dst);
        else
          pack_along(B + pc * ldb + jc + jr, ldb, cols, kc, nr, dst);
      }
      // Row panels of at most MR rows, balanced (M = 16 runs as 8 + 8, not 14 + 2).
      const index_t panels = (M + mr - 1) / mr, base = M / panels, extra = M % panels;
      for (index_t p = 0; p < panels; ++p) {
        const index_t ir = p * base + std::min(p, extra);
        const int rows = int(base + (p < extra ? 1 : 0));
        if (trans_a)
          pack_along(A + pc * lda + ir, lda, rows, kc, mr, Ap);
        else
          pack_across(A + ir * lda + pc, lda, rows, kc, mr, Ap);
        float* c_row = C + ir * ldc + jc;
        for (index_t jr = 0; jr < nc; jr += nr) {
          const index_t cols = std::min<index_t>(nr, nc - jr);
          const int width = cols > 16 ? 2 : cols > 8 ? 1 : 0;
          microkernels[width][rows - 1](kc, Ap, Bp + jr * kc, c_row + jr, ldc, cols, alpha, beta_block);
        }
      }
    }
  }
}

/// Y[r, j] = alpha (W[r, :] . X[j, :]) + beta Y[r, j] for r < rows and j < NX, Y[r, j] at y[r * y_row + j * y_col]:
/// products of a matrix whose rows are contiguous with one to four vectors (x Wᵀ for one token through a Linear
/// layer, or W x; an output layer of 2 features over a batch). They are bound by reading W, so it streams W once,
/// four rows at a time against the same 16 floats of each vector, with no packing. beta == 0 overwrites Y without
/// reading it.
template <int NX>
void sgemv_rows_avx512(index_t rows, index_t K, float alpha, const float* W, index_t ldw, const float* X, index_t ldx,
                       float beta, float* y, index_t y_row, index_t y_col) {
  using sgemm_detail::tail_mask;
  if (K <= 0 || alpha == 0.0f) {  // Y = beta Y, W and X not read (as in sgemm_avx512 and the BLAS)
    for (index_t r = 0; r < rows; ++r)
      for (int j = 0; j < NX; ++j) {
        float& out = y[r * y_row + j * y_col];
        out = beta == 0.0f ? 0.0f : beta * out;
      }
    return;
  }
  const index_t k_full = K / 16 * 16;
  const __mmask16 tail = tail_mask(K - k_full);
  const auto store = [&](index_t r, int j, __m512 sum) {
    float& out = y[r * y_row + j * y_col];
    const float dot = _mm512_reduce_add_ps(sum);
    out = beta == 0.0f ? alpha * dot : alpha * dot + beta * out;
  };
  // The 4 x NX partial sums of a group of 4 rows (s[i][j]: row r + i against vector j), then the lone rows.
  index_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* w = W + r * ldw;
    __m512 s[4][NX];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < NX; ++j) s[i][j] = _mm512_setzero_ps();
    const auto step = [&](index_t k, __mmask16 m) {
      __m512 xv[NX];
      for (int j = 0; j < NX; ++j) xv[j] = _mm512_maskz_loadu_ps(m, X + j * ldx + k);
      for (int i = 0; i < 4; ++i) {
        const __m512 wv = _mm512_maskz_loadu_ps(m, w + i * ldw + k);
        for (int j = 0; j < NX; ++j) s[i][j] = _mm512_fmadd_ps(wv, xv[j], s[i][j]);
      }
    };
    index_t k = 0;
    for (; k < k_full; k += 16) step(k, __mmask16(0xFFFF));
    if (k < K) step(k, tail);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < NX; ++j) store(r + i, j, s[i][j]);
  }
  for (; r < rows; ++r) {
    const float* w = W + r * ldw;
    __m512 s[NX];
    for (int j = 0; j < NX; ++j) s[j] = _mm512_setzero_ps();
    for (index_t k = 0; k < K; k += 16) {
      const __mmask16 m = tail_mask(K - k);
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + k);
      for (int j = 0; j < NX; ++j) s[j] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, X + j * ldx + k), s[j]);
    }
    for (int j = 0; j < NX; ++j) store(r, j, s[j]);
  }
}

/// sgemv_rows_avx512<NX> for a count of vectors known at run time, 1 <= vectors <= 4.
inline void sgemv_rows_avx512(index_t vectors, index_t rows, index_t K, float alpha, const float* W, index_t ldw,
                              const float* X, index_t ldx, float beta, float* y, index_t y_row, index_t y_col) {
  switch (vectors) {
    case 1: return sgemv_rows_avx512<1>(rows, K, alpha, W, ldw, X, ldx, beta, y, y_row, y_col);
    case 2: return sgemv_rows_avx512<2>(rows, K, alpha, W, ldw, X, ldx, beta, y, y_row, y_col);
    case 3: return sgemv_rows_avx512<3>(rows, K, alpha, W, ldw, X, ldx, beta, y, y_row, y_col);
    default: return sgemv_rows_avx512<4>(rows, K, alpha, W, ldw, X, ldx, beta, y, y_row, y_col);
  }
}

namespace sgemm_detail {
/// C[0:ROWS, :] = alpha op(A)[0:ROWS, :] B + beta C for B with contiguous rows, without packing: 64 columns of C at
/// a time in ROWS x 4 registers, over all of k, reading each row of B once per 64 columns. A(i, k) is a[i * a_row +
/// k * a_k]. The sum over k runs in the microkernel's order (one FMA per k from zero, then alpha and beta), so for
/// K <= KC the results are those of sgemm_avx512 bit for bit (tested).
template <int ROWS>
void few_rows_block(index_t N, index_t K, float alpha, const float* a, index_t a_row, index_t a_k, const float* B,
                    index_t ldb, float beta, float* C, index_t ldc) {
  for (index_t j = 0; j < N; j += 64) {
    __mmask16 mask[4];
    for (int v = 0; v < 4; ++v) mask[v] = tail_mask(N - j - 16 * v);
    __m512 acc[ROWS][4];
    for (int i = 0; i < ROWS; ++i)
      for (int v = 0; v < 4; ++v) acc[i][v] = _mm512_setzero_ps();
    for (index_t k = 0; k < K; ++k) {
      __m512 b[4];
      for (int v = 0; v < 4; ++v) b[v] = _mm512_maskz_loadu_ps(mask[v], B + k * ldb + j + 16 * v);
      for (int i = 0; i < ROWS; ++i) {
        const __m512 av = _mm512_set1_ps(a[i * a_row + k * a_k]);
        for (int v = 0; v < 4; ++v) acc[i][v] = _mm512_fmadd_ps(av, b[v], acc[i][v]);
      }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < ROWS; ++i)
      for (int v = 0; v < 4; ++v) {
        float* c = C + i * ldc + j + 16 * v;
        __m512 r = _mm512_mul_ps(va, acc[i][v]);
        if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], c), r);
        _mm512_mask_storeu_ps(c, mask[v], r);
      }
  }
}
}  // namespace sgemm_detail

/// C = alpha op(A) B + beta C (B not transposed, row-major with leading dimension ldb) without packing, 4 rows of C
/// at a time: for products with few rows (M <= 4: a weight gradient of an output layer, gᵀ h) or a short sum (K <= 4:
/// the input gradient of an output layer, g W), where packing would copy more than the product computes. beta == 0
/// overwrites C without reading it.
inline void sgemm_unpacked_avx512(bool trans_a, index_t M, index_t N, index_t K, float alpha, const float* A,
                                  index_t lda, const float* B, index_t ldb, float beta, float* C, index_t ldc) {
  using namespace sgemm_detail;
  if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
  const index_t a_row = trans_a ? 1 : lda, a_k = trans_a ? lda : 1;
  for (index_t i = 0; i < M; i += 4) {
    const float* a = A + i * a_row;
    float* c = C + i * ldc;
    switch (std::min<index_t>(4, M - i)) {
      case 4: few_rows_block<4>(N, K, alpha, a, a_row, a_k, B, ldb, beta, c, ldc); break;
      case 3: few_rows_block<3>(N, K, alpha, a, a_row, a_k, B, ldb, beta, c, ldc); break;
      case 2: few_rows_block<2>(N, K, alpha, a, a_row, a_k, B, ldb, beta, c, ldc); break;
      default: few_rows_block<1>(N, K, alpha, a, a_row, a_k, B, ldb, beta, c, ldc); break;
    }
  }
}

}  // namespace latent::kernels

#endif  // __AVX512F__
