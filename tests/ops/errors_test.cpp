// Input checks of every op: the whole message text is API (kind prefix, op name, shapes, the bad value).
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace latent;

namespace {
using D = Tensor<double>;
using Index = Tensor<std::int64_t>;
D z(const Shape& s) { return zeros<double>(s); }
Index ids(const std::vector<std::int64_t>& v, const Shape& s) { return from_vector<std::int64_t>(v, s); }
Index ids(const std::vector<std::int64_t>& v) { return from_vector<std::int64_t>(v); }
}  // namespace

TEST_CASE("element-wise ops reject shapes that do not broadcast", "[ops][errors]") {
  REQUIRE_THROWS_WITH(add(z({2, 3}), z({4})),
                      "[latent.shape] add: shapes [2,3] and [4] do not broadcast (dimension 1: 3 vs 4)");
  REQUIRE_THROWS_WITH(sub(z({2, 3}), z({3, 3})),
                      "[latent.shape] sub: shapes [2,3] and [3,3] do not broadcast (dimension 0: 2 vs 3)");
  REQUIRE_THROWS_WITH(mul(z({5, 2, 3}), z({4, 1})),
                      "[latent.shape] mul: shapes [5,2,3] and [4,1] do not broadcast (dimension 1: 2 vs 4)");
  REQUIRE_THROWS_WITH(div(z({2}), z({3})),
                      "[latent.shape] div: shapes [2] and [3] do not broadcast (dimension 0: 2 vs 3)");
  REQUIRE_THROWS_WITH(pow(z({2}), z({3})),
                      "[latent.shape] pow: shapes [2] and [3] do not broadcast (dimension 0: 2 vs 3)");
  REQUIRE_THROWS_WITH(gt(z({2}), z({3})),
                      "[latent.shape] gt: shapes [2] and [3] do not broadcast (dimension 0: 2 vs 3)");
  REQUIRE_THROWS_WITH(where(z({2}), z({3}), z({3})),
                      "[latent.shape] where: shapes [2] and [3] do not broadcast (dimension 0: 2 vs 3)");
  REQUIRE_THROWS_WITH(z({2}) + z({3}), "[latent.shape] add: shapes [2] and [3] do not broadcast (dimension 0: 2 vs 3)");
}

TEST_CASE("element-wise ops reject bad options", "[ops][errors]") {
  REQUIRE_THROWS_WITH(clamp(z({2}), 1.0, -1.0), "[latent.value] clamp: min 1.000000 > max -1.000000");
  Rng rng(1);
  REQUIRE_THROWS_WITH(dropout(z({2}), 1.5, rng), "[latent.value] dropout: p = 1.500000 is not in [0, 1]");
  REQUIRE_THROWS_WITH(dropout(z({2}), -0.1, rng), "[latent.value] dropout: p = -0.100000 is not in [0, 1]");
}

