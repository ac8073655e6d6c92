// Next-token sampling for autoregressive models: HuggingFace transformers' logits processors in its order
// (repetition penalty, temperature, top-k, top-p, min-p), then a seeded categorical draw, or greedy argmax.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/rng.hpp"
#include "../optim/optimizer.hpp"  // optim::detail::format_number, as the other models use it

namespace latent::models {

/// Defaults leave the distribution untouched: plain sampling from softmax(logits).
struct SamplingOptions {
  double temperature = 1;          // logits / temperature; > 0 (ignored by greedy)
  std::int64_t top_k = 0;          // keep the k largest logits (ties at the k-th value kept); 0 = all
  double top_p = 1;                // nucleus: the smallest most-likely set with probability >= top_p; 1 = all
  double min_p = 0;                // keep tokens with probability >= min_p * the largest probability; 0 = all
  double repetition_penalty = 1;   // CTRL: a token already in the history gets logit / p if > 0, logit * p if < 0
  bool greedy = false;             // argmax after the repetition penalty (no randomness; the other warpers ignored)

  void validate() const {
    using optim::detail::format_number;
    if (greedy)
      LATENT_CHECK(temperature >= 0 && std::isfinite(temperature), ValueError,
                   "SamplingOptions: temperature = " + format_number(temperature) + " must be >= 0");
    else
      LATENT_CHECK(temperature > 0 && std::isfinite(temperature), ValueError,
                   "SamplingOptions: temperature = " + format_number(temperature) + " must be > 0 (greedy = true picks the argmax)");
    LATENT_CHECK(top_k >= 0, ValueError, "SamplingOptions: top_k = " + std::to_string(top_k) + " must be >= 0 (0 keeps every token)");
    LATENT_CHECK(top_p > 0 && top_p <= 1, ValueError, "SamplingOptions: top_p = " + format_number(top_p) + " must be in (0, 1]");
    LATENT_CHECK(min_p >= 0 && min_p <= 1, ValueError, "SamplingOptions: min_p = " + format_number(min_p) + " must be in [0, 1]");
    LATENT_CHECK(repetition_penalty > 0 && std::isfinite(repetition_penalty), ValueError,
                 "SamplingOptions: repetition_penalty = " + format_number(repetition_penalty) + " must be > 0 (1 = no penalty)");
  }
};

/// sample_next_token with its scratch kept between calls (no allocation once the vocabulary size is seen).
/// Logits may be -inf (masked tokens), not NaN or +inf. The math runs in double.
class TokenSampler {
 public:
  explicit TokenSampler(const SamplingOptions& options = {}) : options_(options) { options_.validate(); }
  const SamplingOptions& options() const noexcept { return options_; }

  /// The next token: argmax when greedy (no random numbers used), else one Rng::categorical draw (one uniform) from
  /// probabilities(logits, history).
  std::int64_t sample(std::span<const float> logits, std::span<const std::int64_t> history, Rng& rng) { return sample_impl(logits, history, rng); }
  std::int64_t sample(std::span<const double> logits, std::span<const std::int64_t> history, Rng& rng) { return sample_impl(logits, history, rng); }

  /// The distribution the next token is drawn from, one entry per logit (0 for removed tokens; one-hot when greedy).
  /// The span points into the sampler and stays valid until its next call.
  std::span<const double> probabilities(std::span<const float> logits, std::span<const std::int64_t> history) {
    process(logits, history);
    return probs_;
  }
  std::span<const double> probabilities(std::span<const double> logits, std::span<const std::int64_t> history) {
    process(logits, history);
    return probs_;
  }

 private:
  static constexpr double minus_inf = -std::numeric_limits<double>::infinity();

  template <class T>
  std::int64_t sample_impl(std::span<const T> logits, std::span<const std::int64_t> history, Rng& rng) {
    const std::size_t best = process(logits, history);
    if (options_.greedy) return static_cast<std::int64_t>(best);
    return static_cast<std::int64_t>(rng.categorical(std::span<const double>(probs_)));
  }

