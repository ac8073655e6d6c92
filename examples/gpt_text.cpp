// gpt_text: a GPT language model on a text file — by default character-level on the shipped Pride and Prejudice (last
// 10% held out) with nanoGPT's CPU configuration (4 layers, 4 heads, 128 embedding, block 64, batch 12, 2000 iterations,
// AdamW lr 1e-3 with warmup 100 and cosine decay to 1e-4, beta2 0.99, weight decay 0.1 on matrices, gradient clip 1,
// no dropout; train/val loss on 20 random batches every 250 steps). Then generates text with the KV cache and reports
// tokens/s with and without it. benchmarks/compare/gpt_text.py trains the same model in PyTorch.
//
//   build/release/examples/gpt_text --out gpt-out                       (train, ~2-3 minutes on one core)
//   build/release/examples/gpt_text --sample-only --checkpoint gpt-out/model.safetensors --prompt "Mr. Darcy" --top-p 0.9
//   build/release/examples/gpt_text --data my.txt --tokenizer bpe --bpe-vocab 512 --steps 5000 --out bpe-out
//
// Leaves in --out: model.safetensors (the config and tokenizer file name in its metadata), tokenizer.txt,
// log.csv (per step: lr, loss; every eval_interval: train/val loss), samples.txt. After training it also prints the
// loss over every non-overlapping block of the held-out text (less noisy than 20 random batches).
#include <latent/latent.hpp>
#include <latent/data/tokenizer.hpp>
#include <latent/models/autoregressive.hpp>
#include <latent/models/sampling.hpp>
#include <latent/nn/gpt.hpp>

#include "common/args.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <string>

using namespace latent;

