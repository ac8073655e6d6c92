// scaled_dot_product_attention: PyTorch reference vectors (tests/ops/attention_reference.py, stored in
// tests/ops/data/attention/), the unfused composition softmax(q kᵀ·scale + mask) v, central differences for first
// and second order (gradcheck, gradgradcheck), the KV-cache kernel against full causal attention, and errors.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>
#include <latent/kernels/attention.hpp>

#include "ops_test_util.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

using namespace latent;
using namespace latent_test;

namespace {

Tensor<double> load_case(const std::string& name, const std::string& array) {
  const char* env = std::getenv("LATENT_SOURCE_DIR");
  const std::string root = env && *env ? env : LATENT_SOURCE_DIR;
  return testing::load_npy<double>((std::filesystem::path(root) / "tests" / "ops" / "data" / "attention" / name / (array + ".npy")).string());
}

template <Scalar T>
Tensor<T> cast(const Tensor<double>& x) {
  auto out = Tensor<T>::empty(x.shape());
  for (index_t i = 0; i < x.numel(); ++i) out.data()[i] = static_cast<T>(x.data()[i]);
  return out;
}

/// |actual - expected| <= tol · max|expected| everywhere; returns the worst error relative to that scale.
template <Scalar T>
double check_scaled(const Tensor<T>& actual, const Tensor<T>& expected, double tol, const std::string& what) {
  double scale = 0, worst = 0;
  for (index_t i = 0; i < expected.numel(); ++i) scale = std::max(scale, std::abs(static_cast<double>(expected.data()[i])));
  const auto r = testing::compare(actual, expected, {.rtol = 0, .atol = tol * scale}, what);
  worst = r.max_abs_error / scale;
  INFO(r.report);
  CHECK(r.ok);
  return worst;
}

/// The unfused composition: softmax(q kᵀ · scale + bottom-right causal mask) v, with latent's own ops.
template <Scalar T>
Tensor<T> composed_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, bool causal, double scale) {
  const int r = q.rank();
  Tensor<T> s = mul_scalar(matmul(q, transpose(k, r - 2, r - 1)), static_cast<T>(scale));
  if (causal) {
    const index_t Tq = q.shape()[r - 2], Tk = k.shape()[r - 2];
    auto mask = zeros<T>({Tq, Tk});
    for (index_t i = 0; i < Tq; ++i)
      for (index_t j = i + Tk - Tq + 1; j < Tk; ++j) mask.data()[i * Tk + j] = -std::numeric_limits<T>::infinity();
    s = add(s, mask);
  }
  return matmul(softmax(s, -1), v);
}

}  // namespace

// Float64 agrees with PyTorch to rounding (1e-12 of the tensor's scale; observed worst 1e-13). Float32 rounds at
// 6e-8 per operation; over these <= 9-term rows that is <= 4e-7 of the scale observed, so 2e-5 leaves a margin. The
// large_logits case (scale 8, scores up to ~60) is ill-conditioned: a rounding of a score by 60·6e-8 = 4e-6 changes
// its probability by that much relatively, and its gradients show 4e-5 of the scale, so it gets 2e-4 in float32.
// A wrong mask, scale or a missing max-subtraction shows at 1e-2 and above (or as inf/NaN).
TEMPLATE_TEST_CASE("scaled_dot_product_attention matches PyTorch's softmax(q kᵀ scale + mask) v", "[ops][attention]", float, double) {
  using T = TestType;
  struct Case {
    const char* name;
    bool causal;
  };
  for (const Case c : {Case{"full", false}, Case{"causal", true}, Case{"causal_offset_scale", true}, Case{"large_logits", true}}) {
    INFO("case " << c.name);
    const bool ill_conditioned = std::string(c.name) == "large_logits";
    const double tol = std::is_same_v<T, float> ? (ill_conditioned ? 2e-4 : 2e-5) : 1e-12;
    auto q = cast<T>(load_case(c.name, "q")), k = cast<T>(load_case(c.name, "k")), v = cast<T>(load_case(c.name, "v"));
    const double scale = load_case(c.name, "scale").item();
    q.set_requires_grad();
    k.set_requires_grad();
    v.set_requires_grad();
    const bool explicit_scale = std::string(c.name) == "causal_offset_scale" || std::string(c.name) == "large_logits";
    const Tensor<T> out = explicit_scale ? scaled_dot_product_attention(q, k, v, c.causal, scale)
                                         : scaled_dot_product_attention(q, k, v, c.causal);
    out.backward(cast<T>(load_case(c.name, "grad_output")));
    double worst = 0;
    worst = std::max(worst, check_scaled(out, cast<T>(load_case(c.name, "output")), tol, "output"));
    worst = std::max(worst, check_scaled(q.grad(), cast<T>(load_case(c.name, "grad_q")), tol, "grad_q"));
    worst = std::max(worst, check_scaled(k.grad(), cast<T>(load_case(c.name, "grad_k")), tol, "grad_k"));
    worst = std::max(worst, check_scaled(v.grad(), cast<T>(load_case(c.name, "grad_v")), tol, "grad_v"));
    if (std::getenv("LATENT_PRINT_ERRORS")) std::printf("attention vs torch [%s] %s: worst error %.3g of scale\n", c.name, std::is_same_v<T, float> ? "float" : "double", worst);
  }
}

