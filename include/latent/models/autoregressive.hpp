// Autoregressive<Net>: next-token models p(x_t | x_<t) — the mean next-token cross-entropy on token batches,
// evaluation in nats and bits per token, and generation with a KV cache, stop tokens and the samplers of
// models/sampling.hpp's TokenSampler (greedy, temperature, top-k, top-p, min-p, repetition penalty).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "../autograd/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "../ops/loss.hpp"
#include "../ops/shape_ops.hpp"
#include "sampling.hpp"

namespace latent::models {

/// A next-token network: tokens [B, S] → logits [B, S, V]; a cache for incremental decoding
/// (make_cache(batch, capacity), forward(tokens, cache) on the next tokens); its config's block_size and rope.
/// nn::GPT is one.
template <class Net, class T>
concept NextTokenNet = requires(Net& net, const Net& cnet, const Tensor<std::int64_t>& tokens) {
  { net(tokens) } -> std::convertible_to<Tensor<T>>;
  { net.parameters() } -> std::convertible_to<std::vector<Tensor<T>>>;
  { cnet.config().block_size } -> std::convertible_to<std::int64_t>;
  { cnet.config().rope } -> std::convertible_to<bool>;
  requires requires(decltype(cnet.make_cache(index_t{1}, index_t{1})) cache) {
    { net(tokens, cache) } -> std::convertible_to<Tensor<T>>;
    { cache.length() } -> std::convertible_to<index_t>;
    { cache.capacity() } -> std::convertible_to<index_t>;
    cache.reset();
  };
  net.eval();
  net.train(true);
  { cnet.is_training() } -> std::convertible_to<bool>;
};

struct GenerateOptions {
  std::int64_t max_new_tokens = 100;
  std::vector<std::int64_t> stop_tokens = {};  ///< a sequence ends after emitting one of these (it is kept)
  bool use_cache = true;                       ///< false: recompute the whole context for every token
  /// Learned positions only: when the context outgrows block_size, its oldest crop_shift tokens are dropped at once
  /// (1: nanoGPT's crop to the last block_size tokens at every step). With the cache, a larger shift re-reads the
  /// context once every crop_shift tokens instead of at every token, so each token sees between
  /// block_size - crop_shift + 1 and block_size tokens.
  std::int64_t crop_shift = 1;
};

/// Loss on held-out data: mean negative log-likelihood per predicted token.
struct Evaluation {
  double nats = 0;          ///< per token
  double bits = 0;          ///< per token: nats / ln 2
  std::int64_t tokens = 0;  ///< tokens predicted
};

/// The model refers to `net`, it does not own it.
///
/// Context longer than the network's block_size: with learned positions (rope false) generation crops the context
/// to its last block_size tokens, as nanoGPT's generate does (GenerateOptions::crop_shift = 1). Decoding with the
/// cache gives identical results: once the cache is full, it restarts from the cropped context (a full forward per
/// token, like recomputation, unless crop_shift > 1 drops several tokens at once; both paths crop identically).
/// With rope there is no crop: the cache is sized for prompt + max_new_tokens.
template <class Net, Scalar T = float>
  requires NextTokenNet<Net, T>
class Autoregressive {
 public:
  explicit Autoregressive(Net& net) : net_(net) {}
  Autoregressive(const Autoregressive&) = delete;
  Autoregressive& operator=(const Autoregressive&) = delete;

  Net& net() noexcept { return net_; }
  std::vector<Tensor<T>> parameters() const { return net_.parameters(); }

  /// tokens [B, S + 1]: the network reads tokens[:, :S] and is scored on predicting tokens[:, 1:] — the mean
  /// next-token cross-entropy over the B·S positions (nanoGPT's loss with x, y = tokens[:, :-1], tokens[:, 1:]).
  Tensor<T> loss(const Tensor<std::int64_t>& tokens) {
    LATENT_CHECK(tokens.rank() == 2 && tokens.size(1) >= 2, ShapeError,
                 "Autoregressive::loss: tokens " + tokens.shape().str() + " must be [batch, length + 1] with length >= 1");
    const index_t S = tokens.size(1) - 1;
    return loss(narrow(tokens, 1, 0, S), narrow(tokens, 1, 1, S));
  }
  /// Inputs x [B, S] and targets y [B, S] (y[b, t] follows x[b, t]); targets equal to ignore_index (padding)
  /// are not scored.
  Tensor<T> loss(const Tensor<std::int64_t>& x, const Tensor<std::int64_t>& y, std::int64_t ignore_index = -100) {
    LATENT_CHECK(x.rank() == 2 && y.shape() == x.shape(), ShapeError,
                 "Autoregressive::loss: inputs " + x.shape().str() + " and targets " + y.shape().str() + " must both be [batch, length]");
    const Tensor<T> logits = net_(x);
    return cross_entropy(reshape(logits, Shape{x.numel(), logits.shape().back()}), reshape(y, Shape{y.numel()}),
                         CrossEntropyOptions{.ignore_index = ignore_index});
  }

