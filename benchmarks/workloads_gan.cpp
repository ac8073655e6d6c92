// W2 of BENCHMARKS.md with latent's DCGAN players (models/gan_nets.hpp; their default configuration is W2's):
//   W2_dcgan_step  DCGAN-small on 1x28x28 (batch 64): one D update (real + detached fake, BCE with logits) and one
//                  non-saturating G update, Adam lr 2e-4, betas (0.5, 0.999)
// compare/torch_workloads.{cpp,py} are the LibTorch and PyTorch twins (same layers, names and step).
#include <string>

#include <latent/latent.hpp>
#include <latent/models/gan_nets.hpp>
#include <latent/optim/adam.hpp>

#include "bench_common.hpp"
#include "bench_workload.hpp"

namespace latent_bench {
namespace {

using latent::index_t;
using latent::Tensor;

class W2DcganStep {
 public:
  static constexpr index_t batch = 64, z_dim = 100;

  W2DcganStep()
      : rng_(0),
        g_(latent::models::DCGANConfig{}, rng_),
        d_(latent::models::DCGANConfig{}, rng_),
        opt_g_(g_.parameters(), {.lr = 2e-4, .betas = {0.5, 0.999}}),
        opt_d_(d_.parameters(), {.lr = 2e-4, .betas = {0.5, 0.999}}),
        real_(latent::rand<float>({batch, 1, 28, 28}, rng_) * 2.0f - 1.0f),
        ones_(latent::ones<float>({batch, 1})),
        zeros_(latent::zeros<float>({batch, 1})) {}

  float step() {
    using latent::binary_cross_entropy_with_logits;
    const Tensor<float> fake = g_(latent::randn<float>({batch, z_dim}, rng_));
    // D update as PyTorch's DCGAN example: real and (detached) fake images each their own batch for BatchNorm, each
    // loss differentiated as soon as it is known (the gradients add up), so only one of D's passes is kept at a time.
    opt_d_.zero_grad();  // also drops what the previous G update left in D's gradients
    const Tensor<float> loss_real = binary_cross_entropy_with_logits(d_(real_), ones_);
    loss_real.backward();
    const Tensor<float> loss_fake = binary_cross_entropy_with_logits(d_(fake.detach()), zeros_);
    loss_fake.backward();
    opt_d_.step();
    // G update, non-saturating: -log D(G(z)); G's gradients are dropped after its step, not kept through the next D update.
    const Tensor<float> loss_g = binary_cross_entropy_with_logits(d_(fake), ones_);
    loss_g.backward();
    opt_g_.step();
    opt_g_.zero_grad();
    return loss_real.item() + loss_fake.item() + loss_g.item();
  }

 private:
  latent::Rng rng_;
  latent::models::DCGANGenerator<float> g_;
  latent::models::DCGANDiscriminator<float> d_;
  latent::optim::Adam<float> opt_g_, opt_d_;
  Tensor<float> real_, ones_, zeros_;
};

void W2_dcgan_step(benchmark::State& state) { run_steps<W2DcganStep>(state, w2_samples); }
BENCHMARK(W2_dcgan_step)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

bool run_gan_workload(const std::string& name, int steps) { return name == "W2" && run_untimed<W2DcganStep>(steps); }

}  // namespace latent_bench
