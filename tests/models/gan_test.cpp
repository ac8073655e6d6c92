// GAN losses, gradient penalties (WGAN-GP, R1), spectral normalisation, mode coverage and a short 2-D training run.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

using namespace latent;

namespace {

double softplus_d(double x) { return std::log1p(std::exp(x)); }
double mean_of(const std::vector<double>& v, const std::function<double(double)>& f) {
  double s = 0;
  for (double x : v) s += f(x);
  return s / static_cast<double>(v.size());
}

// A small discriminator [B, 2] -> [B, 1] with smooth activations, so that ∇_x D depends on every parameter.
std::unique_ptr<nn::MLP<double>> smooth_critic(Rng& rng) {
  return std::make_unique<nn::MLP<double>>(nn::MLPOptions{.in = 2, .hidden = {5}, .out = 1, .activation = nn::Activation::tanh}, rng);
}
std::unique_ptr<nn::MLP<double>> tiny_generator(Rng& rng) {
  return std::make_unique<nn::MLP<double>>(nn::MLPOptions{.in = 2, .hidden = {4}, .out = 2, .activation = nn::Activation::tanh}, rng);
}

using DoubleGAN = GAN<nn::MLP<double>, nn::MLP<double>, WassersteinLoss>;

// Central differences of `value` with respect to every element of every parameter, against the .grad that
// one backward of `value` left there.
void check_parameter_gradients(nn::Module<double>& m, const std::function<Tensor<double>()>& value) {
  m.zero_grad();
  value().backward();
  const double h = 1e-6;
  for (auto& [name, p] : m.named_parameters()) {
    // No gradient: the value does not depend on p (∇_x D does not involve the last bias), so analytic 0.
    const auto g = p.grad().defined() ? p.grad().to_vector() : std::vector<double>(static_cast<std::size_t>(p.numel()), 0.0);
    for (index_t k = 0; k < p.numel(); ++k) {
      const double saved = p.data()[k];
      p.data()[k] = saved + h;
      const double up = value().item();
      p.data()[k] = saved - h;
      const double down = value().item();
      p.data()[k] = saved;
      const double numeric = (up - down) / (2 * h);
      INFO(name << "[" << k << "] analytic " << g[static_cast<std::size_t>(k)] << " numeric " << numeric);
      // central differences in double with h = 1e-6: truncation and rounding errors are below 1e-7
      CHECK(std::abs(g[static_cast<std::size_t>(k)] - numeric) <= 1e-6 + 1e-5 * std::abs(numeric));
    }
  }
}

}  // namespace

TEST_CASE("GAN losses match their formulas on known logits", "[models][gan]") {
  const std::vector<double> r{1.5, -0.5, 0.2}, f{-1.0, 0.3, 2.0};
  const auto real = from_vector<double>(r, {3});
  const auto fake = from_vector<double>(f, {3});
  // Oracle: the papers' formulas evaluated with <cmath> (softplus(x) = log(1 + e^x) = −log σ(−x)).
  const double d_bce = mean_of(r, [](double x) { return softplus_d(-x); }) + mean_of(f, softplus_d);
  CHECK(MinimaxLoss{}.discriminator(real, fake).item() == Approx(d_bce).epsilon(1e-12));
  CHECK(MinimaxLoss{}.generator(fake).item() == Approx(-mean_of(f, softplus_d)).epsilon(1e-12));
  CHECK(NonSaturatingLoss{}.discriminator(real, fake).item() == Approx(d_bce).epsilon(1e-12));
  CHECK(NonSaturatingLoss{}.generator(fake).item() == Approx(mean_of(f, [](double x) { return softplus_d(-x); })).epsilon(1e-12));
  CHECK(LeastSquaresLoss{}.discriminator(real, fake).item() ==
        Approx(0.5 * mean_of(r, [](double x) { return (x - 1) * (x - 1); }) + 0.5 * mean_of(f, [](double x) { return x * x; })).epsilon(1e-12));
  CHECK(LeastSquaresLoss{}.generator(fake).item() == Approx(0.5 * mean_of(f, [](double x) { return (x - 1) * (x - 1); })).epsilon(1e-12));
  CHECK(HingeLoss{}.discriminator(real, fake).item() ==
        Approx(mean_of(r, [](double x) { return std::max(0.0, 1 - x); }) + mean_of(f, [](double x) { return std::max(0.0, 1 + x); })).epsilon(1e-12));
  CHECK(HingeLoss{}.generator(fake).item() == Approx(-(f[0] + f[1] + f[2]) / 3).epsilon(1e-12));
  CHECK(WassersteinLoss{}.discriminator(real, fake).item() == Approx((f[0] + f[1] + f[2]) / 3 - (r[0] + r[1] + r[2]) / 3).epsilon(1e-12));
  CHECK(WassersteinLoss{}.generator(fake).item() == Approx(-(f[0] + f[1] + f[2]) / 3).epsilon(1e-12));
}

