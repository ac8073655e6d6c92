// MultiHeadAttention (fused QKV projection, PyTorch nn.MultiheadAttention's parameter names, optional causal mask,
// rotary embeddings and attention dropout) with a KVCache for incremental decoding, and the pre-LayerNorm
// TransformerBlock of GPT-2/nanoGPT. The head split, the cached step and the dropout path are shared with nn/gpt.hpp.
#pragma once

#include <array>
#include <cmath>
#include <optional>
#include <string>

#include "../kernels/attention.hpp"
#include "../ops/activation.hpp"
#include "../ops/attention.hpp"
#include "../ops/random.hpp"
#include "../ops/rope.hpp"
#include "dropout.hpp"
#include "init.hpp"
#include "linear.hpp"
#include "module.hpp"
#include "norm.hpp"

namespace latent::nn {

struct MultiHeadAttentionOptions {
  index_t embed_dim = 0;  // required
  index_t num_heads = 0;  // required; divides embed_dim
  bool bias = true;       // in_proj_bias and out_proj.bias
  bool causal = false;    // each position attends only to itself and earlier positions
  bool rope = false;      // rotary position embeddings on queries and keys (ops/rope.hpp); needs an even head_dim
  double dropout = 0.0;   // on the attention probabilities, in training mode (PyTorch's dropout argument)
};

template <Scalar T>
class MultiHeadAttention;

/// The keys and values of the tokens seen so far, for incremental decoding: [batch, heads, capacity, head_dim]
/// buffers allocated on first use, of which the first length() positions are filled. One cache per attention
/// layer; reset() to start a new sequence. It holds values, not graphs: decoding through it records no gradient.
template <Scalar T>
class KVCache {
 public:
  explicit KVCache(index_t capacity) : capacity_(capacity) {
    LATENT_CHECK(capacity > 0, ValueError, "KVCache: capacity = " + std::to_string(capacity) + " must be positive");
  }
  index_t capacity() const noexcept { return capacity_; }
  index_t length() const noexcept { return length_; }
  /// Forgets the tokens (keeps the buffers).
  void reset() noexcept { length_ = 0; }

  /// One decoding step of an attention layer: appends the new keys and values k, v [B, H, T_new, Dh] and returns
  /// the attention of the new queries q [B, H, T_new, Dh] over every cached token, [B, H, T_new, Dh] (causal: the
  /// new tokens also see the new tokens before them). `who` and `input` (the layer's repr and input shape) name
  /// the caller in errors. Records no gradient.
  Tensor<T> append_and_attend(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal, const std::string& who,
                              const Shape& input) {
    NoGradGuard no_grad;
    const index_t B = q.size(0), H = q.size(1), T_new = q.size(2), Dh = q.size(3);
    const Shape cache_shape{B, H, capacity_, Dh};
    if (!keys.defined() || (length_ == 0 && !(keys.shape() == cache_shape))) {
      keys = Tensor<T>::empty(cache_shape);
      values = Tensor<T>::empty(cache_shape);
    }
    LATENT_CHECK(keys.shape() == cache_shape, ShapeError,
                 who + ": input " + input.str() + " does not continue the cache of " + keys.shape().str() +
                     " [batch, heads, capacity, head_dim]; reset() it to start new sequences");
    LATENT_CHECK(length_ + T_new <= capacity_, ValueError,
                 who + ": " + std::to_string(T_new) + " new tokens do not fit a KVCache holding " + std::to_string(length_) + " of its " +
                     std::to_string(capacity_) + " positions");
    kernels::kv_cache_append(k.data(), v.data(), B * H, T_new, Dh, Dh, capacity_, length_, keys.data(), values.data());
    length_ += T_new;
    kernels::AttentionGeometry g;
    g.heads = B * H;
    g.Tq = T_new;
    g.Tk = length_;
    g.D = g.Dv = Dh;
    g.k_stride = g.v_stride = capacity_ * Dh;
    g.causal = causal;
    g.scale = 1.0 / std::sqrt(static_cast<double>(Dh));
    auto y = Tensor<T>::empty({B, H, T_new, Dh});
    const index_t slots = kernels::attention_slots(g, num_threads());
    auto workspace = Tensor<T>::empty({slots * g.forward_workspace()});
    kernels::attention_forward(g, q.data(), keys.data(), values.data(), y.data(), static_cast<T*>(nullptr), slots, workspace.data());
    return y;
  }

  Tensor<T> keys, values;  // [B, H, capacity, Dh]; undefined until the first step