// Oracle: the same formula composed from matmul/softmax/add, differentiated by the engine op by op. Float32:
// 1e-5 of the scale (both round in float; rows of 40 terms).
TEST_CASE("fused attention matches the unfused composition, forward and gradients, on several threads", "[ops][attention]") {
  Rng rng(5);
  for (const bool causal : {false, true}) {
    INFO("causal " << causal);
    // 8 slices of 40 x 40 x (32 + 32): above the parallel threshold, so the slots path runs when threads > 1.
    auto q = randn<float>({2, 4, 40, 32}, rng), k = randn<float>({2, 4, 40, 32}, rng), v = randn<float>({2, 4, 40, 32}, rng);
    const auto g = randn<float>({2, 4, 40, 32}, rng);
    std::vector<Tensor<float>> fused_grads, composed_grads;
    Tensor<float> fused_out, composed_out;
    for (const bool fused : {true, false}) {
      for (auto* t : {&q, &k, &v}) {
        t->set_grad(Tensor<float>());
        t->set_requires_grad();
      }
      const Tensor<float> out = fused ? scaled_dot_product_attention(q, k, v, causal) : composed_attention(q, k, v, causal, 1 / std::sqrt(32.0));
      out.backward(g);
      (fused ? fused_out : composed_out) = out.detach();
      (fused ? fused_grads : composed_grads) = {q.grad(), k.grad(), v.grad()};
    }
    check_scaled(fused_out, composed_out, 1e-5, "output");
    for (int i = 0; i < 3; ++i) check_scaled(fused_grads[i], composed_grads[i], 1e-5, "grad " + std::to_string(i));
  }
}

TEST_CASE("attention gives the same numbers on one thread and on several", "[ops][attention]") {
  Rng rng(6);
  const auto q = randn<double>({3, 4, 24, 48}, rng), k = randn<double>({3, 4, 30, 48}, rng), v = randn<double>({3, 4, 30, 40}, rng);
  const int threads = num_threads();
  set_num_threads(1);
  const auto one = scaled_dot_product_attention(q, k, v, true);
  set_num_threads(std::max(threads, 2));
  const auto many = scaled_dot_product_attention(q, k, v, true);
  set_num_threads(threads);
  // Each slice runs the same single-threaded GEMMs either way: bitwise equal.
  CHECK(one.to_vector() == many.to_vector());
}