  /// Mean next-token negative log-likelihood over sequences [N, S + 1] (each scored as in loss()), in batches of
  /// batch_size, in evaluation mode and without gradients.
  Evaluation evaluate(const Tensor<std::int64_t>& sequences, std::int64_t batch_size = 64) {
    LATENT_CHECK(sequences.rank() == 2 && sequences.size(1) >= 2, ShapeError,
                 "Autoregressive::evaluate: sequences " + sequences.shape().str() + " must be [count, length + 1] with length >= 1");
    LATENT_CHECK(batch_size > 0, ValueError, "Autoregressive::evaluate: batch_size = " + std::to_string(batch_size) + " must be positive");
    ModeGuard mode(net_);
    NoGradGuard no_grad;
    const index_t N = sequences.size(0), S = sequences.size(1) - 1;
    double total = 0;
    for (index_t s = 0; s < N; s += batch_size) {
      const index_t n = std::min<index_t>(batch_size, N - s);
      total += static_cast<double>(loss(narrow(sequences, 0, s, n)).item()) * static_cast<double>(n * S);
    }
    Evaluation e;
    e.tokens = N * S;
    e.nats = N > 0 ? total / static_cast<double>(e.tokens) : 0.0;
    e.bits = e.nats / std::numbers::ln2;
    return e;
  }

  /// Continues each of the B prompts [B, P] (P >= 1) by up to max_new_tokens tokens, drawn with `sampling`
  /// (its repetition penalty sees the prompt and the tokens so far). Returns the new tokens of each sequence,
  /// ending with the stop token when one was emitted. Runs in evaluation mode without gradients.
  std::vector<std::vector<std::int64_t>> generate(const Tensor<std::int64_t>& prompts, const GenerateOptions& options,
                                                  const SamplingOptions& sampling, Rng& rng) {
    LATENT_CHECK(prompts.rank() == 2 && prompts.size(0) >= 1 && prompts.size(1) >= 1, ShapeError,
                 "Autoregressive::generate: prompts " + prompts.shape().str() + " must be [batch, length] with batch, length >= 1");
    LATENT_CHECK(options.max_new_tokens >= 0, ValueError,
                 "Autoregressive::generate: max_new_tokens = " + std::to_string(options.max_new_tokens) + " must be >= 0");
    ModeGuard mode(net_);
    NoGradGuard no_grad;
    const index_t B = prompts.size(0), P = prompts.size(1);
    const index_t block = net_.config().block_size;
    const bool rope = net_.config().rope;
    LATENT_CHECK(options.crop_shift >= 1 && options.crop_shift <= block, ValueError,
                 "Autoregressive::generate: crop_shift = " + std::to_string(options.crop_shift) + " must be in [1, block_size = " +
                     std::to_string(block) + "]");
    std::vector<std::vector<std::int64_t>> seqs(static_cast<std::size_t>(B)), out(seqs.size());
    for (index_t b = 0; b < B; ++b) seqs[static_cast<std::size_t>(b)].assign(prompts.data() + b * P, prompts.data() + (b + 1) * P);
    std::vector<bool> done(seqs.size(), false);
    if (options.max_new_tokens == 0) return out;

    // The last `n` tokens of every sequence as [B, n] (all sequences have the same length).
    auto last = [&](index_t n) {
      auto t = Tensor<std::int64_t>::empty({B, n});
      for (index_t b = 0; b < B; ++b) {
        const auto& s = seqs[static_cast<std::size_t>(b)];
        std::copy(s.end() - n, s.end(), t.data() + b * n);
      }
      return t;
    };
    // The model reads tokens [start, length) of the sequences: all of them with rope, else at most block_size.
    index_t start = rope ? 0 : std::max<index_t>(0, P - block);
    const auto length = [&] { return static_cast<index_t>(seqs[0].size()); };
    const auto context = [&] { return length() - start; };

    auto cache = net_.make_cache(B, rope ? P + options.max_new_tokens : block);
    Tensor<T> logits;  // [B, n, V]: the last row of each sequence scores its next token
    auto full_context = [&] {
      cache.reset();
      return net_(last(context()), cache);
    };
    if (options.use_cache) logits = full_context();

    TokenSampler sampler(sampling);  // validates the options; scratch reused across steps
    std::vector<T> row;
    for (std::int64_t step = 0; step < options.max_new_tokens; ++step) {
      if (!options.use_cache) logits = net_(last(context()));
      const index_t n = logits.size(1), V = logits.size(2);
      bool all_done = true;
      for (index_t b = 0; b < B; ++b) {
        auto& s = seqs[static_cast<std::size_t>(b)];
        if (done[static_cast<std::size_t>(b)]) {
          s.push_back(s.back());  // keeps the batch rectangular; never reported
          continue;
        }
        const T* l = logits.data() + (b * n + n - 1) * V;
        row.assign(l, l + V);
        const std::int64_t next = sampler.sample(std::span<const T>(row), s, rng);
        s.push_back(next);
        out[static_cast<std::size_t>(b)].push_back(next);
        if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) != options.stop_tokens.end())
          done[static_cast<std::size_t>(b)] = true;
        else
          all_done = false;
      }
      if (all_done || step + 1 == options.max_new_tokens) break;
      bool cropped = false;
      while (!rope && context() > block) {
        start += options.crop_shift;
        cropped = true;
      }
      if (options.use_cache) logits = cropped ? full_context() : net_(last(1), cache);
    }
    return out;
  }

  /// One prompt: the new tokens after it.
  std::vector<std::int64_t> generate(std::span<const std::int64_t> prompt, const GenerateOptions& options, const SamplingOptions& sampling,
                                     Rng& rng) {
    auto t = Tensor<std::int64_t>::empty({1, static_cast<index_t>(prompt.size())});
    std::copy(prompt.begin(), prompt.end(), t.data());
    return generate(t, options, sampling, rng).front();
  }

 private:
  /// Evaluation mode for the scope, then the previous mode again.
  struct ModeGuard {
    Net& net;
    bool was_training;
    explicit ModeGuard(Net& n) : net(n), was_training(n.is_training()) { net.eval(); }
    ~ModeGuard() { net.train(was_training); }
  };

  Net& net_;
};

}  // namespace latent::models
