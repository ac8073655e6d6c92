// models::Autoregressive over nn::GPT: the next-token loss against a hand-computed cross-entropy, evaluation in nats
// and bits, generation with and without the KV cache (identical greedy tokens, also past block_size where the
// context is cropped), stop tokens and lengths, seeded sampling, and a tiny model that learns a sequence.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/models/autoregressive.hpp>
#include <latent/nn/gpt.hpp>

#include <cmath>
#include <numbers>
#include <vector>

using namespace latent;

namespace {
nn::GPTConfig tiny(bool rope = false) {
  return {.vocab_size = 9, .block_size = 6, .n_layer = 2, .n_head = 2, .n_embd = 16, .rope = rope};
}
/// Larger weights than nanoGPT's init, so that the logits are far from uniform and generation is not trivial.
template <class Net>
void spread_weights(Net& net) {
  NoGradGuard no_grad;
  for (auto& p : net.parameters())
    if (p.rank() >= 2) p.copy_(mul_scalar(p, 20.0f));
}
}  // namespace

TEST_CASE("Autoregressive::loss is the mean next-token cross-entropy of tokens[:, 1:] given tokens[:, :-1]", "[models][autoregressive]") {
  Rng rng(1);
  nn::GPT<double> gpt({.vocab_size = 9, .block_size = 6, .n_layer = 1, .n_head = 2, .n_embd = 8}, rng);
  models::Autoregressive<nn::GPT<double>, double> model(gpt);
  const auto tokens = randint(0, 9, {3, 6}, rng);
  // Oracle: −log softmax(logits)[target] averaged by hand over the 3·5 positions.
  const auto logits = gpt(narrow(tokens, 1, 0, 5));
  double expected = 0;
  for (index_t b = 0; b < 3; ++b)
    for (index_t t = 0; t < 5; ++t) {
      double m = -1e300, z = 0;
      for (index_t v = 0; v < 9; ++v) m = std::max(m, logits.at({b, t, v}));
      for (index_t v = 0; v < 9; ++v) z += std::exp(logits.at({b, t, v}) - m);
      expected -= logits.at({b, t, tokens.at({b, t + 1})}) - m - std::log(z);
    }
  expected /= 15;
  CHECK(model.loss(tokens).item() == Approx(expected).epsilon(1e-12));

  const auto e = model.evaluate(tokens, 2);  // batches of 2 and 1, weighted by their token counts
  CHECK(e.tokens == 15);
  CHECK(e.nats == Approx(expected).epsilon(1e-12));
  CHECK(e.bits == Approx(expected / std::numbers::ln2).epsilon(1e-12));
  CHECK(gpt.is_training());  // evaluate() restores the mode

  REQUIRE_THROWS_WITH(model.loss(zeros<std::int64_t>({3, 1})),
                      "[latent.shape] Autoregressive::loss: tokens [3,1] must be [batch, length + 1] with length >= 1");
}

TEST_CASE("Greedy generation with and without the KV cache gives identical tokens, past block_size too", "[models][autoregressive][kv_cache]") {
  for (const bool rope : {false, true}) {
    INFO("rope " << rope);
    Rng rng(2);
    nn::GPT<float> gpt(tiny(rope), rng);
    spread_weights(gpt);
    models::Autoregressive<nn::GPT<float>> model(gpt);
    const auto prompts = randint(0, 9, {2, 3}, rng);
    const models::SamplingOptions greedy{.greedy = true};
    Rng unused(0);
    // 3 + 10 tokens > block_size 6: learned positions crop the context to the last 6 tokens (both paths).
    const auto cached = model.generate(prompts, {.max_new_tokens = 10, .use_cache = true}, greedy, unused);
    const auto recomputed = model.generate(prompts, {.max_new_tokens = 10, .use_cache = false}, greedy, unused);
    REQUIRE(cached.size() == 2);
    CHECK(cached == recomputed);
    CHECK(cached[0].size() == 10);
    CHECK(cached[0] != cached[1]);
    // Dropping 4 tokens at a time when the context is full: the cache re-reads it every 4 tokens; the same crop both ways.
    const auto shifted = model.generate(prompts, {.max_new_tokens = 10, .crop_shift = 4}, greedy, unused);
    CHECK(shifted == model.generate(prompts, {.max_new_tokens = 10, .use_cache = false, .crop_shift = 4}, greedy, unused));
    if (!rope) CHECK(shifted != cached);  // a different context from the 5th token on (observed for this seed)

    // Oracle for the first tokens: argmax of the full forward's last row.
    const auto logits = gpt(prompts);
    for (index_t b = 0; b < 2; ++b) {
      index_t best = 0;
      for (index_t v = 1; v < 9; ++v)
        if (logits.at({b, 2, v}) > logits.at({b, 2, best})) best = v;
      CHECK(cached[static_cast<std::size_t>(b)][0] == best);
    }
    // A prompt longer than block_size.
    const auto long_prompt = randint(0, 9, {1, 8}, rng);
    CHECK(model.generate(long_prompt, {.max_new_tokens = 4}, greedy, unused) ==
          model.generate(long_prompt, {.max_new_tokens = 4, .use_cache = false}, greedy, unused));
  }
}

