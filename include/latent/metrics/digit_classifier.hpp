// DigitClassifier: a small CNN trained on the shipped MNIST-10k that judges generated 28×28 digits: which class a
// sample is (per-class accuracy of conditional samples), how confidently, and the Fréchet distance in its feature space.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "../autograd/grad_mode.hpp"
#include "../core/rng.hpp"
#include "../data/idx.hpp"
#include "../io/safetensors.hpp"
#include "../nn/conv.hpp"
#include "../nn/linear.hpp"
#include "../nn/module.hpp"
#include "../ops/ops.hpp"
#include "../optim/adam.hpp"
#include "frechet.hpp"

namespace latent::metrics {

struct DigitClassifierOptions {
  index_t channels1 = 32;  ///< output channels of the first 3×3 convolution (28×28)
  index_t channels2 = 64;  ///< output channels of the second 3×3 convolution (14×14)
  index_t hidden = 128;    ///< width of the feature layer (features() returns it)
};

/// logits = fc2(relu(fc1(flatten(pool(relu(conv2(pool(relu(conv1(x̂))))))))))), x̂ = (x − 0.1307)/0.3081 (MNIST's pixel
/// mean and deviation) for images x [N, 1, 28, 28] in [0, 1]; convolutions 3×3 with padding 1, pools 2×2 max.
/// features(x) = relu(fc1(...)) [N, hidden]. Names: conv1, conv2, fc1, fc2 (PyTorch's MNIST example's).
///
/// A template over the scalar type only so that its code is compiled where it is used, not in every file that includes
/// <latent/latent.hpp> (training it instantiates most of the library); `DigitClassifier` is the float classifier.
template <Scalar T>
class BasicDigitClassifier : public nn::Module<T> {
  DigitClassifierOptions options_;

 public:
  static constexpr index_t num_classes = 10;
  static constexpr index_t image_size = 28;

  nn::Conv2d<T> conv1, conv2;
  nn::Linear<T> fc1, fc2;

  BasicDigitClassifier(const DigitClassifierOptions& options, Rng& rng)
      : options_(validated(options)),
        conv1({.in_channels = 1, .out_channels = options_.channels1, .kernel_size = 3, .padding = 1}, rng),
        conv2({.in_channels = options_.channels1, .out_channels = options_.channels2, .kernel_size = 3, .padding = 1}, rng),
        fc1({.in_features = options_.channels2 * 7 * 7, .out_features = options_.hidden}, rng),
        fc2({.in_features = options_.hidden, .out_features = num_classes}, rng) {
    this->register_module("conv1", conv1);
    this->register_module("conv2", conv2);
    this->register_module("fc1", fc1);
    this->register_module("fc2", fc2);
  }
  /// A classifier with the weights of `state` (as saved from state_dict()); the widths are read from its shapes.
  explicit BasicDigitClassifier(const StateDict& state) : BasicDigitClassifier(options_from(state), placeholder_rng()) {
    this->load_state_dict(state);
  }

  const DigitClassifierOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "DigitClassifier(channels=" + std::to_string(options_.channels1) + "/" + std::to_string(options_.channels2) +
           ", hidden=" + std::to_string(options_.hidden) + ")";
  }

  /// The feature layer, relu(fc1(...)) [N, hidden], for images x [N, 1, 28, 28] in [0, 1].
  Tensor<T> features(const Tensor<T>& x) {
    LATENT_CHECK(x.rank() == 4 && x.size(1) == 1 && x.size(2) == image_size && x.size(3) == image_size, ShapeError,
                 repr() + ": images " + x.shape().str() + " must be [N, 1, 28, 28]");
    Tensor<T> h = mul_scalar(add_scalar(x, T(-0.1307)), T(1 / 0.3081));
    h = max_pool2d(relu(conv1(h)), Pair{2, 2});
    h = max_pool2d(relu(conv2(h)), Pair{2, 2});
    return relu(fc1(reshape(h, Shape{x.size(0), options_.channels2 * 7 * 7})));
  }
  /// Class logits [N, 10].
  Tensor<T> logits(const Tensor<T>& x) { return fc2(features(x)); }

