// nn::Module: dotted names, state_dict round trips and errors, train/eval, parameter_count, zero_grad, and the
// containers Sequential and ModuleList.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

using namespace latent;

namespace {

// BENCHMARKS.md W1: encoder 784 -> 400 (ReLU) -> two heads 400 -> 20; decoder 20 -> 400 (ReLU) -> 784.
struct MlpEnc : nn::Module<float> {
  nn::Linear<float> fc1, fc_mu, fc_logvar;
  explicit MlpEnc(Rng& rng)
      : fc1({.in_features = 784, .out_features = 400}, rng),
        fc_mu({.in_features = 400, .out_features = 20}, rng),
        fc_logvar({.in_features = 400, .out_features = 20}, rng) {
    register_module("fc1", fc1);
    register_module("fc_mu", fc_mu);
    register_module("fc_logvar", fc_logvar);
  }
};
struct MlpDec : nn::Module<float> {
  nn::Sequential<float> net;
  explicit MlpDec(Rng& rng) {
    net.emplace<nn::Linear<float>>(nn::LinearOptions{.in_features = 20, .out_features = 400}, rng);
    net.emplace<nn::ReLU<float>>();
    net.emplace<nn::Linear<float>>(nn::LinearOptions{.in_features = 400, .out_features = 784}, rng);
    register_module("net", net);
  }
};
struct TwoPartModel : nn::Module<float> {
  MlpEnc encoder;
  MlpDec decoder;
  explicit TwoPartModel(Rng& rng) : encoder(rng), decoder(rng) {
    register_module("encoder", encoder);
    register_module("decoder", decoder);
  }
};

// A small two-level model for state_dict tests: fc (Linear 3 -> 2) and bn (BatchNorm1d 2).
struct Small : nn::Module<float> {
  nn::Linear<float> fc;
  nn::BatchNorm1d<float> bn;
  explicit Small(Rng& rng) : fc({.in_features = 3, .out_features = 2}, rng), bn({.num_features = 2}) {
    register_module("fc", fc);
    register_module("bn", bn);
  }
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor<float>>>& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

}  // namespace

TEST_CASE("named_parameters gives PyTorch's dotted names for nested modules and containers", "[nn][module]") {
  Rng rng(0);
  TwoPartModel vae(rng);
  CHECK(names_of(vae.named_parameters()) ==
        std::vector<std::string>{"encoder.fc1.weight", "encoder.fc1.bias", "encoder.fc_mu.weight", "encoder.fc_mu.bias",
                                 "encoder.fc_logvar.weight", "encoder.fc_logvar.bias", "decoder.net.0.weight",
                                 "decoder.net.0.bias", "decoder.net.2.weight", "decoder.net.2.bias"});
  CHECK(names_of(vae.encoder.named_parameters(false)).empty());  // its parameters all live in children
  CHECK(names_of(vae.encoder.fc1.named_parameters(false)) == std::vector<std::string>{"weight", "bias"});
  for (const auto& p : vae.parameters()) CHECK(p.requires_grad());
  CHECK(vae.named_parameters()[0].second.same(vae.encoder.fc1.weight));  // the module's own tensor, not a copy
}

TEST_CASE("parameter_count of the W1 VAE is 652,824", "[nn][module]") {
  Rng rng(0);
  TwoPartModel vae(rng);
  // (784*400 + 400) + 2 (400*20 + 20) + (20*400 + 400) + (400*784 + 784) = 314000 + 16040 + 8400 + 314384
  CHECK(vae.parameter_count() == 652824);
}

TEST_CASE("tied weights are one parameter but two state_dict entries, as in PyTorch", "[nn][module]") {
  Rng rng(0);
  struct Tied : nn::Module<float> {
    nn::Embedding<float> emb;
    nn::Linear<float> head;
    explicit Tied(Rng& r)
        : emb({.num_embeddings = 5, .embedding_dim = 3}, r),
          head({.in_features = 3, .out_features = 5, .bias = false}, r) {
      head.weight = emb.weight;  // the handle in the registry is replaced: both names see one tensor
      register_module("emb", emb);
      register_module("head", head);
    }
  } tied(rng);
  CHECK(names_of(tied.named_parameters()) == std::vector<std::string>{"emb.weight"});
  CHECK(tied.parameter_count() == 15);
  const StateDict sd = tied.state_dict();
  REQUIRE(sd.size() == 2);
  CHECK(sd.get<float>("head.weight").shares_storage(tied.emb.weight));
}

TEST_CASE("state_dict lists parameters then buffers per module, num_batches_tracked as int64", "[nn][module]") {
  Rng rng(0);
  Small m(rng);
  const StateDict sd = m.state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"fc.weight", "fc.bias", "bn.weight", "bn.bias", "bn.running_mean",
                                         "bn.running_var", "bn.num_batches_tracked"});
  CHECK(std::string(dtype_of(sd.at("bn.num_batches_tracked"))) == "int64");
  CHECK(shape_of(sd.at("bn.num_batches_tracked")) == Shape{});
  CHECK(std::string(dtype_of(sd.at("bn.running_var"))) == "float32");
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"bn.running_mean", "bn.running_var"});
  // A BatchNorm without running statistics has none of the three buffers (PyTorch registers them as None).
  nn::BatchNorm2d<float> plain({.num_features = 4, .affine = false, .track_running_stats = false});
  CHECK(plain.state_dict().empty());
  CHECK(plain.parameters().empty());
}

