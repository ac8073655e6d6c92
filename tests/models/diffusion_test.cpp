// Diffusion: schedule identities, target conversions, every sampler against the closed-form optimum denoiser for
// Gaussian data, classifier-free guidance, min-SNR weights, and a short training run on a 2-D mixture.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <optional>
#include <vector>

using namespace latent;

namespace {

// Gaussian data x0 ~ N(mu, s²) per coordinate. Then x_t ~ N(α mu, α² s² + σ²) and the optimal denoiser is
//   ε*(x, t) = E[ε | x_t = x] = σ (x − α mu) / (α² s² + σ²).
struct GaussianData {
  std::vector<double> mu{1.0, -0.5}, s{0.5, 0.2};
  Tensor<float> epsilon(const Tensor<float>& x, double alpha_bar) const {
    auto out = Tensor<float>::empty(x.shape());
    const double a = std::sqrt(alpha_bar), sg = std::sqrt(1 - alpha_bar);
    for (index_t i = 0; i < x.size(0); ++i)
      for (index_t j = 0; j < 2; ++j) {
        const double m = mu[std::size_t(j)], v = alpha_bar * s[std::size_t(j)] * s[std::size_t(j)] + 1 - alpha_bar;
        out.data()[i * 2 + j] = static_cast<float>(sg * (x.data()[i * 2 + j] - a * m) / v);
      }
    return out;
  }
};

// The analytic optimum as a Denoiser network: predicts ε, x0 or v from ε* at the timestep that the time (i + 1)/T
// it is given encodes.
struct AnalyticDenoiser {
  const NoiseTable* table;
  GaussianData data;
  Prediction prediction = Prediction::epsilon;
  Tensor<float> operator()(const Tensor<float>& x, const Tensor<float>& t, const Tensor<std::int64_t>&) {
    // The time is a float: snap the round trip t = (i + 1)/T → i to the table's range and to integers it rounds to.
    double step = std::clamp(double(t.data()[0]) * double(table->steps()) - 1, 0.0, double(table->steps() - 1));
    if (std::abs(step - std::round(step)) < 1e-3) step = std::round(step);
    const double ab = table->alpha_bar_at(step);
    const auto eps = data.epsilon(x, ab);
    const auto a = scalar_tensor<float>(float(std::sqrt(ab))), sg = scalar_tensor<float>(float(std::sqrt(1 - ab)));
    const auto x0 = x0_from_epsilon(eps, x, a, sg);
    return prediction_target(prediction, x0, eps, a, sg);
  }
  std::vector<Tensor<float>> parameters() const { return {}; }
};
static_assert(Denoiser<AnalyticDenoiser, float>);
static_assert(Denoiser<nn::TimeMLP<float>, float>);
static_assert(!Denoiser<nn::Linear<float>, float>, "a plain Linear has no (x, t, labels) call");
static_assert(NoiseSchedule<schedule::Linear> && NoiseSchedule<schedule::Cosine> && NoiseSchedule<schedule::Sigmoid>);

// A deterministic sampler maps x_T to an affine function a x_T + b of it (ε* is affine in x), so from x_T ~ N(0, 1)
// its output is N(b, a²): two evaluations (x_T = 0 and 1) give the whole output distribution.
struct AffineMap {
  std::vector<double> a, b;
};
AffineMap affine_map(const std::function<Tensor<float>(Tensor<float>)>& run) {
  const auto out = run(from_vector<float>({0, 0, 1, 1}, {2, 2}));
  AffineMap m;
  for (int j = 0; j < 2; ++j) {
    m.b.push_back(out.at({0, j}));
    m.a.push_back(out.at({1, j}) - out.at({0, j}));
  }
  return m;
}
// The largest error of the output distribution N(b, a²) against N(mu, s²), in units of s.
double affine_error(const AffineMap& m, const GaussianData& d) {
  double worst = 0;
  for (std::size_t j = 0; j < 2; ++j)
    worst = std::max({worst, std::abs(m.b[j] - d.mu[j]) / d.s[j], std::abs(m.a[j] - d.s[j]) / d.s[j]});
  return worst;
}

}  // namespace

