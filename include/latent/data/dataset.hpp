// Datasets and batching: TensorDataset over tensors sharing dimension 0, a PyTorch-style BatchSampler with seeded
// shuffling, DataLoader epochs, and random batches (sample_batch). A batch is a gather of rows along dimension 0.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../core/rng.hpp"
#include "../core/tensor.hpp"

namespace latent::data {

/// Images with their class labels: images [N,C,H,W] with values in [0,1], labels [N] (int64).
struct LabelledImages {
  Tensor<float> images;
  Tensor<std::int64_t> labels;
};

namespace detail {
// Elements in one row (one item) of a tensor whose dimension 0 indexes items.
template <Element T>
index_t row_numel(const Tensor<T>& t) { return t.shape().prod(1, t.rank()); }

// The shape of `count` items of `t`: [count, t.shape[1:]].
template <Element T>
Shape rows_shape(const Tensor<T>& t, index_t count) {
  Shape s = t.shape();
  s[0] = count;
  return s;
}

template <Element T>
void check_items(const Tensor<T>& t, const char* who) {
  LATENT_CHECK(t.defined(), ValueError, std::string(who) + ": tensor is undefined");
  LATENT_CHECK(t.rank() >= 1, ShapeError, std::string(who) + ": a 0-d tensor " + t.shape().str() + " has no items (dimension 0)");
}

template <Element T>
void copy_row(const Tensor<T>& src, index_t from, const Tensor<T>& dst, index_t to) {
  const index_t n = row_numel(src);
  std::memcpy(dst.data() + to * n, src.data() + from * n, static_cast<std::size_t>(n) * sizeof(T));
}

inline void check_index(std::int64_t i, index_t size, const char* who) {
  LATENT_CHECK(i >= 0 && i < size, ValueError,
               std::string(who) + ": index " + std::to_string(i) + " out of range for " + std::to_string(size) + " items");
}
}  // namespace detail

/// out[k] = src[indices[k]] along dimension 0, written into `out` (shape [indices.size(), src.shape[1:]]).
/// The row copy of index_select(src, 0, indices), without autograd and without allocating.
template <Element T>
void gather_rows_into(const Tensor<T>& src, std::span<const std::int64_t> indices, const Tensor<T>& out) {
  detail::check_items(src, "gather_rows");
  const Shape expected = detail::rows_shape(src, static_cast<index_t>(indices.size()));
  LATENT_CHECK(out.defined() && out.shape() == expected, ShapeError,
               "gather_rows: output " + (out.defined() ? out.shape().str() : std::string("(undefined)")) + " for " +
                   std::to_string(indices.size()) + " rows of " + src.shape().str() + ", expected " + expected.str());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    detail::check_index(indices[k], src.size(0), "gather_rows");
    detail::copy_row(src, indices[k], out, static_cast<index_t>(k));
  }
}

/// A new tensor [indices.size(), src.shape[1:]] holding rows indices[k] of src.
template <Element T>
Tensor<T> gather_rows(const Tensor<T>& src, std::span<const std::int64_t> indices) {
  detail::check_items(src, "gather_rows");
  auto out = Tensor<T>::empty(detail::rows_shape(src, static_cast<index_t>(indices.size())));
  gather_rows_into(src, indices, out);
  return out;
}

/// `batch` rows of `data` drawn uniformly with replacement, like data[torch.randint(0, N, (batch,))]: the usual
/// minibatch of a toy 2-D training loop. Draws one Rng::below(N) per row, in order.
template <Element T>
Tensor<T> sample_batch(const Tensor<T>& data, std::int64_t batch, Rng& rng) {
  detail::check_items(data, "sample_batch");
  LATENT_CHECK(batch >= 0, ValueError, "sample_batch: batch = " + std::to_string(batch) + " is negative");
  LATENT_CHECK(data.size(0) > 0 || batch == 0, ValueError, "sample_batch: cannot draw from an empty dataset " + data.shape().str());
  auto out = Tensor<T>::empty(detail::rows_shape(data, batch));
  for (index_t k = 0; k < batch; ++k)
    detail::copy_row(data, static_cast<index_t>(rng.below(static_cast<std::uint64_t>(data.size(0)))), out, k);
  return out;
}

/// Tensors that share dimension 0 (e.g. images [N,1,28,28] and labels [N]); item i is row i of each, as in
/// torch.utils.data.TensorDataset. Holds handles (no copy). `TensorDataset ds(images, labels);` deduces the types.
template <Element... Ts>
class TensorDataset {
  static_assert(sizeof...(Ts) >= 1, "TensorDataset needs at least one tensor");

 public:
  using Batch = std::tuple<Tensor<Ts>...>;

