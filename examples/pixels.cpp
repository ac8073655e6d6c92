// pixels: autoregression beyond text — the GPT of gpt_text over the 8×8 UCI handwritten digits, each image a sequence of
// 64 pixels (row by row) with 17 intensity levels 0..16. The sequence starts with a start token, or with a class token
// (class-conditional, the default), so sampling from "class 3" draws a 3. Every 10th image is held out; reports the
// test negative log-likelihood in bits per pixel and nats per image, and draws a grid of samples (one row per class).
//
//   build/release/examples/pixels --out pixels-out
//   build/release/examples/pixels --unconditional --steps 3000 --out pixels-uncond
//
// Leaves in --out: samples.png (10 × 10 samples, upscaled), data.png (test images for comparison), model.safetensors,
// log.csv.
#include <latent/latent.hpp>
#include <latent/models/autoregressive.hpp>
#include <latent/models/sampling.hpp>
#include <latent/nn/gpt.hpp>

#include "common/args.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

using namespace latent;

namespace {

constexpr std::int64_t levels = 17;           // pixel tokens 0..16
constexpr std::int64_t start_token = levels;  // unconditional sequences begin with it
constexpr std::int64_t first_class = levels + 1;  // class c is token first_class + c
constexpr std::int64_t vocab = first_class + 10;
constexpr std::int64_t pixels = 64;

struct Config {
  bool unconditional = false;
  std::int64_t steps = 1500;
  std::int64_t batch = 32;
  std::int64_t n_layer = 4, n_head = 4, n_embd = 64;
  double dropout = 0.1;
  double lr = 1e-3, min_lr = 1e-4, weight_decay = 0.1;
  std::int64_t warmup = 100;
  models::SamplingOptions sampling{};
  std::uint64_t seed = 0;
  int threads = 1;
  std::string out = "pixels-out";
};

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Images [N,1,8,8] in [0,1] (level / 16) and labels → token sequences [N, 65]: the start or class token, then the pixels.
Tensor<std::int64_t> to_sequences(const data::LabelledImages& d, const std::vector<std::int64_t>& rows, bool conditional) {
  const auto n = static_cast<index_t>(rows.size());
  auto out = Tensor<std::int64_t>::empty({n, pixels + 1});
  for (index_t i = 0; i < n; ++i) {
    const std::int64_t r = rows[static_cast<std::size_t>(i)];
    std::int64_t* s = out.data() + i * (pixels + 1);
    s[0] = conditional ? first_class + d.labels.data()[r] : start_token;
    for (index_t p = 0; p < pixels; ++p) s[p + 1] = std::lround(d.images.data()[r * pixels + p] * 16.0f);
  }
  return out;
}

/// Pixel tokens [N, 64] → images [N,1,8,8] in [0,1]; a non-pixel token (the model may emit one) becomes 0 and is counted.
Tensor<float> to_images(const std::vector<std::vector<std::int64_t>>& seqs, std::int64_t* invalid) {
  auto out = zeros<float>({static_cast<index_t>(seqs.size()), 1, 8, 8});
  for (std::size_t i = 0; i < seqs.size(); ++i)
    for (std::size_t p = 0; p < seqs[i].size() && p < static_cast<std::size_t>(pixels); ++p) {
      const std::int64_t t = seqs[i][p];
      if (t >= levels) ++*invalid;
      out.data()[static_cast<index_t>(i) * pixels + static_cast<index_t>(p)] = t < levels ? static_cast<float>(t) / 16.0f : 0.0f;
    }
  return out;
}

int run(const Config& c, const examples::Args& args) {
  const auto out = examples::make_out_dir(c.out);
  const data::LabelledImages digits = data::load_uci_digits(examples::data_path("uci-digits-8x8/digits.csv"));
  std::vector<std::int64_t> train_rows, test_rows;
  for (std::int64_t i = 0; i < digits.images.size(0); ++i) (i % 10 == 9 ? test_rows : train_rows).push_back(i);
  const bool conditional = !c.unconditional;
  const Tensor<std::int64_t> train = to_sequences(digits, train_rows, conditional), test = to_sequences(digits, test_rows, conditional);
  std::printf("%zu training and %zu test digits as sequences of %lld pixels with %lld levels (%s)\n", train_rows.size(), test_rows.size(),
              static_cast<long long>(pixels), static_cast<long long>(levels), conditional ? "class-conditional" : "unconditional");

  Rng rng(c.seed);
  const nn::GPTConfig gc{.vocab_size = vocab, .block_size = pixels, .n_layer = c.n_layer, .n_head = c.n_head, .n_embd = c.n_embd,
                         .dropout = c.dropout};
  nn::GPT<float> gpt(gc, rng);
  models::Autoregressive<nn::GPT<float>> model(gpt);
  optim::AdamW<float> opt(optim::weight_decay_groups(gpt.named_parameters(),
                                                     optim::AdamWOptions{.lr = c.lr, .betas = {0.9, 0.99}, .weight_decay = c.weight_decay}));
  const std::int64_t warmup = std::clamp<std::int64_t>(c.warmup, 0, std::max<std::int64_t>(c.steps - 1, 0));
  const optim::WarmupCosine schedule({.warmup_iters = warmup, .lr_decay_iters = std::max(c.steps, warmup + 1), .min_factor = c.min_lr / c.lr});
  io::CsvLog log(out / "log.csv", {"step", "loss", "test_bits_per_pixel", "seconds"});
  io::Progress progress(c.steps, "train");
  const auto t0 = Clock::now();
  const double nan = std::nan("");
  for (std::int64_t step = 0; step < c.steps; ++step) {
    optim::apply_schedule(opt, schedule, step);
    std::vector<std::int64_t> rows(static_cast<std::size_t>(c.batch));
    for (auto& r : rows) r = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(train.size(0))));
    auto batch = Tensor<std::int64_t>::empty({c.batch, pixels + 1});
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::copy(train.data() + rows[i] * (pixels + 1), train.data() + (rows[i] + 1) * (pixels + 1), batch.data() + static_cast<index_t>(i) * (pixels + 1));
    Tensor<float> loss = model.loss(batch);
    opt.zero_grad();
    loss.backward();
    optim::clip_grad_norm_(gpt.parameters(), 1.0);
    opt.step();
    progress.update(step + 1, {{"loss", loss.item()}});
    const bool eval = (step + 1) % 500 == 0;
    log.row({double(step), loss.item(), eval ? model.evaluate(test).bits : nan, since(t0)});
  }
  progress.finish();
  const models::Evaluation e = model.evaluate(test);
  std::printf("test NLL: %.4f bits per pixel, %.2f nats per image (uniform over 17 levels: %.4f bits per pixel); %.1f s training\n",
              e.bits, e.nats * double(pixels), std::log2(17.0), since(t0));

  Rng sample_rng(c.seed + 1);
  auto prompts = Tensor<std::int64_t>::empty({100, 1});
  for (index_t i = 0; i < 100; ++i) prompts.data()[i] = conditional ? first_class + i / 10 : start_token;
  const auto ts = Clock::now();
  const auto seqs = model.generate(prompts, {.max_new_tokens = pixels}, c.sampling, sample_rng);
  const double seconds = since(ts);
  std::int64_t invalid = 0;
  const Tensor<float> images = to_images(seqs, &invalid);
  std::printf("sampled 100 digits in %.2f s (%.0f tokens/s, batch 100 with the KV cache); %lld non-pixel tokens drawn (drawn as 0)\n",
              seconds, 6400.0 / seconds, static_cast<long long>(invalid));
  const io::Provenance text = io::provenance("pixels " + gpt.repr(), c.seed, c.steps, 0, nullptr);
  io::save_image_grid(out / "samples.png", images, {.nrow = 10, .scale = 4}, text);
  std::vector<std::int64_t> shown;
  for (std::size_t i = 0; i < 100 && i < test_rows.size(); ++i) shown.push_back(test_rows[i]);
  io::save_image_grid(out / "data.png", index_select(digits.images, 0, from_vector<std::int64_t>(shown, Shape{static_cast<index_t>(shown.size())})),
                      {.nrow = 10, .scale = 4}, text);
  io::Metadata meta;
  for (const auto& [k, v] : nn::to_metadata(gc)) meta[k] = v;
  meta["model"] = "pixels";
  meta["conditional"] = conditional ? "true" : "false";
  meta["command"] = args.command_line();
  io::save_safetensors(out / "model.safetensors", gpt.state_dict(), meta);
  std::printf("wrote %s/{samples.png, data.png, model.safetensors, log.csv}\n", c.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  examples::Args args("pixels", "Trains a GPT on 8x8 digits as pixel sequences (17 levels) and samples a grid of new digits.");
  args.flag("--unconditional", c.unconditional, "no class prefix (a start token instead)")
      .option("--steps", c.steps, "training iterations")
      .option("--batch", c.batch, "images per batch")
      .transformer(c.n_layer, c.n_head, c.n_embd)
      .option("--dropout", c.dropout, "dropout probability")
      .option("--lr", c.lr, "peak learning rate (AdamW, warmup then cosine decay)")
      .sampling(c.sampling, "levels")
      .common(c.seed, c.threads, c.out);
  args.parse(argc, argv);
  try {
    set_num_threads(c.threads);
    return run(c, args);
  } catch (const latent::Error& e) {
    std::fprintf(stderr, "pixels: %s\n", e.what());
    return 1;
  }
}
