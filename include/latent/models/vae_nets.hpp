// Ready-made VAE parts: the MLP of PyTorch's examples/vae (784-400-20-400-784) and a convolutional
// encoder/decoder pair (Conv2d down, ConvTranspose2d up), each optionally conditioned on a class label.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "../nn/conv.hpp"
#include "../nn/linear.hpp"
#include "vae.hpp"

namespace latent {

namespace vae_detail {
/// [B, C] one-hot rows of labels in [0, C): the conditioning input concatenated to a network's features.
template <Scalar T>
Tensor<T> one_hot(const Tensor<std::int64_t>& labels, index_t num_classes, const std::string& who) {
  LATENT_CHECK(labels.rank() == 1, ShapeError, who + ": labels " + labels.shape().str() + " must be [B]");
  Tensor<T> out = zeros<T>(Shape{labels.size(0), num_classes});
  for (index_t i = 0; i < labels.size(0); ++i) {
    const std::int64_t y = labels.data()[i];
    LATENT_CHECK(y >= 0 && y < num_classes, ValueError,
                 who + ": label " + std::to_string(y) + " at index " + std::to_string(i) + " is outside [0, " +
                     std::to_string(num_classes) + ")");
    out.data()[i * num_classes + y] = T(1);
  }
  return out;
}

/// features, or [features, one_hot(labels)] for a conditional part; checks that labels come exactly when needed.
template <Scalar T>
Tensor<T> condition(const Tensor<T>& features, const Tensor<std::int64_t>* labels, index_t num_classes,
                    const std::string& who) {
  if (num_classes == 0) {
    LATENT_CHECK(labels == nullptr, ValueError, who + ": labels given to an unconditional part (num_classes = 0)");
    return features;
  }
  LATENT_CHECK(labels != nullptr && labels->defined(), ValueError,
               who + ": conditional on " + std::to_string(num_classes) + " classes, labels are required");
  LATENT_CHECK(labels->numel() == features.size(0), ShapeError,
               who + ": labels " + labels->shape().str() + " for a batch of " + std::to_string(features.size(0)));
  return cat({features, one_hot<T>(*labels, num_classes, who)}, 1);
}
}  // namespace vae_detail

/// The MLP VAE of PyTorch's examples/vae: x (flattened to in_features) → 400 → (μ, log σ²) of 20; z → 400 →
/// params_per_dim · in_features. num_classes > 0 makes both parts conditional (one-hot label concatenated to
/// their input).
struct MlpVaeOptions {
  index_t in_features = 784;
  index_t hidden = 400;
  index_t latent = 20;
  index_t num_classes = 0;     // 0: unconditional
  index_t params_per_dim = 1;  // set from the likelihood by make_mlp_vae
};

namespace vae_detail {
inline MlpVaeOptions validated(const MlpVaeOptions& o, const char* who) {
  nn::detail::check_positive(who, "in_features", o.in_features);
  nn::detail::check_positive(who, "hidden", o.hidden);
  nn::detail::check_positive(who, "latent", o.latent);
  nn::detail::check_positive(who, "params_per_dim", o.params_per_dim);
  LATENT_CHECK(o.num_classes >= 0, ValueError,
               std::string(who) + ": num_classes = " + std::to_string(o.num_classes) + " must be non-negative");
  return o;
}
}  // namespace vae_detail

/// h = relu(fc1(x)), μ = fc21(h), log σ² = fc22(h) (PyTorch's names).
template <Scalar T>
class MlpEncoder : public nn::Module<T> {
  MlpVaeOptions options_;

 public:
  nn::Linear<T> fc1, fc21, fc22;

  MlpEncoder(const MlpVaeOptions& options, Rng& rng)
      : options_(vae_detail::validated(options, "MlpEncoder")),
        fc1({.in_features = options.in_features + options.num_classes, .out_features = options.hidden}, rng),
        fc21({.in_features = options.hidden, .out_features = options.latent}, rng),
        fc22({.in_features = options.hidden, .out_features = options.latent}, rng) {
    this->register_module("fc1", fc1);
    this->register_module("fc21", fc21);
    this->register_module("fc22", fc22);
  }
  const MlpVaeOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "MlpEncoder(in_features=" + std::to_string(options_.in_features) + ", hidden=" + std::to_string(options_.hidden) +
           ", latent=" + std::to_string(options_.latent) + ", num_classes=" + std::to_string(options_.num_classes) + ")";
  }

  DiagonalGaussian<T> encode(const Tensor<T>& x) { return run(x, nullptr); }
  DiagonalGaussian<T> encode(const Tensor<T>& x, const Tensor<std::int64_t>& labels) { return run(x, &labels); }

 private:
  DiagonalGaussian<T> run(const Tensor<T>& x, const Tensor<std::int64_t>* labels) {
    LATENT_CHECK(x.rank() >= 2 && x.numel() == x.size(0) * options_.in_features, ShapeError,
                 repr() + ": input " + x.shape().str() + " must hold " + std::to_string(options_.in_features) +
                     " features per example");
    const Tensor<T> h = relu(fc1(vae_detail::condition(flatten(x, 1), labels, options_.num_classes, repr())));
    return {fc21(h), fc22(h)};
  }
};

