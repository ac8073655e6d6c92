// matmul, linear and gelu_linear: gradient checks in double against central differences for every operand layout
// (2-D, batched, broadcast batch, 1-D vectors), and forward values against an explicit triple loop.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include "ops_test_util.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using namespace latent;
using namespace latent_test;

namespace {

/// C[b] = A[b] B[b] by the definition, for [B, M, K] x [B, K, N] (the oracle for the GEMM path).
template <class T>
std::vector<double> naive_bmm(const Tensor<T>& a, const Tensor<T>& b) {
  const index_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  std::vector<double> c(static_cast<std::size_t>(B * M * N), 0.0);
  for (index_t q = 0; q < B; ++q)
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j) {
        double acc = 0;
        for (index_t k = 0; k < K; ++k)
          acc += static_cast<double>(a.at({q, i, k})) * static_cast<double>(b.at({q, k, j}));
        c[static_cast<std::size_t>((q * M + i) * N + j)] = acc;
      }
  return c;
}
}  // namespace

TEST_CASE("matmul has correct gradients for every operand layout", "[ops][linalg][gradcheck]") {
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {{3, 4}, {4, 2}},           // 2-D
      {{2, 3, 4}, {2, 4, 5}},     // batched
      {{2, 1, 3, 4}, {3, 4, 2}},  // broadcast batch on both sides
      {{1, 3, 4}, {2, 4, 2}},     // a's batch of 1 broadcast
      {{2, 3, 4}, {1, 4, 2}},     // b's batch of 1 broadcast
      {{2, 3, 4}, {4, 5}},        // batched a, 2-D b (one GEMM)
      {{3, 4}, {2, 4, 5}},        // 2-D a, batched b
      {{4}, {4, 3}},              // vector x matrix
      {{3, 4}, {4}},              // matrix x vector
      {{4}, {4}},                 // dot product
      {{4}, {2, 4, 3}},           // vector x batch
      {{2, 3, 4}, {4}},           // batch x vector
  };
  std::uint64_t seed = 1;
  for (const auto& c : cases) {
    INFO(c.a.str() << " x " << c.b.str());
    CHECK_GRADCHECK([](const Inputs& v) { return matmul(v[0], v[1]); }, {uniform(c.a, ++seed), uniform(c.b, ++seed)});
  }
  // the same tensor on both sides: x xᵀ
  CHECK_GRADCHECK([](const Inputs& v) { return matmul(v[0], transpose(v[0], 0, 1)); }, {uniform({3, 4}, 50)});
}

TEST_CASE("linear has correct gradients with and without bias, for 1-D, 2-D and 3-D inputs",
          "[ops][linalg][gradcheck]") {
  const auto w = uniform({3, 4}, 60), b = uniform({3}, 61);
  for (const Shape& s : {Shape{4}, Shape{5, 4}, Shape{2, 3, 4}}) {
    INFO("input " << s.str());
    const auto x = uniform(s, 62);
    CHECK_GRADCHECK([](const Inputs& v) { return linear(v[0], v[1], v[2]); }, {x, w, b});
    CHECK_GRADCHECK([](const Inputs& v) { return linear(v[0], v[1]); }, {x, w});
  }
  // only some inputs differentiated (a frozen weight)
  auto x = uniform({5, 4}, 63).set_requires_grad();
  CHECK_GRADCHECK([&](const Inputs& v) { return linear(v[0], w, v[1]); }, {x, b.clone_detached().set_requires_grad()});
}

