// VAE: analytic KL against Monte Carlo, reparameterised gradients against finite differences, the
// likelihoods' closed forms, the IWAE ordering on a trained model, conditioning, and the error messages.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/io/safetensors.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <numbers>

using namespace latent;

namespace {

// Binary data with structure a 2-D latent can capture: one of four 16-bit prototypes with 5% of bits flipped.
Tensor<float> prototype_bits(index_t n, Rng& rng) {
  const std::uint16_t prototypes[4] = {0x00FF, 0xFF00, 0x0F0F, 0xF0F0};
  std::vector<float> v(static_cast<std::size_t>(n * 16));
  for (index_t i = 0; i < n; ++i) {
    const std::uint16_t p = prototypes[rng.below(4)];
    for (int j = 0; j < 16; ++j) {
      const bool bit = ((p >> j) & 1) != rng.bernoulli(0.05);
      v[static_cast<std::size_t>(i * 16 + j)] = bit ? 1.0f : 0.0f;
    }
  }
  return from_vector<float>(v, Shape{n, 16});
}

double mean_of(const Tensor<float>& t) { return metrics::mean_with_error(t).mean; }

}  // namespace

TEST_CASE("the analytic KL matches a Monte-Carlo estimate of E_q[log q(z) - log p(z)]", "[models][vae]") {
  const auto mu = from_vector<double>({0.5, -1.0, 2.0, 0.0, 0.3, -0.2}, Shape{2, 3});
  const auto logvar = from_vector<double>({-1.0, 0.5, 0.0, 1.2, -2.0, 0.1}, Shape{2, 3});
  const Tensor<double> analytic = gaussian_kl(mu, logvar);
  Rng rng(11);
  const int samples = 20000;
  std::vector<double> sum(2, 0.0), sum_sq(2, 0.0);
  for (int s = 0; s < samples; ++s) {
    const Tensor<double> z = reparameterize(mu, logvar, rng);
    for (index_t b = 0; b < 2; ++b) {
      double log_ratio = 0;  // log q(z) − log p(z); the ½ log 2π terms cancel
      for (index_t j = 0; j < 3; ++j) {
        const double m = mu.at({b, j}), lv = logvar.at({b, j}), x = z.at({b, j});
        log_ratio += -0.5 * (lv + (x - m) * (x - m) / std::exp(lv)) + 0.5 * x * x;
      }
      sum[b] += log_ratio;
      sum_sq[b] += log_ratio * log_ratio;
    }
  }
  for (index_t b = 0; b < 2; ++b) {
    const double mc = sum[b] / samples, sd = std::sqrt(sum_sq[b] / samples - mc * mc);
    // the estimate is a mean of 20000 draws: 4 standard errors leave a 1e-4 false-failure rate
    CHECK(std::abs(mc - analytic.at({b})) < 4 * sd / std::sqrt(double(samples)));
  }
  // and the closed form itself at one point: KL(N(0.5, e^-1) ‖ N(0, 1)) = ½(e^-1 + 0.25 − 1 + 1)
  CHECK(gaussian_kl(from_vector<double>({0.5}, Shape{1, 1}), from_vector<double>({-1.0}, Shape{1, 1})).item() ==
        Approx(0.5 * (std::exp(-1.0) + 0.25)).epsilon(1e-12));
}

