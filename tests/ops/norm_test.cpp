// layer_norm, group_norm, batch_norm: gradient checks in double against central differences (with and
// without affine parameters, several ranks), forward values and running statistics against PyTorch 1.13
// (torch.nn.functional, float64), and the normalised statistics as an analytic identity; layer_norm_linear against
// its composition.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include "ops_test_util.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace latent;
using namespace latent_test;

namespace {
template <class T>
void check_values(const Tensor<T>& y, const std::vector<double>& expected, double tol) {
  REQUIRE(y.numel() == static_cast<index_t>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(static_cast<double>(y.data()[i]) == Approx(expected[i]).epsilon(tol).margin(tol));
  }
}
}  // namespace

TEST_CASE("layer_norm has correct gradients with and without affine parameters", "[ops][norm][gradcheck]") {
  const auto x = uniform({3, 5}, 1, -2, 2), w = uniform({5}, 2, 0.5, 1.5), b = uniform({5}, 3);
  CHECK_GRADCHECK([](const Inputs& v) { return layer_norm(v[0], 1); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return layer_norm(v[0], 1, v[1]); }, {x, w});
  CHECK_GRADCHECK([](const Inputs& v) { return layer_norm(v[0], 1, v[1], v[2]); }, {x, w, b});
  CHECK_GRADCHECK([](const Inputs& v) { return layer_norm(v[0], 1, {}, v[1]); }, {x, b});
  // the last two dimensions of a [2, 3, 4] tensor, with [3, 4] affine parameters
  CHECK_GRADCHECK([](const Inputs& v) { return layer_norm(v[0], 2, v[1], v[2]); },
                  {uniform({2, 3, 4}, 4, -2, 2), uniform({3, 4}, 5, 0.5, 1.5), uniform({3, 4}, 6)});
  // a large eps changes the function; its gradient must follow
  CHECK_GRADCHECK([](const Inputs& v) { return layer_norm(v[0], 1, {}, {}, 0.5); }, {x});
}

TEST_CASE("group_norm has correct gradients for one, some and all channels per group", "[ops][norm][gradcheck]") {
  const auto x = uniform({2, 4, 3}, 10, -2, 2), w = uniform({4}, 11, 0.5, 1.5), b = uniform({4}, 12);
  for (index_t groups : {1, 2, 4}) {
    INFO("groups " << groups);
    CHECK_GRADCHECK([groups](const Inputs& v) { return weighted(group_norm(v[0], groups)); }, {x});
    CHECK_GRADCHECK([groups](const Inputs& v) { return group_norm(v[0], groups, v[1], v[2]); }, {x, w, b});
  }
  // images [N, C, H, W]
  CHECK_GRADCHECK([](const Inputs& v) { return group_norm(v[0], 2, v[1], v[2]); },
                  {uniform({2, 4, 2, 2}, 13, -2, 2), uniform({4}, 14, 0.5, 1.5), uniform({4}, 15)});
}

TEST_CASE("batch_norm in training has correct gradients (batch statistics)", "[ops][norm][gradcheck]") {
  const auto w = uniform({3}, 20, 0.5, 1.5), b = uniform({3}, 21);
  for (const Shape& s : {Shape{5, 3}, Shape{2, 3, 4}, Shape{2, 3, 2, 2}}) {
    INFO("input " << s.str());
    const auto x = uniform(s, 22, -2, 2);
    CHECK_GRADCHECK([](const Inputs& v) { return weighted(batch_norm(v[0], {}, {}, {}, {}, true)); }, {x});
    CHECK_GRADCHECK([](const Inputs& v) { return batch_norm(v[0], {}, {}, v[1], v[2], true); }, {x, w, b});
  }
  // running statistics are updated in place but do not enter the gradient
  auto running_mean = zeros<double>({3}), running_var = ones<double>({3});
  CHECK_GRADCHECK([&](const Inputs& v) { return batch_norm(v[0], running_mean, running_var, v[1], v[2], true); },
                  {uniform({4, 3}, 23, -2, 2), w, b});
}

TEST_CASE("batch_norm in evaluation has the gradient of a fixed affine map", "[ops][norm][gradcheck]") {
  const auto running_mean = uniform({3}, 30), running_var = uniform({3}, 31, 0.5, 2);
  CHECK_GRADCHECK([&](const Inputs& v) { return batch_norm(v[0], running_mean, running_var, v[1], v[2], false); },
                  {uniform({4, 3}, 32, -2, 2), uniform({3}, 33), uniform({3}, 34)});
}

