// safetensors files (the checkpoint format of Hugging Face, PyTorch, candle and burn): a StateDict with
// PyTorch-style dotted names plus a string metadata map, saved atomically and validated field by field on load.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "../core/atomic_file.hpp"
#include "../core/error.hpp"
#include "../core/state_dict.hpp"
#include "../core/tensor.hpp"
#include "../version.hpp"

#define LATENT_INSIDE_IO
#include "detail/file_reader.hpp"
#include "detail/header_cursor.hpp"
#undef LATENT_INSIDE_IO

namespace latent::io {

using Metadata = std::map<std::string, std::string>;

/// What a safetensors file holds: the tensors in file order, and the `__metadata__` strings.
struct SafetensorsFile {
  StateDict tensors;
  Metadata metadata;
};

/// The metadata key under which every file latent writes records the library version.
inline constexpr const char* metadata_version_key = "latent_version";

/// The largest JSON header accepted (the reference implementation's limit): a hostile length field
/// cannot make the loader allocate more.
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

namespace detail {

[[noreturn]] inline void st_error(std::string_view name, std::uint64_t offset, const std::string& what) {
  throw IoError("load_safetensors: " + std::string(name) + ": byte " + std::to_string(offset) + ": " + what);
}

enum class StDtype { F32, F64, I64 };
inline std::size_t st_item_size(StDtype d) { return d == StDtype::F32 ? 4 : 8; }

/// One tensor entry of the header, with offsets relative to the start of the data section.
struct StEntry {
  std::string name;
  StDtype dtype = StDtype::F32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
  std::size_t header_at = 0;  // byte offset of its name in the file, for messages
};

/// A strict reader for the restricted JSON of a safetensors header (RFC 8259 syntax):
///   { "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
///     "__metadata__": {"<key>": "<string>", ...} }
/// Strings must be valid UTF-8 (escapes, including \u surrogate pairs, are decoded); numbers in shapes and
/// offsets are non-negative integers; duplicate keys, unknown fields and trailing text are errors. A general
/// JSON library would accept far more than the format allows and then need the same checks on its tree.
struct StHeaderFormat {
  [[noreturn]] static void error(std::string_view name, std::uint64_t offset, const std::string& what) {
    st_error(name, offset, what);
  }
  static constexpr const char* unterminated = "the header ends inside its JSON";
};

class StHeaderParser : public HeaderCursor<StHeaderFormat> {
 public:
  using HeaderCursor::HeaderCursor;

  std::vector<StEntry> entries;
  Metadata metadata;

  void parse() {
    skip_space();
    expect('{', "the header is not a JSON object");
    std::map<std::string, std::size_t> seen;  // name -> byte offset of its first occurrence
    bool have_metadata = false;
    object_members([&](std::string key, std::size_t key_at) {
      if (key == "__metadata__") {
        if (have_metadata) fail(key_at, "duplicate key \"__metadata__\"");
        have_metadata = true;
        parse_metadata();
        return;
      }
      if (key.empty()) fail(key_at, "a tensor has an empty name");
      auto [it, inserted] = seen.emplace(key, base_ + key_at);
      if (!inserted)
        fail(key_at, "duplicate tensor name \"" + key + "\" (first at byte " + std::to_string(it->second) + ")");
      entries.push_back(parse_entry(std::move(key), key_at));
    });
    skip_space();
    if (i_ != s_.size()) fail(i_, "unexpected text after the header's JSON object");
  }

 private:
  /// Calls member(key, key_offset) for each member of the object whose '{' was just consumed; `member`
  /// parses the value. Consumes the closing '}'.
  template <class Member>
  void object_members(Member&& member) {
    skip_space();
    if (peek() == '}') {
      ++i_;
      return;
    }
    for (;;) {
      skip_space();
      const std::size_t key_at = i_;
      std::string key = string();
      skip_space();
      expect(':', "expected ':' after the key \"" + key + "\"");
      skip_space();
      member(std::move(key), key_at);
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}', "expected ',' or '}' in a JSON object");
      return;
    }
  }

  void parse_metadata() {
    expect('{', "\"__metadata__\" must be an object of strings");
    object_members([&](std::string key, std::size_t key_at) {
      if (peek() != '"') fail(i_, "\"__metadata__\" value of \"" + key + "\" is not a string");
      std::string value = string();
      if (!metadata.emplace(std::move(key), std::move(value)).second)
        fail(key_at, "duplicate key in \"__metadata__\"");
    });
  }

