// io/checkpoint.hpp: resuming from a training checkpoint continues bit for bit (oracle: the same run without
// the interruption), a process killed mid-save leaves the previous checkpoint intact, malformed checkpoints
// are rejected with whole messages.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "io_test_util.hpp"

using namespace latent;
using latent_io_test::TempDir;

namespace {

/// A small regression run: Linear → ReLU → Dropout → Linear trained with Adam, an EMA of the weights,
/// batches drawn from `rng`, dropout masks from the Dropout layer's own generator.
struct Run {
  Rng rng;
  nn::Sequential<float> model;
  nn::Dropout<float>* dropout = nullptr;
  std::unique_ptr<optim::Adam<float>> opt;
  std::unique_ptr<optim::EMA<float>> ema;
  std::int64_t step = 0;

  explicit Run(std::uint64_t seed) : rng(seed) {
    model.emplace<nn::Linear<float>>(nn::LinearOptions{.in_features = 4, .out_features = 16}, rng);
    model.emplace<nn::ReLU<float>>();
    dropout = &model.emplace<nn::Dropout<float>>(nn::DropoutOptions{.p = 0.25}, rng);
    model.emplace<nn::Linear<float>>(nn::LinearOptions{.in_features = 16, .out_features = 1}, rng);
    opt = std::make_unique<optim::Adam<float>>(model.named_parameters(), optim::AdamOptions{.lr = 1e-2});
    ema = std::make_unique<optim::EMA<float>>(model.named_parameters(), optim::EMAOptions{.decay = 0.9});
  }

  void train(int steps) {
    for (int i = 0; i < steps; ++i, ++step) {
      const auto x = randn<float>({8, 4}, rng);
      const auto target = randn<float>({8, 1}, rng);
      auto loss = mse_loss(model(x), target);
      opt->zero_grad();
      loss.backward();
      opt->step();
      ema->update();
    }
  }

  io::TrainingCheckpoint checkpoint() const {
    return {.model = model.state_dict(),
            .optimizer = opt->state_dict(),
            .ema = ema->state_dict(),
            .rng = rng.state(),
            .rngs = {{"model.2", dropout->generator().state()}},
            .step = step,
            .config = {{"model", model.repr()}, {"lr", "0.01"}}};
  }

  void restore(const io::TrainingCheckpoint& c, bool with_rngs = true) {
    model.load_state_dict(c.model);
    opt->load_state_dict(c.optimizer);
    ema->load_state_dict(c.ema);
    if (with_rngs) {
      rng.set_state(c.rng);
      dropout->generator().set_state(c.rngs.at("model.2"));
    }
    step = c.step;
  }
};

bool same_bits(const AnyTensor& a, const AnyTensor& b) {
  if (a.index() != b.index() || !(shape_of(a) == shape_of(b))) return false;
  return std::visit(
      [&](const auto& x) {
        const auto& y = std::get<std::decay_t<decltype(x)>>(b);
        return std::memcmp(x.data(), y.data(), static_cast<std::size_t>(x.numel()) * sizeof(*x.data())) == 0;
      },
      a);
}

/// Names whose tensors differ (or are missing) between two state_dicts; empty when identical bit for bit.
std::vector<std::string> differences(const StateDict& a, const StateDict& b) {
  std::vector<std::string> out;
  for (const auto& [name, t] : a)
    if (!b.contains(name) || !same_bits(t, b.at(name))) out.push_back(name);
  if (a.size() != b.size()) out.push_back("<sizes differ>");
  return out;
}

}  // namespace

TEST_CASE("training resumed from a checkpoint continues bit for bit", "[io][checkpoint]") {
  TempDir dir;
  constexpr int N = 15;
  Run straight(11);
  straight.train(2 * N);

  {
    Run first_half(11);
    first_half.train(N);
    io::save_training_checkpoint(dir / "ckpt.safetensors", first_half.checkpoint());
  }
  const io::TrainingCheckpoint c = io::load_training_checkpoint(dir / "ckpt.safetensors");
  CHECK(c.step == N);
  CHECK(c.config == io::Metadata{{"lr", "0.01"}, {"model", straight.model.repr()}});
  Run resumed(999);  // fresh objects with other initial weights and generator streams
  resumed.restore(c);
  resumed.train(N);

  CHECK(resumed.step == 2 * N);
  CHECK(differences(straight.model.state_dict(), resumed.model.state_dict()).empty());
  CHECK(differences(straight.opt->state_dict(), resumed.opt->state_dict()).empty());
  CHECK(differences(straight.ema->state_dict(), resumed.ema->state_dict()).empty());
  CHECK(straight.rng.state().counter == resumed.rng.state().counter);
  CHECK(straight.dropout->generator().state().counter == resumed.dropout->generator().state().counter);
  // The comparison can fail: the weights moved, and without the generator states the run diverges.
  CHECK_FALSE(differences(c.model, straight.model.state_dict()).empty());
  Run no_rng(999);
  no_rng.restore(c, /*with_rngs=*/false);
  no_rng.train(N);
  CHECK_FALSE(differences(straight.model.state_dict(), no_rng.model.state_dict()).empty());
}