TEMPLATE_TEST_CASE("layer_norm and group_norm match PyTorch", "[ops][norm]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-12;
  const auto x = from_vector<T>({1, 2, 4, 8, 0, -1, 3, T(0.5)}, {2, 4});
  const auto w = from_vector<T>({1, T(0.5), 2, -1}), b = from_vector<T>({0, 1, 0, -1});
  check_values(layer_norm(x, 1, w, b),
               {-1.0257545754961932, 0.6736235441603022, 0.18650083190839872, -2.585257071221389, -0.42409348851077594,
                0.4486784649359912, 3.223110512681898, -0.9151813022978449},
               tol);
  // torch.arange(16).reshape(2, 4, 2) ** 1.5, 2 groups
  std::vector<T> raw;
  for (int i = 0; i < 16; ++i) raw.push_back(static_cast<T>(std::pow(static_cast<double>(i), 1.5)));
  const auto x4 = from_vector<T>(raw, {2, 4, 2});
  check_values(group_norm(x4, 2, from_vector<T>({1, 2, 3, 4}), from_vector<T>({0, 0, 1, 1})),
               {-1.1410077395703158, -0.6352743772255341, 0.5788444407495162, 2.9737197928421844, -2.8975536338543693,
                -0.46676113799416713, 2.6280534356856893, 6.524366260112357, -1.3175478933982634, -0.47105731802027223,
                0.8477367280552781, 2.7294736947817957, -2.974434062459397, -0.3917595139265035, 2.7230135350416766,
                6.4319112334728725},
               tol);
  // without affine parameters: every normalised row has mean 0 and (biased) variance 1 / (1 + eps / var)
  Rng rng(4);
  const auto y = layer_norm(randn<T>({3, 64}, rng, T(2), T(3)), 1);
  const auto m = mean(y, 1), v = var(y, 1, 0);
  for (index_t i = 0; i < 3; ++i) {
    CHECK(std::abs(static_cast<double>(m.data()[i])) < 10 * tol);
    CHECK(static_cast<double>(v.data()[i]) == Approx(1.0).epsilon(1e-5));  // eps = 1e-5 against a variance near 9
  }
}

TEMPLATE_TEST_CASE("batch_norm matches PyTorch, including the running statistics", "[ops][norm]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-12;
  const auto x = from_vector<T>({1, 2, 4, 8, 0, -1, 3, T(0.5)}, {2, 4});
  const auto w = from_vector<T>({1, T(0.5), 2, -1}), b = from_vector<T>({0, 1, 0, -1});
  auto running_mean = from_vector<T>({0, 1, 0, 0}), running_var = ones<T>({4});
  check_values(batch_norm(x, running_mean, running_var, w, b, true),
               {0.9999800005999799, 1.4999988888925926, 1.999960001199959, -1.999999644444634, -0.9999800005999799,
                0.5000011111074074, -1.9999600011999608, -3.555553660106181e-07},
               tol);
  // momentum 0.1 and the unbiased batch variance, as PyTorch
  check_values(running_mean, {0.05, 0.95, 0.35, 0.425}, tol);
  check_values(running_var, {0.95, 1.35, 0.95, 3.7125}, tol);
  check_values(batch_norm(x, running_mean, running_var, w, b, false),
               {0.9746743046296347, 1.4518463835555067, 7.489602551364561, -4.931414373185084, -0.05129864761208604,
                0.16085671625405884, 5.43765664688112, -1.0389248947840106},
               tol);
  // evaluation leaves the running statistics alone
  check_values(running_mean, {0.05, 0.95, 0.35, 0.425}, tol);
}

// ---- the fused ops: the plain backward (one kernel) against the create_graph backward (composed of ops) and against
// the composition of elementary ops, on shapes that cross the kernels' 64-channel blocks ----------------------------

