// scaled_dot_product_attention(q, k, v, causal, scale): fused softmax(scale·Q Kᵀ + mask) V over [..., T, D] with
// its own backward (recomputing the probabilities from the saved row log-sum-exp), and a composed backward for
// create_graph so that gradients of gradients work; the stacked form (one qkv [3, ..., T, D]) and the packed
// self-attention over a fused projection ([B, T, 3·H·D] in, [B, T, H·D] out, read and written in place).
#pragma once

#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "../kernels/attention.hpp"
#include "linalg.hpp"
#include "softmax.hpp"

namespace latent {
namespace ops_detail {

/// The kernel geometry of q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] (checked by the caller).
template <class T>
kernels::AttentionGeometry attention_geometry(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal, double scale) {
  const int r = q.rank();
  kernels::AttentionGeometry g;
  g.Tq = q.shape()[r - 2];
  g.D = q.shape()[r - 1];
  g.Tk = k.shape()[r - 2];
  g.Dv = v.shape()[r - 1];
  g.heads = q.shape().prod(0, r - 2);
  g.k_stride = g.Tk * g.D;
  g.v_stride = g.Tk * g.Dv;
  g.causal = causal;
  g.scale = scale;
  return g;
}

/// The geometry of the stacked form, qkv [3, ..., T, D]: q, k and v are its three parts.
inline kernels::AttentionGeometry attention_geometry_stacked(const Shape& s, bool causal, double scale) {
  const int r = s.rank();
  kernels::AttentionGeometry g;
  g.Tq = g.Tk = s[r - 2];
  g.D = g.Dv = s[r - 1];
  g.heads = s.prod(1, r - 2);
  g.k_stride = g.v_stride = g.Tk * g.D;
  g.causal = causal;
  g.scale = scale;
  return g;
}

/// The geometry of the packed form, qkv [B, T, 3·H·D] with H heads (checked by the caller).
inline kernels::AttentionGeometry attention_geometry_packed(const Shape& s, index_t heads, bool causal, double scale) {
  kernels::AttentionGeometry g;
  g.Tq = g.Tk = s[1];
  g.D = g.Dv = s[2] / (3 * heads);
  g.heads = s[0] * heads;
  g.packed_heads = heads;
  g.causal = causal;
  g.scale = scale;
  return g;
}

/// The additive causal mask [Tq, Tk]: 0 where query i sees key j (j <= i + Tk - Tq), -inf elsewhere.
template <class T>
Tensor<T> causal_mask(index_t Tq, index_t Tk) {
  auto mask = Tensor<T>::empty({Tq, Tk});
  T* m = mask.data();
  for (index_t i = 0; i < Tq; ++i)
    for (index_t j = 0; j < Tk; ++j) m[i * Tk + j] = j <= i + Tk - Tq ? T(0) : -std::numeric_limits<T>::infinity();
  return mask;
}

/// The gradients of <g, softmax(scale·Q Kᵀ + mask) V> in q, k, v (those flagged in need) composed of ops, so that they
/// are differentiable themselves (create_graph); P is recomputed differentiably from q and k.
template <class T>
std::array<Tensor<T>, 3> composed_attention_grads(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Tensor<T>& g,
                                                  bool causal, double scale, std::array<bool, 3> need) {
  std::array<Tensor<T>, 3> grads;
  const int r = q.rank();
  Tensor<T> s = mul_scalar(matmul(q, transpose(k, r - 2, r - 1)), static_cast<T>(scale));
  if (causal) s = add(s, causal_mask<T>(q.shape()[r - 2], k.shape()[r - 2]));
  const Tensor<T> p = softmax(s, -1);
  if (need[2]) grads[2] = matmul(transpose(p, r - 2, r - 1), g);
  if (!need[0] && !need[1]) return grads;
  const Tensor<T> dp = matmul(g, transpose(v, r - 2, r - 1));
  const Tensor<T> ds = mul_scalar(mul(p, sub(dp, sum(mul(dp, p), -1, true))), static_cast<T>(scale));
  if (need[0]) grads[0] = matmul(ds, k);
  if (need[1]) grads[1] = matmul(transpose(ds, r - 2, r - 1), q);
  return grads;
}

// O = P V with P = softmax(scale·Q Kᵀ + mask):
//   dV = Pᵀ G,  dS = P ⊙ (G Vᵀ - rowsum(P ⊙ G Vᵀ)),  dQ = scale·dS K,  dK = scale·dSᵀ Q.
// Plain backward: one fused kernel that recomputes P from the saved log-sum-exp. create_graph: the same
// formulas with ops, P recomputed differentiably from q and k, so the gradients are themselves differentiable.
template <class T>
void attention_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& q = n.inputs[0];
  const Tensor<T>& k = n.inputs[1];
  const Tensor<T>& v = n.inputs[2];
  const bool causal = n.ints[0] != 0;
  const double scale = n.reals[0];
  if (!is_grad_enabled()) {
    const kernels::AttentionGeometry geo = attention_geometry(q, k, v, causal, scale);
    const index_t slots = kernels::attention_slots(geo, num_threads());
    auto workspace = Tensor<T>::empty({slots * geo.backward_workspace()});
    auto dq = Tensor<T>::empty(q.shape()), dk = Tensor<T>::empty(k.shape()), dv = Tensor<T>::empty(v.shape());
    const Tensor<T> out = n.output_tensor();
    kernels::attention_backward(geo, q.data(), k.data(), v.data(), out.data(), n.saved[0].data(), g.data(), dq.data(), dk.data(),
                                dv.data(), slots, workspace.data());
    if (n.needs_grad(0)) grads[0] = dq;
    if (n.needs_grad(1)) grads[1] = dk;
    if (n.needs_grad(2)) grads[2] = dv;
    return;
  }
  const auto d = composed_attention_grads(q, k, v, g, causal, scale, {n.needs_grad(0), n.needs_grad(1), n.needs_grad(2)});
  for (std::size_t i = 0; i < 3; ++i)
    if (n.needs_grad(i)) grads[i] = d[i];
}

// The ops whose q, k and v are one tensor qkv, at offsets 0, part and 2·part in the layout of `geo` (stacked or packed).
// Forward: the fused kernel into out; the row log-sum-exp (for the backward) when `record`, else undefined.
template <class T>
Tensor<T> qkv_attention_forward(const kernels::AttentionGeometry& geo, const Tensor<T>& qkv, index_t part, Tensor<T>& out, bool record) {
  Tensor<T> lse = record ? Tensor<T>::empty({geo.heads * geo.Tq}) : Tensor<T>();
  if (out.numel() > 0) {
    const index_t slots = kernels::attention_slots(geo, num_threads());
    auto workspace = Tensor<T>::empty({slots * geo.forward_workspace()});
    const T* x = qkv.data();
    kernels::attention_forward(geo, x, x + part, x + 2 * part, out.data(), record ? lse.data() : static_cast<T*>(nullptr), slots,
                               workspace.data());
  }
  return lse;
}
// What every fused attention node holds (node may be null: nothing recorded): ints[0] = causal, reals[0] = scale,
// saved = {lse}, and the output, which the fused backward reads.
template <class T>
autograd::Node<T>* describe_attention_node(autograd::Node<T>* node, bool causal, double scale, const Tensor<T>& lse) {
  if (node) {
    node->ints[0] = causal;
    node->reals[0] = scale;
    node->saved.push_back(lse);
    node->reads_output = true;
  }
  return node;
}
// The fused backward: the gradient of qkv, in qkv's shape and layout.
template <class T>
Tensor<T> qkv_attention_backward(const kernels::AttentionGeometry& geo, autograd::Node<T>& n, index_t part, const Tensor<T>& g) {
  const Tensor<T>& qkv = n.inputs[0];
  const index_t slots = kernels::attention_slots(geo, num_threads());
  auto workspace = Tensor<T>::empty({slots * geo.backward_workspace()});
  auto d = Tensor<T>::empty(qkv.shape());
  const Tensor<T> out = n.output_tensor();
  const T* x = qkv.data();
  kernels::attention_backward(geo, x, x + part, x + 2 * part, out.data(), n.saved[0].data(), g.data(), d.data(), d.data() + part,
                              d.data() + 2 * part, slots, workspace.data());
  return d;
}

// The stacked form: one input qkv [3, ..., T, D] holding q, k and v, one gradient of the same shape.
template <class T>
void attention_stacked_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& qkv = n.inputs[0];
  const bool causal = n.ints[0] != 0;
  const double scale = n.reals[0];
  if (!is_grad_enabled()) {
    grads[0] = qkv_attention_backward(attention_geometry_stacked(qkv.shape(), causal, scale), n, qkv.numel() / 3, g);
    return;
  }
  const auto d = composed_attention_grads(select(qkv, 0, 0), select(qkv, 0, 1), select(qkv, 0, 2), g, causal, scale, {true, true, true});
  grads[0] = stack({d[0], d[1], d[2]}, 0);
}