TEST_CASE("noise schedules give strictly decreasing alpha_bar in (0, 1)", "[models][diffusion]") {
  for (const NoiseTable& table : {NoiseTable(schedule::Linear{}, 1000), NoiseTable(schedule::Cosine{}, 1000),
                                  NoiseTable(schedule::Sigmoid{}, 1000), NoiseTable(schedule::Cosine{}, 10)}) {
    INFO(table.name() << " T=" << table.steps());
    double prev = 1;
    for (std::int64_t i = 0; i < table.steps(); ++i) {
      REQUIRE(table.alpha_bar_at(i) < prev);
      REQUIRE(table.alpha_bar_at(i) > 0);
      prev = table.alpha_bar_at(i);
    }
    CHECK(table.alpha_bar_at(-1) == 1.0);
    CHECK(table.alpha_bar_at(table.steps() - 1) < 0.01);  // the last step is (almost) pure noise
  }
}

TEST_CASE("schedule tables follow their formulas", "[models][diffusion]") {
  // Linear: ᾱ_i = ∏ (1 − β_k), β linear from 1e-4 to 0.02; the table's β recovers them.
  const NoiseTable linear(schedule::Linear{}, 1000);
  CHECK(linear.alpha_bar_at(0) == Approx(1 - 1e-4).epsilon(1e-12));
  CHECK(linear.beta(999) == Approx(0.02).epsilon(1e-9));
  CHECK(linear.beta(500) == Approx(1e-4 + (0.02 - 1e-4) * 500 / 999.0).epsilon(1e-9));
  // Cosine at T = 4: ᾱ(i) = f((i + 1)/4)/f(0), none of the first three betas is clipped.
  const NoiseTable cosine(schedule::Cosine{}, 4);
  auto f = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  CHECK(cosine.alpha_bar_at(1) == Approx(f(0.5) / f(0)).epsilon(1e-12));
  // Sigmoid (start −3, end 3, τ 1) at t = 1/2: (σ(3) − σ(0))/(σ(3) − σ(−3)).
  const NoiseTable sigmoid(schedule::Sigmoid{}, 2);
  auto sig = [](double z) { return 1 / (1 + std::exp(-z)); };
  CHECK(sigmoid.alpha_bar_at(0) == Approx((sig(3) - sig(0)) / (sig(3) - sig(-3))).epsilon(1e-12));
}

TEST_CASE("SNR, log-SNR, alpha and sigma are consistent", "[models][diffusion]") {
  const NoiseTable table(schedule::Cosine{}, 100);
  for (double i : {0.0, 17.0, 50.0, 99.0, 42.5}) {
    const double ab = table.alpha_bar_at(i);
    CHECK(table.alpha(i) * table.alpha(i) + table.sigma(i) * table.sigma(i) == Approx(1.0));
    CHECK(table.snr(i) == Approx(ab / (1 - ab)));
    CHECK(table.log_snr(i) == Approx(0.5 * std::log(table.snr(i))));
    CHECK(table.snr(i) == Approx(std::pow(table.alpha(i) / table.sigma(i), 2)));
  }
}

TEST_CASE("epsilon, x0 and v targets convert into each other", "[models][diffusion]") {
  Rng rng(3);
  const auto x0 = randn<float>({16, 2}, rng), eps = randn<float>({16, 2}, rng);
  const auto alpha = rand<float>({16, 1}, rng, 0.1f, 0.99f);
  const auto sigma = sqrt(sub(ones<float>({16, 1}), square(alpha)));
  const auto x_t = add(mul(alpha, x0), mul(sigma, eps));
  // Oracle: the definitions x_t = α x0 + σ ε and v = α ε − σ x0 (float rounding: 1e-4).
  for (Prediction p : {Prediction::epsilon, Prediction::x0, Prediction::v}) {
    INFO(to_string(p));
    const auto target = prediction_target(p, x0, eps, alpha, sigma);
    const auto back = epsilon_from(p, target, x_t, alpha, sigma);
    for (index_t i = 0; i < 32; ++i) REQUIRE(back.data()[i] == Approx(eps.data()[i]).margin(1e-4));
  }
  const auto x0_back = x0_from_epsilon(eps, x_t, alpha, sigma);
  for (index_t i = 0; i < 32; ++i) REQUIRE(x0_back.data()[i] == Approx(x0.data()[i]).margin(1e-4));
}

