// layer_norm, group_norm, batch_norm: gradient checks in double against central differences (with and
// without affine parameters, several ranks), forward values and running statistics against PyTorch 1.13
// (torch.nn.functional, float64), and the normalised statistics as an analytic identity.
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
