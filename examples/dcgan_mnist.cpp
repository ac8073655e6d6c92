// dcgan_mnist: trains the DCGAN of models/gan_nets.hpp (BENCHMARKS.md's W2 network) on the shipped MNIST-10k, scaled to
// [-1, 1], optionally class-conditional (label embedding in G, projection discriminator, and by default MSGAN's
// mode-seeking term, without which the conditional G ignored its noise), and judges 10,000 samples of the EMA
// generator with metrics::DigitClassifier. Without --conditional it uses no labels but is by default self-conditioned:
// both players are conditioned as above on the image's k-means cluster (50 clusters in pixel space; --clusters 0 is
// the plain unconditional DCGAN, whose samples were mostly strokes that were no digit), and each sample draws its
// cluster with the cluster's share of the training images. The report: the share of each digit class, the share of
// confident samples (top probability >= 0.9), with --conditional the share classified as the requested digit, and the
// Fréchet distance in the classifier's feature space to the 1,000 held-out images.
//
//   build/release/examples/dcgan_mnist --out runs/dcgan
//   build/release/examples/dcgan_mnist --conditional --out runs/cdcgan
//   build/release/examples/dcgan_mnist --load runs/dcgan/model.safetensors --truncation 2 --out runs/dcgan_t2
//
// Trains on the 9,000 training images of the split the classifier uses (every 10th image held out). The classifier is
// read from --classifier, and trained there first (about a minute) when the file does not exist.
// Writes to --out: samples.npy (the 10,000 samples in [0, 1], [N, 1, 28, 28]; labels.npy with --conditional),
// samples.png (8×8 grid; with --conditional one row of 8 per digit 0..9), model.safetensors (the EMA generator under
// DCGANGenerator's names, with the configuration and the cluster shares as metadata), log.csv. --load samples and
// judges a saved generator without training (--truncation: the truncation trick; with the default 50 clusters, 3,000
// steps: 86.8% confident samples untruncated, 90.4% at 2, 95.8% at 1, rarest digit 7.9%, 8.1%, 7.0%).
#include <latent/latent.hpp>
#include <latent/metrics/digit_classifier.hpp>

#include "common/args.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <span>
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
  // λ of MSGAN's mode-seeking term in G's loss; < 0: 1 with --conditional or clusters (without it the conditional
  // generator ignored z and drew one image per class: Fréchet 280-320; with it 28), 0 for the plain unconditional GAN
  // (3,000 steps: 55.8% confident against 58.6% without)
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
  std::string load;          // non-empty: no training; sample and judge the generator in this model.safetensors
  // > 0: the truncation trick (Brock et al. 2019): z's components beyond ±truncation are redrawn, trading diversity
  // for fidelity; BatchNorm then normalises with standing statistics (see below) instead of each batch's own
  double truncation = 0;
  std::string bn_stats = "auto";  // batch, standing, or auto (standing exactly when truncation > 0)
  // Self-conditioning without labels (as Liu et al. 2020's self-conditioned GAN, with fixed clusters): both players
  // are conditioned on the k-means cluster (pixel space) of each training image, like --conditional on the digit, and
  // each sample draws its cluster with its share of the training images; the model stays one of p(x) alone. 0: off;
  // < 0: 50 unconditional, 0 with --conditional. Unconditional, 3,000 steps: 86.8% confident samples, rarest digit
  // 7.9%, Fréchet 19 with 50 clusters (81.5% pure), against 57.7%, 3.4% and 153 without (the plain DCGAN drew
  // strokes that were no digit); 20 clusters (70% pure) had 77.4% and 5.6% at 1,500 steps, 50 had 81% and 7.0%.
  index_t clusters = -1;
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