// Oracle: central differences (gradcheck's defaults: eps 1e-6, atol 1e-5, rtol 1e-3) through the fused kernel's
// backward (gradcheck differentiates without create_graph, so the raw kernel runs).
TEST_CASE("scaled_dot_product_attention passes gradcheck, causal or not, any scale", "[ops][attention][gradcheck]") {
  const auto q = uniform({2, 2, 4, 3}, 1), k = uniform({2, 2, 5, 3}, 2), v = uniform({2, 2, 5, 2}, 3);
  auto check = [](const DifferentiableFunction& f, const Inputs& in) {
    const auto r = run_gradcheck(f, in);
    INFO(r.report);
    CHECK(r.ok);
  };
  check([](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); }, {q, k, v});
  check([](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true); }, {q, k, v});
  const auto qs = uniform({2, 2, 5, 3}, 4);  // Tq == Tk, explicit scale
  check([](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true, 1.7); }, {qs, k, v});
  // Causal over two query blocks (T = 40: blocks of 32 and 8 rows; see kernels::AttentionGeometry::query_block_rows).
  const auto ql = uniform({1, 2, 40, 2}, 5), kl = uniform({1, 2, 40, 2}, 6), vl = uniform({1, 2, 40, 2}, 7);
  check([](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true); }, {ql, kl, vl});
  // Only some inputs requiring grad: the kernel still computes each requested gradient.
  auto k_only = k.clone_detached();
  k_only.set_requires_grad();
  check([](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], true); }, {q, k_only, v});
}

// Oracle: central differences of the vector-Jacobian product computed with create_graph (the composed backward).
TEST_CASE("scaled_dot_product_attention passes gradgradcheck, causal or not", "[ops][attention][gradcheck]") {
  const auto q = uniform({1, 2, 3, 2}, 7), k = uniform({1, 2, 4, 2}, 8), v = uniform({1, 2, 4, 3}, 9);
  for (const bool causal : {false, true}) {
    INFO("causal " << causal);
    const auto r = run_gradgradcheck([causal](const Inputs& x) { return scaled_dot_product_attention(x[0], x[1], x[2], causal); }, {q, k, v});
    INFO(r.report);
    CHECK(r.ok);
  }
}

TEST_CASE("the create_graph backward of attention equals the fused backward", "[ops][attention]") {
  Rng rng(11);
  auto q = randn<double>({2, 3, 6, 4}, rng), k = randn<double>({2, 3, 6, 4}, rng), v = randn<double>({2, 3, 6, 5}, rng);
  for (auto* t : {&q, &k, &v}) t->set_requires_grad();
  const auto out = scaled_dot_product_attention(q, k, v, true);
  const auto g = randn<double>(out.shape(), rng);
  const auto fused = grad<double>({out}, {q, k, v}, {g}, false, false, true);
  const auto composed = grad<double>({out}, {q, k, v}, {g}, true);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(composed[i].requires_grad());  // create_graph: the gradient carries history
    check_scaled(fused[i], composed[i].detach(), 1e-12, "grad " + std::to_string(i));  // same formulas in double
  }
}

// Oracle: the three-input op on the parts of qkv (itself checked against PyTorch above); the gradient of the stacked
// op must be the three gradients stacked, on one thread and on several, and through create_graph.
TEST_CASE("scaled_dot_product_attention_stacked equals the op on the parts of qkv, forward and gradient", "[ops][attention]") {
  Rng rng(13);
  const int threads = num_threads();
  for (const int t : {1, std::max(threads, 2)}) {
    set_num_threads(t);
    for (const bool causal : {false, true}) {
      INFO("threads " << t << ", causal " << causal);
      auto qkv = randn<double>({3, 2, 4, 20, 8}, rng);  // [3, B, H, T, D]: 8 slices
      qkv.set_requires_grad();
      const auto g = randn<double>({2, 4, 20, 8}, rng);
      const auto out = scaled_dot_product_attention_stacked(qkv, causal);
      const auto d = grad<double>({out}, {qkv}, {g}, false, false, true)[0];  // retain_graph: create_graph below
      auto q = select(qkv, 0, 0).detach(), k = select(qkv, 0, 1).detach(), v = select(qkv, 0, 2).detach();
      for (auto* x : {&q, &k, &v}) x->set_requires_grad();
      const auto expected = scaled_dot_product_attention(q, k, v, causal);
      const auto parts = grad<double>({expected}, {q, k, v}, {g});
      check_scaled(out.detach(), expected.detach(), 1e-13, "output");
      check_scaled(d, stack<double>({parts[0], parts[1], parts[2]}, 0), 1e-13, "gradient");
      const auto composed = grad<double>({out}, {qkv}, {g}, true)[0];  // create_graph: the composed rule
      REQUIRE(composed.requires_grad());
      check_scaled(composed.detach(), d, 1e-12, "create_graph gradient");
    }
  }
  set_num_threads(threads);
}