TEST_CASE("reductions reject bad dimensions", "[ops][errors]") {
  REQUIRE_THROWS_WITH(sum(z({2, 3}), 2), "[latent.shape] sum: dimension 2 out of range for rank 2");
  REQUIRE_THROWS_WITH(sum(z({2, 3}), -3), "[latent.shape] sum: dimension -3 out of range for rank 2");
  REQUIRE_THROWS_WITH(mean(z({2, 3}), 5), "[latent.shape] mean: dimension 5 out of range for rank 2");
  REQUIRE_THROWS_WITH(var(z({2, 3}), -3), "[latent.shape] var: dimension -3 out of range for rank 2");
  REQUIRE_THROWS_WITH(sum(z({2, 3}), Dims{1, -1}), "[latent.shape] sum: dimension 1 repeated in (1,-1) for [2,3]");
  REQUIRE_THROWS_WITH(mean(z({2, 3}), Dims{0, 0}), "[latent.shape] mean: dimension 0 repeated in (0,0) for [2,3]");
  REQUIRE_THROWS_WITH(logsumexp(z({0, 3}), 0), "[latent.shape] logsumexp: cannot reduce an empty dimension 0 of [0,3]");
  REQUIRE_THROWS_WITH(argmax(z({0, 3}), 0), "[latent.shape] argmax: empty dimension 0 of [0,3]");
  REQUIRE_THROWS_WITH(argmin(z({2, 0}), 1), "[latent.shape] argmin: empty dimension 1 of [2,0]");
  REQUIRE_THROWS_WITH(max(z({0, 3}), 0), "[latent.shape] max: empty dimension 0 of [0,3]");
  REQUIRE_THROWS_WITH(min(z({3, 0}), -1), "[latent.shape] min: empty dimension 1 of [3,0]");
  REQUIRE_THROWS_WITH(argmax(z({2}), 1), "[latent.shape] argmax: dimension 1 out of range for rank 1");
  REQUIRE_THROWS_WITH(max(scalar_tensor<double>(1), 1), "[latent.shape] max: dimension 1 out of range for rank 0");
  REQUIRE_THROWS_WITH(softmax(z({2, 3}), 2), "[latent.shape] softmax: dimension 2 out of range for rank 2");
  REQUIRE_THROWS_WITH(log_softmax(z({2, 3}), -3), "[latent.shape] log_softmax: dimension -3 out of range for rank 2");
  REQUIRE_THROWS_WITH(sum_to(z({2, 3}), Shape{2}), "[latent.shape] sum_to: cannot reduce [2,3] to [2]");
  REQUIRE_THROWS_WITH(sum_to(z({3}), Shape{2, 3}), "[latent.shape] sum_to: cannot reduce [3] to [2,3]");
}

TEST_CASE("reshape and its relatives reject impossible shapes", "[ops][errors]") {
  REQUIRE_THROWS_WITH(reshape(z({2, 3}), Shape{4}),
                      "[latent.shape] reshape: cannot reshape [2,3] (6 elements) into [4] (4 elements)");
  REQUIRE_THROWS_WITH(view(z({2, 3}), {-1, -1}), "[latent.shape] view: more than one -1");
  REQUIRE_THROWS_WITH(view(z({2, 3}), {4, -1}),
                      "[latent.shape] view: cannot view [2,3] (6 elements) with an inferred dimension");
  REQUIRE_THROWS_WITH(flatten(z({2, 3, 4}), 2, 1), "[latent.shape] flatten: start 2 > end 1");
  REQUIRE_THROWS_WITH(unsqueeze(z({2, 3}), 3), "[latent.shape] unsqueeze: dimension 3 out of range for rank 3");
  REQUIRE_THROWS_WITH(squeeze(z({2, 3}), 1), "[latent.shape] squeeze: dimension 1 of [2,3] has size 3, not 1");
  REQUIRE_THROWS_WITH(squeeze(z({2, 3}), 2), "[latent.shape] squeeze: dimension 2 out of range for rank 2");
}

TEST_CASE("permute and transpose reject bad permutations", "[ops][errors]") {
  REQUIRE_THROWS_WITH(permute(z({2, 3, 4}), {0, 1, 1}), "[latent.shape] permute: dimension 1 repeated in (0,1,1)");
  REQUIRE_THROWS_WITH(permute(z({2, 3, 4}), {0, -1, 2}), "[latent.shape] permute: dimension 2 repeated in (0,-1,2)");
  REQUIRE_THROWS_WITH(permute(z({2, 3, 4}), {0, 1}), "[latent.shape] permute: (0,1) for tensor [2,3,4]");
  REQUIRE_THROWS_WITH(permute(z({2, 3}), {0, 2}), "[latent.shape] permute: dimension 2 out of range for rank 2");
  REQUIRE_THROWS_WITH(transpose(z({2, 3}), 0, 2), "[latent.shape] transpose: dimension 2 out of range for rank 2");
}