/// Lloyd's k-means of the rows of x [N, ...] (flattened) with k-means++ seeding and `iterations` rounds: each row's
/// cluster in [0, k). An empty cluster keeps its centre.
std::vector<std::int64_t> kmeans(const Tensor<float>& x, index_t k, int iterations, Rng& rng) {
  const index_t n = x.size(0), d = x.numel() / n;
  const Tensor<float> rows = reshape(x, Shape{n, d});
  const float* p = rows.data();
  std::vector<float> centres(static_cast<std::size_t>(k * d));
  const auto sq_dist = [&](index_t i, const float* c) {
    double s = 0;
    for (index_t j = 0; j < d; ++j) s += double(p[i * d + j] - c[j]) * double(p[i * d + j] - c[j]);
    return s;
  };
  // k-means++: the first centre a random row, each next one a row drawn ∝ its squared distance to the nearest centre
  std::vector<double> nearest(static_cast<std::size_t>(n), std::numeric_limits<double>::infinity());
  index_t pick = index_t(rng.below(std::uint64_t(n)));
  for (index_t j = 0; j < k; ++j) {
    std::copy(p + pick * d, p + (pick + 1) * d, centres.begin() + j * d);
    double total = 0;
    for (index_t i = 0; i < n; ++i) total += nearest[i] = std::min(nearest[i], sq_dist(i, centres.data() + j * d));
    double r = rng.uniform<double>() * total;
    for (pick = 0; pick < n - 1 && (r -= nearest[pick]) > 0; ++pick) {}
  }
  std::vector<std::int64_t> assign(static_cast<std::size_t>(n));
  for (int it = 0; it < iterations; ++it) {
    // argmin_j ‖x − c_j‖² = argmin_j ‖c_j‖² − 2⟨x, c_j⟩
    const Tensor<float> c = from_vector<float>(centres, Shape{k, d});
    const Tensor<float> dots = matmul(rows, transpose(c, 0, 1));
    std::vector<double> norms(static_cast<std::size_t>(k));
    for (index_t j = 0; j < k; ++j)
      for (index_t e = 0; e < d; ++e) norms[j] += double(centres[j * d + e]) * centres[j * d + e];
    for (index_t i = 0; i < n; ++i) {
      index_t best = 0;
      for (index_t j = 1; j < k; ++j)
        if (norms[j] - 2.0 * dots.data()[i * k + j] < norms[best] - 2.0 * dots.data()[i * k + best]) best = j;
      assign[i] = best;
    }
    std::vector<double> sums(static_cast<std::size_t>(k * d));
    std::vector<index_t> counts(static_cast<std::size_t>(k));
    for (index_t i = 0; i < n; ++i) {
      ++counts[assign[i]];
      for (index_t e = 0; e < d; ++e) sums[assign[i] * d + e] += p[i * d + e];
    }
    for (index_t j = 0; j < k; ++j)
      if (counts[j] > 0)
        for (index_t e = 0; e < d; ++e) centres[j * d + e] = static_cast<float>(sums[j * d + e] / double(counts[j]));
  }
  return assign;
}

/// n sampling labels: conditional, the digits 0..9 in turn; with clusters, the cluster of a uniformly drawn training
/// image (so each cluster comes with its share of the data); unconditional, none.
std::vector<std::int64_t> sampling_labels(const Config& c, const std::vector<std::int64_t>& cluster_of, index_t n,
                                          Rng& rng) {
  std::vector<std::int64_t> out;
  for (index_t i = 0; i < n && (c.conditional || c.clusters > 0); ++i)
    out.push_back(c.conditional ? i % 10 : cluster_of[rng.below(cluster_of.size())]);
  return out;
}

/// z ~ N(0, I) [n, latent_dim], each component beyond ±threshold redrawn until it falls inside (threshold <= 0:
/// plain normal). Components inside are left as the plain draw made them.
Tensor<float> truncated_noise(index_t n, index_t latent_dim, double threshold, Rng& rng) {
  Tensor<float> z = randn<float>({n, latent_dim}, rng);
  if (threshold <= 0) return z;
  for (float& v : std::span<float>(z.data(), static_cast<std::size_t>(z.numel())))
    while (std::abs(v) > threshold) v = rng.normal<float>();
  return z;
}

