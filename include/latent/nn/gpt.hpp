// GPT<T>: nanoGPT's decoder-only transformer (pre-LayerNorm blocks, causal fused attention, exact-GELU MLP, learned
// positions or RoPE, tied output head, nanoGPT's initialisation and parameter names) with incremental decoding
// through a per-layer KV cache (GPTCache), and the AdamW parameter groups nanoGPT's configure_optimizers builds.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../core/factory.hpp"
#include "attention.hpp"
#include "container.hpp"
#include "dropout.hpp"
#include "embedding.hpp"
#include "init.hpp"
#include "linear.hpp"
#include "module.hpp"
#include "norm.hpp"

namespace latent::nn {

/// nanoGPT's GPTConfig with the defaults of its CPU character-level configuration (and rope / tie_weights added).
struct GPTConfig {
  std::int64_t vocab_size = 65;
  std::int64_t block_size = 64;  ///< longest context; the size of the learned position table
  std::int64_t n_layer = 4;
  std::int64_t n_head = 4;
  std::int64_t n_embd = 128;
  double dropout = 0.0;      ///< after the embeddings, on the attention probabilities and before each residual add
  bool bias = false;         ///< biases in the Linears and LayerNorms (GPT-2: true)
  bool tie_weights = true;   ///< lm_head.weight is transformer.wte.weight
  bool rope = false;         ///< rotary embeddings on queries and keys instead of learned positions (no wpe)
};

/// The config as text (a safetensors metadata map) and back; from_metadata fills absent keys with the defaults.
inline std::map<std::string, std::string> to_metadata(const GPTConfig& c) {
  return {{"vocab_size", std::to_string(c.vocab_size)}, {"block_size", std::to_string(c.block_size)},
          {"n_layer", std::to_string(c.n_layer)},       {"n_head", std::to_string(c.n_head)},
          {"n_embd", std::to_string(c.n_embd)},         {"dropout", detail::double_str(c.dropout)},
          {"bias", detail::bool_str(c.bias)},           {"tie_weights", detail::bool_str(c.tie_weights)},
          {"rope", detail::bool_str(c.rope)}};
}
inline GPTConfig gpt_config_from_metadata(const std::map<std::string, std::string>& m) {
  GPTConfig c;
  auto integer = [&](const char* key, std::int64_t& v) {
    if (auto it = m.find(key); it != m.end()) v = std::stoll(it->second);
  };
  auto flag = [&](const char* key, bool& v) {
    if (auto it = m.find(key); it != m.end()) {
      LATENT_CHECK(it->second == "true" || it->second == "false", ValueError,
                   std::string("GPTConfig: metadata '") + key + "' = '" + it->second + "' is not true or false");
      v = it->second == "true";
    }
  };
  integer("vocab_size", c.vocab_size);
  integer("block_size", c.block_size);
  integer("n_layer", c.n_layer);
  integer("n_head", c.n_head);
  integer("n_embd", c.n_embd);
  if (auto it = m.find("dropout"); it != m.end()) c.dropout = std::stod(it->second);
  flag("bias", c.bias);
  flag("tie_weights", c.tie_weights);
  flag("rope", c.rope);
  return c;
}

/// The keys and values of every layer for incremental decoding of `batch` sequences of up to capacity() tokens.
template <Scalar T>
class GPTCache {
 public:
  GPTCache(index_t n_layer, index_t batch, index_t capacity) : batch_(batch) {
    LATENT_CHECK(batch > 0, ValueError, "GPTCache: batch = " + std::to_string(batch) + " must be positive");
    for (index_t i = 0; i < n_layer; ++i) layers.emplace_back(capacity);
  }
  /// Tokens seen so far per sequence (the position of the next token).
  index_t length() const noexcept { return layers.empty() ? 0 : layers.front().length(); }
  index_t capacity() const noexcept { return layers.empty() ? 0 : layers.front().capacity(); }
  index_t batch() const noexcept { return batch_; }
  /// Starts new sequences (keeps the buffers).
  void reset() noexcept {
    for (auto& l : layers) l.reset();
  }