/// out = fc4(relu(fc3(z))): params_per_dim · in_features values per example (logits for Bernoulli).
template <Scalar T>
class MlpDecoder : public nn::Module<T> {
  MlpVaeOptions options_;

 public:
  nn::Linear<T> fc3, fc4;

  MlpDecoder(const MlpVaeOptions& options, Rng& rng)
      : options_(vae_detail::validated(options, "MlpDecoder")),
        fc3({.in_features = options.latent + options.num_classes, .out_features = options.hidden}, rng),
        fc4({.in_features = options.hidden, .out_features = options.params_per_dim * options.in_features}, rng) {
    this->register_module("fc3", fc3);
    this->register_module("fc4", fc4);
  }
  const MlpVaeOptions& options() const noexcept { return options_; }
  index_t latent_dim() const { return options_.latent; }
  std::string repr() const override {
    return "MlpDecoder(latent=" + std::to_string(options_.latent) + ", hidden=" + std::to_string(options_.hidden) +
           ", out_features=" + std::to_string(options_.params_per_dim * options_.in_features) +
           ", num_classes=" + std::to_string(options_.num_classes) + ")";
  }

  Tensor<T> decode(const Tensor<T>& z) { return fc4(relu(fc3(vae_detail::condition(z, nullptr, options_.num_classes, repr())))); }
  Tensor<T> decode(const Tensor<T>& z, const Tensor<std::int64_t>& labels) {
    return fc4(relu(fc3(vae_detail::condition(z, &labels, options_.num_classes, repr()))));
  }
};

/// The convolutional VAE for [B, C, S, S] images (S divisible by 4): two stride-2 4×4 convolutions
/// (C → channels → 2·channels, S → S/4), a hidden layer, then (μ, log σ²); the decoder mirrors it with
/// ConvTranspose2d and gives params_per_dim · C output channels.
struct ConvVaeOptions {
  index_t in_channels = 1;
  index_t image_size = 28;
  index_t channels = 32;
  index_t hidden = 256;
  index_t latent = 20;
  index_t num_classes = 0;
  index_t params_per_dim = 1;
};

namespace vae_detail {
inline ConvVaeOptions validated(const ConvVaeOptions& o, const char* who) {
  nn::detail::check_positive(who, "in_channels", o.in_channels);
  nn::detail::check_positive(who, "channels", o.channels);
  nn::detail::check_positive(who, "hidden", o.hidden);
  nn::detail::check_positive(who, "latent", o.latent);
  nn::detail::check_positive(who, "params_per_dim", o.params_per_dim);
  LATENT_CHECK(o.image_size >= 4 && o.image_size % 4 == 0, ValueError,
               std::string(who) + ": image_size = " + std::to_string(o.image_size) + " must be a positive multiple of 4");
  LATENT_CHECK(o.num_classes >= 0, ValueError,
               std::string(who) + ": num_classes = " + std::to_string(o.num_classes) + " must be non-negative");
  return o;
}
inline index_t conv_features(const ConvVaeOptions& o) { return 2 * o.channels * (o.image_size / 4) * (o.image_size / 4); }
}  // namespace vae_detail

template <Scalar T>
class ConvEncoder : public nn::Module<T> {
  ConvVaeOptions options_;

 public:
  nn::Conv2d<T> conv1, conv2;
  nn::Linear<T> fc, fc_mean, fc_logvar;

  ConvEncoder(const ConvVaeOptions& options, Rng& rng)
      : options_(vae_detail::validated(options, "ConvEncoder")),
        conv1({.in_channels = options.in_channels, .out_channels = options.channels, .kernel_size = 4, .stride = 2, .padding = 1}, rng),
        conv2({.in_channels = options.channels, .out_channels = 2 * options.channels, .kernel_size = 4, .stride = 2, .padding = 1}, rng),
        fc({.in_features = vae_detail::conv_features(options) + options.num_classes, .out_features = options.hidden}, rng),
        fc_mean({.in_features = options.hidden, .out_features = options.latent}, rng),
        fc_logvar({.in_features = options.hidden, .out_features = options.latent}, rng) {
    this->register_module("conv1", conv1);
    this->register_module("conv2", conv2);
    this->register_module("fc", fc);
    this->register_module("fc_mean", fc_mean);
    this->register_module("fc_logvar", fc_logvar);
  }
  const ConvVaeOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "ConvEncoder(in_channels=" + std::to_string(options_.in_channels) + ", image_size=" +
           std::to_string(options_.image_size) + ", channels=" + std::to_string(options_.channels) +
           ", latent=" + std::to_string(options_.latent) + ", num_classes=" + std::to_string(options_.num_classes) + ")";
  }

  DiagonalGaussian<T> encode(const Tensor<T>& x) { return run(x, nullptr); }
  DiagonalGaussian<T> encode(const Tensor<T>& x, const Tensor<std::int64_t>& labels) { return run(x, &labels); }

 private:
  DiagonalGaussian<T> run(const Tensor<T>& x, const Tensor<std::int64_t>* labels) {
    const index_t s = options_.image_size;
    LATENT_CHECK(x.rank() == 4 && x.size(1) == options_.in_channels && x.size(2) == s && x.size(3) == s, ShapeError,
                 repr() + ": input " + x.shape().str() + " must be [B, " + std::to_string(options_.in_channels) + ", " +
                     std::to_string(s) + ", " + std::to_string(s) + "]");
    const Tensor<T> features = flatten(relu(conv2(relu(conv1(x)))), 1);
    const Tensor<T> h = relu(fc(vae_detail::condition(features, labels, options_.num_classes, repr())));
    return {fc_mean(h), fc_logvar(h)};
  }
};

