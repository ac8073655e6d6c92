// pixels: autoregression beyond text — the GPT of gpt_text over the 8×8 UCI handwritten digits, each image a sequence of
// 64 pixels (row by row) with 17 intensity levels 0..16. The sequence starts with a start token, or with a class token
// (class-conditional, the default), so sampling from "class 3" draws a 3. Every 10th image is held out; reports the
// test negative log-likelihood in bits per pixel and nats per image, draws a grid of samples (one row per class) and
// checks each sample's class with its nearest training digit.
//
//   build/release/examples/pixels --out pixels-out
//   build/release/examples/pixels --sample-only --checkpoint pixels-out/model.safetensors --prompt 7 --out sevens
//   build/release/examples/pixels --sample-only --checkpoint pixels-out/model.safetensors --prompt "3: 0 0 9 16 16 10 0 0"
//   build/release/examples/pixels --unconditional --steps 3000 --out pixels-uncond
//
// --prompt is the start of every sampled sequence: "C" (a class 0..9, the same as --class C), "C: LEVELS" (class C and
// the first pixels, row by row, as levels 0..16 separated by spaces or commas) or ": LEVELS" (the first pixels only).
// Leaves in --out: samples.png (10 × 10 samples, upscaled), samples.txt (every sample as ASCII art), data.png (test
// images, for comparison), model.safetensors, log.csv. --sample-only writes samples.png and samples.txt only.
#include "common/gpt_example.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>

using namespace latent;
using examples::GptModel;

namespace {

constexpr std::int64_t levels = 17;               // pixel tokens 0..16
constexpr std::int64_t start_token = levels;      // unconditional sequences begin with it
constexpr std::int64_t first_class = levels + 1;  // class c is token first_class + c
constexpr std::int64_t vocab = first_class + 10;
constexpr std::int64_t pixels = 64;
constexpr std::string_view ramp = " .:-=+*oxX#%&8@MW";  // level 0..16, light to dark
static_assert(ramp.size() == levels);

struct Config {
  examples::GptOptions gpt = [] {
    examples::GptOptions o;
    o.steps = 1500;
    o.batch = 32;
    o.n_embd = 64;
    o.dropout = 0.1;
    o.lr = 1e-3, o.min_lr = 1e-4, o.weight_decay = 0.1, o.warmup = 100, o.grad_clip = 1.0;
    o.num_samples = 100;
    o.seed = 0;
    o.out = "pixels-out";
    return o;
  }();
  bool unconditional = false;
  std::int64_t label = -1;  // --class
};

/// What every sampled sequence starts with: a class (-1: one grid row per class) and the first pixels.
struct Prompt {
  std::int64_t label = -1;
  std::vector<std::int64_t> pixels;
};

std::int64_t integer_in(const std::string& text, std::int64_t lo, std::int64_t hi, const std::string& what, const std::string& prompt) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  LATENT_CHECK(used == text.size() && used > 0 && v >= lo && v <= hi, ValueError,
               "pixels: --prompt '" + prompt + "': " + what + " '" + text + "' is not an integer in [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "]");
  return v;
}

/// "C", "C: LEVELS" or ": LEVELS" (see the top of the file); --class C is the same as the prompt "C".
Prompt parse_prompt(const std::string& text, std::int64_t label_flag) {
  Prompt p;
  const auto colon = text.find(':');
  std::istringstream head(text.substr(0, colon));
  std::string word, extra;
  if (head >> word) p.label = integer_in(word, 0, 9, "class", text);
  LATENT_CHECK(!(head >> extra), ValueError, "pixels: --prompt '" + text + "': pixels go after a ':' (\"7: 0 0 5 13\")");
  if (colon != std::string::npos) {
    std::string rest = text.substr(colon + 1);
    std::replace(rest.begin(), rest.end(), ',', ' ');
    std::istringstream tail(rest);
    while (tail >> word) p.pixels.push_back(integer_in(word, 0, levels - 1, "level", text));
    LATENT_CHECK(static_cast<std::int64_t>(p.pixels.size()) < pixels, ValueError,
                 "pixels: --prompt '" + text + "' gives " + std::to_string(p.pixels.size()) + " pixels; at most 63 leave one to sample");
  }
  if (label_flag >= 0) {
    LATENT_CHECK(label_flag <= 9, ValueError, "pixels: --class " + std::to_string(label_flag) + " is not a digit 0..9");
    LATENT_CHECK(p.label < 0 || p.label == label_flag, ValueError,
                 "pixels: --class " + std::to_string(label_flag) + " and --prompt '" + text + "' ask for different classes");
    p.label = label_flag;
  }
  return p;
}

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

