// Optimizer mechanics: state_dict round trips that resume bit for bit, param groups and lr, zero_grad and
// skipped parameters, no allocation in the steady state, training through autograd, and the error messages.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace latent;

namespace {

template <class T>
std::vector<Tensor<T>> make_params(std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Tensor<T>> params = {randn<T>({4, 3}, rng), randn<T>({3}, rng), randn<T>({}, rng)};
  for (auto& p : params) p.set_requires_grad();
  return params;
}

template <class T>
std::vector<Tensor<T>> clone_params(const std::vector<Tensor<T>>& params) {
  std::vector<Tensor<T>> out;
  for (const auto& p : params) out.push_back(p.clone_detached().set_requires_grad());
  return out;
}

// Deterministic gradients for step `s`; parameter 2 gets none on every third step (skipped by step()).
template <class T>
void set_grads(std::vector<Tensor<T>>& params, int s) {
  Rng rng(1000 + static_cast<std::uint64_t>(s));
  for (std::size_t k = 0; k < params.size(); ++k)
    params[k].set_grad(k == 2 && s % 3 == 1 ? Tensor<T>() : randn<T>(params[k].shape(), rng));
}

template <class T>
void train(optim::Optimizer<T>& opt, std::vector<Tensor<T>>& params, int from, int to) {
  const optim::WarmupCosine schedule({.warmup_iters = 2, .lr_decay_iters = 12, .min_factor = 0.2});
  for (int s = from; s < to; ++s) {
    optim::apply_schedule(opt, schedule, s);
    set_grads(params, s);
    opt.step();
  }
}

template <class T>
bool bitwise_equal(const std::vector<Tensor<T>>& a, const std::vector<Tensor<T>>& b) {
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k].to_vector() != b[k].to_vector()) return false;
  return true;
}

// A copy of `dict` without `skip`, with `replace` substituted (when given).
StateDict edited(const StateDict& dict, const std::string& skip, const std::string& replace_key = "", AnyTensor replacement = {}) {
  StateDict out;
  for (const auto& [name, t] : dict.items()) {
    if (name == skip) continue;
    out.set(name, name == replace_key ? replacement : t);
  }
  return out;
}

// Makes an optimizer of kind `Opt` over `params` with the options the round-trip tests use.
template <class Opt, class T>
std::unique_ptr<optim::Optimizer<T>> make(std::vector<Tensor<T>>& params, bool fresh_options) {
  using Options = typename Opt::Options;
  Options o{};
  if constexpr (std::is_same_v<Options, optim::SGDOptions>) o = {.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true};
  else o = {.lr = 1e-2, .betas = {0.8, 0.95}, .weight_decay = 0.05, .amsgrad = true};
  // A resumed run may be built with other options: load_state_dict restores the saved ones.
  if (fresh_options) o.lr = 0.5;
  return std::make_unique<Opt>(params, o);
}

}  // namespace

TEMPLATE_TEST_CASE("state_dict round trip resumes training bit for bit", "[optim][state_dict]", float, double) {
  using T = TestType;
  auto check = [](auto tag) {
    using Opt = typename decltype(tag)::type;
    constexpr int N = 7;
    // 2N straight steps.
    auto straight = make_params<T>(5);
    auto opt = make<Opt>(straight, false);
    train(*opt, straight, 0, 2 * N);
    // N steps, checkpoint (parameter values + optimizer state), a fresh optimizer, N more steps.
    auto first = make_params<T>(5);
    auto opt1 = make<Opt>(first, false);
    train(*opt1, first, 0, N);
    const StateDict saved = opt1->state_dict();
    auto resumed = clone_params(first);
    auto opt2 = make<Opt>(resumed, true);
    opt2->load_state_dict(saved);
    CHECK(opt2->lr() == opt1->lr());
    train(*opt2, resumed, N, 2 * N);
    CHECK(bitwise_equal(resumed, straight));
    // The oracle can fail: without the state the continuation differs.
    auto cold = clone_params(first);
    auto opt3 = make<Opt>(cold, false);
    train(*opt3, cold, N, 2 * N);
    CHECK_FALSE(bitwise_equal(cold, straight));
  };
  SECTION("SGD (nesterov momentum)") { check(std::type_identity<optim::SGD<T>>{}); }
  SECTION("Adam (amsgrad, weight decay)") { check(std::type_identity<optim::Adam<T>>{}); }
  SECTION("AdamW (amsgrad)") { check(std::type_identity<optim::AdamW<T>>{}); }
}