TEST_CASE("load_state_dict copies values in place and keeps parameter identity", "[nn][module]") {
  Rng rng_a(1), rng_b(2);
  Small a(rng_a), b(rng_b);
  a.bn.running_mean.data()[1] = 0.25f;
  a.bn.num_batches_tracked.data()[0] = 7;
  REQUIRE(a.fc.weight.to_vector() != b.fc.weight.to_vector());
  const Tensor<float> weight_before = b.fc.weight;
  b.load_state_dict(a.state_dict());
  CHECK(b.fc.weight.same(weight_before));
  CHECK(b.fc.weight.to_vector() == a.fc.weight.to_vector());
  CHECK(b.fc.bias.to_vector() == a.fc.bias.to_vector());
  CHECK(b.bn.running_mean.to_vector() == a.bn.running_mean.to_vector());
  CHECK(b.bn.num_batches_tracked.item() == 7);
  CHECK_FALSE(b.fc.weight.shares_storage(a.fc.weight));  // copied, not aliased
}

TEST_CASE("load_state_dict reports missing and unexpected keys and mismatched shapes and types",
          "[nn][module][errors]") {
  Rng rng(0);
  nn::Linear<float> fc({.in_features = 3, .out_features = 2}, rng);
  const StateDict good = fc.state_dict();

  StateDict missing;
  missing.set("weight", good.at("weight"));
  CHECK_THROWS_WITH(fc.load_state_dict(missing), "[latent.state] load_state_dict: missing key 'bias'");

  StateDict unexpected = good;
  unexpected.set("extra", zeros<float>({1}));
  CHECK_THROWS_WITH(fc.load_state_dict(unexpected), "[latent.state] load_state_dict: unexpected key 'extra'");

  StateDict renamed;
  renamed.set("fc.weight", good.at("weight"));
  renamed.set("fc.bias", good.at("bias"));
  CHECK_THROWS_WITH(
      fc.load_state_dict(renamed),
      "[latent.state] load_state_dict: missing keys 'weight', 'bias'; unexpected keys 'fc.weight', 'fc.bias'");

  StateDict transposed = good;
  transposed.set("weight", zeros<float>({3, 2}));
  CHECK_THROWS_WITH(
      fc.load_state_dict(transposed),
      "[latent.state] load_state_dict: 'weight' has shape [3,2] in the state_dict, the module expects [2,3]");

  StateDict wrong_type = good;
  wrong_type.set("bias", zeros<double>({2}));
  CHECK_THROWS_WITH(fc.load_state_dict(wrong_type),
                    "[latent.state] load_state_dict: 'bias' is float64 in the state_dict, the module expects float32");
}

