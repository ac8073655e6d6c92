// dcgan_mnist: trains the DCGAN of models/gan_nets.hpp (BENCHMARKS.md's W2 network) on the shipped MNIST-10k, scaled to
// [-1, 1], optionally class-conditional (label embedding in G, projection discriminator, and by default MSGAN's
// mode-seeking term, without which the conditional G ignored its noise), and judges 10,000 samples of the EMA
// generator with metrics::DigitClassifier: the share of each digit class, the share of confident samples (top
// probability >= 0.9), with --conditional the share classified as the requested digit, and the Fréchet distance in the
// classifier's feature space to the 1,000 held-out images.
//
//   build/release/examples/dcgan_mnist --out runs/dcgan
//   build/release/examples/dcgan_mnist --conditional --out runs/cdcgan
//
// Trains on the 9,000 training images of the split the classifier uses (every 10th image held out). The classifier is
// read from --classifier, and trained there first (about a minute) when the file does not exist.
// Writes to --out: samples.npy (the 10,000 samples in [0, 1], [N, 1, 28, 28]; labels.npy with --conditional),
// samples.png (8×8 grid; with --conditional one row of 8 per digit 0..9), model.safetensors (the EMA generator under
// DCGANGenerator's names, with the configuration as metadata), log.csv.
#include <latent/latent.hpp>
#include <latent/metrics/digit_classifier.hpp>

#include "common/args.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

using namespace latent;

namespace {

struct Config {
  int steps = 3000;          // generator steps (one discriminator step each), batch 64: ~21 epochs of the 9,000 images
  int batch = 64;
  std::string loss = "non_saturating";  // minimax, non_saturating, least_squares, hinge
  bool conditional = false;
  // Adam with DCGAN's betas (0.5, 0.999) (Radford et al. 2016). D keeps DCGAN's 2e-4; G learns faster (TTUR the other
  // way round): at 1,000 steps lr_g 5e-4 gave 48% confident samples and Fréchet 222 against 43% and 311 with 2e-4
  // (one-sided label smoothing 0.9 with lr_d 1e-4 gave 41% and 309: D's strength was not the limit, G's speed was).
  double lr_g = 5e-4;
  double lr_d = 2e-4;
  double ema = 0.999;
  int samples = 10000;
  int eval_every = 0;        // > 0: also judge eval_samples samples (EMA and raw G) every so many steps
  int eval_samples = 2000;
  double r1 = 0;             // R1 penalty γ on real data (0: off)
  // λ of MSGAN's mode-seeking term in G's loss; < 0: 1 with --conditional (without it the conditional generator
  // ignored z and drew one image per class: Fréchet 280-320; with it 28), 0 without (unconditional 3,000 steps: 55.8%
  // confident against 58.6% without)
  double mode_seeking = -1;
  double real_label = 1;     // < 1: one-sided label smoothing (minimax and non_saturating)
  std::string classifier = "digit_classifier-out/digit_classifier.safetensors";
  std::uint64_t seed = 0;
  int threads = 1;           // on the shared 2-core machine 2 threads ran 3.7x slower than 1 under load
  std::string out = "dcgan_mnist-out";
  index_t g_features = 128;
  index_t d_features = 64;
  std::string d_norm = "batch";
  std::string judge;         // non-empty: only judge the samples in this .npy file
};

using G = models::DCGANGenerator<float>;

/// DCGANDiscriminator's layers with spectral normalisation (Miyato et al. 2018) on each instead of batch norm:
/// conv1 → LeakyReLU → conv2 → LeakyReLU → flatten → fc (+ projection ⟨embed(y), φ(x)⟩ when conditional).
class SNDiscriminator : public nn::Module<float> {
  models::DCGANConfig config_;
  std::unique_ptr<nn::SpectralNorm<float, nn::Conv2d<float>>> conv1_, conv2_;
  std::unique_ptr<nn::SpectralNorm<float, nn::Linear<float>>> fc_;
  std::unique_ptr<nn::Embedding<float>> embed_;