TEST_CASE("sampler timesteps are evenly spaced from T-1 to 0", "[models][diffusion]") {
  const NoiseTable table(schedule::Linear{}, 1000);
  const auto all = table.timesteps(1000);
  REQUIRE(all.size() == 1000);
  CHECK(all.front() == 999);
  CHECK(all.back() == 0);
  const auto fifty = table.timesteps(50);
  CHECK(fifty.front() == 999);
  CHECK(fifty[1] == 979);  // round(999 · 48/49)
  CHECK(fifty[48] == 20);
  CHECK(fifty.back() == 0);
  REQUIRE_THROWS_WITH(table.timesteps(1001), "[latent.value] NoiseTable: sample steps = 1001 must be in [1, 1000]");
  // log-SNR spacing: from T − 1 to 0 with equal steps in λ (fractional timesteps in between).
  const auto even = table.timesteps(20, TimestepSpacing::log_snr);
  CHECK(even.front() == 999);
  CHECK(even.back() == 0);
  const double step = (table.log_snr(0.0) - table.log_snr(999.0)) / 19;
  for (std::size_t k = 1; k < even.size(); ++k) REQUIRE(table.log_snr(even[k]) - table.log_snr(even[k - 1]) == Approx(step).epsilon(1e-6));
}

TEST_CASE("deterministic samplers reproduce a Gaussian target with the optimal denoiser", "[models][diffusion]") {
  const GaussianData data;
  Rng rng(0);
  for (const NoiseTable& table : {NoiseTable(schedule::Linear{}, 1000), NoiseTable(schedule::Cosine{}, 1000)}) {
    const EpsilonFn<float> eps = [&](const Tensor<float>& x, double t) { return data.epsilon(x, table.alpha_bar_at(t)); };
    auto error = [&](Sampler s, std::int64_t steps, std::optional<TimestepSpacing> spacing = std::nullopt) {
      return affine_error(affine_map([&](Tensor<float> x) {
        return run_sampler<float>(table, eps, x, {.sampler = s, .steps = steps, .spacing = spacing}, rng);
      }), data);
    };
    INFO(table.name());
    // Tolerances: N(0, 1) vs the true x_T marginal differs by O(ᾱ_T) < 1e-3; the rest is discretisation error, which
    // is largest for this narrow target (s = 0.2) and shrinks with the order of the method. Measured (linear /
    // cosine): with log-SNR spacing DDIM-50 = Euler-50 0.049 / 0.074, Heun-50 0.006 / 0.013, DPM-Solver++-50 0.006 /
    // 0.006, DPM-Solver++-10 0.032 / 0.023, DDIM-1000 0.007 / 0.004; with uniform spacing (DDIM's default, better on
    // trained models: see SamplerOptions::spacing) DDIM-50 0.12 / 0.07.
    const double ddim = error(Sampler::ddim, 50), ddim_log = error(Sampler::ddim, 50, TimestepSpacing::log_snr);
    const double euler = error(Sampler::euler, 50), heun = error(Sampler::heun, 50);
    const double dpm = error(Sampler::dpm_solver_2m, 50), dpm_few = error(Sampler::dpm_solver_2m, 10);
    const double ddim_all = error(Sampler::ddim, 1000);
    const double dpm_uniform = error(Sampler::dpm_solver_2m, 50, TimestepSpacing::uniform);
    INFO("ddim50 " << ddim << " ddim50 log-SNR " << ddim_log << " euler50 " << euler << " heun50 " << heun << " dpm50 "
                   << dpm << " dpm10 " << dpm_few << " ddim1000 " << ddim_all << " dpm50 uniform " << dpm_uniform);
    CHECK(ddim_all < 0.01);
    CHECK(ddim < 0.15);
    CHECK(ddim_log < 0.1);
    CHECK(euler == Approx(ddim_log).epsilon(1e-3));  // DDIM (η = 0) is exactly Euler in (x/α, σ/α) on the same steps
    CHECK(heun < 0.02);
    CHECK(dpm < 0.01);
    CHECK(dpm_few < 0.05);
    CHECK(heun < euler);  // second order beats first order at equal steps
    CHECK(dpm < dpm_uniform);  // log-SNR spacing beats uniform spacing for few steps
  }
}