TEST_CASE("state_dict uses PyTorch-like keys and snapshots the state", "[optim][state_dict]") {
  auto params = make_params<double>(1);
  optim::Adam opt(params, {.lr = 0.01});
  CHECK(opt.state_dict().size() == 7);  // no state before the first step: only the group's entries
  set_grads(params, 1);  // parameter 2 has no gradient: no state for it
  opt.step();
  const StateDict d = opt.state_dict();
  std::vector<std::string> keys;
  for (const auto& [name, t] : d.items()) keys.push_back(name);
  CHECK(keys == std::vector<std::string>{"state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq", "state.1.step", "state.1.exp_avg",
                                         "state.1.exp_avg_sq", "param_groups.0.lr", "param_groups.0.betas", "param_groups.0.eps",
                                         "param_groups.0.weight_decay", "param_groups.0.amsgrad", "param_groups.0.initial_lr",
                                         "param_groups.0.params"});
  CHECK(d.get<std::int64_t>("state.0.step").item() == 1);
  CHECK(d.get<double>("param_groups.0.lr").item() == 0.01);
  CHECK(d.get<double>("param_groups.0.betas").to_vector() == std::vector<double>{0.9, 0.999});
  CHECK(d.get<std::int64_t>("param_groups.0.params").to_vector() == std::vector<std::int64_t>{0, 1, 2});
  // After one step from m = 0: exp_avg = (1 - β1) g, with 1 - β1 rounded as torch rounds it.
  CHECK(d.get<double>("state.1.exp_avg").at({2}) == (1.0 - 0.9) * params[1].grad().at({2}));
  const double before = d.get<double>("state.0.exp_avg").at({0, 0});
  set_grads(params, 2);
  opt.step();
  CHECK(d.get<double>("state.0.exp_avg").at({0, 0}) == before);  // a copy, not the live buffer
}

TEST_CASE("named parameters key the state by name", "[optim][state_dict]") {
  auto params = make_params<double>(2);
  optim::NamedParameters<double> named = {{"enc.weight", params[0]}, {"enc.bias", params[1]}, {"scale", params[2]}};
  optim::SGD opt(named, {.lr = 0.1, .momentum = 0.5});
  set_grads(params, 0);
  opt.step();
  const StateDict d = opt.state_dict();
  CHECK(d.contains("state.enc.weight.momentum_buffer"));
  CHECK(d.contains("state.scale.momentum_buffer"));
  CHECK_FALSE(d.contains("state.0.momentum_buffer"));
  CHECK(opt.param_names() == std::vector<std::string>{"enc.weight", "enc.bias", "scale"});
  // An index-keyed dict does not fit a named optimizer.
  auto other = make_params<double>(2);
  optim::SGD unnamed(other, {.lr = 0.1, .momentum = 0.5});
  set_grads(other, 0);
  unnamed.step();
  CHECK_THROWS_WITH(opt.load_state_dict(unnamed.state_dict()), "[latent.state] SGD.load_state_dict: unexpected entry 'state.0.momentum_buffer'");
}

