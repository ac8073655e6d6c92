// LibTorch twins of latent's benchmarks (workloads*.cpp, gemm.cpp, overhead.cpp): the same workloads, sizes,
// benchmark names and timing protocol (../bench_common.hpp), written as a LibTorch user would write them.
// Options as latent_bench: --threads=N (torch::set_num_threads; OpenBLAS's threads follow OPENBLAS_NUM_THREADS,
// set by scripts/bench), --peak-memory=W1|W2|W3|W3b|W4|idle [--steps=N]. Built as latent_bench_torch when
// find_package(Torch) succeeds.
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "../bench_common.hpp"

namespace {

using latent_bench::micro_samples;
using latent_bench::workload_warmup;

/// optimizer.zero_grad(set_to_none=True): the faster of LibTorch's two choices (its zero_grad() zeroes in place).
void zero_grad_to_none(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) p.mutable_grad().reset();
}

/// A first member that seeds torch's global generator, so that parameter init and data are the same every run.
struct Seeded {
  Seeded() { torch::manual_seed(0); }
};

// ---- W1: MLP VAE (PyTorch's examples/vae) -----------------------------------------------------------------------
struct VaeImpl : torch::nn::Module {
  VaeImpl()
      : fc1(register_module("fc1", torch::nn::Linear(784, 400))),
        fc21(register_module("fc21", torch::nn::Linear(400, 20))),
        fc22(register_module("fc22", torch::nn::Linear(400, 20))),
        fc3(register_module("fc3", torch::nn::Linear(20, 400))),
        fc4(register_module("fc4", torch::nn::Linear(400, 784))) {}

  torch::Tensor loss(const torch::Tensor& x) {
    const auto h = torch::relu(fc1(x));
    const auto mu = fc21(h), logvar = fc22(h);
    const auto z = mu + torch::randn_like(mu) * torch::exp(0.5 * logvar);
    const auto recon = torch::sigmoid(fc4(torch::relu(fc3(z))));
    const auto bce = torch::binary_cross_entropy(recon, x, {}, at::Reduction::Sum);
    const auto kld = -0.5 * torch::sum(1 + logvar - mu.pow(2) - logvar.exp());
    return bce + kld;
  }

  torch::nn::Linear fc1, fc21, fc22, fc3, fc4;
};
TORCH_MODULE(Vae);

class W1VaeStep {
 public:
  W1VaeStep() : x_(torch::rand({128, 784})), opt_(model_->parameters(), torch::optim::AdamOptions(1e-3)) {}

  float step() {
    const auto loss = model_->loss(x_);
    zero_grad_to_none(opt_);
    loss.backward();
    opt_.step();
    return loss.item<float>();
  }

 private:
  Seeded seeded_;
  Vae model_;
  torch::Tensor x_;
  torch::optim::Adam opt_;
};

// ---- W4: DDPM denoiser on 2-D points ------------------------------------------------------------------------------
class W4DdpmStep {
 public:
  static constexpr int64_t batch = 256, points = 8192, steps = 1000, half_dim = 32;

  W4DdpmStep()
      : net_(torch::nn::Linear(66, 128), torch::nn::SiLU(), torch::nn::Linear(128, 128), torch::nn::SiLU(),
             torch::nn::Linear(128, 128), torch::nn::SiLU(), torch::nn::Linear(128, 2)),
        opt_(net_->parameters(), torch::optim::AdamOptions(1e-3)) {
    data_ = torch::randn({points, 2});
    const auto betas = torch::linspace(1e-4, 0.02, steps, torch::kFloat64);
    const auto alpha_bar = torch::cumprod(1 - betas, 0);
    sqrt_alpha_bar_ = alpha_bar.sqrt().to(torch::kFloat);
    sqrt_one_minus_alpha_bar_ = (1 - alpha_bar).sqrt().to(torch::kFloat);
    freqs_ = torch::exp(-std::log(10000.0) * torch::arange(half_dim, torch::kFloat64) / half_dim)
                 .to(torch::kFloat)
                 .unsqueeze(0);
  }

