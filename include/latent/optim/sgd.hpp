// SGD with momentum, dampening, Nesterov momentum and L2 weight decay: torch.optim.SGD's update, option
// names, defaults and checks.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../kernels/optim.hpp"
#include "optimizer.hpp"

namespace latent::optim {

/// torch.optim.SGD's options. lr has no default there, so it must be given here too.
struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

template <Scalar T>
struct SGDState {
  Tensor<T> momentum_buffer;  // undefined until the first step with momentum
};

/// With d = g + weight_decay p:
///   b ← d on the first step, then b ← momentum b + (1 − dampening) d;
///   p ← p − lr (d + momentum b) with nesterov, p − lr b with momentum, p − lr d without.
/// state_dict: param_groups.<g>.{lr, momentum, dampening, weight_decay, nesterov, initial_lr, params},
/// state.<i>.momentum_buffer.
template <Scalar T>
class SGD : public detail::BasicOptimizer<T, SGDOptions, SGDState<T>> {
  using Base = detail::BasicOptimizer<T, SGDOptions, SGDState<T>>;

 public:
  using Options = SGDOptions;

  SGD(std::vector<Tensor<T>> params, const SGDOptions& options) : Base("SGD") {
    this->add_groups(Base::single_group(std::move(params), options));
  }
  SGD(const NamedParameters<T>& params, const SGDOptions& options) : Base("SGD") {
    this->add_groups(Base::single_group(params, options));
  }
  explicit SGD(const std::vector<ParamGroup<T, SGDOptions>>& groups) : Base("SGD") { this->add_groups(groups); }

  void step() override {
    for (std::size_t g = 0; g < this->options_.size(); ++g) {
      const SGDOptions& o = this->options_[g];
      const kernels::SgdStep<T> s{static_cast<T>(-o.lr), static_cast<T>(o.weight_decay), static_cast<T>(o.momentum),
                                  static_cast<T>(1.0 - o.dampening), o.nesterov};
      for (std::size_t i = this->group_begin(g); i < this->group_end(g); ++i) {
        const Tensor<T>& p = this->params_[i];
        const Tensor<T> grad = p.grad();
        if (!grad.defined()) continue;
        detail::check_gradient(this->name_, i, p, grad);
        Tensor<T>* buffer = nullptr;
        bool first = false;
        if (o.momentum != 0.0) {
          buffer = &this->state_[i].momentum_buffer;
          first = !buffer->defined();
          if (first) *buffer = Tensor<T>::empty(p.shape());
        }
        kernels::sgd_update(p.data(), grad.data(), buffer ? buffer->data() : nullptr, first, p.numel(), s);
      }
    }
  }

 protected:
  void validate(const SGDOptions& o) const override {
    const std::string& n = this->name_;
    LATENT_CHECK(!std::isnan(o.lr), ValueError, n + ": lr is not set (SGD has no default learning rate, as in torch.optim.SGD)");
    LATENT_CHECK(o.lr >= 0.0, ValueError, n + ": lr = " + detail::format_number(o.lr) + " must be >= 0");
    LATENT_CHECK(o.momentum >= 0.0, ValueError, n + ": momentum = " + detail::format_number(o.momentum) + " must be >= 0");
    LATENT_CHECK(o.weight_decay >= 0.0, ValueError,
                 n + ": weight_decay = " + detail::format_number(o.weight_decay) + " must be >= 0");
    LATENT_CHECK(!std::isnan(o.dampening), ValueError, n + ": dampening = nan");
    LATENT_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0), ValueError,
                 n + ": nesterov requires momentum > 0 and dampening = 0 (got momentum = " + detail::format_number(o.momentum) +
                     ", dampening = " + detail::format_number(o.dampening) + ")");
  }

  void write_options(StateDict& out, const std::string& prefix, const SGDOptions& o) const override {
    out.set(prefix + "lr", detail::real_entry(o.lr));
    out.set(prefix + "momentum", detail::real_entry(o.momentum));
    out.set(prefix + "dampening", detail::real_entry(o.dampening));
    out.set(prefix + "weight_decay", detail::real_entry(o.weight_decay));
    out.set(prefix + "nesterov", detail::integer_entry(o.nesterov ? 1 : 0));
  }
  SGDOptions read_options(detail::StateReader& in, const std::string& prefix) const override {
    SGDOptions o;
    o.lr = in.real(prefix + "lr");
    o.momentum = in.real(prefix + "momentum");
    o.dampening = in.real(prefix + "dampening");
    o.weight_decay = in.real(prefix + "weight_decay");
    o.nesterov = in.flag(prefix + "nesterov");
    return o;
  }
  void write_state(StateDict& out, const std::string& prefix, const SGDState<T>& s) const override {
    if (s.momentum_buffer.defined()) out.set(prefix + "momentum_buffer", s.momentum_buffer.clone_detached());
  }
  SGDState<T> read_state(detail::StateReader& in, const std::string& prefix, const Tensor<T>& param,
                         const SGDOptions&) const override {
    SGDState<T> s;
    if (in.contains(prefix + "momentum_buffer")) s.momentum_buffer = in.tensor<T>(prefix + "momentum_buffer", param.shape());
    return s;
  }
};

}  // namespace latent::optim