/// "Standing" BatchNorm statistics of a generator (Brock et al. 2019, as precise BN): the running mean and unbiased
/// variance of bn0 and bn1 replaced by their population values over n untruncated samples (bn1's with bn0 already
/// normalising with its new statistics), so that in evaluation mode G normalises a truncated batch like an ordinary
/// one. In training mode BatchNorm renormalises each batch by its own statistics and undoes the truncation (bn0 follows
/// a linear map of z, so a shrunk z comes out at unit variance again): the plain DCGAN after 6,000 steps had 59.3%
/// confident samples untruncated and 59.6% truncated at 1.0 or at 0.5 with batch statistics.
void set_standing_stats(G& g, const Config& c, const std::vector<std::int64_t>& cluster_of, index_t n, Rng& rng) {
  NoGradGuard no_grad;
  g.eval();
  const auto pool = [](auto& bn, const auto& batches) {
    // batches(i) -> pre-normalisation activations [m, C] or [m, C, H, W]; Σx and Σx² per channel in double
    std::vector<double> s1, s2;
    double count = 0;
    for (int i = 0;; ++i) {
      const Tensor<float> x = batches(i);
      if (!x.defined()) break;
      const index_t c = x.size(1), inner = x.numel() / (x.size(0) * c);
      s1.resize(c), s2.resize(c);
      const float* p = x.data();
      for (index_t b = 0; b < x.size(0); ++b)
        for (index_t ch = 0; ch < c; ++ch)
          for (index_t k = 0; k < inner; ++k) {
            const double v = p[(b * c + ch) * inner + k];
            s1[ch] += v, s2[ch] += v * v;
          }
      count += double(x.size(0) * inner);
    }
    for (std::size_t ch = 0; ch < s1.size(); ++ch) {
      const double m = s1[ch] / count;
      bn.running_mean.data()[ch] = static_cast<float>(m);
      bn.running_var.data()[ch] = static_cast<float>((s2[ch] - count * m * m) / (count - 1));  // unbiased, as kept
    }
  };
  // G's input rows: z, or [z, label embedding] for a conditional generator (labels drawn as sampling draws them)
  std::vector<Tensor<float>> zs;
  const StateDict weights = g.state_dict();
  for (index_t s = 0; s < n; s += 500) {
    const index_t m = std::min<index_t>(500, n - s);
    const Tensor<float> z = randn<float>({m, g.latent_dim()}, rng);
    if (g.num_classes() == 0) {
      zs.push_back(z);
      continue;
    }
    const std::vector<std::int64_t> y = sampling_labels(c, cluster_of, m, rng);
    const Tensor<float> embedded = embedding(weights.get<float>("label_emb.weight"), from_vector<std::int64_t>(y, Shape{m}));
    zs.push_back(cat<float>({z, embedded}, 1));
  }
  const index_t s = g.config().base();
  pool(g.bn0, [&](int i) { return i < int(zs.size()) ? g.fc(zs[i]) : Tensor<float>(); });
  pool(g.bn1, [&](int i) {
    if (i >= int(zs.size())) return Tensor<float>();
    const index_t b = zs[i].size(0);
    return g.deconv1(reshape(relu(g.bn0(g.fc(zs[i]))), Shape{b, g.config().g_features, s, s}));
  });
}

/// n samples in [0, 1] of the given classes (empty: unconditional) from generator g in batches of 500, z truncated at
/// c.truncation (> 0). With batch statistics g stays in training mode, so BatchNorm normalises with each sampling
/// batch's statistics (as PyTorch's DCGAN example samples: the running statistics a training run leaves belong to the
/// raw weights, not to their EMA); with standing statistics (set_standing_stats) it samples in evaluation mode.
Tensor<float> draw_from(G& g, const Config& c, bool standing, index_t n, const std::vector<std::int64_t>& classes,
                        Rng& rng) {
  NoGradGuard no_grad;
  g.train(!standing);
  std::vector<Tensor<float>> parts;
  for (index_t s = 0; s < n; s += 500) {
    const index_t m = std::min<index_t>(500, n - s);
    const Tensor<float> z = truncated_noise(m, g.latent_dim(), c.truncation, rng);
    Tensor<float> x;
    if (classes.empty()) x = g(z);
    else x = g(z, from_vector<std::int64_t>({classes.begin() + s, classes.begin() + s + m}, Shape{m}));
    parts.push_back(mul_scalar(add_scalar(x, 1.0f), 0.5f));
  }
  g.train(true);
  return cat(parts, 0);
}

/// n samples in [0, 1] of the given classes (empty: unconditional), drawn with the GAN's EMA generator in batches of
/// 500 (for --eval-every), in training mode like draw_from with batch statistics.
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