  float step() {
    const auto idx = torch::randint(0, points, {batch}, torch::kLong);
    const auto t = torch::randint(0, steps, {batch}, torch::kLong);
    const auto eps = torch::randn({batch, 2});
    const auto x0 = data_.index_select(0, idx);
    const auto a = sqrt_alpha_bar_.index_select(0, t).unsqueeze(1);
    const auto s = sqrt_one_minus_alpha_bar_.index_select(0, t).unsqueeze(1);
    const auto x_t = a * x0 + s * eps;
    const auto args = t.to(torch::kFloat).unsqueeze(1) * freqs_;
    const auto input = torch::cat({x_t, torch::sin(args), torch::cos(args)}, 1);
    const auto loss = torch::mse_loss(net_->forward(input), eps);
    zero_grad_to_none(opt_);
    loss.backward();
    opt_.step();
    return loss.item<float>();
  }

 private:
  Seeded seeded_;
  torch::nn::Sequential net_;
  torch::optim::Adam opt_;
  torch::Tensor data_, sqrt_alpha_bar_, sqrt_one_minus_alpha_bar_, freqs_;
};

// ---- W2: DCGAN-small on 1x28x28 ---------------------------------------------------------------------------------------
struct DcganGeneratorImpl : torch::nn::Module {
  DcganGeneratorImpl()
      : fc(register_module("fc", torch::nn::Linear(100, 128 * 7 * 7))),
        bn0(register_module("bn0", torch::nn::BatchNorm1d(128 * 7 * 7))),
        deconv1(register_module("deconv1", torch::nn::ConvTranspose2d(
                                               torch::nn::ConvTranspose2dOptions(128, 64, 4).stride(2).padding(1)))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(64))),
        deconv2(register_module(
            "deconv2", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(64, 1, 4).stride(2).padding(1)))) {}

  torch::Tensor forward(const torch::Tensor& z) {
    auto h = torch::relu(bn0(fc(z))).view({-1, 128, 7, 7});
    h = torch::relu(bn1(deconv1(h)));
    return torch::tanh(deconv2(h));
  }

  torch::nn::Linear fc;
  torch::nn::BatchNorm1d bn0;
  torch::nn::ConvTranspose2d deconv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::ConvTranspose2d deconv2;
};
TORCH_MODULE(DcganGenerator);

struct DcganDiscriminatorImpl : torch::nn::Module {
  DcganDiscriminatorImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 64, 4).stride(2).padding(1)))),
        conv2(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(64, 128, 4).stride(2).padding(1)))),
        bn2(register_module("bn2", torch::nn::BatchNorm2d(128))),
        fc(register_module("fc", torch::nn::Linear(128 * 7 * 7, 1))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::leaky_relu(conv1(x), 0.2);
    h = torch::leaky_relu(bn2(conv2(h)), 0.2);
    return fc(torch::flatten(h, 1));
  }

  torch::nn::Conv2d conv1, conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Linear fc;
};
TORCH_MODULE(DcganDiscriminator);

class W2DcganStep {
 public:
  static constexpr int64_t batch = 64, z_dim = 100;

  W2DcganStep()
      : opt_g_(g_->parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999})),
        opt_d_(d_->parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999})),
        real_(torch::rand({batch, 1, 28, 28}) * 2 - 1),  // a fixed batch in tanh's range
        ones_(torch::ones({batch, 1})),
        zeros_(torch::zeros({batch, 1})) {}

  float step() {
    namespace F = torch::nn::functional;
    const auto fake = g_(torch::randn({batch, z_dim}));
    // D update as PyTorch's DCGAN example: real and (detached) fake each their own batch, each loss differentiated
    // as soon as it is known
    zero_grad_to_none(opt_d_);
    const auto loss_real = F::binary_cross_entropy_with_logits(d_(real_), ones_);
    loss_real.backward();
    const auto loss_fake = F::binary_cross_entropy_with_logits(d_(fake.detach()), zeros_);
    loss_fake.backward();
    opt_d_.step();
    // G update, non-saturating: -log D(G(z)); G's gradients dropped after its step
    const auto loss_g = F::binary_cross_entropy_with_logits(d_(fake), ones_);
    loss_g.backward();
    opt_g_.step();
    zero_grad_to_none(opt_g_);
    return loss_real.item<float>() + loss_fake.item<float>() + loss_g.item<float>();
  }

 private:
  Seeded seeded_;
  DcganGenerator g_;
  DcganDiscriminator d_;
  torch::optim::Adam opt_g_, opt_d_;
  torch::Tensor real_, ones_, zeros_;
};

