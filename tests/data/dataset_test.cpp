// TensorDataset, BatchSampler, DataLoader and sample_batch: gathers checked row by row, shuffles checked against
// the Rng calls they document (Rng::permutation, Rng::below), PyTorch's batch counts, and the steady state.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

using namespace latent;

namespace {
// Item i of `rows` holds (i, 100 + i): a gathered row says which item it came from.
Tensor<float> numbered_rows(std::int64_t n) {
  auto t = Tensor<float>::empty({n, 2});
  for (std::int64_t i = 0; i < n; ++i) {
    t.data()[2 * i] = static_cast<float>(i);
    t.data()[2 * i + 1] = static_cast<float>(100 + i);
  }
  return t;
}
Tensor<std::int64_t> labels_times_ten(std::int64_t n) {
  auto t = Tensor<std::int64_t>::empty({n});
  for (std::int64_t i = 0; i < n; ++i) t.data()[i] = 10 * i;
  return t;
}
std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}
}  // namespace

TEST_CASE("TensorDataset gathers the same items of every tensor", "[data][dataset]") {
  data::TensorDataset ds(numbered_rows(10), labels_times_ten(10));
  CHECK(ds.size() == 10);
  const std::vector<std::int64_t> idx{7, 2, 7};
  auto [x, y] = ds.get(idx);
  CHECK(x.shape() == Shape{3, 2});
  CHECK(x.to_vector() == std::vector<float>{7, 107, 2, 102, 7, 107});
  CHECK(y.to_vector() == std::vector<std::int64_t>{70, 20, 70});

  // Into preallocated tensors: same values, same storage, no new block from the allocator.
  data::TensorDataset<float, std::int64_t>::Batch out{Tensor<float>::empty({3, 2}), Tensor<std::int64_t>::empty({3})};
  const float* storage = std::get<0>(out).data();
  const auto before = memory_stats();
  ds.get_into(idx, out);
  CHECK(memory_stats().bytes_in_use == before.bytes_in_use);
  CHECK(memory_stats().system_allocations == before.system_allocations);
  CHECK(std::get<0>(out).data() == storage);
  CHECK(std::get<0>(out).to_vector() == x.to_vector());
  CHECK(std::get<1>(out).to_vector() == y.to_vector());
}

TEST_CASE("TensorDataset and gather_rows reject mismatched tensors and bad indices", "[data][dataset][errors]") {
  CHECK_THROWS_WITH(data::TensorDataset(numbered_rows(10), labels_times_ten(9)),
                    "[latent.shape] TensorDataset: tensor 1 [9] has 9 items, tensor 0 [10,2] has 10");
  CHECK_THROWS_WITH(data::TensorDataset(scalar_tensor(1.0f)), "[latent.shape] TensorDataset: a 0-d tensor [] has no items (dimension 0)");
  const auto rows = numbered_rows(10);
  const std::vector<std::int64_t> bad{3, 10};
  CHECK_THROWS_WITH(data::gather_rows(rows, bad), "[latent.value] gather_rows: index 10 out of range for 10 items");
  const std::vector<std::int64_t> two{1, 2};
  CHECK_THROWS_WITH(data::gather_rows_into(rows, two, Tensor<float>::empty({3, 2})),
                    "[latent.shape] gather_rows: output [3,2] for 2 rows of [10,2], expected [2,2]");
}

TEST_CASE("BatchSampler batches like PyTorch's, with and without drop_last", "[data][dataset]") {
  Rng rng(1);
  const data::BatchSampler keep(10, {.batch_size = 3});
  const data::BatchSampler drop(10, {.batch_size = 3, .drop_last = true});
  CHECK(keep.num_batches() == 4);  // len(BatchSampler(range(10), 3, False)) == 4
  CHECK(drop.num_batches() == 3);
  CHECK(keep.epoch(rng) == std::vector<std::vector<std::int64_t>>{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}});
  CHECK(drop.epoch(rng) == std::vector<std::vector<std::int64_t>>{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}});
  CHECK(rng.state().counter == 0);  // no shuffling, no random numbers used
  CHECK(data::BatchSampler(9, {.batch_size = 3, .drop_last = true}).num_batches() == 3);
  CHECK(data::BatchSampler(0, {.batch_size = 3}).num_batches() == 0);
  CHECK(data::BatchSampler(5).num_batches() == 5);  // PyTorch's default batch_size = 1
  CHECK_THROWS_WITH(data::BatchSampler(10, {.batch_size = 0}), "[latent.value] BatchSampler: batch_size = 0 must be at least 1");
  CHECK_THROWS_WITH(keep.batch(keep.epoch_order(rng), 4), "[latent.value] BatchSampler: batch 4 out of range for 4 batches");
}

