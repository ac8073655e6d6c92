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
// loss over every non-overlapping block of the held-out text (less noisy than 20 random batches). --sample-only
// writes samples.txt only.
#include "common/gpt_example.hpp"

#include <latent/data/tokenizer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

using namespace latent;
using examples::Clock;
using examples::GptModel;

namespace {

struct Config {
  // nanoGPT's CPU configuration; the flags shared with names and pixels
  examples::GptOptions gpt = [] {
    examples::GptOptions o;  // steps 2000, batch 12, 4 layers, 4 heads, 128 wide, lr 1e-3 → 1e-4, warmup 100, clip 1
    o.prompt = "\n";
    o.num_samples = 3;
    o.sampling = {.temperature = 0.8, .top_k = 200};
    o.seed = 1337;
    o.out = "gpt-text-out";
    return o;
  }();
  std::string data;  // empty: the shipped Pride and Prejudice
  std::string tokenizer = "char";
  std::int64_t bpe_vocab = 512;
  std::int64_t block = 64;
  bool rope = false;
  std::int64_t eval_interval = 250, eval_iters = 20;
  std::int64_t max_new_tokens = 500;
  std::int64_t crop_shift = 0;  // 0: block / 2
};

double since(Clock::time_point t0) { return examples::seconds_since(t0); }

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
double estimate_loss(GptModel& model, const Tensor<std::int64_t>& stream, const Config& c, Rng& rng) {
  double total = 0;
  for (std::int64_t i = 0; i < c.eval_iters; ++i) total += model.evaluate(get_batch(stream, c.gpt.batch, c.block, rng), c.gpt.batch).nats;
  return total / static_cast<double>(c.eval_iters);
}

/// Generates num_samples continuations of the prompt; prints them, appends them to `samples`, and returns tokens/s.
double sample(GptModel& model, const data::Tokenizer& tok, const Config& c, bool use_cache, Rng& rng, std::string* samples) {
  std::vector<std::int64_t> prompt = tok.encode(c.gpt.prompt);
  if (prompt.empty()) prompt = tok.encode("\n");
  std::int64_t generated = 0;
  double seconds = 0;
  for (std::int64_t s = 0; s < c.gpt.num_samples; ++s) {
    const auto t0 = Clock::now();
    const std::int64_t shift = c.crop_shift > 0 ? c.crop_shift : std::max<std::int64_t>(1, model.net().config().block_size / 2);
    const auto out =
        model.generate(prompt, {.max_new_tokens = c.max_new_tokens, .use_cache = use_cache, .crop_shift = shift}, c.gpt.sampling, rng);
    seconds += since(t0);
    generated += static_cast<std::int64_t>(out.size());
    if (samples) *samples += tok.decode(prompt) + tok.decode(out) + "\n---------------\n";
  }
  return static_cast<double>(generated) / seconds;
}

/// Sampling from the trained (or loaded) model: text with the cache, then the speed without it.
void generate_and_report(GptModel& model, const data::Tokenizer& tok, const Config& c, const std::filesystem::path& out) {
  Rng rng(c.gpt.seed + 7);
  std::string samples;
  const double cached = sample(model, tok, c, true, rng, &samples);
  std::printf("%s", samples.c_str());
  Config fewer = c;
  fewer.gpt.num_samples = 1;  // full recomputation is slow: one sample suffices for its speed
  const double uncached = sample(model, tok, fewer, false, rng, nullptr);
  std::printf("generation: %.0f tokens/s with the KV cache, %.0f tokens/s recomputing the context (%.1fx)\n", cached, uncached,
              cached / uncached);
  examples::write_samples(out, samples);
}

int sample_only(const Config& c) {
  const examples::LoadedGpt loaded = examples::load_gpt(c.gpt.checkpoint, "gpt_text");
  const auto tok = data::load_tokenizer(std::filesystem::path(c.gpt.checkpoint).parent_path() / loaded.meta("tokenizer"));
  std::printf("%s tokenizer of %lld tokens\n", tok->kind().c_str(), static_cast<long long>(tok->vocab_size()));
  GptModel model(*loaded.net);
  generate_and_report(model, *tok, c, examples::make_out_dir(c.gpt.out));
  return 0;
}

int train(const Config& c, const examples::Args& args) {
  const examples::GptOptions& o = c.gpt;
  const auto out = examples::make_out_dir(o.out);
  const std::filesystem::path data_file = c.data.empty() ? examples::data_path("text/austen/prideprejudice.txt") : std::filesystem::path(c.data);
  const std::string text = data::read_text(data_file);
  const auto t_tok = Clock::now();
  const auto tok = data::make_tokenizer(c.tokenizer, text, c.bpe_vocab);
  const Tensor<std::int64_t> ids = tok->encode_tensor(text);
  const data::TextSplit split = data::train_val_split(ids, 0.9);
  std::printf("%s: %zu bytes -> %lld %s tokens (vocabulary %lld; %.1f s), train %lld, val %lld\n", data_file.filename().string().c_str(),
              text.size(), static_cast<long long>(ids.numel()), c.tokenizer.c_str(), static_cast<long long>(tok->vocab_size()),
              since(t_tok), static_cast<long long>(split.train.numel()), static_cast<long long>(split.val.numel()));

  const nn::GPTConfig gc{.vocab_size = tok->vocab_size(), .block_size = c.block, .n_layer = o.n_layer, .n_head = o.n_head,
                         .n_embd = o.n_embd, .dropout = o.dropout, .rope = c.rope};
  Rng rng(o.seed);
  nn::GPT<float> gpt(gc, rng);
  std::printf("%s: %lld parameters\n", gpt.repr().c_str(), static_cast<long long>(gpt.parameter_count()));
  GptModel model(gpt);
  examples::GptTrainer trainer(gpt, o);  // nanoGPT's AdamW groups and schedule (lr_decay_iters = steps)

  io::CsvLog log(out / "log.csv", {"step", "lr", "loss", "train_loss", "val_loss", "seconds"});
  io::Progress progress(o.steps, "train");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double train_seconds = 0, eval_seconds = 0, train_loss = nan, val_loss = nan, meta_val_full = nan;
  auto evaluate = [&](std::int64_t step) {
    const auto t0 = Clock::now();
    train_loss = estimate_loss(model, split.train, c, rng);
    val_loss = estimate_loss(model, split.val, c, rng);
    eval_seconds += since(t0);
    std::fprintf(stderr, "\rstep %lld: train loss %.4f, val loss %.4f\n", static_cast<long long>(step), train_loss, val_loss);
  };
  for (std::int64_t step = 0; step < o.steps; ++step) {
    double tl = nan, vl = nan;
    if (c.eval_interval > 0 && step % c.eval_interval == 0) {
      evaluate(step);
      tl = train_loss, vl = val_loss;
    }
    const auto t0 = Clock::now();
    // data → forward → zero grads → backward → clip → update (lr from the schedule at this step)
    const double loss = trainer.update(model.loss(get_batch(split.train, o.batch, c.block, rng)), step);
    train_seconds += since(t0);
    progress.update(step + 1, {{"loss", loss}});
    log.row({double(step), trainer.lr(step), loss, tl, vl, train_seconds});
  }
  progress.finish();
  evaluate(o.steps);
  log.row({double(o.steps), nan, nan, train_loss, val_loss, train_seconds});
  {
    // Every non-overlapping window of the held-out text: less noisy than 20 random batches.
    const data::Windows w = data::sequential_windows(split.val, c.block);
    const models::Evaluation full = model.evaluate(sequences(w), 64);
    std::printf("full validation set (%lld windows of %lld): %.4f nats/token\n", static_cast<long long>(w.x.size(0)),
                static_cast<long long>(c.block), full.nats);
    meta_val_full = full.nats;
  }
  std::printf("final: train loss %.4f, val loss %.4f nats/token (%.4f bits) after %lld steps; %.1f s training + %.1f s evaluation\n",
              train_loss, val_loss, val_loss / std::log(2.0), static_cast<long long>(o.steps), train_seconds, eval_seconds);
  std::fflush(stdout);

  tok->save(out / "tokenizer.txt");
  examples::save_gpt(out / "model.safetensors", gpt, "gpt_text", args,
                     {{"tokenizer", "tokenizer.txt"}, {"tokenizer_kind", tok->kind()}, {"steps", std::to_string(o.steps)},
                      {"seed", std::to_string(o.seed)}, {"val_loss", std::to_string(val_loss)},
                      {"val_loss_full", std::to_string(meta_val_full)}});
  std::printf("wrote %s/{model.safetensors, tokenizer.txt, log.csv}\n", o.out.c_str());
  generate_and_report(model, *tok, c, out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  examples::Args args("gpt_text", "Trains a GPT language model on a text file (nanoGPT's CPU configuration) and samples from it.");
  args.option("--data", c.data, "text file to model (default: the shipped Pride and Prejudice; last 10% held out)")
      .option("--tokenizer", c.tokenizer, "char, byte or bpe")
      .option("--bpe-vocab", c.bpe_vocab, "vocabulary size of --tokenizer bpe")
      .option("--block", c.block, "context length (block_size)")
      .flag("--rope", c.rope, "rotary position embeddings instead of learned positions");
  examples::training_flags(args, c.gpt, "sequences")
      .option("--eval-interval", c.eval_interval, "evaluate train/val loss every this many steps")
      .option("--eval-iters", c.eval_iters, "random batches per evaluation")
      .option("--max-new-tokens", c.max_new_tokens, "tokens per sample")
      .option("--crop-shift", c.crop_shift, "past block_size, drop this many oldest tokens at once (1: nanoGPT's crop; 0: block/2)");
  examples::generation_flags(args, c.gpt, "tokens", "text the samples start from",
                             "model.safetensors of a gpt_text run (its config comes with it, tokenizer file next to it)");
  args.parse(argc, argv);
  return examples::run_reporting_errors("gpt_text", c.gpt.threads, [&] { return c.gpt.sample_only ? sample_only(c) : train(c, args); });
}
