// Normalisation layers over ops/norm.hpp: BatchNorm1d/2d (running statistics, PyTorch's buffers),
// LayerNorm and GroupNorm, with PyTorch's options, defaults and state_dict names.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "../ops/norm.hpp"
#include "init.hpp"
#include "module.hpp"

namespace latent::nn {

struct BatchNormOptions {
  index_t num_features = 0;
  double eps = 1e-5;
  /// Weight of the newest batch in the running statistics; std::nullopt for a cumulative average
  /// (PyTorch's momentum=None: the factor is 1 / num_batches_tracked).
  std::optional<double> momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
};

/// Batch normalisation over the channel dimension 1 of [N, C] or [N, C, L] (BatchNorm1d) or
/// [N, C, H, W] (BatchNorm2d). Training: normalise with the batch's mean and biased variance, and
/// update running_mean/running_var (the unbiased variance) with `momentum`; evaluation: normalise with
/// the running statistics. Buffers as in PyTorch: running_mean (zeros), running_var (ones),
/// num_batches_tracked (int64 scalar); parameters weight (ones) and bias (zeros) when affine.
template <Scalar T, int MinRank, int MaxRank>
class BatchNormBase : public UnaryModule<T> {
  BatchNormOptions options_;
  const char* name_;

 public:
  Tensor<T>& weight;                          // undefined unless affine
  Tensor<T>& bias;                            // undefined unless affine
  Tensor<T>& running_mean;                    // undefined unless track_running_stats
  Tensor<T>& running_var;                     // undefined unless track_running_stats
  Tensor<std::int64_t>& num_batches_tracked;  // undefined unless track_running_stats

  BatchNormBase(const char* name, const BatchNormOptions& options)
      : options_(validated(name, options)),
        name_(name),
        weight(this->register_parameter("weight", options.affine ? ones<T>({options.num_features}) : Tensor<T>())),
        bias(this->register_parameter("bias", options.affine ? zeros<T>({options.num_features}) : Tensor<T>())),
        running_mean(this->register_buffer(
            "running_mean", options.track_running_stats ? zeros<T>({options.num_features}) : Tensor<T>())),
        running_var(this->register_buffer("running_var",
                                          options.track_running_stats ? ones<T>({options.num_features}) : Tensor<T>())),
        num_batches_tracked(this->register_buffer("num_batches_tracked", options.track_running_stats
                                                                             ? zeros<std::int64_t>(Shape{})
                                                                             : Tensor<std::int64_t>())) {}

  const BatchNormOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return std::string(name_) + "(" + std::to_string(options_.num_features) +
           ", eps=" + detail::double_str(options_.eps) +
           ", momentum=" + (options_.momentum ? detail::double_str(*options_.momentum) : std::string("None")) +
           ", affine=" + detail::bool_str(options_.affine) +
           ", track_running_stats=" + detail::bool_str(options_.track_running_stats) + ")";
  }

  /// Resets running_mean to 0, running_var to 1 and num_batches_tracked to 0.
  void reset_running_stats() {
    if (!options_.track_running_stats) return;
    init::zeros_(running_mean);
    init::ones_(running_var);
    num_batches_tracked.data()[0] = 0;
  }

  Tensor<T> forward(const Tensor<T>& x) override {
    const BatchNormArgs<T> a = functional_args(x);
    return batch_norm(x, a.running_mean, a.running_var, a.weight, a.bias, a.training, a.momentum, a.eps);
  }

  /// What forward(x) passes to the functional batch_norm besides x, after checking x and counting the batch (in
  /// training): for fused ops that take a batch norm's arguments (batch_norm_relu_conv2d, ...). Call once per batch.
  BatchNormArgs<T> functional_args(const Tensor<T>& x) {
    const bool rank_ok = x.rank() >= MinRank && x.rank() <= MaxRank;
    LATENT_CHECK(
        rank_ok, ShapeError,
        repr() + ": input " + x.shape().str() + " must be " + (MaxRank == 4 ? "[N, C, H, W]" : "[N, C] or [N, C, L]"));
    LATENT_CHECK(x.shape()[1] == options_.num_features, ShapeError,
                 repr() + ": input " + x.shape().str() + " has " + std::to_string(x.shape()[1]) +
                     " channels, expected " + std::to_string(options_.num_features));
    const bool training = this->is_training();
    double factor = 0.0;
    if (training && options_.track_running_stats) {
      num_batches_tracked.data()[0] += 1;
      factor = options_.momentum ? *options_.momentum : 1.0 / static_cast<double>(num_batches_tracked.data()[0]);
    }
    // As PyTorch: batch statistics in training or when no running statistics are tracked.
    return {running_mean, running_var, weight, bias, training || !options_.track_running_stats, factor, options_.eps};
  }

 private:
  static BatchNormOptions validated(const char* name, const BatchNormOptions& o) {
    detail::check_positive(name, "num_features", o.num_features);
    LATENT_CHECK(o.eps > 0.0, ValueError,
                 std::string(name) + ": eps = " + detail::double_str(o.eps) + " must be positive");
    LATENT_CHECK(
        !o.momentum || (*o.momentum >= 0.0 && *o.momentum <= 1.0), ValueError,
        std::string(name) + ": momentum = " + detail::double_str(o.momentum.value_or(0.0)) + " is not in [0, 1]");
    return o;
  }
};