TEST_CASE("BatchSampler shuffles each epoch with Rng::permutation, deterministically per seed", "[data][dataset]") {
  const data::BatchSampler sampler(10, {.batch_size = 4, .shuffle = true});
  Rng rng(42), oracle(42);
  const auto first = sampler.epoch(rng);
  const auto expected = oracle.permutation(10);
  REQUIRE(first.size() == 3);
  std::vector<std::int64_t> flat;
  for (const auto& b : first) flat.insert(flat.end(), b.begin(), b.end());
  CHECK(flat == expected);
  CHECK(first[2].size() == 2);
  std::sort(flat.begin(), flat.end());
  CHECK(flat == iota(10));  // every item exactly once

  const auto second = sampler.epoch(rng);  // the next epoch continues the stream: another order
  CHECK(second != first);
  Rng again(42);
  CHECK(sampler.epoch(again) == first);
}

TEST_CASE("DataLoader epochs visit every item once, with rows and labels kept together", "[data][dataset]") {
  data::DataLoader loader(data::TensorDataset(numbered_rows(103), labels_times_ten(103)), {.batch_size = 10, .shuffle = true});
  CHECK(loader.size() == 11);
  Rng rng(7);
  std::vector<std::int64_t> seen;
  std::int64_t batches = 0;
  for (auto [x, y] : loader.epoch(rng)) {
    CHECK(x.size(0) == (batches < 10 ? 10 : 3));
    for (std::int64_t k = 0; k < x.size(0); ++k) {
      const auto item = static_cast<std::int64_t>(x.at({k, 0}));
      CHECK(x.at({k, 1}) == static_cast<float>(100 + item));
      CHECK(y.at({k}) == 10 * item);
      seen.push_back(item);
    }
    ++batches;
  }
  CHECK(batches == 11);
  Rng oracle(7);
  CHECK(seen == oracle.permutation(103));

  data::DataLoader dropping(data::TensorDataset(numbered_rows(103)), {.batch_size = 10, .drop_last = true});
  std::int64_t items = 0;
  for (auto [x] : dropping.epoch(rng)) items += x.size(0);
  CHECK(items == 100);
}

TEST_CASE("DataLoader epochs in the steady state take no new memory blocks", "[data][dataset]") {
  data::DataLoader loader(data::TensorDataset(numbered_rows(64), labels_times_ten(64)), {.batch_size = 16, .shuffle = true});
  Rng rng(3);
  double checksum = 0;
  const auto run_epoch = [&] {
    for (auto [x, y] : loader.epoch(rng)) checksum += static_cast<double>(x.data()[0]) + static_cast<double>(y.data()[0]);
  };
  run_epoch();  // warms the caching allocator
  const auto before = memory_stats().system_allocations;
  run_epoch();
  run_epoch();
  CHECK(memory_stats().system_allocations == before);
  CHECK(checksum > 0);
}

TEST_CASE("sample_batch draws rows with replacement through Rng::below", "[data][dataset]") {
  const auto rows = numbered_rows(5);
  Rng rng(11), oracle(11);
  const auto batch = data::sample_batch(rows, 8, rng);
  REQUIRE(batch.shape() == Shape{8, 2});
  for (std::int64_t k = 0; k < 8; ++k) {
    const auto i = static_cast<float>(oracle.below(5));
    CHECK(batch.at({k, 0}) == i);
    CHECK(batch.at({k, 1}) == 100 + i);
  }

  data::TensorDataset ds(rows, labels_times_ten(5));
  Rng a(5), b(5);
  auto [x, y] = ds.sample_batch(a, 6);
  CHECK(x.to_vector() == data::sample_batch(rows, 6, b).to_vector());  // the same draws as the free function
  for (std::int64_t k = 0; k < 6; ++k) CHECK(y.at({k}) == 10 * static_cast<std::int64_t>(x.at({k, 0})));

  CHECK_THROWS_WITH(data::sample_batch(Tensor<float>::empty({0, 2}), 4, rng),
                    "[latent.value] sample_batch: cannot draw from an empty dataset [0,2]");
  CHECK_THROWS_WITH(data::sample_batch(rows, -1, rng), "[latent.value] sample_batch: batch = -1 is negative");
}
