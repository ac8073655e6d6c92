// Scaled-dot-product attention on raw memory: forward with a per-row log-sum-exp, the backward that recomputes the
// probabilities from it (FlashAttention's recomputation), and the key/value cache append of incremental decoding.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "eigen.hpp"
#include "gemm.hpp"
#include "parallel.hpp"

namespace latent::kernels {

/// The geometry of one attention call over `heads` independent (batch × head) slices. Slice h reads
/// q + h·Tq·D, k + h·k_stride, v + h·v_stride (rows of D and Dv elements, consecutive), and writes Tq rows of
/// Dv at out + h·Tq·Dv. k_stride/v_stride are Tk·D and Tk·Dv for dense [.., Tk, .] tensors and capacity·D for
/// a key/value cache that holds Tk filled rows out of `capacity`.
/// Causal: query i attends key j only when j <= i + (Tk - Tq), the mask aligned at the bottom right so
/// that the last query sees every key (identical to PyTorch's is_causal when Tq == Tk; with a cache,
/// new query i is the token at position Tk - Tq + i).
struct AttentionGeometry {
  index_t heads = 0, Tq = 0, Tk = 0, D = 0, Dv = 0;
  index_t k_stride = 0, v_stride = 0;
  /// Packed layout, for self-attention over a fused q/k/v projection (Tq == Tk, D == Dv): with packed_heads = H,
  /// the input is [heads / H, T, 3, H, D] (q, k, v side by side in each row, as the projection writes them; the
  /// callers pass q = x, k = x + H·D, v = x + 2·H·D) and the output [heads / H, T, H, D] (what the projection after
  /// the attention reads); gradients have their operand's layout. With 0: q [heads, Tq, D], k and v at k_stride and
  /// v_stride per slice, output [heads, Tq, Dv].
  index_t packed_heads = 0;
  bool causal = false;
  double scale = 1.0;
  /// Causal attention runs its products over blocks of query rows, each against the keys its last row sees, so the
  /// masked upper block triangle of the scores is neither computed nor multiplied. 0 chooses the block size (see
  /// query_block_rows); Tq or more runs one block, the whole square.
  index_t query_block = 0;

  /// Where slice h's rows of q, k, v (and of their gradients) and of the output start, and the distances between rows.
  index_t q_offset(index_t h) const { return packed_heads ? packed_offset(h, 3) : h * Tq * D; }
  index_t k_offset(index_t h) const { return packed_heads ? packed_offset(h, 3) : h * k_stride; }
  index_t v_offset(index_t h) const { return packed_heads ? packed_offset(h, 3) : h * v_stride; }
  index_t out_offset(index_t h) const { return packed_heads ? packed_offset(h, 1) : h * Tq * Dv; }
  index_t qkv_row_stride(index_t dim) const { return packed_heads ? 3 * packed_heads * D : dim; }
  index_t out_row_stride() const { return packed_heads ? packed_heads * Dv : Dv; }

  /// Rows per query block: query_block, or by default a quarter of Tq rounded up to 16 rows, within [32, 128]. With
  /// b blocks the products skip (b - 1) / 2b of the square; smaller blocks make smaller, less efficient GEMMs. On an
  /// Intel Xeon (one thread) a causal forward + backward over W3b's 48 slices of 256 x 256 x 64 took 29.1 ms in one
  /// block, 23.3 in blocks of 32, 22.7 of 64 and 24.5 of 128; W3's 48 slices of 64 x 64 x 32 1.36 ms in one block
  /// and 1.26 in blocks of 32.
  index_t query_block_rows() const {
    return query_block > 0 ? query_block : std::clamp<index_t>((Tq / 4 + 15) / 16 * 16, 32, 128);
  }
  /// Keys visible to query row i.
  index_t visible(index_t i) const { return causal ? std::min(Tk, i + Tk - Tq + 1) : Tk; }
  /// Workspace elements one slot needs: the score matrix (forward), score and dP matrices (backward).
  index_t forward_workspace() const { return Tq * Tk; }
  index_t backward_workspace() const { return 2 * Tq * Tk; }