TEST_CASE("a failed load_state_dict leaves the module unchanged", "[nn][module][errors]") {
  Rng rng(0);
  nn::Linear<float> fc({.in_features = 3, .out_features = 2}, rng);
  const std::vector<float> weight_before = fc.weight.to_vector();
  StateDict sd;
  sd.set("weight", full<float>({2, 3}, 9.0f));  // valid, and checked first
  sd.set("bias", zeros<float>({5}));            // invalid
  CHECK_THROWS_AS(fc.load_state_dict(sd), StateError);
  CHECK(fc.weight.to_vector() == weight_before);
}

TEST_CASE("non-strict load_state_dict skips missing and unexpected keys but not shape mismatches", "[nn][module]") {
  Rng rng(0);
  nn::Linear<float> fc({.in_features = 3, .out_features = 2}, rng);
  const std::vector<float> bias_before = fc.bias.to_vector();
  StateDict partial;
  partial.set("weight", full<float>({2, 3}, 0.5f));
  partial.set("unrelated", zeros<float>({4}));
  fc.load_state_dict(partial, /*strict=*/false);
  CHECK(fc.weight.to_vector() == std::vector<float>(6, 0.5f));
  CHECK(fc.bias.to_vector() == bias_before);
  partial.set("weight", zeros<float>({4}));
  CHECK_THROWS_WITH(
      fc.load_state_dict(partial, false),
      "[latent.state] load_state_dict: 'weight' has shape [4] in the state_dict, the module expects [2,3]");
}

TEST_CASE("train and eval switch Dropout and BatchNorm in every child", "[nn][module]") {
  Rng rng(3);
  nn::Sequential<float> net;
  auto& drop = net.emplace<nn::Dropout<float>>(nn::DropoutOptions{.p = 0.5}, rng);
  auto& bn = net.emplace<nn::BatchNorm1d<float>>(nn::BatchNormOptions{.num_features = 4});
  const Tensor<float> x = randn<float>({64, 4}, rng, 1.0f, 2.0f);

  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(drop.is_training());
  CHECK_FALSE(bn.is_training());
  CHECK(drop(x).same(x));  // identity in evaluation
  // Evaluation normalises with the running statistics (0 and 1 at start) and leaves them alone.
  const Tensor<float> y = bn(x);
  for (index_t i = 0; i < x.numel(); ++i)
    CHECK(y.data()[i] == Approx(x.data()[i] / std::sqrt(1.0f + 1e-5f)).epsilon(1e-6));
  CHECK(bn.running_mean.to_vector() == std::vector<float>(4, 0.0f));
  CHECK(bn.num_batches_tracked.item() == 0);

  net.train();
  CHECK(drop.is_training());
  CHECK(bn.is_training());
  const Tensor<float> dropped = drop(x);
  index_t zeros_count = 0;
  for (index_t i = 0; i < x.numel(); ++i) {
    const float v = dropped.data()[i];
    if (v == 0.0f)
      ++zeros_count;
    else
      CHECK(v == 2.0f * x.data()[i]);  // kept elements scaled by 1 / (1 - p)
  }
  // 256 Bernoulli(0.5) draws: the zero count is 128 ± 8 (one sd); 64..192 is a 8-sd band.
  CHECK(zeros_count > 64);
  CHECK(zeros_count < 192);
  bn(x);
  CHECK(bn.num_batches_tracked.item() == 1);
  CHECK(bn.running_mean.to_vector() != std::vector<float>(4, 0.0f));
}

TEST_CASE("zero_grad sets gradients to undefined so the next backward does not accumulate", "[nn][module]") {
  Rng rng(4);
  nn::MLP<float> mlp({.in = 3, .hidden = {5}, .out = 2}, rng);
  const Tensor<float> x = randn<float>({4, 3}, rng);
  sum(mlp(x)).backward();
  const std::vector<float> first = mlp.parameters()[0].grad().to_vector();
  for (const auto& p : mlp.parameters()) CHECK(p.grad().defined());
  mlp.zero_grad();
  for (const auto& p : mlp.parameters()) CHECK_FALSE(p.grad().defined());
  sum(mlp(x)).backward();
  CHECK(mlp.parameters()[0].grad().to_vector() == first);
  sum(mlp(x)).backward();  // without zero_grad gradients add up, as in PyTorch
  CHECK(mlp.parameters()[0].grad().at({0, 0}) == Approx(2 * first[0]));
}

