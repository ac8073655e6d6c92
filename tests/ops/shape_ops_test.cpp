// Shape and indexing ops: gradient checks in double against central differences, and forward values
// worked out by hand (they are copies and index arithmetic, so exact equality is the oracle).
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include "ops_test_util.hpp"

#include <cmath>
#include <vector>

using namespace latent;
using namespace latent_test;

namespace {
using Index = Tensor<std::int64_t>;
}  // namespace

// ---- gradients -----------------------------------------------------------------------------------

TEST_CASE("reshape, view, flatten, unsqueeze and squeeze pass gradients through", "[ops][shape][gradcheck]") {
  const auto x = uniform({2, 3, 4}, 1);
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(reshape(v[0], Shape{6, 4})); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(view(v[0], {4, -1})); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(flatten(v[0], 1)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(flatten(v[0])); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(unsqueeze(v[0], -1)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(squeeze(unsqueeze(v[0], 1), 1)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(reshape(v[0], Shape{})); }, {uniform({1, 1}, 2)});
}

TEST_CASE("permute and transpose send gradients back through the inverse permutation", "[ops][shape][gradcheck]") {
  const auto x = uniform({2, 3, 4}, 3);
  for (const Dims& p : {Dims{0, 2, 1}, Dims{2, 0, 1}, Dims{1, 2, 0}, Dims{2, 1, 0}, Dims{-1, 0, 1}}) {
    INFO("permutation " << p.str());
    CHECK_GRADCHECK([p](const Inputs& v) { return weighted(permute(v[0], p)); }, {x});
  }
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(transpose(v[0], 0, 2)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(transpose(v[0], -1, -2)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(permute(v[0], {3, 1, 0, 2})); }, {uniform({2, 1, 3, 2}, 4)});
}

TEST_CASE("narrow and select scatter the gradient back into place", "[ops][shape][gradcheck]") {
  const auto x = uniform({3, 4, 2}, 5);
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(narrow(v[0], 0, 1, 2)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(narrow(v[0], 1, 1, 2)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(narrow(v[0], -1, 1, 1)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(select(v[0], 1, 3)); }, {x});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(select(v[0], 0, -1)); }, {x});
  // two overlapping slices of the same tensor: their gradients add
  CHECK_GRADCHECK([](const Inputs& v) { return add(weighted(narrow(v[0], 1, 0, 3)), narrow(v[0], 1, 1, 3)); }, {x});
}

TEST_CASE("index_select, embedding and gather accumulate gradients of repeated indices", "[ops][shape][gradcheck]") {
  const auto x = uniform({4, 3}, 6);
  const auto rows = from_vector<std::int64_t>({2, 0, 2, 3});
  const auto cols = from_vector<std::int64_t>({1, 1});
  CHECK_GRADCHECK([&](const Inputs& v) { return weighted(index_select(v[0], 0, rows)); }, {x});
  CHECK_GRADCHECK([&](const Inputs& v) { return weighted(index_select(v[0], 1, cols)); }, {x});
  CHECK_GRADCHECK([&](const Inputs& v) { return weighted(index_select(v[0], -1, cols)); }, {uniform({2, 3, 2}, 7)});
  const auto ids = from_vector<std::int64_t>({1, 3, 1, 0, 3, 3}, {2, 3});
  CHECK_GRADCHECK([&](const Inputs& v) { return weighted(embedding(v[0], ids)); }, {x});
  const auto g0 = from_vector<std::int64_t>({3, 0, 1, 3, 3, 2}, {2, 3});
  const auto g1 = from_vector<std::int64_t>({0, 0, 2, 1, 2, 2, 1, 0}, {4, 2});
  CHECK_GRADCHECK([&](const Inputs& v) { return weighted(gather(v[0], 0, g0)); }, {x});
  CHECK_GRADCHECK([&](const Inputs& v) { return weighted(gather(v[0], 1, g1)); }, {x});
  CHECK_GRADCHECK([&](const Inputs& v) { return weighted(gather(v[0], -1, g1)); }, {x});
}

