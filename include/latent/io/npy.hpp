// .npy files (NumPy's format, versions 1.0-3.0): float32, float64, int64 and uint8 arrays in C order, for
// samples, latents and metrics. Every header field is checked against the file before anything is allocated.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../core/atomic_file.hpp"
#include "../core/error.hpp"
#include "../core/state_dict.hpp"
#include "../core/tensor.hpp"

#define LATENT_INSIDE_IO
#include "detail/file_reader.hpp"
#include "detail/header_cursor.hpp"
#undef LATENT_INSIDE_IO

namespace latent::io {

static_assert(std::endian::native == std::endian::little, "latent's file formats are read into little-endian memory");

enum class NpyDtype { float32, float64, int64, uint8 };

/// What a validated header says: the data starts at data_offset and is exactly data_size bytes long.
struct NpyHeader {
  NpyDtype dtype = NpyDtype::float32;
  Shape shape;
  std::size_t data_offset = 0;
  std::size_t data_size = 0;
  unsigned major = 1, minor = 0;
};

/// A uint8 array (images, masks): latent's tensors hold float32/float64/int64 only.
struct NpyU8Array {
  std::vector<std::uint8_t> values;
  Shape shape;
};

namespace detail {

inline const char* npy_descr(NpyDtype d) {
  switch (d) {
    case NpyDtype::float32: return "<f4";
    case NpyDtype::float64: return "<f8";
    case NpyDtype::int64: return "<i8";
    case NpyDtype::uint8: return "|u1";
  }
  return "?";
}
inline std::size_t npy_item_size(NpyDtype d) { return d == NpyDtype::uint8 ? 1 : d == NpyDtype::float32 ? 4 : 8; }
template <class T>
constexpr NpyDtype npy_dtype_of() {
  if constexpr (std::is_same_v<T, float>) return NpyDtype::float32;
  else if constexpr (std::is_same_v<T, double>) return NpyDtype::float64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return NpyDtype::int64;
  else return NpyDtype::uint8;
}

[[noreturn]] inline void npy_error(std::string_view name, std::uint64_t offset, const std::string& what) {
  throw IoError("load_npy: " + std::string(name) + ": byte " + std::to_string(offset) + ": " + what);
}

/// Magic and version, then the header length: returns {header_offset, header_length} after checking that
/// the file is long enough to hold the header. `head` holds at least the first min(12, file_size) bytes.
struct NpyPreamble {
  unsigned major = 0, minor = 0;
  std::size_t header_offset = 0, header_length = 0;
};
inline NpyPreamble parse_npy_preamble(std::span<const std::byte> head, std::uint64_t file_size, std::string_view name) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned>(head[i]); };
  if (head.size() < 8 || std::memcmp(head.data(), "\x93NUMPY", 6) != 0)
    npy_error(name, 0, "not a .npy file (no \\x93NUMPY magic)");
  NpyPreamble p;
  p.major = byte(6);
  p.minor = byte(7);
  if (p.major < 1 || p.major > 3 || p.minor != 0)
    npy_error(name, 6,
              "unsupported format version " + std::to_string(p.major) + "." + std::to_string(p.minor) +
                  " (1.0, 2.0 and 3.0 are read)");
  p.header_offset = p.major == 1 ? 10 : 12;
  if (file_size < p.header_offset || head.size() < p.header_offset)
    npy_error(name, 8, "file ends inside the header length (file has " + std::to_string(file_size) + " bytes)");
  p.header_length = byte(8) | (byte(9) << 8);
  if (p.major > 1) p.header_length |= (std::size_t{byte(10)} << 16) | (std::size_t{byte(11)} << 24);
  if (p.header_length > file_size - p.header_offset)
    npy_error(name, 8,
              "header length " + std::to_string(p.header_length) + " runs past the end of the file (" +
                  std::to_string(file_size) + " bytes)");
  return p;
}

/// A strict reader for the header: a Python dict literal with exactly the keys 'descr' (a string),
/// 'fortran_order' (True/False) and 'shape' (a tuple of non-negative ints), padded with spaces and a '\n'.
struct NpyHeaderFormat {
  [[noreturn]] static void error(std::string_view name, std::uint64_t offset, const std::string& what) {
    npy_error(name, offset, what);
  }
  static constexpr const char* unterminated = "the header ends inside its dictionary";
};

class NpyDictParser : public HeaderCursor<NpyHeaderFormat> {
 public:
  using HeaderCursor::HeaderCursor;

  std::string descr, fortran;
  std::vector<index_t> shape;