TEST_CASE("scaled_dot_product_attention_stacked passes gradcheck and gradgradcheck", "[ops][attention][gradcheck]") {
  for (const bool causal : {false, true}) {
    INFO("causal " << causal);
    const auto f = [causal](const Inputs& x) { return scaled_dot_product_attention_stacked(x[0], causal); };
    const auto first = run_gradcheck(f, {uniform({3, 2, 2, 4, 3}, 21)});
    INFO(first.report);
    CHECK(first.ok);
    const auto second = run_gradgradcheck(f, {uniform({3, 1, 2, 3, 2}, 22)});
    INFO(second.report);
    CHECK(second.ok);
  }
  CHECK_THROWS_WITH(scaled_dot_product_attention_stacked(zeros<float>({2, 1, 4, 3})),
                    Catch::Contains("scaled_dot_product_attention_stacked") && Catch::Contains("[3, ..., T, D]"));
}

// Oracle: the stacked op (checked above) on heads split from qkv by copies (reshape + permute), its output merged
// back the same way, and those copies' gradients; the packed op reads and writes these layouts in place.
TEMPLATE_TEST_CASE("packed_self_attention equals split heads, the stacked op and merged heads, forward and gradient",
                   "[ops][attention]", float, double) {
  using T = TestType;
  Rng rng(31);
  const int threads = num_threads();
  const index_t B = 2, S = 20, H = 4, Dh = 8;
  for (const int t : {1, std::max(threads, 2)}) {
    set_num_threads(t);
    for (const bool causal : {false, true}) {
      INFO("threads " << t << ", causal " << causal);
      const auto qkv0 = randn<T>({B, S, 3 * H * Dh}, rng);
      const auto g = randn<T>({B, S, H * Dh}, rng);
      auto qkv = qkv0.clone_detached().set_requires_grad(), qkv_ref = qkv0.clone_detached().set_requires_grad();
      const auto out = packed_self_attention(qkv, H, causal);
      const auto stacked = permute(reshape(qkv_ref, Shape{B, S, 3, H, Dh}), {2, 0, 3, 1, 4});
      const auto ref = reshape(permute(scaled_dot_product_attention_stacked(stacked, causal), {0, 2, 1, 3}), Shape{B, S, H * Dh});
      REQUIRE(out.shape() == Shape{B, S, H * Dh});
      CHECK(out.to_vector() == ref.to_vector());  // the same products on the same numbers
      sum(mul(out, g)).backward();
      sum(mul(ref, g)).backward();
      CHECK(qkv.grad().to_vector() == qkv_ref.grad().to_vector());
    }
  }
  set_num_threads(threads);
}

TEST_CASE("packed_self_attention passes gradcheck and gradgradcheck, and rejects bad shapes", "[ops][attention][gradcheck]") {
  for (const bool causal : {false, true}) {
    INFO("causal " << causal);
    const auto f = [causal](const Inputs& x) { return packed_self_attention(x[0], 3, causal); };
    CHECK_GRADCHECK(f, {uniform({2, 4, 18}, 23)});  // 3 heads of 2
    CHECK_GRADGRADCHECK([causal](const Inputs& x) { return packed_self_attention(x[0], 2, causal); }, {uniform({1, 3, 12}, 24)});
  }
  CHECK_THROWS_WITH(packed_self_attention(zeros<float>({2, 4, 20}), 3),
                    Catch::Contains("packed_self_attention") && Catch::Contains("[B, T, 3·H·D]"));
  CHECK_THROWS_AS(packed_self_attention(zeros<float>({4, 24}), 2), ShapeError);
}

