// nn layers: option validation (the bad value in the message), input checks that name the module, reprs,
// Dropout's randomness, BatchNorm's modes. Numerical agreement with PyTorch is in tests/reference/.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

using namespace latent;

TEST_CASE("layer options are validated with the bad value in the message", "[nn][errors]") {
  Rng rng(0);
  CHECK_THROWS_WITH(nn::Linear<float>({.in_features = 0, .out_features = 3}, rng),
                    "[latent.value] Linear: in_features = 0 must be positive");
  CHECK_THROWS_WITH(nn::Conv2d<float>({.in_channels = 1, .out_channels = 8}, rng),
                    "[latent.value] Conv2d: kernel_size = (0, 0) must be positive");
  CHECK_THROWS_WITH(nn::Conv2d<float>({.in_channels = 1, .out_channels = 8, .kernel_size = 3, .padding = {1, -1}}, rng),
                    "[latent.value] Conv2d: padding = (1, -1) must be non-negative");
  CHECK_THROWS_WITH(nn::ConvTranspose2d<float>(
                        {.in_channels = 4, .out_channels = 2, .kernel_size = 4, .stride = 2, .output_padding = 2}, rng),
                    "[latent.value] ConvTranspose2d: output_padding = (2, 2) must be smaller than stride = (2, 2) or "
                    "dilation = (1, 1)");
  CHECK_THROWS_WITH(nn::BatchNorm2d<float>({.num_features = 4, .momentum = 1.5}),
                    "[latent.value] BatchNorm2d: momentum = 1.5 is not in [0, 1]");
  CHECK_THROWS_WITH(nn::BatchNorm1d<float>({.num_features = 4, .eps = 0.0}),
                    "[latent.value] BatchNorm1d: eps = 0 must be positive");
  CHECK_THROWS_WITH(nn::LayerNorm<float>({.normalized_shape = {}}),
                    "[latent.value] LayerNorm: normalized_shape is empty");
  CHECK_THROWS_WITH(nn::GroupNorm<float>({.num_groups = 3, .num_channels = 8}),
                    "[latent.value] GroupNorm: num_channels = 8 is not divisible by num_groups = 3");
  CHECK_THROWS_WITH(nn::Embedding<float>({.num_embeddings = 10, .embedding_dim = -1}, rng),
                    "[latent.value] Embedding: embedding_dim = -1 must be positive");
  CHECK_THROWS_WITH(nn::Dropout<float>({.p = 1.5}, rng), "[latent.value] Dropout: p = 1.5 is not in [0, 1]");
  CHECK_THROWS_WITH(nn::Softplus<float>({.beta = 0.0}),
                    "[latent.value] Softplus: beta = 0 must be positive and finite");
}

TEST_CASE("layers name themselves when their input does not fit", "[nn][errors]") {
  Rng rng(0);
  nn::Linear<float> fc({.in_features = 4, .out_features = 2}, rng);
  CHECK_THROWS_WITH(fc(zeros<float>({8, 3})),
                    "[latent.shape] Linear(in_features=4, out_features=2, bias=true): input [8,3] has 3 features in "
                    "its last dimension, expected 4");
  nn::Conv2d<float> conv({.in_channels = 3, .out_channels = 8, .kernel_size = 3}, rng);
  CHECK_THROWS_WITH(
      conv(zeros<float>({2, 1, 8, 8})),
      "[latent.shape] Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)): input [2,1,8,8] has 1 channels, expected 3");
  CHECK_THROWS_WITH(
      conv(zeros<float>({3, 8, 8})),
      "[latent.shape] Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)): input [3,8,8] must be [N, C, H, W]");
  nn::BatchNorm2d<float> bn({.num_features = 4});
  CHECK_THROWS_WITH(bn(zeros<float>({2, 4})),
                    "[latent.shape] BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true): "
                    "input [2,4] must be [N, C, H, W]");
  nn::BatchNorm1d<float> bn1({.num_features = 4, .momentum = std::nullopt});
  CHECK_THROWS_WITH(bn1(zeros<float>({2, 5})),
                    "[latent.shape] BatchNorm1d(4, eps=1e-05, momentum=None, affine=true, track_running_stats=true): "
                    "input [2,5] has 5 channels, expected 4");
  nn::LayerNorm<float> ln({.normalized_shape = {5}});
  CHECK_THROWS_WITH(ln(zeros<float>({2, 4})),
                    "[latent.shape] LayerNorm((5,), eps=1e-05, elementwise_affine=true): input [2,4] does not end with "
                    "the normalized shape [5]");
  nn::GroupNorm<float> gn({.num_groups = 2, .num_channels = 4});
  CHECK_THROWS_WITH(gn(zeros<float>({2, 6, 3})),
                    "[latent.shape] GroupNorm(2, 4, eps=1e-05, affine=true): input [2,6,3] must be [N, 4, ...]");
  nn::Embedding<float> emb({.num_embeddings = 10, .embedding_dim = 4}, rng);
  CHECK_THROWS_WITH(emb(from_vector<std::int64_t>({3, 10})),
                    "[latent.value] Embedding(10, 4): id 10 at index 1 of ids [2] is not in [0, 10)");
}