 public:
  SNDiscriminator(const models::DCGANConfig& c, Rng& rng) : config_(c) {
    conv1_ = nn::spectral_norm<float>(std::make_unique<nn::Conv2d<float>>(
        nn::Conv2dOptions{.in_channels = c.channels, .out_channels = c.d_features, .kernel_size = 4, .stride = 2, .padding = 1}, rng), rng);
    conv2_ = nn::spectral_norm<float>(std::make_unique<nn::Conv2d<float>>(
        nn::Conv2dOptions{.in_channels = c.d_features, .out_channels = 2 * c.d_features, .kernel_size = 4, .stride = 2, .padding = 1}, rng), rng);
    fc_ = nn::spectral_norm<float>(std::make_unique<nn::Linear<float>>(
        nn::LinearOptions{.in_features = c.d_feature_width(), .out_features = 1}, rng), rng);
    register_module("conv1", *conv1_);
    register_module("conv2", *conv2_);
    register_module("fc", *fc_);
    if (c.num_classes > 0) {
      const index_t width = c.d_feature_width();
      embed_ = std::make_unique<nn::Embedding<float>>(nn::EmbeddingOptions{.num_embeddings = c.num_classes, .embedding_dim = width}, rng);
      const double bound = 1.0 / std::sqrt(static_cast<double>(width));
      nn::init::uniform_(embed_->weight, rng, -bound, bound);
      register_module("embed", *embed_);
    }
  }
  std::string repr() const override { return "SNDiscriminator"; }
  Tensor<float> operator()(const Tensor<float>& x) { return run(x, nullptr); }
  Tensor<float> operator()(const Tensor<float>& x, const Tensor<std::int64_t>& labels) { return run(x, &labels); }