namespace {
/// (x - mean) / sqrt(var + eps) over dims, composed of elementary ops: the oracle for the fused kernels.
Tensor<double> composed_normalize(const Tensor<double>& x, const Dims& dims, double eps) {
  const auto c = sub(x, mean(x, dims, true));
  return div(c, sqrt(add_scalar(mean(mul(c, c), dims, true), eps)));
}

/// Gradients of Σ weighted(f(inputs)) in every input, by a plain backward or by one with create_graph.
std::vector<Tensor<double>> gradients_of(const std::function<Tensor<double>(const Inputs&)>& f, const Inputs& inputs,
                                         bool create_graph) {
  Inputs leaves;
  for (const auto& t : inputs) leaves.push_back(t.clone_detached().set_requires_grad());
  return grad<double>({sum(weighted(f(leaves)))}, leaves, {}, create_graph);
}

/// |a - b| <= tol (1 + |b|) everywhere; reports the worst element only.
void check_close(const Tensor<double>& a, const Tensor<double>& b, double tol) {
  REQUIRE(a.shape() == b.shape());
  index_t worst = 0;
  double worst_excess = -1;
  for (index_t i = 0; i < a.numel(); ++i) {
    const double excess = std::abs(a.data()[i] - b.data()[i]) / (1 + std::abs(b.data()[i]));
    if (std::isnan(worst_excess)) break;  // a NaN is the worst there is
    if (std::isnan(excess) || excess > worst_excess) {
      worst = i;
      worst_excess = excess;
    }
  }
  INFO("worst element " << worst << ": " << a.data()[worst] << " vs " << b.data()[worst]);
  CHECK(worst_excess <= tol);
}

void check_fused_against_composed(const std::function<Tensor<double>(const Inputs&)>& fused,
                                  const std::function<Tensor<double>(const Inputs&)>& composed, const Inputs& inputs) {
  const double tol = 1e-10;  // double rounding of different but exact formulas
  check_close(fused(inputs), composed(inputs), tol);
  const auto plain = gradients_of(fused, inputs, false), graph = gradients_of(fused, inputs, true),
             oracle = gradients_of(composed, inputs, false);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    INFO("input " << i);
    check_close(plain[i], oracle[i], tol);
    check_close(graph[i], oracle[i], tol);
  }
}
}  // namespace

TEST_CASE("fused layer_norm matches its composition, in values and in both backward paths", "[ops][norm]") {
  const auto w = uniform({130}, 40, 0.5, 1.5), b = uniform({130}, 41);
  check_fused_against_composed([](const Inputs& v) { return layer_norm(v[0], 1, v[1], v[2]); },
                               [](const Inputs& v) { return add(mul(composed_normalize(v[0], {1}, 1e-5), v[1]), v[2]); },
                               {uniform({3, 130}, 42, -2, 2), w, b});
  check_fused_against_composed([](const Inputs& v) { return layer_norm(v[0], 2, v[1]); },
                               [](const Inputs& v) { return mul(composed_normalize(v[0], {2, 3}, 1e-5), v[1]); },
                               {uniform({2, 3, 5, 4}, 43, -2, 2), uniform({5, 4}, 44, 0.5, 1.5)});
}

TEST_CASE("fused group_norm matches its composition, in values and in both backward paths", "[ops][norm]") {
  // 130 channels in 2 groups of 65: the affine-gradient blocks of 64 channels must stop at a group's end
  const auto composed = [](const Inputs& v, index_t groups) {
    const Shape& s = v[0].shape();
    const auto y = reshape(composed_normalize(reshape(v[0], Shape{s[0], groups, v[0].numel() / (s[0] * groups)}), {2}, 1e-5), s);
    Shape cs{1, s[1]};
    for (int d = 2; d < s.rank(); ++d) cs.push_back(1);
    return add(mul(y, reshape(v[1], cs)), reshape(v[2], cs));
  };
  check_fused_against_composed([](const Inputs& v) { return group_norm(v[0], 2, v[1], v[2]); },
                               [&](const Inputs& v) { return composed(v, 2); },
                               {uniform({3, 130}, 50, -2, 2), uniform({130}, 51, 0.5, 1.5), uniform({130}, 52)});
  check_fused_against_composed([](const Inputs& v) { return group_norm(v[0], 3, v[1], v[2]); },
                               [&](const Inputs& v) { return composed(v, 3); },
                               {uniform({2, 6, 3, 4}, 53, -2, 2), uniform({6}, 54, 0.5, 1.5), uniform({6}, 55)});
}

