// PyTorch interop: state_dicts exported from torch modules (tests/io/make_interop.py, committed) load into the
// equivalent latent modules and give torch's outputs; the hidden "[export]" case writes files that
// tests/io/check_latent_export.py loads with PyTorch (the io.python_interop CTest).
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "io_test_util.hpp"

using namespace latent;
using latent_io_test::data_file;

namespace {

/// Sequential(Linear(5,16), LayerNorm(16), ReLU(), Linear(16,3)), the torch module of make_interop.py.
template <Scalar T>
void build_mlp(nn::Sequential<T>& mlp, Rng& rng) {
  mlp.template emplace<nn::Linear<T>>(nn::LinearOptions{.in_features = 5, .out_features = 16}, rng);
  mlp.template emplace<nn::LayerNorm<T>>(nn::LayerNormOptions{.normalized_shape = {16}});
  mlp.template emplace<nn::ReLU<T>>();
  mlp.template emplace<nn::Linear<T>>(nn::LinearOptions{.in_features = 16, .out_features = 3}, rng);
}

}  // namespace

TEST_CASE("a torch MLP's state_dict loads into the latent MLP and gives torch's output", "[io][interop]") {
  const io::SafetensorsFile weights = io::load_safetensors(data_file("torch_mlp.safetensors"));
  CHECK(weights.metadata == io::Metadata{{"format", "pt"}});
  Rng rng(0);
  nn::Sequential<float> mlp;
  build_mlp(mlp, rng);
  mlp.load_state_dict(weights.tensors);  // strict: every name and shape must match
  const io::SafetensorsFile io_file = io::load_safetensors(data_file("torch_mlp_io.safetensors"));
  const auto y = mlp(io_file.tensors.get<float>("input"));
  // float32 with a different summation order than torch's: a few ulps of outputs of size ~1.
  const auto r = testing::compare(y, io_file.tensors.get<float>("output"), {.rtol = 1e-5, .atol = 1e-5}, "mlp output");
  INFO(r.report);
  CHECK(r.ok);
  CHECK(y.shape() == Shape{4, 3});
}

TEST_CASE("a torch float64 MLP loads into the latent float64 MLP and agrees to rounding", "[io][interop]") {
  const io::SafetensorsFile f = io::load_safetensors(data_file("torch_mlp_f64.safetensors"));
  Rng rng(0);
  nn::Sequential<double> mlp;
  build_mlp(mlp, rng);
  mlp.load_state_dict(f.tensors.sub("model"));
  const auto y = mlp(f.tensors.get<double>("input"));
  // float64: only summation order differs.
  const auto r = testing::compare(y, f.tensors.get<double>("output"), {.rtol = 1e-12, .atol = 1e-12}, "mlp output");
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("a torch conv net with BatchNorm buffers loads into the latent net and gives torch's output", "[io][interop]") {
  const io::SafetensorsFile weights = io::load_safetensors(data_file("torch_convnet.safetensors"));
  CHECK(weights.tensors.get<std::int64_t>("1.num_batches_tracked").item() == 7);
  Rng rng(0);
  nn::Sequential<float> net;
  net.emplace<nn::Conv2d<float>>(nn::Conv2dOptions{.in_channels = 2, .out_channels = 4, .kernel_size = 3, .padding = 1}, rng);
  net.emplace<nn::BatchNorm2d<float>>(nn::BatchNormOptions{.num_features = 4});
  net.emplace<nn::ReLU<float>>();
  net.emplace<nn::Conv2d<float>>(nn::Conv2dOptions{.in_channels = 4, .out_channels = 3, .kernel_size = 3, .stride = 2}, rng);
  net.load_state_dict(weights.tensors);
  net.eval();  // BatchNorm on the loaded running statistics, as torch's eval()
  const io::SafetensorsFile io_file = io::load_safetensors(data_file("torch_convnet_io.safetensors"));
  const auto y = net(io_file.tensors.get<float>("input"));
  CHECK(y.shape() == Shape{2, 3, 2, 2});
  // float32 convolutions summed in another order than torch's: a few ulps.
  const auto r = testing::compare(y, io_file.tensors.get<float>("output"), {.rtol = 1e-5, .atol = 1e-5}, "convnet output");
  INFO(r.report);
  CHECK(r.ok);
}

// Run by tests/io/check_latent_export.py (CTest io.python_interop) with LATENT_EXPORT_DIR set: writes files whose
// values the script checks with numpy and PyTorch. Hidden from the normal run ("[.]").
TEST_CASE("export files for the PyTorch side of the interop test", "[.][export]") {
  const char* out = std::getenv("LATENT_EXPORT_DIR");
  REQUIRE(out != nullptr);
  const std::string dir = out;

  // Exactly representable values and IEEE specials, which the script checks bit for bit.
  StateDict values;
  std::vector<float> f(12);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = (static_cast<float>(i) - 5.0f) / 8.0f;
  values.set("values.f32", from_vector<float>(f, {3, 4}));
  const float inf = std::numeric_limits<float>::infinity();
  values.set("values.special", from_vector<float>({-0.0f, inf, -inf, std::numeric_limits<float>::denorm_min(),
                                                   std::numeric_limits<float>::max()}, {5}));
  values.set("values.f64", from_vector<double>({0.1, 1.0 / 3.0, -1e300}, {1, 3}));
  values.set("values.i64", from_vector<std::int64_t>({INT64_MIN, -1, 0, INT64_MAX}, {2, 2}));
  auto scalar = Tensor<double>::empty({});
  *scalar.data() = 2.5;
  values.set("values.scalar", scalar);
  io::save_safetensors(dir + "/latent_values.safetensors", values,
                       {{"config", "{\"hidden\": 16}"}, {"unicode", "\xc3\xa9t\xc3\xa9 \"quoted\"\n"}});
  io::save_npy(dir + "/latent_f32.npy", from_vector<float>(f, {3, 4}));
  io::save_npy_u8(dir + "/latent_u8.npy", {0, 7, 255}, Shape{3});

  // A latent-initialised MLP, its input and output: torch loads the weights and must reproduce the output.
  Rng rng(21);
  nn::Sequential<float> mlp;
  build_mlp(mlp, rng);
  const auto x = randn<float>({6, 5}, rng);
  StateDict io_values;
  io_values.set("input", x);
  io_values.set("output", mlp(x).detach());
  io::save_safetensors(dir + "/latent_mlp.safetensors", mlp.state_dict(), {{"model", mlp.repr()}});
  io::save_safetensors(dir + "/latent_mlp_io.safetensors", io_values);
}
