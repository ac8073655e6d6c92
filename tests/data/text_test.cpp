// Text corpora: the shipped Austen novel and names lists (oracle: their documented sizes, Python's set/len on the
// same files), vocabularies, splits, windows and item sequences.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include "data_test_util.hpp"

using namespace latent;
using namespace latent_data_test;

TEST_CASE("the shipped Pride and Prejudice encodes to 75 characters and decodes back", "[data][text]") {
  const std::string text = data::read_text(shipped("text/austen/prideprejudice.txt"));
  REQUIRE(text.size() == 684768);
  CHECK(text.substr(0, 19) == "PRIDE AND PREJUDICE");
  const auto vocab = data::CharVocab::from_text(text);
  CHECK(vocab.size() == 75);
  CHECK(vocab.chars().front() == '\n');
  CHECK(vocab.chars().back() == 'z');
  CHECK(std::is_sorted(vocab.chars().begin(), vocab.chars().end()));
  const auto tokens = vocab.encode(text);
  CHECK(tokens.shape() == Shape{684768});
  CHECK(tokens.at({0}) == vocab.id('P'));
  CHECK(vocab.decode(tokens) == text);

  const auto split = data::train_val_split(tokens);
  CHECK(split.train.numel() == 616291);  // floor(0.9 * 684768)
  CHECK(split.val.numel() == 68477);
  CHECK(split.val.at({0}) == tokens.at({616291}));
}

TEST_CASE("random_windows takes nanoGPT's next-character windows at Rng::below starts", "[data][text]") {
  const auto vocab = data::CharVocab::from_text("abcdefghij");
  const auto tokens = vocab.encode("abcdefghij");
  Rng rng(4), oracle(4);
  const auto w = data::random_windows(tokens, 5, 3, rng);
  REQUIRE(w.x.shape() == Shape{5, 3});
  REQUIRE(w.y.shape() == Shape{5, 3});
  for (std::int64_t b = 0; b < 5; ++b) {
    const auto start = static_cast<std::int64_t>(oracle.below(7));  // starts in [0, 10 - 3)
    for (std::int64_t t = 0; t < 3; ++t) {
      CHECK(w.x.at({b, t}) == start + t);
      CHECK(w.y.at({b, t}) == start + t + 1);
    }
  }
  const auto all = data::sequential_windows(tokens, 3);
  CHECK(all.x.shape() == Shape{3, 3});  // (10 - 1) / 3 windows
  CHECK(vocab.decode(all.x) == "abcdefghi");
  CHECK(vocab.decode(all.y) == "bcdefghij");
  CHECK_THROWS_WITH(data::random_windows(tokens, 2, 10, rng),
                    "[latent.value] random_windows: 10 tokens are too few for a window of block 10 (needs block + 1)");
  CHECK_THROWS_WITH(data::sequential_windows(tokens, 0), "[latent.value] sequential_windows: block = 0 must be at least 1");
  CHECK_THROWS_WITH(data::train_val_split(tokens, 1.5), "[latent.value] train_val_split: train_fraction = 1.500000 is not in [0, 1]");
}

TEST_CASE("CharVocab reports characters and tokens it does not know", "[data][text][errors]") {
  const auto vocab = data::CharVocab::from_text("hello world");
  CHECK(vocab.chars() == " dehlorw");
  CHECK_THROWS_WITH(vocab.encode("hel~"), "[latent.value] CharVocab: character '~' (0x7E) at position 3 is not in the vocabulary of 8 characters");
  CHECK_THROWS_WITH(vocab.id('\t'), "[latent.value] CharVocab: character 0x09 is not in the vocabulary of 8 characters");
  const std::vector<std::int64_t> bad{1, 8};
  CHECK_THROWS_WITH(vocab.decode(bad), "[latent.value] CharVocab: token 8 out of range for a vocabulary of 8 characters");
  CHECK_THROWS_WITH(data::CharVocab("abca"), "[latent.value] CharVocab: character 'a' (0x61) appears twice");
}

TEST_CASE("read_lines reads the shipped names lists: 4951 + 3898 names, 8422 distinct lower-cased", "[data][text]") {
  const auto female = data::read_lines(shipped("text/names/female-first-names-en.txt"));
  const auto male = data::read_lines(shipped("text/names/male-first-names-en.txt"));
  REQUIRE(female.size() == 4951);
  REQUIRE(male.size() == 3898);
  CHECK(female.front() == "Aaren");
  CHECK(female.back() == "Zuzana");
  CHECK(male.front() == "Aaron");
  std::set<std::string> merged;
  for (const auto* list : {&female, &male})
    for (std::string name : *list) {
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      merged.insert(name);
    }
  CHECK(merged.size() == 8422);
  const std::vector<std::string> names(merged.begin(), merged.end());
  CHECK(data::max_item_length(names) == 15);
  const auto vocab = data::CharVocab::from_items(names);
  CHECK(vocab.chars() == ".-abcdefghijklmnopqrstuvwxyz");

  const auto seq = data::item_sequences(names, vocab, 16);
  CHECK(seq.x.shape() == Shape{8422, 16});
  CHECK(seq.y.shape() == Shape{8422, 16});
}

TEST_CASE("item_sequences frames each item with the boundary token and pads targets with ignore_index", "[data][text]") {
  const std::vector<std::string> items{"emma", "al"};
  const auto vocab = data::CharVocab::from_items(items);
  CHECK(vocab.chars() == ".aelm");
  const auto s = data::item_sequences(items, vocab, 6);
  // ".emma." -> x = [. e m m a .], y = [e m m a . pad]; ".al" -> x = [. a l . . .], y = [a l . pad pad pad]
  CHECK(s.x.to_vector() == std::vector<std::int64_t>{0, 2, 4, 4, 1, 0, 0, 1, 3, 0, 0, 0});
  CHECK(s.y.to_vector() == std::vector<std::int64_t>{2, 4, 4, 1, 0, -100, 1, 3, 0, -100, -100, -100});
  CHECK_THROWS_WITH(data::item_sequences(items, vocab, 4),
                    "[latent.value] item_sequences: item 0 'emma' has 4 characters; block = 4 holds at most 3");
  CHECK_THROWS_WITH(data::CharVocab::from_items({"a.b"}), "[latent.value] CharVocab::from_items: the boundary character '.' (0x2E) occurs in the items");
}

TEST_CASE("read_lines trims line ends and spaces and skips blank lines", "[data][text]") {
  TempDir dir;
  write_bytes(dir / "list.txt", "Ann\r\n\r\n  Bob \n\t\nCid");
  CHECK(data::read_lines(dir / "list.txt") == std::vector<std::string>{"Ann", "Bob", "Cid"});
  CHECK_THROWS_WITH(data::read_text(dir / "nope.txt"), "[latent.io] " + (dir / "nope.txt") + ": no such file");
}
