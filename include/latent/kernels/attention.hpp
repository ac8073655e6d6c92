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

  /// Where slice h's rows of q, k, v (and of their gradients) and of the output start, and the distances between rows.
  index_t q_offset(index_t h) const { return packed_heads ? packed_offset(h, 3) : h * Tq * D; }
  index_t k_offset(index_t h) const { return packed_heads ? packed_offset(h, 3) : h * k_stride; }
  index_t v_offset(index_t h) const { return packed_heads ? packed_offset(h, 3) : h * v_stride; }
  index_t out_offset(index_t h) const { return packed_heads ? packed_offset(h, 1) : h * Tq * Dv; }
  index_t qkv_row_stride(index_t dim) const { return packed_heads ? 3 * packed_heads * D : dim; }
  index_t out_row_stride() const { return packed_heads ? packed_heads * Dv : Dv; }

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

/// out = softmax(scale·Q Kᵀ + mask) V for every slice; lse (may be null) gets log Σ_j exp(scale·q_i·k_j) over the
/// visible keys of each query row, [heads, Tq]. workspace holds slots · g.forward_workspace() elements.
template <class T>
void attention_forward(const AttentionGeometry& g, const T* q, const T* k, const T* v, T* out, T* lse, index_t slots,
                       T* workspace) {
  const index_t ldq = g.qkv_row_stride(g.D), ldk = g.qkv_row_stride(g.D), ldv = g.qkv_row_stride(g.Dv), ldo = g.out_row_stride();
  detail::for_each_slice(g, slots, workspace, g.forward_workspace(), [&](index_t h, T* s) {
    // S = Q Kᵀ  [Tq, Tk]
    detail::slice_gemm(false, true, g.Tq, g.Tk, g.D, T(1), q + g.q_offset(h), ldq, k + g.k_offset(h), ldk, s, g.Tk);
    detail::masked_softmax_rows(g, s, lse ? lse + h * g.Tq : nullptr);
    // O = P V  [Tq, Dv]
    detail::slice_gemm(false, false, g.Tq, g.Dv, g.Tk, T(1), s, g.Tk, v + g.v_offset(h), ldv, out + g.out_offset(h), ldo);
  });
}

/// Gradients of L through O = softmax(scale·Q Kᵀ + mask) V, given dO, the forward's O and lse:
///   P = exp(scale·Q Kᵀ - lse)            (recomputed: O(T) saved per row instead of the O(T²) probabilities)
///   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP - δ) with δ_i = Σ_j P_ij dP_ij = dO_i · O_i,
///   dQ = scale · dS K,  dK = scale · dSᵀ Q.
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
    detail::slice_gemm(false, true, g.Tq, g.Tk, g.D, T(1), qh, ldq, kh, ldk, p, g.Tk);
    detail::probabilities_from_lse(g, p, lse + h * g.Tq);
    detail::slice_gemm(true, false, g.Tk, g.Dv, g.Tq, T(1), p, g.Tk, doh, ldo, dv + g.v_offset(h), ldv);  // dV = Pᵀ dO
    detail::slice_gemm(false, true, g.Tq, g.Tk, g.Dv, T(1), doh, ldo, vh, ldv, dp, g.Tk);                 // dP = dO Vᵀ
    const detail::ConstStridedMap<T> o_rows(oh, g.Tq, g.Dv, Eigen::OuterStride<>(ldo)), do_rows(doh, g.Tq, g.Dv, Eigen::OuterStride<>(ldo));
    Array2Map<T> dp_a(dp, g.Tq, g.Tk);
    const ConstArray2Map<T> p_a(p, g.Tq, g.Tk);
    const Eigen::Array<T, Eigen::Dynamic, 1> delta = (o_rows.array() * do_rows.array()).rowwise().sum();
    dp_a = p_a * (dp_a.colwise() - delta);  // dS (masked entries stay 0 because P is 0 there)
    detail::slice_gemm(false, false, g.Tq, g.D, g.Tk, scale, dp, g.Tk, kh, ldk, dq + g.q_offset(h), ldq);  // dQ = scale dS K
    detail::slice_gemm(true, false, g.Tk, g.D, g.Tq, scale, dp, g.Tk, qh, ldq, dk + g.k_offset(h), ldk);   // dK = scale dSᵀ Q
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
