// vae_mnist: trains a variational autoencoder on the shipped MNIST-10k (every 10th image held out: 9,000 for
// training, 1,000 for testing), dynamically binarised, with a Bernoulli likelihood; reports the test negative ELBO and
// the IWAE-k bound in nats, and draws what the model learned.
//
//   build/release/examples/vae_mnist --epochs 20 --out vae-out                  (MLP 784-400-20-400-784)
//   build/release/examples/vae_mnist --arch conv --latent 2 --conditional --out vae-cond
//
// Leaves in --out: recon.png (test inputs above their reconstructions), samples.png (decoded prior samples;
// one row per class with --conditional), interpolation.png (latent paths between test pairs), manifold.png
// (with --latent 2: the decoder over a grid of prior quantiles), latents.npy + labels.npy (test posterior
// means and classes), model.safetensors, log.csv (per epoch). The test set is binarised once with a fixed
// hash (the same in benchmarks/compare/vae_mnist.py), so numbers compare across runs and implementations.
#include <latent/latent.hpp>
#include <latent/io/npy.hpp>
#include <latent/io/safetensors.hpp>

#include "common/args.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <iostream>
#include <string>

using namespace latent;

namespace {

struct Config {
  int epochs = 20;
  std::string arch = "mlp";
  std::int64_t latent = 20;
  double beta = 1.0;
  bool conditional = false;
  std::string data;    // IDX images; empty: the shipped MNIST-10k
  std::string labels;  // IDX labels; empty: derived from --data ("images-idx3" -> "labels-idx1")
  std::int64_t batch = 128;
  double lr = 1e-3;
  std::int64_t iwae_k = 1000;
  std::uint64_t seed = 0;
  int threads = 1;  // measured on the shared 2-core machine: 2 threads ran 6x slower than 1 under load
  std::string out = "vae-out";
};

/// The fixed binarisation of the test set: pixel i is 1 when u_i < p_i, u_i = splitmix64(i + key) / 2^64.
/// benchmarks/compare/vae_mnist.py computes the same bits.
Tensor<float> hash_binarise(const Tensor<float>& x) {
  auto out = Tensor<float>::empty(x.shape());
  for (index_t i = 0; i < x.numel(); ++i) {
    std::uint64_t z = static_cast<std::uint64_t>(i) + 0x5EEDull + 0x9E3779B97F4A7C15ull;  // splitmix64(i + 0x5EED)
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
    out.data()[i] = u < static_cast<double>(x.data()[i]) ? 1.0f : 0.0f;
  }
  return out;
}

/// Dynamic binarisation (a fresh Bernoulli draw of every pixel each time an image is used).
Tensor<float> sample_binarise(const Tensor<float>& x, Rng& rng) {
  auto out = Tensor<float>::empty(x.shape());
  for (index_t i = 0; i < x.numel(); ++i) out.data()[i] = rng.bernoulli(static_cast<double>(x.data()[i])) ? 1.0f : 0.0f;
  return out;
}

/// The standard normal quantile, by bisection on Φ (for the manifold grid; 60 halvings reach double precision).
double normal_quantile(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::numbers::sqrt2) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

Tensor<std::int64_t> rows_of(const std::vector<std::int64_t>& idx) {
  return from_vector<std::int64_t>(idx, Shape{static_cast<index_t>(idx.size())});
}
Tensor<std::int64_t> take(const Tensor<std::int64_t>& labels, index_t start, index_t n) {
  return labels.defined() ? narrow(labels, 0, start, n).clone_detached() : labels;
}
Tensor<float> as_images(const Tensor<float>& x) { return reshape(x, Shape{x.size(0), 1, 28, 28}); }

struct Evaluation {
  double neg_elbo = 0, kl = 0;
};

/// Mean −ELBO and KL per test example with one posterior sample each (as PyTorch's example's test loss).
template <class Model>
Evaluation evaluate(Model& vae, const Tensor<float>& x, const Tensor<std::int64_t>& y, std::int64_t batch) {
  NoGradGuard no_grad;
  Rng rng(1234);
  Evaluation e;
  for (index_t s = 0; s < x.size(0); s += batch) {
    const index_t n = std::min<index_t>(batch, x.size(0) - s);
    const ElboTerms<float> t = vae.elbo_terms(narrow(x, 0, s, n), rng, take(y, s, n));
    e.neg_elbo -= sum(t.elbo()).item();
    e.kl += sum(t.kl).item();
  }
  e.neg_elbo /= static_cast<double>(x.size(0));
  e.kl /= static_cast<double>(x.size(0));
  return e;
}

template <class Model>
int run(Model& vae, const Config& c, const examples::Args& args, const data::LabelledImages& train,
        const data::LabelledImages& test) {
  const auto out = examples::make_out_dir(c.out);
  const index_t n_train = train.images.size(0);
  const Tensor<float> test_x = hash_binarise(test.images);
  const Tensor<std::int64_t> no_labels;
  const Tensor<std::int64_t>& test_y = c.conditional ? test.labels : no_labels;
  Rng rng(c.seed + 1);
  optim::Adam<float> opt(vae.parameters(), {.lr = c.lr});
  io::CsvLog log(out / "log.csv", {"epoch", "step", "train_loss", "test_neg_elbo", "test_kl", "seconds"});
  const index_t batches = (n_train + c.batch - 1) / c.batch;
  io::Progress progress(c.epochs * batches, "train");
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  std::int64_t step = 0;
  double eval_seconds = 0;
  for (int epoch = 1; epoch <= c.epochs; ++epoch) {
    vae.train();
    const std::vector<std::int64_t> order = rng.permutation(n_train);
    double loss_sum = 0;
    for (index_t b = 0; b < batches; ++b) {
      // data → forward → zero grads → backward → update
      const index_t n = std::min<index_t>(c.batch, n_train - b * c.batch);
      const auto idx = rows_of(std::vector<std::int64_t>(order.begin() + b * c.batch, order.begin() + b * c.batch + n));
      const Tensor<float> x = sample_binarise(index_select(train.images, 0, idx), rng);
      Tensor<std::int64_t> y;
      if (c.conditional) {
        y = Tensor<std::int64_t>::empty(Shape{n});
        for (index_t i = 0; i < n; ++i) y.data()[i] = train.labels.data()[idx.data()[i]];
      }
      Tensor<float> loss = vae.loss(x, rng, step, y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item() * static_cast<double>(n);
      progress.update(++step, {{"loss", loss.item()}, {"epoch", epoch}});
    }
    vae.eval();
    const double t0 = seconds(), trained = t0 - eval_seconds;  // "seconds" in the log: training time so far
    const Evaluation e = evaluate(vae, test_x, test_y, c.batch);
    eval_seconds += seconds() - t0;
    log.row({double(epoch), double(step), loss_sum / static_cast<double>(n_train), e.neg_elbo, e.kl, trained});
  }
  progress.finish();
  const double train_seconds = seconds() - eval_seconds;  // the per-epoch test evaluations are not training
  vae.eval();
  const Evaluation e = evaluate(vae, test_x, test_y, c.batch);
  std::printf("test -ELBO: %.2f nats (KL %.2f; %.4f bits/dim) after %d epochs, %.1f s training\n", e.neg_elbo, e.kl,
              metrics::nats_to_bits_per_dim(e.neg_elbo, 784), c.epochs, train_seconds);
  std::fflush(stdout);

  const io::Provenance text = io::provenance("vae_mnist " + vae.repr(), c.seed, step, 0, nullptr);
  NoGradGuard no_grad;
  {
    // IWAE-k over the test set, in batches of 10 examples (k·10 decoder rows at a time)
    Rng iwae_rng(4321);
    double total = 0;
    const auto t0 = seconds();
    for (index_t s = 0; s < test_x.size(0); s += 10) {
      const index_t n = std::min<index_t>(10, test_x.size(0) - s);
      total -= sum(vae.iwae_bound(narrow(test_x, 0, s, n), c.iwae_k, iwae_rng, take(test_y, s, n))).item();
    }
    const double iwae = total / static_cast<double>(test_x.size(0));
    std::printf("test -IWAE-%lld: %.2f nats (%.4f bits/dim; %.1f s)\n", static_cast<long long>(c.iwae_k), iwae,
                metrics::nats_to_bits_per_dim(iwae, 784), seconds() - t0);
  }
  {
    // 16 test images spread over the (class-sorted) test set
    const index_t n = 16;
    std::vector<std::int64_t> picks;
    for (index_t i = 0; i < n; ++i) picks.push_back(i * test_x.size(0) / n);
    const Tensor<float> x = index_select(test_x, 0, rows_of(picks));
    Tensor<std::int64_t> y;
    if (test_y.defined()) {
      y = Tensor<std::int64_t>::empty(Shape{n});
      for (index_t i = 0; i < n; ++i) y.data()[i] = test_y.data()[picks[static_cast<std::size_t>(i)]];
    }
    const Tensor<float> r = as_images(vae.reconstruct(x, y));
    std::vector<Tensor<float>> rows;
    for (index_t i = 0; i < n; i += 8) {
      rows.push_back(as_images(narrow(x, 0, i, 8)));
      rows.push_back(narrow(r, 0, i, 8));
    }
    io::save_image_grid((out / "recon.png").string(), cat(rows, 0), {.nrow = 8, .scale = 2}, text);
  }
  {
    Rng sample_rng(c.seed + 2);
    Tensor<std::int64_t> y;
    if (c.conditional) {
      y = Tensor<std::int64_t>::empty(Shape{80});
      for (index_t i = 0; i < 80; ++i) y.data()[i] = i / 8;  // one row of 8 per class
    }
    io::save_image_grid((out / "samples.png").string(), as_images(vae.sample(c.conditional ? 80 : 64, sample_rng, y)),
                        {.nrow = 8, .scale = 2}, text);
  }
  {
    std::vector<Tensor<float>> paths;
    for (index_t p = 0; p < 6; ++p) {
      const index_t a = p * test_x.size(0) / 6, b = a + test_x.size(0) / 8;  // two different digits
      // conditional: the path keeps the first image's class
      paths.push_back(as_images(vae.interpolate(narrow(test_x, 0, a, 1), narrow(test_x, 0, b, 1), 10, take(test_y, a, 1))));
    }
    io::save_image_grid((out / "interpolation.png").string(), cat(paths, 0), {.nrow = 10, .scale = 2}, text);
  }
  if (c.latent == 2) {
    const index_t g = 20;
    std::vector<float> z;
    for (index_t i = 0; i < g; ++i)
      for (index_t j = 0; j < g; ++j) {
        z.push_back(static_cast<float>(normal_quantile((static_cast<double>(j) + 0.5) / g)));
        z.push_back(static_cast<float>(normal_quantile(1.0 - (static_cast<double>(i) + 0.5) / g)));
      }
    Tensor<std::int64_t> y;
    if (c.conditional) y = zeros<std::int64_t>(Shape{g * g});  // the manifold of class 0
    const Tensor<float> grid = as_images(vae.decoded_mean(from_vector<float>(z, Shape{g * g, 2}), y));
    io::save_image_grid((out / "manifold.png").string(), grid, {.nrow = static_cast<int>(g), .padding = 0}, text);
  }
  {
    std::vector<Tensor<float>> means;
    for (index_t s = 0; s < test_x.size(0); s += c.batch) {
      const index_t n = std::min<index_t>(c.batch, test_x.size(0) - s);
      means.push_back(vae.encode(narrow(test_x, 0, s, n), take(test_y, s, n)).mean);
    }
    io::save_npy(out / "latents.npy", cat(means, 0));
    io::save_npy(out / "labels.npy", test.labels);
  }
  io::save_safetensors(out / "model.safetensors", vae.state_dict(),
                       {{"model", "vae_mnist"}, {"arch", c.arch}, {"latent", std::to_string(c.latent)},
                        {"conditional", c.conditional ? "true" : "false"}, {"epochs", std::to_string(c.epochs)},
                        {"seed", std::to_string(c.seed)}, {"command", args.command_line()}});
  std::printf("wrote %s/{recon,samples,interpolation%s}.png, latents.npy, labels.npy, model.safetensors, log.csv\n",
              c.out.c_str(), c.latent == 2 ? ",manifold" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  examples::Args args("vae_mnist", "Trains a VAE on binarised MNIST digits; prints test -ELBO and IWAE-k in nats.");
  args.option("--epochs", c.epochs, "training epochs over the 9,000 training images (batch 128, Adam 1e-3)")
      .option("--arch", c.arch, "mlp (784-400-L-400-784, PyTorch's example) or conv (Conv2d / ConvTranspose2d)")
      .option("--latent", c.latent, "latent dimensions (2 also draws manifold.png)")
      .option("--beta", c.beta, "weight of the KL term (1: the ELBO)")
      .flag("--conditional", c.conditional, "condition encoder and decoder on the digit label (one-hot)")
      .option("--data", c.data, "IDX images file (default: the shipped MNIST-10k)")
      .option("--labels", c.labels, "IDX labels file (default: derived from --data)")
      .option("--iwae-k", c.iwae_k, "importance samples for the IWAE bound")
      .common(c.seed, c.threads, c.out);
  args.parse(argc, argv);
  try {
    if (c.arch != "mlp" && c.arch != "conv") throw ValueError("vae_mnist: --arch must be mlp or conv, got '" + c.arch + "'");
    set_num_threads(c.threads);
    std::filesystem::path images = c.data.empty() ? examples::data_path("mnist-10k/mnist10k-images-idx3-ubyte")
                                                  : std::filesystem::path(c.data);
    std::filesystem::path labels = c.labels;
    if (labels.empty()) {
      std::string name = images.filename().string();
      const auto at = name.find("images-idx3");
      if (at == std::string::npos)
        throw ValueError("vae_mnist: cannot derive the labels file from '" + images.string() + "': pass --labels");
      labels = images.parent_path() / name.replace(at, 11, "labels-idx1");
    }
    const data::LabelledImages all = data::load_mnist(images, labels);
    if (all.images.size(2) != 28 || all.images.size(3) != 28)
      throw ValueError("vae_mnist: images must be 28x28, got " + all.images.shape().str());
    // the held-out split: every 10th image (index % 10 == 9), so that it holds every class even though the
    // shipped file is sorted by class
    std::vector<std::int64_t> train_rows, test_rows;
    for (index_t i = 0; i < all.images.size(0); ++i) (i % 10 == 9 ? test_rows : train_rows).push_back(i);
    const auto split = [&](const std::vector<std::int64_t>& rows) {
      const auto idx = rows_of(rows);
      data::LabelledImages part{index_select(all.images, 0, idx), Tensor<std::int64_t>::empty(Shape{idx.numel()})};
      for (index_t i = 0; i < idx.numel(); ++i) part.labels.data()[i] = all.labels.data()[idx.data()[i]];
      return part;
    };
    const data::LabelledImages train = split(train_rows), test = split(test_rows);
    const index_t n_test = test.images.size(0);
    std::printf("vae_mnist: %lld training / %lld test images, arch %s, latent %lld, beta %g%s\n",
                static_cast<long long>(train.images.size(0)), static_cast<long long>(n_test), c.arch.c_str(),
                static_cast<long long>(c.latent), c.beta, c.conditional ? ", conditional" : "");
    Rng init(c.seed);
    const index_t classes = c.conditional ? 10 : 0;
    const VAEOptions vae_options{.beta = c.beta};
    if (c.arch == "mlp") {
      auto vae = make_mlp_vae<float>({.latent = c.latent, .num_classes = classes}, init, BernoulliLikelihood{}, vae_options);
      return run(*vae, c, args, train, test);
    }
    auto vae = make_conv_vae<float>({.latent = c.latent, .num_classes = classes}, init, BernoulliLikelihood{}, vae_options);
    return run(*vae, c, args, train, test);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
