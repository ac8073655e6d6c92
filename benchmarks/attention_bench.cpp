// Attention micro-benchmarks at the shape of gpt_text's attention (nanoGPT's CPU configuration: batch 12, 4 heads,
// block 64, head size 32, causal):
//   attention_fwd              scaled_dot_product_attention forward, no graph
//   attention_fwd_bwd          forward + backward of the fused op (the raw kernel backward), q/k/v requiring grad
//   attention_composed_fwd_bwd the same through matmul/softmax/add ops (what the fused op replaces)
//   attention_kv_cache_step    MultiHeadAttention(128, 4 heads) decoding one token against a cache of 255 tokens
//                              (gpt_text's 256-token block), batch 1, projections included
// GFLOPS count the four [T,T,D] products of forward (2) or forward + backward (2 + 5 with the recomputation) as 2·T²·D.
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include <latent/latent.hpp>

#include "bench_common.hpp"

namespace {

using latent::index_t;
using latent::Tensor;

constexpr index_t B = 12, H = 4, T = 64, D = 32;
constexpr double attention_sample_seconds = 0.02;

double product_flops() { return 2.0 * B * H * T * T * D; }

struct Inputs {
  Tensor<float> q, k, v, g;
  explicit Inputs(bool requires_grad) {
    latent::Rng rng(0);
    q = latent::randn<float>({B, H, T, D}, rng);
    k = latent::randn<float>({B, H, T, D}, rng);
    v = latent::randn<float>({B, H, T, D}, rng);
    g = latent::randn<float>({B, H, T, D}, rng);
    if (requires_grad)
      for (auto* t : {&q, &k, &v}) t->set_requires_grad();
  }
  void clear_grads() {
    for (auto* t : {&q, &k, &v}) t->set_grad(Tensor<float>());
  }
};

Tensor<float> composed(const Tensor<float>& q, const Tensor<float>& k, const Tensor<float>& v) {
  static const Tensor<float> mask = [] {
    auto m = latent::zeros<float>({T, T});
    for (index_t i = 0; i < T; ++i)
      for (index_t j = i + 1; j < T; ++j) m.data()[i * T + j] = -std::numeric_limits<float>::infinity();
    return m;
  }();
  const auto s = latent::add(latent::mul_scalar(latent::matmul(q, latent::transpose(k, 2, 3)), 1.0f / std::sqrt(float(D))), mask);
  return latent::matmul(latent::softmax(s, -1), v);
}

void attention_fwd(benchmark::State& state) {
  Inputs in(false);
  auto run = [&] { benchmark::DoNotOptimize(latent::scaled_dot_product_attention(in.q, in.k, in.v, true).data()); };
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure_calibrated(run, 3, latent_bench::micro_samples, attention_sample_seconds),
                         2 * product_flops());
}

void attention_fwd_bwd(benchmark::State& state) {
  Inputs in(true);
  auto run = [&] {
    latent::scaled_dot_product_attention(in.q, in.k, in.v, true).backward(in.g);
    in.clear_grads();
  };
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure_calibrated(run, 3, latent_bench::micro_samples, attention_sample_seconds),
                         7 * product_flops());
}

void attention_composed_fwd_bwd(benchmark::State& state) {
  Inputs in(true);
  auto run = [&] {
    composed(in.q, in.k, in.v).backward(in.g);
    in.clear_grads();
  };
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure_calibrated(run, 3, latent_bench::micro_samples, attention_sample_seconds),
                         6 * product_flops());
}

void attention_kv_cache_step(benchmark::State& state) {
  latent::Rng rng(0);
  latent::nn::MultiHeadAttention<float> mha({.embed_dim = 128, .num_heads = 4, .causal = true}, rng);
  latent::nn::KVCache<float> cache(256);
  const auto prompt = latent::randn<float>({1, 255, 128}, rng);
  const auto token = latent::randn<float>({1, 1, 128}, rng);
  latent::NoGradGuard no_grad;
  // Each sample refills the cache with the 255-token prompt (untimed), then times the one step that decodes token 256.
  for (auto _ : state) {
    std::vector<double> samples;
    for (int s = 0; s < 5 + 50; ++s) {
      cache.reset();
      mha(prompt, cache);
      const auto start = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(mha(token, cache).data());
      if (s >= 5) samples.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    latent_bench::Timing t;
    t.median_s = latent_bench::quantile(samples, 0.5);
    t.p25_s = latent_bench::quantile(samples, 0.25);
    t.p75_s = latent_bench::quantile(samples, 0.75);
    t.min_s = latent_bench::quantile(samples, 0);
    t.samples = static_cast<int>(samples.size());
    t.batch = 1;
    latent_bench::report(state, t);
  }
}

}  // namespace

BENCHMARK(attention_fwd)->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(attention_fwd_bwd)->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(attention_composed_fwd_bwd)->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(attention_kv_cache_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);