 private:
  /// Slice h = (b, head) of a [heads / H, T, parts, H, D] layout.
  index_t packed_offset(index_t h, index_t parts) const {
    return (h / packed_heads) * Tq * parts * packed_heads * D + (h % packed_heads) * D;
  }
};

/// How the slices are spread: `slots` contiguous runs of slices, one thread and one workspace each.
inline index_t attention_slots(const AttentionGeometry& g, int threads) {
  const index_t work = g.heads * g.Tq * g.Tk * (g.D + g.Dv);
  if (threads <= 1 || g.heads <= 1 || work < parallel_threshold) return 1;
  return std::min<index_t>(threads, g.heads);
}

namespace detail {
/// P = softmax over the visible prefix of each row of scale·S (in place; masked entries become 0), stable by
/// subtracting the row maximum; the row log-sum-exp of the scaled scores goes to lse when it is not null.
/// Every row must see at least one key (Tq <= Tk when causal).
template <class T>
void masked_softmax_rows(const AttentionGeometry& g, T* s, T* lse) {
  const T scale = static_cast<T>(g.scale);
  for (index_t i = 0; i < g.Tq; ++i) {
    const index_t n = g.visible(i);
    ArrayMap<T> row(s + i * g.Tk, g.Tk);
    row.tail(g.Tk - n).setZero();
    row.head(n) *= scale;
    const T m = row.head(n).maxCoeff();
    row.head(n) = (row.head(n) - m).exp();
    const T l = row.head(n).sum();
    row.head(n) /= l;
    if (lse) lse[i] = m + std::log(l);
  }
}

/// P = exp(scale·S - lse) over the visible prefix of each row, 0 elsewhere (in place).
template <class T>
void probabilities_from_lse(const AttentionGeometry& g, T* s, const T* lse) {
  const T scale = static_cast<T>(g.scale);
  for (index_t i = 0; i < g.Tq; ++i) {
    const index_t n = g.visible(i);
    ArrayMap<T> row(s + i * g.Tk, g.Tk);
    row.tail(g.Tk - n).setZero();
    row.head(n) = (row.head(n) * scale - lse[i]).exp();
  }
}

/// A block of query rows [r0, r0 + rows), which see keys [0, keys) at most. Keys [first_new_key, keys) are those no
/// earlier block sees, and no query row before r0 sees them: the backward computes dV and dK for those keys from
/// rows r0 .. Tq - 1 only.
struct QueryBlock {
  index_t r0, rows, keys, first_new_key;
};

/// Runs fn(QueryBlock) over the query blocks of a slice, in order: one block [0, Tq) x [0, Tk) unless the attention
/// is causal and longer than a query block.
template <class Fn>
void for_each_query_block(const AttentionGeometry& g, Fn&& fn) {
  const index_t block = g.causal ? g.query_block_rows() : g.Tq;
  index_t seen = 0;  // keys the blocks so far see
  for (index_t r0 = 0; r0 < g.Tq; r0 += block) {
    const index_t rows = std::min(block, g.Tq - r0), keys = g.visible(r0 + rows - 1);
    fn(QueryBlock{r0, rows, keys, seen});
    seen = keys;
  }
}

/// C = alpha op(A) op(B) for one slice: through gemm (which may split a long single slice over threads) when the
/// operands are dense, else on this thread with the leading dimensions of a packed layout.
template <class T>
void slice_gemm(bool ta, bool tb, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda, const T* B, index_t ldb, T* C,
                index_t ldc) {
  if (lda == (ta ? M : K) && ldb == (tb ? K : N) && ldc == N) gemm(ta, tb, M, N, K, alpha, A, B, T(0), C);
  else gemm_block(ta, tb, M, N, K, alpha, A, lda, B, ldb, T(0), C, ldc);
}

/// Runs fn(slice, workspace) over every slice, `slots` runs in parallel, each with its own workspace.
template <class T, class Fn>
void for_each_slice(const AttentionGeometry& g, index_t slots, T* workspace, index_t per_slot, Fn&& fn) {
  const index_t chunk = (g.heads + slots - 1) / slots;
  parallel_for(0, slots, slots > 1 ? parallel_threshold : 0, [&](index_t s) {
    T* ws = workspace + s * per_slot;
    for (index_t h = s * chunk; h < std::min(g.heads, (s + 1) * chunk); ++h) fn(h, ws);
  });
}
}  // namespace detail

/// out = softmax(scale·Q Kᵀ + mask) V for every slice (causal: over query blocks, see for_each_query_block); lse
/// (may be null) gets log Σ_j exp(scale·q_i·k_j) over the visible keys of each query row, [heads, Tq]. workspace
/// holds slots · g.forward_workspace() elements.
template <class T>
void attention_forward(const AttentionGeometry& g, const T* q, const T* k, const T* v, T* out, T* lse, index_t slots,
                       T* workspace) {
  const index_t ldq = g.qkv_row_stride(g.D), ldk = g.qkv_row_stride(g.D), ldv = g.qkv_row_stride(g.Dv), ldo = g.out_row_stride();
  detail::for_each_slice(g, slots, workspace, g.forward_workspace(), [&](index_t h, T* s) {
    const T* qh = q + g.q_offset(h);
    const T* kh = k + g.k_offset(h);
    const T* vh = v + g.v_offset(h);
    T* oh = out + g.out_offset(h);
    // S = Q Kᵀ  [Tq, Tk], the visible block triangle
    detail::for_each_query_block(g, [&](const detail::QueryBlock& b) {
      detail::slice_gemm(false, true, b.rows, b.keys, g.D, T(1), qh + b.r0 * ldq, ldq, kh, ldk, s + b.r0 * g.Tk, g.Tk);
    });
    detail::masked_softmax_rows(g, s, lse ? lse + h * g.Tq : nullptr);
    // O = P V  [Tq, Dv]
    detail::for_each_query_block(g, [&](const detail::QueryBlock& b) {
      detail::slice_gemm(false, false, b.rows, g.Dv, b.keys, T(1), s + b.r0 * g.Tk, g.Tk, vh, ldv, oh + b.r0 * ldo,
                         ldo);
    });
  });
}

/// Gradients of L through O = softmax(scale·Q Kᵀ + mask) V, given dO, the forward's O and lse:
///   P = exp(scale·Q Kᵀ - lse)            (recomputed: O(T) saved per row instead of the O(T²) probabilities)
///   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP - δ) with δ_i = Σ_j P_ij dP_ij = dO_i · O_i,
///   dQ = scale · dS K,  dK = scale · dSᵀ Q.
/// Causal attention runs every product over query blocks (for_each_query_block): dQ of a block's rows from the keys
/// it sees, dV and dK of the keys it is the first to see from its rows and all later ones.
/// q, k, v, dq, dk, dv, out and dout have g's layout (dk, dv: k_stride = Tk·D, v_stride = Tk·Dv unless packed).
/// workspace holds slots · g.backward_workspace() elements.
template <class T>
void attention_backward(const AttentionGeometry& g, const T* q, const T* k, const T* v, const T* out, const T* lse,
                        const T* dout, T* dq, T* dk, T* dv, index_t slots, T* workspace) {
  const T scale = static_cast<T>(g.scale);
  const index_t ldq = g.qkv_row_stride(g.D), ldk = g.qkv_row_stride(g.D), ldv = g.qkv_row_stride(g.Dv), ldo = g.out_row_stride();
  detail::for_each_slice(g, slots, workspace, g.backward_workspace(), [&](index_t h, T* p) {
    T* dp = p + g.Tq * g.Tk;
    const T* qh = q + g.q_offset(h);
    const T* kh = k + g.k_offset(h);
    const T* vh = v + g.v_offset(h);
    const T* oh = out + g.out_offset(h);
    const T* doh = dout + g.out_offset(h);
    // S over the visible block triangle, then P everywhere (0 where masked)
    detail::for_each_query_block(g, [&](const detail::QueryBlock& b) {
      detail::slice_gemm(false, true, b.rows, b.keys, g.D, T(1), qh + b.r0 * ldq, ldq, kh, ldk, p + b.r0 * g.Tk, g.Tk);
    });
    detail::probabilities_from_lse(g, p, lse + h * g.Tq);
    const detail::ConstStridedMap<T> o_rows(oh, g.Tq, g.Dv, Eigen::OuterStride<>(ldo)), do_rows(doh, g.Tq, g.Dv, Eigen::OuterStride<>(ldo));
    const Eigen::Array<T, Eigen::Dynamic, 1> delta = (o_rows.array() * do_rows.array()).rowwise().sum();
    detail::for_each_query_block(g, [&](const detail::QueryBlock& b) {
      const index_t r0 = b.r0, j0 = b.first_new_key, later = g.Tq - b.r0;
      // dV = Pᵀ dO for the block's new keys, from the rows that see them
      detail::slice_gemm(true, false, b.keys - j0, g.Dv, later, T(1), p + r0 * g.Tk + j0, g.Tk, doh + r0 * ldo, ldo,
                         dv + g.v_offset(h) + j0 * ldv, ldv);
      // dP = dO Vᵀ, then dS = P ⊙ (dP - δ) (0 where masked, because P is 0 there)
      detail::slice_gemm(false, true, b.rows, b.keys, g.Dv, T(1), doh + r0 * ldo, ldo, vh, ldv, dp + r0 * g.Tk, g.Tk);
      detail::StridedMap<T> dp_block(dp + r0 * g.Tk, b.rows, b.keys, Eigen::OuterStride<>(g.Tk));
      const detail::ConstStridedMap<T> p_block(p + r0 * g.Tk, b.rows, b.keys, Eigen::OuterStride<>(g.Tk));
      dp_block.array() = p_block.array() * (dp_block.array().colwise() - delta.segment(r0, b.rows));
    });
    // dQ = scale dS K, dK = scale dSᵀ Q (the block's new keys, from the rows that see them): dS of every block first
    detail::for_each_query_block(g, [&](const detail::QueryBlock& b) {
      const index_t r0 = b.r0, j0 = b.first_new_key, later = g.Tq - b.r0;
      detail::slice_gemm(false, false, b.rows, g.D, b.keys, scale, dp + r0 * g.Tk, g.Tk, kh, ldk,
                         dq + g.q_offset(h) + r0 * ldq, ldq);
      detail::slice_gemm(true, false, b.keys - j0, g.D, later, scale, dp + r0 * g.Tk + j0, g.Tk, qh + r0 * ldq, ldq,
                         dk + g.k_offset(h) + j0 * ldk, ldk);
    });
  });
}

/// Incremental decoding: copies the keys/values of T_new new tokens, k_new [heads, T_new, D] and
/// v_new [heads, T_new, Dv], into rows [length, length + T_new) of each slice of a cache
/// k_cache [heads, capacity, D], v_cache [heads, capacity, Dv]. The caller checks the capacity; afterwards
/// attention_forward with k_stride = capacity·D, v_stride = capacity·Dv and Tk = length + T_new attends the new
/// queries to every cached token (causal: each new token also to the new tokens before it).
template <class T>
void kv_cache_append(const T* k_new, const T* v_new, index_t heads, index_t T_new, index_t D, index_t Dv,
                     index_t capacity, index_t length, T* k_cache, T* v_cache) {
  for (index_t h = 0; h < heads; ++h) {
    MatrixMap<T>(k_cache + (h * capacity + length) * D, T_new, D) = ConstMatrixMap<T>(k_new + h * T_new * D, T_new, D);
    MatrixMap<T>(v_cache + (h * capacity + length) * Dv, T_new, Dv) = ConstMatrixMap<T>(v_new + h * T_new * Dv, T_new, Dv);
  }
}

}  // namespace latent::kernels