 private:
  Tensor<float> run(const Tensor<float>& x, const Tensor<std::int64_t>* labels) {
    const float slope = static_cast<float>(config_.negative_slope);
    const Tensor<float> phi = flatten(leaky_relu((*conv2_)(leaky_relu((*conv1_)(x), slope)), slope), 1);
    const Tensor<float> logit = (*fc_)(phi);
    if (!embed_ || !labels) return logit;
    return add(logit, sum(mul(phi, (*embed_)(*labels)), 1, /*keepdim=*/true));  // + ⟨embed(y), φ(x)⟩
  }
};

/// n samples in [0, 1] of the given classes (empty: unconditional), drawn with the EMA generator in batches of 500. The
/// generator stays in training mode, so BatchNorm normalises with each sampling batch's statistics (as PyTorch's
/// DCGAN example samples): its running statistics belong to the raw weights, not to their EMA.
template <class Gan>
Tensor<float> draw(Gan& gan, index_t n, const std::vector<std::int64_t>& classes, Rng& rng) {
  std::vector<Tensor<float>> parts;
  for (index_t s = 0; s < n; s += 500) {
    const index_t m = std::min<index_t>(500, n - s);
    Tensor<std::int64_t> y;
    if (!classes.empty())
      y = from_vector<std::int64_t>(std::vector<std::int64_t>(classes.begin() + s, classes.begin() + s + m), Shape{m});
    parts.push_back(mul_scalar(add_scalar(gan.sample(m, rng, y), 1.0f), 0.5f));
  }
  return cat(parts, 0);
}

void print_report(const Config& c, double held_out_accuracy, const metrics::DigitReport& r) {
  std::printf("digit classifier (%s, held-out accuracy %.2f%%) on %lld samples:\n", c.classifier.c_str(),
              100 * held_out_accuracy, static_cast<long long>(r.samples));
  std::printf("  class shares:");
  for (double f : r.class_fraction) std::printf(" %.1f%%", 100 * f);
  std::printf("\n  rarest class %.1f%%   confident (p >= 0.9) %.1f%%   Frechet distance %.2f\n", 100 * r.min_class_fraction,
              100 * r.confident_fraction, r.frechet);
  if (c.conditional) std::printf("  classified as requested %.1f%%\n", 100 * r.requested_accuracy);
}

/// --judge FILE: the classifier's report on samples [N, 1, 28, 28] in [0, 1] from elsewhere (e.g. the PyTorch twin,
/// benchmarks/compare/dcgan_mnist.py), against the same held-out images.
int judge_file(const Config& c) {
  const auto mnist = examples::data_path("mnist-10k");
  const metrics::DigitSplit split = metrics::load_mnist10k_split(mnist);
  double held_out_accuracy = 0;
  metrics::DigitClassifier classifier =
      metrics::load_or_train_digit_classifier(c.classifier, mnist, {}, {}, &held_out_accuracy);
  const Tensor<float> samples = io::load_npy<float>(c.judge);
  print_report(c, held_out_accuracy, metrics::evaluate_digits(classifier, samples, split.held_out.images));
  return 0;
}

template <class D, class Loss>
int run(const Config& c, const examples::Args& args, int argc, char** argv) {
  const auto out = examples::make_out_dir(c.out);
  const auto mnist = examples::data_path("mnist-10k");
  const metrics::DigitSplit split = metrics::load_mnist10k_split(mnist);
  const Tensor<float> train = add_scalar(mul_scalar(split.train.images, 2.0f), -1.0f);  // [0, 1] → [-1, 1]
  const Tensor<std::int64_t>& train_labels = split.train.labels;

  Rng rng(c.seed);
  const models::DCGANConfig net{.g_features = c.g_features, .d_features = c.d_features, .num_classes = c.conditional ? 10 : 0};
  Loss loss{};
  if constexpr (requires { loss.real_label; }) loss.real_label = c.real_label;
  else if (c.real_label != 1) throw ValueError("dcgan_mnist: --real-label applies to the minimax and non_saturating losses");
  GAN<G, D, Loss> gan(std::make_unique<G>(net, rng), std::make_unique<D>(net, rng), loss,
                      {.latent_dim = net.latent_dim, .r1_gamma = c.r1, .ema_decay = c.ema, .num_classes = net.num_classes,
                       .mode_seeking = c.mode_seeking});
  optim::Adam<float> g_opt(gan.generator().parameters(), {.lr = c.lr_g, .betas = {0.5, 0.999}});
  optim::Adam<float> d_opt(gan.discriminator().parameters(), {.lr = c.lr_d, .betas = {0.5, 0.999}});

  io::CsvLog log(out / "log.csv", {"step", "d_loss", "g_loss", "seconds"});
  io::Progress progress(c.steps, "train " + Loss::name());
  const std::function<GANBatch<float>()> next_real = [&]() -> GANBatch<float> {
    const auto idx = randint(0, train.size(0), {c.batch}, rng);
    Tensor<std::int64_t> y;
    if (c.conditional) {
      y = Tensor<std::int64_t>::empty(Shape{c.batch});
      for (index_t i = 0; i < c.batch; ++i) y.data()[i] = train_labels.data()[idx.data()[i]];
    }
    return {index_select(train, 0, idx), y};
  };
  // The judge, loaded (or trained) before training so that --eval-every can use it too.
  double held_out_accuracy = 0;
  metrics::DigitClassifier classifier =
      metrics::load_or_train_digit_classifier(c.classifier, mnist, {}, {}, &held_out_accuracy);
  const auto judge = [&](int step) {
    Rng eval_rng(c.seed + 3);  // the same noise at every evaluation; training's rng is untouched
    std::vector<std::int64_t> classes;
    if (c.conditional)
      for (int i = 0; i < c.eval_samples; ++i) classes.push_back(i % 10);
    const auto line = [&](const char* which, const Tensor<float>& x) {
      const metrics::DigitReport r =
          metrics::evaluate_digits(classifier, x, split.held_out.images, c.conditional ? &classes : nullptr);
      std::printf("eval step %d %s: rarest %.1f%% confident %.1f%% frechet %.1f requested %.1f%%\n", step, which,
                  100 * r.min_class_fraction, 100 * r.confident_fraction, r.frechet, 100 * r.requested_accuracy);
    };
    line("ema", draw(gan, c.eval_samples, classes, eval_rng));
    {
      NoGradGuard no_grad;
      Tensor<std::int64_t> y;
      if (c.conditional) y = from_vector<std::int64_t>(classes, Shape{index_t(classes.size())});
      line("raw", mul_scalar(add_scalar(gan.generate(gan.noise(c.eval_samples, eval_rng), y), 1.0f), 0.5f));
    }
    std::fflush(stdout);
  };
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  for (int step = 1; step <= c.steps; ++step) {
    const GANStepLosses l = gan.train_step(next_real, g_opt, d_opt, rng);
    if (step % 50 == 0 || step == c.steps) log.row({double(step), l.discriminator, l.generator, seconds()});
    progress.update(step, {{"d", l.discriminator}, {"g", l.generator}});
    if (c.eval_every > 0 && step % c.eval_every == 0) judge(step);
  }
  progress.finish();
  const double train_seconds = seconds();
  std::printf("trained %d steps (batch %d) in %.1f s: %.1f ms/step\n", c.steps, c.batch, train_seconds,
              1000 * train_seconds / c.steps);
  std::fflush(stdout);

  Rng sample_rng(c.seed + 1);
  std::vector<std::int64_t> classes;  // conditional: 0..9 in turn
  if (c.conditional)
    for (int i = 0; i < c.samples; ++i) classes.push_back(i % 10);
  const Tensor<float> samples = draw(gan, c.samples, classes, sample_rng);
  io::save_npy(out / "samples.npy", samples);
  if (c.conditional) io::save_npy(out / "labels.npy", from_vector<std::int64_t>(classes, Shape{index_t(classes.size())}));

  const std::string description = "dcgan_mnist: " + Loss::name() + (c.conditional ? ", conditional" : "");
  const io::Provenance text = io::provenance(description, c.seed, c.steps, argc, argv);
  {
    Rng grid_rng(c.seed + 2);
    std::vector<std::int64_t> grid_classes;  // one row of 8 per digit
    if (c.conditional)
      for (int i = 0; i < 80; ++i) grid_classes.push_back(i / 8);
    io::save_image_grid(out / "samples.png", draw(gan, c.conditional ? 80 : 64, grid_classes, grid_rng), {.nrow = 8, .scale = 2},
                        text);
  }
  io::save_safetensors(out / "model.safetensors", gan.sampling_state_dict(),
                       {{"model", "DCGANGenerator (EMA)"}, {"loss", Loss::name()},
                        {"latent_dim", std::to_string(net.latent_dim)}, {"num_classes", std::to_string(net.num_classes)},
                        {"image_range", "[-1, 1]"}, {"steps", std::to_string(c.steps)}, {"seed", std::to_string(c.seed)},
                        {"command", args.command_line()}});

  print_report(c, held_out_accuracy,
               metrics::evaluate_digits(classifier, samples, split.held_out.images, c.conditional ? &classes : nullptr));
  std::printf("wrote %s/{samples.npy,samples.png,model.safetensors,log.csv}\n", c.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  Config c;
  examples::Args args("dcgan_mnist", "Train a DCGAN on MNIST-10k and judge its samples with the digit classifier.");
  args.option("--steps", c.steps, "generator steps (one discriminator step each)")
      .option("--batch", c.batch, "batch size")
      .option("--loss", c.loss, "minimax, non_saturating, least_squares, hinge")
      .flag("--conditional", c.conditional, "condition both players on the digit label (embedding in G, projection in D)")
      .option("--lr-g", c.lr_g, "generator's Adam learning rate (betas 0.5, 0.999)")
      .option("--lr-d", c.lr_d, "discriminator's Adam learning rate")
      .option("--ema", c.ema, "EMA decay of the generator used for sampling")
      .option("--real-label", c.real_label, "D's target on real images (< 1: one-sided label smoothing)")
      .option("--r1", c.r1, "R1 penalty gamma on real data (0: off)")
      .option("--mode-seeking", c.mode_seeking, "lambda of the mode-seeking term in G's loss (MSGAN; 0: off; default 1 with --conditional, else 0)")
      .option("--g-features", c.g_features, "G's channels at 7x7 (half of them at 14x14)")
      .option("--d-features", c.d_features, "D's channels at 14x14 (twice as many at 7x7)")
      .option("--d-norm", c.d_norm, "batch or spectral")
      .option("--judge", c.judge, "only judge the samples [N, 1, 28, 28] in [0, 1] of this .npy file (e.g. the PyTorch twin's)")
      .option("--samples", c.samples, "samples judged by the digit classifier")
      .option("--eval-every", c.eval_every, "also judge --eval-samples samples (EMA and raw generator) every N steps (0: off)")
      .option("--eval-samples", c.eval_samples, "samples judged at each --eval-every evaluation")
      .option("--classifier", c.classifier, "digit classifier safetensors (trained and saved there when missing)")
      .common(c.seed, c.threads, c.out);
  args.parse(argc, argv);
  if (c.threads > 0) set_num_threads(c.threads);
  if (!c.judge.empty()) return judge_file(c);
  if (c.mode_seeking < 0) c.mode_seeking = c.conditional ? 1 : 0;
  using BND = models::DCGANDiscriminator<float>;
  if (c.d_norm == "spectral") {
    if (c.loss == "hinge") return run<SNDiscriminator, HingeLoss>(c, args, argc, argv);
    if (c.loss == "non_saturating") return run<SNDiscriminator, NonSaturatingLoss>(c, args, argc, argv);
  }
  if (c.loss == "minimax") return run<BND, MinimaxLoss>(c, args, argc, argv);
  if (c.loss == "non_saturating") return run<BND, NonSaturatingLoss>(c, args, argc, argv);
  if (c.loss == "least_squares") return run<BND, LeastSquaresLoss>(c, args, argc, argv);
  if (c.loss == "hinge") return run<BND, HingeLoss>(c, args, argc, argv);
  throw ValueError("dcgan_mnist: --loss must be minimax, non_saturating, least_squares or hinge, got '" + c.loss + "'");
} catch (const std::exception& e) {
  std::fprintf(stderr, "dcgan_mnist: %s\n", e.what());
  return 1;
}
