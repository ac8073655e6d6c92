// names: a makemore-style character-level GPT on the shipped first-name lists (female and male, lower-cased and merged:
// 8,422 distinct names; 10% held out). Each name is a sequence framed by the boundary character '.', so the model
// learns where names start and stop; sampling starts from '.' (and the --prompt prefix) and stops at the next '.'.
// Reports the test loss and how many of 1,000 sampled names are new (in neither the training nor the test list).
//
//   build/release/examples/names --out names-out
//   build/release/examples/names --sample-only --checkpoint names-out/model.safetensors --prompt el --temperature 0.8
//
// Leaves in --out: model.safetensors (config, character set and split seed in its metadata), log.csv, samples.txt
// (one name a line, tab, train/test/new). --sample-only writes samples.txt only.
#include "common/gpt_example.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>

using namespace latent;
using examples::GptModel;

namespace {

examples::GptOptions defaults() {
  examples::GptOptions o;
  o.steps = 3000;
  o.batch = 32;
  o.n_embd = 64;  // makemore's transformer: 4 layers, 4 heads, 64 wide
  o.lr = 5e-4, o.min_lr = -1, o.warmup = 0, o.weight_decay = 0.01, o.grad_clip = 0;  // makemore: constant lr, no clipping
  o.num_samples = 1000;
  o.seed = 3407;  // makemore's
  o.out = "names-out";
  return o;
}

std::vector<std::string> load_names() {
  std::set<std::string> all;
  for (const char* file : {"text/names/female-first-names-en.txt", "text/names/male-first-names-en.txt"})
    for (std::string name : data::read_lines(examples::data_path(file))) {
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      all.insert(name);
    }
  return {all.begin(), all.end()};
}

/// makemore's split: a random 10% (at most 1,000) for testing, drawn from `rng` (seeded with the training run's seed,
/// which the checkpoint records, so --sample-only sees the same split).
struct Split {
  std::vector<std::int64_t> train_idx, test_idx;
  std::set<std::string> train, test;
};
Split split_names(const std::vector<std::string>& names, Rng& rng) {
  const std::vector<std::int64_t> order = rng.permutation(static_cast<std::int64_t>(names.size()));
  const auto n_test = std::min<std::int64_t>(1000, static_cast<std::int64_t>(names.size()) / 10);
  Split s{{order.begin() + n_test, order.end()}, {order.begin(), order.begin() + n_test}, {}, {}};
  for (auto i : s.train_idx) s.train.insert(names[static_cast<std::size_t>(i)]);
  for (auto i : s.test_idx) s.test.insert(names[static_cast<std::size_t>(i)]);
  return s;
}

data::Windows take(const data::Windows& w, const std::vector<std::int64_t>& idx) {
  return {examples::take_rows(w.x, idx), examples::take_rows(w.y, idx)};
}

double test_loss(GptModel& model, const data::Windows& test) {
  NoGradGuard no_grad;
  model.net().eval();
  const double l = model.loss(test.x, test.y).item();
  model.net().train();
  return l;
}

/// The prompt as the start of a name: lower-cased, every character in the vocabulary, shorter than the longest name.
std::string name_prefix(const std::string& prompt, const data::CharVocab& vocab, std::int64_t block) {
  std::string prefix = prompt;
  std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  for (char ch : prefix)
    LATENT_CHECK(ch != vocab.chars()[0] && vocab.contains(ch), ValueError,
                 "names: --prompt '" + prompt + "': '" + std::string(1, ch) + "' is not one of the name characters '" +
                     vocab.chars().substr(1) + "'");
  LATENT_CHECK(static_cast<std::int64_t>(prefix.size()) < block, ValueError,
               "names: --prompt '" + prompt + "' is not shorter than the longest name (" + std::to_string(block - 1) + " characters)");
  return prefix;
}

/// num_samples names that start with `prefix`: each sequence starts as '.' + prefix and ends at the next '.'.
std::vector<std::string> sample_names(GptModel& model, const data::CharVocab& vocab, const std::string& prefix,
                                      const examples::GptOptions& o, Rng& rng, double* tokens_per_second) {
  const std::int64_t block = model.net().config().block_size;
  const auto L = static_cast<index_t>(prefix.size());
  auto prompts = zeros<std::int64_t>({o.num_samples, 1 + L});
  for (index_t i = 0; i < o.num_samples; ++i)
    for (index_t t = 0; t < L; ++t) prompts.data()[i * (1 + L) + 1 + t] = vocab.id(prefix[static_cast<std::size_t>(t)]);
  const auto t0 = examples::Clock::now();
  // '.' + prefix + up to block - L more characters (the last one the closing '.') reads at most block tokens
  const auto out = model.generate(prompts, {.max_new_tokens = block - L, .stop_tokens = {0}}, o.sampling, rng);
  std::int64_t tokens = 0;
  std::vector<std::string> names;
  for (const auto& seq : out) {
    tokens += static_cast<std::int64_t>(seq.size());
    std::vector<std::int64_t> letters(seq.begin(), std::find(seq.begin(), seq.end(), 0));
    names.push_back(prefix + vocab.decode(letters));
  }
  *tokens_per_second = static_cast<double>(tokens) / examples::seconds_since(t0);
  return names;
}

void report(const std::vector<std::string>& samples, const std::string& prefix, const Split& split, double tokens_per_second,
            const std::filesystem::path& out) {
  std::int64_t in_train = 0, in_test = 0, novel = 0, known_with_prefix = 0;
  std::string lines;
  for (const auto& s : samples) {
    const bool train = split.train.count(s) > 0, test = !train && split.test.count(s) > 0;
    in_train += train, in_test += test, novel += !train && !test;
    lines += s + (train ? "\ttrain\n" : test ? "\ttest\n" : "\tnew\n");
  }
  for (const auto* list : {&split.train, &split.test})
    for (const auto& s : *list) known_with_prefix += s.rfind(prefix, 0) == 0;
  if (!prefix.empty())
    std::printf("prompt '%s': %lld of the %zu known names start with it\n", prefix.c_str(), static_cast<long long>(known_with_prefix),
                split.train.size() + split.test.size());
  const double n = static_cast<double>(samples.size());
  std::printf("%zu samples (%.0f tokens/s): %.1f%% in the training list, %.1f%% in the test list, %.1f%% new\n", samples.size(),
              tokens_per_second, 100.0 * double(in_train) / n, 100.0 * double(in_test) / n, 100.0 * double(novel) / n);
  std::printf("new:");
  int shown = 0;
  for (const auto& s : samples)
    if (!split.train.count(s) && !split.test.count(s) && shown < 20) std::printf(" %s", s.c_str()), ++shown;
  std::printf("\n");
  examples::write_samples(out, lines);
}

int run(const examples::GptOptions& o, const examples::Args& args) {
  const std::vector<std::string> names = load_names();
  const auto out = examples::make_out_dir(o.out);
  Rng rng(o.seed);
  std::unique_ptr<nn::GPT<float>> net;  // loaded now, or made after the split (the same generator draws both)
  data::CharVocab vocab;
  std::uint64_t split_seed = o.seed;
  if (o.sample_only) {
    examples::LoadedGpt loaded = examples::load_gpt(o.checkpoint, "names");
    vocab = data::CharVocab(loaded.meta("characters"));
    split_seed = std::stoull(loaded.meta("seed"));
    net = std::move(loaded.net);
  } else {
    vocab = data::CharVocab::from_items(names, '.');
  }
  Rng split_rng(split_seed);
  const Split split = split_names(names, o.sample_only ? split_rng : rng);
  const std::int64_t block = net ? net->config().block_size : data::max_item_length(names) + 1;
  const std::string prefix = name_prefix(o.prompt, vocab, block);  // checked before training, not after
  const data::Windows all = data::item_sequences(names, vocab, block);
  const data::Windows train = take(all, split.train_idx), test = take(all, split.test_idx);
  std::printf("%zu names (%zu train, %zu test), %lld characters + '.', longest %lld\n", names.size(), split.train.size(), split.test.size(),
              static_cast<long long>(vocab.size() - 1), static_cast<long long>(data::max_item_length(names)));

  if (!net)
    net = std::make_unique<nn::GPT<float>>(nn::GPTConfig{.vocab_size = vocab.size(), .block_size = block, .n_layer = o.n_layer,
                                                         .n_head = o.n_head, .n_embd = o.n_embd, .dropout = o.dropout},
                                           rng);
  nn::GPT<float>& gpt = *net;
  GptModel model(gpt);
  if (o.sample_only) {
    std::printf("test loss %.4f nats/character\n", test_loss(model, test));
  } else {
    const double seconds = examples::train_loop(
        gpt, o, out, "test_loss",
        [&] {
          const data::Windows b = take(train, examples::random_rows(o.batch, static_cast<std::int64_t>(split.train_idx.size()), rng));
          return model.loss(b.x, b.y);
        },
        [&] { return test_loss(model, test); });
    const double tl = test_loss(model, test);
    std::printf("test loss %.4f nats/character (%.4f bits) after %lld steps, %.1f s\n", tl, tl / std::log(2.0),
                static_cast<long long>(o.steps), seconds);
    examples::save_gpt(out / "model.safetensors", gpt, "names", args,
                       {{"characters", vocab.chars()}, {"seed", std::to_string(o.seed)}, {"test_loss", std::to_string(tl)}});
  }
  Rng sample_rng(o.seed + 1);
  double tps = 0;
  const auto samples = sample_names(model, vocab, prefix, o, sample_rng, &tps);
  report(samples, prefix, split, tps, out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  examples::GptOptions o = defaults();
  examples::Args args("names", "Trains a character-level GPT on first names (makemore-style) and invents new ones.");
  examples::training_flags(args, o, "names");
  examples::generation_flags(args, o, "characters", "start of every sampled name (e.g. 'el'; empty: any name)",
                             "model.safetensors of a names run (its split seed and characters come with it)");
  args.parse(argc, argv);
  return examples::run_reporting_errors("names", o.threads, [&] { return run(o, args); });
}
