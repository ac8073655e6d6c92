// diffusion_mnist: trains a class-conditional diffusion model (DDPM, ε-prediction, linear schedule, T = 1000,
// uniform loss weighting, label dropout 0.1) with a small UNet on the 9,000 training images of the shipped MNIST-10k
// (pixels scaled to [-1, 1]), samples digits of every class with classifier-free guidance, and judges them with
// metrics::DigitClassifier: how often a sample is the class it was asked for, per class, and the Fréchet distance
// of its features to the 1,000 held-out real digits.
//
//   build/release/examples/diffusion_mnist --out runs/mnist                 (the default run: see --help for its size)
//   build/release/examples/diffusion_mnist --guidance 1 --sampler ddim --sample-steps 100
//   build/release/examples/diffusion_mnist --load runs/mnist/model.safetensors --guidance 2   (resample, no training)
//
// Writes to --out: samples.npy ([N, 1, 28, 28] in [0, 1], classes in row order), labels.npy (the requested classes),
// samples.png (a 10×10 grid, row r = class r), model.safetensors (the EMA weights under the UNet's names, options as
// metadata), log.csv (step, loss, seconds). The classifier is read from --classifier, or trained there first (about
// a minute) when the file does not exist.
#include <latent/latent.hpp>
#include <latent/io/log.hpp>
#include <latent/io/npy.hpp>
#include <latent/io/png.hpp>
#include <latent/io/safetensors.hpp>
#include <latent/metrics/digit_classifier.hpp>

#include "common/args.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using namespace latent;