// The packed form: qkv [B, T, 3·H·D] (ints[1] = H heads), output [B, T, H·D], one gradient of qkv's shape.
template <class T>
void packed_attention_backward(autograd::Node<T>& n, const Tensor<T>& g, autograd::TensorList<T>& grads) {
  const Tensor<T>& qkv = n.inputs[0];
  const bool causal = n.ints[0] != 0;
  const index_t H = n.ints[1], B = qkv.size(0), T_len = qkv.size(1), Dh = qkv.size(2) / (3 * H);
  const double scale = n.reals[0];
  if (!is_grad_enabled()) {
    grads[0] = qkv_attention_backward(attention_geometry_packed(qkv.shape(), H, causal, scale), n, H * Dh, g);
    return;
  }
  // create_graph: the composed rule on [B, H, T, D] views of q, k, v and of g, its gradients packed back
  const Tensor<T> stacked = permute(reshape(qkv, Shape{B, T_len, 3, H, Dh}), {2, 0, 3, 1, 4});  // [3, B, H, T, D]
  const Tensor<T> gh = permute(reshape(g, Shape{B, T_len, H, Dh}), {0, 2, 1, 3});
  const auto d = composed_attention_grads(select(stacked, 0, 0), select(stacked, 0, 1), select(stacked, 0, 2), gh, causal, scale,
                                          {true, true, true});
  grads[0] = reshape(permute(stack({d[0], d[1], d[2]}, 0), {1, 3, 0, 2, 4}), qkv.shape());
}

}  // namespace ops_detail