TEST_CASE("load_state_dict rejects missing, unexpected and mismatched entries and changes nothing", "[optim][state_dict][errors]") {
  auto params = make_params<double>(3);
  optim::Adam opt(params, {.lr = 0.01, .amsgrad = true});
  set_grads(params, 0);
  opt.step();
  const StateDict good = opt.state_dict();
  auto other_params = make_params<double>(4);
  optim::Adam target(other_params, {.lr = 0.02});
  const auto before = target.state_dict();

  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "state.1.exp_avg_sq")),
                    "[latent.state] Adam.load_state_dict: missing entry 'state.1.exp_avg_sq'");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "state.0.max_exp_avg_sq")),
                    "[latent.state] Adam.load_state_dict: missing entry 'state.0.max_exp_avg_sq'");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "param_groups.0.eps")),
                    "[latent.state] Adam.load_state_dict: missing entry 'param_groups.0.eps'");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "", "state.1.exp_avg", zeros<double>({4}))),
                    "[latent.state] Adam.load_state_dict: entry 'state.1.exp_avg' has shape [4], expected [3]");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "", "state.1.exp_avg", zeros<float>({3}))),
                    "[latent.state] Adam.load_state_dict: entry 'state.1.exp_avg' is float32, expected float64");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "", "param_groups.0.betas", zeros<double>({3}))),
                    "[latent.state] Adam.load_state_dict: entry 'param_groups.0.betas' has shape [3], expected [2]");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "", "param_groups.0.lr", scalar_tensor<double>(-1.0))),
                    "[latent.value] Adam: lr = -1 must be >= 0");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "", "state.0.step", scalar_tensor<std::int64_t>(0))),
                    "[latent.state] Adam.load_state_dict: entry 'state.0.step' = 0 must be >= 1");
  StateDict extra = good;
  extra.set("state.7.exp_avg", zeros<double>({3}));
  CHECK_THROWS_WITH(target.load_state_dict(extra), "[latent.state] Adam.load_state_dict: unexpected entry 'state.7.exp_avg'");
  CHECK_THROWS_WITH(target.load_state_dict(StateDict{}),
                    "[latent.state] Adam.load_state_dict: the state_dict has 0 parameter groups, the optimizer has 1");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "", "param_groups.0.params", from_vector<std::int64_t>({0, 1}))),
                    "[latent.state] Adam.load_state_dict: entry 'param_groups.0.params' has shape [2]: parameter group 0 of the "
                    "optimizer has 3 parameters");
  CHECK_THROWS_WITH(target.load_state_dict(edited(good, "", "param_groups.0.params", from_vector<std::int64_t>({0, 2, 1}))),
                    "[latent.state] Adam.load_state_dict: entry 'param_groups.0.params' lists parameter 2 at position 1, the "
                    "optimizer has parameter 1 there");
  // Nothing changed by the failed loads.
  const auto after = target.state_dict();
  CHECK(after.size() == before.size());
  CHECK(target.lr() == 0.02);
  CHECK_FALSE(target.options().amsgrad);
  target.load_state_dict(good);
  CHECK(target.options().amsgrad);
  CHECK(target.lr() == 0.01);
}

TEST_CASE("load_state_dict checks the number of parameter groups", "[optim][state_dict][errors]") {
  auto a = make_params<double>(1);
  optim::SGD<double> two({{.params = {a[0]}, .options = {.lr = 0.1}}, {.params = {a[1], a[2]}, .options = {.lr = 0.2}}});
  auto b = make_params<double>(1);
  optim::SGD one(b, {.lr = 0.1});
  CHECK_THROWS_WITH(one.load_state_dict(two.state_dict()),
                    "[latent.state] SGD.load_state_dict: the state_dict has 2 parameter groups, the optimizer has 1");
}

TEST_CASE("parameters without a gradient are skipped and zero_grad drops gradients", "[optim]") {
  auto params = make_params<double>(6);
  const auto initial = clone_params(params);
  optim::Adam opt(params, {.lr = 0.1});
  params[0].set_grad(ones<double>({4, 3}));
  opt.step();
  CHECK(params[0].to_vector() != initial[0].to_vector());
  CHECK(params[1].to_vector() == initial[1].to_vector());
  CHECK(params[2].to_vector() == initial[2].to_vector());
  CHECK_FALSE(opt.state_dict().contains("state.1.step"));
  opt.zero_grad();
  for (const auto& p : params) CHECK_FALSE(p.grad().defined());
  const auto after_first = clone_params(params);
  opt.step();  // no gradients: nothing moves
  CHECK(bitwise_equal(params, after_first));
}

TEST_CASE("param groups have their own lr, set per group or for all", "[optim]") {
  auto p = make_params<double>(7);
  optim::AdamW<double> opt({{.params = {p[0], p[1]}, .options = {.lr = 1e-3}}, {.params = {p[2]}, .options = {.lr = 1e-2, .weight_decay = 0}}});
  CHECK(opt.num_param_groups() == 2);
  CHECK(opt.params(1).size() == 1);
  CHECK(opt.params(1)[0].same(p[2]));
  CHECK(opt.lr(0) == 1e-3);
  CHECK(opt.lr(1) == 1e-2);
  CHECK(opt.weight_decay(0) == 1e-2);
  CHECK(opt.weight_decay(1) == 0);
  opt.set_lr(1, 5e-3);
  CHECK(opt.lr(1) == 5e-3);
  CHECK(opt.initial_lr(1) == 1e-2);
  opt.set_lr(0.25);
  CHECK(opt.lr(0) == 0.25);
  CHECK(opt.lr(1) == 0.25);
  // add_param_group appends with the next indices.
  auto extra = zeros<double>({2}).set_requires_grad();
  opt.add_param_group({.params = {extra}, .options = {.lr = 0.5}});
  CHECK(opt.num_param_groups() == 3);
  CHECK(opt.parameters().size() == 4);
  CHECK(opt.state_dict().get<std::int64_t>("param_groups.2.params").to_vector() == std::vector<std::int64_t>{3});
  CHECK_THROWS_WITH(opt.lr(3), "[latent.value] AdamW.lr: parameter group 3 out of range (the optimizer has 3)");
  CHECK_THROWS_WITH(opt.set_lr(0, -0.1), "[latent.value] AdamW: lr = -0.1 must be >= 0");
}

