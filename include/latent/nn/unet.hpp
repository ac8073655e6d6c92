// UNet: the small image denoiser of diffusion and flow-matching models (DDPM's architecture, scaled down for
// 28×28 images): residual blocks conditioned on a time (and class) embedding, GroupNorm, SiLU, strided-convolution
// downsampling, nearest-neighbour upsampling, skip connections and self-attention at the lowest resolution.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../ops/activation.hpp"
#include "../ops/conv.hpp"
#include "attention.hpp"
#include "container.hpp"
#include "conv.hpp"
#include "embedding.hpp"
#include "linear.hpp"
#include "module.hpp"
#include "norm.hpp"

namespace latent::nn {

struct UNetOptions {
  index_t in_channels = 1;
  index_t out_channels = 0;                     ///< 0: the same as in_channels
  index_t base_channels = 32;                   ///< channels of conv_in; level l has base_channels · channel_mult[l]
  std::vector<index_t> channel_mult = {1, 2, 2};  ///< one entry per resolution: 28×28, 14×14, 7×7
  index_t num_res_blocks = 2;                   ///< residual blocks per level (down and up)
  index_t groups = 8;                           ///< GroupNorm groups; divides every channel count
  bool attention = true;                        ///< self-attention between the two middle blocks (lowest resolution)
  index_t num_heads = 4;                        ///< heads of that attention; divides its channels
  index_t time_dim = 0;                         ///< sinusoidal time features; 0: base_channels
  double time_scale = 1000.0;                   ///< times t ∈ [0, 1] are multiplied by this before the sinusoids (as TimeMLP)
  index_t num_classes = 0;                      ///< > 0 adds a class embedding with num_classes + 1 rows (the last: null class)
};

/// h = conv1(silu(norm1(x))) + emb_proj(silu(emb));  out = skip(x) + conv2(silu(norm2(h))), skip a 1×1 convolution
/// when the channel count changes (the identity otherwise).
template <Scalar T>
class UNetResBlock : public Module<T> {
 public:
  GroupNorm<T> norm1;
  Conv2d<T> conv1;
  Linear<T> emb_proj;
  GroupNorm<T> norm2;
  Conv2d<T> conv2;
  std::unique_ptr<Conv2d<T>> skip;  // null when in_channels == out_channels

  UNetResBlock(index_t in_channels, index_t out_channels, index_t emb_dim, index_t groups, Rng& rng)
      : norm1({.num_groups = groups, .num_channels = in_channels}),
        conv1({.in_channels = in_channels, .out_channels = out_channels, .kernel_size = 3, .padding = 1}, rng),
        emb_proj({.in_features = emb_dim, .out_features = out_channels}, rng),
        norm2({.num_groups = groups, .num_channels = out_channels}),
        conv2({.in_channels = out_channels, .out_channels = out_channels, .kernel_size = 3, .padding = 1}, rng),
        skip(in_channels == out_channels
                 ? nullptr
                 : std::make_unique<Conv2d<T>>(Conv2dOptions{.in_channels = in_channels, .out_channels = out_channels, .kernel_size = 1},
                                               rng)) {
    this->register_module("norm1", norm1);
    this->register_module("conv1", conv1);
    this->register_module("emb_proj", emb_proj);
    this->register_module("norm2", norm2);
    this->register_module("conv2", conv2);
    if (skip) this->register_module("skip", *skip);
  }
  std::string repr() const override {
    return "UNetResBlock(" + std::to_string(conv1.options().in_channels) + ", " + std::to_string(conv1.options().out_channels) + ")";
  }

  /// x [N, in, H, W], emb_act = silu(embedding) [N, emb_dim] → [N, out, H, W].
  Tensor<T> operator()(const Tensor<T>& x, const Tensor<T>& emb_act) {
    const index_t N = x.size(0), C = conv1.options().out_channels;
    Tensor<T> h = conv1(silu(norm1(x)));
    h = add(h, reshape(emb_proj(emb_act), Shape{N, C, 1, 1}));
    h = conv2(silu(norm2(h)));
    return add(skip ? (*skip)(x) : x, h);
  }
};

/// x + attn(tokens(norm(x))): multi-head self-attention over the H·W positions of x [N, C, H, W].
template <Scalar T>
class UNetAttention : public Module<T> {
 public:
  GroupNorm<T> norm;
  MultiHeadAttention<T> attn;

