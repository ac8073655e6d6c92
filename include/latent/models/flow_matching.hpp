// FlowMatching<Net>: conditional flow matching with the straight-line path (rectified flow): the regression loss
// on the velocity x1 − x0, Euler/Heun ODE sampling, class conditioning with classifier-free guidance, EMA weights.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../autograd/grad_mode.hpp"
#include "../core/state_dict.hpp"
#include "concepts.hpp"
#define LATENT_INSIDE_MODELS
#include "detail/conditioning.hpp"
#undef LATENT_INSIDE_MODELS

namespace latent {

struct FlowMatchingOptions {
  std::int64_t num_classes = 0;  ///< > 0: class-conditional; the network sees labels in [0, num_classes]
  double label_dropout = 0.1;    ///< probability of replacing a label by the null class in training
  double ema_decay = 0.999;      ///< EMA of the weights (with warm-up); updated by train_step() / update_ema()
  bool sample_with_ema = true;   ///< sample with the EMA weights once they have been updated at least once
};

enum class FlowSampler { euler, heun };

inline std::string to_string(FlowSampler s) { return s == FlowSampler::euler ? "euler" : "heun"; }

struct FlowSampleOptions {
  FlowSampler sampler = FlowSampler::euler;
  std::int64_t steps = 100;      ///< ODE steps on a uniform grid of [0, 1]; Heun calls the network 2·steps times
  double guidance_scale = 1.0;   ///< classifier-free guidance scale (conditional models with labels)
  std::function<void(std::int64_t, std::int64_t)> on_step = {};  ///< (steps done, total)
};

/// Flow matching with the straight path x_t = (1 − t) x0 + t x1 from noise x0 ~ N(0, I) (t = 0) to data x1 (t = 1)
/// (Lipman et al. 2023; Liu et al. 2023): the network regresses the velocity u = x1 − x0 at (x_t, t, labels), and
/// sampling integrates dx/dt = v̂(x, t) from t = 0 to 1. The model refers to `net`, it does not own it.
template <class Net, Scalar T = float>
  requires Denoiser<Net, T>
class FlowMatching {
 public:
  explicit FlowMatching(Net& net, const FlowMatchingOptions& options = {})
      : net_(net), options_(options), conditioning_{options.num_classes, options.label_dropout, "FlowMatching"} {
    conditioning_.validate();
    LATENT_CHECK(options.ema_decay >= 0 && options.ema_decay <= 1, ValueError,
                 "FlowMatching: ema_decay = " + optim::detail::format_number(options.ema_decay) + " must be in [0, 1]");
    ema_ = models_detail::make_ema<T>(net_, options_.ema_decay);
  }
  FlowMatching(const FlowMatching&) = delete;
  FlowMatching& operator=(const FlowMatching&) = delete;

  Net& net() noexcept { return net_; }
  const FlowMatchingOptions& options() const noexcept { return options_; }
  optim::EMA<T>& ema() noexcept { return *ema_; }
  std::vector<Tensor<T>> parameters() const { return net_.parameters(); }

  /// MSE between v̂(x_t, t) and x1 − x0 with t ~ U(0, 1), x0 ~ N(0, I), x1 the data [N, ...]. Label dropout applies.
  Tensor<T> loss(const Tensor<T>& x1, Rng& rng, const Tensor<std::int64_t>& labels = {}) {
    LATENT_CHECK(x1.rank() >= 1 && x1.size(0) > 0, ShapeError, "FlowMatching.loss: data " + x1.shape().str() + " has no rows");
    const index_t n = x1.size(0);
    conditioning_.check(labels, n, "loss");
    auto t_row = Tensor<T>::empty(models_detail::row_shape(x1.shape()));
    for (index_t i = 0; i < n; ++i) t_row.data()[i] = rng.uniform<T>();
    const auto x0 = randn<T>(x1.shape(), rng);
    const auto x_t = add(x0, mul(t_row, sub(x1, x0)));
    const auto out = net_(x_t, reshape(t_row, {n}), conditioning_.drop(labels, rng));
    return mse_loss(out, sub(x1, x0));
  }

