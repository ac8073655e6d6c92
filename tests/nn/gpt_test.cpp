// nn::GPT: nanoGPT's parameter names and initialisation, logits / loss / gradients against nanoGPT's PyTorch model
// (tests/nn/gpt_reference.py writes tests/nn/data/gpt/), incremental decoding through GPTCache against the full
// forward, the block_size limit of learned positions, the AdamW groups, dropout, and loading nanoGPT checkpoints.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/nn/gpt.hpp>

#include "nn_test_util.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace latent;
using latent_nn_test::names_of;
using latent_nn_test::relative_error;

namespace {
std::filesystem::path gpt_case_dir(const std::string& name) {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  const std::string root = env && *env ? env : LATENT_SOURCE_DIR;
  return std::filesystem::path(root) / "tests" / "nn" / "data" / "gpt" / name;
}

template <Element T>
Tensor<T> rows(const Tensor<T>& x, index_t start, index_t n) {
  return narrow(x, 1, start, n).clone_detached();
}
}  // namespace

TEST_CASE("GPT has nanoGPT's parameter names, a tied head and nanoGPT's initialisation", "[nn][gpt]") {
  Rng rng(1);
  nn::GPT<float> gpt({.vocab_size = 11, .block_size = 8, .n_layer = 2, .n_head = 2, .n_embd = 16}, rng);
  const std::vector<std::string> block = {"ln_1.weight", "attn.c_attn.weight", "attn.c_proj.weight", "ln_2.weight", "mlp.c_fc.weight",
                                          "mlp.c_proj.weight"};
  std::vector<std::string> expected = {"transformer.wte.weight", "transformer.wpe.weight"};
  for (int i = 0; i < 2; ++i)
    for (const auto& n : block) expected.push_back("transformer.h." + std::to_string(i) + "." + n);
  expected.push_back("transformer.ln_f.weight");
  expected.push_back("lm_head.weight");
  CHECK(names_of(gpt.state_dict()) == expected);
  // Tied: one tensor under two names, counted once (nanoGPT's 2-layer count: 11·16 + 8·16 + 2·(16·(2 + 3·16 + 16 + 2·4·16)) + 16).
  CHECK(gpt.lm_head->weight.data() == gpt.transformer.wte.weight.data());
  CHECK(gpt.named_parameters().size() == expected.size() - 1);
  CHECK(gpt.parameter_count() == 11 * 16 + 8 * 16 + 2 * (16 * (2 + 3 * 16 + 16 + 2 * 4 * 16)) + 16);
  CHECK(gpt.repr() == "GPT(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0, bias=false, tie_weights=true, rope=false)");

  nn::GPT<float> biased({.vocab_size = 11, .block_size = 8, .n_layer = 1, .n_head = 2, .n_embd = 16, .bias = true, .rope = true}, rng);
  const auto names = names_of(biased.state_dict());
  CHECK(std::find(names.begin(), names.end(), "transformer.wpe.weight") == names.end());  // rope: no position table
  CHECK(std::find(names.begin(), names.end(), "transformer.h.0.attn.c_attn.bias") != names.end());
  for (float b : biased.transformer.h[0].attn.c_attn.bias.to_vector()) CHECK(b == 0.0f);
  for (float w : biased.transformer.h[0].ln_1.weight.to_vector()) CHECK(w == 1.0f);

  // Standard deviations: N(0, 0.02²) for the 2-D weights, 0.02/√(2·n_layer) for the residual projections. Oracle: the
  // sample std of a large GPT's weights (256·1024 draws each: 1% tolerance is > 5 standard errors).
  Rng big_rng(2);
  nn::GPT<float> big({.vocab_size = 16, .block_size = 8, .n_layer = 8, .n_head = 4, .n_embd = 256}, big_rng);
  auto std_of = [](const Tensor<float>& t) {
    double s = 0, s2 = 0;
    for (float v : t.to_vector()) s += v, s2 += double(v) * v;
    const double n = double(t.numel());
    return std::sqrt(s2 / n - (s / n) * (s / n));
  };
  CHECK(std_of(big.transformer.h[3].mlp.c_fc.weight) == Approx(0.02).epsilon(0.01));
  CHECK(std_of(big.transformer.h[3].mlp.c_proj.weight) == Approx(0.02 / 4.0).epsilon(0.01));
  CHECK(std_of(big.transformer.h[3].attn.c_proj.weight) == Approx(0.02 / 4.0).epsilon(0.01));
}

