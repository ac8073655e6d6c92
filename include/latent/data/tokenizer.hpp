// Tokenizers for language models: characters of a corpus, raw bytes, and a trainable byte-level BPE (GPT-2 /
// minbpe style), with one small text file format for all three and load_tokenizer / make_tokenizer by kind.
//
// File format (UTF-8 text, "\n" line ends, '#' lines and blank lines are not allowed; every number is decimal):
//   line 1: latent-tokenizer 1              (magic and format version)
//   line 2: kind char | kind byte | kind bpe
//   char:   chars N, then N lines each one byte value 0..255, strictly increasing (token i = the i-th byte)
//   byte:   nothing more (token i = byte i)
//   bpe:    merges M, then M lines "a b": merge k joins tokens a and b (both < 256 + k) into token 256 + k
// Nothing may follow the last line but its "\n". A malformed file is an IoError naming the file and the line.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "text.hpp"

#define LATENT_INSIDE_DATA
#include "detail/read_file.hpp"
#undef LATENT_INSIDE_DATA
#include "../core/atomic_file.hpp"

namespace latent::data {

/// Text <-> token ids. Every tokenizer here is byte-exact: decode(encode(s)) == s for every s it can encode.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<std::int64_t> encode(std::string_view text) const = 0;
  /// Throws ValueError for an id outside [0, vocab_size()).
  virtual std::string decode(std::span<const std::int64_t> tokens) const = 0;
  virtual std::int64_t vocab_size() const = 0;
  /// "char", "byte" or "bpe": the name make_tokenizer takes and the file stores.
  virtual std::string kind() const = 0;
  /// Writes the format described at the top of this header (atomically: a temporary file renamed over `path`).
  virtual void save(const std::filesystem::path& path) const = 0;

  /// encode() as a 1-D tensor, e.g. for train_val_split and random_windows.
  Tensor<std::int64_t> encode_tensor(std::string_view text) const {
    const std::vector<std::int64_t> ids = encode(text);
    auto out = Tensor<std::int64_t>::empty({static_cast<index_t>(ids.size())});
    std::copy(ids.begin(), ids.end(), out.data());
    return out;
  }
  std::string decode(const Tensor<std::int64_t>& tokens) const {
    return decode(std::span<const std::int64_t>(tokens.data(), static_cast<std::size_t>(tokens.numel())));
  }

 protected:
  Tokenizer() = default;
  Tokenizer(const Tokenizer&) = default;
  Tokenizer& operator=(const Tokenizer&) = default;
};

namespace detail {

inline std::string tokenizer_header(std::string_view kind) { return "latent-tokenizer 1\nkind " + std::string(kind) + "\n"; }

inline void write_text_atomically(const std::filesystem::path& path, const std::string& text, const std::string& who) {
  AtomicFile file(path, who);
  file.write(text);
  file.commit();
}

/// Reads a tokenizer file line by line; every error names the file and the 1-based line.
class TokenizerFileReader {
 public:
  explicit TokenizerFileReader(const std::filesystem::path& path) : path_(path.string()), text_(read_file(path)) {}