/// Pixel tokens (64 a sequence) → images [N,1,8,8] in [0,1]; a non-pixel token (the model may emit one) becomes 0 and is counted.
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

/// The UCI digits and their split: every 10th image held out.
struct Digits {
  data::LabelledImages data;
  std::vector<std::int64_t> train_rows, test_rows;
};
Digits load_digits() {
  Digits d{data::load_uci_digits(examples::data_path("uci-digits-8x8/digits.csv")), {}, {}};
  for (std::int64_t i = 0; i < d.data.images.size(0); ++i) (i % 10 == 9 ? d.test_rows : d.train_rows).push_back(i);
  return d;
}

/// The nearest training digit (Euclidean distance in levels) of each image: its label and the RMS level difference.
struct Neighbour {
  std::int64_t label = -1;
  double rms = 0;
};
std::vector<Neighbour> nearest_digits(const Tensor<float>& images, const Digits& d) {
  std::vector<Neighbour> out(static_cast<std::size_t>(images.size(0)));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float* a = images.data() + static_cast<index_t>(i) * pixels;
    double best = std::numeric_limits<double>::infinity();
    for (const std::int64_t r : d.train_rows) {
      const float* b = d.data.images.data() + r * pixels;
      double d2 = 0;
      for (index_t p = 0; p < pixels; ++p) d2 += double(16.0f * (a[p] - b[p])) * double(16.0f * (a[p] - b[p]));
      if (d2 < best) best = d2, out[i] = {d.data.labels.data()[r], std::sqrt(d2 / double(pixels))};
    }
  }
  return out;
}

/// Row `y` (0..7) of image `i` as ASCII, two characters a pixel so that the digit keeps its aspect.
std::string ascii_row(const Tensor<float>& images, index_t i, index_t y) {
  std::string s;
  for (index_t x = 0; x < 8; ++x) s.append(2, ramp[static_cast<std::size_t>(std::lround(images.data()[i * pixels + y * 8 + x] * 16.0f))]);
  return s;
}

/// The sequence start of sample i of n: the class (the prompt's, or one class per tenth of the samples) and pixels.
std::int64_t label_of(const Prompt& p, index_t i, index_t n) { return p.label >= 0 ? p.label : (i * 10) / n; }

/// How often the nearest training digit of a sample has the requested class, next to how often that rule names a
/// held-out digit right (how far the check can be trusted); and the classes drawn.
void report_classes(const std::vector<Neighbour>& nearest, bool conditional, const Prompt& prompt, const Digits& d) {
  const auto n = static_cast<index_t>(nearest.size());
  std::int64_t agree = 0;
  std::array<std::int64_t, 10> drawn{};
  for (index_t i = 0; i < n; ++i) {
    ++drawn[static_cast<std::size_t>(nearest[static_cast<std::size_t>(i)].label)];
    agree += nearest[static_cast<std::size_t>(i)].label == label_of(prompt, i, n);
  }
  if (conditional) {
    const auto rows = from_vector<std::int64_t>(d.test_rows, Shape{std::ssize(d.test_rows)});
    const std::vector<Neighbour> test = nearest_digits(index_select(d.data.images, 0, rows), d);
    std::int64_t right = 0;
    for (std::size_t i = 0; i < test.size(); ++i) right += test[i].label == d.data.labels.data()[d.test_rows[i]];
    std::printf("the nearest training digit has the requested class for %lld of %lld samples (%.1f%%; it names %.1f%% of the "
                "test digits right)\n",
                static_cast<long long>(agree), static_cast<long long>(n), 100.0 * double(agree) / double(n),
                100.0 * double(right) / double(test.size()));
  }
  std::printf("classes of the nearest training digits:");
  for (std::size_t c = 0; c < 10; ++c) std::printf(" %zu:%lld", c, static_cast<long long>(drawn[c]));
  std::printf("\n");
}