template <Scalar T>
class ConvDecoder : public nn::Module<T> {
  ConvVaeOptions options_;

 public:
  nn::Linear<T> fc, fc2;
  nn::ConvTranspose2d<T> deconv1, deconv2;

  ConvDecoder(const ConvVaeOptions& options, Rng& rng)
      : options_(vae_detail::validated(options, "ConvDecoder")),
        fc({.in_features = options.latent + options.num_classes, .out_features = options.hidden}, rng),
        fc2({.in_features = options.hidden, .out_features = vae_detail::conv_features(options)}, rng),
        deconv1({.in_channels = 2 * options.channels, .out_channels = options.channels, .kernel_size = 4, .stride = 2, .padding = 1}, rng),
        deconv2({.in_channels = options.channels, .out_channels = options.params_per_dim * options.in_channels,
                 .kernel_size = 4, .stride = 2, .padding = 1},
                rng) {
    this->register_module("fc", fc);
    this->register_module("fc2", fc2);
    this->register_module("deconv1", deconv1);
    this->register_module("deconv2", deconv2);
  }
  const ConvVaeOptions& options() const noexcept { return options_; }
  index_t latent_dim() const { return options_.latent; }
  std::string repr() const override {
    return "ConvDecoder(latent=" + std::to_string(options_.latent) + ", image_size=" + std::to_string(options_.image_size) +
           ", channels=" + std::to_string(options_.channels) + ", out_channels=" +
           std::to_string(options_.params_per_dim * options_.in_channels) + ", num_classes=" +
           std::to_string(options_.num_classes) + ")";
  }

  Tensor<T> decode(const Tensor<T>& z) { return run(z, nullptr); }
  Tensor<T> decode(const Tensor<T>& z, const Tensor<std::int64_t>& labels) { return run(z, &labels); }

 private:
  Tensor<T> run(const Tensor<T>& z, const Tensor<std::int64_t>* labels) {
    const index_t q = options_.image_size / 4;
    const Tensor<T> h = relu(fc2(relu(fc(vae_detail::condition(z, labels, options_.num_classes, repr())))));
    return deconv2(relu(deconv1(reshape(h, Shape{z.size(0), 2 * options_.channels, q, q}))));
  }
};

template <Scalar T, class Lik = BernoulliLikelihood>
using MlpVAE = VAE<MlpEncoder<T>, MlpDecoder<T>, Lik>;
template <Scalar T, class Lik = BernoulliLikelihood>
using ConvVAE = VAE<ConvEncoder<T>, ConvDecoder<T>, Lik>;

/// The MLP VAE with the decoder's output sized for `likelihood` (options.params_per_dim is overridden).
template <Scalar T, class Lik = BernoulliLikelihood>
std::unique_ptr<MlpVAE<T, Lik>> make_mlp_vae(MlpVaeOptions options, Rng& rng, Lik likelihood = {}, const VAEOptions& vae = {}) {
  options.params_per_dim = likelihood.params_per_dim();
  auto encoder = std::make_unique<MlpEncoder<T>>(options, rng);
  auto decoder = std::make_unique<MlpDecoder<T>>(options, rng);
  return std::make_unique<MlpVAE<T, Lik>>(std::move(encoder), std::move(decoder), std::move(likelihood), vae);
}

/// The convolutional VAE with the decoder's output sized for `likelihood`.
template <Scalar T, class Lik = BernoulliLikelihood>
std::unique_ptr<ConvVAE<T, Lik>> make_conv_vae(ConvVaeOptions options, Rng& rng, Lik likelihood = {}, const VAEOptions& vae = {}) {
  options.params_per_dim = likelihood.params_per_dim();
  auto encoder = std::make_unique<ConvEncoder<T>>(options, rng);
  auto decoder = std::make_unique<ConvDecoder<T>>(options, rng);
  return std::make_unique<ConvVAE<T, Lik>>(std::move(encoder), std::move(decoder), std::move(likelihood), vae);
}

}  // namespace latent