  /// The next line without its "\n"; a missing line or a missing final "\n" is an error.
  std::string_view line(std::string_view expected) {
    ++line_number_;
    if (pos_ >= text_.size()) fail("expected " + std::string(expected) + ", found the end of the file");
    const std::size_t end = text_.find('\n', pos_);
    if (end == std::string::npos) fail("expected " + std::string(expected) + " ending with a newline");
    const std::string_view l(text_.data() + pos_, end - pos_);
    pos_ = end + 1;
    return l;
  }
  /// A line that must be exactly `expected`.
  void literal(std::string_view expected) {
    const std::string_view l = line("'" + std::string(expected) + "'");
    if (l != expected) fail("expected '" + std::string(expected) + "', found '" + printable(l) + "'");
  }
  /// A line "<keyword> <value>"; returns the value.
  std::string_view keyword(std::string_view key) {
    const std::string what = "'" + std::string(key) + " ...'";
    const std::string_view l = line(what);
    if (l.size() <= key.size() + 1 || l.substr(0, key.size()) != key || l[key.size()] != ' ')
      fail("expected " + what + ", found '" + printable(l) + "'");
    return l.substr(key.size() + 1);
  }
  /// N decimal numbers separated by single spaces, each in [0, limit).
  template <std::size_t N>
  std::array<std::int64_t, N> numbers(std::string_view l, std::int64_t limit, std::string_view what) {
    std::array<std::int64_t, N> out{};
    const char* p = l.data();
    const char* end = l.data() + l.size();
    for (std::size_t k = 0; k < N; ++k) {
      if (k > 0) {
        if (p == end || *p != ' ') bad_numbers(l, N, what);
        ++p;
      }
      if (p == end || *p < '0' || *p > '9') bad_numbers(l, N, what);
      const auto [next, ec] = std::from_chars(p, end, out[k]);
      if (ec != std::errc()) bad_numbers(l, N, what);
      p = next;
      if (out[k] >= limit)
        fail(std::string(what) + " " + std::to_string(out[k]) + " is out of range (must be below " + std::to_string(limit) + ")");
    }
    if (p != end) bad_numbers(l, N, what);
    return out;
  }
  void end_of_file() {
    if (pos_ != text_.size()) {
      ++line_number_;
      fail("unexpected content after the last entry");
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError("load_tokenizer: " + path_ + ": line " + std::to_string(line_number_) + ": " + what);
  }

 private:
  [[noreturn]] void bad_numbers(std::string_view l, std::size_t n, std::string_view what) const {
    fail("expected " + std::string(n == 1 ? "one " : "two ") + std::string(what) + (n == 1 ? "" : "s") +
         " (decimal, separated by one space), found '" + printable(l) + "'");
  }
  // The line as it can be shown in a message: at most 40 bytes, control and non-ASCII bytes as \xNN.
  static std::string printable(std::string_view l) {
    static const char* const hex = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < l.size() && i < 40; ++i) {
      const auto u = static_cast<unsigned char>(l[i]);
      if (u >= 0x20 && u < 0x7F) s += static_cast<char>(u);
      else s += std::string("\\x") + hex[u >> 4] + hex[u & 15];
    }
    return l.size() > 40 ? s + "..." : s;
  }

  std::string path_, text_;
  std::size_t pos_ = 0;
  std::int64_t line_number_ = 0;
};

inline void check_token(std::int64_t id, std::int64_t vocab_size, const char* who) {
  LATENT_CHECK(id >= 0 && id < vocab_size, ValueError,
               std::string(who) + ": token " + std::to_string(id) + " is out of range for a vocabulary of " + std::to_string(vocab_size));
}

}  // namespace detail

/// One token per distinct byte of the corpus, in byte order (nanoGPT's shakespeare_char: chars = sorted(set(text))).
/// UTF-8 text is treated as bytes: a multi-byte character is several tokens.
class CharTokenizer final : public Tokenizer {
 public:
  explicit CharTokenizer(CharVocab vocab) : vocab_(std::move(vocab)) {}
  static CharTokenizer from_corpus(std::string_view corpus) { return CharTokenizer(CharVocab::from_text(corpus)); }

  /// Throws ValueError naming the first character that is not in the vocabulary and its position.
  std::vector<std::int64_t> encode(std::string_view text) const override {
    std::vector<std::int64_t> out(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      LATENT_CHECK(vocab_.contains(text[i]), ValueError,
                   "CharTokenizer::encode: character " + CharVocab::describe(text[i]) + " at position " + std::to_string(i) +
                       " is not in the vocabulary of " + std::to_string(vocab_.size()) + " characters");
      out[i] = vocab_.id(text[i]);
    }
    return out;
  }
  std::string decode(std::span<const std::int64_t> tokens) const override {
    std::string s(tokens.size(), '\0');
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      detail::check_token(tokens[i], vocab_size(), "CharTokenizer::decode");
      s[i] = vocab_.token(tokens[i]);
    }
    return s;
  }
  using Tokenizer::decode;
  std::int64_t vocab_size() const override { return vocab_.size(); }
  std::string kind() const override { return "char"; }

  void save(const std::filesystem::path& path) const override {
    std::string text = detail::tokenizer_header(kind()) + "chars " + std::to_string(vocab_.size()) + "\n";
    for (char c : vocab_.chars()) text += std::to_string(static_cast<unsigned char>(c)) + "\n";
    detail::write_text_atomically(path, text, "CharTokenizer::save");
  }
  const CharVocab& vocab() const noexcept { return vocab_; }

 private:
  friend std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);
  // The body after "kind char".
  static CharTokenizer read_body(detail::TokenizerFileReader& in) {
    const auto count = in.numbers<1>(in.keyword("chars"), 257, "character count")[0];
    std::string chars;
    for (std::int64_t i = 0; i < count; ++i) {
      const auto c = in.numbers<1>(in.line("a byte value"), 256, "byte value")[0];
      if (!chars.empty() && c <= static_cast<unsigned char>(chars.back()))
        in.fail("byte value " + std::to_string(c) + " is not above the previous one, " +
                std::to_string(static_cast<unsigned char>(chars.back())) + " (the characters must be sorted and distinct)");
      chars += static_cast<char>(c);
    }
    in.end_of_file();
    return CharTokenizer(CharVocab(std::move(chars)));
  }

  CharVocab vocab_;
};