  /// features() and softmax probabilities of many images, in batches, without gradients: {features [N, hidden],
  /// probabilities [N, 10]}.
  std::pair<Tensor<T>, Tensor<T>> features_and_probabilities(const Tensor<T>& x, index_t batch = 500) {
    NoGradGuard no_grad;
    LATENT_CHECK(x.rank() == 4 && x.size(0) > 0, ShapeError, repr() + ": images " + x.shape().str() + " must be [N, 1, 28, 28]");
    std::vector<Tensor<T>> feats, probs;
    for (index_t s = 0; s < x.size(0); s += batch) {
      const auto f = features(narrow(x, 0, s, std::min(batch, x.size(0) - s)));
      feats.push_back(f);
      probs.push_back(softmax(fc2(f), 1));
    }
    return {cat(feats, 0), cat(probs, 0)};
  }
  /// The predicted class of each image [N].
  std::vector<std::int64_t> predict(const Tensor<T>& x) {
    const auto probs = features_and_probabilities(x).second;
    const auto best = argmax(probs, 1);
    return std::vector<std::int64_t>(best.data(), best.data() + best.numel());
  }
  /// The fraction of images x whose predicted class is `labels` [N].
  double accuracy(const Tensor<T>& x, const Tensor<std::int64_t>& labels) {
    LATENT_CHECK(labels.rank() == 1 && labels.size(0) == x.size(0), ShapeError,
                 repr() + ": labels " + labels.shape().str() + " do not match images " + x.shape().str());
    const auto predicted = predict(x);
    index_t correct = 0;
    for (index_t i = 0; i < labels.size(0); ++i) correct += predicted[static_cast<std::size_t>(i)] == labels.data()[i];
    return double(correct) / double(labels.size(0));
  }

 private:
  static DigitClassifierOptions validated(const DigitClassifierOptions& o) {
    nn::detail::check_positive("DigitClassifier", "channels1", o.channels1);
    nn::detail::check_positive("DigitClassifier", "channels2", o.channels2);
    nn::detail::check_positive("DigitClassifier", "hidden", o.hidden);
    return o;
  }
  static DigitClassifierOptions options_from(const StateDict& state) {
    for (const char* name : {"conv1.weight", "conv2.weight", "fc1.weight"})
      LATENT_CHECK(state.contains(name) && std::holds_alternative<Tensor<T>>(state.at(name)), StateError,
                   std::string("DigitClassifier: the state has no ") + (std::same_as<T, float> ? "float" : "double") + " tensor '" + name + "'");
    const auto& conv1 = state.get<T>("conv1.weight");
    const auto& conv2 = state.get<T>("conv2.weight");
    const auto& fc1 = state.get<T>("fc1.weight");
    LATENT_CHECK(conv1.rank() == 4 && conv2.rank() == 4 && fc1.rank() == 2, StateError,
                 "DigitClassifier: weights " + conv1.shape().str() + ", " + conv2.shape().str() + ", " + fc1.shape().str() +
                     " are not a DigitClassifier's");
    return {.channels1 = conv1.size(0), .channels2 = conv2.size(0), .hidden = fc1.size(0)};
  }
  static Rng& placeholder_rng() {  // the initial weights are overwritten by load_state_dict
    thread_local Rng rng(0);
    return rng;
  }
};

using DigitClassifier = BasicDigitClassifier<float>;

/// The split the examples and this file use: of the shipped MNIST-10k (sorted by class), every 10th image
/// (index % 10 == 9) is held out, so both parts hold every class: 9,000 training and 1,000 held-out images.
struct DigitSplit {
  data::LabelledImages train;
  data::LabelledImages held_out;
};

inline DigitSplit split_every_tenth(const data::LabelledImages& all) {
  std::vector<std::int64_t> rows[2];
  for (index_t i = 0; i < all.images.size(0); ++i) rows[i % 10 == 9 ? 1 : 0].push_back(i);
  const auto part = [&](const std::vector<std::int64_t>& r) {
    const auto idx = from_vector<std::int64_t>(r, Shape{static_cast<index_t>(r.size())});
    data::LabelledImages out{index_select(all.images, 0, idx), Tensor<std::int64_t>::empty({idx.numel()})};
    for (index_t i = 0; i < idx.numel(); ++i) out.labels.data()[i] = all.labels.data()[idx.data()[i]];
    return out;
  };
  return {part(rows[0]), part(rows[1])};
}

/// MNIST-10k from a folder holding mnist10k-images-idx3-ubyte and mnist10k-labels-idx1-ubyte (the project's
/// data/mnist-10k), split by split_every_tenth.
inline DigitSplit load_mnist10k_split(const std::filesystem::path& mnist_dir) {
  return split_every_tenth(
      data::load_mnist(mnist_dir / "mnist10k-images-idx3-ubyte", mnist_dir / "mnist10k-labels-idx1-ubyte"));
}

