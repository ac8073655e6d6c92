// Every nn layer against PyTorch 1.13 (oracle: tests/reference/data, written by make_reference.py): the
// PyTorch state_dict is loaded by name, then forward, backward with PyTorch's upstream gradient, and the
// output, input gradient and every parameter gradient are compared (tolerance: reference_data.hpp).
#include "reference_data.hpp"

using namespace latent;
using reference::check_close;
using reference::load;

namespace {

/// Loads the case's parameters (strictly: names and shapes must be PyTorch's), runs forward and backward,
/// compares output and all gradients. Returns the output.
template <class M>
Tensor<float> run_case(const std::string& name, M& module) {
  module.load_state_dict(reference::load_prefixed(name, "param."));
  Tensor<float> x = load<float>(name, "input");
  x.set_requires_grad(true);
  Tensor<float> y = module(x);
  check_close(y, load<float>(name, "output"), name + " output");
  y.backward(load<float>(name, "grad_output"));
  check_close(x.grad(), load<float>(name, "grad_input"), name + " grad_input");
  const StateDict grads = reference::load_prefixed(name, "grad.");
  const auto params = module.named_parameters();
  CHECK(params.size() == grads.size());
  for (const auto& [key, p] : params) check_close(p.grad(), grads.get<float>(key), name + " grad." + key);
  return y;
}

}  // namespace

TEST_CASE("Linear matches PyTorch forward and backward", "[reference][nn]") {
  Rng rng(1);
  nn::Linear<float> fc({.in_features = 5, .out_features = 7}, rng);
  run_case("linear", fc);
  nn::Linear<float> no_bias({.in_features = 5, .out_features = 3, .bias = false}, rng);
  run_case("linear_nobias_3d", no_bias);  // [2,3,5] input: the leading dimensions are batch
}

TEST_CASE("Conv2d matches PyTorch with stride, padding, dilation and rectangular kernels", "[reference][nn]") {
  Rng rng(2);
  nn::Conv2d<float> conv({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .stride = 2, .padding = 1}, rng);
  run_case("conv2d", conv);
  nn::Conv2d<float> dilated({.in_channels = 2,
                             .out_channels = 3,
                             .kernel_size = {3, 2},
                             .stride = {1, 2},
                             .padding = {2, 1},
                             .dilation = {2, 1},
                             .bias = false},
                            rng);
  run_case("conv2d_dilated", dilated);
}

TEST_CASE("ConvTranspose2d matches PyTorch including output_padding and dilation", "[reference][nn]") {
  Rng rng(3);
  nn::ConvTranspose2d<float> up({.in_channels = 4, .out_channels = 3, .kernel_size = 4, .stride = 2, .padding = 1},
                                rng);
  CHECK(run_case("conv_transpose2d", up).shape() == Shape{2, 3, 6, 6});
  nn::ConvTranspose2d<float> padded({.in_channels = 2,
                                     .out_channels = 3,
                                     .kernel_size = 3,
                                     .stride = 2,
                                     .padding = 1,
                                     .output_padding = 1,
                                     .dilation = 2,
                                     .bias = false},
                                    rng);
  run_case("conv_transpose2d_outpad", padded);
}

namespace {
/// Training step (output, gradients, running statistics and num_batches_tracked after it), then
/// evaluation mode on another batch with the updated running statistics.
template <class BN>
void run_batchnorm_case(const std::string& name, BN& bn) {
  bn.train();
  run_case(name, bn);
  check_close(bn.running_mean, load<float>(name, "after.running_mean"), name + " running_mean after the step");
  check_close(bn.running_var, load<float>(name, "after.running_var"), name + " running_var after the step");
  CHECK(bn.num_batches_tracked.item() == load<std::int64_t>(name, "after.num_batches_tracked").item());
  bn.eval();
  const Tensor<float> y = bn(load<float>(name, "eval_input"));
  check_close(y, load<float>(name, "eval_output"), name + " eval output");
}
}  // namespace

TEST_CASE("BatchNorm1d and BatchNorm2d match PyTorch in training, running statistics and evaluation",
          "[reference][nn]") {
  nn::BatchNorm1d<float> bn1({.num_features = 6});
  run_batchnorm_case("batchnorm1d", bn1);
  nn::BatchNorm1d<float> bn1_3d({.num_features = 5, .momentum = 0.3});
  run_batchnorm_case("batchnorm1d_3d", bn1_3d);
  nn::BatchNorm2d<float> bn2({.num_features = 3});
  run_batchnorm_case("batchnorm2d", bn2);
  // momentum = None: cumulative average, factor 1 / num_batches_tracked (here 1/4 after the loaded 3).
  nn::BatchNorm2d<float> cumulative({.num_features = 2, .momentum = std::nullopt});
  run_batchnorm_case("batchnorm2d_cumulative", cumulative);
}

TEST_CASE("LayerNorm matches PyTorch with and without bias", "[reference][nn]") {
  nn::LayerNorm<float> ln({.normalized_shape = {4, 5}});
  run_case("layernorm", ln);
  nn::LayerNorm<float> weight_only({.normalized_shape = {8}, .bias = false});
  run_case("layernorm_nobias", weight_only);
}

TEST_CASE("GroupNorm matches PyTorch on images and sequences", "[reference][nn]") {
  nn::GroupNorm<float> gn({.num_groups = 2, .num_channels = 6});
  run_case("groupnorm", gn);
  nn::GroupNorm<float> gn3({.num_groups = 3, .num_channels = 6, .eps = 1e-3});
  run_case("groupnorm_3d", gn3);
}

TEST_CASE("Embedding matches PyTorch, summing the gradient of repeated ids", "[reference][nn]") {
  const std::string name = "embedding";
  Rng rng(4);
  nn::Embedding<float> emb({.num_embeddings = 10, .embedding_dim = 4}, rng);
  emb.load_state_dict(reference::load_prefixed(name, "param."));
  const Tensor<float> y = emb(load<std::int64_t>(name, "input"));
  check_close(y, load<float>(name, "output"), "embedding output");
  y.backward(load<float>(name, "grad_output"));
  check_close(emb.weight.grad(), load<float>(name, "grad.weight"), "embedding grad.weight");
}

TEST_CASE("activation modules and Flatten match PyTorch", "[reference][nn]") {
  nn::ReLU<float> relu;
  run_case("relu", relu);
  nn::LeakyReLU<float> leaky({.negative_slope = 0.2});
  run_case("leaky_relu", leaky);
  nn::GELU<float> gelu;
  run_case("gelu", gelu);
  nn::GELU<float> gelu_tanh({.approximate = GeluApproximation::tanh});
  run_case("gelu_tanh", gelu_tanh);
  nn::SiLU<float> silu;
  run_case("silu", silu);
  nn::Tanh<float> tanh_module;
  run_case("tanh", tanh_module);
  nn::Sigmoid<float> sigmoid_module;
  run_case("sigmoid", sigmoid_module);
  nn::Softplus<float> softplus_module;
  run_case("softplus", softplus_module);
  nn::Softplus<float> softplus_beta2({.beta = 2.0});
  run_case("softplus_beta2", softplus_beta2);
  nn::Flatten<float> flat;
  CHECK(run_case("flatten", flat).shape() == Shape{2, 12});
}
