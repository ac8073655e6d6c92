// Ready-made GAN players: the DCGAN generator (Linear → BatchNorm → ConvTranspose2d ×2 → Tanh) and discriminator
// (Conv2d ×2 with LeakyReLU → Linear), optionally class-conditional (label embedding in G, projection in D).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "../nn/conv.hpp"
#include "../nn/embedding.hpp"
#include "../nn/init.hpp"
#include "../nn/linear.hpp"
#include "../nn/norm.hpp"
#include "../ops/ops.hpp"

namespace latent::models {

/// The DCGAN pair for [B, channels, image_size, image_size] images in [-1, 1]. The defaults are the small MNIST
/// DCGAN of BENCHMARKS.md (W2): z 100 → Linear → 128·7·7 → BatchNorm1d, ReLU → ConvTranspose2d 128→64 (k4 s2 p1)
/// → BatchNorm2d, ReLU → ConvTranspose2d 64→1 → Tanh; D: Conv2d 1→64 (k4 s2 p1), LeakyReLU 0.2 → Conv2d 64→128 →
/// BatchNorm2d, LeakyReLU 0.2 → flatten → Linear 128·7·7 → 1.
/// num_classes > 0 makes both conditional: G concatenates z with a learned embedding of the label
/// (latent_dim wide); D adds the projection term ⟨embed(y), φ(x)⟩ to its logit (Miyato & Koyama 2018), φ(x)
/// being the flattened features that feed the final Linear.
struct DCGANConfig {
  index_t latent_dim = 100;
  index_t channels = 1;       ///< image channels
  index_t image_size = 28;    ///< a multiple of 4: two stride-2 stages
  index_t g_features = 128;   ///< G's channels at image_size/4 (g_features/2 at image_size/2); even
  index_t d_features = 64;    ///< D's channels at image_size/2 (2·d_features at image_size/4)
  index_t num_classes = 0;    ///< 0: unconditional
  double negative_slope = 0.2;  ///< D's LeakyReLU

  index_t base() const { return image_size / 4; }
  /// D's flattened feature width, 2·d_features·(image_size/4)².
  index_t d_feature_width() const { return 2 * d_features * base() * base(); }
};

namespace gan_nets_detail {
inline DCGANConfig validated(const DCGANConfig& c, const char* who) {
  nn::detail::check_positive(who, "latent_dim", c.latent_dim);
  nn::detail::check_positive(who, "channels", c.channels);
  nn::detail::check_positive(who, "g_features", c.g_features);
  nn::detail::check_positive(who, "d_features", c.d_features);
  LATENT_CHECK(c.image_size >= 4 && c.image_size % 4 == 0, ValueError,
               std::string(who) + ": image_size = " + std::to_string(c.image_size) + " must be a positive multiple of 4");
  LATENT_CHECK(c.g_features % 2 == 0, ValueError,
               std::string(who) + ": g_features = " + std::to_string(c.g_features) + " must be even");
  LATENT_CHECK(c.num_classes >= 0, ValueError,
               std::string(who) + ": num_classes = " + std::to_string(c.num_classes) + " must be non-negative");
  LATENT_CHECK(c.negative_slope >= 0, ValueError,
               std::string(who) + ": negative_slope = " + nn::detail::double_str(c.negative_slope) + " must be >= 0");
  return c;
}

/// Labels must come exactly when the player is conditional: [B] ids in [0, num_classes).
inline void check_labels(const std::string& who, index_t num_classes, const Tensor<std::int64_t>* labels, index_t batch) {
  if (num_classes == 0) {
    LATENT_CHECK(labels == nullptr || !labels->defined(), ValueError,
                 who + ": labels given to an unconditional model (num_classes = 0)");
    return;
  }
  LATENT_CHECK(labels != nullptr && labels->defined(), ValueError,
               who + ": conditional on " + std::to_string(num_classes) + " classes, labels are required");
  LATENT_CHECK(labels->rank() == 1 && labels->size(0) == batch, ShapeError,
               who + ": labels " + labels->shape().str() + " for a batch of " + std::to_string(batch));
}

template <Scalar T>
void check_images(const std::string& who, const Tensor<T>& x, const DCGANConfig& c) {
  const index_t s = c.image_size;
  LATENT_CHECK(x.rank() == 4 && x.size(1) == c.channels && x.size(2) == s && x.size(3) == s, ShapeError,
               who + ": input " + x.shape().str() + " must be [B, " + std::to_string(c.channels) + ", " +
                   std::to_string(s) + ", " + std::to_string(s) + "]");
}
}  // namespace gan_nets_detail

/// z [B, latent_dim] (and labels [B] when conditional) → images [B, channels, image_size, image_size] in (−1, 1).
/// Children (PyTorch-style names): label_emb (conditional only), fc, bn0, deconv1, bn1, deconv2.
template <Scalar T>
class DCGANGenerator : public nn::Module<T> {
  DCGANConfig config_;
  std::unique_ptr<nn::Embedding<T>> label_emb_;

