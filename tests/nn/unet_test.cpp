// UNet: shapes and parameter names of the default 28×28 configuration, class conditioning with the null label,
// gradients reaching every parameter, a tiny batch overfitted with Adam, and option/input errors.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace latent;

namespace {
/// A UNet small enough for seconds-long tests: 8 base channels, two levels (28×28, 14×14), one block per level.
nn::UNetOptions tiny_options(index_t num_classes = 0) {
  return {.base_channels = 8, .channel_mult = {1, 2}, .num_res_blocks = 1, .groups = 4, .num_heads = 2, .num_classes = num_classes};
}
bool has_key(const StateDict& sd, const std::string& key) { return sd.contains(key); }
}  // namespace

static_assert(Denoiser<nn::UNet<float>, float>, "UNet plugs into Diffusion<Denoiser, Schedule> and FlowMatching<Net>");

TEST_CASE("UNet's default configuration maps [N,1,28,28] to the same shape with 1-2M parameters", "[nn][unet]") {
  Rng rng(1);
  nn::UNet<float> net({}, rng);
  // Counted by hand from the architecture (base 32, mult {1,2,2}, 2 blocks per level, attention at 7×7).
  CHECK(net.parameter_count() == 1168673);
  CHECK(net.levels() == 3);
  const auto sd = net.state_dict();
  for (const char* key : {"time_fc1.weight", "time_fc2.bias", "conv_in.weight", "down.0.blocks.0.norm1.weight",
                          "down.0.blocks.1.conv2.bias", "down.0.downsample.weight", "down.1.blocks.0.skip.weight",
                          "down.1.blocks.0.emb_proj.weight", "mid_block1.conv1.weight", "mid_attn.norm.weight",
                          "mid_attn.attn.in_proj_weight", "mid_attn.attn.out_proj.weight", "mid_block2.norm2.bias",
                          "up.0.blocks.0.skip.weight", "up.0.upsample.weight", "up.2.blocks.1.conv1.weight", "out_norm.weight",
                          "conv_out.weight", "conv_out.bias"})
    CHECK(has_key(sd, key));
  CHECK_FALSE(has_key(sd, "down.2.downsample.weight"));  // no resampling at the lowest level
  CHECK_FALSE(has_key(sd, "up.2.upsample.weight"));
  CHECK_FALSE(has_key(sd, "class_embedding.weight"));
  CHECK(sd.get<float>("mid_attn.attn.in_proj_weight").shape() == Shape{192, 64});
  CHECK(sd.get<float>("up.0.blocks.0.conv1.weight").shape() == Shape{64, 128, 3, 3});  // cat(mid, skip of level 2)
  CHECK(sd.get<float>("up.2.blocks.0.conv1.weight").shape() == Shape{32, 96, 3, 3});   // cat(level 1 upsampled, skip of level 0)

  NoGradGuard no_grad;
  const auto x = randn<float>({2, 1, 28, 28}, rng);
  const auto y = net(x, from_vector<float>({0.1f, 0.9f}, {2}));
  CHECK(y.shape() == Shape{2, 1, 28, 28});
  for (float v : y.to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("UNet conditions on time and class; undefined labels mean the null class", "[nn][unet]") {
  Rng rng(2);
  nn::UNet<float> net(tiny_options(10), rng);
  CHECK(net.null_label() == 10);
  CHECK(net.state_dict().get<float>("class_embedding.weight").shape() == Shape{11, 32});
  NoGradGuard no_grad;
  const auto x = randn<float>({2, 1, 28, 28}, rng);
  const auto t = from_vector<float>({0.3f, 0.3f}, {2});
  const auto a = net(x, t, from_vector<std::int64_t>({1, 2}, {2}));
  const auto b = net(x, t, from_vector<std::int64_t>({1, 7}, {2}));
  const auto null = net(x, t, full<std::int64_t>({2}, 10));
  const auto none = net(x, t);
  const auto later = net(x, from_vector<float>({0.3f, 0.8f}, {2}), from_vector<std::int64_t>({1, 2}, {2}));
  auto sample = [](const Tensor<float>& y, index_t n) { return narrow(y, 0, n, 1).clone_detached().to_vector(); };
  CHECK(sample(a, 0) == sample(b, 0));  // same label, same everything
  CHECK(sample(a, 1) != sample(b, 1));  // another label
  CHECK(null.to_vector() == none.to_vector());
  CHECK(sample(a, 0) == sample(later, 0));
  CHECK(sample(a, 1) != sample(later, 1));  // another time
}

TEST_CASE("UNet sends a gradient to every parameter", "[nn][unet]") {
  Rng rng(3);
  nn::UNet<float> net(tiny_options(3), rng);
  const auto x = randn<float>({2, 1, 28, 28}, rng);
  sum(square(net(x, from_vector<float>({0.2f, 0.7f}, {2}), from_vector<std::int64_t>({0, 2}, {2})))).backward();
  index_t checked = 0;
  for (const auto& [name, p] : net.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    double norm = 0;
    for (float g : p.grad().to_vector()) norm += double(g) * g;
    CHECK(norm > 0);
    ++checked;
  }
  CHECK(checked == static_cast<index_t>(net.parameters().size()));
}

// A denoiser must be able to memorise: 2 fixed (image, time, label) -> target pairs, 40 Adam steps at lr 3e-3. The
// loss starts near mean(target²) ≈ 1 (outputs are small at init) and must fall by at least 10x (observed 31x).
TEST_CASE("UNet overfits one tiny batch", "[nn][unet][train]") {
  Rng rng(4);
  nn::UNet<float> net(tiny_options(10), rng);
  const auto x = randn<float>({2, 1, 28, 28}, rng);
  const auto target = randn<float>({2, 1, 28, 28}, rng);
  const auto t = from_vector<float>({0.1f, 0.9f}, {2});
  const auto labels = from_vector<std::int64_t>({3, 9}, {2});
  optim::Adam opt(net.parameters(), {.lr = 3e-3});
  // One thread: these tiny convolutions gain nothing from a second one, and on a loaded machine OpenMP's barriers
  // wait for descheduled threads (observed: 1.7 s on one thread, 25 s on two with 4 processes per core).
  const int threads = num_threads();
  set_num_threads(1);
  struct Restore {
    int n;
    ~Restore() { set_num_threads(n); }
  } restore{threads};
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    const auto loss = mse_loss(net(x, t, labels), target);
    if (std::getenv("LATENT_PRINT_LOSS")) std::printf("step %d loss %.5f\n", step, double(loss.item()));
    if (step == 0) first = loss.item();
    last = loss.item();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < first / 10);
}

TEST_CASE("UNet rejects bad options and inputs", "[nn][unet][errors]") {
  Rng rng(5);
  REQUIRE_THROWS_WITH((nn::UNet<float>({.base_channels = 12, .groups = 8}, rng)),
                      "[latent.value] UNet: base_channels = 12 is not divisible by groups = 8");
  REQUIRE_THROWS_WITH((nn::UNet<float>({.base_channels = 8, .channel_mult = {1, 3}, .groups = 4, .num_heads = 5}, rng)),
                      "[latent.value] UNet: 24 channels at the lowest resolution are not divisible by num_heads = 5");
  REQUIRE_THROWS_WITH((nn::UNet<float>({.channel_mult = {}}, rng)), "[latent.value] UNet: channel_mult is empty");
  nn::UNet<float> net(tiny_options(), rng);
  const std::string name = net.repr();
  CHECK(name == "UNet(in_channels=1, base_channels=8, channel_mult={1,2}, num_res_blocks=1, num_classes=0)");
  const auto t = zeros<float>({2});
  REQUIRE_THROWS_WITH(net(zeros<float>({2, 3, 28, 28}), t), "[latent.shape] " + name + ": input [2,3,28,28] must be [N, 1, H, W]");
  REQUIRE_THROWS_WITH(net(zeros<float>({2, 1, 27, 28}), t),
                      "[latent.shape] " + name + ": input [2,1,27,28]: height and width must be divisible by 2");
  REQUIRE_THROWS_WITH(net(zeros<float>({2, 1, 28, 28}), zeros<float>({3})), "[latent.shape] " + name + ": times [3] must be [2]");
  REQUIRE_THROWS_WITH(net(zeros<float>({2, 1, 28, 28}), t, zeros<std::int64_t>({2})),
                      "[latent.value] " + name + ": labels given to an unconditional network");
}