  explicit TensorDataset(Tensor<Ts>... tensors) : tensors_(std::move(tensors)...) {
    std::apply([](const auto&... t) { (detail::check_items(t, "TensorDataset"), ...); }, tensors_);
    const index_t n = std::get<0>(tensors_).size(0);
    std::size_t position = 0;
    auto check_count = [&](const auto& t) {
      LATENT_CHECK(t.size(0) == n, ShapeError,
                   "TensorDataset: tensor " + std::to_string(position) + " " + t.shape().str() + " has " + std::to_string(t.size(0)) +
                       " items, tensor 0 " + std::get<0>(tensors_).shape().str() + " has " + std::to_string(n));
      ++position;
    };
    std::apply([&](const auto&... t) { (check_count(t), ...); }, tensors_);
  }

  /// Number of items (dimension 0).
  index_t size() const { return std::get<0>(tensors_).size(0); }
  const std::tuple<Tensor<Ts>...>& tensors() const noexcept { return tensors_; }
  template <std::size_t I>
  const auto& tensor() const noexcept { return std::get<I>(tensors_); }

  /// Items indices[k] of every tensor, as new tensors.
  Batch get(std::span<const std::int64_t> indices) const {
    return std::apply([&](const auto&... t) { return Batch(gather_rows(t, indices)...); }, tensors_);
  }
  /// Items indices[k] written into preallocated tensors (shapes [indices.size(), ...]): no allocation.
  void get_into(std::span<const std::int64_t> indices, const Batch& out) const {
    for_each_pair(out, [&](const auto& t, const auto& o) { gather_rows_into(t, indices, o); });
  }

  /// `batch` items drawn uniformly with replacement (one Rng::below per item; the same rows of every tensor).
  Batch sample_batch(Rng& rng, index_t batch) const {
    LATENT_CHECK(batch >= 0, ValueError, "TensorDataset::sample_batch: batch = " + std::to_string(batch) + " is negative");
    Batch out = std::apply([&](const auto&... t) { return Batch(Tensor<Ts>::empty(detail::rows_shape(t, batch))...); }, tensors_);
    sample_batch_into(rng, out);
    return out;
  }
  /// As sample_batch, into preallocated tensors whose dimension 0 is the batch size.
  void sample_batch_into(Rng& rng, const Batch& out) const {
    const index_t batch = std::get<0>(out).defined() ? std::get<0>(out).size(0) : 0;
    for_each_pair(out, [&](const auto& t, const auto& o) {
      const Shape expected = detail::rows_shape(t, batch);
      LATENT_CHECK(o.defined() && o.shape() == expected, ShapeError,
                   "TensorDataset::sample_batch: output " + (o.defined() ? o.shape().str() : std::string("(undefined)")) +
                       " for items of " + t.shape().str() + ", expected " + expected.str());
    });
    LATENT_CHECK(size() > 0 || batch == 0, ValueError, "TensorDataset::sample_batch: the dataset is empty");
    for (index_t k = 0; k < batch; ++k) {
      const auto i = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(size())));
      for_each_pair(out, [&](const auto& t, const auto& o) { detail::copy_row(t, i, o, k); });
    }
  }

 private:
  template <class F>
  void for_each_pair(const Batch& out, F&& f) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f(std::get<I>(tensors_), std::get<I>(out)), ...); }
    (std::index_sequence_for<Ts...>{});
  }

  std::tuple<Tensor<Ts>...> tensors_;
};

template <Element... Ts>
TensorDataset(Tensor<Ts>...) -> TensorDataset<Ts...>;

/// torch.utils.data.DataLoader's batching options, with its defaults.
struct BatchSamplerOptions {
  std::int64_t batch_size = 1;
  bool shuffle = false;    // a fresh permutation each epoch, drawn from the Rng given to the epoch
  bool drop_last = false;  // drop the last, smaller batch when batch_size does not divide the number of items
};

/// Splits the items 0..n-1 of one epoch into batches of indices, in order or shuffled (PyTorch's
/// BatchSampler(RandomSampler or SequentialSampler, batch_size, drop_last)). The permutation is Rng::permutation(n),
/// so a given Rng state gives the same epoch everywhere.
class BatchSampler {
 public:
  explicit BatchSampler(std::int64_t num_items, BatchSamplerOptions options = {}) : n_(num_items), options_(options) {
    LATENT_CHECK(options.batch_size >= 1, ValueError,
                 "BatchSampler: batch_size = " + std::to_string(options.batch_size) + " must be at least 1");
    LATENT_CHECK(num_items >= 0, ValueError, "BatchSampler: num_items = " + std::to_string(num_items) + " is negative");
  }

