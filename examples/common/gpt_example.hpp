// Shared by the autoregressive examples (gpt_text, names, pixels; not part of the library): the flags they have in
// common, the optimiser and schedule they train with, a GPT checkpoint with its config in the metadata (so
// --sample-only needs no model flags), and small helpers for batches and samples.txt.
#pragma once

#include "args.hpp"

#include <latent/latent.hpp>
#include <latent/models/autoregressive.hpp>
#include <latent/models/sampling.hpp>
#include <latent/nn/gpt.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace latent::examples {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

using GptModel = models::Autoregressive<nn::GPT<float>>;

/// What gpt_text, names and pixels have in common. Each example sets its own defaults before binding the flags.
struct GptOptions {
  // training
  std::int64_t steps = 2000, batch = 12;
  std::int64_t n_layer = 4, n_head = 4, n_embd = 128;
  double dropout = 0.0;
  double lr = 1e-3, min_lr = 1e-4, weight_decay = 0.1, beta2 = 0.99, grad_clip = 1.0;
  std::int64_t warmup = 100;
  // generation
  std::string prompt;
  std::int64_t num_samples = 1;
  models::SamplingOptions sampling{};
  bool sample_only = false;
  std::string checkpoint;
  // every example
  std::uint64_t seed = 0;
  int threads = 1;
  std::string out;
};

/// The training flags: --steps, --batch (of `items`), --layers/--heads/--embd, --dropout, --lr, --min-lr, --warmup,
/// --weight-decay, --grad-clip.
inline Args& training_flags(Args& args, GptOptions& o, const std::string& items) {
  return args.option("--steps", o.steps, "training iterations")
      .option("--batch", o.batch, items + " per batch")
      .transformer(o.n_layer, o.n_head, o.n_embd)
      .option("--dropout", o.dropout, "dropout probability")
      .option("--lr", o.lr, "peak learning rate (AdamW, betas 0.9 and 0.99)")
      .option("--min-lr", o.min_lr, "learning rate at the end of the cosine decay (negative: no decay)")
      .option("--warmup", o.warmup, "linear warmup iterations")
      .option("--weight-decay", o.weight_decay, "AdamW weight decay of the matrices and embeddings")
      .option("--grad-clip", o.grad_clip, "clip the gradient norm to this (0: off)");
}

/// The generation flags: --prompt (whose meaning the example explains in `prompt_help`), --num-samples, the sampling
/// flags (`tokens` names a token in their help), --greedy, --sample-only and --checkpoint; then --seed, --threads, --out.
inline Args& generation_flags(Args& args, GptOptions& o, const std::string& tokens, const std::string& prompt_help,
                              const std::string& checkpoint_help) {
  return args.option("--prompt", o.prompt, prompt_help)
      .option("--num-samples", o.num_samples, "samples to generate")
      .sampling(o.sampling, tokens)
      .flag("--greedy", o.sampling.greedy, "argmax decoding (after the repetition penalty)")
      .flag("--sample-only", o.sample_only, "no training: load --checkpoint and write the samples to --out")
      .option("--checkpoint", o.checkpoint, checkpoint_help)
      .common(o.seed, o.threads, o.out);
}

/// AdamW with betas (0.9, beta2) and weight decay on the matrices and embeddings only (nanoGPT's configure_optimizers),
/// nanoGPT's linear warmup + cosine decay to min_lr over the run (a constant rate after the warmup when min_lr < 0),
/// gradient-norm clipping (off at 0).
class GptTrainer {
 public:
  GptTrainer(nn::GPT<float>& gpt, const GptOptions& o)
      : gpt_(gpt),
        lr_(o.lr),
        grad_clip_(o.grad_clip),
        opt_(optim::weight_decay_groups(gpt.named_parameters(),
                                        optim::AdamWOptions{.lr = o.lr, .betas = {0.9, o.beta2}, .weight_decay = o.weight_decay})),
        schedule_(schedule_options(o)) {}

  /// The learning rate at `step`.
  double lr(std::int64_t step) const { return lr_ * static_cast<double>(schedule_(step)); }

  /// zero grads → backward → clip → update at `step`'s learning rate; returns the loss.
  double update(Tensor<float> loss, std::int64_t step) {
    optim::apply_schedule(opt_, schedule_, step);
    opt_.zero_grad();
    loss.backward();
    if (grad_clip_ > 0) optim::clip_grad_norm_(gpt_.parameters(), grad_clip_);
    opt_.step();
    return loss.item();
  }

 private:
  /// lr_decay_iters = the run's length; the warmup is shortened when a short run would not reach its end.
  static optim::WarmupCosineOptions schedule_options(const GptOptions& o) {
    const std::int64_t warmup = std::clamp<std::int64_t>(o.warmup, 0, std::max<std::int64_t>(o.steps - 1, 0));
    return {.warmup_iters = warmup, .lr_decay_iters = std::max(o.steps, warmup + 1), .min_factor = o.min_lr < 0 ? 1.0 : o.min_lr / o.lr};
  }

