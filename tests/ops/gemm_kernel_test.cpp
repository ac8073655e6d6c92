// The float GEMM kernels against a double-precision triple loop: latent's AVX-512 kernel (kernels/sgemm_avx512.hpp)
// when the build targets AVX-512, otherwise gemm_block's OpenBLAS/Eigen path (the tests check whatever is compiled),
// on edge shapes around the register tile (14 x 32) and the cache blocks (KC = 384, NC = 1024), every transpose pair,
// alpha != 1, beta in {0, 1, 0.5}, strided operands; then through kernels::gemm and the matmul/linear ops.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <latent/kernels/gemm.hpp>

using latent::index_t;

namespace {

/// A product C = alpha op(A) op(B) + beta C with leading dimensions that may exceed the widths.
struct GkCase {
  bool ta, tb;
  index_t M, N, K;
  float alpha, beta;
  index_t pad_a = 0, pad_b = 0, pad_c = 0;  // extra elements per stored row
};

/// Deterministic values in [-1, 1) (a 64-bit LCG), so the test does not depend on latent's Rng.
std::vector<float> gk_values(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  std::uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>(static_cast<double>(s >> 40) / double(1ull << 24) * 2.0 - 1.0);
  }
  return v;
}

/// The kernel under test: with leading dimensions, the contract of kernels::detail::gemm_block.
void gk_kernel(const GkCase& c, const float* A, index_t lda, const float* B, index_t ldb, float* C, index_t ldc) {
#if defined(__AVX512F__)
  latent::kernels::sgemm_avx512(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A, lda, B, ldb, c.beta, C, ldc);
#else
  latent::kernels::detail::gemm_block<float>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A, lda, B, ldb, c.beta, C, ldc);
#endif
}

std::string gk_describe(const GkCase& c) {
  std::ostringstream s;
  s << "ta=" << c.ta << " tb=" << c.tb << " M=" << c.M << " N=" << c.N << " K=" << c.K << " alpha=" << c.alpha
    << " beta=" << c.beta << " pads=" << c.pad_a << "," << c.pad_b << "," << c.pad_c;
  return s.str();
}

/// Which code computes a case: the GEMM kernel itself, detail::gemm_block (which sends one-row and one-column products
/// to the matrix-vector kernel), both with leading dimensions, or kernels::gemm, which takes dense operands.
enum class GkPath { kernel, block, gemm };

/// Runs one case through `path` and returns an empty string or the first mismatch. The oracle is the same product in double.
/// Tolerance: a float dot product of length K, summed in any order with or without FMA, is within K u (u = 2^-24)
/// of the exact value relative to sum |a_k b_k|; scaling by alpha, beta and the final rounding add a few u more, so
/// (K + 4) * 2^-23 (twice the bound) never fails a correct kernel, while a wrong index or a lost block gives errors
/// of order 1.
std::string gk_check(const GkCase& c, GkPath path) {
  const index_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const index_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const index_t lda = a_cols + c.pad_a, ldb = b_cols + c.pad_b, ldc = c.N + c.pad_c;
  const auto A = gk_values(std::size_t(a_rows * lda), std::uint64_t(c.M * 7 + c.K));
  const auto B = gk_values(std::size_t(b_rows * ldb), std::uint64_t(c.N * 13 + c.K + 1));
  auto C = gk_values(std::size_t(c.M * ldc), std::uint64_t(c.M + c.N * 3 + 2));
  const float sentinel = 12345.0f;
  for (index_t i = 0; i < c.M; ++i)
    for (index_t j = 0; j < ldc; ++j) {
      float& x = C[std::size_t(i * ldc + j)];
      if (j >= c.N)
        x = sentinel;  // padding must stay untouched
      else if (c.beta == 0.0f)
        x = std::numeric_limits<float>::quiet_NaN();  // must be overwritten, not scaled
    }
  const std::vector<float> C0 = C;

  if (path == GkPath::kernel)
    gk_kernel(c, A.data(), lda, B.data(), ldb, C.data(), ldc);
  else if (path == GkPath::block)
    latent::kernels::detail::gemm_block<float>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb,
                                               c.beta, C.data(), ldc);
  else
    latent::kernels::gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), B.data(), c.beta, C.data());

  const double tol = double(c.K + 4) * std::numeric_limits<float>::epsilon();
  for (index_t i = 0; i < c.M; ++i) {
    for (index_t j = 0; j < c.N; ++j) {
      double dot = 0, magnitude = 0;
      for (index_t k = 0; k < c.K; ++k) {
        const double a = A[std::size_t(c.ta ? k * lda + i : i * lda + k)];
        const double b = B[std::size_t(c.tb ? j * ldb + k : k * ldb + j)];
        dot += a * b;
        magnitude += std::fabs(a * b);
      }
      const double old = C0[std::size_t(i * ldc + j)];
      const double expected = c.alpha * dot + (c.beta == 0.0f ? 0.0 : c.beta * old);
      const double scale = std::fabs(c.alpha) * magnitude + (c.beta == 0.0f ? 0.0 : std::fabs(c.beta * old)) + 1e-30;
      const double got = C[std::size_t(i * ldc + j)];
      if (!(std::fabs(got - expected) <= tol * scale)) {
        std::ostringstream s;
        s << gk_describe(c) << (path == GkPath::kernel ? " (kernel)" : path == GkPath::block ? " (gemm_block)" : " (kernels::gemm)") << ": C[" << i << "," << j << "] = " << got
          << ", expected " << expected << " (tolerance " << tol * scale << ")";
        return s.str();
      }
    }
    for (index_t j = c.N; j < ldc; ++j)
      if (C[std::size_t(i * ldc + j)] != sentinel) return gk_describe(c) + ": wrote into the padding of C";
  }
  return {};
}

}  // namespace

