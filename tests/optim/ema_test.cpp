// EMA of parameters against a hand computation of the lerp recurrence, the swap-in guard, warm-up,
// state_dict round trip and errors.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <vector>

using namespace latent;

TEST_CASE("EMA follows shadow <- shadow + (1 - decay)(param - shadow)", "[optim][ema]") {
  auto p = from_vector<double>({1.0, -2.0, 4.0}).set_requires_grad();
  optim::EMA ema(std::vector<Tensor<double>>{p}, {.decay = 0.9});
  std::vector<double> shadow = {1.0, -2.0, 4.0};  // starts as a copy
  const std::vector<std::vector<double>> values = {{2.0, 0.0, 4.0}, {3.0, 1.0, -4.0}, {0.5, 0.5, 0.5}};
  for (const auto& v : values) {
    p.copy_(from_vector<double>(v));
    ema.update();
    // torch's lerp_ with weight 1 - decay < 0.5: start + weight * (end - start)
    for (std::size_t i = 0; i < shadow.size(); ++i) shadow[i] = shadow[i] + (1.0 - 0.9) * (v[i] - shadow[i]);
  }
  CHECK(ema.shadow()[0].to_vector() == shadow);
  CHECK(ema.num_updates() == 3);
  CHECK(p.to_vector() == values.back());  // update() never writes the parameters
  // Closed form of the first element: 0.9³·1 + 0.1·(0.9²·2 + 0.9·3 + 0.5) (rounding differs slightly).
  CHECK(shadow[0] == Approx(0.729 + 0.1 * (1.62 + 2.7 + 0.5)).epsilon(1e-14));
}

TEST_CASE("EMA warm-up uses min(decay, (1 + t) / (10 + t))", "[optim][ema]") {
  auto p = zeros<float>({2}).set_requires_grad();
  optim::EMA ema(std::vector<Tensor<float>>{p}, {.decay = 0.5, .warmup = true});
  CHECK(ema.decay() == 0.1);  // t = 0: 1/10
  ema.update();
  CHECK(ema.decay() == 2.0 / 11.0);
  for (int i = 0; i < 20; ++i) ema.update();
  CHECK(ema.decay() == 0.5);  // (1 + 21) / (10 + 21) > 0.5
}

TEST_CASE("EMA swap_in puts the averages in the parameters for the guard's scope", "[optim][ema]") {
  auto p = from_vector<double>({1.0, 2.0}).set_requires_grad();
  optim::EMA ema(std::vector<Tensor<double>>{p}, {.decay = 0.5});
  p.copy_(from_vector<double>({3.0, 6.0}));
  ema.update();  // shadow = (2, 4)
  {
    auto guard = ema.swap_in();
    CHECK(ema.swapped_in());
    CHECK(p.to_vector() == std::vector<double>{2.0, 4.0});
    CHECK(ema.state_dict().get<double>("shadow.0").to_vector() == std::vector<double>{2.0, 4.0});
    CHECK_THROWS_WITH(ema.update(),
                      "[latent.state] EMA.update: the averages are swapped into the parameters; end the swap_in() guard first");
    CHECK_THROWS_WITH(ema.swap_in(),
                      "[latent.state] EMA.swap_in: the averages are swapped into the parameters; end the swap_in() guard first");
  }
  CHECK_FALSE(ema.swapped_in());
  CHECK(p.to_vector() == std::vector<double>{3.0, 6.0});
  CHECK(ema.shadow()[0].to_vector() == std::vector<double>{2.0, 4.0});
  ema.copy_to();
  CHECK(p.to_vector() == std::vector<double>{2.0, 4.0});
}

TEST_CASE("EMA state_dict round trip continues the same averages", "[optim][ema][state_dict]") {
  Rng rng(3);
  auto w = randn<float>({3, 2}, rng).set_requires_grad();
  auto b = randn<float>({2}, rng).set_requires_grad();
  optim::EMA ema(optim::NamedParameters<float>{{"fc.weight", w}, {"fc.bias", b}}, {.decay = 0.8, .warmup = true});
  for (int i = 0; i < 3; ++i) {
    w.copy_(randn<float>({3, 2}, rng));
    ema.update();
  }
  const StateDict d = ema.state_dict();
  CHECK(d.contains("shadow.fc.weight"));
  CHECK(d.get<std::int64_t>("num_updates").item() == 3);
  optim::EMA restored(optim::NamedParameters<float>{{"fc.weight", w}, {"fc.bias", b}});
  restored.load_state_dict(d);
  CHECK(restored.options().decay == 0.8);
  CHECK(restored.options().warmup);
  ema.update();
  restored.update();
  CHECK(restored.shadow()[0].to_vector() == ema.shadow()[0].to_vector());
  CHECK(restored.num_updates() == 4);

  StateDict bad;
  for (const auto& [name, t] : d.items()) bad.set(name, name == "shadow.fc.bias" ? AnyTensor(zeros<float>({3})) : t);
  CHECK_THROWS_WITH(restored.load_state_dict(bad), "[latent.state] EMA.load_state_dict: entry 'shadow.fc.bias' has shape [3], expected [2]");
  StateDict missing;
  for (const auto& [name, t] : d.items())
    if (name != "num_updates") missing.set(name, t);
  CHECK_THROWS_WITH(restored.load_state_dict(missing), "[latent.state] EMA.load_state_dict: missing entry 'num_updates'");
  CHECK(restored.num_updates() == 4);  // failed loads change nothing
}

TEST_CASE("EMA rejects a bad decay", "[optim][ema][errors]") {
  auto p = zeros<float>({2});
  CHECK_THROWS_WITH(optim::EMA(std::vector<Tensor<float>>{p}, {.decay = 1.5}), "[latent.value] EMA: decay = 1.5 must be in [0, 1]");
}