/// The 256 byte values as tokens: no training, no unknown input.
class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<std::int64_t> encode(std::string_view text) const override {
    std::vector<std::int64_t> out(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<unsigned char>(text[i]);
    return out;
  }
  std::string decode(std::span<const std::int64_t> tokens) const override {
    std::string s(tokens.size(), '\0');
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      detail::check_token(tokens[i], 256, "ByteTokenizer::decode");
      s[i] = static_cast<char>(tokens[i]);
    }
    return s;
  }
  using Tokenizer::decode;
  std::int64_t vocab_size() const override { return 256; }
  std::string kind() const override { return "byte"; }
  void save(const std::filesystem::path& path) const override {
    detail::write_text_atomically(path, detail::tokenizer_header(kind()), "ByteTokenizer::save");
  }
};

namespace detail {

/// Pre-split for BPE (GPT-2-like, without a regex): text is cut into chunks and merges never cross a chunk
/// boundary. A chunk is a run of one byte class (letters: ASCII letters and every byte >= 0x80, so UTF-8
/// characters stay inside words; digits; whitespace; everything else), where a single ' ' before a non-space run
/// joins that run (" the", " 42", " --"). The chunks partition the text exactly, so encoding stays lossless.
enum class ByteClass : std::uint8_t { space, letter, digit, other };
inline ByteClass byte_class(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u == ' ' || (u >= '\t' && u <= '\r')) return ByteClass::space;
  if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80) return ByteClass::letter;
  if (u >= '0' && u <= '9') return ByteClass::digit;
  return ByteClass::other;
}
/// The end of the chunk that starts at `begin` (< text.size()).
inline std::size_t chunk_end(std::string_view text, std::size_t begin) {
  const auto run_end = [&](std::size_t i) {
    const ByteClass c = byte_class(text[i]);
    while (i < text.size() && byte_class(text[i]) == c) ++i;
    return i;
  };
  const std::size_t end = run_end(begin);
  if (byte_class(text[begin]) != ByteClass::space || end == text.size() || text[end - 1] != ' ') return end;
  // Whitespace ending in ' ' before a word: that last space belongs to the word.
  return end - 1 > begin ? end - 1 : run_end(end);
}

inline std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

}  // namespace detail

/// Byte-level BPE (Sennrich et al. 2016 on bytes, as GPT-2 and minbpe): tokens 0..255 are the bytes, token 256 + k
/// joins the pair of merge k. Training repeatedly merges the most frequent adjacent pair inside the pre-split
/// chunks (detail::chunk_end); a tie goes to the smallest pair (a, b), as in HuggingFace tokenizers' trainer.
/// Encoding applies the merges in the order they were learned, so any bytes (invalid UTF-8, NUL) round-trip.
class BpeTokenizer final : public Tokenizer {
 public:
  using Merge = std::pair<std::int32_t, std::int32_t>;

  BpeTokenizer() : BpeTokenizer(std::vector<Merge>{}) {}
  /// From merges in learning order; throws ValueError if merge k names a token >= 256 + k.
  explicit BpeTokenizer(std::vector<Merge> merges) : merges_(std::move(merges)) {
    tokens_.reserve(256 + merges_.size());
    for (int b = 0; b < 256; ++b) tokens_.emplace_back(1, static_cast<char>(b));
    for (std::size_t k = 0; k < merges_.size(); ++k) {
      const auto [a, b] = merges_[k];
      const auto limit = static_cast<std::int32_t>(256 + k);
      LATENT_CHECK(a >= 0 && a < limit && b >= 0 && b < limit, ValueError,
                   "BpeTokenizer: merge " + std::to_string(k) + " (" + std::to_string(a) + ", " + std::to_string(b) +
                       ") names a token that does not exist before token " + std::to_string(limit));
      const bool fresh = ranks_.emplace(detail::pair_key(a, b), static_cast<std::int32_t>(k)).second;
      LATENT_CHECK(fresh, ValueError, "BpeTokenizer: merge " + std::to_string(k) + " (" + std::to_string(a) + ", " + std::to_string(b) + ") repeats an earlier merge");
      tokens_.push_back(tokens_[static_cast<std::size_t>(a)] + tokens_[static_cast<std::size_t>(b)]);
    }
  }