TEST_CASE("cat and stack hand each input its slice of the gradient", "[ops][shape][gradcheck]") {
  const auto a = uniform({2, 3}, 8), b = uniform({1, 3}, 9), c = uniform({2, 2}, 10), d = uniform({2, 3}, 11);
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(cat({v[0], v[1]}, 0)); }, {a, b});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(cat({v[0], v[1], v[0]}, 1)); }, {a, c});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(cat({v[0], v[1]}, -1)); }, {a, c});
  for (int dim : {0, 1, 2, -1}) {
    INFO("stack dim " << dim);
    CHECK_GRADCHECK([dim](const Inputs& v) { return weighted(stack({v[0], v[1]}, dim)); }, {a, d});
  }
  // an input that does not require grad gets none, the others still get theirs
  auto x = a.clone_detached().set_requires_grad();
  const auto constant = b.clone_detached();
  sum(weighted(cat({constant, x}, 0))).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{4, 5, 6, 7, 8, 9});
}

TEST_CASE("split and chunk pieces carry gradients back to their parent", "[ops][shape][gradcheck]") {
  const auto x = uniform({7, 2}, 12);
  auto use_all = [](const std::vector<Tensor<double>>& parts) {
    // weight each piece differently so that a piece routed to the wrong place is noticed
    std::vector<Tensor<double>> scaled;
    for (std::size_t i = 0; i < parts.size(); ++i) scaled.push_back(mul_scalar(parts[i], static_cast<double>(i + 2)));
    return weighted(cat(scaled, 0));
  };
  CHECK_GRADCHECK([&](const Inputs& v) { return use_all(split(v[0], 3, 0)); }, {x});
  CHECK_GRADCHECK([&](const Inputs& v) { return use_all(chunk(v[0], 3, 0)); }, {x});
  CHECK_GRADCHECK([&](const Inputs& v) { return transpose(use_all(split(transpose(v[0], 0, 1), 1, 0)), 0, 1); }, {x});
  // only one piece used: the rest of the parent gets zero
  auto y = x.clone_detached().set_requires_grad();
  sum(split(y, 3, 0)[1]).backward();
  CHECK(y.grad().to_vector() == std::vector<double>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0});
}

TEST_CASE("expand sums the gradient over the broadcast dimensions", "[ops][shape][gradcheck]") {
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(expand(v[0], Shape{2, 3, 4})); }, {uniform({3, 1}, 13)});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(expand(v[0], Shape{2, 2})); }, {uniform({}, 14)});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(expand(v[0], Shape{2, 3, 4})); }, {uniform({2, 1, 4}, 15)});
  CHECK_GRADCHECK([](const Inputs& v) { return weighted(expand(v[0], Shape{3, 4})); }, {uniform({4}, 16)});
}

// ---- forward values ------------------------------------------------------------------------------

TEST_CASE("reshape and its relatives share storage and infer shapes", "[ops][shape]") {
  const auto x = arange<double>(24.0);
  const auto r = reshape(x, Shape{2, 3, 4});
  CHECK(r.shares_storage(x));
  CHECK(view(x, {2, -1, 3}).shape() == Shape{2, 4, 3});
  CHECK(view(x, {-1}).shape() == Shape{24});
  CHECK(flatten(r).shape() == Shape{24});
  CHECK(flatten(r, 0, 1).shape() == Shape{6, 4});
  CHECK(flatten(r, -2).shape() == Shape{2, 12});
  CHECK(flatten(scalar_tensor<double>(1)).shape() == Shape{1});
  CHECK(unsqueeze(r, 0).shape() == Shape{1, 2, 3, 4});
  CHECK(unsqueeze(r, -1).shape() == Shape{2, 3, 4, 1});
  CHECK(unsqueeze(r, 2).shape() == Shape{2, 3, 1, 4});
  CHECK(squeeze(unsqueeze(r, 2), -2).shape() == Shape{2, 3, 4});
  CHECK(unsqueeze(scalar_tensor<double>(3), 0).shape() == Shape{1});
  // integer tensors reshape too, without autograd
  const auto ids = reshape(from_vector<std::int64_t>({1, 2, 3, 4}), Shape{2, 2});
  CHECK(ids.at({1, 0}) == 3);
}