TEST_CASE("register_* rejects dotted and duplicate names", "[nn][module][errors]") {
  struct Bad : nn::Module<float> {
    void add_param(const std::string& name) { register_parameter(name, zeros<float>({1})); }
  } bad;
  bad.add_param("w");
  CHECK_THROWS_WITH(bad.add_param("w"), "[latent.value] register: name 'w' is already used in Module");
  CHECK_THROWS_WITH(bad.add_param("fc.w"), "[latent.value] register: name 'fc.w' must be non-empty and contain no '.'");
  CHECK_THROWS_WITH(bad.add_param(""), "[latent.value] register: name '' must be non-empty and contain no '.'");
}

TEST_CASE("Sequential chains its modules, names them 0, 1, ... and prints them", "[nn][container]") {
  Rng rng(5);
  nn::Sequential<float> seq(
      std::make_unique<nn::Linear<float>>(nn::LinearOptions{.in_features = 4, .out_features = 3}, rng),
      std::make_unique<nn::Tanh<float>>());
  seq.emplace<nn::Linear<float>>(nn::LinearOptions{.in_features = 3, .out_features = 1, .bias = false}, rng);
  CHECK(seq.size() == 3);
  CHECK(names_of(seq.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight"});
  CHECK(seq.repr() ==
        "Sequential(Linear(in_features=4, out_features=3, bias=true), Tanh(), Linear(in_features=3, out_features=1, "
        "bias=false))");
  const Tensor<float> x = randn<float>({2, 4}, rng);
  const Tensor<float> by_hand = seq[2](tanh(seq[0](x)));
  CHECK(seq(x).to_vector() == by_hand.to_vector());
  CHECK_THROWS_WITH(seq[3], "[latent.value] Sequential: index 3 out of range for 3 modules");
}

TEST_CASE("MLP mirrors a PyTorch Sequential of Linear and activation layers", "[nn][container]") {
  Rng rng(6);
  nn::MLP<float> mlp({.in = 2, .hidden = {8, 8}, .out = 1, .activation = nn::Activation::silu}, rng);
  CHECK(names_of(mlp.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"});
  CHECK(mlp.parameter_count() == (2 * 8 + 8) + (8 * 8 + 8) + (8 + 1));
  CHECK(mlp.repr() ==
        "MLP(Linear(in_features=2, out_features=8, bias=true), SiLU(), Linear(in_features=8, out_features=8, "
        "bias=true), SiLU(), "
        "Linear(in_features=8, out_features=1, bias=true))");
  CHECK(mlp(zeros<float>({5, 2})).shape() == Shape{5, 1});
  CHECK_THROWS_WITH(nn::MLP<float>({.in = 2, .hidden = {0}, .out = 1}, rng),
                    "[latent.value] MLP: hidden width = 0 must be positive");
}

TEST_CASE("ModuleList holds typed modules under indexed names", "[nn][container]") {
  Rng rng(7);
  struct Net : nn::Module<float> {
    nn::ModuleList<float, nn::Linear<float>> blocks;
    explicit Net(Rng& r) {
      for (int i = 0; i < 3; ++i) blocks.emplace_back(nn::LinearOptions{.in_features = 4, .out_features = 4}, r);
      register_module("blocks", blocks);
    }
  } net(rng);
  CHECK(net.blocks.size() == 3);
  CHECK(net.blocks[1].options().out_features == 4);  // typed access, no cast
  CHECK(names_of(net.named_parameters()).back() == "blocks.2.bias");
  Tensor<float> x = ones<float>({1, 4});
  for (auto& block : net.blocks) x = block(x);
  CHECK(x.shape() == Shape{1, 4});
  net.eval();
  CHECK_FALSE(net.blocks[2].is_training());
}

TEST_CASE("named_modules lists every module depth first with its dotted path", "[nn][module]") {
  Rng rng(0);
  Small m(rng);
  std::vector<std::string> paths;
  for (const auto& [path, module] : m.named_modules()) paths.push_back(path + "=" + module->repr().substr(0, 6));
  CHECK(paths == std::vector<std::string>{"=Module", "fc=Linear", "bn=BatchN"});
}