  nn::GPT<float>& gpt_;
  double lr_, grad_clip_;
  optim::AdamW<float> opt_;
  optim::WarmupCosine schedule_;
};

/// The training loop of names and pixels: o.steps updates on batch_loss() (a fresh random batch's loss) with a progress
/// bar; log.csv gets step, lr, loss, `eval_column` (evaluate() every eval_every steps, NaN otherwise) and the seconds so
/// far. Returns the seconds.
template <class BatchLoss, class Evaluate>
double train_loop(nn::GPT<float>& gpt, const GptOptions& o, const std::filesystem::path& out, const std::string& eval_column,
                  BatchLoss&& batch_loss, Evaluate&& evaluate, std::int64_t eval_every = 500) {
  GptTrainer trainer(gpt, o);
  io::CsvLog log(out / "log.csv", {"step", "lr", "loss", eval_column, "seconds"});
  io::Progress progress(o.steps, "train");
  const auto t0 = Clock::now();
  for (std::int64_t step = 0; step < o.steps; ++step) {
    const double loss = trainer.update(batch_loss(), step);
    progress.update(step + 1, {{"loss", loss}});
    const bool eval = (step + 1) % eval_every == 0;
    log.row({double(step), trainer.lr(step), loss, eval ? evaluate() : std::nan(""), seconds_since(t0)});
  }
  progress.finish();
  return seconds_since(t0);
}

/// Writes `file` (model.safetensors): the weights, the GPT config, "model" = `example`, the command line and `extra`
/// (whatever the example needs to sample again: a character set, a flag, a tokenizer file name).
inline void save_gpt(const std::filesystem::path& file, const nn::GPT<float>& gpt, const std::string& example, const Args& args,
                     const io::Metadata& extra = {}) {
  io::Metadata meta = extra;
  for (const auto& [k, v] : nn::to_metadata(gpt.config())) meta[k] = v;
  meta["model"] = example;
  meta["command"] = args.command_line();
  io::save_safetensors(file, gpt.state_dict(), meta);
}

/// A GPT read back from a file written by save_gpt, built from the config in its metadata.
struct LoadedGpt {
  std::string file;
  io::Metadata metadata;
  std::unique_ptr<nn::GPT<float>> net;

  /// The metadata entry `key`; throws IoError naming the file when it is absent.
  const std::string& meta(const std::string& key) const {
    const auto it = metadata.find(key);
    LATENT_CHECK(it != metadata.end(), IoError, file + ": no '" + key + "' entry in the metadata");
    return it->second;
  }
};

/// Loads `file`, checking that `example` wrote it (a names checkpoint cannot drive pixels).
inline LoadedGpt load_gpt(const std::string& file, const std::string& example) {
  LATENT_CHECK(!file.empty(), ValueError, example + ": --sample-only needs --checkpoint FILE");
  io::SafetensorsFile st = io::load_safetensors(file);
  LoadedGpt g{file, std::move(st.metadata), nullptr};
  const std::string& writer = g.meta("model");
  LATENT_CHECK(writer == example, ValueError, file + " was written by " + writer + ", not by " + example);
  Rng rng(0);  // the initial weights are replaced at once
  g.net = std::make_unique<nn::GPT<float>>(nn::gpt_config_from_metadata(g.metadata), rng);
  g.net->load_state_dict(st.tensors);
  std::printf("loaded %s: %s, %lld parameters\n", file.c_str(), g.net->repr().c_str(), static_cast<long long>(g.net->parameter_count()));
  return g;
}

/// Rows `idx` of a [N, L] token matrix (index_select is for floating-point tensors).
inline Tensor<std::int64_t> take_rows(const Tensor<std::int64_t>& x, const std::vector<std::int64_t>& idx) {
  const index_t L = x.size(1);
  auto out = Tensor<std::int64_t>::empty({static_cast<index_t>(idx.size()), L});
  for (std::size_t i = 0; i < idx.size(); ++i)
    std::copy(x.data() + idx[i] * L, x.data() + (idx[i] + 1) * L, out.data() + static_cast<index_t>(i) * L);
  return out;
}

/// `count` row numbers drawn uniformly (with replacement) from [0, n): a random batch.
inline std::vector<std::int64_t> random_rows(std::int64_t count, std::int64_t n, Rng& rng) {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(count));
  for (auto& r : rows) r = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
  return rows;
}

/// Writes `text` to out/samples.txt and says so.
inline void write_samples(const std::filesystem::path& out, const std::string& text) {
  const auto file = out / "samples.txt";
  std::ofstream f(file, std::ios::binary);
  f << text;
  LATENT_CHECK(f.good(), IoError, file.string() + ": cannot write");
  std::printf("wrote %s\n", file.string().c_str());
}

}  // namespace latent::examples