TEST_CASE("reparameterised ELBO gradients match finite differences", "[models][vae][gradcheck]") {
  Rng init(3);
  // x → ELBO through encoder, reparameterisation (ε fixed by a fresh Rng per call), decoder, likelihood, KL
  SECTION("MLP VAE, Gaussian likelihood with learned variance, gradient in the data") {
    auto vae = make_mlp_vae<double>({.in_features = 5, .hidden = 4, .latent = 3}, init,
                                    GaussianLikelihood({.learned_variance = true}));
    auto f = [&](const std::vector<Tensor<double>>& in) {
      Rng eps(7);
      return vae->loss(in[0], eps);
    };
    const auto r = gradcheck(f, {randn<double>(Shape{2, 5}, init)});
    INFO(r.report);
    CHECK(r.ok);
  }
  SECTION("the reparameterised sample in the posterior's mean and log-variance, Bernoulli likelihood") {
    auto vae = make_mlp_vae<double>({.in_features = 6, .hidden = 5, .latent = 3}, init);
    const Tensor<double> x = from_vector<double>({1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0}, Shape{2, 6});
    auto f = [&](const std::vector<Tensor<double>>& in) {
      Rng eps(5);
      const Tensor<double> z = reparameterize(in[0], in[1], eps);
      return sub(sum(vae->log_likelihood(vae->decode(z), x)), sum(gaussian_kl(in[0], in[1])));
    };
    const auto r = gradcheck(f, {randn<double>(Shape{2, 3}, init), randn<double>(Shape{2, 3}, init)});
    INFO(r.report);
    CHECK(r.ok);
  }
  SECTION("conditional conv VAE, Gaussian likelihood, gradient in the data") {
    auto vae = make_conv_vae<double>({.in_channels = 1, .image_size = 8, .channels = 2, .hidden = 6, .latent = 2,
                                      .num_classes = 3},
                                     init, GaussianLikelihood({.variance = 0.5}));
    const auto labels = from_vector<std::int64_t>({2, 0}, Shape{2});
    auto f = [&](const std::vector<Tensor<double>>& in) {
      Rng eps(9);
      return vae->loss(in[0], eps, 0, labels);
    };
    const auto r = gradcheck(f, {rand<double>(Shape{2, 1, 8, 8}, init)});
    INFO(r.report);
    CHECK(r.ok);
  }
  SECTION("categorical 8-bit likelihood in its logits") {
    const CategoricalLikelihood lik;
    const Tensor<double> x = from_vector<double>({0.0, 1.0, 128.0 / 255}, Shape{1, 3});
    auto f = [&](const std::vector<Tensor<double>>& in) { return lik.log_prob(in[0], x); };
    const auto r = gradcheck(f, {randn<double>(Shape{1, 256, 3}, init)});
    INFO(r.report);
    CHECK(r.ok);
  }
}

TEST_CASE("the likelihoods give their closed-form log-probabilities", "[models][vae]") {
  const index_t d = 5;
  const Tensor<double> x = from_vector<double>({0, 1, 1, 0, 1, 1, 0, 0, 0, 1}, Shape{2, d});
  // logits 0: every bit has probability ½, log p = −D ln 2
  const Tensor<double> bern = BernoulliLikelihood{}.log_prob(zeros<double>(Shape{2, 1, d}), x);
  CHECK(bern.at({0}) == Approx(-d * std::numbers::ln2));
  // one logit of 3 on a 1-bit and −3 on a 0-bit: log σ(3) each
  auto logits = zeros<double>(Shape{1, 1, d});
  for (index_t j = 0; j < d; ++j) logits.data()[j] = x.at({0, j}) > 0 ? 3.0 : -3.0;
  CHECK(BernoulliLikelihood{}.log_prob(logits, narrow(x, 0, 0, 1)).item() ==
        Approx(d * -std::log1p(std::exp(-3.0))));
  // uniform over 256 levels: −D ln 256
  CHECK(CategoricalLikelihood{}.log_prob(zeros<double>(Shape{2, 256, d}), x).at({1}) == Approx(-d * std::log(256.0)));
  // μ = x, σ² = 0.5: −D/2 (log 2π + log 0.5); learned log-variance 0 and μ = x + 1: −½ D (1 + log 2π)
  const Tensor<double> mu = reshape(x, Shape{2, 1, d});
  CHECK(GaussianLikelihood({.variance = 0.5}).log_prob(mu, x).at({0}) ==
        Approx(-0.5 * d * (std::log(2 * std::numbers::pi) + std::log(0.5))));
  const Tensor<double> params = cat({add_scalar(mu, 1.0), zeros<double>(Shape{2, 1, d})}, 1);
  CHECK(GaussianLikelihood({.learned_variance = true}).log_prob(params, x).at({1}) ==
        Approx(-0.5 * d * (1 + std::log(2 * std::numbers::pi))));
  // categorical targets round to the 8-bit grid, and values off [0, 1] are refused
  CHECK(CategoricalLikelihood::targets(from_vector<double>({0.0, 0.502, 1.0}, Shape{1, 3})).to_vector() ==
        std::vector<std::int64_t>{0, 128, 255});
  CHECK_THROWS_WITH(CategoricalLikelihood::targets(from_vector<double>({0.5, 1.5}, Shape{1, 2})),
                    "[latent.value] CategoricalLikelihood: data value 1.5 at index 1 is outside [0, 1]");
}

