// Concepts for the parts of the model families: Denoiser (diffusion / flow-matching networks), NoiseSchedule,
// and the VAE's Encoder and Decoder.
// A part that does not fit is rejected at the model's template with the concept's name.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace latent {

/// A network that maps a noisy batch x [N, ...], a time t [N] in [0, 1] and class labels [N] (int64; an undefined
/// tensor for an unconditional call) to a tensor shaped like x, and exposes its parameters (for optimizers and EMA).
/// nn::TimeMLP is one; any Module with this call operator is another.
template <class Net, class T>
concept Denoiser = requires(Net& net, const Tensor<T>& x, const Tensor<T>& t, const Tensor<std::int64_t>& labels) {
  { net(x, t, labels) } -> std::convertible_to<Tensor<T>>;
  { net.parameters() } -> std::convertible_to<std::vector<Tensor<T>>>;
};

/// A noise schedule: alpha_bars(T) gives ᾱ_1 … ᾱ_T (index i holds ᾱ after i + 1 noising steps), strictly
/// decreasing in (0, 1); name() names it in messages and checkpoints.
template <class S>
concept NoiseSchedule = requires(const S& s, std::int64_t steps) {
  { s.alpha_bars(steps) } -> std::same_as<std::vector<double>>;
  { s.name() } -> std::convertible_to<std::string>;
};

/// A VAE encoder maps x [B, ...] (and, when conditional, labels [B]) to q(z | x): a result with members mean
/// and logvar, each [B, latent_dim]. models/vae_nets.hpp has an MLP and a convolutional one.
template <class E, class T>
concept Encoder = requires(E& e) {
  { e.parameters() } -> std::convertible_to<std::vector<Tensor<T>>>;
} && (requires(E& e, const Tensor<T>& x) {
  { e.encode(x).mean } -> std::convertible_to<Tensor<T>>;
  { e.encode(x).logvar } -> std::convertible_to<Tensor<T>>;
} || requires(E& e, const Tensor<T>& x, const Tensor<std::int64_t>& labels) {
  { e.encode(x, labels).mean } -> std::convertible_to<Tensor<T>>;
  { e.encode(x, labels).logvar } -> std::convertible_to<Tensor<T>>;
});

/// A VAE decoder maps z [B, latent_dim()] (and, when conditional, labels [B]) to the likelihood's parameters:
/// [B, P·C, ...] for data [B, C, ...], or [B, P·D] flat, with P parameters per data dimension.
template <class D, class T>
concept Decoder = requires(D& d, const D& cd) {
  { d.parameters() } -> std::convertible_to<std::vector<Tensor<T>>>;
  { cd.latent_dim() } -> std::convertible_to<index_t>;
} && (requires(D& d, const Tensor<T>& z) {
  { d.decode(z) } -> std::convertible_to<Tensor<T>>;
} || requires(D& d, const Tensor<T>& z, const Tensor<std::int64_t>& labels) {
  { d.decode(z, labels) } -> std::convertible_to<Tensor<T>>;
});

}  // namespace latent

namespace latent {

/// A GAN generator maps noise z [B, latent_dim] to samples [B, ...] and exposes its parameters.
template <class G, class T>
concept Generator = requires(G& g, const Tensor<T>& z) {
  { g(z) } -> std::convertible_to<Tensor<T>>;
  { g.parameters() } -> std::convertible_to<std::vector<Tensor<T>>>;
};

/// A GAN discriminator (critic) maps samples [B, ...] to one real-valued score (a logit) per sample: [B] or [B, 1].
template <class D, class T>
concept Discriminator = requires(D& d, const Tensor<T>& x) {
  { d(x) } -> std::convertible_to<Tensor<T>>;
  { d.parameters() } -> std::convertible_to<std::vector<Tensor<T>>>;
};

}  // namespace latent
