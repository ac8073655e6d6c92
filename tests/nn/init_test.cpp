// nn::init and the layers' default initialisation: PyTorch's formulas (fan computation, gains, bounds), checked
// exactly for uniform bounds and statistically (stated tolerances) for normal standard deviations.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>

using namespace latent;

namespace {
struct Stats {
  double mean, std, min, max;
};
Stats stats_of(const Tensor<float>& t) {
  double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
  for (index_t i = 0; i < t.numel(); ++i) {
    const double v = t.data()[i];
    s += v;
    s2 += v * v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double n = static_cast<double>(t.numel()), m = s / n;
  return {m, std::sqrt(s2 / n - m * m), lo, hi};
}
/// All values in [-bound, bound], and the extremes within 0.5% of it (n >= 4096 uniform draws miss the last
/// 0.5% of both ends with probability below 1e-8).
void check_uniform_bound(const Tensor<float>& t, double bound) {
  const Stats s = stats_of(t);
  INFO("min " << s.min << ", max " << s.max << ", bound " << bound);
  CHECK(s.min >= -bound);
  CHECK(s.max <= bound);
  CHECK(s.min < -0.995 * bound);
  CHECK(s.max > 0.995 * bound);
}
}  // namespace

TEST_CASE("calculate_fan_in_and_fan_out reads dimensions 1 and 0 times the receptive field", "[nn][init]") {
  CHECK(nn::init::calculate_fan_in_and_fan_out(zeros<float>({400, 784})) == std::pair<index_t, index_t>{784, 400});
  CHECK(nn::init::calculate_fan_in_and_fan_out(zeros<float>({64, 3, 4, 5})) == std::pair<index_t, index_t>{60, 1280});
  CHECK_THROWS_WITH(nn::init::calculate_fan_in_and_fan_out(zeros<float>({5})),
                    "[latent.value] calculate_fan_in_and_fan_out: tensor [5] has fewer than 2 dimensions");
}

TEST_CASE("calculate_gain has PyTorch's values", "[nn][init]") {
  using nn::init::Nonlinearity;
  CHECK(nn::init::calculate_gain(Nonlinearity::linear) == 1.0);
  CHECK(nn::init::calculate_gain(Nonlinearity::tanh) == Approx(5.0 / 3.0));
  CHECK(nn::init::calculate_gain(Nonlinearity::relu) == Approx(std::sqrt(2.0)));
  CHECK(nn::init::calculate_gain(Nonlinearity::leaky_relu) == Approx(std::sqrt(2.0 / (1 + 0.01 * 0.01))));
  CHECK(nn::init::calculate_gain(Nonlinearity::leaky_relu, std::sqrt(5.0)) == Approx(std::sqrt(1.0 / 3.0)));
  CHECK(nn::init::calculate_gain(Nonlinearity::selu) == 0.75);
}

TEST_CASE("Linear initialises weight and bias uniformly within 1/sqrt(in_features)", "[nn][init]") {
  Rng rng(0);
  nn::Linear<float> fc({.in_features = 400, .out_features = 784}, rng);
  check_uniform_bound(fc.weight, 1.0 / 20.0);
  check_uniform_bound(fc.bias, 1.0 / 20.0);
}

TEST_CASE("Conv2d and ConvTranspose2d use PyTorch's fan_in (weight dimension 1 times the kernel)", "[nn][init]") {
  Rng rng(1);
  nn::Conv2d<float> conv({.in_channels = 16, .out_channels = 64, .kernel_size = 3}, rng);
  check_uniform_bound(conv.weight, 1.0 / std::sqrt(16.0 * 9));
  // [in=64, out=16, 4, 4]: fan_in = 16 * 16 = 256 (not 64 * 16): the bound 1/16 is reached, 1/32 would be exceeded.
  nn::ConvTranspose2d<float> up({.in_channels = 64, .out_channels = 16, .kernel_size = 4, .stride = 2, .padding = 1},
                                rng);
  check_uniform_bound(up.weight, 1.0 / 16.0);
  const Stats b = stats_of(up.bias);  // 16 values: just the bound
  CHECK(b.min >= -1.0 / 16.0);
  CHECK(b.max <= 1.0 / 16.0);
}

TEST_CASE("normal initialisers have the requested standard deviation", "[nn][init]") {
  // 2^18 samples: the sample sd has relative sd 1/sqrt(2n) = 0.14%, the mean sd/sqrt(n) = 0.2% of sd; 1% and
  // 1.5% tolerances are over 6 sigma.
  Rng rng(2);
  Tensor<float> w = empty<float>({512, 512});
  nn::init::kaiming_normal_(w, rng, 0.0, nn::init::FanMode::fan_in, nn::init::Nonlinearity::relu);
  Stats s = stats_of(w);
  CHECK(s.std == Approx(std::sqrt(2.0 / 512)).epsilon(0.01));
  CHECK(std::abs(s.mean) < 0.015 * s.std);
  nn::init::xavier_normal_(w, rng, 2.0);
  CHECK(stats_of(w).std == Approx(2.0 * std::sqrt(2.0 / 1024)).epsilon(0.01));
  nn::init::normal_(w, rng, 3.0, 0.5);
  s = stats_of(w);
  CHECK(s.std == Approx(0.5).epsilon(0.01));
  CHECK(s.mean == Approx(3.0).margin(0.0075));
  nn::Embedding<float> emb({.num_embeddings = 1024, .embedding_dim = 256}, rng);  // N(0, 1)
  s = stats_of(emb.weight);
  CHECK(s.std == Approx(1.0).epsilon(0.01));
  CHECK(std::abs(s.mean) < 0.015);
}

TEST_CASE("uniform initialisers respect their bounds exactly", "[nn][init]") {
  Rng rng(3);
  Tensor<float> w = empty<float>({300, 200});
  nn::init::xavier_uniform_(w, rng, 1.5);
  check_uniform_bound(w, 1.5 * std::sqrt(6.0 / 500));
  nn::init::kaiming_uniform_(w, rng, 0.0, nn::init::FanMode::fan_out, nn::init::Nonlinearity::relu);
  check_uniform_bound(w, std::sqrt(2.0) * std::sqrt(3.0 / 300));
  nn::init::uniform_(w, rng, -0.25, 0.75);
  const Stats s = stats_of(w);
  CHECK(s.min >= -0.25);
  CHECK(s.max <= 0.75);
  CHECK_THROWS_WITH(nn::init::uniform_(w, rng, 1.0, 0.0), "[latent.value] uniform_: a = 1 > b = 0");
}

TEST_CASE("norm layers start as the identity affine map", "[nn][init]") {
  nn::LayerNorm<float> ln({.normalized_shape = {3}});
  nn::GroupNorm<float> gn({.num_groups = 1, .num_channels = 2});
  nn::BatchNorm2d<float> bn({.num_features = 2});
  CHECK(ln.weight.to_vector() == std::vector<float>{1, 1, 1});
  CHECK(ln.bias.to_vector() == std::vector<float>{0, 0, 0});
  CHECK(gn.weight.to_vector() == std::vector<float>{1, 1});
  CHECK(bn.bias.to_vector() == std::vector<float>{0, 0});
  CHECK(bn.running_var.to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("a seed gives a reproducible model", "[nn][init]") {
  Rng a(11), b(11), c(12);
  nn::MLP<float> ma({.in = 4, .hidden = {8}, .out = 2}, a), mb({.in = 4, .hidden = {8}, .out = 2}, b),
      mc({.in = 4, .hidden = {8}, .out = 2}, c);
  for (std::size_t i = 0; i < ma.parameters().size(); ++i) {
    CHECK(ma.parameters()[i].to_vector() == mb.parameters()[i].to_vector());
    CHECK(ma.parameters()[i].to_vector() != mc.parameters()[i].to_vector());
  }
}