// ---- W3 / W3b / W5: nanoGPT (karpathy/nanoGPT model.py; torch 1.13 has no fused attention) ------------------------
struct GptConfig {
  int64_t vocab = 65, block = 64, n_layer = 4, n_head = 4, n_embd = 128;
};

/// Per layer: the keys and values of the tokens seen so far (W5's KV cache), undefined before the first token.
using KvCache = std::vector<std::pair<torch::Tensor, torch::Tensor>>;

struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const GptConfig& c)
      : n_head(c.n_head),
        n_embd(c.n_embd),
        ln_1(register_parameter("ln_1_weight", torch::ones({c.n_embd}))),
        ln_2(register_parameter("ln_2_weight", torch::ones({c.n_embd}))),
        c_attn(register_module("c_attn", torch::nn::Linear(torch::nn::LinearOptions(c.n_embd, 3 * c.n_embd).bias(false)))),
        c_proj(register_module("c_proj", torch::nn::Linear(torch::nn::LinearOptions(c.n_embd, c.n_embd).bias(false)))),
        c_fc(register_module("c_fc", torch::nn::Linear(torch::nn::LinearOptions(c.n_embd, 4 * c.n_embd).bias(false)))),
        mlp_proj(register_module("mlp_proj", torch::nn::Linear(torch::nn::LinearOptions(4 * c.n_embd, c.n_embd).bias(false)))),
        mask(register_buffer("mask", torch::tril(torch::ones({c.block, c.block})).view({1, 1, c.block, c.block}))) {}

  torch::Tensor attn(const torch::Tensor& x, std::pair<torch::Tensor, torch::Tensor>* cache) {
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), hd = C / n_head;
    auto qkv = c_attn(x).split(n_embd, 2);
    auto q = qkv[0].view({B, T, n_head, hd}).transpose(1, 2);
    auto k = qkv[1].view({B, T, n_head, hd}).transpose(1, 2);
    auto v = qkv[2].view({B, T, n_head, hd}).transpose(1, 2);
    int64_t past = 0;
    if (cache) {
      if (cache->first.defined()) {
        past = cache->first.size(2);
        k = torch::cat({cache->first, k}, 2);
        v = torch::cat({cache->second, v}, 2);
      }
      *cache = {k, v};
    }
    auto att = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(hd)));
    using torch::indexing::Slice;
    att = att.masked_fill(mask.index({Slice(), Slice(), Slice(past, past + T), Slice(0, past + T)}) == 0,
                          -std::numeric_limits<float>::infinity());
    att = torch::softmax(att, -1);
    const auto y = torch::matmul(att, v).transpose(1, 2).contiguous().view({B, T, C});
    return c_proj(y);
  }

  torch::Tensor forward(torch::Tensor x, std::pair<torch::Tensor, torch::Tensor>* cache) {
    namespace F = torch::nn::functional;
    const auto ln = [&](const torch::Tensor& h, const torch::Tensor& w) {
      return torch::layer_norm(h, {n_embd}, w, {}, 1e-5);
    };
    x = x + attn(ln(x, ln_1), cache);
    return x + mlp_proj(F::gelu(c_fc(ln(x, ln_2))));
  }

  int64_t n_head, n_embd;
  torch::Tensor ln_1, ln_2;
  torch::nn::Linear c_attn, c_proj, c_fc, mlp_proj;
  torch::Tensor mask;
};
TORCH_MODULE(Block);