  std::vector<KVCache<T>> layers;

 private:
  index_t batch_ = 0;
};

/// nanoGPT's CausalSelfAttention: c_attn (the fused q, k, v projection [3E, E]), causal attention, c_proj.
template <Scalar T>
class CausalSelfAttention : public UnaryModule<T> {
 public:
  Linear<T> c_attn, c_proj;
  Dropout<T> resid_dropout;

  CausalSelfAttention(const GPTConfig& c, Rng& rng)
      : c_attn({.in_features = c.n_embd, .out_features = 3 * c.n_embd, .bias = c.bias}, rng),
        c_proj({.in_features = c.n_embd, .out_features = c.n_embd, .bias = c.bias}, rng),
        resid_dropout({.p = c.dropout}, rng),
        attn_rng_(rng.next_u64()),
        n_head_(c.n_head),
        dropout_(c.dropout),
        rope_(c.rope) {
    this->register_module("c_attn", c_attn);
    this->register_module("c_proj", c_proj);
    this->register_module("resid_dropout", resid_dropout);
  }
  std::string repr() const override {
    return "CausalSelfAttention(n_embd=" + std::to_string(c_proj.options().out_features) + ", n_head=" + std::to_string(n_head_) +
           (rope_ ? ", rope=true" : "") + ")";
  }
  /// The generator of the dropout on the attention probabilities.
  Rng& generator() noexcept { return attn_rng_; }

  /// x [B, T, E] → [B, T, E].
  Tensor<T> forward(const Tensor<T>& x) override {
    if (fused()) return attend_projection(c_attn(x));
    auto [q, k, v] = heads(x, 0);
    const Tensor<T> y = attention_with_dropout(q, k, v, true, dropout_, attn_rng_, this->is_training());
    return residual(c_proj(detail::merge_heads(y)));
  }
  /// The next tokens x [B, T_new, E] of sequences whose earlier keys and values are in `cache`; records no gradient.
  Tensor<T> forward(const Tensor<T>& x, KVCache<T>& cache) {
    NoGradGuard no_grad;
    auto [q, k, v] = heads(x, cache.length());
    return c_proj(detail::merge_heads(cache.append_and_attend(q, k, v, true, repr(), x.shape())));
  }
  using UnaryModule<T>::operator();

  /// Whether forward() is one fused attention over c_attn's projection (no rope, no active dropout).
  bool fused() const { return !rope_ && (dropout_ == 0.0 || !this->is_training()); }
  /// forward() from the projection qkv = c_attn(x) [B, T, 3E] computed by the caller (only when fused()).
  Tensor<T> attend_projection(const Tensor<T>& qkv) { return residual(c_proj(detail::attend_fused(qkv, n_head_, true))); }

 private:
  std::array<Tensor<T>, 3> heads(const Tensor<T>& x, index_t offset) {
    auto qkv = detail::split_heads(c_attn(x), n_head_);
    if (rope_) {
      qkv[0] = rotary_embedding(qkv[0], offset);
      qkv[1] = rotary_embedding(qkv[1], offset);
    }
    return qkv;
  }
  Tensor<T> residual(const Tensor<T>& y) { return dropout_ > 0.0 ? resid_dropout(y) : y; }

  Rng attn_rng_;
  index_t n_head_;
  double dropout_;
  bool rope_;
};

/// linear(ln(x), weight, bias) as one node that keeps x but not ln(x) (layer_norm_linear); ln normalises the last
/// dimension.
template <Scalar T>
Tensor<T> normalized_projection(const Tensor<T>& x, const LayerNorm<T>& ln, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>()) {
  return layer_norm_linear(x, ln.weight, ln.bias, weight, bias, ln.options().eps);
}

/// nanoGPT's Block: x += attn(ln_1(x)); x += dropout(mlp(ln_2(x))), mlp = c_proj(gelu(c_fc(x))) with 4·n_embd hidden.
template <Scalar T>
class GPTBlock : public UnaryModule<T> {
 public:
  LayerNorm<T> ln_1;
  CausalSelfAttention<T> attn;
  LayerNorm<T> ln_2;
  TransformerMLP<T> mlp;
  Dropout<T> mlp_dropout;