/// samples.txt: a header, then each sample's class, its nearest training digit and its 8 rows of ASCII art.
std::string ascii_samples(const Tensor<float>& images, const std::vector<Neighbour>& nearest, bool conditional, const Prompt& prompt,
                          const std::string& prompt_text) {
  const index_t n = images.size(0);
  std::string txt = "# pixels: " + std::to_string(n) + " samples, levels 0..16 drawn as \"" + std::string(ramp) +
                    "\" (two characters a pixel)\n# prompt: " + (prompt_text.empty() ? std::string("(none)") : "'" + prompt_text + "'") +
                    (prompt.label >= 0 ? ", class " + std::to_string(prompt.label) : std::string()) + ", " +
                    std::to_string(prompt.pixels.size()) + " pixels given\n";
  for (index_t i = 0; i < n; ++i) {
    char rms[32];
    std::snprintf(rms, sizeof rms, "%.2f", nearest[static_cast<std::size_t>(i)].rms);
    txt += "\nsample " + std::to_string(i + 1) + (conditional ? ": class " + std::to_string(label_of(prompt, i, n)) : std::string(":")) +
           " (nearest training digit: " + std::to_string(nearest[static_cast<std::size_t>(i)].label) + ", RMS difference " + rms +
           " levels)\n";
    for (index_t y = 0; y < 8; ++y) txt += ascii_row(images, i, y) + "\n";
  }
  return txt;
}

/// Samples o.num_samples digits from the prompt, checks their classes, writes samples.png and samples.txt, and prints
/// one sample per tenth of the grid (one per class by default), five abreast.
void sample(GptModel& model, bool conditional, const Prompt& prompt, const examples::GptOptions& o, const Digits& d,
            const io::Provenance& text, const std::filesystem::path& out) {
  const index_t n = o.num_samples, L = static_cast<index_t>(prompt.pixels.size());
  auto starts = Tensor<std::int64_t>::empty({n, 1 + L});
  for (index_t i = 0; i < n; ++i) {
    std::int64_t* s = starts.data() + i * (1 + L);
    s[0] = conditional ? first_class + label_of(prompt, i, n) : start_token;
    std::copy(prompt.pixels.begin(), prompt.pixels.end(), s + 1);
  }
  Rng rng(o.seed + 1);
  const auto t0 = examples::Clock::now();
  auto seqs = model.generate(starts, {.max_new_tokens = pixels - L}, o.sampling, rng);
  const double seconds = examples::seconds_since(t0);
  for (auto& s : seqs) s.insert(s.begin(), prompt.pixels.begin(), prompt.pixels.end());
  std::int64_t invalid = 0;
  const Tensor<float> images = to_images(seqs, &invalid);
  std::printf("sampled %lld digits in %.2f s (%.0f tokens/s, batch %lld with the KV cache); %lld non-pixel tokens drawn (drawn as 0)\n",
              static_cast<long long>(n), seconds, double(n * (pixels - L)) / seconds, static_cast<long long>(n),
              static_cast<long long>(invalid));
  const std::vector<Neighbour> nearest = nearest_digits(images, d);
  report_classes(nearest, conditional, prompt, d);
  std::vector<index_t> shown;
  for (index_t k = 0; k < std::min<index_t>(10, n); ++k) shown.push_back(k * n / std::min<index_t>(10, n));
  for (std::size_t band = 0; band < shown.size(); band += 5) {
    for (index_t y = 0; y < 8; ++y) {
      for (std::size_t k = band; k < std::min(band + 5, shown.size()); ++k) std::printf("  %s", ascii_row(images, shown[k], y).c_str());
      std::printf("\n");
    }
    std::printf("\n");
  }
  io::save_image_grid(out / "samples.png", images, {.nrow = 10, .scale = 4}, text);
  std::printf("wrote %s\n", (out / "samples.png").string().c_str());
  examples::write_samples(out, ascii_samples(images, nearest, conditional, prompt, o.prompt));
}