TEST_CASE("One-sided label smoothing is the cross-entropy towards real_label on real logits", "[models][gan]") {
  const std::vector<double> r{1.5, -0.5, 0.2}, f{-1.0, 0.3, 2.0};
  const auto real = from_vector<double>(r, {3});
  const auto fake = from_vector<double>(f, {3});
  // Oracle: −[t log σ(r) + (1 − t) log(1 − σ(r))] − log(1 − σ(f)) with σ from <cmath>, t = 0.9.
  const auto sigma = [](double x) { return 1 / (1 + std::exp(-x)); };
  const double t = 0.9;
  const double expected = mean_of(r, [&](double x) { return -(t * std::log(sigma(x)) + (1 - t) * std::log(1 - sigma(x))); }) +
                          mean_of(f, [&](double x) { return -std::log(1 - sigma(x)); });
  CHECK(NonSaturatingLoss{.real_label = t}.discriminator(real, fake).item() == Approx(expected).epsilon(1e-12));
  CHECK(MinimaxLoss{.real_label = t}.discriminator(real, fake).item() == Approx(expected).epsilon(1e-12));
  // The generator's loss does not change with the smoothing.
  CHECK(NonSaturatingLoss{.real_label = t}.generator(fake).item() == Approx(NonSaturatingLoss{}.generator(fake).item()).epsilon(1e-15));
  REQUIRE_THROWS_WITH(NonSaturatingLoss{.real_label = 1.5}.discriminator(real, fake),
                      "[latent.value] GAN loss: real_label = 1.5 must be in (0, 1]");
}

TEST_CASE("WGAN-GP penalty of a linear critic and its gradient match the closed form", "[models][gan][penalty]") {
  // D(x) = w·x + b has ∇_x D = w everywhere: penalty = λ(‖w‖ − 1)², ∂/∂w = 2λ(‖w‖ − 1) w/‖w‖, ∂/∂b = 0.
  // An implementation that drops the second-order term would give ∂/∂w = 0.
  Rng rng(3);
  auto critic = std::make_unique<nn::Linear<double>>(nn::LinearOptions{.in_features = 2, .out_features = 1}, rng);
  critic->weight.copy_(from_vector<double>({1.5, -2.0}, {1, 2}));
  GAN<nn::MLP<double>, nn::Linear<double>, WassersteinLoss> gan(tiny_generator(rng), std::move(critic), {}, {.latent_dim = 2});
  const auto real = randn<double>({4, 2}, rng), fake = randn<double>({4, 2}, rng);
  Rng eps_rng(5);
  auto penalty = gan.gradient_penalty(real, fake, eps_rng, 10.0);
  const double norm = std::sqrt(1.5 * 1.5 + 2.0 * 2.0);  // 2.5
  CHECK(penalty.item() == Approx(10.0 * (norm - 1) * (norm - 1)).epsilon(1e-9));
  penalty.backward();
  const auto gw = gan.discriminator().weight.grad().to_vector();
  CHECK(gw[0] == Approx(2 * 10.0 * (norm - 1) * 1.5 / norm).epsilon(1e-6));  // 1e-12 inside the root: relative 1e-13
  CHECK(gw[1] == Approx(2 * 10.0 * (norm - 1) * -2.0 / norm).epsilon(1e-6));
  const auto gb = gan.discriminator().bias.grad();
  CHECK((!gb.defined() || std::abs(gb.item()) < 1e-12));
}

