// Learning-rate schedules as pure functions of the step: schedule(step) is a factor that multiplies each
// group's initial lr (PyTorch's LRScheduler convention), and apply_schedule() writes the result into an
// optimizer. Closed forms, so resuming at any step needs no scheduler state.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <numbers>
#include <string>

#include "optimizer.hpp"

namespace latent::optim {

/// Anything that maps a step (0, 1, ...) to a learning-rate factor: the schedules below, or a lambda.
template <class S>
concept LrSchedule = requires(const S& s, std::int64_t step) {
  { s(step) } -> std::convertible_to<double>;
};

namespace detail {
inline void check_step(const char* schedule, std::int64_t step) {
  LATENT_CHECK(step >= 0, ValueError, std::string(schedule) + ": step = " + std::to_string(step) + " must be >= 0");
}
}  // namespace detail

/// The same factor at every step (1: the optimizer's lr unchanged).
struct Constant {
  double factor = 1.0;
  double operator()(std::int64_t step) const {
    detail::check_step("Constant", step);
    return factor;
  }
};

struct StepLROptions {
  std::int64_t step_size = 0;  ///< required, as in torch.optim.lr_scheduler.StepLR
  double gamma = 0.1;
};

/// torch's StepLR: gamma^⌊step / step_size⌋.
class StepLR {
 public:
  explicit StepLR(const StepLROptions& options) : options_(options) {
    LATENT_CHECK(options.step_size > 0, ValueError,
                 "StepLR: step_size = " + std::to_string(options.step_size) + " must be > 0");
    LATENT_CHECK(options.gamma >= 0.0, ValueError, "StepLR: gamma = " + detail::format_number(options.gamma) + " must be >= 0");
  }
  double operator()(std::int64_t step) const {
    detail::check_step("StepLR", step);
    return std::pow(options_.gamma, static_cast<double>(step / options_.step_size));
  }
  const StepLROptions& options() const noexcept { return options_; }

 private:
  StepLROptions options_;
};

struct LinearLROptions {
  double start_factor = 1.0 / 3.0;
  double end_factor = 1.0;
  std::int64_t total_iters = 5;
};

/// torch's LinearLR: start_factor + (end_factor − start_factor) · min(step, total_iters) / total_iters.
class LinearLR {
 public:
  explicit LinearLR(const LinearLROptions& options = {}) : options_(options) {
    LATENT_CHECK(options.start_factor > 0.0 && options.start_factor <= 1.0, ValueError,
                 "LinearLR: start_factor = " + detail::format_number(options.start_factor) + " must be in (0, 1]");
    LATENT_CHECK(options.end_factor >= 0.0 && options.end_factor <= 1.0, ValueError,
                 "LinearLR: end_factor = " + detail::format_number(options.end_factor) + " must be in [0, 1]");
    LATENT_CHECK(options.total_iters > 0, ValueError,
                 "LinearLR: total_iters = " + std::to_string(options.total_iters) + " must be > 0");
  }
  double operator()(std::int64_t step) const {
    detail::check_step("LinearLR", step);
    const auto& o = options_;
    return o.start_factor +
           (o.end_factor - o.start_factor) * static_cast<double>(std::min(step, o.total_iters)) / static_cast<double>(o.total_iters);
  }
  const LinearLROptions& options() const noexcept { return options_; }

 private:
  LinearLROptions options_;
};

struct WarmupCosineOptions {
  std::int64_t warmup_iters = 0;
  std::int64_t lr_decay_iters = 0;  ///< required: the step where the factor reaches min_factor (≈ the run's length)
  double min_factor = 0.1;          ///< min_lr / lr; nanoGPT and Chinchilla use lr / 10
};

/// nanoGPT's get_lr as a factor: linear warmup (step + 1) / (warmup_iters + 1) for step < warmup_iters, then a
/// cosine from 1 down to min_factor at lr_decay_iters, min_factor after that.
class WarmupCosine {
 public:
  explicit WarmupCosine(const WarmupCosineOptions& options) : options_(options) {
    LATENT_CHECK(options.warmup_iters >= 0, ValueError,
                 "WarmupCosine: warmup_iters = " + std::to_string(options.warmup_iters) + " must be >= 0");
    LATENT_CHECK(options.lr_decay_iters > options.warmup_iters, ValueError,
                 "WarmupCosine: lr_decay_iters = " + std::to_string(options.lr_decay_iters) + " must be > warmup_iters = " +
                     std::to_string(options.warmup_iters));
    LATENT_CHECK(options.min_factor >= 0.0 && options.min_factor <= 1.0, ValueError,
                 "WarmupCosine: min_factor = " + detail::format_number(options.min_factor) + " must be in [0, 1]");
  }
  double operator()(std::int64_t step) const {
    detail::check_step("WarmupCosine", step);
    const auto& o = options_;
    if (step < o.warmup_iters) return static_cast<double>(step + 1) / static_cast<double>(o.warmup_iters + 1);
    if (step > o.lr_decay_iters) return o.min_factor;
    const double decay_ratio = static_cast<double>(step - o.warmup_iters) / static_cast<double>(o.lr_decay_iters - o.warmup_iters);
    const double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * decay_ratio));  // 1 → 0
    return o.min_factor + coeff * (1.0 - o.min_factor);
  }
  const WarmupCosineOptions& options() const noexcept { return options_; }

 private:
  WarmupCosineOptions options_;
};

/// Sets every group's lr to initial_lr(group) · schedule(step). Call it before optimizer.step() with the
/// number of steps taken so far, as nanoGPT calls get_lr(iter_num).
template <Scalar T, LrSchedule S>
void apply_schedule(Optimizer<T>& optimizer, const S& schedule, std::int64_t step) {
  const double factor = static_cast<double>(schedule(step));
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g) optimizer.set_lr(g, optimizer.initial_lr(g) * factor);
}

}  // namespace latent::optim