TEST_CASE("the float GEMM kernel matches a double reference on every small edge shape and transpose",
          "[kernels][gemm]") {
  // Around the register tile: 1 .. 65 rows (balanced panels of <= 14), columns across the 8/16/32-lane tails.
  const std::vector<index_t> sizes = {1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65};
  const float betas[] = {0.0f, 1.0f, 0.5f};
  int n = 0, failures = 0;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const index_t M : sizes)
        for (const index_t N : sizes)
          for (const index_t K : sizes) {
            const float beta = betas[n % 3];
            // Every fourth case with padded leading dimensions (operands that are views into wider matrices).
            const index_t pad = (n % 4 == 3) ? 3 : 0;
            const GkCase c{ta, tb, M, N, K, -1.5f, beta, pad, pad + 2, pad + 5};
            ++n;
            const std::string error = gk_check(c, GkPath::kernel);
            if (!error.empty() && ++failures <= 5) FAIL_CHECK(error);
          }
  CHECK(failures == 0);
}

TEST_CASE("matrix-vector products (one row or one column of C) match a double reference", "[kernels][gemm]") {
  // gemm_block sends these to the matrix-vector kernel when the matrix operand has contiguous rows (sgemv_rows_avx512
  // on AVX-512 builds), otherwise to Eigen. K across the 16-lane tail, row counts across the 4-row groups, padded
  // leading dimensions (padded C is a strided column), beta = 0 over NaN, K = 0.
  const std::vector<index_t> ks = {0, 1, 5, 15, 16, 17, 31, 33, 128, 130, 520};
  const std::vector<index_t> lengths = {1, 2, 3, 4, 5, 7, 8, 9, 385};
  const float betas[] = {0.0f, 1.0f, 0.5f};
  int n = 0, failures = 0;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const index_t K : ks)
        for (const index_t len : lengths)
          for (const bool row : {true, false}) {
            const index_t pad = (n % 3 == 2) ? 3 : 0;
            const GkCase c{ta, tb, row ? 1 : len, row ? len : 1, K, n % 2 ? -1.5f : 0.5f, betas[n % 3], pad, pad + 1,
                           pad + 2};
            ++n;
            const std::string error = gk_check(c, GkPath::block);
            if (!error.empty() && ++failures <= 5) FAIL_CHECK(error);
          }
  CHECK(failures == 0);
}

