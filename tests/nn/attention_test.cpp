// MultiHeadAttention, KVCache and TransformerBlock: torch.nn.MultiheadAttention reference vectors (written by
// tests/ops/attention_reference.py into tests/ops/data/attention/mha_*), state_dict names, incremental decoding
// through the cache against the full causal forward, gradients, and option errors.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

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
std::filesystem::path mha_case_dir(const std::string& name) {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  const std::string root = env && *env ? env : LATENT_SOURCE_DIR;
  return std::filesystem::path(root) / "tests" / "ops" / "data" / "attention" / name;
}
Tensor<double> load(const std::string& name, const std::string& array) {
  return testing::load_npy<double>((mha_case_dir(name) / (array + ".npy")).string());
}

}  // namespace

TEST_CASE("MultiHeadAttention has torch.nn.MultiheadAttention's parameters, names and shapes", "[nn][attention]") {
  Rng rng(1);
  nn::MultiHeadAttention<float> mha({.embed_dim = 16, .num_heads = 4}, rng);
  CHECK(names_of(mha.state_dict()) == std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"});
  CHECK(mha.in_proj_weight.shape() == Shape{48, 16});
  CHECK(mha.out_proj.weight.shape() == Shape{16, 16});
  CHECK(mha.parameter_count() == 48 * 16 + 48 + 16 * 16 + 16);
  CHECK(mha.head_dim() == 4);
  // PyTorch's init: biases zero, in_proj_weight xavier uniform U(±√(6 / (16 + 48))).
  for (float b : mha.in_proj_bias.to_vector()) CHECK(b == 0.0f);
  const float bound = std::sqrt(6.0f / 64.0f);
  for (float w : mha.in_proj_weight.to_vector()) CHECK(std::abs(w) <= bound);
  CHECK(mha.repr() == "MultiHeadAttention(embed_dim=16, num_heads=4, bias=true, causal=false)");
  const auto y = mha(randn<float>({3, 5, 16}, rng));
  CHECK(y.shape() == Shape{3, 5, 16});

  nn::MultiHeadAttention<float> no_bias({.embed_dim = 8, .num_heads = 2, .bias = false}, rng);
  CHECK(names_of(no_bias.state_dict()) == std::vector<std::string>{"in_proj_weight", "out_proj.weight"});
}

// Oracle: torch.nn.MultiheadAttention(batch_first=True) in float64 with the same state_dict (a boolean causal
// attn_mask for the causal case). Both sides compute in double: 1e-12 of the scale (observed ~1e-15).
TEST_CASE("MultiHeadAttention matches torch.nn.MultiheadAttention, forward and gradients", "[nn][attention][reference]") {
  for (const auto& [name, causal, E, H] : {std::tuple{"mha_causal", true, 12, 3}, std::tuple{"mha_full", false, 8, 2}}) {
    INFO("case " << name);
    Rng rng(2);
    nn::MultiHeadAttention<double> mha({.embed_dim = E, .num_heads = H, .causal = causal}, rng);
    StateDict sd;
    for (const char* key : {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}) sd.set(key, load(name, std::string("param.") + key));
    mha.load_state_dict(sd);
    auto x = load(name, "input");
    x.set_requires_grad();
    const auto y = mha(x);
    y.backward(load(name, "grad_output"));
    CHECK(relative_error(y.detach(), load(name, "output")) < 1e-12);
    CHECK(relative_error(x.grad(), load(name, "grad_input")) < 1e-12);
    for (const auto& [key, p] : mha.named_parameters()) {
      INFO(key);
      CHECK(relative_error(p.grad(), load(name, "grad." + key)) < 1e-12);
    }
  }
}

// Oracle: the full causal forward over the whole sequence. Decoding through the cache (a 3-token prompt, then one
// token at a time) must give its rows; float32 sums the same terms in the same order per row except for the GEMM's
// blocking, so 1e-5 of the scale.
TEST_CASE("MultiHeadAttention with a KVCache reproduces the full causal forward token by token", "[nn][attention][kv_cache]") {
  Rng rng(3);
  nn::MultiHeadAttention<float> mha({.embed_dim = 16, .num_heads = 4, .causal = true}, rng);
  const index_t B = 2, T = 7;
  const auto x = randn<float>({B, T, 16}, rng);
  const auto full = mha(x).detach();
  nn::KVCache<float> cache(10);
  for (int round = 0; round < 2; ++round) {  // the second round re-uses the cache after reset()
    cache.reset();
    index_t at = 0;
    for (const index_t step : {3, 1, 1, 1, 1}) {
      const auto y = mha(narrow(x, 1, at, step).clone_detached(), cache);
      CHECK_FALSE(y.requires_grad());
      at += step;
      CHECK(cache.length() == at);
      CHECK(relative_error(y, narrow(full, 1, at - step, step).clone_detached()) < 1e-5);
    }
  }
  CHECK(cache.keys.shape() == Shape{B, 4, 10, 4});
  REQUIRE_THROWS_WITH(mha(narrow(x, 1, 0, 4).clone_detached(), cache),
                      "[latent.value] MultiHeadAttention(embed_dim=16, num_heads=4, bias=true, causal=true): 4 new tokens do not fit a "
                      "KVCache holding 7 of its 10 positions");
  REQUIRE_THROWS_WITH(mha(randn<float>({3, 1, 16}, rng), cache),
                      "[latent.shape] MultiHeadAttention(embed_dim=16, num_heads=4, bias=true, causal=true): input [3,1,16] does not "
                      "continue the cache of [2,4,10,4] [batch, heads, capacity, head_dim]; reset() it to start new sequences");
  cache.reset();  // a new batch size after reset() reallocates
  CHECK(mha(randn<float>({3, 2, 16}, rng), cache).shape() == Shape{3, 2, 16});
  CHECK(cache.keys.shape() == Shape{3, 4, 10, 4});
}

TEST_CASE("TransformerBlock: nanoGPT's names, a causal pre-LN forward, its KV cache and gradients to every parameter", "[nn][attention]") {
  Rng rng(4);
  nn::TransformerBlock<float> block({.embed_dim = 16, .num_heads = 2}, rng);
  CHECK(names_of(block.state_dict()) ==
        std::vector<std::string>{"ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
                                 "attn.out_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                                 "mlp.c_proj.weight", "mlp.c_proj.bias"});
  CHECK(block.mlp.c_fc.weight.shape() == Shape{64, 16});
  const auto x = randn<float>({2, 6, 16}, rng);

  // Causality: changing the last token leaves the outputs of the earlier ones unchanged.
  const auto y = block(x).detach();
  auto x2 = x.clone_detached();
  for (index_t b = 0; b < 2; ++b)
    for (index_t c = 0; c < 16; ++c) x2.data()[(b * 6 + 5) * 16 + c] += 1.0f;
  const auto y2 = block(x2).detach();
  CHECK(relative_error(narrow(y2, 1, 0, 5).clone_detached(), narrow(y, 1, 0, 5).clone_detached()) == 0.0);
  CHECK(relative_error(narrow(y2, 1, 5, 1).clone_detached(), narrow(y, 1, 5, 1).clone_detached()) > 1e-3);

  nn::KVCache<float> cache(6);
  const auto prompt = block(narrow(x, 1, 0, 4).clone_detached(), cache);
  CHECK(relative_error(prompt, narrow(y, 1, 0, 4).clone_detached()) < 1e-5);
  for (index_t t = 4; t < 6; ++t)
    CHECK(relative_error(block(narrow(x, 1, t, 1).clone_detached(), cache), narrow(y, 1, t, 1).clone_detached()) < 1e-5);

  block.zero_grad();
  sum(square(block(x))).backward();
  for (const auto& [name, p] : block.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    double norm = 0;
    for (float g : p.grad().to_vector()) norm += double(g) * g;
    CHECK(norm > 0);
  }
}

// Oracle: central differences through the whole layer (projections, heads, fused attention, output projection).
TEST_CASE("MultiHeadAttention passes gradcheck with respect to its input, causal or not", "[nn][attention][gradcheck]") {
  for (const bool causal : {false, true}) {
    Rng rng(5);
    nn::MultiHeadAttention<double> mha({.embed_dim = 6, .num_heads = 2, .causal = causal}, rng);
    const auto x = rand<double>({2, 3, 6}, rng, -1, 1);
    const DifferentiableFunction f = [&mha](const std::vector<Tensor<double>>& in) { return mha(in[0]); };
    const auto r = gradcheck(f, {x});
    INFO(r.report);
    CHECK(r.ok);
  }
}

TEST_CASE("MultiHeadAttention and TransformerBlock reject bad options and inputs", "[nn][attention][errors]") {
  Rng rng(6);
  REQUIRE_THROWS_WITH((nn::MultiHeadAttention<float>({.embed_dim = 10, .num_heads = 4}, rng)),
                      "[latent.value] MultiHeadAttention: embed_dim = 10 is not divisible by num_heads = 4");
  REQUIRE_THROWS_WITH((nn::MultiHeadAttention<float>({.embed_dim = 8, .num_heads = 0}, rng)),
                      "[latent.value] MultiHeadAttention: num_heads = 0 must be positive");
  REQUIRE_THROWS_WITH((nn::TransformerBlock<float>({.embed_dim = 8, .num_heads = 2, .dropout = 1.0}, rng)),
                      "[latent.value] TransformerBlock: dropout = 1 is not in [0, 1)");
  REQUIRE_THROWS_WITH(nn::KVCache<float>(0), "[latent.value] KVCache: capacity = 0 must be positive");
  nn::MultiHeadAttention<float> mha({.embed_dim = 8, .num_heads = 2}, rng);
  REQUIRE_THROWS_WITH(mha(zeros<float>({2, 8})),
                      "[latent.shape] MultiHeadAttention(embed_dim=8, num_heads=2, bias=true, causal=false): input [2,8] must be "
                      "[batch, length, 8]");
}