  StEntry parse_entry(std::string key, std::size_t key_at) {
    StEntry e;
    e.name = std::move(key);
    e.header_at = base_ + key_at;
    const std::string what = "tensor \"" + e.name + "\"";
    expect('{', what + " must be an object with dtype, shape and data_offsets");
    bool dtype = false, shape = false, offsets = false;
    object_members([&](std::string field, std::size_t field_at) {
      bool* seen = nullptr;
      if (field == "dtype") {
        seen = &dtype;
        const std::size_t at = i_;
        const std::string d = string();
        if (d == "F32") e.dtype = StDtype::F32;
        else if (d == "F64") e.dtype = StDtype::F64;
        else if (d == "I64") e.dtype = StDtype::I64;
        else fail(at, what + " has dtype \"" + d + "\"; latent reads F32, F64 and I64");
      } else if (field == "shape") {
        seen = &shape;
        const std::size_t at = i_;
        const std::vector<std::uint64_t> dims = integers(what + " shape");
        if (dims.size() > static_cast<std::size_t>(Shape::max_rank))
          fail(at, what + " has " + std::to_string(dims.size()) + " dimensions; at most " +
                       std::to_string(Shape::max_rank) + " are supported (LATENT_MAX_RANK)");
        for (std::uint64_t d : dims) {
          if (d > static_cast<std::uint64_t>(INT64_MAX)) fail(at, what + " has a dimension larger than 2^63 - 1");
          e.shape.push_back(static_cast<index_t>(d));
        }
      } else if (field == "data_offsets") {
        seen = &offsets;
        const std::size_t at = i_;
        const std::vector<std::uint64_t> o = integers(what + " data_offsets");
        if (o.size() != 2) fail(at, what + " data_offsets must be [begin, end]");
        if (o[0] > o[1]) fail(at, what + " data_offsets [" + std::to_string(o[0]) + ", " + std::to_string(o[1]) + "] end before they begin");
        e.begin = o[0];
        e.end = o[1];
      } else {
        fail(field_at, what + " has an unknown field \"" + field + "\"");
      }
      if (*seen) fail(field_at, what + " has the field \"" + field + "\" twice");
      *seen = true;
    });
    if (!dtype || !shape || !offsets)
      fail(key_at, what + " lacks " + (!dtype ? "dtype" : !shape ? "shape" : "data_offsets"));
    return e;
  }

  std::vector<std::uint64_t> integers(const std::string& what) {
    expect('[', what + " must be an array of non-negative integers");
    std::vector<std::uint64_t> out;
    skip_space();
    if (peek() == ']') {
      ++i_;
      return out;
    }
    for (;;) {
      skip_space();
      const std::size_t at = i_;
      if (peek() < '0' || peek() > '9') fail(at, what + " must be an array of non-negative integers");
      if (s_[i_] == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9')
        fail(at, "numbers must not have leading zeros");
      std::uint64_t v = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        const unsigned digit = static_cast<unsigned>(s_[i_++] - '0');
        if (v > (UINT64_MAX - digit) / 10) fail(at, what + ": number larger than 2^64 - 1");
        v = v * 10 + digit;
      }
      if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E'))
        fail(at, what + " must be an array of non-negative integers");
      if (out.size() == 64) fail(at, what + " has too many entries");
      out.push_back(v);
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect(']', "expected ',' or ']' in a JSON array");
      return out;
    }
  }

  unsigned hex4() {
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = peek();
      ++i_;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else fail(i_ - 1, "bad \\u escape in a JSON string");
    }
    return v;
  }
  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  /// Length of the UTF-8 sequence starting at i_ (shortest form, no surrogates, <= U+10FFFF), or 0.
  std::size_t utf8_length() const {
    auto at = [&](std::size_t k) { return i_ + k < s_.size() ? static_cast<unsigned char>(s_[i_ + k]) : 0u; };
    const unsigned c = at(0);
    auto cont = [&](std::size_t k) { return (at(k) & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      const unsigned c1 = at(1);
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) return 0;
      return cont(1) && cont(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      const unsigned c1 = at(1);
      if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90)) return 0;
      return cont(1) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
  }
  std::string string() {
    if (peek() != '"') fail(i_, "expected a JSON string");
    ++i_;
    std::string out;
    for (;;) {
      const unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) fail(i_, "control character in a JSON string");
      if (c == '\\') {
        ++i_;
        const char esc = peek();
        ++i_;
        switch (esc) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const std::size_t at = i_ - 2;
            unsigned cp = hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) fail(at, "unpaired surrogate in a JSON string");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (i_ + 1 >= s_.size() || s_[i_] != '\\' || s_[i_ + 1] != 'u') fail(at, "unpaired surrogate in a JSON string");
              i_ += 2;
              const unsigned low = hex4();
              if (low < 0xDC00 || low > 0xDFFF) fail(at, "unpaired surrogate in a JSON string");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default: fail(i_ - 2, "bad escape in a JSON string");
        }
      } else if (c < 0x80) {
        out += static_cast<char>(c);
        ++i_;
      } else {
        const std::size_t n = utf8_length();
        if (n == 0) fail(i_, "invalid UTF-8 in a JSON string");
        out.append(s_.substr(i_, n));
        i_ += n;
      }
    }
  }
};