TEST_CASE("layer reprs follow PyTorch's", "[nn]") {
  Rng rng(0);
  CHECK(nn::ConvTranspose2d<float>(
            {.in_channels = 128, .out_channels = 64, .kernel_size = 4, .stride = 2, .padding = 1}, rng)
            .repr() == "ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))");
  CHECK(
      nn::Conv2d<float>({.in_channels = 1, .out_channels = 2, .kernel_size = {3, 5}, .dilation = 2, .bias = false}, rng)
          .repr() == "Conv2d(1, 2, kernel_size=(3, 5), stride=(1, 1), dilation=(2, 2), bias=false)");
  CHECK(nn::LeakyReLU<float>({.negative_slope = 0.2}).repr() == "LeakyReLU(negative_slope=0.2)");
  CHECK(nn::GELU<float>({.approximate = GeluApproximation::tanh}).repr() == "GELU(approximate='tanh')");
  CHECK(nn::LayerNorm<float>({.normalized_shape = {128}, .bias = false}).repr() ==
        "LayerNorm((128,), eps=1e-05, elementwise_affine=true, bias=false)");
  CHECK(nn::Dropout<float>({.p = 0.1}, rng).repr() == "Dropout(p=0.1)");
}

TEST_CASE("layers create PyTorch's parameter shapes", "[nn]") {
  Rng rng(0);
  nn::Conv2d<float> conv({.in_channels = 3, .out_channels = 8, .kernel_size = {3, 5}}, rng);
  CHECK(conv.weight.shape() == Shape{8, 3, 3, 5});
  CHECK(conv.bias.shape() == Shape{8});
  nn::ConvTranspose2d<float> up({.in_channels = 8, .out_channels = 3, .kernel_size = 4, .bias = false}, rng);
  CHECK(up.weight.shape() == Shape{8, 3, 4, 4});
  CHECK_FALSE(up.bias.defined());
  CHECK(up.named_parameters().size() == 1);
  nn::LayerNorm<float> ln({.normalized_shape = {4, 5}, .elementwise_affine = false});
  CHECK(ln.parameters().empty());
  CHECK(ln(randn<float>({2, 4, 5}, rng)).shape() == Shape{2, 4, 5});
  nn::Embedding<float> emb({.num_embeddings = 7, .embedding_dim = 3}, rng);
  CHECK(emb(zeros<std::int64_t>({2, 5})).shape() == Shape{2, 5, 3});
}

TEST_CASE("Dropout draws from its own seeded generator or an explicit one", "[nn]") {
  Rng model_rng_a(42), model_rng_b(42);
  nn::Dropout<float> a({.p = 0.3}, model_rng_a), b({.p = 0.3}, model_rng_b);
  const Tensor<float> x = ones<float>({1000});
  CHECK(a(x).to_vector() == b(x).to_vector());  // same model seed, same masks
  Rng model_rng(42);
  nn::Dropout<float> first({.p = 0.3}, model_rng), second({.p = 0.3}, model_rng);
  CHECK(first(x).to_vector() != second(x).to_vector());  // two layers of one model: independent masks
  Rng explicit_a(9), explicit_b(9);
  CHECK(a.forward(x, explicit_a).to_vector() == b.forward(x, explicit_b).to_vector());
  // Fraction dropped: 1000 Bernoulli(0.3) draws, sd 14.5; 300 ± 80 is more than 5 sd.
  const std::vector<float> y = first(x).to_vector();
  const auto dropped = std::count(y.begin(), y.end(), 0.0f);
  CHECK(dropped > 220);
  CHECK(dropped < 380);
  nn::Dropout<float> never({.p = 0.0}, model_rng);
  CHECK(never(x).same(x));
}

TEST_CASE("BatchNorm without running statistics uses batch statistics in both modes", "[nn]") {
  Rng rng(1);
  nn::BatchNorm1d<float> bn({.num_features = 3, .track_running_stats = false});
  const Tensor<float> x = randn<float>({16, 3}, rng, 2.0f, 3.0f);
  const std::vector<float> train_out = bn(x).to_vector();
  bn.eval();
  CHECK(bn(x).to_vector() == train_out);
  // Each channel of the output has mean 0 (batch statistics, not the absent running ones).
  const Tensor<float> m = mean(bn(x), 0);
  for (index_t c = 0; c < 3; ++c) CHECK(std::abs(m.data()[c]) < 1e-5f);
}

TEST_CASE("BatchNorm::reset_running_stats restores PyTorch's initial buffers", "[nn]") {
  Rng rng(2);
  nn::BatchNorm2d<float> bn({.num_features = 2});
  bn(randn<float>({4, 2, 3, 3}, rng, 5.0f, 2.0f));
  REQUIRE(bn.num_batches_tracked.item() == 1);
  bn.reset_running_stats();
  CHECK(bn.running_mean.to_vector() == std::vector<float>{0, 0});
  CHECK(bn.running_var.to_vector() == std::vector<float>{1, 1});
  CHECK(bn.num_batches_tracked.item() == 0);
}

TEST_CASE("modules work in double precision", "[nn]") {
  Rng rng(3);
  nn::MLP<double> mlp({.in = 3, .hidden = {4}, .out = 2, .activation = nn::Activation::tanh}, rng);
  nn::LayerNorm<double> ln({.normalized_shape = {2}});
  const Tensor<double> y = ln(mlp(randn<double>({5, 3}, rng)));
  CHECK(y.shape() == Shape{5, 2});
  CHECK(std::string(dtype_of(mlp.state_dict().at("0.weight"))) == "float64");
}