// Oracle: nanoGPT's model.py restated in PyTorch 1.13, float64, with the same state_dict (tests/nn/gpt_reference.py;
// the rope case uses Hugging Face Llama's rotate-half RoPE). Both sides compute in double: 1e-10 of the scale.
TEST_CASE("GPT matches nanoGPT's PyTorch model: logits, loss and gradients", "[nn][gpt][reference]") {
  for (const char* name : {"gpt_nobias", "gpt_bias", "gpt_rope"}) {
    INFO("case " << name);
    const auto dir = gpt_case_dir(name);
    const auto cfg = testing::load_npy<std::int64_t>((dir / "config.npy").string()).to_vector();
    nn::GPTConfig c{.vocab_size = cfg[0], .block_size = cfg[1], .n_layer = cfg[2], .n_head = cfg[3], .n_embd = cfg[4],
                    .bias = cfg[5] != 0, .rope = cfg[6] != 0};
    Rng rng(3);
    nn::GPT<double> gpt(c, rng);
    StateDict sd;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string file = entry.path().filename().string();
      if (file.rfind("param.", 0) == 0)
        sd.set(file.substr(6, file.size() - 10), testing::load_npy<double>(entry.path().string()));
    }
    gpt.load_state_dict(sd);
    const auto tokens = testing::load_npy<std::int64_t>((dir / "tokens.npy").string());
    const auto targets = testing::load_npy<std::int64_t>((dir / "targets.npy").string());
    const auto logits = gpt(tokens);
    CHECK(relative_error(logits.detach(), testing::load_npy<double>((dir / "logits.npy").string())) < 1e-10);
    const auto loss = cross_entropy(reshape(logits, Shape{tokens.numel(), c.vocab_size}), reshape(targets, Shape{targets.numel()}));
    CHECK(loss.item() == Approx(testing::load_npy<double>((dir / "loss.npy").string()).item()).epsilon(1e-12));
    loss.backward();
    for (const auto& [key, p] : gpt.named_parameters()) {
      INFO(key);
      CHECK(relative_error(p.grad(), testing::load_npy<double>((dir / ("grad." + key + ".npy")).string())) < 1e-9);
    }
  }
}

// Oracle: the full causal forward over the whole sequences. Decoding through the cache (a 3-token prompt, then one
// token at a time, batch 2) must give its rows: 1e-12 in double (same sums, different GEMM blocking), 1e-5 in float.
TEMPLATE_TEST_CASE("GPT decoding through a GPTCache reproduces the full forward", "[nn][gpt][kv_cache]", float, double) {
  const double tol = std::is_same_v<TestType, double> ? 1e-12 : 1e-5;
  for (const bool rope : {false, true}) {
    INFO("rope " << rope);
    Rng rng(4);
    nn::GPT<TestType> gpt({.vocab_size = 13, .block_size = 9, .n_layer = 2, .n_head = 2, .n_embd = 16, .bias = true, .rope = rope}, rng);
    const auto tokens = randint(0, 13, {2, 9}, rng);
    const auto full = gpt(tokens).detach();
    auto cache = gpt.make_cache(2);
    for (int round = 0; round < 2; ++round) {  // the second round re-uses the buffers after reset()
      cache.reset();
      index_t at = 0;
      for (const index_t step : {3, 1, 1, 2, 1, 1}) {
        const auto y = gpt(rows(tokens, at, step), cache);
        CHECK_FALSE(y.requires_grad());
        at += step;
        CHECK(cache.length() == at);
        CHECK(relative_error(y, rows(full, at - step, step)) < tol);
      }
    }
  }
}