  UNetAttention(index_t channels, index_t num_heads, index_t groups, Rng& rng)
      : norm({.num_groups = groups, .num_channels = channels}), attn({.embed_dim = channels, .num_heads = num_heads}, rng) {
    this->register_module("norm", norm);
    this->register_module("attn", attn);
  }
  std::string repr() const override { return "UNetAttention(" + attn.repr() + ")"; }

  Tensor<T> operator()(const Tensor<T>& x) {
    const index_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const Tensor<T> tokens = permute(reshape(norm(x), Shape{N, C, H * W}), {0, 2, 1});  // [N, HW, C]
    return add(x, reshape(permute(attn(tokens), {0, 2, 1}), x.shape()));
  }
};

/// One resolution of the UNet: its residual blocks, then (down path) a stride-2 3×3 convolution or (up path)
/// nearest-neighbour ×2 upsampling followed by a 3×3 convolution; the last level of each path has no resampling.
template <Scalar T>
class UNetLevel : public Module<T> {
 public:
  ModuleList<T, UNetResBlock<T>> blocks;
  std::unique_ptr<Conv2d<T>> resample;  // "downsample" or "upsample"; null at the last level of a path

  UNetLevel(bool down, index_t in_channels, index_t channels, index_t num_blocks, bool resampled, index_t emb_dim, index_t groups,
            Rng& rng)
      : down_(down) {
    for (index_t i = 0; i < num_blocks; ++i) blocks.emplace_back(i == 0 ? in_channels : channels, channels, emb_dim, groups, rng);
    this->register_module("blocks", blocks);
    if (resampled) {
      resample = std::make_unique<Conv2d<T>>(
          Conv2dOptions{.in_channels = channels, .out_channels = channels, .kernel_size = 3, .stride = down ? 2 : 1, .padding = 1}, rng);
      this->register_module(down ? "downsample" : "upsample", *resample);
    }
  }
  std::string repr() const override { return std::string("UNetLevel(") + (down_ ? "down" : "up") + ")"; }

  Tensor<T> blocks_forward(Tensor<T> h, const Tensor<T>& emb_act) {
    for (auto& block : blocks) h = block(h, emb_act);
    return h;
  }
  Tensor<T> resample_forward(const Tensor<T>& h) {
    if (!resample) return h;
    return down_ ? (*resample)(h) : (*resample)(upsample_nearest2d(h, Pair{2, 2}));
  }

 private:
  bool down_;
};

/// The image denoiser, a models::Denoiser: x [N, in_channels, H, W], t [N] (in [0, 1] with the default time_scale),
/// labels [N] in [0, num_classes] (num_classes is the null class of classifier-free guidance; undefined labels mean
/// the null class; unconditional networks take no labels) → [N, out_channels, H, W]. H and W must be divisible by
/// 2^(levels - 1) (28×28 with the default three levels).
///
///   emb = time_fc2(silu(time_fc1(sinusoidal(time_scale · t)))) [+ class_embedding(label)]   (4 · base_channels)
///   h = conv_in(x);  down level l: h = blocks(h), skip_l = h, h = downsample(h)
///   h = mid_block2(mid_attn(mid_block1(h)))
///   up level l (deepest first): h = blocks(cat(h, skip_l)), h = upsample(h)
///   out = conv_out(silu(out_norm(h)))
/// Names: time_fc1, time_fc2, class_embedding, conv_in, down.<l>.blocks.<i>.{norm1,conv1,emb_proj,norm2,conv2,skip},
/// down.<l>.downsample, mid_block1, mid_attn.{norm,attn}, mid_block2, up.<i> (deepest first) with blocks and upsample,
/// out_norm, conv_out. The default (base 32, mult {1,2,2}, 2 blocks, attention) has 1,168,673 parameters.
template <Scalar T>
class UNet : public Module<T> {
  UNetOptions options_;