TEST_CASE("IWAE-k is tighter than the ELBO and tightens as k grows, on a trained VAE", "[models][vae][train]") {
  Rng rng(21);
  auto vae = make_mlp_vae<float>({.in_features = 16, .hidden = 32, .latent = 2}, rng);
  optim::Adam<float> opt(vae->parameters(), {.lr = 1e-2});
  for (int step = 0; step < 300; ++step) {
    const Tensor<float> x = prototype_bits(64, rng);
    Tensor<float> loss = vae->loss(x, rng, step);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  NoGradGuard no_grad;
  Rng data_rng(5);
  const Tensor<float> x = prototype_bits(1024, data_rng);
  // the ELBO as an average of 200 one-sample estimates per example
  double elbo = 0;
  for (int s = 0; s < 200; ++s) elbo += mean_of(vae->elbo_terms(x, rng).elbo()) / 200;
  const double iwae1 = mean_of(vae->iwae_bound(x, 1, rng));
  const double iwae10 = mean_of(vae->iwae_bound(x, 10, rng));
  const double iwae100 = mean_of(vae->iwae_bound(x, 100, rng));
  const double iwae1000 = mean_of(vae->iwae_bound(x, 1000, rng));
  INFO("ELBO " << elbo << "  IWAE-1 " << iwae1 << "  IWAE-10 " << iwae10 << "  IWAE-100 " << iwae100
               << "  IWAE-1000 " << iwae1000);
  CHECK(elbo > -16 * std::log(2.0));  // it learned something: better than a fair coin per bit
  // IWAE-1 is a one-sample ELBO estimate: equal in expectation (0.3 nats covers its noise over 1024 examples)
  CHECK(std::abs(iwae1 - elbo) < 0.3);
  CHECK(iwae10 > elbo);
  CHECK(iwae100 > iwae10);
  CHECK(iwae1000 > iwae100);
  // decoding the 1000 samples in chunks of 300 rows combines to the same bound, within Monte-Carlo noise
  const double chunked = mean_of(vae->iwae_bound(x, 1000, rng, {}, 300));
  CHECK(std::abs(chunked - iwae1000) < 0.05);
}

TEST_CASE("the VAE samples, reconstructs and interpolates with the data's shape", "[models][vae]") {
  Rng rng(4);
  auto vae = make_conv_vae<float>({.in_channels = 1, .image_size = 8, .channels = 2, .hidden = 8, .latent = 3}, rng);
  const Tensor<float> x = rand<float>(Shape{3, 1, 8, 8}, rng);
  CHECK(vae->sample(5, rng).shape() == Shape{5, 1, 8, 8});
  CHECK(vae->reconstruct(x).shape() == Shape{3, 1, 8, 8});
  const Tensor<float> path = vae->interpolate(narrow(x, 0, 0, 1), narrow(x, 0, 2, 1), 4);
  REQUIRE(path.shape() == Shape{4, 1, 8, 8});
  // the ends of the path are the reconstructions of the two inputs
  const Tensor<float> r = vae->reconstruct(x);
  for (index_t j = 0; j < 64; ++j) {
    CHECK(path.data()[j] == Approx(r.data()[j]).margin(1e-6));
    CHECK(path.data()[3 * 64 + j] == Approx(r.data()[2 * 64 + j]).margin(1e-6));
  }
  // sampled Bernoulli and categorical data lie on their supports
  const Tensor<float> logits = randn<float>(Shape{2, 1, 6}, rng);
  for (float v : BernoulliLikelihood{}.sample(logits, rng).to_vector()) CHECK((v == 0.0f || v == 1.0f));
  for (float v : CategoricalLikelihood{}.sample(randn<float>(Shape{2, 256, 3}, rng), rng).to_vector())
    CHECK(std::abs(v * 255 - std::round(v * 255)) < 1e-4);
}

TEST_CASE("KL warm-up raises the weight linearly to beta", "[models][vae]") {
  Rng rng(0);
  auto vae = make_mlp_vae<float>({.in_features = 4, .hidden = 3, .latent = 2}, rng, BernoulliLikelihood{},
                                 {.beta = 2.0, .kl_warmup_steps = 100});
  CHECK(vae->kl_weight(0) == 0.0);
  CHECK(vae->kl_weight(25) == 0.5);
  CHECK(vae->kl_weight(100) == 2.0);
  CHECK(vae->kl_weight(1000) == 2.0);
  // at step 0 the loss is the reconstruction term alone
  const Tensor<float> x = from_vector<float>({1, 0, 1, 0}, Shape{1, 4});
  Rng a(1), b(1);
  CHECK(vae->loss(x, a, 0).item() == Approx(-vae->elbo_terms(x, b).reconstruction.item()));
  CHECK_THROWS_WITH(make_mlp_vae<float>({.in_features = 4, .hidden = 3, .latent = 2}, rng, BernoulliLikelihood{},
                                        {.beta = -1.0}),
                    "[latent.value] VAE: beta = -1 must be non-negative");
}

TEST_CASE("a conditional VAE uses its labels and refuses to run without them", "[models][vae][errors]") {
  Rng rng(8);
  auto vae = make_mlp_vae<float>({.in_features = 4, .hidden = 6, .latent = 2, .num_classes = 3}, rng);
  const Tensor<float> x = from_vector<float>({1, 0, 1, 0, 0, 1, 1, 0}, Shape{2, 4});
  const auto y0 = from_vector<std::int64_t>({0, 0}, Shape{2}), y2 = from_vector<std::int64_t>({2, 2}, Shape{2});
  CHECK(vae->reconstruct(x, y0).to_vector() != vae->reconstruct(x, y2).to_vector());
  CHECK(vae->sample(2, rng, y0).shape() == Shape{2, 4});
  CHECK_THROWS_WITH(vae->reconstruct(x),
                    "[latent.value] MlpEncoder(in_features=4, hidden=6, latent=2, num_classes=3): conditional on 3 "
                    "classes, labels are required");
  CHECK_THROWS_WITH(vae->reconstruct(x, from_vector<std::int64_t>({0, 3}, Shape{2})),
                    "[latent.value] MlpEncoder(in_features=4, hidden=6, latent=2, num_classes=3): label 3 at index 1 "
                    "is outside [0, 3)");
  CHECK_THROWS_WITH(vae->reconstruct(x, from_vector<std::int64_t>({0}, Shape{1})),
                    "[latent.shape] VAE::encode: labels [1] must be [2]");
  auto plain = make_mlp_vae<float>({.in_features = 4, .hidden = 6, .latent = 2}, rng);
  CHECK_THROWS_WITH(plain->reconstruct(x, y0),
                    "[latent.value] MlpEncoder(in_features=4, hidden=6, latent=2, num_classes=0): labels given to an "
                    "unconditional part (num_classes = 0)");
}

TEST_CASE("a decoder output that does not fit the data and likelihood is refused", "[models][vae][errors]") {
  Rng rng(2);
  auto vae = make_mlp_vae<float>({.in_features = 4, .hidden = 3, .latent = 2}, rng, GaussianLikelihood({.learned_variance = true}));
  CHECK_THROWS_WITH(vae->log_likelihood(zeros<float>(Shape{2, 4}), zeros<float>(Shape{2, 4})),
                    "[latent.shape] VAE: decoder output [2,4] does not fit data [2,4] with 2 likelihood parameter(s) "
                    "per dimension (expected dimension 1 of size 8)");
  CHECK_THROWS_WITH(vae->decode(zeros<float>(Shape{2, 3})), "[latent.shape] VAE::decode: z [2,3] must be [B, 2]");
  CHECK_THROWS_WITH(GaussianLikelihood({.variance = 0.0}), "[latent.value] GaussianLikelihood: variance = 0 must be positive");
  CHECK_THROWS_WITH(vae->iwae_bound(zeros<float>(Shape{1, 4}), 0, rng), "[latent.value] VAE::iwae_bound: k = 0 must be positive");
}

TEST_CASE("bits per dimension and nats convert both ways", "[metrics][likelihood]") {
  CHECK(metrics::nats_to_bits_per_dim(784 * std::numbers::ln2, 784) == Approx(1.0));
  CHECK(metrics::bits_per_dim_to_nats(metrics::nats_to_bits_per_dim(87.3, 784), 784) == Approx(87.3));
  // log-weights log 1, log 3 for one example: IWAE = log 2, ELBO = (0 + log 3) / 2
  const auto lw = from_vector<double>({0.0, std::log(3.0)}, Shape{2, 1});
  CHECK(metrics::iwae_from_log_weights(lw).item() == Approx(std::log(2.0)));
  CHECK(metrics::elbo_from_log_weights(lw).item() == Approx(std::log(3.0) / 2));
  const auto m = metrics::mean_with_error(from_vector<double>({1, 2, 3, 4}, Shape{4}));
  CHECK(m.mean == 2.5);
  CHECK(m.standard_error == Approx(std::sqrt(5.0 / 3.0) / 2));
  CHECK_THROWS_WITH(metrics::nats_to_bits_per_dim(1.0, 0), "[latent.value] nats_to_bits_per_dim: dims = 0 must be positive");
}

TEST_CASE("a VAE saved to safetensors and loaded into a fresh model gives the same ELBO", "[models][vae][io]") {
  const auto dir = std::filesystem::temp_directory_path() / ("latent_vae_test_" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  Rng rng(6);
  auto trained = make_mlp_vae<float>({.in_features = 16, .hidden = 8, .latent = 2, .num_classes = 4}, rng);
  optim::Adam<float> opt(trained->parameters());
  const auto labels = from_vector<std::int64_t>({0, 1, 2, 3, 0, 1, 2, 3}, Shape{8});
  for (int step = 0; step < 20; ++step) {  // a few steps, so the weights are not an initialisation
    Tensor<float> loss = trained->loss(prototype_bits(8, rng), rng, step, labels);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  io::save_safetensors(dir / "vae.safetensors", trained->state_dict(), {{"model", "vae"}});
  Rng other(99);
  auto loaded = make_mlp_vae<float>({.in_features = 16, .hidden = 8, .latent = 2, .num_classes = 4}, other);
  const Tensor<float> x = prototype_bits(8, other);
  const auto elbo = [&](auto& vae) {
    NoGradGuard no_grad;
    Rng eval(123);  // the same posterior samples for both models
    return mean_of(vae.elbo_terms(x, eval, labels).elbo());
  };
  const double before = elbo(*loaded);
  loaded->load_state_dict(io::load_safetensors(dir / "vae.safetensors").tensors);
  CHECK(elbo(*loaded) == elbo(*trained));  // bit-identical weights and noise: exactly equal
  CHECK(before != elbo(*trained));
  std::filesystem::remove_all(dir);
}