TEST_CASE("GPT's learned positions end at block_size", "[nn][gpt][errors]") {
  Rng rng(5);
  nn::GPT<float> gpt({.vocab_size = 5, .block_size = 4, .n_layer = 1, .n_head = 1, .n_embd = 8}, rng);
  const std::string who = "GPT(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=8, dropout=0, bias=false, tie_weights=true, rope=false)";
  REQUIRE_THROWS_WITH(gpt(zeros<std::int64_t>({1, 5})), "[latent.value] " + who + ": cannot forward a sequence of length 5, block_size is only 4");
  auto cache = gpt.make_cache(1);
  gpt(zeros<std::int64_t>({1, 3}), cache);
  REQUIRE_THROWS_WITH(gpt(zeros<std::int64_t>({1, 2}), cache),
                      "[latent.value] " + who +
                          ": positions 3..4 exceed block_size = 4 of the learned position embeddings; crop the context to the last block_size tokens");
  REQUIRE_THROWS_WITH(gpt(zeros<std::int64_t>({2, 1}), cache),
                      "[latent.shape] " + who + ": tokens [2,1] must be [1, new tokens] to continue a cache of batch 1");
  REQUIRE_THROWS_WITH(gpt.make_cache(1, 5),
                      "[latent.value] " + who + ": a cache of 5 positions exceeds block_size = 4 of the learned position embeddings");
  REQUIRE_THROWS_WITH(nn::GPT<float>({.n_head = 4, .n_embd = 10}, rng), "[latent.value] GPT: n_embd = 10 is not divisible by n_head = 4");

  // With rope there is no position table: a cache may hold more than block_size tokens.
  nn::GPT<float> rope({.vocab_size = 5, .block_size = 4, .n_layer = 1, .n_head = 1, .n_embd = 8, .rope = true}, rng);
  auto long_cache = rope.make_cache(1, 6);
  CHECK(rope(zeros<std::int64_t>({1, 6}), long_cache).shape() == Shape{1, 6, 5});
}

TEST_CASE("GPT's optimizer groups decay only the matrices and embeddings", "[nn][gpt]") {
  Rng rng(6);
  nn::GPT<float> gpt({.vocab_size = 7, .block_size = 4, .n_layer = 1, .n_head = 2, .n_embd = 8, .bias = true}, rng);
  const auto groups = optim::weight_decay_groups(gpt.named_parameters(),
                                                     optim::AdamWOptions{.lr = 1e-3, .betas = {0.9, 0.99}, .weight_decay = 0.1});
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].names == std::vector<std::string>{"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight",
                                                   "transformer.h.0.attn.c_proj.weight", "transformer.h.0.mlp.c_fc.weight",
                                                   "transformer.h.0.mlp.c_proj.weight"});
  CHECK(groups[0].options.weight_decay == 0.1);
  CHECK(groups[1].options.weight_decay == 0.0);
  CHECK(groups[1].options.betas[1] == 0.99);
  CHECK(groups[1].params.size() == 10);  // 2 LayerNorm weights + 2 biases each, ln_f's 2, c_attn/c_proj/c_fc/c_proj biases
  optim::AdamW<float> opt(groups);
  CHECK(opt.num_param_groups() == 2);
}

TEST_CASE("GPT dropout acts in training mode only", "[nn][gpt][dropout]") {
  Rng rng(7);
  nn::GPT<float> gpt({.vocab_size = 7, .block_size = 6, .n_layer = 2, .n_head = 2, .n_embd = 8, .dropout = 0.3}, rng);
  const auto tokens = randint(0, 7, {2, 6}, rng);
  gpt.eval();
  const auto a = gpt(tokens).detach(), b = gpt(tokens).detach();
  CHECK(relative_error(a, b) == 0.0);
  gpt.train();
  const auto c = gpt(tokens);
  CHECK(relative_error(c.detach(), a) > 1e-3);
  sum(square(c)).backward();  // the composed attention-dropout path is differentiable
  CHECK(gpt.transformer.h[0].attn.c_attn.weight.grad().defined());
}

