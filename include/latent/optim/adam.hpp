// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay) with torch 1.13's
// formulas, option names, defaults and checks. The update is one fused kernel per parameter (kernels/adam.hpp).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/factory.hpp"
#include "../kernels/adam.hpp"
#include "optimizer.hpp"

namespace latent::optim {

/// torch.optim.Adam's options and defaults.
struct AdamOptions {
  double lr = 1e-3;
  std::array<double, 2> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

/// torch.optim.AdamW's options and defaults (weight_decay = 1e-2).
struct AdamWOptions {
  double lr = 1e-3;
  std::array<double, 2> betas{0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

template <Scalar T>
struct AdamState {
  std::int64_t step = 0;  // steps this parameter took (one with a gradient); 0: no state yet
  Tensor<T> exp_avg;
  Tensor<T> exp_avg_sq;
  Tensor<T> max_exp_avg_sq;  // amsgrad only
};

namespace detail {

/// Adam and AdamW differ only in where weight decay enters (Decoupled = AdamW). At step t of a parameter:
///   g ← g + wd p  (Adam)                 p ← p (1 − lr wd)  (AdamW)
///   m ← β1 m + (1 − β1) g                v ← β2 v + (1 − β2) g²          v̂ ← max(v̂, v) with amsgrad, else v
///   p ← p − lr / (1 − β1^t) · m / (√v̂ / √(1 − β2^t) + eps)
/// (eps is added after the bias correction of √v, as torch does.) State: step, exp_avg, exp_avg_sq,
/// max_exp_avg_sq; options: lr, betas, eps, weight_decay, amsgrad.
template <Scalar T, class Options, bool Decoupled>
class AdamBase : public BasicOptimizer<T, Options, AdamState<T>> {
  using Base = BasicOptimizer<T, Options, AdamState<T>>;

 public:
  void step() override {
    allocate_state();
    for (std::size_t g = 0; g < this->options_.size(); ++g) {
      const Options& o = this->options_[g];
      const double beta1 = o.betas[0], beta2 = o.betas[1];
      for (std::size_t i = this->group_begin(g); i < this->group_end(g); ++i) {
        const Tensor<T>& p = this->params_[i];
        const Tensor<T> grad = p.grad();
        if (!grad.defined()) continue;
        check_gradient(this->name_, i, p, grad);
        AdamState<T>& s = this->state_[i];
        if (o.amsgrad && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = zeros<T>(p.shape());
        ++s.step;
        // Scalars in double (torch's Python floats), rounded to T where torch applies them to T tensors.
        const double t = static_cast<double>(s.step);
        const double bias_correction1 = 1.0 - std::pow(beta1, t);
        const double bias_correction2 = 1.0 - std::pow(beta2, t);
        const double step_size = o.lr / bias_correction1;
        const kernels::AdamStep<T> k{
            static_cast<T>(beta1),
            static_cast<T>(1.0 - beta1),
            static_cast<T>(beta2),
            static_cast<T>(1.0 - beta2),
            static_cast<T>(Decoupled ? 0.0 : o.weight_decay),
            static_cast<T>(Decoupled ? 1.0 - o.lr * o.weight_decay : 1.0),
            static_cast<T>(std::sqrt(bias_correction2)),
            static_cast<T>(o.eps),
            static_cast<T>(-step_size),
        };
        kernels::adam_update(p.data(), grad.data(), s.exp_avg.data(), s.exp_avg_sq.data(),
                             o.amsgrad ? s.max_exp_avg_sq.data() : nullptr, p.numel(), k);
      }
    }
  }

 protected:
  explicit AdamBase(std::string name) : Base(std::move(name)) {}

  /// Lazy state, as torch: exp_avg and exp_avg_sq (zeros) for every parameter that has a gradient and no state yet.
  /// They are views of one allocation: a training step's activations, freed just before the first step, leave holes
  /// that separate buffers would fill, and the next forward pass would need new memory for what they held (on W3's
  /// char-GPT, 3 MiB more held from the system at the peak).
  void allocate_state() {
    index_t total = 0;
    auto needs_state = [&](std::size_t i) { return !this->state_[i].exp_avg.defined() && this->params_[i].grad().defined(); };
    for (std::size_t i = 0; i < this->params_.size(); ++i)
      if (needs_state(i)) total += 2 * this->params_[i].numel();
    if (total == 0) return;
    const Tensor<T> buffer = zeros<T>({total});
    index_t offset = 0;
    for (std::size_t i = 0; i < this->params_.size(); ++i) {
      if (!needs_state(i)) continue;
      const Shape& shape = this->params_[i].shape();
      AdamState<T>& s = this->state_[i];
      s.exp_avg = buffer.view_at(offset, shape);
      s.exp_avg_sq = buffer.view_at(offset + shape.numel(), shape);
      offset += 2 * shape.numel();
    }
  }

  void validate(const Options& o) const override {
    const std::string& n = this->name_;
    LATENT_CHECK(o.lr >= 0.0, ValueError, n + ": lr = " + format_number(o.lr) + " must be >= 0");
    LATENT_CHECK(o.eps >= 0.0, ValueError, n + ": eps = " + format_number(o.eps) + " must be >= 0");
    for (int k = 0; k < 2; ++k)
      LATENT_CHECK(o.betas[k] >= 0.0 && o.betas[k] < 1.0, ValueError,
                   n + ": betas[" + std::to_string(k) + "] = " + format_number(o.betas[k]) + " must be in [0, 1)");
    LATENT_CHECK(o.weight_decay >= 0.0, ValueError, n + ": weight_decay = " + format_number(o.weight_decay) + " must be >= 0");
  }

  void write_options(StateDict& out, const std::string& prefix, const Options& o) const override {
    out.set(prefix + "lr", real_entry(o.lr));
    Tensor<double> betas = Tensor<double>::empty(Shape{2});
    betas.data()[0] = o.betas[0];
    betas.data()[1] = o.betas[1];
    out.set(prefix + "betas", betas);
    out.set(prefix + "eps", real_entry(o.eps));
    out.set(prefix + "weight_decay", real_entry(o.weight_decay));
    out.set(prefix + "amsgrad", integer_entry(o.amsgrad ? 1 : 0));
  }
  Options read_options(StateReader& in, const std::string& prefix) const override {
    Options o;
    o.lr = in.real(prefix + "lr");
    const Tensor<double> betas = in.tensor<double>(prefix + "betas", Shape{2});
    o.betas = {betas.data()[0], betas.data()[1]};
    o.eps = in.real(prefix + "eps");
    o.weight_decay = in.real(prefix + "weight_decay");
    o.amsgrad = in.flag(prefix + "amsgrad");
    return o;
  }

  void write_state(StateDict& out, const std::string& prefix, const AdamState<T>& s) const override {
    if (s.step == 0) return;
    out.set(prefix + "step", integer_entry(s.step));
    out.set(prefix + "exp_avg", s.exp_avg.clone_detached());
    out.set(prefix + "exp_avg_sq", s.exp_avg_sq.clone_detached());
    if (s.max_exp_avg_sq.defined()) out.set(prefix + "max_exp_avg_sq", s.max_exp_avg_sq.clone_detached());
  }
  AdamState<T> read_state(StateReader& in, const std::string& prefix, const Tensor<T>& param, const Options& o) const override {
    AdamState<T> s;
    const bool any = in.contains(prefix + "step") || in.contains(prefix + "exp_avg") || in.contains(prefix + "exp_avg_sq") ||
                     in.contains(prefix + "max_exp_avg_sq");
    if (!any) return s;  // this parameter has not been stepped yet
    s.step = in.integer(prefix + "step");
    LATENT_CHECK(s.step >= 1, StateError,
                 in.who() + "entry '" + prefix + "step' = " + std::to_string(s.step) + " must be >= 1");
    s.exp_avg = in.tensor<T>(prefix + "exp_avg", param.shape());
    s.exp_avg_sq = in.tensor<T>(prefix + "exp_avg_sq", param.shape());
    if (o.amsgrad || in.contains(prefix + "max_exp_avg_sq"))
      s.max_exp_avg_sq = in.tensor<T>(prefix + "max_exp_avg_sq", param.shape());
    return s;
  }
};

}  // namespace detail

/// torch.optim.Adam: weight_decay is an L2 term added to the gradient.
///   Adam opt(model.parameters(), {.lr = 1e-3, .betas = {0.9, 0.999}});
template <Scalar T>
class Adam : public detail::AdamBase<T, AdamOptions, false> {
  using Base = detail::AdamBase<T, AdamOptions, false>;

 public:
  using Options = AdamOptions;
  explicit Adam(std::vector<Tensor<T>> params, const AdamOptions& options = {}) : Base("Adam") {
    this->add_groups(Base::single_group(std::move(params), options));
  }
  explicit Adam(const NamedParameters<T>& params, const AdamOptions& options = {}) : Base("Adam") {
    this->add_groups(Base::single_group(params, options));
  }
  explicit Adam(const std::vector<ParamGroup<T, AdamOptions>>& groups) : Base("Adam") { this->add_groups(groups); }
};

/// torch.optim.AdamW: decoupled weight decay p ← p (1 − lr wd) before the Adam step (default wd = 1e-2).
template <Scalar T>
class AdamW : public detail::AdamBase<T, AdamWOptions, true> {
  using Base = detail::AdamBase<T, AdamWOptions, true>;

 public:
  using Options = AdamWOptions;
  explicit AdamW(std::vector<Tensor<T>> params, const AdamWOptions& options = {}) : Base("AdamW") {
    this->add_groups(Base::single_group(std::move(params), options));
  }
  explicit AdamW(const NamedParameters<T>& params, const AdamWOptions& options = {}) : Base("AdamW") {
    this->add_groups(Base::single_group(params, options));
  }
  explicit AdamW(const std::vector<ParamGroup<T, AdamWOptions>>& groups) : Base("AdamW") { this->add_groups(groups); }
};

}  // namespace latent::optim