 private:
  index_t capacity_ = 0, length_ = 0;
};

/// softmax(q kᵀ/√D + causal mask) v with dropout(p) on the probabilities when `training` (q, k, v [..., T, D]).
/// The fused kernel has no dropout, so this is the composed path, taken only when attention dropout is active;
/// otherwise it is scaled_dot_product_attention.
template <Scalar T>
Tensor<T> attention_with_dropout(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal, double p, Rng& rng,
                                 bool training) {
  if (!training || p == 0.0) return scaled_dot_product_attention(q, k, v, causal);
  const int r = q.rank();
  Tensor<T> s = mul_scalar(matmul(q, transpose(k, r - 2, r - 1)), static_cast<T>(1.0 / std::sqrt(static_cast<double>(q.shape()[r - 1]))));
  if (causal) s = add(s, ops_detail::causal_mask<T>(q.shape()[r - 2], k.shape()[r - 2]));
  return matmul(dropout(softmax(s, -1), static_cast<T>(p), rng, true), v);
}

namespace detail {
/// [B, T, 3E] fused projections → q, k, v of [B, H, T, E/H] (rows [0, E) of the projection are the queries,
/// [E, 2E) the keys, [2E, 3E) the values: torch's in_proj_weight and nanoGPT's c_attn.weight alike).
/// [B, T, 3E] fused projections → [3, B, H, T, E/H]: q, k and v stacked (scaled_dot_product_attention_stacked).
template <Scalar T>
Tensor<T> stacked_heads(const Tensor<T>& qkv, index_t heads) {
  const index_t B = qkv.size(0), T_len = qkv.size(1), Dh = qkv.size(2) / (3 * heads);
  return permute(reshape(qkv, Shape{B, T_len, 3, heads, Dh}), {2, 0, 3, 1, 4});
}
template <Scalar T>
std::array<Tensor<T>, 3> split_heads(const Tensor<T>& qkv, index_t heads) {
  const Tensor<T> h = stacked_heads(qkv, heads);
  return {select(h, 0, 0), select(h, 0, 1), select(h, 0, 2)};
}
/// Self-attention over fused projections qkv [B, T, 3E] without rope or dropout: [B, T, E] (the heads merged), one
/// graph node and no copies (packed_self_attention).
template <Scalar T>
Tensor<T> attend_fused(const Tensor<T>& qkv, index_t heads, bool causal) {
  return packed_self_attention(qkv, heads, causal);
}
/// [B, H, T, Dh] → [B, T, H·Dh].
template <Scalar T>
Tensor<T> merge_heads(const Tensor<T>& y) {
  return reshape(permute(y, {0, 2, 1, 3}), Shape{y.size(0), y.size(2), y.size(1) * y.size(3)});
}
}  // namespace detail

/// Multi-head self-attention over x [B, T, embed_dim]:
///   q, k, v = split(x in_proj_weightᵀ + in_proj_bias) into num_heads heads of head_dim = embed_dim / num_heads
///   y = out_proj(concat_heads(scaled_dot_product_attention(q, k, v, causal)))
/// Parameters as torch.nn.MultiheadAttention (so its state_dict loads): in_proj_weight [3E, E] (xavier uniform),
/// in_proj_bias [3E] (zeros), out_proj.weight [E, E] (Linear's init), out_proj.bias [E] (zeros). Rows [0, E) of
/// in_proj_weight project the queries, [E, 2E) the keys, [2E, 3E) the values (nanoGPT's c_attn.weight is the same matrix).
template <Scalar T>
class MultiHeadAttention : public UnaryModule<T> {
  MultiHeadAttentionOptions options_;

 public:
  Tensor<T>& in_proj_weight;
  Tensor<T>& in_proj_bias;  // undefined when options.bias is false
  Linear<T> out_proj;

  MultiHeadAttention(const MultiHeadAttentionOptions& options, Rng& rng)
      : options_(validated(options)),
        in_proj_weight(this->register_parameter("in_proj_weight", Tensor<T>::empty({3 * options.embed_dim, options.embed_dim}))),
        in_proj_bias(this->register_parameter("in_proj_bias", options.bias ? zeros<T>({3 * options.embed_dim}) : Tensor<T>())),
        out_proj({.in_features = options.embed_dim, .out_features = options.embed_dim, .bias = options.bias}, rng) {
    init::xavier_uniform_(in_proj_weight, rng);
    if (out_proj.bias.defined()) init::zeros_(out_proj.bias);
    this->register_module("out_proj", out_proj);
    if (options.dropout > 0.0) dropout_rng_ = Rng(rng.next_u64());  // drawn only then: other streams stay as they were
  }