TEST_CASE("a training checkpoint is a plain safetensors file with prefixed sections", "[io][checkpoint]") {
  TempDir dir;
  Run run(5);
  run.train(2);
  io::save_training_checkpoint(dir / "c.safetensors", run.checkpoint());
  const io::SafetensorsFile f = io::load_safetensors(dir / "c.safetensors");
  std::vector<std::string> names;
  for (const auto& [name, t] : f.tensors) names.push_back(name);
  CHECK(std::count_if(names.begin(), names.end(), [](const std::string& n) { return n.rfind("model.", 0) == 0; }) == 4);
  CHECK(std::find(names.begin(), names.end(), "model.0.weight") != names.end());
  CHECK(std::find(names.begin(), names.end(), "optimizer.state.0.weight.exp_avg") != names.end());
  CHECK(std::find(names.begin(), names.end(), "ema.shadow.3.bias") != names.end());
  CHECK(f.tensors.get<std::int64_t>("step").item() == 2);
  const auto rng = f.tensors.get<std::int64_t>("rng");
  CHECK(static_cast<std::uint64_t>(rng.at({0})) == run.rng.state().seed);
  CHECK(static_cast<std::uint64_t>(rng.at({1})) == run.rng.state().counter);
  CHECK(f.tensors.contains("rngs.model.2"));
  CHECK(f.metadata.at("latent_checkpoint") == "1");
  CHECK(f.metadata.at("latent_version") == LATENT_VERSION_STRING);
}

TEST_CASE("load_training_checkpoint rejects files that are not training checkpoints", "[io][checkpoint][errors]") {
  TempDir dir;
  StateDict sd;
  sd.set("w", zeros<float>({2}));
  const std::string plain = dir / "plain.safetensors";
  io::save_safetensors(plain, sd);
  REQUIRE_THROWS_WITH(io::load_training_checkpoint(plain),
                      "[latent.io] load_training_checkpoint: " + plain +
                          ": no \"latent_checkpoint\" metadata; not a training checkpoint (load_safetensors reads plain state_dicts)");
  const std::string future = dir / "future.safetensors";
  io::save_safetensors(future, sd, {{"latent_checkpoint", "2"}});
  REQUIRE_THROWS_WITH(io::load_training_checkpoint(future),
                      "[latent.io] load_training_checkpoint: " + future +
                          ": checkpoint layout version \"2\" is not supported (this latent reads \"1\")");
  const std::string stray = dir / "stray.safetensors";
  io::save_safetensors(stray, sd, {{"latent_checkpoint", "1"}});
  REQUIRE_THROWS_WITH(io::load_training_checkpoint(stray),
                      "[latent.io] load_training_checkpoint: " + stray +
                          ": unexpected tensor \"w\" (expected model.*, optimizer.*, ema.*, rng, rngs.* and step)");
  StateDict bad_rng;
  bad_rng.set("rng", zeros<float>({3}));
  bad_rng.set("step", zeros<std::int64_t>(Shape{}));
  const std::string rng_file = dir / "rng.safetensors";
  io::save_safetensors(rng_file, bad_rng, {{"latent_checkpoint", "1"}});
  REQUIRE_THROWS_WITH(io::load_training_checkpoint(rng_file),
                      "[latent.io] load_training_checkpoint: " + rng_file +
                          ": \"rng\" is float32 [3], expected int64 [3] (seed, counter, index)");
  StateDict no_step;
  no_step.set("rng", from_vector<std::int64_t>({1, 2, 3}, {3}));
  const std::string step_file = dir / "step.safetensors";
  io::save_safetensors(step_file, no_step, {{"latent_checkpoint", "1"}});
  REQUIRE_THROWS_WITH(io::load_training_checkpoint(step_file),
                      "[latent.io] load_training_checkpoint: " + step_file + ": no \"step\" entry");
  REQUIRE_THROWS_WITH(io::save_training_checkpoint(dir / "x.safetensors", {.config = {{"latent_version", "9"}}}),
                      "[latent.value] save_training_checkpoint: " + (dir / "x.safetensors") +
                          ": config key \"latent_version\" is reserved");
}

TEST_CASE("a process killed in the middle of a save leaves the previous checkpoint loadable", "[io][checkpoint][atomic]") {
  TempDir dir;
  const std::string path = dir / "ckpt.safetensors";
  auto make = [](float value, std::int64_t step) {
    io::TrainingCheckpoint c;
    c.model.set("w", full<float>({1 << 22}, value));  // 16 MB: a save takes long enough to be interrupted
    c.step = step;
    return c;
  };
  auto check_loads = [&] {
    const io::TrainingCheckpoint c = io::load_training_checkpoint(path);
    REQUIRE((c.step == 1 || c.step == 2));
    const auto w = c.model.get<float>("w");
    const float value = static_cast<float>(c.step);
    REQUIRE(w.numel() == (1 << 22));
    CHECK(std::all_of(w.data(), w.data() + w.numel(), [&](float v) { return v == value; }));
  };
  io::save_training_checkpoint(path, make(1.0f, 1));
  const io::TrainingCheckpoint next = make(2.0f, 2);
  auto temporaries = [&] {
    int n = 0;
    for (const auto& f : dir.files()) n += f.rfind(".ckpt.safetensors.tmp-", 0) == 0;
    return n;
  };

  int killed_mid_save = 0;
  for (int round = 0; round < 3; ++round) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // saves the next checkpoint over and over until killed
      try {
        for (;;) io::save_training_checkpoint(path, next);
      } catch (...) {
      }
      _exit(1);
    }
    // Kill the child as soon as it is writing a temporary file (or after 10 s).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (temporaries() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(3 * round));  // other points of the save
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    killed_mid_save += temporaries() > 0;
    check_loads();
  }
  // The kill did land in the middle of saves: their temporary files are still there, unfinished.
  CHECK(killed_mid_save >= 1);
  // Stray temporary files do not disturb later saves and loads.
  io::save_training_checkpoint(path, make(1.0f, 1));
  CHECK(io::load_training_checkpoint(path).step == 1);
  check_loads();
}