struct DigitTrainOptions {
  index_t steps = 1500;       ///< Adam steps (1500 × 64 ≈ 10.7 epochs of the 9,000 training images)
  index_t batch_size = 64;
  double lr = 1e-3;           ///< Adam's; cosine-decayed to 0 over the steps
  index_t max_shift = 2;      ///< each training image is shifted by up to this many pixels (0: no augmentation)
  std::uint64_t seed = 0;     ///< batches and augmentation
  std::function<void(index_t step, double loss)> on_step = {};  ///< after each step, e.g. a progress bar
};

namespace digit_detail {
/// x shifted by (dy, dx) pixels with zeros shifted in: out[i][j] = x[i − dy][j − dx].
template <Scalar T>
void shift_image(const T* x, T* out, index_t dy, index_t dx) {
  const index_t n = BasicDigitClassifier<T>::image_size;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      const index_t si = i - dy, sj = j - dx;
      out[i * n + j] = si >= 0 && si < n && sj >= 0 && sj < n ? x[si * n + sj] : T(0);
    }
}
}  // namespace digit_detail

/// Trains `net` with Adam on cross-entropy over images [N, 1, 28, 28] in [0, 1] and labels [N] (random batches,
/// random shifts of up to max_shift pixels). Leaves the network in eval mode.
template <Scalar T>
void train_digit_classifier(BasicDigitClassifier<T>& net, const Tensor<T>& images, const Tensor<std::int64_t>& labels,
                            const DigitTrainOptions& o = {}) {
  LATENT_CHECK(o.steps > 0 && o.batch_size > 0 && o.lr > 0 && o.max_shift >= 0, ValueError,
               "train_digit_classifier: steps, batch_size and lr must be positive and max_shift >= 0");
  LATENT_CHECK(images.rank() == 4 && images.size(1) == 1 && images.size(2) == 28 && images.size(3) == 28 &&
                   labels.rank() == 1 && labels.size(0) == images.size(0) && images.size(0) > 0,
               ShapeError,
               "train_digit_classifier: images " + images.shape().str() + " and labels " + labels.shape().str() +
                   " must be [N, 1, 28, 28] and [N]");
  Rng rng(o.seed);
  net.train();
  optim::Adam<T> opt(net.parameters(), {.lr = o.lr});
  const index_t n = images.size(0), batch = std::min(o.batch_size, n), pixels = 28 * 28;
  auto x = Tensor<T>::empty({batch, 1, 28, 28});
  auto y = Tensor<std::int64_t>::empty({batch});
  std::vector<std::int64_t> order = rng.permutation(n);
  index_t next = 0;
  for (index_t step = 0; step < o.steps; ++step) {
    for (index_t b = 0; b < batch; ++b) {  // data: a batch of shifted training images
      if (next == n) {
        order = rng.permutation(n);
        next = 0;
      }
      const index_t row = order[static_cast<std::size_t>(next++)];
      const auto shift = [&] { return rng.randint(-o.max_shift, o.max_shift + 1); };
      const index_t dy = shift(), dx = shift();
      digit_detail::shift_image(images.data() + row * pixels, x.data() + b * pixels, dy, dx);
      y.data()[b] = labels.data()[row];
    }
    // cosine decay of the learning rate: lr · (1 + cos(π step / steps)) / 2
    opt.set_lr(o.lr * 0.5 * (1 + std::cos(3.14159265358979323846 * double(step) / double(o.steps))));
    auto loss = cross_entropy(net.logits(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (o.on_step) o.on_step(step + 1, static_cast<double>(loss.item()));
  }
  net.eval();
}

/// The classifier saved in `file` (safetensors) when the file exists; otherwise a new one trained on the training
/// part of MNIST-10k in `mnist_dir` (load_mnist10k_split), saved to `file` (atomically; its metadata records the
/// held-out accuracy and the options), and returned. `held_out_accuracy`, when given, receives the accuracy on the
/// 1,000 held-out images either way.
/// (A template only to be compiled where it is used; see BasicDigitClassifier.)
template <class = void>
DigitClassifier load_or_train_digit_classifier(const std::filesystem::path& file, const std::filesystem::path& mnist_dir,
                                               const DigitTrainOptions& options = {},
                                               const DigitClassifierOptions& architecture = {},
                                               double* held_out_accuracy = nullptr) {
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) {
    const io::SafetensorsFile saved = io::load_safetensors(file);
    if (held_out_accuracy) {
      DigitClassifier net(saved.tensors);
      const DigitSplit split = load_mnist10k_split(mnist_dir);
      *held_out_accuracy = net.accuracy(split.held_out.images, split.held_out.labels);
    }
    return DigitClassifier(saved.tensors);
  }
  const DigitSplit split = load_mnist10k_split(mnist_dir);
  Rng init(options.seed);
  DigitClassifier net(architecture, init);
  train_digit_classifier(net, split.train.images, split.train.labels, options);
  const double accuracy = net.accuracy(split.held_out.images, split.held_out.labels);
  if (held_out_accuracy) *held_out_accuracy = accuracy;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  io::save_safetensors(file, net.state_dict(),
                       {{"model", "latent.metrics.DigitClassifier"}, {"data", "MNIST-10k, index % 10 != 9"},
                        {"held_out_accuracy", std::to_string(accuracy)}, {"steps", std::to_string(options.steps)},
                        {"batch_size", std::to_string(options.batch_size)}, {"seed", std::to_string(options.seed)}});
  return DigitClassifier(net.state_dict());
}

/// What the classifier says about a set of generated digits.
struct DigitReport {
  index_t samples = 0;
  std::array<double, 10> class_fraction{};  ///< share of samples assigned to each class
  double min_class_fraction = 0;            ///< the rarest class's share (mode dropping shows here)
  double confident_fraction = 0;            ///< share of samples whose top class probability is >= 0.9
  double requested_accuracy = std::numeric_limits<double>::quiet_NaN();  ///< share assigned to the requested class
  /// per requested class c: the share of samples requested as c that were assigned to c (NaN: none requested)
  std::array<double, 10> per_class_accuracy{};
  double frechet = 0;  ///< Fréchet distance between the features of the samples and of the reference images
};

/// Classifies samples [N, 1, 28, 28] in [0, 1] and compares their features with those of reference images (e.g. the
/// held-out real digits) by the Fréchet distance. With requested_labels (N entries, 0..9) it also reports how often
/// each sample was assigned its requested class.
template <Scalar T>
DigitReport evaluate_digits(BasicDigitClassifier<T>& classifier, const Tensor<T>& samples, const Tensor<T>& reference,
                            const std::vector<std::int64_t>* requested_labels = nullptr) {
  LATENT_CHECK(samples.rank() == 4 && samples.size(0) >= 2 && reference.rank() == 4 && reference.size(0) >= 2, ShapeError,
               "evaluate_digits: samples " + samples.shape().str() + " and reference " + reference.shape().str() +
                   " must be [N, 1, 28, 28] with N >= 2");
  const index_t n = samples.size(0);
  LATENT_CHECK(!requested_labels || static_cast<index_t>(requested_labels->size()) == n, ShapeError,
               "evaluate_digits: " + std::to_string(requested_labels ? requested_labels->size() : 0) +
                   " requested labels for " + std::to_string(n) + " samples");
  const auto [feats, probs] = classifier.features_and_probabilities(samples);
  const auto reference_feats = classifier.features_and_probabilities(reference).first;
  DigitReport r;
  r.samples = n;
  std::array<index_t, 10> assigned{}, requested{}, hit{};
  index_t confident = 0, correct = 0;
  for (index_t i = 0; i < n; ++i) {
    const T* p = probs.data() + i * 10;
    const auto best = static_cast<std::size_t>(std::max_element(p, p + 10) - p);
    ++assigned[best];
    confident += p[best] >= T(0.9);
    if (requested_labels) {
      const std::int64_t want = (*requested_labels)[static_cast<std::size_t>(i)];
      LATENT_CHECK(want >= 0 && want < 10, ValueError,
                   "evaluate_digits: requested label " + std::to_string(want) + " of sample " + std::to_string(i) + " is not in 0..9");
      ++requested[static_cast<std::size_t>(want)];
      if (static_cast<std::size_t>(want) == best) {
        ++hit[best];
        ++correct;
      }
    }
  }
  for (std::size_t c = 0; c < 10; ++c) {
    r.class_fraction[c] = double(assigned[c]) / double(n);
    r.per_class_accuracy[c] = requested[c] > 0 ? double(hit[c]) / double(requested[c]) : std::numeric_limits<double>::quiet_NaN();
  }
  r.min_class_fraction = *std::min_element(r.class_fraction.begin(), r.class_fraction.end());
  r.confident_fraction = double(confident) / double(n);
  if (requested_labels) r.requested_accuracy = double(correct) / double(n);
  r.frechet = frechet_distance(feats, reference_feats);
  return r;
}

}  // namespace latent::metrics
