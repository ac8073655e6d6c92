// models::DCGANGenerator / DCGANDiscriminator: outputs, loss and every parameter gradient against PyTorch on identical
// weights (tests/models/dcgan_reference.py writes tests/models/data/dcgan/), the default W2 architecture's shapes,
// names and parameter count, conditional labels, and the pair trained through GAN<G, D, Loss> with labels.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

using namespace latent;

namespace {

std::filesystem::path dcgan_dir() {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  const std::string root = env && *env ? env : LATENT_SOURCE_DIR;
  return std::filesystem::path(root) / "tests" / "models" / "data" / "dcgan";
}
template <Element T>
Tensor<T> load(const std::string& c, const std::string& array) {
  return testing::load_npy<T>((dcgan_dir() / c / (array + ".npy")).string());
}

// Loads every state_dict entry of `m` from <case>/<prefix>.<name>.npy (strictly: names must all exist).
void load_weights(nn::Module<double>& m, const std::string& c, const std::string& prefix) {
  StateDict sd;
  for (const auto& [name, t] : m.state_dict())
    sd.set(name, testing::load_npy_any((dcgan_dir() / c / (prefix + "." + name + ".npy")).string()));
  m.load_state_dict(sd);
}

models::DCGANConfig config_of(const std::string& c) {
  const auto v = load<std::int64_t>(c, "config").to_vector();
  return {.latent_dim = v[0], .channels = v[1], .image_size = v[2], .g_features = v[3], .d_features = v[4], .num_classes = v[5]};
}

void check_close(const Tensor<double>& actual, const Tensor<double>& expected, const std::string& what) {
  // float64 on both sides; the only differences are summation orders in convolutions and matmuls.
  const auto r = testing::compare(actual, expected, {.rtol = 1e-9, .atol = 1e-11});
  INFO(what << ": " << r.report);
  CHECK(r.ok);
}

std::vector<std::string> names_of(const StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& [name, t] : sd) out.push_back(name);
  return out;
}

index_t count(const std::vector<Tensor<float>>& params) {
  index_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

}  // namespace

TEST_CASE("DCGAN generator and discriminator match PyTorch outputs and gradients on identical weights", "[models][gan][dcgan]") {
  for (const std::string c : {"unconditional", "conditional"}) {
    INFO("case " << c);
    const auto cfg = config_of(c);
    Rng rng(0);
    models::DCGANGenerator<double> g(cfg, rng);
    models::DCGANDiscriminator<double> d(cfg, rng);
    load_weights(g, c, "G");
    load_weights(d, c, "D");
    const auto z = load<double>(c, "z");
    const auto real = load<double>(c, "real");
    const Tensor<std::int64_t> labels = cfg.num_classes > 0 ? load<std::int64_t>(c, "labels") : Tensor<std::int64_t>();
    const auto fake = labels.defined() ? g(z, labels) : g(z);
    const auto d_real = labels.defined() ? d(real, labels) : d(real);
    const auto d_fake = labels.defined() ? d(fake, labels) : d(fake);
    const auto loss = add(mean(softplus(neg(d_real))), mean(softplus(d_fake)));
    loss.backward();
    check_close(fake, load<double>(c, "fake"), "G(z)");
    check_close(d_real, load<double>(c, "d_real"), "D(real)");
    check_close(d_fake, load<double>(c, "d_fake"), "D(G(z))");
    check_close(loss, load<double>(c, "loss"), "loss");
    for (auto& [name, p] : g.named_parameters()) check_close(p.grad(), load<double>(c, "gradG." + name), "grad G." + name);
    for (auto& [name, p] : d.named_parameters()) check_close(p.grad(), load<double>(c, "gradD." + name), "grad D." + name);
  }
}

TEST_CASE("default DCGAN pair is BENCHMARKS.md's W2 network with PyTorch's names and parameter count", "[models][gan][dcgan]") {
  Rng rng(1);
  const models::DCGANConfig cfg;
  models::DCGANGenerator<float> g(cfg, rng);
  models::DCGANDiscriminator<float> d(cfg, rng);
  CHECK(names_of(g.state_dict()) ==
        std::vector<std::string>{"fc.weight", "fc.bias", "bn0.weight", "bn0.bias", "bn0.running_mean", "bn0.running_var",
                                 "bn0.num_batches_tracked", "deconv1.weight", "deconv1.bias", "bn1.weight", "bn1.bias",
                                 "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked", "deconv2.weight",
                                 "deconv2.bias"});
  CHECK(names_of(d.state_dict()) ==
        std::vector<std::string>{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias",
                                 "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked", "fc.weight", "fc.bias"});
  CHECK(g.fc.weight.shape() == Shape{128 * 7 * 7, 100});
  CHECK(d.fc.weight.shape() == Shape{1, 6272});
  // Oracle: the parameter counts of the same networks built with torch.nn (dcgan_reference.py).
  const auto counts = load<std::int64_t>("", "default_counts").to_vector();
  CHECK(count(g.parameters()) == counts[0]);
  CHECK(count(d.parameters()) == counts[1]);
  const auto x = g(randn<float>({3, 100}, rng));
  CHECK(x.shape() == Shape{3, 1, 28, 28});
  for (float v : x.to_vector()) REQUIRE(std::abs(v) < 1.0f);  // Tanh output
  CHECK(d(x).shape() == Shape{3, 1});
}