TEST_CASE("clip_denoised keeps every sampler's output in [-c, c] and is a no-op for a wide range", "[models][diffusion]") {
  const GaussianData data;  // mu = (1, -0.5): without clamping most outputs of coordinate 0 lie above 0.5
  const NoiseTable table(schedule::Linear{}, 1000);
  const EpsilonFn<float> eps = [&](const Tensor<float>& x, double t) { return data.epsilon(x, table.alpha_bar_at(t)); };
  Rng rng(3);
  const auto x_T = randn<float>({500, 2}, rng);
  for (Sampler s : {Sampler::ddpm, Sampler::ddim, Sampler::euler, Sampler::heun, Sampler::dpm_solver_2m}) {
    INFO(to_string(s));
    Rng a(4), b(4), c(4);
    const auto plain = run_sampler<float>(table, eps, x_T, {.sampler = s, .steps = 20}, a);
    const auto clipped = run_sampler<float>(table, eps, x_T, {.sampler = s, .steps = 20, .clip_denoised = 0.5}, b);
    const auto wide = run_sampler<float>(table, eps, x_T, {.sampler = s, .steps = 20, .clip_denoised = 100}, c);
    CHECK(max(plain).item() > 1.0f);
    // Every sampler's last step returns x0̂ itself (ᾱ = 1 after timestep 0); 1e-5: float rounding of the ε round trip.
    CHECK(max(abs(clipped)).item() <= 0.5f + 1e-5f);
    // The posterior mean E[x0 | x_t] of this target never leaves [-100, 100]; 1e-4: float rounding of the round trip.
    CHECK(max(abs(sub(wide, plain))).item() < 1e-4f);
  }
  REQUIRE_THROWS_WITH(run_sampler<float>(table, eps, x_T, {.clip_denoised = -1}, rng),
                      "[latent.value] run_sampler: clip_denoised = -1 must be >= 0 (0: off)");
}

TEST_CASE("stochastic samplers reproduce a Gaussian target with the optimal denoiser", "[models][diffusion]") {
  const GaussianData data;
  const NoiseTable table(schedule::Linear{}, 1000);
  const EpsilonFn<float> eps = [&](const Tensor<float>& x, double t) { return data.epsilon(x, table.alpha_bar_at(t)); };
  Rng rng(1);
  const index_t n = 10000;
  // Coarse stochastic sampling loses variance on this narrow target (measured: DDPM-50 shrinks the sd by 12 / 21%),
  // so only fine grids are held to the statistical tolerance; DDIM with η = 1 at T steps is DDPM itself.
  for (auto [sampler, steps, eta] : {std::tuple{Sampler::ddpm, 1000, 0.0}, std::tuple{Sampler::ddim, 1000, 1.0},
                                     std::tuple{Sampler::ddim, 1000, 0.5}}) {
    INFO(to_string(sampler) << " steps " << steps << " eta " << eta);
    const auto x = run_sampler<float>(table, eps, randn<float>({n, 2}, rng), {.sampler = sampler, .steps = steps, .eta = eta}, rng);
    const auto m = mean(x, 0), sd = sqrt(mean(square(sub(x, mean(x, 0, true))), 0));
    // Tolerance: 5 standard errors of the sample mean (s/√n) and standard deviation (s/√(2n)) at n = 20000.
    for (int j = 0; j < 2; ++j) {
      const double s = data.s[std::size_t(j)];
      CHECK(m.at({j}) == Approx(data.mu[std::size_t(j)]).margin(5 * s / std::sqrt(double(n))));
      CHECK(sd.at({j}) == Approx(s).margin(5 * s / std::sqrt(2.0 * n) + 2e-3));
    }
  }
}

TEST_CASE("Diffusion samples a Gaussian target through x0 and v predicting networks", "[models][diffusion]") {
  const GaussianData data;
  for (Prediction p : {Prediction::epsilon, Prediction::x0, Prediction::v}) {
    INFO(to_string(p));
    AnalyticDenoiser net{nullptr, data, p};
    Diffusion<AnalyticDenoiser, schedule::Cosine> model(net, {.timesteps = 200, .prediction = p});
    net.table = &model.table();
    Rng rng(2);
    // Tolerance: as the deterministic sampler test, at 40 DPM-Solver++ steps of a 200-step cosine table.
    const auto m = affine_map([&](Tensor<float> x) {
      return run_sampler<float>(model.table(), [&](const Tensor<float>& xt, double t) { return model.predict_epsilon(xt, t); },
                                x, {.sampler = Sampler::dpm_solver_2m, .steps = 40}, rng);
    });
    CHECK(affine_error(m, data) < 0.01);
    const auto x = model.sample({8000, 2}, rng, {.sampler = Sampler::ddim, .steps = 40});
    // 5 standard errors of the mean at n = 8000.
    CHECK(mean(x, 0).at({0}) == Approx(1.0).margin(5 * 0.5 / std::sqrt(8000.0)));
  }
}