/// The parsed header plus the checks that tie it to the data section: every tensor's byte length matches
/// dtype × shape, and the tensors tile [0, data_size) exactly, without gaps or overlaps.
struct StLayout {
  std::vector<StEntry> entries;  // in header order
  Metadata metadata;
  std::uint64_t data_offset = 0;  // where the data section starts in the file
};

inline StLayout parse_safetensors_layout(std::span<const std::byte> head, std::uint64_t file_size, std::string_view name) {
  if (file_size < 8 || head.size() < 8)
    st_error(name, 0, "file has " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");
  std::uint64_t n = 0;
  for (int b = 7; b >= 0; --b) n = (n << 8) | static_cast<std::uint64_t>(head[static_cast<std::size_t>(b)]);
  if (n > safetensors_max_header)
    st_error(name, 0, "header length " + std::to_string(n) + " exceeds the limit of " +
                          std::to_string(safetensors_max_header) + " bytes (is this a safetensors file?)");
  if (n > file_size - 8)
    st_error(name, 0, "header length " + std::to_string(n) + " runs past the end of the file (" +
                          std::to_string(file_size) + " bytes)");
  if (head.size() < 8 + n) st_error(name, 8, "header not available");
  StHeaderParser parser(std::string_view(reinterpret_cast<const char*>(head.data()) + 8, static_cast<std::size_t>(n)),
                        8, name);
  parser.parse();

  StLayout layout;
  layout.data_offset = 8 + n;
  const std::uint64_t data_size = file_size - layout.data_offset;
  for (const StEntry& e : parser.entries) {
    const std::optional<std::uint64_t> nbytes = checked_nbytes(e.shape, st_item_size(e.dtype));
    const char* dtype = e.dtype == StDtype::F32 ? "F32" : e.dtype == StDtype::F64 ? "F64" : "I64";
    if (!nbytes)
      st_error(name, e.header_at,
               "tensor \"" + e.name + "\" " + e.shape.str() + " has more elements than 64-bit sizes can count");
    const std::uint64_t bytes = *nbytes;
    if (bytes != e.end - e.begin)
      st_error(name, e.header_at,
               "tensor \"" + e.name + "\" " + dtype + " " + e.shape.str() + " needs " + std::to_string(bytes) +
                   " bytes but its data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                   "] hold " + std::to_string(e.end - e.begin));
    if (e.end > data_size)
      st_error(name, e.header_at,
               "tensor \"" + e.name + "\" data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                   "] run past the end of the data (" + std::to_string(data_size) + " bytes)");
  }
  std::vector<const StEntry*> sorted;
  for (const StEntry& e : parser.entries) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const StEntry* a, const StEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t covered = 0;
  const StEntry* previous = nullptr;
  for (const StEntry* e : sorted) {
    if (e->begin < covered)
      st_error(name, e->header_at,
               "tensor \"" + e->name + "\" data_offsets [" + std::to_string(e->begin) + ", " + std::to_string(e->end) +
                   "] overlap tensor \"" + previous->name + "\" [" + std::to_string(previous->begin) + ", " +
                   std::to_string(previous->end) + "]");
    if (e->begin > covered)
      st_error(name, layout.data_offset + covered,
               "data bytes [" + std::to_string(covered) + ", " + std::to_string(e->begin) + ") belong to no tensor");
    covered = e->end;
    previous = e;
  }
  if (covered != data_size)
    st_error(name, layout.data_offset + covered,
             "data bytes [" + std::to_string(covered) + ", " + std::to_string(data_size) + ") belong to no tensor");
  layout.entries = std::move(parser.entries);
  layout.metadata = std::move(parser.metadata);
  return layout;
}

/// The tensors of a validated layout; `read(file_offset, dst, n)` copies bytes of the file.
template <class Read>
SafetensorsFile st_tensors(StLayout& layout, Read&& read) {
  SafetensorsFile out;
  for (const StEntry& e : layout.entries) {
    auto fill = [&](auto tag) -> AnyTensor {
      auto t = Tensor<decltype(tag)>::empty(e.shape);
      read(layout.data_offset + e.begin, reinterpret_cast<std::byte*>(t.data()), static_cast<std::size_t>(e.end - e.begin));
      return t;
    };
    if (e.dtype == StDtype::F32) out.tensors.set(e.name, fill(float{}));
    else if (e.dtype == StDtype::F64) out.tensors.set(e.name, fill(double{}));
    else out.tensors.set(e.name, fill(std::int64_t{}));
  }
  out.metadata = std::move(layout.metadata);
  return out;
}

/// A JSON string literal of UTF-8 text (control characters escaped).
inline std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) {
      const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace detail

/// Parses a whole safetensors file held in memory (the fuzzing entry point); `name` stands for the file.
inline SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, std::string_view name) {
  detail::StLayout layout = detail::parse_safetensors_layout(bytes, bytes.size(), name);
  return detail::st_tensors(layout, [&](std::uint64_t offset, std::byte* dst, std::size_t n) {
    if (n) std::memcpy(dst, bytes.data() + offset, n);
  });
}