TEST_CASE("a lr set between steps is the one the next step uses", "[optim]") {
  // SGD without momentum moves by exactly -lr * g.
  auto p = zeros<double>({2}).set_requires_grad();
  optim::SGD opt(std::vector<Tensor<double>>{p}, {.lr = 1.0});
  opt.set_lr(0.25);
  p.set_grad(from_vector<double>({1.0, -2.0}));
  opt.step();
  CHECK(p.to_vector() == std::vector<double>{-0.25, 0.5});
}

TEMPLATE_TEST_CASE("optimizers do not allocate in the steady state", "[optim][memory]", float, double) {
  using T = TestType;
  auto run = [](auto& opt, std::vector<Tensor<T>>& params) {
    set_grads(params, 0);
    opt.step();  // creates the state
    const auto stats = memory_stats();
    for (int s = 0; s < 5; ++s) opt.step();
    const auto after = memory_stats();
    CHECK(after.system_allocations + after.cache_hits == stats.system_allocations + stats.cache_hits);
  };
  auto a = make_params<T>(8);
  optim::Adam adam(a, {.amsgrad = true});
  run(adam, a);
  auto b = make_params<T>(8);
  optim::SGD sgd(b, {.lr = 0.1, .momentum = 0.9});
  run(sgd, b);
}

TEST_CASE("Adam minimises a quadratic through autograd", "[optim]") {
  // f(x) = Σ (x - c)²: Adam with lr 0.05 reaches the minimum c within a few hundred steps.
  auto x = zeros<double>({3}).set_requires_grad();
  const auto c = from_vector<double>({1.0, -2.0, 0.5});
  optim::Adam opt(std::vector<Tensor<double>>{x}, {.lr = 0.05});
  for (int s = 0; s < 600; ++s) {
    opt.zero_grad();
    sum(square(x - c)).backward();
    opt.step();
  }
  for (index_t i = 0; i < 3; ++i) CHECK(x.at({i}) == Approx(c.at({i})).margin(1e-3));
}

TEST_CASE("a large parameter gets the same update as the same values in small pieces", "[optim]") {
  // The fused kernels split large buffers into blocks (and threads); every element is computed alone,
  // so the split cannot change a bit.
  Rng rng(9);
  const auto big0 = randn<double>({10000}, rng), grad = randn<double>({10000}, rng);
  auto big = big0.clone_detached().set_requires_grad();
  std::vector<Tensor<double>> pieces;
  for (index_t k = 0; k < 10; ++k) {
    pieces.push_back(from_vector<double>(std::vector<double>(big0.data() + k * 1000, big0.data() + (k + 1) * 1000)).set_requires_grad());
    pieces.back().set_grad(from_vector<double>(std::vector<double>(grad.data() + k * 1000, grad.data() + (k + 1) * 1000)));
  }
  big.set_grad(grad);
  optim::AdamW a(std::vector<Tensor<double>>{big}, {.lr = 0.01});
  optim::AdamW b(pieces, {.lr = 0.01});
  for (int s = 0; s < 3; ++s) {
    a.step();
    b.step();
  }
  std::vector<double> joined;
  for (const auto& p : pieces) joined.insert(joined.end(), p.data(), p.data() + p.numel());
  CHECK(big.to_vector() == joined);
}

