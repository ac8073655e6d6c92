// names: a makemore-style character-level GPT on the shipped first-name lists (female and male, lower-cased and merged:
// 8,422 distinct names; 10% held out). Each name is a sequence framed by the boundary character '.', so the model
// learns where names start and stop; sampling starts from '.' and stops at the next '.'. Reports the test loss and
// how many of 1,000 sampled names are new (in neither the training nor the test list).
//
//   build/release/examples/names --out names-out
//   build/release/examples/names --sample-only --checkpoint names-out/model.safetensors --temperature 0.8
//
// Leaves in --out: model.safetensors (config and the character set in its metadata), log.csv, samples.txt.
#include <latent/latent.hpp>
#include <latent/models/autoregressive.hpp>
#include <latent/models/sampling.hpp>
#include <latent/nn/gpt.hpp>

#include "common/args.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

using namespace latent;

namespace {

struct Config {
  std::int64_t steps = 3000;
  std::int64_t batch = 32;
  std::int64_t n_layer = 4, n_head = 4, n_embd = 64;  // makemore's transformer defaults
  double lr = 5e-4, weight_decay = 0.01;
  std::int64_t num_samples = 1000;
  models::SamplingOptions sampling{};
  bool sample_only = false;
  std::string checkpoint;
  std::uint64_t seed = 3407;  // makemore's
  int threads = 1;
  std::string out = "names-out";
};

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<std::string> load_names() {
  std::set<std::string> all;
  for (const char* file : {"text/names/female-first-names-en.txt", "text/names/male-first-names-en.txt"})
    for (std::string name : data::read_lines(examples::data_path(file))) {
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      all.insert(name);
    }
  return {all.begin(), all.end()};
}

/// Rows `idx` of a [N, L] token matrix (index_select is for floating-point tensors).
Tensor<std::int64_t> take_rows(const Tensor<std::int64_t>& x, const std::vector<std::int64_t>& idx) {
  const index_t L = x.size(1);
  auto out = Tensor<std::int64_t>::empty({static_cast<index_t>(idx.size()), L});
  for (std::size_t i = 0; i < idx.size(); ++i) std::copy(x.data() + idx[i] * L, x.data() + (idx[i] + 1) * L, out.data() + static_cast<index_t>(i) * L);
  return out;
}
data::Windows take(const data::Windows& w, const std::vector<std::int64_t>& idx) { return {take_rows(w.x, idx), take_rows(w.y, idx)}; }

/// num_samples names from '.', decoded up to (without) the closing '.'.
std::vector<std::string> sample_names(models::Autoregressive<nn::GPT<float>>& model, const data::CharVocab& vocab, const Config& c,
                                      std::int64_t block, Rng& rng, double* tokens_per_second) {
  const auto t0 = Clock::now();
  const auto out = model.generate(zeros<std::int64_t>({c.num_samples, 1}), {.max_new_tokens = block - 1, .stop_tokens = {0}},
                                  c.sampling, rng);
  std::int64_t tokens = 0;
  std::vector<std::string> names;
  for (const auto& seq : out) {
    tokens += static_cast<std::int64_t>(seq.size());
    std::vector<std::int64_t> letters(seq.begin(), std::find(seq.begin(), seq.end(), 0));
    names.push_back(vocab.decode(letters));
  }
  *tokens_per_second = static_cast<double>(tokens) / since(t0);
  return names;
}

void report(const std::vector<std::string>& samples, const std::set<std::string>& train, const std::set<std::string>& test,
            double tokens_per_second, const std::filesystem::path* out) {
  std::int64_t in_train = 0, in_test = 0, novel = 0;
  for (const auto& s : samples) {
    if (train.count(s)) ++in_train;
    else if (test.count(s)) ++in_test;
    else ++novel;
  }
  const double n = static_cast<double>(samples.size());
  std::printf("%zu samples (%.0f tokens/s): %.1f%% in the training list, %.1f%% in the test list, %.1f%% new\n", samples.size(),
              tokens_per_second, 100.0 * double(in_train) / n, 100.0 * double(in_test) / n, 100.0 * double(novel) / n);
  std::printf("new:");
  int shown = 0;
  for (const auto& s : samples)
    if (!train.count(s) && !test.count(s) && shown < 20) std::printf(" %s", s.c_str()), ++shown;
  std::printf("\n");
  if (out) {
    std::ofstream f(*out / "samples.txt", std::ios::binary);
    for (const auto& s : samples) f << s << (train.count(s) ? "\ttrain" : test.count(s) ? "\ttest" : "\tnew") << "\n";
    LATENT_CHECK(f.good(), IoError, (*out / "samples.txt").string() + ": cannot write");
  }
}

int run(const Config& c, const examples::Args& args) {
  const std::vector<std::string> names = load_names();
  const data::CharVocab vocab = data::CharVocab::from_items(names, '.');
  const std::int64_t block = data::max_item_length(names) + 1;
  Rng rng(c.seed);
  // makemore's split: a random 10% (at most 1,000) for testing.
  const std::vector<std::int64_t> order = rng.permutation(static_cast<std::int64_t>(names.size()));
  const auto n_test = std::min<std::int64_t>(1000, static_cast<std::int64_t>(names.size()) / 10);
  std::vector<std::int64_t> train_idx(order.begin() + n_test, order.end()), test_idx(order.begin(), order.begin() + n_test);
  std::set<std::string> train_set, test_set;
  for (auto i : train_idx) train_set.insert(names[static_cast<std::size_t>(i)]);
  for (auto i : test_idx) test_set.insert(names[static_cast<std::size_t>(i)]);
  const data::Windows all = data::item_sequences(names, vocab, block);
  const data::Windows train = take(all, train_idx), test = take(all, test_idx);
  std::printf("%zu names (%zu train, %zu test), %lld characters + '.', longest %lld\n", names.size(), train_set.size(), test_set.size(),
              static_cast<long long>(vocab.size() - 1), static_cast<long long>(block - 1));

  const nn::GPTConfig gc{.vocab_size = vocab.size(), .block_size = block, .n_layer = c.n_layer, .n_head = c.n_head, .n_embd = c.n_embd};
  nn::GPT<float> gpt(gc, rng);
  models::Autoregressive<nn::GPT<float>> model(gpt);
  std::unique_ptr<std::filesystem::path> out;
  if (c.sample_only) {
    LATENT_CHECK(!c.checkpoint.empty(), ValueError, "names: --sample-only needs --checkpoint FILE");
    const io::SafetensorsFile file = io::load_safetensors(c.checkpoint);
    gpt.load_state_dict(file.tensors);
  } else {
    out = std::make_unique<std::filesystem::path>(examples::make_out_dir(c.out));
    optim::AdamW<float> opt(optim::weight_decay_groups(gpt.named_parameters(),
                                                       optim::AdamWOptions{.lr = c.lr, .betas = {0.9, 0.99}, .eps = 1e-8, .weight_decay = c.weight_decay}));
    io::CsvLog log(*out / "log.csv", {"step", "loss", "test_loss", "seconds"});
    io::Progress progress(c.steps, "train");
    const auto t0 = Clock::now();
    auto test_loss = [&] {
      NoGradGuard no_grad;
      gpt.eval();
      const double l = model.loss(test.x, test.y).item();
      gpt.train();
      return l;
    };
    for (std::int64_t step = 0; step < c.steps; ++step) {
      std::vector<std::int64_t> rows(static_cast<std::size_t>(c.batch));
      for (auto& r : rows) r = static_cast<std::int64_t>(rng.below(train_idx.size()));
      const data::Windows b = take(train, rows);
      Tensor<float> loss = model.loss(b.x, b.y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      progress.update(step + 1, {{"loss", loss.item()}});
      const bool eval = (step + 1) % 500 == 0;
      log.row({double(step), loss.item(), eval ? test_loss() : std::nan(""), since(t0)});
    }
    progress.finish();
    const double tl = test_loss();
    std::printf("test loss %.4f nats/character (%.4f bits) after %lld steps, %.1f s\n", tl, tl / std::log(2.0),
                static_cast<long long>(c.steps), since(t0));
    io::Metadata meta;
    for (const auto& [k, v] : nn::to_metadata(gc)) meta[k] = v;
    meta["model"] = "names";
    meta["characters"] = vocab.chars();
    meta["command"] = args.command_line();
    io::save_safetensors(*out / "model.safetensors", gpt.state_dict(), meta);
  }
  Rng sample_rng(c.seed + 1);
  double tps = 0;
  const auto samples = sample_names(model, vocab, c, block, sample_rng, &tps);
  report(samples, train_set, test_set, tps, out.get());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  examples::Args args("names", "Trains a character-level GPT on first names (makemore-style) and invents new ones.");
  args.option("--steps", c.steps, "training iterations")
      .option("--batch", c.batch, "names per batch")
      .transformer(c.n_layer, c.n_head, c.n_embd)
      .option("--lr", c.lr, "learning rate (AdamW)")
      .option("--weight-decay", c.weight_decay, "AdamW weight decay of the matrices and embeddings")
      .option("--num-samples", c.num_samples, "names to sample")
      .sampling(c.sampling, "characters")
      .flag("--sample-only", c.sample_only, "only sample, from --checkpoint (same --seed: same train/test split)")
      .option("--checkpoint", c.checkpoint, "model.safetensors written by a training run")
      .common(c.seed, c.threads, c.out);
  args.parse(argc, argv);
  try {
    set_num_threads(c.threads);
    return run(c, args);
  } catch (const latent::Error& e) {
    std::fprintf(stderr, "names: %s\n", e.what());
    return 1;
  }
}
