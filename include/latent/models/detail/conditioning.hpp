// Shared by Diffusion and FlowMatching: class labels with a null class (label dropout, classifier-free guidance),
// the EMA of the network's parameters, and the per-row time tensor.
#pragma once
#ifndef LATENT_INSIDE_MODELS
#error "latent/models/detail/conditioning.hpp is internal: include <latent/models/diffusion/diffusion.hpp> or <latent/models/flow_matching.hpp>"
#endif

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "../../core/factory.hpp"
#include "../../core/rng.hpp"
#include "../../core/state_dict.hpp"
#include "../../ops/ops.hpp"
#include "../../optim/ema.hpp"
#include "../concepts.hpp"

namespace latent {

/// Classifier-free guidance (Ho & Salimans 2022): uncond + scale (cond − uncond). scale = 1 is the conditional
/// prediction, 0 the unconditional one, > 1 sharpens towards the class.
template <Scalar T>
Tensor<T> classifier_free_guidance(const Tensor<T>& uncond, const Tensor<T>& cond, double scale) {
  return add(uncond, mul_scalar(sub(cond, uncond), static_cast<T>(scale)));
}

namespace models_detail {

/// Class conditioning of a model with `num_classes` classes (0: unconditional); the null class is num_classes.
struct Conditioning {
  std::int64_t num_classes = 0;
  double label_dropout = 0.1;
  std::string who;

  void validate() const {
    LATENT_CHECK(num_classes >= 0, ValueError, who + ": num_classes = " + std::to_string(num_classes) + " must be >= 0");
    LATENT_CHECK(label_dropout >= 0 && label_dropout < 1, ValueError,
                 who + ": label_dropout = " + optim::detail::format_number(label_dropout) + " must be in [0, 1)");
  }
  /// Checks labels against a batch of `n` rows: required (shape [n], ids in [0, num_classes]) for a conditional
  /// model, forbidden for an unconditional one. `allow_null` admits the null class id num_classes.
  void check(const Tensor<std::int64_t>& labels, index_t n, const char* what) const {
    if (num_classes == 0) {
      LATENT_CHECK(!labels.defined(), ValueError,
                   who + "." + what + ": labels given to an unconditional model (num_classes = 0)");
      return;
    }
    LATENT_CHECK(labels.defined(), ValueError,
                 who + "." + what + ": a class-conditional model (num_classes = " + std::to_string(num_classes) +
                     ") needs labels");
    LATENT_CHECK(labels.rank() == 1 && labels.size(0) == n, ShapeError,
                 who + "." + what + ": labels " + labels.shape().str() + " do not match a batch of " + std::to_string(n));
    const std::int64_t* id = labels.data();
    for (index_t i = 0; i < n; ++i)
      LATENT_CHECK(id[i] >= 0 && id[i] <= num_classes, ValueError,
                   who + "." + what + ": label " + std::to_string(id[i]) + " at index " + std::to_string(i) +
                       " is not in [0, " + std::to_string(num_classes) + "] (" + std::to_string(num_classes) +
                       " is the null class)");
  }
  /// Label dropout for training: each label becomes the null class with probability label_dropout.
  Tensor<std::int64_t> drop(const Tensor<std::int64_t>& labels, Rng& rng) const {
    if (num_classes == 0) return labels;
    auto out = labels.clone_detached();
    std::int64_t* id = out.data();
    for (index_t i = 0; i < out.numel(); ++i)
      if (rng.bernoulli(label_dropout)) id[i] = num_classes;
    return out;
  }
  /// The network's output with guidance: one batched call on [x; x] with [labels; null] when guidance applies.
  /// Without labels a conditional model is called with the null class (unconditional samples).
  template <Scalar T, class Net>
  Tensor<T> guided(Net& net, const Tensor<T>& x, const Tensor<T>& t, const Tensor<std::int64_t>& labels,
                   double scale) const {
    if (num_classes == 0) return net(x, t, Tensor<std::int64_t>());
    const index_t n = x.size(0);
    if (!labels.defined()) return net(x, t, full<std::int64_t>({n}, num_classes));
    if (scale == 1.0) return net(x, t, labels);
    auto both_labels = full<std::int64_t>({2 * n}, num_classes);  // [labels; null]
    std::copy(labels.data(), labels.data() + n, both_labels.data());
    const auto both = net(cat<T>({x, x}, 0), cat<T>({t, t}, 0), both_labels);
    return classifier_free_guidance(narrow(both, 0, n, n), narrow(both, 0, 0, n), scale);
  }
};

/// An EMA over the network's parameters, by name when the network has named_parameters().
template <Scalar T, class Net>
std::unique_ptr<optim::EMA<T>> make_ema(Net& net, double decay) {
  const optim::EMAOptions options{.decay = decay, .warmup = true};
  if constexpr (requires { net.named_parameters(); })
    return std::make_unique<optim::EMA<T>>(net.named_parameters(), options);
  else
    return std::make_unique<optim::EMA<T>>(net.parameters(), options);
}

/// Swaps the EMA averages into the parameters for the guard's lifetime when `use` and the EMA has been updated.
template <Scalar T>
std::unique_ptr<typename optim::EMA<T>::SwapGuard> swap_in_ema(optim::EMA<T>& ema, bool use) {
  if (!use || ema.num_updates() == 0) return nullptr;
  return std::make_unique<typename optim::EMA<T>::SwapGuard>(ema);
}

/// "net.<name>" for the weights, "ema.<...>" for the EMA state (EMA::state_dict()).
template <Scalar T, class Net>
StateDict model_state_dict(const Net& net, const optim::EMA<T>& ema) {
  StateDict out;
  if constexpr (requires { net.state_dict(); }) out.merge("net", net.state_dict());
  out.merge("ema", ema.state_dict());
  return out;
}

/// The weights sampling uses (EMA averages when `use_ema` and updated), copied, under the network's own names.
template <Scalar T, class Net>
StateDict sampling_state_dict(Net& net, optim::EMA<T>& ema, bool use_ema) {
  const auto guard = swap_in_ema(ema, use_ema);
  StateDict out;
  for (const auto& [name, t] : net.state_dict()) {
    if (const auto* real = std::get_if<Tensor<T>>(&t)) out.set(name, real->clone_detached());
    else out.set(name, t);
  }
  return out;
}

/// A per-row time tensor [n] filled with t.
template <Scalar T>
Tensor<T> time_column(index_t n, double t) {
  return full<T>({n}, static_cast<T>(t));
}

/// Shape [n, 1, ..., 1] of the rank of x, for per-row scales that broadcast over x.
inline Shape row_shape(const Shape& x) {
  Shape s = x;
  for (int d = 1; d < s.rank(); ++d) s[d] = 1;
  return s;
}

}  // namespace models_detail
}  // namespace latent