  const MultiHeadAttentionOptions& options() const noexcept { return options_; }
  index_t head_dim() const noexcept { return options_.embed_dim / options_.num_heads; }
  std::string repr() const override {
    return "MultiHeadAttention(embed_dim=" + std::to_string(options_.embed_dim) + ", num_heads=" + std::to_string(options_.num_heads) +
           ", bias=" + detail::bool_str(options_.bias) + ", causal=" + detail::bool_str(options_.causal) +
           (options_.rope ? ", rope=true" : "") + (options_.dropout > 0.0 ? ", dropout=" + detail::double_str(options_.dropout) : "") + ")";
  }
  /// The generator of the attention dropout (to save and restore its state).
  Rng& generator() noexcept { return dropout_rng_; }

  /// x [B, T, E] → [B, T, E], differentiable. With rope, position t of the input is position t.
  Tensor<T> forward(const Tensor<T>& x) override {
    check_input(x);
    if (!options_.rope && (options_.dropout == 0.0 || !this->is_training()))
      return out_proj(detail::attend_fused(linear(x, in_proj_weight, in_proj_bias), options_.num_heads, options_.causal));
    const Heads h = project(x, 0);
    return merge(attention_with_dropout(h.q, h.k, h.v, options_.causal, options_.dropout, dropout_rng_, this->is_training()));
  }

  /// Incremental decoding: x [B, T_new, E] holds the next T_new tokens of each sequence (a prompt, then one token
  /// at a time). Their keys and values are appended to `cache`, and their queries attend to every cached token
  /// (causal: the new tokens also to the new tokens before them). The result equals the rows of forward() over the
  /// whole sequence that belong to the new tokens (with rope, the new tokens are positions length() onwards).
  /// Runs without recording gradients.
  Tensor<T> forward(const Tensor<T>& x, KVCache<T>& cache) {
    check_input(x);
    NoGradGuard no_grad;
    const Heads h = project(x, cache.length());
    return merge(cache.append_and_attend(h.q, h.k, h.v, options_.causal, repr(), x.shape()));
  }

  Tensor<T> operator()(const Tensor<T>& x, KVCache<T>& cache) { return forward(x, cache); }
  using UnaryModule<T>::operator();

 private:
  struct Heads {
    Tensor<T> q, k, v;  // [B, H, T, head_dim] each
  };

  void check_input(const Tensor<T>& x) const {
    LATENT_CHECK(x.rank() == 3 && x.size(2) == options_.embed_dim, ShapeError,
                 repr() + ": input " + x.shape().str() + " must be [batch, length, " + std::to_string(options_.embed_dim) + "]");
  }

  /// [B, T, E] → q, k, v of [B, H, T, Dh] through one fused projection (one GEMM) and one permutation; with
  /// rope, q and k rotated for positions offset, offset + 1, ...
  Heads project(const Tensor<T>& x, index_t offset) const {
    auto [q, k, v] = detail::split_heads(linear(x, in_proj_weight, in_proj_bias), options_.num_heads);
    if (options_.rope) return {rotary_embedding(q, offset), rotary_embedding(k, offset), v};
    return {q, k, v};
  }

  /// [B, H, T, Dh] → out_proj of [B, T, E].
  Tensor<T> merge(const Tensor<T>& y) { return out_proj(detail::merge_heads(y)); }

  static MultiHeadAttentionOptions validated(const MultiHeadAttentionOptions& o) {
    detail::check_positive("MultiHeadAttention", "embed_dim", o.embed_dim);
    detail::check_positive("MultiHeadAttention", "num_heads", o.num_heads);
    LATENT_CHECK(o.embed_dim % o.num_heads == 0, ValueError,
                 "MultiHeadAttention: embed_dim = " + std::to_string(o.embed_dim) + " is not divisible by num_heads = " +
                     std::to_string(o.num_heads));
    LATENT_CHECK(!o.rope || (o.embed_dim / o.num_heads) % 2 == 0, ValueError,
                 "MultiHeadAttention: rope needs an even head_dim, got " + std::to_string(o.embed_dim / o.num_heads));
    LATENT_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, ValueError,
                 "MultiHeadAttention: dropout = " + detail::double_str(o.dropout) + " is not in [0, 1)");
    return o;
  }
  Rng dropout_rng_{0};
};

struct TransformerBlockOptions {
  index_t embed_dim = 0;  // required
  index_t num_heads = 0;  // required
  index_t mlp_ratio = 4;  // hidden width of the MLP = mlp_ratio · embed_dim
  bool bias = true;       // biases of every Linear and LayerNorm
  bool causal = true;
  double dropout = 0.0;   // on the attention and MLP outputs before each residual add (nanoGPT's resid_dropout)
  GeluApproximation gelu = GeluApproximation::none;
};