  GPTBlock(const GPTConfig& c, Rng& rng)
      : ln_1({.normalized_shape = {c.n_embd}, .bias = c.bias}),
        attn(c, rng),
        ln_2({.normalized_shape = {c.n_embd}, .bias = c.bias}),
        mlp(c.n_embd, 4 * c.n_embd, c.bias, GeluApproximation::none, rng),
        mlp_dropout({.p = c.dropout}, rng),
        dropout_(c.dropout) {
    this->register_module("ln_1", ln_1);
    this->register_module("attn", attn);
    this->register_module("ln_2", ln_2);
    this->register_module("mlp", mlp);
    this->register_module("mlp_dropout", mlp_dropout);
  }
  std::string repr() const override { return "GPTBlock(" + attn.repr() + ")"; }

  /// Each layer norm and the projection after it are one node (layer_norm_linear) that keeps the residual stream
  /// but not the normalised rows, and the MLP keeps its pre-activation but not the GELU's output (gelu_linear).
  Tensor<T> forward(const Tensor<T>& x) override {
    const Tensor<T> a = attn.fused() ? attn.attend_projection(normalized_projection(x, ln_1, attn.c_attn.weight, attn.c_attn.bias))
                                     : attn(ln_1(x));
    const Tensor<T> h = add(x, a);
    const Tensor<T> m = mlp.project(normalized_projection(h, ln_2, mlp.c_fc.weight, mlp.c_fc.bias));
    return add(h, dropout_ > 0.0 ? mlp_dropout(m) : m);
  }
  Tensor<T> forward(const Tensor<T>& x, KVCache<T>& cache) {
    NoGradGuard no_grad;
    const Tensor<T> h = add(x, attn.forward(ln_1(x), cache));
    return add(h, mlp(ln_2(h)));
  }
  using UnaryModule<T>::operator();

 private:
  double dropout_;
};

/// nanoGPT's `transformer` ModuleDict: wte, wpe (absent with rope), drop, h.0 … h.{n_layer-1}, ln_f.
template <Scalar T>
class GPTTransformer : public Module<T> {
 public:
  Embedding<T> wte;
  std::unique_ptr<Embedding<T>> wpe;  // null with rope
  Dropout<T> drop;
  ModuleList<T, GPTBlock<T>> h;
  LayerNorm<T> ln_f;

  GPTTransformer(const GPTConfig& c, Rng& rng)
      : wte({.num_embeddings = c.vocab_size, .embedding_dim = c.n_embd}, rng),
        wpe(c.rope ? nullptr : std::make_unique<Embedding<T>>(EmbeddingOptions{.num_embeddings = c.block_size, .embedding_dim = c.n_embd}, rng)),
        drop({.p = c.dropout}, rng),
        ln_f({.normalized_shape = {c.n_embd}, .bias = c.bias}) {
    this->register_module("wte", wte);
    if (wpe) this->register_module("wpe", *wpe);
    this->register_module("drop", drop);
    for (index_t i = 0; i < c.n_layer; ++i) h.emplace_back(c, rng);
    this->register_module("h", h);
    this->register_module("ln_f", ln_f);
  }
  std::string repr() const override { return "GPTTransformer"; }
};

/// The output projection lm_head (no bias): its weight is transformer.wte.weight when tied, as in nanoGPT.
template <Scalar T>
class LMHead : public UnaryModule<T> {
 public:
  Tensor<T>& weight;
  explicit LMHead(Tensor<T> w) : weight(this->register_parameter("weight", std::move(w))) {}
  std::string repr() const override {
    return "LMHead(" + std::to_string(weight.size(1)) + " -> " + std::to_string(weight.size(0)) + ")";
  }
  Tensor<T> forward(const Tensor<T>& x) override { return linear(x, weight); }
};

/// A GPT: tokens [B, S] → logits [B, S, vocab_size] (the next-token scores at every position).
///   x = drop(wte(tokens) + wpe(positions)); x = h_i(x) for every block; logits = lm_head(ln_f(x))
/// Initialisation (nanoGPT's _init_weights): Linear and Embedding weights N(0, 0.02²), biases 0, LayerNorm
/// weights 1, and the residual projections (names ending in c_proj.weight) N(0, (0.02/√(2·n_layer))²).
/// state_dict() has nanoGPT's names (transformer.wte.weight, transformer.wpe.weight, transformer.h.0.ln_1.weight,
/// transformer.h.0.attn.c_attn.weight, …, transformer.ln_f.weight, lm_head.weight), so a nanoGPT state_dict loads
/// (see load_nanogpt_state_dict for the causal-mask buffers of older nanoGPT checkpoints).
template <Scalar T>
class GPT : public Module<T> {
  GPTConfig config_;