TEST_CASE("min-SNR-gamma weights are min(SNR, gamma) in x0 units", "[models][diffusion]") {
  struct Zero {
    Tensor<float> operator()(const Tensor<float>& x, const Tensor<float>&, const Tensor<std::int64_t>&) { return zeros_like(x); }
    std::vector<Tensor<float>> parameters() const { return {}; }
  } net;
  // Hang et al. (2023), eq. 9-11: at SNR 10 with γ = 5 the ε weight is 5/10, the x0 weight 5, the v weight 5/11.
  const auto weight = [&](Prediction p, LossWeighting w, double snr) {
    Diffusion<Zero> model(net, {.prediction = p, .weighting = w, .min_snr_gamma = 5});
    return model.loss_weight(snr);
  };
  CHECK(weight(Prediction::epsilon, LossWeighting::min_snr, 10) == Approx(0.5));
  CHECK(weight(Prediction::x0, LossWeighting::min_snr, 10) == Approx(5));
  CHECK(weight(Prediction::v, LossWeighting::min_snr, 10) == Approx(5.0 / 11));
  CHECK(weight(Prediction::epsilon, LossWeighting::min_snr, 2) == Approx(1));  // below γ: unchanged
  CHECK(weight(Prediction::epsilon, LossWeighting::uniform, 10) == 1);
  // With a zero network the ε loss is E[w ε²]: every weight ≤ 1 and some < 1, so it is below the uniform loss.
  Rng a(4), b(4);
  Diffusion<Zero> uniform(net, {}), min_snr(net, {.weighting = LossWeighting::min_snr});
  const auto x0 = zeros<float>({4096, 2});
  CHECK(min_snr.loss(x0, a).item() < 0.95 * uniform.loss(x0, b).item());
}

TEST_CASE("classifier-free guidance extrapolates from the unconditional prediction", "[models][diffusion]") {
  const auto u = from_vector<float>({1, 2}), c = from_vector<float>({3, 1});
  const auto g = classifier_free_guidance(u, c, 3.0);  // u + 3 (c − u)
  CHECK(g.at({0}) == Approx(7));
  CHECK(g.at({1}) == Approx(-1));

  // A network that outputs its label: guided ε = null + w (label − null), with the null class = num_classes = 4.
  struct LabelEcho {
    std::vector<std::int64_t> seen;
    Tensor<float> operator()(const Tensor<float>& x, const Tensor<float>&, const Tensor<std::int64_t>& labels) {
      auto out = Tensor<float>::empty(x.shape());
      for (index_t i = 0; i < x.size(0); ++i) {
        seen.push_back(labels.data()[i]);
        for (index_t j = 0; j < x.size(1); ++j) out.data()[i * x.size(1) + j] = static_cast<float>(labels.data()[i]);
      }
      return out;
    }
    std::vector<Tensor<float>> parameters() const { return {}; }
  } net;
  Diffusion<LabelEcho> model(net, {.num_classes = 4, .label_dropout = 0.25});
  const auto labels = from_vector<std::int64_t>({0, 3});
  const auto eps = model.predict_epsilon(zeros<float>({2, 2}), 10, labels, 2.0);
  CHECK(eps.at({0, 0}) == Approx(4 + 2 * (0 - 4)));
  CHECK(eps.at({1, 1}) == Approx(4 + 2 * (3 - 4)));
  CHECK(model.predict_epsilon(zeros<float>({2, 2}), 10, labels, 1.0).at({1, 0}) == 3);  // scale 1: conditional
  CHECK(model.predict_epsilon(zeros<float>({2, 2}), 10).at({0, 0}) == 4);                 // no labels: null class

  // Label dropout: about a quarter of the training labels become the null class (binomial, n = 4000: ±5 sd).
  net.seen.clear();
  Rng rng(5);
  (void)model.loss(zeros<float>({4000, 2}), rng, zeros<std::int64_t>({4000}));
  const auto nulls = std::count(net.seen.begin(), net.seen.end(), 4);
  CHECK(double(nulls) == Approx(1000).margin(5 * std::sqrt(4000 * 0.25 * 0.75)));

  REQUIRE_THROWS_WITH(model.loss(zeros<float>({3, 2}), rng),
                      "[latent.value] Diffusion.loss: a class-conditional model (num_classes = 4) needs labels");
  REQUIRE_THROWS_WITH(model.loss(zeros<float>({2, 2}), rng, from_vector<std::int64_t>({0, 5})),
                      "[latent.value] Diffusion.loss: label 5 at index 1 is not in [0, 4] (4 is the null class)");
}