namespace {

struct Config {
  std::string data;  // empty: the shipped Pride and Prejudice
  std::string tokenizer = "char";
  std::int64_t bpe_vocab = 512;
  std::int64_t steps = 2000;
  std::int64_t batch = 12;
  std::int64_t block = 64;
  std::int64_t n_layer = 4, n_head = 4, n_embd = 128;
  double dropout = 0.0;
  bool rope = false;
  double lr = 1e-3, min_lr = 1e-4, weight_decay = 0.1, beta2 = 0.99, grad_clip = 1.0;
  std::int64_t warmup = 100;
  std::int64_t eval_interval = 250, eval_iters = 20;
  std::string prompt = "\n";
  std::int64_t num_samples = 3, max_new_tokens = 500;
  std::int64_t crop_shift = 0;  // 0: block / 2
  models::SamplingOptions sampling{.temperature = 0.8, .top_k = 200};
  bool sample_only = false;
  std::string checkpoint;
  std::uint64_t seed = 1337;
  int threads = 1;
  std::string out = "gpt-text-out";
};

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Windows (x, y) as the [B, block + 1] sequences Autoregressive::loss takes: x followed by the last target.
Tensor<std::int64_t> sequences(const data::Windows& w) {
  const index_t B = w.x.size(0), block = w.x.size(1);
  auto out = Tensor<std::int64_t>::empty({B, block + 1});
  for (index_t b = 0; b < B; ++b) {
    std::copy(w.x.data() + b * block, w.x.data() + (b + 1) * block, out.data() + b * (block + 1));
    out.data()[b * (block + 1) + block] = w.y.data()[b * block + block - 1];
  }
  return out;
}

/// Random windows [batch, block + 1] of a token stream (nanoGPT's get_batch).
Tensor<std::int64_t> get_batch(const Tensor<std::int64_t>& stream, std::int64_t batch, std::int64_t block, Rng& rng) {
  return sequences(data::random_windows(stream, batch, block, rng));
}

/// nanoGPT's estimate_loss: the mean loss over `iters` random batches, in evaluation mode.
template <class Model>
double estimate_loss(Model& model, const Tensor<std::int64_t>& stream, const Config& c, Rng& rng) {
  double total = 0;
  for (std::int64_t i = 0; i < c.eval_iters; ++i) total += model.evaluate(get_batch(stream, c.batch, c.block, rng), c.batch).nats;
  return total / static_cast<double>(c.eval_iters);
}

/// Generates num_samples continuations of the prompt; prints them, appends them to `samples`, and returns tokens/s.
template <class Model>
double sample(Model& model, const data::Tokenizer& tok, const Config& c, bool use_cache, Rng& rng, std::string* samples) {
  std::vector<std::int64_t> prompt = tok.encode(c.prompt);
  if (prompt.empty()) prompt = tok.encode("\n");
  std::int64_t generated = 0;
  double seconds = 0;
  for (std::int64_t s = 0; s < c.num_samples; ++s) {
    const auto t0 = Clock::now();
    const std::int64_t shift = c.crop_shift > 0 ? c.crop_shift : std::max<std::int64_t>(1, model.net().config().block_size / 2);
    const auto out =
        model.generate(prompt, {.max_new_tokens = c.max_new_tokens, .use_cache = use_cache, .crop_shift = shift}, c.sampling, rng);
    seconds += since(t0);
    generated += static_cast<std::int64_t>(out.size());
    if (samples) *samples += tok.decode(prompt) + tok.decode(out) + "\n---------------\n";
  }
  return static_cast<double>(generated) / seconds;
}

/// Sampling from the trained (or loaded) model: text with the cache, then the speed without it.
template <class Model>
void generate_and_report(Model& model, const data::Tokenizer& tok, const Config& c, const std::filesystem::path* out) {
  Rng rng(c.seed + 7);
  std::string samples;
  const double cached = sample(model, tok, c, true, rng, &samples);
  std::printf("%s", samples.c_str());
  Config fewer = c;
  fewer.num_samples = 1;  // full recomputation is slow: one sample suffices for its speed
  const double uncached = sample(model, tok, fewer, false, rng, nullptr);
  std::printf("generation: %.0f tokens/s with the KV cache, %.0f tokens/s recomputing the context (%.1fx)\n", cached, uncached,
              cached / uncached);
  if (out) {
    std::ofstream f(*out / "samples.txt", std::ios::binary);
    f << samples;
    LATENT_CHECK(f.good(), IoError, (*out / "samples.txt").string() + ": cannot write");
  }
}

int sample_only(const Config& c) {
  LATENT_CHECK(!c.checkpoint.empty(), ValueError, "gpt_text: --sample-only needs --checkpoint FILE");
  const io::SafetensorsFile file = io::load_safetensors(c.checkpoint);
  const auto it = file.metadata.find("tokenizer");
  LATENT_CHECK(it != file.metadata.end(), IoError, c.checkpoint + ": no 'tokenizer' entry in the metadata");
  const auto tok = data::load_tokenizer(std::filesystem::path(c.checkpoint).parent_path() / it->second);
  const nn::GPTConfig gc = nn::gpt_config_from_metadata(file.metadata);
  Rng rng(c.seed);
  nn::GPT<float> gpt(gc, rng);
  gpt.load_state_dict(file.tensors);
  std::printf("loaded %s (%lld parameters, %s tokenizer of %lld)\n", gpt.repr().c_str(), static_cast<long long>(gpt.parameter_count()),
              tok->kind().c_str(), static_cast<long long>(tok->vocab_size()));
  models::Autoregressive<nn::GPT<float>> model(gpt);
  generate_and_report(model, *tok, c, nullptr);
  return 0;
}

int train(const Config& c, const examples::Args& args) {
  const auto out = examples::make_out_dir(c.out);
  const std::filesystem::path data_file = c.data.empty() ? examples::data_path("text/austen/prideprejudice.txt") : std::filesystem::path(c.data);
  const std::string text = data::read_text(data_file);
  const auto t_tok = Clock::now();
  const auto tok = data::make_tokenizer(c.tokenizer, text, c.bpe_vocab);
  const Tensor<std::int64_t> ids = tok->encode_tensor(text);
  const data::TextSplit split = data::train_val_split(ids, 0.9);
  std::printf("%s: %zu bytes -> %lld %s tokens (vocabulary %lld; %.1f s), train %lld, val %lld\n", data_file.filename().string().c_str(),
              text.size(), static_cast<long long>(ids.numel()), c.tokenizer.c_str(), static_cast<long long>(tok->vocab_size()),
              since(t_tok), static_cast<long long>(split.train.numel()), static_cast<long long>(split.val.numel()));

  const nn::GPTConfig gc{.vocab_size = tok->vocab_size(), .block_size = c.block, .n_layer = c.n_layer, .n_head = c.n_head,
                         .n_embd = c.n_embd, .dropout = c.dropout, .rope = c.rope};
  Rng rng(c.seed);
  nn::GPT<float> gpt(gc, rng);
  std::printf("%s: %lld parameters\n", gpt.repr().c_str(), static_cast<long long>(gpt.parameter_count()));
  models::Autoregressive<nn::GPT<float>> model(gpt);
  optim::AdamW<float> opt(optim::weight_decay_groups(gpt.named_parameters(),
                                                     optim::AdamWOptions{.lr = c.lr, .betas = {0.9, c.beta2}, .weight_decay = c.weight_decay}));
  // nanoGPT's schedule with lr_decay_iters = steps (the warmup shortened when a short run would not reach its end)
  const std::int64_t warmup = std::clamp<std::int64_t>(c.warmup, 0, std::max<std::int64_t>(c.steps - 1, 0));
  const optim::WarmupCosine schedule({.warmup_iters = warmup, .lr_decay_iters = std::max(c.steps, warmup + 1), .min_factor = c.min_lr / c.lr});

  io::CsvLog log(out / "log.csv", {"step", "lr", "loss", "train_loss", "val_loss", "seconds"});
  io::Progress progress(c.steps, "train");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double train_seconds = 0, eval_seconds = 0, train_loss = nan, val_loss = nan, meta_val_full = nan;
  auto evaluate = [&](std::int64_t step) {
    const auto t0 = Clock::now();
    train_loss = estimate_loss(model, split.train, c, rng);
    val_loss = estimate_loss(model, split.val, c, rng);
    eval_seconds += since(t0);
    std::fprintf(stderr, "\rstep %lld: train loss %.4f, val loss %.4f\n", static_cast<long long>(step), train_loss, val_loss);
  };
  for (std::int64_t step = 0; step < c.steps; ++step) {
    double tl = nan, vl = nan;
    if (c.eval_interval > 0 && step % c.eval_interval == 0) {
      evaluate(step);
      tl = train_loss, vl = val_loss;
    }
    const auto t0 = Clock::now();
    // data → forward → zero grads → backward → clip → update (lr from the schedule at this step)
    optim::apply_schedule(opt, schedule, step);
    const Tensor<std::int64_t> batch = get_batch(split.train, c.batch, c.block, rng);
    Tensor<float> loss = model.loss(batch);
    opt.zero_grad();
    loss.backward();
    if (c.grad_clip > 0) optim::clip_grad_norm_(gpt.parameters(), c.grad_clip);
    opt.step();
    train_seconds += since(t0);
    progress.update(step + 1, {{"loss", loss.item()}});
    log.row({double(step), c.lr * schedule(step), loss.item(), tl, vl, train_seconds});
  }
  progress.finish();
  evaluate(c.steps);
  log.row({double(c.steps), nan, nan, train_loss, val_loss, train_seconds});
  {
    // Every non-overlapping window of the held-out text: less noisy than 20 random batches.
    const data::Windows w = data::sequential_windows(split.val, c.block);
    const models::Evaluation full = model.evaluate(sequences(w), 64);
    std::printf("full validation set (%lld windows of %lld): %.4f nats/token\n", static_cast<long long>(w.x.size(0)),
                static_cast<long long>(c.block), full.nats);
    meta_val_full = full.nats;
  }
  std::printf("final: train loss %.4f, val loss %.4f nats/token (%.4f bits) after %lld steps; %.1f s training + %.1f s evaluation\n",
              train_loss, val_loss, val_loss / std::log(2.0), static_cast<long long>(c.steps), train_seconds, eval_seconds);
  std::fflush(stdout);

  tok->save(out / "tokenizer.txt");
  io::Metadata meta;
  for (const auto& [k, v] : nn::to_metadata(gc)) meta[k] = v;
  meta["model"] = "gpt_text";
  meta["tokenizer"] = "tokenizer.txt";
  meta["tokenizer_kind"] = tok->kind();
  meta["steps"] = std::to_string(c.steps);
  meta["seed"] = std::to_string(c.seed);
  meta["val_loss"] = std::to_string(val_loss);
  meta["val_loss_full"] = std::to_string(meta_val_full);
  meta["command"] = args.command_line();
  io::save_safetensors(out / "model.safetensors", gpt.state_dict(), meta);
  generate_and_report(model, *tok, c, &out);
  std::printf("wrote %s/{model.safetensors, tokenizer.txt, log.csv, samples.txt}\n", c.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  examples::Args args("gpt_text", "Trains a GPT language model on a text file (nanoGPT's CPU configuration) and samples from it.");
  args.option("--data", c.data, "text file to model (default: the shipped Pride and Prejudice; last 10% held out)")
      .option("--tokenizer", c.tokenizer, "char, byte or bpe")
      .option("--bpe-vocab", c.bpe_vocab, "vocabulary size of --tokenizer bpe")
      .option("--steps", c.steps, "training iterations")
      .option("--batch", c.batch, "sequences per batch")
      .option("--block", c.block, "context length (block_size)")
      .transformer(c.n_layer, c.n_head, c.n_embd)
      .option("--dropout", c.dropout, "dropout probability")
      .flag("--rope", c.rope, "rotary position embeddings instead of learned positions")
      .option("--lr", c.lr, "peak learning rate (AdamW)")
      .option("--min-lr", c.min_lr, "learning rate at the end of the cosine decay")
      .option("--warmup", c.warmup, "linear warmup iterations")
      .option("--weight-decay", c.weight_decay, "AdamW weight decay of the matrices and embeddings")
      .option("--grad-clip", c.grad_clip, "clip the gradient norm to this (0: off)")
      .option("--eval-interval", c.eval_interval, "evaluate train/val loss every this many steps")
      .option("--eval-iters", c.eval_iters, "random batches per evaluation")
      .option("--prompt", c.prompt, "text the samples start from")
      .option("--num-samples", c.num_samples, "samples to generate")
      .option("--max-new-tokens", c.max_new_tokens, "tokens per sample")
      .option("--crop-shift", c.crop_shift, "past block_size, drop this many oldest tokens at once (1: nanoGPT's crop; 0: block/2)")
      .sampling(c.sampling, "tokens")
      .flag("--greedy", c.sampling.greedy, "argmax decoding")
      .flag("--sample-only", c.sample_only, "only generate, from --checkpoint")
      .option("--checkpoint", c.checkpoint, "model.safetensors written by a training run (tokenizer file next to it)")
      .common(c.seed, c.threads, c.out);
  args.parse(argc, argv);
  try {
    set_num_threads(c.threads);
    return c.sample_only ? sample_only(c) : train(c, args);
  } catch (const latent::Error& e) {
    std::fprintf(stderr, "gpt_text: %s\n", e.what());
    return 1;
  }
}