// Oracle: the same kernels in one query block, which compute the whole square of scores. Causal attention over
// query blocks skips the masked upper block triangle; the workspace and the gradients start as NaN, so a score it
// read without computing, or a gradient row it did not write, would show. Same products on the same numbers, only
// the masked zeros dropped from the sums: equal to rounding (1e-13 of the scale).
TEST_CASE("causal attention over query blocks equals one block, self, cached and packed, forward and backward", "[ops][attention]") {
  struct Case {
    const char* name;
    index_t heads, packed_heads, Tq, Tk, capacity, D, Dv, block;
  };
  Rng rng(41);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Case& c : {Case{"self, blocks of 16", 3, 0, 75, 75, 75, 8, 6, 16}, Case{"self, default blocks (32)", 3, 0, 75, 75, 75, 8, 6, 0},
                       Case{"45 queries, 70 keys", 2, 0, 45, 70, 70, 5, 3, 16},
                       Case{"45 queries, 70 keys in a cache of 80 (forward only)", 2, 0, 45, 70, 80, 5, 3, 16},
                       Case{"packed heads", 6, 3, 50, 50, 50, 4, 4, 16}}) {
    INFO(c.name);
    const kernels::AttentionGeometry g{.heads = c.heads, .Tq = c.Tq, .Tk = c.Tk, .D = c.D, .Dv = c.Dv, .k_stride = c.capacity * c.D,
                                       .v_stride = c.capacity * c.Dv, .packed_heads = c.packed_heads, .causal = true,
                                       .scale = 0.4, .query_block = c.block};
    REQUIRE(g.query_block_rows() < c.Tq);
    const bool packed = c.packed_heads > 0, backward = c.capacity == c.Tk;
    // Packed: one [heads / H, T, 3, H, D] buffer; else q [heads, Tq, D], k and v [heads, capacity, D or Dv].
    const index_t q_size = c.heads * c.Tq * c.D, k_size = c.heads * c.capacity * c.D;
    const auto qkv = randn<double>({packed ? 3 * q_size : q_size + k_size + c.heads * c.capacity * c.Dv}, rng);
    const index_t k_at = packed ? c.packed_heads * c.D : q_size, v_at = packed ? 2 * c.packed_heads * c.D : q_size + k_size;
    const double* q = qkv.data();
    const auto dout = randn<double>({c.heads * c.Tq * c.Dv}, rng);
    struct Result {
      Tensor<double> out, lse, grads;  // grads: dq, dk, dv in qkv's layout
    };
    auto run = [&](const kernels::AttentionGeometry& geo) {
      Result r{full<double>({c.heads * c.Tq * c.Dv}, nan), full<double>({c.heads * c.Tq}, nan), full<double>(qkv.shape(), nan)};
      auto ws = full<double>({geo.backward_workspace()}, nan);
      kernels::attention_forward(geo, q, q + k_at, q + v_at, r.out.data(), r.lse.data(), 1, ws.data());
      if (backward) {
        std::fill_n(ws.data(), ws.numel(), nan);
        double* d = r.grads.data();
        kernels::attention_backward(geo, q, q + k_at, q + v_at, r.out.data(), r.lse.data(), dout.data(), d, d + k_at, d + v_at, 1,
                                    ws.data());
      }
      return r;
    };
    kernels::AttentionGeometry one_block = g;
    one_block.query_block = c.Tq;
    const Result blocked = run(g), whole = run(one_block);
    check_scaled(blocked.out, whole.out, 1e-13, "output");
    check_scaled(blocked.lse, whole.lse, 1e-13, "lse");
    if (backward) check_scaled(blocked.grads, whole.grads, 1e-13, "gradients");
  }
}