struct GptImpl : torch::nn::Module {
  explicit GptImpl(const GptConfig& c)
      : config(c),
        wte(register_module("wte", torch::nn::Embedding(c.vocab, c.n_embd))),
        wpe(register_module("wpe", torch::nn::Embedding(c.block, c.n_embd))),
        ln_f(register_parameter("ln_f_weight", torch::ones({c.n_embd}))) {
    for (int64_t i = 0; i < c.n_layer; ++i) h.push_back(register_module("h" + std::to_string(i), Block(c)));
    // nanoGPT's init: N(0, 0.02) for Linear and Embedding weights, 0.02/√(2·n_layer) for the residual projections;
    // the output head is the token embedding (tied).
    torch::NoGradGuard no_grad;
    for (auto& p : named_parameters()) {
      if (p.value().dim() < 2) continue;
      const bool residual = p.key().find("c_proj") != std::string::npos || p.key().find("mlp_proj") != std::string::npos;
      p.value().normal_(0.0, residual ? 0.02 / std::sqrt(2.0 * static_cast<double>(c.n_layer)) : 0.02);
    }
  }

  /// Logits [B, T, vocab] for every position (training), or [B, 1, vocab] for the last one (last_only, sampling).
  torch::Tensor forward(const torch::Tensor& idx, bool last_only, KvCache* caches = nullptr, int64_t pos0 = 0) {
    const int64_t T = idx.size(1);
    auto x = wte(idx) + wpe(torch::arange(pos0, pos0 + T, torch::kLong));
    for (size_t i = 0; i < h.size(); ++i) x = h[i]->forward(x, caches ? &(*caches)[i] : nullptr);
    x = torch::layer_norm(x, {config.n_embd}, ln_f, {}, 1e-5);
    if (last_only) x = x.narrow(1, T - 1, 1);
    return torch::nn::functional::linear(x, wte->weight);
  }

  GptConfig config;
  torch::nn::Embedding wte, wpe;
  torch::Tensor ln_f;
  std::vector<Block> h;
};
TORCH_MODULE(Gpt);

/// nanoGPT's configure_optimizers: AdamW(lr 1e-3, betas (0.9, 0.99)), weight decay 0.1 on 2-D parameters only.
torch::optim::AdamW gpt_adamw(Gpt& model) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  const auto options = [](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(1e-3).betas({0.9, 0.99}).eps(1e-8).weight_decay(wd));
  };
  return torch::optim::AdamW(
      {torch::optim::OptimizerParamGroup(decay, options(0.1)), torch::optim::OptimizerParamGroup(no_decay, options(0.0))},
      torch::optim::AdamWOptions(1e-3));
}

class GptStep {
 public:
  GptStep(const GptConfig& c, int64_t batch) : model_(c), opt_(gpt_adamw(model_)) {
    const auto tokens = torch::randint(0, c.vocab, {batch, c.block + 1}, torch::kLong);  // a fixed random batch
    x_ = tokens.narrow(1, 0, c.block).contiguous();
    y_ = tokens.narrow(1, 1, c.block).contiguous();
  }

  float step() {
    const auto logits = model_->forward(x_, false);
    const auto loss = torch::nn::functional::cross_entropy(logits.view({-1, logits.size(-1)}), y_.view({-1}));
    loss.backward();
    opt_.step();
    zero_grad_to_none(opt_);  // nanoGPT's order
    return loss.item<float>();
  }

 private:
  Seeded seeded_;
  Gpt model_;
  torch::optim::AdamW opt_;
  torch::Tensor x_, y_;
};

struct W3GptStep : GptStep {
  W3GptStep() : GptStep({.vocab = 65, .block = 64, .n_layer = 4, .n_head = 4, .n_embd = 128}, 12) {}
};
struct W3bGptStep : GptStep {
  W3bGptStep() : GptStep({.vocab = 65, .block = 256, .n_layer = 6, .n_head = 6, .n_embd = 384}, 8) {}
};

/// W5: W3's model, batch 1, a 1-token prompt, multinomial sampling (temperature 1) without autograd.
class W5Sampler {
 public:
  W5Sampler() : model_(GptConfig{}) { model_->eval(); }