/// softmax(scale · q kᵀ + mask) v for q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] with equal leading
/// dimensions (e.g. [B, H, T, D]); output [..., Tq, Dv]. scale defaults to 1/√D. causal: query i attends key
/// j only when j <= i + Tk - Tq, the mask aligned at the bottom right (PyTorch's is_causal when Tq == Tk; with
/// Tq < Tk the queries are the last Tq positions, as in a KV-cache prefill); causal needs Tq <= Tk.
/// Saves one log-sum-exp per query row for the backward, never the [Tq, Tk] probabilities.
template <Scalar T>
Tensor<T> scaled_dot_product_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal = false,
                                       std::optional<double> scale = std::nullopt) {
  const std::string shapes = "q " + q.shape().str() + ", k " + k.shape().str() + ", v " + v.shape().str();
  const int r = q.rank();
  LATENT_CHECK(r >= 2 && k.rank() == r && v.rank() == r, ShapeError,
               "scaled_dot_product_attention: " + shapes + ": q, k and v must have the same rank >= 2");
  for (int d = 0; d < r - 2; ++d)
    LATENT_CHECK(k.shape()[d] == q.shape()[d] && v.shape()[d] == q.shape()[d], ShapeError,
                 "scaled_dot_product_attention: " + shapes + ": leading dimensions differ");
  LATENT_CHECK(k.shape()[r - 1] == q.shape()[r - 1], ShapeError,
               "scaled_dot_product_attention: " + shapes + ": q and k have different head sizes");
  LATENT_CHECK(v.shape()[r - 2] == k.shape()[r - 2], ShapeError,
               "scaled_dot_product_attention: " + shapes + ": k and v have different lengths");
  LATENT_CHECK(!causal || q.shape()[r - 2] <= k.shape()[r - 2], ValueError,
               "scaled_dot_product_attention: " + shapes + ": causal attention needs at most as many queries as keys");
  LATENT_CHECK(k.shape()[r - 2] > 0 || q.shape()[r - 2] == 0, ValueError,
               "scaled_dot_product_attention: " + shapes + ": no keys to attend to");
  const double sc = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.shape()[r - 1]));
  LATENT_CHECK(std::isfinite(sc), ValueError, "scaled_dot_product_attention: scale = " + std::to_string(sc) + " is not finite");

  Shape os = q.shape();
  os[r - 1] = v.shape()[r - 1];
  auto out = Tensor<T>::empty(os);
  const bool record = is_grad_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  const kernels::AttentionGeometry geo = ops_detail::attention_geometry(q, k, v, causal, sc);
  Tensor<T> lse = record ? Tensor<T>::empty({geo.heads * geo.Tq}) : Tensor<T>();
  if (out.numel() > 0) {
    const index_t slots = kernels::attention_slots(geo, num_threads());
    auto workspace = Tensor<T>::empty({slots * geo.forward_workspace()});
    kernels::attention_forward(geo, q.data(), k.data(), v.data(), out.data(), record ? lse.data() : static_cast<T*>(nullptr), slots,
                               workspace.data());
  }
  ops_detail::describe_attention_node(autograd::make_node(out, "scaled_dot_product_attention", &ops_detail::attention_backward<T>, {q, k, v}),
                                     causal, sc, lse);
  return out;
}

/// scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], causal, scale) for q, k and v stacked in one tensor
/// qkv [3, ..., T, D] (self-attention: equal lengths and head sizes), as one graph node whose gradient is one tensor
/// of qkv's shape. A model that projects q, k and v together (GPT's c_attn) reshapes the projection into this
/// layout with one copy; taking q, k and v apart with select() instead would cost three zero-padded gradients and
/// their sum in the backward. Output [..., T, D].
template <Scalar T>
Tensor<T> scaled_dot_product_attention_stacked(const Tensor<T>& qkv, bool causal = false, std::optional<double> scale = std::nullopt) {
  LATENT_CHECK(qkv.rank() >= 3 && qkv.shape()[0] == 3, ShapeError,
               "scaled_dot_product_attention_stacked: qkv " + qkv.shape().str() + " must be [3, ..., T, D] (q, k, v stacked)");
  const int r = qkv.rank();
  LATENT_CHECK(qkv.shape()[r - 2] > 0 || qkv.numel() == 0, ValueError,
               "scaled_dot_product_attention_stacked: qkv " + qkv.shape().str() + ": no keys to attend to");
  const double sc = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(qkv.shape()[r - 1]));
  LATENT_CHECK(std::isfinite(sc), ValueError, "scaled_dot_product_attention_stacked: scale = " + std::to_string(sc) + " is not finite");

  Shape os;
  for (int d = 1; d < r; ++d) os.push_back(qkv.shape()[d]);
  auto out = Tensor<T>::empty(os);
  const Tensor<T> lse = ops_detail::qkv_attention_forward(ops_detail::attention_geometry_stacked(qkv.shape(), causal, sc), qkv,
                                                          qkv.numel() / 3, out, is_grad_enabled() && qkv.requires_grad());
  ops_detail::describe_attention_node(
      autograd::make_node(out, "scaled_dot_product_attention_stacked", &ops_detail::attention_stacked_backward<T>, {qkv}), causal, sc, lse);
  return out;
}

/// Multi-head self-attention over a fused q/k/v projection: qkv [B, T, 3·H·D] holds in each row the queries, then
/// the keys, then the values, each H heads of D features (nanoGPT's c_attn output, torch's in_proj); the result
/// [B, T, H·D] has the heads side by side (what the output projection reads). Equal to splitting qkv into
/// [B, H, T, D] heads, scaled_dot_product_attention and merging the heads back, without those copies: the kernel
/// reads and writes these layouts in place, and the node keeps qkv and the output only.
template <Scalar T>
Tensor<T> packed_self_attention(const Tensor<T>& qkv, index_t heads, bool causal = false, std::optional<double> scale = std::nullopt) {
  LATENT_CHECK(heads > 0 && qkv.rank() == 3 && qkv.size(2) % (3 * heads) == 0 && qkv.size(2) > 0, ShapeError,
               "packed_self_attention: qkv " + qkv.shape().str() + " must be [B, T, 3·H·D] with H = " + std::to_string(heads) + " heads");
  LATENT_CHECK(qkv.size(1) > 0 || qkv.numel() == 0, ValueError, "packed_self_attention: qkv " + qkv.shape().str() + ": no keys to attend to");
  const index_t Dh = qkv.size(2) / (3 * heads), E = heads * Dh;
  const double sc = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(Dh));
  LATENT_CHECK(std::isfinite(sc), ValueError, "packed_self_attention: scale = " + std::to_string(sc) + " is not finite");

  auto out = Tensor<T>::empty({qkv.size(0), qkv.size(1), E});
  const Tensor<T> lse = ops_detail::qkv_attention_forward(ops_detail::attention_geometry_packed(qkv.shape(), heads, causal, sc), qkv, E,
                                                          out, is_grad_enabled() && qkv.requires_grad());
  if (auto* node = ops_detail::describe_attention_node(
          autograd::make_node(out, "packed_self_attention", &ops_detail::packed_attention_backward<T>, {qkv}), causal, sc, lse))
    node->ints[1] = heads;
  return out;
}

}  // namespace latent