  // Fills probs_ and returns the argmax after the repetition penalty.
  template <class T>
  std::size_t process(std::span<const T> logits, std::span<const std::int64_t> history) {
    const std::size_t vocab = logits.size();
    LATENT_CHECK(vocab > 0, ValueError, "sample_next_token: no logits");
    std::vector<double>& s = probs_;  // the scores, turned into probabilities at the end
    s.resize(vocab);
    for (std::size_t i = 0; i < vocab; ++i) {
      s[i] = static_cast<double>(logits[i]);
      LATENT_CHECK(!std::isnan(s[i]) && s[i] != -minus_inf, ValueError,
                   "sample_next_token: logits[" + std::to_string(i) + "] = " + optim::detail::format_number(s[i]) + " (must be finite or -inf)");
    }
    // Each distinct history token once: the penalty is computed from the original logit, so repeats do not compound
    // (transformers gathers then scatters).
    const double penalty = options_.repetition_penalty;
    for (const std::int64_t t : history) {
      LATENT_CHECK(t >= 0 && static_cast<std::uint64_t>(t) < vocab, ValueError,
                   "sample_next_token: history token " + std::to_string(t) + " is out of range for " + std::to_string(vocab) + " logits");
      const double l = static_cast<double>(logits[static_cast<std::size_t>(t)]);
      s[static_cast<std::size_t>(t)] = l < 0 ? l * penalty : l / penalty;
    }
    const auto best = static_cast<std::size_t>(std::max_element(s.begin(), s.end()) - s.begin());  // first maximum, as torch.argmax
    LATENT_CHECK(s[best] > minus_inf, ValueError, "sample_next_token: every one of the " + std::to_string(vocab) + " logits is -inf");
    if (options_.greedy) {
      std::fill(s.begin(), s.end(), 0.0);
      s[best] = 1;
      return best;
    }

    for (double& v : s) v /= options_.temperature;

    const auto k = static_cast<std::size_t>(options_.top_k);
    if (k > 0 && k < vocab) {  // remove scores below the k-th largest
      kth_.assign(s.begin(), s.end());
      std::nth_element(kth_.begin(), kth_.begin() + static_cast<std::ptrdiff_t>(k - 1), kth_.end(), std::greater<double>());
      const double threshold = kth_[k - 1];
      for (double& v : s)
        if (v < threshold) v = minus_inf;
    }

    const double top = s[best];  // top-k and top-p keep the maximum, so softmax is taken relative to it
    if (options_.top_p < 1) {
      // Ascending cumulative probability <= 1 - top_p is removed (transformers' TopPLogitsWarper): in descending
      // order, a token goes once the mass before it reaches top_p. Equal scores: the higher index counts as larger
      // (torch.sort ascending, stable on small rows, puts the lower index first, so transformers removes it first).
      order_.resize(vocab);
      std::iota(order_.begin(), order_.end(), std::size_t{0});
      std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) { return s[a] != s[b] ? s[a] > s[b] : a > b; });
      double total = 0;
      for (const double v : s) total += std::exp(v - top);
      double before = 0;
      for (const std::size_t i : order_) {
        if (s[i] == minus_inf) break;
        if (before >= options_.top_p) s[i] = minus_inf;
        else before += std::exp(s[i] - top) / total;
      }
    }

    if (options_.min_p > 0) {  // p_i / p_max = exp(s_i - s_max)
      for (double& v : s)
        if (std::exp(v - top) < options_.min_p) v = minus_inf;
    }

    double total = 0;
    for (double& v : s) total += (v = std::exp(v - top));
    for (double& v : s) v /= total;
    return best;
  }

  SamplingOptions options_;
  std::vector<double> probs_, kth_;
  std::vector<std::size_t> order_;
};

/// One next token from `logits` (one row, the vocabulary) given the tokens generated so far (`history`, for the
/// repetition penalty). See TokenSampler; this convenience form allocates its scratch on every call.
inline std::int64_t sample_next_token(std::span<const float> logits, std::span<const std::int64_t> history, const SamplingOptions& options,
                                      Rng& rng) {
  return TokenSampler(options).sample(logits, history, rng);
}
inline std::int64_t sample_next_token(std::span<const double> logits, std::span<const std::int64_t> history, const SamplingOptions& options,
                                      Rng& rng) {
  return TokenSampler(options).sample(logits, history, rng);
}

}  // namespace latent::models
