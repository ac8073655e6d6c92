// W2 of BENCHMARKS.md, written with latent's public layers as a user would:
//   W2_dcgan_step  DCGAN-small on 1x28x28 (batch 64): one D update (real + detached fake, BCE with logits) and one
//                  non-saturating G update, Adam lr 2e-4, betas (0.5, 0.999)
// compare/torch_workloads.{cpp,py} are the LibTorch and PyTorch twins (same layers, names and step).
#include <string>

#include <latent/latent.hpp>
#include <latent/nn/activation.hpp>
#include <latent/nn/conv.hpp>
#include <latent/nn/linear.hpp>
#include <latent/nn/norm.hpp>
#include <latent/optim/adam.hpp>

#include "bench_common.hpp"

namespace latent_bench {
namespace {

using latent::index_t;
using latent::Tensor;

// G: z(100) -> Linear 100 -> 128·7·7 -> BatchNorm1d -> ReLU -> [128, 7, 7] -> ConvTranspose2d 128 -> 64 k4 s2 p1 ->
// BatchNorm2d -> ReLU -> ConvTranspose2d 64 -> 1 k4 s2 p1 -> Tanh.
class DcganGenerator : public latent::nn::Module<float> {
 public:
  explicit DcganGenerator(latent::Rng& rng)
      : fc({.in_features = 100, .out_features = 128 * 7 * 7}, rng),
        bn0({.num_features = 128 * 7 * 7}),
        deconv1({.in_channels = 128, .out_channels = 64, .kernel_size = 4, .stride = 2, .padding = 1}, rng),
        bn1({.num_features = 64}),
        deconv2({.in_channels = 64, .out_channels = 1, .kernel_size = 4, .stride = 2, .padding = 1}, rng) {
    register_module("fc", fc);
    register_module("bn0", bn0);
    register_module("deconv1", deconv1);
    register_module("bn1", bn1);
    register_module("deconv2", deconv2);
  }

  Tensor<float> forward(const Tensor<float>& z) {
    Tensor<float> h = latent::reshape(latent::relu(bn0(fc(z))), {z.size(0), 128, 7, 7});
    h = latent::relu(bn1(deconv1(h)));
    return latent::tanh(deconv2(h));
  }

  latent::nn::Linear<float> fc;
  latent::nn::BatchNorm1d<float> bn0;
  latent::nn::ConvTranspose2d<float> deconv1;
  latent::nn::BatchNorm2d<float> bn1;
  latent::nn::ConvTranspose2d<float> deconv2;
};

// D: Conv2d 1 -> 64 k4 s2 p1 -> LeakyReLU(0.2) -> Conv2d 64 -> 128 k4 s2 p1 -> BatchNorm2d -> LeakyReLU(0.2) ->
// flatten -> Linear 128·7·7 -> 1 (a logit).
class DcganDiscriminator : public latent::nn::Module<float> {
 public:
  explicit DcganDiscriminator(latent::Rng& rng)
      : conv1({.in_channels = 1, .out_channels = 64, .kernel_size = 4, .stride = 2, .padding = 1}, rng),
        conv2({.in_channels = 64, .out_channels = 128, .kernel_size = 4, .stride = 2, .padding = 1}, rng),
        bn2({.num_features = 128}),
        fc({.in_features = 128 * 7 * 7, .out_features = 1}, rng) {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
    register_module("fc", fc);
  }

  Tensor<float> forward(const Tensor<float>& x) {
    Tensor<float> h = latent::leaky_relu(conv1(x), 0.2f);
    h = latent::leaky_relu(bn2(conv2(h)), 0.2f);
    return fc(latent::flatten(h, 1));
  }

  latent::nn::Conv2d<float> conv1, conv2;
  latent::nn::BatchNorm2d<float> bn2;
  latent::nn::Linear<float> fc;
};

class W2DcganStep {
 public:
  static constexpr index_t batch = 64, z_dim = 100;

  W2DcganStep()
      : rng_(0),
        g_(rng_),
        d_(rng_),
        opt_g_(g_.parameters(), {.lr = 2e-4, .betas = {0.5, 0.999}}),
        opt_d_(d_.parameters(), {.lr = 2e-4, .betas = {0.5, 0.999}}),
        real_(latent::rand<float>({batch, 1, 28, 28}, rng_) * 2.0f - 1.0f),
        ones_(latent::ones<float>({batch, 1})),
        zeros_(latent::zeros<float>({batch, 1})) {}

  float step() {
    using latent::binary_cross_entropy_with_logits;
    const Tensor<float> fake = g_.forward(latent::randn<float>({batch, z_dim}, rng_));
    // D update on real and (detached) fake images, each its own batch for BatchNorm, as PyTorch's DCGAN example.
    const Tensor<float> loss_d = latent::add(binary_cross_entropy_with_logits(d_.forward(real_), ones_),
                                             binary_cross_entropy_with_logits(d_.forward(fake.detach()), zeros_));
    opt_d_.zero_grad();
    loss_d.backward();
    opt_d_.step();
    // G update, non-saturating: -log D(G(z)).
    const Tensor<float> loss_g = binary_cross_entropy_with_logits(d_.forward(fake), ones_);
    opt_g_.zero_grad();
    loss_g.backward();
    opt_g_.step();
    return loss_d.item() + loss_g.item();
  }

 private:
  latent::Rng rng_;
  DcganGenerator g_;
  DcganDiscriminator d_;
  latent::optim::Adam<float> opt_g_, opt_d_;
  Tensor<float> real_, ones_, zeros_;
};

void W2_dcgan_step(benchmark::State& state) {
  W2DcganStep w;
  float loss = 0;
  for (auto _ : state) report(state, measure([&] { loss = w.step(); }, workload_warmup, w2_samples, 1));
  state.counters["loss"] = loss;
}
BENCHMARK(W2_dcgan_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

bool run_gan_workload(const std::string& name, int steps) {
  if (name != "W2") return false;
  W2DcganStep w;
  for (int i = 0; i < steps; ++i) w.step();
  return true;
}

}  // namespace latent_bench