TEST_CASE("narrow, select, split and chunk reject out-of-range slices", "[ops][errors]") {
  REQUIRE_THROWS_WITH(narrow(z({3, 4}), 1, 2, 3), "[latent.shape] narrow: [2, 5) is outside dimension 1 of [3,4]");
  REQUIRE_THROWS_WITH(narrow(z({3, 4}), 0, -1, 2), "[latent.shape] narrow: [-1, 1) is outside dimension 0 of [3,4]");
  REQUIRE_THROWS_WITH(narrow(z({3, 4}), 0, 1, -1), "[latent.shape] narrow: [1, 0) is outside dimension 0 of [3,4]");
  REQUIRE_THROWS_WITH(narrow(scalar_tensor<double>(1), 0, 0, 1), "[latent.shape] narrow: input [] is zero-dimensional");
  REQUIRE_THROWS_WITH(select(z({3, 4}), 1, 4), "[latent.shape] select: index 4 out of range for dimension 1 of [3,4]");
  REQUIRE_THROWS_WITH(select(z({3, 4}), 0, -4),
                      "[latent.shape] select: index -4 out of range for dimension 0 of [3,4]");
  REQUIRE_THROWS_WITH(select(scalar_tensor<double>(1), 0, 0), "[latent.shape] select: input [] is zero-dimensional");
  REQUIRE_THROWS_WITH(split(z({4}), 0), "[latent.value] split: size 0 must be positive");
  REQUIRE_THROWS_WITH(split(scalar_tensor<double>(1), 1), "[latent.shape] split: input [] is zero-dimensional");
  REQUIRE_THROWS_WITH(chunk(z({4}), 0), "[latent.value] chunk: chunks 0 must be positive");
  REQUIRE_THROWS_WITH(chunk(z({4}), 2, 1), "[latent.shape] chunk: dimension 1 out of range for rank 1");
}

TEST_CASE("index_select, gather and embedding reject bad indices", "[ops][errors]") {
  REQUIRE_THROWS_WITH(index_select(z({4, 3}), 0, ids({1, 4})),
                      "[latent.value] index_select: index 4 out of range [0, 4) for input [4,3]");
  REQUIRE_THROWS_WITH(index_select(z({4, 3}), 1, ids({-1})),
                      "[latent.value] index_select: index -1 out of range [0, 3) for input [4,3]");
  REQUIRE_THROWS_WITH(index_select(z({4, 3}), 0, ids({1, 2}, {2, 1})),
                      "[latent.shape] index_select: index [2,1] must be 1-D");
  REQUIRE_THROWS_WITH(index_select(scalar_tensor<double>(1), 0, ids({0})),
                      "[latent.shape] index_select: input [] is zero-dimensional");
  REQUIRE_THROWS_WITH(gather(z({4, 3}), 1, ids({0, 3}, {1, 2})),
                      "[latent.shape] gather: index [1,2] must match input [4,3] except in dimension 1");
  REQUIRE_THROWS_WITH(gather(z({4, 3}), 1, ids({0, 3, 1, 0}, {4, 1})),
                      "[latent.value] gather: index 3 out of range [0, 3) for input [4,3]");
  REQUIRE_THROWS_WITH(gather(z({4, 3}), 0, ids({0, 1, 2})),
                      "[latent.shape] gather: index [3] and input [4,3] differ in rank");
  REQUIRE_THROWS_WITH(embedding(z({5, 2}), ids({1, 5})),
                      "[latent.value] embedding: index 5 out of range [0, 5) for input [5,2]");
  REQUIRE_THROWS_WITH(embedding(z({5}), ids({1})), "[latent.shape] embedding: weight [5] has rank 1, expected 2");
}

