// Tensor handles, shapes, factories and the caching allocator.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

using namespace latent;

TEST_CASE("Shape reports numel, strides and its spelling", "[shape]") {
  const Shape s{8, 3, 32, 32};
  CHECK(s.rank() == 4);
  CHECK(s.numel() == 8 * 3 * 32 * 32);
  CHECK(s.strides()[0] == 3 * 32 * 32);
  CHECK(s.strides()[3] == 1);
  CHECK(s.str() == "[8,3,32,32]");
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{}.str() == "[]");
}

TEST_CASE("broadcast_shapes follows NumPy's rule and names the op on failure", "[shape][errors]") {
  CHECK(broadcast_shapes({8, 1, 5}, {3, 1}, "add") == Shape{8, 3, 5});
  CHECK(broadcast_shapes({}, {2, 2}, "add") == Shape{2, 2});
  CHECK_THROWS_WITH(broadcast_shapes({2, 3}, {4}, "add"),
                    "[latent.shape] add: shapes [2,3] and [4] do not broadcast (dimension 1: 3 vs 4)");
}

TEST_CASE("Shape rejects negative sizes and too many dimensions", "[shape][errors]") {
  CHECK_THROWS_WITH(Shape({2, -1}), "[latent.shape] negative dimension -1");
  CHECK_THROWS_WITH(Shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), "[latent.shape] rank 9 exceeds LATENT_MAX_RANK");
  CHECK_THROWS_WITH(wrap_dim(3, 2, "sum"), "[latent.shape] sum: dimension 3 out of range for rank 2");
  CHECK(wrap_dim(-1, 3, "sum") == 2);
}

TEMPLATE_TEST_CASE("factories fill tensors like torch's", "[tensor]", float, double) {
  using T = TestType;
  CHECK(zeros<T>({2, 3}).to_vector() == std::vector<T>(6, T(0)));
  CHECK(full<T>({2}, T(2.5)).to_vector() == std::vector<T>{T(2.5), T(2.5)});
  CHECK(arange<T>(T(0), T(1), T(0.25)).to_vector() == std::vector<T>{T(0), T(0.25), T(0.5), T(0.75)});
  CHECK(arange<T>(T(5)).numel() == 5);
  // torch.linspace(0, 1, 5) and torch.linspace(-1, 1, 4) (exact in binary)
  CHECK(linspace<T>(T(0), T(1), 5).to_vector() == std::vector<T>{T(0), T(0.25), T(0.5), T(0.75), T(1)});
  CHECK(linspace<T>(T(-1), T(1), 3).to_vector() == std::vector<T>{T(-1), T(0), T(1)});
  auto m = from_vector<T>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(m.at({1, 2}) == T(6));
  CHECK(m.size(-1) == 3);
}

TEST_CASE("from_matrix copies any matrix-like object", "[tensor]") {
  struct Mat {
    long rows() const { return 2; }
    long cols() const { return 2; }
    double operator()(long i, long j) const { return double(10 * i + j); }
  };
  auto t = from_matrix<float>(Mat{});
  CHECK(t.shape() == Shape{2, 2});
  CHECK(t.to_vector() == std::vector<float>{0, 1, 10, 11});
}

TEST_CASE("tensor accessors reject bad use with clear errors", "[tensor][errors]") {
  CHECK_THROWS_WITH(from_vector<float>({1, 2, 3}, {2, 2}), "[latent.shape] from_vector: 3 values for shape [2,2] (4 elements)");
  CHECK_THROWS_WITH(zeros<float>({2}).item(), "[latent.shape] item: tensor [2] has 2 elements, expected 1");
  CHECK_THROWS_WITH(zeros<float>({2, 2}).at({0, 2}), "[latent.shape] at: index 2 out of range for dimension 1 of [2,2]");
  CHECK_THROWS_WITH(Tensor<float>().shape(), "[latent.value] tensor is undefined (default-constructed or an absent gradient)");
  CHECK_THROWS_WITH(linspace<float>(0.0f, 1.0f, -1), "[latent.value] linspace: steps = -1 is negative");
  CHECK_THROWS_WITH(arange<float>(0.0f, 1.0f, 0.0f), "[latent.value] arange: step must be non-zero");
}

TEST_CASE("randn with a seed is reproducible and has unit variance", "[tensor]") {
  Rng a(42), b(42);
  auto x = randn<float>({1000, 10}, a);
  auto y = randn<float>({1000, 10}, b);
  CHECK(x.to_vector() == y.to_vector());
  const double m = mean(x).item(), v = var(x).item();
  CHECK(std::abs(m) < 0.05);  // sd of the mean = 0.01
  CHECK(std::abs(v - 1.0) < 0.07);  // sd of the variance ≈ 0.014
}

TEST_CASE("detach shares storage, clone_detached does not", "[tensor]") {
  auto x = ones<float>({3}).set_requires_grad();
  auto d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.shares_storage(x));
  auto c = x.clone_detached();
  CHECK_FALSE(c.shares_storage(x));
  c.data()[0] = 5;
  CHECK(x.at({0}) == 1.0f);
  d.data()[0] = 7;
  CHECK(x.at({0}) == 7.0f);
}

TEST_CASE("the caching allocator reuses freed blocks of the same size class", "[allocator]") {
  empty_cache();
  { auto warm = Tensor<float>::empty({1000}); }
  const auto before = memory_stats();
  for (int i = 0; i < 10; ++i) {
    auto t = Tensor<float>::empty({1000});
    t.data()[0] = 1;
  }
  const auto after = memory_stats();
  CHECK(after.system_allocations == before.system_allocations);
  CHECK(after.cache_hits >= before.cache_hits + 10);
  CHECK(after.bytes_in_use == before.bytes_in_use);
  empty_cache();
  CHECK(memory_stats().bytes_cached == 0);
}

TEST_CASE("allocator size classes waste at most a quarter", "[allocator]") {
  using A = detail::CachingAllocator;
  for (std::size_t bytes : {1ul, 64ul, 65ul, 100ul, 4096ul, 4097ul, 1000000ul, 123456789ul}) {
    const std::size_t got = A::class_bytes(A::size_class(bytes));
    CHECK(got >= bytes);
    CHECK(got % 64 == 0);
    CHECK(double(got) <= std::max(64.0, 1.25 * double(bytes) + 64));
  }
}