 public:
  Linear<T> time_fc1, time_fc2;
  std::unique_ptr<Embedding<T>> class_embedding;  // null when num_classes = 0
  Conv2d<T> conv_in;
  ModuleList<T, UNetLevel<T>> down;
  UNetResBlock<T> mid_block1;
  std::unique_ptr<UNetAttention<T>> mid_attn;  // null when !attention
  UNetResBlock<T> mid_block2;
  ModuleList<T, UNetLevel<T>> up;  // deepest level first
  GroupNorm<T> out_norm;
  Conv2d<T> conv_out;

  UNet(const UNetOptions& options, Rng& rng)
      : options_(validated(options)),
        time_fc1({.in_features = options_.time_dim, .out_features = emb_dim()}, rng),
        time_fc2({.in_features = emb_dim(), .out_features = emb_dim()}, rng),
        class_embedding(options_.num_classes > 0 ? std::make_unique<Embedding<T>>(
                                                       EmbeddingOptions{.num_embeddings = options_.num_classes + 1, .embedding_dim = emb_dim()}, rng)
                                                 : nullptr),
        conv_in({.in_channels = options_.in_channels, .out_channels = options_.base_channels, .kernel_size = 3, .padding = 1}, rng),
        mid_block1(channels(levels() - 1), channels(levels() - 1), emb_dim(), options_.groups, rng),
        mid_attn(options_.attention ? std::make_unique<UNetAttention<T>>(channels(levels() - 1), options_.num_heads, options_.groups, rng)
                                    : nullptr),
        mid_block2(channels(levels() - 1), channels(levels() - 1), emb_dim(), options_.groups, rng),
        out_norm({.num_groups = options_.groups, .num_channels = channels(0)}),
        conv_out({.in_channels = channels(0), .out_channels = options_.out_channels, .kernel_size = 3, .padding = 1}, rng) {
    const index_t L = levels();
    for (index_t l = 0; l < L; ++l)
      down.emplace_back(true, l == 0 ? options_.base_channels : channels(l - 1), channels(l), options_.num_res_blocks, l + 1 < L, emb_dim(),
                        options_.groups, rng);
    for (index_t l = L - 1; l >= 0; --l)
      up.emplace_back(false, (l == L - 1 ? channels(L - 1) : channels(l + 1)) + channels(l), channels(l), options_.num_res_blocks, l > 0,
                      emb_dim(), options_.groups, rng);
    this->register_module("time_fc1", time_fc1);
    this->register_module("time_fc2", time_fc2);
    if (class_embedding) this->register_module("class_embedding", *class_embedding);
    this->register_module("conv_in", conv_in);
    this->register_module("down", down);
    this->register_module("mid_block1", mid_block1);
    if (mid_attn) this->register_module("mid_attn", *mid_attn);
    this->register_module("mid_block2", mid_block2);
    this->register_module("up", up);
    this->register_module("out_norm", out_norm);
    this->register_module("conv_out", conv_out);
  }

  const UNetOptions& options() const noexcept { return options_; }
  index_t levels() const noexcept { return static_cast<index_t>(options_.channel_mult.size()); }
  /// The label meaning "no class" (classifier-free guidance's unconditional branch).
  index_t null_label() const noexcept { return options_.num_classes; }
  std::string repr() const override {
    std::string mult;
    for (std::size_t i = 0; i < options_.channel_mult.size(); ++i) mult += (i ? "," : "") + std::to_string(options_.channel_mult[i]);
    return "UNet(in_channels=" + std::to_string(options_.in_channels) + ", base_channels=" + std::to_string(options_.base_channels) +
           ", channel_mult={" + mult + "}, num_res_blocks=" + std::to_string(options_.num_res_blocks) +
           ", num_classes=" + std::to_string(options_.num_classes) + ")";
  }

  Tensor<T> operator()(const Tensor<T>& x, const Tensor<T>& t, const Tensor<std::int64_t>& labels = {}) { return forward(x, t, labels); }

