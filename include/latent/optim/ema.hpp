// EMA: an exponential moving average of parameters (shadow copies), updated after each optimizer step and
// swapped into the parameters for sampling or evaluation through a scoped guard.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../core/state_dict.hpp"
#include "../kernels/optim.hpp"
#include "optimizer.hpp"

namespace latent::optim {

struct EMAOptions {
  double decay = 0.999;  ///< torch.optim.swa_utils.get_ema_multi_avg_fn's default
  /// TensorFlow's num_updates warm-up: the t-th update (t = 0, 1, ...) uses min(decay, (1 + t) / (10 + t)),
  /// so that early averages are not dominated by the initial weights.
  bool warmup = false;
};

/// shadow ← lerp(shadow, param, 1 − decay) = shadow + (1 − decay)(param − shadow), torch's lerp_ formula
/// (as AveragedModel with get_ema_multi_avg_fn). The shadows start as copies of the parameters.
///   EMA ema(model.parameters(), {.decay = 0.999});
///   ... opt.step(); ema.update(); ...
///   { auto guard = ema.swap_in(); sample(model); }   // the model holds the averages inside the scope
/// state_dict: shadow.<i> (or shadow.<name>), num_updates (int64), decay (float64), warmup (int64 flag).
template <Scalar T>
class EMA {
 public:
  explicit EMA(std::vector<Tensor<T>> params, const EMAOptions& options = {}) : params_(std::move(params)) {
    names_.resize(params_.size());
    init(options);
  }
  explicit EMA(const NamedParameters<T>& params, const EMAOptions& options = {}) {
    for (const auto& [name, p] : params) {
      LATENT_CHECK(!name.empty(), ValueError, "EMA: parameter " + std::to_string(params_.size()) + " has an empty name");
      for (std::size_t j = 0; j < names_.size(); ++j)
        LATENT_CHECK(names_[j] != name, ValueError,
                     "EMA: parameter name '" + name + "' is used twice (parameters " + std::to_string(j) + " and " +
                         std::to_string(params_.size()) + ")");
      names_.push_back(name);
      params_.push_back(p);
    }
    named_ = true;
    init(options);
  }
  EMA(const EMA&) = delete;
  EMA& operator=(const EMA&) = delete;

  /// Moves every shadow towards its parameter. Call after each optimizer step.
  void update() {
    check_not_swapped("update");
    const T weight = static_cast<T>(1.0 - decay());
    for (std::size_t i = 0; i < params_.size(); ++i)
      kernels::lerp_inplace(shadow_[i].data(), params_[i].data(), params_[i].numel(), weight);
    ++num_updates_;
  }
  /// The decay the next update() uses (with warmup it grows towards options().decay).
  double decay() const {
    if (!options_.warmup) return options_.decay;
    const double t = static_cast<double>(num_updates_);
    return std::min(options_.decay, (1.0 + t) / (10.0 + t));
  }
  std::int64_t num_updates() const noexcept { return num_updates_; }
  const EMAOptions& options() const noexcept { return options_; }
  /// The averaged values, one per parameter (while swapped in, the parameters hold them instead).
  const std::vector<Tensor<T>>& shadow() const noexcept { return shadow_; }

  /// Overwrites the parameters with the averages for good (e.g. at the end of training).
  void copy_to() {
    check_not_swapped("copy_to");
    for (std::size_t i = 0; i < params_.size(); ++i) params_[i].copy_(shadow_[i]);
  }

  /// While alive, the parameters hold the averages and the shadows the trained values; its end swaps back.
  class SwapGuard {
   public:
    explicit SwapGuard(EMA& ema) : ema_(ema) { ema_.swap_contents(); }
    ~SwapGuard() { ema_.swap_contents(); }
    SwapGuard(const SwapGuard&) = delete;
    SwapGuard& operator=(const SwapGuard&) = delete;

   private:
    EMA& ema_;
  };
  /// Swaps the averages into the parameters until the returned guard is destroyed.
  [[nodiscard]] SwapGuard swap_in() {
    check_not_swapped("swap_in");
    return SwapGuard(*this);
  }
  bool swapped_in() const noexcept { return swapped_; }

  /// The averages (copies), the update count and the options.
  StateDict state_dict() const {
    StateDict out;
    for (std::size_t i = 0; i < params_.size(); ++i)
      out.set(key(i), (swapped_ ? params_[i] : shadow_[i]).clone_detached());
    out.set("num_updates", detail::integer_entry(num_updates_));
    out.set("decay", detail::real_entry(options_.decay));
    out.set("warmup", detail::integer_entry(options_.warmup ? 1 : 0));
    return out;
  }
  /// Restores a state_dict() taken over parameters of the same shapes; a missing, unexpected or mismatched
  /// entry throws StateError and changes nothing.
  void load_state_dict(const StateDict& dict) {
    check_not_swapped("load_state_dict");
    detail::StateReader in(dict, "EMA");
    std::vector<Tensor<T>> shadow;
    shadow.reserve(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) shadow.push_back(in.tensor<T>(key(i), params_[i].shape()));
    const std::int64_t num_updates = in.integer("num_updates");
    LATENT_CHECK(num_updates >= 0, StateError, in.who() + "entry 'num_updates' = " + std::to_string(num_updates) + " must be >= 0");
    EMAOptions options;
    options.decay = in.real("decay");
    options.warmup = in.flag("warmup");
    check_options(options);
    in.finish();
    shadow_ = std::move(shadow);
    num_updates_ = num_updates;
    options_ = options;
  }

 private:
  void init(const EMAOptions& options) {
    check_options(options);
    options_ = options;
    shadow_.reserve(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      LATENT_CHECK(params_[i].defined(), ValueError, "EMA: parameter " + std::to_string(i) + " is undefined");
      for (std::size_t j = 0; j < i; ++j)
        LATENT_CHECK(!params_[j].same(params_[i]), ValueError,
                     "EMA: parameter " + std::to_string(i) + " is the same tensor as parameter " + std::to_string(j));
      shadow_.push_back(params_[i].clone_detached());
    }
  }
  static void check_options(const EMAOptions& o) {
    LATENT_CHECK(o.decay >= 0.0 && o.decay <= 1.0, ValueError, "EMA: decay = " + detail::format_number(o.decay) + " must be in [0, 1]");
  }
  void check_not_swapped(const char* what) const {
    LATENT_CHECK(!swapped_, StateError, std::string("EMA.") + what + ": the averages are swapped into the parameters; end the swap_in() guard first");
  }
  void swap_contents() {
    for (std::size_t i = 0; i < params_.size(); ++i) kernels::swap_contents(params_[i].data(), shadow_[i].data(), params_[i].numel());
    swapped_ = !swapped_;
  }
  std::string key(std::size_t i) const { return "shadow." + (named_ ? names_[i] : std::to_string(i)); }

  std::vector<Tensor<T>> params_;
  std::vector<std::string> names_;
  std::vector<Tensor<T>> shadow_;
  EMAOptions options_;
  std::int64_t num_updates_ = 0;
  bool named_ = false;
  bool swapped_ = false;
};

}  // namespace latent::optim