TEST_CASE("cat, stack and expand reject mismatched shapes", "[ops][errors]") {
  REQUIRE_THROWS_WITH(cat({z({2, 3}), z({2, 3, 1})}),
                      "[latent.shape] cat: tensor 1 [2,3,1] and tensor 0 [2,3] differ in rank");
  REQUIRE_THROWS_WITH(cat({z({2, 3}), z({2, 4})}, 0),
                      "[latent.shape] cat: tensor 1 [2,4] does not match tensor 0 [2,3] outside dimension 0");
  REQUIRE_THROWS_WITH(cat({z({2, 3}), z({2, 3})}, 2), "[latent.shape] cat: dimension 2 out of range for rank 2");
  REQUIRE_THROWS_WITH(cat(std::vector<D>{}), "[latent.value] cat: no tensors given");
  REQUIRE_THROWS_WITH(cat({scalar_tensor<double>(1), scalar_tensor<double>(2)}),
                      "[latent.shape] cat: tensor 0 [] is zero-dimensional (stack it instead)");
  REQUIRE_THROWS_WITH(stack({z({2, 3}), z({3, 2})}), "[latent.shape] stack: tensor 1 [3,2] and tensor 0 [2,3] differ");
  REQUIRE_THROWS_WITH(stack(std::vector<D>{}), "[latent.value] stack: no tensors given");
  REQUIRE_THROWS_WITH(expand(z({2, 3}), Shape{3}), "[latent.shape] expand: [2,3] cannot be expanded to [3]");
  REQUIRE_THROWS_WITH(expand(z({2, 3}), Shape{4, 3}),
                      "[latent.shape] expand: shapes [2,3] and [4,3] do not broadcast (dimension 0: 2 vs 4)");
}

TEST_CASE("matmul and linear reject mismatched operands", "[ops][errors]") {
  REQUIRE_THROWS_WITH(matmul(z({32, 64}), z({32, 10})),
                      "[latent.shape] matmul: [32,64] x [32,10]: inner dimensions 64 and 32 differ");
  REQUIRE_THROWS_WITH(matmul(z({3}), z({4})), "[latent.shape] matmul: [3] x [4]: inner dimensions 3 and 4 differ");
  REQUIRE_THROWS_WITH(matmul(z({3}), z({4, 2})), "[latent.shape] matmul: [3] x [4,2]: inner dimensions 3 and 4 differ");
  REQUIRE_THROWS_WITH(matmul(z({2, 3}), z({4})), "[latent.shape] matmul: [2,3] x [4]: inner dimensions 3 and 4 differ");
  REQUIRE_THROWS_WITH(matmul(z({2, 4, 3}), z({3, 3, 5})),
                      "[latent.shape] matmul: [2,4,3] x [3,3,5]: batch dimensions [2] and [3] do not broadcast");
  REQUIRE_THROWS_WITH(matmul(scalar_tensor<double>(1), z({3})),
                      "[latent.shape] matmul: [] x [3]: operands must have rank >= 1");
  REQUIRE_THROWS_WITH(linear(z({8, 63}), z({10, 64})),
                      "[latent.shape] linear: input [8,63] x weight [10,64]: input has 63 features, weight expects 64");
  REQUIRE_THROWS_WITH(linear(scalar_tensor<double>(1), z({10, 1})),
                      "[latent.shape] linear: input [] x weight [10,1]: input has 0 features, weight expects 1");
  REQUIRE_THROWS_WITH(linear(z({8, 64}), z({640})), "[latent.shape] linear: weight [640] has rank 1, expected 2");
  REQUIRE_THROWS_WITH(linear(z({8, 64}), z({10, 64}), z({9})),
                      "[latent.shape] linear: bias [9] does not match weight [10,64]");
}