  Tensor<T> forward(const Tensor<T>& x, const Tensor<T>& t, const Tensor<std::int64_t>& labels = {}) {
    const index_t factor = index_t{1} << (levels() - 1);
    LATENT_CHECK(x.rank() == 4 && x.size(1) == options_.in_channels, ShapeError,
                 repr() + ": input " + x.shape().str() + " must be [N, " + std::to_string(options_.in_channels) + ", H, W]");
    LATENT_CHECK(x.size(2) % factor == 0 && x.size(3) % factor == 0, ShapeError,
                 repr() + ": input " + x.shape().str() + ": height and width must be divisible by " + std::to_string(factor));
    const index_t N = x.size(0);
    LATENT_CHECK(t.rank() == 1 && t.size(0) == N, ShapeError, repr() + ": times " + t.shape().str() + " must be [" + std::to_string(N) + "]");
    LATENT_CHECK(!labels.defined() || class_embedding, ValueError, repr() + ": labels given to an unconditional network");

    Tensor<T> emb =
        time_fc2(silu(time_fc1(sinusoidal_embedding(mul_scalar(t.detach(), static_cast<T>(options_.time_scale)), options_.time_dim))));
    if (class_embedding) {
      Tensor<std::int64_t> ids = labels;
      if (!ids.defined()) ids = full<std::int64_t>({N}, null_label());
      LATENT_CHECK(ids.rank() == 1 && ids.size(0) == N, ShapeError,
                   repr() + ": labels " + ids.shape().str() + " must be [" + std::to_string(N) + "]");
      emb = add(emb, (*class_embedding)(ids));
    }
    const Tensor<T> emb_act = silu(emb);

    std::vector<Tensor<T>> skips;
    Tensor<T> h = conv_in(x);
    for (auto& level : down) {
      h = level.blocks_forward(h, emb_act);
      skips.push_back(h);
      h = level.resample_forward(h);
    }
    h = mid_block1(h, emb_act);
    if (mid_attn) h = (*mid_attn)(h);
    h = mid_block2(h, emb_act);
    for (auto& level : up) {
      h = level.blocks_forward(cat({h, skips.back()}, 1), emb_act);
      skips.pop_back();
      h = level.resample_forward(h);
    }
    return conv_out(silu(out_norm(h)));
  }

 private:
  index_t emb_dim() const noexcept { return 4 * options_.base_channels; }
  index_t channels(index_t level) const { return options_.base_channels * options_.channel_mult[static_cast<std::size_t>(level)]; }

  static UNetOptions validated(UNetOptions o) {
    detail::check_positive("UNet", "in_channels", o.in_channels);
    LATENT_CHECK(o.out_channels >= 0, ValueError, "UNet: out_channels = " + std::to_string(o.out_channels) + " must be >= 0");
    if (o.out_channels == 0) o.out_channels = o.in_channels;
    detail::check_positive("UNet", "base_channels", o.base_channels);
    LATENT_CHECK(!o.channel_mult.empty(), ValueError, "UNet: channel_mult is empty");
    detail::check_positive("UNet", "num_res_blocks", o.num_res_blocks);
    detail::check_positive("UNet", "groups", o.groups);
    LATENT_CHECK(o.base_channels % o.groups == 0, ValueError,
                 "UNet: base_channels = " + std::to_string(o.base_channels) + " is not divisible by groups = " + std::to_string(o.groups));
    for (index_t m : o.channel_mult) detail::check_positive("UNet", "channel_mult entry", m);
    const index_t lowest = o.base_channels * o.channel_mult.back();
    if (o.attention) {
      detail::check_positive("UNet", "num_heads", o.num_heads);
      LATENT_CHECK(lowest % o.num_heads == 0, ValueError,
                   "UNet: " + std::to_string(lowest) + " channels at the lowest resolution are not divisible by num_heads = " +
                       std::to_string(o.num_heads));
    }
    LATENT_CHECK(o.time_dim >= 0 && o.time_dim % 2 == 0, ValueError,
                 "UNet: time_dim = " + std::to_string(o.time_dim) + " must be even (0: base_channels)");
    if (o.time_dim == 0) o.time_dim = o.base_channels + o.base_channels % 2;
    LATENT_CHECK(o.num_classes >= 0, ValueError, "UNet: num_classes = " + std::to_string(o.num_classes) + " must be >= 0");
    return o;
  }
};

}  // namespace latent::nn