 public:
  nn::Linear<T> fc;
  nn::BatchNorm1d<T> bn0;
  nn::ConvTranspose2d<T> deconv1;
  nn::BatchNorm2d<T> bn1;
  nn::ConvTranspose2d<T> deconv2;

  explicit DCGANGenerator(const DCGANConfig& config, Rng& rng)
      : config_(gan_nets_detail::validated(config, "DCGANGenerator")),
        label_emb_(config.num_classes > 0
                       ? std::make_unique<nn::Embedding<T>>(
                             nn::EmbeddingOptions{.num_embeddings = config.num_classes, .embedding_dim = config.latent_dim}, rng)
                       : nullptr),
        fc({.in_features = config.latent_dim * (config.num_classes > 0 ? 2 : 1),
            .out_features = config.g_features * config.base() * config.base()},
           rng),
        bn0({.num_features = config.g_features * config.base() * config.base()}),
        deconv1({.in_channels = config.g_features, .out_channels = config.g_features / 2, .kernel_size = 4, .stride = 2,
                 .padding = 1},
                rng),
        bn1({.num_features = config.g_features / 2}),
        deconv2({.in_channels = config.g_features / 2, .out_channels = config.channels, .kernel_size = 4, .stride = 2,
                 .padding = 1},
                rng) {
    if (label_emb_) this->register_module("label_emb", *label_emb_);
    this->register_module("fc", fc);
    this->register_module("bn0", bn0);
    this->register_module("deconv1", deconv1);
    this->register_module("bn1", bn1);
    this->register_module("deconv2", deconv2);
  }

  const DCGANConfig& config() const noexcept { return config_; }
  index_t latent_dim() const noexcept { return config_.latent_dim; }
  index_t num_classes() const noexcept { return config_.num_classes; }
  std::string repr() const override {
    return "DCGANGenerator(latent_dim=" + std::to_string(config_.latent_dim) + ", channels=" + std::to_string(config_.channels) +
           ", image_size=" + std::to_string(config_.image_size) + ", g_features=" + std::to_string(config_.g_features) +
           ", num_classes=" + std::to_string(config_.num_classes) + ")";
  }

  Tensor<T> operator()(const Tensor<T>& z) { return run(z, nullptr); }
  Tensor<T> operator()(const Tensor<T>& z, const Tensor<std::int64_t>& labels) { return run(z, &labels); }

 private:
  Tensor<T> run(const Tensor<T>& z, const Tensor<std::int64_t>* labels) {
    LATENT_CHECK(z.rank() == 2 && z.size(1) == config_.latent_dim, ShapeError,
                 repr() + ": noise " + z.shape().str() + " must be [B, " + std::to_string(config_.latent_dim) + "]");
    const index_t b = z.size(0), s = config_.base();
    gan_nets_detail::check_labels(repr(), config_.num_classes, labels, b);
    const Tensor<T> in = label_emb_ ? cat<T>({z, (*label_emb_)(*labels)}, 1) : z;
    // Each BatchNorm → ReLU → ConvTranspose2d block is one node that keeps the batch norm's input only (the
    // activations are computed again in the backward): a GAN keeps G's graph through the whole D update.
    const Tensor<T> h0 = fc(in);
    const Tensor<T> h1 = block(h0, bn0, Shape{b, config_.g_features, s, s}, deconv1);
    return tanh(block(h1, bn1, h1.shape(), deconv2));
  }

