// demo: trains a denoising diffusion model (DDPM, Ho et al. 2020) on a 2-D swiss roll in about a minute
// on two cores, samples 2,000 points with the 1,000-step ancestral sampler, and writes a picture.
//
//   scripts/demo                       (configures, builds and runs this with --out demo-out)
//   build/release/examples/demo --steps 4000 --seed 1 --out demo-out
//
// Leaves in --out: samples.png (samples in blue over the training data in grey) and log.csv (step, loss);
// prints MMD² between the samples and held-out data next to the MMD² of a Gaussian fitted to the data.
#include <latent/latent.hpp>
#include <latent/io/png.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>
#include <string>

#include <unistd.h>

using namespace latent;

namespace {

struct Config {
  int steps = 20000;       // training steps (batch 256)
  int batch = 256;
  int samples = 2000;
  std::uint64_t seed = 0;
  int threads = 1;         // this model is overhead-bound: one thread is fastest (see README)
  std::string out = "demo-out";
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ValueError("demo: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--steps") c.steps = std::stoi(value());
    else if (a == "--seed") c.seed = std::stoull(value());
    else if (a == "--samples") c.samples = std::stoi(value());
    else if (a == "--threads") c.threads = std::stoi(value());
    else if (a == "--out") c.out = value();
    else if (a == "--help" || a == "-h") {
      std::cout << "usage: demo [--steps N] [--seed S] [--samples N] [--threads N] [--out DIR]\n"
                   "Trains a 2-D DDPM on a swiss roll and writes DIR/samples.png and DIR/log.csv.\n";
      std::exit(0);
    } else throw ValueError("demo: unknown argument '" + a + "' (try --help)");
  }
  return c;
}

/// Swiss roll in 2-D: t ~ 1.5π(1 + 2u), (t cos t, t sin t) / 10 plus N(0, 0.05²) noise.
Tensor<float> swiss_roll(index_t n, Rng& rng) {
  auto x = Tensor<float>::empty({n, 2});
  for (index_t i = 0; i < n; ++i) {
    const float t = 1.5f * std::numbers::pi_v<float> * (1 + 2 * rng.uniform<float>());
    x.data()[2 * i] = t * std::cos(t) / 10 + 0.05f * rng.normal<float>();
    x.data()[2 * i + 1] = t * std::sin(t) / 10 + 0.05f * rng.normal<float>();
  }
  return x;
}

/// The denoiser of BENCHMARKS.md W4: [x_t, sinusoidal(t)] (2 + 64) → 128 → 128 → 128 → 2 with SiLU.
struct Denoiser : nn::Module<float> {
  nn::Linear<float> fc1, fc2, fc3, out;
  explicit Denoiser(Rng& rng)
      : fc1({.in_features = 66, .out_features = 128}, rng),
        fc2({.in_features = 128, .out_features = 128}, rng),
        fc3({.in_features = 128, .out_features = 128}, rng),
        out({.in_features = 128, .out_features = 2}, rng) {
    register_module("fc1", fc1);
    register_module("fc2", fc2);
    register_module("fc3", fc3);
    register_module("out", out);
  }
  Tensor<float> operator()(const Tensor<float>& x, const Tensor<float>& t_embedding) {
    auto h = silu(fc1(cat<float>({x, t_embedding}, 1)));
    h = silu(fc2(h));
    h = silu(fc3(h));
    return out(h);
  }
};

/// [sin(t f_i), cos(t f_i)], f_i = exp(-ln(10000) i / 32), i < 32, for integer steps t.
Tensor<float> time_embedding(const std::vector<int>& t) {
  const index_t n = static_cast<index_t>(t.size());
  auto e = Tensor<float>::empty({n, 64});
  for (index_t r = 0; r < n; ++r)
    for (int i = 0; i < 32; ++i) {
      const float f = std::exp(-std::log(10000.0f) * static_cast<float>(i) / 32);
      e.data()[r * 64 + i] = std::sin(static_cast<float>(t[static_cast<std::size_t>(r)]) * f);
      e.data()[r * 64 + 32 + i] = std::cos(static_cast<float>(t[static_cast<std::size_t>(r)]) * f);
    }
  return e;
}

/// Squared MMD with an RBF kernel whose bandwidth is the median pairwise distance (biased estimator).
double mmd2(const Tensor<float>& a, const Tensor<float>& b) {
  NoGradGuard no_grad;
  auto sqdist = [](const Tensor<float>& x, const Tensor<float>& y) {
    const auto xx = sum(mul(x, x), 1, true), yy = sum(mul(y, y), 1, true);
    return clamp_min(add(sub(xx, mul_scalar(matmul(x, transpose(y, 0, 1)), 2.0f)), transpose(yy, 0, 1)), 0.0f);
  };
  const auto dab = sqdist(a, b);
  auto v = dab.to_vector();
  std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
  const float bandwidth = std::max(v[v.size() / 2], 1e-12f);
  auto k = [&](const Tensor<float>& d) { return mean(exp(mul_scalar(d, -1.0f / bandwidth))).item(); };
  return k(sqdist(a, a)) + k(sqdist(b, b)) - 2 * k(dab);
}

}  // namespace

