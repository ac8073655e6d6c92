// quickstart: the ten-line program of the README (kept identical, so the README's code always builds).
// Trains an MLP to reproduce its input batch and prints the loss before and after.
#include <latent/latent.hpp>

#include <cstdio>

using namespace latent;

int main() {
  Rng rng(0);
  auto x = rand<float>({128, 784}, rng);                        // a batch of "images"
  nn::MLP<float> net({.in = 784, .hidden = {400}, .out = 784}, rng);
  optim::Adam<float> opt(net.parameters(), {.lr = 1e-3});
  for (int step = 0; step < 100; ++step) {
    auto loss = binary_cross_entropy_with_logits(net(x), x);     // learn the identity
    opt.zero_grad(); loss.backward(); opt.step();
    if (step == 0 || step == 99) std::printf("step %3d  loss %.4f\n", step, loss.item());
  }
}
