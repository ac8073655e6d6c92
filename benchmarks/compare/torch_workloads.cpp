// LibTorch twins of latent's benchmarks (workloads.cpp, gemm.cpp, overhead.cpp): the same workloads, sizes,
// benchmark names and timing protocol (../bench_common.hpp), written as a LibTorch user would write them.
// Options as latent_bench: --threads=N (torch::set_num_threads; OpenBLAS's threads follow OPENBLAS_NUM_THREADS,
// set by scripts/bench), --peak-memory=W1|W4|idle [--steps=N]. Built as latent_bench_torch when
// find_package(Torch) succeeds.
#include <cmath>
#include <cstdio>
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

template <class Workload>
void run_steps(benchmark::State& state, int samples) {
  Workload w;
  float loss = 0;
  for (auto _ : state)
    latent_bench::report(state, latent_bench::measure([&] { loss = w.step(); }, workload_warmup, samples, 1));
  state.counters["loss"] = loss;
}

void W1_vae_step(benchmark::State& state) { run_steps<W1VaeStep>(state, latent_bench::w1_samples); }
void W4_ddpm_step(benchmark::State& state) { run_steps<W4DdpmStep>(state, latent_bench::w4_samples); }
BENCHMARK(W1_vae_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(W4_ddpm_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

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
  if (name == "W4") return run(W4DdpmStep());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  latent_bench::Options options;
  if (!latent_bench::parse_options(argc, argv, options)) {
    std::fprintf(stderr, "usage: %s [--threads=N] [--peak-memory=W1|W4|idle [--steps=N]] [benchmark options]\n",
                 argv[0]);
    return 2;
  }
  torch::set_num_threads(options.threads);
  if (!options.peak_memory.empty()) {
    if (options.peak_memory != "idle" && !run_workload(options.peak_memory, options.steps)) {
      std::fprintf(stderr, "unknown workload '%s' (W1, W4 or idle)\n", options.peak_memory.c_str());
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