  void parse() {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_space();
    expect('{', "the header is not a dictionary (expected '{')");
    skip_space();
    while (peek() != '}') {
      const std::size_t key_at = i_;
      const std::string key = string_literal();
      skip_space();
      expect(':', "expected ':' after the key '" + key + "'");
      skip_space();
      const std::size_t value_at = i_;
      bool* seen = nullptr;
      if (key == "descr") {
        seen = &have_descr;
        descr = string_literal();
      } else if (key == "fortran_order") {
        seen = &have_fortran;
        fortran = word();
        if (fortran != "True" && fortran != "False") fail(value_at, "fortran_order must be True or False, not " + fortran);
      } else if (key == "shape") {
        seen = &have_shape;
        tuple();
      } else {
        fail(key_at, "unknown header key '" + key + "' (expected 'descr', 'fortran_order' and 'shape')");
      }
      if (*seen) fail(key_at, "the header has the key '" + key + "' twice");
      *seen = true;
      skip_space();
      if (peek() == ',') {
        ++i_;
        skip_space();
      } else if (peek() != '}') {
        fail(i_, "expected ',' or '}' in the header dictionary");
      }
    }
    ++i_;
    // NumPy pads with spaces and ends the header with '\n'.
    skip_space();
    if (i_ != s_.size()) fail(i_, "unexpected text after the header dictionary");
    if (!have_descr) fail(0, "the header has no 'descr' key");
    if (!have_fortran) fail(0, "the header has no 'fortran_order' key");
    if (!have_shape) fail(0, "the header has no 'shape' key");
  }

 private:
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(i_, "expected a quoted string");
    const std::size_t start = ++i_;
    while (peek() != quote) {
      if (s_[i_] == '\\') fail(i_, "escape sequences are not supported in header strings");
      if (s_[i_] == '\n') fail(i_, "a header string runs into the end of the line");
      ++i_;
    }
    return std::string(s_.substr(start, i_++ - start));
  }
  std::string word() {
    const std::size_t start = i_;
    while (i_ < s_.size() && ((s_[i_] >= 'A' && s_[i_] <= 'Z') || (s_[i_] >= 'a' && s_[i_] <= 'z'))) ++i_;
    if (i_ == start) fail(start, "expected True or False");
    return std::string(s_.substr(start, i_ - start));
  }
  void tuple() {
    const std::size_t start = i_;
    expect('(', "shape must be a tuple such as (2, 3)");
    bool trailing_comma = false;
    skip_space();
    while (peek() != ')') {
      const std::size_t at = i_;
      index_t v = 0;
      if (s_[i_] < '0' || s_[i_] > '9') fail(at, "shape entries must be non-negative integers");
      if (s_[i_] == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9')
        fail(at, "shape entries must not have leading zeros");
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        const index_t digit = s_[i_++] - '0';
        if (v > (INT64_MAX - digit) / 10) fail(at, "shape entry is larger than 2^63 - 1");
        v = v * 10 + digit;
      }
      if (shape.size() == static_cast<std::size_t>(Shape::max_rank))
        fail(start, "shape has more than " + std::to_string(Shape::max_rank) + " dimensions (LATENT_MAX_RANK)");
      shape.push_back(v);
      skip_space();
      trailing_comma = peek() == ',';
      if (trailing_comma) {
        ++i_;
        skip_space();
      } else if (peek() != ')') {
        fail(i_, "expected ',' or ')' in the shape tuple");
      }
    }
    ++i_;
    if (shape.size() == 1 && !trailing_comma) fail(start, "shape (n) is not a tuple; a 1-d shape is written (n,)");
  }
};