TEST_CASE("WGAN-GP and R1 penalties' parameter gradients match finite differences", "[models][gan][penalty]") {
  Rng rng(11);
  DoubleGAN gan(tiny_generator(rng), smooth_critic(rng), {}, {.latent_dim = 2});
  const auto real = randn<double>({6, 2}, rng), fake = randn<double>({6, 2}, rng);
  SECTION("WGAN-GP") {
    check_parameter_gradients(gan.discriminator(), [&] {
      Rng eps_rng(7);  // the same interpolation points at every evaluation
      return gan.gradient_penalty(real, fake, eps_rng, 10.0);
    });
  }
  SECTION("R1") {
    check_parameter_gradients(gan.discriminator(), [&] { return gan.r1_penalty(real, 10.0); });
  }
}

TEST_CASE("GAN rejects bad options and a discriminator with several outputs per sample", "[models][gan]") {
  Rng rng(1);
  REQUIRE_THROWS_WITH((DoubleGAN(tiny_generator(rng), smooth_critic(rng), {}, {.latent_dim = 0})),
                      "[latent.value] GAN: latent_dim = 0 must be positive");
  REQUIRE_THROWS_WITH((DoubleGAN(tiny_generator(rng), smooth_critic(rng), {}, {.latent_dim = 2, .critic_steps = 0})),
                      "[latent.value] GAN: critic_steps = 0 must be >= 1");
  REQUIRE_THROWS_WITH((DoubleGAN(tiny_generator(rng), smooth_critic(rng), {}, {.latent_dim = 2, .mode_seeking = -1})),
                      "[latent.value] GAN: mode_seeking = -1 must be >= 0");
  auto wide = std::make_unique<nn::MLP<double>>(nn::MLPOptions{.in = 2, .hidden = {3}, .out = 2}, rng);
  DoubleGAN gan(tiny_generator(rng), std::move(wide), {}, {.latent_dim = 2});
  REQUIRE_THROWS_WITH(gan.logits(zeros<double>({4, 2})),
                      "[latent.shape] GAN: the discriminator maps [4,2] to [4,2]; expected [4] or [4,1]");
}

TEST_CASE("the mode-seeking term adds lambda / (output spread / noise spread + 1e-5) to the generator's loss",
          "[models][gan]") {
  // Oracle: the same players (same seed) without the term, and the spread recomputed from the same noise by hand.
  const auto make = [](double lambda) {
    Rng init(4);
    auto g = tiny_generator(init);
    auto d = smooth_critic(init);
    return GAN<nn::MLP<double>, nn::MLP<double>, NonSaturatingLoss>(std::move(g), std::move(d), {},
                                                                      {.latent_dim = 2, .mode_seeking = lambda});
  };
  auto plain = make(0), seeking = make(2.5);
  Rng r0(9), r1(9), r2(9);
  const double without = plain.generator_loss(8, r0).item(), with = seeking.generator_loss(8, r1).item();
  const auto z = plain.noise(8, r2).to_vector();
  const auto x = plain.generate(from_vector<double>(z, {8, 2})).to_vector();
  double dx = 0, dz = 0;
  for (std::size_t i = 0; i < 8; ++i) {  // pairs (i, i + 4), elements of 2 each
    dx += std::abs(x[i] - x[i + 8]) / 8;
    dz += std::abs(z[i] - z[i + 8]) / 8;
  }
  CHECK(with - without == Approx(2.5 / (dx / dz + 1e-5)).epsilon(1e-12));  // double throughout
  CHECK(with - without > 0);
}