/// The MLP of a transformer block: c_proj(gelu(c_fc(x))) (nanoGPT's names).
template <Scalar T>
class TransformerMLP : public UnaryModule<T> {
 public:
  Linear<T> c_fc, c_proj;
  TransformerMLP(index_t embed_dim, index_t hidden, bool bias, GeluApproximation gelu, Rng& rng)
      : c_fc({.in_features = embed_dim, .out_features = hidden, .bias = bias}, rng),
        c_proj({.in_features = hidden, .out_features = embed_dim, .bias = bias}, rng),
        gelu_(gelu) {
    this->register_module("c_fc", c_fc);
    this->register_module("c_proj", c_proj);
  }
  std::string repr() const override { return "TransformerMLP(" + c_fc.repr() + ", " + c_proj.repr() + ")"; }
  /// c_proj(gelu(c_fc(x))), the GELU recomputed in the backward instead of kept (gelu_linear).
  Tensor<T> forward(const Tensor<T>& x) override { return project(c_fc(x)); }
  /// c_proj(gelu(hidden)) for hidden = c_fc(x) computed by the caller (fused with what precedes it).
  Tensor<T> project(const Tensor<T>& hidden) { return gelu_linear(hidden, c_proj.weight, c_proj.bias, gelu_); }

 private:
  GeluApproximation gelu_;
};

/// Pre-LayerNorm decoder block (GPT-2, nanoGPT):  x += dropout(attn(ln_1(x)));  x += dropout(mlp(ln_2(x))).
/// Names: ln_1, attn (in_proj_weight, in_proj_bias, out_proj), ln_2, mlp.c_fc, mlp.c_proj.
template <Scalar T>
class TransformerBlock : public UnaryModule<T> {
  TransformerBlockOptions options_;

 public:
  LayerNorm<T> ln_1;
  MultiHeadAttention<T> attn;
  LayerNorm<T> ln_2;
  TransformerMLP<T> mlp;
  Dropout<T> dropout;

  TransformerBlock(const TransformerBlockOptions& options, Rng& rng)
      : options_(validated(options)),
        ln_1({.normalized_shape = {options.embed_dim}, .bias = options.bias}),
        attn({.embed_dim = options.embed_dim, .num_heads = options.num_heads, .bias = options.bias, .causal = options.causal}, rng),
        ln_2({.normalized_shape = {options.embed_dim}, .bias = options.bias}),
        mlp(options.embed_dim, options.mlp_ratio * options.embed_dim, options.bias, options.gelu, rng),
        dropout({.p = options.dropout}, rng) {
    this->register_module("ln_1", ln_1);
    this->register_module("attn", attn);
    this->register_module("ln_2", ln_2);
    this->register_module("mlp", mlp);
    this->register_module("dropout", dropout);
  }

  const TransformerBlockOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "TransformerBlock(embed_dim=" + std::to_string(options_.embed_dim) + ", num_heads=" + std::to_string(options_.num_heads) +
           ", mlp_ratio=" + std::to_string(options_.mlp_ratio) + ", causal=" + detail::bool_str(options_.causal) +
           ", dropout=" + detail::double_str(options_.dropout) + ")";
  }

  /// x [B, T, E] → [B, T, E].
  Tensor<T> forward(const Tensor<T>& x) override {
    const Tensor<T> h = add(x, residual(attn(ln_1(x))));
    return add(h, residual(mlp(ln_2(h))));
  }
  /// Incremental decoding through the attention layer's cache (see MultiHeadAttention::forward(x, cache)).
  Tensor<T> forward(const Tensor<T>& x, KVCache<T>& cache) {
    NoGradGuard no_grad;
    const Tensor<T> h = add(x, residual(attn(ln_1(x), cache)));
    return add(h, residual(mlp(ln_2(h))));
  }
  Tensor<T> operator()(const Tensor<T>& x, KVCache<T>& cache) { return forward(x, cache); }
  using UnaryModule<T>::operator();

 private:
  Tensor<T> residual(const Tensor<T>& y) { return options_.dropout > 0.0 ? dropout(y) : y; }

  static TransformerBlockOptions validated(const TransformerBlockOptions& o) {
    detail::check_positive("TransformerBlock", "embed_dim", o.embed_dim);
    detail::check_positive("TransformerBlock", "num_heads", o.num_heads);
    detail::check_positive("TransformerBlock", "mlp_ratio", o.mlp_ratio);
    LATENT_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, ValueError,
                 "TransformerBlock: dropout = " + detail::double_str(o.dropout) + " is not in [0, 1)");
    return o;  // divisibility is checked by MultiHeadAttention
  }
};

}  // namespace latent::nn