/// Draws c.samples samples of g (conditional: digits 0..9 in turn) and an 8×8 grid (conditional: one row of 8 per
/// digit), writes samples.npy (labels.npy), samples.png, and prints the classifier's report.
void sample_and_judge(G& g, const Config& c, const std::vector<std::int64_t>& cluster_of,
                      const std::filesystem::path& out, const io::Provenance& text, metrics::DigitClassifier& classifier,
                      const metrics::DigitSplit& split, double held_out_accuracy) {
  const bool standing = c.bn_stats == "standing" || (c.bn_stats == "auto" && c.truncation > 0);
  if (standing) {
    Rng stats_rng(c.seed + 4);
    set_standing_stats(g, c, cluster_of, 10000, stats_rng);
  }
  Rng sample_rng(c.seed + 1);
  const std::vector<std::int64_t> classes = sampling_labels(c, cluster_of, c.samples, sample_rng);
  const Tensor<float> samples = draw_from(g, c, standing, c.samples, classes, sample_rng);
  io::save_npy(out / "samples.npy", samples);
  if (c.conditional) io::save_npy(out / "labels.npy", from_vector<std::int64_t>(classes, Shape{index_t(classes.size())}));
  {
    Rng grid_rng(c.seed + 2);
    std::vector<std::int64_t> grid_classes = sampling_labels(c, cluster_of, 64, grid_rng);
    if (c.conditional) {  // one row of 8 per digit
      grid_classes.clear();
      for (int i = 0; i < 80; ++i) grid_classes.push_back(i / 8);
    }
    io::save_image_grid(out / "samples.png", draw_from(g, c, standing, c.conditional ? 80 : 64, grid_classes, grid_rng),
                        {.nrow = 8, .scale = 2}, text);
  }
  if (c.truncation > 0 || standing)
    std::printf("sampling with z truncated at %g, BatchNorm with %s statistics\n", c.truncation,
                standing ? "standing" : "batch");
  print_report(c, held_out_accuracy,
               metrics::evaluate_digits(classifier, samples, split.held_out.images, c.conditional ? &classes : nullptr));
}

/// With --clusters k: the k-means clusters of the training images (the same for a given seed, so --load finds the
/// training run's), with each cluster's purity against the digit labels printed as a diagnostic (labels are not used).
std::vector<std::int64_t> cluster_assignments(const Config& c, const metrics::DigitSplit& split) {
  if (c.clusters == 0) return {};
  Rng rng(c.seed + 6);
  const std::vector<std::int64_t> cluster_of = kmeans(split.train.images, c.clusters, 20, rng);
  std::vector<std::vector<index_t>> counts(static_cast<std::size_t>(c.clusters), std::vector<index_t>(10));
  for (std::size_t i = 0; i < cluster_of.size(); ++i) ++counts[cluster_of[i]][split.train.labels.data()[i]];
  index_t majority = 0;
  for (const auto& row : counts) majority += *std::max_element(row.begin(), row.end());
  std::printf("%lld k-means clusters of the training images: purity against the labels %.1f%%\n",
              static_cast<long long>(c.clusters), 100.0 * double(majority) / double(cluster_of.size()));
  return cluster_of;
}

/// "k: share of cluster 0, share of cluster 1, ..." (the frequencies samples draw their cluster with), or "0".
std::string cluster_shares(const Config& c, const std::vector<std::int64_t>& cluster_of) {
  std::vector<index_t> counts(static_cast<std::size_t>(c.clusters));
  for (const std::int64_t k : cluster_of) ++counts[k];
  std::string out = std::to_string(c.clusters);
  for (std::size_t k = 0; k < counts.size(); ++k) {
    char share[32];
    std::snprintf(share, sizeof share, "%s%.4f", k == 0 ? ": " : ", ", double(counts[k]) / double(cluster_of.size()));
    out += share;
  }
  return out;
}