  /// nanoGPT's generate: the whole context (cropped to the block) every token.
  torch::Tensor recompute(int64_t tokens) {
    torch::NoGradGuard no_grad;
    auto idx = torch::zeros({1, 1}, torch::kLong);
    const int64_t block = model_->config.block;
    for (int64_t i = 0; i < tokens; ++i) {
      const auto cond = idx.size(1) <= block ? idx : idx.narrow(1, idx.size(1) - block, block);
      const auto probs = torch::softmax(model_->forward(cond, true).select(1, 0), -1);
      idx = torch::cat({idx, torch::multinomial(probs, 1)}, 1);
    }
    return idx;
  }

  /// One new token per forward against the cached keys and values (within the block).
  torch::Tensor cached(int64_t tokens) {
    torch::NoGradGuard no_grad;
    KvCache caches(static_cast<size_t>(model_->config.n_layer));
    auto idx = torch::zeros({1, 1}, torch::kLong);
    std::vector<torch::Tensor> out{idx};
    for (int64_t pos = 0; pos < tokens; ++pos) {
      const auto probs = torch::softmax(model_->forward(idx, true, &caches, pos).select(1, 0), -1);
      idx = torch::multinomial(probs, 1);
      out.push_back(idx);
    }
    return torch::cat(out, 1);
  }

 private:
  Seeded seeded_;
  Gpt model_;
};

template <class Workload>
void run_steps(benchmark::State& state, int samples) {
  Workload w;
  float loss = 0;
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure([&] { loss = w.step(); }, workload_warmup, samples, 1));
  state.counters["loss"] = loss;
}

void W1_vae_step(benchmark::State& state) { run_steps<W1VaeStep>(state, latent_bench::w1_samples); }
void W2_dcgan_step(benchmark::State& state) { run_steps<W2DcganStep>(state, latent_bench::w2_samples); }
void W3_gpt_step(benchmark::State& state) { run_steps<W3GptStep>(state, latent_bench::w3_samples); }
void W3b_gpt_step(benchmark::State& state) { run_steps<W3bGptStep>(state, latent_bench::w3b_samples); }
void W4_ddpm_step(benchmark::State& state) { run_steps<W4DdpmStep>(state, latent_bench::w4_samples); }
BENCHMARK(W1_vae_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W2_dcgan_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W3_gpt_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W3b_gpt_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W4_ddpm_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

template <bool Cached>
void w5_sampling(benchmark::State& state) {
  W5Sampler sampler;
  const int64_t tokens = Cached ? latent_bench::w5_cache_tokens : latent_bench::w5_recompute_tokens;
  auto run = [&] { benchmark::DoNotOptimize((Cached ? sampler.cached(tokens) : sampler.recompute(tokens)).data_ptr()); };
  for (auto _ : state) {
    const auto t = latent_bench::measure(run, 1, Cached ? latent_bench::w5_cache_samples : latent_bench::w5_recompute_samples, 1);
    latent_bench::report(state, t);
    latent_bench::report_tokens(state, t, tokens);
  }
}
void W5_sample_recompute(benchmark::State& state) { w5_sampling<false>(state); }
void W5_sample_kv_cache(benchmark::State& state) { w5_sampling<true>(state); }
BENCHMARK(W5_sample_recompute)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W5_sample_kv_cache)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

// ---- W6: SGEMM ----------------------------------------------------------------------------------------------------
void W6_sgemm(benchmark::State& state) {
  const int64_t n = state.range(0);
  torch::manual_seed(0);
  const auto a = torch::randn({n, n}), b = torch::randn({n, n});
  auto run = [&] { benchmark::DoNotOptimize(torch::mm(a, b).data_ptr()); };
  const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  for (auto _ : state)
    latent_bench::report(
        state, latent_bench::measure_calibrated(run, 2, micro_samples, latent_bench::gemm_sample_seconds), flops);
}
BENCHMARK(W6_sgemm)->Arg(128)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->UseManualTime()->Iterations(1)->Unit(
    benchmark::kMicrosecond);

