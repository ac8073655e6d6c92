// Whole small models against PyTorch 1.13 (oracle: tests/reference/data/{mlp,vae_w1_small}): a 2-layer MLP
// and BENCHMARKS.md's W1 VAE at reduced width, loaded from PyTorch's state_dict, forward + backward.
#include "reference_data.hpp"

using namespace latent;
using reference::check_close;
using reference::load;

namespace {

/// W1's VAE (PyTorch's VAE example) with widths d-h-z: fc1, fc21 (mean), fc22 (log-variance), fc3, fc4.
struct RefVAE : nn::Module<float> {
  nn::Linear<float> fc1, fc21, fc22, fc3, fc4;
  RefVAE(index_t d, index_t h, index_t z, Rng& rng)
      : fc1({.in_features = d, .out_features = h}, rng),
        fc21({.in_features = h, .out_features = z}, rng),
        fc22({.in_features = h, .out_features = z}, rng),
        fc3({.in_features = z, .out_features = h}, rng),
        fc4({.in_features = h, .out_features = d}, rng) {
    register_module("fc1", fc1);
    register_module("fc21", fc21);
    register_module("fc22", fc22);
    register_module("fc3", fc3);
    register_module("fc4", fc4);
  }
};

}  // namespace

TEST_CASE("an MLP built by nn::MLP loads a PyTorch Sequential and matches it", "[reference][nn]") {
  const std::string name = "mlp";
  Rng rng(5);
  nn::MLP<float> mlp({.in = 6, .hidden = {16}, .out = 3}, rng);  // Sequential(Linear, ReLU, Linear): keys 0.*, 2.*
  mlp.load_state_dict(reference::load_prefixed(name, "param."));
  Tensor<float> x = load<float>(name, "input");
  x.set_requires_grad(true);
  const Tensor<float> y = mlp(x);
  check_close(y, load<float>(name, "output"), "mlp output");
  y.backward(load<float>(name, "grad_output"));
  check_close(x.grad(), load<float>(name, "grad_input"), "mlp grad_input");
  const StateDict grads = reference::load_prefixed(name, "grad.");
  REQUIRE(grads.size() == 4);
  for (const auto& [key, p] : mlp.named_parameters()) check_close(p.grad(), grads.get<float>(key), "mlp grad." + key);
}

TEST_CASE("the W1 VAE (reduced to 64-32-8) matches PyTorch's loss and every parameter gradient", "[reference][nn]") {
  const std::string name = "vae_w1_small";
  Rng rng(6);
  RefVAE vae(64, 32, 8, rng);
  vae.load_state_dict(reference::load_prefixed(name, "param."));
  const Tensor<float> x = load<float>(name, "input");
  const Tensor<float> eps = load<float>(name, "eps");

  const Tensor<float> h = relu(vae.fc1(x));
  const Tensor<float> mu = vae.fc21(h), logvar = vae.fc22(h);
  const Tensor<float> z = add(mu, mul(eps, exp(mul_scalar(logvar, 0.5f))));
  const Tensor<float> recon = sigmoid(vae.fc4(relu(vae.fc3(z))));
  const Tensor<float> loss = add(binary_cross_entropy(recon, x, Reduction::sum), kl_normal(mu, logvar));
  check_close(mu, load<float>(name, "mu"), "vae mu");
  check_close(logvar, load<float>(name, "logvar"), "vae logvar");
  check_close(recon, load<float>(name, "recon"), "vae recon");
  check_close(loss, load<float>(name, "loss"), "vae loss");

  loss.backward();
  const StateDict grads = reference::load_prefixed(name, "grad.");
  const auto params = vae.named_parameters();
  REQUIRE(params.size() == 10);
  REQUIRE(grads.size() == 10);
  for (const auto& [key, p] : params) check_close(p.grad(), grads.get<float>(key), "vae grad." + key);
}
