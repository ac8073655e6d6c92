// W3, W3b and W5 of BENCHMARKS.md with latent's nn::GPT (nanoGPT's model and names), as a user would write them:
//   W3_gpt_step          char-GPT training step: vocab 65, block 64, 4 layers, 4 heads, embedding 128, batch 12
//   W3b_gpt_step         the same with block 256, 6 layers, 6 heads, embedding 384, batch 8
//                        (both: mean next-token cross-entropy on a fixed batch of random token ids, backward, AdamW
//                        lr 1e-3, betas (0.9, 0.99), eps 1e-8, weight decay 0.1 on 2-D parameters only)
//   W5_sample_recompute  W3's model, batch 1, 1-token prompt, multinomial sampling of 256 tokens recomputing the whole
//                        context (cropped to the last 64 tokens) every token, as nanoGPT's generate()
//   W5_sample_kv_cache   the same model, 64 tokens with the KV cache (within the block)
// W5 reports tokens/s (counter tok_s) = tokens / median seconds per generation. compare/torch_workloads.{cpp,py} are
// the LibTorch and PyTorch twins. Built only once <latent/nn/gpt.hpp> exists.
#include <string>

#if __has_include(<latent/nn/gpt.hpp>)
#include <cstdint>
#include <span>
#include <vector>

#include <latent/latent.hpp>
#include <latent/nn/gpt.hpp>
#include <latent/optim/adam.hpp>

#include "bench_common.hpp"
#include "bench_workload.hpp"

namespace latent_bench {
namespace {

using latent::index_t;
using latent::Tensor;

class GptStep {
 public:
  GptStep(const latent::nn::GPTConfig& config, index_t batch)
      : rng_(0),
        model_(config, rng_),
        // nanoGPT's configure_optimizers: weight decay on the 2-D parameters only
        opt_(latent::optim::weight_decay_groups(model_.named_parameters(),
                                                latent::optim::AdamWOptions{.lr = 1e-3, .betas = {0.9, 0.99}, .eps = 1e-8, .weight_decay = 0.1})) {
    const auto tokens = latent::randint(0, config.vocab_size, {batch, config.block_size + 1}, rng_);
    x_ = latent::narrow(tokens, 1, 0, config.block_size).clone_detached();
    y_ = latent::reshape(latent::narrow(tokens, 1, 1, config.block_size).clone_detached(), {batch * config.block_size});
  }

  float step() {
    const Tensor<float> logits = model_.forward(x_);
    const Tensor<float> loss = latent::cross_entropy(latent::reshape(logits, {y_.size(0), logits.size(2)}), y_);
    loss.backward();
    opt_.step();
    opt_.zero_grad();  // nanoGPT's order: the gradients are dropped after the step, not kept through the next forward
    return loss.item();
  }

 private:
  latent::Rng rng_;
  latent::nn::GPT<float> model_;
  latent::optim::AdamW<float> opt_;
  Tensor<std::int64_t> x_, y_;
};

latent::nn::GPTConfig w3_config() {
  return {.vocab_size = 65, .block_size = 64, .n_layer = 4, .n_head = 4, .n_embd = 128};
}
struct W3GptStep : GptStep {
  W3GptStep() : GptStep(w3_config(), 12) {}
};
latent::nn::GPTConfig w3b_config() {
  return {.vocab_size = 65, .block_size = 256, .n_layer = 6, .n_head = 6, .n_embd = 384};
}
struct W3bGptStep : GptStep {
  W3bGptStep() : GptStep(w3b_config(), 8) {}
};

/// W5: W3's model (or another configuration) in eval mode without autograd; multinomial sampling (temperature 1) from
/// the last position's logits.
class W5Sampler {
 public:
  explicit W5Sampler(const latent::nn::GPTConfig& config = w3_config()) : rng_(0), model_(config, rng_) { model_.eval(); }

