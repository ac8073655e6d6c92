// metrics: the Fréchet distance against analytic Gaussian identities and a NumPy reference, and the digit classifier
// (training, saving and loading, evaluate_digits) on the shipped MNIST-10k.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/metrics/digit_classifier.hpp>
#include <latent/metrics/frechet.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "../io/io_test_util.hpp"

using namespace latent;

namespace {

metrics::FeatureMoments moments(std::vector<double> mean, std::vector<double> covariance) {
  const auto f = static_cast<index_t>(mean.size());
  return {from_vector<double>(mean, Shape{f}), from_vector<double>(covariance, Shape{f, f})};
}

/// L Lᵀ for a row-major d×d matrix L.
std::vector<double> gram(const std::vector<double>& l, int d) {
  std::vector<double> out(static_cast<std::size_t>(d * d), 0.0);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j)
      for (int k = 0; k < d; ++k) out[static_cast<std::size_t>(i * d + j)] += l[static_cast<std::size_t>(i * d + k)] * l[static_cast<std::size_t>(j * d + k)];
  return out;
}

std::filesystem::path mnist_dir() {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  return std::filesystem::path(env && *env ? env : LATENT_SOURCE_DIR) / "data" / "mnist-10k";
}

const metrics::DigitSplit& mnist() {
  static const metrics::DigitSplit split = metrics::load_mnist10k_split(mnist_dir());
  return split;
}

/// A narrow classifier trained for a few seconds (the full one takes a minute): good enough to test the metrics.
metrics::DigitClassifier& small_classifier() {
  static metrics::DigitClassifier net = [] {
    Rng init(1);
    metrics::DigitClassifier c({.channels1 = 8, .channels2 = 16, .hidden = 64}, init);
    metrics::train_digit_classifier(c, mnist().train.images, mnist().train.labels,
                                    {.steps = 400, .lr = 3e-3, .max_shift = 0, .seed = 1});
    return metrics::DigitClassifier(c.state_dict());
  }();
  return net;
}

}  // namespace

TEST_CASE("frechet_distance of Gaussians with diagonal covariances is the closed form", "[metrics][frechet]") {
  // Commuting (diagonal) covariances: tr(Σa + Σb − 2(Σa Σb)^½) = Σ_i (√a_i − √b_i)².
  const auto a = moments({1, 2, 3}, {4, 0, 0, 0, 9, 0, 0, 0, 0.25});
  const auto b = moments({0, 2, 5}, {1, 0, 0, 0, 16, 0, 0, 0, 1});
  const double expected = (1 + 0 + 4) + (2 - 1) * (2 - 1) + (3 - 4) * (3 - 4) + (0.5 - 1) * (0.5 - 1);
  CHECK(metrics::frechet_distance(a, b) == Approx(expected).epsilon(1e-12));  // double rounding only
  CHECK(metrics::frechet_distance(a, a) == Approx(0).margin(1e-12));
}

TEST_CASE("frechet_distance of non-commuting covariances matches NumPy", "[metrics][frechet]") {
  // Oracle (scipy is not installed): NumPy, through the eigenvalues of the non-symmetric product A B, a different
  // route from ours:  A = L1 L1ᵀ, B = L2 L2ᵀ,  tr((A B)^½) = Σ √eig(A B) = 7.041305810764749,
  //   d² = ‖μa − μb‖² + tr A + tr B − 2 tr((A B)^½) = 9.8198883784705053   (numpy 1.24, float64)
  const std::vector<double> l1 = {2, 0, 0, 0, 1, 1.5, 0, 0, -0.5, 0.3, 1, 0, 0.2, -0.7, 0.4, 0.8};
  const std::vector<double> l2 = {1, 0, 0, 0, -0.6, 2, 0, 0, 0.9, 0.1, 0.5, 0, 0.3, 0.5, -1.2, 1.1};
  const auto a = moments({0.5, -1, 2, 0}, gram(l1, 4));
  const auto b = moments({0, 1, 1.5, -0.25}, gram(l2, 4));
  CHECK(metrics::frechet_distance(a, b) == Approx(9.8198883784705053).epsilon(1e-12));  // conditioning of 4×4 eigenproblems
  CHECK(metrics::frechet_distance(b, a) == Approx(9.8198883784705053).epsilon(1e-12));  // symmetric in its arguments
}