/// BatchNorm1d: input [N, C] or [N, C, L].
template <Scalar T>
class BatchNorm1d : public BatchNormBase<T, 2, 3> {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options) : BatchNormBase<T, 2, 3>("BatchNorm1d", options) {}
};
/// BatchNorm2d: input [N, C, H, W].
template <Scalar T>
class BatchNorm2d : public BatchNormBase<T, 4, 4> {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options) : BatchNormBase<T, 4, 4>("BatchNorm2d", options) {}
};

struct LayerNormOptions {
  std::vector<index_t> normalized_shape = {};
  double eps = 1e-5;
  bool elementwise_affine = true;
  bool bias = true;  // PyTorch ≥ 2.1's LayerNorm(bias=False): weight only (GPT-style blocks)
};

/// Normalises over the trailing dimensions `normalized_shape`, then y = x̂ ⊙ weight + bias with
/// weight (ones) and bias (zeros) of that shape when elementwise_affine.
template <Scalar T>
class LayerNorm : public UnaryModule<T> {
  LayerNormOptions options_;

 public:
  Tensor<T>& weight;  // undefined unless elementwise_affine
  Tensor<T>& bias;    // undefined unless elementwise_affine and bias

  explicit LayerNorm(const LayerNormOptions& options)
      : options_(validated(options)),
        weight(this->register_parameter(
            "weight", options.elementwise_affine ? ones<T>(Shape(options.normalized_shape)) : Tensor<T>())),
        bias(this->register_parameter("bias", options.elementwise_affine && options.bias
                                                  ? zeros<T>(Shape(options.normalized_shape))
                                                  : Tensor<T>())) {}

  const LayerNormOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    std::string s = "LayerNorm((";
    for (std::size_t i = 0; i < options_.normalized_shape.size(); ++i)
      s += (i ? ", " : "") + std::to_string(options_.normalized_shape[i]);
    if (options_.normalized_shape.size() == 1) s += ",";
    return s + "), eps=" + detail::double_str(options_.eps) +
           ", elementwise_affine=" + detail::bool_str(options_.elementwise_affine) +
           (options_.elementwise_affine && !options_.bias ? ", bias=false" : "") + ")";
  }

  Tensor<T> forward(const Tensor<T>& x) override {
    const int n = static_cast<int>(options_.normalized_shape.size());
    bool ok = x.rank() >= n;
    for (int i = 0; ok && i < n; ++i)
      ok = x.shape()[x.rank() - n + i] == options_.normalized_shape[static_cast<std::size_t>(i)];
    LATENT_CHECK(ok, ShapeError,
                 repr() + ": input " + x.shape().str() + " does not end with the normalized shape " +
                     Shape(options_.normalized_shape).str());
    return layer_norm(x, n, weight, bias, options_.eps);
  }

 private:
  static LayerNormOptions validated(const LayerNormOptions& o) {
    LATENT_CHECK(!o.normalized_shape.empty(), ValueError, "LayerNorm: normalized_shape is empty");
    for (index_t d : o.normalized_shape)
      LATENT_CHECK(d > 0, ValueError,
                   "LayerNorm: normalized_shape " + Shape(o.normalized_shape).str() + " has a non-positive size");
    LATENT_CHECK(o.eps > 0.0, ValueError, "LayerNorm: eps = " + detail::double_str(o.eps) + " must be positive");
    return o;
  }
};

struct GroupNormOptions {
  index_t num_groups = 0;
  index_t num_channels = 0;
  double eps = 1e-5;
  bool affine = true;
};

/// Splits the C channels of [N, C, ...] into num_groups groups, normalises each group of each sample,
/// then applies per-channel weight (ones) and bias (zeros) when affine.
template <Scalar T>
class GroupNorm : public UnaryModule<T> {
  GroupNormOptions options_;

 public:
  Tensor<T>& weight;  // undefined unless affine
  Tensor<T>& bias;    // undefined unless affine

  explicit GroupNorm(const GroupNormOptions& options)
      : options_(validated(options)),
        weight(this->register_parameter("weight", options.affine ? ones<T>({options.num_channels}) : Tensor<T>())),
        bias(this->register_parameter("bias", options.affine ? zeros<T>({options.num_channels}) : Tensor<T>())) {}

  const GroupNormOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "GroupNorm(" + std::to_string(options_.num_groups) + ", " + std::to_string(options_.num_channels) +
           ", eps=" + detail::double_str(options_.eps) + ", affine=" + detail::bool_str(options_.affine) + ")";
  }

  Tensor<T> forward(const Tensor<T>& x) override {
    LATENT_CHECK(
        x.rank() >= 2 && x.shape()[1] == options_.num_channels, ShapeError,
        repr() + ": input " + x.shape().str() + " must be [N, " + std::to_string(options_.num_channels) + ", ...]");
    return group_norm(x, options_.num_groups, weight, bias, options_.eps);
  }

 private:
  static GroupNormOptions validated(const GroupNormOptions& o) {
    detail::check_positive("GroupNorm", "num_groups", o.num_groups);
    detail::check_positive("GroupNorm", "num_channels", o.num_channels);
    LATENT_CHECK(o.num_channels % o.num_groups == 0, ValueError,
                 "GroupNorm: num_channels = " + std::to_string(o.num_channels) +
                     " is not divisible by num_groups = " + std::to_string(o.num_groups));
    LATENT_CHECK(o.eps > 0.0, ValueError, "GroupNorm: eps = " + detail::double_str(o.eps) + " must be positive");
    return o;
  }
};

}  // namespace latent::nn