  std::int64_t num_items() const noexcept { return n_; }
  const BatchSamplerOptions& options() const noexcept { return options_; }
  /// Batches per epoch (len(BatchSampler)): n / batch_size with drop_last, ceil(n / batch_size) without.
  std::int64_t num_batches() const noexcept {
    return options_.drop_last ? n_ / options_.batch_size : (n_ + options_.batch_size - 1) / options_.batch_size;
  }

  /// The item order of one epoch: a permutation drawn from `rng` when shuffling (rng untouched otherwise).
  std::vector<std::int64_t> epoch_order(Rng& rng) const {
    if (options_.shuffle) return rng.permutation(n_);
    std::vector<std::int64_t> order(static_cast<std::size_t>(n_));
    for (std::int64_t i = 0; i < n_; ++i) order[static_cast<std::size_t>(i)] = i;
    return order;
  }
  /// Batch `b` (0 <= b < num_batches()) of an epoch order: a view into `order`.
  std::span<const std::int64_t> batch(std::span<const std::int64_t> order, std::int64_t b) const {
    LATENT_CHECK(b >= 0 && b < num_batches(), ValueError,
                 "BatchSampler: batch " + std::to_string(b) + " out of range for " + std::to_string(num_batches()) + " batches");
    const std::int64_t first = b * options_.batch_size;
    const std::int64_t count = std::min(options_.batch_size, n_ - first);
    return order.subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count));
  }
  /// All batches of one epoch, as list(BatchSampler) gives them.
  std::vector<std::vector<std::int64_t>> epoch(Rng& rng) const {
    const auto order = epoch_order(rng);
    std::vector<std::vector<std::int64_t>> batches;
    for (std::int64_t b = 0; b < num_batches(); ++b) {
      const auto items = batch(order, b);
      batches.emplace_back(items.begin(), items.end());
    }
    return batches;
  }

 private:
  std::int64_t n_;
  BatchSamplerOptions options_;
};

/// Epochs of batches over a TensorDataset:
///   DataLoader loader(TensorDataset(images, labels), {.batch_size = 64, .shuffle = true});
///   for (int e = 0; e < epochs; ++e) for (auto [x, y] : loader.epoch(rng)) { ... }
/// Each batch is a tuple of new tensors (from the caching allocator, so a steady-state loop reaches no malloc).
template <Element... Ts>
class DataLoader {
 public:
  using Batch = typename TensorDataset<Ts...>::Batch;

  explicit DataLoader(TensorDataset<Ts...> dataset, BatchSamplerOptions options = {})
      : dataset_(std::move(dataset)), sampler_(dataset_.size(), options) {}

  const TensorDataset<Ts...>& dataset() const noexcept { return dataset_; }
  const BatchSampler& sampler() const noexcept { return sampler_; }
  /// Batches per epoch.
  std::int64_t size() const noexcept { return sampler_.num_batches(); }

  /// One pass over the data; the order (a permutation when shuffling) is drawn from `rng` here, once.
  class Epoch {
   public:
    Epoch(TensorDataset<Ts...> dataset, BatchSampler sampler, std::vector<std::int64_t> order)
        : dataset_(std::move(dataset)), sampler_(sampler), order_(std::move(order)) {}

    class Iterator {
     public:
      using value_type = Batch;
      using difference_type = std::ptrdiff_t;
      Iterator() = default;
      Iterator(const Epoch* epoch, std::int64_t b) : epoch_(epoch), b_(b) {}
      Batch operator*() const { return epoch_->batch(b_); }
      Iterator& operator++() {
        ++b_;
        return *this;
      }
      void operator++(int) { ++b_; }
      friend bool operator==(const Iterator& a, const Iterator& b) { return a.b_ == b.b_; }

     private:
      const Epoch* epoch_ = nullptr;
      std::int64_t b_ = 0;
    };

    Iterator begin() const { return Iterator(this, 0); }
    Iterator end() const { return Iterator(this, sampler_.num_batches()); }
    std::int64_t size() const noexcept { return sampler_.num_batches(); }
    /// The item order of this epoch.
    const std::vector<std::int64_t>& order() const noexcept { return order_; }
    /// Batch `b` as new tensors.
    Batch batch(std::int64_t b) const { return dataset_.get(sampler_.batch(order_, b)); }
    /// Batch `b` written into preallocated tensors of the batch's shapes (no allocation).
    void batch_into(std::int64_t b, const Batch& out) const { dataset_.get_into(sampler_.batch(order_, b), out); }

   private:
    TensorDataset<Ts...> dataset_;
    BatchSampler sampler_;
    std::vector<std::int64_t> order_;
  };

  Epoch epoch(Rng& rng) const { return Epoch(dataset_, sampler_, sampler_.epoch_order(rng)); }

 private:
  TensorDataset<Ts...> dataset_;
  BatchSampler sampler_;
};

}  // namespace latent::data
