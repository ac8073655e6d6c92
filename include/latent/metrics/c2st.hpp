// Classifier two-sample test (Lopez-Paz & Oquab 2017): a small MLP learns to tell two samples apart; its accuracy on
// held-out rows is the statistic (0.5: indistinguishable, 1: fully separated). Seeded and deterministic.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/factory.hpp"
#include "../core/rng.hpp"
#include "../nn/mlp.hpp"
#include "../ops/ops.hpp"
#include "../optim/adam.hpp"
#include "mmd.hpp"

namespace latent::metrics {

struct C2STOptions {
  index_t hidden = 64;          ///< width of each hidden layer
  index_t depth = 2;            ///< hidden layers (ReLU)
  index_t epochs = 100;         ///< passes over the training rows
  index_t batch_size = 128;
  double lr = 1e-3;             ///< Adam's learning rate
  double test_fraction = 0.3;   ///< share of each sample held out for the accuracy
  std::uint64_t seed = 0;       ///< split, initialisation and batches
};

struct C2STResult {
  double accuracy = 0;    ///< held-out accuracy of the classifier
  index_t test_rows = 0;  ///< rows it was measured on (both samples together)
};

/// Trains an MLP (standardised inputs, BCE with logits, Adam) on min(N, M) rows of each of `a` [N, ...] and `b`
/// [M, ...] (rows flattened), test_fraction of them held out, and returns its held-out accuracy.
template <Scalar T>
C2STResult c2st(const Tensor<T>& a, const Tensor<T>& b, const C2STOptions& options = {}) {
  LATENT_CHECK(options.test_fraction > 0 && options.test_fraction < 1, ValueError, "c2st: test_fraction must be in (0, 1)");
  LATENT_CHECK(options.epochs > 0 && options.batch_size > 0 && options.lr > 0 && options.hidden > 0 && options.depth >= 0,
               ValueError, "c2st: epochs, batch_size, lr and hidden must be positive, depth >= 0");
  const auto ra = mmd_detail::as_rows(a, "c2st"), rb = mmd_detail::as_rows(b, "c2st");
  LATENT_CHECK(ra.size(1) == rb.size(1), ShapeError,
               "c2st: samples " + a.shape().str() + " and " + b.shape().str() + " have different row sizes");
  const index_t n = std::min(ra.size(0), rb.size(0)), d = ra.size(1);
  const index_t n_test = std::max<index_t>(1, static_cast<index_t>(std::llround(double(n) * options.test_fraction)));
  const index_t n_train = n - n_test;
  LATENT_CHECK(n_train >= 1, ValueError, "c2st: needs at least 2 rows per sample, got " + std::to_string(n));

  // Shuffle each sample, split, label a = 1 and b = 0.
  Rng rng(options.seed);
  auto x_train = Tensor<float>::empty({2 * n_train, d}), x_test = Tensor<float>::empty({2 * n_test, d});
  auto y_train = Tensor<float>::empty({2 * n_train, 1});
  std::vector<float> y_test(static_cast<std::size_t>(2 * n_test));
  for (int s = 0; s < 2; ++s) {
    const Tensor<double>& r = s == 0 ? ra : rb;
    const auto order = rng.permutation(r.size(0));
    for (index_t i = 0; i < n; ++i) {
      const double* src = r.data() + order[static_cast<std::size_t>(i)] * d;
      const bool train = i < n_train;
      const index_t row = train ? s * n_train + i : s * n_test + (i - n_train);
      float* dst = (train ? x_train : x_test).data() + row * d;
      for (index_t j = 0; j < d; ++j) dst[j] = static_cast<float>(src[j]);
      if (train) y_train.data()[row] = s == 0 ? 1.0f : 0.0f;
      else y_test[static_cast<std::size_t>(row)] = s == 0 ? 1.0f : 0.0f;
    }
  }
  // Standardise with the training rows' statistics.
  {
    NoGradGuard no_grad;
    const auto mu = mean(x_train, 0, true);
    const auto sd = add_scalar(sqrt(mean(square(sub(x_train, mu)), 0, true)), 1e-6f);
    x_train = div(sub(x_train, mu), sd);
    x_test = div(sub(x_test, mu), sd);
  }

  nn::MLP<float> net({.in = d, .hidden = std::vector<index_t>(static_cast<std::size_t>(options.depth), options.hidden),
                      .out = 1, .activation = nn::Activation::relu},
                     rng);
  optim::Adam<float> opt(net.parameters(), {.lr = options.lr});
  const index_t rows = 2 * n_train, batch = std::min(options.batch_size, rows);
  for (index_t epoch = 0; epoch < options.epochs; ++epoch) {
    const auto order = rng.permutation(rows);
    for (index_t start = 0; start + batch <= rows; start += batch) {
      const auto index = from_vector<std::int64_t>(std::vector<std::int64_t>(order.begin() + start, order.begin() + start + batch));
      auto loss = binary_cross_entropy_with_logits(net(index_select(x_train, 0, index)), index_select(y_train, 0, index));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
  }
  NoGradGuard no_grad;
  const auto logits = net(x_test);
  index_t correct = 0;
  for (index_t i = 0; i < 2 * n_test; ++i)
    correct += (logits.data()[i] > 0) == (y_test[static_cast<std::size_t>(i)] > 0.5f) ? 1 : 0;
  return {double(correct) / double(2 * n_test), 2 * n_test};
}

}  // namespace latent::metrics