// ---- per-op overhead on 1-element tensors -------------------------------------------------------------------------
template <class Op>
void overhead_fwd(benchmark::State& state, Op op, bool matrix) {
  const auto shape = matrix ? std::vector<int64_t>{1, 1} : std::vector<int64_t>{1};
  const auto a = torch::full(shape, 0.5), b = torch::full(shape, 2.0);
  auto run = [&] { benchmark::DoNotOptimize(op(a, b).data_ptr()); };
  for (auto _ : state)
    latent_bench::report(
        state, latent_bench::measure_calibrated(run, 100, micro_samples, latent_bench::overhead_sample_seconds));
}

template <class Op>
void overhead_fwd_bwd(benchmark::State& state, Op op, bool matrix, bool binary) {
  const auto shape = matrix ? std::vector<int64_t>{1, 1} : std::vector<int64_t>{1};
  auto a = torch::full(shape, 0.5).requires_grad_(true), b = torch::full(shape, 2.0).requires_grad_(binary);
  const auto seed = torch::ones_like(op(a.detach(), b.detach()));
  auto run = [&] {
    const auto y = op(a, b);
    if (y.dim() == 0)
      y.backward();
    else
      y.backward(seed);
    a.mutable_grad().reset();  // as zero_grad(set_to_none=True)
    b.mutable_grad().reset();
  };
  for (auto _ : state)
    latent_bench::report(
        state, latent_bench::measure_calibrated(run, 100, micro_samples, latent_bench::overhead_sample_seconds));
}

template <class Op>
void register_overhead(const std::string& name, Op op, bool matrix, bool binary) {
  benchmark::RegisterBenchmark(("overhead_" + name + "_fwd").c_str(),
                               [=](benchmark::State& s) { overhead_fwd(s, op, matrix); })
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kNanosecond);
  benchmark::RegisterBenchmark(("overhead_" + name + "_fwd_bwd").c_str(),
                               [=](benchmark::State& s) { overhead_fwd_bwd(s, op, matrix, binary); })
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kNanosecond);
}

void register_overheads() {
  register_overhead(
      "add", [](const torch::Tensor& a, const torch::Tensor& b) { return torch::add(a, b); }, false, true);
  register_overhead(
      "mul", [](const torch::Tensor& a, const torch::Tensor& b) { return torch::mul(a, b); }, false, true);
  register_overhead(
      "relu", [](const torch::Tensor& a, const torch::Tensor&) { return torch::relu(a); }, false, false);
  register_overhead(
      "matmul", [](const torch::Tensor& a, const torch::Tensor& b) { return torch::matmul(a, b); }, true, true);
  register_overhead(
      "sum", [](const torch::Tensor& a, const torch::Tensor&) { return torch::sum(a); }, false, false);
}

bool run_workload(const std::string& name, int steps) {
  auto run = [&](auto&& w) {
    for (int i = 0; i < steps; ++i) w.step();
    return true;
  };
  if (name == "W1") return run(W1VaeStep());
  if (name == "W2") return run(W2DcganStep());
  if (name == "W3") return run(W3GptStep());
  if (name == "W3b") return run(W3bGptStep());
  if (name == "W4") return run(W4DdpmStep());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  latent_bench::Options options;
  if (!latent_bench::parse_options(argc, argv, options)) {
    std::fprintf(stderr, "usage: %s [--threads=N] [--peak-memory=W1|W2|W3|W3b|W4|idle [--steps=N]] [benchmark options]\n",
                 argv[0]);
    return 2;
  }
  torch::set_num_threads(options.threads);
  if (!options.peak_memory.empty()) {
    if (options.peak_memory != "idle" && !run_workload(options.peak_memory, options.steps)) {
      std::fprintf(stderr, "unknown workload '%s' (W1, W2, W3, W3b, W4 or idle)\n", options.peak_memory.c_str());
      return 2;
    }
    latent_bench::print_peak_memory("libtorch", options.peak_memory, options.peak_memory == "idle" ? 0 : options.steps);
    return 0;
  }
  register_overheads();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("impl", "libtorch");
  benchmark::AddCustomContext("threads", std::to_string(options.threads));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