/// Validates the whole header. `file` holds at least the preamble and the header; `file_size` is the real
/// size of the file, against which the data length is checked.
inline NpyHeader parse_npy_header(std::span<const std::byte> file, std::uint64_t file_size, std::string_view name) {
  const NpyPreamble p = parse_npy_preamble(file, file_size, name);
  const std::string_view text(reinterpret_cast<const char*>(file.data()) + p.header_offset, p.header_length);
  NpyDictParser dict(text, p.header_offset, name);
  dict.parse();

  NpyHeader h;
  h.major = p.major;
  h.minor = p.minor;
  if (dict.descr == "<f4") h.dtype = NpyDtype::float32;
  else if (dict.descr == "<f8") h.dtype = NpyDtype::float64;
  else if (dict.descr == "<i8") h.dtype = NpyDtype::int64;
  else if (dict.descr == "|u1" || dict.descr == "u1") h.dtype = NpyDtype::uint8;
  else
    npy_error(name, p.header_offset,
              "dtype '" + dict.descr + "' is not supported (float32 '<f4', float64 '<f8', int64 '<i8' or uint8 '|u1')");
  if (dict.fortran != "False")
    npy_error(name, p.header_offset,
              "fortran_order is " + dict.fortran +
                  "; only C-order arrays are supported (save np.ascontiguousarray(a))");
  h.shape = Shape(dict.shape);

  h.data_offset = p.header_offset + p.header_length;
  const std::uint64_t available = file_size - h.data_offset;
  const std::optional<std::uint64_t> nbytes = checked_nbytes(h.shape, npy_item_size(h.dtype));
  if (!nbytes)
    npy_error(name, p.header_offset,
              "shape " + h.shape.str() + " of '" + dict.descr + "' has more elements than 64-bit sizes can count");
  const std::uint64_t needed = *nbytes;
  if (needed != available)
    npy_error(name, h.data_offset,
              "data has " + std::to_string(available) + " bytes, shape " + h.shape.str() + " of '" + dict.descr +
                  "' needs " + std::to_string(needed));
  h.data_size = static_cast<std::size_t>(needed);
  return h;
}

/// Converts `count` elements of `from` at `src` into T at `dst` (C++'s static_cast).
template <class T>
void npy_convert(const std::byte* src, NpyDtype from, T* dst, std::size_t count) {
  auto convert = [&](auto tag) {
    using S = decltype(tag);
    for (std::size_t i = 0; i < count; ++i) {
      S v;
      std::memcpy(&v, src + i * sizeof(S), sizeof(S));
      dst[i] = static_cast<T>(v);
    }
  };
  switch (from) {
    case NpyDtype::float32: convert(float{}); break;
    case NpyDtype::float64: convert(double{}); break;
    case NpyDtype::int64: convert(std::int64_t{}); break;
    case NpyDtype::uint8: convert(std::uint8_t{}); break;
  }
}

/// The array as Tensor<T> from a validated header, reading the data with `read(dst, bytes)`. Integers never
/// receive floating-point values (that would round silently); checked before anything is allocated.
template <Element T, class Read>
Tensor<T> npy_tensor(const NpyHeader& h, std::string_view name, Read&& read) {
  if constexpr (std::is_integral_v<T>)
    if (h.dtype == NpyDtype::float32 || h.dtype == NpyDtype::float64)
      throw IoError("load_npy: " + std::string(name) + ": holds " +
                    (h.dtype == NpyDtype::float32 ? "float32" : "float64") + " values, which are not converted to " +
                    type_name<T>() + " (load it as float32 or float64)");
  Tensor<T> t = Tensor<T>::empty(h.shape);
  if (h.dtype == npy_dtype_of<T>()) {
    read(reinterpret_cast<std::byte*>(t.data()), h.data_size);
  } else {
    std::vector<std::byte> raw(h.data_size);
    read(raw.data(), raw.size());
    npy_convert<T>(raw.data(), h.dtype, t.data(), static_cast<std::size_t>(h.shape.numel()));
  }
  return t;
}

/// The header of a file on disk, and a function that reads its data, for load_npy and load_npy_u8.
template <class Fn>
auto with_npy_file(const std::filesystem::path& path, Fn&& fn) {
  const std::string name = path.string();
  FileReader file(path, "load_npy");
  std::vector<std::byte> head(static_cast<std::size_t>(std::min<std::uint64_t>(file.size(), 12)));
  if (!file.read(0, head.data(), head.size())) npy_error(name, 0, "read error");
  const NpyPreamble p = parse_npy_preamble(head, file.size(), name);
  head.resize(p.header_offset + p.header_length);  // bounded by the file size (checked above)
  if (!file.read(0, head.data(), head.size())) npy_error(name, 0, "read error");
  const NpyHeader h = parse_npy_header(head, file.size(), name);
  return fn(h, [&](std::byte* dst, std::size_t n) {
    if (!file.read(h.data_offset, dst, n)) npy_error(name, h.data_offset, "read error (did the file change?)");
  });
}