 public:
  GPTTransformer<T> transformer;
  std::unique_ptr<LMHead<T>> lm_head;

  GPT(const GPTConfig& config, Rng& rng) : config_(validated(config)), transformer(config, rng) {
    Tensor<T> head = config.tie_weights ? transformer.wte.weight : Tensor<T>::empty({config.vocab_size, config.n_embd});
    lm_head = std::make_unique<LMHead<T>>(head);
    this->register_module("transformer", transformer);
    this->register_module("lm_head", *lm_head);
    const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config.n_layer));
    for (auto& [name, p] : this->named_parameters()) {
      const bool c_proj = name.size() >= 13 && name.compare(name.size() - 13, 13, "c_proj.weight") == 0;
      if (p.rank() >= 2)
        init::normal_(p, rng, 0.0, c_proj ? proj_std : 0.02);
      else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0)
        init::zeros_(p);  // LayerNorm weights keep their ones
    }
  }

  const GPTConfig& config() const noexcept { return config_; }
  std::string repr() const override {
    const auto& c = config_;
    return "GPT(vocab_size=" + std::to_string(c.vocab_size) + ", block_size=" + std::to_string(c.block_size) +
           ", n_layer=" + std::to_string(c.n_layer) + ", n_head=" + std::to_string(c.n_head) + ", n_embd=" + std::to_string(c.n_embd) +
           ", dropout=" + detail::double_str(c.dropout) + ", bias=" + detail::bool_str(c.bias) + ", tie_weights=" +
           detail::bool_str(c.tie_weights) + ", rope=" + detail::bool_str(c.rope) + ")";
  }

  /// tokens [B, S] (S <= block_size with learned positions) → logits [B, S, vocab_size], differentiable.
  Tensor<T> forward(const Tensor<std::int64_t>& tokens) {
    check_tokens(tokens);
    Tensor<T> x = transformer.drop(embed(tokens, 0));
    for (auto& block : transformer.h) x = block(x);
    return normalized_projection(x, transformer.ln_f, lm_head->weight);  // lm_head(ln_f(x)) as one node
  }
  Tensor<T> operator()(const Tensor<std::int64_t>& tokens) { return forward(tokens); }

  /// A cache for `batch` sequences of up to `capacity` tokens (default block_size; with rope it may be longer).
  GPTCache<T> make_cache(index_t batch, index_t capacity = 0) const {
    const index_t cap = capacity > 0 ? capacity : config_.block_size;
    LATENT_CHECK(config_.rope || cap <= config_.block_size, ValueError,
                 repr() + ": a cache of " + std::to_string(cap) + " positions exceeds block_size = " + std::to_string(config_.block_size) +
                     " of the learned position embeddings");
    return GPTCache<T>(config_.n_layer, batch, cap);
  }

  /// Incremental decoding: tokens [B, T_new] continue the B sequences held by `cache` (positions cache.length()
  /// onwards); returns their logits [B, T_new, vocab_size], equal to the matching rows of forward() over the whole
  /// sequences. Records no gradient. Learned positions end at block_size: going past it throws (crop instead).
  Tensor<T> forward(const Tensor<std::int64_t>& tokens, GPTCache<T>& cache) {
    NoGradGuard no_grad;
    LATENT_CHECK(tokens.rank() == 2 && tokens.size(0) == cache.batch(), ShapeError,
                 repr() + ": tokens " + tokens.shape().str() + " must be [" + std::to_string(cache.batch()) +
                     ", new tokens] to continue a cache of batch " + std::to_string(cache.batch()));
    const index_t offset = cache.length();
    LATENT_CHECK(config_.rope || offset + tokens.size(1) <= config_.block_size, ValueError,
                 repr() + ": positions " + std::to_string(offset) + ".." + std::to_string(offset + tokens.size(1) - 1) +
                     " exceed block_size = " + std::to_string(config_.block_size) +
                     " of the learned position embeddings; crop the context to the last block_size tokens");
    Tensor<T> x = embed(tokens, offset);
    for (std::size_t i = 0; i < transformer.h.size(); ++i) x = transformer.h[i].forward(x, cache.layers[i]);
    return (*lm_head)(transformer.ln_f(x));
  }
  Tensor<T> operator()(const Tensor<std::int64_t>& tokens, GPTCache<T>& cache) { return forward(tokens, cache); }

  /// Loads a nanoGPT state_dict: drops the causal-mask buffers "*.attn.bias" that nanoGPT registers when torch lacks
  /// scaled_dot_product_attention (torch < 2.0) and the "_orig_mod." prefix of torch.compile'd models, then loads
  /// strictly.
  void load_nanogpt_state_dict(const StateDict& sd) {
    StateDict clean;
    const std::string compiled = "_orig_mod.";
    for (const auto& [key, t] : sd) {
      std::string name = key.rfind(compiled, 0) == 0 ? key.substr(compiled.size()) : key;
      // Our attention layers have c_attn.bias and c_proj.bias but nothing called attn.bias: that is nanoGPT's mask.
      const bool mask_buffer = (name.size() >= 10 && name.compare(name.size() - 10, 10, ".attn.bias") == 0) ||
                               name.find(".attn.masked_bias") != std::string::npos;
      if (!mask_buffer) clean.set(name, t);
    }
    this->load_state_dict(clean);
  }

 private:
  void check_tokens(const Tensor<std::int64_t>& tokens) const {
    LATENT_CHECK(tokens.rank() == 2, ShapeError, repr() + ": tokens " + tokens.shape().str() + " must be [batch, length]");
    LATENT_CHECK(config_.rope || tokens.size(1) <= config_.block_size, ValueError,
                 repr() + ": cannot forward a sequence of length " + std::to_string(tokens.size(1)) + ", block_size is only " +
                     std::to_string(config_.block_size));
  }
  /// wte(tokens) + wpe(offset .. offset + S - 1) (wte alone with rope).
  Tensor<T> embed(const Tensor<std::int64_t>& tokens, index_t offset) {
    const Tensor<T> tok = transformer.wte(tokens);
    if (!transformer.wpe) return tok;
    return add(tok, (*transformer.wpe)(arange<std::int64_t>(offset, offset + tokens.size(1))));
  }

  static GPTConfig validated(const GPTConfig& c) {
    detail::check_positive("GPT", "vocab_size", c.vocab_size);
    detail::check_positive("GPT", "block_size", c.block_size);
    detail::check_positive("GPT", "n_layer", c.n_layer);
    detail::check_positive("GPT", "n_head", c.n_head);
    detail::check_positive("GPT", "n_embd", c.n_embd);
    LATENT_CHECK(c.n_embd % c.n_head == 0, ValueError,
                 "GPT: n_embd = " + std::to_string(c.n_embd) + " is not divisible by n_head = " + std::to_string(c.n_head));
    LATENT_CHECK(!c.rope || (c.n_embd / c.n_head) % 2 == 0, ValueError,
                 "GPT: rope needs an even head size, got n_embd / n_head = " + std::to_string(c.n_embd / c.n_head));
    LATENT_CHECK(c.dropout >= 0.0 && c.dropout < 1.0, ValueError, "GPT: dropout = " + detail::double_str(c.dropout) + " is not in [0, 1)");
    return c;
  }
};

}  // namespace latent::nn