  /// One optimisation step: loss, zero_grad, backward, opt.step(), EMA update. Returns the loss value.
  template <class Optimizer>
  double train_step(const Tensor<T>& x1, Optimizer& opt, Rng& rng, const Tensor<std::int64_t>& labels = {}) {
    auto l = loss(x1, rng, labels);
    opt.zero_grad();
    l.backward();
    opt.step();
    update_ema();
    return static_cast<double>(l.item());
  }
  void update_ema() { ema_->update(); }

  /// v̂(x, t) with guidance.
  Tensor<T> velocity(const Tensor<T>& x, double t, const Tensor<std::int64_t>& labels = {}, double guidance_scale = 1.0) {
    NoGradGuard no_grad;
    return conditioning_.guided(net_, x, models_detail::time_column<T>(x.size(0), t), labels, guidance_scale);
  }

  /// Samples of `shape` (rows first) by integrating from N(0, I) at t = 0 to t = 1; uses the EMA weights when
  /// options().sample_with_ema and the EMA has been updated.
  Tensor<T> sample(const Shape& shape, Rng& rng, const FlowSampleOptions& o = {}, const Tensor<std::int64_t>& labels = {}) {
    LATENT_CHECK(shape.rank() >= 1 && shape[0] > 0, ShapeError, "FlowMatching.sample: shape " + shape.str() + " has no rows");
    LATENT_CHECK(o.steps >= 1, ValueError, "FlowMatching.sample: steps = " + std::to_string(o.steps) + " must be >= 1");
    if (labels.defined() || conditioning_.num_classes == 0) conditioning_.check(labels, shape[0], "sample");
    const auto guard = models_detail::swap_in_ema(*ema_, options_.sample_with_ema);
    auto field = [&](const Tensor<T>& x, double t) { return velocity(x, t, labels, o.guidance_scale); };
    return integrate(field, randn<T>(shape, rng), o);
  }

  /// Integrates dx/dt = field(x, t) over [0, 1] in o.steps uniform steps: Euler, or Heun's second-order
  /// predictor-corrector x' = x + h/2 (v(x, t) + v(x + h v(x, t), t + h)).
  template <class Field>
  static Tensor<T> integrate(Field&& field, Tensor<T> x, const FlowSampleOptions& o) {
    NoGradGuard no_grad;
    const double h = 1.0 / double(o.steps);
    for (std::int64_t k = 0; k < o.steps; ++k) {
      const double t = double(k) * h;
      const auto v = field(x, t);
      if (o.sampler == FlowSampler::euler) {
        x = add(x, mul_scalar(v, static_cast<T>(h)));
      } else {
        const auto v_next = field(add(x, mul_scalar(v, static_cast<T>(h))), t + h);
        x = add(x, mul_scalar(add(v, v_next), static_cast<T>(h / 2)));
      }
      if (o.on_step) o.on_step(k + 1, o.steps);
    }
    return x;
  }

  /// "net.<name>" for the weights, "ema.<...>" for the EMA state.
  StateDict state_dict() const { return models_detail::model_state_dict<T>(net_, *ema_); }
  /// The weights used for sampling under the network's own names (EMA averages when they are used).
  StateDict sampling_state_dict() requires requires(Net& n) { n.state_dict(); } {
    return models_detail::sampling_state_dict<T>(net_, *ema_, options_.sample_with_ema);
  }
  void load_state_dict(const StateDict& sd) requires requires(Net& n, const StateDict& s) { n.load_state_dict(s); } {
    net_.load_state_dict(sd.sub("net"));
    ema_->load_state_dict(sd.sub("ema"));
  }

 private:
  Net& net_;
  FlowMatchingOptions options_;
  models_detail::Conditioning conditioning_;
  std::unique_ptr<optim::EMA<T>> ema_;
};

}  // namespace latent