TEST_CASE("losses reject mismatched shapes and bad targets", "[ops][errors]") {
  REQUIRE_THROWS_WITH(mse_loss(z({2, 3}), z({3, 2})), "[latent.shape] mse_loss: input [2,3] and target [3,2] differ");
  REQUIRE_THROWS_WITH(l1_loss(z({2}), z({2, 1})), "[latent.shape] l1_loss: input [2] and target [2,1] differ");
  REQUIRE_THROWS_WITH(binary_cross_entropy(from_vector<double>({0.5, 1.5}), z({2})),
                      "[latent.value] binary_cross_entropy: input 1.500000 at index 1 is not in [0, 1] (use "
                      "binary_cross_entropy_with_logits for logits)");
  REQUIRE_THROWS_WITH(binary_cross_entropy(from_vector<double>({-0.25}), z({1})),
                      "[latent.value] binary_cross_entropy: input -0.250000 at index 0 is not in [0, 1] (use "
                      "binary_cross_entropy_with_logits for logits)");
  REQUIRE_THROWS_WITH(binary_cross_entropy(z({2}), z({3})),
                      "[latent.shape] binary_cross_entropy: input [2] and target [3] differ");
  {  // NaN, and values just outside [0, 1], anywhere in a float tensor long enough for the vectorized check
    for (const index_t at : {index_t{0}, index_t{37}, index_t{99}}) {
      for (const float bad : {std::numeric_limits<float>::quiet_NaN(), -1e-7f, 1.0000001f}) {
        auto p = full<float>({100}, 0.5f);
        p.data()[at] = bad;
        const std::string value = std::isnan(bad) ? "nan" : std::to_string(bad);
        REQUIRE_THROWS_WITH(binary_cross_entropy(p, full<float>({100}, 1.0f)),
                            "[latent.value] binary_cross_entropy: input " + value + " at index " + std::to_string(at) +
                                " is not in [0, 1] (use binary_cross_entropy_with_logits for logits)");
      }
    }
    CHECK(binary_cross_entropy(zeros<float>({0}), zeros<float>({0}), Reduction::sum).item() == 0.0f);
  }
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(z({2}), z({3})),
                      "[latent.shape] binary_cross_entropy_with_logits: input [2] and target [3] differ");
  REQUIRE_THROWS_WITH(cross_entropy(z({2, 3}), ids({0, 3})),
                      "[latent.value] cross_entropy: target 3 at index 1 is not a class in [0, 3)");
  REQUIRE_THROWS_WITH(cross_entropy(z({2, 3}), ids({-1, 0})),
                      "[latent.value] cross_entropy: target -1 at index 0 is not a class in [0, 3)");
  REQUIRE_THROWS_WITH(cross_entropy(z({2, 3}), ids({0, 1, 2})),
                      "[latent.shape] cross_entropy: logits [2,3] and target [3] differ (target must be logits' shape "
                      "without the class dimension)");
  REQUIRE_THROWS_WITH(cross_entropy(z({2, 3}), ids({0, 1}, {2, 1})),
                      "[latent.shape] cross_entropy: logits [2,3] and target [2,1] differ (target must be logits' "
                      "shape without the class dimension)");
  REQUIRE_THROWS_WITH(cross_entropy(scalar_tensor<double>(0), ids({0}, {})),
                      "[latent.shape] cross_entropy: logits [] must have a class dimension");
  REQUIRE_THROWS_WITH(cross_entropy(z({2, 3}), ids({0, 1}), {.label_smoothing = 1.5}),
                      "[latent.value] cross_entropy: label_smoothing 1.500000 is not in [0, 1]");
  REQUIRE_THROWS_WITH(nll_loss(z({2, 3}), ids({0, 5})),
                      "[latent.value] nll_loss: target 5 at index 1 is not a class in [0, 3)");
  REQUIRE_THROWS_WITH(nll_loss(z({2, 3, 4}), ids({0, 1})),
                      "[latent.shape] nll_loss: input [2,3,4] has rank 3, expected 2");
  REQUIRE_THROWS_WITH(nll_loss(z({2, 3}), ids({0})),
                      "[latent.shape] nll_loss: input [2,3] and target [1] differ in batch size");
  REQUIRE_THROWS_WITH(gaussian_nll_loss(z({2}), z({2}), from_vector<double>({1.0, -0.5})),
                      "[latent.value] gaussian_nll_loss: var has a negative entry -0.500000 at index 1");
  REQUIRE_THROWS_WITH(gaussian_nll_loss(z({2, 3}), z({2, 3}), z({3})),
                      "[latent.shape] gaussian_nll_loss: var [3] does not fit input [2,3] (expected the input's shape, "
                      "or it without the last "
                      "dimension, or with the last dimension 1)");
  REQUIRE_THROWS_WITH(gaussian_nll_loss(z({2, 3}), z({3, 2}), z({2, 3})),
                      "[latent.shape] gaussian_nll_loss: input [2,3] and target [3,2] differ");
  REQUIRE_THROWS_WITH(kl_normal(z({2, 3}), z({2})), "[latent.shape] kl_normal: mu [2,3] and logvar [2] differ");
}