TEST_CASE("matmul and linear have correct second-order gradients for every operand layout",
          "[ops][linalg][gradgradcheck]") {
  // The backward of a product is made of products with transposed operands, and theirs again: these cases reach
  // every (transpose a, transpose b) pair, an operand read as a matrix with leading dimensions, and batch broadcast.
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {{{3, 4}, {4, 2}}, {{2, 3, 4}, {4, 5}}, {{2, 3, 4}, {2, 4, 5}}, {{1, 3, 4}, {2, 4, 2}}};
  std::uint64_t seed = 70;
  for (const auto& c : cases) {
    INFO(c.a.str() << " x " << c.b.str());
    CHECK_GRADGRADCHECK([](const Inputs& v) { return matmul(v[0], v[1]); }, {uniform(c.a, ++seed), uniform(c.b, ++seed)});
  }
  CHECK_GRADGRADCHECK([](const Inputs& v) { return linear(v[0], v[1], v[2]); },
                      {uniform({2, 3, 4}, 80), uniform({5, 4}, 81), uniform({5}, 82)});
}

TEST_CASE("a 2-D matmul records one graph node", "[ops][linalg][autograd]") {
  // the per-op overhead of a small product is one node (no reshapes around a batched product)
  auto a = uniform({3, 4}, 90).set_requires_grad();
  const auto y = matmul(a, uniform({4, 2}, 91));
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(std::string(y.grad_fn()->name) == "matmul");
  REQUIRE(y.grad_fn()->inputs.size() == 2);
  CHECK(y.grad_fn()->inputs[0].is_leaf());
  const auto z = matmul(uniform({2, 3, 4}, 92).set_requires_grad(), uniform({4, 2}, 93));
  CHECK(z.shape() == Shape{2, 3, 2});
  CHECK(z.grad_fn()->inputs[0].is_leaf());  // [..., M, K] x [K, N]: the 3-D operand is read in place
}

TEMPLATE_TEST_CASE("matmul matches the definition for every layout", "[ops][linalg]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  Rng rng(7);
  auto compare = [&](const Tensor<T>& got, const std::vector<double>& expected) {
    REQUIRE(got.numel() == static_cast<index_t>(expected.size()));
    double worst = 0;
    for (std::size_t i = 0; i < expected.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(got.data()[i]) - expected[i]));
    CHECK(worst < tol);
  };
  const auto a = randn<T>({3, 5, 4}, rng), b = randn<T>({3, 4, 6}, rng);
  const auto c = matmul(a, b);
  CHECK(c.shape() == Shape{3, 5, 6});
  compare(c, naive_bmm(a, b));
  // [3,5,4] x [4,6]: b used for every batch
  const auto b2 = randn<T>({4, 6}, rng);
  const auto c2 = matmul(a, b2);
  CHECK(c2.shape() == Shape{3, 5, 6});
  compare(c2, naive_bmm(a, expand(reshape(b2, Shape{1, 4, 6}), Shape{3, 4, 6})));
  // [2,1,5,4] x [3,4,6] broadcasts to [2,3,5,6]
  const auto a4 = randn<T>({2, 1, 5, 4}, rng);
  const auto c4 = matmul(a4, b);
  CHECK(c4.shape() == Shape{2, 3, 5, 6});
  compare(c4, naive_bmm(reshape(expand(a4, Shape{2, 3, 5, 4}), Shape{6, 5, 4}),
                        reshape(expand(b, Shape{2, 3, 4, 6}), Shape{6, 4, 6})));
  // vectors: the vector's dimension is removed from the result
  const auto m = from_vector<T>({1, 2, 3, 4, 5, 6}, {2, 3});
  const auto v = from_vector<T>({1, 0, -1});
  CHECK(matmul(m, v).shape() == Shape{2});
  CHECK(matmul(m, v).to_vector() == std::vector<T>{-2, -2});
  CHECK(matmul(from_vector<T>({1, -1}), m).to_vector() == std::vector<T>{-3, -3, -3});
  CHECK(matmul(v, from_vector<T>({3, 2, 1})).shape() == Shape{});
  CHECK(matmul(v, from_vector<T>({3, 2, 1})).item() == T(2));
  CHECK(matmul(from_vector<T>({1, -1}), reshape(arange<T>(T(12)), Shape{2, 2, 3})).shape() == Shape{2, 3});
  CHECK(matmul(reshape(arange<T>(T(12)), Shape{2, 3, 2}), from_vector<T>({1, -1})).to_vector() ==
        std::vector<T>{-1, -1, -1, -1, -1, -1});
  // an empty inner dimension gives zeros, as in PyTorch
  const auto z = matmul(zeros<T>({2, 0}), zeros<T>({0, 3}));
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.to_vector() == std::vector<T>(6, T(0)));
}