TEST_CASE("permute and transpose reorder elements", "[ops][shape]") {
  const auto x = reshape(arange<double>(24.0), Shape{2, 3, 4});
  const auto p = permute(x, {2, 0, 1});
  REQUIRE(p.shape() == Shape{4, 2, 3});
  bool all_match = true;
  for (index_t i = 0; i < 2; ++i)
    for (index_t j = 0; j < 3; ++j)
      for (index_t k = 0; k < 4; ++k) all_match = all_match && p.at({k, i, j}) == x.at({i, j, k});
  CHECK(all_match);
  const auto t = transpose(reshape(arange<double>(6.0), Shape{2, 3}), 0, 1);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
  CHECK(permute(x, {0, 1, 2}).same(x));  // the identity is not a copy
  const auto i64 = permute(from_vector<std::int64_t>({1, 2, 3, 4, 5, 6}, {2, 3}), {1, 0});
  CHECK(i64.to_vector() == std::vector<std::int64_t>{1, 4, 2, 5, 3, 6});
  // a permutation with size-1 dimensions and a 4-D tensor
  const auto y = reshape(arange<double>(12.0), Shape{1, 3, 1, 4});
  const auto q = permute(y, {3, 2, 1, 0});
  CHECK(q.shape() == Shape{4, 1, 3, 1});
  CHECK(q.at({2, 0, 1, 0}) == y.at({0, 1, 0, 2}));
}

TEST_CASE("narrow, select, split and chunk take the right elements", "[ops][shape]") {
  const auto x = reshape(arange<double>(12.0), Shape{3, 4});
  CHECK(narrow(x, 0, 1, 2).to_vector() == std::vector<double>{4, 5, 6, 7, 8, 9, 10, 11});
  CHECK(narrow(x, 1, 1, 2).to_vector() == std::vector<double>{1, 2, 5, 6, 9, 10});
  CHECK(narrow(x, 1, 4, 0).shape() == Shape{3, 0});
  CHECK(select(x, 0, 1).to_vector() == std::vector<double>{4, 5, 6, 7});
  CHECK(select(x, 1, -1).to_vector() == std::vector<double>{3, 7, 11});
  CHECK(select(x, 1, -1).shape() == Shape{3});
  const auto parts = split(arange<double>(7.0), 3);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].to_vector() == std::vector<double>{0, 1, 2});
  CHECK(parts[2].to_vector() == std::vector<double>{6});
  // torch.chunk: chunk size ceil(n / chunks), so 7 in 3 gives 3, 3, 1 and 6 in 4 gives three chunks of 2
  const auto c = chunk(arange<double>(7.0), 3);
  REQUIRE(c.size() == 3);
  CHECK(c[1].to_vector() == std::vector<double>{3, 4, 5});
  CHECK(c[2].numel() == 1);
  CHECK(chunk(arange<double>(6.0), 4).size() == 3);
  const auto cols = chunk(x, 2, 1);
  REQUIRE(cols.size() == 2);
  CHECK(cols[1].to_vector() == std::vector<double>{2, 3, 6, 7, 10, 11});
}

TEST_CASE("index_select, embedding and gather read the indexed elements", "[ops][shape]") {
  const auto x = reshape(arange<double>(12.0), Shape{4, 3});
  CHECK(index_select(x, 0, from_vector<std::int64_t>({3, 0, 3})).to_vector() ==
        std::vector<double>{9, 10, 11, 0, 1, 2, 9, 10, 11});
  CHECK(index_select(x, 1, from_vector<std::int64_t>({2, 0})).to_vector() ==
        std::vector<double>{2, 0, 5, 3, 8, 6, 11, 9});
  const auto e = embedding(x, from_vector<std::int64_t>({1, 2, 0, 1}, {2, 2}));
  CHECK(e.shape() == Shape{2, 2, 3});
  CHECK(e.to_vector() == std::vector<double>{3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5});
  CHECK(embedding(x, from_vector<std::int64_t>({2}, Shape{})).shape() == Shape{3});
  // torch.gather(x, 1, [[2, 0], [1, 1], [0, 2], [2, 2]])
  const auto g = gather(x, 1, from_vector<std::int64_t>({2, 0, 1, 1, 0, 2, 2, 2}, {4, 2}));
  CHECK(g.to_vector() == std::vector<double>{2, 0, 4, 4, 6, 8, 11, 11});
  const auto g0 = gather(x, 0, from_vector<std::int64_t>({3, 0, 1}, {1, 3}));
  CHECK(g0.to_vector() == std::vector<double>{9, 1, 5});
  // index_select's gradient accumulates repeated rows
  auto w = zeros<double>({4, 3}).set_requires_grad();
  sum(index_select(w, 0, from_vector<std::int64_t>({3, 0, 3}))).backward();
  CHECK(w.grad().to_vector() == std::vector<double>{1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2});
}