TEST_CASE("products with few rows, few columns or a short sum match a double reference", "[kernels][gemm]") {
  // gemm_block sends large ones (>= avx512_threshold multiply-adds) on AVX-512 builds to the matrix-vector kernel
  // against 2-4 vectors (x Wᵀ with 2-4 rows or columns of C) and to the unpacked kernel (B not transposed, M <= 4 or
  // K <= 4); the rest, and other builds, to the packed kernel, OpenBLAS or Eigen. Columns across the 16-lane tails
  // and the unpacked kernel's 64-column blocks, rows across its groups of 4, K across the 16-lane tail and KC = 384.
  const std::vector<GkCase> shapes = {
      {false, true, 256, 2, 128, 1.0f, 0.0f},   // W4's output layer, x Wᵀ
      {false, false, 256, 128, 2, 1.0f, 0.0f},  // its input gradient, g W
      {true, false, 2, 128, 256, 1.0f, 0.0f},   // its weight gradient, gᵀ h
  };
  std::vector<GkCase> cases = shapes;
  const float betas[] = {0.0f, 1.0f, 0.5f};
  int n = 0;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      for (const index_t few : {2, 3, 4, 5})
        for (const index_t wide : {17, 64, 65, 130, 300})
          for (const index_t K : {1, 2, 3, 4, 5, 40, 300, 400}) {
            const index_t pad = (n % 4 == 3) ? 3 : 0;
            const float alpha = n % 2 ? -1.5f : 0.75f, beta = betas[n % 3];
            ++n;
            cases.push_back({ta, tb, few, wide, K, alpha, beta, pad, pad + 1, pad + 2});  // few rows
            cases.push_back({ta, tb, wide, few, K, alpha, beta, pad + 1, pad, pad + 3});  // few columns
            if (few <= 4) cases.push_back({ta, tb, wide, wide + 3, few, alpha, beta, pad, pad + 2, pad});  // short sum
          }
    }
  int failures = 0;
  for (const auto& c : cases) {
    const std::string error = gk_check(c, GkPath::block);
    if (!error.empty() && ++failures <= 5) FAIL_CHECK(error);
  }
  CHECK(failures == 0);
}

#if defined(__AVX512F__)
TEST_CASE("the unpacked kernel gives the packed kernel's results bit for bit when K fits one cache block", "[kernels][gemm]") {
  // Both sum over k in the same order (one FMA per k from zero, then alpha and beta), so moving a product from one to
  // the other changes no bit while K <= KC = 384.
  int n = 0, differ = 0;
  for (const bool ta : {false, true})
    for (const index_t M : {1, 2, 3, 4, 5, 17, 256})
      for (const index_t K : {1, 2, 3, 4, 100, 384})
        for (const index_t N : {1, 7, 16, 64, 65, 130}) {
          if (M > 4 && K > 4) continue;
          const float beta = n % 2 ? 0.5f : 0.0f;
          const auto A = gk_values(std::size_t(M * K), std::uint64_t(n + 1)), B = gk_values(std::size_t(K * N), std::uint64_t(n + 2));
          const auto C0 = gk_values(std::size_t(M * N), std::uint64_t(n + 3));
          std::vector<float> packed = C0, unpacked = C0;
          latent::kernels::sgemm_avx512(ta, false, M, N, K, 1.5f, A.data(), ta ? M : K, B.data(), N, beta, packed.data(), N);
          latent::kernels::sgemm_unpacked_avx512(ta, M, N, K, 1.5f, A.data(), ta ? M : K, B.data(), N, beta, unpacked.data(), N);
          ++n;
          if (packed != unpacked && ++differ <= 5) FAIL_CHECK("ta=" << ta << " M=" << M << " N=" << N << " K=" << K << " beta=" << beta);
        }
  CHECK(n == 432);
  CHECK(differ == 0);
}
#endif

