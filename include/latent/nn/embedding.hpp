// Embedding: a learned lookup table from integer ids to vectors (PyTorch's nn.Embedding, N(0, 1) init).
#pragma once

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

}  // namespace latent::nn
