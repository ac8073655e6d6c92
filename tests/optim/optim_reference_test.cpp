// SGD, Adam, AdamW and clip_grad_norm_ against torch 1.13: trajectories of 10 steps written by
// tests/reference/optim/make_optim_reference.py (double precision, fixed gradient sequences).
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

using namespace latent;

namespace {

// The script's parameters p0 [3,4], p1 [5], p2 [] (flattened and concatenated in the .npy files).
const std::vector<Shape> kShapes = {Shape{3, 4}, Shape{5}, Shape{}};
constexpr index_t kSteps = 10;

std::string reference_file(const std::string& name) {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  return std::string(env && *env ? env : LATENT_SOURCE_DIR) + "/tests/reference/optim/" + name;
}

// Tensors of kShapes holding consecutive values of `flat` (a [N] vector or a row of an [S, N] array).
std::vector<Tensor<double>> split(const double* flat) {
  std::vector<Tensor<double>> out;
  for (const Shape& s : kShapes) {
    out.push_back(from_vector<double>(std::vector<double>(flat, flat + s.numel()), s));
    flat += s.numel();
  }
  return out;
}

Tensor<double> concat(const std::vector<Tensor<double>>& ts) {
  std::vector<double> all;
  for (const auto& t : ts) all.insert(all.end(), t.data(), t.data() + t.numel());
  return from_vector<double>(all, Shape{static_cast<index_t>(all.size())});
}

struct Reference {
  Tensor<double> init = testing::load_npy<double>(reference_file("init.npy"));
  Tensor<double> grads = testing::load_npy<double>(reference_file("grads.npy"));
  Tensor<double> has_grad = testing::load_npy<double>(reference_file("has_grad.npy"));
  index_t numel() const { return init.numel(); }
};

// Fresh leaf parameters at the reference's initial values.
std::vector<Tensor<double>> initial_params(const Reference& ref) {
  auto params = split(ref.init.data());
  for (auto& p : params) p.set_requires_grad();
  return params;
}

// Runs the reference's 10 steps on `opt` over `params` and returns the largest deviation from torch's
// trajectory traj_<name>.npy; every step's values must agree within `atol`.
double replay(optim::Optimizer<double>& opt, std::vector<Tensor<double>>& params, const Reference& ref,
              const std::string& name, double atol) {
  const auto traj = testing::load_npy<double>(reference_file("traj_" + name + ".npy"));
  REQUIRE(traj.shape() == Shape{kSteps, ref.numel()});
  double worst = 0;
  for (index_t s = 0; s < kSteps; ++s) {
    const auto grads = split(ref.grads.data() + s * ref.numel());
    for (std::size_t k = 0; k < params.size(); ++k)
      params[k].set_grad(ref.has_grad.data()[s * 3 + static_cast<index_t>(k)] != 0 ? grads[k] : Tensor<double>());
    opt.step();
    const auto expected = from_vector<double>(std::vector<double>(traj.data() + s * ref.numel(), traj.data() + (s + 1) * ref.numel()),
                                              Shape{ref.numel()});
    const auto r = testing::compare(concat(params), expected, {.rtol = 0, .atol = atol}, name + " after step " + std::to_string(s + 1));
    INFO(r.report);
    CHECK(r.ok);
    worst = std::max(worst, r.max_abs_error);
  }
  return worst;
}

// torch evaluates the same double-precision formulas; its AVX2 kernels contract a*b+c into FMAs and sum
// in another order, so values differ in the last bits (~1e-16 after 10 steps). A formula difference
// (eps placement, dampening on the first step, decoupled vs L2 decay) shows as 1e-5 or more.
constexpr double kTrajectoryTolerance = 1e-10;

}  // namespace