TEST_CASE("normalisations reject mismatched parameters", "[ops][errors]") {
  REQUIRE_THROWS_WITH(layer_norm(z({2, 3}), 3),
                      "[latent.shape] layer_norm: cannot normalise the last 3 dimensions of [2,3]");
  REQUIRE_THROWS_WITH(layer_norm(z({2, 3}), 0),
                      "[latent.shape] layer_norm: cannot normalise the last 0 dimensions of [2,3]");
  REQUIRE_THROWS_WITH(layer_norm(z({2, 3}), 1, z({4})),
                      "[latent.shape] layer_norm: weight [4] and normalized shape [3] differ");
  REQUIRE_THROWS_WITH(layer_norm(z({2, 3}), 1, {}, z({2})),
                      "[latent.shape] layer_norm: bias [2] and normalized shape [3] differ");
  REQUIRE_THROWS_WITH(group_norm(z({2, 6, 4}), 4),
                      "[latent.shape] group_norm: 6 channels of input [2,6,4] are not divisible into 4 groups");
  REQUIRE_THROWS_WITH(group_norm(z({2, 6}), 0),
                      "[latent.shape] group_norm: 6 channels of input [2,6] are not divisible into 0 groups");
  REQUIRE_THROWS_WITH(group_norm(z({6}), 2), "[latent.shape] group_norm: input [6] must be [N, C, ...]");
  REQUIRE_THROWS_WITH(group_norm(z({2, 6}), 2, z({3})),
                      "[latent.shape] group_norm: weight [3] and channels [6] differ");
  REQUIRE_THROWS_WITH(batch_norm(z({4}), {}, {}, {}, {}, true),
                      "[latent.shape] batch_norm: input [4] must be [N, C, ...]");
  REQUIRE_THROWS_WITH(batch_norm(z({4, 3}), z({2}), z({3}), {}, {}, true),
                      "[latent.shape] batch_norm: parameter [2] and channels [3] differ");
  REQUIRE_THROWS_WITH(batch_norm(z({4, 3}), z({3}), {}, {}, {}, false),
                      "[latent.value] batch_norm: running_mean and running_var must be given together (or neither)");
  REQUIRE_THROWS_WITH(batch_norm(z({1, 3}), {}, {}, {}, {}, true),
                      "[latent.value] batch_norm: training needs more than one value per channel, got input [1,3]");
}

TEST_CASE("autograd misuse through ops is reported", "[ops][errors][autograd]") {
  auto x = from_vector<double>({1, 2, 3, 4}, {2, 2}).set_requires_grad();
  // backward twice without retain_graph: the second pass meets the freed graph of the first
  auto loss = mse_loss(matmul(x, x), zeros<double>({2, 2}));
  loss.backward();
  REQUIRE_THROWS_WITH(loss.backward(),
                      "[latent.autograd] backward through 'mul' a second time: its saved tensors were freed; pass "
                      "retain_graph = true to the first backward");
  auto y = softmax(x, 1);
  y.backward(ones<double>({2, 2}));
  REQUIRE_THROWS_WITH(y.backward(ones<double>({2, 2})),
                      "[latent.autograd] backward through 'softmax' a second time: its saved tensors were freed; pass "
                      "retain_graph = true "
                      "to the first backward");
  // a non-scalar output needs a grad_output of its shape
  REQUIRE_THROWS_WITH(relu(x).backward(),
                      "[latent.autograd] backward: output [2,2] is not a scalar; pass a grad_output of its shape");
  REQUIRE_THROWS_WITH(relu(x).backward(ones<double>({4})),
                      "[latent.shape] backward: grad_output [4] does not match output [2,2]");
  // grad() with respect to a tensor the output does not depend on
  auto unused = zeros<double>({3}).set_requires_grad();
  REQUIRE_THROWS_WITH(
      grad<double>({sum(exp(x))}, {x, unused}),
      "[latent.autograd] grad: input 1 [3] was not used to compute the outputs (pass allow_unused = true)");
  // an output computed from a detached input has no graph to differentiate
  REQUIRE_THROWS_WITH(grad<double>({sum(exp(x.detach()))}, {x}),
                      "[latent.autograd] grad: output 0 does not require grad");
}