/// --load FILE: no training; samples and judges the generator saved in FILE (a model.safetensors of this program,
/// trained with the same --g-features and --conditional).
int load_and_judge(const Config& c, int argc, char** argv) {
  const auto out = examples::make_out_dir(c.out);
  const auto mnist = examples::data_path("mnist-10k");
  const metrics::DigitSplit split = metrics::load_mnist10k_split(mnist);
  double held_out_accuracy = 0;
  metrics::DigitClassifier classifier =
      metrics::load_or_train_digit_classifier(c.classifier, mnist, {}, {}, &held_out_accuracy);
  Rng rng(c.seed);
  G g({.g_features = c.g_features, .d_features = c.d_features, .num_classes = c.conditional ? 10 : c.clusters}, rng);
  g.load_state_dict(io::load_safetensors(c.load).tensors);
  sample_and_judge(g, c, cluster_assignments(c, split), out,
                   io::provenance("dcgan_mnist: samples of " + c.load, c.seed, 0, argc, argv), classifier, split,
                   held_out_accuracy);
  std::printf("wrote %s/{samples.npy,samples.png}\n", c.out.c_str());
  return 0;
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
  const models::DCGANConfig net{.g_features = c.g_features, .d_features = c.d_features,
                                .num_classes = c.conditional ? 10 : c.clusters};
  const std::vector<std::int64_t> cluster_of = cluster_assignments(c, split);
  const bool labelled = c.conditional || c.clusters > 0;
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
    if (labelled) {  // the digit, or the cluster
      y = Tensor<std::int64_t>::empty(Shape{c.batch});
      for (index_t i = 0; i < c.batch; ++i)
        y.data()[i] = c.conditional ? train_labels.data()[idx.data()[i]] : cluster_of[idx.data()[i]];
    }
    return {index_select(train, 0, idx), y};
  };
  // The judge, loaded (or trained) before training so that --eval-every can use it too.
  double held_out_accuracy = 0;
  metrics::DigitClassifier classifier =
      metrics::load_or_train_digit_classifier(c.classifier, mnist, {}, {}, &held_out_accuracy);
  const auto judge = [&](int step) {
    Rng eval_rng(c.seed + 3);  // the same noise at every evaluation; training's rng is untouched
    const std::vector<std::int64_t> classes = sampling_labels(c, cluster_of, c.eval_samples, eval_rng);
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
      if (labelled) y = from_vector<std::int64_t>(classes, Shape{index_t(classes.size())});
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

  const std::string description = "dcgan_mnist: " + Loss::name() + (c.conditional ? ", conditional" : "");
  Rng init_rng(0);
  G sampler(net, init_rng);  // the EMA generator (and the raw one's BatchNorm buffers), sampled as with --load
  sampler.load_state_dict(gan.sampling_state_dict());
  sample_and_judge(sampler, c, cluster_of, out, io::provenance(description, c.seed, c.steps, argc, argv), classifier,
                   split, held_out_accuracy);
  io::save_safetensors(out / "model.safetensors", gan.sampling_state_dict(),
                       {{"model", "DCGANGenerator (EMA)"}, {"loss", Loss::name()},
                        {"latent_dim", std::to_string(net.latent_dim)}, {"num_classes", std::to_string(net.num_classes)},
                        {"image_range", "[-1, 1]"}, {"clusters", cluster_shares(c, cluster_of)},
                        {"steps", std::to_string(c.steps)}, {"seed", std::to_string(c.seed)},
                        {"command", args.command_line()}});
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
      .option("--load", c.load, "no training: sample and judge the generator in this model.safetensors (same --g-features, --conditional)")
      .option("--truncation", c.truncation, "redraw z's components beyond +-this when sampling (truncation trick; 0: off)")
      .option("--bn-stats", c.bn_stats, "BatchNorm statistics when sampling: batch, standing, or auto (standing when truncating)")
      .option("--clusters", c.clusters, "unconditional, self-conditioned on this many k-means clusters of the images (0: plain; -1: 50, 0 with --conditional)")
      .option("--judge", c.judge, "only judge the samples [N, 1, 28, 28] in [0, 1] of this .npy file (e.g. the PyTorch twin's)")
      .option("--samples", c.samples, "samples judged by the digit classifier")
      .option("--eval-every", c.eval_every, "also judge --eval-samples samples (EMA and raw generator) every N steps (0: off)")
      .option("--eval-samples", c.eval_samples, "samples judged at each --eval-every evaluation")
      .option("--classifier", c.classifier, "digit classifier safetensors (trained and saved there when missing)")
      .common(c.seed, c.threads, c.out);
  args.parse(argc, argv);
  if (c.threads > 0) set_num_threads(c.threads);
  if (!c.judge.empty()) return judge_file(c);
  if (c.truncation < 0) throw ValueError("dcgan_mnist: --truncation must be >= 0, got " + std::to_string(c.truncation));
  if (c.bn_stats != "auto" && c.bn_stats != "batch" && c.bn_stats != "standing")
    throw ValueError("dcgan_mnist: --bn-stats must be auto, batch or standing, got '" + c.bn_stats + "'");
  if (c.clusters < 0) c.clusters = c.conditional ? 0 : 50;
  if (c.clusters > 0 && c.conditional)
    throw ValueError("dcgan_mnist: --clusters conditions on unsupervised clusters and cannot go with --conditional, got " +
                     std::to_string(c.clusters));
  if (c.mode_seeking < 0) c.mode_seeking = c.conditional || c.clusters > 0 ? 1 : 0;
  if (!c.load.empty()) return load_and_judge(c, argc, argv);
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