TEST_CASE("GAN checks labels against num_classes and the players' call signatures", "[models][gan]") {
  Rng rng(1);
  REQUIRE_THROWS_WITH((DoubleGAN(tiny_generator(rng), smooth_critic(rng), {}, {.latent_dim = 2, .num_classes = -1})),
                      "[latent.value] GAN: num_classes = -1 must be >= 0");
  DoubleGAN plain(tiny_generator(rng), smooth_critic(rng), {}, {.latent_dim = 2});
  const auto two = from_vector<std::int64_t>({0, 1}, {2});
  REQUIRE_THROWS_WITH(plain.sample(2, rng, two), "[latent.value] GAN.generate: labels given to an unconditional GAN (num_classes = 0)");
  REQUIRE_THROWS_WITH(plain.random_labels(2, rng), "[latent.value] GAN.random_labels: the model is unconditional (num_classes = 0)");
  // MLPs have no (x, labels) call: a conditional GAN over them fails when it first needs one.
  DoubleGAN cond(tiny_generator(rng), smooth_critic(rng), {}, {.latent_dim = 2, .num_classes = 3});
  REQUIRE_THROWS_WITH(cond.sample(2, rng, two), "[latent.value] GAN.generate: num_classes > 0 but the generator has no call G(z, labels)");
  REQUIRE_THROWS_WITH(cond.logits(zeros<double>({2, 2}), two),
                      "[latent.value] GAN.logits: num_classes > 0 but the discriminator has no call D(x, labels)");
  REQUIRE_THROWS_WITH(cond.logits(zeros<double>({3, 2}), two), "[latent.shape] GAN.logits: labels [2] do not match a batch of 3");
}

TEST_CASE("spectral norm's sigma converges to the largest singular value", "[nn][spectral_norm]") {
  Rng rng(2);
  auto sn = nn::spectral_norm<double>(std::make_unique<nn::Linear<double>>(nn::LinearOptions{.in_features = 4, .out_features = 3}, rng), rng);
  sn->weight_orig.copy_(from_vector<double>({1, 2, 3, 4, 2, 0, 1, -1, 0, 1, -2, 3}, {3, 4}));
  // Oracle: numpy.linalg.svd of this matrix gives singular values 5.77503376, 3.72188081, 1.6723003; power
  // iteration converges with ratio (3.72/5.78)² ≈ 0.42 per step, so 40 forwards leave an error far below 1e-8.
  const auto x = randn<double>({2, 4}, rng);
  for (int i = 0; i < 40; ++i) (*sn)(x);
  CHECK(sn->sigma().item() == Approx(5.77503376).epsilon(1e-8));
  // The layer computes with W / σ: its output is x (W/σ)ᵀ + b.
  const auto y = (*sn)(x);
  const auto expected = linear(x, div(sn->weight_orig, scalar_tensor<double>(5.77503376)), sn->layer().bias);
  CHECK(max(abs(sub(y, expected))).item() < 1e-7);
  // eval: no power iteration, u stays put.
  sn->weight_orig.copy_(from_vector<double>({1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0}, {3, 4}));
  const auto u_before = sn->weight_u.to_vector();
  sn->train(false);
  (*sn)(x);
  CHECK(sn->weight_u.to_vector() == u_before);
  sn->train(true);
  for (int i = 0; i < 40; ++i) (*sn)(x);
  CHECK(sn->sigma().item() == Approx(3.0).epsilon(1e-8));
}

TEST_CASE("spectral norm keeps PyTorch's state_dict names and its gradient reaches weight_orig", "[nn][spectral_norm]") {
  Rng rng(4);
  auto sn = nn::spectral_norm<double>(std::make_unique<nn::Linear<double>>(nn::LinearOptions{.in_features = 3, .out_features = 2}, rng), rng);
  std::vector<std::string> names;
  const StateDict sd = sn->state_dict();
  for (const auto& [name, t] : sd.items()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"bias", "weight_orig", "weight_u", "weight_v"});
  CHECK(sn->parameters().size() == 2);
  // Oracle: gradcheck of y = x (W/σ(W))ᵀ with u, v fixed (eval mode: no power iteration between evaluations).
  sn->train(false);
  const auto x = randn<double>({2, 3}, rng);
  const auto r = gradcheck([&](const std::vector<Tensor<double>>& in) {
    sn->weight_orig.copy_(in[0].detach());
    Tensor<double> w = div(in[0], sn->sigma_of(in[0]));
    return linear(x, w, sn->layer().bias);
  }, {sn->weight_orig.clone_detached()});
  CHECK(r.ok);
}