TEMPLATE_TEST_CASE("linear computes x Wᵀ + b", "[ops][linalg]", float, double) {
  using T = TestType;
  const auto x = from_vector<T>({1, 2, 3, 4, 5, 6}, {2, 3});
  const auto w = from_vector<T>({1, 0, -1, 2, 1, 0}, {2, 3});
  const auto b = from_vector<T>({10, 20});
  CHECK(linear(x, w, b).to_vector() == std::vector<T>{8, 24, 8, 33});
  CHECK(linear(x, w).to_vector() == std::vector<T>{-2, 4, -2, 13});
  CHECK(linear(from_vector<T>({1, 2, 3}), w, b).shape() == Shape{2});
  const auto x3 = reshape(x, Shape{2, 1, 3});
  CHECK(linear(x3, w, b).shape() == Shape{2, 1, 2});
  CHECK(linear(x3, w, b).to_vector() == std::vector<T>{8, 24, 8, 33});
  // the gradient of the bias sums over every leading dimension
  auto bias = from_vector<T>({0, 0}).set_requires_grad();
  sum(linear(reshape(x, Shape{2, 1, 3}), w, bias)).backward();
  CHECK(bias.grad().to_vector() == std::vector<T>{2, 2});
}

TEST_CASE("batched matmul of many small matrices (the threaded path) matches the definition", "[ops][linalg]") {
  // 512 products of 8 x 8 by 8 x 8: the batch is spread over threads
  Rng rng(17);
  const auto a = randn<double>({512, 8, 8}, rng), b = randn<double>({512, 8, 8}, rng);
  const auto c = matmul(a, b);
  const auto expected = naive_bmm(a, b);
  double worst = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::abs(c.data()[i] - expected[i]));
  CHECK(worst < 1e-12);
}

TEST_CASE("matrix-vector products split over threads match the definition", "[ops][linalg]") {
  // One row or one column of C over a matrix of at least kernels::gemv_split_threshold() elements (measured on this
  // machine): each thread reads its own slice of the matrix. 2 threads, shapes that do not divide evenly, every
  // transpose of the matrix operand.
  const int saved = num_threads();
  set_num_threads(std::max(saved, 2));
  Rng rng(5);
  const index_t split = kernels::gemv_split_threshold();
  REQUIRE(split >= kernels::gemv_parallel_threshold);
  for (const auto& [N, K] :
       std::vector<std::pair<index_t, index_t>>{{split / 128 + 1, 128}, {split / 520 + 3, 520}, {split / 17 + 5, 17}}) {
    REQUIRE(N * K >= split);
    const auto w = randn<float>({N, K}, rng), x = randn<float>({1, K}, rng), xc = randn<float>({K, 1}, rng);
    // The exact products in double, each with the sum of |terms|: a float dot product of K terms summed in any order
    // is within K u of it (u = 2^-24), so (K + 4) 2^-23 relative to that sum never fails a correct product.
    const auto naive = [&](const Tensor<float>& m, const Tensor<float>& v, bool row) {  // m [N, K]; v [1, K] or [K, 1]
      std::vector<std::pair<double, double>> out(static_cast<std::size_t>(N), {0.0, 0.0});
      for (index_t j = 0; j < N; ++j)
        for (index_t k = 0; k < K; ++k) {
          const double term = double(m.at({j, k})) * double(row ? v.at({0, k}) : v.at({k, 0}));
          out[std::size_t(j)].first += term;
          out[std::size_t(j)].second += std::abs(term);
        }
      return out;
    };
    const auto check = [&](const Tensor<float>& got, const std::vector<std::pair<double, double>>& expected) {
      REQUIRE(got.numel() == N);
      double worst = 0;
      for (index_t j = 0; j < N; ++j) {
        const auto [dot, magnitude] = expected[std::size_t(j)];
        worst = std::max(worst, std::abs(got.data()[j] - dot) / (magnitude + 1e-30));
      }
      CHECK(worst <= double(K + 4) * std::numeric_limits<float>::epsilon());
    };
    check(linear(x, w), naive(w, x, true));                              // [1, K] x [N, K]ᵀ: one row, split over N
    check(matmul(x, transpose(w, 0, 1)), naive(w, x, true));  // [1, K] x [K, N]
    check(matmul(w, xc), naive(w, xc, false));                           // [N, K] x [K, 1]: one column, split over N
  }
  set_num_threads(saved);
}

