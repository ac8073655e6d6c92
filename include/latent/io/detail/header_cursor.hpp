// HeaderCursor: a read position in a file's text header (the Python dict of .npy, the JSON of safetensors) with the
// steps both strict header parsers take; every error names the file and the byte offset in the file.
#pragma once
#ifndef LATENT_INSIDE_IO
#error "latent/io/detail/header_cursor.hpp is internal: include <latent/io/safetensors.hpp> or <latent/io/npy.hpp>"
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace latent::io::detail {

/// Format supplies `[[noreturn]] static void error(std::string_view file, std::uint64_t offset, const std::string&)`
/// and `static constexpr const char* unterminated`, the message for a header that ends too early.
template <class Format>
class HeaderCursor {
 public:
  /// `text` is the header, found at byte `base` of the file called `name`.
  HeaderCursor(std::string_view text, std::size_t base, std::string_view name) : s_(text), base_(base), name_(name) {}

  [[noreturn]] void fail(std::size_t at, const std::string& what) const { Format::error(name_, base_ + at, what); }

 protected:
  char peek() const {
    if (i_ >= s_.size()) fail(i_, Format::unterminated);
    return s_[i_];
  }
  void expect(char c, const std::string& what) {
    if (peek() != c) fail(i_, what);
    ++i_;
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  std::string_view s_;
  std::size_t base_;
  std::string_view name_;
  std::size_t i_ = 0;
};

}  // namespace latent::io::detail