TEST_CASE("Generation stops at a stop token per sequence and at max_new_tokens", "[models][autoregressive]") {
  Rng rng(3);
  nn::GPT<float> gpt(tiny(), rng);
  spread_weights(gpt);
  models::Autoregressive<nn::GPT<float>> model(gpt);
  const auto prompts = randint(0, 9, {2, 2}, rng);
  const models::SamplingOptions greedy{.greedy = true};
  Rng unused(0);
  const auto free_run = model.generate(prompts, {.max_new_tokens = 5}, greedy, unused);
  REQUIRE(free_run[0].size() == 5);
  // Stop at sequence 0's third token: sequence 0 ends there (keeping it), sequence 1 runs on unless it emits it.
  const std::int64_t stop = free_run[0][2];
  const auto stopped = model.generate(prompts, {.max_new_tokens = 5, .stop_tokens = {stop}}, greedy, unused);
  const auto first_stop = std::find(free_run[0].begin(), free_run[0].end(), stop) - free_run[0].begin();
  CHECK(stopped[0] == std::vector<std::int64_t>(free_run[0].begin(), free_run[0].begin() + first_stop + 1));
  const auto stop1 = std::find(free_run[1].begin(), free_run[1].end(), stop);
  CHECK(stopped[1] == std::vector<std::int64_t>(free_run[1].begin(), stop1 == free_run[1].end() ? stop1 : stop1 + 1));
  CHECK(model.generate(prompts, {.max_new_tokens = 0}, greedy, unused) == std::vector<std::vector<std::int64_t>>(2));
  REQUIRE_THROWS_WITH(model.generate(prompts, {.max_new_tokens = 3, .crop_shift = 7}, greedy, unused),
                      "[latent.value] Autoregressive::generate: crop_shift = 7 must be in [1, block_size = 6]");
}

TEST_CASE("Sampled generation is reproducible from the seed and cached and uncached agree", "[models][autoregressive]") {
  Rng rng(4);
  nn::GPT<float> gpt(tiny(), rng);
  models::Autoregressive<nn::GPT<float>> model(gpt);
  const std::vector<std::int64_t> prompt = {1, 2};
  const models::SamplingOptions sampling{.temperature = 1.5, .top_k = 5, .top_p = 0.95};
  Rng a(7), b(7), c(7);
  const auto x = model.generate(prompt, {.max_new_tokens = 12}, sampling, a);
  CHECK(x == model.generate(prompt, {.max_new_tokens = 12}, sampling, b));
  // Same random draws, logits equal to float rounding: the same tokens unless a draw lands on a boundary.
  CHECK(x == model.generate(prompt, {.max_new_tokens = 12, .use_cache = false}, sampling, c));
  CHECK(x.size() == 12);
}

TEST_CASE("A tiny GPT learns to continue a repeating sequence", "[models][autoregressive][training]") {
  // Oracle: a memorisable task. After training, greedy decoding continues the cycle 0 1 2 ... 6 exactly.
  Rng rng(5);
  nn::GPT<float> gpt({.vocab_size = 7, .block_size = 8, .n_layer = 1, .n_head = 2, .n_embd = 16}, rng);
  models::Autoregressive<nn::GPT<float>> model(gpt);
  optim::AdamW<float> opt(optim::weight_decay_groups(gpt.named_parameters(),
                                                     optim::AdamWOptions{.lr = 1e-2, .weight_decay = 0.0}));
  auto batch = Tensor<std::int64_t>::empty({8, 9});
  double loss = 0;
  for (int step = 0; step < 150; ++step) {
    for (index_t b = 0; b < 8; ++b) {
      const auto start = static_cast<std::int64_t>(rng.below(7));
      for (index_t t = 0; t < 9; ++t) batch.data()[b * 9 + t] = (start + t) % 7;
    }
    auto l = model.loss(batch);
    opt.zero_grad();
    l.backward();
    opt.step();
    loss = l.item();
  }
  CHECK(loss < 0.05);
  Rng unused(0);
  const auto out = model.generate(std::vector<std::int64_t>{3, 4}, {.max_new_tokens = 12}, {.greedy = true}, unused);
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i] == static_cast<std::int64_t>((5 + i) % 7));
}