TEST_CASE("fused batch_norm matches its composition, in values and in both backward paths", "[ops][norm]") {
  const auto composed = [](const Inputs& v) {
    const Shape& s = v[0].shape();
    Dims dims{0};
    Shape cs{1, s[1]};
    for (int d = 2; d < s.rank(); ++d) {
      dims.push_back(d);
      cs.push_back(1);
    }
    return add(mul(composed_normalize(v[0], dims, 1e-5), reshape(v[1], cs)), reshape(v[2], cs));
  };
  // [N, C] with 130 channels (vectorised blocks of 64 and a partial one), and images
  check_fused_against_composed([](const Inputs& v) { return batch_norm(v[0], {}, {}, v[1], v[2], true); }, composed,
                               {uniform({5, 130}, 60, -2, 2), uniform({130}, 61, 0.5, 1.5), uniform({130}, 62)});
  check_fused_against_composed([](const Inputs& v) { return batch_norm(v[0], {}, {}, v[1], v[2], true); }, composed,
                               {uniform({3, 4, 2, 5}, 63, -2, 2), uniform({4}, 64, 0.5, 1.5), uniform({4}, 65)});
}

TEST_CASE("fused norms have correct gradients with only a weight or only a bias", "[ops][norm][gradcheck]") {
  // the weight and bias take different input slots of the node; the gradient must reach the right one
  const auto x = uniform({3, 4, 2}, 70, -2, 2), p = uniform({4}, 71, 0.5, 1.5);
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(batch_norm(v[0], {}, {}, v[1], {}, true)); }, {x, p});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(batch_norm(v[0], {}, {}, {}, v[1], true)); }, {x, p});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(group_norm(v[0], 2, v[1])); }, {x, p});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(group_norm(v[0], 2, {}, v[1])); }, {x, p});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(layer_norm(v[0], 1, {}, v[1])); }, {uniform({3, 2, 4}, 72, -2, 2), p});
}

TEST_CASE("fused norms have correct second-order gradients", "[ops][norm][second_order]") {
  const auto x = uniform({3, 4, 2}, 80, -2, 2), w = uniform({4}, 81, 0.5, 1.5), b = uniform({4}, 82);
  CHECK_GRADGRADCHECK([](const Inputs& v) { return batch_norm(v[0], {}, {}, v[1], v[2], true); }, {x, w, b});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return batch_norm(v[0], {}, {}, {}, v[1], true); }, {x, b});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return group_norm(v[0], 2, v[1], v[2]); }, {x, w, b});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return group_norm(v[0], 4, v[1]); }, {x, w});
  CHECK_GRADGRADCHECK([](const Inputs& v) { return layer_norm(v[0], 2, v[1]); }, {uniform({3, 2, 4}, 83, -2, 2), uniform({2, 4}, 84, 0.5, 1.5)});
}

TEST_CASE("batch_norm in evaluation without gradients uses the fused affine map", "[ops][norm]") {
  // the recorded (composed) and unrecorded (fused) evaluation paths compute the same map
  const auto x = uniform({4, 3, 2}, 90, -2, 2), rm = uniform({3}, 91), rv = uniform({3}, 92, 0.5, 2), w = uniform({3}, 93), b = uniform({3}, 94);
  const auto recorded = batch_norm(x.clone_detached().set_requires_grad(), rm, rv, w, b, false);
  const auto fused = batch_norm(x, rm, rv, w, b, false);
  CHECK(recorded.requires_grad());
  CHECK_FALSE(fused.requires_grad());
  check_close(fused, recorded, 1e-12);
}