/// Reads a safetensors file: F32, F64 and I64 tensors, in file order, and the `__metadata__` strings.
/// Everything is validated before a tensor is allocated: the header length against the file size, the JSON,
/// each tensor's dtype × shape against its data_offsets, and that the tensors tile the data section without
/// gaps or overlaps. Errors: "[latent.io] load_safetensors: <file>: byte <offset>: <what>".
inline SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  const std::string name = path.string();
  detail::FileReader file(path, "load_safetensors");
  std::vector<std::byte> head(static_cast<std::size_t>(std::min<std::uint64_t>(file.size(), 8)));
  if (!file.read(0, head.data(), head.size())) detail::st_error(name, 0, "read error");
  if (head.size() == 8) {
    std::uint64_t n = 0;
    for (int b = 7; b >= 0; --b) n = (n << 8) | static_cast<std::uint64_t>(head[static_cast<std::size_t>(b)]);
    if (n <= safetensors_max_header && n <= file.size() - 8) {  // otherwise the parser reports it
      head.resize(static_cast<std::size_t>(8 + n));
      if (!file.read(0, head.data(), head.size())) detail::st_error(name, 8, "read error");
    }
  }
  detail::StLayout layout = detail::parse_safetensors_layout(head, file.size(), name);
  return detail::st_tensors(layout, [&](std::uint64_t offset, std::byte* dst, std::size_t n) {
    if (!file.read(offset, dst, n)) detail::st_error(name, offset, "read error (did the file change?)");
  });
}

/// Writes `tensors` (in their order, names as given) and `metadata` plus {"latent_version": "<version>"} to a
/// safetensors file that safetensors.torch.load_file reads. Atomic: a temporary file in the same folder is
/// written, flushed, fsync'ed and renamed over `path`, so a crash never leaves a torn file behind.
inline void save_safetensors(const std::filesystem::path& path, const StateDict& tensors, const Metadata& metadata = {}) {
  Metadata meta = metadata;
  meta[metadata_version_key] = LATENT_VERSION_STRING;
  // Built with += only: g++ 12 -O3 warns falsely (-Wstringop-overflow) on "literal" + std::string&&.
  std::string header = "{\"__metadata__\":{";
  bool first = true;
  for (const auto& [key, value] : meta) {
    if (!first) header += ',';
    header += detail::json_quote(key);
    header += ':';
    header += detail::json_quote(value);
    first = false;
  }
  header += '}';
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    LATENT_CHECK(!name.empty() && name != "__metadata__", ValueError,
                 "save_safetensors: " + path.string() + ": invalid tensor name \"" + name + "\"");
    const bool f32 = std::holds_alternative<Tensor<float>>(t);
    const Shape& shape = shape_of(t);
    const std::uint64_t bytes = static_cast<std::uint64_t>(shape.numel()) * (f32 ? 4 : 8);
    header += ',';
    header += detail::json_quote(name);
    header += ":{\"dtype\":\"";
    header += f32 ? "F32" : std::holds_alternative<Tensor<double>>(t) ? "F64" : "I64";
    header += "\",\"shape\":[";
    for (int d = 0; d < shape.rank(); ++d) {
      if (d) header += ',';
      header += std::to_string(shape[d]);
    }
    header += "],\"data_offsets\":[";
    header += std::to_string(offset);
    header += ',';
    header += std::to_string(offset + bytes);
    header += "]}";
    offset += bytes;
  }
  header += '}';
  while (header.size() % 8 != 0) header += ' ';  // the data section starts 8-byte aligned, as safetensors pads
  std::string length(8, '\0');
  for (int b = 0; b < 8; ++b) length[static_cast<std::size_t>(b)] = static_cast<char>((header.size() >> (8 * b)) & 0xFF);

  AtomicFile file(path, "save_safetensors");
  file.write(length);
  file.write(header);
  for (const auto& [name, t] : tensors)
    std::visit([&](const auto& x) { file.write(x.data(), static_cast<std::size_t>(x.numel()) * sizeof(*x.data())); }, t);
  file.commit();
}

}  // namespace latent::io