TEST_CASE("SGD follows torch.optim.SGD's trajectories", "[optim][reference]") {
  const Reference ref;
  SECTION("plain") {
    auto params = initial_params(ref);
    optim::SGD opt(params, {.lr = 0.1});
    CHECK(replay(opt, params, ref, "sgd_plain", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
  SECTION("momentum, nesterov, weight decay") {
    auto params = initial_params(ref);
    optim::SGD opt(params, {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
    CHECK(replay(opt, params, ref, "sgd_nesterov_wd", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
  SECTION("momentum with dampening (the first step takes the undampened gradient)") {
    auto params = initial_params(ref);
    optim::SGD opt(params, {.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.001});
    CHECK(replay(opt, params, ref, "sgd_dampening", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
}

TEST_CASE("Adam follows torch.optim.Adam's trajectories", "[optim][reference]") {
  const Reference ref;
  SECTION("defaults (eps matters for the 1e-8 gradients)") {
    auto params = initial_params(ref);
    optim::Adam opt(params);
    CHECK(replay(opt, params, ref, "adam_default", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
  SECTION("L2 weight decay") {
    auto params = initial_params(ref);
    optim::Adam opt(params, {.lr = 1e-2, .weight_decay = 0.1});
    CHECK(replay(opt, params, ref, "adam_wd", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
  SECTION("amsgrad with other betas and eps") {
    auto params = initial_params(ref);
    optim::Adam opt(params, {.lr = 1e-2, .betas = {0.8, 0.99}, .eps = 1e-6, .amsgrad = true});
    CHECK(replay(opt, params, ref, "adam_amsgrad", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
  SECTION("two parameter groups with their own lr and weight decay") {
    auto params = initial_params(ref);
    optim::Adam<double> opt({optim::ParamGroup<double, optim::AdamOptions>{.params = {params[0]}, .options = {.lr = 1e-2}},
                             optim::ParamGroup<double, optim::AdamOptions>{.params = {params[1], params[2]},
                                                                           .options = {.lr = 1e-3, .weight_decay = 0.1}}});
    CHECK(replay(opt, params, ref, "adam_groups", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
}

TEST_CASE("AdamW follows torch.optim.AdamW's trajectories", "[optim][reference]") {
  const Reference ref;
  SECTION("default weight decay 1e-2") {
    auto params = initial_params(ref);
    optim::AdamW opt(params, {.lr = 1e-2});
    CHECK(opt.weight_decay() == 1e-2);
    CHECK(replay(opt, params, ref, "adamw_default_wd", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
  SECTION("amsgrad") {
    auto params = initial_params(ref);
    optim::AdamW opt(params, {.lr = 5e-3, .weight_decay = 0.1, .amsgrad = true});
    CHECK(replay(opt, params, ref, "adamw_amsgrad", kTrajectoryTolerance) <= kTrajectoryTolerance);
  }
}

TEST_CASE("the reference trajectories tell the optimizers apart", "[optim][reference]") {
  // The oracle must be able to fail: Adam replayed against AdamW's trajectory (same lr) and SGD without
  // dampening against the dampened one differ far beyond the tolerance.
  const Reference ref;
  const auto traj = testing::load_npy<double>(reference_file("traj_adamw_default_wd.npy"));
  auto params = initial_params(ref);
  optim::Adam opt(params, {.lr = 1e-2, .weight_decay = 1e-2});
  for (index_t s = 0; s < kSteps; ++s) {
    const auto grads = split(ref.grads.data() + s * ref.numel());
    for (std::size_t k = 0; k < params.size(); ++k)
      params[k].set_grad(ref.has_grad.data()[s * 3 + static_cast<index_t>(k)] != 0 ? grads[k] : Tensor<double>());
    opt.step();
  }
  const auto last = from_vector<double>(std::vector<double>(traj.data() + (kSteps - 1) * ref.numel(), traj.data() + kSteps * ref.numel()),
                                        Shape{ref.numel()});
  CHECK(testing::compare(concat(params), last, {.rtol = 0, .atol = 1e-6}).max_abs_error > 1e-6);
}

TEST_CASE("clip_grad_norm_ matches torch.nn.utils.clip_grad_norm_", "[optim][clip][reference]") {
  const auto grads_in = testing::load_npy<double>(reference_file("clip_grads_in.npy"));
  const auto norms = testing::load_npy<double>(reference_file("clip_norms.npy"));
  const auto clipped = testing::load_npy<double>(reference_file("clip_grads.npy"));
  // (max_norm, norm_type) as CLIP_CASES in the script; the last one does not clip.
  const std::vector<std::pair<double, double>> cases = {
      {1.0, 2.0}, {0.5, 1.0}, {0.1, std::numeric_limits<double>::infinity()}, {2.0, 3.5}, {1e3, 2.0}};
  REQUIRE(norms.numel() == static_cast<index_t>(cases.size()));
  const index_t n = grads_in.numel();
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto [max_norm, norm_type] = cases[c];
    std::vector<Tensor<double>> params;
    for (const Shape& s : kShapes) params.push_back(zeros<double>(s).set_requires_grad());
    const auto grads = split(grads_in.data());
    for (std::size_t k = 0; k < params.size(); ++k) params[k].set_grad(grads[k].clone_detached());
    const double total = optim::clip_grad_norm_(params, max_norm, norm_type);
    INFO("case " << c << ": max_norm " << max_norm << ", norm_type " << norm_type);
    // Summation order differs from torch's reductions: a few ulps.
    CHECK(total == Approx(norms.data()[c]).epsilon(1e-14));
    const auto expected = from_vector<double>(std::vector<double>(clipped.data() + static_cast<index_t>(c) * n,
                                                                  clipped.data() + static_cast<index_t>(c + 1) * n),
                                              Shape{n});
    std::vector<Tensor<double>> after;
    for (const auto& p : params) after.push_back(p.grad());
    const auto r = testing::compare(concat(after), expected, {.rtol = 1e-14, .atol = 0}, "clipped gradients");
    INFO(r.report);
    CHECK(r.ok);
  }
}