TEST_CASE("mode coverage counts modes, high-quality samples and the reverse KL", "[metrics][mode_coverage]") {
  const auto mix = data::toy2d_mixture("8gaussians");
  // 100 samples at each of the first 6 centres (within 3σ by 0.5σ), 2 samples at mode 7 (under the 0.2 share of
  // 102.5 expected), and 20 far away.
  std::vector<float> v;
  for (int m = 0; m < 6; ++m)
    for (int i = 0; i < 100; ++i) v.insert(v.end(), {float(mix.centers[m][0] + 0.5 * mix.stddev), float(mix.centers[m][1])});
  for (int i = 0; i < 2; ++i) v.insert(v.end(), {float(mix.centers[6][0]), float(mix.centers[6][1])});
  for (int i = 0; i < 18; ++i) v.insert(v.end(), {0.0f, 0.0f});
  const auto r = metrics::mode_coverage(from_vector<float>(v, {620, 2}), mix.centers, mix.stddev);
  CHECK(r.num_modes == 8);
  CHECK(r.modes_covered == 6);
  CHECK(r.high_quality == Approx(602.0 / 620.0));
  // KL(p̂ ‖ U8) with p̂ = (100 ×6, 2, 0) / 602: Σ p log(8 p)
  const double p1 = 100.0 / 602, p2 = 2.0 / 602;
  CHECK(r.reverse_kl == Approx(6 * p1 * std::log(8 * p1) + p2 * std::log(8 * p2)).epsilon(1e-12));
  CHECK(r.counts == std::vector<std::int64_t>{100, 100, 100, 100, 100, 100, 2, 0});
  // uniform over all modes: KL = 0
  std::vector<float> u;
  for (const auto& c : mix.centers) u.insert(u.end(), {float(c[0]), float(c[1])});
  CHECK(metrics::mode_coverage(from_vector<float>(u, {8, 2}), mix.centers, mix.stddev).reverse_kl == Approx(0.0).margin(1e-12));
  REQUIRE_THROWS_WITH(metrics::mode_coverage(zeros<float>({3, 3}), mix.centers, mix.stddev),
                      "[latent.shape] mode_coverage: samples [3,3] must be [N, 2]");
}

TEST_CASE("GAN train_step runs critic_steps discriminator updates per generator update", "[models][gan]") {
  Rng rng(8);
  DoubleGAN gan(tiny_generator(rng), smooth_critic(rng), {}, {.latent_dim = 2, .critic_steps = 3, .gradient_penalty = 10});
  optim::Adam<double> g_opt(gan.generator().parameters(), {.lr = 1e-3});
  optim::Adam<double> d_opt(gan.discriminator().parameters(), {.lr = 1e-3});
  int batches = 0;
  const auto g_before = gan.generator().parameters()[0].to_vector();
  const auto l = gan.train_step([&] { ++batches; return randn<double>({8, 2}, rng); }, g_opt, d_opt, rng);
  CHECK(batches == 3);
  CHECK(gan.ema().num_updates() == 1);
  CHECK(l.penalty > 0);
  CHECK(gan.generator().parameters()[0].to_vector() != g_before);
  // sample() uses the EMA weights, which after one update with warm-up decay min(0.999, 1/10) = 0.1 are
  // 0.9 new + 0.1 initial: they differ from the trained weights.
  Rng a(1), b(1);
  const auto with_ema = gan.sample(4, a).to_vector();
  const auto raw = gan.generator()(gan.noise(4, b)).to_vector();
  CHECK(with_ema != raw);
}