TEST_CASE("optimizer options are validated with the bad value in the message", "[optim][errors]") {
  auto p = make_params<float>(1);
  CHECK_THROWS_WITH(optim::Adam(p, {.lr = -0.001}), "[latent.value] Adam: lr = -0.001 must be >= 0");
  CHECK_THROWS_WITH(optim::Adam(p, {.eps = -1e-8}), "[latent.value] Adam: eps = -1e-08 must be >= 0");
  CHECK_THROWS_WITH(optim::Adam(p, {.betas = {1.0, 0.999}}), "[latent.value] Adam: betas[0] = 1 must be in [0, 1)");
  CHECK_THROWS_WITH(optim::Adam(p, {.betas = {0.9, -0.5}}), "[latent.value] Adam: betas[1] = -0.5 must be in [0, 1)");
  CHECK_THROWS_WITH(optim::Adam(p, {.weight_decay = -0.1}), "[latent.value] Adam: weight_decay = -0.1 must be >= 0");
  CHECK_THROWS_WITH(optim::AdamW(p, {.lr = -1}), "[latent.value] AdamW: lr = -1 must be >= 0");
  CHECK_THROWS_WITH(optim::AdamW(p, {.betas = {0.9, 1.0}}), "[latent.value] AdamW: betas[1] = 1 must be in [0, 1)");
  CHECK_THROWS_WITH(optim::SGD(p, {}), "[latent.value] SGD: lr is not set (SGD has no default learning rate, as in torch.optim.SGD)");
  CHECK_THROWS_WITH(optim::SGD(p, {.lr = -0.5}), "[latent.value] SGD: lr = -0.5 must be >= 0");
  CHECK_THROWS_WITH(optim::SGD(p, {.lr = 0.1, .momentum = -0.9}), "[latent.value] SGD: momentum = -0.9 must be >= 0");
  CHECK_THROWS_WITH(optim::SGD(p, {.lr = 0.1, .weight_decay = -1e-4}), "[latent.value] SGD: weight_decay = -0.0001 must be >= 0");
  CHECK_THROWS_WITH(optim::SGD(p, {.lr = 0.1, .nesterov = true}),
                    "[latent.value] SGD: nesterov requires momentum > 0 and dampening = 0 (got momentum = 0, dampening = 0)");
  CHECK_THROWS_WITH(optim::SGD(p, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                    "[latent.value] SGD: nesterov requires momentum > 0 and dampening = 0 (got momentum = 0.9, dampening = 0.1)");
  CHECK_NOTHROW(optim::SGD(p, {.lr = 0.1, .momentum = 0.9, .nesterov = true}));
}

TEST_CASE("optimizers reject bad parameter lists", "[optim][errors]") {
  auto p = make_params<float>(1);
  CHECK_THROWS_WITH(optim::Adam(std::vector<Tensor<float>>{}), "[latent.value] Adam: parameter group 0 has an empty parameter list");
  CHECK_THROWS_WITH(optim::Adam(std::vector<Tensor<float>>{p[0], p[1], p[0]}),
                    "[latent.value] Adam: parameter 2 is the same tensor as parameter 0");
  CHECK_THROWS_WITH(optim::Adam(std::vector<Tensor<float>>{p[0], Tensor<float>()}), "[latent.value] Adam: parameter 1 is undefined");
  const auto y = p[1] * 2.0f;
  CHECK_THROWS_WITH(optim::SGD(std::vector<Tensor<float>>{p[0], y}, {.lr = 0.1}),
                    "[latent.value] SGD: parameter 1 is not a leaf (it was computed by 'mul'); optimize leaf tensors");
  CHECK_THROWS_WITH(optim::Adam(optim::NamedParameters<float>{{"w", p[0]}, {"w", p[1]}}),
                    "[latent.value] Adam: parameter name 'w' is used twice (parameters 0 and 1)");
  optim::Adam<float> named(optim::NamedParameters<float>{{"w", p[0]}});
  CHECK_THROWS_WITH(named.add_param_group({.params = {p[1]}}),
                    "[latent.value] Adam: parameter group 1 is unnamed but the first group is named; name all groups or none");
  CHECK_THROWS_WITH(named.add_param_group({.params = {p[0]}, .names = {"v"}}),
                    "[latent.value] Adam: parameter 1 is the same tensor as parameter 0");
  optim::SGD sgd(std::vector<Tensor<float>>{p[0]}, {.lr = 0.1});
  p[0].set_grad(zeros<float>({3}));
  CHECK_THROWS_WITH(sgd.step(), "[latent.shape] SGD.step: parameter 0 [4,3] has a gradient of shape [3]");
}
