// Tokenizers: character, byte and byte-level BPE. Oracles: the Wikipedia BPE example worked by hand, a naive BPE
// (recount every pair before every merge; apply merges one by one) for the incremental trainer and the heap encoder,
// and decode(encode(s)) == s on random bytes.
#include <catch2/catch.hpp>
#include <latent/latent.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "data_test_util.hpp"

using namespace latent;
using namespace latent_data_test;
using Merges = std::vector<data::BpeTokenizer::Merge>;

namespace {

std::vector<std::string> chunks_of(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t begin = 0; begin < text.size();) {
    const std::size_t end = data::detail::chunk_end(text, begin);
    out.emplace_back(text.substr(begin, end - begin));
    begin = end;
  }
  return out;
}

// Merge every non-overlapping (a, b), left to right, into z.
void merge_pair(std::vector<std::int32_t>& s, std::int32_t a, std::int32_t b, std::int32_t z) {
  std::vector<std::int32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) out.push_back(z), i += 2;
    else out.push_back(s[i++]);
  }
  s = out;
}

std::vector<std::int32_t> bytes_of(std::string_view s) {
  std::vector<std::int32_t> out;
  for (char c : s) out.push_back(static_cast<unsigned char>(c));
  return out;
}

// BPE by definition: recount all adjacent pairs (within chunks) before every merge; most frequent, then smallest pair.
Merges naive_train(std::string_view corpus, std::int64_t vocab_size) {
  std::vector<std::vector<std::int32_t>> words;
  for (const auto& c : chunks_of(corpus)) words.push_back(bytes_of(c));
  Merges merges;
  while (256 + static_cast<std::int64_t>(merges.size()) < vocab_size) {
    std::map<std::pair<std::int32_t, std::int32_t>, std::int64_t> counts;
    for (const auto& w : words)
      for (std::size_t i = 0; i + 1 < w.size(); ++i) ++counts[{w[i], w[i + 1]}];
    if (counts.empty()) break;
    auto best = counts.begin();  // std::map iterates pairs in increasing order: the first maximum is the smallest pair
    for (auto it = counts.begin(); it != counts.end(); ++it)
      if (it->second > best->second) best = it;
    const auto z = static_cast<std::int32_t>(256 + merges.size());
    for (auto& w : words) merge_pair(w, best->first.first, best->first.second, z);
    merges.push_back(best->first);
  }
  return merges;
}