inline std::string npy_file_bytes_header(NpyDtype dtype, const Shape& shape) {
  std::string dict = std::string("{'descr': '") + npy_descr(dtype) + "', 'fortran_order': False, 'shape': (";
  for (int d = 0; d < shape.rank(); ++d) dict += (d ? ", " : "") + std::to_string(shape[d]);
  dict += shape.rank() == 1 ? ",), }" : "), }";
  // Format 1.0 unless the header needs more than 65535 bytes; the data starts on a 64-byte boundary.
  const bool v1 = 10 + dict.size() + 1 <= 65535;
  const std::size_t pre = v1 ? 10 : 12;
  while ((pre + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out = std::string("\x93NUMPY", 6) + (v1 ? '\x01' : '\x02') + '\0';
  for (std::size_t b = 0; b < pre - 8; ++b) out += static_cast<char>((dict.size() >> (8 * b)) & 0xFF);
  return out + dict;
}

inline void write_npy(const std::filesystem::path& path, NpyDtype dtype, const Shape& shape, const void* data) {
  AtomicFile f(path, "save_npy");
  f.write(npy_file_bytes_header(dtype, shape));
  f.write(data, static_cast<std::size_t>(shape.numel()) * npy_item_size(dtype));
  f.commit();
}

}  // namespace detail

/// Writes `t` as a C-order .npy file ('<f4', '<f8' or '<i8'), atomically (temporary file + rename).
template <Element T>
void save_npy(const std::filesystem::path& path, const Tensor<T>& t) {
  detail::write_npy(path, detail::npy_dtype_of<T>(), t.shape(), t.data());
}

/// Writes a uint8 array ('|u1') of `shape`; values.size() must equal the shape's element count.
inline void save_npy_u8(const std::filesystem::path& path, const std::vector<std::uint8_t>& values, const Shape& shape) {
  LATENT_CHECK(static_cast<std::uint64_t>(shape.numel()) == values.size(), ShapeError,
               "save_npy_u8: " + path.string() + ": " + std::to_string(values.size()) + " values for shape " +
                   shape.str() + " (" + std::to_string(shape.numel()) + " elements)");
  detail::write_npy(path, NpyDtype::uint8, shape, values.data());
}

/// Parses a whole .npy file held in memory (the fuzzing entry point); `name` stands for the file in errors.
inline NpyHeader parse_npy_header(std::span<const std::byte> bytes, std::string_view name) {
  return detail::parse_npy_header(bytes, bytes.size(), name);
}

/// The array of an in-memory .npy file as Tensor<T>, converted from any supported dtype except
/// float → int64 (see load_npy).
template <Element T>
Tensor<T> parse_npy(std::span<const std::byte> bytes, std::string_view name) {
  const NpyHeader h = parse_npy_header(bytes, name);
  return detail::npy_tensor<T>(h, name, [&](std::byte* dst, std::size_t n) {
    if (n) std::memcpy(dst, bytes.data() + h.data_offset, n);  // an empty array's buffer may be null
  });
}

/// Reads a .npy file ('<f4', '<f8', '<i8' or '|u1', C order, format 1.0-3.0) as Tensor<T>, converting the
/// elements to T; float files are not loaded as int64 (that would round silently). Errors name the file and
/// the byte offset: "[latent.io] load_npy: x.npy: byte 10: fortran_order is True; ...".
template <Element T>
Tensor<T> load_npy(const std::filesystem::path& path) {
  const std::string name = path.string();
  return detail::with_npy_file(path, [&](const NpyHeader& h, auto&& read) { return detail::npy_tensor<T>(h, name, read); });
}

/// Reads a .npy file in its own element type; uint8 arrays come back as int64 (AnyTensor has no uint8).
inline AnyTensor load_npy_any(const std::filesystem::path& path) {
  const std::string name = path.string();
  return detail::with_npy_file(path, [&](const NpyHeader& h, auto&& read) -> AnyTensor {
    switch (h.dtype) {
      case NpyDtype::float32: return detail::npy_tensor<float>(h, name, read);
      case NpyDtype::float64: return detail::npy_tensor<double>(h, name, read);
      default: return detail::npy_tensor<std::int64_t>(h, name, read);
    }
  });
}

/// Reads a uint8 ('|u1') .npy file; any other dtype is an error.
inline NpyU8Array load_npy_u8(const std::filesystem::path& path) {
  const std::string name = path.string();
  return detail::with_npy_file(path, [&](const NpyHeader& h, auto&& read) {
    if (h.dtype != NpyDtype::uint8)
      throw IoError("load_npy_u8: " + name + ": holds '" + detail::npy_descr(h.dtype) + "', expected uint8 '|u1'");
    NpyU8Array a;
    a.shape = h.shape;
    a.values.resize(h.data_size);
    read(reinterpret_cast<std::byte*>(a.values.data()), h.data_size);
    return a;
  });
}

}  // namespace latent::io