TEST_CASE("the float GEMM kernel matches a double reference across its cache blocks (K > KC, N > NC, many panels)",
          "[kernels][gemm]") {
  const std::vector<GkCase> cases = {
      {false, false, 100, 129, 255, 0.75f, 0.0f},
      {true, false, 129, 100, 257, 0.75f, 1.0f, 1, 2, 3},
      {false, true, 257, 65, 400, 2.0f, 0.5f},             // K crosses KC = 384
      {true, true, 255, 33, 777, 1.0f, 0.0f, 0, 7, 1},     // K spans three KC blocks
      {false, true, 17, 1100, 31, 1.0f, 1.0f},             // N crosses NC = 1024
      {true, false, 31, 1057, 769, -1.0f, 0.5f, 2, 0, 9},  // both
      {false, false, 33, 2049, 100, 1.0f, 0.0f},           // two full NC blocks and a tail
      {true, true, 15, 1030, 385, 0.5f, 1.0f},
  };
  for (const auto& c : cases) {
    INFO(gk_describe(c));
    CHECK(gk_check(c, GkPath::kernel).empty());
  }
}

TEST_CASE("kernels::gemm matches a double reference on products large enough for the fast kernel and threads",
          "[kernels][gemm]") {
  // The AVX-512 kernel (when compiled) or OpenBLAS. The first two products have more multiply-adds than the largest
  // split threshold (2^23), so with threads they are split over them, by rows (M >= N) and by columns; the third is
  // split where the measured threshold is low.
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      for (const GkCase c : {GkCase{ta, tb, 300, 260, 500, 1.0f, 0.0f}, GkCase{ta, tb, 70, 1100, 150, -0.5f, 1.0f},
                             GkCase{ta, tb, 129, 127, 131, 2.0f, 0.5f}}) {
        INFO(gk_describe(c));
        if (c.M != 129) REQUIRE(c.M * c.N * c.K >= latent::kernels::gemm_parallel_threshold_max);
        CHECK(gk_check(c, GkPath::gemm).empty());
      }
    }
}

TEST_CASE("matmul and linear match a double reference on products that take the fast float kernel", "[ops][gemm]") {
  latent::Rng rng(7);
  SECTION("matmul, 2-D and batched") {
    for (const auto& shapes : {std::pair<latent::Shape, latent::Shape>{{130, 257}, {257, 65}},
                               std::pair<latent::Shape, latent::Shape>{{3, 100, 129}, {3, 129, 100}}}) {
      const auto a = latent::randn<float>(shapes.first, rng), b = latent::randn<float>(shapes.second, rng);
      const auto c = latent::matmul(a, b);
      const index_t batch = a.rank() == 3 ? a.size(0) : 1, M = a.size(-2), K = a.size(-1), N = b.size(-1);
      const float* pa = a.data();
      const float* pb = b.data();
      const float* pc = c.data();
      double worst = 0;
      for (index_t q = 0; q < batch; ++q)
        for (index_t i = 0; i < M; ++i)
          for (index_t j = 0; j < N; ++j) {
            double dot = 0, magnitude = 0;
            for (index_t k = 0; k < K; ++k) {
              const double t = double(pa[(q * M + i) * K + k]) * double(pb[(q * K + k) * N + j]);
              dot += t;
              magnitude += std::fabs(t);
            }
            worst = std::max(worst, std::fabs(pc[(q * M + i) * N + j] - dot) / magnitude);
          }
      CHECK(worst <= double(K + 4) * std::numeric_limits<float>::epsilon());  // as in gk_check
    }
  }
  SECTION("linear with a bias (beta = 1 onto the broadcast bias)") {
    const index_t rows = 130, in = 257, out = 65;
    const auto x = latent::randn<float>({rows, in}, rng), w = latent::randn<float>({out, in}, rng);
    const auto bias = latent::randn<float>({out}, rng);
    const auto y = latent::linear(x, w, bias);
    double worst = 0;
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < out; ++j) {
        double dot = bias.data()[j], magnitude = std::fabs(bias.data()[j]);
        for (index_t k = 0; k < in; ++k) {
          const double t = double(x.data()[i * in + k]) * double(w.data()[j * in + k]);
          dot += t;
          magnitude += std::fabs(t);
        }
        worst = std::max(worst, std::fabs(y.data()[i * out + j] - dot) / magnitude);
      }
    CHECK(worst <= double(in + 4) * std::numeric_limits<float>::epsilon());
  }
}
