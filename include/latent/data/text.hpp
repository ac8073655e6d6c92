// Plain-text corpora for character-level models: reading a file, a character vocabulary with encode/decode, the
// train/val split, (x, y) next-character windows (random batches as nanoGPT's get_batch, or all in order), and
// one-item-per-line lists (e.g. names) framed by a boundary character as in makemore.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../core/rng.hpp"
#include "../core/tensor.hpp"

#define LATENT_INSIDE_DATA
#include "detail/read_file.hpp"
#undef LATENT_INSIDE_DATA

namespace latent::data {

/// The whole file, byte for byte (no newline conversion).
inline std::string read_text(const std::filesystem::path& path) { return detail::read_file(path); }

/// One item per line: "\r\n" or "\n" line ends, surrounding spaces and tabs trimmed, blank lines skipped.
inline std::vector<std::string> read_lines(const std::filesystem::path& path) {
  const std::string text = detail::read_file(path);
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    lines.emplace_back(line);
  }
  return lines;
}

/// A character vocabulary: token i is chars()[i]. Byte-wise (a UTF-8 multi-byte character is several tokens).
class CharVocab {
 public:
  CharVocab() { index_.fill(-1); }
  /// Tokens in the given order; the characters must be distinct.
  explicit CharVocab(std::string chars) : chars_(std::move(chars)) {
    index_.fill(-1);
    for (std::size_t i = 0; i < chars_.size(); ++i) {
      auto& slot = index_[static_cast<unsigned char>(chars_[i])];
      LATENT_CHECK(slot < 0, ValueError, "CharVocab: character " + describe(chars_[i]) + " appears twice");
      slot = static_cast<std::int32_t>(i);
    }
  }
  /// The sorted distinct characters of `text` (nanoGPT's chars = sorted(set(text))).
  static CharVocab from_text(std::string_view text) {
    std::array<bool, 256> seen{};
    for (char c : text) seen[static_cast<unsigned char>(c)] = true;
    std::string chars;
    for (int c = 0; c < 256; ++c)
      if (seen[static_cast<std::size_t>(c)]) chars += static_cast<char>(c);
    return CharVocab(std::move(chars));
  }
  /// `boundary` first (token 0), then the sorted distinct characters of the items (makemore's '.' + letters).
  static CharVocab from_items(const std::vector<std::string>& items, char boundary = '.') {
    std::string all;
    for (const auto& item : items) all += item;
    std::string chars = from_text(all).chars();
    LATENT_CHECK(chars.find(boundary) == std::string::npos, ValueError,
                 "CharVocab::from_items: the boundary character " + describe(boundary) + " occurs in the items");
    return CharVocab(boundary + chars);
  }

  std::int64_t size() const noexcept { return static_cast<std::int64_t>(chars_.size()); }
  const std::string& chars() const noexcept { return chars_; }
  bool contains(char c) const noexcept { return index_[static_cast<unsigned char>(c)] >= 0; }

  /// The token of character `c`.
  std::int64_t id(char c) const {
    const std::int32_t i = index_[static_cast<unsigned char>(c)];
    LATENT_CHECK(i >= 0, ValueError, "CharVocab: character " + describe(c) + " is not in the vocabulary of " + std::to_string(size()) + " characters");
    return i;
  }
  /// The character of token `id`.
  char token(std::int64_t id) const {
    LATENT_CHECK(id >= 0 && id < size(), ValueError,
                 "CharVocab: token " + std::to_string(id) + " out of range for a vocabulary of " + std::to_string(size()) + " characters");
    return chars_[static_cast<std::size_t>(id)];
  }

  /// Tokens [text.size()] of `text`.
  Tensor<std::int64_t> encode(std::string_view text) const {
    auto out = Tensor<std::int64_t>::empty({static_cast<index_t>(text.size())});
    std::int64_t* p = out.data();
    for (std::size_t i = 0; i < text.size(); ++i) {
      const std::int32_t t = index_[static_cast<unsigned char>(text[i])];
      LATENT_CHECK(t >= 0, ValueError,
                   "CharVocab: character " + describe(text[i]) + " at position " + std::to_string(i) + " is not in the vocabulary of " +
                       std::to_string(size()) + " characters");
      p[i] = t;
    }
    return out;
  }
  std::string decode(std::span<const std::int64_t> tokens) const {
    std::string s(tokens.size(), '\0');
    for (std::size_t i = 0; i < tokens.size(); ++i) s[i] = token(tokens[i]);
    return s;
  }
  /// The characters of every token of `tokens`, in row-major order.
  std::string decode(const Tensor<std::int64_t>& tokens) const {
    return decode(std::span<const std::int64_t>(tokens.data(), static_cast<std::size_t>(tokens.numel())));
  }

  /// A character for messages: 'a' (0x61) when printable, else its code 0x0A.
  static std::string describe(char c) {
    const auto u = static_cast<unsigned char>(c);
    static const char* const hex = "0123456789ABCDEF";
    std::string code = std::string("0x") + hex[u >> 4] + hex[u & 15];
    return u >= 0x20 && u < 0x7F ? "'" + std::string(1, c) + "' (" + code + ")" : code;
  }

 private:
  std::string chars_;
  std::array<std::int32_t, 256> index_{};
};

/// Contiguous train / validation parts of a token stream.
struct TextSplit {
  Tensor<std::int64_t> train, val;
};