  /// deconv(reshape(relu(bn(x)), image)), fused (ops/conv.hpp).
  template <class BatchNorm>
  static Tensor<T> block(const Tensor<T>& x, BatchNorm& bn, const Shape& image, nn::ConvTranspose2d<T>& deconv) {
    const auto& o = deconv.options();
    return batch_norm_relu_conv_transpose2d(x, bn.functional_args(x), image, deconv.weight, deconv.bias, o.stride.pair(), o.padding.pair(),
                                            o.output_padding.pair(), o.dilation.pair());
  }
};

/// images [B, channels, image_size, image_size] (and labels [B] when conditional) → logits [B, 1].
/// Children: conv1, conv2, bn2, fc, and embed (conditional only: [num_classes, d_feature_width], initialised
/// like fc's weight, U(±1/√width), so that the projection term starts on the scale of the unconditional logit).
template <Scalar T>
class DCGANDiscriminator : public nn::Module<T> {
  DCGANConfig config_;

 public:
  nn::Conv2d<T> conv1;
  nn::Conv2d<T> conv2;
  nn::BatchNorm2d<T> bn2;
  nn::Linear<T> fc;

 private:
  std::unique_ptr<nn::Embedding<T>> embed_;

 public:
  explicit DCGANDiscriminator(const DCGANConfig& config, Rng& rng)
      : config_(gan_nets_detail::validated(config, "DCGANDiscriminator")),
        conv1({.in_channels = config.channels, .out_channels = config.d_features, .kernel_size = 4, .stride = 2, .padding = 1},
              rng),
        conv2({.in_channels = config.d_features, .out_channels = 2 * config.d_features, .kernel_size = 4, .stride = 2,
               .padding = 1},
              rng),
        bn2({.num_features = 2 * config.d_features}),
        fc({.in_features = config.d_feature_width(), .out_features = 1}, rng) {
    this->register_module("conv1", conv1);
    this->register_module("conv2", conv2);
    this->register_module("bn2", bn2);
    this->register_module("fc", fc);
    if (config_.num_classes > 0) {
      const index_t width = config_.d_feature_width();
      embed_ = std::make_unique<nn::Embedding<T>>(nn::EmbeddingOptions{.num_embeddings = config_.num_classes, .embedding_dim = width}, rng);
      const double bound = 1.0 / std::sqrt(static_cast<double>(width));
      nn::init::uniform_(embed_->weight, rng, -bound, bound);
      this->register_module("embed", *embed_);
    }
  }

  const DCGANConfig& config() const noexcept { return config_; }
  index_t num_classes() const noexcept { return config_.num_classes; }
  std::string repr() const override {
    return "DCGANDiscriminator(channels=" + std::to_string(config_.channels) + ", image_size=" +
           std::to_string(config_.image_size) + ", d_features=" + std::to_string(config_.d_features) +
           ", num_classes=" + std::to_string(config_.num_classes) + ")";
  }

  /// φ(x) [B, d_feature_width]: the flattened features under the final Linear (and the projection).
  Tensor<T> features(const Tensor<T>& x) {
    gan_nets_detail::check_images(repr(), x, config_);
    const T slope = static_cast<T>(config_.negative_slope);
    // One layer group per statement: a full expression keeps its temporaries until it ends, so conv1's output (which
    // no node needs: leaky_relu keeps its own output) lived through the whole pass when the calls were nested.
    Tensor<T> h = leaky_relu(conv1(x), slope);
    h = leaky_relu(bn2(conv2(h)), slope);
    return flatten(h, 1);
  }

  Tensor<T> operator()(const Tensor<T>& x) { return run(x, nullptr); }
  Tensor<T> operator()(const Tensor<T>& x, const Tensor<std::int64_t>& labels) { return run(x, &labels); }

 private:
  Tensor<T> run(const Tensor<T>& x, const Tensor<std::int64_t>* labels) {
    gan_nets_detail::check_labels(repr(), config_.num_classes, labels, x.rank() > 0 ? x.size(0) : 0);
    const Tensor<T> phi = features(x);
    const Tensor<T> logit = fc(phi);
    if (!embed_) return logit;
    return add(logit, sum(mul(phi, (*embed_)(*labels)), 1, /*keepdim=*/true));  // + ⟨embed(y), φ(x)⟩
  }
};

}  // namespace latent::models