TEST_CASE("conditional DCGAN players depend on the label", "[models][gan][dcgan]") {
  Rng rng(2);
  const models::DCGANConfig cfg{.latent_dim = 8, .image_size = 12, .g_features = 8, .d_features = 4, .num_classes = 4};
  models::DCGANGenerator<float> g(cfg, rng);
  models::DCGANDiscriminator<float> d(cfg, rng);
  CHECK(names_of(g.state_dict()).front() == "label_emb.weight");
  CHECK(names_of(d.state_dict()).back() == "embed.weight");
  g.eval();
  d.eval();  // running statistics: each row's output depends on its own inputs only
  const auto z = randn<float>({4, 8}, rng);
  const auto same_z = cat<float>({narrow(z, 0, 0, 1), narrow(z, 0, 0, 1)}, 0);
  const auto y = from_vector<std::int64_t>({0, 3}, {2});
  const auto x = g(same_z, y);
  CHECK(x.shape() == Shape{2, 1, 12, 12});
  // One noise vector, two labels: the images differ, and so do D's logits for one image under two labels.
  CHECK(max(abs(sub(narrow(x, 0, 0, 1), narrow(x, 0, 1, 1)))).item() > 1e-3f);
  const auto same_x = cat<float>({narrow(x, 0, 0, 1), narrow(x, 0, 0, 1)}, 0);
  const auto logits = d(same_x, y).to_vector();
  CHECK(std::abs(logits[0] - logits[1]) > 1e-4f);
  // The same label gives the same output (the difference above is the label's doing), up to float rounding: a
  // BLAS may take a different kernel path for different rows of one product (observed difference < 1e-7).
  const auto y_same = from_vector<std::int64_t>({3, 3}, {2});
  const auto logits_same = d(same_x, y_same).to_vector();
  CHECK(logits_same[0] == Approx(logits_same[1]).epsilon(1e-5).margin(1e-6));

  REQUIRE_THROWS_WITH(g(z), "[latent.value] DCGANGenerator(latent_dim=8, channels=1, image_size=12, g_features=8, num_classes=4): "
                            "conditional on 4 classes, labels are required");
  REQUIRE_THROWS_WITH(d(x, from_vector<std::int64_t>({1}, {1})),
                      "[latent.shape] DCGANDiscriminator(channels=1, image_size=12, d_features=4, num_classes=4): labels [1] "
                      "for a batch of 2");
  models::DCGANGenerator<float> plain({.latent_dim = 8, .image_size = 12, .g_features = 8}, rng);
  REQUIRE_THROWS_WITH(plain(z, from_vector<std::int64_t>({0, 1, 2, 3}, {4})),
                      "[latent.value] DCGANGenerator(latent_dim=8, channels=1, image_size=12, g_features=8, num_classes=0): "
                      "labels given to an unconditional model (num_classes = 0)");
  REQUIRE_THROWS_WITH(models::DCGANGenerator<float>({.image_size = 30}, rng),
                      "[latent.value] DCGANGenerator: image_size = 30 must be a positive multiple of 4");
}

TEST_CASE("conditional GAN trains both DCGAN players with labels", "[models][gan][dcgan]") {
  Rng rng(3);
  const models::DCGANConfig cfg{.latent_dim = 4, .image_size = 8, .g_features = 8, .d_features = 4, .num_classes = 3};
  using G = models::DCGANGenerator<float>;
  using D = models::DCGANDiscriminator<float>;
  GAN<G, D, NonSaturatingLoss> gan(std::make_unique<G>(cfg, rng), std::make_unique<D>(cfg, rng), {},
                           {.latent_dim = 4, .gradient_penalty = 1, .num_classes = 3});
  const GANBatch<float> batch{mul_scalar(add_scalar(rand<float>({6, 1, 8, 8}, rng), -0.5f), 2.0f),
                              from_vector<std::int64_t>({0, 1, 2, 0, 1, 2}, {6})};

  // Every parameter of D gets a gradient from the discriminator loss (penalty included), every parameter of G
  // from the generator loss: the labels reach both players' embeddings.
  gan.discriminator_loss(batch, rng).backward();
  for (auto& [name, p] : gan.discriminator().named_parameters()) {
    INFO("D." << name);
    REQUIRE(p.grad().defined());
    CHECK(max(abs(p.grad())).item() > 0.0f);
  }
  gan.generator_loss(6, rng, batch.labels).backward();
  for (auto& [name, p] : gan.generator().named_parameters()) {
    INFO("G." << name);
    REQUIRE(p.grad().defined());
    CHECK(max(abs(p.grad())).item() > 0.0f);
  }
  // Only the rows of the labels used get an embedding gradient.
  const auto emb_grad = gan.generator().named_parameters().front().second.grad();
  CHECK(max(abs(narrow(emb_grad, 0, 0, 3))).item() > 0.0f);

  optim::Adam<float> g_opt(gan.generator().parameters(), {.lr = 1e-3});
  optim::Adam<float> d_opt(gan.discriminator().parameters(), {.lr = 1e-3});
  const auto before = gan.generator().fc.weight.clone_detached();
  const auto l = gan.train_step(std::function<GANBatch<float>()>([&] { return batch; }), g_opt, d_opt, rng);
  CHECK(std::isfinite(l.discriminator));
  CHECK(l.penalty > 0);
  CHECK(max(abs(sub(gan.generator().fc.weight, before))).item() > 0.0f);

  const auto y = from_vector<std::int64_t>({2, 2, 1}, {3});
  CHECK(gan.sample(3, rng, y).shape() == Shape{3, 1, 8, 8});
  CHECK(gan.sample(5, rng).shape() == Shape{5, 1, 8, 8});  // random classes
  REQUIRE_THROWS_WITH(gan.sample(2, rng, from_vector<std::int64_t>({0, 3}, {2})),
                      "[latent.value] GAN.generate: label 3 at index 1 is not in [0, 3)");
  REQUIRE_THROWS_WITH(gan.discriminator_loss(batch.x, rng),
                      "[latent.value] GAN.generate: a conditional GAN (num_classes = 3) needs labels");
}
