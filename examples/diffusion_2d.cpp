// diffusion_2d: trains a diffusion model (DDPM, ε-prediction, linear schedule, T = 1000) or a flow-matching model on a 2-D
// distribution with a TimeMLP denoiser, samples from it with the chosen sampler, and measures the samples against
// held-out data with MMD and a classifier two-sample test (C2ST: 0.5 means indistinguishable).
//
//   build/release/examples/diffusion_2d --data swiss_roll --model ddpm --out runs/swiss
//   build/release/examples/diffusion_2d --data checkerboard --model flow --sampler heun --sample-steps 50
//   build/release/examples/diffusion_2d --data 8gaussians --compare     (several samplers on the trained model)
//
// Writes to --out: samples.npy, samples.png (samples over the training data in grey), model.safetensors (the EMA
// weights under TimeMLP's names, with the data normalisation and options as metadata), log.csv (step, loss).
// The PyTorch twin is benchmarks/compare/diffusion_2d.py.
#include <latent/latent.hpp>
#include <latent/data/toy2d.hpp>
#include <latent/io/log.hpp>
#include <latent/io/npy.hpp>
#include <latent/io/png.hpp>
#include <latent/io/safetensors.hpp>

#include "common/args.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

using namespace latent;

namespace {

struct Config {
  std::string data = "swiss_roll";
  std::string model = "ddpm";
  std::string sampler;          // default: ddpm for --model ddpm, euler for --model flow
  std::int64_t sample_steps = 0;  // default: all 1000 timesteps for DDPM, 100 for flow matching
  double eta = 0.0;
  int steps = 10000;            // training steps
  int batch = 256;
  double lr = 2e-3;
  int hidden = 128;
  int depth = 3;
  int samples = 4000;           // samples for the metrics (and held-out points)
  bool compare = false;
  std::uint64_t seed = 0;
  int threads = 1;              // this model is overhead-bound: one thread is about as fast as two
  std::string out = "diffusion_2d-out";
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

// Training points, standardised per coordinate (the models assume data of about unit scale).
struct Dataset {
  Tensor<float> train, held_out;  // original coordinates
  std::vector<float> mean, scale;
  Tensor<float> normalise(const Tensor<float>& x) const {
    return div(sub(x, from_vector<float>(mean, {1, index_t(mean.size())})), from_vector<float>(scale, {1, index_t(scale.size())}));
  }
  Tensor<float> denormalise(const Tensor<float>& x) const {
    return add(mul(x, from_vector<float>(scale, {1, index_t(scale.size())})), from_vector<float>(mean, {1, index_t(mean.size())}));
  }
};

Dataset load_data(const Config& cfg, Rng& rng) {
  Dataset d;
  Tensor<float> all;
  if (cfg.data.size() > 4 && cfg.data.substr(cfg.data.size() - 4) == ".npy") {
    all = io::load_npy<float>(cfg.data);
    LATENT_CHECK(all.rank() == 2 && all.size(0) > cfg.samples, ValueError,
                 "diffusion_2d: " + cfg.data + " holds " + all.shape().str() + "; need [N, D] with N > --samples = " +
                     std::to_string(cfg.samples));
    all = index_select(all, 0, from_vector<std::int64_t>(rng.permutation(all.size(0))));
  } else {
    all = data::toy2d(cfg.data, 20000 + cfg.samples, rng);
  }
  const index_t n_train = all.size(0) - cfg.samples;
  d.train = narrow(all, 0, 0, n_train).clone_detached();
  d.held_out = narrow(all, 0, n_train, cfg.samples).clone_detached();
  const auto m = mean(d.train, 0, true);
  const auto sd = sqrt(mean(square(sub(d.train, m)), 0));
  d.mean = m.to_vector();
  d.scale = sd.to_vector();
  return d;
}

}  // namespace

int main(int argc, char** argv) try {
  Config cfg;
  examples::Args args("diffusion_2d", "Train a diffusion or flow-matching model on a 2-D distribution and measure its samples.");
  args.option("--data", cfg.data, "swiss_roll, moons, 8gaussians, 25gaussians, checkerboard, pinwheel, or FILE.npy [N, D]")
      .option("--model", cfg.model, "ddpm or flow")
      .option("--sampler", cfg.sampler, "ddpm, ddim, euler, heun, dpm_solver_2m (ddpm); euler, heun (flow)")
      .option("--sample-steps", cfg.sample_steps, "sampling steps (0: 1000 for ddpm, 100 for flow)")
      .option("--eta", cfg.eta, "DDIM's eta (0: deterministic)")
      .option("--steps", cfg.steps, "training steps")
      .option("--batch", cfg.batch, "batch size")
      .option("--lr", cfg.lr, "Adam learning rate")
      .option("--hidden", cfg.hidden, "TimeMLP width")
      .option("--depth", cfg.depth, "TimeMLP residual blocks")
      .option("--samples", cfg.samples, "samples drawn for the metrics (and held-out points)")
      .flag("--compare", cfg.compare, "after training, also measure several samplers and step counts")
      .common(cfg.seed, cfg.threads, cfg.out);
  args.parse(argc, argv);
  LATENT_CHECK(cfg.model == "ddpm" || cfg.model == "flow", ValueError, "diffusion_2d: --model must be ddpm or flow, got '" + cfg.model + "'");
  const bool is_flow = cfg.model == "flow";
  if (cfg.sampler.empty()) cfg.sampler = is_flow ? "euler" : "ddpm";
  if (cfg.sample_steps == 0) cfg.sample_steps = is_flow ? 100 : 1000;
  LATENT_CHECK(!is_flow || cfg.sampler == "euler" || cfg.sampler == "heun", ValueError,
               "diffusion_2d: --model flow samples with euler or heun, got '" + cfg.sampler + "'");
  if (cfg.threads > 0) set_num_threads(cfg.threads);
  const auto out = examples::make_out_dir(cfg.out);

  Rng rng(cfg.seed);
  const Dataset data = load_data(cfg, rng);
  const Tensor<float> train = data.normalise(data.train);
  const index_t dim = train.size(1);

  nn::TimeMLP<float> net({.in = dim, .hidden = cfg.hidden, .depth = cfg.depth}, rng);
  Diffusion<nn::TimeMLP<float>, schedule::Linear> ddpm(net, {.timesteps = 1000});
  FlowMatching<nn::TimeMLP<float>> flow(net);
  optim::Adam<float> opt(net.parameters(), {.lr = cfg.lr});

  // Training: uniform minibatches; the loss, backward, Adam step and EMA update are in train_step.
  io::CsvLog log(out / "log.csv", {"step", "loss"});
  io::Progress progress(cfg.steps, "train " + cfg.model);
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  double running = 0;
  for (int step = 1; step <= cfg.steps; ++step) {
    const auto batch = index_select(train, 0, randint(0, train.size(0), {cfg.batch}, rng));
    const double loss = is_flow ? flow.train_step(batch, opt, rng) : ddpm.train_step(batch, opt, rng);
    running = step == 1 ? loss : 0.99 * running + 0.01 * loss;
    if (step % 50 == 0) log.row({double(step), loss});
    if (step % 20 == 0 || step == cfg.steps) progress.update(step, {{"loss", running}});
  }
  progress.finish();
  const double train_s = seconds_since(start), train_cpu = cpu_seconds() - cpu_start;

  // Sampling with the EMA weights, back in data coordinates.
  auto draw = [&](const std::string& sampler, std::int64_t steps, Rng& r, std::optional<TimestepSpacing> spacing = std::nullopt) {
    Tensor<float> x;
    if (is_flow)
      x = flow.sample({cfg.samples, dim}, r, {.sampler = sampler == "heun" ? FlowSampler::heun : FlowSampler::euler, .steps = steps});
    else
      x = ddpm.sample({cfg.samples, dim}, r, {.sampler = sampler_from_string(sampler), .steps = steps, .eta = cfg.eta, .spacing = spacing});
    return data.denormalise(x);
  };
  auto sample_start = std::chrono::steady_clock::now();
  const auto samples = draw(cfg.sampler, cfg.sample_steps, rng);
  const double sample_s = seconds_since(sample_start);

  io::save_npy(out / "samples.npy", samples);
  const auto picture = out / "samples.png";
  const std::string description = "diffusion_2d: " + cfg.model + " on " + cfg.data + ", TimeMLP " + std::to_string(cfg.hidden) +
                                  "x" + std::to_string(cfg.depth) + ", " + cfg.sampler + " " + std::to_string(cfg.sample_steps) + " steps";
  if (dim == 2)
    io::save_scatter(picture, samples, {}, io::provenance(description, cfg.seed, cfg.steps, argc, argv), data.held_out);
  auto to_text = [](const std::vector<float>& v) {
    std::string s;
    for (float f : v) s += (s.empty() ? "" : ",") + std::to_string(f);
    return s;
  };
  io::save_safetensors(out / "model.safetensors", is_flow ? flow.sampling_state_dict() : ddpm.sampling_state_dict(),
                       {{"model", cfg.model}, {"data", cfg.data}, {"data_mean", to_text(data.mean)}, {"data_scale", to_text(data.scale)},
                        {"hidden", std::to_string(cfg.hidden)}, {"depth", std::to_string(cfg.depth)},
                        {"schedule", is_flow ? "straight path" : "linear 1e-4..0.02, T = 1000, epsilon"}, {"steps", std::to_string(cfg.steps)},
                        {"seed", std::to_string(cfg.seed)}, {"command", args.command_line()}});

  // Quality against held-out data (the C2ST classifier is seeded: same samples, same accuracy).
  auto report = [&](const std::string& label, const Tensor<float>& x, double seconds) {
    const double mmd2 = metrics::mmd(x, data.held_out).mmd2;
    const double c2st = metrics::c2st(x, data.held_out).accuracy;
    std::printf("%-22s MMD² %.5f   C2ST %.3f   (sampling %.1f s)\n", label.c_str(), mmd2, c2st, seconds);
  };
  std::printf("trained %d steps in %.1f s wall, %.1f s CPU (%.0f steps/s)\n", cfg.steps, train_s, train_cpu, cfg.steps / train_s);
  report(cfg.sampler + " " + std::to_string(cfg.sample_steps) + " steps", samples, sample_s);
  report("training data (floor)", narrow(data.train, 0, 0, std::min<index_t>(cfg.samples, data.train.size(0))), 0);
  if (cfg.compare) {
    const std::vector<std::pair<std::string, std::int64_t>> runs =
        is_flow ? std::vector<std::pair<std::string, std::int64_t>>{{"euler", 100}, {"euler", 20}, {"heun", 50}, {"heun", 10}}
                : std::vector<std::pair<std::string, std::int64_t>>{{"ddim", 50}, {"dpm_solver_2m", 50},
                                                                    {"dpm_solver_2m", 20}, {"euler", 50}, {"heun", 25}, {"ddpm", 100}};
    for (const auto& [sampler, steps] : runs) {
      Rng r(cfg.seed + 2);
      sample_start = std::chrono::steady_clock::now();
      const auto x = draw(sampler, steps, r);
      report(sampler + " " + std::to_string(steps) + " steps", x, seconds_since(sample_start));
      if (!is_flow && steps == 50 && (sampler == "dpm_solver_2m" || sampler == "ddim")) {  // the other spacing
        const bool ddim = sampler == "ddim";  // its default is uniform spacing, DPM-Solver's is log-SNR
        Rng r2(cfg.seed + 2);
        const auto x2 = draw(sampler, steps, r2, ddim ? TimestepSpacing::log_snr : TimestepSpacing::uniform);
        report(ddim ? "  (log-SNR spacing)" : "  (uniform spacing)", x2, 0);
      }
    }
  }
  if (dim == 2) std::printf("picture: %s\n", picture.string().c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "diffusion_2d: %s\n", e.what());
  return 1;
}