TEST_CASE("fused norms agree with their composition on inputs large enough to be split over threads", "[ops][norm]") {
  // above the kernels' parallel threshold (2^17 operations), with two threads: the blocks must not overlap or be missed
  const int threads = num_threads();
  set_num_threads(2);
  const auto per_channel = [](const Inputs& v) {
    Dims dims{0, 2, 3};
    return add(mul(composed_normalize(v[0], dims, 1e-5), reshape(v[1], Shape{1, 16, 1, 1})), reshape(v[2], Shape{1, 16, 1, 1}));
  };
  const Inputs images{uniform({8, 16, 24, 24}, 100, -2, 2), uniform({16}, 101, 0.5, 1.5), uniform({16}, 102)};
  check_fused_against_composed([](const Inputs& v) { return batch_norm(v[0], {}, {}, v[1], v[2], true); }, per_channel, images);
  check_fused_against_composed(
      [](const Inputs& v) { return group_norm(v[0], 4, v[1], v[2]); },
      [](const Inputs& v) {
        const auto y = reshape(composed_normalize(reshape(v[0], Shape{8, 4, 4 * 24 * 24}), {2}, 1e-5), v[0].shape());
        return add(mul(y, reshape(v[1], Shape{1, 16, 1, 1})), reshape(v[2], Shape{1, 16, 1, 1}));
      },
      images);
  check_fused_against_composed([](const Inputs& v) { return layer_norm(v[0], 1, v[1], v[2]); },
                               [](const Inputs& v) { return add(mul(composed_normalize(v[0], {1}, 1e-5), v[1]), v[2]); },
                               {uniform({300, 200}, 103, -2, 2), uniform({200}, 104, 0.5, 1.5), uniform({200}, 105)});
  check_fused_against_composed([](const Inputs& v) { return batch_norm(v[0], {}, {}, v[1], v[2], true); },
                               [](const Inputs& v) { return add(mul(composed_normalize(v[0], {0}, 1e-5), v[1]), v[2]); },
                               {uniform({300, 200}, 106, -2, 2), uniform({200}, 107, 0.5, 1.5), uniform({200}, 108)});
  set_num_threads(threads);
}

TEST_CASE("layer_norm_linear has correct first- and second-order gradients, with and without each parameter",
          "[ops][norm][gradcheck]") {
  const auto lw = uniform({4}, 120), lb = uniform({4}, 121), w = uniform({3, 4}, 122), b = uniform({3}, 123);
  const Tensor<double> none;
  for (const Shape& s : {Shape{5, 4}, Shape{2, 3, 4}}) {
    INFO("input " << s.str());
    const auto x = mul_scalar(uniform(s, 124), 2.0);
    CHECK_GRADCHECK([](const Inputs& v) { return layer_norm_linear(v[0], v[1], v[2], v[3], v[4]); }, {x, lw, lb, w, b});
    CHECK_GRADCHECK([&](const Inputs& v) { return layer_norm_linear(v[0], v[1], none, v[2]); }, {x, lw, w});  // nanoGPT's
    CHECK_GRADCHECK([&](const Inputs& v) { return layer_norm_linear(v[0], none, none, v[1], v[2]); }, {x, w, b});
  }
  CHECK_GRADGRADCHECK([](const Inputs& v) { return layer_norm_linear(v[0], v[1], v[2], v[3], v[4]); },
                      {mul_scalar(uniform({2, 3, 4}, 125), 2.0), lw, lb, w, b});
  // only the weight of the product differentiated (the layer norm's inputs need no gradient)
  CHECK_GRADCHECK([&](const Inputs& v) { return layer_norm_linear(uniform({5, 4}, 126), lw, lb, v[0]); }, {w});
}

TEMPLATE_TEST_CASE("layer_norm_linear equals linear(layer_norm(x)) exactly and keeps x instead of the normalised rows",
                   "[ops][norm]", float, double) {
  using T = TestType;
  Rng rng(8);
  const auto x0 = randn<T>({4, 16, 64}, rng), lw0 = randn<T>({64}, rng), w0 = randn<T>({32, 64}, rng), g = randn<T>({4, 16, 32}, rng);
  std::vector<std::vector<T>> results[2];
  for (int fused = 0; fused < 2; ++fused) {
    auto x = x0.clone_detached().set_requires_grad(), lw = lw0.clone_detached().set_requires_grad(), w = w0.clone_detached().set_requires_grad();
    const auto before = memory_stats().bytes_in_use;
    const auto y = fused ? layer_norm_linear(x, lw, Tensor<T>(), w) : linear(layer_norm(x, 1, lw), w);
    const auto kept = memory_stats().bytes_in_use - before;
    // the composition also keeps the normalised rows (as large as x) for the weight's gradient
    if (fused) CHECK(kept < static_cast<std::size_t>(x.numel()) * sizeof(T));
    else CHECK(kept > static_cast<std::size_t>(x.numel()) * sizeof(T));
    sum(mul(y, g)).backward();
    results[fused] = {y.to_vector(), x.grad().to_vector(), lw.grad().to_vector(), w.grad().to_vector()};
  }
  CHECK(results[1] == results[0]);  // the same kernels in the same order
}