  /// nanoGPT's generate: the whole context, cropped to the block, every token.
  std::vector<std::int64_t> recompute(index_t tokens) {
    latent::NoGradGuard no_grad;
    const index_t block = model_.config().block_size;
    std::vector<std::int64_t> idx{0};
    for (index_t i = 0; i < tokens; ++i) {
      const auto begin = idx.size() > static_cast<std::size_t>(block) ? idx.end() - block : idx.begin();
      const std::vector<std::int64_t> context(begin, idx.end());
      const auto logits = model_.forward(latent::from_vector(context, {1, static_cast<index_t>(context.size())}));
      idx.push_back(sample_last(logits));
    }
    return idx;
  }

  /// One new token per forward against the cached keys and values (within the block).
  std::vector<std::int64_t> cached(index_t tokens) {
    latent::NoGradGuard no_grad;
    auto cache = model_.make_cache(1);
    std::vector<std::int64_t> idx{0};
    for (index_t i = 0; i < tokens; ++i)
      idx.push_back(sample_last(model_.forward(latent::from_vector(std::vector<std::int64_t>{idx.back()}, {1, 1}), cache)));
    return idx;
  }

 private:
  /// A token drawn from softmax(logits[0, -1, :]).
  std::int64_t sample_last(const Tensor<float>& logits) {
    const Tensor<float> probs = latent::softmax(latent::select(latent::select(logits, 0, 0), 0, logits.size(1) - 1), -1);
    return static_cast<std::int64_t>(rng_.categorical(std::span<const float>(probs.data(), static_cast<std::size_t>(probs.numel()))));
  }

  latent::Rng rng_;
  latent::nn::GPT<float> model_;
};

void W3_gpt_step(benchmark::State& state) { run_steps<W3GptStep>(state, w3_samples); }
void W3b_gpt_step(benchmark::State& state) { run_steps<W3bGptStep>(state, w3b_samples); }
BENCHMARK(W3_gpt_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W3b_gpt_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

template <bool Cached>
void w5_sampling(benchmark::State& state) {
  W5Sampler sampler;
  const index_t tokens = Cached ? w5_cache_tokens : w5_recompute_tokens;
  auto run = [&] { benchmark::DoNotOptimize(Cached ? sampler.cached(tokens) : sampler.recompute(tokens)); };
  for (auto _ : state) {
    const Timing t = measure(run, 1, Cached ? w5_cache_samples : w5_recompute_samples, 1);
    report(state, t);
    report_tokens(state, t, static_cast<int>(tokens));
  }
}
/// Issue 7's cache criterion: on W3b's model (block 256), 255 new tokens after a 1-token prompt, i.e. a full block,
/// with the cache against recomputing the context each token (report both tokens/s; the ratio is the speed-up).
template <bool Cached>
void w5_block256(benchmark::State& state) {
  W5Sampler sampler(w3b_config());
  const index_t tokens = w3b_config().block_size - 1;
  auto run = [&] { benchmark::DoNotOptimize(Cached ? sampler.cached(tokens) : sampler.recompute(tokens)); };
  for (auto _ : state) {
    const Timing t = measure(run, Cached ? 1 : 0, Cached ? 5 : 1, 1);
    report(state, t);
    report_tokens(state, t, static_cast<int>(tokens));
  }
}
void W5b_block256_recompute(benchmark::State& state) { w5_block256<false>(state); }
void W5b_block256_kv_cache(benchmark::State& state) { w5_block256<true>(state); }
BENCHMARK(W5b_block256_recompute)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W5b_block256_kv_cache)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

void W5_sample_recompute(benchmark::State& state) { w5_sampling<false>(state); }
void W5_sample_kv_cache(benchmark::State& state) { w5_sampling<true>(state); }
BENCHMARK(W5_sample_recompute)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W5_sample_kv_cache)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

bool run_gpt_workload(const std::string& name, int steps) {
  if (name == "W3") return run_untimed<W3GptStep>(steps);
  if (name == "W3b") return run_untimed<W3bGptStep>(steps);
  return false;
}

}  // namespace latent_bench

#else  // until nn/gpt.hpp lands: no GPT benchmarks, and --peak-memory=W3 reports an unknown workload

namespace latent_bench {
bool run_gpt_workload(const std::string&, int) { return false; }
}  // namespace latent_bench

#endif