/// The first floor(train_fraction * n) tokens for training, the rest for validation (nanoGPT: 0.9).
inline TextSplit train_val_split(const Tensor<std::int64_t>& tokens, double train_fraction = 0.9) {
  LATENT_CHECK(tokens.rank() == 1, ShapeError, "train_val_split: tokens " + tokens.shape().str() + " must be 1-D");
  LATENT_CHECK(train_fraction >= 0.0 && train_fraction <= 1.0, ValueError,
               "train_val_split: train_fraction = " + std::to_string(train_fraction) + " is not in [0, 1]");
  const index_t n = tokens.numel();
  const auto n_train = static_cast<index_t>(std::floor(train_fraction * static_cast<double>(n)));
  auto train = Tensor<std::int64_t>::empty({n_train}), val = Tensor<std::int64_t>::empty({n - n_train});
  std::copy(tokens.data(), tokens.data() + n_train, train.data());
  std::copy(tokens.data() + n_train, tokens.data() + n, val.data());
  return {train, val};
}

/// Inputs and next-token targets, both [B,T]: y[b,t] is the token after x[b,t].
struct Windows {
  Tensor<std::int64_t> x, y;
};

namespace detail {
inline void check_stream(const Tensor<std::int64_t>& tokens, std::int64_t block, const char* who) {
  LATENT_CHECK(tokens.rank() == 1, ShapeError, std::string(who) + ": tokens " + tokens.shape().str() + " must be 1-D");
  LATENT_CHECK(block >= 1, ValueError, std::string(who) + ": block = " + std::to_string(block) + " must be at least 1");
  LATENT_CHECK(tokens.numel() > block, ValueError,
               std::string(who) + ": " + std::to_string(tokens.numel()) + " tokens are too few for a window of block " + std::to_string(block) +
                   " (needs block + 1)");
}
inline void copy_window(const std::int64_t* tokens, index_t start, index_t block, std::int64_t* x, std::int64_t* y) {
  std::copy(tokens + start, tokens + start + block, x);
  std::copy(tokens + start + 1, tokens + start + block + 1, y);
}
}  // namespace detail

/// `batch` windows at random starts, uniform in [0, n - block) as nanoGPT's
/// torch.randint(len(data) - block_size, (batch_size,)): x = tokens[s : s+block], y = tokens[s+1 : s+block+1].
inline Windows random_windows(const Tensor<std::int64_t>& tokens, std::int64_t batch, std::int64_t block, Rng& rng) {
  detail::check_stream(tokens, block, "random_windows");
  LATENT_CHECK(batch >= 0, ValueError, "random_windows: batch = " + std::to_string(batch) + " is negative");
  Windows w{Tensor<std::int64_t>::empty({batch, block}), Tensor<std::int64_t>::empty({batch, block})};
  const auto starts = static_cast<std::uint64_t>(tokens.numel() - block);
  for (index_t b = 0; b < batch; ++b)
    detail::copy_window(tokens.data(), static_cast<index_t>(rng.below(starts)), block, w.x.data() + b * block, w.y.data() + b * block);
  return w;
}

/// Every non-overlapping window in order, (n - 1) / block of them (the tail that does not fill one is left out):
/// the evaluation pass over a validation stream.
inline Windows sequential_windows(const Tensor<std::int64_t>& tokens, std::int64_t block) {
  detail::check_stream(tokens, block, "sequential_windows");
  const index_t count = (tokens.numel() - 1) / block;
  Windows w{Tensor<std::int64_t>::empty({count, block}), Tensor<std::int64_t>::empty({count, block})};
  for (index_t b = 0; b < count; ++b) detail::copy_window(tokens.data(), b * block, block, w.x.data() + b * block, w.y.data() + b * block);
  return w;
}

/// Items (e.g. names) as padded rows [N, block] framed by the boundary token 0 of a from_items vocabulary, as in
/// makemore: x = [0, c1 .. cn, 0 ...], y = [c1 .. cn, 0, ignore_index ...], so the model learns to start from the
/// boundary and to stop with it; ignore_index (PyTorch's cross_entropy default, -100) masks the padding.
inline Windows item_sequences(const std::vector<std::string>& items, const CharVocab& vocab, std::int64_t block,
                              std::int64_t ignore_index = -100) {
  LATENT_CHECK(block >= 1, ValueError, "item_sequences: block = " + std::to_string(block) + " must be at least 1");
  const auto n = static_cast<index_t>(items.size());
  Windows w{Tensor<std::int64_t>::empty({n, block}), Tensor<std::int64_t>::empty({n, block})};
  for (index_t i = 0; i < n; ++i) {
    const std::string& item = items[static_cast<std::size_t>(i)];
    const auto len = static_cast<index_t>(item.size());
    LATENT_CHECK(len + 1 <= block, ValueError,
                 "item_sequences: item " + std::to_string(i) + " '" + item + "' has " + std::to_string(len) + " characters; block = " +
                     std::to_string(block) + " holds at most " + std::to_string(block - 1));
    std::int64_t* x = w.x.data() + i * block;
    std::int64_t* y = w.y.data() + i * block;
    x[0] = 0;
    for (index_t t = 0; t < len; ++t) x[t + 1] = y[t] = vocab.id(item[static_cast<std::size_t>(t)]);
    y[len] = 0;
    std::fill(x + len + 1, x + block, 0);
    std::fill(y + len + 1, y + block, ignore_index);
  }
  return w;
}

/// The longest item's length (the block for item_sequences is this + 1).
inline std::int64_t max_item_length(const std::vector<std::string>& items) {
  std::size_t longest = 0;
  for (const auto& item : items) longest = std::max(longest, item.size());
  return static_cast<std::int64_t>(longest);
}

}  // namespace latent::data