TEST_CASE("a short GAN training on 8gaussians covers at least 6 of the 8 modes", "[models][gan][train]") {
  // The gan_2d example's recipe at a smaller scale: non-saturating loss, small R1, Adam β1 = 0.5, EMA generator.
  Rng rng(0);
  const auto mix = data::toy2d_mixture("8gaussians");
  const double scale = 2.0;  // the ring has radius 2.83: bring it to about unit scale for the networks
  const auto train = mul_scalar(data::toy2d("8gaussians", 20000, rng), float(1 / scale));
  auto mlp = [&](int in, int out, bool leaky) {
    auto net = std::make_unique<nn::Sequential<float>>();
    net->push_back(std::make_unique<nn::Linear<float>>(nn::LinearOptions{.in_features = in, .out_features = 64}, rng));
    if (leaky) net->push_back(std::make_unique<nn::LeakyReLU<float>>(nn::LeakyReLUOptions{.negative_slope = 0.2}));
    else net->push_back(std::make_unique<nn::ReLU<float>>());
    net->push_back(std::make_unique<nn::Linear<float>>(nn::LinearOptions{.in_features = 64, .out_features = 64}, rng));
    if (leaky) net->push_back(std::make_unique<nn::LeakyReLU<float>>(nn::LeakyReLUOptions{.negative_slope = 0.2}));
    else net->push_back(std::make_unique<nn::ReLU<float>>());
    net->push_back(std::make_unique<nn::Linear<float>>(nn::LinearOptions{.in_features = 64, .out_features = out}, rng));
    return net;
  };
  GAN<nn::Sequential<float>, nn::Sequential<float>, NonSaturatingLoss> gan(mlp(4, 2, false), mlp(2, 1, true), {},
                                                                           {.latent_dim = 4, .r1_gamma = 0.01, .ema_decay = 0.99});
  optim::Adam<float> g_opt(gan.generator().parameters(), {.lr = 1e-3, .betas = {0.5, 0.999}});
  optim::Adam<float> d_opt(gan.discriminator().parameters(), {.lr = 1e-3, .betas = {0.5, 0.999}});
  for (int step = 0; step < 600; ++step)
    gan.train_step([&] { return index_select(train, 0, randint(0, train.size(0), {128}, rng)); }, g_opt, d_opt, rng);
  const auto samples = mul_scalar(gan.sample(1000, rng), float(scale));
  const auto m = metrics::mode_coverage(samples, mix.centers, mix.stddev);
  INFO("modes " << m.modes_covered << " high quality " << m.high_quality << " reverse KL " << m.reverse_kl);
  CHECK(m.modes_covered >= 6);
}

TEST_CASE("spectral norm wraps convolutions and restores its estimate from a state_dict", "[nn][spectral_norm]") {
  Rng rng(6);
  auto sin_weight = [](const Shape& s) {
    std::vector<double> v(static_cast<std::size_t>(s.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.7 * static_cast<double>(i));
    return from_vector<double>(v, s);
  };
  // Oracle: numpy.linalg.svd of the weights reshaped as PyTorch does (dim 0 for Conv2d: [out, in·kH·kW]; dim 1 for
  // ConvTranspose2d, whose weight is [in, out, kH, kW]: [out, in·kH·kW] after moving dim 1 first).
  auto conv = nn::spectral_norm<double>(
      std::make_unique<nn::Conv2d<double>>(nn::Conv2dOptions{.in_channels = 3, .out_channels = 2, .kernel_size = 2}, rng), rng);
  conv->weight_orig.copy_(sin_weight({2, 3, 2, 2}));
  const auto x = randn<double>({1, 3, 4, 4}, rng);
  for (int i = 0; i < 60; ++i) (*conv)(x);
  CHECK(conv->sigma().item() == Approx(2.86248451).epsilon(1e-7));
  CHECK((*conv)(x).shape() == Shape{1, 2, 3, 3});

  auto convt = nn::spectral_norm<double>(
      std::make_unique<nn::ConvTranspose2d<double>>(nn::ConvTranspose2dOptions{.in_channels = 3, .out_channels = 2, .kernel_size = 2}, rng),
      rng, {.dim = 1});
  convt->weight_orig.copy_(sin_weight({3, 2, 2, 2}));
  for (int i = 0; i < 60; ++i) (*convt)(x);
  CHECK(convt->sigma().item() == Approx(3.31623463).epsilon(1e-7));

  // u and v are buffers: a fresh wrapper (other random u, v) loaded from the state_dict gives the same σ.
  Rng other(99);
  auto copy = nn::spectral_norm<double>(
      std::make_unique<nn::Conv2d<double>>(nn::Conv2dOptions{.in_channels = 3, .out_channels = 2, .kernel_size = 2}, other), other);
  CHECK(copy->sigma().item() != Approx(2.86248451).epsilon(1e-3));
  copy->load_state_dict(conv->state_dict());
  CHECK(copy->sigma().item() == Approx(2.86248451).epsilon(1e-7));
  REQUIRE_THROWS_WITH(nn::spectral_norm<double>(
                          std::make_unique<nn::Linear<double>>(nn::LinearOptions{.in_features = 2, .out_features = 2}, rng), rng, {.dim = 2}),
                      "[latent.value] SpectralNorm: dim = 2 is not a dimension of the weight [2,2]");
}