TEST_CASE("gelu_linear has correct first- and second-order gradients, with and without bias", "[ops][linalg][gradcheck]") {
  const auto w = uniform({3, 4}, 100), b = uniform({3}, 101);
  for (const auto approximate : {GeluApproximation::none, GeluApproximation::tanh}) {
    for (const Shape& s : {Shape{4}, Shape{5, 4}, Shape{2, 3, 4}}) {
      INFO("input " << s.str() << (approximate == GeluApproximation::tanh ? ", tanh approximation" : ", exact"));
      const auto h = mul_scalar(uniform(s, 102), 3.0);  // both sides of 0, into the GELU's curved part
      CHECK_GRADCHECK([=](const Inputs& v) { return gelu_linear(v[0], v[1], v[2], approximate); }, {h, w, b});
      CHECK_GRADCHECK([=](const Inputs& v) { return gelu_linear(v[0], v[1], Tensor<double>(), approximate); }, {h, w});
    }
    CHECK_GRADGRADCHECK([=](const Inputs& v) { return gelu_linear(v[0], v[1], v[2], approximate); },
                        {mul_scalar(uniform({2, 3, 4}, 103), 3.0), uniform({5, 4}, 104), uniform({5}, 105)});
  }
  // only the input differentiated (frozen weight and bias)
  CHECK_GRADCHECK([&](const Inputs& v) { return gelu_linear(v[0], w, b); }, {uniform({5, 4}, 106)});
}

TEMPLATE_TEST_CASE("gelu_linear equals linear(gelu(h)) exactly and keeps h instead of gelu(h)", "[ops][linalg]", float, double) {
  using T = TestType;
  Rng rng(7);
  const auto w0 = randn<T>({16, 64}, rng), b0 = randn<T>({16}, rng), h0 = randn<T>({3, 8, 64}, rng), g = randn<T>({3, 8, 16}, rng);
  for (const auto approximate : {GeluApproximation::none, GeluApproximation::tanh}) {
    INFO((approximate == GeluApproximation::tanh ? "tanh approximation" : "exact"));
    std::vector<std::vector<T>> results[2];
    for (int fused = 0; fused < 2; ++fused) {
      auto h = h0.clone_detached().set_requires_grad(), w = w0.clone_detached().set_requires_grad(), b = b0.clone_detached().set_requires_grad();
      const auto before = memory_stats().bytes_in_use;
      const auto y = fused ? gelu_linear(h, w, b, approximate) : linear(gelu(h, approximate), w, b);
      const auto kept = memory_stats().bytes_in_use - before;
      // the composition also keeps gelu(h) (as large as h) for the weight's gradient; the fused node only y
      if (fused) CHECK(kept < static_cast<std::size_t>(h.numel()) * sizeof(T));
      else CHECK(kept > static_cast<std::size_t>(h.numel()) * sizeof(T));
      sum(mul(y, g)).backward();
      results[fused] = {y.to_vector(), h.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector()};
    }
    // the same kernels in the same order: bit for bit
    CHECK(results[1] == results[0]);
  }
  CHECK_THROWS_AS(gelu_linear(h0, randn<T>({16, 63}, rng)), ShapeError);
}