int main(int argc, char** argv) try {
  const Config cfg = parse(argc, argv);
  if (cfg.threads > 0) set_num_threads(cfg.threads);
  std::filesystem::create_directories(cfg.out);
  Rng rng(cfg.seed);

  // Data: 8,192 training points (as in W4) and 2,000 held out for the metric.
  const Tensor<float> data = swiss_roll(8192, rng), held_out = swiss_roll(cfg.samples, rng);

  // DDPM with T = 1000 linear betas 1e-4 … 0.02 and ε-prediction.
  constexpr int T = 1000;
  std::vector<double> beta(T), alpha_bar(T);
  for (int t = 0; t < T; ++t) {
    beta[static_cast<std::size_t>(t)] = 1e-4 + (0.02 - 1e-4) * t / (T - 1);
    alpha_bar[static_cast<std::size_t>(t)] = (t ? alpha_bar[static_cast<std::size_t>(t - 1)] : 1.0) * (1 - beta[static_cast<std::size_t>(t)]);
  }

  Denoiser net(rng);
  optim::Adam<float> opt(net.parameters(), {.lr = 1e-3});
  std::ofstream log(cfg.out + "/log.csv");
  log << "step,loss\n";

  const auto start = std::chrono::steady_clock::now();
  std::vector<int> t(static_cast<std::size_t>(cfg.batch));
  auto x0 = Tensor<float>::empty({cfg.batch, 2});
  auto scale_x0 = Tensor<float>::empty({cfg.batch, 1}), scale_eps = Tensor<float>::empty({cfg.batch, 1});
  double running = 0;
  const bool interactive = isatty(fileno(stderr));
  for (int step = 1; step <= cfg.steps; ++step) {
    // x_t = √ᾱ_t x0 + √(1 - ᾱ_t) ε
    for (int i = 0; i < cfg.batch; ++i) {
      const index_t j = static_cast<index_t>(rng.below(8192));
      x0.data()[2 * i] = data.data()[2 * j];
      x0.data()[2 * i + 1] = data.data()[2 * j + 1];
      t[static_cast<std::size_t>(i)] = static_cast<int>(rng.below(T));
      scale_x0.data()[i] = static_cast<float>(std::sqrt(alpha_bar[static_cast<std::size_t>(t[static_cast<std::size_t>(i)])]));
      scale_eps.data()[i] = static_cast<float>(std::sqrt(1 - alpha_bar[static_cast<std::size_t>(t[static_cast<std::size_t>(i)])]));
    }
    const auto eps = randn<float>({cfg.batch, 2}, rng);
    const auto xt = add(mul(x0, scale_x0), mul(eps, scale_eps));
    auto loss = mse_loss(net(xt, time_embedding(t)), eps);
    opt.zero_grad();
    loss.backward();
    opt.step();
    running = step == 1 ? loss.item() : 0.98 * running + 0.02 * loss.item();
    if (step % 100 == 0) log << step << ',' << loss.item() << '\n';
    // A live line on a terminal; a line every 2,000 steps in logs.
    if (interactive && step % 100 == 0) std::fprintf(stderr, "\rstep %5d/%d  loss %.4f", step, cfg.steps, running);
    else if (!interactive && step % 2000 == 0) std::fprintf(stderr, "step %5d/%d  loss %.4f\n", step, cfg.steps, running);
  }
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (interactive) std::fprintf(stderr, "\n");

  // Ancestral sampling: x_{t-1} = (x_t - β_t / √(1-ᾱ_t) ε̂) / √α_t + √β_t z.
  NoGradGuard no_grad;
  auto x = randn<float>({cfg.samples, 2}, rng);
  std::vector<int> tt(static_cast<std::size_t>(cfg.samples));
  for (int step = T - 1; step >= 0; --step) {
    std::fill(tt.begin(), tt.end(), step);
    const auto eps_hat = net(x, time_embedding(tt));
    const double b = beta[static_cast<std::size_t>(step)], ab = alpha_bar[static_cast<std::size_t>(step)];
    x = mul_scalar(sub(x, mul_scalar(eps_hat, static_cast<float>(b / std::sqrt(1 - ab)))), static_cast<float>(1 / std::sqrt(1 - b)));
    if (step > 0) x = add(x, mul_scalar(randn<float>({cfg.samples, 2}, rng), static_cast<float>(std::sqrt(b))));
  }

  // Quality: MMD² to held-out data, next to a Gaussian with the data's mean and covariance.
  const auto mu = mean(data, 0, true);
  const auto centered = sub(data, mu);
  const auto cov = mul_scalar(matmul(transpose(centered, 0, 1), centered), 1.0f / 8191);
  const float a = std::sqrt(cov.at({0, 0})), c = cov.at({1, 0}) / a, d = std::sqrt(cov.at({1, 1}) - c * c);  // Cholesky
  auto z = randn<float>({cfg.samples, 2}, rng);
  auto gauss = add(matmul(z, from_vector<float>({a, c, 0, d}, {2, 2})), mu);
  const double mmd_model = mmd2(x, held_out), mmd_gauss = mmd2(gauss, held_out);

  const std::string png = cfg.out + "/samples.png";
  io::save_scatter(png, x, {}, io::provenance("demo: 2-D DDPM, MLP 66-128-128-128-2", cfg.seed, cfg.steps, argc, argv), data);
  std::printf("trained %d steps in %.1f s (%.2f ms/step)\n", cfg.steps, train_s, 1000 * train_s / cfg.steps);
  std::printf("MMD² to held-out data: model %.5f, Gaussian fit %.5f (lower is better)\n", mmd_model, mmd_gauss);
  std::printf("picture: %s\n", png.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "demo: %s\n", e.what());
  return 1;
}