TEST_CASE("GPT loads a nanoGPT checkpoint's state_dict with its mask buffers and torch.compile prefix", "[nn][gpt]") {
  Rng rng(8);
  const nn::GPTConfig c{.vocab_size = 7, .block_size = 4, .n_layer = 1, .n_head = 2, .n_embd = 8};
  nn::GPT<float> src(c, rng), dst(c, rng);
  StateDict sd;
  for (const auto& [name, t] : src.state_dict()) sd.set("_orig_mod." + name, t);
  sd.set("_orig_mod.transformer.h.0.attn.bias", ones<float>({1, 1, 4, 4}));
  dst.load_nanogpt_state_dict(sd);
  const auto tokens = randint(0, 7, {1, 4}, rng);
  CHECK(relative_error(dst(tokens).detach(), src(tokens).detach()) == 0.0);
  REQUIRE_THROWS_WITH(dst.load_state_dict(sd), Catch::Matchers::StartsWith("[latent.state] load_state_dict: missing keys"));
}

TEST_CASE("GPT without weight tying has its own lm_head", "[nn][gpt]") {
  Rng rng(9);
  nn::GPT<float> gpt({.vocab_size = 7, .block_size = 4, .n_layer = 1, .n_head = 2, .n_embd = 8, .tie_weights = false}, rng);
  CHECK(gpt.lm_head->weight.data() != gpt.transformer.wte.weight.data());
  CHECK(gpt.named_parameters().back().first == "lm_head.weight");
  CHECK(gpt.parameter_count() == 7 * 8 + 4 * 8 + 8 * (2 + 3 * 8 + 8 + 2 * 4 * 8) + 8 + 7 * 8);
  sum(gpt(zeros<std::int64_t>({1, 4}))).backward();
  CHECK(gpt.lm_head->weight.grad().defined());
}

// Oracle: the full causal forward (as for GPT above), and the same weights without rope / without dropout.
TEST_CASE("MultiHeadAttention's rope and attention dropout options", "[nn][attention][rope]") {
  Rng rng(10);
  nn::MultiHeadAttention<double> rope({.embed_dim = 16, .num_heads = 2, .causal = true, .rope = true}, rng);
  nn::MultiHeadAttention<double> plain({.embed_dim = 16, .num_heads = 2, .causal = true}, rng);
  plain.load_state_dict(rope.state_dict());
  CHECK(rope.repr() == "MultiHeadAttention(embed_dim=16, num_heads=2, bias=true, causal=true, rope=true)");
  const auto x = randn<double>({2, 6, 16}, rng);
  const auto full = rope(x).detach();
  CHECK(relative_error(narrow(full, 1, 0, 1).clone_detached(), narrow(plain(x).detach(), 1, 0, 1).clone_detached()) < 1e-14);  // position 0: no rotation
  CHECK(relative_error(full, plain(x).detach()) > 1e-3);
  nn::KVCache<double> cache(6);
  CHECK(relative_error(rope(narrow(x, 1, 0, 4).clone_detached(), cache), rows(full, 0, 4)) < 1e-12);
  for (index_t t = 4; t < 6; ++t) CHECK(relative_error(rope(narrow(x, 1, t, 1).clone_detached(), cache), rows(full, t, 1)) < 1e-12);

  nn::MultiHeadAttention<double> drop({.embed_dim = 16, .num_heads = 2, .causal = true, .dropout = 0.5}, rng);
  plain.load_state_dict(drop.state_dict());
  CHECK(relative_error(drop(x).detach(), drop(x).detach()) > 1e-3);  // training: fresh masks
  drop.eval();
  CHECK(relative_error(drop(x).detach(), plain(x).detach()) < 1e-14);
  REQUIRE_THROWS_WITH(nn::MultiHeadAttention<float>({.embed_dim = 6, .num_heads = 2, .rope = true}, rng),
                      "[latent.value] MultiHeadAttention: rope needs an even head_dim, got 3");
}