TEST_CASE("frechet_distance of features follows the scaling identity", "[metrics][frechet]") {
  // b = s·a + c has μb = s μa + c and Σb = s² Σa, so (Σa^½ Σb Σa^½)^½ = s Σa and
  // d² = ‖(1 − s) μa − c‖² + (1 − s)² tr Σa, for any (here correlated, non-diagonal) sample covariance Σa.
  Rng rng(3);
  const index_t n = 400, f = 6;
  const auto z = randn<float>({n, f}, rng);
  const auto mixing = randn<float>({f, f}, rng);
  const auto a = add_scalar(matmul(z, mixing), 0.5f);
  const float s = 0.5f;
  const std::vector<float> c = {1, -2, 0, 0.5, 0, 3};
  const auto b = add(mul_scalar(a, s), from_vector<float>(c, Shape{1, f}));

  std::vector<double> mu(static_cast<std::size_t>(f), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < f; ++j) mu[static_cast<std::size_t>(j)] += a.data()[i * f + j] / double(n);
  double trace = 0, shift = 0;
  for (index_t j = 0; j < f; ++j) {
    double v = 0;
    for (index_t i = 0; i < n; ++i) v += std::pow(a.data()[i * f + j] - mu[static_cast<std::size_t>(j)], 2);
    trace += v / double(n - 1);
    shift += std::pow((1 - s) * mu[static_cast<std::size_t>(j)] - c[static_cast<std::size_t>(j)], 2);
  }
  const double expected = shift + (1 - s) * (1 - s) * trace;
  // b is rounded to float: relative errors of ~1e-7 per entry, so 1e-5 on d².
  CHECK(metrics::frechet_distance(a, b) == Approx(expected).epsilon(1e-5));
  // Identical sets: 0 up to the eigen-solver's rounding (relative to tr Σ ≈ 30).
  CHECK(std::abs(metrics::frechet_distance(a, a)) < 1e-9 * trace);
  // A pure shift: the covariance terms cancel and d² = ‖c‖².
  CHECK(metrics::frechet_distance(a, add(a, from_vector<float>(c, Shape{1, f}))) == Approx(1 + 4 + 0.25 + 9).epsilon(1e-5));
}

TEST_CASE("frechet_distance rejects features it cannot compare", "[metrics][frechet]") {
  REQUIRE_THROWS_WITH(metrics::frechet_distance(zeros<float>({5, 3}), zeros<float>({5, 4})),
                      "[latent.shape] frechet_distance: features [5,3] and [5,4] must be [N, F] and [M, F]");
  REQUIRE_THROWS_WITH(metrics::frechet_distance(zeros<float>({1, 3}), zeros<float>({5, 3})),
                      "[latent.value] frechet_distance: features [1,3] need at least 2 rows for a covariance");
}

TEST_CASE("the MNIST-10k split holds out every tenth image", "[metrics][digits]") {
  const auto& s = mnist();
  REQUIRE(s.train.images.shape() == Shape{9000, 1, 28, 28});
  REQUIRE(s.held_out.images.shape() == Shape{1000, 1, 28, 28});
  // The file is sorted by class (counts in data/README.md); every 10th image keeps all ten classes in both parts.
  std::vector<int> held(10, 0);
  for (index_t i = 0; i < 1000; ++i) ++held[static_cast<std::size_t>(s.held_out.labels.data()[i])];
  for (int c = 0; c < 10; ++c) CHECK(held[static_cast<std::size_t>(c)] > 80);
  // held-out image 0 is file image 9
  const auto all = data::load_mnist(mnist_dir() / "mnist10k-images-idx3-ubyte", mnist_dir() / "mnist10k-labels-idx1-ubyte");
  CHECK(narrow(all.images, 0, 9, 1).to_vector() == narrow(s.held_out.images, 0, 0, 1).to_vector());
  CHECK(narrow(all.images, 0, 10, 1).to_vector() == narrow(s.train.images, 0, 9, 1).to_vector());
}

