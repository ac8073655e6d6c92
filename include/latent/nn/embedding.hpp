// Embedding: a learned lookup table from integer ids to vectors (PyTorch's nn.Embedding, N(0, 1) init), and
// sinusoidal_embedding, the fixed sin/cos features of a scalar time or position.
#pragma once

#include <cmath>
#include <string>

#include "../ops/shape_ops.hpp"
#include "init.hpp"
#include "module.hpp"

namespace latent::nn {

struct EmbeddingOptions {
  index_t num_embeddings = 0;
  index_t embedding_dim = 0;
};

/// weight [num_embeddings, embedding_dim] ~ N(0, 1). ids of any shape [...] → [..., embedding_dim];
/// the gradient of a row is the sum over every position that looked it up.
template <Scalar T>
class Embedding : public Module<T> {
  EmbeddingOptions options_;

 public:
  Tensor<T>& weight;

  Embedding(const EmbeddingOptions& options, Rng& rng)
      : options_(validated(options)),
        weight(this->register_parameter("weight", Tensor<T>::empty({options.num_embeddings, options.embedding_dim}))) {
    init::normal_(weight, rng);
  }

  const EmbeddingOptions& options() const noexcept { return options_; }
  std::string repr() const override {
    return "Embedding(" + std::to_string(options_.num_embeddings) + ", " + std::to_string(options_.embedding_dim) + ")";
  }

  Tensor<T> forward(const Tensor<std::int64_t>& ids) {
    const std::int64_t* id = ids.data();
    for (index_t i = 0; i < ids.numel(); ++i)
      LATENT_CHECK(id[i] >= 0 && id[i] < options_.num_embeddings, ValueError,
                   repr() + ": id " + std::to_string(id[i]) + " at index " + std::to_string(i) + " of ids " +
                       ids.shape().str() + " is not in [0, " + std::to_string(options_.num_embeddings) + ")");
    return embedding(weight, ids);
  }
  Tensor<T> operator()(const Tensor<std::int64_t>& ids) { return forward(ids); }

 private:
  static EmbeddingOptions validated(const EmbeddingOptions& o) {
    detail::check_positive("Embedding", "num_embeddings", o.num_embeddings);
    detail::check_positive("Embedding", "embedding_dim", o.embedding_dim);
    return o;
  }
};

/// Sinusoidal features of a time or position (Vaswani et al. 2017; Ho et al. 2020): t [N] → [N, dim] with
///   out[n, i] = sin(t_n f_i),  out[n, dim/2 + i] = cos(t_n f_i),  f_i = max_period^(−i/(dim/2)),  i < dim/2.
/// A fixed function of t: no gradient flows to t (times are data, not parameters).
template <Scalar T>
Tensor<T> sinusoidal_embedding(const Tensor<T>& t, index_t dim, double max_period = 10000.0) {
  LATENT_CHECK(t.rank() == 1, ShapeError, "sinusoidal_embedding: times " + t.shape().str() + " must be [N]");
  LATENT_CHECK(dim > 0 && dim % 2 == 0, ValueError,
               "sinusoidal_embedding: dim = " + std::to_string(dim) + " must be positive and even");
  LATENT_CHECK(max_period > 1, ValueError, "sinusoidal_embedding: max_period must be > 1");
  const index_t n = t.size(0), half = dim / 2;
  auto out = Tensor<T>::empty({n, dim});
  const T* time = t.data();
  T* o = out.data();
  for (index_t i = 0; i < half; ++i) {
    const double f = std::exp(-std::log(max_period) * double(i) / double(half));
    for (index_t r = 0; r < n; ++r) {
      const double angle = double(time[r]) * f;
      o[r * dim + i] = static_cast<T>(std::sin(angle));
      o[r * dim + half + i] = static_cast<T>(std::cos(angle));
    }
  }
  return out;
}

}  // namespace latent::nn