TEST_CASE("sinusoidal_embedding follows its formula", "[models][diffusion]") {
  const auto e = nn::sinusoidal_embedding(from_vector<float>({0.0f, 2.0f}), 4);
  // f_0 = 1, f_1 = 10000^(-1/2) = 0.01: [sin(t), sin(0.01 t), cos(t), cos(0.01 t)].
  CHECK(e.at({0, 0}) == 0);
  CHECK(e.at({0, 2}) == 1);
  CHECK(e.at({1, 0}) == Approx(std::sin(2.0)));
  CHECK(e.at({1, 1}) == Approx(std::sin(0.02)));
  CHECK(e.at({1, 3}) == Approx(std::cos(0.02)));
  REQUIRE_THROWS_WITH(nn::sinusoidal_embedding(from_vector<float>({1.0f}), 3),
                      "[latent.value] sinusoidal_embedding: dim = 3 must be positive and even");
}

TEST_CASE("TimeMLP names its parameters and checks its inputs", "[models][diffusion]") {
  Rng rng(0);
  nn::TimeMLP<float> net({.in = 2, .hidden = 16, .depth = 2, .time_dim = 8, .num_classes = 3}, rng);
  const auto sd = net.state_dict();
  CHECK(sd.contains("time_fc1.weight"));
  CHECK(sd.contains("class_embedding.weight"));
  CHECK(sd.get<float>("class_embedding.weight").shape() == Shape{4, 16});
  CHECK(sd.contains("blocks.1.fc2.bias"));
  CHECK(sd.get<float>("output.weight").shape() == Shape{2, 16});
  const auto y = net(zeros<float>({5, 2}), full<float>({5}, 0.5f), zeros<std::int64_t>({5}));
  CHECK(y.shape() == Shape{5, 2});
  REQUIRE_THROWS_WITH(net(zeros<float>({5, 3}), full<float>({5}, 0.5f), zeros<std::int64_t>({5})),
                      "[latent.shape] TimeMLP(in=2, hidden=16, depth=2, num_classes=3): input [5,3] must be [N, 2]");
}

TEST_CASE("a short diffusion training run learns a 2-D mixture", "[models][diffusion][training]") {
  Rng rng(11);
  // Data: two clusters at (±1, 0.5) with sd 0.1.
  auto mixture = [&](index_t n) {
    auto x = randn<float>({n, 2}, rng, 0.0f, 0.1f);
    for (index_t i = 0; i < n; ++i) {
      x.data()[2 * i] += rng.bernoulli(0.5) ? 1.0f : -1.0f;
      x.data()[2 * i + 1] += 0.5f;
    }
    return x;
  };
  const auto train = mixture(4096), held_out = mixture(1000);
  nn::TimeMLP<float> net({.in = 2, .hidden = 64, .depth = 2}, rng);
  Diffusion<nn::TimeMLP<float>> model(net, {.timesteps = 200, .ema_decay = 0.99});
  optim::Adam<float> opt(net.parameters(), {.lr = 2e-3});
  for (int step = 0; step < 600; ++step)
    model.train_step(index_select(train, 0, randint(0, 4096, {128}, rng)), opt, rng);
  const auto samples = model.sample({1000, 2}, rng, {.sampler = Sampler::ddim, .steps = 50});
  const double trained = metrics::mmd(samples, held_out).mmd2;
  const double noise = metrics::mmd(randn<float>({1000, 2}, rng), held_out).mmd2;
  INFO("MMD² trained " << trained << " vs standard normal " << noise);
  CHECK(trained < 0.1 * noise);  // loose: the untrained baseline is a standard normal
}
