// Learning-rate schedules against their hand formulas (nanoGPT's get_lr, torch's StepLR/LinearLR closed
// forms), apply_schedule over param groups, and the option checks.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <numbers>
#include <vector>

using namespace latent;

namespace {

// nanoGPT's get_lr, verbatim apart from the language.
double nanogpt_get_lr(int it, double learning_rate, double min_lr, int warmup_iters, int lr_decay_iters) {
  if (it < warmup_iters) return learning_rate * (it + 1) / (warmup_iters + 1);
  if (it > lr_decay_iters) return min_lr;
  const double decay_ratio = double(it - warmup_iters) / (lr_decay_iters - warmup_iters);
  const double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * decay_ratio));
  return min_lr + coeff * (learning_rate - min_lr);
}

}  // namespace

TEST_CASE("WarmupCosine applied to an optimizer gives nanoGPT's get_lr", "[optim][schedule]") {
  auto w = zeros<float>({2}).set_requires_grad();
  optim::AdamW opt(std::vector<Tensor<float>>{w}, {.lr = 6e-4});
  const optim::WarmupCosine schedule({.warmup_iters = 20, .lr_decay_iters = 200, .min_factor = 0.1});
  for (int it = 0; it <= 230; ++it) {
    optim::apply_schedule(opt, schedule, it);
    INFO("iteration " << it);
    // lr * (min_factor + c (1 - min_factor)) vs min_lr + c (lr - min_lr): the same value rounded differently.
    CHECK(opt.lr() == Approx(nanogpt_get_lr(it, 6e-4, 6e-5, 20, 200)).epsilon(1e-14));
  }
  // Landmarks: first warmup step, the peak, halfway down the cosine, the floor.
  CHECK(schedule(0) == 1.0 / 21.0);
  CHECK(schedule(20) == 1.0);
  CHECK(schedule(110) == Approx(0.1 + 0.5 * 0.9).epsilon(1e-15));
  CHECK(schedule(200) == Approx(0.1).epsilon(1e-15));
  CHECK(schedule(201) == 0.1);
  CHECK(opt.initial_lr() == 6e-4);  // schedules scale the initial lr, they never change it
}

TEST_CASE("StepLR, LinearLR and Constant follow torch's closed forms", "[optim][schedule]") {
  const optim::StepLR step({.step_size = 3, .gamma = 0.5});
  std::vector<double> got;
  for (int s = 0; s < 8; ++s) got.push_back(step(s));
  CHECK(got == std::vector<double>{1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25});

  const optim::LinearLR linear({.start_factor = 0.5, .end_factor = 1.0, .total_iters = 4});
  got.clear();
  for (int s = 0; s < 6; ++s) got.push_back(linear(s));
  CHECK(got == std::vector<double>{0.5, 0.625, 0.75, 0.875, 1.0, 1.0});
  const optim::LinearLR torch_default;  // start 1/3, end 1, 5 steps
  CHECK(torch_default(0) == 1.0 / 3.0);
  CHECK(torch_default(5) == 1.0);
  const optim::LinearLR decay({.start_factor = 1.0, .end_factor = 0.0, .total_iters = 10});
  CHECK(decay(5) == 0.5);
  CHECK(decay(12) == 0.0);

  CHECK(optim::Constant{}(123) == 1.0);
  CHECK(optim::Constant{0.3}(0) == 0.3);
}

TEST_CASE("apply_schedule scales every group's initial lr and takes any callable", "[optim][schedule]") {
  auto a = zeros<double>({2}).set_requires_grad();
  auto b = zeros<double>({3}).set_requires_grad();
  optim::SGD<double> opt({{.params = {a}, .options = {.lr = 0.1}}, {.params = {b}, .options = {.lr = 0.01, .momentum = 0.9}}});
  optim::apply_schedule(opt, optim::StepLR({.step_size = 2, .gamma = 0.1}), 4);
  CHECK(opt.lr(0) == 0.1 * std::pow(0.1, 2.0));
  CHECK(opt.lr(1) == 0.01 * std::pow(0.1, 2.0));
  optim::apply_schedule(opt, [](std::int64_t s) { return 1.0 / double(s + 1); }, 3);
  CHECK(opt.lr(0) == 0.1 * 0.25);
  CHECK(opt.lr(1) == 0.01 * 0.25);
}

TEST_CASE("schedules reject bad options and negative steps", "[optim][schedule][errors]") {
  CHECK_THROWS_WITH(optim::StepLR({}), "[latent.value] StepLR: step_size = 0 must be > 0");
  CHECK_THROWS_WITH(optim::StepLR({.step_size = 2, .gamma = -0.5}), "[latent.value] StepLR: gamma = -0.5 must be >= 0");
  CHECK_THROWS_WITH(optim::LinearLR({.start_factor = 0}), "[latent.value] LinearLR: start_factor = 0 must be in (0, 1]");
  CHECK_THROWS_WITH(optim::LinearLR({.end_factor = 1.5}), "[latent.value] LinearLR: end_factor = 1.5 must be in [0, 1]");
  CHECK_THROWS_WITH(optim::LinearLR({.total_iters = 0}), "[latent.value] LinearLR: total_iters = 0 must be > 0");
  CHECK_THROWS_WITH(optim::WarmupCosine({.warmup_iters = -1, .lr_decay_iters = 10}),
                    "[latent.value] WarmupCosine: warmup_iters = -1 must be >= 0");
  CHECK_THROWS_WITH(optim::WarmupCosine({.warmup_iters = 10, .lr_decay_iters = 10}),
                    "[latent.value] WarmupCosine: lr_decay_iters = 10 must be > warmup_iters = 10");
  CHECK_THROWS_WITH(optim::WarmupCosine({.lr_decay_iters = 10, .min_factor = 2}),
                    "[latent.value] WarmupCosine: min_factor = 2 must be in [0, 1]");
  const optim::WarmupCosine ok({.warmup_iters = 1, .lr_decay_iters = 10});
  CHECK_THROWS_WITH(ok(-1), "[latent.value] WarmupCosine: step = -1 must be >= 0");
}