// Encoding by definition: per chunk, the merges applied one after the other in learning order.
std::vector<std::int64_t> naive_encode(const Merges& merges, std::string_view text) {
  std::vector<std::int64_t> out;
  for (const auto& c : chunks_of(text)) {
    auto s = bytes_of(c);
    for (std::size_t k = 0; k < merges.size(); ++k) merge_pair(s, merges[k].first, merges[k].second, static_cast<std::int32_t>(256 + k));
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

std::string random_bytes(Rng& rng, std::size_t n, std::string_view alphabet = {}) {
  std::string s(n, '\0');
  for (char& c : s)
    c = alphabet.empty() ? static_cast<char>(rng.below(256)) : alphabet[rng.below(alphabet.size())];
  return s;
}

const std::string& austen() {
  static const std::string text = data::read_text(shipped("text/austen/prideprejudice.txt"));
  return text;
}

}  // namespace

TEST_CASE("BPE on Wikipedia's aaabdaaabac learns aa, ab, then (aa)(ab)", "[data][tokenizer]") {
  // Wikipedia "Byte pair encoding": aaabdaaabac -> ZabdZabac (Z=aa) -> ZYdZYac (Y=ab) -> XdXac (X=ZY). After the
  // first merge (256,a) and (a,b) both occur twice; the smaller pair (a,b) wins, as in HuggingFace tokenizers (minbpe
  // takes the first pair seen in the text, (256,a), and so learns (256,a) then (257,b) here instead).
  const auto bpe = data::BpeTokenizer::train("aaabdaaabac", 259);
  CHECK(bpe.merges() == Merges{{'a', 'a'}, {'a', 'b'}, {256, 257}});
  CHECK(bpe.vocab_size() == 259);
  CHECK(bpe.token_bytes(258) == "aaab");
  CHECK(bpe.encode("aaabdaaabac") == std::vector<std::int64_t>{258, 'd', 258, 'a', 'c'});
  CHECK(bpe.decode(std::vector<std::int64_t>{258, 'd', 258, 'a', 'c'}) == "aaabdaaabac");
  // With no pair left to merge, training stops below the requested size: XdXac has the pairs Xd, dX, Xa, ac once each.
  CHECK(data::BpeTokenizer::train("aaabdaaabac", 1000).vocab_size() == 263);
  CHECK(data::BpeTokenizer::train("", 300).vocab_size() == 256);
}

TEST_CASE("BPE merges of overlapping runs follow the left-to-right rule", "[data][tokenizer]") {
  // aaaaa has aa 4 times (overlapping); merging left to right gives ZZa. Then (Z,Z) = (256,256) and (Z,a) = (256,97)
  // occur once each and the smaller, (256,97), wins.
  const auto bpe = data::BpeTokenizer::train("aaaaa", 258);
  CHECK(bpe.merges() == Merges{{'a', 'a'}, {256, 'a'}});
  CHECK(bpe.encode("aaaaa") == std::vector<std::int64_t>{256, 257});
  CHECK(bpe.encode("aaa") == std::vector<std::int64_t>{257});
  CHECK(bpe.encode("aaaa") == std::vector<std::int64_t>{256, 256});
}

TEST_CASE("the BPE pre-split cuts letters, digits, punctuation and whitespace runs, a space joining the next word", "[data][tokenizer]") {
  CHECK(chunks_of("Hello,  world 42!\n\nIt's caf\xC3\xA9  \t") ==
        std::vector<std::string>{"Hello", ",", " ", " world", " 42", "!", "\n\n", "It", "'", "s", " caf\xC3\xA9", "  \t"});
  CHECK(chunks_of(" a") == std::vector<std::string>{" a"});
  CHECK(chunks_of("a \n b") == std::vector<std::string>{"a", " \n", " b"});
  CHECK(chunks_of(std::string("x\0\0y", 4)) == std::vector<std::string>{"x", std::string("\0\0", 2), "y"});
}

TEST_CASE("incremental BPE training learns exactly the merges of the naive recount", "[data][tokenizer]") {
  Rng rng(7);
  const std::string prose = austen().substr(10000, 20000);
  const std::string letters = random_bytes(rng, 3000, "ab");  // one long chunk: merges inside it interact
  const std::string binary = random_bytes(rng, 4000, std::string("ab \n\0\xFF\xC3" "1.", 9));
  for (const auto& [corpus, vocab] : {std::pair{prose, 420}, std::pair{letters, 330}, std::pair{binary, 400}}) {
    const auto bpe = data::BpeTokenizer::train(corpus, vocab);
    const Merges expected = naive_train(corpus, vocab);
    CHECK(bpe.merges().size() == expected.size());
    CHECK(bpe.merges() == expected);
    // The heap encoder segments the training corpus as the merges themselves do.
    CHECK(bpe.encode(corpus) == naive_encode(expected, corpus));
  }
}

TEST_CASE("BPE training is deterministic", "[data][tokenizer]") {
  const std::string corpus = austen().substr(0, 100000);
  const auto first = data::BpeTokenizer::train(corpus, 600);
  const auto second = data::BpeTokenizer::train(corpus, 600);
  CHECK(first.vocab_size() == 600);
  CHECK(first.merges() == second.merges());
}

TEST_CASE("BPE encode then decode is the identity on random bytes, invalid UTF-8 and NUL included", "[data][tokenizer]") {
  Rng rng(11);
  const auto on_prose = data::BpeTokenizer::train(austen(), 512);
  const auto on_noise = data::BpeTokenizer::train(random_bytes(rng, 20000, std::string("\0\x01\x80\xC3\xA9\xFF ab", 9)), 400);
  CHECK(on_prose.vocab_size() == 512);
  CHECK(on_noise.vocab_size() == 400);
  // Austen compresses: 512 tokens give more than 2 bytes per token on the text they were learned from.
  CHECK(static_cast<double>(austen().size()) / static_cast<double>(on_prose.encode(austen()).size()) > 2.0);
  for (int trial = 0; trial < 300; ++trial) {
    const std::size_t n = rng.below(200);
    // Alternate full-range bytes, bytes drawn from the noise corpus's alphabet, and mangled prose.
    std::string s = trial % 3 == 0 ? random_bytes(rng, n)
                  : trial % 3 == 1 ? random_bytes(rng, n, std::string("\0\x01\x80\xC3\xA9\xFF ab", 9))
                                   : austen().substr(rng.below(austen().size() - n), n);
    if (trial % 3 == 2 && n > 0) s[rng.below(n)] = static_cast<char>(rng.below(256));
    for (const auto* bpe : {&on_prose, &on_noise}) {
      const auto ids = bpe->encode(s);
      REQUIRE(bpe->decode(ids) == s);
      REQUIRE(ids == naive_encode(bpe->merges(), s));
      for (const auto id : ids) REQUIRE((id >= 0 && id < bpe->vocab_size()));
    }
  }
}

TEST_CASE("character tokenizer: sorted distinct bytes, unseen characters rejected by name", "[data][tokenizer]") {
  const auto tok = data::CharTokenizer::from_corpus("hello world\n");
  CHECK(tok.vocab_size() == 9);  // \n, ' ', d, e, h, l, o, r, w
  CHECK(tok.kind() == "char");
  CHECK(tok.vocab().chars() == "\n dehlorw");
  CHECK(tok.encode("hold") == std::vector<std::int64_t>{4, 6, 5, 2});
  CHECK(tok.decode(std::vector<std::int64_t>{4, 6, 5, 2}) == "hold");
  REQUIRE_THROWS_WITH(tok.encode("hex"),
                      "[latent.value] CharTokenizer::encode: character 'x' (0x78) at position 2 is not in the vocabulary of 9 characters");
  REQUIRE_THROWS_WITH(tok.encode("\t"), "[latent.value] CharTokenizer::encode: character 0x09 at position 0 is not in the vocabulary of 9 characters");
  REQUIRE_THROWS_WITH(tok.decode(std::vector<std::int64_t>{9}),
                      "[latent.value] CharTokenizer::decode: token 9 is out of range for a vocabulary of 9");
}

TEST_CASE("byte tokenizer maps every byte to itself", "[data][tokenizer]") {
  const data::ByteTokenizer tok;
  std::string all(256, '\0');
  for (int b = 0; b < 256; ++b) all[static_cast<std::size_t>(b)] = static_cast<char>(b);
  const auto ids = tok.encode(all);
  for (int b = 0; b < 256; ++b) CHECK(ids[static_cast<std::size_t>(b)] == b);
  CHECK(tok.decode(ids) == all);
  CHECK(tok.encode_tensor("AB").to_vector() == std::vector<std::int64_t>{65, 66});
  REQUIRE_THROWS_WITH(tok.decode(std::vector<std::int64_t>{-1}), "[latent.value] ByteTokenizer::decode: token -1 is out of range for a vocabulary of 256");
  REQUIRE_THROWS_WITH(data::BpeTokenizer().decode(std::vector<std::int64_t>{256}),
                      "[latent.value] BpeTokenizer::decode: token 256 is out of range for a vocabulary of 256");
}

TEST_CASE("make_tokenizer builds each kind and rejects unknown kinds and small BPE vocabularies", "[data][tokenizer]") {
  CHECK(data::make_tokenizer("char", "abca", 0)->vocab_size() == 3);
  CHECK(data::make_tokenizer("byte", "", 0)->vocab_size() == 256);
  const auto bpe = data::make_tokenizer("bpe", "aaabdaaabac", 259);
  CHECK(bpe->kind() == "bpe");
  CHECK(bpe->encode("aaab") == std::vector<std::int64_t>{258});
  REQUIRE_THROWS_WITH(data::make_tokenizer("word", "abc", 300), "[latent.value] make_tokenizer: unknown kind 'word' (expected char, byte or bpe)");
  REQUIRE_THROWS_WITH(data::make_tokenizer("bpe", "abc", 100), "[latent.value] BpeTokenizer::train: vocab_size = 100 is below the 256 byte tokens");
  REQUIRE_THROWS_WITH(data::BpeTokenizer(Merges{{'a', 'b'}, {'a', 258}}),
                      "[latent.value] BpeTokenizer: merge 1 (97, 258) names a token that does not exist before token 257");
  REQUIRE_THROWS_WITH(data::BpeTokenizer(Merges{{'a', 'b'}, {'a', 'b'}}), "[latent.value] BpeTokenizer: merge 1 (97, 98) repeats an earlier merge");
}

TEST_CASE("tokenizers save to the documented text format and load back by kind", "[data][tokenizer]") {
  TempDir dir;
  const auto bpe = data::BpeTokenizer::train("aaabdaaabac", 259);
  bpe.save(dir / "bpe.txt");
  CHECK(read_bytes(dir / "bpe.txt") == "latent-tokenizer 1\nkind bpe\nmerges 3\n97 97\n97 98\n256 257\n");
  data::CharTokenizer::from_corpus("ba\n").save(dir / "char.txt");
  CHECK(read_bytes(dir / "char.txt") == "latent-tokenizer 1\nkind char\nchars 3\n10\n97\n98\n");
  data::ByteTokenizer().save(dir / "byte.txt");
  CHECK(read_bytes(dir / "byte.txt") == "latent-tokenizer 1\nkind byte\n");
  CHECK(dir.files() == std::vector<std::string>{"bpe.txt", "byte.txt", "char.txt"});  // no temporary left behind

  const auto loaded_char = data::load_tokenizer(dir / "char.txt");
  CHECK(loaded_char->kind() == "char");
  CHECK(loaded_char->encode("aab\n") == std::vector<std::int64_t>{1, 1, 2, 0});
  CHECK(data::load_tokenizer(dir / "byte.txt")->kind() == "byte");

  // A BPE trained on Austen survives the round trip: same merges, same tokens.
  const auto big = data::BpeTokenizer::train(austen().substr(0, 200000), 700);
  big.save(dir / "austen.txt");
  const auto loaded = data::load_tokenizer(dir / "austen.txt");
  REQUIRE(loaded->kind() == "bpe");
  CHECK(dynamic_cast<const data::BpeTokenizer&>(*loaded).merges() == big.merges());
  CHECK(loaded->vocab_size() == 700);
  const std::string sample = austen().substr(300000, 5000);
  CHECK(loaded->encode(sample) == big.encode(sample));
}

TEST_CASE("loading a malformed tokenizer file names the file and the line", "[data][tokenizer]") {
  TempDir dir;
  const std::string path = dir / "t.txt";
  const auto error = [&](const std::string& contents) {
    write_bytes(path, contents);
    try {
      data::load_tokenizer(path);
    } catch (const IoError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string at = "[latent.io] load_tokenizer: " + path + ": line ";
  const std::string head = "latent-tokenizer 1\n";
  CHECK(error("") == at + "1: expected 'latent-tokenizer 1', found the end of the file");
  CHECK(error("latent-tokenizer 2\n") == at + "1: expected 'latent-tokenizer 1', found 'latent-tokenizer 2'");
  CHECK(error(head + "kind bpe") == at + "2: expected 'kind ...' ending with a newline");
  CHECK(error(head + "kind\n") == at + "2: expected 'kind ...', found 'kind'");
  CHECK(error(head + "kind wordpiece\n") == at + "2: unknown tokenizer kind 'wordpiece' (expected char, byte or bpe)");
  CHECK(error(head + "kind byte\n\n") == at + "3: unexpected content after the last entry");
  CHECK(error(head + "kind bpe\nmerges 2\n97 97\n") == at + "5: expected a merge 'a b', found the end of the file");
  CHECK(error(head + "kind bpe\nmerges 1\n97  97\n") ==
        at + "4: expected two tokens (decimal, separated by one space), found '97  97'");
  CHECK(error(head + "kind bpe\nmerges 1\n97 x\xFF\n") ==
        at + "4: expected two tokens (decimal, separated by one space), found '97 x\\xff'");
  CHECK(error(head + "kind bpe\nmerges 2\n97 97\n256 257\n") == at + "5: token 257 is out of range (must be below 257)");
  CHECK(error(head + "kind bpe\nmerges 2\n97 97\n97 97\n") == at + "5: merge 1 (97, 97) repeats merge 0");
  CHECK(error(head + "kind bpe\nmerges -1\n") == at + "3: expected one merge count (decimal, separated by one space), found '-1'");
  CHECK(error(head + "kind bpe\nmerges 1\n1 2\n3 4\n") == at + "5: unexpected content after the last entry");
  CHECK(error(head + "kind char\nchars 2\n98\n97\n") ==
        at + "5: byte value 97 is not above the previous one, 98 (the characters must be sorted and distinct)");
  CHECK(error(head + "kind char\nchars 1\n256\n") == at + "4: byte value 256 is out of range (must be below 256)");
  CHECK(error(head + "kind char\nchars 300\n") == at + "3: character count 300 is out of range (must be below 257)");
  REQUIRE_THROWS_WITH(data::load_tokenizer(dir / "missing.txt"), "[latent.io] " + (dir / "missing.txt") + ": no such file");
}