// Oracle: rows of the full causal attention (the op) over the same keys. Decoding token by token through the
// cache (prefill 3 tokens, then single tokens) must reproduce them.
TEST_CASE("kv_cache_append + attention_forward reproduce full causal attention token by token", "[ops][attention][kv_cache]") {
  Rng rng(12);
  const index_t heads = 3, T = 7, D = 4, Dv = 5, capacity = 10;
  const auto q = randn<double>({heads, T, D}, rng), k = randn<double>({heads, T, D}, rng), v = randn<double>({heads, T, Dv}, rng);
  const auto full = scaled_dot_product_attention(q, k, v, true);
  auto k_cache = zeros<double>({heads, capacity, D}), v_cache = zeros<double>({heads, capacity, Dv});
  index_t length = 0;
  for (const index_t step : {3, 1, 1, 1, 1}) {
    const auto qn = narrow(q, 1, length, step).clone_detached(), kn = narrow(k, 1, length, step).clone_detached(),
               vn = narrow(v, 1, length, step).clone_detached();
    kernels::kv_cache_append(kn.data(), vn.data(), heads, step, D, Dv, capacity, length, k_cache.data(), v_cache.data());
    length += step;
    kernels::AttentionGeometry g{.heads = heads, .Tq = step, .Tk = length, .D = D, .Dv = Dv, .k_stride = capacity * D,
                                 .v_stride = capacity * Dv, .causal = true, .scale = 1 / std::sqrt(double(D))};
    auto out = Tensor<double>::empty({heads, step, Dv});
    auto ws = Tensor<double>::empty({g.forward_workspace()});
    kernels::attention_forward(g, qn.data(), k_cache.data(), v_cache.data(), out.data(), static_cast<double*>(nullptr), 1, ws.data());
    check_scaled(out, narrow(full, 1, length - step, step).clone_detached(), 1e-13, "step ending at " + std::to_string(length));
  }
}

TEST_CASE("scaled_dot_product_attention rejects mismatched shapes and impossible causal masks", "[ops][attention][errors]") {
  const auto q = zeros<float>({2, 3, 4}), k = zeros<float>({2, 5, 4}), v = zeros<float>({2, 5, 6});
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, zeros<float>({2, 5, 3}), v),
                      "[latent.shape] scaled_dot_product_attention: q [2,3,4], k [2,5,3], v [2,5,6]: q and k have different head sizes");
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, zeros<float>({2, 4, 6})),
                      "[latent.shape] scaled_dot_product_attention: q [2,3,4], k [2,5,4], v [2,4,6]: k and v have different lengths");
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, zeros<float>({1, 5, 4}), v),
                      "[latent.shape] scaled_dot_product_attention: q [2,3,4], k [1,5,4], v [2,5,6]: leading dimensions differ");
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, zeros<float>({2, 5, 4, 1}), v),
                      "[latent.shape] scaled_dot_product_attention: q [2,3,4], k [2,5,4,1], v [2,5,6]: q, k and v must have the same rank >= 2");
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(zeros<float>({2, 6, 4}), k, v, true),
                      "[latent.value] scaled_dot_product_attention: q [2,6,4], k [2,5,4], v [2,5,6]: causal attention needs at most as many queries as keys");
  // Without the causal mask, more queries than keys is fine (cross-attention).
  CHECK(scaled_dot_product_attention(zeros<float>({2, 6, 4}), k, v).shape() == Shape{2, 6, 6});
}

TEST_CASE("attention without gradients saves nothing and records no graph", "[ops][attention]") {
  Rng rng(13);
  auto q = randn<float>({1, 2, 3, 4}, rng);
  q.set_requires_grad();
  const auto k = randn<float>({1, 2, 3, 4}, rng), v = randn<float>({1, 2, 3, 4}, rng);
  Tensor<float> with_grad = scaled_dot_product_attention(q, k, v, true);
  CHECK(with_grad.requires_grad());
  NoGradGuard no_grad;
  const auto without = scaled_dot_product_attention(q, k, v, true);
  CHECK_FALSE(without.requires_grad());
  CHECK(without.to_vector() == with_grad.detach().to_vector());
}