int run(const Config& c, const examples::Args& args) {
  const examples::GptOptions& o = c.gpt;
  const auto out = examples::make_out_dir(o.out);
  const Digits d = load_digits();
  const auto& [digits, train_rows, test_rows] = d;

  std::unique_ptr<nn::GPT<float>> net;  // loaded now, or made below
  bool conditional = !c.unconditional;
  std::int64_t steps = o.steps;
  if (o.sample_only) {
    examples::LoadedGpt loaded = examples::load_gpt(o.checkpoint, "pixels");
    conditional = loaded.meta("conditional") == "true";
    steps = std::stoll(loaded.meta("steps"));
    net = std::move(loaded.net);
  }
  const Prompt prompt = parse_prompt(o.prompt, c.label);
  LATENT_CHECK(conditional || prompt.label < 0, ValueError,
               "pixels: the model is unconditional (trained with --unconditional); a class in --prompt or --class needs a "
               "class-conditional one");
  const Tensor<std::int64_t> train = to_sequences(digits, train_rows, conditional), test = to_sequences(digits, test_rows, conditional);
  std::printf("%zu training and %zu test digits as sequences of %lld pixels with %lld levels (%s)\n", train_rows.size(), test_rows.size(),
              static_cast<long long>(pixels), static_cast<long long>(levels), conditional ? "class-conditional" : "unconditional");

  Rng rng(o.seed);
  if (!net)
    net = std::make_unique<nn::GPT<float>>(nn::GPTConfig{.vocab_size = vocab, .block_size = pixels, .n_layer = o.n_layer,
                                                         .n_head = o.n_head, .n_embd = o.n_embd, .dropout = o.dropout},
                                           rng);
  nn::GPT<float>& gpt = *net;
  LATENT_CHECK(gpt.config().vocab_size == vocab && gpt.config().block_size == pixels, ValueError,
               "pixels: the checkpoint's GPT has vocab_size " + std::to_string(gpt.config().vocab_size) + " and block_size " +
                   std::to_string(gpt.config().block_size) + "; pixels needs " + std::to_string(vocab) + " and " + std::to_string(pixels));
  GptModel model(gpt);
  if (!o.sample_only) {
    const double seconds = examples::train_loop(
        gpt, o, out, "test_bits_per_pixel",
        [&] { return model.loss(examples::take_rows(train, examples::random_rows(o.batch, train.size(0), rng))); },
        [&] { return model.evaluate(test).bits; });
    std::printf("%.1f s training\n", seconds);
  }
  const models::Evaluation e = model.evaluate(test);
  std::printf("test NLL: %.4f bits per pixel, %.2f nats per image (uniform over 17 levels: %.4f bits per pixel)\n", e.bits,
              e.nats * double(pixels), std::log2(17.0));

  io::Provenance text = io::provenance("pixels " + gpt.repr(), o.seed, steps);
  text.emplace_back("Command", args.command_line());
  if (!o.sample_only) {
    std::vector<std::int64_t> shown(test_rows.begin(), test_rows.begin() + std::min<std::ptrdiff_t>(100, std::ssize(test_rows)));
    io::save_image_grid(out / "data.png", index_select(digits.images, 0, from_vector<std::int64_t>(shown, Shape{std::ssize(shown)})),
                        {.nrow = 10, .scale = 4}, text);
    examples::save_gpt(out / "model.safetensors", gpt, "pixels", args,
                       {{"conditional", conditional ? "true" : "false"}, {"steps", std::to_string(o.steps)},
                        {"seed", std::to_string(o.seed)}, {"test_bits_per_pixel", std::to_string(e.bits)}});
    std::printf("wrote %s/{data.png, model.safetensors, log.csv}\n", o.out.c_str());
  }
  sample(model, conditional, prompt, o, d, text, out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  examples::Args args("pixels", "Trains a GPT on 8x8 digits as pixel sequences (17 levels) and samples a grid of new digits.");
  args.flag("--unconditional", c.unconditional, "train without the class prefix (a start token instead)")
      .option("--class", c.label, "draw only this digit (0..9; -1: one grid row per class)");
  examples::training_flags(args, c.gpt, "images");
  examples::generation_flags(args, c.gpt, "levels",
                             "start of every sample: \"C\" (class C, like --class), \"C: LEVELS\" or \": LEVELS\" (the first pixels, "
                             "row by row, levels 0..16)",
                             "model.safetensors of a pixels run (its config and conditioning come with it)");
  args.parse(argc, argv);
  return examples::run_reporting_errors("pixels", c.gpt.threads, [&] { return run(c, args); });
}