  /// Learns vocab_size - 256 merges from `corpus`. Stops early (a smaller vocabulary) when no adjacent pair is left.
  /// Cost: one pass to count chunks and pairs, then per merge only the chunks that contain the merged pair
  /// (incremental pair counts with a lazily updated max-heap).
  static BpeTokenizer train(std::string_view corpus, std::int64_t vocab_size) {
    LATENT_CHECK(vocab_size >= 256, ValueError,
                 "BpeTokenizer::train: vocab_size = " + std::to_string(vocab_size) + " is below the 256 byte tokens");
    LATENT_CHECK(vocab_size <= (std::int64_t{1} << 30), ValueError, "BpeTokenizer::train: vocab_size = " + std::to_string(vocab_size) + " is too large");

    // Distinct chunks with their counts: the merges only depend on these.
    std::vector<std::vector<std::int32_t>> words;
    std::vector<std::int64_t> freq;
    {
      std::unordered_map<std::string_view, std::size_t> index;
      for (std::size_t begin = 0; begin < corpus.size();) {
        const std::size_t end = detail::chunk_end(corpus, begin);
        const auto [it, fresh] = index.emplace(corpus.substr(begin, end - begin), words.size());
        if (fresh) {
          words.emplace_back();
          for (std::size_t i = begin; i < end; ++i) words.back().push_back(static_cast<unsigned char>(corpus[i]));
          freq.push_back(0);
        }
        ++freq[it->second];
        begin = end;
      }
    }

    std::unordered_map<std::uint64_t, std::int64_t> counts;            // pair -> occurrences (weighted by chunk counts)
    std::unordered_map<std::uint64_t, std::vector<std::int32_t>> where;  // pair -> chunks that may contain it
    const auto add = [&](std::uint64_t pair, std::int64_t delta, std::int32_t word) {
      counts[pair] += delta;
      if (delta > 0) {
        auto& list = where[pair];
        if (list.empty() || list.back() != word) list.push_back(word);
      }
    };
    for (std::size_t w = 0; w < words.size(); ++w)
      for (std::size_t i = 0; i + 1 < words[w].size(); ++i) add(detail::pair_key(words[w][i], words[w][i + 1]), freq[w], static_cast<std::int32_t>(w));

    // Max-heap on (count, then the smaller pair); entries whose count is stale are skipped when popped.
    struct Entry {
      std::int64_t count;
      std::uint64_t pair;
      bool operator<(const Entry& o) const { return count != o.count ? count < o.count : pair > o.pair; }
    };
    std::priority_queue<Entry> heap;
    for (const auto& [pair, count] : counts) heap.push({count, pair});

    std::vector<Merge> merges;
    std::vector<std::uint64_t> changed;
    while (static_cast<std::int64_t>(256 + merges.size()) < vocab_size) {
      std::uint64_t top = 0;
      bool found = false;
      while (!heap.empty() && !found) {
        const Entry e = heap.top();
        heap.pop();
        const auto it = counts.find(e.pair);
        found = it != counts.end() && it->second == e.count && e.count > 0;
        top = e.pair;
      }
      if (!found) break;
      const auto a = static_cast<std::int32_t>(top >> 32), b = static_cast<std::int32_t>(top & 0xFFFFFFFFu);
      const auto z = static_cast<std::int32_t>(256 + merges.size());
      merges.emplace_back(a, b);

      // Merge left to right, non-overlapping, recording the pair changes at each site: x A B y -> x Z y.
      changed.clear();
      const auto change = [&](std::int32_t l, std::int32_t r, std::int64_t delta, std::int32_t word) {
        const std::uint64_t p = detail::pair_key(l, r);
        if (p == top) return;  // the merged pair is dropped below
        add(p, delta, word);
        changed.push_back(p);
      };
      const std::vector<std::int32_t> candidates = std::move(where[top]);
      where.erase(top);
      for (const std::int32_t w : candidates) {
        auto& s = words[static_cast<std::size_t>(w)];
        const std::int64_t f = freq[static_cast<std::size_t>(w)];
        std::size_t out = 0;
        for (std::size_t i = 0; i < s.size();) {
          if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
            if (out > 0) change(s[out - 1], a, -f, w), change(s[out - 1], z, f, w);
            if (i + 2 < s.size()) change(b, s[i + 2], -f, w), change(z, s[i + 2], f, w);
            s[out++] = z;
            i += 2;
          } else {
            s[out++] = s[i++];
          }
        }
        s.resize(out);
      }
      counts.erase(top);
      std::sort(changed.begin(), changed.end());
      changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
      for (const std::uint64_t p : changed) {
        const auto it = counts.find(p);
        if (it->second > 0) heap.push({it->second, p});
        else counts.erase(it);
      }
    }
    return BpeTokenizer(std::move(merges));
  }

  std::vector<std::int64_t> encode(std::string_view text) const override {
    std::vector<std::int64_t> out;
    out.reserve(text.size() / 2);
    // A chunk seen before in this text is copied from its first encoding (prose repeats words a lot).
    std::unordered_map<std::string_view, std::pair<std::size_t, std::size_t>> seen;
    Scratch scratch;
    for (std::size_t begin = 0; begin < text.size();) {
      const std::size_t end = detail::chunk_end(text, begin);
      const std::string_view chunk = text.substr(begin, end - begin);
      begin = end;
      const auto [it, fresh] = seen.emplace(chunk, std::pair<std::size_t, std::size_t>{out.size(), 0});
      if (!fresh) {
        const auto [first, count] = it->second;
        for (std::size_t i = 0; i < count; ++i) out.push_back(out[first + i]);
        continue;
      }
      encode_chunk(chunk, scratch, out);
      it->second.second = out.size() - it->second.first;
    }
    return out;
  }
  std::string decode(std::span<const std::int64_t> tokens) const override {
    std::string s;
    for (const std::int64_t t : tokens) {
      detail::check_token(t, vocab_size(), "BpeTokenizer::decode");
      s += tokens_[static_cast<std::size_t>(t)];
    }
    return s;
  }
  using Tokenizer::decode;
  std::int64_t vocab_size() const override { return static_cast<std::int64_t>(tokens_.size()); }
  std::string kind() const override { return "bpe"; }

  const std::vector<Merge>& merges() const noexcept { return merges_; }
  /// The bytes of token `id`.
  const std::string& token_bytes(std::int64_t id) const {
    detail::check_token(id, vocab_size(), "BpeTokenizer::token_bytes");
    return tokens_[static_cast<std::size_t>(id)];
  }

  void save(const std::filesystem::path& path) const override {
    std::string text = detail::tokenizer_header(kind()) + "merges " + std::to_string(merges_.size()) + "\n";
    for (const auto& [a, b] : merges_) text += std::to_string(a) + " " + std::to_string(b) + "\n";
    detail::write_text_atomically(path, text, "BpeTokenizer::save");
  }

 private:
  friend std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);
  // The body after "kind bpe".
  static BpeTokenizer read_body(detail::TokenizerFileReader& in) {
    const auto count = in.numbers<1>(in.keyword("merges"), std::int64_t{1} << 30, "merge count")[0];
    std::vector<Merge> merges;
    std::unordered_map<std::uint64_t, std::int64_t> first;
    for (std::int64_t k = 0; k < count; ++k) {
      const auto [a, b] = in.numbers<2>(in.line("a merge 'a b'"), 256 + k, "token");
      const auto [it, fresh] = first.emplace(detail::pair_key(static_cast<std::int32_t>(a), static_cast<std::int32_t>(b)), k);
      if (!fresh) in.fail("merge " + std::to_string(k) + " (" + std::to_string(a) + ", " + std::to_string(b) + ") repeats merge " + std::to_string(it->second));
      merges.emplace_back(static_cast<std::int32_t>(a), static_cast<std::int32_t>(b));
    }
    in.end_of_file();
    return BpeTokenizer(std::move(merges));
  }

  // Reused across the chunks of one encode call.
  struct Scratch {
    std::vector<std::int32_t> id, prev, next;  // a doubly linked list of symbols; id -1 = merged away
    std::vector<std::uint64_t> heap;          // (rank << 32 | position), smallest first
  };

  std::int32_t rank(std::int32_t a, std::int32_t b) const {
    const auto it = ranks_.find(detail::pair_key(a, b));
    return it == ranks_.end() ? -1 : it->second;
  }

  // Applies the merges to one chunk lowest rank first, leftmost first among equal ranks. A merge creates only pairs
  // of higher rank, so this equals applying each merge in turn left to right (as training did), in O(n log n).
  void encode_chunk(std::string_view chunk, Scratch& s, std::vector<std::int64_t>& out) const {
    const auto n = static_cast<std::int32_t>(chunk.size());
    s.id.resize(chunk.size());
    s.prev.resize(chunk.size());
    s.next.resize(chunk.size());
    s.heap.clear();
    const auto greater = std::greater<std::uint64_t>();
    const auto push = [&](std::int32_t pos) {
      const std::int32_t nx = s.next[static_cast<std::size_t>(pos)];
      if (nx < 0) return;
      const std::int32_t r = rank(s.id[static_cast<std::size_t>(pos)], s.id[static_cast<std::size_t>(nx)]);
      if (r < 0) return;
      s.heap.push_back((static_cast<std::uint64_t>(r) << 32) | static_cast<std::uint32_t>(pos));
      std::push_heap(s.heap.begin(), s.heap.end(), greater);
    };
    for (std::int32_t i = 0; i < n; ++i) {
      const auto u = static_cast<std::size_t>(i);
      s.id[u] = static_cast<unsigned char>(chunk[u]);
      s.prev[u] = i - 1;
      s.next[u] = i + 1 < n ? i + 1 : -1;
    }
    for (std::int32_t i = 0; i + 1 < n; ++i) push(i);
    while (!s.heap.empty()) {
      std::pop_heap(s.heap.begin(), s.heap.end(), greater);
      const std::uint64_t entry = s.heap.back();
      s.heap.pop_back();
      const auto r = static_cast<std::int32_t>(entry >> 32);
      const auto pos = static_cast<std::size_t>(entry & 0xFFFFFFFFu);
      const std::int32_t nx = s.next[pos];
      // Stale: the symbol was merged into its left neighbour, or its right neighbour changed since the push.
      if (s.id[pos] < 0 || nx < 0) continue;
      const auto& [a, b] = merges_[static_cast<std::size_t>(r)];
      if (s.id[pos] != a || s.id[static_cast<std::size_t>(nx)] != b) continue;
      s.id[pos] = 256 + r;
      s.id[static_cast<std::size_t>(nx)] = -1;
      const std::int32_t after = s.next[static_cast<std::size_t>(nx)];
      s.next[pos] = after;
      if (after >= 0) s.prev[static_cast<std::size_t>(after)] = static_cast<std::int32_t>(pos);
      if (s.prev[pos] >= 0) push(s.prev[pos]);
      push(static_cast<std::int32_t>(pos));
    }
    for (std::int32_t i = n > 0 ? 0 : -1; i >= 0; i = s.next[static_cast<std::size_t>(i)]) out.push_back(s.id[static_cast<std::size_t>(i)]);
  }

  std::vector<Merge> merges_;
  std::vector<std::string> tokens_;                    // token id -> its bytes
  std::unordered_map<std::uint64_t, std::int32_t> ranks_;  // pair -> merge index
};