TEST_CASE("cat, stack and expand assemble tensors", "[ops][shape]") {
  const auto a = from_vector<double>({1, 2, 3, 4}, {2, 2}), b = from_vector<double>({5, 6}, {1, 2});
  CHECK(cat({a, b}).to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(cat({a, transpose(b, 0, 1)}, 1).to_vector() == std::vector<double>{1, 2, 5, 3, 4, 6});
  CHECK(cat({a}).same(a) == false);  // cat always produces a new tensor
  const auto s0 = stack({a, a}, 0), s2 = stack({a, mul_scalar(a, 10.0)}, 2);
  CHECK(s0.shape() == Shape{2, 2, 2});
  CHECK(s2.shape() == Shape{2, 2, 2});
  CHECK(s2.to_vector() == std::vector<double>{1, 10, 2, 20, 3, 30, 4, 40});
  CHECK(stack({a, a}, -1).shape() == Shape{2, 2, 2});
  CHECK(stack({scalar_tensor<double>(1), scalar_tensor<double>(2)}).to_vector() == std::vector<double>{1, 2});
  const auto e = expand(from_vector<double>({1, 2}, {2, 1}), Shape{2, 2, 3});
  CHECK(e.to_vector() == std::vector<double>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});
  CHECK(expand(scalar_tensor<double>(4), Shape{3}).to_vector() == std::vector<double>{4, 4, 4});
}

TEST_CASE("0-d tensors: squeeze, max/argmax, var and stack follow PyTorch", "[ops][shape][reduce]") {
  // The 0-d result of a reduction, whose shape once held the size of the dimension it lost: ops that take a
  // dimension must treat it as having none (a stale size read as "dimension 0" gives rank -1 shapes and
  // out-of-bounds reads).
  const auto s = sum(ones<double>({3}), 0);
  REQUIRE(s.rank() == 0);
  CHECK(squeeze(s, 0).shape() == Shape{});
  CHECK(squeeze(s, -1).item() == 3.0);
  CHECK(argmax(s, 0).shape() == Shape{});
  CHECK(argmax(s, 0).item() == 0);
  CHECK(argmin(s, -1).item() == 0);
  CHECK(max(s, 0).shape() == Shape{});
  CHECK(min(s, 0, true).item() == 3.0);
  CHECK(max(s).item() == 3.0);
  CHECK(std::isnan(var(s, 0).item()));  // one value, unbiased: 0 / 0 as in PyTorch
  CHECK(var(s, 0, 0).item() == 0.0);
  CHECK(mean(s, 0).item() == 3.0);
  CHECK(softmax(s, 0).item() == 1.0);
  CHECK(stack({s, s}).shape() == Shape{2});
  auto x = scalar_tensor<double>(2.0).set_requires_grad();
  max(x, 0).backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("permute of a large 4-D tensor (the threaded path) moves every element", "[ops][shape]") {
  const auto x = reshape(arange<double>(0.0, 2.0 * 16 * 32 * 40), Shape{2, 16, 32, 40});
  const auto p = permute(x, {0, 2, 3, 1});  // NCHW -> NHWC
  REQUIRE(p.shape() == Shape{2, 32, 40, 16});
  bool all = true;
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 16; ++c)
      for (index_t h = 0; h < 32; ++h)
        for (index_t w = 0; w < 40; ++w) all = all && p.at({n, h, w, c}) == x.at({n, c, h, w});
  CHECK(all);
}
