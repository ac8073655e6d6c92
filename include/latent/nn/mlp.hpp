// MLP: Linear layers with an activation between them, built on Sequential, so its state_dict names
// are those of the PyTorch nn.Sequential(Linear, act, Linear, ...) it mirrors ("0.weight", "2.weight"); and TimeMLP,
// the time- (and class-) conditioned residual MLP that denoises points for diffusion and flow matching.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "activation.hpp"
#include "container.hpp"
#include "embedding.hpp"
#include "linear.hpp"

namespace latent::nn {

struct MLPOptions {
  index_t in = 0;
  std::vector<index_t> hidden = {};  // widths of the hidden layers; empty for a single Linear
  index_t out = 0;
  Activation activation = Activation::relu;
  bool bias = true;
};

/// in → hidden[0] → act → hidden[1] → act → … → out, no activation after the last Linear.
/// Parameters are initialised as PyTorch's Linear, layer by layer in order.
template <Scalar T>
class MLP : public Sequential<T> {
  MLPOptions options_;

 public:
  MLP(const MLPOptions& options, Rng& rng) : options_(validated(options)) {
    index_t width = options_.in;
    for (index_t h : options_.hidden) {
      this->template emplace<Linear<T>>(LinearOptions{.in_features = width, .out_features = h, .bias = options_.bias},
                                        rng);
      this->push_back(make_activation<T>(options_.activation));
      width = h;
    }
    this->template emplace<Linear<T>>(
        LinearOptions{.in_features = width, .out_features = options_.out, .bias = options_.bias}, rng);
  }

  const MLPOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "MLP" + Sequential<T>::repr().substr(10);
  }  // "MLP(Linear(...), ReLU(), ...)"

 private:
  static MLPOptions validated(const MLPOptions& o) {
    detail::check_positive("MLP", "in", o.in);
    detail::check_positive("MLP", "out", o.out);
    for (index_t h : o.hidden) detail::check_positive("MLP", "hidden width", h);
    return o;
  }
};

struct TimeMLPOptions {
  index_t in = 2;              ///< features of a point (also the output size)
  index_t hidden = 128;        ///< width of the residual stream
  index_t depth = 3;           ///< residual blocks
  index_t time_dim = 64;       ///< sinusoidal features of the time
  double time_scale = 1000.0;  ///< times t ∈ [0, 1] are multiplied by this before the sinusoidal features
  index_t num_classes = 0;     ///< > 0 adds a class embedding with num_classes + 1 rows (the last: the null class)
};

/// A residual block of TimeMLP: h + fc2(silu(fc1(silu(h)) + c)), c the time/class embedding.
template <Scalar T>
class TimeMLPBlock : public Module<T> {
 public:
  Linear<T> fc1, fc2;
  TimeMLPBlock(index_t width, Rng& rng)
      : fc1({.in_features = width, .out_features = width}, rng), fc2({.in_features = width, .out_features = width}, rng) {
    this->register_module("fc1", fc1);
    this->register_module("fc2", fc2);
  }
  std::string repr() const override { return "TimeMLPBlock(" + std::to_string(fc1.options().in_features) + ")"; }
  Tensor<T> operator()(const Tensor<T>& h, const Tensor<T>& c) { return add(h, fc2(silu(add(fc1(silu(h)), c)))); }
};

/// The denoiser for points (diffusion and flow matching on 2-D or tabular data), a models::Denoiser:
///   c = time_fc2(silu(time_fc1(sinusoidal(time_scale · t)))) [+ class_embedding(label)]
///   h = input(x);  h = block(h, c) for each block;  out = output(silu(h))
/// x [N, in], t [N] in [0, 1], labels [N] in [0, num_classes] (undefined when num_classes = 0) → [N, in].
/// Names: time_fc1, time_fc2, class_embedding, input, blocks.<i>.fc1/fc2, output.
template <Scalar T>
class TimeMLP : public Module<T> {
  TimeMLPOptions options_;

 public:
  Linear<T> time_fc1, time_fc2;
  std::unique_ptr<Embedding<T>> class_embedding;  // null when num_classes = 0
  Linear<T> input;
  ModuleList<T, TimeMLPBlock<T>> blocks;
  Linear<T> output;

  TimeMLP(const TimeMLPOptions& options, Rng& rng)
      : options_(validated(options)),
        time_fc1({.in_features = options.time_dim, .out_features = options.hidden}, rng),
        time_fc2({.in_features = options.hidden, .out_features = options.hidden}, rng),
        class_embedding(options.num_classes > 0
                            ? std::make_unique<Embedding<T>>(
                                  EmbeddingOptions{.num_embeddings = options.num_classes + 1, .embedding_dim = options.hidden}, rng)
                            : nullptr),
        input({.in_features = options.in, .out_features = options.hidden}, rng),
        output({.in_features = options.hidden, .out_features = options.in}, rng) {
    for (index_t i = 0; i < options_.depth; ++i) blocks.emplace_back(options_.hidden, rng);
    this->register_module("time_fc1", time_fc1);
    this->register_module("time_fc2", time_fc2);
    if (class_embedding) this->register_module("class_embedding", *class_embedding);
    this->register_module("input", input);
    this->register_module("blocks", blocks);
    this->register_module("output", output);
  }

  const TimeMLPOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "TimeMLP(in=" + std::to_string(options_.in) + ", hidden=" + std::to_string(options_.hidden) +
           ", depth=" + std::to_string(options_.depth) + ", num_classes=" + std::to_string(options_.num_classes) + ")";
  }

  Tensor<T> operator()(const Tensor<T>& x, const Tensor<T>& t, const Tensor<std::int64_t>& labels = {}) {
    LATENT_CHECK(x.rank() == 2 && x.size(1) == options_.in, ShapeError,
                 repr() + ": input " + x.shape().str() + " must be [N, " + std::to_string(options_.in) + "]");
    LATENT_CHECK(t.rank() == 1 && t.size(0) == x.size(0), ShapeError,
                 repr() + ": times " + t.shape().str() + " must be [" + std::to_string(x.size(0)) + "]");
    LATENT_CHECK(labels.defined() == (options_.num_classes > 0), ValueError,
                 repr() + (labels.defined() ? ": labels given to an unconditional network"
                                            : ": a class-conditional network needs labels"));
    auto c = time_fc2(silu(time_fc1(sinusoidal_embedding(mul_scalar(t.detach(), static_cast<T>(options_.time_scale)),
                                                         options_.time_dim))));
    if (class_embedding) {
      LATENT_CHECK(labels.rank() == 1 && labels.size(0) == x.size(0), ShapeError,
                   repr() + ": labels " + labels.shape().str() + " must be [" + std::to_string(x.size(0)) + "]");
      c = add(c, (*class_embedding)(labels));
    }
    auto h = input(x);
    for (auto& block : blocks) h = block(h, c);
    return output(silu(h));
  }

 private:
  static TimeMLPOptions validated(const TimeMLPOptions& o) {
    detail::check_positive("TimeMLP", "in", o.in);
    detail::check_positive("TimeMLP", "hidden", o.hidden);
    detail::check_positive("TimeMLP", "depth", o.depth);
    detail::check_positive("TimeMLP", "time_dim", o.time_dim);
    LATENT_CHECK(o.time_dim % 2 == 0, ValueError, "TimeMLP: time_dim = " + std::to_string(o.time_dim) + " must be even");
    LATENT_CHECK(o.num_classes >= 0, ValueError, "TimeMLP: num_classes = " + std::to_string(o.num_classes) + " must be >= 0");
    return o;
  }
};

}  // namespace latent::nn