namespace {

struct Config {
  int steps = 2500;
  std::int64_t batch = 64;
  double lr = 2e-3;
  double ema_decay = 0.995;  // short runs: an average over the last ~200 steps (0.999 lags the weights badly)
  std::int64_t base = 16;    // UNet width (channels at 28×28); levels have base · {1, 2, 2}
  std::int64_t blocks = 1;   // residual blocks per level
  std::string weighting = "uniform";  // min_snr (γ = 5) gave speckled digits
  std::string prediction = "epsilon";
  std::string sampler = "dpm_solver_2m";
  std::int64_t sample_steps = 25;
  double guidance = 4.0;
  double clip = 1.0;  // clamp x0̂ to [-1, 1] while sampling: without it, guidance 4 leaves speckled and blown-out digits
  std::int64_t per_class = 100;  // samples per class for the metrics (the grid shows the first 10 of each)
  std::string classifier = "digit_classifier-out/digit_classifier.safetensors";
  std::string load;  // a model.safetensors of an earlier run: sample and judge it instead of training
  std::uint64_t seed = 0;
  int threads = 2;
  std::string out = "diffusion_mnist-out";
};

LossWeighting weighting_from_string(const std::string& name) {
  if (name == "uniform") return LossWeighting::uniform;
  if (name == "min_snr") return LossWeighting::min_snr;
  throw ValueError("diffusion_mnist: unknown --weighting '" + name + "' (choose uniform or min_snr)");
}
Prediction prediction_from_string(const std::string& name) {
  for (Prediction p : {Prediction::epsilon, Prediction::x0, Prediction::v})
    if (to_string(p) == name) return p;
  throw ValueError("diffusion_mnist: unknown --prediction '" + name + "' (choose epsilon, x0 or v)");
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
  Config cfg;
  examples::Args args("diffusion_mnist", "Train a class-conditional diffusion UNet on MNIST-10k and judge its digits with a classifier.");
  args.option("--steps", cfg.steps, "training steps")
      .option("--batch", cfg.batch, "batch size")
      .option("--lr", cfg.lr, "Adam learning rate (cosine decay to 10% over the steps, 100 warm-up steps)")
      .option("--ema-decay", cfg.ema_decay, "EMA decay of the weights used for sampling")
      .option("--base", cfg.base, "UNet channels at 28x28 (x1, x2, x2 at 28, 14, 7 pixels); a multiple of 8")
      .option("--blocks", cfg.blocks, "UNet residual blocks per level")
      .option("--weighting", cfg.weighting, "loss weighting over timesteps: uniform or min_snr (gamma 5)")
      .option("--prediction", cfg.prediction, "network target: epsilon, x0 or v")
      .option("--sampler", cfg.sampler, "ddpm, ddim, euler, heun or dpm_solver_2m")
      .option("--sample-steps", cfg.sample_steps, "sampling steps")
      .option("--guidance", cfg.guidance, "classifier-free guidance scale (1: none)")
      .option("--clip", cfg.clip, "clamp the predicted clean image to [-clip, clip] at each sampling step (0: off)")
      .option("--per-class", cfg.per_class, "samples per class for the metrics (at least 10: the grid)")
      .option("--classifier", cfg.classifier, "digit classifier weights (trained and saved there when missing)")
      .option("--load", cfg.load, "skip training: sample with the weights of an earlier run's model.safetensors")
      .common(cfg.seed, cfg.threads, cfg.out);
  args.parse(argc, argv);
  LATENT_CHECK(cfg.per_class >= 10, ValueError, "diffusion_mnist: --per-class must be at least 10, got " + std::to_string(cfg.per_class));
  const Sampler sampler = sampler_from_string(cfg.sampler);
  const LossWeighting weighting = weighting_from_string(cfg.weighting);
  const Prediction prediction = prediction_from_string(cfg.prediction);
  if (cfg.threads > 0) set_num_threads(cfg.threads);
  const auto out = examples::make_out_dir(cfg.out);

  // Data: the 9,000 training digits in [-1, 1]; the 1,000 held-out digits are the Fréchet reference.
  const metrics::DigitSplit split = metrics::load_mnist10k_split(examples::data_path("mnist-10k"));
  const Tensor<float> train = add_scalar(mul_scalar(split.train.images, 2.0f), -1.0f);
  const index_t n_train = train.size(0);

  Rng rng(cfg.seed);
  nn::UNet<float> net({.base_channels = cfg.base, .channel_mult = {1, 2, 2}, .num_res_blocks = cfg.blocks, .num_classes = 10}, rng);
  Diffusion<nn::UNet<float>, schedule::Linear> model(
      net, {.timesteps = 1000, .prediction = prediction, .weighting = weighting, .num_classes = 10, .ema_decay = cfg.ema_decay});
  optim::Adam<float> opt(net.parameters(), {.lr = cfg.lr});
  if (!cfg.load.empty()) {
    net.load_state_dict(io::load_safetensors(cfg.load).tensors);
    cfg.steps = 0;  // and model.sample() uses these weights: the EMA has never been updated
  }
  std::printf("diffusion_mnist: %lld training images, %s with %lld parameters, %d steps of batch %lld, %d thread(s)\n",
              static_cast<long long>(n_train), net.repr().c_str(), static_cast<long long>(net.parameter_count()), cfg.steps,
              static_cast<long long>(cfg.batch), cfg.threads);
  std::fflush(stdout);

  // Training: random minibatches; loss, backward, Adam step and EMA update are in train_step.
  io::CsvLog log(out / "log.csv", {"step", "loss", "lr", "seconds"});
  io::Progress progress(cfg.steps, "train");
  const auto start = std::chrono::steady_clock::now();
  double running = 0;
  for (int step = 1; step <= cfg.steps; ++step) {
    // 100 warm-up steps, then cosine decay to 10% of the learning rate
    const double progress_fraction = double(step - 1) / double(cfg.steps);
    const double lr = cfg.lr * std::min(1.0, step / 100.0) * (0.1 + 0.45 * (1 + std::cos(3.141592653589793 * progress_fraction)));
    opt.set_lr(lr);
    const auto rows = randint(0, n_train, {cfg.batch}, rng);
    const auto x0 = index_select(train, 0, rows);
    auto labels = Tensor<std::int64_t>::empty({cfg.batch});
    for (index_t i = 0; i < cfg.batch; ++i) labels.data()[i] = split.train.labels.data()[rows.data()[i]];
    const double loss = model.train_step(x0, opt, rng, labels);
    running = step == 1 ? loss : 0.98 * running + 0.02 * loss;
    if (step % 10 == 0 || step == cfg.steps) {
      log.row({double(step), loss, lr, seconds_since(start)});
      progress.update(step, {{"loss", running}});
    }
  }
  progress.finish();
  const double train_s = seconds_since(start);

  // Sampling with the EMA weights: per_class samples of each class, class by class, with guidance.
  const index_t n = 10 * cfg.per_class;
  std::vector<std::int64_t> requested(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) requested[static_cast<std::size_t>(i)] = i / cfg.per_class;
  const auto sample_start = std::chrono::steady_clock::now();
  std::vector<Tensor<float>> chunks;
  io::Progress sampling(n, "sample");
  for (index_t c = 0; c < 10; ++c) {
    const auto labels = full<std::int64_t>({cfg.per_class}, c);
    const auto x = model.sample({cfg.per_class, 1, 28, 28}, rng,
                                {.sampler = sampler, .steps = cfg.sample_steps, .guidance_scale = cfg.guidance, .clip_denoised = cfg.clip}, labels);
    chunks.push_back(clamp(add_scalar(mul_scalar(x, 0.5f), 0.5f), 0.0f, 1.0f));  // back to [0, 1]
    sampling.update((c + 1) * cfg.per_class);
  }
  sampling.finish();
  const Tensor<float> samples = cat(chunks, 0);
  const double sample_s = seconds_since(sample_start);

  io::save_npy(out / "samples.npy", samples);
  io::save_npy(out / "labels.npy", from_vector<std::int64_t>(requested, Shape{n}));
  {
    std::vector<std::int64_t> grid_rows;  // the first 10 samples of each class, one row per class
    for (index_t c = 0; c < 10; ++c)
      for (index_t j = 0; j < 10; ++j) grid_rows.push_back(c * cfg.per_class + j);
    const std::string description = "diffusion_mnist: " + net.repr() + ", " + std::to_string(cfg.steps) + " steps, " + cfg.sampler + " " +
                                    std::to_string(cfg.sample_steps) + " steps, guidance " + std::to_string(cfg.guidance) + ", clip " + std::to_string(cfg.clip);
    io::save_image_grid(out / "samples.png", index_select(samples, 0, from_vector<std::int64_t>(grid_rows, Shape{100})),
                        {.nrow = 10, .scale = 2}, io::provenance(description, cfg.seed, cfg.steps, argc, argv));
  }
  io::save_safetensors(out / "model.safetensors", model.sampling_state_dict(),
                       {{"model", "diffusion_mnist"}, {"unet", net.repr()}, {"schedule", "linear 1e-4..0.02, T = 1000"}, {"prediction", cfg.prediction}, {"weighting", cfg.weighting},
                        {"data", "MNIST-10k index % 10 != 9, pixels * 2 - 1"}, {"steps", std::to_string(cfg.steps)},
                        {"seed", std::to_string(cfg.seed)}, {"command", args.command_line()}});

  // The classifier's judgement (trained first when its file is missing).
  const auto classifier_start = std::chrono::steady_clock::now();
  double classifier_accuracy = 0;
  metrics::DigitClassifier classifier =
      metrics::load_or_train_digit_classifier(cfg.classifier, examples::data_path("mnist-10k"), {}, {}, &classifier_accuracy);
  const auto report = metrics::evaluate_digits(classifier, samples, split.held_out.images, &requested);
  // The floor: as many real training digits, spread over the (class-sorted) training part.
  std::vector<std::int64_t> spread;
  for (index_t i = 0; i < std::min(n, n_train); ++i) spread.push_back(i * n_train / std::min(n, n_train));
  const auto real = index_select(split.train.images, 0, from_vector<std::int64_t>(spread, Shape{index_t(spread.size())}));
  const double real_fd = metrics::evaluate_digits(classifier, real, split.held_out.images).frechet;

  std::printf("trained %d steps in %.1f s (%.0f ms/step); sampled %lld digits (%s, %lld steps, guidance %g, clip %g) in %.1f s\n",
              cfg.steps, train_s, 1000 * train_s / std::max(cfg.steps, 1), static_cast<long long>(n), cfg.sampler.c_str(),
              static_cast<long long>(cfg.sample_steps), cfg.guidance, cfg.clip, sample_s);
  std::printf("classifier (%s, held-out accuracy %.2f%%, %.1f s)\n", cfg.classifier.c_str(), 100 * classifier_accuracy,
              seconds_since(classifier_start));
  std::printf("requested-class accuracy: %.2f%%   confident (p >= 0.9): %.2f%%\n", 100 * report.requested_accuracy,
              100 * report.confident_fraction);
  std::printf("per class:");
  for (std::size_t c = 0; c < 10; ++c) std::printf(" %zu:%.0f%%", c, 100 * report.per_class_accuracy[c]);
  std::printf("\nFréchet distance to the held-out digits: %.2f (training digits, same count: %.2f)\n", report.frechet, real_fd);
  std::printf("wrote %s/{samples.npy,labels.npy,samples.png,model.safetensors,log.csv}\n", cfg.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "diffusion_mnist: %s\n", e.what());
  return 1;
}