/// The tokenizer saved in `path` (any kind). A missing or malformed file is an IoError naming it and the line.
inline std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  detail::TokenizerFileReader in(path);
  in.literal("latent-tokenizer 1");
  const std::string_view kind = in.keyword("kind");
  if (kind == "char") return std::make_unique<CharTokenizer>(CharTokenizer::read_body(in));
  if (kind == "byte") {
    in.end_of_file();
    return std::make_unique<ByteTokenizer>();
  }
  if (kind == "bpe") return std::make_unique<BpeTokenizer>(BpeTokenizer::read_body(in));
  in.fail("unknown tokenizer kind '" + std::string(kind.substr(0, 40)) + "' (expected char, byte or bpe)");
}

/// A tokenizer of `kind` built from `corpus`: "char" (the corpus's characters), "byte" (corpus unused) or "bpe"
/// (trained to `vocab_size`; the other kinds ignore it).
inline std::unique_ptr<Tokenizer> make_tokenizer(std::string_view kind, std::string_view corpus, std::int64_t vocab_size = 512) {
  if (kind == "char") return std::make_unique<CharTokenizer>(CharTokenizer::from_corpus(corpus));
  if (kind == "byte") return std::make_unique<ByteTokenizer>();
  if (kind == "bpe") return std::make_unique<BpeTokenizer>(BpeTokenizer::train(corpus, vocab_size));
  throw ValueError("make_tokenizer: unknown kind '" + std::string(kind) + "' (expected char, byte or bpe)");
}

}  // namespace latent::data
