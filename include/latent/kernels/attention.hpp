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
  /// The output (and its gradient) layout: [heads, Tq, Dv] when 0; with merged_heads = H, [heads / H, Tq, H·Dv],
  /// the heads side by side in each row (what the projection after a multi-head attention reads, without a copy).
  index_t merged_heads = 0;
  bool causal = false;
  double scale = 1.0;

  /// Where slice h's output rows start, and the distance between them.
  index_t out_offset(index_t h) const {
    return merged_heads ? ((h / merged_heads) * Tq * merged_heads + h % merged_heads) * Dv : h * Tq * Dv;
  }
  index_t out_row_stride() const { return merged_heads ? merged_heads * Dv : Dv; }

  /// Keys visible to query row i.
  index_t visible(index_t i) const { return causal ? std::min(Tk, i + Tk - Tq + 1) : Tk; }
  /// Workspace elements one slot needs: the score matrix (forward), score and dP matrices (backward).
  index_t forward_workspace() const { return Tq * Tk; }
  index_t backward_workspace() const { return 2 * Tq * Tk; }
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
  detail::for_each_slice(g, slots, workspace, g.forward_workspace(), [&](index_t h, T* s) {
    const T* qh = q + h * g.Tq * g.D;
    // S = Q Kᵀ  [Tq, Tk]
    gemm(false, true, g.Tq, g.Tk, g.D, T(1), qh, k + h * g.k_stride, T(0), s);
    detail::masked_softmax_rows(g, s, lse ? lse + h * g.Tq : nullptr);
    // O = P V  [Tq, Dv], rows out_row_stride() apart
    detail::gemm_block(false, false, g.Tq, g.Dv, g.Tk, T(1), s, g.Tk, v + h * g.v_stride, g.Dv, T(0), out + g.out_offset(h),
                       g.out_row_stride());
  });
}

/// Gradients of L through O = softmax(scale·Q Kᵀ + mask) V, given dO, the forward's O and lse:
///   P = exp(scale·Q Kᵀ - lse)            (recomputed: O(T) saved per row instead of the O(T²) probabilities)
///   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP - δ) with δ_i = Σ_j P_ij dP_ij = dO_i · O_i,
///   dQ = scale · dS K,  dK = scale · dSᵀ Q.
/// k/v use g's strides, out and dout its output layout; dq, dk, dv are dense. workspace holds
/// slots · g.backward_workspace() elements.
template <class T>
void attention_backward(const AttentionGeometry& g, const T* q, const T* k, const T* v, const T* out, const T* lse,
                        const T* dout, T* dq, T* dk, T* dv, index_t slots, T* workspace) {
  const T scale = static_cast<T>(g.scale);
  detail::for_each_slice(g, slots, workspace, g.backward_workspace(), [&](index_t h, T* p) {
    T* dp = p + g.Tq * g.Tk;
    const T* qh = q + h * g.Tq * g.D;
    const T* kh = k + h * g.k_stride;
    const T* vh = v + h * g.v_stride;
    const T* oh = out + g.out_offset(h);
    const T* doh = dout + g.out_offset(h);
    const index_t ld = g.out_row_stride();
    gemm(false, true, g.Tq, g.Tk, g.D, T(1), qh, kh, T(0), p);
    detail::probabilities_from_lse(g, p, lse + h * g.Tq);
    detail::gemm_block(true, false, g.Tk, g.Dv, g.Tq, T(1), p, g.Tk, doh, ld, T(0), dv + h * g.Tk * g.Dv, g.Dv);  // dV = Pᵀ dO
    detail::gemm_block(false, true, g.Tq, g.Tk, g.Dv, T(1), doh, ld, vh, g.Dv, T(0), dp, g.Tk);                  // dP = dO Vᵀ
    const detail::ConstStridedMap<T> o_rows(oh, g.Tq, g.Dv, Eigen::OuterStride<>(ld)), do_rows(doh, g.Tq, g.Dv, Eigen::OuterStride<>(ld));
    Array2Map<T> dp_a(dp, g.Tq, g.Tk);
    const ConstArray2Map<T> p_a(p, g.Tq, g.Tk);
    const Eigen::Array<T, Eigen::Dynamic, 1> delta = (o_rows.array() * do_rows.array()).rowwise().sum();
    dp_a = p_a * (dp_a.colwise() - delta);  // dS (masked entries stay 0 because P is 0 there)
    gemm(false, false, g.Tq, g.D, g.Tk, scale, dp, kh, T(0), dq + h * g.Tq * g.D);   // dQ = scale dS K
    gemm(true, false, g.Tk, g.D, g.Tq, scale, dp, qh, T(0), dk + h * g.Tk * g.D);    // dK = scale dSᵀ Q
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
