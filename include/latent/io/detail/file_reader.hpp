// FileReader: a binary input file with its size known up front, so that loaders can check every length
// from a header against the real file before they allocate or read anything; checked_nbytes for shapes.
#pragma once
#ifndef LATENT_INSIDE_IO
#error "latent/io/detail/file_reader.hpp is internal: include <latent/io/safetensors.hpp> or <latent/io/npy.hpp>"
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include <sys/stat.h>

#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace latent::io::detail {

/// Bytes of a C-order array of `shape` with `item_size`-byte elements; nothing when the element count,
/// multiplied out in order as Shape::numel does, or the byte count overflows 64-bit arithmetic (a hostile
/// header such as (2^40, 2^40, 0) must be rejected even though its true size is 0).
inline std::optional<std::uint64_t> checked_nbytes(const Shape& shape, std::uint64_t item_size) {
  index_t count = 1;
  for (index_t d : shape)
    if (d < 0 || __builtin_mul_overflow(count, d, &count)) return std::nullopt;
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(count), item_size, &bytes)) return std::nullopt;
  return bytes;
}

class FileReader {
 public:
  /// Opens `path`; `who` starts the error messages ("load_npy: cannot open <path>").
  FileReader(const std::filesystem::path& path, const std::string& who) : path_(path) {
    file_ = std::fopen(path.c_str(), "rb");
    struct stat st {};
    if (!file_ || ::fstat(::fileno(file_), &st) != 0 || !S_ISREG(st.st_mode)) {
      if (file_) std::fclose(file_);
      throw IoError(who + ": cannot open " + path.string());
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  ~FileReader() { std::fclose(file_); }

  std::uint64_t size() const noexcept { return size_; }

  /// Reads exactly `n` bytes at `offset`; the caller has checked offset + n <= size(). Returns false when
  /// the file shrank or failed underneath us.
  bool read(std::uint64_t offset, void* dst, std::size_t n) {
    if (n == 0) return true;
    if (::fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) return false;
    return std::fread(dst, 1, n, file_) == n;
  }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace latent::io::detail