TEST_CASE("evaluate_digits on real held-out digits: accurate, confident, close to the training digits", "[metrics][digits][train]") {
  auto& net = small_classifier();
  const auto& s = mnist();
  const auto& labels = s.held_out.labels;
  const std::vector<std::int64_t> requested(labels.data(), labels.data() + labels.numel());
  // every third training digit: the training part is sorted by class too, so a prefix would hold only 0s to 3s
  std::vector<std::int64_t> thirds;
  for (std::int64_t i = 0; i < 9000; i += 3) thirds.push_back(i);
  const auto reference = index_select(s.train.images, 0, from_vector<std::int64_t>(thirds, Shape{3000}));
  const auto r = metrics::evaluate_digits(net, s.held_out.images, reference, &requested);

  // Real digits requested as their true class: the report's accuracy is the classifier's held-out accuracy.
  CHECK(r.samples == 1000);
  CHECK(r.requested_accuracy == net.accuracy(s.held_out.images, labels));
  // Thresholds for the small test classifier (the full one: 99.4% held out); chance is 10%.
  CHECK(r.requested_accuracy >= 0.93);
  CHECK(r.confident_fraction >= 0.75);
  for (std::size_t c = 0; c < 10; ++c) {
    INFO("class " << c);
    CHECK(r.per_class_accuracy[c] >= 0.8);
    int count = 0;
    for (auto y : requested) count += y == static_cast<std::int64_t>(c);
    CHECK(r.class_fraction[c] == Approx(count / 1000.0).margin(0.02));  // assignments follow the label frequencies
  }
  CHECK(r.min_class_fraction == Approx(*std::min_element(r.class_fraction.begin(), r.class_fraction.end())));
  double total = 0;
  for (double p : r.class_fraction) total += p;
  CHECK(total == Approx(1.0));

  // Fréchet distance: held-out vs training digits (same distribution) is small next to held-out vs the same digits
  // upside down (a different distribution of the same pixels); and the report's value is frechet_distance of the
  // features.
  const auto flipped_rows = [&] {
    std::vector<std::int64_t> rows(28);
    for (int i = 0; i < 28; ++i) rows[static_cast<std::size_t>(i)] = 27 - i;
    return index_select(s.held_out.images, 2, from_vector<std::int64_t>(rows, Shape{28}));
  }();
  const auto feats_train = net.features_and_probabilities(reference).first;
  const auto feats_held = net.features_and_probabilities(s.held_out.images).first;
  const double flipped = metrics::frechet_distance(net.features_and_probabilities(flipped_rows).first, feats_train);
  INFO("FD held-out/train " << r.frechet << ", flipped/train " << flipped);
  CHECK(r.frechet < 0.1 * flipped);
  CHECK(r.frechet == Approx(metrics::frechet_distance(feats_held, feats_train)).epsilon(1e-12));
  const auto x = narrow(s.held_out.images, 0, 0, 50);
  CHECK(std::isnan(metrics::evaluate_digits(net, x, x).requested_accuracy));
}

TEST_CASE("evaluate_digits counts per requested class", "[metrics][digits][train]") {
  auto& net = small_classifier();
  const auto x = narrow(mnist().held_out.images, 0, 0, 20);
  const auto predicted = net.predict(x);
  // Request the predicted class for the first 10 images and the next class for the rest: half right, and class c's
  // accuracy is (requests of c that were predictions) / (requests of c).
  std::vector<std::int64_t> requested(predicted);
  for (std::size_t i = 10; i < 20; ++i) requested[i] = (predicted[i] + 1) % 10;
  const auto r = metrics::evaluate_digits(net, x, x, &requested);
  CHECK(r.requested_accuracy == 0.5);
  for (std::int64_t c = 0; c < 10; ++c) {
    int asked = 0, hit = 0;
    for (std::size_t i = 0; i < 20; ++i)
      if (requested[i] == c) {
        ++asked;
        hit += i < 10;
      }
    INFO("class " << c);
    if (asked == 0) CHECK(std::isnan(r.per_class_accuracy[static_cast<std::size_t>(c)]));
    else CHECK(r.per_class_accuracy[static_cast<std::size_t>(c)] == double(hit) / asked);
  }
  requested[3] = 10;
  REQUIRE_THROWS_WITH(metrics::evaluate_digits(net, x, x, &requested),
                      "[latent.value] evaluate_digits: requested label 10 of sample 3 is not in 0..9");
  requested.pop_back();
  REQUIRE_THROWS_WITH(metrics::evaluate_digits(net, x, x, &requested),
                      "[latent.shape] evaluate_digits: 19 requested labels for 20 samples");
}

TEST_CASE("load_or_train_digit_classifier trains and saves once, then loads", "[metrics][digits][train]") {
  latent_io_test::TempDir dir;
  const auto file = dir.path / "sub" / "classifier.safetensors";
  double first_accuracy = 0, second_accuracy = 0;
  // A tiny network and 40 steps: this tests the plumbing, not the accuracy.
  auto trained = metrics::load_or_train_digit_classifier(file, mnist_dir(), {.steps = 40, .seed = 2},
                                                         {.channels1 = 4, .channels2 = 8, .hidden = 16}, &first_accuracy);
  REQUIRE(std::filesystem::exists(file));
  CHECK(first_accuracy == trained.accuracy(mnist().held_out.images, mnist().held_out.labels));
  const auto saved = io::load_safetensors(file);
  CHECK(saved.metadata.at("held_out_accuracy") == std::to_string(first_accuracy));
  const auto written = std::filesystem::last_write_time(file);

  // The second call loads (different training options would give different weights if it trained again).
  auto loaded = metrics::load_or_train_digit_classifier(file, mnist_dir(), {.steps = 1, .seed = 9}, {}, &second_accuracy);
  CHECK(std::filesystem::last_write_time(file) == written);
  CHECK(loaded.options().channels1 == 4);
  CHECK(loaded.options().channels2 == 8);
  CHECK(loaded.options().hidden == 16);
  CHECK(second_accuracy == first_accuracy);
  const auto x = narrow(mnist().held_out.images, 0, 0, 8);
  NoGradGuard no_grad;
  CHECK(loaded.logits(x).to_vector() == trained.logits(x).to_vector());
}

TEST_CASE("DigitClassifier rejects wrong images and foreign weights", "[metrics][digits]") {
  Rng rng(0);
  metrics::DigitClassifier net({}, rng);
  CHECK(net.parameter_count() == 32 * 9 + 32 + 64 * 32 * 9 + 64 + 3136 * 128 + 128 + 128 * 10 + 10);
  REQUIRE_THROWS_WITH(net.logits(zeros<float>({2, 1, 32, 32})),
                      "[latent.shape] DigitClassifier(channels=32/64, hidden=128): images [2,1,32,32] must be [N, 1, 28, 28]");
  StateDict sd = net.state_dict();
  StateDict missing;
  for (const auto& [name, t] : sd)
    if (name != "conv1.weight") missing.set(name, t);
  REQUIRE_THROWS_WITH(metrics::DigitClassifier(missing),
                      "[latent.state] DigitClassifier: the state has no float tensor 'conv1.weight'");
  REQUIRE_THROWS_WITH(metrics::DigitClassifier({.channels1 = 0}, rng),
                      "[latent.value] DigitClassifier: channels1 = 0 must be positive");
}
